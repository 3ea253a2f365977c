package devicecert

import (
	"bytes"
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Reason codes of a verification, stable for logs and policy traces.
const (
	ReasonOK          = "ok"
	ReasonGrace       = "ok_replaced_grace" // valid: replaced, grace period still running
	ReasonAbsent      = "absent"
	ReasonUntrusted   = "untrusted"     // does not chain to the device CA (or wrong usage)
	ReasonUnknown     = "unknown"       // chains to the CA but no such device in the store
	ReasonNotYetValid = "not_yet_valid" // before NotBefore
	ReasonExpired     = "expired"
	ReasonReplaced    = "replaced" // renewed and the grace period ended
	ReasonRevoked     = "revoked"
	ReasonOtherUser   = "other_user" // valid, but issued to another user than the one signing in
)

// Result is the outcome of Verify.
type Result struct {
	Present     bool
	Valid       bool // issued by our CA, in its validity window, not revoked, not past a replacement's grace
	BoundToUser bool // issued to the user signing in
	Serial      string
	DeviceID    string
	DeviceName  string
	UserID      string // the owner of the certificate (from the store)
	State       string // lifecycle state (State), e.g. "expiring" asks for a renewal
	Reason      string
}

// Verify checks a presented client certificate for userID signing in at now: chain to the
// device CA with the client-authentication usage, validity window, revocation and replacement
// (read from the store), and binding to userID. userID "" (at the TLS handshake, before anyone
// signed in) checks everything but the binding. The error is for infrastructure failures only
// (callers fail closed); a bad certificate is a Result with Valid false and a Reason.
//
// A chain that verified is remembered by fingerprint (ChainCacheSize): the same certificate
// with the same intermediates skips the signature checks while now is inside every validity
// window of the chain and its CA certificate is still published. The device row (revocation,
// replacement, owner) is read as always, at most CacheTTL old.
//
// The first verification bound to its user marks the device in use.
func (ca *CA) Verify(ctx context.Context, cert *x509.Certificate, intermediates []*x509.Certificate, userID string, now time.Time) (Result, error) {
	if cert == nil {
		return Result{Reason: ReasonAbsent}, nil
	}
	res := Result{Present: true, Serial: SerialString(cert.SerialNumber)}
	reason, err := ca.verifyChain(ctx, cert, intermediates, now)
	if err != nil {
		return res, err
	}
	if reason != "" {
		res.Reason = reason
		return res, nil
	}
	d, err := ca.lookup(ctx, res.Serial)
	if errors.Is(err, store.ErrNotFound) {
		res.Reason = ReasonUnknown
		return res, nil
	} else if err != nil {
		return res, fmt.Errorf("device certificate %s: %w", res.Serial, err)
	}
	if !bytes.Equal(d.CertDER, cert.Raw) {
		res.Reason = ReasonUnknown // same serial, another certificate: not ours
		return res, nil
	}
	res.DeviceID, res.DeviceName, res.UserID = d.ID, d.Name, d.UserID
	res.State = ca.State(d, now)
	switch res.State {
	case StatusRevoked:
		res.Reason = ReasonRevoked
		return res, nil
	case StatusExpired:
		res.Reason = ReasonExpired
		if d.Status == StatusReplaced && now.Before(d.NotAfter) {
			res.Reason = ReasonReplaced
		}
		return res, nil
	case StatusReplaced:
		res.Valid, res.Reason = true, ReasonGrace
	default:
		res.Valid, res.Reason = true, ReasonOK
	}
	switch {
	case userID == "":
	case userID == d.UserID:
		res.BoundToUser = true
		if d.FirstSeenAt.IsZero() && ca.tryMarkSeen(d.ID) {
			ca.markSeen(ctx, d.ID, now)
		}
	default:
		res.Reason = ReasonOtherUser
	}
	return res, nil
}

// verifyChain checks that cert chains to a published device CA certificate at now with the
// client-authentication usage: "" when it does, else the reason. A chain found before is not
// verified again (see Verify).
func (ca *CA) verifyChain(ctx context.Context, cert *x509.Certificate, intermediates []*x509.Certificate, now time.Time) (string, error) {
	published, err := ca.Keys.Published(ctx, PurposeDeviceCA)
	if err != nil {
		return "", fmt.Errorf("device CA certificates: %w", err)
	}
	if len(published) == 0 {
		return ReasonUntrusted, nil
	}
	var key [sha256.Size]byte
	if ca.ChainCacheSize > 0 {
		key = chainKey(cert, intermediates)
		if ca.chains.valid(key, published, now) {
			return "", nil
		}
	}
	opts := x509.VerifyOptions{Roots: x509.NewCertPool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range published {
		opts.Roots.AddCert(c)
	}
	if len(intermediates) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := cert.Verify(opts)
	if err != nil {
		var inv x509.CertificateInvalidError
		switch {
		case errors.As(err, &inv) && inv.Reason == x509.Expired && now.Before(cert.NotBefore):
			return ReasonNotYetValid, nil
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			return ReasonExpired, nil
		default:
			return ReasonUntrusted, nil
		}
	}
	if ca.ChainCacheSize > 0 && len(chains) > 0 {
		ca.chains.add(key, chains[0], ca.ChainCacheSize)
	}
	return "", nil
}

// chainKey is the fingerprint of a presented chain: SHA-256 over the leaf's DER and each
// intermediate's, each preceded by its length.
func chainKey(cert *x509.Certificate, intermediates []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [4]byte
	for _, c := range append([]*x509.Certificate{cert}, intermediates...) {
		binary.BigEndian.PutUint32(n[:], uint32(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// chainCache remembers chains that verified, least recently used first out. Only chains that
// verified are kept (making one takes the CA's key), so strangers cannot fill it.
type chainCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]*list.Element // of *verifiedChain
	order   list.List                           // most recently used at the front
}

type verifiedChain struct {
	key       [sha256.Size]byte
	root      []byte    // DER of the CA certificate the chain ends at
	notBefore time.Time // the latest NotBefore of the chain
	notAfter  time.Time // the earliest NotAfter of the chain
}

// valid reports whether the chain key verified before and still would at now: inside every
// validity window of the chain, its CA certificate among published.
func (c *chainCache) valid(key [sha256.Size]byte, published []*x509.Certificate, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return false
	}
	v := e.Value.(*verifiedChain)
	if now.After(v.notAfter) {
		c.order.Remove(e)
		delete(c.entries, key)
		return false
	}
	if now.Before(v.notBefore) {
		return false
	}
	for _, p := range published {
		if bytes.Equal(p.Raw, v.root) {
			c.order.MoveToFront(e)
			return true
		}
	}
	return false
}

func (c *chainCache) add(key [sha256.Size]byte, chain []*x509.Certificate, size int) {
	v := &verifiedChain{key: key, root: chain[len(chain)-1].Raw}
	for i, cert := range chain {
		if i == 0 || cert.NotBefore.After(v.notBefore) {
			v.notBefore = cert.NotBefore
		}
		if i == 0 || cert.NotAfter.Before(v.notAfter) {
			v.notAfter = cert.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]*list.Element{}
	}
	if e, ok := c.entries[key]; ok {
		e.Value = v
		c.order.MoveToFront(e)
		return
	}
	c.entries[key] = c.order.PushFront(v)
	for len(c.entries) > size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*verifiedChain).key)
	}
}

func (c *chainCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// lookup reads the device row, at most CacheTTL old by the CA's clock. A row read while
// forget or ForgetAll ran is used but not cached: it may predate the change they announce.
func (ca *CA) lookup(ctx context.Context, serial string) (store.Device, error) {
	if ca.CacheTTL <= 0 {
		return ca.Store.GetDeviceBySerial(ctx, serial)
	}
	at := ca.Now()
	ca.cacheMu.Lock()
	c, ok := ca.cache[serial]
	gen := ca.cacheGen
	ca.cacheMu.Unlock()
	if age := at.Sub(c.at); ok && age >= 0 && age < ca.CacheTTL {
		return c.d, nil
	}
	d, err := ca.Store.GetDeviceBySerial(ctx, serial)
	if err != nil {
		return d, err
	}
	ca.cacheMu.Lock()
	if ca.cacheGen == gen {
		if ca.cache == nil || len(ca.cache) >= maxCachedDevices {
			ca.cache = map[string]cachedDevice{}
		}
		ca.cache[serial] = cachedDevice{d: d, at: at} // as old as the moment the read began
	}
	ca.cacheMu.Unlock()
	return d, nil
}

const (
	maxCachedDevices = 10000
	seenRetry        = time.Minute // between two attempts to mark one device in use
)

func (ca *CA) forget(serial string) {
	ca.cacheMu.Lock()
	delete(ca.cache, serial)
	ca.cacheGen++
	ca.cacheMu.Unlock()
}

// ForgetAll drops every cached device row (the store's configuration version moved: a
// revocation made on another node is in force here at once). Verified chains are kept: they
// depend on no row, and the CA certificates they end at are checked at every use.
func (ca *CA) ForgetAll() {
	ca.cacheMu.Lock()
	clear(ca.cache)
	ca.cacheGen++
	ca.cacheMu.Unlock()
}

// tryMarkSeen reports whether this verification should write the device's first use: at most
// one attempt per device per seenRetry, so sign-ins racing on a row cached before the first
// write (or a store refusing writes) do not write on every verification.
func (ca *CA) tryMarkSeen(id string) bool {
	now := ca.Now()
	ca.seenMu.Lock()
	defer ca.seenMu.Unlock()
	if t, ok := ca.seenTry[id]; ok && now.Sub(t) >= 0 && now.Sub(t) < seenRetry {
		return false
	}
	if ca.seenTry == nil || len(ca.seenTry) >= maxCachedDevices {
		ca.seenTry = map[string]time.Time{}
	}
	ca.seenTry[id] = now
	return true
}

// markSeen records the first sign-in with the certificate. A failure is logged, not fatal:
// the sign-in itself is not affected by the bookkeeping.
func (ca *CA) markSeen(ctx context.Context, id string, now time.Time) {
	d, err := ca.Store.UpdateDevice(ctx, id, func(d store.Device) (store.Device, error) {
		if d.FirstSeenAt.IsZero() {
			d.FirstSeenAt = now.UTC()
		}
		if d.Status == StatusIssued || d.Status == StatusDownloaded {
			d.Status = StatusInUse
		}
		return d, nil
	})
	if err != nil {
		ca.Log.WarnContext(ctx, "mark device in use", "device", id, "err", err)
		return
	}
	ca.forget(d.Serial)
}

// TLSConfig returns a copy of base for the mTLS listener: a client certificate is requested
// but optional (policy decides whether one is required), and one that is presented must be a
// valid device certificate (chain, validity, not revoked) or the handshake fails. The accepted
// CA names are sent so that browsers offer only device certificates.
func (ca *CA) TLSConfig(base *tls.Config) *tls.Config {
	cfg := base.Clone()
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	// RequestClientCert, not VerifyClientCertIfGiven: the roots come from the store (a CA
	// created later must count without a restart) and revocation is checked below anyway.
	cfg.ClientAuth = tls.RequestClientCert
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := ca.Verify(ctx, cs.PeerCertificates[0], cs.PeerCertificates[1:], "", ca.Now())
		if err != nil {
			return fmt.Errorf("device certificate check unavailable: %w", err)
		}
		if !res.Valid {
			return fmt.Errorf("device certificate %s rejected: %s", res.Serial, res.Reason)
		}
		return nil
	}
	if cfg.ClientCAs == nil {
		if pool, err := ca.Roots(context.Background()); err == nil {
			cfg.ClientCAs = pool
		}
	}
	return cfg
}

// CRL returns a DER certificate revocation list signed by the current CA key: revoked
// certificates (reason unspecified) and replaced ones past their grace (superseded), omitting
// those past NotAfter.
func (ca *CA) CRL(ctx context.Context) ([]byte, error) {
	k, err := ca.Key(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := ca.Store.ListDevices(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("crl: %w", err)
	}
	now := ca.Now().UTC()
	var entries []x509.RevocationListEntry
	for _, d := range ds {
		if !now.Before(d.NotAfter) {
			continue
		}
		serial, ok := new(big.Int).SetString(d.Serial, 16)
		if !ok {
			continue
		}
		switch ca.State(d, now) {
		case StatusRevoked:
			entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: d.RevokedAt.UTC()})
		case StatusExpired: // replaced, grace over
			dd, _ := dataOf(d)
			entries = append(entries, x509.RevocationListEntry{SerialNumber: serial,
				RevocationTime: dd.ReplacedAt.Add(ca.ReplacedGrace).UTC(), ReasonCode: 4}) // superseded
		}
	}
	tmpl := &x509.RevocationList{
		Issuer:                    k.Cert.Subject,
		RevokedCertificateEntries: entries,
		Number:                    big.NewInt(now.UnixNano()), // increases across nodes with sane clocks
		ThisUpdate:                now,
		NextUpdate:                now.Add(ca.CRLLifetime),
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, k.Cert, k.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign crl: %w", err)
	}
	return der, nil
}
