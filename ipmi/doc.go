// Package ipmi will own the BMC client over go-ipmi: sessions, chassis
// status, SEL, sensors, power actions and their guards. It must not know
// about escalation. (Built by the IPMI issue; nothing here yet.)
package ipmi
