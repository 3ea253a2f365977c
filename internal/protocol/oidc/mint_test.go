package oidc

import (
	"context"
	"errors"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
)

// TestIssueAccessToken: a minted token is the code grant's JWT for the user (jti from the
// record, scopes, a pairwise subject when asked) and introspects as active with the user's
// UPN, so an upstream that trusts Sekisho accepts it; unknown and public clients, and users
// that cannot sign in, get none.
func TestIssueAccessToken(t *testing.T) {
	hs := newHarness(t)
	ctx := context.Background()
	u := hs.users["u1"]
	tok, exp, err := hs.h.IssueAccessToken(ctx, "rp", u, []string{"imap"}, "EV9")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.After(hs.now) {
		t.Fatalf("expires %v", exp)
	}
	c := claims(t, tok)
	if c["sub"] != "u1" || c["client_id"] != "rp" || c["jti"] != "_EV9" || c["scope"] != "imap" || c["iss"] != issuer {
		t.Fatalf("claims %v", c)
	}
	status, in, _ := hs.introspect(hs.rp(), tok, "")
	if status != 200 || !in.Active || in.Username != "alice@example.com" || in.ClientID != "rp" {
		t.Fatalf("introspection %d %+v", status, in)
	}

	// A pairwise client's token names its own subject and still introspects to the user.
	secret, hash, _ := hs.h.cfg.Secrets.New("pw")
	hs.apps.put(t, "pairwise-mail", ClientConfig{ClientID: "pw", RedirectURIs: []string{callback}, SecretHash: hash, SubjectType: SubjectPairwise})
	tok, _, err = hs.h.IssueAccessToken(ctx, "pw", u, nil, "EV10")
	if err != nil {
		t.Fatal(err)
	}
	if sub := claims(t, tok)["sub"]; sub == "u1" || sub == "" {
		t.Fatalf("pairwise sub %v", sub)
	}
	if _, in, _ := hs.introspect(clientAuth{"pw", secret, ""}, tok, ""); !in.Active || in.Username != "alice@example.com" {
		t.Fatalf("pairwise introspection %+v", in)
	}

	for _, tc := range []struct {
		name, client string
		user         store.User
	}{
		{"unknown client", "nobody", u},
		{"a public client", "app", u},
		{"a disabled user", "rp", store.User{ID: "u1", UPN: u.UPN, Status: store.UserDisabled}},
	} {
		if _, _, err := hs.h.IssueAccessToken(ctx, tc.client, tc.user, nil, "EV11"); !errors.Is(err, ErrNotIssuable) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
