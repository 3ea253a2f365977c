// Command wsfed measures WS-Federation sign-in responses per second on one core for a user
// with an existing SSO session (gate stubbed as a trivial allow), through the real passive
// handler: request parsing, domain match, SAML 1.1 assertion building, RSA-2048/RSA-SHA256
// enveloped signature with exclusive c14n, the RSTR and the auto-post form. The reference is
// OpenSSL's RSA-2048 sign rate in the same run (`openssl speed -seconds 3 rsa2048`), since
// one signature per response is the floor of the cost. Rates are per CPU-second with
// GOMAXPROCS=1, as `openssl speed` divides by CPU time.
package main

import (
	"context"
	"crypto/rsa"
	"flag"
	"fmt"
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
	dur := flag.Duration("duration", 5*time.Second, "measuring time")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	key, cert, err := benchutil.SelfSigned()
	check(err)
	// keys.Accelerate is the production path: with -tags openssl it is the OpenSSL signer.
	signer, err := saml11token.NewSigner(keys.Accelerate(key), cert)
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
	ossl, err := benchutil.OpenSSLRSA2048Sign()
	check(err)
	n, c0, start := 0, benchutil.CPUTime(), time.Now()
	for time.Since(start) < *dur {
		one()
		n++
	}
	rate := float64(n) / (benchutil.CPUTime() - c0).Seconds()
	fmt.Printf("wsfed responses per CPU-second: %.0f; openssl rsa2048 sign/s: %.0f\n", rate, ossl)
	benchjson.Print(benchjson.Result{Bench: "wsfed", Value: rate, Unit: "responses/s", Reference: "openssl-rsa2048-sign",
		ReferenceValue: ossl, Extra: map[string]any{"signer": signerName(keys.Accelerate(key)), "gate": "stub-allow"}})
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
