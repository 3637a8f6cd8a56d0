package main

import (
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"foghorn/bench/procstat"
)

// floor is the least CPU one TCP check can cost on this machine, now: a
// bare loop of what any connect check must do — a non-blocking socket,
// connect, poll for its completion, close — to addrs in turn, n times, on
// this process's one core and with nothing else of ours running. The
// scheduler's CPU per probe is held to a multiple of it, measured in the
// same run against the same listeners, so a busy or slow machine moves
// both figures alike.
func floor(addrs []string, n int) (cost, error) { return pacedFloor(addrs, n, 0) }

// cost is CPU per check: all of it, and the kernel's share (system time).
type cost struct{ all, sys time.Duration }

// sysCPU is the system (kernel) CPU this process used.
func sysCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Stime.Nano())
}

// pacedFloor is floor with one bare check every gap (none when 0), each
// after a sleep until its time: the same work at the scheduler's rate,
// where the kernel's caches have gone cold between checks and each one
// costs a timer wake, as each of the scheduler's probes does.
func pacedFloor(addrs []string, n int, gap time.Duration) (cost, error) {
	sas := make([]unix.Sockaddr, len(addrs))
	for i, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || !ap.Addr().Is4() {
			return cost{}, fmt.Errorf("floor: %q is not an IPv4 address:port", a)
		}
		sas[i] = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0, k0, next := procstat.CPU(), sysCPU(), time.Now()
	for i := range n {
		if gap > 0 {
			next = next.Add(gap)
			time.Sleep(time.Until(next))
		}
		if err := connectClose(sas[i%len(sas)]); err != nil {
			return cost{}, fmt.Errorf("floor: connect %s: %w", addrs[i%len(addrs)], err)
		}
	}
	return cost{(procstat.CPU() - c0) / time.Duration(n), (sysCPU() - k0) / time.Duration(n)}, nil
}

// connectClose is one bare check: socket, connect, poll, close.
func connectClose(sa unix.Sockaddr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != unix.EINPROGRESS {
		return err
	}
	pfd := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	switch n, err := unix.Poll(pfd[:], 1000); {
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("no answer within 1s")
	case pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0:
		return fmt.Errorf("failed (poll revents %#x)", pfd[0].Revents)
	}
	return nil
}

// floorConnects is how many bare checks each floor measurement makes:
// about a second of one core, enough to average out a busy machine.
const floorConnects = 20000

// pacedConnects is how many checks the paced floor makes: a few seconds
// at 10,000 targets per 10s.
const pacedConnects = 3000

// printFloor prints the scheduler's CPU per probe against the floor,
// measured before and after the scheduler ran (their mean is the floor),
// and against the floor paced at the scheduler's rate (gap); with the
// kernel's share of each, which user space cannot cut.
func printFloor(before, after, paced cost, gap time.Duration, probe cost) {
	fl := cost{(before.all + after.all) / 2, (before.sys + after.sys) / 2}
	ratio := float64(probe.all) / float64(max(fl.all, 1))
	fmt.Printf("tcp floor: %.1f µs per connect+close; foghorn %.1f µs per probe; ratio %.2f (<= 1.3)  %s   [floor %.1f µs before, %.1f µs after; %d connects each]\n",
		us(fl.all), us(probe.all), ratio, met(ratio <= 1.3), us(before.all), us(after.all), floorConnects)
	fmt.Printf("  the floor paced at the probe rate (one every %s, %d connects): %.1f µs per connect+close; foghorn ratio %.2f\n",
		gap, pacedConnects, us(paced.all), float64(probe.all)/float64(max(paced.all, 1)))
	fmt.Printf("  in the kernel (system time): foghorn %.1f µs per probe, the floor %.1f µs, paced %.1f µs\n",
		us(probe.sys), us(fl.sys), us(paced.sys))
}

// printRSSPerTarget prints the RSS the targets cost, each with its
// history: the classifier's per-target history is fixed-size (the last
// result, 21 bits of flap history, the last downs), so it is full from the
// first result on, and rounds says how many results each target had.
func printRSSPerTarget(rss, base float64, n int, rounds float64) {
	kib := (rss - base) * 1024 / float64(n)
	fmt.Printf("RSS per target with history: %.2f KiB (<= 5)  %s   [RSS %.1fMB at %d targets - %.1fMB before any, after %.1f rounds]\n",
		kib, met(kib <= 5), rss, n, base, rounds)
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func met(b bool) string {
	if b {
		return "met"
	}
	return "NOT MET"
}
