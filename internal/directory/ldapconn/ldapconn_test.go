package ldapconn_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/clientctx"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/directory/ldapconn"
	"github.com/sekisho/sekisho/internal/gate"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/slapdtest"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
	"github.com/sekisho/sekisho/internal/userdocs"
)

func guid(name string) []byte { h := sha256.Sum256([]byte(name)); return h[:16] }

func personLDIF(uid, upn, password string, uac int, withGUID bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nobjectClass: sekishoADUser\nuid: %s\ncn: %s\nsn: %s\n",
		uid, suffix, uid, uid, uid)
	fmt.Fprintf(&b, "displayName: %s Example\nmail: %s\nuserPrincipalName: %s\nuserPassword: %s\nuserAccountControl: %d\n",
		uid, upn, upn, password, uac)
	if withGUID {
		fmt.Fprintf(&b, "objectGUID:: %s\n", base64.StdEncoding.EncodeToString(guid(uid)))
	}
	return b.String() + "\n"
}

func fillers(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("user%02d", i))
	}
	return out
}

func seed() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n", suffix)
	for _, ou := range []string{"people", "groups", "service"} {
		fmt.Fprintf(&b, "dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, suffix, ou)
	}
	fmt.Fprintf(&b, "dn: %s\nobjectClass: person\ncn: sekisho\nsn: service\nuserPassword: %s\n\n", svcDN, svcPW)
	b.WriteString(personLDIF("alice", "alice@example.com", "alice-Pa55word!", 512, true))
	b.WriteString(personLDIF("bob", "bob@example.com", "bob-Pa55word!", 512, true))
	b.WriteString(personLDIF("carol", "carol@example.com", "carol-Pa55word!", 512, true))
	b.WriteString(personLDIF("dave", "dave@example.com", "dave-Pa55word!", 514, true))  // ACCOUNTDISABLE
	b.WriteString(personLDIF("erin", "erin@example.com", "erin-Pa55word!", 512, false)) // no objectGUID: skipped
	b.WriteString(personLDIF("mallory", "local@example.com", "m-Pa55word!", 512, true)) // a local user's UPN: conflict
	for _, u := range fillers(1, 20) {
		b.WriteString(personLDIF(u, u+"@example.com", u+"-Pa55word!", 512, true))
	}
	group := func(cn string, members ...string) {
		fmt.Fprintf(&b, "dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\ndescription: the %s group\n", cn, suffix, cn, cn)
		for _, m := range members {
			fmt.Fprintf(&b, "member: %s\n", m)
		}
		b.WriteString("\n")
	}
	p := func(uid string) string { return "uid=" + uid + ",ou=people," + suffix }
	group("engineers", p("carol"))
	group("staff", p("alice"), p("bob"), "cn=engineers,ou=groups,"+suffix) // carol through engineers
	group("all", "cn=staff,ou=groups,"+suffix)                             // two levels of nesting
	group("admins", p("bob"))                                              // a local group of that name exists
	return b.String()
}

type fixture struct {
	t     *testing.T
	ldap  *slapdtest.Server
	st    store.Store
	dir   *directory.Directory
	clock time.Time
}

func (f *fixture) sync(opts directory.SyncOptions) (directory.SyncReport, error) {
	f.t.Helper()
	if opts.Actor == "" {
		opts.Actor, opts.Via = "os:test", "cli"
	}
	return f.dir.Sync(f.t.Context(), ldapconn.ID, opts)
}

func (f *fixture) user(upn string) store.User {
	f.t.Helper()
	u, err := f.st.GetUserByUPN(f.t.Context(), upn)
	if err != nil {
		f.t.Fatalf("user %s: %v", upn, err)
	}
	return u
}

func (f *fixture) snapshot() []store.User {
	f.t.Helper()
	us, _, err := f.st.ListUsers(f.t.Context(), store.Page{Limit: 1000})
	must(f.t, err)
	return us
}

func newFixture(t *testing.T, mutate func(*config.LDAP, *slapdtest.Server)) *fixture {
	s := startSlapd(t)
	s.Modify(t, "ldapadd", seed())
	dataDir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dataDir, "ldap-bind.secret"), []byte(svcPW+"\n"), 0o600))
	l := config.LDAP{URL: s.LDAPSURL, CAFile: s.CAFile, BindDN: svcDN, BindPasswordFile: "ldap-bind.secret",
		UserBaseDNs: []string{"ou=people," + suffix}, GroupBaseDNs: []string{"ou=groups," + suffix},
		UserFilter: "(objectClass=sekishoADUser)", GroupFilter: "(objectClass=groupOfNames)", NestedGroups: "expand",
		DisableGrace: config.Duration(72 * time.Hour), PageSize: 3}
	if mutate != nil {
		mutate(&l, s)
	}
	c, err := ldapconn.New(l, func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dataDir, p)
	}, os.Getenv)
	must(t, err)
	st := sqlitetest.Open(t)
	d := directory.New(st, directory.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, directory.PasswordPolicy{MinLength: 8})
	f := &fixture{t: t, ldap: s, st: st, dir: d, clock: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	d.Now = func() time.Time { return f.clock }
	l = l.WithDefaults()
	must(t, d.AddConnector(directory.ConnectorSettings{Connector: c, DisableGrace: l.DisableGrace.D(), MaxDisablePercent: float64(l.MaxDisablePercent),
		LocalFallback: l.LocalFallback}))
	return f
}

// TestLDAPConnectorAgainstSlapd runs the connector against a real OpenLDAP slapd (LDAPS with
// a test CA, Active Directory's attributes by a small schema, paged results with a server
// size limit below the number of users): sync, updates, soft-disable after the grace period,
// the threshold, bind authentication behind Sekisho's lockout, an unreachable directory.
func TestLDAPConnectorAgainstSlapd(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	local, err := f.dir.AddUser(ctx, directory.NewUser{UPN: "local@example.com", DisplayName: "Local", Password: "Kiri-Tsubo-9183!"})
	must(t, err)
	must(t, f.st.CreateGroup(ctx, store.Group{Name: "admins"}))
	must(t, f.st.AddMember(ctx, "admins", local.ID))

	// A dry run reads everything and changes nothing.
	rep, err := f.sync(directory.SyncOptions{DryRun: true})
	must(t, err)
	if rep.Created != 24 || len(f.snapshot()) != 1 {
		t.Fatalf("dry run: created %d (want 24 planned), store has %d users (want only the local one)", rep.Created, len(f.snapshot()))
	}

	// The first sync creates every mappable user; erin (no objectGUID) is skipped and counted,
	// mallory (the local user's UPN) and the admins group (a local group's name) are conflicts.
	rep, err = f.sync(directory.SyncOptions{})
	must(t, err)
	if rep.Found != 25 || rep.Created != 24 || rep.Skipped != 1 || rep.Conflicts != 2 || rep.GroupsCreated != 3 {
		t.Fatalf("first sync: %+v", rep)
	}
	alice := f.user("alice@example.com")
	if alice.Source != ldapconn.ID || alice.ImmutableID != base64.StdEncoding.EncodeToString(guid("alice")) ||
		alice.SourceDN != "uid=alice,ou=people,"+suffix || alice.DisplayName != "alice Example" || alice.Email != "alice@example.com" ||
		alice.Status != store.UserActive || alice.PasswordHash != "" {
		t.Fatalf("alice = %+v", alice)
	}
	if dave := f.user("dave@example.com"); dave.Status != store.UserDisabled || !dave.SourceDisabled {
		t.Fatalf("dave (userAccountControl 514) = %+v, want disabled by the sync", dave)
	}
	if carol := f.user("carol@example.com"); !slices.Equal(carol.Groups, []string{"all", "engineers", "staff"}) {
		t.Fatalf("carol's groups = %v, want all, engineers, staff (nested)", carol.Groups)
	}
	if l := f.user("local@example.com"); l.Source != "" || l.DisplayName != "Local" || !slices.Equal(l.Groups, []string{"admins"}) {
		t.Fatalf("the local user was touched: %+v", l)
	}
	if g, err := f.st.GetGroup(ctx, "admins"); err != nil || g.Source != "" {
		t.Fatalf("the local group admins: %+v, %v", g, err)
	}
	if _, err := f.st.GetUserByUPN(ctx, "erin@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("erin (no objectGUID) was created: %v", err)
	}
	evs, err := f.st.ListAdminEvents(ctx, store.AdminEventFilter{Action: "directory."})
	must(t, err)
	if len(evs) != 1 || evs[0].Action != "directory.sync" || evs[0].Target != "directory:ldap" || !strings.Contains(string(evs[0].After), `"created":24`) {
		t.Fatalf("admin audit after the first sync: %+v", evs)
	}

	// An update in the directory is an update in Sekisho; a second sync of the same data
	// changes nothing.
	f.ldap.Modify(t, "ldapmodify", "dn: uid=alice,ou=people,"+suffix+"\nchangetype: modify\nreplace: displayName\ndisplayName: Alice Renamed\n")
	rep, err = f.sync(directory.SyncOptions{})
	must(t, err)
	if rep.Updated != 1 || rep.Created != 0 || rep.Unchanged != 23 {
		t.Fatalf("sync after an update: %+v", rep)
	}
	if a := f.user("alice@example.com"); a.DisplayName != "Alice Renamed" || a.ID != alice.ID {
		t.Fatalf("alice after the update: %+v", a)
	}

	// A user removed from the directory is marked missing, then disabled (not deleted) once
	// the grace period is over, and loses the directory's group memberships.
	f.ldap.Modify(t, "ldapdelete", "", "uid=bob,ou=people,"+suffix)
	rep, err = f.sync(directory.SyncOptions{})
	must(t, err)
	if bob := f.user("bob@example.com"); rep.Missing != 1 || rep.Disabled != 0 || bob.Status != store.UserActive || !bob.SourceMissingSince.Equal(f.clock) {
		t.Fatalf("within the grace: report %+v, bob %+v", rep, bob)
	}
	f.clock = f.clock.Add(73 * time.Hour)
	rep, err = f.sync(directory.SyncOptions{})
	must(t, err)
	bob := f.user("bob@example.com")
	if rep.Disabled != 1 || bob.Status != store.UserDisabled || !bob.SourceDisabled {
		t.Fatalf("after the grace: report %+v, bob %+v", rep, bob)
	}

	// Password sign-in of a synced user is a bind as the user's DN.
	if _, err := f.dir.Authenticate(ctx, "alice@example.com", "alice-Pa55word!"); err != nil {
		t.Fatalf("alice with the right password: %v", err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice@example.com", "wrong-password"); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("alice with a wrong password: %v", err)
	}
	before := f.ldap.Binds(t, alice.SourceDN)
	if before != 2 {
		t.Fatalf("slapd logged %d binds for alice, want 2", before)
	}
	// An empty password never reaches the directory (it would be an unauthenticated bind).
	if _, err := f.dir.Authenticate(ctx, "alice@example.com", ""); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("alice with an empty password: %v", err)
	}
	if n := f.ldap.Binds(t, alice.SourceDN); n != before {
		t.Fatalf("an empty password reached slapd: %d binds, want %d", n, before)
	}
	// The local user still signs in with Sekisho's own hash.
	if _, err := f.dir.Authenticate(ctx, "local@example.com", "Kiri-Tsubo-9183!"); err != nil {
		t.Fatalf("local user: %v", err)
	}

	// A password spray against carol: Sekisho's lockout (threshold 3) stops it, and no bind
	// after the third reaches the directory — not even the right password while locked.
	lo := lockout.New(userdocs.Lockout(f.st), lockout.Config{Threshold: 3, FamiliarThreshold: 3, Window: time.Hour, LockDuration: time.Hour},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	g := &gate.Gate{Store: f.st, Directory: f.dir, Lockout: lo, Now: func() time.Time { return f.clock },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	client := clientctx.Client{PeerIP: netip.MustParseAddr("203.0.113.9"), EffectiveIP: netip.MustParseAddr("203.0.113.9")}
	var reasons []signin.Reason
	for i := range 8 {
		_, reason, err := g.Password(ctx, client, "carol@example.com", fmt.Sprintf("spray-%d", i))
		must(t, err)
		reasons = append(reasons, reason)
	}
	_, reason, err := g.Password(ctx, client, "carol@example.com", "carol-Pa55word!")
	must(t, err)
	reasons = append(reasons, reason)
	want := []signin.Reason{signin.ReasonWrongPassword, signin.ReasonWrongPassword, signin.ReasonWrongPassword}
	for range 6 {
		want = append(want, signin.ReasonLocked)
	}
	if !slices.Equal(reasons, want) {
		t.Fatalf("spray reasons = %v, want %v", reasons, want)
	}
	if n := f.ldap.Binds(t, "uid=carol,ou=people,"+suffix); n != 3 {
		t.Fatalf("slapd saw %d binds for carol during the spray, want 3 (the lockout must stop the rest)", n)
	}

	// The threshold: removing 5 of 22 active users (23%, over 10%) stops the sync, which
	// changes nothing and says how many; --force lets it through.
	for _, u := range fillers(1, 5) {
		f.ldap.Modify(t, "ldapdelete", "", "uid="+u+",ou=people,"+suffix)
	}
	before1 := f.snapshot()
	rep, err = f.sync(directory.SyncOptions{})
	if !errors.Is(err, directory.ErrThreshold) || !rep.Stopped || rep.WouldDisable != 5 || !strings.Contains(err.Error(), "5 of 22") {
		t.Fatalf("mass removal: report %+v, err %v", rep, err)
	}
	if after := f.snapshot(); !slices.EqualFunc(before1, after, sameUser) {
		t.Fatal("a stopped sync changed users")
	}
	evs, err = f.st.ListAdminEvents(ctx, store.AdminEventFilter{Action: "directory.", Limit: 1})
	must(t, err)
	if len(evs) != 1 || evs[0].Action != "directory.sync.stopped" || !strings.Contains(string(evs[0].After), `"wouldDisable":5`) {
		t.Fatalf("the stopped sync's audit entry: %+v", evs)
	}

	// An unreachable directory changes nothing, and a synced user's sign-in fails closed
	// (an error, not "wrong password": local fallback is off).
	f.ldap.Stop()
	rep, err = f.sync(directory.SyncOptions{})
	if err == nil || rep.Error == "" {
		t.Fatalf("sync with slapd stopped: %+v, %v", rep, err)
	}
	if after := f.snapshot(); !slices.EqualFunc(before1, after, sameUser) {
		t.Fatal("a sync of an unreachable directory changed users")
	}
	evs, err = f.st.ListAdminEvents(ctx, store.AdminEventFilter{Action: "directory.", Limit: 1})
	must(t, err)
	if len(evs) != 1 || evs[0].Action != "directory.sync.failed" {
		t.Fatalf("the failed sync's audit entry: %+v", evs)
	}
	if _, err := f.dir.Authenticate(ctx, "alice@example.com", "alice-Pa55word!"); err == nil || errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("alice with the directory down: %v, want a directory error", err)
	}
	if _, err := f.dir.Authenticate(ctx, "local@example.com", "Kiri-Tsubo-9183!"); err != nil {
		t.Fatalf("local user with the directory down: %v", err)
	}
}

func sameUser(a, b store.User) bool {
	return a.ID == b.ID && a.UPN == b.UPN && a.Status == b.Status && a.DisplayName == b.DisplayName &&
		a.SourceMissingSince.Equal(b.SourceMissingSince) && slices.Equal(a.Groups, b.Groups)
}

// TestStartTLSAndLocalFallback: the same directory over ldap:// upgraded with StartTLS (the
// certificate verified against the test CA), and local fallback: the last password the
// directory accepted lets the user in while the directory is down, a wrong one does not.
func TestStartTLSAndLocalFallback(t *testing.T) {
	f := newFixture(t, func(l *config.LDAP, s *slapdtest.Server) { l.URL, l.StartTLS, l.LocalFallback = s.LDAPURL, true, true })
	ctx := t.Context()
	rep, err := f.sync(directory.SyncOptions{})
	must(t, err)
	if rep.Created != 25 {
		t.Fatalf("sync over StartTLS: %+v", rep)
	}
	if _, err := f.dir.Authenticate(ctx, "alice@example.com", "alice-Pa55word!"); err != nil {
		t.Fatalf("alice over StartTLS: %v", err)
	}
	if a := f.user("alice@example.com"); a.PasswordHash == "" {
		t.Fatal("local fallback on: the accepted password was not kept")
	}
	f.ldap.Stop()
	if _, err := f.dir.Authenticate(ctx, "alice@example.com", "alice-Pa55word!"); err != nil {
		t.Fatalf("alice by local fallback: %v", err)
	}
	if _, err := f.dir.Authenticate(ctx, "alice@example.com", "wrong-password"); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("wrong password by local fallback: %v", err)
	}
	// Without StartTLS a plain ldap:// URL is refused by the configuration unless allowed.
	cfg := []byte("directory:\n  ldap:\n    url: " + f.ldap.LDAPURL + "\n    bind_dn: " + svcDN + "\n    bind_password_env: X\n    user_base_dns: [\"" + suffix + "\"]\n")
	if _, err := config.Parse("sekisho.yaml", cfg, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "plain LDAP") {
		t.Fatalf("plain ldap:// without start_tls: %v", err)
	}
}
