// Package console is the admin console under /admin: dashboard, users, the sign-in log with
// each record's trace, and the admin audit log, in Japanese and English. It is the
// application sekisho-admin behind the gate (mounted through appguard), every form carries a
// signed CSRF token, and every change goes through the admin service layer, so it is one
// transaction with one audit entry naming the signed-in administrator. Handlers parse and
// render; they hold no rules of their own.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/appguard"
	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/console/roles"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var funcs = template.FuncMap{"t": T, "dict": func(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}}

func parse(page string) *template.Template {
	return template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/signins.html", "templates/"+page+".html"))
}

var pages = map[string]*template.Template{
	"dashboard": parse("dashboard"), "users": parse("users"), "user": parse("user"),
	"signins": parse("signins"), "signin": parse("signin"), "audit": parse("audit"),
	"networks": parse("networks"), "policy": parse("policy"), "keys": parse("keys"), "apps": parse("apps"), "devices": parse("devices"),
	"directory": parse("directory"),
}

// Router is where the console is mounted (the server's mux).
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// Console serves the admin pages.
type Console struct {
	Store   store.Store
	Admin   *admin.Service
	BaseURL string // for the device download links the console hands out
	Log     *slog.Logger
	Now     func() time.Time
}

// Mount registers the console's routes; protect puts each behind the gate as sekisho-admin.
func (c *Console) Mount(mux Router, protect func(http.Handler) http.Handler) {
	type route struct {
		area roles.Area
		h    http.HandlerFunc
	}
	routes := map[string]route{
		"GET /admin/{$}":                         {roles.Dashboard, c.dashboard},
		"GET /admin/users":                       {roles.Users, c.users},
		"POST /admin/users":                      {roles.Users, c.createUser},
		"POST /admin/users/import":               {roles.Users, c.importUsers},
		"GET /admin/users/{id}":                  {roles.Users, c.user},
		"POST /admin/users/{id}/{action}":        {roles.Users, c.userAction},
		"GET /admin/signins":                     {roles.SignIns, c.signins},
		"GET /admin/signins/export":              {roles.SignIns, c.exportSignins},
		"GET /admin/signins/{id}":                {roles.SignIns, c.signin},
		"GET /admin/audit":                       {roles.Audit, c.audit},
		"GET /admin/networks":                    {roles.Networks, c.networks},
		"POST /admin/networks":                   {roles.Networks, c.setNetwork},
		"POST /admin/networks/{name}/delete":     {roles.Networks, c.deleteNetwork},
		"GET /admin/policy":                      {roles.Policy, c.policyPage},
		"POST /admin/policy":                     {roles.Policy, c.postPolicy},
		"POST /admin/policy/rollback":            {roles.Policy, c.rollbackPolicy},
		"GET /admin/keys":                        {roles.Keys, c.keys},
		"GET /admin/directory":                   {roles.Directory, c.directory},
		"POST /admin/directory/{id}/sync":        {roles.Directory, c.syncDirectory},
		"POST /admin/keys/{action}":              {roles.Keys, c.keyAction},
		"GET /admin/apps":                        {roles.Apps, c.apps},
		"GET /admin/devices":                     {roles.Users, c.devices},
		"POST /admin/apps":                       {roles.Apps, c.addApp},
		"POST /admin/apps/{name}/remove":         {roles.Apps, c.removeApp},
		"POST /admin/apps/{name}/settings":       {roles.Apps, c.appSettings},
		"POST /admin/apps/oidc":                  {roles.Apps, c.addClient},
		"POST /admin/apps/oidc/{name}/settings":  {roles.Apps, c.clientSettings},
		"POST /admin/apps/oidc/{name}/rotate":    {roles.Apps, c.rotateClientSecret},
		"POST /admin/apps/domains":               {roles.Apps, c.setDomain},
		"POST /admin/apps/domains/{name}/remove": {roles.Apps, c.removeDomain},
	}
	for p, rt := range routes {
		mux.Handle(p, protect(c.allowed(rt.area, rt.h)))
	}
	// The stylesheet is public: it is the same for everyone and reveals nothing.
	mux.Handle("GET /admin/static/", http.StripPrefix("/admin/", http.FileServerFS(staticFS)))
}

type view struct {
	Lang, Title, Nav, Admin, CSRF, LangSwitch string
	Flash, Error                              string
	Data                                      any
	Role                                      roles.Role
}

// Can tells the templates whether the administrator may see an area (the navigation shows
// only those), and CanChange whether the page's forms apply.
func (v view) Can(area string) bool       { return v.Role.CanRead(roles.Area(area)) }
func (v view) CanChange(area string) bool { return v.Role.CanChange(roles.Area(area)) }

// allowed checks the administrator's role for area: reading for GET, changing otherwise.
// A refusal is a 403 page (the gate has already recorded the admission to the console).
func (c *Console) allowed(area roles.Area, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := appguard.User(r.Context())
		role := roles.Of(u.Groups)
		ok := role.CanRead(area)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			ok = role.CanChange(area)
		}
		if !ok {
			c.Log.WarnContext(r.Context(), "console: refused by role", "user", u.UPN, "role", string(role), "area", string(area), "method", r.Method)
			c.fail(w, r, http.StatusForbidden, "err_role", nil)
			return
		}
		h(w, r)
	})
}

func langSwitch(r *http.Request, lang string) string {
	q := r.URL.Query()
	q.Set("lang", map[string]string{"ja": "en", "en": "ja"}[lang])
	return r.URL.Path + "?" + q.Encode()
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, nav string, v view) {
	v.Lang = web.Lang(w, r)
	v.Title, v.Nav, v.LangSwitch, v.CSRF = "title_"+name, nav, langSwitch(r, v.Lang), web.CSRFToken(w, r)
	if u, ok := appguard.User(r.Context()); ok {
		v.Admin, v.Role = u.UPN, roles.Of(u.Groups)
	}
	if k := r.URL.Query().Get("done"); k != "" && v.Flash == "" && strings.HasPrefix(k, "flash_") {
		v.Flash = T(v.Lang, k)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := pages[name].ExecuteTemplate(w, "layout", v); err != nil {
		c.Log.ErrorContext(r.Context(), "console: render", "page", name, "err", err)
	}
}

// lookupFailed answers a failed read of what the URL names — 404 when it does not exist, 500
// otherwise — and reports whether it answered.
func (c *Console) lookupFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
	default:
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
	}
	return true
}

// fail renders a page-level error: the sentence for the user, the detail in the log.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, key string, err error) {
	if err != nil {
		c.Log.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
	}
	lang := web.Lang(w, r)
	c.render(w, r, status, "audit", "", view{Error: T(lang, key), Data: auditData{}})
}

func (c *Console) actor(r *http.Request) admin.Actor {
	u, _ := appguard.User(r.Context())
	return admin.Actor{Name: u.UPN, Via: "console"}
}

// form parses a POSTed form (bounded) and checks its CSRF token.
func (c *Console) form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !web.CheckCSRF(r) {
		c.fail(w, r, http.StatusForbidden, "err_csrf", nil)
		return false
	}
	return true
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// ---- dashboard ----

type reasonCount struct {
	Decision, Reason string
	Count            int
}

type expiring struct{ Kind, Name, When string }

type dashboardData struct {
	Total, Denied, Peak int
	LegacyShare         string
	ChartW, ChartH      int
	Points              string
	Reasons             []reasonCount
	Expiring            []expiring
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := c.Now()
	from := now.Add(-24 * time.Hour)
	perMinute := make([]int, 24*60)
	d := dashboardData{ChartW: 720, ChartH: 160}
	legacy := 0
	reasons := map[[2]string]int{}
	err := c.Store.EachSignIn(ctx, store.SignInFilter{Since: from}, func(e store.SignInEvent) error {
		d.Total++
		if i := int(e.Time.Sub(from) / time.Minute); i >= 0 && i < len(perMinute) {
			perMinute[i]++
		}
		if e.ClientType == "legacy-proxied" {
			legacy++
		}
		if e.Decision != "allow" {
			d.Denied++
			reasons[[2]string{e.Decision, reasonOf(e)}]++
		}
		return nil
	})
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	for _, n := range perMinute {
		d.Peak = max(d.Peak, n)
	}
	var pts strings.Builder
	for i, n := range perMinute {
		x := float64(i) * float64(d.ChartW) / float64(len(perMinute)-1)
		y := float64(d.ChartH-20) - float64(n)*float64(d.ChartH-40)/float64(max(d.Peak, 1))
		if i > 0 {
			pts.WriteByte(' ')
		}
		pts.WriteString(ftoa(x) + "," + ftoa(y))
	}
	d.Points = pts.String()
	d.LegacyShare = "0%"
	if d.Total > 0 {
		d.LegacyShare = ftoa(100*float64(legacy)/float64(d.Total)) + "%"
	}
	for k, n := range reasons {
		d.Reasons = append(d.Reasons, reasonCount{k[0], k[1], n})
	}
	slices.SortFunc(d.Reasons, func(a, b reasonCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	soon := now.Add(30 * 24 * time.Hour)
	if keys, err := c.Store.ListSigningKeys(ctx, "token"); err == nil {
		for _, k := range keys {
			if k.State != store.KeyRetired && k.NotAfter.Before(soon) {
				d.Expiring = append(d.Expiring, expiring{"kind_signing_key", k.ID + " (" + string(k.State) + ")", when(k.NotAfter)})
			}
		}
	}
	if devs, err := c.Store.ListDevices(ctx, ""); err == nil {
		for _, dv := range devs {
			if (dv.Status == "issued" || dv.Status == "downloaded" || dv.Status == "in-use") && dv.NotAfter.Before(soon) {
				d.Expiring = append(d.Expiring, expiring{"kind_device", dv.Name, when(dv.NotAfter)})
			}
		}
	}
	c.render(w, r, http.StatusOK, "dashboard", "dashboard", view{Data: d})
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func reasonOf(e store.SignInEvent) string {
	if e.Rule != "" {
		return e.Reason + " (" + e.Rule + ")"
	}
	if r, _, ok := strings.Cut(e.Reason, ":"); ok {
		return r
	}
	return e.Reason
}

// ---- users ----

type userRow struct {
	ID, UPN, DisplayName, Status, Groups string
}

type userForm struct{ UPN, DisplayName, Email, Groups string }

type importRow struct {
	Line                int
	UPN, Action, Detail string
}

type importData struct {
	Rows                     []importRow
	Created, Skipped, Errors int
}

type usersData struct {
	Import          *importData
	Query           string
	Users           []userRow
	Shown, Matched  int
	Truncated       bool
	Form            userForm
	Created, Secret string
}

const maxRows = 500

func (c *Console) listUsers(ctx context.Context, q string) (usersData, error) {
	d := usersData{Query: q}
	m, err := c.Admin.FindUsers(ctx, q, maxRows)
	if err != nil {
		return d, err
	}
	for _, u := range m.Users {
		d.Users = append(d.Users, userRow{u.ID, u.UPN, u.DisplayName, string(u.Status), strings.Join(u.Groups, ", ")})
	}
	d.Matched, d.Shown, d.Truncated = m.Matched, len(d.Users), m.Matched > len(d.Users)
	return d, nil
}

func (c *Console) users(w http.ResponseWriter, r *http.Request) {
	d, err := c.listUsers(r.Context(), r.URL.Query().Get("q"))
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	c.render(w, r, http.StatusOK, "users", "users", view{Data: d})
}

// importUsers creates users from an uploaded Entra user export: one transaction and one audit
// entry per created user, every row's outcome on the page (nothing is dropped silently).
func (c *Console) importUsers(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 20<<20)
	if err := r.ParseMultipartForm(4 << 20); err != nil || !web.CheckCSRF(r) {
		c.fail(w, r, http.StatusForbidden, "err_csrf", nil)
		return
	}
	f, _, err := r.FormFile("csv")
	if err != nil {
		d, lerr := c.listUsers(r.Context(), "")
		if lerr != nil {
			c.fail(w, r, http.StatusInternalServerError, "err_internal", lerr)
			return
		}
		c.render(w, r, http.StatusBadRequest, "users", "users", view{Error: T(web.Lang(w, r), "err_no_file"), Data: d})
		return
	}
	defer f.Close()
	res, ierr := c.Admin.ImportUsers(r.Context(), c.actor(r), f, splitList(r.FormValue("groups")))
	imp := &importData{}
	for _, row := range res {
		imp.Rows = append(imp.Rows, importRow{row.Line, row.UPN, row.Action, row.Detail})
	}
	imp.Created, imp.Skipped, imp.Errors = directory.Tally(res)
	d, err := c.listUsers(r.Context(), "")
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	d.Import = imp
	v, status := view{Data: d}, http.StatusOK
	if ierr != nil {
		v.Error, status = ierr.Error(), http.StatusBadRequest
	}
	c.render(w, r, status, "users", "users", v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Console) createUser(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	f := userForm{UPN: strings.TrimSpace(r.PostFormValue("upn")), DisplayName: r.PostFormValue("display_name"),
		Email: strings.TrimSpace(r.PostFormValue("email")), Groups: r.PostFormValue("groups")}
	pw, err := directory.GeneratePassword()
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	_, addErr := c.Admin.AddUser(r.Context(), c.actor(r), directory.NewUser{UPN: f.UPN, DisplayName: f.DisplayName, Email: f.Email,
		Groups: splitList(f.Groups), Password: pw, Temporary: true})
	d, err := c.listUsers(r.Context(), "")
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	if addErr != nil {
		// The reason is one sentence from the directory (invalid UPN, duplicate, unknown group);
		// the form keeps what was typed.
		d.Form = f
		c.render(w, r, http.StatusBadRequest, "users", "users", view{Error: addErr.Error(), Data: d})
		return
	}
	d.Created, d.Secret = f.UPN, pw
	c.render(w, r, http.StatusOK, "users", "users", view{Data: d})
}

type deviceRow struct{ ID, Name, Status, Serial, Expires string }

type lockRow struct {
	Side, LockedUntil string
	Failures          int
}

type userData struct {
	User               store.User
	Status             string
	Groups             string
	Devices            []deviceRow
	SignIns            []signinRow
	Secret             string
	Factors            factors.Status
	Locks              []lockRow
	Codes              []string // emergency codes, shown once
	Link, PKCSPassword string   // a device's one-time download link and PKCS#12 password, shown once
	// The mail bridge (bridge.go): app passwords, the issue form, a new one shown once, and
	// the mailbox's upstream connection when the upstream keeps one per mailbox.
	AppPasswords []appPasswordRow
	AppForm      appPasswordForm
	Issued       *issuedAppPassword
	MailboxShown bool
	Mailbox      *mailboxRow // nil: not connected
}

func (c *Console) loadUser(ctx context.Context, id string) (userData, error) {
	u, err := c.Store.GetUser(ctx, id)
	if err != nil {
		return userData{}, err
	}
	d := userData{User: u, Status: string(u.Status), Groups: strings.Join(u.Groups, ", ")}
	devs, err := c.Store.ListDevices(ctx, u.ID)
	if err != nil {
		return d, err
	}
	for _, dv := range devs {
		d.Devices = append(d.Devices, deviceRow{dv.ID, dv.Name, dv.Status, dv.Serial, when(dv.NotAfter)})
	}
	if c.Admin.Factors != nil {
		if d.Factors, err = c.Admin.Factors.Status(ctx, u.ID); err != nil {
			return d, err
		}
	}
	if c.Admin.Lockout != nil {
		st, err := c.Admin.Lockout.Status(ctx, u.ID)
		if err != nil {
			return d, err
		}
		for side, ctr := range st.Counters {
			if ctr.Failures > 0 || ctr.LockedUntil.After(c.Now()) {
				lr := lockRow{Side: string(side), Failures: ctr.Failures}
				if ctr.LockedUntil.After(c.Now()) {
					lr.LockedUntil = when(ctr.LockedUntil)
				}
				d.Locks = append(d.Locks, lr)
			}
		}
		slices.SortFunc(d.Locks, func(a, b lockRow) int { return strings.Compare(a.Side, b.Side) })
	}
	if err := c.loadBridge(ctx, &d); err != nil {
		return d, err
	}
	evs, err := c.Store.ListSignIns(ctx, store.SignInFilter{Username: u.UPN, Since: c.Now().Add(-30 * 24 * time.Hour)})
	if err != nil {
		return d, err
	}
	if len(evs) > 20 {
		evs = evs[len(evs)-20:]
	}
	for i := len(evs) - 1; i >= 0; i-- {
		d.SignIns = append(d.SignIns, rowOf(evs[i]))
	}
	return d, nil
}

// userPage renders the user's page with status; edit adds what this answer alone shows (a
// one-time secret) and the page's message.
func (c *Console) userPage(w http.ResponseWriter, r *http.Request, status int, edit func(*userData, *view)) {
	d, err := c.loadUser(r.Context(), r.PathValue("id"))
	if c.lookupFailed(w, r, err) {
		return
	}
	v := view{}
	if edit != nil {
		edit(&d, &v)
	}
	v.Data = d
	c.render(w, r, status, "user", "users", v)
}

func (c *Console) user(w http.ResponseWriter, r *http.Request) { c.userPage(w, r, http.StatusOK, nil) }

func (c *Console) userAction(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	ctx, id := r.Context(), r.PathValue("id")
	u, err := c.Store.GetUser(ctx, id)
	if c.lookupFailed(w, r, err) {
		return
	}
	a := c.actor(r)
	self := "/admin/users/" + url.PathEscape(id)
	if c.bridgeAction(w, r, r.PathValue("action"), u, self) {
		return
	}
	switch r.PathValue("action") {
	case "disable":
		err = c.Admin.SetStatus(ctx, a, u.UPN, store.UserDisabled)
		self += "?done=flash_disabled"
	case "enable":
		err = c.Admin.SetStatus(ctx, a, u.UPN, store.UserActive)
		self += "?done=flash_enabled"
	case "reset-password":
		pw, perr := directory.GeneratePassword()
		if perr == nil {
			perr = c.Admin.SetPassword(ctx, a, u.UPN, pw, true)
		}
		if perr != nil {
			c.fail(w, r, http.StatusInternalServerError, "err_internal", perr)
			return
		}
		c.userPage(w, r, http.StatusOK, func(d *userData, v *view) { d.Secret, v.Flash = pw, T(web.Lang(w, r), "flash_password") })
		return
	case "delete":
		if !strings.EqualFold(strings.TrimSpace(r.PostFormValue("confirm")), u.UPN) {
			c.userPage(w, r, http.StatusBadRequest, func(_ *userData, v *view) { v.Error = T(web.Lang(w, r), "err_delete_confirm") })
			return
		}
		err = c.Admin.DeleteUser(ctx, a, u.UPN)
		self = "/admin/users?done=flash_deleted"
	case "reset-factors":
		_, err = c.Admin.ResetFactors(ctx, a, u.UPN)
		self += "?done=flash_factors_reset"
	case "unlock":
		_, err = c.Admin.Unlock(ctx, a, u.UPN)
		self += "?done=flash_unlocked"
	case "revoke-device":
		_, err = c.Admin.RevokeDevice(ctx, a, r.PostFormValue("device"))
		self += "?done=flash_revoked"
	case "emergency-codes", "issue-device":
		// What these hand out is shown once, on this answer, never again.
		var once userData
		switch r.PathValue("action") {
		case "emergency-codes":
			_, once.Codes, err = c.Admin.EmergencyCodes(ctx, a, u.UPN, 10)
		default:
			var is admin.IssuedDevice
			is, err = c.Admin.IssueDevice(ctx, a, u.UPN, strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("platform"), 0)
			once.Link, once.PKCSPassword = c.BaseURL+devicecert.DownloadPath+is.Token, is.Password
		}
		if err != nil {
			c.userPage(w, r, http.StatusBadRequest, func(_ *userData, v *view) { v.Error = err.Error() })
			return
		}
		c.userPage(w, r, http.StatusOK, func(d *userData, _ *view) {
			d.Codes, d.Link, d.PKCSPassword = once.Codes, once.Link, once.PKCSPassword
		})
		return
	default:
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	http.Redirect(w, r, self, http.StatusSeeOther)
}

// ---- sign-in log ----

type signinRow struct {
	ID, When, Username, Application, ClientType, LegacyApp, EffectiveIP, Decision, RuleOrReason, Class string
}

func rowOf(e store.SignInEvent) signinRow {
	cls := "allow"
	if e.Decision != "allow" {
		cls = "deny"
	}
	return signinRow{e.ID, when(e.Time), e.Username, e.Application, e.ClientType, e.LegacyApp, e.EffectiveIP, e.Decision, reasonOf(e), cls}
}

type signinFilter struct{ User, App, Decision, Client, IP, Since string }

type signinsData struct {
	F              signinFilter
	Decisions      []string
	Rows           []signinRow
	Shown, Matched int
	Truncated      bool
	Query          string
}

func (c *Console) filterOf(r *http.Request) (signinFilter, store.SignInFilter, error) {
	q := r.URL.Query()
	f := signinFilter{User: q.Get("user"), App: q.Get("app"), Decision: q.Get("decision"), Client: q.Get("client"), IP: q.Get("ip"), Since: q.Get("since")}
	if f.Since == "" {
		f.Since = "1d"
	}
	d, err := parseSince(f.Since)
	if err != nil {
		return f, store.SignInFilter{}, err
	}
	return f, store.SignInFilter{Since: c.Now().Add(-d), Username: f.User, Application: f.App, Decision: f.Decision, ClientType: f.Client, IP: f.IP}, nil
}

// parseSince reads a look-back period the way the CLI's --since does (config.ParseDuration:
// 90s, 15m, 12h, 30d); it must be positive.
func parseSince(s string) (time.Duration, error) {
	d, err := config.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("invalid duration %q: it must be longer than zero", s)
	}
	if err != nil {
		return 0, fmt.Errorf("since: %w", err)
	}
	return d, nil
}

func (c *Console) signins(w http.ResponseWriter, r *http.Request) {
	f, sf, err := c.filterOf(r)
	d := signinsData{F: f, Decisions: []string{"", "allow", "deny", "mfa_required", "device_required", "error"}}
	if err != nil {
		c.render(w, r, http.StatusBadRequest, "signins", "signins", view{Error: err.Error(), Data: d})
		return
	}
	// Newest first on the page; all matches are counted so the page says what it leaves out.
	var rows []signinRow
	err = c.Store.EachSignIn(r.Context(), sf, func(e store.SignInEvent) error {
		d.Matched++
		rows = append(rows, rowOf(e))
		if len(rows) > maxRows {
			rows = rows[1:]
		}
		return nil
	})
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	slices.Reverse(rows)
	d.Rows, d.Shown, d.Truncated = rows, len(rows), d.Matched > len(rows)
	d.Query = url.Values{"user": {f.User}, "app": {f.App}, "decision": {f.Decision}, "client": {f.Client}, "ip": {f.IP}, "since": {f.Since}}.Encode()
	c.render(w, r, http.StatusOK, "signins", "signins", view{Data: d})
}

func (c *Console) exportSignins(w http.ResponseWriter, r *http.Request) {
	_, sf, err := c.filterOf(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "json" {
		http.Error(w, "format: csv or json", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="sekisho-signins.`+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	if _, err := audit.Export(r.Context(), c.Store, sf, format, w); err != nil {
		c.Log.ErrorContext(r.Context(), "console: export sign-ins", "err", err)
	}
}

type signinData struct {
	E           store.SignInEvent
	When, Class string
	Trace       string
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	e, err := c.Store.GetSignIn(r.Context(), r.PathValue("id"))
	if c.lookupFailed(w, r, err) {
		return
	}
	d := signinData{E: e, When: when(e.Time), Class: rowOf(e).Class}
	if len(e.Trace) > 0 {
		var tr policy.TraceRecord
		if json.Unmarshal(e.Trace, &tr) == nil {
			d.Trace = tr.Text(web.Lang(w, r))
		}
	}
	c.render(w, r, http.StatusOK, "signin", "signins", view{Data: d})
}

// ---- admin audit log ----

type auditFilter struct{ Actor, Action, Target, Since string }

type auditRow struct{ When, Actor, Via, Action, Target, Before, After string }

type auditData struct {
	F         auditFilter
	Rows      []auditRow
	Truncated bool
}

func pretty(b []byte) string {
	if len(b) == 0 {
		return "—"
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := auditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Since: q.Get("since")}
	if f.Since == "" {
		f.Since = "30d"
	}
	d := auditData{F: f}
	since, err := parseSince(f.Since)
	if err != nil {
		c.render(w, r, http.StatusBadRequest, "audit", "audit", view{Error: err.Error(), Data: d})
		return
	}
	evs, err := c.Admin.Log(r.Context(), store.AdminEventFilter{Since: c.Now().Add(-since), Actor: f.Actor, Action: f.Action, Target: f.Target, Limit: maxRows + 1})
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	if len(evs) > maxRows {
		evs, d.Truncated = evs[1:], true
	}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		d.Rows = append(d.Rows, auditRow{when(e.Time), e.Actor, e.Via, e.Action, e.Target, pretty(e.Before), pretty(e.After)})
	}
	c.render(w, r, http.StatusOK, "audit", "audit", view{Data: d})
}
