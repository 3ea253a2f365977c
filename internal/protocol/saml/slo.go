package saml

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Single logout is a front-channel chain through the browser: the initiating SP's
// LogoutRequest ends the SSO session, then each other SAML SP the session signed in to gets a
// LogoutRequest (Redirect or POST) whose RelayState carries the HMAC-protected chain; its
// LogoutResponse continues the chain; the last step answers the initiator. An SP that never
// answers stops the chain (the session is already ended at Sekisho); SPs with transient
// NameIDs, without SLO endpoints, or when no Directory is configured are skipped and the
// initiator gets PartialLogout.

type sloPending struct {
	SP           string   `json:"sp"`
	NameID       string   `json:"nid"`
	NameIDFormat string   `json:"nf"`
	SessionIndex []string `json:"si,omitempty"`
}

type sloChain struct {
	Initiator    string       `json:"i"`
	InResponseTo string       `json:"irt"`
	RelayState   string       `json:"rs,omitempty"`
	Pending      []sloPending `json:"p,omitempty"`
	CurrentSP    string       `json:"csp,omitempty"`
	CurrentID    string       `json:"cid,omitempty"`
	Partial      bool         `json:"pl,omitempty"`
	// Final is where the browser goes at the end of a chain no SAML SP started (an OpenID
	// Connect client's logout request: its validated post-logout URI, or Sekisho's page).
	Final string `json:"f,omitempty"`
}

// LogoutApps runs the single logout chain through the browser for the SAML applications of a
// session another door ended (an OpenID Connect client's logout request): each SP with a
// single logout endpoint gets a LogoutRequest for u with the session's SessionIndex, in turn,
// and the browser then goes to final. It writes nothing and reports false when none of apps
// is a SAML SP that can be told.
func (h *Handler) LogoutApps(w http.ResponseWriter, r *http.Request, u store.User, apps []string, sessionIndex, final string) bool {
	chain := sloChain{Final: final}
	for _, a := range apps {
		sp, err := h.cfg.SPs.LookupSPByApp(r.Context(), a)
		if err != nil {
			continue // not a SAML application
		}
		sp.normalize()
		if _, ok := sp.sloEndpoint(); !ok || sp.NameIDSource == SourceTransient {
			continue
		}
		nid, err := nameIDValue(sp, u)
		if err != nil {
			continue
		}
		p := sloPending{SP: sp.EntityID, NameID: nid, NameIDFormat: sp.NameIDFormat}
		if sessionIndex != "" {
			p.SessionIndex = []string{sessionIndex}
		}
		chain.Pending = append(chain.Pending, p)
	}
	if len(chain.Pending) == 0 {
		return false
	}
	h.continueLogout(w, r, chain)
	return true
}

func (h *Handler) slo(w http.ResponseWriter, r *http.Request) {
	param := "SAMLRequest"
	if r.Method == http.MethodGet {
		if !r.URL.Query().Has("SAMLRequest") && r.URL.Query().Has("SAMLResponse") {
			param = "SAMLResponse"
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, 512<<10)
		if err := r.ParseForm(); err != nil {
			h.reject(w, r, "", "logout: bad form: "+err.Error())
			return
		}
		if _, ok := r.PostForm["SAMLRequest"]; !ok {
			param = "SAMLResponse"
		}
	}
	m, err := readMessage(r, w, param)
	if err != nil {
		h.reject(w, r, "", "logout: "+err.Error())
		return
	}
	if param == "SAMLResponse" {
		h.logoutResponse(w, r, m)
		return
	}
	h.logoutRequest(w, r, m)
}

// verifyFromSP finds the SP named by the message's Issuer and verifies its signature.
func (h *Handler) verifyFromSP(ctx context.Context, m *message) (ServiceProvider, string, bool, error) {
	claimed, err := unverifiedIssuer(m.Root)
	if err != nil {
		return ServiceProvider{}, "", false, err
	}
	sp, app, err := h.cfg.SPs.LookupSP(ctx, claimed)
	if err != nil {
		return ServiceProvider{}, "", false, fmt.Errorf("issuer %q is not a registered SP: %w", claimed, err)
	}
	root, signed, err := m.verify(sp, h.cfg.Clock())
	if err != nil {
		return sp, app, false, err
	}
	m.Root = root // from here on only the verified element is read
	return sp, app, signed, nil
}

// checkSLOHeader checks what both logout messages from sp carry: the issuer, which must be
// the SP the signature was verified for, and the header (destination, time).
func (h *Handler) checkSLOHeader(sp ServiceProvider, hd header, signed bool, now time.Time) error {
	if hd.Issuer != sp.EntityID {
		return fmt.Errorf("issuer %q differs from the verified issuer", hd.Issuer)
	}
	return h.checkHeader(hd, signed, h.cfg.IdP.SLOURL(), now)
}

func (h *Handler) logoutRequest(w http.ResponseWriter, r *http.Request, m *message) {
	ctx := r.Context()
	now := h.cfg.Clock()
	sp, app, signed, err := h.verifyFromSP(ctx, m)
	if err != nil {
		h.reject(w, r, sp.EntityID, "LogoutRequest: "+err.Error())
		return
	}
	req, err := parseLogoutRequest(m.Root)
	if err == nil {
		err = h.checkSLOHeader(sp, req.header, signed, now)
	}
	if err == nil && !req.NotOnOrAfter.IsZero() && !now.Before(req.NotOnOrAfter.Add(h.cfg.Skew)) {
		err = fmt.Errorf("LogoutRequest expired at %s", req.NotOnOrAfter.Format(time.RFC3339))
	}
	if err == nil {
		if _, ok := sp.sloEndpoint(); !ok {
			err = fmt.Errorf("SP %s has no SingleLogoutService endpoint", sp.EntityID)
		}
	}
	if err == nil {
		err = h.useOnce(ctx, "saml:logout:"+sp.EntityID+":"+req.ID, req.IssueInstant)
	}
	if err != nil {
		h.reject(w, r, sp.EntityID, "LogoutRequest: "+err.Error())
		return
	}
	// Identify the user before the session ends: the other SPs know them by their own NameIDs.
	var user *store.User
	if h.cfg.Directory != nil {
		u, err := h.userFor(ctx, sp, req.NameID)
		if err != nil {
			h.cfg.Logger.InfoContext(ctx, "saml slo: user behind NameID not found; not propagating", "sp", sp.EntityID, "err", err)
		} else {
			user = &u
		}
	}
	apps, err := h.cfg.Sessions.End(ctx, w, r)
	if err != nil {
		h.fail(w, r, sp.EntityID, fmt.Errorf("end session: %w", err))
		return
	}
	chain := sloChain{Initiator: sp.EntityID, InResponseTo: req.ID, RelayState: m.RelayState}
	for _, a := range apps {
		if a == app {
			continue
		}
		other, err := h.cfg.SPs.LookupSPByApp(ctx, a)
		if err != nil {
			continue // not a SAML application
		}
		other.normalize()
		_, hasSLO := other.sloEndpoint()
		if !hasSLO || user == nil || other.NameIDSource == SourceTransient {
			chain.Partial = true
			continue
		}
		nid, err := nameIDValue(other, *user)
		if err != nil {
			chain.Partial = true
			continue
		}
		chain.Pending = append(chain.Pending, sloPending{SP: other.EntityID, NameID: nid,
			NameIDFormat: other.NameIDFormat, SessionIndex: req.SessionIndex})
	}
	h.continueLogout(w, r, chain)
}

func (h *Handler) userFor(ctx context.Context, sp ServiceProvider, nameID string) (store.User, error) {
	switch sp.NameIDSource {
	case SourceImmutableID:
		return h.cfg.Directory.GetUserByImmutableID(ctx, nameID)
	case SourceUPN, SourceEmail:
		return h.cfg.Directory.GetUserByUPN(ctx, nameID)
	}
	return store.User{}, fmt.Errorf("NameID source %q cannot identify a user", sp.NameIDSource)
}

// continueLogout sends the next pending LogoutRequest, or the final LogoutResponse.
func (h *Handler) continueLogout(w http.ResponseWriter, r *http.Request, chain sloChain) {
	ctx := r.Context()
	now := h.cfg.Clock()
	for len(chain.Pending) > 0 {
		p := chain.Pending[0]
		chain.Pending = chain.Pending[1:]
		sp, _, err := h.cfg.SPs.LookupSP(ctx, p.SP)
		if err != nil {
			chain.Partial = true
			continue
		}
		ep, ok := sp.sloEndpoint()
		if !ok {
			chain.Partial = true
			continue
		}
		chain.CurrentSP, chain.CurrentID = sp.EntityID, newID()
		tok, err := seal(h.cfg.StateKey, "slo", now.Add(h.cfg.StateLifetime), chain)
		if err != nil {
			h.fail(w, r, sp.EntityID, err)
			return
		}
		el := newLogoutRequest(h.cfg.IdP, chain.CurrentID, ep.Location, p.NameID, p.NameIDFormat, p.SessionIndex, now, h.cfg.AssertionLifetime)
		if err := h.send(w, r, ep.Binding, ep.Location, "SAMLRequest", el, tok); err != nil {
			h.fail(w, r, sp.EntityID, err)
		}
		return
	}
	if chain.Initiator == "" && chain.Final != "" {
		// The chain of another door's logout: back to where it said (validated there).
		http.Redirect(w, r, chain.Final, http.StatusFound)
		return
	}
	sp, _, err := h.cfg.SPs.LookupSP(ctx, chain.Initiator)
	if err != nil {
		renderPage(w, http.StatusOK, "signedout", nil)
		return
	}
	ep, ok := sp.sloEndpoint()
	if !ok {
		renderPage(w, http.StatusOK, "signedout", nil)
		return
	}
	target := ep.Location
	if ep.ResponseLocation != "" {
		target = ep.ResponseLocation
	}
	status := StatusSuccess
	if chain.Partial {
		status = StatusPartialLogout
	}
	el := newLogoutResponse(h.cfg.IdP, target, chain.InResponseTo, status, now)
	if err := h.send(w, r, ep.Binding, target, "SAMLResponse", el, chain.RelayState); err != nil {
		h.fail(w, r, sp.EntityID, err)
	}
}

// logoutResponse handles an SP's answer to our LogoutRequest and continues the chain.
func (h *Handler) logoutResponse(w http.ResponseWriter, r *http.Request, m *message) {
	ctx := r.Context()
	now := h.cfg.Clock()
	sp, _, signed, err := h.verifyFromSP(ctx, m)
	if err != nil {
		h.reject(w, r, sp.EntityID, "LogoutResponse: "+err.Error())
		return
	}
	resp, err := parseLogoutResponse(m.Root)
	if err == nil {
		err = h.checkSLOHeader(sp, resp.header, signed, now)
	}
	var chain sloChain
	if err == nil {
		if oerr := open(h.cfg.StateKey, "slo", m.RelayState, now, &chain); oerr != nil {
			err = fmt.Errorf("logout state: %w", oerr)
		}
	}
	if err == nil && (chain.CurrentSP != sp.EntityID || chain.CurrentID != resp.InResponseTo) {
		err = fmt.Errorf("response from %s to %q does not answer the pending logout request", sp.EntityID, resp.InResponseTo)
	}
	if err == nil {
		err = h.useOnce(ctx, "saml:logoutresp:"+sp.EntityID+":"+resp.ID, resp.IssueInstant)
	}
	if err != nil {
		h.reject(w, r, sp.EntityID, "LogoutResponse: "+err.Error())
		return
	}
	if resp.Status != StatusSuccess {
		chain.Partial = true
	}
	chain.CurrentSP, chain.CurrentID = "", ""
	h.continueLogout(w, r, chain)
}
