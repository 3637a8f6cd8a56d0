package twiliosim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// Sign computes Twilio's X-Twilio-Signature for a request to fullURL (scheme,
// host, port, path and query exactly as configured in the webhook) carrying
// the POST parameters params: HMAC-SHA1, keyed with the auth token, over the
// URL followed by each parameter name and value with names sorted, in base64.
// For a GET webhook, params is empty and the parameters are in fullURL.
//
// A name given several values contributes each distinct value once, sorted,
// as Twilio's own validators do (twilio-go's validator only ever sees the
// first value, so webhooks the simulator sends never repeat a name).
func Sign(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range slices.Compact(vs) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
