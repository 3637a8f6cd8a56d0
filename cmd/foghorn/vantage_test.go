package main

import (
	"encoding/json"
	"testing"
	"time"

	"foghorn/cluster"
	"foghorn/configs"
	"foghorn/probes"
	"foghorn/probes/classify"
)

// The shared view: a peer's newer view replaces its older one whatever
// the order they arrive in, this node's own coming back is ignored, and a
// view counts only while the peer is live, not blind and not stale.
func TestVantageViewMergesNewestAndCountsOnlyFreshLivePeers(t *testing.T) {
	up := true
	v := newVantage(&configs.Cluster{Name: "fra", PeerTimeout: configs.Duration{Duration: 2 * time.Second}},
		func() []cluster.Member { return []cluster.Member{{Name: "ams", Up: up}} })
	msg := func(node string, at time.Time, ts map[string]classify.State) []byte {
		var m map[string]sightMsg
		if ts != nil {
			m = map[string]sightMsg{}
			for n, s := range ts {
				m[n] = sightMsg{State: s, Good: at}
			}
		}
		b, _ := json.Marshal(viewMsg{Node: node, At: at, Targets: m})
		return b
	}
	now := time.Now()
	if err := v.Merge(msg("ams", now, map[string]classify.State{"web": classify.Up})); err != nil {
		t.Fatal(err)
	}
	if err := v.Merge(msg("ams", now.Add(-time.Second), map[string]classify.State{"web": classify.Down})); err != nil {
		t.Fatal(err)
	}
	if err := v.Merge(msg("fra", now.Add(time.Second), map[string]classify.State{"web": classify.Down})); err != nil {
		t.Fatal(err)
	}
	if got, ok := v.View(); !ok || got.Node != "ams" || got.Targets["web"].State != classify.Up || !got.Targets["web"].Good.Equal(now) {
		t.Fatalf("view %+v %v, want ams's newest: web up", got, ok)
	}
	select {
	case <-v.changed:
	default:
		t.Error("the first view of ams did not ask for a new judgement")
	}
	up = false
	if got, ok := v.View(); ok {
		t.Errorf("a lost peer's view counts: %+v", got)
	}
	up = true
	v.Merge(msg("ams", now.Add(2*time.Second), nil)) // ams is blind
	if got, ok := v.View(); ok {
		t.Errorf("a blind peer's view counts: %+v", got)
	}
	v.Merge(msg("ams", now.Add(3*time.Second), map[string]classify.State{"web": classify.Up}))
	if _, ok := v.View(); !ok {
		t.Error("a fresh view does not count")
	}
	v2 := newVantage(&configs.Cluster{Name: "fra", PeerTimeout: configs.Duration{Duration: 2 * time.Second}},
		func() []cluster.Member { return []cluster.Member{{Name: "ams", Up: true}} })
	v2.Merge(msg("ams", now.Add(-7*time.Second), map[string]classify.State{"web": classify.Up}))
	if got, ok := v2.View(); ok {
		t.Errorf("a view 7 s old (stale after 3 × 2 s) counts: %+v", got)
	}
	v.publish(now, []classify.TargetState{{Target: "web", State: classify.Down}, {Target: "new", State: classify.Pending},
		{Target: "db", State: classify.Up, Last: probes.Result{Status: probes.OK, Start: now}}}, false)
	b, _ := v.MarshalBinary()
	var mine viewMsg
	if err := json.Unmarshal(b, &mine); err != nil || mine.Node != "fra" || len(mine.Targets) != 2 || mine.Targets["web"] != (sightMsg{State: classify.Down}) ||
		!mine.Targets["db"].Good.Equal(now) {
		t.Errorf("own view %s (%v), want fra: web down, db up (good now), nothing pending", b, err)
	}
}
