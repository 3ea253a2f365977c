package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/store"
)

// BridgeUpstreamView is one user's connected mailbox (a mail bridge upstream grant) as the
// audit log and the interfaces show it: never a token.
type BridgeUpstreamView struct {
	Profile     string    `json:"profile"`
	User        string    `json:"user"`
	Scopes      []string  `json:"scopes,omitempty"`
	ConnectedAt time.Time `json:"connectedAt"`
	ConnectedBy string    `json:"connectedBy"`
	RefreshedAt time.Time `json:"refreshedAt,omitzero"`
	// Broken is the token service's refusal of the grant: the mailbox must be connected again.
	Broken   string    `json:"broken,omitempty"`
	BrokenAt time.Time `json:"brokenAt,omitzero"`
}

// State is "connected" or "broken".
func (v BridgeUpstreamView) State() string {
	if v.Broken != "" {
		return "broken"
	}
	return "connected"
}

func viewOfBridgeGrant(profile, upn string, g oauthtokens.Grant) BridgeUpstreamView {
	return BridgeUpstreamView{Profile: profile, User: upn, Scopes: g.Scopes, ConnectedAt: g.ConnectedAt, ConnectedBy: g.ConnectedBy,
		RefreshedAt: g.RefreshedAt, Broken: g.Broken, BrokenAt: g.BrokenAt}
}

// bridgeUpstream is the delegated token source, or why there is none.
func (s *Service) bridgeUpstream() (*oauthtokens.Source, error) {
	src := s.BridgeUpstream
	if src == nil {
		return nil, errors.New("the mail bridge's tokens do not come from an OAuth server: set bridge.upstream.tokens to oauth or microsoft365 (docs/mail-bridge-upstream.md)")
	}
	if src.AppOnly {
		return nil, errors.New("bridge.upstream.oauth.app_only is set: one token serves every mailbox, there are no per-user connections")
	}
	return src, nil
}

// ConnectBridgeUpstream connects user's mailbox to the mail bridge ("bridge.upstream.connect"):
// the device authorization grant runs first, outside any transaction — show is called with
// the address and code for whoever signs in as the user at the token service, and the call
// waits for them — then the grant is stored sealed in one transaction with its audit entry,
// replacing an earlier one.
func (s *Service) ConnectBridgeUpstream(ctx context.Context, a Actor, user string, show func(oauthtokens.DeviceCode) error) (BridgeUpstreamView, error) {
	src, err := s.bridgeUpstream()
	if err != nil {
		return BridgeUpstreamView{}, err
	}
	if a.Name == "" || a.Via == "" {
		return BridgeUpstreamView{}, fmt.Errorf("bridge.upstream.connect %s: no actor (every change names who made it and how)", user)
	}
	u, err := s.Store.GetUserByUPN(ctx, user)
	if err != nil {
		return BridgeUpstreamView{}, fmt.Errorf("user %s: %w", user, err)
	}
	if u.Status != store.UserActive {
		return BridgeUpstreamView{}, fmt.Errorf("user %s is %s: only an active user's mailbox is connected", u.UPN, u.Status)
	}
	if show == nil {
		return BridgeUpstreamView{}, errors.New("connect a mailbox: nowhere to show the device code")
	}
	tok, err := src.Authorize(ctx, show)
	if err != nil {
		return BridgeUpstreamView{}, fmt.Errorf("connect the mailbox of %s: %w", u.UPN, err)
	}
	g, err := src.NewGrant(tok, u.UPN, a.Name, s.Now())
	if err != nil {
		return BridgeUpstreamView{}, fmt.Errorf("connect the mailbox of %s: %w", u.UPN, err)
	}
	return changeTo(ctx, s, a, "bridge.upstream.connect", u.UPN, func(t tx) (BridgeUpstreamView, any, any, error) {
		cur, err := t.user(ctx, u.UPN)
		if err != nil {
			return BridgeUpstreamView{}, nil, nil, err
		}
		if cur.ID != u.ID || cur.Status != store.UserActive {
			return BridgeUpstreamView{}, nil, nil, fmt.Errorf("user %s changed while the mailbox was being connected: connect again", u.UPN)
		}
		var before any
		if _, err := t.UpdateBridgeUpstreamGrant(ctx, src.Profile, u.ID, func(old store.BridgeUpstreamGrant, found bool) (store.BridgeUpstreamGrant, error) {
			if found {
				if og, err := src.Open(old); err == nil {
					before = viewOfBridgeGrant(src.Profile, u.UPN, og)
				} else {
					before = BridgeUpstreamView{Profile: src.Profile, User: u.UPN, Broken: "the stored grant does not open: " + err.Error()}
				}
			}
			sealed, err := src.Seal(u.ID, g)
			if err != nil {
				return old, err
			}
			return store.BridgeUpstreamGrant{Sealed: sealed, UpdatedAt: g.ConnectedAt}, nil
		}); err != nil {
			return BridgeUpstreamView{}, nil, nil, fmt.Errorf("the mailbox grant of %s: %w", u.UPN, err)
		}
		v := viewOfBridgeGrant(src.Profile, u.UPN, g)
		return v, before, v, nil
	})
}

// DisconnectBridgeUpstream deletes user's mailbox grant ("bridge.upstream.disconnect"): the
// bridge's logins for the user are refused as not connected, on every node within the token
// source's recheck (access tokens already handed to the mail server stay good until they
// expire; revoke the grant at the token service too to end them there).
func (s *Service) DisconnectBridgeUpstream(ctx context.Context, a Actor, user string) (BridgeUpstreamView, error) {
	src, err := s.bridgeUpstream()
	if err != nil {
		return BridgeUpstreamView{}, err
	}
	return changeTo(ctx, s, a, "bridge.upstream.disconnect", user, func(t tx) (BridgeUpstreamView, any, any, error) {
		u, err := t.user(ctx, user)
		if err != nil {
			return BridgeUpstreamView{}, nil, nil, err
		}
		var v BridgeUpstreamView
		if _, err := t.UpdateBridgeUpstreamGrant(ctx, src.Profile, u.ID, func(old store.BridgeUpstreamGrant, found bool) (store.BridgeUpstreamGrant, error) {
			if !found {
				return old, fmt.Errorf("%s has not connected the mailbox: %w", u.UPN, store.ErrNotFound)
			}
			v = BridgeUpstreamView{Profile: src.Profile, User: u.UPN}
			if g, err := src.Open(old); err == nil {
				v = viewOfBridgeGrant(src.Profile, u.UPN, g)
			}
			return store.BridgeUpstreamGrant{}, nil // nil Sealed: deleted
		}); err != nil {
			return BridgeUpstreamView{}, nil, nil, err
		}
		return v, v, nil, nil
	})
}

// ListBridgeUpstream lists the connected mailboxes of the configured profile, by user: when
// and by whom each was connected, its last refresh, and whether the token service refused it.
func (s *Service) ListBridgeUpstream(ctx context.Context) ([]BridgeUpstreamView, error) {
	src, err := s.bridgeUpstream()
	if err != nil {
		return nil, err
	}
	rows, err := s.Store.ListBridgeUpstreamGrants(ctx, src.Profile)
	if err != nil {
		return nil, fmt.Errorf("bridge upstream grants: %w", err)
	}
	out := make([]BridgeUpstreamView, 0, len(rows))
	for _, r := range rows {
		upn := r.UserID
		if u, err := s.Store.GetUser(ctx, r.UserID); err == nil {
			upn = u.UPN
		}
		g, err := src.Open(r)
		if err != nil {
			out = append(out, BridgeUpstreamView{Profile: src.Profile, User: upn, Broken: "the stored grant does not open: " + err.Error(), BrokenAt: r.UpdatedAt})
			continue
		}
		out = append(out, viewOfBridgeGrant(src.Profile, upn, g))
	}
	return out, nil
}

// BridgeUpstreamDelegated reports whether the mail bridge's tokens come from per-user grants
// (bridge.upstream.tokens oauth or microsoft365, not app_only): whether mailboxes are connected
// at all.
func (s *Service) BridgeUpstreamDelegated() bool {
	_, err := s.bridgeUpstream()
	return err == nil
}

// BridgeUpstreamOf is user's connected mailbox in the configured profile; an error in the
// chain of store.ErrNotFound when the user has not connected it.
func (s *Service) BridgeUpstreamOf(ctx context.Context, user string) (BridgeUpstreamView, error) {
	src, err := s.bridgeUpstream()
	if err != nil {
		return BridgeUpstreamView{}, err
	}
	u, err := s.Store.GetUserByUPN(ctx, user)
	if err != nil {
		return BridgeUpstreamView{}, fmt.Errorf("user %s: %w", user, err)
	}
	row, err := s.Store.GetBridgeUpstreamGrant(ctx, src.Profile, u.ID)
	if err != nil {
		return BridgeUpstreamView{}, fmt.Errorf("the mailbox grant of %s: %w", u.UPN, err)
	}
	g, err := src.Open(row)
	if err != nil {
		return BridgeUpstreamView{Profile: src.Profile, User: u.UPN, Broken: "the stored grant does not open: " + err.Error(), BrokenAt: row.UpdatedAt}, nil
	}
	return viewOfBridgeGrant(src.Profile, u.UPN, g), nil
}
