package bridge

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// TestIMAPWithOAuthTokens: the bridge with tokens: oauth, pointed at Sekisho's own token
// endpoint as a generic OAuth server. Before alice's mailbox is connected, curl is turned
// away with the clear error in the sign-in record; after she approved the device code, curl
// reads her Dovecot mailbox through the IMAP door with her delegated access token (Dovecot
// introspects it at Sekisho), and after the token expired, with the refreshed one.
func TestIMAPWithOAuthTokens(t *testing.T) {
	curl := peers.Command(t, "curl", "apt-get install -y curl")
	ctx := context.Background()
	// The IdP's address is known only once start has run, so the token source is configured
	// with placeholders and pointed at it below (the admin service holds the very source the
	// doors use).
	e := start(t, func(b *config.Bridge) {
		b.Upstream.Tokens, b.Upstream.ClientID = config.BridgeTokensOAuth, ""
		b.Upstream.OAuth = config.BridgeOAuth{TokenURL: "https://sekisho.invalid/oidc/token",
			DeviceAuthorizationURL: "https://sekisho.invalid/oidc/device_authorization", ClientID: "later",
			Scopes: []string{"openid", "email", "offline_access"}}
	})
	added, err := e.adm.AddOIDCClient(ctx, cli, "mail-upstream", admin.NewOIDCClient{Public: true,
		Grants: []string{"device_code", "refresh_token"}, Scopes: []string{"openid", "email", "offline_access"},
		AccessTokenLifetime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	src := e.adm.BridgeUpstream
	if src == nil || src.Profile != "oauth" {
		t.Fatalf("the bridge's token source: %+v", src)
	}
	src.OAuth.ClientID = added.Client.ClientID
	src.OAuth.Endpoint.TokenURL = e.idp.URL + "/oidc/token"
	src.OAuth.Endpoint.DeviceAuthURL = e.idp.URL + "/oidc/device_authorization"
	src.HTTP = &http.Client{Transport: e.idp.Client().Transport, Timeout: 20 * time.Second}
	var offset atomic.Int64
	src.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }

	e.dovecot.Seed(t, alice, 2, 1500)
	pw := e.issue(alice, "old-mail-client", []string{apppassword.ScopeIMAP})
	fetch := func() (string, error) {
		out, err := exec.Command(curl, "-sS", "--cacert", e.idp.CAFile, "--user", alice+":"+pw,
			"imaps://"+e.addr("imap")+"/INBOX;UID=2").CombinedOutput()
		return string(out), err
	}
	lastRecord := func() store.SignInEvent {
		t.Helper()
		evs, err := e.st.ListSignIns(ctx, store.SignInFilter{Username: alice})
		if err != nil || len(evs) == 0 {
			t.Fatalf("sign-in records: %v", err)
		}
		return evs[len(evs)-1]
	}

	// Not connected: curl fails, the record says what to do.
	if out, err := fetch(); err == nil {
		t.Fatalf("curl before the mailbox was connected:\n%s", out)
	}
	if ev := lastRecord(); !strings.Contains(ev.Reason, "upstream: access token: alice@example.com has not connected the mailbox: "+
		"run sekisho bridge upstream connect --user alice@example.com") {
		t.Fatalf("record of the refusal: %+v", ev)
	}

	// Connected with the device grant: alice approves at Sekisho's device page.
	v, err := e.adm.ConnectBridgeUpstream(ctx, cli, alice, func(d oauthtokens.DeviceCode) error {
		e.idp.ApproveDevice(t, d.VerificationURIComplete, alice, e.idp.Password(alice))
		return nil
	})
	if err != nil || v.User != alice {
		t.Fatalf("connect: %+v %v", v, err)
	}
	if out, err := fetch(); err != nil || !strings.Contains(out, "Subject: Seed message 2") {
		t.Fatalf("curl through the bridge: %v\n%s", err, out)
	}
	if ev := e.lastSignIn(t, "bridge-imap"); ev.Decision != "allow" || ev.Username != alice {
		t.Fatalf("record %+v", ev)
	}
	rowOf := func() oauthtokens.Grant {
		t.Helper()
		u, _ := e.st.GetUserByUPN(ctx, alice)
		row, err := e.st.GetBridgeUpstreamGrant(ctx, "oauth", u.ID)
		if err != nil {
			t.Fatal(err)
		}
		g, err := src.Open(row)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	before := rowOf()

	// Expired: the next login refreshes, Dovecot accepts the new token.
	offset.Add(int64(time.Minute))
	if out, err := fetch(); err != nil || !strings.Contains(out, "Subject: Seed message 2") {
		t.Fatalf("curl after the token expired: %v\n%s", err, out)
	}
	if after := rowOf(); after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken || after.RefreshedAt.IsZero() {
		t.Fatalf("no refresh stored: %+v", after)
	}
}
