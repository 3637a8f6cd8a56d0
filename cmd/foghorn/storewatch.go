package main

import (
	"context"
	"time"
)

// storeWatchEvery is how often the database file is looked at: a stat,
// cheap enough to notice a deletion within seconds.
const storeWatchEvery = 2 * time.Second

// watchStore says, at start, what of the data dir others may read, and
// then logs an ERROR as soon as the database file is deleted or replaced
// under the running foghorn (/healthz says it too, with the same reason):
// every ack recorded after that is lost at the next stop, and an empty
// database would page every open incident again as #1.
func (d *daemon) watchStore(ctx context.Context) {
	for _, s := range d.db.Exposed() {
		d.log.Warn("data dir open to other users", "problem", s)
	}
	t := time.NewTicker(storeWatchEvery)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		why := ""
		if err := d.db.FileGone(); err != nil {
			why = err.Error()
		}
		if why != last && why != "" {
			d.log.Error("the database file is gone from under foghorn", "path", d.db.Path, "reason", why)
		}
		last = why
	}
}
