// Package oidc is Sekisho's OpenID Connect provider, built on zitadel/oidc's op package
// (a certified library) with JOSE by go-jose: discovery, the JSON Web Key Set, the
// authorization endpoint (authorization code with PKCE), the token endpoint (authorization
// code, refresh token, client credentials), userinfo, token introspection (RFC 7662) and
// revocation (RFC 7009).
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
//   - The token endpoint is zitadel/oidc's exchanges (client authentication, PKCE, ID and
//     access tokens signed RS256 by the current token key, or ES256 by the current P-256 key
//     for a client set to it); every refusal there is recorded
//     before it is answered, and the answer leaves only once what it hands out is stored.
//     Token IDs (jti) are "_" and the ID of the sign-in record that allowed them.
//   - Refresh tokens (refresh.go): offline_access for a client with the refresh_token
//     grant; 256 random bits stored as their SHA-256 in the store (every node sees them);
//     each use passes the gate again and rotates the token; a rotated token presented again
//     revokes its whole family, recorded. Access tokens issued with one name the family
//     (grant_id), so revoking it ends them at introspection and userinfo.
//   - client_credentials (clientcreds.go): a confidential client in its own name, judged by
//     the gate as a client (signin.Attempt.Client: no user, its application, address and the
//     policy), recorded; the access token's subject is the client_id.
//   - Introspection and revocation (introspect.go) are Sekisho's own endpoints, authenticated
//     by the client; revoked access tokens are kept by jti until they expire.
//   - The JWKS publishes current, next and retired token keys under their stored IDs.
package oidc
