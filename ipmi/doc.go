// Package ipmi is foghorn's BMC client over go-ipmi: sessions, chassis
// status, SEL, sensors, the diagnosis made of them, power actions and the
// Guard around those. It must not know about escalation or people beyond
// the names the Guard checks.
//
// go-ipmi's client must not be shared by goroutines (concurrent requests
// can expect the same sequence number and then time out), so each BMC is
// owned by one goroutine that serves requests in turn; callers anywhere
// may use a *BMC at once.
package ipmi
