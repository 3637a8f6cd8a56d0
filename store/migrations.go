package store

// migration is one schema step. Versions are positions in migrations: never
// edit or reorder a released step, only append. Each table names its
// owner, the one package that writes it.
type migration struct {
	name string
	sql  string
}

var migrations = []migration{
	{"audit trail", `
		-- owner: every package, append-only: pages, deliveries, acks, escalations,
		-- silences, power actions, config reloads.
		CREATE TABLE events (
			id      INTEGER PRIMARY KEY AUTOINCREMENT,
			at      TEXT NOT NULL,
			kind    TEXT NOT NULL,
			subject TEXT NOT NULL DEFAULT '',
			actor   TEXT NOT NULL DEFAULT '',
			detail  TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX events_subject ON events (subject, id);
		CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	`},
	{"target state", `
		-- owner: probes. The last known state per target, so a restart resumes
		-- without paging again for what was already known.
		CREATE TABLE target_state (
			target      TEXT PRIMARY KEY,
			state       TEXT NOT NULL,
			since       TEXT NOT NULL,
			last_status TEXT NOT NULL DEFAULT '',
			last_msg    TEXT NOT NULL DEFAULT '',
			last_at     TEXT NOT NULL DEFAULT '',
			memory      TEXT NOT NULL DEFAULT '{}'
		);
	`},
	{"incidents and notifications", `
		-- owner: escalation. Times are Unix milliseconds (UTC), so due times
		-- compare as numbers.
		CREATE TABLE incidents (
			id          INTEGER PRIMARY KEY AUTOINCREMENT,
			key         TEXT NOT NULL,
			short       INTEGER NOT NULL,
			state       TEXT NOT NULL,
			severity    TEXT NOT NULL,
			summary     TEXT NOT NULL,
			detail      TEXT NOT NULL DEFAULT '',
			labels      TEXT NOT NULL DEFAULT '{}',
			policy      TEXT NOT NULL DEFAULT '',
			source      TEXT NOT NULL DEFAULT '',
			opened_at   INTEGER NOT NULL,
			updated_at  INTEGER NOT NULL,
			acked_at    INTEGER,
			acked_by    TEXT NOT NULL DEFAULT '',
			resolved_at INTEGER,
			resolved_by TEXT NOT NULL DEFAULT '',
			snoozed_until INTEGER,
			silenced    TEXT NOT NULL DEFAULT '',
			step        INTEGER NOT NULL DEFAULT 0,
			round       INTEGER NOT NULL DEFAULT 0,
			due         INTEGER
		);
		-- One open incident per key: a re-failing target updates it.
		CREATE UNIQUE INDEX incidents_open_key ON incidents (key) WHERE state != 'resolved';
		CREATE INDEX incidents_due ON incidents (due) WHERE due IS NOT NULL;
		CREATE INDEX incidents_short ON incidents (short, opened_at);

		-- A notification is written (claimed) before it is handed to the
		-- pager and marked after, so a crash resends at most once.
		CREATE TABLE notifications (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			incident   INTEGER NOT NULL REFERENCES incidents (id),
			kind       TEXT NOT NULL,
			person     TEXT NOT NULL,
			channel    TEXT NOT NULL,
			text       TEXT NOT NULL,
			state      TEXT NOT NULL,
			attempt    INTEGER NOT NULL DEFAULT 1,
			step       INTEGER NOT NULL DEFAULT 0,
			created_at INTEGER NOT NULL,
			sent_at    INTEGER,
			error      TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX notifications_incident ON notifications (incident, person);
		CREATE INDEX notifications_person ON notifications (person, created_at);
		CREATE INDEX notifications_claimed ON notifications (state) WHERE state = 'claimed';

		CREATE TABLE overrides (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			rotation   TEXT NOT NULL DEFAULT '',
			absent     TEXT NOT NULL,
			cover      TEXT NOT NULL,
			start_at   INTEGER NOT NULL,
			end_at     INTEGER NOT NULL,
			created_by TEXT NOT NULL DEFAULT '',
			created_at INTEGER NOT NULL
		);
		CREATE TABLE silences (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			matchers   TEXT NOT NULL,
			start_at   INTEGER NOT NULL,
			end_at     INTEGER NOT NULL,
			created_by TEXT NOT NULL DEFAULT '',
			comment    TEXT NOT NULL DEFAULT ''
		);
	`},
	{"delivery truth across restarts", `
		-- owner: escalation. handed_at is stamped just before a notification
		-- is handed to the pager, so a restart tells a claim that never left
		-- (send it, nobody has it) from one that may have reached Twilio
		-- (look it up there first); sid is Twilio's, when a lookup found it.
		ALTER TABLE notifications ADD COLUMN handed_at INTEGER;
		ALTER TABLE notifications ADD COLUMN sid TEXT NOT NULL DEFAULT '';

		-- owner: probes. The last heartbeat push per target, written before
		-- the push is answered, so a kill right after cannot lose it.
		CREATE TABLE heartbeats (
			target  TEXT PRIMARY KEY,
			last_at INTEGER NOT NULL
		);

		-- owner: pager. MessageSids of inbound SMS already acted on, kept a
		-- day, so a replayed webhook cannot act twice.
		CREATE TABLE inbound_sms (
			sid TEXT PRIMARY KEY,
			at  INTEGER NOT NULL
		);
		CREATE INDEX inbound_sms_at ON inbound_sms (at);

		-- owner: pager. The Twilio SID of every message and call as soon as
		-- the API answered, so a lookup after a kill tells ours apart.
		CREATE TABLE twilio_sids (
			sid          TEXT PRIMARY KEY,
			notification INTEGER NOT NULL,
			at           INTEGER NOT NULL
		);
		CREATE INDEX twilio_sids_notification ON twilio_sids (notification);
	`},
	{"power: the host an incident is about, and the action offered", `
		-- owner: escalation. host is the one host of ours an incident is
		-- about ('' for a group, a storm, an alert from elsewhere): an
		-- automated power step acts on it. offer is the power action a
		-- person may ask for by reply ('' for none).
		ALTER TABLE incidents ADD COLUMN host TEXT NOT NULL DEFAULT '';
		ALTER TABLE incidents ADD COLUMN offer TEXT NOT NULL DEFAULT '';
	`},
	{"cluster: the shared notification log", `
		-- owner: escalation (nflog.go). The notification log a [cluster] of
		-- foghorns shares by gossip: what was sent to whom, when, on which
		-- channel, for which incident episode, and the acks and resolves
		-- that stop the others' calls. key names the notification the same
		-- way on every node; node is the foghorn that wrote the entry; an
		-- entry is dropped after expires (the [server] retention). Each node
		-- keeps its own copy, so a restart does not forget what was sent.
		CREATE TABLE nflog (
			key     TEXT PRIMARY KEY,
			node    TEXT NOT NULL,
			at      INTEGER NOT NULL,
			expires INTEGER NOT NULL,
			entry   TEXT NOT NULL
		);
		CREATE INDEX nflog_expires ON nflog (expires);

		-- owner: escalation. episode names one outage of a key across the
		-- foghorns of a cluster ('' without one); pages counts the passes
		-- that paged, so the n-th page of an episode has the same name on
		-- every node. logkey is a notification's entry in nflog ('' for
		-- none: single node, or not a page).
		ALTER TABLE incidents ADD COLUMN episode TEXT NOT NULL DEFAULT '';
		ALTER TABLE incidents ADD COLUMN pages INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE notifications ADD COLUMN logkey TEXT NOT NULL DEFAULT '';
	`},
	{"cluster: silences and overrides shared", `
		-- owner: escalation (share_silences.go). uid names a silence or an
		-- override the same on every node of a [cluster]; node is the
		-- foghorn that wrote its last version and updated_at when (last
		-- writer wins, then the greater node name); ended_at is when it was
		-- ended early (0: it was not), ended_by by whom. Rows from before get a uid here.
		ALTER TABLE silences ADD COLUMN uid TEXT NOT NULL DEFAULT '';
		ALTER TABLE silences ADD COLUMN node TEXT NOT NULL DEFAULT '';
		ALTER TABLE silences ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE silences ADD COLUMN ended_at INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE silences ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';
		UPDATE silences SET uid = 'local-' || lower(hex(randomblob(8))), updated_at = start_at;
		CREATE UNIQUE INDEX silences_uid ON silences (uid);
		ALTER TABLE overrides ADD COLUMN uid TEXT NOT NULL DEFAULT '';
		ALTER TABLE overrides ADD COLUMN node TEXT NOT NULL DEFAULT '';
		ALTER TABLE overrides ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE overrides ADD COLUMN ended_at INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE overrides ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';
		UPDATE overrides SET uid = 'local-' || lower(hex(randomblob(8))), updated_at = created_at;
		CREATE UNIQUE INDEX overrides_uid ON overrides (uid);
	`},
	{"pager: providers and push apps", `
		-- owner: pager. provider names the SMS/voice provider that took the
		-- message or call ('' for [twilio], else a [[provider]] name), so
		-- Recover asks that provider's own record, and a hang-up or a
		-- status callback goes to the provider that placed the call.
		ALTER TABLE twilio_sids ADD COLUMN provider TEXT NOT NULL DEFAULT '';

		-- owner: pager. A push app's send that lives on after the hand-over
		-- and must be followed or taken back: a Pushover emergency receipt
		-- to poll and cancel, a Telegram message whose buttons are edited
		-- away once the incident is acked or resolved. ref is the vendor's
		-- id (the receipt; "chat:message"); state is the channel's own
		-- (e.g. "live", "acked", "cancelled"); extra is the channel's JSON.
		CREATE TABLE pushes (
			channel      TEXT NOT NULL,
			ref          TEXT NOT NULL,
			notification INTEGER NOT NULL,
			incident     INTEGER NOT NULL,
			person       TEXT NOT NULL,
			at           INTEGER NOT NULL,
			state        TEXT NOT NULL DEFAULT 'live',
			extra        TEXT NOT NULL DEFAULT '',
			PRIMARY KEY (channel, ref)
		);
		CREATE INDEX pushes_incident ON pushes (incident, channel);

		-- owner: pager. Signed one-use action links (ntfy's "Ack #42"
		-- button): a link's id once it was used, until it expires; a
		-- replayed link finds its id here and is refused. The links' HMAC
		-- key is in meta ('link_key'), made once, so links survive a restart.
		CREATE TABLE used_links (
			id      TEXT PRIMARY KEY,
			at      INTEGER NOT NULL,
			expires INTEGER NOT NULL
		);
	`},
	{"power: maintenance leases", `
		-- owner: power. A maintenance lease: holder (the token or person
		-- that took it) may take target down until ends_at. state is held,
		-- ended (the host came back, or stayed up), released (given back
		-- early) or overrun (not back by ends_at: paged once). Times are
		-- Unix milliseconds (UTC); 0 for not yet. A held lease survives a
		-- restart: the lease loop resumes from this table.
		CREATE TABLE leases (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			target     TEXT NOT NULL,
			holder     TEXT NOT NULL,
			reason     TEXT NOT NULL DEFAULT '',
			granted_at INTEGER NOT NULL,
			ends_at    INTEGER NOT NULL,
			extended   INTEGER NOT NULL DEFAULT 0,
			state      TEXT NOT NULL DEFAULT 'held',
			down_at    INTEGER NOT NULL DEFAULT 0,
			ended_at   INTEGER NOT NULL DEFAULT 0,
			detail     TEXT NOT NULL DEFAULT ''
		);
		CREATE INDEX leases_state ON leases (state, target);
	`},
}
