package escalation

import (
	"context"
	"sync"
	"time"

	"foghorn/store"
)

// Finder looks a notification up in the provider's own record (Twilio's
// Messages and Calls lists), for Recover: a claim that may have been handed
// over before a kill is resent only if the provider never got it.
type Finder interface {
	// Find returns the provider's IDs of what may be in, sent to its
	// person at or after since, oldest first: none if the provider has no
	// such record, an error when it cannot tell (then Recover falls back
	// to resending once). Recover takes each ID for one notification only.
	Find(ctx context.Context, in Intent, since time.Time) (sids []string, err error)
}

// Tracked wraps n so that every notification is stamped in the store just
// before n sees it. After a kill, Recover then knows which claims never
// left (they are sent, nobody has them) and which may have reached the
// provider; those it looks up with f (nil: no lookup) before resending.
func Tracked(db *store.DB, n Notifier, f Finder) Notifier {
	return &tracked{db: db, next: n, find: f}
}

type tracked struct {
	db   *store.DB
	next Notifier
	find Finder
}

func (t *tracked) Notify(ctx context.Context, in Intent) error {
	if in.ID > 0 {
		// Committed before the hand-over: a row without the stamp was
		// provably never given to a channel. If the store fails, the page
		// goes out anyway; a restart may then resend it once unchecked.
		t.db.ExecContext(context.WithoutCancel(ctx), `UPDATE notifications SET handed_at = ? WHERE id = ? AND handed_at IS NULL`,
			time.Now().UnixMilli(), in.ID)
	}
	return t.next.Notify(ctx, in)
}

// ProviderID passes on to the wrapped Notifier, if it knows provider ids.
func (t *tracked) ProviderID(ctx context.Context, notification int64) string {
	if p, ok := t.next.(ProviderIDs); ok {
		return p.ProviderID(ctx, notification)
	}
	return ""
}

// Cancel passes straight on: a cancel has no row to stamp.
func (t *tracked) Cancel(ctx context.Context, incident int64) error {
	return t.next.Cancel(ctx, incident)
}

// skew is how far the provider's clock may be behind ours: a record
// created up to this long before handed_at can still be ours.
const skew = 2 * time.Second

// lookUp asks f about each notification that may have been handed over:
// found maps it to the provider's ID, unknown marks those f could not
// tell about. The rest the provider never got. Each person's are asked in
// the order they were handed over and each provider ID goes to one
// notification only, so two pages to one phone cannot both claim the one
// SMS that got through.
func (e *Engine) lookUp(ctx context.Context, f Finder, maybe []Intent, handed map[int64]time.Time) (found map[int64]string, unknown map[int64]bool) {
	found, unknown = map[int64]string{}, map[int64]bool{}
	byPerson := map[string][]Intent{}
	var order []string
	for _, in := range maybe {
		if f == nil || (in.Channel != "sms" && in.Channel != "voice") {
			unknown[in.ID] = true
			continue
		}
		if byPerson[in.Person] == nil {
			order = append(order, in.Person)
		}
		byPerson[in.Person] = append(byPerson[in.Person], in)
	}
	if len(order) == 0 {
		return found, unknown
	}
	// A start must not hang on an unreachable provider: what is not
	// answered in time is resent once, as without a lookup.
	ctx, cancel := context.WithTimeout(ctx, lookupBudget)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	for _, person := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			used := map[string]bool{}
			for _, in := range byPerson[person] {
				sids, err := f.Find(ctx, in, handed[in.ID].Add(-skew))
				mu.Lock()
				switch {
				case err != nil:
					unknown[in.ID] = true
					e.log.Warn("cannot look up an interrupted notification at the provider; resending it once", "notification", in.ID,
						"incident", in.Incident, "person", in.Person, "channel", in.Channel, "err", err)
				default:
					for _, sid := range sids {
						if !used[sid] {
							used[sid] = true
							found[in.ID] = sid
							break
						}
					}
					e.log.Info("interrupted notification looked up at the provider", "notification", in.ID, "incident", in.Incident,
						"person", in.Person, "channel", in.Channel, "sid", found[in.ID], "sent", found[in.ID] != "")
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return found, unknown
}

// lookupBudget bounds all of Recover's lookups together.
const lookupBudget = 30 * time.Second
