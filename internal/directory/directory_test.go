package directory_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

// fastParams keep tests quick; the production default is exercised in TestDefaultParams.
var fastParams = directory.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

func newDir(t *testing.T) *directory.Directory {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return directory.New(s, fastParams, directory.PasswordPolicy{MinLength: 12})
}

func TestHashVerify(t *testing.T) {
	h, err := fastParams.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("hash %q not in PHC form", h)
	}
	cases := []struct {
		name       string
		params     directory.Params
		pw, hash   string
		ok, rehash bool
		err        bool
	}{
		{"right password", fastParams, "correct horse battery", h, true, false, false},
		{"wrong password", fastParams, "correct horse batterx", h, false, false, false},
		{"empty password", fastParams, "", h, false, false, false},
		{"params changed", directory.Params{MemoryKiB: 9 * 1024, Iterations: 1, Parallelism: 1}, "correct horse battery", h, true, true, false},
		{"malformed", fastParams, "x", "$argon2id$v=19$m=1,t=1$zz", false, false, true},
		{"other algorithm", fastParams, "x", "$2a$10$abcdefghijklmnopqrstuv", false, false, true},
		{"absurd cost refused", fastParams, "x", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5", false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, rehash, err := c.params.Verify(c.pw, c.hash)
			if (err != nil) != c.err || ok != c.ok || rehash != c.rehash {
				t.Fatalf("Verify = %v, %v, %v; want %v, %v, err=%v", ok, rehash, err, c.ok, c.rehash, c.err)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	if directory.DefaultParams != (directory.Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}) {
		t.Fatalf("defaults %+v", directory.DefaultParams)
	}
}

func TestPasswordPolicy(t *testing.T) {
	pp := directory.PasswordPolicy{MinLength: 12}
	cases := []struct {
		pw   string
		want string // substring of the error, "" = accepted
	}{
		{"short", "too short"},
		{"welcome12345", ""},
		{"password1234", "commonly used"},
		{"PASSWORD1234", "commonly used"},
		{"alice-is-great-1", "user name"},
		{"パスワードは十分に長い日本語", ""},
	}
	for _, c := range cases {
		err := pp.Check("alice@example.com", c.pw)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Check(%q) = %v, want %q", c.pw, err, c.want)
		}
	}
}

func TestAddUserAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	if err := d.Store.CreateGroup(ctx, store.Group{ID: "g1", Name: "staff"}); err != nil {
		t.Fatal(err)
	}
	u, err := d.AddUser(ctx, directory.NewUser{UPN: "Alice@Example.com", Password: "a long passphrase", Groups: []string{"staff"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.ImmutableID) != 24 {
		t.Fatalf("generated ImmutableID %q is not base64 of 16 bytes", u.ImmutableID)
	}
	if _, err := d.AddUser(ctx, directory.NewUser{UPN: "alice@example.COM"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate UPN (other case): %v", err)
	}
	if _, err := d.AddUser(ctx, directory.NewUser{UPN: "x@example.com", ImmutableID: u.ImmutableID}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate ImmutableID: %v", err)
	}
	// A failed membership leaves no user behind.
	if _, err := d.AddUser(ctx, directory.NewUser{UPN: "bob@example.com", Groups: []string{"no-such-group"}}); err == nil {
		t.Fatal("unknown group accepted")
	}
	if _, err := d.Store.GetUserByUPN(ctx, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("half-written user left behind: %v", err)
	}
	for _, bad := range []string{"", "alice", "a@b", "a b@example.com", "a@@example.com"} {
		if _, err := d.AddUser(ctx, directory.NewUser{UPN: bad}); err == nil {
			t.Errorf("UPN %q accepted", bad)
		}
	}

	got, err := d.Authenticate(ctx, "ALICE@example.com", "a long passphrase")
	if err != nil || got.ID != u.ID || len(got.Groups) != 1 {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	for _, c := range []struct{ upn, pw string }{{"alice@example.com", "wrong"}, {"nobody@example.com", "a long passphrase"}} {
		if _, err := d.Authenticate(ctx, c.upn, c.pw); !errors.Is(err, directory.ErrBadCredentials) {
			t.Errorf("Authenticate(%s) = %v, want ErrBadCredentials", c.upn, err)
		}
	}
	if err := d.SetStatus(ctx, "alice@example.com", store.UserDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.com", "a long passphrase"); !errors.Is(err, directory.ErrDisabled) {
		t.Fatalf("disabled user: %v", err)
	}
}

func TestHashUpgradedOnSignIn(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	if _, err := d.AddUser(ctx, directory.NewUser{UPN: "carol@example.com", Password: "a long passphrase"}); err != nil {
		t.Fatal(err)
	}
	d.Params = directory.Params{MemoryKiB: 9 * 1024, Iterations: 1, Parallelism: 1}
	if _, err := d.Authenticate(ctx, "carol@example.com", "a long passphrase"); err != nil {
		t.Fatal(err)
	}
	u, _ := d.Store.GetUserByUPN(ctx, "carol@example.com")
	if !strings.Contains(u.PasswordHash, "m=9216,") {
		t.Fatalf("hash not upgraded: %s", u.PasswordHash)
	}
	if _, err := d.Authenticate(ctx, "carol@example.com", "a long passphrase"); err != nil {
		t.Fatalf("upgraded hash does not verify: %v", err)
	}
}

func TestImportCSV(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	csv := "\ufeffuserPrincipalName,displayName,mail,onPremisesImmutableId,jobTitle\n" +
		"dan@example.com,Dan,dan@example.com,AAAAAAAAAAAAAAAAAAAAAA==,eng\n" +
		"not-an-upn,Bad,,,\n" +
		"erin@example.com,Erin,not-an-email,,\n" +
		"\"unterminated,quote\n"
	res, err := d.ImportCSV(ctx, strings.NewReader(csv+"dan@example.com,Dan again,,,\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, r := range res {
		actions[r.Action]++
	}
	if actions["created"] != 1 || actions["error"] < 2 {
		t.Fatalf("results %+v", res)
	}
	if res[1].Line != 3 || res[1].Action != "error" {
		t.Fatalf("bad row not reported at line 3: %+v", res[1])
	}
	u, err := d.Store.GetUserByUPN(ctx, "dan@example.com")
	if err != nil || u.ImmutableID != "AAAAAAAAAAAAAAAAAAAAAA==" || u.DisplayName != "Dan" {
		t.Fatalf("imported user %+v, %v", u, err)
	}
	if _, err := d.Store.GetUserByUPN(ctx, "erin@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("row with a bad email was half-written")
	}
	if _, err := d.ImportCSV(ctx, strings.NewReader("name,mail\nx,y\n"), nil); err == nil {
		t.Fatal("CSV without userPrincipalName accepted")
	}
}

// FuzzVerify: a stored hash of any shape is a clean error, never a panic or an absurd cost.
func FuzzVerify(f *testing.F) {
	h, _ := fastParams.Hash("pw")
	f.Add("pw", h)
	f.Add("x", "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5")
	f.Add("x", "$argon2id$v=19$m=65536,t=3,p=4$$")
	f.Fuzz(func(t *testing.T, pw, phc string) {
		if strings.Contains(phc, "m=") && len(phc) > 0 {
			// Bound the fuzzer's own cost: memory parameters above 64 MiB are refused
			// before hashing, so only small ones reach argon2 here.
			var m int
			if i := strings.Index(phc, "m="); i >= 0 {
				fmt.Sscanf(phc[i+2:], "%d", &m)
			}
			if m > 64*1024 {
				return
			}
		}
		_, _, _ = fastParams.Verify(pw, phc)
	})
}
