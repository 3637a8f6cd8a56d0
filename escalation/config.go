package escalation

import (
	"strings"
	"time"

	"foghorn/configs"
)

// Config is the part of foghorn's configuration the engine pages by: whom
// (people, rotations), how (policies and the [escalation] section), when
// not (maintenance windows) and how long a page stays worth sending. cmd
// builds it from the loaded config, at start and on every reload; the
// engine never sees the rest (targets, Twilio, the server), so nothing
// here can depend on a channel's vendor.
type Config struct {
	People      []configs.Person
	Rotations   []configs.Rotation
	Policies    []configs.Policy
	Maintenance []configs.Maintenance
	// Escalation is the [escalation] section: default_policy,
	// ack_timeout, max_per_hour, voice_min_severity and test_page, the
	// schedule of test pages (testpage.go).
	Escalation configs.Escalation
	// PageValidity is how long a claimed page may wait for its channel
	// before it is news of an old state and expires instead of going out
	// (expire.go); zero or less: never. cmd sets it to the bound the SMS
	// vendor applies to an undelivered message.
	PageValidity time.Duration
}

func (c *Config) person(name string) *configs.Person {
	for i := range c.People {
		if c.People[i].Name == name {
			return &c.People[i]
		}
	}
	return nil
}

func (c *Config) rotation(name string) *configs.Rotation {
	for i := range c.Rotations {
		if c.Rotations[i].Name == name {
			return &c.Rotations[i]
		}
	}
	return nil
}

// policy is the policy named name, or the default policy when there is
// none by that name ("" included): an alert that names no policy, or one
// removed by a reload, still pages. nil when neither exists.
func (c *Config) policy(name string) *configs.Policy {
	for _, n := range []string{name, c.Escalation.DefaultPolicy} {
		for i := range c.Policies {
			if c.Policies[i].Name == n {
				return &c.Policies[i]
			}
		}
	}
	return nil
}

// names resolves a step's who entries at now to person names, in order,
// before overrides: a plain name stands for itself, "rotation:NAME" for
// whoever's turn it is, "rotation:NAME:next" for the one after,
// "rotation:NAME:all" for every member. Rotations that do not exist (or
// have no members) are listed in missing and skipped; a rotation whose
// turn cannot be told is skipped too, and the first such error returned.
func (c *Config) names(who []string, now time.Time) (names, missing []string, err error) {
	for _, w := range who {
		rest, isRot := strings.CutPrefix(w, "rotation:")
		if !isRot {
			names = append(names, w)
			continue
		}
		name, mode, _ := strings.Cut(rest, ":")
		ro := c.rotation(name)
		if ro == nil || len(ro.Members) == 0 {
			missing = append(missing, name)
			continue
		}
		idx, _, _, terr := turn(ro, now)
		if terr != nil {
			if err == nil {
				err = terr
			}
			continue
		}
		switch mode {
		case "all":
			names = append(names, ro.Members...)
		case "next":
			names = append(names, ro.Members[(idx+1)%len(ro.Members)])
		default:
			names = append(names, ro.Members[idx])
		}
	}
	return names, missing, err
}
