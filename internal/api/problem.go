package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/store"
)

// Problem is an RFC 9457 problem detail. Type is a URN made from Code, the stable
// machine-readable reason; Reference names the sign-in record when the gate refused.
type Problem struct {
	Type      string         `json:"type" doc:"urn:sekisho:problem:<code>"`
	Title     string         `json:"title" doc:"the HTTP status text"`
	Status    int            `json:"status"`
	Code      string         `json:"code" doc:"stable reason code, e.g. no_token, token_expired, role, not_found, invalid, stale_policy, mfa_required"`
	Detail    string         `json:"detail,omitempty" doc:"one sentence for the person running the script"`
	Instance  string         `json:"instance,omitempty" doc:"the request path"`
	Reference string         `json:"reference,omitempty" doc:"the sign-in record of a refused token or gate decision"`
	Errors    []ProblemError `json:"errors,omitempty" doc:"each problem of a policy document, by line"`

	challenge string // WWW-Authenticate on a 401
}

// ProblemError is one problem in a submitted document.
type ProblemError struct {
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	p.Type, p.Title, p.Instance = "urn:sekisho:problem:"+p.Code, http.StatusText(p.Status), r.URL.Path
	if p.challenge != "" {
		w.Header().Set("WWW-Authenticate", p.challenge)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// problemOf turns an operation's error into a problem: what the URL names is missing (404),
// a conflict (409), the service's one-sentence refusal (422); a failure of Sekisho itself is
// a 500 whose detail stays in the log.
func (a *API) problemOf(r *http.Request, err error) *Problem {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, admin.ErrStalePolicy):
		return &Problem{Status: http.StatusConflict, Code: "stale_policy", Detail: err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return &Problem{Status: http.StatusNotFound, Code: "not_found", Detail: err.Error()}
	case errors.Is(err, store.ErrConflict):
		return &Problem{Status: http.StatusConflict, Code: "conflict", Detail: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Problem{Status: http.StatusServiceUnavailable, Code: "unavailable", Detail: "the request was cancelled"}
	case errors.As(err, new(internalError)):
		a.Log.ErrorContext(r.Context(), "api", "path", r.URL.Path, "err", err)
		return &Problem{Status: http.StatusInternalServerError, Code: "internal", Detail: "Sekisho failed to answer; the server log has the detail"}
	}
	return &Problem{Status: http.StatusUnprocessableEntity, Code: "invalid", Detail: err.Error()}
}

// internalError marks a failure of Sekisho itself (a read that should not fail), as opposed
// to the service refusing what it was asked.
type internalError struct{ error }

func (e internalError) Unwrap() error { return e.error }

func internal(err error) error {
	if err == nil {
		return nil
	}
	return internalError{err}
}

func invalid(detail string) error {
	return &Problem{Status: http.StatusUnprocessableEntity, Code: "invalid", Detail: detail}
}
