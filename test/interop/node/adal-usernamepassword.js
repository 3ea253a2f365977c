// adal-node 0.2.4 username/password flow for a federated user (user realm → MEX →
// WS-Trust → saml1_1-bearer grant). Run by the Go interop tests:
//   node adal-usernamepassword.js AUTHORITY RESOURCE CLIENT_ID USERNAME PASSWORD
// Prints one JSON line: {"ok":true,"accessToken":…} or {"ok":false,"error":…}.
'use strict';
const adal = require('adal-node');

const [authority, resource, clientId, username, password] = process.argv.slice(2);
if (!password) {
  console.error('usage: adal-usernamepassword.js AUTHORITY RESOURCE CLIENT_ID USERNAME PASSWORD');
  process.exit(2);
}
const ctx = new adal.AuthenticationContext(authority, false);
ctx.acquireTokenWithUsernamePassword(resource, username, password, clientId, (err, resp) => {
  if (err) {
    console.log(JSON.stringify({ ok: false, error: String(err && err.message || err) }));
    process.exit(1);
  }
  console.log(JSON.stringify({ ok: true, accessToken: resp.accessToken }));
});
