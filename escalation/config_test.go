package escalation

import "foghorn/configs"

// configOf is the engine's part of a test's config, built as cmd builds
// it (cmd/foghorn/wire_escalation.go).
func configOf(c *configs.Config) Config {
	return Config{People: c.People, Rotations: c.Rotations, Policies: c.Policies, Maintenance: c.Maintenance,
		Escalation: c.Escalation, PageValidity: c.Twilio.SMSValidity.Duration}
}
