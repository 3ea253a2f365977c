// Package storetest is the conformance suite every store.Store backend must pass.
//
// A backend's test calls Run with a constructor that returns a fresh, empty, migrated store for
// each subtest (and closes it with t.Cleanup). The suite pins down the behaviour the rest of
// Sekisho relies on: case-insensitive names, uniqueness as store.ErrConflict, absence as
// store.ErrNotFound, no lost updates, atomic numbering, transactions, UTC times with microsecond
// precision, and the sign-in filters.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Tokyo and America/New_York without system zoneinfo

	"github.com/sekisho/sekisho/internal/store"
)

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"UserCRUD", testUserCRUD},
		{"UserUniqueness", testUserUniqueness},
		{"UserPagination", testUserPagination},
		{"UserConcurrentUpdates", testUserConcurrentUpdates},
		{"GroupsAndMembers", testGroupsAndMembers},
		{"MembershipCascade", testMembershipCascade},
		{"DirectorySource", testDirectorySource},
		{"Applications", testApplications},
		{"Networks", testNetworks},
		{"PolicyVersions", testPolicyVersions},
		{"PolicyVersionsConcurrent", testPolicyVersionsConcurrent},
		{"Devices", testDevices},
		{"Sessions", testSessions},
		{"SigningKeys", testSigningKeys},
		{"SignIns", testSignIns},
		{"SignInFilters", testSignInFilters},
		{"PruneSignIns", testPruneSignIns},
		{"AdminAudit", testAdminAudit},
		{"APITokens", testAPITokens},
		{"SCIMTokens", testSCIMTokens},
		{"BridgeCredentials", testBridgeCredentials},
		{"BridgeUpstreamGrants", testBridgeUpstreamGrants},
		{"UpdateGroup", testUpdateGroup},
		{"RefreshTokens", testRefreshTokens},
		{"RefreshRotationConcurrent", testRefreshRotationConcurrent},
		{"RevokedAccessTokens", testRevokedAccessTokens},
		{"DeviceCodes", testDeviceCodes},
		{"Lock", testLock},
		{"UserFactors", testUserFactors},
		{"LockoutConcurrent", testLockoutConcurrent},
		{"UseOnce", testUseOnce},
		{"UseOnceConcurrent", testUseOnceConcurrent},
		{"TxCommit", testTxCommit},
		{"TxRollback", testTxRollback},
		{"TimeZones", testTimeZones},
		{"NotFound", testNotFound},
		{"ConfigVersion", testConfigVersion},
		{"Ping", func(t *testing.T, s store.Store) { ok(t, s.Ping(t.Context())) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// base is a fixed instant (UTC, microsecond precision) the fixtures are built from.
var base = time.Date(2025, 4, 1, 9, 30, 15, 123456000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func isErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Fatalf("%s location = %v, want UTC", what, got.Location())
	}
}

func user(id, upn string) store.User {
	return store.User{
		ID: id, UPN: upn, DisplayName: "User " + id, Email: upn, Status: store.UserActive,
		CreatedAt: base, UpdatedAt: base,
	}
}

// mkUser creates a user and returns it as created.
func mkUser(t *testing.T, s store.Store, id, upn string) store.User {
	t.Helper()
	u := user(id, upn)
	ok(t, s.CreateUser(ctx(t), u))
	return u
}

func id(prefix string, i int) string { return fmt.Sprintf("%s-%04d", prefix, i) }
