package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// watchdog calls [self_check] heartbeat_url every heartbeat_interval while
// foghorn is healthy: a dead-man's switch elsewhere (Healthchecks, or a
// second foghorn's heartbeat target) pages when the calls stop. It stops
// calling when foghorn cannot do its job — the engine lags or the store
// fails — because a heartbeat from a stuck pager would be a lie.
func (d *daemon) watchdog(ctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second}
	last := ""
	for {
		cfg := d.cfg.Load()
		wait := cfg.SelfCheck.HeartbeatInterval.Duration
		if u := cfg.SelfCheck.HeartbeatURL; u != "" {
			reason := d.unhealthy(ctx)
			switch {
			case reason != "":
				if reason != last {
					d.log.Error("not sending the outbound heartbeat: foghorn is unhealthy", "reason", reason)
				}
				d.m.heartbeat("withheld")
			default:
				if err := ping(ctx, client, u); err != nil {
					d.log.Warn("outbound heartbeat failed", "err", err)
					d.m.heartbeat("failed")
				} else {
					d.m.heartbeat("sent")
				}
			}
			last = reason
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func ping(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("heartbeat: %s answered %s", req.URL.Host, resp.Status)
	}
	return nil
}

// maxLag is how far behind the escalation engine may fall before foghorn
// calls itself unhealthy.
const maxLag = 2 * time.Minute

// unhealthy says why foghorn cannot be trusted right now, or "": the
// store fails, the engine lags, no channel its policies use works (a
// pager that cannot send is as stuck as one that cannot decide), or it
// has been blind for more than two heartbeat intervals. A short blind
// window is foghorn's own uplink blinking, and a fully cut VPS cannot
// reach the heartbeat URL anyway; but a VPS whose pings alone are
// blocked (a local firewall) would otherwise keep saying "alive" while
// it judges nothing, so the dead-man's switch elsewhere must hear the
// silence. "No target probed yet" is left out: right after a start it is
// true of every healthy foghorn.
func (d *daemon) unhealthy(ctx context.Context) string {
	down, _ := d.checkChannels()
	blind := ""
	if b, since := d.cls.Blind(); b && time.Since(since) > 2*d.cfg.Load().SelfCheck.HeartbeatInterval.Duration {
		blind = d.checkBlind()
	}
	for _, reason := range []string{d.checkStore(ctx), d.checkLag(ctx), down, blind} {
		if reason != "" {
			return reason
		}
	}
	return ""
}
