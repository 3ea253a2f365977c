package wiring

import (
	"github.com/sekisho/sekisho/internal/appguard"
	"github.com/sekisho/sekisho/internal/console/roles"
	"time"

	"context"
	"github.com/sekisho/sekisho/internal/console"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/sekisho/sekisho/internal/ipset"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/report"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/simulate"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/web"
)

// ReportOptions builds the legacy-auth report options: the organisation's own networks (all
// stored networks except the Exchange Online ranges) and a simulator that asks the policy in
// force how a sign-in would be judged.
func ReportOptions(ctx context.Context, in *setup.Instance) (report.Options, error) {
	comp, err := published.Load(ctx, in.Store, nil)
	if err != nil {
		return report.Options{}, err
	}
	ns, err := in.Store.ListNetworks(ctx)
	if err != nil {
		return report.Options{}, err
	}
	nets := map[string][]netip.Prefix{}
	for _, n := range ns {
		if strings.EqualFold(n.Name, in.Config.Network.ExchangeOnlineNetwork) {
			continue
		}
		for _, c := range n.CIDRs {
			if p, err := ipset.ParsePrefix(c); err == nil {
				nets[n.Name] = append(nets[n.Name], p)
			}
		}
	}
	opts := report.Options{Networks: nets}
	if comp.Policy != nil {
		groups := map[string][]string{}
		opts.Simulate = func(e store.SignInEvent) string {
			key := strings.ToLower(e.Username)
			g, ok := groups[key]
			if !ok {
				if u, err := in.Store.GetUserByUPN(ctx, e.Username); err == nil {
					g = u.Groups
				}
				groups[key] = g
			}
			return comp.Policy.Evaluate(simulate.InputOf(e, g)).Action.Decision()
		}
	}
	return opts, nil
}

// adminRole is the role check of the console: the gate refuses sekisho-admin (with a
// record) to anyone without a console role, whatever the policy allows.
func adminRole(_ context.Context, a signin.Attempt, u store.User) signin.Reason {
	if a.Application == signin.AppAdmin && roles.Of(u.Groups) == roles.None {
		return signin.ReasonNotAdmin
	}
	return ""
}

// requireAdmin serves next only to sessions the gate admits to sekisho-admin (policy, second
// factor, role), with the same-origin check for every state-changing request.
func (s *Services) requireAdmin(next http.Handler) http.Handler {
	return s.Guard.Protect(signin.AppAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Uploads are multipart and streamed by the handler, so CSRF is judged on headers that
		// browsers always send with a POST and pages cannot forge: Origin / Sec-Fetch-Site.
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
			web.RenderError(w, r, http.StatusForbidden, "")
			return
		}
		// The report reads every user's sign-ins: admins and auditors; uploads: admins.
		u, _ := appguard.User(r.Context())
		role := roles.Of(u.Groups)
		if !role.CanRead(roles.Reports) || r.Method == http.MethodPost && !role.CanChange(roles.Reports) {
			web.RenderError(w, r, http.StatusForbidden, "")
			return
		}
		next.ServeHTTP(w, r)
	}))
}

func mountReport(ctx context.Context, s *Services) error {
	h := report.NewHandler(report.HandlerConfig{
		Events:  report.StoreSource(s.Instance.Store),
		Options: func(ctx context.Context) (report.Options, error) { return ReportOptions(ctx, s.Instance) },
		Log:     s.Instance.Log,
	})
	s.Server.Mux.Handle("/admin/reports/legacy-auth", s.requireAdmin(h))
	c := &console.Console{Store: s.Instance.Store, Admin: s.Instance.Admin, BaseURL: s.Instance.Config.BaseURL, Log: s.Instance.Log, Now: time.Now}
	c.Mount(s.Server.Mux, func(h http.Handler) http.Handler { return s.Guard.Protect(signin.AppAdmin, h) })
	return nil
}

func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}
