package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ---- the peer: targets that answer 200, or 503 while down ----

// runPeer serves n targets at /t/{i} on addr; the soak flips them with
// POST /ctl. It is a process of its own so that foghorn's probes do not
// compete with the soak's bookkeeping for one scheduler.
func runPeer(addr string, n int) {
	down := make([]atomic.Bool, n)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/{i}", func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.PathValue("i"))
		if err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		if down[i].Load() {
			http.Error(w, "down (soak chaos)", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /ctl", func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("down") == "1"
		for _, s := range strings.Split(r.URL.Query().Get("t"), ",") {
			if i, err := strconv.Atoi(s); err == nil && i >= 0 && i < n {
				down[i].Store(v)
			}
		}
	})
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { // the soak ends us by closing stdin, or dies
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.Serve(ln)
}

type peerProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	addr string
}

func startPeer(addr string, n int) (*peerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-peer", "-peer-addr", addr, "-peer-targets", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "LISTEN ") {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the peer did not start: %q %v", line, err)
	}
	return &peerProc{cmd: cmd, in: in, addr: strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))}, nil
}

func (p *peerProc) set(down bool, ids []int) error {
	var s []string
	for _, i := range ids {
		s = append(s, strconv.Itoa(i))
	}
	d := "0"
	if down {
		d = "1"
	}
	resp, err := http.Post("http://"+p.addr+"/ctl?down="+d+"&t="+strings.Join(s, ","), "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (p *peerProc) stop() {
	p.in.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}
