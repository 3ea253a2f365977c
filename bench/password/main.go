// Command password measures password verifications per second (directory.Params.Verify:
// PHC parsing + argon2id + constant-time compare) against raw argon2.IDKey at the same
// parameters, one goroutine (per core), in the same run.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/internal/directory"
)

func main() {
	dur := flag.Duration("duration", 5*time.Second, "how long each side runs")
	flag.Parse()
	p := directory.DefaultParams
	hash, err := p.Hash("correct horse battery staple")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	salt := []byte("0123456789abcdef")
	raw := rate(*dur, func() {
		argon2.IDKey([]byte("correct horse battery staple"), salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
	})
	verify := rate(*dur, func() {
		if ok, _, _ := p.Verify("correct horse battery staple", hash); !ok {
			panic("verification failed")
		}
	})
	fmt.Printf("argon2id m=%d KiB t=%d p=%d: raw IDKey %.1f/s, Verify %.1f/s\n", p.MemoryKiB, p.Iterations, p.Parallelism, raw, verify)
	benchjson.Print(benchjson.Result{Bench: "password", Value: verify, Unit: "verifications/s/core", Reference: "argon2id-raw",
		ReferenceValue: raw, Extra: map[string]any{"memory_kib": p.MemoryKiB, "iterations": p.Iterations, "parallelism": p.Parallelism}})
}

func rate(d time.Duration, f func()) float64 {
	f() // warm up: page in the memory
	n, start := 0, time.Now()
	for time.Since(start) < d {
		f()
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}
