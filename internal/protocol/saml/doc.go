// Package saml is Sekisho's SAML 2.0 identity provider: SP configuration and metadata
// import, IdP metadata, AuthnRequest/LogoutRequest/LogoutResponse decoding and verification,
// signed Responses, and the HTTP endpoints (mount with mux.Handle("/saml/", h)).
//
// Decisions worth knowing:
//   - Every inbound message is parsed once with etree (no DTDs, size and depth limits, exactly
//     one root). Signed HTTP-POST messages are read only from the element goxmldsig returns;
//     HTTP-Redirect signatures are checked over the query octets exactly as received.
//   - Responses are written in exclusive canonical form from templates (emit.go,
//     internal/xmltemplate) and signed over those bytes; the templates are proven against the
//     etree + goxmldsig construction they replaced (emit_test.go, FuzzEmitResponse) and xmlsec1
//     and samlsign verify them. Input is never canonicalised by hand: verification is goxmldsig.
//   - RSA-SHA256 only, inbound and outbound; SHA-1 signatures are refused (see SigAlgRSASHA256).
//   - The response goes only to a registered HTTP-POST ACS; an unregistered ACS URL or index in
//     a request is an error, never silently replaced.
//   - AuthnContextClassRef: PasswordProtectedTransport, or after MFA the SP's MFAClassRef
//     (Entra ID: http://schemas.microsoft.com/claims/multipleauthn; others by default the
//     REFEDS MFA profile https://refeds.org/profile/mfa, since SAML 2.0 has no generic MFA class).
//   - The validated request crosses the sign-in page as an HMAC-protected, single-use resume
//     parameter (/saml/sso?resume=…), so any node can finish the flow. ForceAuthn is honoured by
//     requiring a credential proven after the request arrived.
//   - IsPassive requests are answered NoPassive (signin.Sessions cannot look without prompting).
//   - Single logout is a front-channel chain through the browser (see slo.go).
//   - Every rejected message gets a 400 page and an Audit.RecordRejected call.
package saml
