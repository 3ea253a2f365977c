package wiring

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/web"
)

func mountPKI(ctx context.Context, s *Services) error {
	s.Server.Mux.HandleFunc("GET "+devicecert.CRLPath, func(w http.ResponseWriter, r *http.Request) {
		crl, err := s.Devices.CRL(r.Context())
		if err != nil {
			s.Instance.Log.ErrorContext(r.Context(), "device CRL", "err", err)
			http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write(crl)
	})
	s.Server.Mux.Handle("GET "+devicecert.DownloadPath+"{token}", s.Guard.Protect(signin.AppAccount, http.HandlerFunc(s.downloadDevice)))
	s.Server.Mux.HandleFunc("GET "+devicecert.CAPath, func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Devices.CACertificate(r.Context())
		if err != nil {
			http.Error(w, "device CA unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(keys.CertPEM(c))
	})
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

// downloadDevice hands the PKCS#12 of a device to its owner, once. The link alone is not
// enough: the browser must be signed in as the user the certificate was issued to.
func (s *Services) downloadDevice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PathValue("token")
	sess, _, ok := s.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?return_to="+url.QueryEscape(devicecert.DownloadPath+token), http.StatusSeeOther)
		return
	}
	id, _, _ := strings.Cut(token, ".")
	d, err := s.Instance.Store.GetDevice(ctx, id)
	if err != nil || d.UserID != sess.UserID {
		// Another user's link, or no such device: the same answer, and a record.
		s.Gate.RecordRejectedFor(ctx, r, "device-download", "", "", "download link not valid for this user")
		web.RenderError(w, r, http.StatusNotFound, "")
		return
	}
	p12, err := s.Devices.Download(ctx, token, time.Now())
	if err != nil {
		s.Gate.RecordRejectedFor(ctx, r, "device-download", "", "", err.Error())
		web.RenderError(w, r, http.StatusGone, "")
		return
	}
	w.Header().Set("Content-Type", "application/x-pkcs12")
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeFileName(d.Name)+`.p12"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p12)
}

func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "device"
	}
	return string(b)
}
