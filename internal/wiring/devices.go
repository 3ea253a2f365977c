package wiring

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/sekisho/sekisho/internal/appguard"
	"net/http"

	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/web"
)

func mountPKI(_ context.Context, s *Services) error {
	ca := s.Devices
	s.Server.Mux.HandleFunc("GET "+devicecert.CRLPath, ca.ServeCRL)
	s.Server.Mux.HandleFunc("GET "+devicecert.CAPath, ca.ServeCACertificate)
	owner := func(r *http.Request) (string, bool) {
		u, ok := appguard.User(r.Context())
		return u.ID, ok
	}
	reject := func(r *http.Request, reason string) string {
		return s.Gate.RecordRejectedFor(r.Context(), r, "device-download", "", "", reason)
	}
	s.Server.Mux.Handle("GET "+devicecert.DownloadPath+"{token}", s.Guard.Protect(signin.AppAccount, ca.DownloadHandler(owner, reject, web.RenderError)))
	return nil
}

// TLSConfig returns the listener's TLS configuration: the managed or configured server
// certificate, and — with tls.device_certificates — an optional request for a device
// certificate that must verify (chain, validity, revocation) when one is presented.
func (s *Services) TLSConfig(ctx context.Context) (*tls.Config, error) {
	in := s.Instance
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if in.Config.TLS.CertFile != "" {
		c, err := tls.LoadX509KeyPair(in.Config.Resolve(in.Config.TLS.CertFile), in.Config.Resolve(in.Config.TLS.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	} else {
		c, err := in.Keys.ServerCertificate(ctx)
		if err != nil {
			return nil, fmt.Errorf("managed TLS certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	if !in.Config.TLS.DeviceCertificates {
		return cfg, nil
	}
	// The CA must exist before the config is built: its name is what browsers filter on.
	if _, err := s.Devices.CACertificate(ctx); err != nil {
		return nil, fmt.Errorf("device CA: %w", err)
	}
	return s.Devices.TLSConfig(cfg), nil
}
