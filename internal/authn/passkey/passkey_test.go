package passkey_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/authn/passkey"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

const (
	base   = "https://idp.example.com:8443"
	origin = base
	rpID   = "idp.example.com"
)

var ctx = context.Background()

type env struct {
	svc   *passkey.Service
	creds *factors.Manager
	now   time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st := sqlitetest.Open(t)
	key, _ := secrets.GenerateKey()
	sealer, _ := secrets.New(key)
	m := factors.New(factors.NewMemoryStore(), st, sealer, "Sekisho")
	e := &env{creds: m, now: time.Now()}
	var err error
	e.svc, err = passkey.New(passkey.Config{BaseURL: base, Credentials: m, Once: st, Sealer: sealer, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// softKey is a software authenticator: ES256, "none" attestation, a signature counter.
type softKey struct {
	id     []byte
	priv   *ecdsa.PrivateKey
	count  uint32
	origin string
	rpID   string
}

func newKey(t testing.TB) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{id: id, priv: priv, origin: origin, rpID: rpID}
}

var b64 = base64.RawURLEncoding

func (k *softKey) authData(flags byte, attested bool) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	if attested {
		pub, _ := k.priv.PublicKey.ECDH()
		raw := pub.Bytes() // 0x04 || X || Y
		cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
			PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
			Curve:         1, XCoord: raw[1:33], YCoord: raw[33:]})
		if err != nil {
			panic(err)
		}
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
		out = append(out, k.id...)
		out = append(out, cose...)
	}
	return out
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

func challengeOf(t testing.TB, opts json.RawMessage) string {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("options %s: %v", opts, err)
	}
	return o.PublicKey.Challenge
}

// create answers navigator.credentials.create.
func (k *softKey) create(t testing.TB, opts json.RawMessage) []byte {
	t.Helper()
	ao, err := webauthncbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, k.authData(0x01|0x04|0x40, true)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", challengeOf(t, opts))),
			"attestationObject": b64.EncodeToString(ao), "transports": []string{"internal"}}})
	return b
}

// get answers navigator.credentials.get, advancing the counter.
func (k *softKey) get(t testing.TB, opts json.RawMessage, userID string) []byte {
	t.Helper()
	k.count++
	ad := k.authData(0x01|0x04, false)
	cd := k.clientData("webauthn.get", challengeOf(t, opts))
	h := sha256.Sum256(cd)
	d := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString([]byte(userID))}})
	return b
}

var alice = passkey.User{ID: "u-alice", Name: "alice@example.com", DisplayName: "Alice"}

// register runs a registration ceremony for u in session bind.
func (e *env) register(t testing.TB, u passkey.User, bind string, k *softKey) factors.Credential {
	t.Helper()
	opts, tok, err := e.svc.BeginRegistration(ctx, u, bind)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.FinishRegistration(ctx, u, bind, tok, k.create(t, opts), "  Key\x00 one ")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return c
}

func TestRegisterAndLogin(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.svc.BeginLogin(ctx, alice, "s1"); !errors.Is(err, passkey.ErrNoCredentials) {
		t.Fatalf("login without credentials: %v", err)
	}
	if ok, _ := e.svc.Enrolled(ctx, alice.ID); ok {
		t.Fatal("enrolled before registration")
	}
	k := newKey(t)
	c := e.register(t, alice, "s1", k)
	if c.Name != "Key one" || string(c.ID) != string(k.id) || e.svc.RPID() != rpID {
		t.Fatalf("credential %+v, RP ID %s", c, e.svc.RPID())
	}
	if ok, _ := e.svc.Enrolled(ctx, alice.ID); !ok {
		t.Fatal("not enrolled after registration")
	}
	// The registration options exclude the registered key, and a second registration of it fails.
	opts, tok, err := e.svc.BeginRegistration(ctx, alice, "s1")
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			Exclude []struct{ ID string } `json:"excludeCredentials"`
			RP      struct{ ID string }   `json:"rp"`
		} `json:"publicKey"`
	}
	_ = json.Unmarshal(opts, &o)
	if len(o.PublicKey.Exclude) != 1 || o.PublicKey.Exclude[0].ID != b64.EncodeToString(k.id) || o.PublicKey.RP.ID != rpID {
		t.Fatalf("registration options %s", opts)
	}
	if _, err := e.svc.FinishRegistration(ctx, alice, "s1", tok, k.create(t, opts), ""); !errors.Is(err, factors.ErrDuplicateCredential) {
		t.Fatalf("second registration of one key: %v", err)
	}

	for i := range 3 {
		opts, tok, err := e.svc.BeginLogin(ctx, alice, "s1")
		if err != nil {
			t.Fatal(err)
		}
		used, err := e.svc.FinishLogin(ctx, alice, "s1", tok, k.get(t, opts, alice.ID))
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if used.SignCount != k.count {
			t.Fatalf("counter %d, want %d", used.SignCount, k.count)
		}
	}
	stored, _ := e.creds.WebAuthnCredentials(ctx, alice.ID)
	if len(stored) != 1 || stored[0].SignCount != 3 || stored[0].LastUsedAt.IsZero() {
		t.Fatalf("stored %+v", stored)
	}
}

func TestLoginRefusals(t *testing.T) {
	e := newEnv(t)
	k := newKey(t)
	e.register(t, alice, "s1", k)
	bob := passkey.User{ID: "u-bob", Name: "bob@example.com"}
	e.register(t, bob, "s2", newKey(t))

	cases := []struct {
		name string
		// answer returns the user, session and response to finish with, given fresh begin output.
		answer func(opts json.RawMessage, tok string) (passkey.User, string, string, []byte)
		want   error
	}{
		{"other session", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			return alice, "s-other", tok, k.get(t, o, alice.ID)
		}, passkey.ErrState},
		{"other user", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			return bob, "s1", tok, k.get(t, o, alice.ID)
		}, passkey.ErrState},
		{"tampered state", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			return alice, "s1", tok[:len(tok)-2] + "AA", k.get(t, o, alice.ID)
		}, passkey.ErrState},
		{"no state", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			return alice, "s1", "", k.get(t, o, alice.ID)
		}, passkey.ErrState},
		{"wrong origin", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			evil := *k
			evil.origin = "https://evil.example"
			r := evil.get(t, o, alice.ID)
			k.count = evil.count
			return alice, "s1", tok, r
		}, passkey.ErrVerify},
		{"unregistered key", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			return alice, "s1", tok, newKey(t).get(t, o, alice.ID)
		}, passkey.ErrVerify},
		{"other private key with the registered ID", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			forged := newKey(t)
			forged.id, forged.count = k.id, k.count+10
			return alice, "s1", tok, forged.get(t, o, alice.ID)
		}, passkey.ErrVerify},
		{"garbage response", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			return alice, "s1", tok, []byte(`{"id":"x"}`)
		}, passkey.ErrVerify},
		{"cloned key: counter did not increase", func(o json.RawMessage, tok string) (passkey.User, string, string, []byte) {
			clone := *k
			clone.count = 0
			return alice, "s1", tok, clone.get(t, o, alice.ID)
		}, passkey.ErrCloned},
	}
	// One good login first, so the stored counter is above zero.
	opts, tok, _ := e.svc.BeginLogin(ctx, alice, "s1")
	if _, err := e.svc.FinishLogin(ctx, alice, "s1", tok, k.get(t, opts, alice.ID)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts, tok, err := e.svc.BeginLogin(ctx, alice, "s1")
			if err != nil {
				t.Fatal(err)
			}
			u, bind, tok2, resp := c.answer(opts, tok)
			if _, err := e.svc.FinishLogin(ctx, u, bind, tok2, resp); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestStateIsSingleUseAndExpires(t *testing.T) {
	e := newEnv(t)
	k := newKey(t)
	e.register(t, alice, "s1", k)

	opts, tok, _ := e.svc.BeginLogin(ctx, alice, "s1")
	resp := k.get(t, opts, alice.ID)
	if _, err := e.svc.FinishLogin(ctx, alice, "s1", tok, resp); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishLogin(ctx, alice, "s1", tok, resp); !errors.Is(err, passkey.ErrState) {
		t.Fatalf("replayed ceremony: %v", err)
	}

	// A failed attempt spends the state too: the next try needs a new challenge.
	opts, tok, _ = e.svc.BeginLogin(ctx, alice, "s1")
	if _, err := e.svc.FinishLogin(ctx, alice, "s1", tok, []byte("{}")); !errors.Is(err, passkey.ErrVerify) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := e.svc.FinishLogin(ctx, alice, "s1", tok, k.get(t, opts, alice.ID)); !errors.Is(err, passkey.ErrState) {
		t.Fatalf("state after a failed attempt: %v", err)
	}

	// A registration state does not finish a login, nor the reverse.
	ropts, rtok, _ := e.svc.BeginRegistration(ctx, alice, "s1")
	if _, err := e.svc.FinishLogin(ctx, alice, "s1", rtok, k.get(t, ropts, alice.ID)); !errors.Is(err, passkey.ErrState) {
		t.Fatalf("registration state used for login: %v", err)
	}
	lopts, ltok, _ := e.svc.BeginLogin(ctx, alice, "s1")
	if _, err := e.svc.FinishRegistration(ctx, alice, "s1", ltok, newKey(t).create(t, lopts), ""); !errors.Is(err, passkey.ErrState) {
		t.Fatalf("login state used for registration: %v", err)
	}

	opts, tok, _ = e.svc.BeginLogin(ctx, alice, "s1")
	e.now = e.now.Add(6 * time.Minute)
	if _, err := e.svc.FinishLogin(ctx, alice, "s1", tok, k.get(t, opts, alice.ID)); !errors.Is(err, passkey.ErrState) {
		t.Fatalf("expired ceremony: %v", err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	key, _ := secrets.GenerateKey()
	sealer, _ := secrets.New(key)
	m := factors.New(factors.NewMemoryStore(), nil, sealer, "")
	for _, u := range []string{"http://idp.example.com", "idp.example.com", "https://", "::"} {
		if _, err := passkey.New(passkey.Config{BaseURL: u, Credentials: m, Once: onceFunc(nil), Sealer: sealer}); err == nil {
			t.Errorf("base URL %q accepted", u)
		}
	}
	if _, err := passkey.New(passkey.Config{BaseURL: base, Credentials: m, Sealer: sealer}); err == nil {
		t.Error("missing OnceStore accepted")
	}
}

type onceFunc func(string) bool

func (f onceFunc) UseOnce(context.Context, string, time.Time) (bool, error) { return true, nil }

// FuzzFinish feeds arbitrary state tokens and responses to both ceremonies: errors, no panics.
func FuzzFinish(f *testing.F) {
	e := newEnv(f)
	k := newKey(f)
	e.register(f, alice, "s1", k)
	opts, tok, _ := e.svc.BeginLogin(ctx, alice, "s1")
	f.Add(tok, string(k.get(f, opts, alice.ID)))
	f.Add("", `{"id":"AA","rawId":"AA","type":"public-key","response":{}}`)
	f.Add("AAAA", `{"response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`)
	f.Fuzz(func(t *testing.T, token, resp string) {
		if _, err := e.svc.FinishLogin(ctx, alice, "s1", token, []byte(resp)); err == nil && token != tok {
			t.Fatalf("accepted token %q", token)
		}
		if _, err := e.svc.FinishRegistration(ctx, alice, "s1", token, []byte(resp), resp); err == nil {
			t.Fatal("registration accepted fuzz input")
		}
	})
}
