package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeTokenService is an OAuth server with the device grant whose user approves at once.
func fakeTokenService(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var polls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("client_id") != "bridge-client" || r.FormValue("scope") != "offline_access mail" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"device_code":"dev-1","user_code":"WDJB-MJHT","verification_uri":"https://%s/activate","expires_in":600,"interval":1}`, r.Host)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || r.FormValue("device_code") != "dev-1" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		if polls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"authorization_pending"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"secret-access-1","refresh_token":"secret-refresh-1","token_type":"Bearer","expires_in":3600,"scope":"offline_access mail"}`)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, &polls
}

// TestCLIBridgeUpstream: connect prints where to sign in and the code, waits for the token
// service and stores the grant; list shows it without a token; disconnect forgets it; every
// change is in the audit log, never a token.
func TestCLIBridgeUpstream(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d := "--data=" + dir
	mustRun(t, "", "init", d)
	mustRun(t, "", "user", "add", "alice@example.com", d)
	if _, err := run(t, "", "bridge", "upstream", "list", d); err == nil || !strings.Contains(err.Error(), "set bridge.upstream.tokens to oauth or microsoft365") {
		t.Fatalf("without an OAuth token service: %v", err)
	}

	srv, polls := fakeTokenService(t)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "token-ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "sekisho.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "bridge:\n  upstream:\n    tokens: oauth\n    oauth:\n      token_url: %s/token\n      device_authorization_url: %s/device\n"+
		"      client_id: bridge-client\n      scopes: [offline_access, mail]\n      ca_file: token-ca.pem\n", srv.URL, srv.URL)
	f.Close()

	out := mustRun(t, "", "bridge", "upstream", "connect", "--user", "alice@example.com", d)
	for _, want := range []string{"sign in as alice@example.com at", srv.URL + "/activate", "enter the code WDJB-MJHT", "Waiting",
		"connected the mailbox of alice@example.com (profile oauth; offline_access mail)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("connect does not say %q:\n%s", want, out)
		}
	}
	if polls.Load() != 2 {
		t.Fatalf("%d polls", polls.Load())
	}
	js := mustRun(t, "", "bridge", "upstream", "list", "--json", d)
	var list []struct{ User, Profile, ConnectedBy, Broken string }
	if err := json.Unmarshal([]byte(js), &list); err != nil || len(list) != 1 || list[0].User != "alice@example.com" || list[0].Profile != "oauth" ||
		!strings.HasPrefix(list[0].ConnectedBy, "os:") || list[0].Broken != "" || strings.Contains(js, "secret-") {
		t.Fatalf("list: %s %v", js, err)
	}
	if out := mustRun(t, "", "bridge", "upstream", "list", d); !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "connected") ||
		!strings.Contains(out, "never") {
		t.Fatalf("list table:\n%s", out)
	}
	if _, err := run(t, "", "bridge", "upstream", "connect", "--user", "nobody@example.com", d); err == nil || !strings.Contains(err.Error(), "nobody@example.com") {
		t.Fatalf("unknown user: %v", err)
	}
	if out := mustRun(t, "", "bridge", "upstream", "disconnect", "--user", "alice@example.com", d); !strings.Contains(out, "disconnected the mailbox of alice@example.com") {
		t.Fatalf("disconnect: %q", out)
	}
	if _, err := run(t, "", "bridge", "upstream", "disconnect", "--user", "alice@example.com", d); err == nil || !strings.Contains(err.Error(), "has not connected the mailbox") {
		t.Fatalf("disconnect twice: %v", err)
	}
	if js := mustRun(t, "", "bridge", "upstream", "list", "--json", d); strings.TrimSpace(js) != "[]" {
		t.Fatalf("list after disconnect: %s", js)
	}
	audit := mustRun(t, "", "audit", "list", "--action", "bridge.upstream.", "--json", d)
	if strings.Count(audit, "bridge.upstream.connect") != 1 || strings.Count(audit, "bridge.upstream.disconnect") != 1 || strings.Contains(audit, "secret-") {
		t.Fatalf("audit: %s", audit)
	}
}
