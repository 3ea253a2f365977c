package storetest

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testUserCRUD(t *testing.T, s store.Store) {
	c := ctx(t)
	u := user("u1", "Alice@Example.COM")
	u.ImmutableID = "AAECAwQFBgcICQoLDA0ODw=="
	u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
	u.PasswordChangeRequired = true
	ok(t, s.CreateUser(c, u))

	got, err := s.GetUser(c, "u1")
	ok(t, err)
	equal(t, "GetUser", got, u)
	for _, upn := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.COM"} {
		got, err = s.GetUserByUPN(c, upn)
		ok(t, err)
		equal(t, "GetUserByUPN("+upn+")", got, u)
	}
	got, err = s.GetUserByImmutableID(c, u.ImmutableID)
	ok(t, err)
	equal(t, "GetUserByImmutableID", got, u)
	_, err = s.GetUserByImmutableID(c, "")
	isErr(t, err, store.ErrNotFound)

	// Zero times are filled in on create.
	ok(t, s.CreateUser(c, store.User{ID: "u2", UPN: "bob@example.com"}))
	got, err = s.GetUser(c, "u2")
	ok(t, err)
	if got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) || got.Status != store.UserActive {
		t.Fatalf("defaults not applied: %+v", got)
	}

	// Update: fn sees the stored row; ID and CreatedAt stay; UpdatedAt moves on.
	upd, err := s.UpdateUser(c, "u1", func(old store.User) (store.User, error) {
		equal(t, "update sees", old, u)
		old.ID, old.CreatedAt = "other", base.Add(time.Hour)
		old.UPN, old.Status, old.DisplayName = "alice.new@example.com", store.UserDisabled, "Alice N."
		old.PasswordChangeRequired = false
		return old, nil
	})
	ok(t, err)
	if upd.PasswordChangeRequired {
		t.Fatal("UpdateUser did not clear PasswordChangeRequired")
	}
	if upd.ID != "u1" || !upd.CreatedAt.Equal(base) || !upd.UpdatedAt.After(base) {
		t.Fatalf("UpdateUser changed identity or kept UpdatedAt: %+v", upd)
	}
	if upd.UPN != "alice.new@example.com" || upd.Status != store.UserDisabled || upd.DisplayName != "Alice N." {
		t.Fatalf("UpdateUser did not store fields: %+v", upd)
	}
	got, err = s.GetUserByUPN(c, "ALICE.NEW@example.com")
	ok(t, err)
	equal(t, "after update", got, upd)
	_, err = s.GetUserByUPN(c, "alice@example.com")
	isErr(t, err, store.ErrNotFound)

	// An explicit UpdatedAt is kept.
	at := base.Add(48 * time.Hour)
	upd, err = s.UpdateUser(c, "u1", func(old store.User) (store.User, error) { old.UpdatedAt = at; return old, nil })
	ok(t, err)
	sameTime(t, "explicit UpdatedAt", upd.UpdatedAt, at)

	// An error from fn aborts the update and comes back.
	boom := fmt.Errorf("boom")
	_, err = s.UpdateUser(c, "u1", func(old store.User) (store.User, error) {
		old.DisplayName = "lost"
		return old, boom
	})
	isErr(t, err, boom)
	got, err = s.GetUser(c, "u1")
	ok(t, err)
	if got.DisplayName != "Alice N." {
		t.Fatalf("failed update was stored: %q", got.DisplayName)
	}

	ok(t, s.DeleteUser(c, "u1"))
	_, err = s.GetUser(c, "u1")
	isErr(t, err, store.ErrNotFound)
	isErr(t, s.DeleteUser(c, "u1"), store.ErrNotFound)

	if err := s.CreateUser(c, store.User{UPN: "noid@example.com"}); err == nil {
		t.Fatal("CreateUser without ID succeeded")
	}
	if err := s.CreateUser(c, store.User{ID: "u9"}); err == nil {
		t.Fatal("CreateUser without UPN succeeded")
	}
}

func testUserUniqueness(t *testing.T, s store.Store) {
	c := ctx(t)
	a := user("a", "Carol@Example.com")
	a.ImmutableID = "imm-1"
	ok(t, s.CreateUser(c, a))

	tests := []struct {
		name string
		u    store.User
	}{
		{"same ID", user("a", "other@example.com")},
		{"UPN other case", user("b", "carol@EXAMPLE.COM")},
		{"same ImmutableID", func() store.User { u := user("c", "dave@example.com"); u.ImmutableID = "imm-1"; return u }()},
	}
	for _, tc := range tests {
		isErr(t, s.CreateUser(c, tc.u), store.ErrConflict)
	}

	// Empty ImmutableIDs never collide.
	ok(t, s.CreateUser(c, user("d", "d@example.com")))
	ok(t, s.CreateUser(c, user("e", "e@example.com")))

	// Updates that would collide are refused and change nothing.
	_, err := s.UpdateUser(c, "d", func(u store.User) (store.User, error) { u.UPN = "CAROL@example.com"; return u, nil })
	isErr(t, err, store.ErrConflict)
	_, err = s.UpdateUser(c, "e", func(u store.User) (store.User, error) { u.ImmutableID = "imm-1"; return u, nil })
	isErr(t, err, store.ErrConflict)
	got, err := s.GetUser(c, "d")
	ok(t, err)
	if got.UPN != "d@example.com" {
		t.Fatalf("refused update was stored: %q", got.UPN)
	}
	// Changing only the case of one's own UPN is fine.
	got, err = s.UpdateUser(c, "a", func(u store.User) (store.User, error) { u.UPN = "CAROL@example.com"; return u, nil })
	ok(t, err)
	if got.UPN != "CAROL@example.com" {
		t.Fatalf("case change not stored: %q", got.UPN)
	}
}

func testUserPagination(t *testing.T, s store.Store) {
	c := ctx(t)
	const n = 250
	want := map[string]bool{}
	ok(t, s.InTx(c, func(tx store.Store) error {
		for i := range n {
			// Mixed case so that order must follow the lower-case UPN.
			upn := fmt.Sprintf("user%03d@example.com", i)
			if i%3 == 0 {
				upn = fmt.Sprintf("USER%03d@Example.com", i)
			}
			want[upn] = true
			if err := tx.CreateUser(c, user(id("p", i), upn)); err != nil {
				return err
			}
		}
		return nil
	}))

	seen := map[string]bool{}
	var pages []int
	var prev string
	after := ""
	for {
		users, next, err := s.ListUsers(c, store.Page{After: after, Limit: 100})
		ok(t, err)
		pages = append(pages, len(users))
		for _, u := range users {
			lower := lowerASCII(u.UPN)
			if lower <= prev {
				t.Fatalf("order: %q after %q", lower, prev)
			}
			prev = lower
			if seen[u.UPN] {
				t.Fatalf("duplicate %q", u.UPN)
			}
			seen[u.UPN] = true
		}
		if next == "" {
			break
		}
		if len(pages) > 10 {
			t.Fatal("pagination does not end")
		}
		after = next
	}
	equal(t, "page sizes", pages, []int{100, 100, 50})
	equal(t, "users seen", seen, want)

	// The default page size is 100.
	users, next, err := s.ListUsers(c, store.Page{})
	ok(t, err)
	if len(users) != 100 || next == "" {
		t.Fatalf("default page: %d users, next %q", len(users), next)
	}
	// A page that ends exactly at the last user has no next.
	users, next, err = s.ListUsers(c, store.Page{Limit: n})
	ok(t, err)
	if len(users) != n || next != "" {
		t.Fatalf("full page: %d users, next %q", len(users), next)
	}
	if _, _, err := s.ListUsers(c, store.Page{After: "%%%not-a-cursor"}); err == nil {
		t.Fatal("ListUsers accepted a malformed cursor")
	}
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func testUserConcurrentUpdates(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "counter", "counter@example.com")
	u.DisplayName = "0"
	_, err := s.UpdateUser(c, u.ID, func(store.User) (store.User, error) { return u, nil })
	ok(t, err)

	const workers, each = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := s.UpdateUser(c, u.ID, func(old store.User) (store.User, error) {
					n, err := strconv.Atoi(old.DisplayName)
					if err != nil {
						return old, err
					}
					old.DisplayName = strconv.Itoa(n + 1)
					return old, nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent update: %v", err)
	}
	got, err := s.GetUser(c, u.ID)
	ok(t, err)
	if got.DisplayName != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s after %d increments: updates were lost", got.DisplayName, workers*each)
	}
}
