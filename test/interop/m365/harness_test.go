// Package m365_test runs Sekisho's Microsoft 365 federation endpoints against independent
// clients: MSAL for Go and adal-node (WS-Trust via MEX, then the saml1_1-bearer grant at a
// fake Entra ID), and passport-wsfed-saml2 (the WS-Fed wresult).
package m365_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/m365test"
	"github.com/sekisho/sekisho/internal/protocol/wsfed"
	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/saml11"
	"github.com/sekisho/sekisho/internal/saml11/saml11test"
	"github.com/sekisho/sekisho/internal/store"
)

var domains = m365.Domains{
	{Name: "example.com", IssuerURI: "http://example.com/adfs/services/trust/", EmitMFA: true, InsideNetworks: []string{"office"}},
	{Name: "contoso.test", IssuerURI: "http://contoso.test/adfs/services/trust/"},
}

var accounts = []m365test.Account{
	{User: store.User{ID: "u1", UPN: "alice@example.com", ImmutableID: "AAECAwQFBgcICQoLDA0ODw=="}, Password: "correct horse battery"},
	{User: store.User{ID: "u2", UPN: "bob@contoso.test", ImmutableID: "Ym9iLWltbXV0YWJsZQ=="}, Password: "pw-bob", MFA: true},
	{User: store.User{ID: "u3", UPN: "noid@example.com"}, Password: "pw"},
}

// stack is Sekisho (WS-Trust, WS-Fed) and a fake Entra ID, both on TLS.
type stack struct {
	sekisho *httptest.Server
	entra   *fakeEntra
	gate    *m365test.Gate
	sess    *m365test.Sessions
	key     saml11test.Key
	caPEM   string // both servers use httptest's certificate
	caFile  string
	client  *http.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{key: saml11test.NewKey(t, "sts.example.com"), gate: m365test.NewGate(accounts...), sess: &m365test.Sessions{}}
	s.gate.Networks = []string{"office"}
	s.sekisho = httptest.NewUnstartedServer(nil)
	s.sekisho.StartTLS()
	t.Cleanup(s.sekisho.Close)
	s.entra = newFakeEntra(t, s)
	keys := saml11.StaticKeys{Current: s.key.Signer}
	ws, err := wstrust.New(wstrust.Config{BaseURL: s.sekisho.URL, Domains: domains, Keys: keys, Gate: s.gate})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := wsfed.New(wsfed.Config{BaseURL: s.sekisho.URL, Domains: domains, Keys: keys, Gate: s.gate, Sessions: s.sess, ReplyURL: s.entra.srv.URL + "/login.srf"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ws.Register(mux)
	wf.Register(mux)
	s.sekisho.Config.Handler = mux
	s.client = s.sekisho.Client()
	s.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.sekisho.Certificate().Raw}))
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, []byte(s.caPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeEntra answers what MSAL and ADAL ask Entra ID for, and checks the SAML 1.1 assertion
// of the saml1_1-bearer grant the way Entra does: signature by the domain's certificate,
// issuer = the user's domain issuer URI, audience, validity window, NameIdentifier → user.
type fakeEntra struct {
	srv *httptest.Server
	st  *stack

	mu         sync.Mutex
	mexURL     string   // federation_metadata_url handed out by the user realm endpoint
	assertions []string // every assertion received, for the independent checks
	grants     []string // grant types received
}

func newFakeEntra(t *testing.T, st *stack) *fakeEntra {
	e := &fakeEntra{st: st}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := e.srv.URL + "/" + r.PathValue("tenant")
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": base + "/v2.0", "authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint": base + "/oauth2/v2.0/token", "jwks_uri": base + "/discovery/v2.0/keys",
		})
	})
	mux.HandleFunc("GET /common/UserRealm/{upn}", func(w http.ResponseWriter, r *http.Request) {
		upn := r.PathValue("upn")
		d, ok := domains.Match(upn)
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
			"federation_active_auth_url": st.sekisho.URL + wstrust.Path13,
			"cloud_instance_name":        "microsoftonline.com", "cloud_audience_urn": m365.Realm})
	})
	token := func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
			return
		}
		grant := r.PostForm.Get("grant_type")
		e.mu.Lock()
		e.grants = append(e.grants, grant)
		e.mu.Unlock()
		if grant != "urn:ietf:params:oauth:grant-type:saml1_1-bearer" {
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
		upn, err := e.checkAssertion(string(raw))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "access_token": "entra-token-for:" + upn,
			"expires_in": 3600, "ext_expires_in": 3600, "scope": r.PostForm.Get("scope")})
	}
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", token)
	mux.HandleFunc("POST /{tenant}/oauth2/token", token)
	// A MEX offering only WS-Trust 2005, so ADAL exercises the 2005 endpoint.
	mux.HandleFunc("GET /mex2005", func(w http.ResponseWriter, r *http.Request) {
		resp, err := st.client.Get(st.sekisho.URL + wstrust.PathMEX)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := fmt.Fprint(&b, readAll(resp)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		doc := b.String()
		i := strings.Index(doc, `<wsdl:port name="UserNameWSTrustBinding_IWSTrust13Async"`)
		j := strings.Index(doc[i:], "</wsdl:port>") + i + len("</wsdl:port>")
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, doc[:i]+doc[j:])
	})
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.mexURL = st.sekisho.URL + wstrust.PathMEX
	return e
}

func (e *fakeEntra) checkAssertion(raw string) (string, error) {
	now := time.Now()
	c, err := saml11test.Validate(raw, e.st.key.Cert, now)
	if err != nil {
		return "", err
	}
	var user *store.User
	for _, a := range accounts {
		if a.User.ImmutableID != "" && a.User.ImmutableID == c.NameID {
			u := a.User
			user = &u
		}
	}
	switch {
	case user == nil:
		return "", fmt.Errorf("no user with ImmutableID %q", c.NameID)
	case c.NameIDFormat != saml11.NameIDFormat || c.Confirmation != saml11.BearerMethod:
		return "", fmt.Errorf("subject format %q / confirmation %q", c.NameIDFormat, c.Confirmation)
	case c.Audience != m365.Realm:
		return "", fmt.Errorf("audience %q", c.Audience)
	case now.Before(c.NotBefore) || !now.Before(c.NotOnOrAfter):
		return "", fmt.Errorf("outside validity window %v..%v", c.NotBefore, c.NotOnOrAfter)
	case c.Attributes[saml11.ClaimsNS+"|UPN"] != user.UPN || c.Attributes[saml11.LiveIDNS+"|ImmutableID"] != user.ImmutableID:
		return "", fmt.Errorf("UPN/ImmutableID attributes %v do not match %s", c.Attributes, user.UPN)
	}
	d, _ := domains.Match(user.UPN)
	if c.Issuer != d.IssuerURI {
		return "", fmt.Errorf("issuer %q is not the issuer URI %q of %s", c.Issuer, d.IssuerURI, d.Name)
	}
	return user.UPN, nil
}

func (e *fakeEntra) received() (assertions, grants []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.assertions...), append([]string(nil), e.grants...)
}

func (e *fakeEntra) setMEX(u string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mexURL = u
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
