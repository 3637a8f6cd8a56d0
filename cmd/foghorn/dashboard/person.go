package dashboard

import "net/http"

// Person is who is logged in to the dashboard on r, if anyone: for pages
// served beside the dashboard (/status.txt) that a session may open.
func (d *Dashboard) Person(r *http.Request) (string, bool) {
	u, ok := d.current(r)
	if !ok {
		return "", false
	}
	return u.name, true
}
