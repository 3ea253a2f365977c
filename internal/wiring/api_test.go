package wiring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/console/roles"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

// apiClient calls /api/v1 with a token and checks every request and answer against the
// server's own OpenAPI document with an independent implementation (pb33f/libopenapi).
type apiClient struct {
	t     *testing.T
	e     *env
	token string
	v     validator.Validator
	ops   map[string]bool // "GET /users/{upn}" → exercised
	tmpl  [][2]string     // method, path template
}

func (e *env) apiClient(t *testing.T, token string) *apiClient {
	t.Helper()
	resp, err := e.ts.Client().Get(e.ts.URL + "/api/v1/openapi.json") // public, no token
	if err != nil {
		t.Fatal(err)
	}
	raw := readAll(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %d", resp.StatusCode)
	}
	// The document names the server by the instance's base URL; the test server listens elsewhere.
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	doc["servers"] = []any{map[string]any{"url": e.ts.URL + "/api/v1"}}
	fixed, _ := json.Marshal(doc)
	d, err := libopenapi.NewDocument(fixed)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	c := &apiClient{t: t, e: e, token: token, v: v, ops: map[string]bool{}}
	for p, item := range doc["paths"].(map[string]any) {
		for m := range item.(map[string]any) {
			c.ops[strings.ToUpper(m)+" "+p] = false
			c.tmpl = append(c.tmpl, [2]string{strings.ToUpper(m), p})
		}
	}
	return c
}

// operation finds the documented operation a request is for (literal segments win).
func (c *apiClient) operation(method, path string) string {
	best, score := "", -1
	segs := strings.Split(path, "/")
	for _, mt := range c.tmpl {
		ts := strings.Split(mt[1], "/")
		if mt[0] != method || len(ts) != len(segs) {
			continue
		}
		lit := 0
		ok := true
		for i := range ts {
			switch {
			case strings.HasPrefix(ts[i], "{"):
			case ts[i] == segs[i]:
				lit++
			default:
				ok = false
			}
		}
		if ok && lit > score {
			best, score = mt[0]+" "+mt[1], lit
		}
	}
	return best
}

// do sends one request and returns the status and the decoded answer; out may be nil.
func (c *apiClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var raw []byte
	if body != nil {
		if s, ok := body.(string); ok {
			raw = []byte(s)
		} else {
			raw, _ = json.Marshal(body)
		}
	}
	req, _ := http.NewRequest(method, c.e.ts.URL+"/api/v1"+path, bytes.NewReader(raw))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.e.ts.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	got := []byte(readAll(resp))
	checkHeaders(c.t, method+" "+path, resp)
	u, _ := req.URL.Parse(req.URL.String())
	vreq, _ := http.NewRequest(method, u.String(), bytes.NewReader(raw))
	vreq.Header = req.Header.Clone()
	resp.Body = io.NopCloser(bytes.NewReader(got))
	op := c.operation(method, "/"+strings.TrimPrefix(strings.SplitN(path, "?", 2)[0], "/"))
	if op != "" {
		c.ops[op] = true
		// Only a well-formed request is expected to match the document.
		if resp.StatusCode < 400 || resp.StatusCode >= 403 {
			if ok, errs := c.v.ValidateHttpRequestResponse(vreq, resp); !ok {
				for _, e := range errs {
					c.t.Errorf("%s %s (%d): not as documented: %s %s", method, path, resp.StatusCode, e.Message, e.Reason)
				}
			}
		}
	}
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode >= 400 && ct != "application/problem+json" {
		c.t.Errorf("%s %s: %d as %q, want problem+json", method, path, resp.StatusCode, ct)
	}
	if out != nil && len(got) > 0 {
		if err := json.Unmarshal(got, out); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, path, err, got)
		}
	}
	return resp.StatusCode
}

// must is do expecting status want.
func (c *apiClient) must(want int, method, path string, body, out any) {
	c.t.Helper()
	var p problem
	if out == nil {
		out = &p
	}
	if got := c.do(method, path, body, out); got != want {
		c.t.Fatalf("%s %s: %d, want %d (%+v)", method, path, got, want, out)
	}
}

type problem struct {
	Type, Title, Code, Detail, Instance, Reference string
	Status                                         int
	Errors                                         []struct {
		Line    int
		Message string
	}
}

func (e *env) token(t *testing.T, owner string, role roles.Role) admin.CreatedToken {
	t.Helper()
	tok, err := e.svc.Instance.Admin.CreateToken(context.Background(), admin.Actor{Name: "os:test", Via: "cli"},
		admin.NewToken{Owner: owner, Role: role, Name: "test " + string(role)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAPI drives every operation of the admin API against a running server with an admin's
// token, each request and answer checked against the OpenAPI document, then the refusals:
// roles, revoked and forged tokens, cookies, a policy that asks for a second factor.
func TestAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.svc.Instance.Store
	tok := e.token(t, e.res.AdminUPN, roles.Admin)
	c := e.apiClient(t, tok.Token)

	// The route table and the document agree both ways.
	var muxOps []string
	for _, p := range e.svc.Server.Mux.Patterns() {
		if m, path, ok := strings.Cut(p, " /api/v1"); ok && path != "/openapi.json" {
			muxOps = append(muxOps, m+" "+path)
			if _, documented := c.ops[m+" "+path]; !documented {
				t.Errorf("route %s is not in the OpenAPI document", p)
			}
		}
	}
	for op := range c.ops {
		if !slices.Contains(muxOps, op) {
			t.Errorf("documented %s is not a route", op)
		}
	}

	var me struct {
		User      admin.UserView
		OwnerRole string
		Token     admin.TokenView
	}
	c.must(200, "GET", "/me", nil, &me)
	if me.User.UPN != e.res.AdminUPN || me.Token.ID != tok.ID || me.OwnerRole != "admin" || me.Token.LastIP != "127.0.0.1" {
		t.Fatalf("me: %+v", me)
	}
	// The first use from an address is a sign-in record: sekisho-admin, protocol and client type api.
	rec := e.lastSignIn(t)
	if rec.Application != "sekisho-admin" || rec.Protocol != "api" || rec.ClientType != "api" || rec.Decision != "allow" ||
		rec.Rule != "admin-api-from-office" || rec.Username != e.res.AdminUPN || rec.MFA {
		t.Fatalf("record of the token's first use: %+v", rec)
	}
	before := e.apiRecords(t)
	c.must(200, "GET", "/me", nil, nil)
	if n := e.apiRecords(t); n != before {
		t.Fatalf("a second call from the same address wrote %d more records", n-before)
	}

	// ---- users ----
	const upn = "kenji@example.com"
	var created struct {
		User     admin.UserView
		Password string
	}
	c.must(201, "POST", "/users", map[string]any{"upn": upn, "displayName": "鈴木 健二", "groups": []string{"staff"}}, &created)
	if created.User.UPN != upn || len(created.Password) < 12 || !created.User.MustChangePassword {
		t.Fatalf("created %+v", created)
	}
	var p problem
	if c.do("POST", "/users", map[string]any{"upn": upn}, &p); p.Status != 409 && p.Status != 422 {
		t.Fatalf("duplicate user: %+v", p)
	}
	if c.do("POST", "/users", map[string]any{"upn": "not a upn"}, &p); p.Code != "invalid" || p.Status != 422 || p.Detail == "" {
		t.Fatalf("bad upn: %+v", p)
	}
	var list struct {
		Users     []admin.UserView
		Matched   int
		Truncated bool
	}
	c.must(200, "GET", "/users?q=KENJI", nil, &list)
	if list.Matched != 1 || len(list.Users) != 1 || list.Users[0].DisplayName != "鈴木 健二" {
		t.Fatalf("search: %+v", list)
	}
	c.must(200, "GET", "/users?limit=1", nil, &list)
	if len(list.Users) != 1 || list.Matched < 2 || !list.Truncated {
		t.Fatalf("limit: %+v", list)
	}
	if c.do("GET", "/users?limit=0", nil, &p); p.Status != 422 {
		t.Fatalf("limit 0: %+v", p)
	}
	var uv admin.UserView
	c.must(200, "POST", "/users/"+upn+"/disable", nil, &uv)
	if uv.Status != "disabled" {
		t.Fatalf("disable: %+v", uv)
	}
	c.must(200, "POST", "/users/"+upn+"/enable", nil, &uv)
	var otp struct{ Password string }
	c.must(200, "POST", "/users/"+upn+"/reset-password", nil, &otp)
	if u, _ := st.GetUserByUPN(ctx, upn); !u.PasswordChangeRequired || otp.Password == "" {
		t.Fatal("reset password: not a one-time password")
	}
	c.must(200, "POST", "/users/"+upn+"/reset-factors", nil, &uv)
	var codes struct{ Codes []string }
	c.must(200, "POST", "/users/"+upn+"/emergency-codes", nil, &codes)
	if len(codes.Codes) != 10 {
		t.Fatalf("codes: %v", codes)
	}
	c.must(200, "POST", "/users/"+upn+"/unlock", nil, &uv)
	var imp struct {
		Rows []struct {
			Line                int
			UPN, Action, Detail string
		}
		Created, Skipped, Errors int
	}
	c.must(200, "POST", "/users/import", map[string]any{"csv": "userPrincipalName,displayName\nmika@example.com,Mika\n,nobody\n"}, &imp)
	if imp.Created != 1 || imp.Errors != 1 || len(imp.Rows) != 2 {
		t.Fatalf("import: %+v", imp)
	}
	if c.do("GET", "/users/nobody@example.com", nil, &p); p.Status != 404 || p.Code != "not_found" {
		t.Fatalf("unknown user: %+v", p)
	}

	// ---- groups ----
	c.must(201, "POST", "/groups", map[string]any{"name": "api-team", "description": "made by the API"}, nil)
	c.must(204, "PUT", "/groups/api-team/members/"+upn, nil, nil)
	var groups []struct {
		Name    string
		Members int
	}
	c.must(200, "GET", "/groups", nil, &groups)
	if i := slices.IndexFunc(groups, func(g struct {
		Name    string
		Members int
	}) bool {
		return g.Name == "api-team"
	}); i < 0 || groups[i].Members != 1 {
		t.Fatalf("groups: %+v", groups)
	}
	c.must(204, "DELETE", "/groups/api-team/members/"+upn, nil, nil)

	// ---- networks ----
	c.must(200, "PUT", "/networks/lab", map[string]any{"description": "lab", "cidrs": []string{"198.51.100.0/24"}}, nil)
	if c.do("PUT", "/networks/bad", map[string]any{"cidrs": []string{"10.0.0.0/33"}}, &p); p.Status != 422 || !strings.Contains(p.Detail, "10.0.0.0/33") {
		t.Fatalf("bad cidr: %+v", p)
	}
	if _, err := st.GetNetwork(ctx, "bad"); err == nil {
		t.Fatal("a refused network was saved")
	}
	var nets []struct {
		Name  string
		CIDRs []string
	}
	c.must(200, "GET", "/networks", nil, &nets)
	if !slices.ContainsFunc(nets, func(n struct {
		Name  string
		CIDRs []string
	}) bool {
		return n.Name == "lab"
	}) {
		t.Fatalf("networks: %+v", nets)
	}

	c.must(204, "DELETE", "/networks/lab", nil, nil)
	if _, err := st.GetNetwork(ctx, "lab"); err == nil {
		t.Fatal("deleted network still there")
	}

	// ---- policy ----
	var inForce struct {
		Version  int64
		Document string
	}
	c.must(200, "GET", "/policy", nil, &inForce)
	if c.do("POST", "/policy/check", map[string]any{"document": "version: 1\ndefault: deny\nrules:\n  - name: x\n    networks: [nowhere]\n    action: allow\n"}, &p); p.Status != 422 ||
		p.Code != "invalid_policy" || len(p.Errors) == 0 || p.Errors[0].Line != 5 {
		t.Fatalf("check of a bad policy: %+v", p)
	}
	var ok struct{ OK bool }
	c.must(200, "POST", "/policy/check", map[string]any{"document": inForce.Document}, &ok)
	var wi struct {
		Decision, Rule, Explanation string
		InsideNetworks              []string
	}
	c.must(200, "POST", "/policy/what-if", map[string]any{"user": "alice@example.com", "application": "microsoft365", "ip": "203.0.113.9"}, &wi)
	if wi.Decision != "allow" || wi.Rule != "office" || !slices.Contains(wi.InsideNetworks, "office") || wi.Explanation == "" {
		t.Fatalf("what-if: %+v", wi)
	}
	draft := strings.Replace(inForce.Document, "  - name: office\n    networks: [office]\n    action: allow", "  - name: office\n    networks: [office]\n    action: require_mfa", 1)
	if draft == inForce.Document {
		t.Fatal("the demo policy changed: the draft below must differ")
	}
	var replay struct{ Evaluated, Changed int }
	c.must(200, "POST", "/policy/replay", map[string]any{"document": draft, "since": "1d"}, &replay)
	if replay.Evaluated == 0 {
		t.Fatalf("replay evaluated nothing: %+v", replay)
	}
	var pub struct{ Version int64 }
	c.must(201, "POST", "/policy", map[string]any{"document": draft, "comment": "via api", "baseVersion": inForce.Version}, &pub)
	if pub.Version != inForce.Version+1 {
		t.Fatalf("published %+v", pub)
	}
	if c.do("POST", "/policy", map[string]any{"document": inForce.Document, "baseVersion": inForce.Version}, &p); p.Status != 409 || p.Code != "stale_policy" {
		t.Fatalf("publish over a stale version: %+v", p)
	}
	var versions []struct {
		Version  int64
		Document string
	}
	c.must(200, "GET", "/policy/versions", nil, &versions)
	if len(versions) < 2 || versions[0].Version != pub.Version || versions[0].Document != "" {
		t.Fatalf("versions: %+v", versions)
	}
	c.must(200, "GET", "/policy/versions/1", nil, &inForce)
	c.must(201, "POST", "/policy/rollback", map[string]any{"version": pub.Version - 1}, &pub)

	// ---- applications and domains ----
	var app struct{ Name, EntityID string }
	c.must(201, "POST", "/applications", map[string]any{"name": "wiki", "metadata": idptest.WikiMetadata}, &app)
	if app.EntityID != "https://wiki.example.com/shibboleth" {
		t.Fatalf("app: %+v", app)
	}
	if c.do("POST", "/applications", map[string]any{"name": "broken", "metadata": "<md:EntityDescriptor"}, &p); p.Status != 422 {
		t.Fatalf("bad metadata: %+v", p)
	}
	var apps []struct{ Name string }
	c.must(200, "GET", "/applications", nil, &apps)
	c.must(204, "DELETE", "/applications/wiki", nil, nil)
	e.apiOIDCClients(t, c)
	var dom struct{ Name, IssuerURI string }
	c.must(200, "PUT", "/domains/api.example.org", map[string]any{"emitMfa": true, "insideNetworks": []string{"office"},
		"promptLoginBehavior": "nativeSupport"}, &dom)
	if dom.IssuerURI == "" {
		t.Fatalf("domain: %+v", dom)
	}
	var doms []struct{ Name string }
	c.must(200, "GET", "/domains", nil, &doms)
	var fed struct {
		PowerShell string
		Problems   []struct{ Severity, Text string }
	}
	c.must(200, "GET", "/domains/api.example.org/federation", nil, &fed)
	if !strings.Contains(fed.PowerShell, "api.example.org") {
		t.Fatalf("federation: %+v", fed)
	}
	c.must(204, "DELETE", "/domains/api.example.org", nil, nil)

	// ---- devices ----
	var issued struct {
		Device         struct{ ID, Status string }
		DownloadURL    string
		PKCS12Password string
	}
	c.must(201, "POST", "/devices", map[string]any{"user": upn, "name": "kenji-pc", "platform": "windows"}, &issued)
	if !strings.Contains(issued.DownloadURL, "/devices/download/") || issued.PKCS12Password == "" {
		t.Fatalf("issued: %+v", issued)
	}
	var devs []struct{ ID, User string }
	c.must(200, "GET", "/devices?user="+upn, nil, &devs)
	if len(devs) != 1 || devs[0].User != upn {
		t.Fatalf("devices: %+v", devs)
	}
	c.must(201, "POST", "/devices/"+issued.Device.ID+"/renew", map[string]any{"validityDays": 30}, &issued)
	var revoked struct{ Status string }
	c.must(200, "POST", "/devices/"+issued.Device.ID+"/revoke", nil, &revoked)
	if revoked.Status != "revoked" {
		t.Fatalf("revoked: %+v", revoked)
	}
	var detail struct{ Devices []struct{ Status string } }
	c.must(200, "GET", "/users/"+upn, nil, &detail)
	if len(detail.Devices) != 2 {
		t.Fatalf("user's devices: %+v", detail)
	}

	// ---- mail bridge: app passwords, mailbox connections ----
	e.apiAppPasswords(t, c)

	// ---- logs ----
	var signins struct {
		SignIns []struct{ ID, Protocol, User string }
		Matched int
	}
	c.must(200, "GET", "/signins?user="+e.res.AdminUPN+"&application=sekisho-admin", nil, &signins)
	if signins.Matched == 0 || signins.SignIns[0].Protocol != "api" {
		t.Fatalf("sign-ins: %+v", signins)
	}
	var one struct {
		ID    string
		Trace json.RawMessage
	}
	c.must(200, "GET", "/signins/"+signins.SignIns[0].ID, nil, &one)
	if len(one.Trace) == 0 {
		t.Fatalf("record without its trace: %+v", one)
	}
	var entries []struct{ Actor, Via, Action, Target string }
	c.must(200, "GET", "/audit?action=user.", nil, &entries)
	if len(entries) == 0 || entries[0].Via != "api" || entries[0].Actor != e.res.AdminUPN {
		t.Fatalf("audit: %+v", entries)
	}
	var rep map[string]any
	c.must(200, "GET", "/reports/legacy-auth?since=7d", nil, &rep)
	if _, ok := rep["summary"]; !ok {
		t.Fatalf("report: %v", rep)
	}

	// ---- keys ----
	var ks []struct{ ID, Alg, State string }
	count := func(alg, state string) int {
		n := 0
		for _, k := range ks {
			if k.Alg == alg && k.State == state {
				n++
			}
		}
		return n
	}
	// ---- directory connectors (none in this instance; TestDirectoryConnectors has one) ----
	var conns []admin.ConnectorView
	c.must(200, "GET", "/directory/connectors", nil, &conns)
	if len(conns) != 0 {
		t.Fatalf("connectors of an instance without any: %+v", conns)
	}
	c.must(404, "POST", "/directory/connectors/nowhere/sync", nil, nil)
	var scims []admin.SCIMTokenView
	c.must(200, "GET", "/directory/scim-connectors", nil, &scims)

	c.must(200, "GET", "/keys", nil, &ks)
	c.must(200, "POST", "/keys/rotate", nil, &ks)
	if count("RS256", "current") != 1 || count("RS256", "next") != 1 {
		t.Fatalf("after rotate: %+v", ks)
	}
	c.must(200, "POST", "/keys/promote", nil, &ks)
	var retired struct{ Retired int }
	c.must(200, "POST", "/keys/retire", nil, &retired)
	if retired.Retired != 1 {
		t.Fatalf("retired %+v", retired)
	}
	// The ES256 key of OpenID Connect clients rolls over on its own.
	c.must(200, "POST", "/keys/rotate?alg=ES256", nil, &ks)
	if count("ES256", "next") != 1 || count("RS256", "next") != 0 {
		t.Fatalf("after an ES256 rotate: %+v", ks)
	}
	c.must(422, "POST", "/keys/rotate?alg=HS256", nil, nil)

	// ---- tokens and roles ----
	var audTok admin.CreatedToken
	c.must(201, "POST", "/tokens", map[string]any{"role": "auditor", "name": "read-only export", "lifetimeDays": 7}, &audTok)
	if audTok.Owner != e.res.AdminUPN || !strings.HasPrefix(audTok.Token, "skt_") || time.Until(audTok.ExpiresAt) > 8*24*time.Hour {
		t.Fatalf("token: %+v", audTok)
	}
	if row, _ := st.GetAPIToken(ctx, audTok.ID); bytes.Contains(row.Hash, []byte(audTok.Token[len(audTok.Token)-43:])) {
		t.Fatal("the secret is stored")
	}
	auditor := e.apiClient(t, audTok.Token)
	auditor.must(200, "GET", "/policy", nil, nil)
	if auditor.do("POST", "/users", map[string]any{"upn": "eve@example.com"}, &p); p.Status != 403 || p.Code != "role" {
		t.Fatalf("auditor creating a user: %+v", p)
	}
	if _, err := st.GetUserByUPN(ctx, "eve@example.com"); err == nil {
		t.Fatal("the auditor's refused change was made")
	}
	var toks []admin.TokenView
	c.must(200, "GET", "/tokens", nil, &toks)
	c.must(200, "POST", "/tokens/"+audTok.ID+"/revoke", nil, nil)
	if auditor.do("GET", "/policy", nil, &p); p.Status != 401 || p.Code != "token_revoked" || p.Reference == "" {
		t.Fatalf("revoked token: %+v", p)
	}
	if r, err := st.GetSignIn(ctx, p.Reference); err != nil || !strings.Contains(r.Reason, "token_revoked") || r.Username != e.res.AdminUPN || r.ClientType != "api" {
		t.Fatalf("record of the revoked token: %+v %v", r, err)
	}
	// A helpdesk token changes users and reads no policy.
	if _, err := e.svc.Instance.Admin.AddUser(ctx, admin.Actor{Name: "os:test", Via: "cli"}, setupUser("desk@example.com", "sekisho-helpdesk")); err != nil {
		t.Fatal(err)
	}
	desk := e.apiClient(t, e.token(t, "desk@example.com", roles.Helpdesk).Token)
	desk.must(200, "POST", "/users/"+upn+"/unlock", nil, &uv)
	if desk.do("GET", "/policy", nil, &p); p.Status != 403 || p.Code != "role" {
		t.Fatalf("helpdesk reading the policy: %+v", p)
	}
	// A token cannot be more than its owner.
	if _, err := e.svc.Instance.Admin.CreateToken(ctx, admin.Actor{Name: "os:test", Via: "cli"},
		admin.NewToken{Owner: "desk@example.com", Role: roles.Admin, Name: "escalate"}); err == nil {
		t.Fatal("a helpdesk user got an admin token")
	}

	c.must(204, "DELETE", "/users/"+upn, nil, nil)
	if _, err := st.GetUserByUPN(ctx, upn); err == nil {
		t.Fatal("deleted user still there")
	}

	// ---- bad requests ----
	if c.do("POST", "/groups", "{not json", &p); p.Status != 400 || p.Code != "bad_json" {
		t.Fatalf("bad json: %+v", p)
	}
	if c.do("POST", "/groups", map[string]any{"name": "x", "admin": true}, &p); p.Status != 400 {
		t.Fatalf("unknown field: %+v", p)
	}
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/groups", strings.NewReader("name=x"))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := e.ts.Client().Do(req); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a form post: %d", resp.StatusCode)
	}
	anon := e.apiClient(t, "")
	if anon.do("GET", "/users", nil, &p); p.Status != 401 || p.Code != "no_token" {
		t.Fatalf("no token: %+v", p)
	}
	forged := e.apiClient(t, "skt_"+tok.ID+"_"+strings.Repeat("A", 43))
	if forged.do("GET", "/users", nil, &p); p.Status != 401 || p.Code != "token_unknown" {
		t.Fatalf("forged secret: %+v", p)
	}
	// A browser's admitted console session is not an API credential.
	browser := e.adminBrowser(t)
	req, _ = http.NewRequest("GET", e.ts.URL+"/api/v1/users", nil)
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if readAll(resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("console session on the API: %d", resp.StatusCode)
	}

	// ---- the policy decides where a token may be used ----
	e.publish(t, strings.Replace(setup.DemoPolicy, "    protocols: [api]\n", "    protocols: [saml]\n", 1))
	if c.do("GET", "/users", nil, &p); p.Status != 403 || p.Code != "mfa_required" || !strings.Contains(p.Detail, "second factor") {
		t.Fatalf("policy without an API rule: %+v", p)
	}
	if r, _ := st.GetSignIn(ctx, p.Reference); r.Decision != "mfa_required" || r.Rule != "console-admins-with-mfa" || r.Protocol != "api" {
		t.Fatalf("record of the refusal: %+v", r)
	}

	for op, done := range c.ops {
		if !done {
			t.Errorf("documented %s was never exercised by this test", op)
		}
	}
}

func setupUser(upn, group string) directory.NewUser {
	return directory.NewUser{UPN: upn, Groups: []string{group}, Password: "a long password 4 test", Temporary: false}
}

// apiRecords counts the sign-in records of API calls.
func (e *env) apiRecords(t *testing.T) int {
	n := 0
	for _, r := range e.records(t, store.SignInFilter{Application: "sekisho-admin"}) {
		if r.Protocol == "api" {
			n++
		}
	}
	return n
}
