package twiliosim

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The /sim/ page: every phone the simulator knows, with its script and its
// recent SMS and calls, and forms to reply or press keys as that phone. It is
// for watching the demo, so it is plain server-rendered HTML; add
// ?refresh=N to reload it every N seconds.
var page = template.Must(template.New("sim").Funcs(template.FuncMap{
	"clock": func(t time.Time) string { return t.Format("15:04:05") },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Twilio simulator</title>
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;max-width:70em}
section{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:1em 0}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:2px 6px;vertical-align:top}
.in{color:#06c}.bad{color:#b00}small{color:#666}form{display:inline-block;margin-right:1em}
</style></head><body>
<h1>Twilio simulator</h1>
<p><small>Account {{.Account}} · number {{.Number}}{{if .Fault.Hang}} · <b class="bad">API hanging</b>{{else if or .Fault.Next .Fault.Rate}} · <b class="bad">API failing ({{.Fault.Status}}): next {{.Fault.Next}}, rate {{.Fault.Rate}}</b>{{end}}
· <a href="/sim/log">log (JSON)</a></small></p>
{{range .Phones}}<section>
<h2>{{.Number}}</h2>
<p><small>calls: {{with .Script.Call}}{{.}}{{else}}answer{{end}}{{with .Script.Keys}}, keys {{.}}{{end}} · sms: {{with .Script.SMS}}{{.}}{{else}}deliver{{end}}{{with .Script.Replies}}, replies {{.}}{{end}}</small></p>
<form method="post" action="/sim/sms"><input type="hidden" name="from" value="{{.Number}}"><input name="body" placeholder="reply text" required> <button>Send SMS</button></form>
<form method="post" action="/sim/press"><input type="hidden" name="to" value="{{.Number}}"><input name="digits" size="4" placeholder="1" required> <button>Press on live call</button></form>
{{with .Messages}}<h3>SMS</h3><table>{{range .}}<tr class="{{if eq .Direction "inbound"}}in{{end}}"><td>{{clock .Created}}</td><td>{{if eq .Direction "inbound"}}→ foghorn{{else}}← {{.From}}{{end}}</td><td>{{.Body}}</td><td class="{{if .ErrorCode}}bad{{end}}">{{.Status}}{{with .ErrorCode}} ({{.}}){{end}}</td></tr>{{end}}</table>{{end}}
{{with .Calls}}<h3>Calls</h3><table>{{range .}}<tr><td>{{clock .Created}}</td><td>{{.Status}}{{with .AnsweredBy}} · {{.}}{{end}}</td><td>{{range .Said}}“{{.}}” {{end}}</td><td>{{with .Digits}}keys {{.}}{{end}}</td></tr>{{end}}</table>{{end}}
</section>{{else}}<p>No phones yet: nothing sent, nothing scripted.</p>{{end}}
</body></html>
`))

type phoneView struct {
	Number   string
	Script   Script
	Messages []Message
	Calls    []Call
}

func (s *Sim) routeView(mux *http.ServeMux) {
	mux.HandleFunc("GET /sim/{$}", func(w http.ResponseWriter, r *http.Request) {
		data := struct {
			Account, Number, Refresh string
			Fault                    Fault
			Phones                   []*phoneView
		}{Account: s.opts.AccountSID, Number: s.opts.Number, Refresh: r.URL.Query().Get("refresh"),
			Fault: s.Fault(), Phones: s.phoneViews(10, 5)}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, data); err != nil {
			s.log.Warn("twiliosim: render /sim/", "err", err)
		}
	})
	mux.HandleFunc("GET /sim", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/sim/", http.StatusMovedPermanently)
	})
}

// phoneViews gathers each phone's newest messages and calls, newest first.
func (s *Sim) phoneViews(nMsgs, nCalls int) []*phoneView {
	msgs, calls := s.Messages(), s.Calls()
	s.mu.Lock()
	byNumber := map[string]*phoneView{}
	get := func(n string) *phoneView {
		if byNumber[n] == nil {
			byNumber[n] = &phoneView{Number: n, Script: s.phones[n]}
		}
		return byNumber[n]
	}
	for n := range s.phones {
		get(n)
	}
	for _, m := range slices.Backward(msgs) {
		p := m.To
		if m.Direction == "inbound" {
			p = m.From
		}
		if v := get(p); len(v.Messages) < nMsgs {
			v.Messages = append(v.Messages, m)
		}
	}
	for _, c := range slices.Backward(calls) {
		if v := get(c.To); len(v.Calls) < nCalls {
			v.Calls = append(v.Calls, c)
		}
	}
	s.mu.Unlock()
	out := make([]*phoneView, 0, len(byNumber))
	for _, v := range byNumber {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *phoneView) int { return strings.Compare(a.Number, b.Number) })
	return out
}
