// Package oidc is Sekisho's OpenID Connect provider, built on zitadel/oidc's op package
// (a certified library) with JOSE by go-jose: discovery, the JSON Web Key Set, the
// authorization endpoint (authorization code with PKCE), the token endpoint and userinfo.
//
// Decisions worth knowing:
//   - Clients are application rows with protocol "oidc" (entity ID = client_id; ClientConfig
//     is the row's JSON): confidential or public, redirect URIs matched exactly, grants,
//     scopes, token lifetimes. A confidential client's secret is 256 random bits made by
//     Sekisho and stored only as an HMAC-SHA256 under a key derived from the master key.
//   - The authorization endpoint is Sekisho's own: an unknown client or a redirect_uri not
//     registered exactly gets an error page (recorded), never a redirect; other errors go
//     back to the registered redirect URI. PKCE is S256 only and required of public clients.
//   - Every authorization passes the gate like SAML: the browser's session from
//     signin.Sessions.Require (the sign-in page and the second-factor step are Sekisho's),
//     then Gate.Check with protocol "oidc"; only an Allowed outcome yields a code, a refusal
//     shows the denial page with the record's reference.
//   - Nothing of a flow lives in a process: the validated request crosses the sign-in page
//     sealed (AES-256-GCM, key derived from the master key) and single-use; the code is the
//     sealed grant, short-lived and redeemed once (store.UseOnce), so any node can finish a
//     flow another started.
//   - The token endpoint is zitadel/oidc's code exchange (client authentication, PKCE, ID
//     and access tokens signed RS256 by the current token key); every refusal there is
//     recorded before it is answered. Token IDs (jti) are "_" and the sign-in record's ID.
//   - The JWKS publishes current, next and retired token keys under their stored IDs.
package oidc
