package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/internal/ipset"
	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/store"
)

// AddGroup creates a group.
func (s *Service) AddGroup(ctx context.Context, a Actor, name, description string) error {
	name = strings.TrimSpace(name)
	return s.change(ctx, a, "group.add", name, func(t tx) (any, any, error) {
		if name == "" {
			return nil, nil, errors.New("a group needs a name")
		}
		g := store.Group{ID: name, Name: name, Description: description, CreatedAt: s.Now().UTC()}
		if err := t.CreateGroup(ctx, g); err != nil {
			return nil, nil, fmt.Errorf("group %s: %w", name, err)
		}
		return nil, map[string]string{"name": name, "description": description}, nil
	})
}

// SetMember adds (member true) or removes a user from a group.
func (s *Service) SetMember(ctx context.Context, a Actor, group, upn string, member bool) error {
	action := "group.remove-member"
	if member {
		action = "group.add-member"
	}
	return s.change(ctx, a, action, group, func(t tx) (any, any, error) {
		u, err := t.user(ctx, upn)
		if err != nil {
			return nil, nil, err
		}
		if member {
			err = t.AddMember(ctx, group, u.ID)
		} else {
			err = t.RemoveMember(ctx, group, u.ID)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("group %s, user %s: %w", group, upn, err)
		}
		was, is := map[string]any{"user": u.UPN, "member": !member}, map[string]any{"user": u.UPN, "member": member}
		return was, is, nil
	})
}

// NetworkView is a named network in the audit log.
type NetworkView struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	CIDRs       []string `json:"cidrs"`
}

// SetNetwork creates or replaces a named network; every entry must parse (one sentence for
// the first that does not). The change is in force on every node within published.TTL.
func (s *Service) SetNetwork(ctx context.Context, a Actor, name, description string, cidrs []string) error {
	name = strings.TrimSpace(name)
	return s.change(ctx, a, "network.set", name, func(t tx) (any, any, error) {
		if name == "" {
			return nil, nil, errors.New("a network needs a name")
		}
		clean := make([]string, 0, len(cidrs))
		for _, c := range cidrs {
			p, err := ipset.ParsePrefix(c)
			if err != nil {
				return nil, nil, fmt.Errorf("network %s: %w", name, err)
			}
			clean = append(clean, p.String())
		}
		var before any
		if old, err := t.GetNetwork(ctx, name); err == nil {
			before = NetworkView{old.Name, old.Description, old.CIDRs}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("network %s: %w", name, err)
		}
		n := store.Network{Name: name, Description: description, CIDRs: clean, UpdatedAt: s.Now().UTC()}
		if err := t.PutNetwork(ctx, n); err != nil {
			return nil, nil, fmt.Errorf("network %s: %w", name, err)
		}
		if err := t.policyCompiles(ctx, name); err != nil {
			return nil, nil, err
		}
		return before, NetworkView{name, description, clean}, nil
	})
}

// policyCompiles checks that the policy in force still compiles against the networks as the
// transaction has changed them.
func (t tx) policyCompiles(ctx context.Context, network string) error {
	if _, err := published.Load(ctx, t.Store, nil); err != nil {
		return fmt.Errorf("network %s: the policy in force would no longer compile: %w", network, err)
	}
	return nil
}

// DeleteNetwork deletes a named network ("network.delete"); refused while the policy in
// force names it.
func (s *Service) DeleteNetwork(ctx context.Context, a Actor, name string) error {
	return s.change(ctx, a, "network.delete", name, func(t tx) (any, any, error) {
		old, err := t.GetNetwork(ctx, name)
		if err == nil {
			err = t.Store.DeleteNetwork(ctx, name)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("network %s: %w", name, err)
		}
		if err := t.policyCompiles(ctx, name); err != nil {
			return nil, nil, err
		}
		return NetworkView{old.Name, old.Description, old.CIDRs}, nil, nil
	})
}

// policyView is a policy version in the audit log.
type policyView struct {
	Version  int64  `json:"version"`
	Comment  string `json:"comment,omitempty"`
	Document string `json:"document"`
}

// PublishPolicy validates doc against the stored networks and makes it the policy in force as
// a new version (in force on every node within published.TTL).
func (s *Service) PublishPolicy(ctx context.Context, a Actor, file string, doc []byte, comment string) (store.PolicyVersion, error) {
	return s.publish(ctx, a, "policy.publish", file, doc, comment, -1)
}

// ErrStalePolicy: another version was published since the editor was opened on base.
var ErrStalePolicy = errors.New("another policy version was published since this one was opened")

// PublishPolicyOver publishes doc only if the version in force is still base (0: none): an
// editor that opened version base cannot silently overwrite a version published meanwhile.
func (s *Service) PublishPolicyOver(ctx context.Context, a Actor, file string, doc []byte, comment string, base int64) (store.PolicyVersion, error) {
	return s.publish(ctx, a, "policy.publish", file, doc, comment, base)
}

// RollbackPolicy makes an earlier version's document the policy in force again, as a new
// version (history is never rewritten).
func (s *Service) RollbackPolicy(ctx context.Context, a Actor, version int64) (store.PolicyVersion, error) {
	old, err := s.Store.GetPolicyVersion(ctx, version)
	if err != nil {
		return store.PolicyVersion{}, fmt.Errorf("policy version %d: %w", version, err)
	}
	return s.publish(ctx, a, "policy.rollback", fmt.Sprintf("policy version %d", version), old.Document,
		fmt.Sprintf("rollback to version %d", version), -1)
}

// publish stores doc as the next version; base >= 0 requires that version base be the one
// in force (checked on the number the store assigned under its lock, so two editors racing
// on several nodes cannot both win).
func (s *Service) publish(ctx context.Context, a Actor, action, file string, doc []byte, comment string, base int64) (store.PolicyVersion, error) {
	var out store.PolicyVersion
	err := s.change(ctx, a, action, "policy", func(t tx) (any, any, error) {
		nets, _, err := published.StoredNetworks(ctx, t.Store)
		if err != nil {
			return nil, nil, err
		}
		if _, err := policy.Load(file, doc, nets); err != nil {
			return nil, nil, err
		}
		var before any
		if old, err := t.LatestPolicyVersion(ctx); err == nil {
			before = policyView{old.Version, old.Comment, string(old.Document)}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, fmt.Errorf("policy in force: %w", err)
		}
		v, err := t.AddPolicyVersion(ctx, store.PolicyVersion{Document: slices.Clone(doc), Author: a.Name, Comment: comment, CreatedAt: s.Now().UTC()})
		if err != nil {
			return nil, nil, fmt.Errorf("store policy: %w", err)
		}
		if base >= 0 && v.Version != base+1 {
			return nil, nil, fmt.Errorf("%w (version %d is in force now)", ErrStalePolicy, v.Version-1)
		}
		out = v
		return before, policyView{v.Version, v.Comment, string(v.Document)}, nil
	})
	return out, err
}
