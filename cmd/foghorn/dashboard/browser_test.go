package dashboard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"

	"foghorn/escalation"
)

const chromium = "/usr/bin/chromium"

// css looks sel up as a CSS selector only; chromedp would otherwise also
// search the page's text and XPath for it.
func css(sel string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		res, err := cdp.Call(ctx, t, dom.QuerySelectorAll, dom.QuerySelectorAllParams{NodeID: n.NodeID, Selector: sel})
		return res.NodeIDs, err
	})
}

// TestBrowserAck drives a real headless Chromium at a phone's screen size:
// log in, see the down router and its incident, press Ack, see it acked.
// FOGHORN_SCREENSHOTS=DIR keeps a copy of the screenshots to look at.
func TestBrowserAck(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("FOGHORN_REQUIRE_PEERS") == "1" {
			t.Fatalf("%s is missing and FOGHORN_REQUIRE_PEERS=1: install it with apt-get install chromium", chromium)
		}
		t.Skipf("%s is missing: apt-get install chromium to run the browser test", chromium)
	}
	e := newEnv(t, "")

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first Run owns the browser, so no timeout on its context: a
	// watchdog ends the whole browser instead if the test hangs.
	watchdog := time.AfterFunc(45*time.Second, cancel)
	defer watchdog.Stop()

	shots := t.TempDir()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		for _, dir := range []string{shots, os.Getenv("FOGHORN_SCREENSHOTS")} {
			if dir == "" {
				continue
			}
			p := filepath.Join(dir, name+".png")
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", p)
		}
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text("body", css("body")))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return s
	}

	card := fmt.Sprintf("#inc-%d", e.inc.ID)
	ackButton := card + ` form[action$="/ack"] button`
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(`input[name="name"]`, css(`input[name="name"]`)),
		chromedp.SendKeys(`input[name="name"]`, "alice", css(`input[name="name"]`)),
		chromedp.SendKeys(`input[name="password"]`, "not her password", css(`input[name="password"]`)),
		chromedp.Click(`.login button`, css(`.login button`)),
		chromedp.WaitVisible(`.alert`, css(`.alert`)),
	)
	if err != nil {
		t.Fatalf("log in with a wrong password: %v", err)
	}
	shot("0-login-failed")
	if page := text(); !strings.Contains(page, "Wrong name or password.") {
		t.Errorf("login page after a wrong password:\n%s", page)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`input[name="password"]`, alicePW, css(`input[name="password"]`)),
		chromedp.Click(`.login button`, css(`.login button`)),
		chromedp.WaitVisible(card, css(card)),
	)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	shot("1-overview")
	page := text()
	for _, want := range []string{"alice · responder", "1 down", "rt1", "DOWN", "connection refused", "#1", "CRITICAL", "TRIGGERED", "Ack #1"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q:\n%s", want, page)
		}
	}

	err = chromedp.Do(ctx,
		chromedp.Click(ackButton, css(ackButton)),
		chromedp.WaitVisible(`.flash`, css(`.flash`)),
	)
	if err != nil {
		t.Fatalf("press ack: %v", err)
	}
	shot("2-acked")
	page = text()
	for _, want := range []string{"#1 acknowledged by you: paging stopped.", "ACKNOWLEDGED", "acked by alice", "rt1"} {
		if !strings.Contains(page, want) {
			t.Errorf("after ack the page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "Ack #1") {
		t.Errorf("after ack the page still offers Ack:\n%s", page)
	}

	// The engine agrees, and told the pager to stop ringing.
	if inc := e.get(e.inc.ID); inc.State != escalation.Acknowledged || inc.AckedBy != "alice" {
		t.Errorf("engine: %s by %q, want acknowledged by alice", inc.State, inc.AckedBy)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(e.rec.kinds(e.inc.ID), func(s string) bool { return strings.HasPrefix(s, "cancel") }) {
		if time.Now().After(deadline) {
			t.Fatalf("no cancel after the ack; sent: %v", e.rec.kinds(e.inc.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The incident's own page, for the record.
	if err := chromedp.Do(ctx,
		chromedp.Click(card+" h3 a", css(card+" h3 a")),
		chromedp.WaitVisible(`.timeline`, css(`.timeline`)),
	); err != nil {
		t.Fatalf("open the incident: %v", err)
	}
	shot("3-incident")
	if page := text(); !strings.Contains(page, "via web") || !strings.Contains(page, "Timeline") {
		t.Errorf("incident page lacks the ack in its timeline:\n%s", page)
	}
}
