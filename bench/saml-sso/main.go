// Command saml-sso measures SAML 2.0 responses per second on one core for a user with an
// existing SSO session (gate stubbed as a trivial allow), through the real HTTP handler:
// HTTP-Redirect AuthnRequest decoding and validation, replay check, signing (RSA-2048,
// RSA-SHA256, exclusive c14n) and the auto-post form. The reference is OpenSSL's RSA-2048
// sign rate measured in the same run (`openssl speed -seconds 3 rsa2048`), since one RSA
// signature per response is the floor of the cost; Go's crypto/rsa rate is reported beside it.
// Rates are per CPU-second with GOMAXPROCS=1 (per core). Built with -tags openssl (run.sh does
// so when cgo and the OpenSSL headers exist) the handler is also measured with the
// OpenSSL-backed signer (internal/keys/osslsign), and that is the reported value.
package main

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/bench/benchutil"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

const (
	spEntity = "https://sp.example.com/shibboleth"
	spACS    = "https://sp.example.com/Shibboleth.sso/SAML2/POST"
)

type sps struct{ sp saml.ServiceProvider }

func (s sps) LookupSP(_ context.Context, id string) (saml.ServiceProvider, string, error) {
	if id != spEntity {
		return saml.ServiceProvider{}, "", store.ErrNotFound
	}
	return s.sp, "wiki", nil
}
func (s sps) LookupSPByApp(context.Context, string) (saml.ServiceProvider, error) {
	return s.sp, nil
}

var session = &signin.Session{ID: "sess-1", UserID: "u1", AuthnInstant: time.Now()}

var user = store.User{ID: "u1", UPN: "alice@example.com", Email: "alice@example.com", DisplayName: "Alice",
	ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", Groups: []string{"staff"}}

type allow struct{}

func (allow) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	return signin.Outcome{Allowed: true, Decision: "allow", User: user, AuthnInstant: a.Session.AuthnInstant}, nil
}

type replay struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

func (r *replay) UseOnce(_ context.Context, k string, _ time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[k]; ok {
		return false, nil
	}
	r.seen[k] = struct{}{}
	return true, nil
}

func main() {
	dur := flag.Duration("d", 3*time.Second, "measurement time per phase")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	runtime.GOMAXPROCS(1) // per core

	key, cert, err := benchutil.SelfSigned()
	check(err)

	sp := saml.ServiceProvider{EntityID: spEntity, ACS: []saml.Endpoint{{Binding: saml.BindingPOST, Location: spACS, IsDefault: true}},
		NameIDFormat: saml.NameIDPersistent, NameIDSource: saml.SourceImmutableID, SignAssertion: true,
		Attributes: []saml.AttributeMapping{{Name: "mail", Source: saml.SourceEmail}, {Name: "displayName", Source: saml.SourceDisplayName}}}
	check(sp.Validate())
	newHandler := func(signer crypto.Signer) http.Handler {
		h, err := saml.NewHandler(saml.HandlerConfig{
			IdP: saml.IdPConfig{EntityID: "https://idp.example.com/saml", BaseURL: "https://idp.example.com"},
			SPs: sps{sp}, Keys: saml.StaticKeys{Key: saml.SigningKey{Signer: signer, Chain: []*x509.Certificate{cert}}},
			Sessions: benchutil.SignedIn{Session: session}, Gate: allow{}, Replay: &replay{seen: map[string]struct{}{}},
			StateKey: bytes.Repeat([]byte{1}, 32), Logger: slog.New(slog.DiscardHandler),
		})
		check(err)
		return h
	}

	opensslRate, err := benchutil.OpenSSLRSA2048Sign()
	if err != nil {
		fmt.Fprintln(os.Stderr, "openssl speed:", err)
		os.Exit(1)
	}
	fmt.Printf("openssl rsa2048 sign/s (per CPU-second): %.0f\n", opensslRate)

	// Requests are prepared before timing: each needs a fresh ID (replay protection).
	n := int(dur.Seconds()*10000) + 1000
	reqs := make([]string, n)
	for i := range reqs {
		reqs[i] = "/saml/sso?" + authnRequest(i)
	}
	measure := func(name string, h http.Handler) float64 {
		serve := func(i int) {
			r := httptest.NewRequest(http.MethodGet, reqs[i], nil)
			w := benchutil.NewDiscard()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK || w.N < 3000 {
				fmt.Fprintf(os.Stderr, "request %d: status %d, %d bytes\n", i, w.Code, w.N)
				os.Exit(1)
			}
		}
		serve(0)     // warm-up
		runtime.GC() // start each phase without another phase's garbage
		count, start, cpu0 := 1, time.Now(), benchutil.CPUTime()
		for time.Since(start) < *dur && count < n {
			serve(count)
			count++
		}
		rate := float64(count-1) / (benchutil.CPUTime() - cpu0).Seconds()
		fmt.Printf("saml responses per CPU-second, %s signer (handler end to end): %.0f\n", name, rate)
		return rate
	}
	goResp := measure("go crypto/rsa", newHandler(key))
	respRate, signerName := goResp, "go-crypto-rsa"
	if fast, err := opensslSigner(key); err != nil {
		check(err)
	} else if fast != nil {
		respRate, signerName = measure("openssl (cgo)", newHandler(fast)), "openssl-cgo"
	}

	digest := sha256.Sum256([]byte("bench"))
	signs, start, cpu0 := 0, time.Now(), benchutil.CPUTime()
	for time.Since(start) < *dur {
		_, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
		check(err)
		signs++
	}
	goRate := float64(signs) / (benchutil.CPUTime() - cpu0).Seconds()
	fmt.Printf("go crypto/rsa rsa2048 signs per CPU-second: %.0f (%.0f%% of openssl)\n", goRate, 100*goRate/opensslRate)

	benchjson.Print(benchjson.Result{Bench: "saml-sso", Value: respRate, Unit: "responses/s",
		Reference: "openssl-rsa2048-sign", ReferenceValue: opensslRate,
		Extra: map[string]any{"go_rsa_sign_per_s": float64(int(goRate)), "signer": signerName,
			"go_signer_responses_per_s": float64(int(goResp)), "go_signer_ratio": float64(int(1000*goResp/opensslRate)) / 1000}})
}

// deflater is reused for every prepared request: a fresh flate.Writer allocates about 1 MB,
// and tens of thousands of them would leave GC work that the timed phases would pay for.
var deflater, _ = flate.NewWriter(io.Discard, flate.DefaultCompression)

func authnRequest(i int) string {
	x := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_bench%d" Version="2.0" IssueInstant="%s" Destination="https://idp.example.com/saml/sso" AssertionConsumerServiceURL="%s" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>%s</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/></samlp:AuthnRequest>`,
		i, time.Now().UTC().Format(time.RFC3339), spACS, spEntity)
	var buf bytes.Buffer
	deflater.Reset(&buf)
	_, _ = io.WriteString(deflater, x)
	_ = deflater.Close()
	return "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) + "&RelayState=ss%3Amem%3Aabc"
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
