// Command oidc measures Sekisho's OpenID Connect token endpoint on a real `sekisho serve`
// (SQLite, the demo tenant, HTTPS on loopback) beside Ory Hydra v2.3.0 (`hydra serve all
// --dev`, DSN=memory, HTTPS on loopback) in the same run: client_credentials grants per
// CPU-second of the server process (utime+stime from /proc/PID/stat), with workers
// keep-alive clients in a closed loop; for Sekisho also refresh_token grants (each worker owns
// its own rotating chain) and code-flow logins (authorization with an existing SSO session,
// then the code's exchange). Secret strength is equal on both sides: 32 random bytes, checked
// with one HMAC-SHA256 by Sekisho and by Hydra configured with PBKDF2 at 1 iteration; Hydra's
// default, 25,000 iterations, is measured too. The reference is Hydra issuing RS256 JWT access
// tokens like Sekisho, with an RSA-2048 key imported into its key set (left alone it generates
// RSA-4096, measured too); its default opaque tokens are measured beside it. Sekisho is built
// with Go's crypto/rsa and, when cgo and OpenSSL's headers are there, with -tags openssl (the
// production signer of `make build-openssl`); the value is the OpenSSL build when present.
//
// The Hydra binary is built by bench/oidc/run.sh from the bench-only module bench/oidc/hydra
// (cached under ~/.cache/sekisho-bench). -cpuprofile FILE profiles Sekisho's
// client_credentials path in process (idptest, real HTTPS on loopback) instead.
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/bench/benchutil"
	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

func main() {
	def := 10 * time.Second
	if v := os.Getenv("DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench oidc: DURATION=%q: %v\n", v, err)
			os.Exit(2)
		}
		def = d
	}
	home, _ := os.UserHomeDir()
	d := flag.Duration("d", def, "measured stretch per phase (env DURATION)")
	warm := flag.Duration("warm", 2*time.Second, "warm-up before each phase, not counted")
	workers := flag.Int("workers", 8, "concurrent keep-alive clients")
	hydraBin := flag.String("hydra", envOr("HYDRA_BIN", filepath.Join(home, ".cache", "sekisho-bench", "hydra-v2.3.0")),
		"the hydra v2.3.0 binary (bench/oidc/run.sh builds it; env HYDRA_BIN)")
	hydraDefault := flag.Bool("hydra-default", true, "also measure Hydra at its default PBKDF2 25,000 iterations")
	openssl := flag.Bool("openssl", opensslAvailable(), "also build and measure Sekisho with -tags openssl")
	cpuprofile := flag.String("cpuprofile", "", "profile Sekisho's client_credentials path in process into this file, and measure nothing else")
	profileAlg := flag.String("profile-alg", "ES256", "the signing algorithm of the profiled client (-cpuprofile): ES256 or RS256")
	flag.Parse()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench oidc: "+f+"\n", a...) }

	if *cpuprofile != "" {
		if err := clustertest.RunMain("oidc-profile", func(t testing.TB) { profile(t, *cpuprofile, *profileAlg, *workers, *warm, *d, logf) }); err != nil {
			os.Exit(1)
		}
		return
	}
	if _, err := os.Stat(*hydraBin); err != nil {
		fmt.Fprintf(os.Stderr, "bench oidc: no hydra binary at %s (bash bench/oidc/run.sh builds it): %v\n", *hydraBin, err)
		os.Exit(1)
	}
	load0 := loadavg()
	var sek []sekishoRun
	var hyd []hydraRun
	err := clustertest.RunMain("oidc", func(t testing.TB) {
		dir := t.TempDir()
		variants := []bool{false}
		if *openssl {
			variants = append(variants, true)
		}
		bins := map[bool]string{}
		for _, o := range variants {
			bin, err := buildSekisho(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			bins[o] = bin
		}
		configs := []hydraConfig{
			{Key: "jwt_rsa2048_pbkdf2_1", Name: "jwt RSA-2048, PBKDF2 1 iteration", AccessToken: "jwt", Iterations: 1, RSA2048: true},
			{Key: "jwt_es256_pbkdf2_1", Name: "jwt ES256 (P-256), PBKDF2 1 iteration", AccessToken: "jwt", Iterations: 1, ES256: true},
			{Key: "opaque_pbkdf2_1", Name: "opaque, PBKDF2 1 iteration", AccessToken: "opaque", Iterations: 1},
			{Key: "jwt_rsa4096_pbkdf2_1", Name: "jwt RSA-4096 (its key), PBKDF2 1 iteration", AccessToken: "jwt", Iterations: 1},
		}
		if *hydraDefault {
			configs = append(configs, hydraConfig{Key: "defaults_opaque_pbkdf2_25000", Name: "opaque, PBKDF2 25000 (all defaults)", AccessToken: "opaque", Iterations: 25000})
		}
		// Sekisho and Hydra alternate, so that both meet the shared machine in the same state.
		for i := 0; i < len(variants) || i < len(configs); i++ {
			if i < len(variants) {
				name := "go"
				if variants[i] {
					name = "openssl"
				}
				sek = append(sek, runSekisho(t, name, bins[variants[i]], *workers, *warm, *d, logf))
			}
			if i < len(configs) {
				hyd = append(hyd, runHydra(t, *hydraBin, configs[i], *workers, *warm, *d, logf))
			}
		}
	})
	if err != nil || len(sek) == 0 || len(hyd) == 0 {
		fmt.Fprintf(os.Stderr, "bench oidc: the run did not complete: %v\n", err)
		os.Exit(1)
	}

	goSign, osslSign := goRSASignPerCPU(), 0.0
	if v, err := benchutil.OpenSSLRSA2048Sign(); err == nil {
		osslSign = v
	}
	primary := sek[len(sek)-1] // the OpenSSL build when measured (the production build)
	hydraBy := map[string]hydraRun{}
	for _, h := range hyd {
		hydraBy[h.Config.Key] = h
	}
	// The value is Sekisho's fastest configuration, an ES256 client, against Hydra in the same
	// configuration class (ES256 JWT access tokens, the secret checked with one HMAC-SHA256);
	// the RS256 pair (RSA-2048 on both sides) is kept beside it.
	ref, rsRef := hydraBy["jwt_es256_pbkdf2_1"], hydraBy["jwt_rsa2048_pbkdf2_1"]
	value := primary.CCES256.PerCPU()
	fmt.Println()
	fmt.Printf("client_credentials grants per CPU-second of the server (%d keep-alive HTTPS clients, %v per phase):\n", *workers, *d)
	for _, s := range sek {
		fmt.Printf("  %-58s %8.0f   ES256 %6.0f   refresh %6.0f   code-flow logins %6.0f\n", "Sekisho ("+s.Variant+" signer) RS256",
			s.CC.PerCPU(), s.CCES256.PerCPU(), s.Refresh.PerCPU(), s.Login.PerCPU())
	}
	for _, h := range hyd {
		fmt.Printf("  %-58s %8.0f\n", "Hydra v2.3.0 "+h.Config.Name, h.CC.PerCPU())
	}
	fmt.Printf("  RSA-2048 signatures per CPU-second: Go crypto/rsa %.0f, openssl speed %.0f\n", goSign, osslSign)
	met := "not met"
	if value >= 5000 && value >= 5*ref.CC.PerCPU() {
		met = "met"
	}
	fmt.Printf("Sekisho (%s build, ES256 client) / Hydra (%s): %.2f; goal >= 5,000 per core-second and >= 5x Hydra: %s\n",
		primary.Variant, ref.Config.Name, value/ref.CC.PerCPU(), met)
	fmt.Printf("Sekisho (%s build, RS256 client) / Hydra (%s): %.2f\n", primary.Variant, rsRef.Config.Name, primary.CC.PerCPU()/rsRef.CC.PerCPU())

	extra := map[string]any{"workers": *workers, "seconds_per_phase": d.Seconds(), "loadavg_start": load0, "loadavg_end": loadavg(),
		"transport": "HTTPS/1.1 keep-alive on loopback, HTTP Basic client_secret_basic, both sides",
		"secret":    "32 random bytes (43 base64url characters) on both sides; Sekisho HMAC-SHA256, Hydra PBKDF2-SHA256 at the iterations named",
		"variant":   primary.Variant, "rsa2048_sign_per_cpu_second": map[string]float64{"go": round1(goSign), "openssl": round1(osslSign)},
		"goal_per_core_second": 5000, "goal_ratio": 5, "goal": met}
	for _, s := range sek {
		extra["sekisho_"+s.Variant] = map[string]any{"client_credentials": s.CC.JSON(), "client_credentials_es256": s.CCES256.JSON(),
			"refresh_token": s.Refresh.JSON(), "code_flow_login": s.Login.JSON(), "rss_mib": s.RSSAfter >> 20,
			"access_token_bytes": s.ccJWTLength, "access_token_bytes_es256": s.esJWTLength}
	}
	hm := map[string]any{}
	for _, h := range hyd {
		hm[h.Config.Key] = map[string]any{"name": h.Config.Name, "client_credentials": h.CC.JSON(), "access_token": h.Config.AccessToken,
			"pbkdf2_iterations": h.Config.Iterations, "imported_rsa2048": h.Config.RSA2048, "imported_p256": h.Config.ES256, "rss_mib": h.RSS >> 20,
			"access_token_bytes": h.TokenLength}
	}
	extra["hydra_v2_3_0"] = hm
	extra["rs256"] = map[string]any{"sekisho": primary.CC.JSON(), "hydra": rsRef.Config.Key, "hydra_per_cpu_second": rsRef.CC.PerCPU(),
		"ratio": round3(primary.CC.PerCPU() / rsRef.CC.PerCPU())}
	if h, ok := hydraBy["opaque_pbkdf2_1"]; ok {
		extra["ratio_es256_vs_hydra_opaque_1_iteration"] = round3(value / h.CC.PerCPU())
		extra["ratio_vs_hydra_opaque_1_iteration"] = round3(primary.CC.PerCPU() / h.CC.PerCPU())
	}
	if h, ok := hydraBy["defaults_opaque_pbkdf2_25000"]; ok {
		extra["ratio_es256_vs_hydra_defaults"] = round3(value / h.CC.PerCPU())
		extra["ratio_vs_hydra_defaults"] = round3(primary.CC.PerCPU() / h.CC.PerCPU())
	}
	failed := false
	for _, s := range sek {
		for _, p := range []phase{s.CC, s.CCES256, s.Refresh, s.Login} {
			failed = failed || p.Failed > 0
		}
	}
	for _, h := range hyd {
		failed = failed || h.CC.Failed > 0
	}
	benchjson.Print(benchjson.Result{Bench: "oidc", Value: value, Unit: "client_credentials grants per CPU-second (ES256 client, " + primary.Variant + " build)",
		Reference:      "Ory Hydra v2.3.0, same run, " + ref.Config.Name + " (ES256 JWT access tokens with a P-256 key and the secret checked with one HMAC-SHA256, like Sekisho's ES256 client; the RS256 pair is in extra.rs256)",
		ReferenceValue: ref.CC.PerCPU(), Extra: extra})
	if failed {
		fmt.Fprintln(os.Stderr, "bench oidc: FAILED: some requests were not answered as expected (see above)")
		os.Exit(1)
	}
}

// goRSASignPerCPU is RSA-2048 PKCS #1 v1.5 signatures per CPU-second with Go's crypto/rsa,
// on one goroutine for a second.
func goRSASignPerCPU() float64 {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0
	}
	d := sha256.Sum256([]byte("bench"))
	c0, t0, n := benchutil.CPUTime(), time.Now(), 0
	for time.Since(t0) < time.Second {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:]); err != nil {
			return 0
		}
		n++
	}
	return float64(n) / (benchutil.CPUTime() - c0).Seconds()
}

func opensslAvailable() bool {
	if _, err := os.Stat("/usr/include/openssl/evp.h"); err != nil {
		return false
	}
	out, err := exec.Command("go", "env", "CGO_ENABLED").Output()
	return err == nil && strings.TrimSpace(string(out)) == "1"
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
