package ipmi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
	"foghorn/ipmi/simtest"
)

func TestIPMIUnreachableFailsAtOnce(t *testing.T) {
	t.Parallel()
	port := freeUDPPort(t)
	b := New("gone", Options{Host: "127.0.0.1", Port: port, Username: "u", Password: "p", Timeout: 250 * time.Millisecond})
	defer b.Close()
	start := time.Now()
	_, err := b.Check(within(t, 2*time.Second), Cursor{})
	took := time.Since(start)
	if err == nil {
		t.Fatal("no error from a port with nothing on it")
	}
	want := "ipmi gone: check: connect: connection refused by 127.0.0.1:"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "nothing listening") {
		t.Fatalf("error = %q, want it to start %q", err, want)
	}
	if took > time.Second {
		t.Fatalf("took %v to see a refused port", took)
	}
}

func TestIPMIHangingBMCFailsWithinTimeout(t *testing.T) {
	t.Parallel()
	port := silentBMC(t)
	// Long per-attempt timeout and retries: the caller's ctx must still win.
	b := New("hung", Options{Host: "127.0.0.1", Port: port, Username: "u", Password: "p", Timeout: 5 * time.Second, Retries: 4})
	defer b.Close()
	const timeout = 700 * time.Millisecond
	start := time.Now()
	_, err := b.Check(within(t, timeout), Cursor{})
	took := time.Since(start)
	if err == nil {
		t.Fatal("no error from a BMC that never answers")
	}
	if !strings.Contains(err.Error(), "no answer from 127.0.0.1:") || !strings.Contains(err.Error(), "BMC hung") {
		t.Fatalf("error = %q", err)
	}
	if took > timeout+200*time.Millisecond {
		t.Fatalf("took %v, timeout was %v", took, timeout)
	}
	// A caller queued behind a hung call gives up on its own deadline too.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	tooks := make([]time.Duration, 3)
	for i := range 3 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			s := time.Now()
			_, errs[i] = b.Status(ctx)
			tooks[i] = time.Since(s)
		})
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] == nil || tooks[i] > timeout+200*time.Millisecond {
			t.Fatalf("queued caller %d: %v after %v", i, errs[i], tooks[i])
		}
	}
	// Close is prompt even so.
	start = time.Now()
	b.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

func TestIPMIPausedSimFailsThenRecovers(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	if _, err := b.Status(within(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	const timeout = time.Second
	start := time.Now()
	_, err := b.Check(within(t, timeout), Cursor{})
	took := time.Since(start)
	s.Resume()
	if err == nil || !strings.Contains(err.Error(), "no answer from") {
		t.Fatalf("paused BMC: err = %v", err)
	}
	if took > timeout+200*time.Millisecond {
		t.Fatalf("took %v, timeout was %v", took, timeout)
	}
	// The sim now works through what queued while it was stopped (a
	// half-open session among it), so the first call may still fail;
	// the client must get back without help.
	for try := 1; ; try++ {
		_, err := b.Check(within(t, 5*time.Second), Cursor{})
		if err == nil {
			break
		}
		if try == 5 {
			gone, how := s.Exited()
			t.Fatalf("after resume, 5 tries: %v (sim exited: %v %s)", err, gone, how)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestIPMIReconnectsAfterBMCRestart(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	r, err := b.Check(within(t, 5*time.Second), Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	s.Restart()
	// The held session is dead; the call drops it and tries once more on
	// a new one, so the caller sees no error.
	s.Console(simtest.POSTError)
	r, err = b.Check(within(t, 5*time.Second), r.Cursor)
	if err != nil {
		gone, how := s.Exited()
		t.Fatalf("after BMC restart: %v (sim exited: %v %s)", err, gone, how)
	}
	// The SEL restarted empty, so the one record in it is new.
	if len(r.Events) != 1 || r.Events[0].Type != "System Firmwares" {
		t.Fatalf("events after restart: %+v", r.Events)
	}
}

func TestIPMIManyCallersOneBMC(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for g := range 16 {
		wg.Go(func() {
			for i := range 10 {
				var err error
				if (g+i)%3 == 0 {
					_, err = b.Check(within(t, 20*time.Second), Cursor{})
				} else {
					_, err = b.Status(within(t, 20*time.Second))
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of 160 calls failed, first: %v", len(errs), errs[0])
	}
}

func TestIPMIWrongPassword(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := New("sim", Options{Host: s.Host, Port: s.Port, Username: simtest.User, Password: "wrong", Timeout: 250 * time.Millisecond})
	defer b.Close()
	_, err := b.Status(within(t, 3*time.Second))
	if err == nil || !strings.Contains(err.Error(), "check the username and password") {
		t.Fatalf("err = %v", err)
	}
}

func TestIPMILanInterface(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := New("sim", Options{Host: s.Host, Port: s.Port, Username: simtest.User, Password: simtest.Password,
		Interface: "lan", Timeout: 250 * time.Millisecond})
	defer b.Close()
	r, err := b.Check(within(t, 5*time.Second), Cursor{})
	if err != nil || !r.Chassis.On {
		t.Fatalf("IPMI 1.5: %+v %v", r.Chassis, err)
	}
}

func TestIPMICloseTwiceAndAfter(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	b := newBMC(t, s)
	if _, err := b.Status(within(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b.Close() // go-ipmi panics on a second Close; ours must not
	if _, err := b.Status(within(t, time.Second)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestIPMIPool(t *testing.T) {
	t.Parallel()
	s := simtest.Start(t)
	p := NewPool()
	defer p.Close()
	tg := bmcTarget("pve1-bmc", "pve1", s)
	b1, err := p.Get(&tg)
	if err != nil {
		t.Fatal(err)
	}
	if b2, _ := p.Get(&tg); b2 != b1 {
		t.Fatal("second Get made a new client")
	}
	if _, err := b1.Status(within(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A changed password makes a new client and closes the old one.
	tg2 := tg
	ip := *tg.IPMI
	ip.Password = configs.NewSecret("other")
	tg2.IPMI = &ip
	b3, _ := p.Get(&tg2)
	if b3 == b1 {
		t.Fatal("changed settings kept the old client")
	}
	waitClosed(t, b1)
	// A reload without the target closes its client.
	p.Update(nil) // "pve1-bmc" is no longer a BMC target
	waitClosed(t, b3)
	if _, err := p.Get(&configs.Target{Name: "pve1", Kind: "tcp"}); err == nil {
		t.Fatal("a tcp target got a BMC")
	}
	p.Close()
	if _, err := p.Get(&tg); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}

func waitClosed(t *testing.T, b *BMC) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(3 * time.Second):
		t.Fatal("client not closed")
	}
}
