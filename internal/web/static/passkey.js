// Passkey ceremonies for /account/security (#passkey-register) and the second-factor step
// (#passkey-login). The server sends WebAuthn options with binary fields in base64url and an
// opaque state token; this script converts, calls navigator.credentials, and posts the result
// back with the page's CSRF token in X-CSRF-Token. Texts come from #passkey-status data-*.
"use strict";
(function () {
  const status = document.getElementById("passkey-status");

  function fromB64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64u(buf) {
    const b = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function say(key, isError, text) {
    if (!status) return;
    status.textContent = text || status.dataset[key] || "";
    status.className = isError ? "error" : "note";
  }

  async function post(url, csrf, body) {
    const resp = await fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await resp.json(); } catch (e) { /* not JSON: use the status text */ }
    if (!resp.ok) {
      const err = new Error(data.error || resp.statusText);
      err.fromServer = true;
      throw err;
    }
    return data;
  }

  function creationOptions(o) {
    const pk = o.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    pk.user.id = fromB64u(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(o) {
    const pk = o.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return { publicKey: pk };
  }

  // encode turns a PublicKeyCredential into the JSON the server parses (WebAuthn Level 3 shape).
  function encode(cred) {
    const r = cred.response;
    const out = {
      id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64u(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64u(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      if (r.userHandle) out.response.userHandle = toB64u(r.userHandle);
    }
    return out;
  }

  function setup(btn, run) {
    if (!btn) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say("unsupported", true);
      return;
    }
    btn.hidden = false;
    btn.addEventListener("click", async function () {
      btn.disabled = true;
      say("working", false);
      try {
        await run(btn);
      } catch (e) {
        if (e && e.fromServer) say("", true, e.message);
        else if (e && e.name === "InvalidStateError") say("duplicate", true);
        else say("cancelled", true);
        btn.disabled = false;
      }
    });
  }

  setup(document.getElementById("passkey-register"), async function (btn) {
    const begin = await post(btn.dataset.begin, btn.dataset.csrf, {});
    const cred = await navigator.credentials.create(creationOptions(begin.options));
    const name = document.getElementById("passkey-name");
    const done = await post(btn.dataset.finish, btn.dataset.csrf, {
      state: begin.state, credential: encode(cred), name: name ? name.value : "", return_to: btn.dataset.returnTo,
    });
    window.location.assign(done.redirect);
  });

  setup(document.getElementById("passkey-login"), async function (btn) {
    const begin = await post(btn.dataset.begin, btn.dataset.csrf, {});
    const cred = await navigator.credentials.get(requestOptions(begin.options));
    const done = await post(btn.dataset.finish, btn.dataset.csrf, {
      state: begin.state, credential: encode(cred), return_to: btn.dataset.returnTo, app: btn.dataset.app,
    });
    window.location.assign(done.redirect);
  });
})();
