package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/federation"
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

type appsData struct {
	Apps     []appRow
	Domains  []domainRow
	Federate *federateView
	Form     appForm
	Settings *spForm
	Domain   domainForm
	// The choices the forms offer.
	Sources, NameIDSources, PromptLogins, MFABehaviors []string
	NameIDFormats                                      []choice
}

// typed is what a refused form sent, shown again in place of the stored settings.
type typed struct {
	App    *appForm
	SP     *spForm
	Domain *domainForm
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
	if kept.App != nil {
		d.Form = *kept.App
	}
	if kept.Domain != nil {
		d.Domain = *kept.Domain
	}
	for _, a := range apps {
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
	if d.Settings == nil && q.Get("app") != "" {
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
