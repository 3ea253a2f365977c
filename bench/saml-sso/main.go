// Command saml-sso measures SAML 2.0 responses per second on one core for a user with an
// existing SSO session (gate stubbed as a trivial allow), through the real HTTP handler:
// HTTP-Redirect AuthnRequest decoding and validation, replay check, signing (RSA-2048,
// RSA-SHA256, exclusive c14n) and the auto-post form. The reference is OpenSSL's RSA-2048
// sign rate measured in the same run (`openssl speed -seconds 3 rsa2048`), since one RSA
// signature per response is the floor of the cost; Go's crypto/rsa rate is reported beside it.
// Rates are per CPU-second with GOMAXPROCS=1 (per core). Built with -tags openssl (run.sh does
// so when cgo and the OpenSSL headers exist) the handler is also measured with the
// OpenSSL-backed signer (internal/keys/osslsign), and that is the reported value.
//
// To split the cost, the handler is also measured with a signer that costs nothing (what is
// left is everything but the RSA operation), and each signer alone through crypto.Signer: a
// signer's rsa_fraction is its responses/s over its signatures/s, the share of a response's
// CPU time that is the signature. All phases run interleaved in rounds (-rounds, default 3),
// each round beside one `openssl speed` run, so a shared machine's load falls on all alike. An ECDSA P-256 key's rate is estimated the same way (the
// zero-cost handler plus one P-256 signature): Sekisho's keys are RSA (Entra requires it).
package main

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	dur := flag.Duration("d", 3*time.Second, "measurement time per phase (split over the rounds)")
	rounds := flag.Int("rounds", 3, "interleaved rounds of all phases, each beside one `openssl speed` run")
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

	// Requests are prepared before timing: each needs a fresh ID (replay protection). Every
	// handler phase has a replay cache of its own and walks the list from the start.
	n := int(dur.Seconds()*25000) + 1000
	reqs := make([]string, n)
	for i := range reqs {
		reqs[i] = "/saml/sso?" + authnRequest(i)
	}
	handlerPhase := func(name string, signer crypto.Signer) *benchPhase {
		h := newHandler(signer)
		next := 0
		serve := func() {
			if next == n {
				fmt.Fprintf(os.Stderr, "%s: out of prepared requests\n", name)
				os.Exit(1)
			}
			r := httptest.NewRequest(http.MethodGet, reqs[next], nil)
			next++
			w := benchutil.NewDiscard()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK || w.N < 3000 {
				fmt.Fprintf(os.Stderr, "%s: request %d: status %d, %d bytes\n", name, next-1, w.Code, w.N)
				os.Exit(1)
			}
		}
		serve() // warm-up
		return &benchPhase{name: "saml responses per CPU-second, " + name + " signer (handler end to end)", op: serve}
	}

	// Everything but the signature: the same handler with a signer that costs nothing (its
	// responses would not verify; the handler does not know).
	rest := handlerPhase("zero-cost", nullSigner{&key.PublicKey})
	goResp := handlerPhase("go crypto/rsa", key)
	goSign := signPhase("go crypto/rsa rsa2048 signs per CPU-second (crypto.Signer)", key)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	ecSign := signPhase("go crypto/ecdsa p256 signs per CPU-second (crypto.Signer)", ec)
	phases := []*benchPhase{rest, goResp, goSign, ecSign}
	var osslResp, osslSign *benchPhase
	if haveOpenSSL {
		fast, err := opensslSigner(key)
		check(err)
		osslResp = handlerPhase("openssl (cgo)", fast)
		osslSign = signPhase("openssl signer (cgo) rsa2048 signs per CPU-second (crypto.Signer)", fast)
		phases = append(phases, osslResp, osslSign)
	}

	// The phases run interleaved in rounds, each round beside one `openssl speed` run, so that
	// a shared machine's changing load falls on every figure alike.
	opensslRate := 0.0
	for r := 0; r < *rounds; r++ {
		o, err := benchutil.OpenSSLRSA2048Sign()
		if err != nil {
			fmt.Fprintln(os.Stderr, "openssl speed:", err)
			os.Exit(1)
		}
		opensslRate += o / float64(*rounds)
		for _, p := range phases {
			p.run(*dur / time.Duration(*rounds))
		}
	}
	fmt.Printf("openssl rsa2048 sign/s (per CPU-second, mean of %d runs): %.0f\n", *rounds, opensslRate)
	for _, p := range phases {
		fmt.Printf("%s: %.0f\n", p.name, p.rate())
	}
	goRate := goSign.rate()
	fmt.Printf("go crypto/rsa rsa2048 signs per CPU-second: %.0f (%.0f%% of openssl)\n", goRate, 100*goRate/opensslRate)
	fmt.Printf("without the signature: %.1f µs per response; the signature is %.0f%% of a response with Go's crypto/rsa\n",
		1e6/rest.rate(), 100*goResp.rate()/goRate)
	extra := map[string]any{"go_rsa_sign_per_s": float64(int(goRate)),
		"go_signer_responses_per_s": float64(int(goResp.rate())), "go_signer_ratio": round3(goResp.rate() / opensslRate),
		"go_signer_rsa_fraction": round3(goResp.rate() / goRate), // the signature's share of a response's CPU time
		"rest_us_per_response":   float64(int(1e7/rest.rate()+0.5)) / 10, "rounds": *rounds}
	respRate, signerName := goResp.rate(), "go-crypto-rsa"
	if osslResp != nil {
		respRate, signerName = osslResp.rate(), "openssl-cgo"
		extra["openssl_signer_sign_per_s"] = float64(int(osslSign.rate()))
		extra["openssl_signer_rsa_fraction"] = round3(respRate / osslSign.rate())
		fmt.Printf("the signature is %.0f%% of a response with the OpenSSL signer\n", 100*respRate/osslSign.rate())
	}
	extra["signer"] = signerName

	// ECDSA P-256 (for SPs that accept it; Entra requires RSA): the response rate it would give
	// is the zero-cost handler plus one P-256 signature.
	ecResp := 1 / (1/rest.rate() + 1/ecSign.rate())
	fmt.Printf("with an ECDSA P-256 key (estimated: zero-cost handler + one signature): %.0f responses per CPU-second\n", ecResp)
	extra["go_ecdsa_p256_sign_per_s"] = float64(int(ecSign.rate()))
	extra["ecdsa_p256_responses_per_s_estimated"] = float64(int(ecResp))

	benchjson.Print(benchjson.Result{Bench: "saml-sso", Value: respRate, Unit: "responses/s",
		Reference: "openssl-rsa2048-sign", ReferenceValue: opensslRate, Extra: extra})
}

// benchPhase is one measured operation; its time is the process's CPU time, summed over the
// rounds it ran in.
type benchPhase struct {
	name string
	op   func()
	ops  int
	cpu  time.Duration
}

func (p *benchPhase) run(d time.Duration) {
	runtime.GC() // start without another phase's garbage
	start, cpu0 := time.Now(), benchutil.CPUTime()
	for time.Since(start) < d {
		p.op()
		p.ops++
	}
	p.cpu += benchutil.CPUTime() - cpu0
}

func (p *benchPhase) rate() float64 { return float64(p.ops) / p.cpu.Seconds() }

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }

// signPhase signs a SHA-256 digest with s through crypto.Signer.
func signPhase(name string, s crypto.Signer) *benchPhase {
	digest := sha256.Sum256([]byte("bench"))
	return &benchPhase{name: name, op: func() {
		_, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
		check(err)
	}}
}

// nullSigner is an RSA crypto.Signer that costs nothing: 256 zero bytes.
type nullSigner struct{ pub *rsa.PublicKey }

func (n nullSigner) Public() crypto.PublicKey { return n.pub }
func (nullSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
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
