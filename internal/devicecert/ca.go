// Package devicecert runs Sekisho's device certificate authority: it issues client-
// authentication certificates bound to one user and one named device, hands the key pair out
// once as a password-protected PKCS#12, renews, revokes, publishes a CRL, and verifies
// presented certificates for the TLS listener and the gate.
//
// Binding a certificate to its user: Go's x509 package cannot write the Microsoft UPN
// otherName without hand-made ASN.1, so the certificate carries the stable user ID as a URI
// SAN (urn:sekisho:user:<userID>, which survives a UPN rename) and the UPN as an rfc822Name
// (so clients that pick certificates by e-mail address show the right one). Verification does
// not trust either: the device row found by serial, whose certificate must match byte for byte,
// says whom the certificate belongs to.
//
// Revocation is read from the store on every verification (at most CacheTTL old, a few
// seconds, and dropped at once by ForgetAll when the store's configuration version moves), so
// a revoke on one node takes effect on every node without CRL distribution. The chain check
// itself (signatures up to the device CA) is remembered per certificate fingerprint: a
// certificate seen again skips it, but never the revocation read, the validity window or the
// check that its CA is still published.
package devicecert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
)

// Where Sekisho publishes the device CA: its revocation list and certificate, and the prefix
// of the one-time download link (followed by the token) a device's owner opens, signed in.
const (
	CRLPath      = "/pki/device-ca.crl"
	CAPath       = "/pki/device-ca.pem"
	DownloadPath = "/devices/download/"
)

// PurposeDeviceCA is the keys.Manager purpose of the device CA key.
const PurposeDeviceCA = "device-ca"

// Device statuses as stored. "expiring" is not stored: State derives it from the dates.
const (
	StatusIssued     = "issued"     // created, PKCS#12 waiting for download
	StatusDownloaded = "downloaded" // PKCS#12 fetched, not yet seen at a sign-in
	StatusInUse      = "in-use"     // seen at a sign-in
	StatusExpiring   = "expiring"   // derived: within the renewal window before NotAfter
	StatusReplaced   = "replaced"   // renewed; still accepted until the grace period ends
	StatusRevoked    = "revoked"
	StatusExpired    = "expired" // derived (or stored by tools): past NotAfter or past the grace
)

// Platforms a certificate can be issued for.
var Platforms = []string{"windows", "macos", "ios", "android"}

// Errors callers can test with errors.Is.
var (
	ErrBadInput         = errors.New("invalid input")
	ErrTokenInvalid     = errors.New("download token invalid or expired")
	ErrAlreadyDownload  = errors.New("certificate package already downloaded")
	ErrState            = errors.New("not possible in the device's state")
	errNoCA             = errors.New("no device CA")
	defaultValidity     = 365 * 24 * time.Hour
	defaultRenewal      = 30 * 24 * time.Hour
	defaultGrace        = 7 * 24 * time.Hour
	defaultDownloadTTL  = 72 * time.Hour
	defaultCacheTTL     = 2 * time.Second
	defaultChainCache   = 10000
	defaultCRLLifetime  = 24 * time.Hour
	caValidity          = 20 * 365 * 24 * time.Hour
	maxDeviceNameLength = 64
)

// CA issues and verifies device certificates. The zero value is not usable; use New.
type CA struct {
	Store  store.Store
	Keys   *keys.Manager
	Sealer *secrets.Sealer
	Now    func() time.Time
	Log    *slog.Logger

	Name            string        // CA subject common name
	DefaultValidity time.Duration // when Issue is given 0
	RenewalWindow   time.Duration // how long before NotAfter a certificate counts as expiring
	ReplacedGrace   time.Duration // how long a renewed certificate keeps working
	DownloadTTL     time.Duration // how long a download token is valid
	CacheTTL        time.Duration // how old a device row read for verification may be (0 = read every time)
	ChainCacheSize  int           // how many verified certificate chains are remembered (0 = verify every chain)
	CRLLifetime     time.Duration // NextUpdate - ThisUpdate of the CRL
	CRLURL          string        // written into issued certificates as the CRL distribution point, if set

	createMu sync.Mutex
	cacheMu  sync.Mutex
	cache    map[string]cachedDevice
	cacheGen uint64 // moved by forget and ForgetAll: a row read before it is not cached
	chains   chainCache
	seenMu   sync.Mutex
	seenTry  map[string]time.Time // device ID → when marking it in use was last attempted
}

type cachedDevice struct {
	d  store.Device
	at time.Time
}

// New returns a CA with the default lifetimes (365 d validity, 30 d renewal window, 7 d grace,
// 72 h download tokens, 2 s revocation cache, 10,000 verified chains remembered).
func New(s store.Store, km *keys.Manager, sealer *secrets.Sealer) *CA {
	return &CA{Store: s, Keys: km, Sealer: sealer, Now: time.Now, Log: slog.Default(),
		Name: "Sekisho Device CA", DefaultValidity: defaultValidity, RenewalWindow: defaultRenewal,
		ReplacedGrace: defaultGrace, DownloadTTL: defaultDownloadTTL, CacheTTL: defaultCacheTTL,
		ChainCacheSize: defaultChainCache, CRLLifetime: defaultCRLLifetime, cache: map[string]cachedDevice{}}
}

// WithStore returns a CA with the same keys, sealer and settings on another store (a
// transaction), so that a device change and its admin audit entry commit together. Its
// revocation cache starts empty; ca's own catches up within CacheTTL, like another node's.
func (ca *CA) WithStore(s store.Store) *CA {
	c := New(s, ca.Keys.WithStore(s), ca.Sealer)
	c.Now, c.Log, c.Name, c.CRLURL = ca.Now, ca.Log, ca.Name, ca.CRLURL
	c.DefaultValidity, c.RenewalWindow, c.ReplacedGrace = ca.DefaultValidity, ca.RenewalWindow, ca.ReplacedGrace
	c.DownloadTTL, c.CacheTTL, c.CRLLifetime = ca.DownloadTTL, ca.CacheTTL, ca.CRLLifetime
	c.ChainCacheSize = ca.ChainCacheSize
	return c
}

// Key returns the current CA key, creating it on first use.
func (ca *CA) Key(ctx context.Context) (keys.Key, error) {
	k, err := ca.Keys.Current(ctx, PurposeDeviceCA)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return keys.Key{}, fmt.Errorf("device CA: %w", err)
	}
	// Created under a store lock, in one transaction: several nodes starting on an empty
	// database at the same instant create exactly one CA (the others find it).
	ca.createMu.Lock()
	defer ca.createMu.Unlock()
	var out keys.Key
	err = ca.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Lock(ctx, "device-ca:create"); err != nil {
			return err
		}
		t := ca.WithStore(tx)
		k, err := t.Keys.Current(ctx, PurposeDeviceCA)
		if err == nil {
			out = k
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		out, err = t.create(ctx)
		return err
	})
	if err != nil {
		return keys.Key{}, fmt.Errorf("device CA: %w", err)
	}
	ca.Keys.Invalidate(PurposeDeviceCA) // it may have cached "no CA yet"
	return out, nil
}

func (ca *CA) create(ctx context.Context) (keys.Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keys.Key{}, fmt.Errorf("generate device CA key: %w", err)
	}
	now := ca.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: ca.Name, Organization: []string{"Sekisho"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return keys.Key{}, fmt.Errorf("create device CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keys.Key{}, fmt.Errorf("parse device CA certificate: %w", err)
	}
	id, err := ca.Keys.Add(ctx, PurposeDeviceCA, store.KeyCurrent, priv, cert)
	if err != nil {
		return keys.Key{}, fmt.Errorf("store device CA key: %w", err)
	}
	ca.Log.InfoContext(ctx, "device CA created", "key", id, "subject", cert.Subject.String())
	return keys.Key{ID: id, State: store.KeyCurrent, Signer: priv, Cert: cert}, nil
}

// Roots returns a pool of every device CA certificate (current and any older one), so that
// certificates issued before a CA change keep verifying until they expire.
func (ca *CA) Roots(ctx context.Context) (*x509.CertPool, error) {
	certs, err := ca.Keys.Published(ctx, PurposeDeviceCA)
	if err != nil {
		return nil, fmt.Errorf("device CA certificates: %w", err)
	}
	if len(certs) == 0 {
		return nil, errNoCA
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// CACertificate returns the current CA certificate (creating the CA on first use), e.g. for
// publishing it or trusting it on a reverse proxy.
func (ca *CA) CACertificate(ctx context.Context) (*x509.Certificate, error) {
	k, err := ca.Key(ctx)
	if err != nil {
		return nil, err
	}
	return k.Cert, nil
}

// randomSerial returns a uniformly random positive 128-bit serial.
func randomSerial() *big.Int {
	for {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
		n := new(big.Int).SetBytes(b)
		if n.Sign() > 0 {
			return n
		}
	}
}

// SerialString is how a serial is written in the store and the sign-in log (lower-case hex).
func SerialString(n *big.Int) string { return n.Text(16) } // as fmt's %x, without fmt's cost
