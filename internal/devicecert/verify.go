package devicecert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
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
// device CA with the client-auth usage, validity window, revocation and replacement (read from
// the store), and binding to userID. userID "" (at the TLS handshake, before anyone signed in)
// checks everything but the binding. The error is for infrastructure failures only (callers
// fail closed); a bad certificate is a Result with Valid false and a Reason.
//
// The first verification bound to its user marks the device in use.
func (ca *CA) Verify(ctx context.Context, cert *x509.Certificate, intermediates []*x509.Certificate, userID string, now time.Time) (Result, error) {
	if cert == nil {
		return Result{Reason: ReasonAbsent}, nil
	}
	res := Result{Present: true, Serial: SerialString(cert.SerialNumber)}
	roots, err := ca.Roots(ctx)
	if errors.Is(err, errNoCA) {
		res.Reason = ReasonUntrusted
		return res, nil
	} else if err != nil {
		return res, err
	}
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if len(intermediates) > 0 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
	}
	if _, err := cert.Verify(opts); err != nil {
		var inv x509.CertificateInvalidError
		switch {
		case errors.As(err, &inv) && inv.Reason == x509.Expired && now.Before(cert.NotBefore):
			res.Reason = ReasonNotYetValid
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			res.Reason = ReasonExpired
		default:
			res.Reason = ReasonUntrusted
		}
		return res, nil
	}
	d, err := ca.lookup(ctx, res.Serial, now)
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
		if d.FirstSeenAt.IsZero() {
			ca.markSeen(ctx, d.ID, now)
		}
	default:
		res.Reason = ReasonOtherUser
	}
	return res, nil
}

// lookup reads the device row, at most CacheTTL old.
func (ca *CA) lookup(ctx context.Context, serial string, now time.Time) (store.Device, error) {
	if ca.CacheTTL > 0 {
		ca.cacheMu.Lock()
		c, ok := ca.cache[serial]
		ca.cacheMu.Unlock()
		if ok && time.Since(c.at) < ca.CacheTTL {
			return c.d, nil
		}
	}
	d, err := ca.Store.GetDeviceBySerial(ctx, serial)
	if err != nil {
		return d, err
	}
	if ca.CacheTTL > 0 {
		ca.cacheMu.Lock()
		if ca.cache == nil || len(ca.cache) > 10000 {
			ca.cache = map[string]cachedDevice{}
		}
		ca.cache[serial] = cachedDevice{d: d, at: time.Now()}
		ca.cacheMu.Unlock()
	}
	return d, nil
}

func (ca *CA) forget(serial string) {
	ca.cacheMu.Lock()
	delete(ca.cache, serial)
	ca.cacheMu.Unlock()
}

// ForgetAll drops every cached device row (the store's configuration version moved: a
// revocation made on another node is in force here at once).
func (ca *CA) ForgetAll() {
	ca.cacheMu.Lock()
	clear(ca.cache)
	ca.cacheMu.Unlock()
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
