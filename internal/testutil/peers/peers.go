// Package peers gates tests on the independent third-party implementations they talk to.
//
// A missing peer skips the test locally with the command that installs it; with
// SEKISHO_REQUIRE_PEERS=1 (as CI sets) it fails instead, so CI never silently skips interop.
package peers

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing peers must fail the test rather than skip it.
func Required() bool { return os.Getenv("SEKISHO_REQUIRE_PEERS") == "1" }

// Missing skips or fails t because a peer is unavailable; install says how to get it.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	if Required() {
		t.Fatalf("peer %s is missing and SEKISHO_REQUIRE_PEERS=1: install with %s", what, install)
	}
	t.Skipf("peer %s is missing; install with %s (or run make test)", what, install)
}

// Command returns the absolute path of an executable peer, or skips/fails t.
func Command(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, install)
	}
	return p
}

// Env returns the value of an environment variable naming a peer (e.g. a DSN), or skips/fails t.
func Env(t testing.TB, name, install string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, name, install)
	}
	return v
}
