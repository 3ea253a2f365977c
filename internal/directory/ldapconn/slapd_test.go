package ldapconn_test

import (
	"testing"

	"github.com/sekisho/sekisho/internal/testutil/slapdtest"
)

const (
	suffix = slapdtest.Suffix
	svcDN  = "cn=sekisho,ou=service," + suffix
	svcPW  = "service-secret-for-tests"
)

// startSlapd starts the throw-away OpenLDAP server of internal/testutil/slapdtest (LDAPS with
// a test CA and plain LDAP for StartTLS, Active Directory's attributes by a small schema, a
// server size limit below the number of users, every operation logged), stopped when t ends.
func startSlapd(t *testing.T) *slapdtest.Server {
	t.Helper()
	return slapdtest.New(t, slapdtest.Options{})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
