// Package fakeentra is a stand-in for Entra ID in Microsoft 365 interop tests: it answers
// what MSAL and ADAL ask Entra for (OpenID configuration, user realm, the saml1_1-bearer
// token grant), starts WS-Federation sign-ins the way Entra redirects browsers to a
// federated IdP, and takes the wresult at /login.srf. Every assertion it receives is
// checked the way Entra checks it (M365.md §1–§2): signature by a certificate configured
// for the domain, issuer = the domain's issuer URI, audience urn:federation:MicrosoftOnline,
// validity window, NameIdentifier = the user's onPremisesImmutableId, matching UPN claim.
package fakeentra

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
)

// Grant is the OAuth grant MSAL and ADAL use with a federated IdP's assertion.
const Grant = "urn:ietf:params:oauth:grant-type:saml1_1-bearer"

// PasswordWAuth is the wauth Entra sends for prompt=login.
const PasswordWAuth = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"

// Config describes the tenant.
type Config struct {
	// Domains federated to the IdP (the issuer URI each assertion must carry).
	Domains m365.Domains
	// Certs returns the certificates Entra trusts for the IdP (signingCertificate and
	// nextSigningCertificate). Called per assertion, so a rollover can be followed.
	Certs func(ctx context.Context) ([]*x509.Certificate, error)
	// User returns the UPN of the Entra user whose onPremisesImmutableId is immutableID.
	User func(ctx context.Context, immutableID string) (upn string, ok bool)
	// MEXURL is the federation_metadata_url the user realm endpoint hands out.
	MEXURL string
	// PassiveURL is the IdP's passiveSignInUri (for /start).
	PassiveURL string
}

// Claims is what Entra took from an accepted assertion.
type Claims struct {
	UPN                    string    `json:"upn"`
	ImmutableID            string    `json:"immutableId"`
	Issuer                 string    `json:"issuer"`
	AuthnMethod            string    `json:"authnMethod"`
	AuthnInstant           time.Time `json:"authnInstant"`
	InsideCorporateNetwork string    `json:"insideCorporateNetwork"` // "" when absent
	AuthnMethodsReferences string    `json:"authnMethodsReferences"` // "" when absent
}

// Post is one form posted to /login.srf.
type Post struct {
	WA, WCtx, WResult string
	Assertion         string // the assertion element, serialised on its own
	Claims            Claims
	Err               error // why Entra refused it; nil when accepted
}

// Entra is a running fake.
type Entra struct {
	Srv *httptest.Server
	URL string
	Mux *http.ServeMux // add test-specific endpoints

	cfg Config

	mu         sync.Mutex
	mexURL     string
	assertions []string // saml1_1-bearer assertions received
	grants     []string
	posts      []Post
	wctx       map[string]bool // wctx values issued by /start, not yet answered
}

// New starts the fake on TLS (httptest's certificate) until t ends.
func New(t testing.TB, cfg Config) *Entra {
	t.Helper()
	e := &Entra{cfg: cfg, mexURL: cfg.MEXURL, Mux: http.NewServeMux(), wctx: map[string]bool{}}
	e.Mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", e.openIDConfig)
	e.Mux.HandleFunc("GET /common/UserRealm/{upn}", e.userRealm)
	e.Mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", e.token)
	e.Mux.HandleFunc("POST /{tenant}/oauth2/token", e.token)
	e.Mux.HandleFunc("GET /start", e.start)
	e.Mux.HandleFunc("POST /login.srf", e.loginSrf)
	e.Srv = httptest.NewUnstartedServer(e.Mux)
	e.Srv.StartTLS()
	t.Cleanup(e.Srv.Close)
	e.URL = e.Srv.URL
	return e
}

// SetMEX changes the federation_metadata_url of the user realm answer.
func (e *Entra) SetMEX(u string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mexURL = u
}

// Received returns the saml1_1-bearer assertions and the grant types received so far.
func (e *Entra) Received() (assertions, grants []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.assertions...), append([]string(nil), e.grants...)
}

// Posts returns the forms posted to /login.srf so far.
func (e *Entra) Posts() []Post {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Post(nil), e.posts...)
}

// StartURL is the page that sends a browser to the IdP as Entra does for a federated user
// (after the user typed the name at login.microsoftonline.com). fresh adds wfresh=0 and
// wauth=…/password (Entra's translation of prompt=login); extra is appended to the IdP URL.
func (e *Entra) StartURL(username string, fresh bool, extra url.Values) string {
	q := url.Values{"username": {username}}
	if fresh {
		q.Set("fresh", "1")
	}
	if len(extra) > 0 {
		q.Set("extra", extra.Encode())
	}
	return e.URL + "/start?" + q.Encode()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (e *Entra) openIDConfig(w http.ResponseWriter, r *http.Request) {
	base := e.URL + "/" + r.PathValue("tenant")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": base + "/v2.0", "authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"token_endpoint": base + "/oauth2/v2.0/token", "jwks_uri": base + "/discovery/v2.0/keys",
	})
}

func (e *Entra) userRealm(w http.ResponseWriter, r *http.Request) {
	upn := r.PathValue("upn")
	d, ok := e.cfg.Domains.Match(upn)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"ver": "1.0", "account_type": "Managed", "domain_name": "managed.test",
			"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": m365.Realm})
		return
	}
	e.mu.Lock()
	mex := e.mexURL
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ver": "1.0", "account_type": "Federated", "domain_name": d.Name,
		"federation_protocol": "WSTrust", "federation_metadata_url": mex,
		"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": m365.Realm})
}

func (e *Entra) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	grant := r.PostForm.Get("grant_type")
	e.mu.Lock()
	e.grants = append(e.grants, grant)
	e.mu.Unlock()
	if grant != Grant {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": grant})
		return
	}
	raw, err := base64.StdEncoding.DecodeString(r.PostForm.Get("assertion"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "assertion is not base64"})
		return
	}
	e.mu.Lock()
	e.assertions = append(e.assertions, string(raw))
	e.mu.Unlock()
	c, err := e.CheckAssertion(r.Context(), string(raw))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "access_token": "entra-token-for:" + c.UPN,
		"expires_in": 3600, "ext_expires_in": 3600, "scope": r.PostForm.Get("scope")})
}

// CheckAssertion validates a SAML 1.1 assertion as Entra does and returns its claims.
func (e *Entra) CheckAssertion(ctx context.Context, raw string) (Claims, error) {
	now := time.Now()
	certs, err := e.cfg.Certs(ctx)
	if err != nil {
		return Claims{}, fmt.Errorf("IdP certificates: %w", err)
	}
	var c saml11test.Claims
	err = errors.New("no IdP certificate configured")
	for _, cert := range certs {
		if c, err = saml11test.Validate(raw, cert, now); err == nil {
			break
		}
	}
	if err != nil {
		return Claims{}, err
	}
	upn, ok := e.cfg.User(ctx, c.NameID)
	switch {
	case c.NameID == "" || !ok:
		return Claims{}, fmt.Errorf("no user with onPremisesImmutableId %q", c.NameID)
	case c.NameIDFormat != saml11token.NameIDFormat || c.Confirmation != saml11token.BearerMethod:
		return Claims{}, fmt.Errorf("subject format %q / confirmation %q", c.NameIDFormat, c.Confirmation)
	case c.Audience != m365.Realm:
		return Claims{}, fmt.Errorf("audience %q", c.Audience)
	case now.Before(c.NotBefore) || !now.Before(c.NotOnOrAfter):
		return Claims{}, fmt.Errorf("outside validity window %v..%v", c.NotBefore, c.NotOnOrAfter)
	case !strings.EqualFold(c.Attributes[saml11token.ClaimsNS+"|UPN"], upn) || c.Attributes[saml11token.LiveIDNS+"|ImmutableID"] != c.NameID:
		return Claims{}, fmt.Errorf("UPN/ImmutableID attributes %v do not match %s", c.Attributes, upn)
	}
	d, ok := e.cfg.Domains.Match(upn)
	if !ok {
		return Claims{}, fmt.Errorf("%s is in no federated domain", upn)
	}
	if c.Issuer != d.IssuerURI {
		return Claims{}, fmt.Errorf("issuer %q is not the issuer URI %q of %s", c.Issuer, d.IssuerURI, d.Name)
	}
	return Claims{UPN: upn, ImmutableID: c.NameID, Issuer: c.Issuer, AuthnMethod: c.AuthnMethod, AuthnInstant: c.AuthnInstant,
		InsideCorporateNetwork: c.Attributes[saml11token.CorpNetNS+"|insidecorporatenetwork"],
		AuthnMethodsReferences: c.Attributes[saml11token.AuthnMethodsNS+"|authnmethodsreferences"]}, nil
}

// start redirects the browser to the IdP with the parameters Entra sends.
func (e *Entra) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	estsRequest := base64.RawURLEncoding.EncodeToString(b)
	wctx := "LoginOptions=3&estsredirect=2&estsrequest=" + estsRequest
	e.mu.Lock()
	e.wctx[wctx] = true
	e.mu.Unlock()
	p := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {m365.Realm}, "wctx": {wctx},
		"username": {q.Get("username")}, "client-request-id": {newUUID()}}
	if q.Get("fresh") == "1" {
		p.Set("wfresh", "0")
		p.Set("wauth", PasswordWAuth)
	}
	if extra, err := url.ParseQuery(q.Get("extra")); err == nil {
		for k, vs := range extra {
			p[k] = vs
		}
	}
	http.Redirect(w, r, e.cfg.PassiveURL+"?"+p.Encode(), http.StatusFound)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

var resultPage = template.Must(template.New("r").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>fake Entra</title></head><body>
<p id="status">{{.Status}}</p>
{{if .Error}}<pre id="error">{{.Error}}</pre>{{end}}
{{if .Claims}}<pre id="claims">{{.Claims}}</pre>{{end}}
</body></html>`))

// loginSrf takes the WS-Fed response and shows the outcome (#status, #claims or #error).
func (e *Entra) loginSrf(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p := Post{WA: r.PostForm.Get("wa"), WCtx: r.PostForm.Get("wctx"), WResult: r.PostForm.Get("wresult")}
	p.Assertion, p.Err = e.checkWResult(p)
	if p.Err == nil {
		p.Claims, p.Err = e.CheckAssertion(r.Context(), p.Assertion)
	}
	e.mu.Lock()
	e.posts = append(e.posts, p)
	e.mu.Unlock()
	data := struct{ Status, Error, Claims string }{Status: "signed-in"}
	code := http.StatusOK
	if p.Err != nil {
		data.Status, data.Error, code = "rejected", p.Err.Error(), http.StatusBadRequest
	} else {
		b, _ := json.Marshal(p.Claims)
		data.Claims = string(b)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = resultPage.Execute(w, data)
}

// checkWResult checks the envelope Entra expects around the assertion and returns the
// assertion serialised on its own.
func (e *Entra) checkWResult(p Post) (string, error) {
	if p.WA != "wsignin1.0" {
		return "", fmt.Errorf("wa %q", p.WA)
	}
	e.mu.Lock()
	known := e.wctx[p.WCtx]
	delete(e.wctx, p.WCtx)
	e.mu.Unlock()
	if !known {
		return "", fmt.Errorf("wctx %q was not issued by this Entra (or was answered already)", p.WCtx)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(p.WResult); err != nil {
		return "", fmt.Errorf("wresult: %w", err)
	}
	const trust = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	rstr := doc.Root()
	if rstr == nil || rstr.Tag != "RequestSecurityTokenResponse" || rstr.NamespaceURI() != trust {
		return "", errors.New("wresult is not a WS-Trust 2005 RequestSecurityTokenResponse")
	}
	text := func(path string) string {
		if el := rstr.FindElement(path); el != nil {
			return strings.TrimSpace(el.Text())
		}
		return ""
	}
	switch {
	case text("./AppliesTo/EndpointReference/Address") != m365.Realm:
		return "", fmt.Errorf("AppliesTo %q", text("./AppliesTo/EndpointReference/Address"))
	case text("./TokenType") != saml11token.TokenType:
		return "", fmt.Errorf("TokenType %q", text("./TokenType"))
	case text("./RequestType") != trust+"/Issue":
		return "", fmt.Errorf("RequestType %q", text("./RequestType"))
	}
	tok := rstr.FindElement("./RequestedSecurityToken")
	if tok == nil || len(tok.ChildElements()) != 1 {
		return "", errors.New("RequestedSecurityToken must hold exactly one assertion")
	}
	ad := etree.NewDocument()
	ad.SetRoot(tok.ChildElements()[0].Copy())
	return ad.WriteToString()
}

// MetadataCerts reads the signing certificates from WS-Federation metadata, as Entra does
// to follow a rollover (current and next).
func MetadataCerts(ctx context.Context, client *http.Client, metadataURL string) ([]*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch metadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch metadata: status %d, %v", resp.StatusCode, err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, fmt.Errorf("parse metadata: %w", err)
	}
	var out []*x509.Certificate
	for _, el := range doc.FindElements("//RoleDescriptor/KeyDescriptor[@use='signing']/KeyInfo/X509Data/X509Certificate") {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(el.Text()), ""))
		if err != nil {
			return nil, fmt.Errorf("metadata certificate: %w", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("metadata certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("metadata has no signing certificate")
	}
	return out, nil
}
