// Package wiring composes an opened instance into the running identity provider: the gate,
// sessions, sign-in pages and every protocol adapter, mounted on the server's mux. Both
// `sekisho serve` and the end-to-end tests build the server here.
package wiring

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/appguard"
	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/changes"
	"github.com/sekisho/sekisho/internal/clientctx"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/gate"
	"github.com/sekisho/sekisho/internal/ipset"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/server"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/web"
)

// Services are the composed parts, exposed for tests and background jobs.
type Services struct {
	Instance *setup.Instance
	Server   *server.Server
	Gate     *gate.Gate
	Sessions *authn.Manager
	Audit    *audit.Recorder
	Policies *published.Source
	M365     *m365Mount
	TOTP     *factors.Manager
	Devices  *devicecert.CA
	// Guard puts Sekisho's own pages (console: sekisho-admin, portal: sekisho-account)
	// behind the gate.
	Guard *appguard.Guard
	// saml is the SAML IdP, which tells a session's SAML applications when another door
	// (an OpenID Connect client's logout request) ends it.
	saml *saml.Handler
	// Changes follows the store's configuration version and drops every cache below when it
	// moves: the bound within which a change made anywhere is in force on this node.
	Changes *changes.Watcher
	// OIDCClients caches the OpenID Connect provider's client lookups (dropped when Changes
	// sees the version move, and each kept at most a second).
	OIDCClients *oidc.ClientCache
	// OIDC is the OpenID Connect provider (the mail bridge's tokens come from it).
	OIDC *oidc.Handler

	// eligible are the adapters' checks that a user can be issued their token at all (run by
	// the gate after authentication, before the policy), so the record never says "allow" for
	// a sign-in the adapter must then refuse.
	eligible []func(ctx context.Context, a signin.Attempt, u store.User) signin.Reason
	// trustedProxies are the gate's network.trusted_proxies, which the mail bridge's doors
	// also read PROXY headers from.
	trustedProxies *ipset.Set
}

// Build composes the server for an opened instance.
func Build(ctx context.Context, in *setup.Instance) (*Services, error) {
	cfg := in.Config
	srv := server.New(in.Log, in.Store)
	srv.Node = cfg.NodeName()
	// The console and the admin API export and import in bulk; everything else (sign-ins,
	// protocols, the account pages) is bounded by srv.RequestTimeout.
	srv.Unbounded = []string{"/admin/", "/api/"}
	if cfg.TLS.HSTSIncludeSubdomains {
		srv.HSTS += "; includeSubDomains"
	}
	rec := audit.NewRecorder(in.Store, in.Log)
	srv.Ready = append(srv.Ready, rec.Ready)
	sessions := authn.NewManager(in.Store, cfg.Session.Idle.D(), cfg.Session.Absolute.D(), in.Log)
	pols := published.NewSource(in.Store, in.Log)
	cc := newClientConfig(in, pols)
	g := &gate.Gate{Store: in.Store, Directory: in.Directory, RememberApp: sessions.Admit, Audit: rec, Policies: pols,
		ClientConfig: cc.get, Now: time.Now, Log: in.Log}
	s := &Services{Instance: in, Server: srv, Gate: g, Sessions: sessions, Audit: rec, Policies: pols,
		TOTP: in.Factors, Devices: in.Devices, trustedProxies: cc.proxies}
	g.Lockout, g.Devices = in.Lockout, in.Devices
	g.AppPasswords = apppassword.Verifier{Store: in.Store, Hasher: in.Admin.BridgeCredentials}
	sessions.StepUp = appguard.StepUp(g)
	// Form tokens (CSRF, password change) are signed with a key every node derives alike.
	web.SetCSRFKey(in.Sealer.Derive("web-forms"))
	s.Guard = &appguard.Guard{Gate: g, Sessions: sessions, Deny: web.RenderDenied, Log: in.Log}
	s.eligible = append(s.eligible, adminRole)

	pages := web.NewHandler(in.Directory, sessions, g, in.Log)
	pages.Factors = secondFactors{s.TOTP}
	pages.TOTP, pages.EnrolAllowed = totpEnroller{s.TOTP}, appguard.EnrolAllowed(g)
	pages.Protect = s.Guard.Protect
	pages.MailDevices = mailConfigured(cfg.Bridge)
	// Sekisho's sign-out button runs SAML single logout for the session's SAML applications.
	pages.SAMLLogout = func(w http.ResponseWriter, r *http.Request, u store.User, apps []string, sessionIndex, final string) bool {
		return s.saml != nil && s.saml.LogoutApps(w, r, u, apps, sessionIndex, final)
	}
	pages.Mount(srv.Mux)
	for _, m := range mounts {
		if err := m(ctx, s); err != nil {
			return nil, err
		}
	}
	g.Eligible = func(ctx context.Context, a signin.Attempt, u store.User) signin.Reason {
		for _, check := range s.eligible {
			if reason := check(ctx, a, u); reason != "" {
				return reason
			}
		}
		return ""
	}
	s.Changes = s.followChanges()
	return s, nil
}

// followChanges subscribes every cache of configuration to the store's change counter:
// the policy and networks (and with them the Exchange Online network), the Microsoft 365
// domains and their adapters, signing keys and the device-certificate cache. Sessions,
// lockout counters, one-time keys, users and groups are read from the store on every
// request and need nothing.
func (s *Services) followChanges() *changes.Watcher {
	in := s.Instance
	w := changes.New(in.Store, in.Log)
	w.Every = in.Config.Node.ChangePoll.D()
	w.OnChange(func(context.Context) { s.Policies.Invalidate() })
	w.OnChange(func(context.Context) { in.Keys.InvalidateAll() })
	w.OnChange(func(context.Context) { in.Devices.ForgetAll() })
	if s.OIDCClients != nil {
		w.OnChange(func(context.Context) { s.OIDCClients.Forget() })
	}
	if s.M365 != nil {
		w.OnChange(func(ctx context.Context) {
			if err := s.M365.Reload(ctx); err != nil {
				in.Log.ErrorContext(ctx, "reload Microsoft 365 domains", "err", err)
			}
		})
	}
	return w
}

// Background runs what a serving node does besides answering requests until ctx ends:
// following configuration changes, pruning the sign-in log and expired OpenID Connect tokens.
func (s *Services) Background(ctx context.Context) {
	go s.Changes.Run(ctx)
	go s.Audit.RunPruner(ctx, s.Instance.Config.SignIns.Retention.D())
	go s.pruneOIDCTokens(ctx)
	go s.Instance.Directory.RunScheduledSyncs(ctx, s.Instance.Log)
}

// mounts are the parts served besides the sign-in pages, in the order they are mounted:
// device PKI (CRL, CA, downloads), Microsoft 365 (WS-Fed, WS-Trust, metadata), passkeys,
// the mail devices page, the admin console and its report, the admin API, SAML.
var mounts = []func(ctx context.Context, s *Services) error{mountPKI, mountM365, mountPasskeys, mountMail, mountReport, mountAPI, mountSCIM, mountSAML, mountOIDC}

// clientConfig builds clientctx.Config from the config (trusted proxies) and the stored
// Exchange Online network, following the policy source's cache so edits take effect.
type clientConfig struct {
	in      *setup.Instance
	pols    *published.Source
	proxies *ipset.Set

	mu      sync.Mutex
	last    *published.Compiled
	current clientctx.Config
}

func newClientConfig(in *setup.Instance, pols *published.Source) *clientConfig {
	return &clientConfig{in: in, pols: pols, proxies: ipset.New(in.Config.TrustedProxyPrefixes())}
}

func (c *clientConfig) get(ctx context.Context) clientctx.Config {
	comp, err := c.pols.Current(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || comp == nil {
		return clientctx.Config{TrustedProxies: c.proxies, ExchangeOnline: ipset.New([]netip.Prefix{})}
	}
	if comp != c.last {
		exo, ok := comp.Networks.Network(c.in.Config.Network.ExchangeOnlineNetwork)
		if !ok {
			exo = ipset.New(nil)
		}
		c.current = clientctx.Config{TrustedProxies: c.proxies, ExchangeOnline: exo}
		c.last = comp
	}
	return c.current
}
