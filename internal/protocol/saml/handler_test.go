package saml

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// signInAndResume follows the sign-in redirect: the test "signs in" and returns to ReturnTo.
func (e *env) signInAndResume(rec interface {
	Result() *http.Response
}, mfa bool) (string, bool) {
	loc := rec.Result().Header.Get("Location")
	if !strings.HasPrefix(loc, "/login?return=") {
		return loc, false
	}
	ret, _ := url.QueryUnescape(strings.TrimPrefix(loc, "/login?return="))
	e.signIn(e.now, mfa)
	return ret, true
}

func TestSSOFlows(t *testing.T) {
	tests := []struct {
		name       string
		signed     bool // SP requires signed requests
		binding    string
		relay      string
		acs        string
		acsIndex   int
		hasSession bool
		mfa        bool
		wantACS    string
	}{
		{name: "redirect, no session, sign-in then resume", binding: BindingRedirect, relay: "https://sp.example.com/page?a=1&b=<x>", wantACS: spACS},
		{name: "redirect, existing session", binding: BindingRedirect, hasSession: true, wantACS: spACS},
		{name: "redirect signed", signed: true, binding: BindingRedirect, relay: "rs-1", hasSession: true, wantACS: spACS},
		{name: "post, no session", binding: BindingPOST, relay: "ss:mem:abc", wantACS: spACS},
		{name: "post signed with session and mfa", signed: true, binding: BindingPOST, hasSession: true, mfa: true, wantACS: spACS},
		{name: "requested registered ACS URL", binding: BindingRedirect, acs: spACS2, hasSession: true, wantACS: spACS2},
		{name: "requested registered ACS index", binding: BindingPOST, acsIndex: 2, hasSession: true, wantACS: spACS2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := testSP(tc.signed)
			e := newEnv(t, sp)
			e.gate.mfa = tc.mfa
			if tc.hasSession {
				e.signIn(t0.Add(-time.Hour), tc.mfa)
			}
			dest := ""
			if tc.signed {
				dest = idpBase + "/saml/sso"
			}
			x := authnReq{ID: "_r1", Destination: dest, ACS: tc.acs, ACSIndex: tc.acsIndex}.xml()
			var rec = e.send(tc.binding, "/saml/sso", "SAMLRequest", x, tc.relay, tc.signed)
			if !tc.hasSession {
				if rec.Code != http.StatusFound {
					t.Fatalf("want redirect to sign-in, got %d %s", rec.Code, rec.Body)
				}
				ret, ok := e.signInAndResume(rec, tc.mfa)
				if !ok || !strings.HasPrefix(ret, "/saml/sso?resume=") {
					t.Fatalf("ReturnTo = %q", ret)
				}
				rec = e.get(ret)
				// The resume link is single-use.
				defer func() {
					if again := e.get(ret); again.Code != http.StatusBadRequest {
						t.Errorf("resume link reused: status %d", again.Code)
					}
				}()
			}
			target, fields := postedForm(t, rec)
			if target != tc.wantACS {
				t.Fatalf("form target %q, want %q", target, tc.wantACS)
			}
			if fields["RelayState"] != tc.relay {
				t.Errorf("RelayState %q, want %q", fields["RelayState"], tc.relay)
			}
			if tc.relay != "" && strings.Contains(rec.Body.String(), "<x>") {
				t.Error("RelayState not HTML-escaped")
			}
			raw, err := base64.StdEncoding.DecodeString(fields["SAMLResponse"])
			if err != nil {
				t.Fatal(err)
			}
			resp, a := verifiedAssertion(t, raw, e.idp, e.now)
			checks := map[string][2]string{
				"InResponseTo":  {resp.SelectAttrValue("InResponseTo", ""), "_r1"},
				"Destination":   {resp.SelectAttrValue("Destination", ""), tc.wantACS},
				"Status":        {attr(resp, "./Status/StatusCode", "Value"), StatusSuccess},
				"NameID":        {text(a, "./Subject/NameID"), alice.ImmutableID},
				"NameID format": {attr(a, "./Subject/NameID", "Format"), NameIDPersistent},
				"Recipient":     {attr(a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient"), tc.wantACS},
				"SCD irt":       {attr(a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "InResponseTo"), "_r1"},
				"Audience":      {text(a, "./Conditions/AudienceRestriction/Audience"), spEntity},
				"SessionIndex":  {attr(a, "./AuthnStatement", "SessionIndex"), "sess-1"},
				"Issuer":        {text(a, "./Issuer"), idpBase + "/saml"},
				"mail":          {text(a, "./AttributeStatement/Attribute[@Name='mail']/AttributeValue"), alice.Email},
				"displayName":   {text(a, "./AttributeStatement/Attribute[@Name='displayName']/AttributeValue"), alice.DisplayName},
				"NotBefore":     {attr(a, "./Conditions", "NotBefore"), e.now.Add(-3 * time.Minute).Format(timeFormat)},
				"NotOnOrAfter":  {attr(a, "./Conditions", "NotOnOrAfter"), e.now.Add(5 * time.Minute).Format(timeFormat)},
			}
			wantClass := ClassPassword
			if tc.mfa {
				wantClass = ClassMFARefeds
			}
			checks["class"] = [2]string{text(a, "./AuthnStatement/AuthnContext/AuthnContextClassRef"), wantClass}
			for k, v := range checks {
				if v[0] != v[1] {
					t.Errorf("%s = %q, want %q", k, v[0], v[1])
				}
			}
			if n := len(a.FindElements("./AttributeStatement/Attribute[@Name='groups']/AttributeValue")); n != 2 {
				t.Errorf("groups values = %d, want 2", n)
			}
			if len(e.gate.attempts) != 1 || e.gate.attempts[0].Protocol != "saml" || e.gate.attempts[0].Session == nil ||
				e.gate.attempts[0].Application != "app:"+spEntity {
				t.Errorf("gate attempts = %+v", e.gate.attempts)
			}
			if len(e.audit.reasons) != 0 {
				t.Errorf("unexpected rejections: %v", e.audit.reasons)
			}
		})
	}
}

// send delivers an SP message by binding; signed uses the SP key.
func (e *env) send(binding, path, param, xml, relay string, signed bool) *httptest.ResponseRecorder {
	if binding == BindingRedirect {
		var k = e.sp.key
		if !signed {
			k = nil
		}
		return e.get(path + "?" + redirectQuery(param, xml, relay, k))
	}
	if signed {
		xml = signXML(e.t, xml, e.sp)
	}
	f := url.Values{param: {base64.StdEncoding.EncodeToString([]byte(xml))}}
	if relay != "" {
		f.Set("RelayState", relay)
	}
	return e.post(path, f)
}

func TestForceAuthn(t *testing.T) {
	e := newEnv(t, testSP(false))
	e.signIn(t0.Add(-time.Hour), false)
	rec := e.get("/saml/sso?" + redirectQuery("SAMLRequest", authnReq{ID: "_f1", Force: true}.xml(), "", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("ForceAuthn with an old session must go to sign-in, got %d", rec.Code)
	}
	required := e.sessions.Required()
	if last := required[len(required)-1]; !last.ForceAuthn {
		t.Fatalf("Require not called with ForceAuthn: %+v", last)
	}
	if len(e.gate.attempts) != 0 {
		t.Fatal("gate consulted before fresh authentication")
	}
	ret, _ := e.signInAndResume(rec, false) // fresh sign-in at e.now
	e.now = e.now.Add(20 * time.Second)
	_, fields := postedForm(t, e.get(ret))
	raw, _ := base64.StdEncoding.DecodeString(fields["SAMLResponse"])
	_, a := verifiedAssertion(t, raw, e.idp, e.now)
	if got := attr(a, "./AuthnStatement", "AuthnInstant"); got != t0.Format(timeFormat) {
		t.Errorf("AuthnInstant %s, want the fresh sign-in %s", got, t0.Format(timeFormat))
	}
}

func TestIdPInitiated(t *testing.T) {
	sp := testSP(false)
	e := newEnv(t, sp)
	e.signIn(t0, false)
	target, fields := postedForm(t, e.get("/saml/idp-initiated?sp="+url.QueryEscape(spEntity)+"&RelayState=%2Fhome"))
	if target != spACS || fields["RelayState"] != "/home" {
		t.Fatalf("target %q relay %q", target, fields["RelayState"])
	}
	raw, _ := base64.StdEncoding.DecodeString(fields["SAMLResponse"])
	resp, a := verifiedAssertion(t, raw, e.idp, e.now)
	if resp.SelectAttr("InResponseTo") != nil || attr(a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "InResponseTo") != "" {
		t.Error("unsolicited response must not carry InResponseTo")
	}

	// Disabled per SP, and unknown SPs, are rejected and audited.
	sp.AllowIdPInitiated = false
	e.sps.byEntity[spEntity] = sp
	for _, q := range []string{"sp=" + url.QueryEscape(spEntity), "sp=https%3A%2F%2Funknown.example"} {
		if rec := e.get("/saml/idp-initiated?" + q); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, rec.Code)
		}
	}
	if len(e.audit.reasons) != 2 {
		t.Errorf("audit = %v", e.audit.reasons)
	}
}

func TestDenialIssuesNoAssertion(t *testing.T) {
	e := newEnv(t, testSP(false))
	e.signIn(t0, false)
	e.gate.deny = true
	rec := e.get("/saml/sso?" + redirectQuery("SAMLRequest", authnReq{ID: "_d1"}.xml(), "rs", nil))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{"EVT-42", "Outside office network", "アクセスが拒否されました"} {
		if !strings.Contains(body, want) {
			t.Errorf("denial page lacks %q", want)
		}
	}
	if strings.Contains(body, "SAMLResponse") || strings.Contains(body, "Assertion") {
		t.Error("denial page carries an assertion")
	}
}

func TestMicrosoft365Profile(t *testing.T) {
	m := Microsoft365()
	m.normalize()
	e := newEnv(t, m)
	e.signIn(t0, true)
	e.gate.mfa = true
	x := strings.Replace(authnReq{ID: "_m1", Issuer: Microsoft365EntityID}.xml(), spEntity, Microsoft365EntityID, 1)
	target, fields := postedForm(t, e.post("/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(x))}}))
	if target != "https://login.microsoftonline.com/login.srf" {
		t.Fatalf("target %q", target)
	}
	raw, _ := base64.StdEncoding.DecodeString(fields["SAMLResponse"])
	_, a := verifiedAssertion(t, raw, e.idp, e.now)
	for k, v := range map[string][2]string{
		"NameID":   {text(a, "./Subject/NameID"), alice.ImmutableID},
		"format":   {attr(a, "./Subject/NameID", "Format"), NameIDPersistent},
		"IDPEmail": {text(a, "./AttributeStatement/Attribute[@Name='IDPEmail']/AttributeValue"), alice.UPN},
		"audience": {text(a, "./Conditions/AudienceRestriction/Audience"), Microsoft365EntityID},
		"class":    {text(a, "./AuthnStatement/AuthnContext/AuthnContextClassRef"), ClassMFAMicrosoft},
		"method":   {attr(a, "./Subject/SubjectConfirmation", "Method"), "urn:oasis:names:tc:SAML:2.0:cm:bearer"},
	} {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", k, v[0], v[1])
		}
	}
}

func TestIsPassiveAnswersNoPassive(t *testing.T) {
	e := newEnv(t, testSP(false))
	x := authnReq{ID: "_p1", Extra: `IsPassive="true"`}.xml()
	_, fields := postedForm(t, e.get("/saml/sso?"+redirectQuery("SAMLRequest", x, "", nil)))
	raw, _ := base64.StdEncoding.DecodeString(fields["SAMLResponse"])
	if !strings.Contains(string(raw), "status:NoPassive") || strings.Contains(string(raw), "Assertion") {
		t.Fatalf("want NoPassive without assertion: %s", raw)
	}
	if len(e.sessions.Required()) != 0 {
		t.Error("passive request prompted for sign-in")
	}
}
