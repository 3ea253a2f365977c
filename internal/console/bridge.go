package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/web"
)

// The mail bridge on a user's page (docs/mail-bridge.md): the user's app passwords — listed,
// issued (the password shown on that answer only), revoked — and, when the bridge's upstream
// keeps a grant per mailbox, the mailbox's connection, which can be disconnected. Connecting
// a mailbox runs a device code sign-in that waits for the user: that stays in the CLI.

type appPasswordRow struct {
	Name, Scopes, From, Created, CreatedBy, Expires, LastUsed, LastIP string
	StateKey, StateClass                                              string
	Active                                                            bool
}

type scopeBox struct {
	Name, Key string
	Checked   bool
}

// appPasswordForm is the issue form, kept as typed when the service refuses it.
type appPasswordForm struct {
	Name, From, Days string
	Scopes           []scopeBox
	posted           []string // as sent: the service names a scope it does not know
}

// issuedAppPassword is a new app password, on the answer that issued it only.
type issuedAppPassword struct {
	Name, User, Scopes, From, Expires, Password string
}

type mailboxRow struct {
	Profile, Scopes, ConnectedAt, ConnectedBy, RefreshedAt, Broken, BrokenAt string
	StateKey, StateClass                                                     string
}

func newAppPasswordForm(name, from, days string, scopes []string) appPasswordForm {
	f := appPasswordForm{Name: name, From: from, Days: days, posted: scopes}
	for _, s := range apppassword.AllScopes {
		checked := false
		for _, x := range scopes {
			checked = checked || x == s
		}
		f.Scopes = append(f.Scopes, scopeBox{Name: s, Key: "app_scope_" + strings.ReplaceAll(s, "-", "_"), Checked: checked})
	}
	return f
}

func appPasswordFormOf(r *http.Request) appPasswordForm {
	return newAppPasswordForm(strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("from")),
		strings.TrimSpace(r.PostFormValue("lifetime_days")), r.PostForm["scope"])
}

func (f appPasswordForm) scopes() []string { return f.posted }

// senders splits the senders field at commas, spaces and line ends.
func (f appPasswordForm) senders() []string {
	return strings.FieldsFunc(f.From, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// lifetime reads the days field: empty is the service's default.
func (f appPasswordForm) lifetime() (time.Duration, bool) {
	if f.Days == "" {
		return 0, true
	}
	n, err := strconv.Atoi(f.Days)
	if err != nil || n < 1 || time.Duration(n)*24*time.Hour > apppassword.MaxLifetime {
		return 0, false
	}
	return time.Duration(n) * 24 * time.Hour, true
}

func stateClass(state string) string {
	switch state {
	case "active", "connected":
		return "allow"
	}
	return "deny"
}

// loadBridge adds the user's app passwords and mailbox connection to d.
func (c *Console) loadBridge(ctx context.Context, d *userData) error {
	cs, err := c.Admin.ListBridgeCredentials(ctx, d.User.UPN)
	if err != nil {
		return err
	}
	now := c.Now()
	for _, cr := range cs {
		st := cr.State(now)
		row := appPasswordRow{Name: cr.Name, Scopes: strings.Join(cr.Scopes, ", "), From: strings.Join(cr.From, ", "), Created: when(cr.CreatedAt),
			CreatedBy: cr.CreatedBy, Expires: when(cr.ExpiresAt), LastIP: cr.LastIP, StateKey: "app_state_" + st, StateClass: stateClass(st),
			Active: st == "active"}
		if !cr.LastUsedAt.IsZero() {
			row.LastUsed = when(cr.LastUsedAt)
		}
		d.AppPasswords = append(d.AppPasswords, row)
	}
	d.AppForm = newAppPasswordForm("", "", "", nil)
	if !c.Admin.BridgeUpstreamDelegated() {
		return nil
	}
	d.MailboxShown = true
	v, err := c.Admin.BridgeUpstreamOf(ctx, d.User.UPN)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil // not connected
	case err != nil:
		return err
	}
	m := &mailboxRow{Profile: v.Profile, Scopes: strings.Join(v.Scopes, " "), ConnectedBy: v.ConnectedBy, Broken: v.Broken,
		StateKey: "mailbox_state_" + v.State(), StateClass: stateClass(v.State())}
	for _, t := range []struct {
		at  time.Time
		out *string
	}{{v.ConnectedAt, &m.ConnectedAt}, {v.RefreshedAt, &m.RefreshedAt}, {v.BrokenAt, &m.BrokenAt}} {
		if !t.at.IsZero() {
			*t.out = when(t.at)
		}
	}
	d.Mailbox = m
	return nil
}

// bridgeAction runs the user page's mail bridge actions and reports whether action was one.
func (c *Console) bridgeAction(w http.ResponseWriter, r *http.Request, action string, u store.User, self string) bool {
	ctx, a, lang := r.Context(), c.actor(r), web.Lang(w, r)
	var err error
	switch action {
	case "issue-app-password":
		f := appPasswordFormOf(r)
		life, ok := f.lifetime()
		if !ok {
			c.userPage(w, r, http.StatusBadRequest, func(d *userData, v *view) { d.AppForm, v.Error = f, T(lang, "err_app_lifetime") })
			return true
		}
		is, err := c.Admin.IssueBridgeCredential(ctx, a, admin.NewBridgeCredential{User: u.UPN, Name: f.Name, Scopes: f.scopes(),
			From: f.senders(), Lifetime: life})
		if err != nil {
			c.userPage(w, r, refusalStatus(err), func(d *userData, v *view) { d.AppForm, v.Error = f, err.Error() })
			return true
		}
		// Shown on this answer only (no-store, never in a URL): Sekisho keeps a keyed hash.
		c.userPage(w, r, http.StatusOK, func(d *userData, v *view) {
			d.Issued = &issuedAppPassword{Name: is.Name, User: is.User, Scopes: strings.Join(is.Scopes, ", "), From: strings.Join(is.From, ", "),
				Expires: when(is.ExpiresAt), Password: is.Password}
			v.Flash = T(lang, "flash_app_password_issued")
		})
		return true
	case "revoke-app-password":
		_, err = c.Admin.RevokeBridgeCredential(ctx, a, u.UPN, strings.TrimSpace(r.PostFormValue("name")))
		self += "?done=flash_app_password_revoked"
	case "disconnect-mailbox":
		_, err = c.Admin.DisconnectBridgeUpstream(ctx, a, u.UPN)
		self += "?done=flash_mailbox_disconnected"
	default:
		return false
	}
	if err != nil {
		c.userPage(w, r, refusalStatus(err), func(_ *userData, v *view) { v.Error = err.Error() })
		return true
	}
	http.Redirect(w, r, self, http.StatusSeeOther)
	return true
}

// refusalStatus is the status of a page that shows the service's refusal: what the form
// names is not there (404), the name is taken (409), or the request was refused (400).
func refusalStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}
