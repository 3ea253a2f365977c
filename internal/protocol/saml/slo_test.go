package saml

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// followRedirect decodes and verifies an outbound HTTP-Redirect message signed by the IdP.
func followRedirect(t *testing.T, rec interface{ Result() *http.Response }, param string, idp testKey) (target string, el *etree.Element, relay string) {
	t.Helper()
	loc := rec.Result().Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		t.Fatalf("bad Location %q", loc)
	}
	m, err := decodeRedirect(u.RawQuery, param)
	if err != nil {
		t.Fatal(err)
	}
	if m.SigAlg != SigAlgRSASHA256 || idp.cert.CheckSignature(x509.SHA256WithRSA, m.Signed, m.Signature) != nil {
		t.Fatalf("IdP query signature does not verify (%s)", loc)
	}
	return u.Scheme + "://" + u.Host + u.Path, m.Root, m.RelayState
}

func TestSingleLogoutChain(t *testing.T) {
	_, spk, _ := keys(t)
	sp1 := testSP(true)
	other := ServiceProvider{EntityID: sp2, ACS: []Endpoint{{Binding: BindingPOST, Location: "https://wiki.example.com/acs"}},
		SLO: []Endpoint{{Binding: BindingRedirect, Location: sp2SLO}}, NameIDFormat: NameIDEmail}
	other.normalize()
	noSLO := ServiceProvider{EntityID: "https://noslo.example.com", ACS: []Endpoint{{Binding: BindingPOST, Location: "https://noslo.example.com/acs"}}}
	noSLO.normalize()
	e := newEnv(t, sp1, other, noSLO)
	e.signIn(t0, false)
	e.sessions.Apps = []string{"app:" + spEntity, "app:" + sp2, "app:https://noslo.example.com", "oidc-app"}

	req := `<samlp:LogoutRequest xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="_lo1" Version="2.0" IssueInstant="` +
		t0.Format(timeFormat) + `" Destination="` + idpBase + `/saml/slo"><saml:Issuer>` + spEntity + `</saml:Issuer><saml:NameID Format="` +
		NameIDPersistent + `">` + alice.ImmutableID + `</saml:NameID><samlp:SessionIndex>sess-1</samlp:SessionIndex></samlp:LogoutRequest>`
	rec := e.get("/saml/slo?" + redirectQuery("SAMLRequest", req, "sp-relay", spk.key))
	if rec.Code != http.StatusFound || e.sessions.Ended() != 1 {
		t.Fatalf("status %d ended %d: %s", rec.Code, e.sessions.Ended(), rec.Body)
	}
	// 1. LogoutRequest to the other SAML SP, with its own NameID (email).
	target, lr, chain := followRedirect(t, rec, "SAMLRequest", e.idp)
	if target != sp2SLO || !is(lr, NSProtocol, "LogoutRequest") {
		t.Fatalf("to %s: %s", target, lr.Tag)
	}
	if got := text(lr, "./NameID"); got != alice.Email {
		t.Errorf("NameID %q, want %q", got, alice.Email)
	}
	if got := text(lr, "./SessionIndex"); got != "sess-1" {
		t.Errorf("SessionIndex %q", got)
	}
	// 2. The SP answers; a LogoutResponse to some other request ID is refused.
	answer := func(irt string) string {
		return `<samlp:LogoutResponse xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="_ans` + irt + `" Version="2.0" IssueInstant="` +
			t0.Format(timeFormat) + `" InResponseTo="` + irt + `"><saml:Issuer>` + sp2 + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="` +
			StatusSuccess + `"/></samlp:Status></samlp:LogoutResponse>`
	}
	if bad := e.get("/saml/slo?" + redirectQuery("SAMLResponse", answer("_wrong"), chain, nil)); bad.Code != http.StatusBadRequest {
		t.Fatalf("mismatched LogoutResponse accepted: %d", bad.Code)
	}
	rec = e.get("/saml/slo?" + redirectQuery("SAMLResponse", answer(lr.SelectAttrValue("ID", "")), chain, nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("chain step: %d %s", rec.Code, rec.Body)
	}
	// 3. Final LogoutResponse to the initiator: PartialLogout (one SP had no SLO endpoint).
	target, resp, relay := followRedirect(t, rec, "SAMLResponse", e.idp)
	if target != spSLO || relay != "sp-relay" || resp.SelectAttrValue("InResponseTo", "") != "_lo1" {
		t.Fatalf("final: to %s relay %q irt %q", target, relay, resp.SelectAttrValue("InResponseTo", ""))
	}
	if got := attr(resp, "./Status/StatusCode/StatusCode", "Value"); got != StatusPartialLogout {
		t.Errorf("second-level status %q, want PartialLogout", got)
	}
}

// TestLogoutAppsAfterAnotherDoor: a session ended by an OpenID Connect client's logout
// request; its SAML SPs with single logout endpoints are told in turn through the browser,
// then the browser goes to the final URL; an SP without an endpoint and non-SAML
// applications are skipped, and with nothing to tell nothing is written.
func TestLogoutAppsAfterAnotherDoor(t *testing.T) {
	sp1 := testSP(true)
	other := ServiceProvider{EntityID: sp2, ACS: []Endpoint{{Binding: BindingPOST, Location: "https://wiki.example.com/acs"}},
		SLO: []Endpoint{{Binding: BindingRedirect, Location: sp2SLO}}, NameIDFormat: NameIDEmail}
	other.normalize()
	noSLO := ServiceProvider{EntityID: "https://noslo.example.com", ACS: []Endpoint{{Binding: BindingPOST, Location: "https://noslo.example.com/acs"}}}
	noSLO.normalize()
	e := newEnv(t, sp1, other, noSLO)
	const final = "https://rp.example.com/bye?state=s"

	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, idpBase+"/oidc/logout", nil)
	if e.h.LogoutApps(w, r, alice, []string{"app:https://noslo.example.com", "oidc-app"}, "_s1", final) || w.Code != http.StatusOK || w.Header().Get("Location") != "" {
		t.Fatalf("nothing to tell, yet: %d %s", w.Code, w.Header().Get("Location"))
	}
	w = httptest.NewRecorder()
	if !e.h.LogoutApps(w, r, alice, []string{"oidc-app", "app:" + sp2, "app:https://noslo.example.com"}, "_s1", final) {
		t.Fatal("the SP with a single logout endpoint was not told")
	}
	target, lr, chain := followRedirect(t, w, "SAMLRequest", e.idp)
	if target != sp2SLO || text(lr, "./NameID") != alice.Email || text(lr, "./SessionIndex") != "_s1" {
		t.Fatalf("to %s: NameID %q SessionIndex %q", target, text(lr, "./NameID"), text(lr, "./SessionIndex"))
	}
	answer := `<samlp:LogoutResponse xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="_ans9" Version="2.0" IssueInstant="` +
		t0.Format(timeFormat) + `" InResponseTo="` + lr.SelectAttrValue("ID", "") + `"><saml:Issuer>` + sp2 + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="` +
		StatusSuccess + `"/></samlp:Status></samlp:LogoutResponse>`
	rec := e.get("/saml/slo?" + redirectQuery("SAMLResponse", answer, chain, nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != final {
		t.Fatalf("end of the chain: %d %s", rec.Code, rec.Header().Get("Location"))
	}
}

func TestSingleLogoutPOSTSigned(t *testing.T) {
	_, spk, _ := keys(t)
	sp := testSP(true)
	sp.SLO = []Endpoint{{Binding: BindingPOST, Location: "https://sp.example.com/slo-post"}}
	e := newEnv(t, sp)
	e.sessions.Apps = []string{"app:" + spEntity}
	req := `<samlp:LogoutRequest xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="_lp1" Version="2.0" IssueInstant="` +
		t0.Format(timeFormat) + `" Destination="` + idpBase + `/saml/slo"><saml:Issuer>` + spEntity + `</saml:Issuer><saml:NameID>` + alice.ImmutableID + `</saml:NameID></samlp:LogoutRequest>`
	target, fields := postedForm(t, e.post("/saml/slo", url.Values{"SAMLRequest": {b64s(signXML(t, req, spk))}, "RelayState": {"r"}}))
	if target != "https://sp.example.com/slo-post" || fields["RelayState"] != "r" {
		t.Fatalf("target %q relay %q", target, fields["RelayState"])
	}
	raw, _ := base64.StdEncoding.DecodeString(fields["SAMLResponse"])
	m, err := decodePOST(base64.StdEncoding.EncodeToString(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	// verify with the IdP certificate as the SP would (enveloped signature)
	idpAsSP := ServiceProvider{Certificates: []string{e.idp.b64()}, WantAuthnRequestsSigned: true}
	el, signed, err := m.verify(idpAsSP, e.now)
	if err != nil || !signed {
		t.Fatalf("LogoutResponse signature: %v", err)
	}
	if attr(el, "./Status/StatusCode", "Value") != StatusSuccess || el.SelectAttrValue("InResponseTo", "") != "_lp1" {
		t.Fatalf("bad LogoutResponse")
	}
}

func TestMetadataEndpoint(t *testing.T) {
	e := newEnv(t, testSP(false))
	rec := e.get("/saml/metadata")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("status %d", rec.Code)
	}
	root, err := parseXML(rec.Body.Bytes(), maxMetadataXML)
	if err != nil {
		t.Fatal(err)
	}
	vroot, _, err := (&message{Binding: BindingPOST, Root: root}).verify(ServiceProvider{Certificates: []string{e.idp.b64()}}, e.now)
	if err != nil {
		t.Fatalf("metadata signature: %v", err)
	}
	d := vroot.FindElement("./IDPSSODescriptor")
	var certs []string
	for _, c := range d.FindElements("./KeyDescriptor[@use='signing']/KeyInfo/X509Data/X509Certificate") {
		certs = append(certs, c.Text())
	}
	if len(certs) != 2 || certs[0] != e.idp.b64() || certs[1] != e.other.b64() {
		t.Fatalf("signing certificates: want current and next, got %d", len(certs))
	}
	got := map[string]string{}
	for _, s := range d.FindElements("./SingleSignOnService") {
		got["sso "+s.SelectAttrValue("Binding", "")] = s.SelectAttrValue("Location", "")
	}
	for _, s := range d.FindElements("./SingleLogoutService") {
		got["slo "+s.SelectAttrValue("Binding", "")] = s.SelectAttrValue("Location", "")
	}
	for _, b := range []string{BindingRedirect, BindingPOST} {
		if got["sso "+b] != idpBase+"/saml/sso" || got["slo "+b] != idpBase+"/saml/slo" {
			t.Errorf("endpoints: %v", got)
		}
	}
	if vroot.SelectAttrValue("entityID", "") != idpBase+"/saml" || len(d.FindElements("./NameIDFormat")) != 3 {
		t.Error("entityID or NameIDFormats wrong")
	}
	if vu, _ := time.Parse(time.RFC3339, vroot.SelectAttrValue("validUntil", "")); !vu.After(e.now) {
		t.Error("validUntil not in the future")
	}
}

// Ensure outbound redirects inflate (used by followRedirect) with a real reader too.
func TestSignRedirectRoundTrip(t *testing.T) {
	idp, _, _ := keys(t)
	q, err := signRedirect([]byte("<x/>"), "SAMLRequest", "rs", idp.signing())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := url.ParseQuery(q)
	c, _ := base64.StdEncoding.DecodeString(v.Get("SAMLRequest"))
	out, _ := io.ReadAll(flate.NewReader(bytes.NewReader(c)))
	if string(out) != "<x/>" || !strings.HasPrefix(q, "SAMLRequest=") || v.Get("RelayState") != "rs" {
		t.Fatalf("round trip: %q %q", out, q)
	}
}
