package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/userdocs"
)

// managedEnv is a service with two users, a network, an enrolled TOTP seed and a locked user.
type managedEnv struct {
	s     *admin.Service
	st    store.Store
	alice store.User
	seed  string // alice's pending TOTP secret
}

func newManagedEnv(t *testing.T) *managedEnv {
	t.Helper()
	ctx := context.Background()
	s, st := newService(t)
	e := &managedEnv{s: s, st: st}
	for _, upn := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := s.AddUser(ctx, console, directory.NewUser{UPN: upn}); err != nil {
			t.Fatal(err)
		}
	}
	e.alice, _ = st.GetUserByUPN(ctx, "alice@example.com")
	if err := s.SetNetwork(ctx, console, "office", "", []string{"192.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	en, err := factors.New(userdocs.Factors(st), st, s.Factors.Sealer, "Sekisho").Enroll(ctx, e.alice.ID, e.alice.UPN, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.seed = en.Secret
	locked, _ := json.Marshal(lockout.State{Counters: map[lockout.Side]lockout.Counter{
		lockout.Unfamiliar: {Failures: 10, WindowStart: time.Now(), LockedUntil: time.Now().Add(time.Hour)}}})
	if err := st.UpdateLockout(ctx, e.alice.ID, func([]byte) ([]byte, error) { return locked, nil }); err != nil {
		t.Fatal(err)
	}
	return e
}

// sealed is every sealed value and one-time secret in the store: the PKCS#12 packages,
// private keys and factor documents, base64 as JSON would write them.
func (e *managedEnv) sealed(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	devs, _ := e.st.ListDevices(ctx, "")
	for _, d := range devs {
		var dd map[string]any
		_ = json.Unmarshal(d.Data, &dd)
		for _, k := range []string{"p12", "token_hash"} {
			if v, ok := dd[k].(string); ok {
				out = append(out, v)
			}
		}
	}
	for _, p := range []string{keys.PurposeToken, devicecert.PurposeDeviceCA} {
		ks, _ := e.st.ListSigningKeys(ctx, p)
		for _, k := range ks {
			out = append(out, base64.StdEncoding.EncodeToString(k.SealedKey))
		}
	}
	if f, err := e.st.GetUserFactors(ctx, e.alice.ID); err == nil {
		out = append(out, base64.StdEncoding.EncodeToString(f))
	}
	return out
}

var wiki = saml.ServiceProvider{EntityID: "https://wiki.example.com/sp",
	ACS: []saml.Endpoint{{Binding: saml.BindingPOST, Location: "https://wiki.example.com/acs", IsDefault: true}}}

// Applications, Microsoft 365 domains, device certificates, signing keys, second factors and
// lockout: every change is one transaction with one entry, a refused one leaves neither, and
// no entry holds a secret (private keys, PKCS#12 packages, download tokens, one-time
// passwords, emergency codes, TOTP seeds).
func TestManagedChangesHaveOneEntry(t *testing.T) {
	e := newManagedEnv(t)
	s, ctx := e.s, context.Background()
	handedOut := []string{e.seed}
	var issued, renewed admin.IssuedDevice
	noDevices, noLockout := *s, *s
	noDevices.Devices, noLockout.Lockout = nil, nil
	issue := func(upn, name, platform string) func() error {
		return func() error {
			is, err := s.IssueDevice(ctx, console, upn, name, platform, 30*24*time.Hour)
			if err == nil {
				issued = is
				handedOut = append(handedOut, is.Token, is.Password)
				p12, err := s.Devices.Download(ctx, is.Token, time.Now())
				handedOut = append(handedOut, base64.StdEncoding.EncodeToString(p12))
				return err
			}
			return err
		}
	}
	steps := []step{
		{"app", func() error { _, err := s.AddApplication(ctx, console, "wiki", wiki); return err }, "app.add", "wiki", "", "config"},
		{"app: same entity ID", func() error { _, err := s.AddApplication(ctx, console, "wiki2", wiki); return err }, "", "", "", ""},
		{"app: no ACS", func() error {
			_, err := s.AddApplication(ctx, console, "broken", saml.ServiceProvider{EntityID: "urn:broken"})
			return err
		}, "", "", "", ""},
		{"app: remove missing", func() error { return s.RemoveApplication(ctx, console, "nothing") }, "", "", "", ""},
		{"app: remove", func() error { return s.RemoveApplication(ctx, console, "wiki") }, "app.remove", "wiki", "entityId", ""},

		{"domain: unknown inside network", func() error {
			_, err := s.AddDomain(ctx, console, m365.DomainSettings{Domain: m365.Domain{Name: "contoso.com", InsideNetworks: []string{"nowhere"}}})
			return err
		}, "", "", "", ""},
		{"domain: bad MFA behaviour", func() error {
			_, err := s.AddDomain(ctx, console, m365.DomainSettings{Domain: m365.Domain{Name: "contoso.com", Protocol: m365.SAML}, MFABehavior: "sometimes"})
			return err
		}, "", "", "", ""},
		{"domain by SAML", func() error {
			d, err := s.AddDomain(ctx, console, m365.DomainSettings{Domain: m365.Domain{Name: "Contoso.com", Protocol: m365.SAML, InsideNetworks: []string{"office"}}})
			if err == nil && (!d.RegisteredApp || d.Domain.IssuerURI != "http://contoso.com/adfs/services/trust/") {
				return errors.New("the Microsoft 365 application was not registered or the defaults not filled")
			}
			return err
		}, "m365.domain-add", "contoso.com", "", "registeredApplication"},
		{"domain: update", func() error {
			d, err := s.AddDomain(ctx, console, m365.DomainSettings{Domain: m365.Domain{Name: "contoso.com", Protocol: m365.SAML, EmitMFA: true}})
			if err == nil && d.RegisteredApp {
				return errors.New("the Microsoft 365 application was registered twice")
			}
			return err
		}, "m365.domain-add", "contoso.com", "Name", "EmitMFA"},
		{"domain: remove missing", func() error { return s.RemoveDomain(ctx, console, "fabrikam.com") }, "", "", "", ""},
		{"domain: remove", func() error { return s.RemoveDomain(ctx, console, "contoso.com") }, "m365.domain-remove", "contoso.com", "IssuerURI", ""},

		{"device: unknown user", issue("nobody@example.com", "laptop", "windows"), "", "", "", ""},
		{"device: unknown platform", issue("alice@example.com", "laptop", "beos"), "", "", "", ""},
		{"device: no CA configured", func() error {
			_, err := noDevices.IssueDevice(ctx, console, "alice@example.com", "laptop", "windows", 0)
			return err
		}, "", "", "", ""},
		{"device", issue("alice@example.com", "Alice laptop", "windows"), "device.issue", "alice@example.com", "", "serial"},
		{"device: renew", func() error {
			is, err := s.RenewDevice(ctx, console, issued.Device.Serial, 0)
			renewed = is
			handedOut = append(handedOut, is.Token, is.Password)
			return err
		}, "device.renew", "alice@example.com", "serial", "replaces"},
		{"device: renew the replaced one", func() error { _, err := s.RenewDevice(ctx, console, issued.Device.ID, 0); return err }, "", "", "", ""},
		{"device: revoke", func() error { _, err := s.RevokeDevice(ctx, console, renewed.Device.ID); return err }, "device.revoke", "alice@example.com", "status", "revokedAt"},
		{"device: revoke missing", func() error { _, err := s.RevokeDevice(ctx, console, "nope"); return err }, "", "", "", ""},

		{"keys: promote without next", func() error { return s.PromoteKey(ctx, console) }, "", "", "", ""},
		{"keys: rotate", func() error { _, err := s.RotateKey(ctx, console); return err }, "key.rotate", "token-signing", "keys", "keys"},
		{"keys: rotate twice", func() error { _, err := s.RotateKey(ctx, console); return err }, "", "", "", ""},
		{"keys: promote", func() error { return s.PromoteKey(ctx, console) }, "key.promote", "token-signing", "keys", "keys"},
		{"keys: rotate again", func() error { _, err := s.RotateKey(ctx, console); return err }, "key.rotate", "token-signing", "keys", "keys"},
		{"keys: promote again", func() error { return s.PromoteKey(ctx, console) }, "key.promote", "token-signing", "keys", "keys"},
		{"keys: retire", func() error {
			n, err := s.RetireKeys(ctx, console)
			if err == nil && n != 1 {
				return errors.New("retired not one key")
			}
			return err
		}, "key.retire", "token-signing", "keys", "keys"},

		{"codes: unknown user", func() error { _, _, err := s.EmergencyCodes(ctx, console, "nobody@example.com", 5); return err }, "", "", "", ""},
		{"codes", func() error {
			_, codes, err := s.EmergencyCodes(ctx, console, "alice@example.com", 5)
			if err == nil && len(codes) != 5 {
				return errors.New("not five codes")
			}
			handedOut = append(handedOut, codes...)
			return err
		}, "factors.emergency-codes", "alice@example.com", "emergencyCodesLeft", "emergencyCodesIssued"},
		{"factors: reset unknown user", func() error { _, err := s.ResetFactors(ctx, console, "nobody@example.com"); return err }, "", "", "", ""},
		{"factors: reset", func() error { _, err := s.ResetFactors(ctx, console, "alice@example.com"); return err }, "factors.reset", "alice@example.com", "pendingEnrolment", "totp"},

		{"unlock: lockout off", func() error { _, err := noLockout.Unlock(ctx, console, "alice@example.com"); return err }, "", "", "", ""},
		{"unlock: unknown user", func() error { _, err := s.Unlock(ctx, console, "nobody@example.com"); return err }, "", "", "", ""},
		{"unlock", func() error { _, err := s.Unlock(ctx, console, "alice@example.com"); return err }, "lockout.unlock", "alice@example.com", "counters", "counters"},
	}
	var sealed []string
	runSteps(t, e.st, steps, func() []string {
		sealed = append(sealed, e.sealed(t)...) // remembered: a value later removed must not show up either
		return append(handedOut, sealed...)
	})

	// The documents say what changed.
	entry := func(action string) (before, after map[string]any) {
		evs, _ := e.st.ListAdminEvents(ctx, store.AdminEventFilter{Action: action, Limit: 1})
		if len(evs) != 1 {
			t.Fatalf("%s: %d entries", action, len(evs))
		}
		_ = json.Unmarshal(evs[0].Before, &before)
		_ = json.Unmarshal(evs[0].After, &after)
		return before, after
	}
	if _, after := entry("device.issue"); after["id"] != issued.Device.ID || after["serial"] != issued.Device.Serial ||
		after["user"] != "alice@example.com" || after["name"] != "Alice laptop" || after["notAfter"] == nil {
		t.Errorf("device.issue names %v", after)
	}
	if before, after := entry("device.renew"); before["id"] != issued.Device.ID || after["replaces"] != issued.Device.ID || after["id"] != renewed.Device.ID {
		t.Errorf("device.renew: %v -> %v", before, after)
	}
	if before, after := entry("key.retire"); len(before["keys"].([]any)) != 2 || len(after["keys"].([]any)) != 1 {
		t.Errorf("key.retire: %v -> %v", before, after)
	} else if k := after["keys"].([]any)[0].(map[string]any); k["state"] != "current" || len(k["sha256"].(string)) != 64 || k["notAfter"] == nil {
		t.Errorf("key.retire: key %v", k)
	}
	if before, after := entry("factors.emergency-codes"); before["emergencyCodesLeft"] != 0.0 || after["emergencyCodesLeft"] != 5.0 || after["emergencyCodesIssued"] != 5.0 {
		t.Errorf("factors.emergency-codes: %v -> %v", before, after)
	}
	if before, after := entry("factors.reset"); before["pendingEnrolment"] != true || after["emergencyCodesLeft"] != 0.0 {
		t.Errorf("factors.reset: %v -> %v", before, after)
	}
	if before, after := entry("lockout.unlock"); before["counters"] == nil || after["counters"] != nil {
		t.Errorf("lockout.unlock: %v -> %v", before, after)
	}
	if s.Lockout.Store != nil || s.Factors.Factors != nil || s.Devices.Store != e.st || s.Keys.Store != e.st {
		t.Fatal("the service rebound its own managers instead of copies")
	}
}

// failingAudit is a store whose admin audit log refuses every entry.
type failingAudit struct{ store.Store }

func (f failingAudit) InTx(ctx context.Context, fn func(store.Store) error) error {
	return f.Store.InTx(ctx, func(tx store.Store) error { return fn(failingAudit{tx}) })
}

func (failingAudit) AddAdminEvent(context.Context, store.AdminEvent) error {
	return errors.New("admin audit log unavailable")
}

// A change whose entry cannot be written is not made: the managers' own writes (a device row
// and the CA key, a signing key, a factors document, lockout counters) are in the same
// transaction as the entry.
func TestNoEntryNoChange(t *testing.T) {
	e := newManagedEnv(t)
	ctx := context.Background()
	is, err := e.s.IssueDevice(ctx, console, "alice@example.com", "laptop", "windows", 0)
	if err != nil {
		t.Fatal(err)
	}
	broken := *e.s
	broken.Store = failingAudit{e.st}
	s := &broken
	was := snapshot(t, e.st)
	for name, do := range map[string]func() error{
		"app.add": func() error { _, err := s.AddApplication(ctx, console, "wiki", wiki); return err },
		"m365.domain-add": func() error {
			_, err := s.AddDomain(ctx, console, m365.DomainSettings{Domain: m365.Domain{Name: "contoso.com", Protocol: m365.SAML}})
			return err
		},
		"device.issue":  func() error { _, err := s.IssueDevice(ctx, console, "bob@example.com", "phone", "ios", 0); return err },
		"device.renew":  func() error { _, err := s.RenewDevice(ctx, console, is.Device.ID, 0); return err },
		"device.revoke": func() error { _, err := s.RevokeDevice(ctx, console, is.Device.ID); return err },
		"key.rotate":    func() error { _, err := s.RotateKey(ctx, console); return err },
		"factors.emergency-codes": func() error {
			_, _, err := s.EmergencyCodes(ctx, console, "alice@example.com", 3)
			return err
		},
		"factors.reset":  func() error { _, err := s.ResetFactors(ctx, console, "alice@example.com"); return err },
		"lockout.unlock": func() error { _, err := s.Unlock(ctx, console, "alice@example.com"); return err },
	} {
		if err := do(); err == nil || !strings.Contains(err.Error(), "admin audit log unavailable") {
			t.Errorf("%s without its entry: %v", name, err)
		}
		if is := snapshot(t, e.st); is != was {
			t.Fatalf("%s was made without its entry:\n%s\n->\n%s", name, was, is)
		}
	}
}
