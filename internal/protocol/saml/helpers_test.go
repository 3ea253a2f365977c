package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"html"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/sessiontest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// Test keys are generated at test time (never committed) and shared by the whole binary.
type testKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	keysOnce sync.Once
	keyPool  [3]testKey // 0 = IdP, 1 = SP, 2 = attacker / next
)

func keys(t testing.TB) (idp, sp, other testKey) {
	if t != nil {
		t.Helper()
	}
	keysOnce.Do(func() {
		for i := range keyPool {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: fmt.Sprintf("test-%d", i)},
				NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			keyPool[i] = testKey{k, c}
		}
	})
	return keyPool[0], keyPool[1], keyPool[2]
}

func (k testKey) signing() SigningKey {
	return SigningKey{Signer: k.key, Chain: []*x509.Certificate{k.cert}}
}
func (k testKey) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw})
}
func (k testKey) b64() string { return base64.StdEncoding.EncodeToString(k.cert.Raw) }

const (
	spEntity = "https://sp.example.com/shibboleth"
	spACS    = "https://sp.example.com/Shibboleth.sso/SAML2/POST"
	spACS2   = "https://sp.example.com/alt/acs"
	spSLO    = "https://sp.example.com/Shibboleth.sso/SLO/Redirect"
	sp2      = "https://wiki.example.com/sp"
	sp2SLO   = "https://wiki.example.com/slo"
	idpBase  = "https://idp.example.com"
)

func testSP(signed bool) ServiceProvider {
	_, spk, _ := keys(nil)
	sp := ServiceProvider{
		EntityID: spEntity,
		ACS: []Endpoint{{Binding: BindingPOST, Location: spACS, Index: 1, IsDefault: true},
			{Binding: BindingPOST, Location: spACS2, Index: 2}},
		SLO:          []Endpoint{{Binding: BindingRedirect, Location: spSLO}},
		NameIDFormat: NameIDPersistent,
		Attributes: []AttributeMapping{{Name: "mail", Source: SourceEmail},
			{Name: "groups", Source: SourceGroups}, {Name: "displayName", Source: SourceDisplayName}},
		Certificates:            []string{spk.b64()},
		WantAuthnRequestsSigned: signed,
		AllowIdPInitiated:       true,
	}
	sp.normalize()
	return sp
}

// fakeSPs is an in-memory SPLookup.
type fakeSPs struct{ byEntity map[string]ServiceProvider }

func (f *fakeSPs) LookupSP(_ context.Context, id string) (ServiceProvider, string, error) {
	sp, ok := f.byEntity[id]
	if !ok {
		return ServiceProvider{}, "", store.ErrNotFound
	}
	return sp, "app:" + id, nil
}
func (f *fakeSPs) LookupSPByApp(_ context.Context, app string) (ServiceProvider, error) {
	sp, ok := f.byEntity[strings.TrimPrefix(app, "app:")]
	if !ok || !strings.HasPrefix(app, "app:") {
		return ServiceProvider{}, store.ErrNotFound
	}
	return sp, nil
}

var alice = store.User{ID: "u1", UPN: "alice@example.com", Email: "alice.mail@example.com", DisplayName: "Alice 有栖",
	ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", Groups: []string{"staff", "vpn"}}

type fakeGate struct {
	mu       sync.Mutex
	deny     bool
	mfa      bool
	attempts []signin.Attempt
}

func (g *fakeGate) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.attempts = append(g.attempts, a)
	if g.deny {
		return signin.Outcome{Allowed: false, Decision: signin.Deny, Reason: signin.ReasonPolicy, Message: "Outside office network", EventID: "EVT-42"}, nil
	}
	return signin.Outcome{Allowed: true, Decision: "allow", User: alice, MFA: g.mfa, AuthnInstant: a.Session.AuthnInstant, EventID: "EVT-1"}, nil
}

type memReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (m *memReplay) UseOnce(_ context.Context, k string, exp time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	if _, ok := m.seen[k]; ok {
		return false, nil
	}
	m.seen[k] = exp
	return true, nil
}

type auditRec struct {
	mu      sync.Mutex
	reasons []string
	sps     []string
}

func (a *auditRec) RecordRejected(_ context.Context, _ *http.Request, sp, reason string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reasons = append(a.reasons, reason)
	a.sps = append(a.sps, sp)
	return fmt.Sprintf("ref-%d", len(a.reasons))
}

type fakeDir struct{}

func (fakeDir) GetUserByUPN(_ context.Context, upn string) (store.User, error) {
	if strings.EqualFold(upn, alice.UPN) {
		return alice, nil
	}
	return store.User{}, store.ErrNotFound
}
func (fakeDir) GetUserByImmutableID(_ context.Context, id string) (store.User, error) {
	if id == alice.ImmutableID {
		return alice, nil
	}
	return store.User{}, store.ErrNotFound
}

// env is one IdP under test with its fakes.
type env struct {
	t        testing.TB
	h        *Handler
	now      time.Time
	sps      *fakeSPs
	sessions *sessiontest.Sessions
	gate     *fakeGate
	replay   *memReplay
	audit    *auditRec
	idp, sp  testKey
	other    testKey
}

func newEnv(t testing.TB, sps ...ServiceProvider) *env {
	t.Helper()
	idp, spk, other := keys(t)
	e := &env{t: t, now: t0, sps: &fakeSPs{byEntity: map[string]ServiceProvider{}}, sessions: &sessiontest.Sessions{},
		gate: &fakeGate{}, replay: &memReplay{}, audit: &auditRec{}, idp: idp, sp: spk, other: other}
	e.sessions.Now = func() time.Time { return e.now }
	for _, sp := range sps {
		e.sps.byEntity[sp.EntityID] = sp
	}
	h, err := NewHandler(HandlerConfig{
		IdP: IdPConfig{EntityID: idpBase + "/saml", BaseURL: idpBase}, SPs: e.sps,
		Keys: StaticKeys{Key: idp.signing(), NextCert: other.cert}, Sessions: e.sessions, Gate: e.gate,
		Replay: e.replay, Audit: e.audit, Directory: fakeDir{}, StateKey: bytes.Repeat([]byte{7}, 32),
		Clock:  func() time.Time { return e.now },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// signIn gives the browser a session of alice's, authenticated at.
func (e *env) signIn(at time.Time, mfa bool) {
	e.sessions.Current = &signin.Session{ID: "sess-1", UserID: "u1", AuthnInstant: at, MFA: mfa}
}

func (e *env) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *env) get(target string) *httptest.ResponseRecorder {
	return e.do(httptest.NewRequest(http.MethodGet, target, nil))
}

func (e *env) post(target string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(r)
}

// authnRequest is an SP-side AuthnRequest template.
type authnReq struct {
	ID, Issuer, Destination, ACS, Extra, Inner string
	Instant                                    time.Time
	ACSIndex                                   int
	Force                                      bool
}

func (a authnReq) xml() string {
	if a.ID == "" {
		a.ID = "_req" + fmt.Sprint(time.Now().UnixNano())
	}
	if a.Issuer == "" {
		a.Issuer = spEntity
	}
	if a.Instant.IsZero() {
		a.Instant = t0
	}
	attrs := fmt.Sprintf(`ID="%s" Version="2.0" IssueInstant="%s"`, a.ID, a.Instant.Format(timeFormat))
	if a.Destination != "" {
		attrs += fmt.Sprintf(` Destination="%s"`, a.Destination)
	}
	if a.ACS != "" {
		attrs += fmt.Sprintf(` AssertionConsumerServiceURL="%s" ProtocolBinding="%s"`, a.ACS, BindingPOST)
	}
	if a.ACSIndex > 0 {
		attrs += fmt.Sprintf(` AssertionConsumerServiceIndex="%d"`, a.ACSIndex)
	}
	if a.Force {
		attrs += ` ForceAuthn="true"`
	}
	return fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="%s" xmlns:saml="%s" %s %s><saml:Issuer>%s</saml:Issuer>%s<samlp:NameIDPolicy Format="%s" AllowCreate="true"/></samlp:AuthnRequest>`,
		NSProtocol, NSAssertion, attrs, a.Extra, a.Issuer, a.Inner, NameIDPersistent)
}

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// redirectQuery encodes xml for HTTP-Redirect, signed with k when k is non-nil.
func redirectQuery(param, xml, relay string, k *rsa.PrivateKey) string {
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflate([]byte(xml))))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if k != nil {
		q += "&SigAlg=" + url.QueryEscape(SigAlgRSASHA256)
		h := sha256.Sum256([]byte(q))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	return q
}

// signXML returns xml with an enveloped signature after its Issuer (as an SP would).
func signXML(t testing.TB, xml string, k testKey) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	el, err := signEnveloped(doc.Root(), k.signing(), 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := serialize(el)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	formAction = regexp.MustCompile(`<form id="f" method="post" action="([^"]*)">`)
	formField  = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// postedForm extracts the auto-post form (target and fields) from a response page.
func postedForm(t testing.TB, rec *httptest.ResponseRecorder) (string, map[string]string) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200 form: %s", rec.Code, rec.Body.String())
	}
	body := rec.Body.String()
	m := formAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form in %s", body)
	}
	fields := map[string]string{}
	for _, f := range formField.FindAllStringSubmatch(body, -1) {
		fields[f[1]] = html.UnescapeString(f[2])
	}
	return html.UnescapeString(m[1]), fields
}

// verifiedAssertion checks the Response's assertion signature with the IdP certificate and
// returns the verified assertion element.
func verifiedAssertion(t testing.TB, xmlBytes []byte, idp testKey, now time.Time) (*etree.Element, *etree.Element) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xmlBytes); err != nil {
		t.Fatal(err)
	}
	resp := doc.Root()
	a := resp.FindElement("./Assertion")
	if a == nil {
		t.Fatalf("no assertion in %s", xmlBytes)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{idp.cert}})
	vc.Clock = dsig.NewFakeClockAt(now)
	va, err := vc.Validate(a)
	if err != nil {
		t.Fatalf("assertion signature: %v\n%s", err, xmlBytes)
	}
	return resp, va
}

func text(el *etree.Element, path string) string {
	f := el.FindElement(path)
	if f == nil {
		return ""
	}
	return f.Text()
}

func attr(el *etree.Element, path, name string) string {
	f := el.FindElement(path)
	if f == nil {
		return ""
	}
	return f.SelectAttrValue(name, "")
}
