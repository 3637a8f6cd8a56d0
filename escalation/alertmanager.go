package escalation

import (
	"encoding/json"
	"fmt"
	"foghorn/configs"
	"net/http"
	"strings"

	"github.com/prometheus/alertmanager/template"
)

// amMessage is Alertmanager's webhook payload (notify/webhook.Message),
// declared here over template.Data so the intake does not pull in every
// Alertmanager notifier.
type amMessage struct {
	*template.Data
	Version  string `json:"version"`
	GroupKey string `json:"groupKey"`
}

// maxAMBody bounds a webhook body; Alertmanager batches, but not megabytes.
const maxAMBody = 4 << 20

// Alertmanager is the intake for Alertmanager's webhook receiver
// (POST /api/v1/alertmanager), so a site's Prometheus rules page through
// foghorn's rotations. Alerts deduplicate by fingerprint and resolve with
// Alertmanager's resolved notifications. A body foghorn cannot use gets a
// 400 that says why; a store failure a 500, so Alertmanager retries.
func (e *Engine) Alertmanager() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST Alertmanager's webhook payload here", http.StatusMethodNotAllowed)
			return
		}
		var m amMessage
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAMBody))
		if err := dec.Decode(&m); err != nil || m.Data == nil {
			e.log.Warn("alertmanager webhook refused: not an Alertmanager payload", "remote", r.RemoteAddr, "err", err)
			http.Error(w, fmt.Sprintf("not an Alertmanager webhook payload: %v", err), http.StatusBadRequest)
			return
		}
		if m.Version != "4" {
			e.log.Warn("alertmanager webhook refused: version", "version", m.Version, "remote", r.RemoteAddr)
			http.Error(w, fmt.Sprintf("webhook version %q: foghorn speaks version \"4\"", m.Version), http.StatusBadRequest)
			return
		}
		alerts := make([]Alert, 0, len(m.Alerts))
		for i, a := range m.Alerts {
			if a.Fingerprint == "" {
				http.Error(w, fmt.Sprintf("alert %d has no fingerprint", i), http.StatusBadRequest)
				return
			}
			alerts = append(alerts, fromAM(a))
		}
		for _, a := range alerts {
			if _, err := e.Handle(r.Context(), a); err != nil {
				e.log.Error("alertmanager alert not recorded", "key", a.Key, "err", err)
				http.Error(w, "could not record the alert; retry", http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"accepted\":%d}\n", len(alerts))
	})
}

// fromAM maps one Alertmanager alert. An alert without a severity label
// pages as critical: whatever a site routes to its pager should ring.
func fromAM(a template.Alert) Alert {
	sev := configs.Critical
	switch strings.ToLower(a.Labels["severity"]) {
	case "warning", "warn":
		sev = configs.Warning
	case "info", "none", "informational":
		sev = configs.Info
	}
	summary := a.Annotations["summary"]
	if summary == "" {
		summary = a.Labels["alertname"]
		if inst := a.Labels["instance"]; inst != "" {
			summary += " on " + inst
		}
	}
	labels := map[string]string{}
	for k, v := range a.Labels {
		labels[k] = v
	}
	labels["source"] = "alertmanager"
	return Alert{
		Key:      "am:" + a.Fingerprint,
		Firing:   a.Status == "firing",
		Severity: sev,
		Summary:  summary,
		Detail:   a.Annotations["description"],
		Labels:   labels,
		Policy:   a.Labels["foghorn_policy"],
		Source:   "alertmanager",
		At:       a.StartsAt,
	}
}
