// Package bridgefake has the fakes the mail bridge doors' unit tests share: a gate that
// judges app passwords from a table and keeps its sign-in records, the few store methods a
// bridge.Door uses, fixed access tokens, and a TLS certificate for loopback.
package bridgefake

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Account is one app password the fake gate knows.
type Account struct {
	Password   string
	User       store.User
	Credential store.BridgeCredential
	// Deny, when set, is the reason the gate refuses the login (signin.ReasonPolicy for the
	// policy); Temporary makes the gate fail instead (its decision "error").
	Deny      signin.Reason
	Temporary bool
}

// Record is one sign-in record the fake gate wrote.
type Record struct {
	ID, Protocol, Username, Decision, Reason string
}

// Gate is a bridge.Checker and bridge.Recorder over a table of accounts (by user name). The
// credential's scope, revocation and expiry are judged as the real gate does
// (apppassword.Opens), from the Store's current copy.
type Gate struct {
	Store *Store

	mu       sync.Mutex
	accounts map[string]Account
	records  []Record
}

// NewGate returns a gate with its store.
func NewGate() *Gate {
	return &Gate{Store: &Store{creds: map[string]store.BridgeCredential{}, users: map[string]store.User{}},
		accounts: map[string]Account{}}
}

// Add registers an account (its user and credential go to the store) and returns it.
func (g *Gate) Add(a Account) Account {
	if a.User.ID == "" {
		a.User.ID = "u-" + a.User.UPN
	}
	if a.User.Status == "" {
		a.User.Status = store.UserActive
	}
	if a.Credential.ID == "" {
		a.Credential.ID = "c-" + a.Password
	}
	if a.Credential.Name == "" {
		a.Credential.Name = "device"
	}
	if a.Credential.ExpiresAt.IsZero() {
		a.Credential.ExpiresAt = time.Now().Add(time.Hour)
	}
	a.Credential.UserID = a.User.ID
	g.mu.Lock()
	g.accounts[a.User.UPN+"\x00"+a.Password] = a
	g.mu.Unlock()
	g.Store.put(a.User, a.Credential)
	return a
}

// Check implements bridge.Checker.
func (g *Gate) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	g.mu.Lock()
	acct, ok := g.accounts[a.Username+"\x00"+a.Password]
	g.mu.Unlock()
	o := signin.Outcome{Decision: signin.Deny}
	switch {
	case !a.AppPassword:
		o.Reason = signin.ReasonRejected
	case !ok:
		o.Reason = signin.ReasonWrongPassword
	case acct.Temporary:
		o.Decision, o.Reason = signin.Error, signin.ReasonDirectoryError
	case acct.Deny != "":
		o.Reason = acct.Deny
	default:
		cred, _ := g.Store.GetBridgeCredential(context.Background(), acct.Credential.ID)
		if r := apppassword.Opens(cred, a.Protocol, time.Now()); r != "" {
			o.Reason = r
			break
		}
		o = signin.Outcome{Allowed: true, Decision: signin.Allow, Reason: signin.ReasonPolicy, User: acct.User, Credential: cred}
	}
	o.EventID = g.record(a.Protocol, a.Username, string(o.Decision), string(o.Reason))
	return o, nil
}

// RecordRejectedFor implements bridge.Recorder, as the real gate does (decision error,
// reason rejected_request: …).
func (g *Gate) RecordRejectedFor(_ context.Context, _ *http.Request, protocol, _, username, reason string) string {
	return g.record(protocol, username, string(signin.Error), string(signin.ReasonRejected)+": "+reason)
}

func (g *Gate) record(protocol, username, decision, reason string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := fmt.Sprintf("ev-%d", len(g.records)+1)
	g.records = append(g.records, Record{ID: id, Protocol: protocol, Username: username, Decision: decision, Reason: reason})
	return id
}

// Records returns the sign-in records written so far.
func (g *Gate) Records() []Record {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Record(nil), g.records...)
}

// Last returns the newest record (the zero Record when there is none).
func (g *Gate) Last() Record {
	r := g.Records()
	if len(r) == 0 {
		return Record{}
	}
	return r[len(r)-1]
}

// Store is the part of store.Store a bridge.Door uses; every other method panics.
type Store struct {
	store.Store

	mu    sync.Mutex
	creds map[string]store.BridgeCredential
	users map[string]store.User
}

func (s *Store) put(u store.User, c store.BridgeCredential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
	s.creds[c.ID] = c
}

// GetBridgeCredential implements store.Store.
func (s *Store) GetBridgeCredential(_ context.Context, id string) (store.BridgeCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[id]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

// UpdateBridgeCredential implements store.Store.
func (s *Store) UpdateBridgeCredential(_ context.Context, id string, fn func(store.BridgeCredential) (store.BridgeCredential, error)) (store.BridgeCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[id]
	if !ok {
		return c, store.ErrNotFound
	}
	c, err := fn(c)
	if err != nil {
		return c, err
	}
	s.creds[id] = c
	return c, nil
}

// GetUser implements store.Store.
func (s *Store) GetUser(_ context.Context, id string) (store.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return u, store.ErrNotFound
	}
	return u, nil
}

// Revoke revokes the credential with id.
func (s *Store) Revoke(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.creds[id]
	c.RevokedAt = time.Now()
	s.creds[id] = c
}

// Door returns a door judging at g.
func (g *Gate) Door() *bridge.Door {
	return &bridge.Door{Gate: g, Recorder: g, Store: g.Store, Log: slog.New(slog.DiscardHandler)}
}

// Tokens hands out "token-for-" + the user's UPN, or fails with Err.
type Tokens struct{ Err error }

// Token implements bridge.Tokens.
func (t Tokens) Token(_ context.Context, l bridge.Login) (string, error) {
	if t.Err != nil {
		return "", t.Err
	}
	return TokenFor(l.User.UPN), nil
}

// TokenFor is the token Tokens hands out for upn.
func TokenFor(upn string) string { return "token-for-" + upn }

// TLS is a certificate for localhost and 127.0.0.1, self-signed.
type TLS struct {
	Server *tls.Config // the certificate
	Client *tls.Config // trusts it, ServerName unset (an Upstream's TLSConfig fills it in)
	Pool   *x509.CertPool
}

// NewTLS makes a fresh certificate.
func NewTLS(t testing.TB) TLS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return TLS{
		Server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12},
		Client: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Pool:   pool,
	}
}

// Listen opens a loopback listener closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// ReadLine reads one line a door sent, without its line end; a read error fails the test,
// naming what was read.
func ReadLine(t testing.TB, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}
