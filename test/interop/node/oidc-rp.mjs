// openid-client 6.9 as an OpenID Connect relying party (a confidential web application)
// against Sekisho, driven by test/interop/oidc (TestNodeOpenIDClientInChromium).
//
// The test passes the callback's listening socket as fd 3 (a free port of 127.0.0.1 that
// the test registered as the client's redirect URI) and the client in the environment:
// SEKISHO_ISSUER, RP_CLIENT_ID, RP_CLIENT_SECRET. It talks to the test in JSON lines, stdout
// carrying events and stdin the test's answers:
//   1. -> {"event":"listening","redirect_uri":…}
//   2. discovery over HTTPS (NODE_EXTRA_CA_CERTS trusts Sekisho's test CA), with the
//      non-repudiation checks on (every ID token's signature verified from the JWKS);
//      client_secret_post, openid-client's default.
//   3. -> {"event":"discovered","issuer":…}
//   4. For each authorization: -> {"event":"authorize","name":…,"url":…,"expect":"callback"|"refused"}.
//      The test sends the browser there. "callback": the script waits for the browser at its
//      callback. "refused": the script waits for <- {"ack":name} (the browser must never
//      arrive; any request other than a callback is reported in unexpected_requests).
//   5. -> {"event":"summary",…} and exit 0; on an unexpected failure {"event":"error",…}, exit 1.
//
// What it does: code + PKCE S256 + state + nonce (authorizationCodeGrant validates iss, aud,
// azp, nonce, at_hash, signature), userinfo, introspection, refresh (rotation), RFC 7009
// revocation; and the refusals: a replayed code, a wrong code_verifier, a rotated refresh
// token presented again (which ends the grant: the new one is refused too), an unregistered
// redirect_uri.
import http from 'node:http';
import readline from 'node:readline';
import * as client from 'openid-client';

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let step = 'start';
const fail = (e) => {
  out({ event: 'error', step, error: describe(e) });
  process.exit(1);
};
process.on('unhandledRejection', fail);

// describe turns an openid-client error into plain JSON (ResponseBodyError carries the
// server's error and status).
function describe(e) {
  if (!e || typeof e !== 'object') return { message: String(e) };
  return {
    name: e.name, code: e.code, message: e.message,
    error: e.error, error_description: e.error_description, status: e.status,
    cause: e.cause && typeof e.cause === 'object' && !(e.cause instanceof Error) ? e.cause : (e.cause ? String(e.cause) : undefined),
  };
}

// refused runs fn, which must fail; it returns the error, or {unexpected_success: true}.
async function refused(name, fn) {
  step = name;
  try {
    await fn();
    return { unexpected_success: true };
  } catch (e) {
    return describe(e);
  }
}

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function readMessage() {
  const { value, done } = await lines.next();
  if (done) throw new Error('stdin closed before the test answered');
  return JSON.parse(value);
}

// The callback server: each browser arrival at /callback resolves the pending wait.
let pending = null;
const unexpected = [];
const server = http.createServer((req, res) => {
  const u = new URL(req.url, redirectURI);
  if (u.pathname === '/favicon.ico') {
    res.writeHead(404).end();
    return;
  }
  if (u.pathname !== '/callback' || !pending) {
    unexpected.push(req.method + ' ' + req.url);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not expected');
    return;
  }
  const p = pending;
  pending = null;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>openid-client RP</title><p id="rp-status">callback ${p.name}</p>`);
  p.resolve(u);
});
await new Promise((resolve, reject) => { server.once('error', reject); server.listen({ fd: 3 }, resolve); });
const redirectURI = `http://127.0.0.1:${server.address().port}/callback`;
out({ event: 'listening', redirect_uri: redirectURI });

step = 'discovery';
const config = await client.discovery(new URL(process.env.SEKISHO_ISSUER), process.env.RP_CLIENT_ID, process.env.RP_CLIENT_SECRET,
  undefined, { execute: [client.enableNonRepudiationChecks] });
const meta = config.serverMetadata();
out({ event: 'discovered', issuer: meta.issuer });

const scope = 'openid profile email groups offline_access';

// authorize sends the test an authorization URL built by openid-client, with a fresh PKCE
// verifier, state and nonce, and returns the callback URL the browser arrived at.
async function authorize(name, extra = {}) {
  step = 'authorize ' + name;
  const checks = {
    pkceCodeVerifier: client.randomPKCECodeVerifier(),
    expectedState: client.randomState(),
    expectedNonce: client.randomNonce(),
  };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI, scope,
    code_challenge: await client.calculatePKCECodeChallenge(checks.pkceCodeVerifier),
    code_challenge_method: 'S256', state: checks.expectedState, nonce: checks.expectedNonce, ...extra,
  });
  if (extra.redirect_uri && extra.redirect_uri !== redirectURI) {
    out({ event: 'authorize', name, url: url.href, expect: 'refused' });
    const ack = await readMessage();
    if (ack.ack !== name) throw new Error(`expected the ack of ${name}, got ${JSON.stringify(ack)}`);
    return null;
  }
  const arrived = new Promise((resolve) => { pending = { name, resolve }; });
  out({ event: 'authorize', name, url: url.href, expect: 'callback' });
  return { callback: await arrived, checks };
}

const summary = { event: 'summary', issuer: meta.issuer, discovery: {
  code_challenge_methods_supported: meta.code_challenge_methods_supported,
  introspection_endpoint: meta.introspection_endpoint, revocation_endpoint: meta.revocation_endpoint,
  userinfo_endpoint: meta.userinfo_endpoint, jwks_uri: meta.jwks_uri,
} };

// 0. An unregistered redirect_uri (same host, another path): Sekisho must show its error
// page and never send the browser there.
await authorize('unregistered redirect_uri', { redirect_uri: redirectURI.replace('/callback', '/evil') });

// 1. The code flow, signing in at Sekisho's form.
const first = await authorize('sign-in');
step = 'authorizationCodeGrant';
const tokens = await client.authorizationCodeGrant(config, first.callback, first.checks);
const claims = tokens.claims();
summary.nonce_sent = first.checks.expectedNonce;
summary.code = {
  claims, scope: tokens.scope, token_type: tokens.token_type, expires_in: tokens.expiresIn(),
  has_refresh_token: !!tokens.refresh_token, access_token: tokens.access_token,
};
step = 'fetchUserInfo';
summary.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
step = 'tokenIntrospection (access token)';
summary.introspect_access = await client.tokenIntrospection(config, tokens.access_token);
summary.replayed_code = await refused('replayed code', () => client.authorizationCodeGrant(config, first.callback, first.checks));

// 2. Refresh: a new refresh token and access token; the old refresh token is spent.
step = 'refreshTokenGrant';
const renewed = await client.refreshTokenGrant(config, tokens.refresh_token);
const rclaims = renewed.claims();
summary.refresh = {
  refresh_token_differs: !!renewed.refresh_token && renewed.refresh_token !== tokens.refresh_token,
  access_token_differs: renewed.access_token !== tokens.access_token,
  claims: rclaims, scope: renewed.scope, access_token: renewed.access_token,
};
step = 'tokenIntrospection (refresh tokens)';
summary.introspect_new_refresh = await client.tokenIntrospection(config, renewed.refresh_token, { token_type_hint: 'refresh_token' });
summary.introspect_old_refresh = await client.tokenIntrospection(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
// The rotated token again: refused, and its whole grant ends — the new one with it.
summary.reused_refresh = await refused('reused refresh token', () => client.refreshTokenGrant(config, tokens.refresh_token));
summary.after_reuse_new_refresh = await refused('refresh after reuse', () => client.refreshTokenGrant(config, renewed.refresh_token));
step = 'tokenIntrospection (after reuse)';
summary.after_reuse_introspect_access = await client.tokenIntrospection(config, renewed.access_token);

// 3. A wrong PKCE verifier (the browser has a session now: no sign-in form); the code is
// spent by that presentation, so the right verifier finds it used.
const second = await authorize('wrong verifier');
summary.wrong_verifier = await refused('wrong code_verifier', () => client.authorizationCodeGrant(config, second.callback,
  { ...second.checks, pkceCodeVerifier: client.randomPKCECodeVerifier() }));
summary.right_verifier_after_wrong = await refused('right code_verifier after a wrong one',
  () => client.authorizationCodeGrant(config, second.callback, second.checks));

// 4. Revocation (RFC 7009) of a refresh token ends its grant: its access token goes
// inactive, the refresh token is refused.
const third = await authorize('revocation');
step = 'authorizationCodeGrant (revocation)';
const t3 = await client.authorizationCodeGrant(config, third.callback, third.checks);
summary.revocation = { before: await client.tokenIntrospection(config, t3.access_token) };
step = 'tokenRevocation';
await client.tokenRevocation(config, t3.refresh_token, { token_type_hint: 'refresh_token' });
step = 'tokenIntrospection (after revocation)';
summary.revocation.after_access = await client.tokenIntrospection(config, t3.access_token);
summary.revocation.after_refresh = await client.tokenIntrospection(config, t3.refresh_token, { token_type_hint: 'refresh_token' });
summary.revocation.refresh = await refused('refresh after revocation', () => client.refreshTokenGrant(config, t3.refresh_token));

summary.unexpected_requests = unexpected;
out(summary);
server.close();
process.exit(0);
