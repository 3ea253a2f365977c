// Package samba runs Sekisho's LDAP / Active Directory connector against a real Active
// Directory: Samba's AD DC (internal/testutil/sambatest). It proves what OpenLDAP with AD's
// attributes cannot: the objectGUID → ImmutableID mapping on real GUIDs, nested groups by
// LDAP_MATCHING_RULE_IN_CHAIN, userAccountControl as AD sets it, paged results from AD, and
// password checks by binding as the user over LDAPS.
package samba

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/directory/ldapconn"
	"github.com/sekisho/sekisho/internal/testutil/sambatest"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

const ou = "OU=Staff," + sambatest.BaseDN

func TestActiveDirectory(t *testing.T) {
	dc := sambatest.Start(t)
	ctx := context.Background()
	dc.Tool(t, "ou", "add", ou)
	for _, u := range []struct{ name, pw string }{{"alice", "Alice-Pa55word!"}, {"bob", "Bob-Pa55word!"}, {"carol", "Carol-Pa55word!"}, {"dave", "Dave-Pa55word!"}} {
		dc.Tool(t, "user", "create", u.name, u.pw, "--userou=OU=Staff", "--mail-address="+u.name+"@example.test", "--given-name="+u.name)
	}
	for _, g := range []string{"sales", "staff", "all"} {
		dc.Tool(t, "group", "add", g, "--groupou=OU=Staff")
	}
	dc.Tool(t, "group", "addmembers", "sales", "alice")
	dc.Tool(t, "group", "addmembers", "staff", "sales,bob") // alice through sales
	dc.Tool(t, "group", "addmembers", "all", "staff")       // two levels
	dc.Tool(t, "user", "disable", "dave")                   // userAccountControl 514

	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "bind.secret"), []byte(sambatest.AdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := config.LDAP{URL: sambatest.LDAPSURL, CAFile: dc.CAFile, BindDN: "CN=Administrator," + sambatest.UsersDN,
		BindPasswordFile: "bind.secret", UserBaseDNs: []string{ou}, PageSize: 2}
	c, err := ldapconn.New(l, func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dataDir, p)
	}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	st := sqlitetest.Open(t)
	d := directory.New(st, directory.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, directory.PasswordPolicy{MinLength: 8})
	ld := l.WithDefaults()
	if err := d.AddConnector(directory.ConnectorSettings{Connector: c, DisableGrace: ld.DisableGrace.D(), MaxDisablePercent: 100}); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Sync(ctx, ldapconn.ID, directory.SyncOptions{Actor: "os:test", Via: "cli"})
	if err != nil {
		t.Fatalf("sync: %v (%+v)", err, rep)
	}
	if rep.Found != 4 || rep.Created != 4 || rep.Skipped != 0 {
		t.Fatalf("report %+v", rep)
	}

	// The real objectGUIDs, read back from AD, are the ImmutableIDs (base64 of the 16 bytes,
	// as Entra Connect sets them).
	guids := objectGUIDs(t, dc)
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		u, err := st.GetUserByUPN(ctx, name+"@example.test")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := base64.StdEncoding.EncodeToString(guids[name]); u.ImmutableID != want || len(guids[name]) != 16 {
			t.Errorf("%s: ImmutableID %q, objectGUID %q", name, u.ImmutableID, want)
		}
		if u.Email != name+"@example.test" {
			t.Errorf("%s: mail %q", name, u.Email)
		}
		wantGroups := map[string][]string{"alice": {"all", "sales", "staff"}, "bob": {"all", "staff"}}[name]
		got := slices.Clone(u.Groups)
		slices.Sort(got)
		if !slices.Equal(got, wantGroups) {
			t.Errorf("%s: groups %v, want %v (nested by LDAP_MATCHING_RULE_IN_CHAIN)", name, got, wantGroups)
		}
		if wantDisabled := name == "dave"; (u.Status != "active") != wantDisabled {
			t.Errorf("%s: status %s", name, u.Status)
		}
	}

	// Passwords are checked by binding to AD as the user.
	if _, err := d.Authenticate(ctx, "alice@example.test", "Alice-Pa55word!"); err != nil {
		t.Fatalf("alice's AD password: %v", err)
	}
	if _, err := d.Authenticate(ctx, "alice@example.test", "Bob-Pa55word!"); !errors.Is(err, directory.ErrBadCredentials) {
		t.Fatalf("a wrong password: %v", err)
	}
	// A password changed in AD is the one that works at once.
	dc.Tool(t, "user", "setpassword", "bob", "--newpassword=Bob-N3w-Pa55word!")
	if _, err := d.Authenticate(ctx, "bob@example.test", "Bob-N3w-Pa55word!"); err != nil {
		t.Fatalf("bob's new AD password: %v", err)
	}

	// A user deleted in AD is missing, within its grace period: not deleted, not yet disabled.
	dc.Tool(t, "user", "delete", "carol")
	rep, err = d.Sync(ctx, ldapconn.ID, directory.SyncOptions{Actor: "os:test", Via: "cli"})
	if err != nil || rep.Missing != 1 || rep.Found != 3 {
		t.Fatalf("second sync: %+v %v", rep, err)
	}
	if u, err := st.GetUserByUPN(ctx, "carol@example.test"); err != nil || u.Status != "active" {
		t.Fatalf("carol after deletion in AD: %+v %v", u, err)
	}
}

// objectGUIDs reads each user's objectGUID from the DC.
func objectGUIDs(t *testing.T, dc *sambatest.Server) map[string][]byte {
	t.Helper()
	pem, err := os.ReadFile(dc.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ldap.DialURL(sambatest.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: poolOf(pem)}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetTimeout(10 * time.Second)
	if err := conn.Bind("CN=Administrator,"+sambatest.UsersDN, sambatest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	res, err := conn.Search(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=user)", []string{"sAMAccountName", "objectGUID"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range res.Entries {
		out[e.GetAttributeValue("sAMAccountName")] = e.GetRawAttributeValue("objectGUID")
	}
	return out
}

func poolOf(pem []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pem)
	return p
}
