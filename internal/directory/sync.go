package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/store"
)

// SyncOptions says who runs a sync and how.
type SyncOptions struct {
	Actor, Via string // the admin-audit entry's actor and interface ("cli", "schedule")
	DryRun     bool   // plan and report, change nothing, write no entry
	// Force lets a sync over the disable threshold through (the administrator's answer to
	// a stopped sync).
	Force bool
}

// SyncReport is what one sync did (or, dry or stopped, would have done). It is the
// admin-audit entry's after document.
type SyncReport struct {
	Connector string `json:"connector"`
	DryRun    bool   `json:"dryRun,omitempty"`
	// Stopped: the threshold stopped the sync and nothing was changed.
	Stopped bool   `json:"stopped,omitempty"`
	Error   string `json:"error,omitempty"`

	Found     int `json:"found"`     // users the directory returned
	Created   int `json:"created"`   // users created
	Updated   int `json:"updated"`   // users whose attributes or status changed
	Unchanged int `json:"unchanged"` // users found as they were
	Disabled  int `json:"disabled"`  // users disabled: disabled in the directory, or missing past the grace
	Enabled   int `json:"enabled"`   // users the sync had disabled, enabled again
	Missing   int `json:"missing"`   // users no longer found, within their grace period
	// WouldDisable counts the active users this sync disables or starts the grace period
	// of: the number the threshold is about.
	WouldDisable int     `json:"wouldDisable"`
	Active       int     `json:"active"` // the connector's active users before the sync
	MaxPercent   float64 `json:"maxPercent"`
	Skipped      int     `json:"skipped"`   // entries left out (no ID attribute, bad UPN, duplicate)
	Conflicts    int     `json:"conflicts"` // users or groups whose name a local (or other) one has

	GroupsCreated  int `json:"groupsCreated"`
	MembersAdded   int `json:"membersAdded"`
	MembersRemoved int `json:"membersRemoved"`

	// Notes are the first skipped entries and conflicts, for the administrator.
	Notes []Skip `json:"notes,omitempty"`
}

const maxNotes = 20

func (r *SyncReport) note(dn, reason string) {
	if len(r.Notes) < maxNotes {
		r.Notes = append(r.Notes, Skip{DN: dn, Reason: reason})
	}
}

// ErrThreshold is returned by a sync the threshold stopped.
var ErrThreshold = errors.New("the sync would disable more users than the threshold allows")

// errRollback ends a transaction whose writes must not land (dry run, threshold).
var errRollback = errors.New("roll back")

// Sync reads the connector's users and groups and brings the store's copy of them in line,
// in one transaction with one admin-audit entry:
//   - users are matched by ImmutableID; a new one is created with the connector as Source
//     (unless a user with its UPN exists: a conflict, left alone — local users are never
//     touched);
//   - a user missing from the directory is marked missing, and disabled (never deleted)
//     once missing for DisableGrace;
//   - a sync that would disable, or start the grace period of, more than MaxDisablePercent
//     of the connector's active users stops, changes nothing and says how many (ErrThreshold),
//     unless opts.Force;
//   - a directory that cannot be read changes nothing.
//
// A failed or stopped sync writes its entry too (directory.sync.failed, .stopped); a dry
// run writes none.
func (d *Directory) Sync(ctx context.Context, id string, opts SyncOptions) (SyncReport, error) {
	cs, ok := d.connectors[id]
	if !ok {
		return SyncReport{}, fmt.Errorf("no directory connector %q is configured", id)
	}
	syncer, ok := cs.Connector.(Syncer)
	if !ok {
		return SyncReport{}, fmt.Errorf("directory connector %q cannot sync", id)
	}
	rep := SyncReport{Connector: id, DryRun: opts.DryRun, MaxPercent: cs.MaxDisablePercent}
	snap, err := syncer.Snapshot(ctx)
	if err != nil {
		rep.Error = err.Error()
		if !opts.DryRun {
			if aerr := d.syncEntry(ctx, d.Store, opts, "directory.sync.failed", rep); aerr != nil {
				return rep, errors.Join(err, aerr)
			}
		}
		return rep, fmt.Errorf("directory %s: nothing changed: %w", id, err)
	}
	err = d.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Lock(ctx, "directory-sync:"+id); err != nil {
			return err
		}
		r, err := d.WithStore(tx).apply(ctx, cs, snap, opts.Force)
		rep = r
		rep.DryRun, rep.MaxPercent = opts.DryRun, cs.MaxDisablePercent
		if err != nil {
			return err
		}
		if rep.Stopped || opts.DryRun {
			return errRollback
		}
		return d.syncEntry(ctx, tx, opts, "directory.sync", rep)
	})
	switch {
	case errors.Is(err, errRollback) && rep.Stopped:
		if !opts.DryRun {
			if aerr := d.syncEntry(ctx, d.Store, opts, "directory.sync.stopped", rep); aerr != nil {
				return rep, aerr
			}
		}
		return rep, fmt.Errorf("directory %s: %w: it would disable %d of %d active users (more than %g%%); nothing changed — check the connector's base DNs and filters, or run `sekisho directory sync --force`",
			id, ErrThreshold, rep.WouldDisable, rep.Active, cs.MaxDisablePercent)
	case errors.Is(err, errRollback):
		return rep, nil
	case err != nil:
		return rep, fmt.Errorf("directory %s: sync failed, nothing changed: %w", id, err)
	}
	return rep, nil
}

func (d *Directory) syncEntry(ctx context.Context, st store.Store, opts SyncOptions, action string, rep SyncReport) error {
	after, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	actor, via := opts.Actor, opts.Via
	if actor == "" {
		actor = "sekisho"
	}
	if via == "" {
		via = "schedule"
	}
	e := store.AdminEvent{ID: audit.NewID(), Time: d.Now().UTC(), Actor: actor, Via: via, Action: action,
		Target: "directory:" + rep.Connector, After: after}
	if err := st.AddAdminEvent(ctx, e); err != nil {
		return fmt.Errorf("%s: admin audit entry: %w", action, err)
	}
	return nil
}

// apply makes the changes on d's store (a transaction) and reports them; it stops before the
// disables when the threshold is crossed (the caller rolls back).
func (d *Directory) apply(ctx context.Context, cs ConnectorSettings, snap Snapshot, force bool) (SyncReport, error) {
	id := cs.Connector.ID()
	rep := SyncReport{Connector: id, Found: len(snap.Users), Skipped: len(snap.Skipped)}
	for _, s := range snap.Skipped {
		rep.note(s.DN, s.Reason)
	}
	now := d.Now().UTC()

	// Every user as the store has them, listed once: the connector's users by ImmutableID, and
	// every user's UPN and ImmutableID, which the loop below checks each directory entry
	// against in memory (not with a query per entry: 100,000 users made those lookups the sync's
	// cost). The maps follow the creates and renames the loop makes, so they stay what the
	// transaction's store holds; a concurrent write (PostgreSQL) that the listing missed makes
	// the sync's write fail on the store's uniqueness and the sync change nothing.
	existing := map[string]store.User{}
	byUPN := map[string]userRef{}        // lower-case UPN → user
	byImmID := map[string]userRef{}      // ImmutableID → user, for every source
	have := map[string]map[string]bool{} // lower-case group name → the connector's members
	for page := (store.Page{Limit: 1000}); ; {
		us, next, err := d.Store.ListUsers(ctx, page)
		if err != nil {
			return rep, err
		}
		for _, u := range us {
			ref := userRef{id: u.ID, upn: u.UPN, source: u.Source}
			byUPN[strings.ToLower(u.UPN)] = ref
			if u.ImmutableID != "" {
				byImmID[u.ImmutableID] = ref
			}
			if u.Source == id {
				for _, g := range u.Groups {
					k := strings.ToLower(g)
					if have[k] == nil {
						have[k] = map[string]bool{}
					}
					have[k][u.ID] = true
				}
				u.Groups = nil // the memberships are in have
				existing[u.ImmutableID] = u
				if u.Status == store.UserActive {
					rep.Active++
				}
			}
		}
		if next == "" {
			break
		}
		page.After = next
	}

	type disable struct {
		u      store.User
		reason string
	}
	var disables []disable
	seenID, seenUPN := map[string]bool{}, map[string]bool{}
	wantGroups := map[string][]string{} // user ID → the DNs of its groups in the directory
	for _, x := range snap.Users {
		upn, err := NormalizeUPN(x.UPN)
		switch {
		case x.ImmutableID == "":
			rep.Skipped++
			rep.note(x.DN, "no ImmutableID")
			continue
		case err != nil:
			rep.Skipped++
			rep.note(x.DN, err.Error())
			continue
		case seenID[x.ImmutableID] || seenUPN[strings.ToLower(upn)]:
			rep.Skipped++
			rep.note(x.DN, "duplicate ImmutableID or UPN "+upn)
			continue
		}
		seenID[x.ImmutableID], seenUPN[strings.ToLower(upn)] = true, true
		email := strings.TrimSpace(x.Email)
		if !strings.Contains(email, "@") {
			email = ""
		}
		old, known := existing[x.ImmutableID]
		delete(existing, x.ImmutableID)
		if other, ok := byUPN[strings.ToLower(upn)]; ok && (!known || other.id != old.ID) {
			rep.Conflicts++
			rep.note(x.DN, fmt.Sprintf("a user %s already exists in Sekisho (source %q); left alone", upn, other.source))
			continue
		}
		if !known {
			if other, ok := byImmID[x.ImmutableID]; ok {
				rep.Conflicts++
				rep.note(x.DN, fmt.Sprintf("ImmutableID %s belongs to %s (source %q); left alone", x.ImmutableID, other.upn, other.source))
				continue
			}
			u := store.User{ID: uuid.NewString(), UPN: upn, DisplayName: strings.TrimSpace(x.DisplayName), Email: email,
				ImmutableID: x.ImmutableID, Status: store.UserActive, Source: id, SourceDN: x.DN, CreatedAt: now, UpdatedAt: now}
			if x.Disabled {
				u.Status, u.SourceDisabled = store.UserDisabled, true
			}
			if err := d.Store.CreateUser(ctx, u); err != nil {
				return rep, fmt.Errorf("create %s: %w", upn, err)
			}
			ref := userRef{id: u.ID, upn: upn, source: id}
			byUPN[strings.ToLower(upn)], byImmID[x.ImmutableID] = ref, ref
			rep.Created++
			wantGroups[u.ID] = x.Groups
			continue
		}
		nu := old
		nu.UPN, nu.DisplayName, nu.Email, nu.SourceDN, nu.SourceMissingSince = upn, strings.TrimSpace(x.DisplayName), email, x.DN, time.Time{}
		switch {
		case x.Disabled && old.Status == store.UserActive:
			disables = append(disables, disable{u: nu, reason: "disabled in the directory"})
		case !x.Disabled && old.Status == store.UserDisabled && old.SourceDisabled:
			nu.Status, nu.SourceDisabled = store.UserActive, false
			rep.Enabled++
		}
		if nu.UPN != old.UPN || nu.DisplayName != old.DisplayName || nu.Email != old.Email || nu.SourceDN != old.SourceDN ||
			!old.SourceMissingSince.IsZero() || nu.Status != old.Status {
			if _, err := d.Store.UpdateUser(ctx, old.ID, func(store.User) (store.User, error) { nu.UpdatedAt = now; return nu, nil }); err != nil {
				return rep, fmt.Errorf("update %s: %w", upn, err)
			}
			if !strings.EqualFold(nu.UPN, old.UPN) {
				delete(byUPN, strings.ToLower(old.UPN))
			}
			ref := userRef{id: old.ID, upn: nu.UPN, source: id}
			byUPN[strings.ToLower(nu.UPN)], byImmID[x.ImmutableID] = ref, ref
			rep.Updated++
		} else {
			rep.Unchanged++
		}
		wantGroups[old.ID] = x.Groups
	}
	// What is left in existing was not found.
	for _, u := range existing {
		switch {
		case u.Status != store.UserActive:
		case u.SourceMissingSince.IsZero():
			u.SourceMissingSince = now
			if _, err := d.Store.UpdateUser(ctx, u.ID, func(store.User) (store.User, error) { u.UpdatedAt = now; return u, nil }); err != nil {
				return rep, fmt.Errorf("mark %s missing: %w", u.UPN, err)
			}
			rep.Missing++
			rep.WouldDisable++
		case now.Sub(u.SourceMissingSince) >= cs.DisableGrace:
			disables = append(disables, disable{u: u, reason: "missing from the directory since " + u.SourceMissingSince.Format(time.RFC3339)})
		default:
			rep.Missing++
		}
	}
	rep.WouldDisable += len(disables)
	if !force && rep.Active > 0 && float64(rep.WouldDisable)*100 > cs.MaxDisablePercent*float64(rep.Active) {
		rep.Stopped = true
		return rep, nil
	}
	for _, x := range disables {
		x.u.Status, x.u.SourceDisabled = store.UserDisabled, true
		if _, err := d.Store.UpdateUser(ctx, x.u.ID, func(store.User) (store.User, error) { x.u.UpdatedAt = now; return x.u, nil }); err != nil {
			return rep, fmt.Errorf("disable %s: %w", x.u.UPN, err)
		}
		if _, err := d.Store.DeleteUserSessions(ctx, x.u.ID); err != nil {
			return rep, fmt.Errorf("end sessions of %s: %w", x.u.UPN, err)
		}
		rep.Disabled++
	}
	return rep, d.syncGroups(ctx, id, snap.Groups, wantGroups, have, &rep)
}

// userRef is what the sync needs to know of a user it matches an entry against.
type userRef struct{ id, upn, source string }

// syncGroups creates the directory's groups (a group whose name a local one has is a
// conflict, left alone) and makes the connector's users' memberships in them what the
// directory says. Members that are not the connector's users are left alone; a group gone
// from the directory is kept (a policy may name it) but loses the connector's members.
// have holds the connector's users' memberships as the store had them before the sync (by
// lower-case group name; the users this sync created have none): read with the users, not
// with a query per group.
func (d *Directory) syncGroups(ctx context.Context, id string, groups []ExternalGroup, wantGroups map[string][]string,
	have map[string]map[string]bool, rep *SyncReport) error {
	stored, err := d.Store.ListGroups(ctx)
	if err != nil {
		return err
	}
	byName := map[string]store.Group{}
	for _, g := range stored {
		byName[strings.ToLower(g.Name)] = g
	}
	managed := map[string]string{} // normalised group DN → lower-case name
	names := map[string]string{}   // lower-case name → the name to address the group by
	isManaged := map[string]bool{} // lower-case names of the groups found now
	seen := map[string]bool{}
	for _, g := range groups {
		name := strings.TrimSpace(g.Name)
		if name == "" || strings.ContainsAny(name, ",\n") || seen[strings.ToLower(name)] {
			rep.Skipped++
			rep.note(g.DN, fmt.Sprintf("group name %q is empty, repeated or has a comma or newline", name))
			continue
		}
		seen[strings.ToLower(name)] = true
		if old, ok := byName[strings.ToLower(name)]; ok {
			if old.Source != id {
				rep.Conflicts++
				rep.note(g.DN, fmt.Sprintf("a group %s already exists in Sekisho (source %q); left alone", name, old.Source))
				continue
			}
		} else {
			if err := d.Store.CreateGroup(ctx, store.Group{Name: name, Description: g.Description, Source: id, SourceDN: g.DN,
				CreatedAt: d.Now().UTC()}); err != nil {
				return fmt.Errorf("create group %s: %w", name, err)
			}
			rep.GroupsCreated++
		}
		managed[normDN(g.DN)] = strings.ToLower(name)
		names[strings.ToLower(name)], isManaged[strings.ToLower(name)] = name, true
	}
	// Wanted memberships: lower-case group name → user IDs. A user's group DNs are the few
	// thousand group DNs at most: normalised once each.
	want := map[string]map[string]bool{}
	norm := map[string]string{}
	for uid, dns := range wantGroups {
		for _, dn := range dns {
			n, ok := norm[dn]
			if !ok {
				n = normDN(dn)
				norm[dn] = n
			}
			if name, ok := managed[n]; ok {
				if want[name] == nil {
					want[name] = map[string]bool{}
				}
				want[name][uid] = true
			}
		}
	}
	// Every group of this connector (found now or before); the ones not found now are no
	// longer managed.
	for _, g := range stored {
		if g.Source == id {
			if _, ok := names[strings.ToLower(g.Name)]; !ok {
				names[strings.ToLower(g.Name)] = g.Name
			}
		}
	}
	for k, name := range names {
		for uid := range have[k] {
			if _, synced := wantGroups[uid]; synced && !want[k][uid] || !isManaged[k] {
				if err := d.Store.RemoveMember(ctx, name, uid); err != nil {
					return fmt.Errorf("remove user %s from %s: %w", uid, name, err)
				}
				rep.MembersRemoved++
			}
		}
		var add []string
		for uid := range want[k] {
			if !have[k][uid] {
				add = append(add, uid)
			}
		}
		if err := d.addMembers(ctx, name, add); err != nil {
			return err
		}
		rep.MembersAdded += len(add)
	}
	return nil
}

// memberAdder is a store that adds many members to a group at once (sqlstore's AddMembers);
// a store without it gets one AddMember per user.
type memberAdder interface {
	AddMembers(ctx context.Context, group string, userIDs []string) error
}

func (d *Directory) addMembers(ctx context.Context, group string, userIDs []string) error {
	if len(userIDs) == 0 {
		return nil
	}
	sort.Strings(userIDs) // the store's writes in one order, whatever the maps' order
	if ma, ok := d.Store.(memberAdder); ok {
		if err := ma.AddMembers(ctx, group, userIDs); err != nil {
			return fmt.Errorf("add members to %s: %w", group, err)
		}
		return nil
	}
	for _, uid := range userIDs {
		if err := d.Store.AddMember(ctx, group, uid); err != nil {
			return fmt.Errorf("add a member to %s: %w", group, err)
		}
	}
	return nil
}

// RunScheduledSyncs syncs every connector with an Interval, each on its own ticker, until
// ctx ends. Several nodes may run it: a sync takes a store lock, and a node skips its turn
// when another node's sync of the connector is younger than half the interval. A sync that
// fails or stops is logged (and in the admin audit log); the next tick tries again.
func (d *Directory) RunScheduledSyncs(ctx context.Context, log *slog.Logger) {
	for _, cs := range d.Connectors() {
		if cs.Interval <= 0 {
			continue
		}
		if _, ok := cs.Connector.(Syncer); !ok {
			continue
		}
		go func(cs ConnectorSettings) {
			t := time.NewTicker(cs.Interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				id := cs.Connector.ID()
				last, err := d.Store.ListAdminEvents(ctx, store.AdminEventFilter{Action: "directory.", Target: "directory:" + id, Limit: 1})
				if err == nil && len(last) == 1 && d.Now().Sub(last[0].Time) < cs.Interval/2 {
					continue
				}
				rep, err := d.Sync(ctx, id, SyncOptions{Actor: "sekisho", Via: "schedule"})
				if err != nil {
					log.ErrorContext(ctx, "directory sync", "connector", id, "err", err)
					continue
				}
				log.InfoContext(ctx, "directory sync", "connector", id, "found", rep.Found, "created", rep.Created,
					"updated", rep.Updated, "disabled", rep.Disabled, "missing", rep.Missing, "skipped", rep.Skipped)
			}
		}(cs)
	}
}
