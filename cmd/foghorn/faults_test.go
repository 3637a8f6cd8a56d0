package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"foghorn/pager/twiliosim"
	"foghorn/store"
)

// Fault cases against the real binary: a corrupted store, a full disk, a
// wrong public URL. The clock jumping and Twilio being unreachable for ten
// minutes need a fake clock and are tested in escalation (faults_test.go,
// outage_test.go).

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// runFor runs the binary to its exit, bounded.
func runFor(t *testing.T, d time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("foghorn %s still running after %s:\n%s", strings.Join(args, " "), d, out)
	}
	return string(out), exitCode(err)
}

// neverProbed is a target for configs that must not get as far as
// probing: a foghorn that watches nothing is refused before its store.
const neverProbed = "[[target]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n"

// A corrupted SQLite file: foghorn refuses to start, says which file and
// what to do, and leaves the file exactly as it was.
func TestCorruptStoreRefusesToStart(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"not a database", func(t *testing.T, path string) {
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(rand.IntN(256))
			}
			writeFile(t, path, string(b))
		}},
		{"damaged pages", func(t *testing.T, path string) {
			// A real foghorn database with history, then pages past the
			// first overwritten, as a bad sector or a torn copy would.
			db, err := store.Open(context.Background(), filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 300 {
				if err := db.Event(context.Background(), "test", fmt.Sprint(i), "t", strings.Repeat("x", 200)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			junk := bytes.Repeat([]byte{0xA5}, int(st.Size())-4096)
			if _, err := f.WriteAt(junk, 4096); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			dbPath := filepath.Join(data, store.File)
			c.corrupt(t, dbPath)
			os.Remove(dbPath + "-wal")
			os.Remove(dbPath + "-shm")
			before := fileSum(t, dbPath)
			cfgPath := filepath.Join(dir, "foghorn.toml")
			writeFile(t, cfgPath, siteConfig(data, neverProbed))

			out, code := runFor(t, 30*time.Second, "run", "-config", cfgPath)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			for _, want := range []string{"cannot open the store", dbPath, "will not overwrite it", "restore it from a backup", "move it away to start fresh"} {
				if !strings.Contains(out, want) {
					t.Errorf("the refusal lacks %q:\n%s", want, out)
				}
			}
			if fileSum(t, dbPath) != before {
				t.Fatal("foghorn changed the corrupted database file")
			}
			if strings.Contains(out, "foghorn running") {
				t.Fatalf("foghorn started on a corrupted store:\n%s", out)
			}
		})
	}
}

// A data dir on a read-only file system: foghorn refuses to start and says
// which folder and why. (A file system cannot be remounted read-only under
// a running foghorn — the kernel refuses while its database is open for
// writing — so the running case is the full disk below.)
func TestReadOnlyDataDirRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", data, "tmpfs", syscall.MS_RDONLY, "size=1m"); err != nil {
		if os.Getenv("FOGHORN_REQUIRE_PEERS") != "" {
			t.Fatalf("cannot mount a read-only tmpfs for the data dir (the test needs root): %v", err)
		}
		t.Skipf("cannot mount a read-only tmpfs (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(data, syscall.MNT_DETACH) })
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, siteConfig(data, neverProbed))
	out, code := runFor(t, 30*time.Second, "run", "-config", cfgPath)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{"cannot open the store", data, "read-only file system", "writable"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
}

// counter serves the outbound heartbeat URL and counts the calls.
type counter struct {
	*httptest.Server
	n atomic.Int64
}

func newCounter(t *testing.T) *counter {
	c := &counter{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.n.Add(1) }))
	t.Cleanup(c.Close)
	return c
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	return scrape(t, http.DefaultClient, base)
}

// metric is the value of one exposition line ("name{labels}"), or -1.
func metric(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// sumMetric adds every series of a family.
func sumMetric(text, name string) float64 {
	total := 0.0
	for _, m := range regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(name)+`(?:\{[^}]*\})? (\S+)$`).FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
	}
}

// The data dir's disk fills up (a tmpfs the test mounts, so the store
// fails for real): foghorn keeps probing, pages from memory, says so in the
// ERROR log and on /metrics, withholds its outbound heartbeat, and records
// what it kept in memory once there is room again.
func TestDiskFullKeepsPagingFromMemory(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=4m,mode=0700"); err != nil {
		if os.Getenv("FOGHORN_REQUIRE_PEERS") != "" {
			t.Fatalf("cannot mount a tmpfs for the data dir (the test needs root): %v", err)
		}
		t.Skipf("cannot mount a small tmpfs to fill up (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(data, syscall.MNT_DETACH) })

	web := newSite(t)
	beats := newCounter(t)
	port := freePort(t)
	cfgPath := filepath.Join(dir, "foghorn.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`[server]
listen = "127.0.0.1:%d"
data_dir = %q
[self_check]
kind = "tcp"
canaries = ["127.0.0.1:%d"]
heartbeat_url = %q
heartbeat_interval = "500ms"
[escalation]
default_policy = "ops"
[twilio]
simulator = true
from = "+15005550006"
[[person]]
name = "alice"
phone = "+4915112345671"
[[policy]]
name = "ops"
  [[policy.step]]
  who = ["alice"]
  channels = ["sms"]
[[target]]
name = "web"
kind = "http"
address = %q
interval = "1s"
timeout = "500ms"
rise = 1
fall = 1
`, port, data, port, beats.URL, web.URL))
	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	p.wait(t, 0, "foghorn running", nil)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	n := waitUp(t, p, 0, "web")
	eventually(t, 10*time.Second, "an outbound heartbeat while healthy", func() bool { return beats.n.Load() > 0 })

	// Fill the disk to the last byte.
	full := p.count()
	filler := filepath.Join(data, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for i := 0; i < 1000; i++ {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for i := 0; i < 4096; i++ { // the last partial chunk
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	f.Close()

	web.down.Store(true)
	_, n = p.wait(t, n, "target down", map[string]string{"target": "web"})
	failing, _ := p.wait(t, n, "STORE FAILING: cannot record the incident; paging from memory until the store works again", map[string]string{"key": "target:web"})
	if failing["level"] != "ERROR" {
		t.Errorf("store failure logged at %v, want ERROR", failing["level"])
	}
	p.wait(t, n, "SMS sent", map[string]string{"person": "alice", "kind": "page"})
	p.wait(t, full, "not sending the outbound heartbeat: foghorn is unhealthy", nil)

	m := metricsText(t, base)
	if v := metric(m, "foghorn_escalation_unrecorded_pages_total"); v < 1 {
		t.Errorf("foghorn_escalation_unrecorded_pages_total = %v, want >= 1", v)
	}
	if v := metric(m, "foghorn_escalation_paging_from_memory"); v != 1 {
		t.Errorf("foghorn_escalation_paging_from_memory = %v, want 1", v)
	}
	if v := metric(m, `foghorn_outbound_heartbeats_total{result="withheld"}`); v < 1 {
		t.Errorf(`foghorn_outbound_heartbeats_total{result="withheld"} = %v, want >= 1`, v)
	}
	// Still probing, and no heartbeat goes out while the store fails.
	probed, sent := sumMetric(m, "foghorn_probe_results_total"), beats.n.Load()
	time.Sleep(2 * time.Second)
	m = metricsText(t, base)
	if now := sumMetric(m, "foghorn_probe_results_total"); now < probed+1 {
		t.Errorf("probing stopped while the disk was full: %v results, then %v", probed, now)
	}
	if got := beats.n.Load(); got > sent+1 { // one may have been in flight
		t.Errorf("%d outbound heartbeats while the store failed", got-sent)
	}

	// Room again: the incident kept in memory is recorded, the heartbeat
	// resumes.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	n = p.count()
	p.wait(t, n, "the store works again: the incident paged from memory is recorded now and pages as usual", map[string]string{"key": "target:web"})
	resumed := beats.n.Load()
	eventually(t, 10*time.Second, "the outbound heartbeat resumes", func() bool { return beats.n.Load() > resumed })

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
	db, err := store.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var open int
	db.QueryRow(`SELECT count(*) FROM incidents WHERE key = 'target:web' AND state != 'resolved'`).Scan(&open)
	if open != 1 {
		t.Fatalf("open incidents for web in the store after the disk had room again: %d, want 1", open)
	}
}

// public_url is not the URL Twilio calls (here: a name a proxy was meant to
// have), so every webhook's signature fails: that is reported as the config
// problem it is, by an ERROR naming public_url and a counter.
func TestWrongPublicURLIsAConfigProblem(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	const wrong = "https://foghorn.example.net"
	cfgPath := filepath.Join(dir, "foghorn.toml")
	// The one target is foghorn's own listener: up, so no page and no
	// signed callback adds to the count below.
	self := fmt.Sprintf("[[target]]\nname = \"self\"\nkind = \"tcp\"\naddress = \"127.0.0.1:%d\"\n", port)
	writeFile(t, cfgPath, strings.Replace(siteConfig(filepath.Join(dir, "data"), self), `listen = "127.0.0.1:0"`,
		fmt.Sprintf("listen = \"127.0.0.1:%d\"\npublic_url = %q", port, wrong), 1))
	p := start(t, "run", "-config", cfgPath, "-log-format", "json")
	_, n := p.wait(t, 0, "foghorn running", nil)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	// Twilio signs for the URL it really calls.
	post := func() int {
		form := url.Values{"From": {"+4915112345671"}, "To": {"+15005550006"}, "Body": {"STATUS"}, "MessageSid": {"SM0001"}}
		req, _ := http.NewRequest("POST", base+"/twilio/sms", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(twiliosim.DefaultAuthToken, base+"/twilio/sms", form))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusForbidden {
		t.Fatalf("webhook with a signature for another URL: HTTP %d, want 403", code)
	}
	line, n := p.wait(t, n, "CONFIG PROBLEM: Twilio webhook signatures do not match: set [server] public_url to the exact URL Twilio calls (scheme, host, port and path prefix), or check the Twilio auth token; until then delivery reports, SMS replies and key presses are refused", nil)
	if line["level"] != "ERROR" || line["public_url"] != wrong || line["route"] != "sms" {
		t.Errorf("the report: %v", line)
	}
	post()
	m := metricsText(t, base)
	if v := metric(m, `foghorn_pager_webhook_bad_signatures_total{route="sms"}`); v != 2 {
		t.Errorf(`foghorn_pager_webhook_bad_signatures_total{route="sms"} = %v, want 2`, v)
	}
	// Once a minute is loud enough: the second failure is counted, not logged again.
	time.Sleep(200 * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines[n:] {
		if l != nil && strings.HasPrefix(fmt.Sprint(l["msg"]), "CONFIG PROBLEM") {
			t.Errorf("logged again within a minute: %v", l)
		}
	}
}
