package pager

import (
	"context"
	"net/mail"
	"strings"
	"testing"
	"time"

	"foghorn/configs"
)

func TestEmail(t *testing.T) {
	srv := newSMTP(t)
	m := newMailer(configs.SMTP{Host: "127.0.0.1", Port: srv.port, From: "foghorn@example.net"}, 2*time.Second)
	ctx := context.Background()
	if err := m.send(ctx, "alice@example.net", "[CRIT] #1 disk\r\nBcc: eve@example.net", "line 1\nline 2 äöü "+strings.Repeat("x", 100)); err != nil {
		t.Fatal(err)
	}
	got := srv.got()
	if len(got) != 1 || !strings.HasPrefix(got[0].From, "<foghorn@example.net>") || got[0].To[0] != "alice@example.net" {
		t.Fatalf("envelope %+v", got)
	}
	msg, err := mail.ReadMessage(strings.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" || msg.Header.Get("Subject") != "[CRIT] #1 disk Bcc: eve@example.net" {
		t.Fatalf("header injection: %v", msg.Header)
	}
	if msg.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("headers %v", msg.Header)
	}
	body := srv.mailTo("alice@example.net")[0]
	if !strings.Contains(body, "line 1\nline 2 äöü "+strings.Repeat("x", 100)) {
		t.Errorf("body %q", body)
	}

	// starttls = true with a server that does not offer it: refused, not
	// sent in the clear, and not retried.
	tlsm := newMailer(configs.SMTP{Host: "127.0.0.1", Port: srv.port, From: "foghorn@example.net", StartTLS: true}, 2*time.Second)
	err = tlsm.send(ctx, "alice@example.net", "s", "b")
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") || retryable(err) {
		t.Fatalf("starttls: %v", err)
	}
	if err := m.send(ctx, "not an address", "s", "b"); err == nil || retryable(err) {
		t.Fatalf("bad address: %v", err)
	}
	// Nobody listening: a retryable failure, within the timeout.
	dead := newMailer(configs.SMTP{Host: "127.0.0.1", Port: 1, From: "foghorn@example.net"}, time.Second)
	if err := dead.send(ctx, "alice@example.net", "s", "b"); err == nil || !retryable(err) {
		t.Fatalf("no server: %v", err)
	}
}
