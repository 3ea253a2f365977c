package admin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// UserView is a user as the audit log and the interfaces show it: never a password hash.
type UserView struct {
	UPN                string   `json:"upn"`
	DisplayName        string   `json:"displayName,omitempty"`
	Email              string   `json:"email,omitempty"`
	ImmutableID        string   `json:"immutableId,omitempty"`
	Status             string   `json:"status"`
	Groups             []string `json:"groups,omitempty"`
	HasPassword        bool     `json:"hasPassword"`
	MustChangePassword bool     `json:"mustChangePassword,omitempty"`
}

// ViewOf returns the public view of u.
func ViewOf(u store.User) UserView {
	g := slices.Clone(u.Groups)
	slices.Sort(g)
	return UserView{UPN: u.UPN, DisplayName: u.DisplayName, Email: u.Email, ImmutableID: u.ImmutableID, Status: string(u.Status),
		Groups: g, HasPassword: u.PasswordHash != "", MustChangePassword: u.PasswordChangeRequired}
}

func (t tx) user(ctx context.Context, upn string) (store.User, error) {
	u, err := t.GetUserByUPN(ctx, strings.TrimSpace(upn))
	if err != nil {
		return u, fmt.Errorf("user %s: %w", upn, err)
	}
	return u, nil
}

// AddUser creates a user with its group memberships.
func (s *Service) AddUser(ctx context.Context, a Actor, nu directory.NewUser) (store.User, error) {
	var out store.User
	err := s.change(ctx, a, "user.add", strings.TrimSpace(nu.UPN), func(t tx) (any, any, error) {
		u, err := t.dir.AddUser(ctx, nu)
		out = u
		return nil, ViewOf(u), err
	})
	return out, err
}

// SetPassword sets a user's password (temporary: to be replaced at the next sign-in); the
// user's sessions end. The entry says that the password changed, never what it is.
func (s *Service) SetPassword(ctx context.Context, a Actor, upn, password string, temporary bool) error {
	return s.change(ctx, a, "user.set-password", upn, func(t tx) (any, any, error) {
		old, err := t.user(ctx, upn)
		if err != nil {
			return nil, nil, err
		}
		set := t.dir.SetPassword
		if temporary {
			set = t.dir.SetTemporaryPassword
		}
		if err := set(ctx, upn, password); err != nil {
			return nil, nil, err
		}
		nu, err := t.user(ctx, upn)
		return ViewOf(old), ViewOf(nu), err
	})
}

// SetStatus enables or disables a user; disabling ends the user's sessions.
func (s *Service) SetStatus(ctx context.Context, a Actor, upn string, status store.UserStatus) error {
	action := "user.enable"
	if status == store.UserDisabled {
		action = "user.disable"
	}
	return s.change(ctx, a, action, upn, func(t tx) (any, any, error) {
		old, err := t.user(ctx, upn)
		if err != nil {
			return nil, nil, err
		}
		if err := t.dir.SetStatus(ctx, upn, status); err != nil {
			return nil, nil, err
		}
		nu, err := t.user(ctx, upn)
		return ViewOf(old), ViewOf(nu), err
	})
}

// DeleteUser deletes a user with its sessions, memberships, devices and factors.
func (s *Service) DeleteUser(ctx context.Context, a Actor, upn string) error {
	return s.change(ctx, a, "user.delete", upn, func(t tx) (any, any, error) {
		u, err := t.user(ctx, upn)
		if err != nil {
			return nil, nil, err
		}
		if _, err := t.DeleteUserSessions(ctx, u.ID); err != nil {
			return nil, nil, fmt.Errorf("end sessions of %s: %w", upn, err)
		}
		if err := t.Store.DeleteUser(ctx, u.ID); err != nil {
			return nil, nil, fmt.Errorf("delete %s: %w", upn, err)
		}
		return ViewOf(u), nil, nil
	})
}

// ImportUsers imports an Entra user export: each created user is one transaction with its
// entry ("user.import"); rows that fail are reported and change nothing.
func (s *Service) ImportUsers(ctx context.Context, a Actor, r io.Reader, groups []string) ([]directory.ImportResult, error) {
	return s.Directory.ImportCSVWith(ctx, r, groups, func(ctx context.Context, nu directory.NewUser) (store.User, error) {
		var out store.User
		err := s.change(ctx, a, "user.import", strings.TrimSpace(nu.UPN), func(t tx) (any, any, error) {
			u, err := t.dir.AddUser(ctx, nu)
			out = u
			return nil, ViewOf(u), err
		})
		return out, err
	})
}
