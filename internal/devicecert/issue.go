package devicecert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/sekisho/sekisho/internal/store"
)

// deviceData is the JSON kept in store.Device.Data.
type deviceData struct {
	UPN          string    `json:"upn,omitempty"`           // the UPN written into the certificate
	P12          []byte    `json:"p12,omitempty"`           // sealed PKCS#12 until downloaded (AAD device-p12:<id>)
	TokenHash    string    `json:"token_hash,omitempty"`    // hex SHA-256 of the download token
	TokenExpires time.Time `json:"token_expires,omitempty"` // end of the download window
	DownloadedAt time.Time `json:"downloaded_at,omitempty"`
	ReplacedAt   time.Time `json:"replaced_at,omitempty"` // when a renewal replaced this certificate
}

func dataOf(d store.Device) (deviceData, error) {
	var dd deviceData
	if len(d.Data) == 0 {
		return dd, nil
	}
	if err := json.Unmarshal(d.Data, &dd); err != nil {
		return dd, fmt.Errorf("device %s: data: %w", d.ID, err)
	}
	return dd, nil
}

func setData(d *store.Device, dd deviceData) error {
	b, err := json.Marshal(dd)
	if err != nil {
		return fmt.Errorf("device %s: encode data: %w", d.ID, err)
	}
	d.Data = b
	return nil
}

func p12AAD(id string) []byte { return []byte("device-p12:" + id) }

// UserURI is the SAN URI that binds a certificate to a user ID.
func UserURI(userID string) string { return "urn:sekisho:user:" + userID }

func checkInput(name, platform string) error {
	if !slices.Contains(Platforms, platform) {
		return fmt.Errorf("platform %q: want one of %s: %w", platform, strings.Join(Platforms, ", "), ErrBadInput)
	}
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("device name is empty: %w", ErrBadInput)
	}
	if utf8.RuneCountInString(name) > maxDeviceNameLength || !utf8.ValidString(name) {
		return fmt.Errorf("device name %q: at most %d characters: %w", name, maxDeviceNameLength, ErrBadInput)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("device name %q has a control character: %w", name, ErrBadInput)
		}
	}
	return nil
}

// Issue creates a certificate for one user and one named device. The key pair is packaged as a
// PKCS#12 protected by the returned one-time password and kept sealed until it is downloaded,
// once, with the returned token (valid DownloadTTL). validity 0 means DefaultValidity.
func (ca *CA) Issue(ctx context.Context, userID, deviceName, platform string, validity time.Duration) (store.Device, string, string, error) {
	if err := checkInput(deviceName, platform); err != nil {
		return store.Device{}, "", "", err
	}
	u, err := ca.Store.GetUser(ctx, userID)
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("issue device certificate: user %s: %w", userID, err)
	}
	d, tok, pw, err := ca.build(ctx, u, deviceName, platform, validity)
	if err != nil {
		return store.Device{}, "", "", err
	}
	if err := ca.Store.CreateDevice(ctx, d); err != nil {
		return store.Device{}, "", "", fmt.Errorf("store device %q: %w", deviceName, err)
	}
	ca.Log.InfoContext(ctx, "device certificate issued", "user", u.UPN, "device", deviceName, "serial", d.Serial, "id", d.ID)
	return d, tok, pw, nil
}

// build makes the certificate, the sealed PKCS#12 and the device row (not yet stored).
func (ca *CA) build(ctx context.Context, u store.User, name, platform string, validity time.Duration) (store.Device, string, string, error) {
	if validity <= 0 {
		validity = ca.DefaultValidity
	}
	k, err := ca.Key(ctx)
	if err != nil {
		return store.Device{}, "", "", err
	}
	now := ca.Now().UTC()
	id := uuid.NewString()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("generate device key: %w", err)
	}
	userURI, err := url.Parse(UserURI(u.ID))
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("user URI: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Sekisho device"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		URIs:                  []*url.URL{userURI},
		EmailAddresses:        []string{u.UPN},
	}
	if ca.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{ca.CRLURL}
	}
	if tmpl.NotAfter.After(k.Cert.NotAfter) {
		tmpl.NotAfter = k.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.Cert, &priv.PublicKey, k.Signer)
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("sign device certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("parse device certificate: %w", err)
	}
	pw := oneTimePassword()
	// Legacy (3DES/SHA-1) PKCS#12 is what every supported platform imports, including older
	// macOS/iOS/Android key stores that reject AES-based files; the 100-bit random password
	// keeps the weak KDF out of reach, and the file exists only until its single download.
	// The CA certificate is left out so that no platform offers to install it as a root.
	p12, err := pkcs12.Legacy.Encode(priv, cert, nil, pw)
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("package device certificate: %w", err)
	}
	sealed, err := ca.Sealer.Seal(p12, p12AAD(id))
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("seal device package: %w", err)
	}
	tok, hash := downloadToken(id)
	d := store.Device{ID: id, UserID: u.ID, Name: name, Platform: platform, Serial: SerialString(cert.SerialNumber),
		Status: StatusIssued, CertDER: der, NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), IssuedAt: now}
	if err := setData(&d, deviceData{UPN: u.UPN, P12: sealed, TokenHash: hash, TokenExpires: now.Add(ca.DownloadTTL)}); err != nil {
		return store.Device{}, "", "", err
	}
	return d, tok, pw, nil
}

// passwordAlphabet has 32 symbols without look-alikes (0/o, 1/l), typeable on any phone.
const passwordAlphabet = "23456789abcdefghijkmnpqrstuvwxyz"

// oneTimePassword returns 20 symbols (100 bits) in groups of five: "xxxxx-xxxxx-xxxxx-xxxxx".
func oneTimePassword() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%5 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(passwordAlphabet[c&31])
	}
	return sb.String()
}

// downloadToken returns "<deviceID>.<secret>" and the hex SHA-256 to store. The ID prefix finds
// the row; only the hash is kept.
func downloadToken(id string) (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	token = id + "." + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

// parseToken returns the device ID a download token names.
func parseToken(token string) (string, bool) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || uuid.Validate(id) != nil || len(secret) != 43 {
		return "", false
	}
	return id, true
}

func hashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// Download returns the PKCS#12 of the token's device, once. Afterwards the sealed package is
// gone from the store.
func (ca *CA) Download(ctx context.Context, token string, now time.Time) ([]byte, error) {
	id, ok := parseToken(token)
	if !ok {
		return nil, ErrTokenInvalid
	}
	d, err := ca.Store.GetDevice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrTokenInvalid
	} else if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	dd, err := dataOf(d)
	if err != nil {
		return nil, err
	}
	if dd.TokenHash == "" {
		if !dd.DownloadedAt.IsZero() {
			return nil, ErrAlreadyDownload
		}
		return nil, ErrTokenInvalid
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(dd.TokenHash)) != 1 || !now.Before(dd.TokenExpires) {
		return nil, ErrTokenInvalid
	}
	if d.Status == StatusRevoked {
		return nil, fmt.Errorf("device %s is revoked: %w", d.Name, ErrState)
	}
	fresh, err := ca.Store.UseOnce(ctx, "device-download:"+d.ID, dd.TokenExpires)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if !fresh {
		return nil, ErrAlreadyDownload
	}
	var p12 []byte
	_, err = ca.Store.UpdateDevice(ctx, d.ID, func(d store.Device) (store.Device, error) {
		dd, err := dataOf(d)
		if err != nil {
			return d, err
		}
		if len(dd.P12) == 0 {
			return d, ErrAlreadyDownload
		}
		if p12, err = ca.Sealer.Open(dd.P12, p12AAD(d.ID)); err != nil {
			return d, fmt.Errorf("open device package: %w", err)
		}
		dd.P12, dd.TokenHash, dd.TokenExpires, dd.DownloadedAt = nil, "", time.Time{}, now.UTC()
		if d.Status == StatusIssued {
			d.Status = StatusDownloaded
		}
		return d, setData(&d, dd)
	})
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	ca.Log.InfoContext(ctx, "device certificate downloaded", "device", d.Name, "serial", d.Serial)
	return p12, nil
}

// Renew issues a replacement for device id (same user, name and platform). The old certificate
// keeps working for ReplacedGrace, then counts as expired.
func (ca *CA) Renew(ctx context.Context, id string, validity time.Duration) (store.Device, string, string, error) {
	old, err := ca.Store.GetDevice(ctx, id)
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("renew device %s: %w", id, err)
	}
	if st := ca.State(old, ca.Now()); st == StatusRevoked || st == StatusReplaced || old.ReplacedBy != "" {
		return store.Device{}, "", "", fmt.Errorf("renew device %s (%s): renew the newest certificate instead: %w", id, st, ErrState)
	}
	u, err := ca.Store.GetUser(ctx, old.UserID)
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("renew device %s: user: %w", id, err)
	}
	nd, tok, pw, err := ca.build(ctx, u, old.Name, old.Platform, validity)
	if err != nil {
		return store.Device{}, "", "", err
	}
	now := ca.Now().UTC()
	err = ca.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateDevice(ctx, nd); err != nil {
			return fmt.Errorf("store renewal: %w", err)
		}
		_, err := tx.UpdateDevice(ctx, id, func(d store.Device) (store.Device, error) {
			if d.Status == StatusRevoked || d.ReplacedBy != "" {
				return d, fmt.Errorf("device %s changed meanwhile: %w", id, ErrState)
			}
			dd, err := dataOf(d)
			if err != nil {
				return d, err
			}
			dd.ReplacedAt, dd.P12, dd.TokenHash = now, nil, ""
			d.Status, d.ReplacedBy = StatusReplaced, nd.ID
			return d, setData(&d, dd)
		})
		return err
	})
	if err != nil {
		return store.Device{}, "", "", fmt.Errorf("renew device %s: %w", id, err)
	}
	ca.forget(old.Serial)
	ca.Log.InfoContext(ctx, "device certificate renewed", "device", old.Name, "old_serial", old.Serial, "serial", nd.Serial)
	return nd, tok, pw, nil
}

// Revoke revokes device id at once (every node sees it within CacheTTL). Revoking a revoked
// device changes nothing.
func (ca *CA) Revoke(ctx context.Context, id string) (store.Device, error) {
	now := ca.Now().UTC()
	d, err := ca.Store.UpdateDevice(ctx, id, func(d store.Device) (store.Device, error) {
		if d.Status == StatusRevoked {
			return d, nil
		}
		dd, err := dataOf(d)
		if err != nil {
			return d, err
		}
		dd.P12, dd.TokenHash = nil, ""
		d.Status, d.RevokedAt = StatusRevoked, now
		return d, setData(&d, dd)
	})
	if err != nil {
		return d, fmt.Errorf("revoke device %s: %w", id, err)
	}
	ca.forget(d.Serial)
	ca.Log.WarnContext(ctx, "device certificate revoked", "device", d.Name, "serial", d.Serial, "id", d.ID)
	return d, nil
}

// List returns the devices of a user ("" = every device), oldest first.
func (ca *CA) List(ctx context.Context, userID string) ([]store.Device, error) {
	ds, err := ca.Store.ListDevices(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// Get finds a device by ID or by serial (hex).
func (ca *CA) Get(ctx context.Context, ref string) (store.Device, error) {
	d, err := ca.Store.GetDevice(ctx, ref)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	return ca.Store.GetDeviceBySerial(ctx, strings.ToLower(strings.TrimLeft(ref, "0")))
}

// Export returns the certificate of device ref (ID or serial) as PEM.
func (ca *CA) Export(ctx context.Context, ref string) ([]byte, error) {
	d, err := ca.Get(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("export device %s: %w", ref, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.CertDER}), nil
}

// State is the device's lifecycle state at now, including the derived ones (expiring, and
// expired for a replaced certificate whose grace ended).
func (ca *CA) State(d store.Device, now time.Time) string {
	switch {
	case d.Status == StatusRevoked || !d.RevokedAt.IsZero():
		return StatusRevoked
	case d.Status == StatusExpired || !now.Before(d.NotAfter):
		return StatusExpired
	case d.Status == StatusReplaced:
		dd, _ := dataOf(d)
		if !now.Before(dd.ReplacedAt.Add(ca.ReplacedGrace)) {
			return StatusExpired
		}
		return StatusReplaced
	case !now.Before(d.NotAfter.Add(-ca.RenewalWindow)):
		return StatusExpiring
	}
	return d.Status
}
