package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/federation"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/web"
)

type appRow struct {
	Name, EntityID string
	ACS            []string
}

type domainRow struct{ Name, Protocol, Methods, Inside string }

type federateView struct {
	Domain     string
	Problems   []federation.Problem
	PowerShell string
}

type appForm struct{ Name, Metadata string }

type domainForm struct {
	Name, Issuer, Protocol, Application, Inside string
	Passive, Active, EmitMFA                    bool
}

type appsData struct {
	Apps     []appRow
	Domains  []domainRow
	Federate *federateView
	Form     appForm
	Domain   domainForm
}

func (c *Console) appsPage(w http.ResponseWriter, r *http.Request, status int, errText string, f appForm) {
	ctx := r.Context()
	apps, err := c.Store.ListApplications(ctx)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	d := appsData{Form: f, Domain: domainForm{Protocol: "wsFed", Passive: true, Active: true, EmitMFA: true}}
	if df, ok := ctx.Value(domainFormKey{}).(domainForm); ok {
		d.Domain = df
	}
	for _, a := range apps {
		if a.Protocol != "saml" {
			continue // Microsoft 365 domains are listed below
		}
		row := appRow{Name: a.Name, EntityID: a.EntityID}
		var sp saml.ServiceProvider
		if a.Protocol == "saml" && json.Unmarshal(a.Config, &sp) == nil {
			for _, e := range sp.ACS {
				row.ACS = append(row.ACS, e.Location)
			}
		}
		d.Apps = append(d.Apps, row)
	}
	ds, err := m365.LoadDomains(ctx, c.Store)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	for _, dm := range ds {
		if strings.EqualFold(dm.Name, r.URL.Query().Get("edit")) {
			d.Domain = domainForm{Name: dm.Name, Issuer: dm.IssuerURI, Protocol: string(dm.Protocol), Application: dm.Application,
				Inside: strings.Join(dm.InsideNetworks, ", "), Passive: dm.Allows(m365.MethodPassive), Active: dm.Allows(m365.MethodActive), EmitMFA: dm.EmitMFA}
		}
		methods := strings.Join(dm.Methods, ", ")
		if methods == "" {
			methods = m365.MethodPassive + ", " + m365.MethodActive
		}
		d.Domains = append(d.Domains, domainRow{dm.Name, string(dm.Protocol), methods, strings.Join(dm.InsideNetworks, ", ")})
	}
	if name := r.URL.Query().Get("domain"); name != "" && c.Admin.Keys != nil {
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
	c.appsPage(w, r, http.StatusOK, "", appForm{})
}

// addApp registers a SAML SP from its metadata, pasted (no URL is fetched).
func (c *Console) addApp(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil || !web.CheckCSRF(r) {
		c.fail(w, r, http.StatusForbidden, "err_csrf", nil)
		return
	}
	f := appForm{Name: strings.TrimSpace(r.PostFormValue("name")), Metadata: r.PostFormValue("metadata")}
	sp, err := saml.ParseSPMetadata([]byte(f.Metadata))
	if err == nil {
		_, err = c.Admin.AddApplication(r.Context(), c.actor(r), f.Name, sp)
	}
	if err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), f)
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_app_added", http.StatusSeeOther)
}

func (c *Console) removeApp(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	if err := c.Admin.RemoveApplication(r.Context(), c.actor(r), r.PathValue("name")); err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), appForm{})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_app_removed", http.StatusSeeOther)
}

type domainFormKey struct{}

// setDomain adds or updates a federated Microsoft 365 domain (the settings the CLI's
// m365 domain add takes); the form keeps what was typed when the service refuses it.
func (c *Console) setDomain(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	f := r.PostForm
	df := domainForm{Name: strings.TrimSpace(f.Get("name")), Issuer: strings.TrimSpace(f.Get("issuer")), Protocol: f.Get("protocol"),
		Application: strings.TrimSpace(f.Get("application")), Inside: f.Get("inside"),
		Passive: f.Get("passive") == "1", Active: f.Get("active") == "1", EmitMFA: f.Get("emit_mfa") == "1"}
	ds := m365.DomainSettings{Domain: m365.Domain{Name: df.Name, IssuerURI: df.Issuer, Protocol: m365.WSFed, Application: df.Application,
		InsideNetworks: splitList(df.Inside), EmitMFA: df.EmitMFA}}
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
		r = r.WithContext(context.WithValue(r.Context(), domainFormKey{}, df))
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), appForm{})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_domain_saved&domain="+url.QueryEscape(df.Name), http.StatusSeeOther)
}

func (c *Console) removeDomain(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	if err := c.Admin.RemoveDomain(r.Context(), c.actor(r), r.PathValue("name")); err != nil {
		c.appsPage(w, r, http.StatusBadRequest, err.Error(), appForm{})
		return
	}
	http.Redirect(w, r, "/admin/apps?done=flash_domain_removed", http.StatusSeeOther)
}
