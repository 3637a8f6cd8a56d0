package main

import (
	"time"

	"foghorn/probes/classify"
)

// Target state has one owner, the classifier (classify.Classifier.Targets):
// it judges rise and fall and restores what the store holds at its first
// Configure. cmd keeps no copy; /status, the API, the dashboard, /healthz
// and the power guard read it here.

// targetState is what is known of a target now ("up", "down",
// "pending"), for the power guard's quorum check. After a restart a
// member that was down counts as down at once, one that was up as up.
// The guard is wired before the classifier exists: until it does, nothing
// is known.
func (d *daemon) targetState(name string) string {
	s := d.states.Load()
	if s == nil {
		return string(classify.Pending)
	}
	return string(s.State(name))
}

// targetEntry is one target as /status and the API show it.
type targetEntry struct {
	Target  string    `json:"target"`
	Kind    string    `json:"kind"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
	Status  string    `json:"status"`
	Msg     string    `json:"msg"`
	At      time.Time `json:"at"`
	Latency float64   `json:"latency_seconds"`
}

// targetList is the targets something is known of (a result, or a state
// restored from the store), by name. A target not probed yet is left out,
// as /status always did: it has nothing to show but its name.
func (d *daemon) targetList() []targetEntry {
	s := d.states.Load()
	if s == nil {
		return []targetEntry{}
	}
	ts := s.Targets()
	out := make([]targetEntry, 0, len(ts))
	for _, t := range ts {
		if !t.Known() {
			continue
		}
		out = append(out, targetEntry{Target: t.Target, Kind: t.Kind, State: string(t.State), Since: t.Since,
			Status: t.Last.Status.String(), Msg: t.Last.Msg, At: t.Last.Start, Latency: t.Last.Duration.Seconds()})
	}
	return out
}
