package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"foghorn/cluster"
	"foghorn/cmd/foghorn/dashboard"
	"foghorn/configs"
	"foghorn/escalation"
	"foghorn/ipmi"
	"foghorn/pager"
	"foghorn/pager/twiliosim"
	"foghorn/power"
	"foghorn/probes"
	"foghorn/probes/classify"
	"foghorn/store"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stdout, stderr)
	path := fs.String("config", "", "the config `FILE` (TOML)")
	format := fs.String("log-format", "text", "log format: text or json")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if *path == "" {
		fmt.Fprintln(stderr, "foghorn run: -config FILE is required (try configs/example.toml, or `foghorn demo`)")
		return 2
	}
	log, err := newLogger(stderr, *format, *level)
	if err != nil {
		fmt.Fprintln(stderr, "foghorn run:", err)
		return 2
	}
	return serve(log, stderr, *path, false, func() (*configs.Config, error) { return configs.LoadArmed(*path) })
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stdout, stderr)
	dataDir := fs.String("data-dir", "", "the `DIR` where the demo keeps its state (default: a new temporary folder)")
	story := fs.Bool("story", true, "play the demo story (rt1 goes down, phones are paged, bob acks, rt1 recovers)")
	format := fs.String("log-format", "text", "log format: text or json")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := fs.parse(args); !ok {
		return code
	}
	log, err := newLogger(stderr, *format, *level)
	if err != nil {
		fmt.Fprintln(stderr, "foghorn demo:", err)
		return 2
	}
	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "foghorn-demo-"); err != nil {
			fmt.Fprintln(stderr, "foghorn demo:", err)
			return 1
		}
	}
	const name = "demo.toml (embedded)"
	return serve(log, stderr, name, *story, func() (*configs.Config, error) {
		return configs.ParseArmed(name, dir, configs.DemoTOML, os.Getenv)
	})
}

// daemon is one running foghorn: the config in force, the store, the
// probes and the HTTP listener, wired in the data flow of DESIGN.md.
type daemon struct {
	log    *slog.Logger
	source string
	load   func() (*configs.Config, error)
	cfg    atomic.Pointer[configs.Config]
	db     *store.DB
	sched  *probes.Scheduler
	cls    *classify.Classifier // target state's one owner (wire_probes.go)
	eng    *escalation.Engine
	beats  *probes.Heartbeats
	pushes pushLimiter // refused heartbeat pushes per source (pushlimit.go)
	// states is cls, target state's one owner (targets.go), for readers
	// that start before it exists: the guard, the engine's power steps.
	states atomic.Pointer[classify.Classifier]
	probed atomic.Int64 // when the newest result of this run started, Unix ns (healthz.go)
	m      *metrics
	dash   *dashboard.Dashboard
	health health
	pg     *pager.Pager
	sim    *twiliosim.Sim
	pool   *ipmi.Pool
	guard  *power.Desk
	events chan classify.Event
	fds    fdBudget      // how file descriptors are shared between probes and HTTP
	peer   *cluster.Peer // nil without [cluster] (wire_cluster.go)
	joined chan struct{} // closed once the first join of the peers was tried (wire_cluster.go)
	view   *vantage      // this node's view of the targets and the peer's; nil without [cluster] (wire_vantage.go)

	armed armedCheck // the last verdict of /healthz (healthz.go)
}

func serve(log *slog.Logger, stderr io.Writer, source string, story bool, load func() (*configs.Config, error)) int {
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "foghorn: not started: fix the config (foghorn check-config FILE lists every problem)")
		return 1
	}
	for _, w := range cfg.Warnings {
		log.Warn("config warning", "problem", w.String())
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	db, err := store.Open(ctx, cfg.Server.DataDir)
	if err != nil {
		log.Error("cannot open the store", "err", err)
		return 1
	}
	defer db.Close()

	d := &daemon{log: log, source: source, load: load, db: db, beats: &probes.Heartbeats{Store: db}, m: newMetrics()}
	d.cfg.Store(cfg)
	var sim *twiliosim.Sim
	simBase := ""
	if cfg.Twilio.Simulator {
		so := simulatorOptions(pagerConfig(cfg))
		so.Ring, so.Logger = 3*time.Second, log
		sim = twiliosim.New(so)
		if simBase, err = sim.Start(cfg.Twilio.SimulatorListen); err != nil {
			log.Error("cannot start the Twilio simulator; set [twilio] simulator_listen to a free host:port", "err", err)
			return 1
		}
		defer sim.Close()
		log.Info("Twilio simulator: no real SMS or calls; the simulated phones are on its page", "url", simBase+"/sim/")
	}
	pg, err := pager.New(pagerConfig(cfg), nil, pager.Options{APIBase: simBase, Log: log, Store: db})
	if err != nil {
		log.Error("cannot start the pager", "err", err)
		return 1
	}
	defer pg.Close()
	d.pg, d.sim = pg, sim
	// Pages, plus policy steps with power = "cycle"; each hand-over stamped
	// in the store, and looked up in Twilio's lists by Recover after a kill.
	d.pool = ipmi.NewPool()
	d.pool.Update(bmcTargets(cfg))
	// Power actions: CYCLE pve1 by SMS, the API, the dashboard, and the
	// automated policy steps, all behind one guard; its rate limits
	// replayed from the audit trail, so a restart resets nothing.
	po := power.Options{BMC: bmcs{d.pool}, Trail: db, State: d.targetState, BMCState: d.bmcState, Log: log}
	d.leaseOptions(&po) // lease.go: maintenance leases in the store, their overrun paged by the engine
	d.guard = power.New(powerConfig(cfg), po)
	if err := d.guard.Remember(ctx); err != nil {
		log.Error("cannot read recent power actions; rate limits start empty", "err", err)
	}
	if err := d.guard.Resume(ctx); err != nil {
		log.Error("cannot read the maintenance leases; none stand until they are readable", "err", err)
	}
	pg.SetPower(d.guard)
	if err := d.newCluster(cfg); err != nil {
		log.Error("cannot start the cluster's gossip; check [cluster] bind (a free host:port) and key_file", "err", err)
		return 1
	}
	d.eng = d.newEngine(db, cfg, escalation.Tracked(db, powerRoute(d.guard, pg.PowerSteps()), pg), log)
	pg.SetEngine(d.eng)
	d.m.reg.MustRegister(pg, live{d}, storeFallback{d})
	if n, err := d.eng.Recover(ctx); err != nil {
		log.Error("cannot recover interrupted notifications", "err", err)
		return 1
	} else if n > 0 {
		log.Warn("resending notifications interrupted by the last stop", "count", n)
	}
	d.shareState()    // after Recover loaded the log, before the cluster is joined
	d.sharePower(cfg) // wire_power_cluster.go
	if d.dash, err = dashboard.New(dashboard.Options{Engine: d.eng, Source: dashSource{d}, Config: func() *dashboard.Config { return dashConfig(d.cfg.Load()) }, Log: log, Audit: db, Power: dashPower{d}}); err != nil {
		log.Error("cannot build the dashboard", "err", err)
		return 1
	}
	d.health.update(func(h *dashboard.Health) { h.Started, h.Reloaded = time.Now(), time.Now() })
	engDone := make(chan struct{})
	go func() {
		defer close(engDone)
		d.eng.Run(ctx)
	}()
	d.events = make(chan classify.Event, 4096)
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		d.eventLoop()
	}()
	d.newProbes(cfg, func() ([]string, error) { return d.openProbeKeys(ctx) })
	// The first update restores the saved target state: before the
	// listener, so no webhook (a CYCLE by SMS) sees every target pending.
	d.updateProbes(cfg)
	// After the probes: a lost peer is paged on this node's own view,
	// which its canaries vouch for.
	if err := d.joinCluster(ctx, cfg); err != nil {
		log.Error("cannot join the cluster; check [cluster] bind (a free host:port) and key_file", "err", err)
		return 1
	}

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		log.Error("cannot listen; set [server] listen to a free host:port", "listen", cfg.Server.Listen, "err", err)
		return 1
	}
	srv, hln := d.httpServer(ln, cfg) // deadlines, and a connection cap that leaves the probes their descriptors
	go func() {
		if err := srv.Serve(hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()

	var demo *demoSite
	if cfg.Demo.Listen != "" {
		if demo, err = startDemoSite(cfg.Demo.Listen, cfg, log); err != nil {
			log.Error("cannot start the demo site", "listen", cfg.Demo.Listen, "err", err)
			return 1
		}
		defer demo.Close()
		if story {
			go d.story(ctx, demo)
		}
	}

	d.m.reload(true)
	go d.watchdog(ctx)
	go d.watchStore(ctx)
	go d.eng.TestPages(ctx)
	go d.guard.RunLeases(ctx, leaseTick) // lease.go
	go d.prune(ctx)                      // prune.go: [server] retention
	db.Event(ctx, "start", source, "foghorn", version)
	log.Info("foghorn running", "version", version, "config", source, "listen", ln.Addr().String(),
		"data_dir", cfg.Server.DataDir, "targets", len(cfg.Targets))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			d.reload(ctx)
			continue
		}
		log.Info("shutting down", "signal", sig.String())
		break
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Webhooks stop before the engine, the engine before the pager.
	srv.Shutdown(shut)
	pg.StopAnswers() // acks found by polling Pushover: like webhooks
	if d.peer != nil {
		// The peers hear it at once, not a peer_timeout later.
		if err := d.peer.Leave(time.Second); err != nil {
			log.Warn("cluster: could not say goodbye to the peers", "err", err)
		}
	}
	if sim != nil {
		sim.Close()
	}
	d.stopProbes()
	close(d.events)
	<-evDone
	d.guard.Close()
	d.pool.Close()
	stop()
	<-engDone
	pg.Close()
	db.Event(shut, "stop", source, "foghorn", "")
	log.Info("stopped")
	return 0
}

// reload reads the config again. A config with problems is refused and
// the running one stays in force: a typo at 3 a.m. must not blind foghorn.
func (d *daemon) reload(ctx context.Context) {
	old := d.cfg.Load()
	cfg, err := d.load()
	if err != nil {
		d.m.reload(false)
		d.health.update(func(h *dashboard.Health) { h.ReloadErr, h.ReloadAt = err.Error(), time.Now() })
		d.log.Error("config reload refused; the running config stays in force", "config", d.source, "problems", err.Error())
		d.db.Event(ctx, "config.refused", d.source, "sighup", err.Error())
		return
	}
	if cfg.Server.Listen != old.Server.Listen || filepath.Clean(cfg.Server.DataDir) != filepath.Clean(old.Server.DataDir) {
		d.log.Warn("server listen and data_dir change only on restart; the rest is applied now",
			"listen", old.Server.Listen, "data_dir", old.Server.DataDir)
	}
	if clusterChanged(old.Cluster, cfg.Cluster) {
		d.log.Warn("[cluster] changes only on restart; the rest is applied now")
	}
	if err := d.pg.SetConfig(pagerConfig(cfg)); err != nil {
		d.m.reload(false)
		d.log.Error("config reload refused; the running config stays in force", "config", d.source, "problems", err.Error())
		d.db.Event(ctx, "config.refused", d.source, "sighup", err.Error())
		return
	}
	d.cfg.Store(cfg)
	d.eng.SetConfig(escalationConfig(cfg))
	d.pool.Update(bmcTargets(cfg))
	d.guard.Update(powerConfig(cfg))
	d.updateProbes(cfg)
	d.fds.checkFDs(d.log, cfg)
	d.m.reload(true)
	d.health.update(func(h *dashboard.Health) { h.Reloaded, h.ReloadErr = time.Now(), "" })
	d.db.Event(ctx, "config.reload", d.source, "sighup", fmt.Sprintf("%d targets", len(cfg.Targets)))
	d.log.Info("config reloaded", "config", d.source, "targets", len(cfg.Targets))
}

// result sees every probe result; healthy ones are logged only at debug,
// so a quiet site makes a quiet log.
func (d *daemon) result(r probes.Result) {
	d.m.result(r)
	d.noteProbe(r.Start)
	d.dash.Record(r.Target, r.Status == probes.OK || r.Status == probes.Warning, r.Duration, r.Start)
	d.log.Debug("probe", "target", r.Target, "status", r.Status.String(), "detail", r.Msg, "took", r.Duration)
}

func (d *daemon) change(c classify.Change) {
	lv := slog.LevelInfo
	if c.To == classify.Down {
		lv = slog.LevelWarn
	}
	d.log.Log(context.Background(), lv, "target "+string(c.To), "target", c.Target, "from", string(c.From),
		"status", c.Result.Status.String(), "detail", c.Result.Msg)
	d.publishView()
}

// queueEvent hands a classifier event to the engine's goroutine; it is
// called on probe goroutines, which must not wait on the store.
func (d *daemon) queueEvent(ev classify.Event) { d.events <- ev }

// eventLoop feeds incident events to the escalation engine, in order.
func (d *daemon) eventLoop() {
	for ev := range d.events {
		ctx := context.Background()
		if ev.Notice {
			if _, err := d.eng.Notice(ctx, ev.Key, ev.Summary); err != nil {
				d.log.Error("cannot send notice", "key", ev.Key, "err", err)
			}
			continue
		}
		if _, err := d.eng.Handle(ctx, alertFor(ev)); err != nil {
			d.log.Error("cannot record incident", "key", ev.Key, "err", err)
		}
	}
}

// alertFor turns a classifier event into the engine's input.
func alertFor(ev classify.Event) escalation.Alert {
	src := "probe"
	if ev.Key == "self" {
		src = "self"
	}
	detail := ev.Detail
	if len(ev.Children) > 0 && !strings.Contains(detail, ev.Children[0]) {
		detail += "\naffected: " + strings.Join(ev.Children, ", ")
	}
	// The host and the power offer travel as typed values: the pager
	// words the offer, a power step acts on the host.
	return escalation.Alert{Key: ev.Key, Firing: ev.Firing, Severity: ev.Severity, Summary: ev.Summary, Detail: detail,
		Labels: ev.Labels, Policy: ev.Policy, Source: src, At: ev.At, Host: ev.Host, Offer: ev.Offer,
		Children: ev.Children}
}
