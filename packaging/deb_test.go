package packaging

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// need finds a program the test runs, or skips (fails under
// FOGHORN_REQUIRE_PEERS, as CI sets it).
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("FOGHORN_REQUIRE_PEERS") != "" {
			t.Fatalf("%s not installed (FOGHORN_REQUIRE_PEERS is set)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// buildDeb runs `make package` as a user would, into a temporary BIN.
func buildDeb(t *testing.T) string {
	t.Helper()
	need(t, "make")
	need(t, "dpkg-deb")
	dir := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "package", "BIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "foghorn_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make package made %v, want one foghorn_VERSION_ARCH.deb", debs)
	}
	return debs[0]
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The .deb holds the static binary, the hardened unit pointing at it, the
// example config and its example secrets readable by group foghorn only,
// marks the /etc files as conffiles, and its postinst creates the system
// user and a 0700 data dir owned by it.
func TestPackageHoldsBinaryUnitExampleAndUser(t *testing.T) {
	deb := buildDeb(t)

	// What `dpkg-deb -c` lists: path -> "mode owner".
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(dpkgDeb(t, "-c", deb)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 6 {
			got[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
		}
	}
	for path, want := range map[string]string{
		"/usr/bin/foghorn":                     "-rwxr-xr-x root/root",
		"/lib/systemd/system/foghorn.service":  "-rw-r--r-- root/root",
		"/etc/foghorn/":                        "drwxr-x--- root/root",
		"/etc/foghorn/foghorn.toml.example":    "-rw-r----- root/root",
		"/etc/foghorn/twilio-token.example":    "-rw-r----- root/root",
		"/etc/foghorn/bmc-password.example":    "-rw-r----- root/root",
		"/etc/foghorn/heartbeat-token.example": "-rw-r----- root/root",
		"/usr/share/doc/foghorn/README.md":     "-rw-r--r-- root/root",
	} {
		if got[path] != want {
			t.Errorf("%s: %q, want %q", path, got[path], want)
		}
	}

	info := dpkgDeb(t, "-I", deb)
	for _, want := range []string{"Package: foghorn", "Architecture: ", "postinst", "prerm", "postrm", "conffiles"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	conf := dpkgDeb(t, "-I", deb, "conffiles")
	if !strings.Contains(conf, "/etc/foghorn/foghorn.toml.example") {
		t.Errorf("the example config is not a conffile:\n%s", conf)
	}

	root := t.TempDir()
	dpkgDeb(t, "-x", deb, root)
	bin := filepath.Join(root, "usr/bin/foghorn")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("/usr/bin/foghorn is dynamically linked: it must run on any VPS")
		}
	}
	f.Close()
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
		t.Errorf("foghorn version: %v\n%s", err, out)
	}

	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/foghorn.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/bin/foghorn run -config /etc/foghorn/foghorn.toml",
		"ExecStartPre=/usr/bin/foghorn check-config /etc/foghorn/foghorn.toml",
		"User=foghorn", "NoNewPrivileges=true", "ProtectSystem=strict", "CapabilityBoundingSet=CAP_NET_RAW",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// The unit parses and its commands exist: systemd-analyze on a copy
	// whose /usr/bin/foghorn is the one in the package.
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		copyUnit := filepath.Join(t.TempDir(), "foghorn.service")
		writeFile(t, copyUnit, strings.ReplaceAll(string(unit), "/usr/bin/foghorn", bin), 0o644)
		if out, err := exec.Command(sa, "verify", copyUnit).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	// The postinst, run against stand-ins that record what it asks for.
	ctl := t.TempDir()
	dpkgDeb(t, "-e", deb, ctl)
	for _, want := range []string{"useradd --system", "/usr/sbin/nologin"} {
		if b, _ := os.ReadFile(filepath.Join(ctl, "postinst")); !strings.Contains(string(b), want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	calls := runPostinst(t, filepath.Join(ctl, "postinst"))
	for _, want := range []string{
		"groupadd --system foghorn",
		"useradd --system --gid foghorn --home-dir /var/lib/foghorn --no-create-home --shell /usr/sbin/nologin --comment foghorn watchdog foghorn",
		"mkdir -p /var/lib/foghorn",
		"chown -R foghorn:foghorn /var/lib/foghorn",
		"chmod 0700 /var/lib/foghorn",
		"chown root:foghorn /etc/foghorn",
		"chmod 0750 /etc/foghorn",
	} {
		if !strings.Contains(calls, want+"\n") {
			t.Errorf("postinst did not run %q; it ran:\n%s", want, calls)
		}
	}
}

func writeFile(t *testing.T, path, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
}

// runPostinst runs a postinst for a first install ("configure" with no old
// version) with a PATH of stand-ins: getent finds nobody, every other
// command only appends its arguments to a log, which is returned.
func runPostinst(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	for _, name := range []string{"groupadd", "useradd", "mkdir", "chown", "chgrp", "chmod", "systemctl"} {
		writeFile(t, filepath.Join(dir, name), "#!/bin/sh\necho \""+name+" $*\" >> "+log+"\n", 0o755)
	}
	writeFile(t, filepath.Join(dir, "getent"), "#!/bin/sh\nexit 2\n", 0o755)
	cmd := exec.Command("/bin/sh", script, "configure")
	cmd.Env = []string{"PATH=" + dir}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postinst configure: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
