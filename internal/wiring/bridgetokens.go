package wiring

import (
	"errors"
	"strings"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/config"
)

// bridgeTokens is the token source of the bridge's upstream u (bridge.upstream.tokens):
// Sekisho's own OpenID Connect provider (sekisho), or an OAuth server (oauth, microsoft365),
// whose source the admin service then uses too, to connect and disconnect mailboxes.
func (s *Services) bridgeTokens(u config.BridgeUpstream) (bridge.Tokens, error) {
	in := s.Instance
	switch strings.ToLower(strings.TrimSpace(u.Tokens)) {
	case config.BridgeTokensOAuth, config.BridgeTokensMicrosoft365:
		if in.Admin != nil && in.Admin.BridgeUpstream != nil {
			// Built from the same configuration by mountMail: one source, one cache.
			return in.Admin.BridgeUpstream, nil
		}
		b := in.Config.Bridge
		b.Upstream = u
		src, err := oauthtokens.FromConfig(b, in.Config.Resolve, in.Store, in.Sealer, in.Log)
		if err != nil {
			return nil, err
		}
		if in.Admin != nil {
			in.Admin.BridgeUpstream = src
		}
		return src, nil
	}
	if s.OIDC == nil {
		return nil, errors.New("bridge: the OpenID Connect provider is not mounted; it issues the upstream tokens")
	}
	return bridge.IssuerTokens{Issue: s.OIDC.IssueAccessToken, ClientID: u.ClientID, Scopes: u.Scopes}, nil
}

// bridgeWithDefaults is u, the upstream of b, with what its token kind implies filled in
// (microsoft365: Exchange Online's addresses, the tenant's endpoints, the scopes).
func bridgeWithDefaults(b config.Bridge, u config.BridgeUpstream) config.BridgeUpstream {
	b.Upstream = u
	return b.WithDefaults().Upstream
}
