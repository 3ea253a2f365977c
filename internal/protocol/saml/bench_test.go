package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
)

// BenchmarkSSO measures one SP-initiated sign-in with an existing session through the handler.
func BenchmarkSSO(b *testing.B) {
	e := newEnv(b, testSP(false))
	e.signIn(t0, false)
	reqs := make([]string, b.N)
	for i := range reqs {
		reqs[i] = "/saml/sso?" + redirectQuery("SAMLRequest", authnReq{ID: "_b" + itoa(i)}.xml(), "rs", nil)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, reqs[i], nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}

// nullSigner returns a fixed 256-byte "signature" at no cost, so a benchmark with it measures
// everything around the RSA operation.
type nullSigner struct{ pub crypto.PublicKey }

func (n nullSigner) Public() crypto.PublicKey { return n.pub }
func (nullSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	sig := make([]byte, 256)
	copy(sig, digest)
	return sig, nil
}

func benchParams() ResponseParams {
	sp := testSP(false)
	sp.SignAssertion = true
	return ResponseParams{SP: sp, ACS: spACS, InResponseTo: "_req1", User: alice, SessionIndex: "sess-1",
		AuthnInstant: t0, Now: t0, AssertionID: "_a1"}
}

// BenchmarkBuildResponseNoRSA is BuildResponse with a signer that costs nothing.
func BenchmarkBuildResponseNoRSA(b *testing.B) {
	idp, _, _ := keys(b)
	k := SigningKey{Signer: nullSigner{&idp.key.PublicKey}, Chain: []*x509.Certificate{idp.cert}}
	p := benchParams()
	cfg := IdPConfig{EntityID: idpBase + "/saml", BaseURL: idpBase}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildResponse(cfg, k, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSSONoRSA is BenchmarkSSO with a signer that costs nothing.
func BenchmarkSSONoRSA(b *testing.B) {
	e := newEnv(b, testSP(false))
	idp, _, _ := keys(b)
	e.h.cfg.Keys = StaticKeys{Key: SigningKey{Signer: nullSigner{&idp.key.PublicKey}, Chain: []*x509.Certificate{idp.cert}}}
	e.signIn(t0, false)
	// One DEFLATE writer for all requests: a fresh one per request (as redirectQuery has) is
	// 1 MB of garbage that the timed loop's GC would pay for.
	fw, _ := flate.NewWriter(io.Discard, flate.BestCompression)
	reqs := make([]string, b.N)
	for i := range reqs {
		var buf bytes.Buffer
		fw.Reset(&buf)
		_, _ = io.WriteString(fw, authnReq{ID: "_b" + itoa(i)}.xml())
		_ = fw.Close()
		reqs[i] = "/saml/sso?SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) + "&RelayState=rs"
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, reqs[i], nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
