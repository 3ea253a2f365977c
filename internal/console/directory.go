package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// The directory page: each configured connector with what it is set to do and its latest
// syncs (read back from the admin audit log), and the buttons to sync it now, plan a sync
// (dry run) or let a stopped one past the threshold.

type syncRow struct {
	Time, OutcomeKey, OutcomeClass, Who                                             string
	Found, Created, Updated, Disabled, Enabled, Missing, Skipped, Conflicts, Detail string
}

type connectorRow struct {
	admin.ConnectorView
	Threshold string
	Rows      []syncRow
	Stopped   bool // the latest sync was stopped by the threshold: offer the forced sync
}

type scimRow struct {
	Connector, Created, CreatedBy, LastUsed, LastIP, StateKey, StateClass string
}

type directoryData struct {
	Connectors []connectorRow
	SCIM       []scimRow // SCIM connectors (their tokens): users pushed by Entra ID and others
	DryRun     string    // "Dry run of …" over the plan's row, when this answer is a dry run's
	Plan       []syncRow
}

func syncRowOf(t, outcome, who string, rep directory.SyncReport) syncRow {
	n := strconv.Itoa
	r := syncRow{Time: t, OutcomeKey: "outcome_" + outcome, Who: who, Found: n(rep.Found), Created: n(rep.Created), Updated: n(rep.Updated),
		Disabled: n(rep.Disabled), Enabled: n(rep.Enabled), Missing: n(rep.Missing), Skipped: n(rep.Skipped), Conflicts: n(rep.Conflicts)}
	switch {
	case rep.Error != "":
		r.Detail = rep.Error
	case rep.Stopped: // a dry run over the threshold is reported stopped too
		r.Detail = fmt.Sprintf("would disable %d of %d active users (threshold %g%%)", rep.WouldDisable, rep.Active, rep.MaxPercent)
	case len(rep.Notes) > 0:
		r.Detail = rep.Notes[0].DN + ": " + rep.Notes[0].Reason
	}
	if outcome != "done" {
		r.OutcomeClass = "deny"
	}
	return r
}

func (c *Console) directoryPage(w http.ResponseWriter, r *http.Request, status int, errText string, plan *directory.SyncReport) {
	cs, err := c.Admin.DirectoryConnectors(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	var d directoryData
	for _, v := range cs {
		row := connectorRow{ConnectorView: v, Threshold: strconv.FormatFloat(v.MaxDisablePercent, 'g', -1, 64)}
		for _, s := range v.Syncs {
			row.Rows = append(row.Rows, syncRowOf(when(s.Time), s.Outcome, s.Actor+" ("+s.Via+")", s.Report))
		}
		row.Stopped = len(v.Syncs) > 0 && v.Syncs[0].Outcome == "stopped"
		d.Connectors = append(d.Connectors, row)
	}
	tokens, err := c.Admin.ListSCIMTokens(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	for _, t := range tokens {
		row := scimRow{Connector: t.Connector, Created: when(t.CreatedAt), CreatedBy: t.CreatedBy, LastIP: t.LastIP,
			StateKey: "scim_in_force"}
		if !t.LastUsedAt.IsZero() {
			row.LastUsed = when(t.LastUsedAt)
		}
		if !t.RevokedAt.IsZero() {
			row.StateKey, row.StateClass = "scim_revoked", "deny"
		}
		d.SCIM = append(d.SCIM, row)
	}
	if plan != nil {
		d.DryRun = plan.Connector
		d.Plan = []syncRow{syncRowOf(when(c.Now()), "done", c.actor(r).Name, *plan)}
	}
	c.render(w, r, status, "directory", "directory", view{Error: errText, Data: d})
}

func (c *Console) directory(w http.ResponseWriter, r *http.Request) {
	c.directoryPage(w, r, http.StatusOK, "", nil)
}

// syncDirectory runs the sync the form asks for, bounded by the request's deadline like
// every page; a failed or stopped sync is on the page with its reason (and in the list: it
// was recorded), a dry run's plan above the list.
func (c *Console) syncDirectory(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	dry, force := r.PostFormValue("dry_run") == "1", r.PostFormValue("force") == "1"
	rep, err := c.Admin.SyncDirectory(r.Context(), c.actor(r), r.PathValue("id"), dry, force)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
	case errors.Is(err, directory.ErrThreshold) && dry:
		c.directoryPage(w, r, http.StatusConflict, err.Error(), &rep) // the plan, and why a sync would stop
	case errors.Is(err, directory.ErrThreshold):
		c.directoryPage(w, r, http.StatusConflict, err.Error(), nil)
	case err != nil:
		c.directoryPage(w, r, http.StatusBadGateway, err.Error(), nil)
	case dry:
		c.directoryPage(w, r, http.StatusOK, "", &rep)
	default:
		http.Redirect(w, r, "/admin/directory?done=flash_synced", http.StatusSeeOther)
	}
}
