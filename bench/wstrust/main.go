// Command wstrust measures WS-Trust password sign-ins per second end to end over HTTPS on
// loopback: SOAP parse, gate with an argon2id password check (m=19 MiB, t=2, p=1), SAML 1.1
// assertion signing (RSA-2048), RSTR serialisation. The reference is the raw argon2id rate
// at the same parameters and concurrency measured in the same run; the password hash is
// the floor of the cost, so the goal is ≥ 90 % of it. Last line: benchjson.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/bench/benchutil"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// argon2id parameters (OWASP's minimum recommendation, the directory's default).
const (
	memKiB  = 19 * 1024
	iters   = 2
	threads = 1
	keyLen  = 32
)

// gate is the bench stand-in for the real gate: an argon2id check and a fixed user.
type gate struct {
	salt, hash []byte
	user       store.User
}

func (g *gate) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	sum := argon2.IDKey([]byte(a.Password), g.salt, iters, memKiB, threads, keyLen)
	if subtle.ConstantTimeCompare(sum, g.hash) != 1 || !strings.EqualFold(a.Username, g.user.UPN) {
		return signin.Outcome{Decision: "deny", Reason: "wrong_password"}, nil
	}
	return signin.Outcome{Allowed: true, Decision: "allow", User: g.user, AuthnInstant: time.Now()}, nil
}

func main() {
	dur := flag.Duration("d", 20*time.Second, "total duration of each measurement")
	rounds := flag.Int("rounds", 10, "interleaved rounds (the machine is shared: both sides see the same load)")
	clients := flag.Int("c", 2, "concurrent clients (and argon2id workers for the reference)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))

	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		log.Fatal(err)
	}
	const password = "correct horse battery staple"
	g := &gate{salt: salt, hash: argon2.IDKey([]byte(password), salt, iters, memKiB, threads, keyLen),
		user: store.User{ID: "u1", UPN: "alice@example.com", ImmutableID: "AAECAwQFBgcICQoLDA0ODw=="}}

	signer, err := newSigner()
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	h, err := wstrust.New(wstrust.Config{
		BaseURL: srv.URL, Gate: g, Keys: saml11token.StaticKeys{Current: signer},
		Domains: m365.Domains{{Name: "example.com", IssuerURI: "http://example.com/adfs/services/trust/"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.Config.Handler = h
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = *clients

	// Reference: raw argon2id with the same concurrency.
	hashOnly := func() bool {
		argon2.IDKey([]byte(password), salt, iters, memKiB, threads, keyLen)
		return true
	}

	var failures atomic.Int64
	signIn := func() bool {
		body := request(srv.URL+wstrust.Path13, "alice@example.com", password)
		resp, err := client.Post(srv.URL+wstrust.Path13, "application/soap+xml; charset=utf-8", strings.NewReader(body))
		if err != nil {
			failures.Add(1)
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("<saml:Assertion")) {
			failures.Add(1)
			return false
		}
		return true
	}
	if !signIn() {
		log.Fatal("warm-up sign-in failed")
	}
	// Interleave short rounds, alternating which side goes first, so drifting background
	// load on a shared machine hits both sides alike.
	var refN, valN int64
	var refT, valT time.Duration
	slice := *dur / time.Duration(*rounds)
	for i := range *rounds {
		sides := []func(){
			func() { n, t := count(*clients, slice, hashOnly); refN += n; refT += t },
			func() { n, t := count(*clients, slice, signIn); valN += n; valT += t },
		}
		if i%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		sides[0]()
		sides[1]()
	}
	ref := float64(refN) / refT.Seconds()
	val := float64(valN) / valT.Seconds()

	fmt.Printf("argon2id m=19MiB t=2 p=1, %d workers: %.1f hashes/s\n", *clients, ref)
	fmt.Printf("WS-Trust 1.3 sign-ins over HTTPS, %d clients: %.1f/s (%d failures), GOMAXPROCS=%d\n", *clients, val, failures.Load(), runtime.GOMAXPROCS(0))
	benchjson.Print(benchjson.Result{
		Bench: "wstrust", Value: val, Unit: "signins/s",
		Reference: "argon2id m=19MiB,t=2,p=1 hashes/s (same run, same concurrency)", ReferenceValue: ref,
		Extra: map[string]any{"clients": *clients, "duration_s": dur.Seconds(), "rounds": *rounds, "failures": failures.Load(), "goal_ratio": 0.9},
	})
}

// count runs fn from n goroutines for d and returns the successful calls and the time taken.
func count(n int, d time.Duration, fn func() bool) (int64, time.Duration) {
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if fn() {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return ok.Load(), time.Since(start)
}

func request(to, user, pass string) string {
	now := time.Now().UTC()
	return `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header>` +
		`<wsa:Action s:mustUnderstand="1">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</wsa:Action><wsa:messageID>urn:uuid:bench</wsa:messageID><wsa:To s:mustUnderstand="1">` + to + `</wsa:To>` +
		`<wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsu:Timestamp wsu:Id="MSATimeStamp"><wsu:Created>` + now.Format(saml11token.TimeFormat) +
		`</wsu:Created><wsu:Expires>` + now.Add(10*time.Minute).Format(saml11token.TimeFormat) + `</wsu:Expires></wsu:Timestamp><wsse:UsernameToken wsu:Id="u"><wsse:Username>` + user +
		`</wsse:Username><wsse:Password>` + pass + `</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512">` +
		`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>` +
		`<wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</wst:KeyType><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>`
}

func newSigner() (*saml11token.Signer, error) {
	key, cert, err := benchutil.SelfSigned()
	if err != nil {
		return nil, err
	}
	return saml11token.NewSigner(key, cert)
}
