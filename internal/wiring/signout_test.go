package wiring_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/protocol/saml"
)

// TestSignOutRunsSAMLSingleLogout: Sekisho's own sign-out button ends the session and sends
// the browser through the single logout endpoints of the session's SAML applications (a
// signed LogoutRequest with the user's NameID and the session's SessionIndex), ending at the
// signed-out page; a session without SAML applications is simply signed out.
func TestSignOutRunsSAMLSingleLogout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const slo = "https://wiki.example.com/Shibboleth.sso/SLO/Redirect"
	sp := saml.ServiceProvider{EntityID: "https://wiki.example.com/shibboleth",
		ACS: []saml.Endpoint{{Binding: saml.BindingPOST, Location: "https://wiki.example.com/Shibboleth.sso/SAML2/POST", IsDefault: true}},
		SLO: []saml.Endpoint{{Binding: saml.BindingRedirect, Location: slo}}}
	if _, err := e.svc.Instance.Admin.AddApplication(ctx, admin.Actor{Name: "os:test", Via: "cli"}, "wiki", sp); err != nil {
		t.Fatal(err)
	}
	alice, err := e.svc.Instance.Store.GetUserByUPN(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	signOut := func(apps ...string) *http.Response {
		t.Helper()
		rec := httptest.NewRecorder()
		s, err := e.svc.Sessions.Create(ctx, rec, alice, []string{"pwd"}, false, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range apps {
			if err := e.svc.Sessions.Grant(ctx, s.ID, a, netip.MustParseAddr("127.0.0.1")); err != nil {
				t.Fatal(err)
			}
		}
		e.client.Jar.SetCookies(mustURL(e.ts.URL), rec.Result().Cookies())
		_, body := e.get(t, "/login")
		m := csrfRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no CSRF token")
		}
		return e.post(t, "/logout", url.Values{"csrf": {m[1]}})
	}
	resp := signOut("wiki")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), slo+"?") || loc.Query().Get("SAMLRequest") == "" ||
		loc.Query().Get("Signature") == "" {
		t.Fatalf("sign-out with a SAML application: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := e.get(t, "/account/password"); code != http.StatusSeeOther {
		t.Fatalf("the session survived the sign-out: %d", code)
	}
	if resp := signOut(); resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("sign-out without SAML applications: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
