package setup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/store"
)

// EnsureKeys creates what a node needs to serve and the store does not hold yet: the
// token-signing keys (RSA and ES256) and the managed TLS CA with its server certificate. It runs in one
// transaction under a store lock, so nodes starting together on an empty database create
// each key exactly once and all use it. It returns the managed CA's certificate.
func (in *Instance) EnsureKeys(ctx context.Context) (*x509.Certificate, error) {
	host := "localhost"
	if u, err := url.Parse(in.Config.BaseURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	hosts := []string{host}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if h != host {
			hosts = append(hosts, h)
		}
	}
	var ca *x509.Certificate
	err := in.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Lock(ctx, "keys:bootstrap"); err != nil {
			return err
		}
		km := in.Keys.WithStore(tx)
		// The RSA key signs SAML, WS-Fed and RS256 OpenID Connect tokens; the P-256 key the
		// tokens of OpenID Connect clients set to ES256 (created on the first start after an
		// upgrade too, so such a client can be configured at any time).
		for _, k := range []struct{ purpose, name string }{
			{keys.PurposeToken, "Sekisho token signing (" + host + ")"},
			{keys.PurposeTokenES256, "Sekisho token signing ES256 (" + host + ")"},
		} {
			if _, err := km.Current(ctx, k.purpose); errors.Is(err, store.ErrNotFound) {
				if _, err := km.CreateTokenKeyOf(ctx, k.purpose, k.name, store.KeyCurrent); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}
		var err error
		ca, err = km.EnsureTLS(ctx, hosts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create the first keys: %w", err)
	}
	in.Keys.InvalidateAll() // it may have cached "none yet"
	return ca, nil
}
