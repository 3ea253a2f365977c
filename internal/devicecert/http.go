package devicecert

import (
	"net/http"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
)

// ServeCRL publishes the device CA's revocation list (public; cached 60 s by clients).
func (ca *CA) ServeCRL(w http.ResponseWriter, r *http.Request) {
	crl, err := ca.CRL(r.Context())
	if err != nil {
		ca.Log.ErrorContext(r.Context(), "device CRL", "err", err)
		http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(crl)
}

// ServeCACertificate publishes the device CA's certificate (PEM), for clients to trust.
func (ca *CA) ServeCACertificate(w http.ResponseWriter, r *http.Request) {
	c, err := ca.CACertificate(r.Context())
	if err != nil {
		http.Error(w, "device CA unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(keys.CertPEM(c))
}

// DownloadHandler hands a device's PKCS#12 to its owner, once, at DownloadPath+{token}. The
// link alone is not enough: owner names the signed-in user of the request (the route is
// behind the gate), and only the user the certificate was issued to gets it. A link that is
// not valid for this user — another user's, unknown, used, expired — is reported to reject
// (which records it and returns the reference) and answered by fail, the same for all.
func (ca *CA) DownloadHandler(owner func(*http.Request) (userID string, ok bool),
	reject func(r *http.Request, reason string) (reference string),
	fail func(w http.ResponseWriter, r *http.Request, status int, reference string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		token := r.PathValue("token")
		userID, ok := owner(r)
		id, _, _ := strings.Cut(token, ".")
		d, err := ca.Store.GetDevice(ctx, id)
		if !ok || err != nil || d.UserID != userID {
			fail(w, r, http.StatusNotFound, reject(r, "download link not valid for this user"))
			return
		}
		p12, err := ca.Download(ctx, token, time.Now())
		if err != nil {
			fail(w, r, http.StatusGone, reject(r, err.Error()))
			return
		}
		w.Header().Set("Content-Type", "application/x-pkcs12")
		w.Header().Set("Content-Disposition", `attachment; filename="`+fileName(d.Name)+`.p12"`)
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(p12)
	})
}

// fileName keeps a device name safe as a download file name.
func fileName(s string) string {
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
