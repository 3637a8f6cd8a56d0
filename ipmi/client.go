package ipmi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"

	"foghorn/configs"
)

// Options say how to reach one BMC.
type Options struct {
	Host     string
	Port     int // default 623
	Username string
	Password string
	// Interface is "lanplus" (IPMI 2.0, the default) or "lan" (IPMI 1.5).
	Interface string
	// CipherSuite is pinned (default 3): automatic selection asks for the
	// cipher suite list, which many BMCs never answer, costing seconds.
	CipherSuite int
	// Timeout is one request attempt (one UDP round trip); default 1s.
	// The caller's ctx bounds the whole call whatever this says.
	Timeout time.Duration
	// Retries are extra attempts after a timeout; 0 means the default (2),
	// negative means none.
	Retries int
}

const (
	defaultPort    = 623
	defaultTimeout = time.Second
	defaultRetries = 2
	// closeTimeout bounds go-ipmi's Close, which sends Close Session and
	// in v0.9.1 waits (retries+1)×timeout for a dead BMC to answer it.
	closeTimeout = 500 * time.Millisecond
)

// OptionsFor reads a target of kind "ipmi". The per-attempt timeout is a
// quarter of the target's timeout (within 250ms..2s), so that retries fit
// in one probe.
func OptionsFor(t *configs.Target) Options {
	o := Options{Host: t.Address}
	if h, p, err := net.SplitHostPort(t.Address); err == nil {
		o.Host = h
		o.Port, _ = strconv.Atoi(p)
	}
	if c := t.IPMI; c != nil {
		o.Username, o.Password = c.Username, c.Password.Reveal()
		o.Interface, o.CipherSuite = c.Interface, c.CipherSuite
		if o.Port == 0 {
			o.Port = c.Port
		}
	}
	if t.Timeout.Duration > 0 {
		o.Timeout = min(max(t.Timeout.Duration/4, 250*time.Millisecond), 2*time.Second)
	}
	return o.withDefaults()
}

func (o Options) withDefaults() Options {
	if o.Port == 0 {
		o.Port = defaultPort
	}
	if o.Interface == "" {
		o.Interface = "lanplus"
	}
	if o.CipherSuite == 0 {
		o.CipherSuite = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	switch {
	case o.Retries == 0:
		o.Retries = defaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	return o
}

func (o Options) addr() string { return net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) }

// ErrClosed is returned by calls on a closed BMC.
var ErrClosed = errors.New("BMC client closed")

// BMC is one baseboard management controller. Its session is opened on
// first use and kept across calls; any error drops it, and the next call
// opens a new one (after a BMC restart the old session only times out).
// Safe for concurrent use: one goroutine owns the go-ipmi client and
// serves calls in turn.
type BMC struct {
	name string
	opt  Options

	jobs    chan job
	quit    chan struct{}
	done    chan struct{}
	life    context.Context // cancelled by Close, to cut a running call short
	kill    context.CancelFunc
	once    sync.Once
	closing sync.WaitGroup // go-ipmi Closes of dropped sessions
}

type job struct {
	ctx context.Context
	fn  func(context.Context, *session) error
	// retry allows one more go on a fresh session when a reused one
	// fails. Only for reads: a power command that timed out may have
	// been done, and must not be sent twice.
	retry bool
	// fresh runs fn on a new session. go-ipmi's keepalive sends a request
	// every 30 s from its own goroutine, which can take the sequence
	// number a reply is matched by; a new session's first keepalive is
	// 30 s away, so a command sent on it cannot clash.
	fresh bool
	done  chan error
}

// session is what the owner goroutine holds: the go-ipmi client and what
// is read once per session.
type session struct {
	c       *client.Client
	sensors []sdrSensor // nil until read
	read    bool        // sensors were read (a BMC may have none)
	used    time.Time   // last request on it
	opened  time.Time   // when Connect returned: go-ipmi's keepalive ticks from here
}

// maxIdle is how long a session may sit unused before it is replaced
// rather than reused. BMCs drop idle sessions and then ignore them
// silently (ipmi_sim after 30 s; the spec's default is 60 s), and a stale
// session costs the whole probe timeout before the reconnect, while a new
// session costs about 10 ms. Measured with go run ./ipmi/bench: at a 30 s
// interval, half the probes on reused sessions hit the edge.
const maxIdle = 20 * time.Second

// New makes the client for the BMC called name (the target's name, used
// in errors). It does not connect until the first call.
func New(name string, o Options) *BMC {
	life, kill := context.WithCancel(context.Background())
	b := &BMC{
		name: name, opt: o.withDefaults(),
		jobs: make(chan job), quit: make(chan struct{}), done: make(chan struct{}),
		life: life, kill: kill,
	}
	go b.serve()
	return b
}

// Name is the target name the BMC was made for.
func (b *BMC) Name() string { return b.name }

// Options are the settings the BMC was made with.
func (b *BMC) Options() Options { return b.opt }

// Close ends the session and the owner goroutine. A call in progress is
// cut short. Safe to call more than once.
func (b *BMC) Close() error {
	b.once.Do(func() {
		b.kill()
		close(b.quit)
		<-b.done
		b.closing.Wait()
	})
	return nil
}

func (b *BMC) serve() {
	defer close(b.done)
	var s *session
	defer func() {
		if s != nil {
			b.drop(s)
		}
	}()
	for {
		select {
		case <-b.quit:
			return
		case j := <-b.jobs:
			j.done <- b.run(&s, j)
		}
	}
}

// run does one job on the held session, opening one if needed.
func (b *BMC) run(sp **session, j job) error {
	ctx, cancel := context.WithCancel(j.ctx)
	defer cancel()
	defer context.AfterFunc(b.life, cancel)()
	if err := ctx.Err(); err != nil {
		return err // the caller gave up while queued
	}
	if *sp != nil && (j.fresh || time.Since((*sp).used) > maxIdle) {
		b.drop(*sp)
		*sp = nil
	}
	for again := false; ; again = true {
		fresh := *sp == nil
		if fresh {
			s, err := b.connect(ctx)
			if err != nil {
				return &stepError{"connect", err}
			}
			*sp = s
		}
		err := j.fn(ctx, *sp)
		(*sp).used = time.Now()
		if err == nil {
			return nil
		}
		b.drop(*sp)
		*sp = nil
		// A reused session may be stale (BMC restarted, session expired,
		// or a clash with go-ipmi's keepalive): one go on a new one.
		if fresh || again || !j.retry || ctx.Err() != nil || b.life.Err() != nil {
			return err
		}
	}
}

func (b *BMC) connect(ctx context.Context) (*session, error) {
	c, err := client.NewClient(b.opt.Host, b.opt.Port, b.opt.Username, b.opt.Password)
	if err != nil {
		return nil, err
	}
	c.WithTimeout(b.opt.Timeout).WithRetry(b.opt.Retries)
	// Operator is enough for status, SEL, sensors and chassis control, and
	// lets the BMC user be less than an administrator.
	c.WithMaxPrivilegeLevel(types.PrivilegeLevelOperator)
	if b.opt.Interface == "lan" {
		c.WithInterface(client.InterfaceLan)
	} else {
		c.WithCipherSuiteID(types.CipherSuiteID(b.opt.CipherSuite))
	}
	if err := c.Connect(ctx); err != nil {
		// The UDP socket is open even after a failed Connect.
		b.drop(&session{c: c})
		return nil, err
	}
	now := time.Now()
	return &session{c: c, used: now, opened: now}, nil
}

// drop closes a session in the background: go-ipmi's Close must be called
// exactly once (a second one panics), and on a dead BMC it waits for a
// reply that never comes, which must not hold up the next call.
func (b *BMC) drop(s *session) {
	b.closing.Add(1)
	go func() {
		defer b.closing.Done()
		if !s.opened.IsZero() {
			time.Sleep(b.keepaliveClear(time.Since(s.opened)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		s.c.Close(ctx)
	}()
}

// keepaliveClear is how long to wait, for a session open for age, before
// go-ipmi's Close may run. go-ipmi (v0.9.1, the newest) sends a keepalive
// every 30 s from connect on a goroutine of its own, with a context that
// never ends; a Close while that request waits for the socket's lock
// leaves it writing to a nil connection, and the panic kills foghorn (seen
// in a restart test with three BMCs). Close stops new keepalives, so it
// is safe except from just before a tick until that request has had all
// its attempts; then it waits until they are over. No option turns the
// keepalive off, and patching the library is not ours to do.
func (b *BMC) keepaliveClear(age time.Duration) time.Duration {
	const tick = time.Duration(client.DefaultKeepAliveIntervalSec) * time.Second
	// The keepalive may first wait for the lock behind a request of ours
	// (all its attempts), then make all of its own.
	busy := 2*b.opt.Timeout*time.Duration(b.opt.Retries+1) + time.Second
	if age < tick-time.Second {
		return 0 // before the first tick: no keepalive has run
	}
	phase := age % tick
	switch {
	case phase < busy:
		return busy - phase
	case phase > tick-time.Second:
		return tick - phase + busy
	}
	return 0
}

// call runs fn on the owner goroutine and waits for it within ctx. fn's
// results must be read only when call returns nil: after ctx ends, fn
// may still be running.
func (b *BMC) call(ctx context.Context, op string, retry bool, fn func(context.Context, *session) error) error {
	return b.callJob(ctx, op, job{ctx: ctx, fn: fn, retry: retry})
}

func (b *BMC) callJob(ctx context.Context, op string, j job) error {
	start := time.Now()
	j.done = make(chan error, 1)
	select {
	case b.jobs <- j:
	case <-b.quit:
		return fmt.Errorf("ipmi %s: %s: %w", b.name, op, ErrClosed)
	case <-ctx.Done():
		return b.wrap(op, start, fmt.Errorf("waiting for the previous call to this BMC: %w", ctx.Err()))
	}
	select {
	case err := <-j.done:
		if err != nil {
			return b.wrap(op, start, err)
		}
		return nil
	case <-ctx.Done():
		return b.wrap(op, start, ctx.Err())
	}
}
