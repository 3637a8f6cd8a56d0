package configs

import (
	"fmt"
	"strings"
)

// PowerAction is a BMC power action, as people type it and as a policy
// step names it. It is a shared word: the pager parses it from an SMS,
// the power guard decides on it, the BMC client does it.
type PowerAction string

// Power actions.
const (
	PowerStatus PowerAction = "status"
	PowerOn     PowerAction = "on"
	PowerOff    PowerAction = "off"
	PowerSoft   PowerAction = "soft" // ACPI shutdown: the OS is asked to stop
	PowerReset  PowerAction = "reset"
	PowerCycle  PowerAction = "cycle"
)

// PowerActions lists every action, for help texts.
var PowerActions = []PowerAction{PowerStatus, PowerOn, PowerOff, PowerSoft, PowerReset, PowerCycle}

// ParsePowerAction reads an action ("cycle", "Power Cycle", "OFF").
func ParsePowerAction(s string) (PowerAction, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "power ")
	s = strings.TrimPrefix(s, "power")
	switch a := PowerAction(strings.TrimSpace(s)); a {
	case PowerStatus, PowerOn, PowerOff, PowerSoft, PowerReset, PowerCycle:
		return a, nil
	case "shutdown":
		return PowerSoft, nil
	case "restart", "reboot":
		return PowerReset, nil
	}
	return "", fmt.Errorf("unknown power action %q: use status, on, off, soft, reset or cycle", s)
}

// Disruptive reports whether the action takes a running host down (or
// may: a reset reboots it), which is what the quorum guard cares about.
func (a PowerAction) Disruptive() bool {
	switch a {
	case PowerOff, PowerSoft, PowerReset, PowerCycle:
		return true
	}
	return false
}

// Gerund is the action in a sentence: "cycling pve2 would leave 1".
func (a PowerAction) Gerund() string {
	switch a {
	case PowerOn:
		return "powering on"
	case PowerOff:
		return "powering off"
	case PowerSoft:
		return "shutting down"
	case PowerReset:
		return "resetting"
	case PowerCycle:
		return "cycling"
	}
	return "checking"
}
