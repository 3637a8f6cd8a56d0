// Package ipmi is foghorn's BMC client over go-ipmi: sessions, chassis
// status, SEL, sensors, the diagnosis made of them, and power commands.
// Who may ask for a power action, and when, is package power's business
// (its Guard); ipmi must not know about escalation or people.
//
// go-ipmi's client must not be shared by goroutines (concurrent requests
// can expect the same sequence number and then time out), so each BMC is
// owned by one goroutine that serves requests in turn; callers anywhere
// may use a *BMC at once.
package ipmi
