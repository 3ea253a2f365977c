package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/federation"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/web"
)

type appRow struct {
	Name, EntityID string
	ACS            []string
	NameID         string   // format ← source
	Attributes     []string // name ← source (format)
}

type domainRow struct{ Name, Protocol, Methods, Inside string }

type federateView struct {
	Domain     string
	Problems   []federation.Problem
	PowerShell string
}

// attrRow is one attribute mapping as the forms show it: Format is empty (unspecified), a
// short name (basic, uri, unspecified) or a URI, as saml.NewAttributeMapping reads it.
type attrRow struct {
	Name, Source, Format, Friendly string
	Remove                         bool
	OtherSource                    bool // Source is none of saml.AttributeSources (kept as typed)
}

func (a attrRow) blank() bool {
	return a.Name == "" && a.Source == "" && a.Format == "" && a.Friendly == ""
}

// Blank rows every attribute table offers for new mappings (the pages have no script).
const newAttrRows = 2

type appForm struct {
	Name, Metadata string
	Attrs          []attrRow
}

// spForm is the settings of a registered SAML SP that its metadata does not carry.
type spForm struct {
	App, EntityID                               string
	NameIDFormat, NameIDSource                  string
	AllowIdPInitiated                           bool
	SignResponse, SignAssertion, SignedRequests bool
	Attrs                                       []attrRow
	Error                                       string
}

type domainForm struct {
	Name, Issuer, Protocol, Application, Inside string
	PromptLogin, MFABehavior                    string
	Passive, Active, EmitMFA                    bool
}

type choice struct{ Value, Label string }

var nameIDFormats = []choice{{saml.NameIDPersistent, "persistent"}, {saml.NameIDEmail, "emailAddress"},
	{saml.NameIDUnspecified, "unspecified"}, {saml.NameIDTransient, "transient"}}

var nameIDSources = []string{saml.SourceImmutableID, saml.SourceUPN, saml.SourceEmail, saml.SourceTransient}

// clientRow is an OpenID Connect client in the list.
type clientRow struct {
	Name, ClientID, Type string
	Grants, RedirectURIs []string
}

// clientForm is the form that registers an OpenID Connect client (Name, Public) or changes one
// (App, ClientID): URIs one a line, grants and scopes by their short names, lifetimes as typed
// (empty: the default).
type clientForm struct {
	App, ClientID, Name          string
	Public                       bool
	RedirectURIs, PostLogoutURIs string
	Grants, Scopes               map[string]bool
	AccessTTL, IDTTL, RefreshTTL string
	SubjectType, BackchannelURI  string
	HasSecret                    bool
	PreviousExpires              string // when a rotated-out secret stops working ("" none)
	Error                        string
}

// issuedSecret is what a registration or a rotation hands out: shown on this answer only.
type issuedSecret struct {
	Name, ClientID, Secret string
	Rotated                bool
	PreviousExpires        string // the replaced secret works until then ("" it stopped at once)
}

// The grants and scopes the client forms offer (offline_access comes with refresh_token).
var (
	grantChoices  = []string{oidc.GrantAuthorizationCode, oidc.GrantRefreshToken, oidc.GrantClientCredentials, "device_code"}
	scopeChoices  = []string{oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeGroups}
	keepOldChoice = []choice{{"", "keep_old_none"}, {"1h", "keep_old_1h"}, {"24h", "keep_old_24h"}, {"7d", "keep_old_7d"}}
)

// shortGrant names a grant as the forms and the CLI do (device_code for the device grant).
func shortGrant(g string) string {
	for short, long := range oidc.GrantAliases {
		if long == g && short == "device_code" {
			return short
		}
	}
	return g
}

// shortDuration writes d as the forms read it back: 30d, 12h, 10m, or a Go duration.
func shortDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func set(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func clientRowOf(name string, c oidc.ClientConfig) clientRow {
	row := clientRow{Name: name, ClientID: c.ClientID, Type: c.Type, RedirectURIs: c.RedirectURIs}
	for _, g := range c.Grants {
		row.Grants = append(row.Grants, shortGrant(g))
	}
	return row
}

func clientSettingsOf(name string, c oidc.ClientConfig) *clientForm {
	f := &clientForm{App: name, ClientID: c.ClientID, Public: c.IsPublic(), RedirectURIs: strings.Join(c.RedirectURIs, "\n"),
		PostLogoutURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"), Grants: map[string]bool{}, Scopes: set(c.Scopes),
		AccessTTL: shortDuration(c.AccessTTL()), IDTTL: shortDuration(c.IDTTL()), RefreshTTL: shortDuration(c.RefreshTTL()),
		SubjectType: c.SubjectType, BackchannelURI: c.BackchannelLogoutURI, HasSecret: len(c.SecretHash) > 0}
	for _, g := range c.Grants {
		f.Grants[shortGrant(g)] = true
	}
	if len(c.PreviousSecretHash) > 0 {
		f.PreviousExpires = when(c.PreviousSecretExpires)
	}
	return f
}

// clientFormOf reads a client form as posted.
func clientFormOf(pf url.Values) clientForm {
	return clientForm{Name: strings.TrimSpace(pf.Get("name")), Public: pf.Get("type") == oidc.Public,
		RedirectURIs: pf.Get("redirect_uris"), PostLogoutURIs: pf.Get("post_logout_uris"), Grants: set(pf["grant"]), Scopes: set(pf["scope"]),
		AccessTTL: strings.TrimSpace(pf.Get("access_ttl")), IDTTL: strings.TrimSpace(pf.Get("id_ttl")), RefreshTTL: strings.TrimSpace(pf.Get("refresh_ttl")),
		SubjectType: pf.Get("subject_type"), BackchannelURI: strings.TrimSpace(pf.Get("backchannel_uri"))}
}

// grants and scopes are the form's choices in their order; openid is always a scope.
func (f clientForm) grants() []string {
	var out []string
	for _, g := range grantChoices {
		if f.Grants[g] {
			out = append(out, g)
		}
	}
	return out
}

func (f clientForm) scopes() []string {
	out := []string{oidc.ScopeOpenID}
	for _, s := range scopeChoices {
		if f.Scopes[s] {
			out = append(out, s)
		}
	}
	return out
}

// lifetimes reads the three lifetimes (empty: the default); the refresh token's counts only with
// its grant.
func (f clientForm) lifetimes(lang string) (access, id, refresh time.Duration, err error) {
	for _, l := range []struct {
		key, v string
		d      *time.Duration
	}{{"client_access_ttl", f.AccessTTL, &access}, {"client_id_ttl", f.IDTTL, &id}, {"client_refresh_ttl", f.RefreshTTL, &refresh}} {
		if l.v == "" || (l.d == &refresh && !f.Grants[oidc.GrantRefreshToken]) {
			continue
		}
		if *l.d, err = config.ParseDuration(l.v); err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", T(lang, l.key), err)
		}
	}
	return access, id, refresh, nil
}

type appsData struct {
	Clients        []clientRow
	ClientForm     clientForm
	ClientSettings *clientForm
	Issued         *issuedSecret
	GrantChoices   []string
	ScopeChoices   []string
	KeepOld        []choice // Label: a message key
	Discovery      string   // the provider's discovery URL, for the application's administrator
	Apps           []appRow
	Domains        []domainRow
	Federate       *federateView
	Form           appForm
	Settings       *spForm
	Domain         domainForm
	// The choices the forms offer.
	Sources, NameIDSources, PromptLogins, MFABehaviors []string
	NameIDFormats                                      []choice
}

// typed is what a refused form sent, shown again in place of the stored settings.
type typed struct {
	App    *appForm
	SP     *spForm
	Domain *domainForm
	Client *clientForm // the registration form as sent
	// ClientSettings is a refused settings form; Issued a secret to show once.
	ClientSettings *clientForm
	Issued         *issuedSecret
}

// shortFormat names a stored name format the way the forms and the CLI accept it.
func shortFormat(uri string) string {
	for k, v := range saml.AttrNameFormats {
		if v == uri {
			return k
		}
	}
	return uri
}

func shortNameID(uri string) string {
	for _, c := range nameIDFormats {
		if c.Value == uri {
			return c.Label
		}
	}
	return uri
}

func rowsOf(ms []saml.AttributeMapping) []attrRow {
	var out []attrRow
	for _, m := range ms {
		out = append(out, attrRow{Name: m.Name, Source: m.Source, Format: shortFormat(m.NameFormat), Friendly: m.FriendlyName})
	}
	return out
}

// withBlankRows is rows (without blank ones) and the empty rows for new mappings.
func withBlankRows(rows []attrRow) []attrRow {
	out := make([]attrRow, 0, len(rows)+newAttrRows)
	for _, r := range rows {
		if !r.blank() {
			r.OtherSource = r.Source != "" && !slices.Contains(saml.AttributeSources, r.Source)
			out = append(out, r)
		}
	}
	return append(out, make([]attrRow, newAttrRows)...)
}

// attrRowsOf reads the attribute table of a form: rows attr_name_0, attr_source_0, … in order.
func attrRowsOf(f url.Values) []attrRow {
	var out []attrRow
	for i := 0; i < 200; i++ {
		n := strconv.Itoa(i)
		if _, ok := f["attr_name_"+n]; !ok {
			break
		}
		out = append(out, attrRow{Name: strings.TrimSpace(f.Get("attr_name_" + n)), Source: f.Get("attr_source_" + n),
			Format: strings.TrimSpace(f.Get("attr_format_" + n)), Friendly: strings.TrimSpace(f.Get("attr_friendly_" + n)),
			Remove: f.Get("attr_remove_"+n) == "1"})
	}
	return out
}

// mappings turns the rows into mappings: blank and removed rows are left out; the name and
// source are judged with the SP by the admin service.
func mappings(rows []attrRow) ([]saml.AttributeMapping, error) {
	var out []saml.AttributeMapping
	for _, r := range rows {
		if r.blank() || r.Remove {
			continue
		}
		m, err := saml.NewAttributeMapping(r.Name, r.Source, r.Format)
		if err != nil {
			return nil, err
		}
		m.FriendlyName = r.Friendly
		out = append(out, m)
	}
	return out, nil
}

func settingsOf(name string, sp saml.ServiceProvider) *spForm {
	return &spForm{App: name, EntityID: sp.EntityID, NameIDFormat: sp.NameIDFormat, NameIDSource: sp.NameIDSource,
		AllowIdPInitiated: sp.AllowIdPInitiated, SignResponse: sp.SignResponse, SignAssertion: sp.SignAssertion,
		SignedRequests: sp.WantAuthnRequestsSigned, Attrs: withBlankRows(rowsOf(sp.Attributes))}
}

func appRowOf(name string, sp saml.ServiceProvider) appRow {
	row := appRow{Name: name, EntityID: sp.EntityID, NameID: shortNameID(sp.NameIDFormat) + " ← " + sp.NameIDSource}
	for _, e := range sp.ACS {
		row.ACS = append(row.ACS, e.Location)
	}
	for _, m := range sp.Attributes {
		s := m.Name + " ← " + m.Source
		if m.NameFormat != "" {
			s += " (" + shortFormat(m.NameFormat) + ")"
		}
		row.Attributes = append(row.Attributes, s)
	}
	return row
}

func (c *Console) appsPage(w http.ResponseWriter, r *http.Request, status int, errText string, kept typed) {
	ctx := r.Context()
	q := r.URL.Query()
	apps, err := c.Store.ListApplications(ctx)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	d := appsData{Form: appForm{Attrs: withBlankRows(nil)}, Settings: kept.SP,
		Domain:  domainForm{Protocol: "wsFed", Passive: true, Active: true, EmitMFA: true, PromptLogin: m365.PromptLoginBehaviors[0], MFABehavior: m365.MFABehaviors[0]},
		Sources: saml.AttributeSources, NameIDSources: nameIDSources, NameIDFormats: nameIDFormats,
		PromptLogins: m365.PromptLoginBehaviors, MFABehaviors: m365.MFABehaviors}
	d.ClientForm = clientForm{Grants: set([]string{oidc.GrantAuthorizationCode}), Scopes: set(scopeChoices)}
	d.ClientSettings, d.Issued, d.GrantChoices, d.ScopeChoices, d.KeepOld = kept.ClientSettings, kept.Issued, grantChoices, scopeChoices, keepOldChoice
	d.Discovery = c.BaseURL + oidc.DiscoveryPath
	if kept.Client != nil {
		d.ClientForm = *kept.Client
	}
	if kept.App != nil {
		d.Form = *kept.App
	}
	if kept.Domain != nil {
		d.Domain = *kept.Domain
	}
	for _, a := range apps {
		if a.Protocol == oidc.Protocol {
			c, err := oidc.ParseClientConfig(a.Config)
			if err != nil {
				d.Clients = append(d.Clients, clientRow{Name: a.Name, ClientID: a.EntityID})
				continue
			}
			d.Clients = append(d.Clients, clientRowOf(a.Name, c))
			if d.ClientSettings == nil && q.Get("client") == a.Name {
				d.ClientSettings = clientSettingsOf(a.Name, c)
			}
			continue
		}
		if a.Protocol != "saml" {
			continue // Microsoft 365 domains are listed below
		}
		var sp saml.ServiceProvider
		if err := json.Unmarshal(a.Config, &sp); err != nil {
			d.Apps = append(d.Apps, appRow{Name: a.Name, EntityID: a.EntityID})
			continue
		}
		d.Apps = append(d.Apps, appRowOf(a.Name, sp))
		if d.Settings == nil && q.Get("app") == a.Name {
			d.Settings = settingsOf(a.Name, sp)
		}
	}
	if (d.Settings == nil && q.Get("app") != "") || (d.ClientSettings == nil && q.Get("client") != "") {
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
		return
	}
	ds, err := m365.LoadDomains(ctx, c.Store)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	for _, dm := range ds {
		if kept.Domain == nil && strings.EqualFold(dm.Name, q.Get("edit")) {
			d.Domain = domainForm{Name: dm.Name, Issuer: dm.IssuerURI, Protocol: string(dm.Protocol), Application: dm.Application,
				Inside: strings.Join(dm.InsideNetworks, ", "), PromptLogin: dm.PromptLoginBehavior, MFABehavior: dm.MFABehavior,
				Passive: dm.Allows(m365.MethodPassive), Active: dm.Allows(m365.MethodActive), EmitMFA: dm.EmitMFA}
		}
		methods := strings.Join(dm.Methods, ", ")
		if methods == "" {
			methods = m365.MethodPassive + ", " + m365.MethodActive
		}
		d.Domains = append(d.Domains, domainRow{dm.Name, string(dm.Protocol), methods, strings.Join(dm.InsideNetworks, ", ")})
	}
	if name := q.Get("domain"); name != "" && c.Admin.Keys != nil {
		fv := &federateView{Domain: name}
		cfg, err := federation.ForStored(ctx, c.Store, c.Admin.Keys, name, c.BaseURL)
		if err != nil {
			c.fail(w, r, http.StatusNotFound, "err_not_found", err)
			return
		}
		fv.PowerShell = federation.PowerShell(name, cfg)
		if fv.Problems, err = federation.CheckStored(ctx, c.Store, c.Admin.Keys, name, c.BaseURL, c.Now()); err != nil {
			c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
			return
		}
		d.Federate = fv
	}
	c.render(w, r, status, "apps", "apps", view{Error: errText, Data: d})
}

func (c *Console) apps(w http.ResponseWriter, r *http.Request) {
	c.appsPage(w, r, http.StatusOK, "", typed{})
}

// addApp registers a SAML SP from its metadata, pasted (no URL is fetched), with the
// attribute mappings of the form (metadata does not say which attributes an SP gets).
func (c *Console) addApp(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil || !web.CheckCSRF(r) {
		c.fail(w, r, http.StatusForbidden, "err_csrf", nil)
		return
	}
	f := appForm{Name: strings.TrimSpace(r.PostFormValue("name")), Metadata: r.PostFormValue("metadata"), Attrs: attrRowsOf(r.PostForm)}
	sp, err := saml.ParseSPMetadata([]byte(f.Metadata))
	if err == nil {
		sp.Attributes, err = mappings(f.Attrs)
	}
	if err == nil {
		_, err = c.Admin.AddApplication(r.Context(), c.actor(r), f.Name, sp)
	}
	if err != nil {
		f.Attrs = withBlankRows(f.Attrs)
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), typed{App: &f})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_app_added", http.StatusSeeOther)
}

// appSettings changes what a registered SP's metadata does not carry: NameID, signing,
// IdP-initiated sign-in and the attribute mappings. A refusal shows the sentence in the form
// with what was typed; nothing is saved.
func (c *Console) appSettings(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	name, pf := r.PathValue("name"), r.PostForm
	f := spForm{App: name, EntityID: pf.Get("entity_id"), NameIDFormat: pf.Get("nameid_format"), NameIDSource: pf.Get("nameid_source"),
		AllowIdPInitiated: pf.Get("allow_idp") == "1", SignResponse: pf.Get("sign_response") == "1",
		SignAssertion: pf.Get("sign_assertion") == "1", SignedRequests: pf.Get("signed_requests") == "1", Attrs: attrRowsOf(pf)}
	maps, err := mappings(f.Attrs)
	if err == nil {
		_, err = c.Admin.UpdateApplication(r.Context(), c.actor(r), name, func(sp *saml.ServiceProvider) error {
			sp.NameIDFormat, sp.NameIDSource = f.NameIDFormat, f.NameIDSource // an empty source: the format's default
			sp.AllowIdPInitiated, sp.SignResponse, sp.SignAssertion = f.AllowIdPInitiated, f.SignResponse, f.SignAssertion
			sp.WantAuthnRequestsSigned, sp.Attributes = f.SignedRequests, maps
			return nil
		})
	}
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
		return
	}
	if err != nil {
		f.Error, f.Attrs = err.Error(), withBlankRows(f.Attrs)
		c.appsPage(w, r, http.StatusBadRequest, "", typed{SP: &f})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_app_saved&app="+url.QueryEscape(name)+"#app-settings", http.StatusSeeOther)
}

func (c *Console) removeApp(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	if err := c.Admin.RemoveApplication(r.Context(), c.actor(r), r.PathValue("name")); err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), typed{})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_app_removed", http.StatusSeeOther)
}

// setDomain adds or updates a federated Microsoft 365 domain (the settings the CLI's
// m365 domain add takes); the form keeps what was typed when the service refuses it.
func (c *Console) setDomain(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	f := r.PostForm
	df := domainForm{Name: strings.TrimSpace(f.Get("name")), Issuer: strings.TrimSpace(f.Get("issuer")), Protocol: f.Get("protocol"),
		Application: strings.TrimSpace(f.Get("application")), Inside: f.Get("inside"),
		PromptLogin: f.Get("prompt_login"), MFABehavior: f.Get("mfa_behavior"),
		Passive: f.Get("passive") == "1", Active: f.Get("active") == "1", EmitMFA: f.Get("emit_mfa") == "1"}
	ds := m365.DomainSettings{Domain: m365.Domain{Name: df.Name, IssuerURI: df.Issuer, Protocol: m365.WSFed, Application: df.Application,
		InsideNetworks: splitList(df.Inside), EmitMFA: df.EmitMFA}, PromptLoginBehavior: df.PromptLogin, MFABehavior: df.MFABehavior}
	if df.Protocol == string(m365.SAML) {
		ds.Protocol = m365.SAML
	}
	if df.Passive {
		ds.Methods = append(ds.Methods, m365.MethodPassive)
	}
	if df.Active {
		ds.Methods = append(ds.Methods, m365.MethodActive)
	}
	var err error
	if len(ds.Methods) == 0 {
		err = errors.New(T(web.Lang(w, r), "err_no_method"))
	} else {
		_, err = c.Admin.AddDomain(r.Context(), c.actor(r), ds)
	}
	if err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), typed{Domain: &df})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_domain_saved&domain="+url.QueryEscape(df.Name), http.StatusSeeOther)
}

func (c *Console) removeDomain(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	if err := c.Admin.RemoveDomain(r.Context(), c.actor(r), r.PathValue("name")); err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), typed{})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_domain_removed", http.StatusSeeOther)
}

// addClient registers an OpenID Connect client. The answer (not a redirect) shows its
// client_id and, for a confidential client, the secret: once, never again.
func (c *Console) addClient(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	lang := web.Lang(w, r)
	f := clientFormOf(r.PostForm)
	access, id, refresh, err := f.lifetimes(lang)
	var added admin.AddedOIDCClient
	if err == nil {
		added, err = c.Admin.AddOIDCClient(r.Context(), c.actor(r), f.Name, admin.NewOIDCClient{Public: f.Public, RedirectURIs: lines(f.RedirectURIs),
			Grants: f.grants(), Scopes: f.scopes(), AccessTokenLifetime: access, IDTokenLifetime: id, RefreshTokenLifetime: refresh,
			SubjectType: f.SubjectType, PostLogoutRedirectURIs: lines(f.PostLogoutURIs), BackchannelLogoutURI: f.BackchannelURI})
	}
	if err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), typed{Client: &f})
		return
	}
	issued := &issuedSecret{Name: added.Name, ClientID: added.Client.ClientID, Secret: added.Secret}
	c.appsPage(w, r, http.StatusOK, "", typed{Issued: issued, ClientSettings: clientSettingsOf(added.Name, added.Client)})
}

// clientSettings changes a registered client (not its type, client_id or secret). A refusal
// shows the sentence in the form with what was typed; nothing is saved.
func (c *Console) clientSettings(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	name := r.PathValue("name")
	a, err := c.Store.GetApplication(r.Context(), name)
	if err == nil && a.Protocol != oidc.Protocol {
		err = store.ErrNotFound
	}
	if c.lookupFailed(w, r, err) {
		return
	}
	f := clientFormOf(r.PostForm)
	f.App, f.ClientID, f.Name = name, a.EntityID, ""
	if stored, err := oidc.ParseClientConfig(a.Config); err == nil { // what the form does not change, for a refusal's page
		was := clientSettingsOf(name, stored)
		f.Public, f.HasSecret, f.PreviousExpires = was.Public, was.HasSecret, was.PreviousExpires
	}
	access, id, refresh, err := f.lifetimes(web.Lang(w, r))
	if err == nil {
		_, err = c.Admin.UpdateOIDCClient(r.Context(), c.actor(r), name, func(cc *oidc.ClientConfig) error {
			cc.RedirectURIs, cc.PostLogoutRedirectURIs = lines(f.RedirectURIs), lines(f.PostLogoutURIs)
			cc.Grants, cc.Scopes, cc.SubjectType, cc.BackchannelLogoutURI = f.grants(), f.scopes(), f.SubjectType, f.BackchannelURI
			cc.AccessTokenLifetime, cc.IDTokenLifetime, cc.RefreshTokenLifetime = config.Duration(access), config.Duration(id), config.Duration(refresh)
			return nil
		})
	}
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
		return
	}
	if err != nil {
		f.Error = err.Error()
		c.appsPage(w, r, http.StatusBadRequest, "", typed{ClientSettings: &f})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_client_saved&client="+url.QueryEscape(name)+"#client-settings", http.StatusSeeOther)
}

// rotateClientSecret gives a confidential client a new secret, shown on this answer only; the
// old one keeps working for the period chosen (none: it stops at once).
func (c *Console) rotateClientSecret(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	name := r.PathValue("name")
	var keep time.Duration
	var err error
	if k := strings.TrimSpace(r.PostFormValue("keep_old")); k != "" {
		keep, err = config.ParseDuration(k)
	}
	var rot admin.RotatedSecret
	if err == nil {
		rot, err = c.Admin.RotateOIDCSecret(r.Context(), c.actor(r), name, keep)
	}
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
		return
	}
	if err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), typed{})
		return
	}
	issued := &issuedSecret{Name: name, ClientID: rot.Client.ClientID, Secret: rot.Secret, Rotated: true}
	if !rot.PreviousExpires.IsZero() {
		issued.PreviousExpires = when(rot.PreviousExpires)
	}
	c.appsPage(w, r, http.StatusOK, "", typed{Issued: issued, ClientSettings: clientSettingsOf(name, rot.Client)})
}
