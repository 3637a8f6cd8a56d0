package configs

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Provider is one [[provider]]: an SMS and voice provider tried after
// [twilio], in file order, when the ones before it fail (issue 16). Each
// has its own credentials, number and API base; [twilio]'s shared
// settings (sms_validity, machine_detection, the per-number limits, which
// count across providers) apply to all of them.
type Provider struct {
	// Name is how logs, metrics, webhooks (&p=NAME) and the store name it.
	Name string `toml:"name"`
	// Kind is "twilio" (another Twilio account) or "signalwire".
	Kind string `toml:"kind"`
	// AccountSID is a Twilio account's SID (kind "twilio").
	AccountSID string `toml:"account_sid"`
	// ProjectID is a SignalWire project's ID, a UUID (kind "signalwire").
	ProjectID string `toml:"project_id"`
	// Space is the SignalWire space: SPACE.signalwire.com.
	Space string `toml:"space"`
	// AuthTokenFile holds the API token (or FOGHORN_PROVIDER_<NAME>_TOKEN).
	AuthTokenFile string `toml:"auth_token_file"`
	// SigningKeyFile holds SignalWire's webhook Signing Key (or
	// FOGHORN_PROVIDER_<NAME>_SIGNING_KEY); a Twilio account signs with
	// its auth token.
	SigningKeyFile string `toml:"signing_key_file"`
	From           string `toml:"from"`
	// APIBase replaces the provider's own API URL (a simulator).
	APIBase string `toml:"api_base"`
	// SkipFor is how long a provider that failed is passed over.
	SkipFor Duration `toml:"skip_for"`
	// DeliveryWindow is how long an SMS may go without a delivery report
	// before it counts as missed.
	DeliveryWindow Duration `toml:"delivery_window"`

	AuthToken  Secret `toml:"-"`
	SigningKey Secret `toml:"-"`
}

// The provider kinds.
const (
	KindTwilio     = "twilio"
	KindSignalWire = "signalwire"
)

// Defaults of a [[provider]].
const (
	DefaultSkipFor        = 5 * time.Minute
	DefaultDeliveryWindow = 3 * time.Minute
)

var (
	providerNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	uuidRE         = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	spaceRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	alnumRE        = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// Base is the REST API base URL the provider is reached at: api_base if
// set, else https://api.twilio.com or https://SPACE.signalwire.com/api/laml.
func (p *Provider) Base() string {
	if p.APIBase != "" {
		return strings.TrimSuffix(p.APIBase, "/")
	}
	if p.Kind == KindSignalWire {
		return "https://" + p.Space + ".signalwire.com/api/laml"
	}
	return DefaultAPIBase
}

// Account is the account the provider's API is asked under: the Twilio
// account SID or the SignalWire project ID.
func (p *Provider) Account() string {
	if p.Kind == KindSignalWire {
		return p.ProjectID
	}
	return p.AccountSID
}

// ProviderEnv is the prefix of a provider's secret variables:
// FOGHORN_PROVIDER_<NAME>_TOKEN and _SIGNING_KEY.
func ProviderEnv(name string) string { return "FOGHORN_PROVIDER_" + EnvName(name) }

// SMSProviders reports whether any SMS and voice provider is configured:
// [twilio] or a [[provider]].
func (c *Config) SMSProviders() bool { return twilioUsed(c) || len(c.Providers) > 0 }

// CallerIDs are every number foghorn calls and texts from, [twilio]'s
// first: what `foghorn vcard` puts on the contact card.
func (c *Config) CallerIDs() []string {
	var out []string
	add := func(n string) {
		for _, o := range out {
			if o == n {
				return
			}
		}
		if n != "" {
			out = append(out, n)
		}
	}
	if twilioUsed(c) {
		add(c.Twilio.From)
	}
	for _, p := range c.Providers {
		add(p.From)
	}
	return out
}

func defaultProviders(c *Config) {
	orDuration(&c.Twilio.SkipFor, DefaultSkipFor)
	orDuration(&c.Twilio.DeliveryWindow, DefaultDeliveryWindow)
	for i := range c.Providers {
		p := &c.Providers[i]
		orDuration(&p.SkipFor, DefaultSkipFor)
		orDuration(&p.DeliveryWindow, DefaultDeliveryWindow)
	}
}

func loadProviderSecrets(r *report, c *Config, dir string, env func(string) string) {
	for i := range c.Providers {
		p := &c.Providers[i]
		path, key, ev := "provider["+itoa(i)+"]", "provider "+quote(p.Name), ProviderEnv(p.Name)
		p.AuthToken = secret(r, path+".auth_token_file", key+" auth_token_file", p.AuthTokenFile, dir, env, ev+"_TOKEN")
		if p.AuthToken.Empty() && p.AuthTokenFile == "" && !r.inline[path+".auth_token_file"] {
			r.add(path, key+" auth token", fmt.Sprintf("set auth_token_file = \"/etc/foghorn/%s-token\" or export %s_TOKEN", p.Name, ev),
				"no API token: neither auth_token_file nor %s_TOKEN gives it", ev)
		} else if v := p.AuthToken.Reveal(); v != "" && !alnumRE.MatchString(v) {
			r.add(path+".auth_token_file", key+" auth token", "put the API token alone on one line, nothing else",
				"the token has characters other than letters and digits (%s): twilio-go refuses such a token before sending (error 21224)", tokenShape(v))
		}
		if p.Kind != KindSignalWire {
			continue
		}
		p.SigningKey = secret(r, path+".signing_key_file", key+" signing_key_file", p.SigningKeyFile, dir, env, ev+"_SIGNING_KEY")
		if p.SigningKey.Empty() && p.SigningKeyFile == "" && !r.inline[path+".signing_key_file"] {
			r.add(path, key+" signing key", fmt.Sprintf("copy the Signing Key from the SignalWire dashboard (API > Signing Key) into signing_key_file, or export %s_SIGNING_KEY", ev),
				"no Signing Key: SignalWire signs its webhooks with it, and without it every delivery report, reply and key press would be refused")
		}
	}
}

func validateProviders(r *report, c *Config) {
	if twilioUsed(c) {
		checkSkip(r, "twilio", "twilio", c.Twilio.SkipFor, c.Twilio.DeliveryWindow)
	}
	names := make([]string, len(c.Providers))
	for i, p := range c.Providers {
		names[i] = p.Name
	}
	checkNames(r, "provider", names)
	if len(c.Providers) > 0 && c.Server.PublicURL == "" {
		r.add("server", "server public_url", `set public_url to the https address the providers reach this foghorn at, e.g. "https://foghorn.example.net"`,
			"missing: the [[provider]] entries need it to deliver replies, key presses and delivery reports")
	}
	for i, p := range c.Providers {
		path, key := "provider["+itoa(i)+"]", "provider "+quote(p.Name)
		switch {
		case p.Name != "" && !providerNameRE.MatchString(p.Name):
			r.add(path+".name", key+" name", `use lower-case letters, digits and '-', e.g. "signalwire"`,
				"name %q: it goes into webhook URLs and metrics labels", p.Name)
		case p.Name == "twilio":
			r.add(path+".name", key+" name", `name it after the account, e.g. "twilio-backup"`,
				`"twilio" is [twilio]'s name in logs, metrics and webhooks`)
		}
		switch p.Kind {
		case KindTwilio:
			if !sidRE.MatchString(p.AccountSID) {
				r.add(path+".account_sid", key+" account_sid", "copy the Account SID from the Twilio console: AC followed by 32 hex digits",
					"%q is not a Twilio account SID", p.AccountSID)
			}
			if p.ProjectID != "" || p.Space != "" || p.SigningKeyFile != "" {
				r.add(path+".kind", key+" kind", `drop project_id, space and signing_key_file, or set kind = "signalwire"`,
					"project_id, space and signing_key_file are SignalWire's; a Twilio account signs webhooks with its auth token")
			}
		case KindSignalWire:
			if !uuidRE.MatchString(p.ProjectID) {
				r.add(path+".project_id", key+" project_id", `copy the Project ID from the SignalWire dashboard (API): a UUID like "1b5c3f2e-8d1a-4c6b-9e2f-0a7d4b3c2e1f", lower case`,
					"%q is not a SignalWire project ID", p.ProjectID)
			}
			if p.AccountSID != "" {
				r.add(path+".account_sid", key+" account_sid", "SignalWire names the account by project_id: drop account_sid", "account_sid is Twilio's")
			}
			switch {
			case p.Space == "" && p.APIBase == "":
				r.add(path, key+" space", `set space = "example" for example.signalwire.com`, "missing: the API lives at https://SPACE.signalwire.com")
			case p.Space != "" && !spaceRE.MatchString(p.Space):
				fix := `write the space alone, e.g. "example" for example.signalwire.com`
				if s, ok := strings.CutSuffix(strings.TrimPrefix(strings.TrimPrefix(p.Space, "https://"), "http://"), ".signalwire.com"); ok && spaceRE.MatchString(s) {
					fix = "write " + quote(s)
				}
				r.add(path+".space", key+" space", fix, "%q is not a SignalWire space name", p.Space)
			}
		case "":
			r.add(path, key+" kind", `add kind = "signalwire" or kind = "twilio"`, "missing")
		default:
			r.add(path+".kind", key+" kind", `use "signalwire" or "twilio"`, "unknown provider kind %q", p.Kind)
		}
		switch {
		case p.From == "":
			r.add(path, key+" from", `set from to the provider's number in E.164 form, e.g. "+14155550199"`, "missing: the number pages are sent from")
		case !e164RE.MatchString(p.From):
			r.add(path+".from", key+" from", `write the number in E.164 form: +, country code, number, no spaces, e.g. "+14155550199"`,
				"%q is not an E.164 phone number", p.From)
		}
		if p.APIBase != "" {
			checkURL(r, path+".api_base", key+" api_base", p.APIBase)
			if u, err := url.Parse(p.APIBase); err == nil && u.RawQuery != "" {
				r.add(path+".api_base", key+" api_base", "drop the query", "%q has a query", p.APIBase)
			}
		}
		checkSkip(r, path, key, p.SkipFor, p.DeliveryWindow)
		for j, q := range c.Providers[:i] {
			if q.From == p.From && p.From != "" {
				r.add(path+".from", key+" from", "give each provider its own number: replies are told apart by the number they are sent to",
					"%s is also provider %q's number", p.From, c.Providers[j].Name)
			}
		}
		if twilioUsed(c) && p.From == c.Twilio.From && p.From != "" {
			r.add(path+".from", key+" from", "give each provider its own number", "%s is also [twilio]'s number", p.From)
		}
	}
}

func checkSkip(r *report, path, key string, skip, window Duration) {
	if skip.bad == nil && (skip.Duration < time.Second || skip.Duration > 24*time.Hour) {
		r.add(path+".skip_for", key+" skip_for", `pick between "1s" and "24h"; "5m" is the default`, "%s is out of range", skip.Duration)
	}
	if window.bad == nil && (window.Duration < 10*time.Second || window.Duration > time.Hour) {
		r.add(path+".delivery_window", key+" delivery_window", `pick between "10s" and "1h"; "3m" is the default`, "%s is out of range", window.Duration)
	}
}
