package gate

import (
	"context"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/userdocs"
)

// fakeAppPasswords knows "good" (in force) and "revoked" as alice's credential "printer".
type fakeAppPasswords struct{ calls int }

func (f *fakeAppPasswords) Verify(_ context.Context, u store.User, pw, protocol string, _ time.Time) (store.BridgeCredential, signin.Reason, error) {
	f.calls++
	c := store.BridgeCredential{ID: "c1", UserID: u.ID, Name: "printer"}
	switch pw {
	case "good":
		return c, "", nil
	case "revoked":
		return c, "credential_revoked", nil
	}
	return store.BridgeCredential{}, signin.ReasonWrongPassword, nil
}

// TestAppPasswordAttempt: an app-password attempt is verified by the AppPasswords verifier
// (never the directory password), judged by the policy as any sign-in, recorded with the
// credential's name, and counted by smart lockout — a recognised but revoked credential is a
// misconfigured device, not a guess, and is not counted.
func TestAppPasswordAttempt(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, officePolicy, nil)
	ver := &fakeAppPasswords{}
	e.gate.AppPasswords = ver
	e.gate.Lockout = lockout.New(userdocs.Lockout(e.st), lockout.Config{Threshold: 3, FamiliarThreshold: 3,
		Window: time.Hour, LockDuration: time.Hour}, e.gate.Log, nil)
	try := func(remote, user, pw string) signin.Outcome {
		t.Helper()
		o, err := e.gate.Check(ctx, signin.Attempt{Protocol: "bridge-imap", Application: "sekisho-mail-bridge", HTTP: request(remote),
			Username: user, Password: pw, AppPassword: true})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	last := func() store.SignInEvent { evs := e.records(t); return evs[len(evs)-1] }

	o := try("203.0.113.9:1", "alice@example.com", "good")
	if !o.Allowed || o.Credential.Name != "printer" || o.User.ID != e.alice.ID {
		t.Fatalf("good: %+v", o)
	}
	if ev := last(); ev.ClientType != "bridge-imap" || ev.DeviceName != "printer (app password)" || ev.Rule != "office" || ev.UserID != e.alice.ID {
		t.Fatalf("record %+v", ev)
	}
	// Outside the office the policy asks for a second factor, which a device cannot give.
	if o := try("198.51.100.1:1", "alice@example.com", "good"); o.Allowed || o.Decision != signin.MFARequired {
		t.Fatalf("outside: %+v", o)
	}
	for _, tc := range []struct {
		name, user, pw string
		reason         signin.Reason
	}{
		{"the directory password", "alice@example.com", "correct horse 1", signin.ReasonWrongPassword},
		{"a revoked credential", "alice@example.com", "revoked", "credential_revoked"},
		{"an unknown user", "nobody@example.com", "good", signin.ReasonUnknownUser},
	} {
		o := try("198.51.100.7:1", tc.user, tc.pw)
		if o.Allowed || o.Reason != tc.reason || last().Reason != string(tc.reason) {
			t.Errorf("%s: %+v", tc.name, o)
		}
	}
	// Revoked attempts were not counted: two more wrong ones from that source leave it open…
	try("198.51.100.7:1", "alice@example.com", "wrong")
	try("198.51.100.7:1", "alice@example.com", "wrong")
	calls := ver.calls
	// …the third locks it, and a locked source is refused before the verifier is asked.
	if o := try("198.51.100.7:1", "alice@example.com", "good"); o.Reason != signin.ReasonLocked || ver.calls != calls {
		t.Fatalf("after three failures: %+v (verifier calls %d → %d)", o, calls, ver.calls)
	}
	// The office, a familiar source, is not locked by the stranger's failures.
	if o := try("203.0.113.9:1", "alice@example.com", "good"); !o.Allowed {
		t.Fatalf("office after the lock elsewhere: %+v", o)
	}

	e.gate.AppPasswords = nil
	if o := try("203.0.113.9:1", "alice@example.com", "good"); o.Allowed || o.Reason != signin.ReasonRejected {
		t.Fatalf("without a verifier: %+v", o)
	}
}
