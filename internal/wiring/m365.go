package wiring

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/wsfed"
	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// m365Mount serves the WS-Fed and WS-Trust endpoints for the federated domains in the store.
// The domain list is re-read at most every ReloadEvery, so a `sekisho m365 domain add` on
// any node is in force on every node without a restart.
type m365Mount struct {
	s           *Services
	keys        *tokenKeys
	ReloadEvery time.Duration
	// ReplyURL overrides Entra's login.srf (tests point it at a fake Entra).
	ReplyURL string

	mu      sync.Mutex   // serialises reloads (held across the store read) and guards last
	checked atomic.Int64 // when the last reload began (Unix nanoseconds)
	// reloading is set while a request re-reads a stale list.
	reloading atomic.Bool
	last      string
	cur       atomic.Pointer[http.ServeMux]
	domains   atomic.Pointer[m365.Domains]
}

func mountM365(ctx context.Context, s *Services) error {
	m := &m365Mount{s: s, keys: newTokenKeys(s.Instance.Keys), ReloadEvery: 10 * time.Second}
	s.M365 = m
	s.eligible = append(s.eligible, m.eligible)
	if err := m.reload(ctx); err != nil {
		return err
	}
	for _, p := range []string{"/adfs/", wsfed.PathMetadata} {
		s.Server.Mux.Handle(p, m)
	}
	return nil
}

func (m *m365Mount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A stale list is re-read by the one request that finds it stale; the others are served
	// by the list in force meanwhile and never wait for the store, so a slow database holds
	// up that one request (within its deadline) instead of every Microsoft 365 sign-in.
	if time.Since(time.Unix(0, m.checked.Load())) > m.ReloadEvery && m.reloading.CompareAndSwap(false, true) {
		err := m.reload(r.Context())
		m.reloading.Store(false)
		if err != nil {
			m.s.Instance.Log.ErrorContext(r.Context(), "reload Microsoft 365 domains", "err", err)
		}
	}
	mux := m.cur.Load()
	if mux == nil {
		http.Error(w, "No Microsoft 365 domain is federated to this Sekisho (sekisho m365 domain add).", http.StatusNotFound)
		return
	}
	mux.ServeHTTP(w, r)
}

// eligible is the gate's Eligible hook for the WS-Fed and WS-Trust adapters: m365's one
// eligibility rule, run before the record is written so that the sign-in log names the true
// reason (the adapters run it again after the gate as a backstop).
func (m *m365Mount) eligible(_ context.Context, a signin.Attempt, u store.User) signin.Reason {
	method := m365.MethodPassive
	switch a.Protocol {
	case "wsfed":
	case "wstrust":
		method = m365.MethodActive
	default:
		return ""
	}
	ds := m.domains.Load()
	if ds == nil {
		return ""
	}
	_, reason, _ := ds.Eligible(u, a.Application, method)
	return reason
}

// Reload forces the domain list to be read again (after a change made in-process).
func (m *m365Mount) Reload(ctx context.Context) error {
	m.mu.Lock()
	m.last = ""
	m.mu.Unlock()
	return m.reload(ctx)
}

// SetReplyURL points the WS-Fed response at another login.srf (tests use a fake Entra).
func (m *m365Mount) SetReplyURL(ctx context.Context, u string) error {
	m.mu.Lock()
	m.ReplyURL = u
	m.mu.Unlock()
	return m.Reload(ctx)
}

func (m *m365Mount) reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checked.Store(time.Now().UnixNano())
	ds, err := m365.LoadDomains(ctx, m.s.Instance.Store)
	if err != nil {
		return err
	}
	sig, _ := json.Marshal(ds)
	if string(sig) == m.last && m.cur.Load() != nil {
		return nil
	}
	if len(ds) == 0 {
		m.cur.Store(nil)
		m.domains.Store(nil)
		m.last = string(sig)
		return nil
	}
	in := m.s.Instance
	domains := m365.Plain(ds)
	reject := func(ctx context.Context, rj m365.Rejection) string {
		if rj.EventID != "" {
			in.Log.WarnContext(ctx, "Microsoft 365 sign-in refused after the gate", "event", rj.EventID, "reason", rj.Reason, "detail", rj.Detail)
			return rj.EventID
		}
		// The refused request itself: the record resolves the real client (trusted proxies,
		// Exchange Online's forwarded address) as the gate does for every other record.
		return m.s.Gate.RecordRejectedFor(ctx, rj.Request, rj.Protocol, m365.DefaultApplication, rj.Username, string(rj.Reason)+": "+rj.Detail)
	}
	wf, err := wsfed.New(wsfed.Config{BaseURL: in.Config.BaseURL, Domains: domains, Keys: m.keys, Gate: m.s.Gate,
		Sessions: m.s.Sessions, ReplyURL: m.ReplyURL, ClockSkew: in.Config.SAML.ClockSkew.D(), Logger: in.Log, OnReject: reject})
	if err != nil {
		return err
	}
	wt, err := wstrust.New(wstrust.Config{BaseURL: in.Config.BaseURL, Domains: domains, Keys: m.keys, Gate: m.s.Gate,
		Logger: in.Log, OnReject: reject})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	wf.Register(mux)
	wt.Register(mux)
	m.cur.Store(mux)
	m.domains.Store(&domains)
	m.last = string(sig)
	in.Log.InfoContext(ctx, "Microsoft 365 domains loaded", "count", len(ds))
	return nil
}
