package pager

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"foghorn/configs"
	"foghorn/escalation"
)

// emailChannel mails pages and notices over SMTP: the channel that does
// not depend on Twilio.
type emailChannel struct{ p *Pager }

func (emailChannel) name() configs.Channel { return configs.Email }
func (emailChannel) vendor() string        { return vendorSMTP }

func (c emailChannel) ready(st *state, m *outgoing) error {
	if st.mail == nil {
		return permanent("email is not configured ([smtp] host)")
	}
	if m == nil {
		return nil
	}
	if m.in.Email == "" {
		return permanent("%s has no email address", m.in.Person)
	}
	if m.subject == "" {
		m.subject, m.text = mailNotice(m.in)
		if m.in.Kind == escalation.KindPage {
			m.subject, m.text = mailPage(m.in, st.public, c.p.clock.Now(), c.p.personZone(st, m.in.Person))
		}
	}
	return nil
}

func (emailChannel) send(ctx context.Context, st *state, m *outgoing) (string, error) {
	return "", st.mail.send(ctx, m.in.Email, m.subject, m.text)
}

func (emailChannel) before(*outgoing) {}

func (c emailChannel) after(_ context.Context, _ *state, m *outgoing, _ string, err error) {
	if err == nil && m.told {
		c.p.log.Info("email sent", "notification", m.in.ID, "incident", m.in.Incident, "kind", m.in.Kind, "person", m.in.Person)
	}
}

// mailer is the channel that does not depend on Twilio: plain SMTP with
// net/smtp. smtp.SendMail is not used because it has no timeout and no
// context (a hung mail server would hold a page forever); the session is
// the same few commands on a connection with a deadline.
type mailer struct {
	host, from, user, pass string
	port                   int
	starttls               bool
	timeout                time.Duration
	helo                   string
}

func newMailer(c configs.SMTP, timeout time.Duration) *mailer {
	if c.Host == "" {
		return nil
	}
	return &mailer{host: c.Host, port: c.Port, from: c.From, user: c.Username, pass: c.Password.Reveal(),
		starttls: c.StartTLS, timeout: timeout, helo: "foghorn"}
}

// send mails one plain-text message to one address.
func (m *mailer) send(ctx context.Context, to, subject, body string) error {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return permanent("email to %q: not an address: %v", to, err)
	}
	from, err := mail.ParseAddress(m.from)
	if err != nil {
		return permanent("smtp from %q: not an address: %v", m.from, err)
	}
	msg, err := message(from, rcpt, subject, body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	addr := net.JoinHostPort(m.host, strconv.Itoa(m.port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // a cancelled page stops waiting at once
	defer stop()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("smtp %s: greeting: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", addr, err)
	}
	if m.starttls {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanent("smtp %s does not offer STARTTLS, but [smtp] starttls = true", addr)
		}
		if err := c.StartTLS(&tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp %s: STARTTLS: %w", addr, err)
		}
	}
	if m.user != "" {
		// PlainAuth refuses to send the password unencrypted except to
		// localhost: set starttls = true for a remote server.
		if err := c.Auth(smtp.PlainAuth("", m.user, m.pass, m.host)); err != nil {
			return fmt.Errorf("smtp %s: AUTH as %s: %w", addr, m.user, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", addr, err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, rcpt.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s: write message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message refused: %w", addr, err)
	}
	c.Quit() // the message is accepted; a failed QUIT changes nothing
	return nil
}

// message renders a UTF-8 plain-text mail. Header values are cleaned of
// line breaks (no header injection from an alert's summary) and
// Q-encoded when not ASCII.
func message(from, to *mail.Address, subject, body string) ([]byte, error) {
	var id [12]byte
	rand.Read(id[:])
	domain := "foghorn"
	if _, d, ok := strings.Cut(from.Address, "@"); ok {
		domain = d
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from.String())
	h("To", to.String())
	h("Subject", mime.QEncoding.Encode("utf-8", clean(subject)))
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
