package pager

import (
	"context"
	"strconv"

	"foghorn/configs"
	"foghorn/escalation"
)

// smsChannel sends text messages through Twilio's Messages API.
type smsChannel struct{ p *Pager }

func (smsChannel) name() configs.Channel { return configs.SMS }
func (smsChannel) vendor() string        { return vendorTwilio }

func (smsChannel) limit(st *state) (int, string) { return st.cfg.Twilio.SMSPer15m, "sms_per_15m" }

func (c smsChannel) ready(st *state, m *outgoing) error {
	if m == nil {
		return twilioReady(st, escalation.Intent{Phone: "-"})
	}
	if err := twilioReady(st, m.in); err != nil {
		return err
	}
	if m.text == "" {
		in := m.in
		m.text = noticeSMS(in)
		if in.Kind == escalation.KindPage {
			m.text = pageSMS(in, c.p.clock.Now(), c.p.personZone(st, in.Person))
		}
		if st.public != "" && in.ID > 0 {
			m.callback = st.public + SMSStatusPath + "?n=" + strconv.FormatInt(in.ID, 10)
		}
	}
	return nil
}

// send goes through the first provider that takes it (providers.go).
func (c smsChannel) send(ctx context.Context, st *state, m *outgoing) (string, error) {
	sid, pr, err := c.p.via(ctx, st, m.in, false, func(pr *twilioAPI) (string, error) {
		return pr.sms(ctx, m.in.Phone, m.text, m.callback, st.validity)
	})
	if pr != nil {
		m.provider = pr.name
	}
	if err == nil && m.callback != "" {
		c.p.awaitReport(st, m.in.ID, pr)
	}
	return sid, err
}

func (smsChannel) before(*outgoing) {}

func (c smsChannel) after(ctx context.Context, _ *state, m *outgoing, sid string, err error) {
	if err != nil || !m.told {
		return
	}
	c.p.remember(ctx, m.in, sid, m.provider) // lookup.go
	c.p.log.Info("SMS sent", "notification", m.in.ID, "incident", m.in.Incident, "kind", m.in.Kind, "person", m.in.Person, "sid", sid, "provider", m.provider)
}

// twilioReady says why a Twilio send to in cannot even be tried.
func twilioReady(st *state, in escalation.Intent) error {
	if len(st.provs) == 0 {
		return permanent("Twilio is not configured ([twilio] account_sid or simulator, or a [[provider]])")
	}
	if in.Phone == "" {
		return permanent("%s has no phone number", in.Person)
	}
	return nil
}
