package console

import (
	"errors"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/simulate"
	"github.com/sekisho/sekisho/internal/web"
)

// ---- networks ----

type networkRow struct {
	Name, Description, Updated string
	CIDRs                      []string
}

type networkForm struct{ Name, Description, CIDRs string }

type networksData struct {
	Networks []networkRow
	Form     networkForm
}

func (c *Console) networksPage(w http.ResponseWriter, r *http.Request, status int, errText string, f networkForm) {
	ns, err := c.Store.ListNetworks(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	d := networksData{Form: f}
	for _, n := range ns {
		d.Networks = append(d.Networks, networkRow{n.Name, n.Description, when(n.UpdatedAt), n.CIDRs})
		if f.Name == "" && strings.EqualFold(n.Name, r.URL.Query().Get("edit")) {
			d.Form = networkForm{n.Name, n.Description, strings.Join(n.CIDRs, "\n")}
		}
	}
	c.render(w, r, status, "networks", "networks", view{Error: errText, Data: d})
}

func (c *Console) networks(w http.ResponseWriter, r *http.Request) {
	c.networksPage(w, r, http.StatusOK, "", networkForm{})
}

// cidrLines reads one range a line; blank lines and # comments are skipped.
func cidrLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (c *Console) setNetwork(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	f := networkForm{strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("description")), r.PostFormValue("cidrs")}
	if err := c.Admin.SetNetwork(r.Context(), c.actor(r), f.Name, f.Description, cidrLines(f.CIDRs)); err != nil {
		c.networksPage(w, r, http.StatusBadRequest, err.Error(), f)
		return
	}
	http.Redirect(w, r, "/admin/networks?done=flash_saved", http.StatusSeeOther)
}

func (c *Console) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	if err := c.Admin.DeleteNetwork(r.Context(), c.actor(r), r.PathValue("name")); err != nil {
		c.networksPage(w, r, http.StatusBadRequest, err.Error(), networkForm{})
		return
	}
	http.Redirect(w, r, "/admin/networks?done=flash_deleted_network", http.StatusSeeOther)
}

// ---- policy ----

type whatIfForm struct {
	User, App, IP, Client, Legacy string
	MFA, Device                   bool
}

type whatIfResult struct{ Decision, Class, Rule, Inside, Trace string }

type historyRow struct {
	Version      int64
	When, Author string
	Comment      string
	Rollback     bool
}

type policyData struct {
	Version, Base int64
	Doc, Comment  string
	Problems      string
	Checked       bool
	W             whatIfForm
	Clients       []string
	WhatIf        *whatIfResult
	ReplaySince   string
	Replay        *simulate.Result
	History       []historyRow
}

var clientTypes = []string{"browser", "rich-client", "legacy-proxied", "active-direct", "oidc", "bridge-imap", "bridge-pop", "bridge-smtp"}

func (c *Console) policyData(r *http.Request) (policyData, error) {
	d := policyData{Clients: clientTypes, W: whatIfForm{Client: "browser"}, ReplaySince: "7d"}
	vs, err := c.Store.ListPolicyVersions(r.Context())
	if err != nil {
		return d, err
	}
	for i, v := range vs {
		if i == 0 {
			d.Version, d.Base, d.Doc = v.Version, v.Version, string(v.Document)
		}
		d.History = append(d.History, historyRow{v.Version, when(v.CreatedAt), v.Author, v.Comment, i > 0})
	}
	return d, nil
}

func (c *Console) policyPage(w http.ResponseWriter, r *http.Request) {
	d, err := c.policyData(r)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	c.render(w, r, http.StatusOK, "policy", "policy", view{Data: d})
}

// postPolicy handles the editor: check, publish (only over the version it was opened on),
// what-if and replay, all against the text in the editor, which is kept on every answer.
func (c *Console) postPolicy(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	ctx, lang := r.Context(), web.Lang(w, r)
	d, err := c.policyData(r)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	f := r.PostForm
	d.Doc, d.Comment = strings.ReplaceAll(f.Get("doc"), "\r\n", "\n"), f.Get("comment")
	d.Base, _ = strconv.ParseInt(f.Get("base"), 10, 64)
	d.W = whatIfForm{User: strings.TrimSpace(f.Get("w_user")), App: strings.TrimSpace(f.Get("w_app")), IP: strings.TrimSpace(f.Get("w_ip")),
		Client: f.Get("w_client"), Legacy: strings.TrimSpace(f.Get("w_legacy")), MFA: f.Get("w_mfa") == "1", Device: f.Get("w_device") == "1"}
	if d.W.Client == "" {
		d.W.Client = "browser"
	}
	if s := strings.TrimSpace(f.Get("r_since")); s != "" {
		d.ReplaySince = s
	}
	status := http.StatusOK
	comp, cerr := simulate.Compile(ctx, c.Store, "policy.yaml", []byte(d.Doc))
	if cerr != nil {
		d.Problems, status = cerr.Error(), http.StatusBadRequest
	}
	switch f.Get("action") {
	case "check":
		d.Checked = cerr == nil
	case "publish":
		if cerr != nil {
			break
		}
		v, err := c.Admin.PublishPolicyOver(ctx, c.actor(r), "policy.yaml", []byte(d.Doc), d.Comment, d.Base)
		if errors.Is(err, admin.ErrStalePolicy) {
			d.Problems, status = T(lang, "err_stale_policy")+" ("+err.Error()+")", http.StatusConflict
			break
		}
		if err != nil {
			d.Problems, status = err.Error(), http.StatusBadRequest
			break
		}
		http.Redirect(w, r, "/admin/policy?done=flash_published&v="+strconv.FormatInt(v.Version, 10), http.StatusSeeOther)
		return
	case "whatif":
		if cerr != nil {
			break
		}
		ip, err := netip.ParseAddr(d.W.IP)
		if err != nil {
			d.Problems, status = T(lang, "err_ip"), http.StatusBadRequest
			break
		}
		ans := simulate.WhatIf(ctx, c.Store, comp, simulate.Question{User: d.W.User, Application: d.W.App, ClientType: d.W.Client,
			LegacyApp: d.W.Legacy, IP: ip, MFA: d.W.MFA, Device: d.W.Device, Time: c.Now()})
		dec := ans.Decision
		res := &whatIfResult{Decision: dec.Action.Decision(), Rule: dec.Rule, Inside: strings.Join(ans.Inside, ", "),
			Trace: dec.Trace.Text(lang), Class: "deny"}
		if res.Decision == "allow" {
			res.Class = "allow"
		}
		d.WhatIf = res
	case "replay":
		if cerr != nil {
			break
		}
		since, err := parseSince(d.ReplaySince)
		if err != nil {
			d.Problems, status = err.Error(), http.StatusBadRequest
			break
		}
		res, err := simulate.ReplayStored(ctx, c.Store, comp.Policy, c.Now().Add(-since))
		if err != nil {
			c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
			return
		}
		sort.SliceStable(res.Rows, func(i, j int) bool { return res.Rows[i].Count > res.Rows[j].Count })
		d.Replay = &res
	}
	c.render(w, r, status, "policy", "policy", view{Data: d})
}

func (c *Console) rollbackPolicy(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	n, err := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	if err == nil {
		_, err = c.Admin.RollbackPolicy(r.Context(), c.actor(r), n)
	}
	if err != nil {
		d, derr := c.policyData(r)
		if derr != nil {
			c.fail(w, r, http.StatusInternalServerError, "err_internal", derr)
			return
		}
		d.Problems = err.Error()
		c.render(w, r, http.StatusBadRequest, "policy", "policy", view{Data: d})
		return
	}
	http.Redirect(w, r, "/admin/policy?done=flash_published", http.StatusSeeOther)
}
