package pager

import "time"

// Vendor is what the pager knows of one vendor now, for /healthz: whether
// the config sets it up, and whether it fails for everyone.
type Vendor struct {
	Name       string    // "twilio" or "smtp"
	Channels   []string  // the step channels it carries
	Configured bool      // [twilio] or [smtp] is set up
	Down       bool      // every recent send failed, or the credentials were refused
	Since      time.Time // when it went down
	LastError  string    // why, as logged; never a secret
}

// Vendors reports Twilio and SMTP. A vendor never tried counts as up:
// only a failed send is evidence.
func (p *Pager) Vendors() []Vendor {
	st := p.state()
	out := []Vendor{
		{Name: vendorTwilio, Channels: []string{"sms", "voice"}, Configured: st != nil && st.tw != nil},
		{Name: vendorSMTP, Channels: []string{"email"}, Configured: st != nil && st.mail != nil},
	}
	p.health.mu.Lock()
	defer p.health.mu.Unlock()
	for i := range out {
		if s := p.health.v[out[i].Name]; s != nil && s.down {
			out[i].Down, out[i].Since, out[i].LastError = true, s.since, s.last
		}
	}
	return out
}
