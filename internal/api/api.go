// Package api is the admin REST API under /api/v1: the console's operations as JSON, for
// scripts and other systems. It holds no rules: every change goes through the admin service
// (one transaction, one admin-audit entry naming the token's owner, via "api") and every read
// through the same store queries and services the console uses.
//
// A request carries an API token (Authorization: Bearer skt_…). The token acts as its owner
// and passes the same gate as the console, as the application sekisho-admin with protocol
// and client type "api", so the policy decides from where a token may be used. A token is
// not a second factor: a rule that requires one refuses the API, and the administrator
// writes a rule for protocol api (the demo allows it from the office). Cookies are ignored,
// so a browser session neither authenticates a call nor is admitted by one.
//
// The operations are declared once (operations.go): the mux's routes and the OpenAPI 3.1
// document at /api/v1/openapi.json are both made from that table. Errors are RFC 9457
// problem details.
package api

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
	"reflect"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/apitoken"
	"github.com/sekisho/sekisho/internal/appguard"
	"github.com/sekisho/sekisho/internal/console/roles"
	"github.com/sekisho/sekisho/internal/report"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Router is where the API is mounted (the server's mux).
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// API serves /api/v1.
type API struct {
	Store  store.Store
	Admin  *admin.Service
	Gate   appguard.Judge
	Tokens *apitoken.Hasher
	// RecordRejected writes the sign-in record of a refused token and returns its ID.
	RecordRejected func(ctx context.Context, r *http.Request, protocol, app, username, reason string) string
	// Report builds the legacy-authentication report over the records since a time.
	Report  func(ctx context.Context, since time.Time) (*report.Report, error)
	BaseURL string // for the device download links
	Log     *slog.Logger
	Now     func() time.Time

	ops []*operation
}

// maxBody bounds a JSON request body; a CSV import may be larger.
const (
	maxBody       = 1 << 20
	maxImportBody = 20 << 20
)

// touchEvery bounds how often a token's last use is written when nothing else changed.
const touchEvery = time.Minute

// Mount registers every operation and the OpenAPI document.
func (a *API) Mount(mux Router) {
	a.ops = operations(a)
	for _, op := range a.ops {
		mux.Handle(op.Method+" "+Prefix+op.Path, a.serve(op))
	}
	doc, err := json.MarshalIndent(a.Document(), "", "  ")
	if err != nil {
		panic(fmt.Sprintf("api: the OpenAPI document does not encode: %v", err))
	}
	// The document is public: it describes the API, which is open source, and reveals no data.
	mux.Handle("GET "+Prefix+"/openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(doc)
	}))
}

// call is one request as an operation sees it.
type call struct {
	r     *http.Request
	ctx   context.Context
	user  store.User // the token's owner
	token store.APIToken
	actor admin.Actor
}

func (c *call) path(name string) string { return c.r.PathValue(name) }
func (c *call) query(name string) string {
	return strings.TrimSpace(c.r.URL.Query().Get(name))
}

// serve authenticates the token, asks the gate, checks the role and runs op.
func (a *API) serve(op *operation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A browser's cookies mean nothing here: strip them before anything reads the request,
		// so no session can be used — or admitted — by an API call.
		r = r.Clone(r.Context())
		r.Header.Del("Cookie")
		c, p := a.authenticate(r)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		if !allowed(roles.Role(c.token.Role), roles.Of(c.user.Groups), op.Area, op.Change) {
			a.Log.WarnContext(r.Context(), "api: refused by role", "user", c.user.UPN, "token", c.token.ID, "op", op.ID)
			writeProblem(w, r, &Problem{Status: http.StatusForbidden, Code: "role",
				Detail: fmt.Sprintf("the token (role %s) of %s may not %s", c.token.Role, c.user.UPN, op.Summary)})
			return
		}
		out, err := op.run(c, w)
		if err != nil {
			writeProblem(w, r, a.problemOf(r, err))
			return
		}
		if op.Status == http.StatusNoContent {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, op.Status, out)
	})
}

// allowed is what a token may do: what its own role and its owner's role both allow.
func allowed(token, owner roles.Role, area roles.Area, change bool) bool {
	if change {
		return token.CanChange(area) && owner.CanChange(area)
	}
	return token.CanRead(area) && owner.CanRead(area)
}

// authenticate finds the token and asks the gate whether its owner may use the API from here.
func (a *API) authenticate(r *http.Request) (*call, *Problem) {
	ctx := r.Context()
	scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(bearer) == "" {
		return nil, &Problem{Status: http.StatusUnauthorized, Code: "no_token",
			Detail: "send an API token: Authorization: Bearer skt_…", challenge: `Bearer realm="sekisho"`}
	}
	now := a.Now()
	row, err := a.Tokens.Verify(ctx, a.Store, strings.TrimSpace(bearer), now)
	var refused *apitoken.Refusal
	if errors.As(err, &refused) {
		who := ""
		if row.UserID != "" {
			if u, err := a.Store.GetUser(ctx, row.UserID); err == nil {
				who = u.UPN
			}
		}
		ref := a.RecordRejected(ctx, r, "api", signin.AppAdmin, who, refused.Reason)
		return nil, &Problem{Status: http.StatusUnauthorized, Code: refused.Reason, Reference: ref,
			Detail:    "the API token is not valid: " + strings.ReplaceAll(strings.TrimPrefix(refused.Reason, "token_"), "_", " "),
			challenge: `Bearer realm="sekisho", error="invalid_token"`}
	}
	if err != nil {
		a.Log.ErrorContext(ctx, "api: token lookup", "err", err)
		return nil, &Problem{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the store is not answering; try again"}
	}
	at := signin.Attempt{Protocol: "api", Application: signin.AppAdmin, Endpoint: signin.Passive, HTTP: r,
		Session: &signin.Session{ID: "api-token:" + row.ID, UserID: row.UserID, AuthnInstant: row.CreatedAt}}
	// Judged on every request without a record; recorded the first time the token is used
	// from an address (and whenever the verdict is not allow), like a console session.
	o, err := a.Gate.Evaluate(ctx, at)
	recorded := false
	if err != nil || !o.Allowed || row.LastIP != o.ClientIP.String() {
		if o, err = a.Gate.Check(ctx, at); err != nil {
			a.Log.ErrorContext(ctx, "api: gate unavailable", "err", err)
			return nil, &Problem{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the gate could not judge the request; try again",
				Reference: o.EventID}
		}
		recorded = true
	}
	if !o.Allowed {
		p := &Problem{Status: http.StatusForbidden, Code: string(o.Decision), Reference: o.EventID, Detail: o.Message}
		if o.StepUpMFA {
			p.Detail = "the policy asks for a second factor here, and an API token is not one; a rule for protocol \"api\" decides where tokens may be used"
		}
		return nil, p
	}
	if recorded || now.Sub(row.LastUsedAt) >= touchEvery {
		ip := o.ClientIP.String()
		used, err := a.Store.UpdateAPIToken(ctx, row.ID, func(t store.APIToken) (store.APIToken, error) {
			t.LastUsedAt, t.LastIP = now.UTC(), ip
			return t, nil
		})
		if err != nil {
			a.Log.WarnContext(ctx, "api: record the token's use", "token", row.ID, "err", err)
		} else {
			row = used
		}
	}
	return &call{r: r, ctx: ctx, user: o.User, token: row, actor: admin.Actor{Name: o.User.UPN, Via: "api"}}, nil
}

// decodeJSON reads a JSON body into v: application/json, bounded, no unknown fields, one value.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &Problem{Status: http.StatusUnsupportedMediaType, Code: "content_type", Detail: "send the body as application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return &Problem{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Detail: fmt.Sprintf("the body is larger than %d bytes", maxBody)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Problem{Status: http.StatusBadRequest, Code: "bad_json", Detail: "the body is not the JSON this operation takes: " + err.Error()}
	}
	if dec.More() {
		return &Problem{Status: http.StatusBadRequest, Code: "bad_json", Detail: "the body holds more than one JSON value"}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// isNone reports whether t is the "no body" type.
func isNone(t reflect.Type) bool { return t == reflect.TypeFor[none]() }

// none is the input or output of an operation without a body.
type none struct{}
