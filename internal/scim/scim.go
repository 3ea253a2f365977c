// Package scim is Sekisho's SCIM 2.0 service provider (RFC 7643, RFC 7644) at /scim/v2: the
// provisioning door through which Microsoft Entra ID (or another SCIM client) creates,
// changes and removes users and groups. Each SCIM connector has a name and one bearer token
// (internal/scimtoken, `sekisho directory scim-token issue NAME`); the users and groups it
// creates are owned by it (Source "scim:<name>"), and it sees and changes nothing else — not
// local users, not an LDAP connector's, not another SCIM connector's.
//
// Every request passes the gate as the connector acting in its own name
// (signin.Attempt.Client "scim:<name>", application sekisho-scim, protocol scim, client type
// api), so the policy decides from where provisioning may come. Every change is one
// transaction of the admin service with one admin-audit entry naming the connector (via
// "scim"); a refused change writes a scim.refused entry. PATCH is applied to the resource's
// JSON form, which is then read back by the same strict reader as a POST or PUT body, so
// every road to a change passes the same checks.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/appguard"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/scimtoken"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Prefix is where the service is mounted (Entra's "Tenant URL" is the base URL + Prefix).
const Prefix = "/scim/v2"

// Protocol is the gate's protocol name for SCIM calls.
const Protocol = "scim"

const (
	maxBody      = 1 << 20
	defaultCount = 100
	maxCount     = 200
	touchEvery   = time.Minute
)

// Router is where the service is mounted (the server's mux).
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// Server serves /scim/v2.
type Server struct {
	Store  store.Store
	Admin  *admin.Service
	Gate   appguard.Judge
	Tokens *scimtoken.Hasher
	// RecordRejected writes the sign-in record of a refused token and returns its ID.
	RecordRejected func(ctx context.Context, r *http.Request, protocol, app, username, reason string) string
	BaseURL        string
	Log            *slog.Logger
	Now            func() time.Time
}

// Connector is a SCIM connector as the directory sees it: a source of users that pushes
// them (it is neither a Syncer nor a PasswordVerifier: its users sign in with what they set
// up at Sekisho).
type Connector struct{ Name string }

// ID implements directory.Connector.
func (c Connector) ID() string { return scimtoken.Source(c.Name) }

var _ directory.Connector = Connector{}

// Routes lists every route Mount registers (method and path below Prefix).
var Routes = []string{
	"GET /ServiceProviderConfig", "GET /ResourceTypes", "GET /ResourceTypes/{id}", "GET /Schemas", "GET /Schemas/{id}",
	"GET /Users", "POST /Users", "GET /Users/{id}", "PUT /Users/{id}", "PATCH /Users/{id}", "DELETE /Users/{id}",
	"GET /Groups", "POST /Groups", "GET /Groups/{id}", "PUT /Groups/{id}", "PATCH /Groups/{id}", "DELETE /Groups/{id}",
}

// call is one authenticated request.
type call struct {
	r     *http.Request
	ctx   context.Context
	conn  string
	actor admin.Actor
	v     *view
}

type handler func(c *call, w http.ResponseWriter) *Error

// Mount registers every route.
func (s *Server) Mount(mux Router) {
	hs := map[string]handler{
		"GET /ServiceProviderConfig": s.serviceProviderConfig,
		"GET /ResourceTypes":         s.resourceTypes,
		"GET /ResourceTypes/{id}":    s.resourceTypes,
		"GET /Schemas":               s.schemas,
		"GET /Schemas/{id}":          s.schemas,
		"GET /Users":                 s.listUsers,
		"POST /Users":                s.createUser,
		"GET /Users/{id}":            s.getUser,
		"PUT /Users/{id}":            s.changeUser,
		"PATCH /Users/{id}":          s.changeUser,
		"DELETE /Users/{id}":         s.deleteUser,
		"GET /Groups":                s.listGroups,
		"POST /Groups":               s.createGroup,
		"GET /Groups/{id}":           s.getGroup,
		"PUT /Groups/{id}":           s.changeGroup,
		"PATCH /Groups/{id}":         s.changeGroup,
		"DELETE /Groups/{id}":        s.deleteGroup,
	}
	for _, rt := range Routes {
		m, p, _ := strings.Cut(rt, " ")
		mux.Handle(m+" "+Prefix+p, s.serve(hs[rt]))
	}
}

func (s *Server) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Cookies mean nothing here: no browser session is used, or admitted, by a SCIM call.
		r = r.Clone(r.Context())
		r.Header.Del("Cookie")
		c, e := s.authenticate(r)
		if e != nil {
			writeError(w, e)
			return
		}
		if e := h(c, w); e != nil {
			s.Log.WarnContext(r.Context(), "scim: refused", "connector", c.conn, "method", r.Method, "path", r.URL.Path,
				"status", e.Status, "scimType", e.ScimType, "detail", e.Detail)
			if r.Method != http.MethodGet && e.Status < 500 {
				// The refused change is in the admin audit log too: what was asked, and why not.
				doc := map[string]any{"method": r.Method, "path": r.URL.Path, "status": e.Status, "scimType": e.ScimType, "detail": e.Detail}
				if err := s.Admin.Provision(r.Context(), c.actor, "scim.refused", r.URL.Path, func(store.Store, *directory.Directory) (any, any, error) {
					return nil, doc, nil
				}); err != nil {
					s.Log.ErrorContext(r.Context(), "scim: audit entry of a refusal", "err", err)
				}
			}
			writeError(w, e)
		}
	})
}

// authenticate finds the connector's token and asks the gate whether it may provision from here.
func (s *Server) authenticate(r *http.Request) (*call, *Error) {
	ctx := r.Context()
	scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(bearer) == "" {
		return nil, &Error{Status: 401, Detail: "send the connector's token: Authorization: Bearer sks_…"}
	}
	row, err := s.Tokens.Verify(ctx, s.Store, strings.TrimSpace(bearer))
	var refused *scimtoken.Refusal
	if errors.As(err, &refused) {
		who := ""
		if row.Connector != "" {
			who = scimtoken.Source(row.Connector)
		}
		ref := s.RecordRejected(ctx, r, Protocol, signin.AppSCIM, who, refused.Reason)
		return nil, &Error{Status: 401, Detail: "the SCIM token is not valid (" + refused.Reason + "); sign-in record " + ref}
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "scim: token lookup", "err", err)
		return nil, &Error{Status: 503, Detail: "the store is not answering; try again"}
	}
	client := scimtoken.Source(row.Connector)
	at := signin.Attempt{Protocol: Protocol, Application: signin.AppSCIM, Endpoint: signin.Passive, HTTP: r, Client: client}
	// Judged at every request without a record; recorded the first time the token is used
	// from an address and whenever the verdict is not allow.
	o, err := s.Gate.Evaluate(ctx, at)
	recorded := false
	if err != nil || !o.Allowed || row.LastIP != o.ClientIP.String() {
		if o, err = s.Gate.Check(ctx, at); err != nil {
			s.Log.ErrorContext(ctx, "scim: gate unavailable", "err", err)
			return nil, &Error{Status: 503, Detail: "the gate could not judge the request; try again"}
		}
		recorded = true
	}
	if !o.Allowed {
		return nil, &Error{Status: 403, Detail: fmt.Sprintf("the access policy refused %s here (sign-in record %s): %s", client, o.EventID, o.Message)}
	}
	now := s.Now()
	if recorded || now.Sub(row.LastUsedAt) >= touchEvery {
		ip := o.ClientIP.String()
		if _, err := s.Store.UpdateSCIMToken(ctx, row.Connector, func(t store.SCIMToken) (store.SCIMToken, error) {
			t.LastUsedAt, t.LastIP = now.UTC(), ip
			return t, nil
		}); err != nil {
			s.Log.WarnContext(ctx, "scim: record the token's use", "connector", row.Connector, "err", err)
		}
	}
	return &call{r: r, ctx: ctx, conn: row.Connector, actor: admin.Actor{Name: client, Via: "scim"},
		v: &view{st: s.Store, source: client, baseURL: s.BaseURL}}, nil
}

func writeError(w http.ResponseWriter, e *Error) {
	body := map[string]any{"schemas": []string{msgError}, "status": strconv.Itoa(e.Status), "detail": e.Detail}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	if e.Status == 401 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sekisho-scim"`)
	}
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeResource(w http.ResponseWriter, status int, res map[string]any) {
	meta, _ := res["meta"].(map[string]any)
	if meta != nil {
		if v, ok := meta["version"].(string); ok {
			w.Header().Set("ETag", v)
		}
		if status == http.StatusCreated {
			w.Header().Set("Location", meta["location"].(string))
		}
	}
	writeJSON(w, status, res)
}

// readBody reads a JSON object: a JSON media type, at most 1 MiB, one value.
func readBody(c *call, w http.ResponseWriter) (map[string]any, *Error) {
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/scim+json" && mt != "application/json" {
			return nil, &Error{Status: 415, Detail: "send the body as application/scim+json"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, c.r.Body, maxBody))
	if err != nil {
		return nil, &Error{Status: 413, Detail: fmt.Sprintf("the body is larger than %d bytes", maxBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errInvalidSyntax("the body is not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errInvalidSyntax("the body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errInvalidSyntax("the body holds more than one JSON value")
	}
	return m, nil
}

// asError turns a store or service error into a SCIM error.
func (s *Server) asError(c *call, err error) *Error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: 404, Detail: "no such resource"}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: 409, ScimType: "uniqueness", Detail: "the userName, externalId or displayName is already in use"}
	}
	s.Log.ErrorContext(c.ctx, "scim", "path", c.r.URL.Path, "err", err)
	return &Error{Status: 500, Detail: "Sekisho failed to answer; the server log has the detail"}
}

// checkIfMatch compares If-Match with the resource's version (412 when it differs).
func checkIfMatch(r *http.Request, res map[string]any) *Error {
	im := strings.TrimSpace(r.Header.Get("If-Match"))
	if im == "" || im == "*" {
		return nil
	}
	cur := res["meta"].(map[string]any)["version"].(string)
	for _, t := range strings.Split(im, ",") {
		t = strings.TrimSpace(t)
		if t == cur || "W/"+t == cur {
			return nil
		}
	}
	return &Error{Status: 412, Detail: "the resource changed since the version in If-Match (now " + cur + ")"}
}

// notModified answers a conditional GET of a user or group (RFC 7232 §3.2): when If-None-Match
// is "*" or lists the resource's version (weak comparison: W/ aside), a 304 carrying the ETag
// and Cache-Control a 200 would carry (RFC 7232 §4.1), and true.
func notModified(w http.ResponseWriter, r *http.Request, res map[string]any) bool {
	inm := strings.TrimSpace(r.Header.Get("If-None-Match"))
	if inm == "" {
		return false
	}
	cur := res["meta"].(map[string]any)["version"].(string)
	match := inm == "*"
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimSpace(t)
		if t != "" && strings.TrimPrefix(t, "W/") == strings.TrimPrefix(cur, "W/") {
			match = true
		}
	}
	if !match {
		return false
	}
	w.Header().Set("ETag", cur)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotModified)
	return true
}

// ---- discovery

func (s *Server) serviceProviderConfig(c *call, w http.ResponseWriter) *Error {
	writeJSON(w, 200, map[string]any{
		"schemas":          []string{schemaSPC},
		"documentationUri": "https://github.com/sekisho/sekisho/blob/main/docs/directory.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{"type": "oauthbearertoken", "name": "Bearer token",
			"description": "the connector's token from `sekisho directory scim-token issue NAME`", "primary": true}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": s.BaseURL + Prefix + "/ServiceProviderConfig"},
	})
	return nil
}

func (s *Server) resourceTypes(c *call, w http.ResponseWriter) *Error {
	rts := []map[string]any{
		{"schemas": []string{schemaRT}, "id": "User", "name": "User", "endpoint": "/Users", "schema": schemaUser,
			"schemaExtensions": []any{map[string]any{"schema": schemaEnterprise, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": s.BaseURL + Prefix + "/ResourceTypes/User"}},
		{"schemas": []string{schemaRT}, "id": "Group", "name": "Group", "endpoint": "/Groups", "schema": schemaGroup,
			"meta": map[string]any{"resourceType": "ResourceType", "location": s.BaseURL + Prefix + "/ResourceTypes/Group"}},
	}
	return oneOrList(c, w, rts)
}

func (s *Server) schemas(c *call, w http.ResponseWriter) *Error {
	var out []map[string]any
	for _, sc := range []struct {
		id, name string
		attrs    []attrDef
	}{{schemaUser, "User", userSchema.attrs}, {schemaEnterprise, "EnterpriseUser", userSchema.extensions[schemaEnterprise]},
		{schemaGroup, "Group", groupSchema.attrs}} {
		var attrs []any
		for _, a := range sc.attrs {
			if a.name == "schemas" || a.name == "meta" {
				continue
			}
			t := map[kind]string{kString: "string", kBool: "boolean", kComplex: "complex", kAny: "complex"}[a.kind]
			mut := "readWrite"
			if a.readOnly {
				mut = "readOnly"
			}
			d := a.desc
			if !a.stored {
				d = "accepted, not stored by Sekisho"
			}
			attrs = append(attrs, map[string]any{"name": a.name, "type": t, "multiValued": a.multi, "description": d,
				"required": a.name == "userName" || sc.name == "Group" && a.name == "displayName", "mutability": mut,
				"returned": "default", "uniqueness": map[bool]string{true: "server", false: "none"}[a.name == "userName" || a.name == "id"],
				"caseExact": a.name == "id" || a.name == "externalId"})
		}
		out = append(out, map[string]any{"schemas": []string{schemaDefn}, "id": sc.id, "name": sc.name, "attributes": attrs,
			"meta": map[string]any{"resourceType": "Schema", "location": s.BaseURL + Prefix + "/Schemas/" + sc.id}})
	}
	return oneOrList(c, w, out)
}

func oneOrList(c *call, w http.ResponseWriter, all []map[string]any) *Error {
	if id := c.r.PathValue("id"); id != "" {
		for _, x := range all {
			if x["id"] == id {
				writeJSON(w, 200, x)
				return nil
			}
		}
		return &Error{Status: 404, Detail: "no such resource"}
	}
	res := make([]any, len(all))
	for i, x := range all {
		res[i] = x
	}
	writeJSON(w, 200, map[string]any{"schemas": []string{msgList}, "totalResults": len(all), "startIndex": 1,
		"itemsPerPage": len(all), "Resources": res})
	return nil
}

// ---- lists

// listParams are a list request's filter and page.
type listParams struct {
	f            filter
	start, count int
}

func parseList(r *http.Request) (listParams, *Error) {
	q := r.URL.Query()
	lp := listParams{start: 1, count: defaultCount}
	if fs := strings.TrimSpace(q.Get("filter")); fs != "" {
		f, err := parseFilter(fs)
		if err != nil {
			return lp, &Error{Status: 400, ScimType: "invalidFilter", Detail: err.Error()}
		}
		lp.f = f
	}
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lp, errInvalidValue("startIndex must be an integer")
		}
		lp.start = max(n, 1)
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lp, errInvalidValue("count must be an integer")
		}
		lp.count = min(max(n, 0), maxCount)
	}
	return lp, nil
}

// project applies attributes / excludedAttributes (top-level names) to a resource.
func project(r *http.Request, res map[string]any) map[string]any {
	q := r.URL.Query()
	split := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, a := range strings.Split(s, ",") {
			if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
				m[a] = true
			}
		}
		return m
	}
	keep, drop := split(q.Get("attributes")), split(q.Get("excludedAttributes"))
	if len(keep) == 0 && len(drop) == 0 {
		return res
	}
	out := map[string]any{}
	for k, v := range res {
		lk := strings.ToLower(k)
		always := lk == "id" || lk == "schemas" || lk == "meta"
		if always || (len(keep) == 0 || keep[lk]) && !drop[lk] {
			out[k] = v
		}
	}
	return out
}

func writeList(c *call, w http.ResponseWriter, lp listParams, all []map[string]any) {
	var page []any
	for i := lp.start - 1; i < len(all) && len(page) < lp.count; i++ {
		page = append(page, project(c.r, all[i]))
	}
	if page == nil {
		page = []any{}
	}
	writeJSON(w, 200, map[string]any{"schemas": []string{msgList}, "totalResults": len(all), "startIndex": lp.start,
		"itemsPerPage": len(page), "Resources": page})
}

// eqOn returns the value of a filter that is exactly `attr eq "value"`.
func eqOn(f filter, attr string) (string, bool) {
	c, ok := f.(compare)
	if !ok || c.op != "eq" || c.attr.urn != "" || c.attr.sub != "" || !strings.EqualFold(c.attr.name, attr) {
		return "", false
	}
	s, ok := c.value.(string)
	return s, ok
}

func (s *Server) listUsers(c *call, w http.ResponseWriter) *Error {
	lp, e := parseList(c.r)
	if e != nil {
		return e
	}
	var us []store.User
	var err error
	// Entra's lookups (userName eq, externalId eq) go to the store's indexes.
	if upn, ok := eqOn(lp.f, "userName"); ok {
		if u, gerr := s.Store.GetUserByUPN(c.ctx, upn); gerr == nil && u.Source == c.v.source {
			us = []store.User{u}
		} else if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
			err = gerr
		}
	} else if ext, ok := eqOn(lp.f, "externalId"); ok {
		if u, gerr := s.Store.GetUserByImmutableID(c.ctx, ext); gerr == nil && u.Source == c.v.source {
			us = []store.User{u}
		} else if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
			err = gerr
		}
	} else {
		us, err = c.v.users(c.ctx)
	}
	if err != nil {
		return s.asError(c, err)
	}
	var all []map[string]any
	for _, u := range us {
		res, err := c.v.userResource(c.ctx, u)
		if err != nil {
			return s.asError(c, err)
		}
		if lp.f == nil || matches(lp.f, res) {
			all = append(all, res)
		}
	}
	writeList(c, w, lp, all)
	return nil
}

func (s *Server) listGroups(c *call, w http.ResponseWriter) *Error {
	lp, e := parseList(c.r)
	if e != nil {
		return e
	}
	if err := c.v.loadGroups(c.ctx); err != nil {
		return s.asError(c, err)
	}
	var gs []store.Group
	if name, ok := eqOn(lp.f, "displayName"); ok {
		if g, ok := c.v.groups[strings.ToLower(name)]; ok {
			gs = []store.Group{g}
		}
	} else {
		for _, g := range c.v.groups {
			gs = append(gs, g)
		}
	}
	var all []map[string]any
	for _, g := range gs {
		res, err := c.v.groupResource(c.ctx, g)
		if err != nil {
			return s.asError(c, err)
		}
		if lp.f == nil || matches(lp.f, res) {
			all = append(all, res)
		}
	}
	sortByName(all)
	writeList(c, w, lp, all)
	return nil
}

func sortByName(all []map[string]any) {
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && strings.ToLower(all[j]["displayName"].(string)) < strings.ToLower(all[j-1]["displayName"].(string)); j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
}

// ---- users

func (s *Server) getUser(c *call, w http.ResponseWriter) *Error {
	u, err := c.v.user(c.ctx, c.r.PathValue("id"))
	if err != nil {
		return s.asError(c, err)
	}
	res, err := c.v.userResource(c.ctx, u)
	if err != nil {
		return s.asError(c, err)
	}
	if notModified(w, c.r, res) {
		return nil
	}
	writeResource(w, 200, project(c.r, res))
	return nil
}

// provision runs fn as one change of the connector, serialised with its other changes.
func (s *Server) provision(c *call, action, target string, fn func(v *view, st store.Store) (before, after map[string]any, err error)) (map[string]any, *Error) {
	var out map[string]any
	err := s.Admin.Provision(c.ctx, c.actor, action, target, func(st store.Store, _ *directory.Directory) (any, any, error) {
		if err := st.Lock(c.ctx, "scim:"+c.conn); err != nil {
			return nil, nil, err
		}
		v := &view{st: st, source: c.v.source, baseURL: c.v.baseURL}
		before, after, err := fn(v, st)
		if err != nil {
			return nil, nil, err
		}
		out = after
		var b, a any
		if before != nil {
			b = before
		}
		if after != nil {
			a = after
		}
		return b, a, nil
	})
	if err != nil {
		return nil, s.asError(c, err)
	}
	return out, nil
}

func (s *Server) createUser(c *call, w http.ResponseWriter) *Error {
	body, e := readBody(c, w)
	if e != nil {
		return e
	}
	if e := checkSchemas(body, schemaUser, userSchema); e != nil {
		return e
	}
	f, e := readUser(body)
	if e != nil {
		return e
	}
	res, e := s.provision(c, "scim.user.create", f.UPN, func(v *view, st store.Store) (map[string]any, map[string]any, error) {
		if _, err := st.GetUserByUPN(c.ctx, f.UPN); err == nil {
			return nil, nil, &Error{Status: 409, ScimType: "uniqueness", Detail: "a user with userName " + f.UPN + " exists"}
		}
		if f.ImmutableID != "" {
			if _, err := st.GetUserByImmutableID(c.ctx, f.ImmutableID); err == nil {
				return nil, nil, &Error{Status: 409, ScimType: "uniqueness", Detail: "a user with externalId " + f.ImmutableID + " exists"}
			}
		} else {
			f.ImmutableID = directory.NewImmutableID()
		}
		now := s.Now().UTC()
		u := store.User{ID: uuid.NewString(), UPN: f.UPN, DisplayName: f.DisplayName, Email: f.Email, ImmutableID: f.ImmutableID,
			Status: store.UserActive, CreatedAt: now, UpdatedAt: now, Source: v.source}
		if !f.Active {
			u.Status = store.UserDisabled
		}
		if err := st.CreateUser(c.ctx, u); err != nil {
			return nil, nil, err
		}
		res, err := v.userResource(c.ctx, u)
		return nil, res, err
	})
	if e != nil {
		return e
	}
	writeResource(w, http.StatusCreated, res)
	return nil
}

// changeRequest is a PUT (the body replaces the resource) or a PATCH (operations on it) of
// one resource of a schema.
type changeRequest struct {
	id     string
	body   map[string]any
	ops    []patchOp
	patch  bool
	action string // the audit action: scim.KIND.replace or scim.KIND.patch
	schema *schema
}

// readChange reads a PUT or PATCH of a resource of schema s (kind names it in the audit log).
func readChange(c *call, w http.ResponseWriter, s *schema, kind string) (changeRequest, *Error) {
	q := changeRequest{id: c.r.PathValue("id"), patch: c.r.Method == http.MethodPatch, schema: s, action: "scim." + kind + ".replace"}
	var e *Error
	if q.body, e = readBody(c, w); e != nil {
		return q, e
	}
	if q.patch {
		q.action = "scim." + kind + ".patch"
		q.ops, e = readPatch(q.body)
	} else {
		e = checkSchemas(q.body, s.urn, s)
	}
	return q, e
}

// next is the resource the change asks for, from the resource as it is (before, which must
// match If-Match): the PUT body, or before with the PATCH operations applied. The id cannot
// change.
func (q changeRequest) next(r *http.Request, before map[string]any) (map[string]any, *Error) {
	if e := checkIfMatch(r, before); e != nil {
		return nil, e
	}
	next := q.body
	if q.patch {
		next = clone(before)
		delete(next, "meta")
		for _, o := range q.ops {
			if e := applyOp(next, o, q.schema); e != nil {
				return nil, e
			}
		}
	}
	if nid, ok := getCI(next, "id").(string); ok && nid != q.id {
		return nil, &Error{Status: 400, ScimType: "mutability", Detail: "id cannot change"}
	}
	return next, nil
}

// changeUser is PUT (the body replaces the resource) and PATCH (operations on it).
func (s *Server) changeUser(c *call, w http.ResponseWriter) *Error {
	q, e := readChange(c, w, userSchema, "user")
	if e != nil {
		return e
	}
	id := q.id
	res, e := s.provision(c, q.action, s.userTarget(c, id), func(v *view, st store.Store) (map[string]any, map[string]any, error) {
		old, err := v.user(c.ctx, id)
		if err != nil {
			return nil, nil, err
		}
		before, err := v.userResource(c.ctx, old)
		if err != nil {
			return nil, nil, err
		}
		next, e := q.next(c.r, before)
		if e != nil {
			return nil, nil, e
		}
		delete(next, keyCI(next, "groups")) // read-only: memberships are the Groups' members
		f, e := readUser(next)
		if e != nil {
			return nil, nil, e
		}
		if f.ImmutableID == "" {
			f.ImmutableID = old.ImmutableID // the ImmutableID is never emptied (Microsoft 365 matches on it)
		}
		if !strings.EqualFold(f.UPN, old.UPN) {
			if _, err := st.GetUserByUPN(c.ctx, f.UPN); err == nil {
				return nil, nil, &Error{Status: 409, ScimType: "uniqueness", Detail: "a user with userName " + f.UPN + " exists"}
			}
		}
		if f.ImmutableID != old.ImmutableID {
			if _, err := st.GetUserByImmutableID(c.ctx, f.ImmutableID); err == nil {
				return nil, nil, &Error{Status: 409, ScimType: "uniqueness", Detail: "a user with externalId " + f.ImmutableID + " exists"}
			}
		}
		status := store.UserActive
		if !f.Active {
			status = store.UserDisabled
		}
		nu, err := st.UpdateUser(c.ctx, id, func(u store.User) (store.User, error) {
			if u.UPN != f.UPN || u.DisplayName != f.DisplayName || u.Email != f.Email || u.ImmutableID != f.ImmutableID || u.Status != status {
				u.UpdatedAt = s.Now().UTC()
			}
			u.UPN, u.DisplayName, u.Email, u.ImmutableID, u.Status = f.UPN, f.DisplayName, f.Email, f.ImmutableID, status
			return u, nil
		})
		if err != nil {
			return nil, nil, err
		}
		if status == store.UserDisabled && old.Status == store.UserActive {
			if _, err := st.DeleteUserSessions(c.ctx, id); err != nil {
				return nil, nil, err
			}
		}
		nu.Groups = old.Groups
		after, err := v.userResource(c.ctx, nu)
		return before, after, err
	})
	if e != nil {
		return e
	}
	writeResource(w, 200, res)
	return nil
}

func (s *Server) deleteUser(c *call, w http.ResponseWriter) *Error {
	id := c.r.PathValue("id")
	_, e := s.provision(c, "scim.user.delete", s.userTarget(c, id), func(v *view, st store.Store) (map[string]any, map[string]any, error) {
		old, err := v.user(c.ctx, id)
		if err != nil {
			return nil, nil, err
		}
		before, err := v.userResource(c.ctx, old)
		if err != nil {
			return nil, nil, err
		}
		if e := checkIfMatch(c.r, before); e != nil {
			return nil, nil, e
		}
		if _, err := st.DeleteUserSessions(c.ctx, id); err != nil {
			return nil, nil, err
		}
		if err := st.DeleteUser(c.ctx, id); err != nil {
			return nil, nil, err
		}
		return before, nil, nil
	})
	if e != nil {
		return e
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userTarget names a user in the audit log as its UPN (the audit log's target for users).
func (s *Server) userTarget(c *call, id string) string {
	if u, err := c.v.user(c.ctx, id); err == nil {
		return u.UPN
	}
	return id
}

// groupTarget names a group in the audit log by its name.
func (s *Server) groupTarget(c *call, id string) string {
	if g, err := c.v.group(c.ctx, id); err == nil {
		return g.Name
	}
	return id
}

// readPatch reads a PatchOp message.
func readPatch(body map[string]any) ([]patchOp, *Error) {
	if e := checkSchemas(body, msgPatch, nil); e != nil {
		return nil, e
	}
	for k := range body {
		if !strings.EqualFold(k, "schemas") && !strings.EqualFold(k, "Operations") {
			return nil, errInvalidSyntax("unknown attribute %q of a PatchOp", k)
		}
	}
	raw, ok := getCI(body, "Operations").([]any)
	if !ok || len(raw) == 0 {
		return nil, errInvalidSyntax("Operations must be a non-empty array")
	}
	if len(raw) > 1000 {
		return nil, errInvalidSyntax("at most 1000 operations per request")
	}
	ops := make([]patchOp, 0, len(raw))
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, errInvalidSyntax("each operation is an object")
		}
		var o patchOp
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				o.Op, ok = v.(string)
			case "path":
				o.Path, ok = v.(string)
			case "value":
				o.Value, ok = v, true
			default:
				return nil, errInvalidSyntax("unknown member %q of an operation", k)
			}
			if !ok {
				return nil, errInvalidSyntax("an operation's %s must be a string", k)
			}
		}
		ops = append(ops, o)
	}
	return ops, nil
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// ---- groups

func (s *Server) getGroup(c *call, w http.ResponseWriter) *Error {
	g, err := c.v.group(c.ctx, c.r.PathValue("id"))
	if err != nil {
		return s.asError(c, err)
	}
	res, err := c.v.groupResource(c.ctx, g)
	if err != nil {
		return s.asError(c, err)
	}
	if notModified(w, c.r, res) {
		return nil
	}
	writeResource(w, 200, project(c.r, res))
	return nil
}

// setMembers makes the connector's members of group name exactly ids (other members stay).
func setMembers(ctx context.Context, v *view, st store.Store, name string, ids []string) error {
	current, err := st.ListMembers(ctx, name)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, id := range ids {
		if _, err := v.user(ctx, id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errInvalidValue("members: %s is not a user of this connector", id)
			}
			return err
		}
		want[id] = true
	}
	for _, m := range current {
		if m.Source != v.source {
			continue
		}
		if !want[m.ID] {
			if err := st.RemoveMember(ctx, name, m.ID); err != nil {
				return err
			}
		}
		delete(want, m.ID)
	}
	for _, id := range ids {
		if want[id] {
			if err := st.AddMember(ctx, name, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) createGroup(c *call, w http.ResponseWriter) *Error {
	body, e := readBody(c, w)
	if e != nil {
		return e
	}
	if e := checkSchemas(body, schemaGroup, groupSchema); e != nil {
		return e
	}
	f, e := readGroup(body)
	if e != nil {
		return e
	}
	res, e := s.provision(c, "scim.group.create", f.Name, func(v *view, st store.Store) (map[string]any, map[string]any, error) {
		if _, err := st.GetGroup(c.ctx, f.Name); err == nil {
			return nil, nil, &Error{Status: 409, ScimType: "uniqueness", Detail: "a group named " + f.Name + " exists"}
		}
		g := store.Group{ID: uuid.NewString(), Name: f.Name, CreatedAt: s.Now().UTC(), Source: v.source, SourceDN: f.ExternalID}
		if err := st.CreateGroup(c.ctx, g); err != nil {
			return nil, nil, err
		}
		if err := setMembers(c.ctx, v, st, g.Name, f.Members); err != nil {
			return nil, nil, err
		}
		res, err := v.groupResource(c.ctx, g)
		return nil, res, err
	})
	if e != nil {
		return e
	}
	writeResource(w, http.StatusCreated, res)
	return nil
}

func (s *Server) changeGroup(c *call, w http.ResponseWriter) *Error {
	q, e := readChange(c, w, groupSchema, "group")
	if e != nil {
		return e
	}
	id, patch := q.id, q.patch
	res, e := s.provision(c, q.action, s.groupTarget(c, id), func(v *view, st store.Store) (map[string]any, map[string]any, error) {
		g, err := v.group(c.ctx, id)
		if err != nil {
			return nil, nil, err
		}
		before, err := v.groupResource(c.ctx, g)
		if err != nil {
			return nil, nil, err
		}
		next, e := q.next(c.r, before)
		if e != nil {
			return nil, nil, e
		}
		f, e := readGroup(next)
		if e != nil {
			return nil, nil, e
		}
		if f.Name != g.Name || f.ExternalID != g.SourceDN {
			if !strings.EqualFold(f.Name, g.Name) {
				if _, err := st.GetGroup(c.ctx, f.Name); err == nil {
					return nil, nil, &Error{Status: 409, ScimType: "uniqueness", Detail: "a group named " + f.Name + " exists"}
				}
			}
			if g, err = st.UpdateGroup(c.ctx, g.Name, func(x store.Group) (store.Group, error) {
				x.Name, x.SourceDN = f.Name, f.ExternalID
				return x, nil
			}); err != nil {
				return nil, nil, err
			}
		}
		if err := setMembers(c.ctx, v, st, g.Name, f.Members); err != nil {
			return nil, nil, err
		}
		after, err := v.groupResource(c.ctx, g)
		return before, after, err
	})
	if e != nil {
		return e
	}
	if patch {
		w.Header().Set("ETag", res["meta"].(map[string]any)["version"].(string))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeResource(w, 200, res)
	return nil
}

func (s *Server) deleteGroup(c *call, w http.ResponseWriter) *Error {
	id := c.r.PathValue("id")
	_, e := s.provision(c, "scim.group.delete", s.groupTarget(c, id), func(v *view, st store.Store) (map[string]any, map[string]any, error) {
		g, err := v.group(c.ctx, id)
		if err != nil {
			return nil, nil, err
		}
		before, err := v.groupResource(c.ctx, g)
		if err != nil {
			return nil, nil, err
		}
		if e := checkIfMatch(c.r, before); e != nil {
			return nil, nil, e
		}
		return before, nil, st.DeleteGroup(c.ctx, g.Name)
	})
	if e != nil {
		return e
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
