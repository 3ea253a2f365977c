package devicecert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

type env struct {
	ctx    context.Context
	st     store.Store
	ca     *devicecert.CA
	sealer *secrets.Sealer
	km     *keys.Manager
	alice  store.User
	bob    store.User
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	key, _ := secrets.GenerateKey()
	sealer, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewManager(st, sealer)
	e := &env{ctx: ctx, st: st, sealer: sealer, km: km, ca: devicecert.New(st, km, sealer)}
	e.ca.Log = discardLogger()
	for _, u := range []*store.User{{ID: "u-alice", UPN: "alice@example.com"}, {ID: "u-bob", UPN: "bob@example.com"}} {
		u.Status = store.UserActive
		if err := st.CreateUser(ctx, *u); err != nil {
			t.Fatal(err)
		}
	}
	e.alice, _ = st.GetUser(ctx, "u-alice")
	e.bob, _ = st.GetUser(ctx, "u-bob")
	return e
}

// issue issues and downloads a certificate, returning the device and the certificate.
func (e *env) issue(t *testing.T, user, name string) (store.Device, *x509.Certificate, any) {
	t.Helper()
	d, tok, pw, err := e.ca.Issue(e.ctx, user, name, "windows", 0)
	if err != nil {
		t.Fatal(err)
	}
	p12, err := e.ca.Download(e.ctx, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	priv, cert, err := pkcs12.Decode(p12, pw)
	if err != nil {
		t.Fatal(err)
	}
	return d, cert, priv
}

func TestIssueCertificateProfile(t *testing.T) {
	e := newEnv(t)
	d, cert, priv := e.issue(t, e.alice.ID, "Alice laptop")
	if d.Status != devicecert.StatusIssued || d.UserID != e.alice.ID || d.Platform != "windows" {
		t.Fatalf("device row: %+v", d)
	}
	if cert.IsCA || !cert.BasicConstraintsValid {
		t.Error("device certificate must be a non-CA end entity")
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("EKU = %v, want clientAuth only", cert.ExtKeyUsage)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v", cert.KeyUsage)
	}
	if cert.Subject.CommonName != "Alice laptop" {
		t.Errorf("CN = %q", cert.Subject.CommonName)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "urn:sekisho:user:u-alice" {
		t.Errorf("URI SAN = %v", cert.URIs)
	}
	if len(cert.EmailAddresses) != 1 || cert.EmailAddresses[0] != "alice@example.com" {
		t.Errorf("rfc822 SAN = %v", cert.EmailAddresses)
	}
	if cert.SerialNumber.BitLen() > 128 || cert.SerialNumber.BitLen() < 64 || devicecert.SerialString(cert.SerialNumber) != d.Serial {
		t.Errorf("serial %x (bits %d) vs row %s", cert.SerialNumber, cert.SerialNumber.BitLen(), d.Serial)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got < 364*24*time.Hour || got > 366*24*time.Hour {
		t.Errorf("validity %v, want about 365 days", got)
	}
	if !priv.(*ecdsa.PrivateKey).PublicKey.Equal(cert.PublicKey) {
		t.Error("the PKCS#12 key does not match the certificate")
	}
	// The CA was created on first use and stored as a device-ca key.
	ks, err := e.st.ListSigningKeys(e.ctx, devicecert.PurposeDeviceCA)
	if err != nil || len(ks) != 1 {
		t.Fatalf("device-ca keys: %d, %v", len(ks), err)
	}
	caCert, _ := x509.ParseCertificate(ks[0].CertDER)
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		t.Errorf("not signed by the device CA: %v", err)
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ user, name, platform string }{
		{e.alice.ID, "", "windows"},
		{e.alice.ID, "x", "beos"},
		{e.alice.ID, "bad\x00name", "ios"},
		{e.alice.ID, string(make([]byte, 65)), "ios"},
	} {
		if _, _, _, err := e.ca.Issue(e.ctx, tc.user, tc.name, tc.platform, 0); !errors.Is(err, devicecert.ErrBadInput) {
			t.Errorf("Issue(%q, %q) = %v, want ErrBadInput", tc.name, tc.platform, err)
		}
	}
	if _, _, _, err := e.ca.Issue(e.ctx, "nobody", "x", "ios", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func TestDownloadOnce(t *testing.T) {
	e := newEnv(t)
	d, tok, pw, err := e.ca.Issue(e.ctx, e.alice.ID, "phone", "ios", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != 23 {
		t.Errorf("one-time password %q: want 4 groups of 5", pw)
	}
	now := time.Now()
	cases := []struct {
		name  string
		token string
		at    time.Time
		want  error
	}{
		{"garbage", "not-a-token", now, devicecert.ErrTokenInvalid},
		{"wrong secret", d.ID + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", now, devicecert.ErrTokenInvalid},
		{"expired", tok, now.Add(73 * time.Hour), devicecert.ErrTokenInvalid},
		{"valid", tok, now, nil},
		{"again", tok, now, devicecert.ErrAlreadyDownload},
	}
	for _, tc := range cases {
		p12, err := e.ca.Download(e.ctx, tc.token, tc.at)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == nil {
			if _, _, err := pkcs12.Decode(p12, pw); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if _, _, err := pkcs12.Decode(p12, "wrong"); err == nil {
				t.Fatal("PKCS#12 opened with a wrong password")
			}
		}
	}
	got, _ := e.st.GetDevice(e.ctx, d.ID)
	if got.Status != devicecert.StatusDownloaded {
		t.Errorf("status after download %q", got.Status)
	}
	if len(got.Data) > 300 {
		t.Errorf("package still stored after download (%d bytes of data)", len(got.Data))
	}
}

func TestVerify(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	dOK, certOK, _ := e.issue(t, e.alice.ID, "ok")
	dRev, certRev, _ := e.issue(t, e.alice.ID, "revoked")
	dOld, certOld, _ := e.issue(t, e.alice.ID, "renewed")
	if _, err := e.ca.Revoke(e.ctx, dRev.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.ca.Renew(e.ctx, dOld.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.ca.Renew(e.ctx, dOld.ID, 0); !errors.Is(err, devicecert.ErrState) {
		t.Errorf("renewing a replaced certificate: %v", err)
	}
	foreign := selfSigned(t, "foreign")

	// Another node: same store, its own cache, sees the revocation at once.
	other := devicecert.New(e.st, keys.NewManager(e.st, e.sealer), e.sealer)
	other.Log = discardLogger()

	cases := []struct {
		name      string
		ca        *devicecert.CA
		cert      *x509.Certificate
		user      string
		at        time.Time
		valid     bool
		bound     bool
		reason    string
		wantState string
	}{
		{"absent", e.ca, nil, e.alice.ID, now, false, false, devicecert.ReasonAbsent, ""},
		{"bound", e.ca, certOK, e.alice.ID, now, true, true, devicecert.ReasonOK, ""},
		{"handshake without user", e.ca, certOK, "", now, true, false, devicecert.ReasonOK, ""},
		{"another user's certificate", e.ca, certOK, e.bob.ID, now, true, false, devicecert.ReasonOtherUser, ""},
		{"revoked", e.ca, certRev, e.alice.ID, now, false, false, devicecert.ReasonRevoked, devicecert.StatusRevoked},
		{"revoked seen by another node", other, certRev, e.alice.ID, now, false, false, devicecert.ReasonRevoked, devicecert.StatusRevoked},
		{"replaced within grace", e.ca, certOld, e.alice.ID, now.Add(6 * 24 * time.Hour), true, true, devicecert.ReasonGrace, devicecert.StatusReplaced},
		{"replaced after grace", e.ca, certOld, e.alice.ID, now.Add(8 * 24 * time.Hour), false, false, devicecert.ReasonReplaced, devicecert.StatusExpired},
		{"expiring", e.ca, certOK, e.alice.ID, now.Add(340 * 24 * time.Hour), true, true, devicecert.ReasonOK, devicecert.StatusExpiring},
		{"expired", e.ca, certOK, e.alice.ID, now.Add(400 * 24 * time.Hour), false, false, devicecert.ReasonExpired, ""},
		{"not yet valid", e.ca, certOK, e.alice.ID, now.Add(-time.Hour), false, false, devicecert.ReasonNotYetValid, ""},
		{"foreign CA", e.ca, foreign, e.alice.ID, now, false, false, devicecert.ReasonUntrusted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.ca.Verify(e.ctx, tc.cert, nil, tc.user, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if r.Valid != tc.valid || r.BoundToUser != tc.bound || r.Reason != tc.reason || r.Present != (tc.cert != nil) {
				t.Fatalf("got %+v, want valid=%v bound=%v reason=%s", r, tc.valid, tc.bound, tc.reason)
			}
			if tc.wantState != "" && r.State != tc.wantState {
				t.Errorf("state %q, want %q", r.State, tc.wantState)
			}
		})
	}
	// First bound verification marked the device in use.
	got, _ := e.st.GetDevice(e.ctx, dOK.ID)
	if got.Status != devicecert.StatusInUse || got.FirstSeenAt.IsZero() {
		t.Errorf("after sign-in: status %q first seen %v", got.Status, got.FirstSeenAt)
	}
}

func TestVerifyUnknownSerial(t *testing.T) {
	e := newEnv(t)
	k, err := e.ca.Key(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Signed by our CA key but never stored (e.g. a row deleted by hand): not accepted.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "ghost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.Cert, &priv.PublicKey, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	r, err := e.ca.Verify(e.ctx, cert, nil, e.alice.ID, time.Now())
	if err != nil || r.Valid || r.Reason != devicecert.ReasonUnknown {
		t.Fatalf("got %+v, %v", r, err)
	}
	// A server-auth certificate from the same CA is not a device certificate.
	tmpl.SerialNumber, tmpl.ExtKeyUsage = big.NewInt(100), []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, _ = x509.CreateCertificate(rand.Reader, tmpl, k.Cert, &priv.PublicKey, k.Signer)
	cert, _ = x509.ParseCertificate(der)
	if r, _ := e.ca.Verify(e.ctx, cert, nil, e.alice.ID, time.Now()); r.Valid || r.Reason != devicecert.ReasonUntrusted {
		t.Fatalf("server-auth certificate: %+v", r)
	}
}

func TestCRLAndExport(t *testing.T) {
	e := newEnv(t)
	dRev, _, _ := e.issue(t, e.alice.ID, "lost")
	dKeep, _, _ := e.issue(t, e.alice.ID, "kept")
	if _, err := e.ca.Revoke(e.ctx, dRev.ID); err != nil {
		t.Fatal(err)
	}
	der, err := e.ca.CRL(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := e.ca.CACertificate(e.ctx)
	if err := crl.CheckSignatureFrom(caCert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || devicecert.SerialString(crl.RevokedCertificateEntries[0].SerialNumber) != dRev.Serial {
		t.Fatalf("CRL entries %+v, want only %s", crl.RevokedCertificateEntries, dRev.Serial)
	}
	for _, ref := range []string{dKeep.ID, dKeep.Serial} {
		p, err := e.ca.Export(e.ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(p)
		if b == nil || b.Type != "CERTIFICATE" || string(b.Bytes) != string(dKeep.CertDER) {
			t.Fatalf("export %s: not the device certificate", ref)
		}
	}
}

func TestTLSHandshake(t *testing.T) {
	e := newEnv(t)
	dRev, certRev, privRev := e.issue(t, e.alice.ID, "revoked")
	_, certOK, privOK := e.issue(t, e.alice.ID, "ok")
	if _, err := e.ca.Revoke(e.ctx, dRev.ID); err != nil {
		t.Fatal(err)
	}
	srvCert := serverCert(t)
	cfg := e.ca.TLSConfig(&tls.Config{Certificates: []tls.Certificate{srvCert}, MinVersion: tls.VersionTLS12})
	foreignPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign := selfSignedWith(t, "foreign", foreignPriv)
	cases := []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"no certificate", nil, true},
		{"valid", &tls.Certificate{Certificate: [][]byte{certOK.Raw}, PrivateKey: privOK}, true},
		{"revoked", &tls.Certificate{Certificate: [][]byte{certRev.Raw}, PrivateKey: privRev}, false},
		{"foreign", &tls.Certificate{Certificate: [][]byte{foreign.Raw}, PrivateKey: foreignPriv}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cc := &tls.Config{InsecureSkipVerify: true}
			if tc.cert != nil {
				cert := *tc.cert
				cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			}
			go func() {
				c, err := tls.Dial("tcp", ln.Addr().String(), cc)
				if err == nil {
					c.Close()
				}
			}()
			raw, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(30 * time.Second))
			err = tls.Server(raw, cfg).Handshake()
			if tc.ok && err != nil {
				t.Fatalf("handshake failed: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("handshake accepted a bad certificate")
			}
		})
	}
}

func FuzzDownloadToken(f *testing.F) {
	f.Add("")
	f.Add("6f1c7c1e-8a9e-4b5e-9b7e-1c2d3e4f5a6b.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("....")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := e.ca.Download(e.ctx, tok, time.Now()); !errors.Is(err, devicecert.ErrTokenInvalid) {
			t.Fatalf("Download(%q) = %v, want ErrTokenInvalid", tok, err)
		}
	})
}

// A CA bound to a transaction keeps every setting, and its writes (the CA key made on first
// use, the device row) go with the transaction.
func TestWithStore(t *testing.T) {
	e := newEnv(t)
	e.ca.CRLURL, e.ca.Name, e.ca.DownloadTTL, e.ca.ReplacedGrace = "https://idp.example.com/crl", "Test CA", time.Hour, 3*time.Hour
	err := e.st.InTx(e.ctx, func(tx store.Store) error {
		c := e.ca.WithStore(tx)
		if c.Store != tx || c.Keys.Store != tx || c.Keys == e.ca.Keys {
			t.Fatal("WithStore kept the old store")
		}
		a, b := reflect.ValueOf(e.ca).Elem(), reflect.ValueOf(c).Elem()
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if !f.IsExported() || f.Name == "Store" || f.Name == "Keys" {
				continue
			}
			if f.Type.Kind() == reflect.Func {
				if a.Field(i).Pointer() != b.Field(i).Pointer() {
					t.Errorf("WithStore dropped %s", f.Name)
				}
			} else if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
				t.Errorf("WithStore dropped %s: %v", f.Name, b.Field(i).Interface())
			}
		}
		if _, _, _, err := c.Issue(e.ctx, e.alice.ID, "laptop", "windows", 0); err != nil {
			t.Fatal(err)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("transaction committed")
	}
	if ds, _ := e.ca.List(e.ctx, ""); len(ds) != 0 {
		t.Fatalf("device left by a rolled-back transaction: %+v", ds)
	}
	if ks, _ := e.st.ListSigningKeys(e.ctx, devicecert.PurposeDeviceCA); len(ks) != 0 {
		t.Fatal("CA key left by a rolled-back transaction")
	}
}

// Several nodes (CA instances with their own caches and locks) starting on an empty database
// at the same instant create exactly one device CA; all of them then use it.
func TestCACreatedOnceAcrossNodes(t *testing.T) {
	e := newEnv(t)
	const nodes = 6
	cas := make([]*devicecert.CA, nodes)
	for i := range cas {
		cas[i] = devicecert.New(e.st, keys.NewManager(e.st, e.sealer), e.sealer)
		cas[i].Log = discardLogger()
	}
	serials := make([]string, nodes)
	var wg sync.WaitGroup
	for i, ca := range cas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ca.CACertificate(e.ctx)
			if err != nil {
				t.Error(err)
				return
			}
			serials[i] = c.SerialNumber.String()
		}()
	}
	wg.Wait()
	rows, err := e.st.ListSigningKeys(e.ctx, devicecert.PurposeDeviceCA)
	if err != nil || len(rows) != 1 {
		t.Fatalf("%d device CA keys after %d nodes started at once (%v)", len(rows), nodes, err)
	}
	for i, s := range serials {
		if s != serials[0] {
			t.Fatalf("node %d uses CA %s, node 0 uses %s", i, s, serials[0])
		}
	}
}
