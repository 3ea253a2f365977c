package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

const (
	issuer   = "https://idp.example.com"
	callback = "https://rp.example.com/cb"
)

type fakeApps struct {
	mu   sync.Mutex
	rows map[string]store.Application // by client_id
}

func (f *fakeApps) GetApplicationByEntityID(_ context.Context, protocol, id string) (store.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.rows[id]
	if !ok || protocol != Protocol {
		return store.Application{}, store.ErrNotFound
	}
	return a, nil
}

func (f *fakeApps) put(t *testing.T, name string, c ClientConfig) {
	t.Helper()
	c, err := c.Complete()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(c)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows[c.ClientID] = store.Application{Name: name, Protocol: Protocol, EntityID: c.ClientID, Config: raw}
}

func (f *fakeApps) GetApplication(_ context.Context, name string) (store.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.rows {
		if a.Name == name {
			return a, nil
		}
	}
	return store.Application{}, store.ErrNotFound
}

func (f *fakeApps) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rows, id)
}

type fakeUsers map[string]store.User

func (f fakeUsers) GetUser(_ context.Context, id string) (store.User, error) {
	u, ok := f[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

type fakeReplay struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (f *fakeReplay) UseOnce(_ context.Context, key string, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen[key] {
		return false, nil
	}
	f.seen[key] = true
	return true, nil
}

// fakeTokens keeps refresh tokens and revoked access tokens in memory, with the store's
// semantics (storetest pins them down for the real backends).
type fakeTokens struct {
	mu       sync.Mutex
	refresh  map[string]store.RefreshToken // by hex hash
	revoked  map[string]time.Time
	failGet  error                       // when set, GetRefreshToken fails
	onRotate func()                      // when set, runs at the start of RotateRefreshToken (a concurrent use)
	devices  map[string]store.DeviceCode // by hash
}

func newFakeTokens() *fakeTokens {
	return &fakeTokens{refresh: map[string]store.RefreshToken{}, revoked: map[string]time.Time{}, devices: map[string]store.DeviceCode{}}
}

func (f *fakeTokens) CreateDeviceCode(_ context.Context, d store.DeviceCode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.devices {
		if x.UserCode == d.UserCode && x.ExpiresAt.After(d.CreatedAt) {
			return store.ErrConflict
		}
	}
	f.devices[string(d.Hash)] = d
	return nil
}

func (f *fakeTokens) GetDeviceCodeByUserCode(_ context.Context, code string) (store.DeviceCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.devices {
		if x.UserCode == code {
			return x, nil
		}
	}
	return store.DeviceCode{}, store.ErrNotFound
}

func (f *fakeTokens) UpdateDeviceCode(_ context.Context, hash []byte, fn func(store.DeviceCode) (store.DeviceCode, error)) (store.DeviceCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.devices[string(hash)]
	if !ok {
		return old, store.ErrNotFound
	}
	x, err := fn(old)
	if err != nil {
		return x, err
	}
	f.devices[string(hash)] = x
	return x, nil
}

func (f *fakeTokens) CreateRefreshToken(_ context.Context, t store.RefreshToken) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.refresh[string(t.Hash)]; ok {
		return store.ErrConflict
	}
	if t.State == "" {
		t.State = store.RefreshActive
	}
	f.refresh[string(t.Hash)] = t
	return nil
}

func (f *fakeTokens) GetRefreshToken(_ context.Context, hash []byte) (store.RefreshToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failGet != nil {
		return store.RefreshToken{}, f.failGet
	}
	t, ok := f.refresh[string(hash)]
	if !ok {
		return t, store.ErrNotFound
	}
	return t, nil
}

func (f *fakeTokens) RotateRefreshToken(_ context.Context, oldHash []byte, next store.RefreshToken) error {
	if hook := f.onRotate; hook != nil {
		f.onRotate = nil
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.refresh[string(oldHash)]
	if !ok || old.State != store.RefreshActive || old.FamilyID != next.FamilyID {
		return store.ErrNotFound
	}
	old.State, old.UsedAt = store.RefreshRotated, next.CreatedAt
	f.refresh[string(oldHash)] = old
	next.State = store.RefreshActive
	f.refresh[string(next.Hash)] = next
	return nil
}

func (f *fakeTokens) RevokeRefreshFamily(_ context.Context, family string, at time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for k, t := range f.refresh {
		if t.FamilyID == family && t.State != store.RefreshRevoked {
			t.State = store.RefreshRevoked
			if t.UsedAt.IsZero() {
				t.UsedAt = at
			}
			f.refresh[k] = t
			n++
		}
	}
	return n, nil
}

func (f *fakeTokens) RefreshFamilyLive(_ context.Context, family string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	live := false
	for _, t := range f.refresh {
		if t.FamilyID == family {
			if t.State == store.RefreshRevoked {
				return false, nil
			}
			live = live || t.State == store.RefreshActive
		}
	}
	return live, nil
}

func (f *fakeTokens) RevokeAccessToken(_ context.Context, id, _ string, _, exp time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.revoked[id]; !ok {
		f.revoked[id] = exp
	}
	return nil
}

func (f *fakeTokens) AccessTokenRevoked(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.revoked[id]
	return ok, nil
}

// family returns the tokens of a family by state.
func (f *fakeTokens) family(id string) map[store.RefreshTokenState]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[store.RefreshTokenState]int{}
	for _, t := range f.refresh {
		if t.FamilyID == id {
			out[t.State]++
		}
	}
	return out
}

type fakeKeys struct{ ks []keys.Key }

func (f *fakeKeys) Keys(_ context.Context, purpose string) ([]keys.Key, error) {
	return keysOfPurpose(f.ks, purpose), nil
}

// fakeSessions has the browser signed in when sess is set; otherwise it sends it to /login.
type fakeSessions struct {
	sess     *signin.Session
	requires []signin.SessionOptions
	ended    int
	apps     []string // what End returns
}

func (f *fakeSessions) Require(w http.ResponseWriter, r *http.Request, o signin.SessionOptions) (*signin.Session, bool) {
	f.requires = append(f.requires, o)
	if f.sess == nil || o.ForceAuthn && f.sess.AuthnInstant.Before(time.Now().Add(-time.Minute)) {
		http.Redirect(w, r, "/login?return_to="+url.QueryEscape(o.ReturnTo), http.StatusSeeOther)
		return nil, false
	}
	return f.sess, true
}

// Silent implements signin.SilentSessions as the real one does: no session is login_required,
// a session without the second factor asked for is interaction_required.
func (f *fakeSessions) Silent(_ *http.Request, o signin.SessionOptions) (*signin.Session, string) {
	f.requires = append(f.requires, o)
	switch {
	case f.sess == nil || o.ForceAuthn:
		return nil, signin.LoginRequired
	case o.RequireMFA && !f.sess.MFA:
		return nil, signin.InteractionRequired
	}
	return f.sess, ""
}

func (f *fakeSessions) End(context.Context, http.ResponseWriter, *http.Request) ([]string, error) {
	f.ended++
	f.sess = nil
	return f.apps, nil
}

type fakeGate struct {
	out      signin.Outcome
	attempts []signin.Attempt
	n        int
	// judge, when set, decides instead of out (a fresh record ID per call).
	judge func(a signin.Attempt) signin.Outcome
}

func (f *fakeGate) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	f.attempts = append(f.attempts, a)
	f.n++
	if f.judge != nil {
		o := f.judge(a)
		if o.EventID == "" {
			o.EventID = fmt.Sprintf("EV%d", f.n)
		}
		return o, nil
	}
	return f.out, nil
}

type fakeAudit struct {
	mu      sync.Mutex
	records []string // "app|user|reason"
}

func (f *fakeAudit) RecordRejected(_ context.Context, _ *http.Request, app, user, reason string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, app+"|"+user+"|"+reason)
	return fmt.Sprintf("ref-%d", len(f.records))
}

func (f *fakeAudit) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.records) == 0 {
		return ""
	}
	return f.records[len(f.records)-1]
}

var (
	keysOnce sync.Once
	testKeys []keys.Key // retired, current, next
)

func tokenKeysForTest(t *testing.T) []keys.Key {
	t.Helper()
	keysOnce.Do(func() {
		for i, st := range []store.KeyState{store.KeyRetired, store.KeyCurrent, store.KeyNext} {
			priv, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "test"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
			if err != nil {
				panic(err)
			}
			cert, _ := x509.ParseCertificate(der)
			testKeys = append(testKeys, keys.Key{ID: fmt.Sprintf("key-%s", st), State: st, Signer: priv, Cert: cert})
		}
	})
	return testKeys
}

// harness is a provider on fakes: a confidential client "rp" (secret "s3cret…" hashed), a
// public client "app", an active user u1 with a session, and a gate that allows.
type harness struct {
	t         *testing.T
	h         *Handler
	mux       *http.ServeMux
	apps      *fakeApps
	users     fakeUsers
	sessions  *fakeSessions
	gate      *fakeGate
	audit     *fakeAudit
	tokens    *fakeTokens
	secret    string
	rsecret   string // the secret of "rrp", a client with refresh tokens
	svcSecret string // the secret of "svc", a client_credentials client
	now       time.Time
	denied    []string // references shown on denial pages
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	hs := &harness{t: t, apps: &fakeApps{rows: map[string]store.Application{}}, audit: &fakeAudit{}, now: time.Now(),
		users: fakeUsers{"u1": {ID: "u1", UPN: "alice@example.com", DisplayName: "Alice", Email: "alice@example.com",
			Status: store.UserActive, Groups: []string{"staff"}}}}
	hs.sessions = &fakeSessions{sess: &signin.Session{ID: "_sess1", UserID: "u1", AuthnInstant: time.Now(), Methods: []string{"pwd"}}}
	hs.gate = &fakeGate{out: signin.Outcome{Allowed: true, Decision: signin.Allow, EventID: "EV1", User: hs.users["u1"]}}
	secrets, err := NewSecretHasher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	var hash []byte
	hs.secret, hash, _ = secrets.New("rp")
	hs.apps.put(t, "relying-party", ClientConfig{ClientID: "rp", RedirectURIs: []string{callback}, SecretHash: hash})
	hs.apps.put(t, "native", ClientConfig{ClientID: "app", Type: Public, RedirectURIs: []string{"com.example.app:/cb"},
		Scopes: []string{"openid", "email"}})
	// With refresh tokens: a confidential "rrp" and a public "rapp".
	var rhash, shash []byte
	hs.rsecret, rhash, _ = secrets.New("rrp")
	hs.apps.put(t, "refreshing-party", ClientConfig{ClientID: "rrp", RedirectURIs: []string{callback}, SecretHash: rhash,
		Grants: []string{GrantAuthorizationCode, GrantRefreshToken}})
	hs.apps.put(t, "refreshing-native", ClientConfig{ClientID: "rapp", Type: Public, RedirectURIs: []string{"com.example.app:/cb"},
		Grants: []string{GrantAuthorizationCode, GrantRefreshToken}, Scopes: []string{"openid", "email"}})
	// A service acting in its own name.
	hs.svcSecret, shash, _ = secrets.New("svc")
	hs.apps.put(t, "batch", ClientConfig{ClientID: "svc", SecretHash: shash, Grants: []string{GrantClientCredentials},
		Scopes: []string{"openid", "email"}})
	hs.tokens = newFakeTokens()
	hs.h, err = NewHandler(HandlerConfig{Issuer: issuer, Apps: hs.apps, Users: hs.users, Keys: &fakeKeys{tokenKeysForTest(t)},
		Secrets: secrets, Sessions: hs.sessions, Gate: hs.gate, Replay: &fakeReplay{seen: map[string]bool{}}, Audit: hs.audit,
		Tokens: hs.tokens,
		Derive: func(l string) []byte { s := sha256.Sum256([]byte(l)); return s[:] },
		Denied: func(w http.ResponseWriter, _ *http.Request, status int, _, ref string) {
			hs.denied = append(hs.denied, ref)
			w.WriteHeader(status)
		},
		Clock: func() time.Time { return hs.now }})
	if err != nil {
		t.Fatal(err)
	}
	hs.mux = http.NewServeMux()
	for _, rt := range hs.h.Routes() {
		hs.mux.HandleFunc(rt.Pattern, rt.Handler)
	}
	return hs
}

func (hs *harness) get(path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	hs.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, issuer+path, nil))
	return rec
}

func (hs *harness) post(path string, form url.Values, basic ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	rec := httptest.NewRecorder()
	hs.mux.ServeHTTP(rec, req)
	return rec
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authzQuery(client, redirect, challenge string, extra ...string) string {
	q := url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid email profile groups"},
		"state": {"xyz"}, "nonce": {"n0"}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			q.Del(extra[i])
		} else {
			q.Set(extra[i], extra[i+1])
		}
	}
	return AuthorizePath + "?" + q.Encode()
}

// code runs an authorization that the gate allows and returns the code.
func (hs *harness) code(t *testing.T, client, redirect, challenge string) string {
	t.Helper()
	rec := hs.get(authzQuery(client, redirect, challenge))
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusFound || !strings.HasPrefix(loc, redirect+"?") {
		t.Fatalf("authorize: %d %s %s", rec.Code, loc, rec.Body.String())
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("code") == "" {
		t.Fatalf("no code: %s", loc)
	}
	return u.Query().Get("code")
}
