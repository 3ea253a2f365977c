package apppassword

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

func TestNewSecretAndNormalize(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) != 34 || strings.Count(pw, "-") != 6 || seen[pw] {
			t.Fatalf("secret %q", pw)
		}
		seen[pw] = true
		if strings.ContainsAny(pw, "01lo") {
			t.Fatalf("look-alike in %q", pw)
		}
		n := Normalize(pw)
		if len(n) != secretLen || Normalize(strings.ToUpper(pw)) != n || Normalize(strings.ReplaceAll(pw, "-", " ")) != n ||
			Normalize(strings.ReplaceAll(pw, "-", "")) != n {
			t.Fatalf("normalize %q → %q", pw, n)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 27), strings.Repeat("a", 29), strings.Repeat("a", 27) + "0",
		strings.Repeat("a", 27) + "é", strings.Repeat("a-", 100)} {
		if Normalize(bad) != "" {
			t.Errorf("Normalize(%q) accepted", bad)
		}
	}
}

func TestChecks(t *testing.T) {
	if s, err := CheckScopes([]string{"smtp-send", "imap", "imap"}); err != nil || strings.Join(s, ",") != "imap,smtp-send" {
		t.Errorf("scopes %v %v", s, err)
	}
	for _, bad := range [][]string{nil, {"imap", "mail"}, {"SMTP-SEND"}} {
		if _, err := CheckScopes(bad); err == nil {
			t.Errorf("scopes %v accepted", bad)
		}
	}
	if f, err := CheckFrom([]string{"Scans@Example.com", "scans@example.com", "b@example.com"}); err != nil || strings.Join(f, ",") != "b@example.com,scans@example.com" {
		t.Errorf("from %v %v", f, err)
	}
	for _, bad := range []string{"Scans <scans@example.com>", "not an address", " a@b.c"} {
		if _, err := CheckFrom([]string{bad}); err == nil {
			t.Errorf("from %q accepted", bad)
		}
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"printer-3f", true}, {"scan.to_mail", true}, {"", false}, {"Printer", false}, {"-x", false}, {strings.Repeat("a", 64), false}} {
		if err := CheckName(tc.name); (err == nil) != tc.ok {
			t.Errorf("name %q: %v", tc.name, err)
		}
	}
}

func TestMaySendFrom(t *testing.T) {
	u := store.User{UPN: "Alice@example.com", Email: "alice.sato@example.com"}
	own := store.BridgeCredential{}
	scoped := store.BridgeCredential{From: []string{"scans@example.com"}}
	for _, tc := range []struct {
		c    store.BridgeCredential
		addr string
		ok   bool
	}{
		{own, "alice@example.com", true},
		{own, "ALICE.SATO@example.com", true},
		{own, "bob@example.com", false},
		{own, "", false},
		{scoped, "Scans@example.com", true},
		{scoped, "alice@example.com", false}, // a scoped credential sends as its addresses only
	} {
		if got := MaySendFrom(tc.c, u, tc.addr); got != tc.ok {
			t.Errorf("%v from %q: %v", tc.c.From, tc.addr, got)
		}
	}
}

// TestVerify: the issued password opens its scopes' doors for its user only; revoked,
// expired and out-of-scope credentials are recognised (returned) but refused with their reason.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, _ := NewHasher(make([]byte, 32))
	other, _ := NewHasher([]byte(strings.Repeat("k", 32)))
	now := time.Now().UTC().Truncate(time.Second)
	alice := store.User{ID: "u1", UPN: "alice@example.com", Status: store.UserActive, CreatedAt: now}
	bob := store.User{ID: "u2", UPN: "bob@example.com", Status: store.UserActive, CreatedAt: now}
	for _, u := range []store.User{alice, bob} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(id, name string, scopes []string, mod func(*store.BridgeCredential)) string {
		pw, _ := NewSecret()
		c := store.BridgeCredential{ID: id, UserID: "u1", Name: name, Scopes: scopes, Hash: h.Hash(pw), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if mod != nil {
			mod(&c)
		}
		if err := st.CreateBridgeCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
		return pw
	}
	reader := mk("c1", "reader", []string{ScopeIMAP, ScopePOP}, nil)
	revoked := mk("c2", "old", []string{ScopeIMAP}, func(c *store.BridgeCredential) { c.RevokedAt = now })
	expired := mk("c3", "gone", []string{ScopeIMAP}, func(c *store.BridgeCredential) { c.ExpiresAt = now })
	v := Verifier{Store: st, Hasher: h}
	for _, tc := range []struct {
		name     string
		v        Verifier
		user     store.User
		pw, prot string
		id       string
		reason   signin.Reason
	}{
		{"imap", v, alice, reader, ProtocolIMAP, "c1", ""},
		{"pop, typed in capitals without hyphens", v, alice, strings.ToUpper(strings.ReplaceAll(reader, "-", "")), ProtocolPOP, "c1", ""},
		{"smtp is out of scope", v, alice, reader, ProtocolSMTP, "c1", ReasonScope},
		{"another user", v, bob, reader, ProtocolIMAP, "", signin.ReasonWrongPassword},
		{"revoked", v, alice, revoked, ProtocolIMAP, "c2", ReasonRevoked},
		{"expired", v, alice, expired, ProtocolIMAP, "c3", ReasonExpired},
		{"wrong", v, alice, "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa", ProtocolIMAP, "", signin.ReasonWrongPassword},
		{"not one of ours", v, alice, "Correct-Horse-9", ProtocolIMAP, "", signin.ReasonWrongPassword},
		{"another master key", Verifier{Store: st, Hasher: other}, alice, reader, ProtocolIMAP, "", signin.ReasonWrongPassword},
	} {
		c, reason, err := tc.v.Verify(ctx, tc.user, tc.pw, tc.prot, now)
		if err != nil || reason != tc.reason || c.ID != tc.id {
			t.Errorf("%s: %q %q %v", tc.name, c.ID, reason, err)
		}
	}
}
