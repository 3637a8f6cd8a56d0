package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Secrets never live in the config file itself: each comes from a *_file
// key (read once at load) or from an environment variable, so the config
// can be shared, committed and printed safely.

// secret reads file (relative to dir) or else the first non-empty env var.
// Problems name the file and the variable, never the value.
func secret(r *report, path, key, file string, dir string, env func(string) string, vars ...string) Secret {
	if file != "" {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.add(path, key, "create the file with the secret on one line, or fix the path (relative paths start at the config's folder)",
				"file %q does not exist", file)
			return Secret{}
		case err != nil:
			r.add(path, key, "make the file readable by the user foghorn runs as",
				"cannot read %q: %v", file, errors.Unwrap(err))
			return Secret{}
		}
		// Editors add a final newline, copy-paste adds a space or a
		// CR: none is ever part of a token or password, and a stray one
		// makes every request fail (twilio-go refuses such a token
		// locally, so Twilio never even sees it).
		v := strings.TrimSpace(string(b))
		if v == "" {
			r.add(path, key, "put the secret in the file", "file %q is empty", file)
		}
		// A secret every local user can read is not one; it still works,
		// so this warns rather than refuses.
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o004 != 0 {
			r.warn(path, key, fmt.Sprintf("chmod 600 %s (and chown it to the user foghorn runs as)", p),
				"%q can be read by every user on this machine (mode %04o)", file, fi.Mode().Perm())
		}
		return Secret{v}
	}
	for _, name := range vars {
		if v := strings.TrimSpace(env(name)); v != "" {
			return Secret{v}
		}
	}
	return Secret{}
}

// EnvName turns a target name into the suffix of its secret variables:
// "pve1-bmc" -> "PVE1_BMC" (FOGHORN_IPMI_PASSWORD_PVE1_BMC).
func EnvName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name)
}

func loadSecrets(r *report, c *Config, dir string, env func(string) string) {
	c.Server.APIToken = secret(r, "server.api_token_file", "server api_token_file", c.Server.APITokenFile, dir, env,
		"FOGHORN_API_TOKEN")
	if t := c.Server.APIToken.Reveal(); t != "" && len(t) < 16 {
		r.add("server.api_token_file", "server api_token_file", "use a long random token, e.g. `openssl rand -hex 24`",
			"the API token is too short (%d characters; at least 16)", len(t))
	}
	tw := &c.Twilio
	tw.AuthToken = secret(r, "twilio.auth_token_file", "twilio auth_token_file", tw.AuthTokenFile, dir, env,
		"FOGHORN_TWILIO_AUTH_TOKEN")
	checkTwilioToken(r, tw)
	if tw.AccountSID != "" && !tw.Simulator && tw.AuthToken.Empty() && tw.AuthTokenFile == "" && !r.inline["twilio.auth_token_file"] {
		r.add("twilio.account_sid", "twilio", "set auth_token_file = \"/etc/foghorn/twilio-token\" or export FOGHORN_TWILIO_AUTH_TOKEN",
			"no auth token: account_sid is set but neither auth_token_file nor FOGHORN_TWILIO_AUTH_TOKEN gives the token")
	}
	loadProviderSecrets(r, c, dir, env) // providers.go
	c.SMTP.Password = secret(r, "smtp.password_file", "smtp password_file", c.SMTP.PasswordFile, dir, env,
		"FOGHORN_SMTP_PASSWORD")
	loadPushoverSecrets(r, c, dir, env) // pushover.go

	loadTelegramSecrets(r, c, dir, env) // telegram.go
	loadNtfySecrets(r, c, dir, env)     // ntfy.go

	if cl := c.Cluster; cl != nil {
		cl.Key = secret(r, "cluster.key_file", "cluster key_file", cl.KeyFile, dir, env, "FOGHORN_CLUSTER_KEY")
	}

	for i := range c.Targets {
		t := &c.Targets[i]
		p := "target[" + itoa(i) + "]"
		key := "target " + quote(t.Name)
		n := EnvName(t.Name)
		if t.IPMI != nil {
			t.IPMI.Password = secret(r, p+".ipmi.password_file", key+" ipmi password_file", t.IPMI.PasswordFile, dir, env,
				"FOGHORN_IPMI_PASSWORD_"+n, "FOGHORN_IPMI_PASSWORD")
		}
		if s := t.SNMP; s != nil {
			s.Community = secret(r, p+".snmp.community_file", key+" snmp community_file", s.CommunityFile, dir, env,
				"FOGHORN_SNMP_COMMUNITY_"+n, "FOGHORN_SNMP_COMMUNITY")
			s.AuthPhrase = secret(r, p+".snmp.auth_passphrase_file", key+" snmp auth_passphrase_file", s.AuthFile, dir, env,
				"FOGHORN_SNMP_AUTH_"+n)
			s.PrivPhrase = secret(r, p+".snmp.priv_passphrase_file", key+" snmp priv_passphrase_file", s.PrivFile, dir, env,
				"FOGHORN_SNMP_PRIV_"+n)
		}
		if t.Kind == "heartbeat" && t.Heartbeat != nil {
			t.Heartbeat.Token = secret(r, p+".heartbeat.token_file", key+" heartbeat token_file", t.Heartbeat.TokenFile, dir, env,
				"FOGHORN_HEARTBEAT_TOKEN_"+n)
			if t.Heartbeat.Token.Empty() && t.Heartbeat.TokenFile == "" && !r.inline[p+".heartbeat.token_file"] {
				r.add(p+".kind", key, "set token_file under [target.heartbeat] or export FOGHORN_HEARTBEAT_TOKEN_"+n+" (a long random string, e.g. from `openssl rand -hex 16`)",
					"a heartbeat target needs a secret token, so nobody else can push for it")
			}
			if tok := t.Heartbeat.Token.Reveal(); tok != "" && len(tok) < 16 { // issue 13: a push URL is guessable below that
				r.add(p+".heartbeat.token_file", key+" heartbeat token", "use a long random token, e.g. `openssl rand -hex 16`, in token_file or FOGHORN_HEARTBEAT_TOKEN_"+n,
					"the heartbeat token is too short (%d characters; at least 16)", len(tok))
			}
		}
	}
}

// secretEnv names the environment variable that gives secret k of a table
// of type t (target is the target's name, for per-target variables), the
// same variables loadSecrets reads.
func secretEnv(t reflect.Type, k, target string) string {
	n := EnvName(target)
	switch t {
	case reflect.TypeOf(Server{}):
		return "FOGHORN_API_TOKEN"
	case reflect.TypeOf(Twilio{}):
		return "FOGHORN_TWILIO_AUTH_TOKEN"
	case reflect.TypeOf(SMTP{}):
		return "FOGHORN_SMTP_PASSWORD"
	case reflect.TypeOf(Provider{}):
		return "FOGHORN_PROVIDER_<NAME>_" + strings.ToUpper(strings.TrimPrefix(k, "auth_"))
	case reflect.TypeOf(Cluster{}):
		return "FOGHORN_CLUSTER_KEY"
	case reflect.TypeOf(TelegramBot{}):
		return "FOGHORN_TELEGRAM_" + strings.ToUpper(k)
	case reflect.TypeOf(NtfyConfig{}):
		return "FOGHORN_NTFY_TOKEN"
	case reflect.TypeOf(NtfyPerson{}):
		return "FOGHORN_NTFY_" + strings.ToUpper(k) + "_<PERSON>"
	case reflect.TypeOf(PushoverApp{}):
		return "FOGHORN_PUSHOVER_TOKEN"
	case reflect.TypeOf(PushoverUser{}):
		return pushoverUserEnv("<name>")
	case reflect.TypeOf(IPMI{}):
		return "FOGHORN_IPMI_PASSWORD_" + n
	case reflect.TypeOf(Heartbeat{}):
		return "FOGHORN_HEARTBEAT_TOKEN_" + n
	case reflect.TypeOf(SNMP{}):
		switch k {
		case "community":
			return "FOGHORN_SNMP_COMMUNITY_" + n
		case "auth_passphrase":
			return "FOGHORN_SNMP_AUTH_" + n
		case "priv_passphrase":
			return "FOGHORN_SNMP_PRIV_" + n
		}
	}
	return "FOGHORN_" + strings.ToUpper(k)
}
