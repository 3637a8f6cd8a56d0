package main

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"foghorn/escalation"
)

// shareSilences adds the silences and the overrides to the gossip (keys
// "silences", "overrides"): one made, ended or cancelled on either node
// holds on both (escalation/share_silences.go). Called by shareState,
// before the first exchange, so a joining node pulls them whole.
func (d *daemon) shareSilences() {
	for key, s := range map[string]*escalation.Shared{"silences": d.eng.SharedSilences(), "overrides": d.eng.SharedOverrides()} {
		s.SetBroadcast(d.peer.AddState(key, s).Broadcast)
	}
	d.m.reg.MustRegister(
		counterFunc("foghorn_cluster_silences_merged_total", "Versions of silences (made, ended early) taken from the other nodes.",
			func() uint64 { return d.eng.ShareStats().SilencesMerged }),
		counterFunc("foghorn_cluster_overrides_merged_total", "Versions of on-call overrides (made, cancelled) taken from the other nodes.",
			func() uint64 { return d.eng.ShareStats().OverridesMerged }),
		counterFunc("foghorn_cluster_shared_ignored_total", "Silence and override versions heard from the other nodes that were not newer than this node's (replays, echoes).",
			func() uint64 { return d.eng.ShareStats().Ignored }))
}

// counterFunc is a counter read from a stage's own count at each scrape.
func counterFunc(name, help string, n func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(n()) })
}

// endSilence is DELETE /api/v1/silences/{id}: the silence (its number on
// this node, or its uid) ends now, here and on the peers.
func (d *daemon) endSilence(w http.ResponseWriter, r *http.Request) {
	s, err := d.eng.EndSilence(r.Context(), r.PathValue("id"), actor(r))
	if err != nil {
		shareError(w, err)
		return
	}
	writeJSON(w, s)
}

// endOverride is DELETE /api/v1/overrides/{uid}: the override is
// cancelled, here and on the peers.
func (d *daemon) endOverride(w http.ResponseWriter, r *http.Request) {
	if err := d.eng.EndOverride(r.Context(), r.PathValue("uid"), actor(r)); err != nil {
		shareError(w, err)
		return
	}
	writeJSON(w, map[string]string{"cancelled": r.PathValue("uid")})
}

func shareError(w http.ResponseWriter, err error) {
	if errors.Is(err, escalation.ErrNoSuchRow) {
		apiError(w, http.StatusNotFound, err.Error())
		return
	}
	apiError(w, http.StatusInternalServerError, err.Error())
}
