package scimtoken

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

// TestVerify: the token issued verifies; a changed secret, an unknown ID, a malformed or a
// revoked token is refused with its reason; only the hash is stored.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := NewHasher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	row, tok, err := h.New("entra")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(row.Hash), tok[len(tok)-43:]) {
		t.Fatal("the secret is in the row")
	}
	row.CreatedAt = time.Now()
	if err := st.PutSCIMToken(ctx, row); err != nil {
		t.Fatal(err)
	}
	if got, err := h.Verify(ctx, st, tok); err != nil || got.Connector != "entra" {
		t.Fatalf("verify: %+v %v", got, err)
	}
	other, _ := NewHasher([]byte(strings.Repeat("k", 32)))
	for _, tc := range []struct {
		h      *Hasher
		token  string
		reason string
	}{
		{h, tok[:len(tok)-1] + "A", ReasonUnknown},
		{other, tok, ReasonUnknown}, // another master key
		{h, "sks_0123456789abcdef_" + tok[len(tok)-43:], ReasonUnknown},
		{h, "skt_" + tok[4:], ReasonMalformed},
		{h, tok + "x", ReasonMalformed},
		{h, "", ReasonMalformed},
	} {
		_, err := tc.h.Verify(ctx, st, tc.token)
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != tc.reason {
			t.Errorf("%q: %v, want %s", tc.token, err, tc.reason)
		}
	}
	if _, err := st.UpdateSCIMToken(ctx, "entra", func(x store.SCIMToken) (store.SCIMToken, error) {
		x.RevokedAt = time.Now()
		return x, nil
	}); err != nil {
		t.Fatal(err)
	}
	var r *Refusal
	if got, err := h.Verify(ctx, st, tok); !errors.As(err, &r) || r.Reason != ReasonRevoked || got.Connector != "entra" {
		t.Fatalf("revoked: %+v %v", got, err)
	}
	for _, n := range []string{"entra", "okta-2", "a"} {
		if CheckName(n) != nil {
			t.Errorf("%s refused", n)
		}
	}
	for _, n := range []string{"", "Entra", "-x", "a b", "scim:entra", strings.Repeat("a", 64)} {
		if CheckName(n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
}
