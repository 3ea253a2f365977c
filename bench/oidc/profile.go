package main

import (
	"context"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/bench/benchutil"
	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

// profile runs the client_credentials load against an in-process Sekisho (idptest: the
// wiring of `sekisho serve`, HTTPS on loopback, SQLite) under the CPU profiler. The profile
// holds the load generator too: read it from net/http.(*conn).serve down (pprof -focus).
func profile(t testing.TB, file, alg string, workers int, warm, d time.Duration, logf func(string, ...any)) {
	var cc admin.AddedOIDCClient
	idp := idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		a := admin.Actor{Name: "os:bench", Via: "cli"}
		var err error
		if cc, err = in.Admin.AddOIDCClient(ctx, a, ccApp, admin.NewOIDCClient{Grants: []string{"client_credentials"}, SigningAlg: alg}); err != nil {
			return err
		}
		_, err = in.Admin.PublishPolicy(ctx, a, "policy.yaml", []byte(strings.Replace(setup.DemoPolicy, "rules:\n", benchPolicy, 1)), "make bench-oidc")
		return err
	}})
	hc := idp.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = workers
	do := func(ctx context.Context, _ int) string {
		return tokenPost(ctx, hc, idp.URL+"/oidc/token", cc.Client.ClientID, cc.Secret, ccForm, nil)
	}
	if _, err := measure(t.Context(), "warm-up", os.Getpid(), workers, 0, warm, do); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	c0 := benchutil.CPUTime()
	p, err := measure(t.Context(), "sekisho in process client_credentials "+alg, os.Getpid(), workers, 0, d, do)
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	logf("%s (server and clients in one process; %.2f CPU-seconds in all)", p, (benchutil.CPUTime() - c0).Seconds())
	logf("profile in %s: go tool pprof -top -focus 'net/http.\\(\\*conn\\).serve' %s", file, file)
	// What the run allocated, by call site (the same requests as the CPU profile): the
	// garbage collector's share of the CPU follows the bytes allocated per grant.
	mf, err := os.Create(file + ".alloc")
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	if err := pprof.Lookup("allocs").WriteTo(mf, 0); err != nil {
		t.Fatal(err)
	}
	logf("allocations in %s.alloc: go tool pprof -sample_index alloc_space -top -focus 'net/http.\\(\\*conn\\).serve' %s.alloc", file, file)
}
