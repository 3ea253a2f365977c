package simulate

import (
	"context"
	"net/netip"
	"time"

	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/store"
)

// Question is a what-if question: how would this sign-in be judged?
type Question struct {
	User, Application, ClientType, LegacyApp string
	IP                                       netip.Addr
	MFA, Device                              bool // a second factor given; a valid device certificate bound to the user
	Time                                     time.Time
}

// Answer is the policy's verdict on a question.
type Answer struct {
	Decision policy.Decision
	Inside   []string // the stored networks the address is in
}

// WhatIf judges q under comp (a draft or the policy in force), with the user's current
// groups (none for an unknown user) — what the console's what-if form and the API answer.
func WhatIf(ctx context.Context, st store.Store, comp *published.Compiled, q Question) Answer {
	var groups []string
	if u, err := st.GetUserByUPN(ctx, q.User); err == nil {
		groups = u.Groups
	}
	ip := q.IP.Unmap()
	d := comp.Policy.Evaluate(policy.Input{User: q.User, Groups: groups, Application: q.Application, ClientType: q.ClientType,
		LegacyApp: q.LegacyApp, IP: ip, MFA: q.MFA, Time: q.Time,
		Device: policy.Device{Present: q.Device, Valid: q.Device, BoundToUser: q.Device}})
	return Answer{Decision: d, Inside: comp.Inside(ip)}
}
