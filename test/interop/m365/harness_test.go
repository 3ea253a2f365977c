// Package m365_test runs Sekisho's Microsoft 365 federation endpoints against independent
// clients: MSAL for Go and adal-node (WS-Trust via MEX, then the saml1_1-bearer grant at a
// fake Entra ID), and passport-wsfed-saml2 (the WS-Fed wresult).
package m365_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/m365test"
	"github.com/sekisho/sekisho/internal/protocol/wsfed"
	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/sessiontest"
	"github.com/sekisho/sekisho/test/interop/m365/fakeentra"
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
	entra   *fakeentra.Entra
	gate    *m365test.Gate
	sess    *sessiontest.Sessions
	key     saml11test.Key
	caPEM   string // both servers use httptest's certificate
	caFile  string
	client  *http.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{key: saml11test.NewKey(t, "sts.example.com"), gate: m365test.NewGate(accounts...), sess: &sessiontest.Sessions{}}
	s.gate.Networks = []string{"office"}
	s.sekisho = m365test.Server(t)
	s.entra = newFakeEntra(t, s)
	keys := saml11token.StaticKeys{Current: s.key.Signer}
	ws, err := wstrust.New(wstrust.Config{BaseURL: s.sekisho.URL, Domains: domains, Keys: keys, Gate: s.gate})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := wsfed.New(wsfed.Config{BaseURL: s.sekisho.URL, Domains: domains, Keys: keys, Gate: s.gate, Sessions: s.sess, ReplyURL: s.entra.URL + "/login.srf"})
	if err != nil {
		t.Fatal(err)
	}
	m365test.Mount(s.sekisho, ws, wf)
	s.client = s.sekisho.Client()
	s.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.sekisho.Certificate().Raw}))
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, []byte(s.caPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// newFakeEntra starts the fake Entra ID (fakeentra) trusting the stack's test key, plus a
// MEX offering only WS-Trust 2005, so ADAL exercises the 2005 endpoint.
func newFakeEntra(t *testing.T, st *stack) *fakeentra.Entra {
	e := fakeentra.New(t, fakeentra.Config{
		Domains: domains,
		Certs:   func(context.Context) ([]*x509.Certificate, error) { return []*x509.Certificate{st.key.Cert}, nil },
		User: func(_ context.Context, id string) (string, bool) {
			for _, a := range accounts {
				if a.User.ImmutableID != "" && a.User.ImmutableID == id {
					return a.User.UPN, true
				}
			}
			return "", false
		},
		MEXURL: st.sekisho.URL + wstrust.PathMEX,
	})
	e.Mux.HandleFunc("GET /mex2005", func(w http.ResponseWriter, r *http.Request) {
		resp, err := st.client.Get(st.sekisho.URL + wstrust.PathMEX)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		doc := readAll(resp)
		i := strings.Index(doc, `<wsdl:port name="UserNameWSTrustBinding_IWSTrust13Async"`)
		j := strings.Index(doc[i:], "</wsdl:port>") + i + len("</wsdl:port>")
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, doc[:i]+doc[j:])
	})
	return e
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
