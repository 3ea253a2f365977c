package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		env     []string
		wantErr []string // substrings, all must appear
		check   func(t *testing.T, c *Config)
	}{
		{name: "empty file gives defaults", yaml: "", check: func(t *testing.T, c *Config) {
			if c.Store.Driver != "sqlite" || c.Password.MemoryKiB != 19456 || c.Session.Idle.D() != time.Hour {
				t.Fatalf("defaults not applied: %+v", c)
			}
		}},
		{name: "postgres with days", yaml: "store:\n  driver: postgres\n  dsn: postgres://x@h/db\nsignins:\n  retention: 30d\n", check: func(t *testing.T, c *Config) {
			if c.Store.DSN != "postgres://x@h/db" || c.SignIns.Retention.D() != 30*24*time.Hour {
				t.Fatalf("got %+v", c)
			}
		}},
		{name: "unknown driver names line", yaml: "listen: 127.0.0.1:8443\nstore:\n  driver: mysql\n", wantErr: []string{"sekisho.yaml:3:", "unknown store driver \"mysql\""}},
		{name: "unknown key", yaml: "lisen: 1\n", wantErr: []string{"sekisho.yaml", "lisen"}},
		{name: "gc headroom default", yaml: "", check: func(t *testing.T, c *Config) {
			if c.Node.GCHeadroomMiB != 64 {
				t.Fatalf("node.gc_headroom_mib default = %d, want 64", c.Node.GCHeadroomMiB)
			}
		}},
		{name: "gc headroom off", yaml: "node:\n  gc_headroom_mib: 0\n", check: func(t *testing.T, c *Config) {
			if c.Node.GCHeadroomMiB != 0 {
				t.Fatalf("node.gc_headroom_mib = %d, want 0", c.Node.GCHeadroomMiB)
			}
		}},
		{name: "gc headroom negative", yaml: "node:\n  gc_headroom_mib: -1\n", wantErr: []string{"node.gc_headroom_mib"}},
		{name: "syntax error", yaml: "store: [\n", wantErr: []string{"sekisho.yaml"}},
		{name: "several errors at once", yaml: "base_url: http://x\npassword:\n  min_length: 4\n", wantErr: []string{":1: base_url", ":3: password.min_length"}},
		{name: "bad proxy cidr", yaml: "network:\n  trusted_proxies: [10.0.0.0/8, nonsense]\n", wantErr: []string{"trusted_proxies[1]", "nonsense"}},
		{name: "proxy with a zone refused", yaml: "network:\n  trusted_proxies: ['fe80::1%eth0']\n", wantErr: []string{"trusted_proxies[0]", "fe80::1%eth0"}},
		{name: "proxy prefixes normalised", yaml: "network:\n  trusted_proxies: ['::ffff:192.0.2.1', 10.1.2.3/8, '2001:db8::1/32']\n", check: func(t *testing.T, c *Config) {
			got := fmt.Sprint(c.TrustedProxyPrefixes())
			if got != "[192.0.2.1/32 10.0.0.0/8 2001:db8::/32]" {
				t.Fatalf("TrustedProxyPrefixes() = %s", got)
			}
		}},
		{name: "idle longer than absolute", yaml: "session:\n  idle: 24h\n  absolute: 1h\n", wantErr: []string{"session.idle"}},
		{name: "env override", env: []string{"SEKISHO_STORE_DRIVER=postgres", "SEKISHO_STORE_DSN=postgres://e@h/db", "SEKISHO_NETWORK_TRUSTED_PROXIES=10.0.0.1, 192.168.0.0/16"}, check: func(t *testing.T, c *Config) {
			if c.Store.Driver != "postgres" || len(c.Network.TrustedProxies) != 2 || c.TrustedProxyPrefixes()[0].Bits() != 32 {
				t.Fatalf("env not applied: %+v", c)
			}
		}},
		{name: "bad env value names variable", env: []string{"SEKISHO_STORE_DRIVER=oracle"}, wantErr: []string{"environment SEKISHO_STORE_DRIVER", "oracle"}},
		{name: "metrics default on loopback", yaml: "", check: func(t *testing.T, c *Config) {
			if c.Metrics.Listen != "127.0.0.1:9464" || c.Metrics.TokenFile != "" {
				t.Fatalf("metrics default: %+v", c.Metrics)
			}
		}},
		{name: "metrics off", yaml: "metrics:\n  listen: \"\"\n", check: func(t *testing.T, c *Config) {
			if c.Metrics.Listen != "" {
				t.Fatalf("metrics not off: %+v", c.Metrics)
			}
		}},
		{name: "metrics on every address need a token", yaml: "metrics:\n  listen: 0.0.0.0:9464\n", wantErr: []string{"metrics.listen", "token_file"}},
		{name: "metrics on a LAN address with a token", yaml: "metrics:\n  listen: 192.0.2.10:9464\n  token_file: metrics.token\n", check: func(t *testing.T, c *Config) {
			if c.Metrics.TokenFile != "metrics.token" {
				t.Fatalf("got %+v", c.Metrics)
			}
		}},
		{name: "HSTS subdomains option", yaml: "tls:\n  hsts_include_subdomains: true\n", check: func(t *testing.T, c *Config) {
			if !c.TLS.HSTSIncludeSubdomains {
				t.Fatal("option not read")
			}
		}},
		{name: "decoder panic is a bad file", yaml: "network:\n trusted_proxies: !0 000000000000000", wantErr: []string{"sekisho.yaml", "not valid YAML"}},
		{name: "bad env duration", env: []string{"SEKISHO_SESSION_IDLE=soon"}, wantErr: []string{"SEKISHO_SESSION_IDLE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("sekisho.yaml", []byte(c.yaml), "/data", c.env)
			if len(c.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range c.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

func TestErrorsAreTyped(t *testing.T) {
	_, err := Parse("f.yaml", []byte("store:\n  driver: x\n"), "/d", nil)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Line != 2 {
		t.Fatalf("err = %#v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("x", b, "/d", nil)
	if err != nil {
		t.Fatalf("re-parse of rendered default: %v\n%s", err, b)
	}
	if c.Resolve("sekisho.db") != "/d/sekisho.db" {
		t.Fatal(c.Resolve("sekisho.db"))
	}
}

// FuzzParse: any file content gives a config or an error, never a panic; a config that
// parses is valid.
func FuzzParse(f *testing.F) {
	f.Add([]byte("store:\n  driver: postgres\n  dsn: postgres://x@h/db\n"))
	f.Add([]byte("listen: [\n"))
	f.Add([]byte("session:\n  idle: 30d\n  absolute: 1h\n"))
	f.Add([]byte("network:\n  trusted_proxies: [10.0.0.0/8, '::1']\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("f.yaml", b, "/d", nil)
		if err == nil && len(c.validate()) != 0 {
			t.Fatalf("Parse accepted an invalid config: %v", c.validate())
		}
	})
}
