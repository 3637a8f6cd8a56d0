package probes

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Probes given a source address dial from it: the listener sees it.
func TestProbesDialFromTheirSource(t *testing.T) {
	src := net.ParseIP("127.0.0.2")
	ctx := WithSource(context.Background(), src)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	from := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	if r := probeTCP(ctx, probeTarget("tcp", ln.Addr().String(), time.Second), nil); r.Status != OK {
		t.Fatalf("tcp: %s %s", r.Status, r.Msg)
	}
	if got := <-from; got != "127.0.0.2" {
		t.Errorf("tcp probe came from %s, want 127.0.0.2", got)
	}

	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		w.Header().Set("X-From", host)
		if host != "127.0.0.2" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer hs.Close()
	if r := probeHTTP(ctx, probeTarget("http", hs.URL, time.Second), nil); r.Status != OK {
		t.Errorf("http from the wrong source: %s %s", r.Status, r.Msg)
	}
}
