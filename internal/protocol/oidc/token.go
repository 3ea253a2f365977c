package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// token serves the token endpoint with zitadel/oidc's code exchange (client authentication,
// PKCE verification, ID and access token creation), for the authorization code grant only.
// The answer is held until a refusal has its sign-in record (no record, no answer), then sent.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	at := &attempt{}
	r = r.WithContext(context.WithValue(r.Context(), attemptKey{}, at))
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	buf := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	switch gt := r.FormValue("grant_type"); gt {
	case string(zoidc.GrantTypeCode):
		op.CodeExchange(buf, r, h.op)
	case "":
		op.RequestError(buf, r, zoidc.ErrInvalidRequest().WithDescription("grant_type missing"), nil)
	default:
		at.detail = "grant_type " + limit(gt, 100) + " is not served"
		op.RequestError(buf, r, zoidc.ErrUnsupportedGrantType().WithDescription("%s is not supported", limit(gt, 100)), nil)
	}
	if buf.status >= 400 {
		h.recordTokenRefusal(r, at, buf)
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	noStore(w)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(buf.status)
	_, _ = w.Write(buf.body.Bytes())
}

func (h *Handler) recordTokenRefusal(r *http.Request, at *attempt, buf *bufferedWriter) {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(buf.body.Bytes(), &e)
	if at.detail == "" && at.client != nil && at.codeClient != "" && at.client.ClientID != at.codeClient {
		at.detail = "the code was issued to another client"
	}
	reason := "token request: " + e.Error
	switch {
	case at.detail != "" && strings.Contains(at.detail, e.Description):
		reason += ": " + at.detail
	case at.detail != "":
		reason += ": " + e.Description + " (" + at.detail + ")"
	case e.Description != "":
		reason += ": " + e.Description
	}
	if at.app == "" {
		// The code did not say (malformed, forged): name the application the request claims to
		// be, if it is registered.
		id, _, ok := r.BasicAuth()
		if !ok {
			id = r.PostFormValue("client_id")
		}
		if id, err := url.QueryUnescape(id); err == nil && id != "" {
			if _, app, err := LookupClient(r.Context(), h.cfg.Apps, id); err == nil {
				at.app = app
			}
		}
	}
	username := ""
	if at.userID != "" {
		if u, err := h.cfg.Users.GetUser(r.Context(), at.userID); err == nil {
			username = u.UPN
		}
	}
	h.record(r.Context(), r, at.app, username, reason)
}

// bufferedWriter holds a response (token responses are small) so that it leaves only after
// its record is written.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
