package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// The directory connectors as the console and the API show them: what each is set to do,
// and its latest syncs read back from the admin audit log (each sync writes one entry, whose
// after document is its report). A sync asked for here is the same as `sekisho directory
// sync`: one transaction and one entry, the threshold, dry runs that change nothing.

// ConnectorView is one configured directory connector.
type ConnectorView struct {
	ID                string     `json:"id"`
	Interval          string     `json:"interval"` // between scheduled syncs; "" = on demand only
	DisableGrace      string     `json:"disableGrace"`
	MaxDisablePercent float64    `json:"maxDisablePercent"`
	VerifiesPasswords bool       `json:"verifiesPasswords"` // sign-in checks the password with the directory
	LocalFallback     bool       `json:"localFallback"`
	Syncs             []SyncView `json:"syncs"` // newest first
}

// SyncView is one recorded sync.
type SyncView struct {
	Time    time.Time            `json:"time"`
	Outcome string               `json:"outcome"` // done, failed or stopped (the threshold)
	Actor   string               `json:"actor"`
	Via     string               `json:"via"`
	Report  directory.SyncReport `json:"report"`
}

// RecentSyncs is how many syncs of each connector DirectoryConnectors reads back.
const RecentSyncs = 10

// DirectoryConnectors lists the configured connectors, each with its latest syncs.
func (s *Service) DirectoryConnectors(ctx context.Context) ([]ConnectorView, error) {
	out := []ConnectorView{}
	for _, cs := range s.Directory.Connectors() {
		_, verifies := cs.Connector.(directory.PasswordVerifier)
		v := ConnectorView{ID: cs.Connector.ID(), DisableGrace: cs.DisableGrace.String(), MaxDisablePercent: cs.MaxDisablePercent,
			VerifiesPasswords: verifies, LocalFallback: cs.LocalFallback, Syncs: []SyncView{}}
		if cs.Interval > 0 {
			v.Interval = cs.Interval.String()
		}
		es, err := s.Store.ListAdminEvents(ctx, store.AdminEventFilter{Action: "directory.", Target: "directory:" + v.ID, Limit: RecentSyncs})
		if err != nil {
			return nil, fmt.Errorf("read the syncs of %s: %w", v.ID, err)
		}
		for i := len(es) - 1; i >= 0; i-- { // newest first
			e := es[i]
			sv := SyncView{Time: e.Time, Actor: e.Actor, Via: e.Via, Outcome: syncOutcome(e.Action)}
			if err := json.Unmarshal(e.After, &sv.Report); err != nil {
				sv.Report.Error = "the report of this sync cannot be read: " + err.Error()
			}
			v.Syncs = append(v.Syncs, sv)
		}
		out = append(out, v)
	}
	return out, nil
}

func syncOutcome(action string) string {
	switch strings.TrimPrefix(action, "directory.sync") {
	case ".failed":
		return "failed"
	case ".stopped":
		return "stopped"
	}
	return "done"
}

// SyncDirectory syncs the connector id now (a dry run changes nothing and records nothing).
// An unknown connector is store.ErrNotFound; a sync the threshold stopped returns its report
// with directory.ErrThreshold.
func (s *Service) SyncDirectory(ctx context.Context, a Actor, id string, dryRun, force bool) (directory.SyncReport, error) {
	if _, ok := s.Directory.Connector(id); !ok {
		return directory.SyncReport{}, fmt.Errorf("no directory connector %q is configured: %w", id, store.ErrNotFound)
	}
	return s.Directory.Sync(ctx, id, directory.SyncOptions{Actor: a.Name, Via: a.Via, DryRun: dryRun, Force: force})
}
