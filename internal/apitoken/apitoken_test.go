package apitoken

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

func TestVerify(t *testing.T) {
	ctx := t.Context()
	s := sqlitetest.Open(t)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if err := s.CreateUser(ctx, store.User{ID: "u1", UPN: "admin@example.com", Status: store.UserActive}); err != nil {
		t.Fatal(err)
	}
	h, err := NewHasher([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewHasher([]byte(strings.Repeat("o", 32)))
	add := func(expires, revoked time.Time) (store.APIToken, string) {
		row, tok, err := h.New()
		if err != nil {
			t.Fatal(err)
		}
		row.UserID, row.Role, row.CreatedAt, row.ExpiresAt, row.RevokedAt = "u1", "admin", now, expires, revoked
		if err := s.CreateAPIToken(ctx, row); err != nil {
			t.Fatal(err)
		}
		return row, tok
	}
	good, tok := add(now.Add(time.Hour), time.Time{})
	_, expired := add(now, time.Time{})
	_, revoked := add(now.Add(time.Hour), now)
	if strings.Contains(string(good.Hash), tok[len(tok)-43:]) {
		t.Fatal("the secret is stored")
	}
	id, _, _ := Parse(tok)
	wrongSecret := "skt_" + id + "_" + strings.Repeat("A", 43)

	for _, tc := range []struct {
		name, token string
		hasher      *Hasher
		want        string // "" = accepted
	}{
		{"good", tok, h, ""},
		{"empty", "", h, ReasonMalformed},
		{"no prefix", strings.TrimPrefix(tok, "skt_"), h, ReasonMalformed},
		{"short secret", tok[:len(tok)-1], h, ReasonMalformed},
		{"not hex id", "skt_zzzzzzzzzzzzzzzz_" + strings.Repeat("A", 43), h, ReasonMalformed},
		{"unknown id", "skt_0000000000000000_" + strings.Repeat("A", 43), h, ReasonUnknown},
		{"wrong secret", wrongSecret, h, ReasonUnknown},
		{"another master key", tok, other, ReasonUnknown},
		{"expired", expired, h, ReasonExpired},
		{"revoked", revoked, h, ReasonRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row, err := tc.hasher.Verify(ctx, s, tc.token, now)
			if tc.want == "" {
				if err != nil || row.ID != good.ID {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Reason != tc.want || !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("skt_0123456789abcdef_" + strings.Repeat("A", 43))
	f.Add("skt__")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := Parse(s)
		if ok && (len(id) != 16 || len(secret) != 43 || "skt_"+id+"_"+secret != s) {
			t.Fatalf("Parse(%q) = %q, %q", s, id, secret)
		}
	})
}
