package saml

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// wrap puts inner (a complete, possibly signed request) inside an attacker's request.
func wrap(rootID, acs, inner string) string {
	return `<samlp:AuthnRequest xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="` + rootID +
		`" Version="2.0" IssueInstant="` + t0.Format(timeFormat) + `" Destination="` + idpBase + `/saml/sso" AssertionConsumerServiceURL="` + acs +
		`"><saml:Issuer>` + spEntity + `</saml:Issuer><samlp:Extensions>` + inner + `</samlp:Extensions></samlp:AuthnRequest>`
}

func sigOf(s string) string {
	i, j := strings.Index(s, "<ds:Signature"), strings.Index(s, "</ds:Signature>")
	return s[i : j+len("</ds:Signature>")]
}

func stripDecl(s string) string {
	if i := strings.Index(s, "?>"); strings.HasPrefix(s, "<?xml") && i > 0 {
		return s[i+2:]
	}
	return s
}

func TestAuthnRequestRejected(t *testing.T) {
	_, spk, other := keys(t)
	dest := idpBase + "/saml/sso"
	good := func(id string) string { return authnReq{ID: id, Destination: dest}.xml() }
	signedGood := signXML(t, good("_sig1"), spk)
	bomb := base64.StdEncoding.EncodeToString(deflate(bytes.Repeat([]byte("A"), 20<<20)))
	// A request signed by the SP, then modified.
	evilACS := strings.Replace(signedGood, `Destination="`, `AssertionConsumerServiceURL="https://evil.example/acs" Destination="`, 1)

	type tc struct {
		name   string
		signed bool // SP requires signed requests
		get    string
		post   url.Values
		reason string
	}
	cases := []tc{
		// signatures, HTTP-Redirect
		{name: "redirect: signature missing", signed: true, get: redirectQuery("SAMLRequest", good("_a1"), "", nil), reason: "signature required"},
		{name: "redirect: signed by another key", signed: true, get: redirectQuery("SAMLRequest", good("_a2"), "", other.key), reason: "does not verify"},
		{name: "redirect: RelayState changed after signing", signed: true,
			get: strings.Replace(redirectQuery("SAMLRequest", good("_a3"), "rs-1", spk.key), "RelayState=rs-1", "RelayState=rs-2", 1), reason: "does not verify"},
		{name: "redirect: SHA-1", signed: true,
			get: strings.Replace(redirectQuery("SAMLRequest", good("_a4"), "", spk.key), url.QueryEscape(SigAlgRSASHA256), url.QueryEscape("http://www.w3.org/2000/09/xmldsig#rsa-sha1"), 1), reason: "not accepted"},
		{name: "redirect: duplicate SAMLRequest", get: redirectQuery("SAMLRequest", good("_a5"), "", nil) + "&SAMLRequest=x", reason: "more than once"},
		// signatures, HTTP-POST
		{name: "post: signature missing", signed: true, post: url.Values{"SAMLRequest": {b64s(good("_b1"))}}, reason: "signature required"},
		{name: "post: signed by another key", signed: true, post: url.Values{"SAMLRequest": {b64s(signXML(t, good("_b2"), other))}}, reason: "does not verify"},
		{name: "post: signed content changed", signed: true, post: url.Values{"SAMLRequest": {b64s(evilACS)}}, reason: "does not verify"},
		// signature wrapping permutations
		{name: "wrap: signed request inside unsigned root", signed: true,
			post: url.Values{"SAMLRequest": {b64s(wrap("_evil", "https://evil.example/acs", stripDecl(signedGood)))}}, reason: "signature required"},
		{name: "wrap: signed request inside unsigned root, SP not requiring", signed: false,
			post: url.Values{"SAMLRequest": {b64s(wrap("_evil", spACS, stripDecl(signedGood)))}}, reason: "not on the message element"},
		{name: "wrap: root reuses the signed ID", signed: true,
			post: url.Values{"SAMLRequest": {b64s(wrap("_sig1", "https://evil.example/acs", stripDecl(signedGood)))}}, reason: "signature required"},
		{name: "wrap: second root element", signed: true,
			post: url.Values{"SAMLRequest": {b64s(stripDecl(signedGood) + good("_b3"))}}, reason: "more than one root"},
		{name: "wrap: signature moved into attacker root", signed: true,
			post: url.Values{"SAMLRequest": {b64s(strings.Replace(stripDecl(signedGood), `ID="_sig1"`, `ID="_sig1" AssertionConsumerServiceURL="https://evil.example/x"`, 1))}}, reason: "does not verify"},
		{name: "wrap: original signature copied into attacker root with the same ID", signed: true,
			post: url.Values{"SAMLRequest": {b64s(strings.Replace(wrap("_sig1", "https://evil.example/acs", ""), "</saml:Issuer>", "</saml:Issuer>"+sigOf(signedGood), 1))}}, reason: "does not verify"},
		// structure
		{name: "two requests in one message", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_c1", Inner: "<samlp:Extensions>" + authnReq{ID: "_c2"}.xml() + "</samlp:Extensions>"}.xml())}}, reason: "nested AuthnRequest"},
		{name: "foreign-namespace root", post: url.Values{"SAMLRequest": {b64s(strings.ReplaceAll(authnReq{ID: "_c3"}.xml(), `xmlns:samlp="`+NSProtocol, `xmlns:samlp="urn:evil:protocol`))}}, reason: "expected samlp:AuthnRequest"},
		{name: "foreign-namespace issuer", post: url.Values{"SAMLRequest": {b64s(strings.ReplaceAll(authnReq{ID: "_c4"}.xml(), `xmlns:saml="`+NSAssertion, `xmlns:saml="urn:evil:assertion`))}}, reason: "no Issuer"},
		{name: "comment inside issuer does not truncate", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_c5", Issuer: spEntity + "<!-- x -->.evil.example"}.xml())}}, reason: "not a registered SP"},
		{name: "DTD with entity expansion", post: url.Values{"SAMLRequest": {b64s(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>` + authnReq{ID: "_c6", Issuer: "&b;"}.xml())}}, reason: "DTD"},
		{name: "DTD lower case", post: url.Values{"SAMLRequest": {b64s(`<!doctype r>` + good("_c7"))}}, reason: "DTD"},
		{name: "oversize POST", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_c8", Inner: "<!--" + strings.Repeat("x", 200<<10) + "-->"}.xml())}}, reason: "too large"},
		{name: "deflate bomb", get: "SAMLRequest=" + url.QueryEscape(bomb), reason: "exceeds"},
		{name: "bad base64", get: "SAMLRequest=%%%", reason: "encoding"},
		{name: "not deflated", get: "SAMLRequest=" + url.QueryEscape(b64s(good("_c9"))), reason: "DEFLATE"},
		{name: "malformed XML", post: url.Values{"SAMLRequest": {b64s("<samlp:AuthnRequest")}}, reason: "malformed"},
		{name: "version 1.1", post: url.Values{"SAMLRequest": {b64s(strings.Replace(good("_c10"), `Version="2.0"`, `Version="1.1"`, 1))}}, reason: "version"},
		// semantics
		{name: "unregistered issuer", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_d1", Issuer: "https://unknown.example"}.xml())}}, reason: "not a registered SP"},
		{name: "unregistered ACS URL", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_d2", ACS: "https://evil.example/acs"}.xml())}}, reason: "not registered"},
		{name: "javascript: ACS URL", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_d3", ACS: "javascript:alert(1)"}.xml())}}, reason: "not registered"},
		{name: "unregistered ACS index", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_d4", ACSIndex: 9}.xml())}}, reason: "not registered"},
		{name: "wrong destination", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_d5", Destination: "https://other-idp.example/sso"}.xml())}}, reason: "destination"},
		{name: "expired", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_d6", Instant: t0.Add(-time.Hour)}.xml())}}, reason: "expired"},
		{name: "from the future", post: url.Values{"SAMLRequest": {b64s(authnReq{ID: "_d7", Instant: t0.Add(time.Hour)}.xml())}}, reason: "future"},
		{name: "unsupported binding", post: url.Values{"SAMLRequest": {b64s(strings.Replace(authnReq{ID: "_d8", ACS: spACS}.xml(), BindingPOST, "urn:oasis:names:tc:SAML:2.0:bindings:PAOS", 1))}}, reason: "ProtocolBinding"},
		{name: "resume token forged", get: "resume=eyJrIjoic3NvIn0.AAAA", reason: "resume"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, testSP(c.signed))
			e.signIn(t0, false)
			resp := func() *httptest.ResponseRecorder {
				if c.post != nil {
					return e.post("/saml/sso", c.post)
				}
				return e.get("/saml/sso?" + c.get)
			}()
			if resp.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.Code)
			}
			if len(e.audit.reasons) != 1 || !strings.Contains(strings.ToLower(e.audit.reasons[0]), strings.ToLower(c.reason)) {
				t.Fatalf("audit reasons %q, want one containing %q", e.audit.reasons, c.reason)
			}
			// The page names the record, never the reason (which can quote internals).
			page := resp.Body.String()
			if !strings.Contains(page, `<code id="reference">ref-1</code>`) || strings.Contains(page, e.audit.reasons[0]) {
				t.Fatalf("error page leaks the reason or lacks the reference:\n%s", page)
			}
			if len(e.gate.attempts) != 0 {
				t.Fatal("gate consulted for a rejected request")
			}
			// The handler keeps serving: a good request right after works.
			postedForm(t, e.get("/saml/sso?"+redirectQuery("SAMLRequest", authnReq{ID: "_ok", Destination: dest}.xml(), "", spk.key)))
		})
	}
}

func TestAuthnRequestReplay(t *testing.T) {
	e := newEnv(t, testSP(false))
	e.signIn(t0, false)
	q := redirectQuery("SAMLRequest", authnReq{ID: "_once"}.xml(), "", nil)
	postedForm(t, e.get("/saml/sso?"+q))
	if rec := e.get("/saml/sso?" + q); rec.Code != http.StatusBadRequest || !strings.Contains(e.audit.reasons[0], "replay") {
		t.Fatalf("replay: status %d audit %v", rec.Code, e.audit.reasons)
	}
}

func TestCommentsInsideIdentifiers(t *testing.T) {
	_, spk, _ := keys(t)
	e := newEnv(t, testSP(true))
	e.signIn(t0, false)
	// A comment splitting the registered issuer reads as the whole value (not a prefix).
	half := len(spEntity) / 2
	x := authnReq{ID: "_cm1", Destination: idpBase + "/saml/sso"}.xml()
	signed := signXML(t, x, spk)
	// Inserted after signing: exclusive c14n ignores comments, so the signature still holds.
	withComment := strings.Replace(signed, spEntity, spEntity[:half]+"<!--injected-->"+spEntity[half:], 1)
	if withComment == signed {
		t.Fatal("comment not inserted")
	}
	target, _ := postedForm(t, e.post("/saml/sso", url.Values{"SAMLRequest": {b64s(withComment)}}))
	if target != spACS {
		t.Fatalf("target %q", target)
	}
	// And the text after the comment is never dropped.
	el, err := parseXML([]byte(`<a>admin@example.com<!---->.evil.example</a>`), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := textOf(el); v != "admin@example.com.evil.example" {
		t.Fatalf("textOf = %q", v)
	}
}

func TestLogoutRequestRejected(t *testing.T) {
	_, spk, other := keys(t)
	slo := idpBase + "/saml/slo"
	lr := func(id, issuer, dest string, notOnOrAfter time.Time, nameIDs int, ns string) string {
		if ns == "" {
			ns = NSProtocol
		}
		s := `<samlp:LogoutRequest xmlns:samlp="` + ns + `" xmlns:saml="` + NSAssertion + `" ID="` + id + `" Version="2.0" IssueInstant="` + t0.Format(timeFormat) + `"`
		if dest != "" {
			s += ` Destination="` + dest + `"`
		}
		if !notOnOrAfter.IsZero() {
			s += ` NotOnOrAfter="` + notOnOrAfter.Format(timeFormat) + `"`
		}
		s += `><saml:Issuer>` + issuer + `</saml:Issuer>`
		for range nameIDs {
			s += `<saml:NameID Format="` + NameIDPersistent + `">` + alice.ImmutableID + `</saml:NameID>`
		}
		return s + `<samlp:SessionIndex>sess-1</samlp:SessionIndex></samlp:LogoutRequest>`
	}
	cases := []struct {
		name   string
		signed bool
		query  string
		post   string
		reason string
	}{
		{name: "unsigned when required", signed: true, query: redirectQuery("SAMLRequest", lr("_l1", spEntity, slo, time.Time{}, 1, ""), "", nil), reason: "signature required"},
		{name: "bad redirect signature", signed: true, query: redirectQuery("SAMLRequest", lr("_l2", spEntity, slo, time.Time{}, 1, ""), "", other.key), reason: "does not verify"},
		{name: "bad POST signature", signed: true, post: signXML(t, lr("_l3", spEntity, slo, time.Time{}, 1, ""), other), reason: "does not verify"},
		{name: "unknown issuer", query: redirectQuery("SAMLRequest", lr("_l4", "https://x.example", slo, time.Time{}, 1, ""), "", nil), reason: "not a registered SP"},
		{name: "foreign namespace", query: redirectQuery("SAMLRequest", lr("_l5", spEntity, slo, time.Time{}, 1, "urn:evil"), "", nil), reason: "expected samlp:LogoutRequest"},
		{name: "two NameIDs", query: redirectQuery("SAMLRequest", lr("_l6", spEntity, slo, time.Time{}, 2, ""), "", nil), reason: "exactly one"},
		{name: "no NameID", query: redirectQuery("SAMLRequest", lr("_l7", spEntity, slo, time.Time{}, 0, ""), "", nil), reason: "exactly one"},
		{name: "expired NotOnOrAfter", query: redirectQuery("SAMLRequest", lr("_l8", spEntity, slo, t0.Add(-10*time.Minute), 1, ""), "", nil), reason: "expired"},
		{name: "wrong destination", query: redirectQuery("SAMLRequest", lr("_l9", spEntity, "https://idp.example.com/saml/sso", time.Time{}, 1, ""), "", nil), reason: "destination"},
		{name: "DTD", post: `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + lr("_l10", spEntity, slo, time.Time{}, 1, ""), reason: "DTD"},
		{name: "nested second request", post: strings.Replace(lr("_l11", spEntity, slo, time.Time{}, 1, ""), "<samlp:SessionIndex>", "<samlp:Extensions>"+lr("_l12", spEntity, slo, time.Time{}, 1, "")+"</samlp:Extensions><samlp:SessionIndex>", 1), reason: "nested"},
		{name: "deflate bomb", query: "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(make([]byte, 5<<20)))), reason: "exceeds"},
		{name: "LogoutResponse without chain state", query: redirectQuery("SAMLResponse", `<samlp:LogoutResponse xmlns:samlp="`+NSProtocol+`" xmlns:saml="`+NSAssertion+`" ID="_lr" Version="2.0" IssueInstant="`+t0.Format(timeFormat)+`" InResponseTo="_x"><saml:Issuer>`+spEntity+`</saml:Issuer><samlp:Status><samlp:StatusCode Value="`+StatusSuccess+`"/></samlp:Status></samlp:LogoutResponse>`, "forged", nil), reason: "logout state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, testSP(c.signed))
			e.signIn(t0, false)
			var code int
			if c.post != "" {
				code = e.post("/saml/slo", url.Values{"SAMLRequest": {b64s(c.post)}}).Code
			} else {
				code = e.get("/saml/slo?" + c.query).Code
			}
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", code)
			}
			if len(e.audit.reasons) != 1 || !strings.Contains(strings.ToLower(e.audit.reasons[0]), strings.ToLower(c.reason)) {
				t.Fatalf("audit %q, want %q", e.audit.reasons, c.reason)
			}
			if e.sessions.Ended() != 0 {
				t.Fatal("session ended by a rejected LogoutRequest")
			}
			// still serving: a valid signed request ends the session
			rec := e.get("/saml/slo?" + redirectQuery("SAMLRequest", lr("_ok", spEntity, slo, time.Time{}, 1, ""), "", spk.key))
			if rec.Code != http.StatusFound || e.sessions.Ended() != 1 {
				t.Fatalf("valid LogoutRequest after rejection: %d ended=%d %s", rec.Code, e.sessions.Ended(), rec.Body)
			}
		})
	}
	// Replay of a LogoutRequest ID.
	e := newEnv(t, testSP(false))
	q := redirectQuery("SAMLRequest", lr("_lr1", spEntity, slo, time.Time{}, 1, ""), "", nil)
	if rec := e.get("/saml/slo?" + q); rec.Code != http.StatusFound {
		t.Fatalf("first: %d", rec.Code)
	}
	if rec := e.get("/saml/slo?" + q); rec.Code != http.StatusBadRequest || !strings.Contains(e.audit.reasons[0], "replay") {
		t.Fatalf("replay: %d %v", rec.Code, e.audit.reasons)
	}
}
