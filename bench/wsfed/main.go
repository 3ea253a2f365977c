// Command wsfed measures WS-Federation sign-in responses per second on one core for a user
// with an existing SSO session (gate stubbed as a trivial allow), through the real passive
// handler: request parsing, domain match, SAML 1.1 assertion building, RSA-2048/RSA-SHA256
// enveloped signature with exclusive c14n, the RSTR and the auto-post form. The reference is
// OpenSSL's RSA-2048 sign rate in the same run (`openssl speed -seconds 3 rsa2048`), since
// one signature per response is the floor of the cost. Rates are per CPU-second with
// GOMAXPROCS=1, as `openssl speed` divides by CPU time. The same handler is measured with a
// signer that costs nothing, and the signer alone, to tell the signature's share of the cost.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/bench/benchutil"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/wsfed"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

var user = store.User{ID: "u1", UPN: "alice@example.com", ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", Status: store.UserActive}

var session = &signin.Session{ID: "_s1", UserID: "u1", AuthnInstant: time.Now()}

type allow struct{}

func (allow) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	return signin.Outcome{Allowed: true, Decision: "allow", User: user, AuthnInstant: session.AuthnInstant,
		InsideNetworks: []string{"office"}}, nil
}

func main() {
	dur := flag.Duration("duration", 5*time.Second, "measuring time per phase (split over the rounds)")
	rounds := flag.Int("rounds", 3, "interleaved rounds of the phases, each beside one `openssl speed` run")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	key, cert, err := benchutil.SelfSigned()
	check(err)
	handlerPhase := func(s crypto.Signer) *benchPhase {
		signer, err := saml11token.NewSigner(s, cert)
		check(err)
		h, err := wsfed.New(wsfed.Config{BaseURL: "https://idp.example.com",
			Domains: m365.Domains{{Name: "example.com", IssuerURI: "http://example.com/adfs/services/trust/", InsideNetworks: []string{"office"}}},
			Keys:    saml11token.StaticKeys{Current: signer}, Gate: allow{}, Sessions: benchutil.SignedIn{Session: session}})
		check(err)
		mux := http.NewServeMux()
		h.Register(mux)
		target := wsfed.PathPassive + "?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=LoginOptions%3D3%26estsredirect%3D2&username=alice%40example.com"
		one := func() {
			r := httptest.NewRequest("GET", "https://idp.example.com"+target, nil)
			w := benchutil.NewDiscard()
			mux.ServeHTTP(w, r)
			if (w.Code != 0 && w.Code != http.StatusOK) || w.N < 2000 {
				fmt.Fprintf(os.Stderr, "wsfed answered %d\n", w.Code)
				os.Exit(1)
			}
		}
		for i := 0; i < 50; i++ {
			one()
		}
		return &benchPhase{op: one}
	}
	// keys.Accelerate is the production path: with -tags openssl it is the OpenSSL signer.
	fast := keys.Accelerate(key)
	resp := handlerPhase(fast)
	// Everything but the signature (a signer that costs nothing), and the signer alone.
	rest := handlerPhase(nullSigner{&key.PublicKey})
	digest := sha256.Sum256([]byte("bench"))
	sign := &benchPhase{op: func() {
		_, err := fast.Sign(rand.Reader, digest[:], crypto.SHA256)
		check(err)
	}}
	// Interleaved rounds, each beside one `openssl speed` run: a shared machine's changing
	// load falls on every figure alike.
	ossl := 0.0
	for r := 0; r < *rounds; r++ {
		o, err := benchutil.OpenSSLRSA2048Sign()
		check(err)
		ossl += o / float64(*rounds)
		for _, p := range []*benchPhase{resp, rest, sign} {
			p.run(*dur / time.Duration(*rounds))
		}
	}
	rate, signs := resp.rate(), sign.rate()
	fmt.Printf("wsfed responses per CPU-second: %.0f; openssl rsa2048 sign/s: %.0f (mean of %d runs)\n", rate, ossl, *rounds)
	fmt.Printf("signer alone: %.0f signs per CPU-second (the signature is %.0f%% of a response); without it: %.0f responses per CPU-second (%.1f µs each)\n",
		signs, 100*rate/signs, rest.rate(), 1e6/rest.rate())
	benchjson.Print(benchjson.Result{Bench: "wsfed", Value: rate, Unit: "responses/s", Reference: "openssl-rsa2048-sign",
		ReferenceValue: ossl, Extra: map[string]any{"signer": signerName(fast), "gate": "stub-allow", "rounds": *rounds,
			"signer_sign_per_s": float64(int(signs)), "rsa_fraction": float64(int(1000*rate/signs+0.5)) / 1000,
			"rest_us_per_response": float64(int(1e7/rest.rate()+0.5)) / 10}})
}

// benchPhase is one measured operation; its time is the process's CPU time, summed over the
// rounds it ran in.
type benchPhase struct {
	op  func()
	ops int
	cpu time.Duration
}

func (p *benchPhase) run(d time.Duration) {
	runtime.GC()
	start, cpu0 := time.Now(), benchutil.CPUTime()
	for time.Since(start) < d {
		p.op()
		p.ops++
	}
	p.cpu += benchutil.CPUTime() - cpu0
}

func (p *benchPhase) rate() float64 { return float64(p.ops) / p.cpu.Seconds() }

// nullSigner is an RSA crypto.Signer that costs nothing: 256 zero bytes.
type nullSigner struct{ pub *rsa.PublicKey }

func (n nullSigner) Public() crypto.PublicKey { return n.pub }
func (nullSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func signerName(s any) string {
	if _, ok := s.(*rsa.PrivateKey); ok {
		return "go-crypto-rsa"
	}
	return "openssl-cgo"
}
