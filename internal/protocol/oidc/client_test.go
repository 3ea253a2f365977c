package oidc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/config"
)

func TestClientConfigComplete(t *testing.T) {
	hash := bytes.Repeat([]byte{1}, 32)
	base := func(edit func(*ClientConfig)) ClientConfig {
		c := ClientConfig{ClientID: "c1", RedirectURIs: []string{"https://rp.example.com/cb"}, SecretHash: hash}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	cases := []struct {
		name    string
		c       ClientConfig
		wantErr string
		check   func(t *testing.T, c ClientConfig)
	}{
		{name: "defaults", c: base(nil), check: func(t *testing.T, c ClientConfig) {
			if c.Type != Confidential || !slices.Equal(c.Grants, []string{GrantAuthorizationCode}) ||
				!slices.Equal(c.Scopes, []string{"openid", "profile", "email", "groups"}) ||
				c.AccessTTL() != DefaultAccessTokenLifetime || c.IDTTL() != DefaultIDTokenLifetime || c.RefreshTTL() != 0 {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "openid is always allowed", c: base(func(c *ClientConfig) { c.Scopes = []string{"email", "email"} }), check: func(t *testing.T, c ClientConfig) {
			if !slices.Equal(c.Scopes, []string{"openid", "email"}) {
				t.Errorf("scopes %v", c.Scopes)
			}
		}},
		{name: "public without secret", c: base(func(c *ClientConfig) { c.Type, c.SecretHash = Public, nil })},
		{name: "no client id", c: base(func(c *ClientConfig) { c.ClientID = "" }), wantErr: "clientId is required"},
		{name: "client id with colon", c: base(func(c *ClientConfig) { c.ClientID = "a:b" }), wantErr: "no colon"},
		{name: "unknown type", c: base(func(c *ClientConfig) { c.Type = "spa" }), wantErr: "must be confidential or public"},
		{name: "public with a secret", c: base(func(c *ClientConfig) { c.Type = Public }), wantErr: "has no secret"},
		{name: "confidential without a secret", c: base(func(c *ClientConfig) { c.SecretHash = nil }), wantErr: "needs its secret"},
		{name: "no redirect URI", c: base(func(c *ClientConfig) { c.RedirectURIs = nil }), wantErr: "at least one redirect URI"},
		{name: "duplicate redirect URI", c: base(func(c *ClientConfig) { c.RedirectURIs = append(c.RedirectURIs, c.RedirectURIs[0]) }), wantErr: "twice"},
		{name: "bad redirect URI", c: base(func(c *ClientConfig) { c.RedirectURIs = []string{"http://rp.example.com/cb"} }), wantErr: "loopback"},
		{name: "refresh tokens: offline_access and the default lifetime come with the grant",
			c: base(func(c *ClientConfig) { c.Grants = []string{GrantAuthorizationCode, GrantRefreshToken} }), check: func(t *testing.T, c ClientConfig) {
				if !slices.Contains(c.Scopes, ScopeOfflineAccess) || c.RefreshTTL() != DefaultRefreshTokenLifetime {
					t.Errorf("scopes %v refresh lifetime %s", c.Scopes, c.RefreshTTL())
				}
			}},
		{name: "refresh token lifetime", c: base(func(c *ClientConfig) {
			c.Grants, c.RefreshTokenLifetime = []string{GrantAuthorizationCode, GrantRefreshToken}, config.Duration(7*24*time.Hour)
		}), check: func(t *testing.T, c ClientConfig) {
			if c.RefreshTTL() != 7*24*time.Hour {
				t.Errorf("refresh lifetime %s", c.RefreshTTL())
			}
		}},
		{name: "client_credentials alone: no redirect URI", c: base(func(c *ClientConfig) {
			c.Grants, c.RedirectURIs = []string{GrantClientCredentials}, nil
		}), check: func(t *testing.T, c ClientConfig) {
			if !c.Allows(GrantClientCredentials) || c.Allows(GrantAuthorizationCode) {
				t.Errorf("grants %v", c.Grants)
			}
		}},
		{name: "every grant", c: base(func(c *ClientConfig) {
			c.Grants = []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken, GrantRefreshToken}
		}), check: func(t *testing.T, c ClientConfig) {
			if len(c.Grants) != 3 {
				t.Errorf("grants %v", c.Grants)
			}
		}},
		{name: "unknown grant", c: base(func(c *ClientConfig) { c.Grants = []string{"password"} }), wantErr: "not supported"},
		{name: "client_credentials for a public client", c: base(func(c *ClientConfig) {
			c.Type, c.SecretHash, c.Grants = Public, nil, []string{GrantAuthorizationCode, GrantClientCredentials}
		}), wantErr: "for confidential clients"},
		{name: "refresh_token without the code grant", c: base(func(c *ClientConfig) {
			c.Grants, c.RedirectURIs = []string{GrantRefreshToken, GrantClientCredentials}, nil
		}), wantErr: "allow authorization_code or device_code too"},
		{name: "device grant alias, no redirect URI needed, refresh with it", c: base(func(c *ClientConfig) {
			c.Type, c.SecretHash, c.RedirectURIs, c.Grants = Public, nil, nil, []string{"device_code", GrantRefreshToken}
		}), check: func(t *testing.T, c ClientConfig) {
			if !slices.Equal(c.Grants, []string{GrantDeviceCode, GrantRefreshToken}) || c.Sector() != "client:"+c.ClientID {
				t.Errorf("grants %v sector %s", c.Grants, c.Sector())
			}
		}},
		{name: "pairwise: the redirect URIs' host is the sector", c: base(func(c *ClientConfig) { c.SubjectType = SubjectPairwise }),
			check: func(t *testing.T, c ClientConfig) {
				if !c.IsPairwise() || c.Sector() != "rp.example.com" {
					t.Errorf("pairwise %v sector %s", c.IsPairwise(), c.Sector())
				}
			}},
		{name: "public subject type is the default", c: base(func(c *ClientConfig) { c.SubjectType = SubjectPublic }),
			check: func(t *testing.T, c ClientConfig) {
				if c.IsPairwise() || c.SubjectType != "" {
					t.Errorf("subject type %q", c.SubjectType)
				}
			}},
		{name: "pairwise over two hosts", c: base(func(c *ClientConfig) {
			c.SubjectType, c.RedirectURIs = SubjectPairwise, append(c.RedirectURIs, "https://other.example.com/cb")
		}), wantErr: "one sector"},
		{name: "unknown subject type", c: base(func(c *ClientConfig) { c.SubjectType = "random" }), wantErr: "public or pairwise"},
		{name: "post-logout URI checked like a redirect URI", c: base(func(c *ClientConfig) {
			c.PostLogoutRedirectURIs = []string{"http://rp.example.com/bye"}
		}), wantErr: "post-logout redirect URI"},
		{name: "post-logout URI twice", c: base(func(c *ClientConfig) {
			c.PostLogoutRedirectURIs = []string{"https://rp.example.com/bye", "https://rp.example.com/bye"}
		}), wantErr: "listed twice"},
		{name: "back-channel logout URI must be https", c: base(func(c *ClientConfig) { c.BackchannelLogoutURI = "ftp://rp.example.com/bc" }),
			wantErr: "back-channel logout"},
		{name: "back-channel logout for public clients refused", c: base(func(c *ClientConfig) {
			c.Type, c.SecretHash, c.BackchannelLogoutURI = Public, nil, "https://rp.example.com/bc"
		}), wantErr: "confidential clients"},
		{name: "a previous secret until a time", c: base(func(c *ClientConfig) {
			c.PreviousSecretHash, c.PreviousSecretExpires = bytes.Repeat([]byte{2}, 32), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		})},
		{name: "a previous secret without its expiry", c: base(func(c *ClientConfig) { c.PreviousSecretHash = bytes.Repeat([]byte{2}, 32) }),
			wantErr: "the time it stops working"},
		{name: "an expiry without a previous secret", c: base(func(c *ClientConfig) { c.PreviousSecretExpires = time.Now() }),
			wantErr: "without a previous secret"},
		{name: "a damaged previous secret", c: base(func(c *ClientConfig) {
			c.PreviousSecretHash, c.PreviousSecretExpires = []byte{2}, time.Now()
		}), wantErr: "damaged"},
		{name: "a public client with a previous secret", c: base(func(c *ClientConfig) {
			c.Type, c.SecretHash, c.PreviousSecretHash, c.PreviousSecretExpires = Public, nil, bytes.Repeat([]byte{2}, 32), time.Now()
		}), wantErr: "no previous secret"},
		{name: "redirect URIs without the code grant", c: base(func(c *ClientConfig) { c.Grants = []string{GrantClientCredentials} }),
			wantErr: "redirect URIs are for the authorization code grant"},
		{name: "offline_access without the refresh grant", c: base(func(c *ClientConfig) { c.Scopes = []string{"openid", "offline_access"} }),
			wantErr: "allow the refresh_token grant"},
		{name: "refresh lifetime without the refresh grant", c: base(func(c *ClientConfig) { c.RefreshTokenLifetime = config.Duration(time.Hour) }),
			wantErr: "needs the refresh_token grant"},
		{name: "refresh lifetime too long", c: base(func(c *ClientConfig) {
			c.Grants, c.RefreshTokenLifetime = []string{GrantAuthorizationCode, GrantRefreshToken}, config.Duration(400*24*time.Hour)
		}), wantErr: "refreshTokenLifetime"},
		{name: "unknown scope", c: base(func(c *ClientConfig) { c.Scopes = []string{"openid", "api.read"} }), wantErr: "not known"},
		{name: "lifetime too short", c: base(func(c *ClientConfig) { c.AccessTokenLifetime = config.Duration(time.Second) }), wantErr: "accessTokenLifetime"},
		{name: "lifetime too long", c: base(func(c *ClientConfig) { c.IDTokenLifetime = config.Duration(48 * time.Hour) }), wantErr: "idTokenLifetime"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.c.Complete()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, got)
			}
			// What Complete returns is what ParseClientConfig reads back.
			raw, _ := json.Marshal(got)
			again, err := ParseClientConfig(raw)
			if err != nil || !slices.Equal(again.Scopes, got.Scopes) || !slices.Equal(again.Grants, got.Grants) ||
				again.AccessTTL() != got.AccessTTL() || again.RefreshTTL() != got.RefreshTTL() {
				t.Fatalf("round trip: %+v, %v", again, err)
			}
		})
	}
}

func TestCheckRedirectURI(t *testing.T) {
	cases := []struct {
		uri    string
		public bool
		ok     bool
	}{
		{"https://rp.example.com/cb", false, true},
		{"https://rp.example.com:8443/cb?tenant=a", false, true},
		{"http://localhost:8080/cb", false, true},
		{"http://127.0.0.1:8400/callback", true, true},
		{"http://[::1]/cb", true, true},
		{"com.example.app:/oauth2redirect", true, true},
		{"com.example.app:/oauth2redirect", false, false}, // a private-use scheme is for native (public) apps
		{"myapp:/cb", true, false},                        // a private-use scheme needs a reverse domain
		{"http://rp.example.com/cb", false, false},        // http only to loopback
		{"https://rp.example.com/cb#frag", false, false},
		{"https://user:pw@rp.example.com/cb", false, false},
		{"https://*.example.com/cb", false, false},
		{"/cb", false, false},
		{"https:///cb", false, false},
		{"", false, false},
		{"https://rp.example.com/" + strings.Repeat("a", 2000), false, false},
	}
	for _, c := range cases {
		err := CheckRedirectURI(c.uri, c.public)
		if (err == nil) != c.ok {
			t.Errorf("CheckRedirectURI(%q, public=%v) = %v, want ok=%v", c.uri, c.public, err, c.ok)
		}
	}
}

func TestSecretHasher(t *testing.T) {
	if _, err := NewSecretHasher(make([]byte, 16)); err == nil {
		t.Fatal("a short key was accepted")
	}
	h, _ := NewSecretHasher(bytes.Repeat([]byte{7}, 32))
	other, _ := NewSecretHasher(bytes.Repeat([]byte{8}, 32))
	secret, hash, err := h.New("c1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != SecretBytes || SecretBytes*8 < 256 {
		t.Fatalf("secret %q: %d random bytes, %v", secret, len(raw), err)
	}
	if s2, _, _ := h.New("c1"); s2 == secret {
		t.Fatal("two secrets are the same")
	}
	cases := []struct {
		name           string
		h              *SecretHasher
		client, secret string
		stored         []byte
		want           bool
	}{
		{"the secret", h, "c1", secret, hash, true},
		{"another secret", h, "c1", secret[:42] + "x", hash, false},
		{"another client's hash", h, "c2", secret, hash, false},
		{"another master key", other, "c1", secret, hash, false},
		{"no stored hash (public)", h, "c1", secret, nil, false},
		{"empty secret", h, "c1", "", hash, false},
	}
	for _, c := range cases {
		if got := c.h.Check(c.client, c.secret, c.stored); got != c.want {
			t.Errorf("%s: Check = %v", c.name, got)
		}
	}
}

// SecretMatches accepts the current secret, and the one a rotation replaced only before its
// expiry; never another client's, a public client's or an empty one.
func TestSecretMatches(t *testing.T) {
	h, _ := NewSecretHasher(bytes.Repeat([]byte{7}, 32))
	cur, curHash, _ := h.New("c1")
	old, oldHash, _ := h.New("c1")
	other, otherHash, _ := h.New("c2")
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rotated := ClientConfig{ClientID: "c1", Type: Confidential, SecretHash: curHash, PreviousSecretHash: oldHash, PreviousSecretExpires: until}
	plain := ClientConfig{ClientID: "c1", Type: Confidential, SecretHash: curHash}
	cases := []struct {
		name   string
		c      ClientConfig
		h      *SecretHasher
		secret string
		now    time.Time
		want   bool
	}{
		{"the current secret", plain, h, cur, until, true},
		{"the current secret after a rotation", rotated, h, cur, until.Add(time.Hour), true},
		{"the previous secret before its expiry", rotated, h, old, until.Add(-time.Second), true},
		{"the previous secret at its expiry", rotated, h, old, until, false},
		{"the previous secret after its expiry", rotated, h, old, until.Add(time.Hour), false},
		{"a replaced secret without --keep-old", plain, h, old, until, false},
		{"another client's secret", rotated, h, other, until.Add(-time.Hour), false},
		{"another client's hash as the previous", ClientConfig{ClientID: "c1", SecretHash: curHash, PreviousSecretHash: otherHash, PreviousSecretExpires: until},
			h, other, until.Add(-time.Hour), false},
		{"an empty secret", rotated, h, "", until.Add(-time.Hour), false},
		{"a public client", ClientConfig{ClientID: "c1", Type: Public}, h, "", until, false},
		{"no hasher", plain, nil, cur, until, false},
	}
	for _, c := range cases {
		if got := c.c.SecretMatches(c.h, c.secret, c.now); got != c.want {
			t.Errorf("%s: SecretMatches = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPublicView(t *testing.T) {
	c, _ := ClientConfig{ClientID: "c1", RedirectURIs: []string{"https://rp.example.com/cb"}, SecretHash: bytes.Repeat([]byte{1}, 32)}.Complete()
	raw, _ := json.Marshal(c)
	v := string(PublicView(raw))
	if strings.Contains(v, "secretHash") || strings.Contains(v, base64.StdEncoding.EncodeToString(c.SecretHash)) || !strings.Contains(v, `"hasSecret":true`) ||
		!strings.Contains(v, `"clientId":"c1"`) {
		t.Fatalf("public view %s", v)
	}
	c.PreviousSecretHash, c.PreviousSecretExpires = bytes.Repeat([]byte{2}, 32), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	raw, _ = json.Marshal(c)
	if v := string(PublicView(raw)); strings.Contains(v, "ecretHash") || strings.Contains(v, base64.StdEncoding.EncodeToString(c.PreviousSecretHash)) ||
		!strings.Contains(v, `"hasPreviousSecret":true`) || !strings.Contains(v, `"previousSecretExpires":"2030-01-01T00:00:00Z"`) {
		t.Fatalf("public view after a rotation %s", v)
	}
	if v := string(PublicView([]byte(`{"clientId":"p","type":"public"}`))); strings.Contains(v, "ecret") {
		t.Fatalf("public client view %s", v)
	}
}

func TestAMR(t *testing.T) {
	cases := []struct {
		methods []string
		mfa     bool
		want    []string
		acr     string
	}{
		{[]string{"pwd"}, false, []string{"pwd"}, ACRSingleFactor},
		{[]string{"pwd", "totp"}, true, []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		{[]string{"pwd", "emergency", "totp"}, true, []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		{[]string{"pwd", "webauthn"}, true, []string{"pwd", "hwk", "mfa"}, ACRMultiFactor},
		{[]string{"pwd", "smoke-signal"}, false, []string{"pwd"}, ACRSingleFactor},
		{nil, false, nil, ACRSingleFactor},
	}
	for _, c := range cases {
		if got := AMR(c.methods, c.mfa); !slices.Equal(got, c.want) || ACR(c.mfa) != c.acr {
			t.Errorf("AMR(%v, %v) = %v, %s", c.methods, c.mfa, got, ACR(c.mfa))
		}
	}
}
