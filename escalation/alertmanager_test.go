package escalation

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
)

func amPayload(t *testing.T, status string, alerts ...template.Alert) []byte {
	t.Helper()
	m := webhook.Message{
		Data: &template.Data{
			Receiver: "foghorn", Status: status, Alerts: alerts,
			GroupLabels:  template.KV{"alertname": "DiskFull"},
			CommonLabels: template.KV{"alertname": "DiskFull"},
			ExternalURL:  "http://alertmanager.example:9093",
		},
		Version: "4", GroupKey: `{}:{alertname="DiskFull"}`,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func amAlert(status, fp, instance, severity string) template.Alert {
	return template.Alert{
		Status:      status,
		Labels:      template.KV{"alertname": "DiskFull", "instance": instance, "severity": severity},
		Annotations: template.KV{"summary": "disk / on " + instance + " is 97% full", "description": "gluster brick almost full"},
		StartsAt:    monday, Fingerprint: fp,
	}
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAlertmanagerIntake(t *testing.T) {
	h := newHarness(t, twoStep, monday)
	srv := httptest.NewServer(h.e.Alertmanager())
	defer srv.Close()

	// A grouped notification with two firing alerts opens two incidents.
	body := amPayload(t, "firing", amAlert("firing", "a1b2", "pve1:9100", "critical"), amAlert("firing", "c3d4", "pve2:9100", "warning"))
	if code, out := post(t, srv.URL, body); code != 200 || !strings.Contains(out, `"accepted":2`) {
		t.Fatalf("firing: %d %s", code, out)
	}
	// Alertmanager repeats itself (repeat_interval): no new incidents.
	post(t, srv.URL, body)
	open, _ := h.e.Open(context.Background())
	if len(open) != 2 {
		t.Fatalf("open incidents = %d, want 2 (deduplicated by fingerprint)", len(open))
	}
	if open[0].Key != "am:a1b2" || open[0].Severity != "critical" || open[0].Summary != "disk / on pve1:9100 is 97% full" ||
		open[0].Labels["instance"] != "pve1:9100" || open[1].Severity != "warning" {
		t.Fatalf("incident from alert: %+v / %+v", open[0], open[1])
	}
	h.drive(time.Minute)
	if got := h.p.list("page"); len(got) != 2 {
		t.Fatalf("pages: %v", got)
	}

	// The resolved notification resolves one, and tells whoever was paged.
	if code, _ := post(t, srv.URL, amPayload(t, "resolved", amAlert("resolved", "a1b2", "pve1:9100", "critical"))); code != 200 {
		t.Fatalf("resolved: %d", code)
	}
	h.e.Wait()
	open, _ = h.e.Open(context.Background())
	if len(open) != 1 || open[0].Key != "am:c3d4" {
		t.Fatalf("after resolve: %+v", open)
	}
	if got := h.p.list("resolved"); len(got) != 1 || !strings.HasSuffix(got[0], "resolved sms alice") {
		t.Fatalf("resolved notices: %v", got)
	}

	// Bad input: a clear 4xx, and nothing stored changes.
	for _, c := range []struct {
		body []byte
		code int
		want string
	}{
		{[]byte(`{"alerts": [`), 400, "not an Alertmanager webhook payload"},
		{[]byte(`{"version":"3","status":"firing","alerts":[]}`), 400, `foghorn speaks version "4"`},
		{[]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":"b"}}]}`), 400, "no fingerprint"},
	} {
		code, out := post(t, srv.URL, c.body)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s -> %d %q; want %d %q", c.body, code, out, c.code, c.want)
		}
	}
	resp, _ := http.Get(srv.URL)
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET -> %d, want 405", resp.StatusCode)
	}
	if open2, _ := h.e.Open(context.Background()); len(open2) != 1 {
		t.Errorf("bad input changed the incidents: %+v", open2)
	}
}

func FuzzAlertmanager(f *testing.F) {
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"x"},"fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":"4"}`))
	f.Add([]byte(`[]`))
	h := newHarness(f, twoStep, monday)
	handler := h.e.Alertmanager()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/alertmanager", bytes.NewReader(body)))
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
