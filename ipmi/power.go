package ipmi

import (
	"context"
	"fmt"
	"foghorn/configs"
	"time"

	"github.com/bougou/go-ipmi/pkg/command/chassis"
)

// Action is a power action; the word is shared (configs.PowerAction).
type Action = configs.PowerAction

// Actions.
const (
	Status = configs.PowerStatus
	On     = configs.PowerOn
	Off    = configs.PowerOff
	Soft   = configs.PowerSoft
	Reset  = configs.PowerReset
	Cycle  = configs.PowerCycle
)

// Actions lists every action, for help texts.
var Actions = configs.PowerActions

func control(a Action) chassis.ChassisControl {
	switch a {
	case On:
		return chassis.ChassisControlPowerUp
	case Off:
		return chassis.ChassisControlPowerDown
	case Soft:
		return chassis.ChassisControlSoftShutdown
	case Reset:
		return chassis.ChassisControlHardReset
	}
	return chassis.ChassisControlPowerCycle
}

// Outcome is what a power action did, as read back from the BMC.
type Outcome struct {
	Action Action
	Before Chassis
	After  Chassis
	// Confirmed says the chassis was seen in the state the action aims at
	// (for cycle: off, then on again).
	Confirmed bool
	Took      time.Duration
	// Text says it for an SMS: "cycled: off, then on after 1.1s".
	Text string
}

// Polling: how often the chassis is read after an action, and how long
// at most when the caller's ctx has no deadline.
const (
	pollEvery = 150 * time.Millisecond
	pollLimit = time.Minute
	// cycleOffSeen bounds the wait for a cycle's off phase; BMCs keep the
	// power off for at least a second, so polling sees it well before.
	cycleOffSeen = 10 * time.Second
)

// Power does a power action and reads the chassis back until the action
// shows (or ctx ends, which is not an error: Outcome says what was seen).
// The command is sent on a new session and never retried on another: a
// cycle that timed out may have been done. Status only reads.
func (b *BMC) Power(ctx context.Context, a Action) (Outcome, error) {
	start := time.Now()
	out := Outcome{Action: a}
	before, err := b.Status(ctx)
	if err != nil {
		return out, err
	}
	out.Before, out.After = before, before
	if a == Status {
		out.Confirmed, out.Text = true, "power "+onOff(before.On)
		return out, nil
	}
	err = b.callJob(ctx, "power "+string(a), job{ctx: ctx, fresh: true, fn: func(ctx context.Context, s *session) error {
		_, err := s.c.ChassisControl(ctx, control(a))
		return err
	}})
	if err != nil {
		if !answered(err) {
			return out, fmt.Errorf("%w (the command may or may not have been done: check with status)", err)
		}
		return out, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pollLimit)
		defer cancel()
	}
	sent := time.Now()
	var seenOff time.Time
	var lastErr error
	for {
		ch, err := b.Status(ctx)
		if err == nil {
			out.After, lastErr = ch, nil
			if !ch.On && seenOff.IsZero() {
				seenOff = time.Now()
			}
			if done := b.settled(a, ch, !seenOff.IsZero(), time.Since(sent)); done {
				break
			}
		} else if ctx.Err() == nil {
			// A BMC can be slow to answer while it switches; keep trying.
			lastErr = err
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollEvery):
			continue
		}
		break
	}
	out.Took = time.Since(start)
	out.Confirmed, out.Text = describe(a, out.Before, out.After, seenOff, sent)
	if !out.Confirmed && lastErr != nil {
		out.Text += " (last read failed: " + lastErr.Error() + ")"
	}
	return out, nil
}

// settled says whether polling can stop.
func (b *BMC) settled(a Action, ch Chassis, seenOff bool, since time.Duration) bool {
	switch a {
	case On:
		return ch.On
	case Off, Soft:
		return !ch.On
	case Reset:
		return true // a pulse: power does not change
	case Cycle:
		return (seenOff && ch.On) || (!seenOff && since > cycleOffSeen)
	}
	return true
}

func describe(a Action, before, after Chassis, seenOff, sent time.Time) (bool, string) {
	now := "power " + onOff(after.On)
	switch a {
	case On:
		if after.On {
			return true, "powered on"
		}
		return false, "power on sent; " + now + " still"
	case Off:
		if !after.On {
			return true, "powered off"
		}
		return false, "power off sent; " + now + " still"
	case Soft:
		if !after.On {
			return true, "shut down (soft): power off"
		}
		return false, "soft shutdown sent; power still on (the OS may take minutes; ask for status later)"
	case Reset:
		return after.On, "reset sent; " + now
	case Cycle:
		switch {
		case !seenOff.IsZero() && after.On:
			return true, fmt.Sprintf("cycled: off, then on after %.1fs", time.Since(seenOff).Seconds())
		case !seenOff.IsZero():
			return false, fmt.Sprintf("cycle sent: power went off and is still off after %.1fs", time.Since(seenOff).Seconds())
		case !before.On:
			return false, "cycle sent while power was off; " + now + " (use on to power it up)"
		}
		return false, "cycle sent; " + now + ", the off phase was not seen"
	}
	return true, now
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
