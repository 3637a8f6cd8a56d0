package probes

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"foghorn/configs"
)

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "all systems go\n")
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "method=%s token=%s host=%s body=%s", r.Method, r.Header.Get("X-Token"), r.Host, b)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 2<<20)))
		io.WriteString(w, "TAIL")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	return mux
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(testMux())
	t.Cleanup(srv.Close)
	no := false
	cases := []struct {
		name   string
		path   string
		opts   *configs.HTTP
		status Status
		msg    string
	}{
		{"ok, nil options", "/ok", nil, OK, "200 OK in "},
		{"body matches", "/ok", &configs.HTTP{BodyRegex: `systems go`}, OK, "200 OK"},
		{"body does not match", "/ok", &configs.HTTP{BodyRegex: `^ready$`}, Critical, "body (15 bytes read) does not match /^ready$/"},
		{"503 by default", "/down", nil, Critical, "status 503 Service Unavailable, want 200-399"},
		{"503 expected", "/down", &configs.HTTP{Status: []int{503}}, OK, "503 Service Unavailable"},
		{"200 not in list", "/ok", &configs.HTTP{Status: []int{204, 401}}, Critical, "status 200 OK, want 204 or 401"},
		{"redirect followed", "/moved", &configs.HTTP{Status: []int{200}, BodyRegex: "systems go"}, OK, "200 OK"},
		{"redirect not followed", "/moved", &configs.HTTP{Status: []int{200}, FollowRedirects: &no}, Critical, "status 302 Found, want 200"},
		{"redirect not followed is 3xx", "/moved", &configs.HTTP{FollowRedirects: &no}, OK, "302 Found"},
		{"method, headers and body", "/echo", &configs.HTTP{
			Method: "POST", Body: "ping", Headers: map[string]string{"X-Token": "abc", "Host": "status.example"},
			BodyRegex: `^method=POST token=abc host=status.example body=ping$`,
		}, OK, "200 OK"},
		{"body read is capped", "/big", &configs.HTTP{BodyRegex: "TAIL"}, Critical, "body (1048576 bytes read) does not match /TAIL/; 200 OK in "},
		{"bad regexp", "/ok", &configs.HTTP{BodyRegex: "("}, Unknown, "config: http.body_regex"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg := probeTarget("http", srv.URL+c.path, 2*time.Second)
			tg.HTTP = c.opts
			r := probeHTTP(context.Background(), tg, nil)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
		})
	}
}

func TestHTTPBadAddress(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"127.0.0.1:80", "ftp://example.test/", "http://", "::"} {
		r := probeHTTP(context.Background(), probeTarget("http", a, time.Second), nil)
		if r.Status != Unknown || !strings.Contains(r.Msg, "is not an http(s) URL") {
			t.Errorf("%q: got %v %q", a, r.Status, r.Msg)
		}
	}
}

func TestHTTPCert(t *testing.T) {
	t.Parallel()
	yes := true
	cases := []struct {
		name      string
		expiresIn time.Duration
		opts      *configs.HTTP
		status    Status
		msg       string
	}{
		{"untrusted by default", 90 * 24 * time.Hour, nil, Critical, "certificate of 127.0.0.1 is not trusted"},
		{"insecure, far from expiry", 90 * 24 * time.Hour, &configs.HTTP{Insecure: yes}, OK, "200 OK"},
		{"insecure, expires soon", 2 * 24 * time.Hour, &configs.HTTP{Insecure: yes}, Warning, `certificate "foghorn.test" expires in 48h0m0s (`},
		{"insecure, custom warning", 20 * 24 * time.Hour, &configs.HTTP{Insecure: yes, CertExpiryWarn: configs.Duration{Duration: 30 * 24 * time.Hour}}, Warning, "within the 30d warning"},
		{"insecure, expired", -time.Hour, &configs.HTTP{Insecure: yes}, Critical, `certificate "foghorn.test" expired`},
		{"verified, expired", -time.Hour, nil, Critical, "certificate of 127.0.0.1 expired on"},
		{"insecure, status still checked", 2 * 24 * time.Hour, &configs.HTTP{Insecure: yes, Status: []int{204}}, Critical, "status 200 OK, want 204; certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := tlsServer(t, c.expiresIn, testMux())
			tg := probeTarget("http", srv.URL+"/ok", 2*time.Second)
			tg.HTTP = c.opts
			r := probeHTTP(context.Background(), tg, nil)
			t.Logf("%v: %s", r.Status, r.Msg)
			if r.Status != c.status || !strings.Contains(r.Msg, c.msg) {
				t.Fatalf("got %v %q, want %v containing %q", r.Status, r.Msg, c.status, c.msg)
			}
		})
	}
}

func TestHTTPRefused(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	r := probeHTTP(context.Background(), probeTarget("http", "http://"+addr+"/", 2*time.Second), nil)
	if r.Status != Critical || r.Msg != "connection refused by "+addr+" (host up, nothing listening)" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
}

func TestHTTPTimeout(t *testing.T) {
	t.Parallel()
	dropTo(t, "127.0.83.2")
	start := time.Now()
	r := probeHTTP(context.Background(), probeTarget("http", "http://127.0.83.2/", time.Second), nil)
	took := time.Since(start)
	if r.Status != Critical || r.Msg != "no answer from 127.0.83.2:80 within 1s (host down or packets dropped)" {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took > 1300*time.Millisecond {
		t.Errorf("took %s, want the 1s timeout", took)
	}
}

// TestHTTPSlowServer: connected, but the response never comes.
func TestHTTPSlowServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(testMux())
	defer srv.Close()
	start := time.Now()
	r := probeHTTP(context.Background(), probeTarget("http", srv.URL+"/slow", 500*time.Millisecond), nil)
	if r.Status != Critical || !strings.Contains(r.Msg, "no response from "+srv.URL+"/slow within 500ms") {
		t.Fatalf("got %v %q", r.Status, r.Msg)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("took %s, want the 500ms timeout", took)
	}
}

// TestHTTPNoIdleConnections checks that probes leave no connection open
// behind them: with 10,000 targets, idle keep-alive sockets would pile up.
func TestHTTPNoIdleConnections(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(testMux())
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	srv.Start()
	defer srv.Close()
	for range 20 {
		if r := probeHTTP(context.Background(), probeTarget("http", srv.URL+"/ok", 2*time.Second), nil); r.Status != OK {
			t.Fatalf("got %v %q", r.Status, r.Msg)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after the probes returned", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
