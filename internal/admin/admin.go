// Package admin is the one service layer under every administrative interface: the CLI
// today, the console and the API tomorrow. Each operation is one transaction that makes the
// change and writes one entry of the admin audit log (who, when, through which interface,
// what, the state before and after), so a change is never in force without its entry nor
// logged without being made. Interfaces parse and print; the rules live here and in the
// packages this one calls (directory for users and passwords, policy for documents).
package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// Actor is who makes a change and through which interface.
type Actor struct {
	Name string // the administrator's UPN, or "os:<user>" for the CLI on the server
	Via  string // "cli", "console" or "api"
}

// Service performs administrative changes.
type Service struct {
	Store     store.Store
	Directory *directory.Directory
	Now       func() time.Time
}

// New returns the service on an instance's store and directory.
func New(s store.Store, d *directory.Directory) *Service {
	return &Service{Store: s, Directory: d, Now: time.Now}
}

// tx is what an operation works with inside its transaction.
type tx struct {
	store.Store
	dir *directory.Directory
}

// change runs fn in one transaction and records its entry there: fn returns the state of the
// target before and after (nil for "did not exist" / "no longer exists").
func (s *Service) change(ctx context.Context, a Actor, action, target string, fn func(t tx) (before, after any, err error)) error {
	if a.Name == "" || a.Via == "" {
		return fmt.Errorf("%s %s: no actor (every change names who made it and how)", action, target)
	}
	return s.Store.InTx(ctx, func(st store.Store) error {
		before, after, err := fn(tx{Store: st, dir: s.Directory.WithStore(st)})
		if err != nil {
			return err
		}
		e := store.AdminEvent{ID: audit.NewID(), Time: s.Now().UTC(), Actor: a.Name, Via: a.Via, Action: action, Target: target}
		if e.Before, err = doc(before); err != nil {
			return err
		}
		if e.After, err = doc(after); err != nil {
			return err
		}
		if err := st.AddAdminEvent(ctx, e); err != nil {
			return fmt.Errorf("%s %s: admin audit entry: %w", action, target, err)
		}
		return nil
	})
}

func doc(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("admin audit entry: %w", err)
	}
	return b, nil
}

// Log lists admin audit entries.
func (s *Service) Log(ctx context.Context, f store.AdminEventFilter) ([]store.AdminEvent, error) {
	evs, err := s.Store.ListAdminEvents(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("admin audit log: %w", err)
	}
	return evs, nil
}
