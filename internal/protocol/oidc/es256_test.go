package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/store"
)

var (
	esKeysOnce sync.Once
	esTestKeys []keys.Key // retired, current, next (P-256)
)

func es256KeysForTest(t *testing.T) []keys.Key {
	t.Helper()
	esKeysOnce.Do(func() {
		for i, st := range []store.KeyState{store.KeyRetired, store.KeyCurrent, store.KeyNext} {
			priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 10)), Subject: pkix.Name{CommonName: "test es256"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
			if err != nil {
				panic(err)
			}
			cert, _ := x509.ParseCertificate(der)
			esTestKeys = append(esTestKeys, keys.Key{ID: fmt.Sprintf("es-%s", st), State: st, Signer: priv, Cert: cert})
		}
	})
	return esTestKeys
}

// keysOfPurpose is what keys.Manager would return for purpose from a mixed set: the RSA keys
// are the token purpose's, the P-256 keys token-es256's.
func keysOfPurpose(ks []keys.Key, purpose string) []keys.Key {
	var out []keys.Key
	for _, k := range ks {
		if _, ec := k.Cert.PublicKey.(*ecdsa.PublicKey); ec == (purpose == keys.PurposeTokenES256) {
			out = append(out, k)
		}
	}
	return out
}

// withES256 gives the harness the P-256 keys and two ES256 clients: "esrp" (code flow with
// refresh tokens) and "essvc" (client_credentials). It returns their secrets.
func (hs *harness) withES256(t *testing.T) (rp, svc clientAuth) {
	t.Helper()
	fk := hs.h.keys.src.(*fakeKeys)
	fk.ks = append(slices.Clone(fk.ks), es256KeysForTest(t)...)
	secret, hash, _ := hs.h.cfg.Secrets.New("esrp")
	hs.apps.put(t, "es-party", ClientConfig{ClientID: "esrp", RedirectURIs: []string{callback}, SecretHash: hash,
		Grants: []string{GrantAuthorizationCode, GrantRefreshToken}, SigningAlg: AlgES256})
	ssecret, shash, _ := hs.h.cfg.Secrets.New("essvc")
	hs.apps.put(t, "es-batch", ClientConfig{ClientID: "essvc", SecretHash: shash, Grants: []string{GrantClientCredentials},
		SigningAlg: AlgES256})
	return clientAuth{"esrp", secret, callback}, clientAuth{"essvc", ssecret, ""}
}

// verifyJWKS verifies tok as a relying party would: its kid found in the published JWKS, the
// algorithm the key's, and returns the header's alg and kid with the claims.
func (hs *harness) verifyJWKS(t *testing.T, tok string) (alg, kid string, c map[string]any) {
	t.Helper()
	var set jose.JSONWebKeySet
	decode(t, hs.get(KeysPath).Body.Bytes(), &set)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	found := set.Key(h.KeyID)
	if len(found) != 1 {
		t.Fatalf("kid %s: %d published keys", h.KeyID, len(found))
	}
	if found[0].Algorithm != h.Algorithm {
		t.Fatalf("kid %s: token alg %s, published alg %s", h.KeyID, h.Algorithm, found[0].Algorithm)
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		t.Fatalf("kid %s: %v", h.KeyID, err)
	}
	decode(t, payload, &c)
	return h.Algorithm, h.KeyID, c
}

func TestES256Keys(t *testing.T) {
	hs := newHarness(t)
	hs.withES256(t)
	var set jose.JSONWebKeySet
	decode(t, hs.get(KeysPath).Body.Bytes(), &set)
	var got []string
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" {
			t.Errorf("key %s: public %v use %s", k.KeyID, k.IsPublic(), k.Use)
		}
		if _, ec := k.Key.(*ecdsa.PublicKey); ec != (k.Algorithm == "ES256") {
			t.Errorf("key %s: alg %s for a %T", k.KeyID, k.Algorithm, k.Key)
		}
		got = append(got, k.KeyID+":"+k.Algorithm)
	}
	want := []string{"key-retired:RS256", "key-current:RS256", "key-next:RS256", "es-retired:ES256", "es-current:ES256", "es-next:ES256"}
	if !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	var d map[string]any
	decode(t, hs.get(DiscoveryPath).Body.Bytes(), &d)
	if fmt.Sprint(d["id_token_signing_alg_values_supported"]) != "[RS256 ES256]" {
		t.Errorf("id_token_signing_alg_values_supported %v", d["id_token_signing_alg_values_supported"])
	}
}

func TestES256Tokens(t *testing.T) {
	t.Run("code flow and refresh: ID and access tokens ES256 by the current P-256 key; userinfo and introspection accept them", func(t *testing.T) {
		hs := newHarness(t)
		esrp, _ := hs.withES256(t)
		hs.allowEach()
		tr := hs.offline(esrp, "openid email offline_access")
		for _, tok := range []string{tr.IDToken, tr.AccessToken} {
			alg, kid, c := hs.verifyJWKS(t, tok)
			if alg != "ES256" || kid != "es-current" || c["iss"] != issuer || c["sub"] != "u1" {
				t.Fatalf("alg %s kid %s claims %v", alg, kid, c)
			}
		}
		_, _, idc := hs.verifyJWKS(t, tr.IDToken)
		sum := sha256.Sum256([]byte(tr.AccessToken))
		if want := b64(sum[:16]); idc["at_hash"] != want {
			t.Errorf("at_hash %v, want %s", idc["at_hash"], want)
		}
		status, m := hs.userinfo(tr.AccessToken)
		if status != 200 || m["sub"] != "u1" || m["email"] != "alice@example.com" {
			t.Fatalf("userinfo: %d %v", status, m)
		}
		if status, in, _ := hs.introspect(esrp, tr.AccessToken, ""); status != 200 || !in.Active || in.Sub != "u1" {
			t.Fatalf("introspection: %d %+v", status, in)
		}
		status, next := hs.refresh(esrp, tr.RefreshToken)
		if status != 200 {
			t.Fatalf("refresh: %d %+v", status, next)
		}
		for _, tok := range []string{next.IDToken, next.AccessToken} {
			if alg, kid, _ := hs.verifyJWKS(t, tok); alg != "ES256" || kid != "es-current" {
				t.Fatalf("refreshed: alg %s kid %s", alg, kid)
			}
		}
	})
	t.Run("client_credentials: an ES256 access token that introspection accepts", func(t *testing.T) {
		hs := newHarness(t)
		_, essvc := hs.withES256(t)
		hs.allowEach()
		status, tr := hs.clientCredentials(essvc, "")
		if status != 200 {
			t.Fatalf("%d %+v", status, tr)
		}
		if alg, kid, c := hs.verifyJWKS(t, tr.AccessToken); alg != "ES256" || kid != "es-current" || c["sub"] != "essvc" {
			t.Fatalf("alg %s kid %s claims %v", alg, kid, c)
		}
		if status, in, _ := hs.introspect(essvc, tr.AccessToken, ""); status != 200 || !in.Active || in.Sub != "essvc" {
			t.Fatalf("introspection: %d %+v", status, in)
		}
		// Another client introspects it too (the keys are the provider's, not the client's).
		if status, in, _ := hs.introspect(hs.svc(), tr.AccessToken, ""); status != 200 || !in.Active {
			t.Fatalf("introspection by svc: %d %+v", status, in)
		}
	})
	t.Run("an RS256 client is unchanged beside ES256 clients", func(t *testing.T) {
		hs := newHarness(t)
		hs.withES256(t)
		hs.allowEach()
		for _, c := range []clientAuth{hs.rrp()} {
			tr := hs.offline(c, "openid email offline_access")
			for _, tok := range []string{tr.IDToken, tr.AccessToken} {
				if alg, kid, _ := hs.verifyJWKS(t, tok); alg != "RS256" || kid != "key-current" {
					t.Fatalf("%s: alg %s kid %s", c.id, alg, kid)
				}
			}
		}
		status, tr := hs.clientCredentials(hs.svc(), "")
		if alg, kid, _ := hs.verifyJWKS(t, tr.AccessToken); status != 200 || alg != "RS256" || kid != "key-current" {
			t.Fatalf("svc: %d alg %s kid %s", status, alg, kid)
		}
	})
	t.Run("rotation: the next key is published before it signs; after promote it signs and the old one still verifies", func(t *testing.T) {
		hs := newHarness(t)
		_, essvc := hs.withES256(t)
		hs.allowEach()
		_, before := hs.clientCredentials(essvc, "")
		if _, kid, _ := hs.verifyJWKS(t, before.AccessToken); kid != "es-current" {
			t.Fatalf("signed by %s before promote", kid)
		}
		// keys promote --alg ES256: the next key becomes current, the current one retired.
		fk := hs.h.keys.src.(*fakeKeys)
		var promoted []keys.Key
		for _, k := range fk.ks {
			switch {
			case k.ID == "es-current":
				k.State = store.KeyRetired
			case k.ID == "es-next":
				k.State = store.KeyCurrent
			case k.ID == "es-retired":
				continue // retired earlier
			}
			promoted = append(promoted, k)
		}
		fk.ks = promoted
		status, after := hs.clientCredentials(essvc, "")
		if _, kid, _ := hs.verifyJWKS(t, after.AccessToken); status != 200 || kid != "es-next" {
			t.Fatalf("%d: signed by %s after promote", status, kid)
		}
		if status, in, _ := hs.introspect(essvc, before.AccessToken, ""); status != 200 || !in.Active {
			t.Fatalf("a token of the retired key: %d %+v", status, in)
		}
		// The RSA keys did not move.
		if _, tr := hs.clientCredentials(hs.svc(), ""); tr.AccessToken == "" {
			t.Fatal("svc: no token")
		} else if _, kid, _ := hs.verifyJWKS(t, tr.AccessToken); kid != "key-current" {
			t.Fatalf("svc signed by %s", kid)
		}
	})
	t.Run("no ES256 key: a server error, never an RS256 token instead", func(t *testing.T) {
		hs := newHarness(t)
		_, essvc := hs.withES256(t)
		hs.allowEach()
		fk := hs.h.keys.src.(*fakeKeys)
		fk.ks = keysOfPurpose(fk.ks, keys.PurposeToken)
		status, tr := hs.clientCredentials(essvc, "")
		if status != http.StatusInternalServerError || tr.AccessToken != "" {
			t.Fatalf("%d %+v", status, tr)
		}
	})
	t.Run("an access token signed by an unpublished P-256 key is refused", func(t *testing.T) {
		hs := newHarness(t)
		_, essvc := hs.withES256(t)
		hs.allowEach()
		_, tr := hs.clientCredentials(essvc, "")
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		parts := strings.Split(tr.AccessToken, ".")
		d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		der, _ := priv.Sign(rand.Reader, d[:], crypto.SHA256)
		sig, err := jwsECDSA(der, 32)
		if err != nil {
			t.Fatal(err)
		}
		forged := parts[0] + "." + parts[1] + "." + b64(sig)
		if status, in, _ := hs.introspect(essvc, forged, ""); status != 200 || in.Active {
			t.Fatalf("forged: %d %+v", status, in)
		}
	})
}

func (hs *harness) userinfo(tok string) (int, map[string]any) {
	req := httptest.NewRequest(http.MethodGet, issuer+UserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	hs.mux.ServeHTTP(rec, req)
	var m map[string]any
	if rec.Code == 200 {
		decode(hs.t, rec.Body.Bytes(), &m)
	}
	return rec.Code, m
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestJWSECDSA(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for i := range 200 { // some R or S shorter than 32 bytes among them
		d := sha256.Sum256([]byte{byte(i)})
		der, _ := priv.Sign(rand.Reader, d[:], crypto.SHA256)
		raw, err := jwsECDSA(der, 32)
		if err != nil || len(raw) != 64 {
			t.Fatalf("%d: %v %d", i, err, len(raw))
		}
		r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
		if !ecdsa.Verify(&priv.PublicKey, d[:], r, s) {
			t.Fatalf("%d: R||S does not verify", i)
		}
	}
	for _, bad := range [][]byte{nil, {0x30, 0x00}, []byte("not asn1")} {
		if _, err := jwsECDSA(bad, 32); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func TestSigningAlgSetting(t *testing.T) {
	base := ClientConfig{ClientID: "c", Grants: []string{GrantClientCredentials}, SecretHash: make([]byte, 32)}
	for alg, want := range map[string]string{"": "", "RS256": "", "ES256": "ES256"} {
		c := base
		c.SigningAlg = alg
		got, err := c.Complete()
		if err != nil || got.SigningAlg != want {
			t.Errorf("%q: %q %v, want %q", alg, got.SigningAlg, err, want)
		}
	}
	for _, alg := range []string{"HS256", "es256", "PS256", "none"} {
		c := base
		c.SigningAlg = alg
		if _, err := c.Complete(); err == nil {
			t.Errorf("%q accepted", alg)
		}
	}
}
