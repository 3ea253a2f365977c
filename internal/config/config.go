// Package config loads sekisho.yaml, applies SEKISHO_* environment overrides and validates
// the result before start. Every problem is reported at once, each with the file, the line
// and one sentence, so an administrator fixes the file in one pass.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sekisho/sekisho/internal/ipset"
)

// FileName is the config file inside the data folder.
const FileName = "sekisho.yaml"

// Config is the whole configuration. Relative paths are relative to the data folder.
type Config struct {
	Listen        string   `yaml:"listen"`          // host:port for HTTPS
	BaseURL       string   `yaml:"base_url"`        // public https URL users and relying parties see
	MasterKeyFile string   `yaml:"master_key_file"` // AES-256 key sealing secrets at rest
	TLS           TLS      `yaml:"tls"`
	Store         Store    `yaml:"store"`
	Password      Password `yaml:"password"`
	Session       Session  `yaml:"session"`
	Network       Network  `yaml:"network"`
	SignIns       SignIns  `yaml:"signins"`
	SAML          SAML     `yaml:"saml"`
	Lockout       Lockout  `yaml:"lockout"`
	Metrics       Metrics  `yaml:"metrics"`
	Log           Log      `yaml:"log"`
	Node          Node     `yaml:"node"`

	// Directory configures the directory connectors (LDAP / Active Directory).
	Directory Directory `yaml:"directory,omitempty"`

	// Bridge configures the legacy mail bridge (IMAP, POP3, SMTP with app passwords).
	Bridge Bridge `yaml:"bridge,omitempty"`

	dataDir string
}

// TLS names certificate files; when empty Sekisho serves the certificate it manages itself.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// DeviceCertificates makes the listener ask browsers for a device certificate (optional:
	// a browser without one still connects); a revoked or foreign one fails the handshake.
	DeviceCertificates bool `yaml:"device_certificates"`
	// HSTSIncludeSubdomains adds includeSubDomains to Strict-Transport-Security: only when
	// every host under the base URL's domain serves HTTPS.
	HSTSIncludeSubdomains bool `yaml:"hsts_include_subdomains"`
}

// Metrics places the Prometheus endpoint. It is not on the sign-in listener: request and
// failure rates by route are reconnaissance for an attacker.
type Metrics struct {
	// Listen is host:port for plain-HTTP /metrics; "" switches metrics off. The default
	// is loopback; any other address needs a token.
	Listen string `yaml:"listen"`
	// TokenFile holds a bearer token scrapers must send (Authorization: Bearer …).
	TokenFile string `yaml:"token_file"`
}

// MetricsToken reads the metrics bearer token ("" when none is configured).
func (c *Config) MetricsToken() (string, error) {
	if c.Metrics.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.Resolve(c.Metrics.TokenFile))
	if err != nil {
		return "", fmt.Errorf("metrics token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("metrics token in %s is shorter than 16 characters", c.Metrics.TokenFile)
	}
	return tok, nil
}

// Lockout holds the smart-lockout thresholds (docs/devices-and-mfa.md).
type Lockout struct {
	Enabled           bool     `yaml:"enabled"`
	LogOnly           bool     `yaml:"log_only"`           // count and log, never refuse
	Threshold         int      `yaml:"threshold"`          // failures from unfamiliar sources that lock them out
	FamiliarThreshold int      `yaml:"familiar_threshold"` // failures from familiar sources that lock those
	Window            Duration `yaml:"window"`             // observation window of the counters
	Duration          Duration `yaml:"duration"`           // how long a lock lasts
}

// Store selects the backend.
type Store struct {
	Driver string `yaml:"driver"` // sqlite (default) or postgres
	Path   string `yaml:"path"`   // sqlite database file
	DSN    string `yaml:"dsn"`    // postgres connection string
}

// Password holds argon2id parameters and the password policy.
type Password struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
	MinLength   int    `yaml:"min_length"`
}

// Session holds SSO session lifetimes.
type Session struct {
	Idle     Duration `yaml:"idle"`
	Absolute Duration `yaml:"absolute"`
}

// Network says whose forwarding headers are believed.
type Network struct {
	TrustedProxies []string `yaml:"trusted_proxies"` // CIDRs of reverse proxies in front of Sekisho
	// ExchangeOnlineNetwork names the stored network holding Exchange Online's egress ranges;
	// X-MS-* headers are honoured only from it.
	ExchangeOnlineNetwork string `yaml:"exchange_online_network"`
}

// SignIns holds sign-in log settings.
type SignIns struct {
	Retention Duration `yaml:"retention"`
}

// SAML holds protocol tolerances.
type SAML struct {
	ClockSkew Duration `yaml:"clock_skew"`
}

// Node is this server's identity among several on one database, and how quickly it follows
// changes made elsewhere.
type Node struct {
	// Name identifies the node in logs, sign-in records and readiness answers; "" = the host
	// name.
	Name string `yaml:"name"`
	// ChangePoll is how often the node asks the store whether cached configuration changed
	// (applications, Microsoft 365 domains, networks, policy, keys, devices): the bound within
	// which a change made anywhere is in force here.
	ChangePoll Duration `yaml:"change_poll"`
	// GCHeadroomMiB is how far the heap may grow between garbage collections at least
	// (internal/gctune); 0 keeps Go's default (the heap grows by as much as is live). The
	// GOGC environment variable, when set, wins.
	GCHeadroomMiB int `yaml:"gc_headroom_mib"`
}

// NodeName is the configured node name, or the host name.
func (c *Config) NodeName() string {
	if c.Node.Name != "" {
		return c.Node.Name
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "sekisho"
}

// Log sets the log level: debug, info, warn, error.
type Log struct {
	Level string `yaml:"level"`
}

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{
		Listen:        "127.0.0.1:8443",
		BaseURL:       "https://localhost:8443",
		MasterKeyFile: "master.key",
		Store:         Store{Driver: "sqlite", Path: "sekisho.db"},
		Password:      Password{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1, MinLength: 12},
		Session:       Session{Idle: Duration(time.Hour), Absolute: Duration(12 * time.Hour)},
		Network:       Network{ExchangeOnlineNetwork: "exchange-online"},
		SignIns:       SignIns{Retention: Duration(90 * 24 * time.Hour)},
		SAML:          SAML{ClockSkew: Duration(2 * time.Minute)},
		Lockout: Lockout{Enabled: true, Threshold: 10, FamiliarThreshold: 10, Window: Duration(15 * time.Minute),
			Duration: Duration(15 * time.Minute)},
		Metrics: Metrics{Listen: "127.0.0.1:9464"},
		Log:     Log{Level: "info"},
		Node:    Node{ChangePoll: Duration(time.Second), GCHeadroomMiB: 64},
	}
}

// Duration is a time.Duration written as Go durations ("90m", "12h") or days ("30d").
type Duration time.Duration

// ParseDuration accepts Go durations and a whole number of days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number, like 30d", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use forms like 90s, 15m, 12h or 30d", s)
	}
	return d, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Error is one validation problem at a place in the file.
type Error struct {
	File string
	Line int // 0 when the value came from a default or the environment
	Path string
	Msg  string
}

func (e Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Path, e.Msg)
}

// Errors collects every problem found.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads DIR/sekisho.yaml (defaults when absent), applies the environment, validates.
func Load(dataDir string) (*Config, error) {
	path := filepath.Join(dataDir, FileName)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b, dataDir, os.Environ())
}

// decode unmarshals b strictly. The YAML decoder can panic on some malformed documents (a
// custom tag on a list, found by FuzzParse): that is a bad file, said in one sentence, not a
// crash of the server or the CLI.
func decode(b []byte, cfg *Config) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the file is not valid YAML for this configuration (the decoder failed: %v)", p)
		}
	}()
	if err := yaml.UnmarshalWithOptions(b, cfg, yaml.Strict()); err != nil {
		return errors.New(yaml.FormatError(err, false, false))
	}
	return nil
}

// Parse decodes b (the content of file), applies env ("KEY=VALUE" pairs) and validates.
func Parse(file string, b []byte, dataDir string, env []string) (*Config, error) {
	cfg := Default()
	cfg.dataDir = dataDir
	var tree *ast.File
	if len(strings.TrimSpace(string(b))) > 0 {
		var err error
		tree, err = parser.ParseBytes(b, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", file, yaml.FormatError(err, false, false))
		}
		if err := decode(b, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %s", file, err)
		}
	}
	fromEnv, err := applyEnv(&cfg, env)
	if err != nil {
		return nil, err
	}
	if errs := cfg.validate(); len(errs) > 0 {
		for i := range errs {
			errs[i].File = file
			if fromEnv[errs[i].Path] {
				errs[i].File = "environment " + envName(errs[i].Path)
				continue
			}
			errs[i].Line = lineOf(tree, errs[i].Path)
		}
		return nil, errs
	}
	return &cfg, nil
}

func lineOf(tree *ast.File, path string) int {
	if tree == nil {
		return 0
	}
	p, err := yaml.PathString("$." + path)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(tree)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

func (c *Config) validate() Errors {
	var errs Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, Error{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("base_url", "must be an absolute https URL such as https://idp.example.com, got %q", c.BaseURL)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file must be given together")
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.Path == "" {
			bad("store.path", "the sqlite driver needs a database file path")
		}
	case "postgres":
		if c.Store.DSN == "" {
			bad("store.dsn", "the postgres driver needs a dsn such as postgres://user@host/db")
		}
	default:
		bad("store.driver", "unknown store driver %q; use sqlite or postgres", c.Store.Driver)
	}
	if c.Password.MemoryKiB < 8*1024 {
		bad("password.memory_kib", "argon2id memory must be at least 8192 KiB, got %d", c.Password.MemoryKiB)
	}
	if c.Password.Iterations < 1 {
		bad("password.iterations", "must be at least 1")
	}
	if c.Password.Parallelism < 1 {
		bad("password.parallelism", "must be at least 1")
	}
	if c.Password.MinLength < 8 {
		bad("password.min_length", "must be at least 8, got %d", c.Password.MinLength)
	}
	if c.Session.Idle.D() <= 0 || c.Session.Absolute.D() <= 0 {
		bad("session", "idle and absolute lifetimes must be positive")
	} else if c.Session.Idle.D() > c.Session.Absolute.D() {
		bad("session.idle", "idle lifetime %v is longer than the absolute lifetime %v", c.Session.Idle.D(), c.Session.Absolute.D())
	}
	for i, p := range c.Network.TrustedProxies {
		if _, err := ipset.ParsePrefix(p); err != nil {
			bad(fmt.Sprintf("network.trusted_proxies[%d]", i), "%q is not an IP address or CIDR", p)
		}
	}
	if c.SignIns.Retention.D() < 24*time.Hour {
		bad("signins.retention", "must be at least 1d")
	}
	if p := c.Node.ChangePoll.D(); p < 100*time.Millisecond || p > time.Minute {
		bad("node.change_poll", "must be between 100ms and 1m, got %v", p)
	}
	if c.Node.GCHeadroomMiB < 0 || c.Node.GCHeadroomMiB > 64<<10 {
		bad("node.gc_headroom_mib", "must be between 0 (Go's default) and 65536, got %d", c.Node.GCHeadroomMiB)
	}
	if len(c.Node.Name) > 64 || strings.ContainsAny(c.Node.Name, " \t\r\n") {
		bad("node.name", "must be at most 64 characters without spaces")
	}
	if c.SAML.ClockSkew.D() < 0 || c.SAML.ClockSkew.D() > 15*time.Minute {
		bad("saml.clock_skew", "must be between 0 and 15m")
	}
	if c.Lockout.Threshold < 1 || c.Lockout.FamiliarThreshold < 1 {
		bad("lockout", "threshold and familiar_threshold must be at least 1")
	}
	if c.Lockout.Window.D() < time.Minute || c.Lockout.Duration.D() < time.Minute {
		bad("lockout", "window and duration must be at least 1m")
	}
	if c.Metrics.Listen != "" {
		host, _, err := splitHostPort(c.Metrics.Listen)
		if err != nil {
			bad("metrics.listen", "%v", err)
		} else if a, perr := netip.ParseAddr(strings.Trim(host, "[]")); (perr != nil || !a.IsLoopback()) && host != "localhost" && c.Metrics.TokenFile == "" {
			bad("metrics.listen", "%s is not a loopback address: set metrics.token_file so scrapers must authenticate", c.Metrics.Listen)
		}
	}
	errs = append(errs, c.validateDirectory()...)
	errs = append(errs, c.validateBridge()...)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "unknown level %q; use debug, info, warn or error", c.Log.Level)
	}
	return errs
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q is not host:port", s)
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q has no valid port", s)
	}
	return s[:i], port, nil
}

// TrustedProxyPrefixes returns the parsed trusted proxy ranges (validated at load).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.Network.TrustedProxies))
	for _, p := range c.Network.TrustedProxies {
		if pp, err := ipset.ParsePrefix(p); err == nil {
			out = append(out, pp)
		}
	}
	return out
}

// DataDir is the folder the configuration was loaded from.
func (c *Config) DataDir() string { return c.dataDir }

// Resolve makes a data-folder-relative path absolute.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dataDir, p)
}

// envName maps a config path ("store.dsn") to its variable (SEKISHO_STORE_DSN).
func envName(path string) string {
	return "SEKISHO_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// applyEnv overrides leaves from SEKISHO_* variables; it returns which paths it set.
func applyEnv(cfg *Config, env []string) (map[string]bool, error) {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "SEKISHO_") {
			vars[k] = v
		}
	}
	set := map[string]bool{}
	var walk func(v reflect.Value, prefix string) error
	walk = func(v reflect.Value, prefix string) error {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || !f.IsExported() {
				continue
			}
			path := tag
			if prefix != "" {
				path = prefix + "." + tag
			}
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct {
				if err := walk(fv, path); err != nil {
					return err
				}
				continue
			}
			raw, ok := vars[envName(path)]
			if !ok {
				continue
			}
			if err := setValue(fv, raw); err != nil {
				return fmt.Errorf("environment %s: %w", envName(path), err)
			}
			set[path] = true
		}
		return nil
	}
	return set, walk(reflect.ValueOf(cfg).Elem(), "")
}

func setValue(v reflect.Value, raw string) error {
	if v.Type() == reflect.TypeOf(Duration(0)) {
		d, err := ParseDuration(raw)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		v.SetInt(n)
	case reflect.Uint8, reflect.Uint32:
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number in range", raw)
		}
		v.SetUint(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		v.SetBool(b)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// Marshal renders cfg as YAML (for sekisho init).
func Marshal(cfg Config) ([]byte, error) {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b, nil
}
