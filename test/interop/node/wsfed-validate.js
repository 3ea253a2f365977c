// passport-wsfed-saml2 4.6.1 as a WS-Federation relying party: takes the wresult Sekisho
// posted, extracts the RSTR's token, checks the SAML 1.1 signature, audience and times,
// and prints the claims it read. Input on stdin as JSON: {"wresult": …, "cert": PEM or
// base64 DER, "realm": …}. Output: {"ok":true,"profile":{…}} or {"ok":false,"error":…}.
'use strict';
const { SAML } = require('passport-wsfed-saml2').SAML; // lib/saml.js exports {SAML}
const WsFederation = require('passport-wsfed-saml2/lib/passport-wsfed-saml2/wsfederation');

let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const fail = (e) => {
    console.log(JSON.stringify({ ok: false, error: String(e && e.message || e) }));
    process.exit(1);
  };
  let req;
  try { req = JSON.parse(input); } catch (e) { return fail(e); }
  const cert = req.cert.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  const wsfed = new WsFederation(req.realm, '', '', '');
  const saml = new SAML({ cert, realm: req.realm, checkRecipient: false });
  wsfed.retrieveToken({ body: { wresult: req.wresult } }, (err, token) => {
    if (err) return fail(err);
    saml.validateSamlAssertion(token, (err2, profile) => {
      if (err2) return fail(err2);
      console.log(JSON.stringify({ ok: true, profile }));
    });
  });
});
