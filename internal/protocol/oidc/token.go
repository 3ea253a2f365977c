package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// token serves the token endpoint with zitadel/oidc's exchanges (client authentication, PKCE
// verification, ID and access token creation) for the authorization code, refresh token and
// client credentials grants. The answer is held until it may leave: a refresh token is stored
// (or rotated) before it is sent, and a refusal has its sign-in record (no record, no answer).
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	at := &attempt{}
	r = r.WithContext(context.WithValue(r.Context(), attemptKey{}, at))
	at.r = r
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	buf := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	switch gt := r.FormValue("grant_type"); gt {
	case string(zoidc.GrantTypeCode):
		op.CodeExchange(buf, r, h.op)
	case string(zoidc.GrantTypeRefreshToken):
		op.RefreshTokenExchange(buf, r, h.op)
	case string(zoidc.GrantTypeClientCredentials):
		op.ClientCredentialsExchange(buf, r, h.op)
	case GrantDeviceCode:
		h.deviceToken(buf, r, at)
	case "":
		op.RequestError(buf, r, zoidc.ErrInvalidRequest().WithDescription("grant_type missing"), nil)
	default:
		at.detail = "grant_type " + limit(gt, 100) + " is not served"
		op.RequestError(buf, r, zoidc.ErrUnsupportedGrantType().WithDescription("%s is not supported", limit(gt, 100)), nil)
	}
	if buf.status == http.StatusOK && at.commit != nil {
		if err := at.commit(r.Context()); err != nil {
			buf.reset()
			var refused errRefused
			if errors.As(err, &refused) {
				op.RequestError(buf, r, refused.e, nil)
			} else {
				at.fault = err
			}
		}
	}
	if at.fault != nil {
		// A failure of Sekisho, not of the request: the client may try again with the same
		// code or refresh token (nothing was spent but a code's single use).
		h.cfg.Logger.ErrorContext(r.Context(), "oidc token endpoint", "app", at.app, "err", at.fault)
		if at.detail == "" {
			at.detail = at.fault.Error()
		}
		buf.reset()
		op.RequestError(buf, r, zoidc.ErrServerError().WithDescription("Sekisho could not complete the request; try again"), nil)
	}
	if buf.status >= 400 && !at.recorded {
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
	username := h.upn(r.Context(), at.userID)
	if username == "" && at.client != nil && r.FormValue("grant_type") == GrantClientCredentials {
		username = at.client.ClientID // the client acts in its own name, as the gate records it
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

// reset discards what was written, to write another answer.
func (b *bufferedWriter) reset() {
	b.header, b.status, b.wrote = http.Header{}, http.StatusOK, false
	b.body.Reset()
}
func (b *bufferedWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
