// Command store-trips prints what test/storetrips counted (SQL round trips and writes per
// sign-in on SQLite and PostgreSQL) and, last, the benchjson line: writes per SSO sign-in on
// PostgreSQL against the goal of 2 (a figure of about 14 for Keycloak is quoted by the issue, not measured here).
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"sort"

	"github.com/sekisho/sekisho/bench/benchjson"
)

type cost struct {
	RoundTrips int64    `json:"roundTrips"`
	Writes     int64    `json:"writes"`
	Written    []string `json:"written"`
}

const ssoFlow = "SSO sign-in (SAML, existing session)"

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: store-trips RESULTS.json (bench/store-trips/run.sh writes it)")
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	var res map[string]map[string]cost
	if err := json.Unmarshal(b, &res); err != nil {
		log.Fatal(err)
	}
	extra := map[string]any{}
	for _, backend := range []string{"sqlite", "pgx"} {
		flows := res[backend]
		names := make([]string, 0, len(flows))
		for n := range flows {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Printf("%s:\n", map[string]string{"sqlite": "SQLite", "pgx": "PostgreSQL"}[backend])
		for _, n := range names {
			c := flows[n]
			fmt.Printf("  %-40s %3d round trips  %d writes\n", n, c.RoundTrips, c.Writes)
			for _, q := range c.Written {
				fmt.Printf("      %.100s\n", q)
			}
			extra[backend+": "+n] = map[string]int64{"round_trips": c.RoundTrips, "writes": c.Writes}
		}
	}
	sso, ok := res["pgx"][ssoFlow]
	if !ok {
		log.Fatalf("no %q on PostgreSQL in the results", ssoFlow)
	}
	benchjson.Print(benchjson.Result{Bench: "store-trips", Value: float64(sso.Writes), Unit: "writes per SSO sign-in (PostgreSQL)",
		Reference: "goal: at most 2 writes per SSO sign-in", ReferenceValue: 2, Extra: extra})
}
