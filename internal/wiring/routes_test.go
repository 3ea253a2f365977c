package wiring_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/signin"
)

// door is what a route demands before it serves.
type door int

const (
	public    door = iota // anyone (health, sign-in form, static assets, CRL, CA certificate)
	session               // a browser session (the second-factor step); else the sign-in page
	portal                // the gate's sekisho-account decision
	console               // the gate's sekisho-admin decision (policy, second factor, role)
	protocol              // a protocol endpoint that authenticates its own messages (SAML, WS-Fed, WS-Trust, OIDC)
	scimToken             // a SCIM connector's bearer token, judged by the gate (sekisho-scim); cookies are ignored
)

// csrfCheck says how a state-changing route refuses a cross-site request.
type csrfCheck int

const (
	noState    csrfCheck = iota // GET only: changes nothing
	formToken                   // the form's signed csrf field
	headerTok                   // the script's X-CSRF-Token header
	sameOrigin                  // Origin / Sec-Fetch-Site (multipart uploads)
	binding                     // protocol bindings are cross-site by design; messages are signed or carry the password
	bearerOnly                  // only an Authorization header counts: a browser's cookies never authenticate it
)

type routeRule struct {
	path string // a concrete path to request
	door door
	csrf csrfCheck
}

// routeRules is every route the server registers and what it must enforce. A route added
// without an entry here fails TestEveryRouteHasItsDoor.
var routeRules = map[string]routeRule{
	"GET /healthz":                  {"/healthz", public, noState},
	"GET /readyz":                   {"/readyz", public, noState},
	"GET /favicon.ico":              {"/favicon.ico", public, noState},
	"GET /login":                    {"/login", public, noState},
	"POST /login":                   {"/login", public, formToken},
	"GET /login/mfa":                {"/login/mfa", session, noState},
	"POST /login/mfa":               {"/login/mfa", session, formToken},
	"GET /account/totp":             {"/account/totp", portal, noState},
	"POST /account/totp":            {"/account/totp", portal, formToken},
	"GET /account/password":         {"/account/password", portal, noState},
	"POST /account/password":        {"/account/password", portal, formToken},
	"GET /logout":                   {"/logout", public, noState},
	"POST /logout":                  {"/logout", public, formToken},
	"GET /{$}":                      {"/", portal, noState},
	"GET /static/":                  {"/static/sekisho.css", public, noState},
	"GET /pki/device-ca.crl":        {"/pki/device-ca.crl", public, noState},
	"GET /devices/download/{token}": {"/devices/download/x.y", portal, noState},
	"GET /pki/device-ca.pem":        {"/pki/device-ca.pem", public, noState},
	"/adfs/":                        {"/adfs/ls/", protocol, binding},
	"/FederationMetadata/2007-06/FederationMetadata.xml": {"/FederationMetadata/2007-06/FederationMetadata.xml", public, noState},
	"GET /account/security":                              {"/account/security", portal, noState},
	"POST /account/passkey/register/begin":               {"/account/passkey/register/begin", portal, headerTok},
	"POST /account/passkey/register/finish":              {"/account/passkey/register/finish", portal, headerTok},
	"POST /account/passkey/{action}":                     {"/account/passkey/rename", portal, formToken},
	"GET /account/mail":                                  {"/account/mail", portal, noState},
	"POST /account/mail/issue":                           {"/account/mail/issue", portal, formToken},
	"POST /account/mail/revoke":                          {"/account/mail/revoke", portal, formToken},
	"POST /account/mail/connect":                         {"/account/mail/connect", portal, formToken},
	"POST /account/mail/disconnect":                      {"/account/mail/disconnect", portal, formToken},
	"POST /login/passkey/begin":                          {"/login/passkey/begin", session, headerTok},
	"POST /login/passkey/finish":                         {"/login/passkey/finish", session, headerTok},
	"/admin/reports/legacy-auth":                         {"/admin/reports/legacy-auth", console, sameOrigin},
	"GET /admin/{$}":                                     {"/admin/", console, noState},
	"GET /admin/users":                                   {"/admin/users", console, noState},
	"POST /admin/users":                                  {"/admin/users", console, formToken},
	"POST /admin/users/import":                           {"/admin/users/import", console, formToken},
	"GET /admin/users/{id}":                              {"/admin/users/x", console, noState},
	"POST /admin/users/{id}/{action}":                    {"/admin/users/x/disable", console, formToken},
	"GET /admin/signins":                                 {"/admin/signins", console, noState},
	"GET /admin/signins/export":                          {"/admin/signins/export?format=csv", console, noState},
	"GET /admin/signins/{id}":                            {"/admin/signins/x", console, noState},
	"GET /admin/audit":                                   {"/admin/audit", console, noState},
	"GET /admin/networks":                                {"/admin/networks", console, noState},
	"POST /admin/networks":                               {"/admin/networks", console, formToken},
	"POST /admin/networks/{name}/delete":                 {"/admin/networks/office/delete", console, formToken},
	"GET /admin/policy":                                  {"/admin/policy", console, noState},
	"POST /admin/policy":                                 {"/admin/policy", console, formToken},
	"POST /admin/policy/rollback":                        {"/admin/policy/rollback", console, formToken},
	"GET /admin/keys":                                    {"/admin/keys", console, noState},
	"GET /admin/directory":                               {"/admin/directory", console, noState},
	"POST /admin/directory/{id}/sync":                    {"/admin/directory/ldap/sync", console, formToken},
	"POST /admin/keys/{action}":                          {"/admin/keys/rotate", console, formToken},
	"GET /admin/apps":                                    {"/admin/apps", console, noState},
	"GET /admin/devices":                                 {"/admin/devices", console, noState},
	"POST /admin/apps/domains":                           {"/admin/apps/domains", console, formToken},
	"POST /admin/apps/domains/{name}/remove":             {"/admin/apps/domains/x/remove", console, formToken},
	"POST /admin/apps":                                   {"/admin/apps", console, formToken},
	"POST /admin/apps/{name}/remove":                     {"/admin/apps/x/remove", console, formToken},
	"POST /admin/apps/{name}/settings":                   {"/admin/apps/x/settings", console, formToken},
	"POST /admin/apps/oidc":                              {"/admin/apps/oidc", console, formToken},
	"POST /admin/apps/oidc/{name}/settings":              {"/admin/apps/oidc/x/settings", console, formToken},
	"POST /admin/apps/oidc/{name}/rotate":                {"/admin/apps/oidc/x/rotate", console, formToken},
	"GET /admin/static/":                                 {"/admin/static/console.css", public, noState},
	"GET /api/v1/openapi.json":                           {"/api/v1/openapi.json", public, noState},
	"/saml/":                                             {"/saml/sso", protocol, binding},
	"GET /.well-known/openid-configuration":              {"/.well-known/openid-configuration", public, noState},
	"GET /oidc/keys":                                     {"/oidc/keys", public, noState},
	"GET /oidc/authorize":                                {"/oidc/authorize", protocol, noState},
	"POST /oidc/authorize":                               {"/oidc/authorize", protocol, binding},
	"POST /oidc/token":                                   {"/oidc/token", protocol, binding},
	"OPTIONS /oidc/token":                                {"/oidc/token", public, noState},
	"OPTIONS /oidc/userinfo":                             {"/oidc/userinfo", public, noState},
	"OPTIONS /oidc/revoke":                               {"/oidc/revoke", public, noState},
	"GET /oidc/userinfo":                                 {"/oidc/userinfo", protocol, noState},
	"POST /oidc/userinfo":                                {"/oidc/userinfo", protocol, binding},
	"POST /oidc/introspect":                              {"/oidc/introspect", protocol, binding},
	"POST /oidc/revoke":                                  {"/oidc/revoke", protocol, binding},
	"POST /oidc/device_authorization":                    {"/oidc/device_authorization", protocol, binding},
	"GET /oidc/device":                                   {"/oidc/device", session, noState},
	"POST /oidc/device":                                  {"/oidc/device", session, formToken},
	"GET /oidc/logout":                                   {"/oidc/logout", public, noState},
	"POST /oidc/logout":                                  {"/oidc/logout", public, binding},
	"GET /scim/v2/ServiceProviderConfig":                 {"/scim/v2/ServiceProviderConfig", scimToken, noState},
	"GET /scim/v2/ResourceTypes":                         {"/scim/v2/ResourceTypes", scimToken, noState},
	"GET /scim/v2/ResourceTypes/{id}":                    {"/scim/v2/ResourceTypes/User", scimToken, noState},
	"GET /scim/v2/Schemas":                               {"/scim/v2/Schemas", scimToken, noState},
	"GET /scim/v2/Schemas/{id}":                          {"/scim/v2/Schemas/x", scimToken, noState},
	"GET /scim/v2/Users":                                 {"/scim/v2/Users", scimToken, noState},
	"POST /scim/v2/Users":                                {"/scim/v2/Users", scimToken, bearerOnly},
	"GET /scim/v2/Users/{id}":                            {"/scim/v2/Users/x", scimToken, noState},
	"PUT /scim/v2/Users/{id}":                            {"/scim/v2/Users/x", scimToken, bearerOnly},
	"PATCH /scim/v2/Users/{id}":                          {"/scim/v2/Users/x", scimToken, bearerOnly},
	"DELETE /scim/v2/Users/{id}":                         {"/scim/v2/Users/x", scimToken, bearerOnly},
	"GET /scim/v2/Groups":                                {"/scim/v2/Groups", scimToken, noState},
	"POST /scim/v2/Groups":                               {"/scim/v2/Groups", scimToken, bearerOnly},
	"GET /scim/v2/Groups/{id}":                           {"/scim/v2/Groups/x", scimToken, noState},
	"PUT /scim/v2/Groups/{id}":                           {"/scim/v2/Groups/x", scimToken, bearerOnly},
	"PATCH /scim/v2/Groups/{id}":                         {"/scim/v2/Groups/x", scimToken, bearerOnly},
	"DELETE /scim/v2/Groups/{id}":                        {"/scim/v2/Groups/x", scimToken, bearerOnly},
}

func methodsOf(pattern string) []string {
	if m, _, ok := strings.Cut(pattern, " "); ok {
		return []string{m}
	}
	return []string{"GET", "POST"}
}

// checkHeaders asserts the headers every response carries, and the framing and script
// rules of every HTML page.
func checkHeaders(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	h := resp.Header
	if h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") ||
		h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s: security headers missing: %v", what, h)
	}
	if strings.HasPrefix(h.Get("Content-Type"), "text/html") && resp.StatusCode < 300 || resp.StatusCode >= 400 && strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: HTML page without a strict CSP: %q", what, csp)
		}
	}
}

// TestEveryRouteHasItsDoor walks every registered route: each has a rule above; anonymous
// requests get only what the rule allows; every state-changing request without its CSRF
// proof is refused even with a valid session; every response has the security headers.
func TestEveryRouteHasItsDoor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	patterns := e.svc.Server.Mux.Patterns()
	seen := map[string]bool{}
	var rest []string
	for _, p := range patterns {
		if apiRoute(p) {
			checkAPIDoor(t, e, p)
			continue
		}
		rest = append(rest, p)
		seen[p] = true
		if _, ok := routeRules[p]; !ok {
			t.Errorf("route %q has no rule in routeRules: say what authentication and CSRF check it requires", p)
		}
	}
	patterns = rest
	for p := range routeRules {
		if !seen[p] {
			t.Errorf("routeRules names %q, which the server no longer registers", p)
		}
	}

	// httptest's Client() is one shared client: each browser here gets its own.
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	anon := &http.Client{Transport: e.ts.Client().Transport, CheckRedirect: noFollow}
	var lastBody string
	do := func(c *http.Client, method, path string, hdr http.Header) *http.Response {
		t.Helper()
		var body *strings.Reader
		if method == "POST" {
			body = strings.NewReader("x=1")
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, e.ts.URL+path, body)
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		lastBody = readAll(resp)
		return resp
	}

	// 1. Anonymous.
	for _, p := range patterns {
		rule := routeRules[p]
		for _, m := range methodsOf(p) {
			what := "anonymous " + m + " " + rule.path
			resp := do(anon, m, rule.path, nil)
			checkHeaders(t, what, resp)
			loc := resp.Header.Get("Location")
			toLogin := resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login?")
			switch rule.door {
			case public:
				if toLogin {
					t.Errorf("%s: public route sent to the sign-in page", what)
				}
				if m == "GET" && resp.StatusCode >= 400 && rule.path != "/readyz" {
					t.Errorf("%s: %d", what, resp.StatusCode)
				}
			case session:
				if m == "GET" && !toLogin {
					t.Errorf("%s: %d %s, want the sign-in page", what, resp.StatusCode, loc)
				}
				if m == "POST" && resp.StatusCode < 400 {
					t.Errorf("%s: %d, want a refusal", what, resp.StatusCode)
				}
			case portal, console:
				app := signin.AppAccount
				if rule.door == console {
					app = signin.AppAdmin
				}
				if m == "GET" && (!toLogin || !strings.Contains(loc, "app="+app)) {
					t.Errorf("%s: %d %s, want the sign-in page for %s", what, resp.StatusCode, loc, app)
				}
				if m == "POST" && resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: %d, want 401", what, resp.StatusCode)
				}
			case protocol:
				// A request that is not a valid protocol message is refused (and recorded).
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("%s: %d, want a 4xx refusal of a non-message", what, resp.StatusCode)
				}
			case scimToken:
				if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/scim+json" ||
					!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(lastBody, "urn:ietf:params:scim:api:messages:2.0:Error") {
					t.Errorf("%s: %d %s %.200s, want a SCIM 401", what, resp.StatusCode, resp.Header.Get("Content-Type"), lastBody)
				}
			}
		}
	}

	// 2. With sessions: Alice admitted to the portal from the office; the admin with a second factor.
	if r := e.signInFor(t, "alice@example.com", e.res.Password("alice@example.com"), "/"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice: %d", r.StatusCode)
	}
	jar, _ := cookiejar.New(nil)
	adminC := &http.Client{Transport: e.ts.Client().Transport, Jar: jar, CheckRedirect: noFollow}
	admin, err := e.svc.Instance.Store.GetUserByUPN(ctx, e.res.AdminUPN)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := e.svc.Sessions.Create(ctx, rec, admin, []string{"pwd", "otp"}, true, ""); err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(mustURL(e.ts.URL), rec.Result().Cookies())
	if resp := do(adminC, "GET", "/admin/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin session with MFA not admitted: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range patterns {
		rule := routeRules[p]
		if rule.csrf == bearerOnly {
			// The administrator's admitted console session is no SCIM credential.
			m, _, _ := strings.Cut(p, " ")
			resp := do(adminC, m, rule.path, http.Header{"Content-Type": {"application/scim+json"}})
			checkHeaders(t, "admin session "+p, resp)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with the admin's console session: %d, want 401", p, resp.StatusCode)
			}
			continue
		}
		if rule.csrf == noState || rule.csrf == binding {
			continue
		}
		c := e.client // Alice's browser
		if rule.door == console {
			c = adminC
		}
		// A cross-site attacker can make the browser send its cookies, not the token.
		var hdr http.Header
		if rule.csrf == headerTok {
			hdr = http.Header{"Content-Type": {"application/json"}}
		}
		what := "POST " + rule.path + " without CSRF proof"
		resp := do(c, "POST", rule.path, hdr)
		checkHeaders(t, what, resp)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", what, resp.StatusCode)
		}
		// The refusal is the CSRF check's, not the gate's (the session is admitted).
		if rule.csrf != sameOrigin && !strings.Contains(lastBody, "sent from another page") {
			t.Errorf("%s: refused, but not by the CSRF check:\n%.300s", what, lastBody)
		}
		if rule.csrf == formToken || rule.csrf == headerTok {
			// A token the attacker made up for the browser's binding is refused too.
			forged := url.Values{"csrf": {strings.Repeat("A", 43)}}
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Csrf-Token": {strings.Repeat("A", 43)}}
			if rule.csrf == headerTok {
				h.Set("Content-Type", "application/json")
			}
			req, _ := http.NewRequest("POST", e.ts.URL+rule.path, strings.NewReader(forged.Encode()))
			req.Header = h
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readAll(resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with a forged token: %d, want 403", rule.path, resp.StatusCode)
			}
		}
	}
}

// apiRoute reports whether a pattern is an operation of the admin API: those take a bearer
// token, never a cookie, so CSRF does not apply; TestAPI drives each one against the OpenAPI
// document.
func apiRoute(p string) bool {
	_, path, _ := strings.Cut(p, " ")
	return strings.HasPrefix(path, "/api/v1/") && path != "/api/v1/openapi.json"
}

// checkAPIDoor: an API operation asked without a token is a 401 problem with the challenge.
func checkAPIDoor(t *testing.T, e *env, pattern string) {
	t.Helper()
	m, path, _ := strings.Cut(pattern, " ")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "x"
		}
	}
	req, _ := http.NewRequest(m, e.ts.URL+strings.Join(segs, "/"), strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(resp)
	checkHeaders(t, pattern, resp)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s without a token: %d %s", pattern, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
