// A SCIM 2.0 conformance run against Sekisho's /scim/v2 driven by an independent client
// library, @braveulysses/scim2 0.1.0 (scim2-js, by the author of the UnboundID SCIM 2 SDK),
// for test/interop/scim/client_peer_test.go (TestSCIM2ClientConformance).
//
//   node scim2-client.mjs BASE_URL TOKEN
//
// BASE_URL is the service provider's base (https://…/scim/v2), TOKEN a connector's bearer
// token; Sekisho's test CA comes in through NODE_EXTRA_CA_CERTS. Everything SCIM-shaped goes
// through scim2-js: every response body is parsed into its Resource (ListResponses and
// Errors too: scim2-js has no separate types for them, so they are Resources recognised by
// their schemas URN from its Constants), attributes are read with its SCIM path getter
// (Resource.get('emails[type eq "work"]'), 'meta.version', 'urn:…:attr'), request bodies of
// POST and PUT are Resources (Resource.set, Resource.toJSON), and every PATCH is built with its
// Patch builder (patchRequest, addOperation, replaceOperation, removeOperation). HTTP is Node's
// built-in fetch. Each check prints one JSON line on stdout, {"name":…,"ok":…,"detail":…}; the
// last line is {"summary":{…}} naming what the run created and deleted (the Go test checks
// the store with it). The exit code is 1 if any check failed or the run stopped early.
//
// Where scim2-js 0.1.0 itself departs from RFC 7643/7644 (Sekisho is not bent to it):
//   - Patch is not exported from the package's index (the README imports { Patch }); it is
//     imported from dist/Patch.js.
//   - Patch's operation builder drops a falsy value ("if (value)"): replaceOperation('active',
//     false) builds {"op":"replace","path":"active"} with no "value", which RFC 7644 §3.5.2.3
//     requires. Sekisho refuses that operation (400, checked below); active false is sent as
//     replaceOperation(null, {active: false}), an RFC 7644 replace without a path.
//   - Resource.get ignores a sub-attribute after a value filter: get('emails[type eq
//     "work"].value') returns the whole matching element, not its value (RFC 7644 §3.5.2's
//     valuePath "." subAttr). The script reads get('emails[type eq "work"]').value.
//   - Resource.toJSON returns a string, so JSON.stringify(resource) encodes it twice; bodies
//     are resource.toJSON() itself.
import scim2 from '@braveulysses/scim2';
import * as Patch from '@braveulysses/scim2/dist/Patch.js';

const { Resource, Constants } = scim2;

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  process.stderr.write('usage: node scim2-client.mjs BASE_URL TOKEN\n');
  process.exit(2);
}

const URN = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  spc: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
};

let failed = 0;
const names = new Set();
function check(name, ok, detail) {
  if (names.has(name)) throw new Error(`check name used twice: ${name}`);
  names.add(name);
  ok = Boolean(ok);
  if (!ok) failed++;
  process.stdout.write(JSON.stringify({ name, ok, detail: detail ?? null }) + '\n');
  return ok;
}

// call sends one request; the answer's body is parsed into a scim2-js Resource.
async function call(method, path, { body, headers } = {}) {
  const h = { Authorization: `Bearer ${token}`, Accept: Constants.SCIM_MEDIA_TYPE, ...headers };
  if (body !== undefined) h['Content-Type'] = Constants.SCIM_MEDIA_TYPE;
  const resp = await fetch(base + path, { method, headers: h, body });
  const text = await resp.text();
  const a = { status: resp.status, headers: resp.headers, text, contentType: resp.headers.get('content-type') };
  if (text !== '') {
    try {
      a.resource = Resource.fromJSON(text);
    } catch (e) {
      a.parseError = String(e);
    }
  }
  return a;
}

const has = (list, x) => Array.isArray(list) && list.includes(x);
const brief = (a) => `${a.status} ${a.text.slice(0, 400)}`;

// isScim: a body parsed by scim2-js, in SCIM's media type.
const isScim = (a) => a.resource !== undefined && a.contentType === Constants.SCIM_MEDIA_TYPE;

// listOf reads a ListResponse: the Resource of the message and its Resources as Resources.
function listOf(a) {
  if (!isScim(a) || !has(a.resource.schemas(), Constants.SCIM_LIST_RESPONSE_URN)) return null;
  const rs = a.resource.get('Resources') ?? [];
  return { total: a.resource.get('totalResults'), start: a.resource.get('startIndex'),
    perPage: a.resource.get('itemsPerPage'), items: rs.map((r) => new Resource(r)) };
}

// errorOf reads a SCIM Error (RFC 7644 §3.12: status as a string).
function errorOf(a) {
  if (!isScim(a) || !has(a.resource.schemas(), Constants.SCIM_ERROR_MESSAGE_URN)) return null;
  return { status: a.resource.get('status'), scimType: a.resource.get('scimType'), detail: a.resource.get('detail') };
}

function checkError(name, a, status, scimType) {
  const e = errorOf(a);
  return check(name, a.status === status && e && e.status === String(status) && (scimType === undefined || e.scimType === scimType),
    { status: a.status, error: e, body: e ? undefined : a.text.slice(0, 400) });
}

// versionOK: the ETag header is the resource's meta.version (RFC 7644 §3.14).
const versionOK = (a) => a.resource && a.headers.get('etag') && a.headers.get('etag') === a.resource.get('meta.version');

const workEmail = (r) => r.get('emails[type eq "work"]')?.value; // see above: get() drops ".value"
const enc = encodeURIComponent;

// newResource builds a request body as a scim2-js Resource.
function newResource(schema, attrs) {
  const r = new Resource({ schemas: [schema] });
  for (const [k, v] of Object.entries(attrs)) r.set(k, v);
  return r;
}

const summary = { users: {}, groups: {}, deleted: { users: [], groups: [] } };

async function run() {
  // ---- discovery
  let a = await call('GET', '/ServiceProviderConfig');
  check('discovery: ServiceProviderConfig', a.status === 200 && isScim(a) && has(a.resource.schemas(), URN.spc) &&
    a.resource.get('patch.supported') === true && a.resource.get('filter.supported') === true &&
    typeof a.resource.get('filter.maxResults') === 'number' && a.resource.get('etag.supported') === true, brief(a));

  a = await call('GET', '/ResourceTypes');
  let l = listOf(a);
  const rt = (n) => l?.items.find((r) => r.get('name') === n);
  check('discovery: ResourceTypes User and Group', a.status === 200 && l && l.total === l.items.length &&
    rt('User')?.get('endpoint') === '/Users' && rt('User')?.get('schema') === URN.user &&
    rt('Group')?.get('endpoint') === '/Groups' && rt('Group')?.get('schema') === URN.group, brief(a));

  a = await call('GET', '/Schemas');
  l = listOf(a);
  const userSchema = l?.items.find((r) => r.id() === URN.user);
  const userNameAttr = userSchema?.get('attributes[name eq "userName"]');
  check('discovery: Schemas has the core User schema', a.status === 200 && userSchema &&
    userNameAttr?.type === 'string' && userNameAttr?.required === true && userNameAttr?.uniqueness === 'server' &&
    userSchema.get('attributes[name eq "emails"]')?.multiValued === true, brief(a));

  a = await call('GET', '/Schemas/' + URN.user);
  check('discovery: Schemas/{core User} by id', a.status === 200 && isScim(a) && a.resource.id() === URN.user, brief(a));

  // ---- create and read a user
  const upn = 'c2-main@contoso.com', ext = 'c2-ext-main-0001';
  const body = newResource(URN.user, {
    userName: upn, externalId: ext, displayName: 'C2 Main', active: true,
    emails: [{ value: 'c2-main@contoso.com', type: 'work', primary: true }],
    name: { givenName: 'C2', familyName: 'Main' },
  });
  a = await call('POST', '/Users', { body: body.toJSON() });
  const user = a.resource;
  const id = user?.id();
  check('user: create 201', a.status === 201 && isScim(a) && typeof id === 'string' && id !== '' && has(user.schemas(), URN.user), brief(a));
  check('user: create Location = meta.location', a.headers.get('location') && a.headers.get('location') === user?.get('meta.location') &&
    a.headers.get('location') === `${base}/Users/${id}`, { location: a.headers.get('location'), meta: user?.meta() });
  check('user: create meta.resourceType User', user?.get('meta.resourceType') === 'User' && user?.get('meta.created') && user?.get('meta.lastModified'),
    user?.meta());
  check('user: create ETag = meta.version', versionOK(a) && /^W\/".+"$/.test(a.headers.get('etag')), { etag: a.headers.get('etag'), version: user?.get('meta.version') });
  check('user: create echoes the attributes', user?.get('userName') === upn && user?.get('externalId') === ext &&
    user?.get('displayName') === 'C2 Main' && user?.get('active') === true && workEmail(user) === 'c2-main@contoso.com' &&
    user?.get('emails[primary eq true]')?.value === 'c2-main@contoso.com', brief(a));
  if (!id) throw new Error('no user id: cannot go on');
  summary.users.main = { id, userName: upn };
  const createdETag = a.headers.get('etag');

  a = await call('GET', `/Users/${id}`);
  check('user: get', a.status === 200 && isScim(a) && a.resource.id() === id && a.resource.get('userName') === upn &&
    versionOK(a) && a.resource.get('meta.version') === createdETag, brief(a));
  a = await call('GET', `/Users/${id}`, { headers: { 'If-None-Match': createdETag } });
  // RFC 7232 §4.1: a 304 carries the ETag a 200 would have.
  check('user: get If-None-Match current → 304', a.status === 304 && a.text === '' && a.headers.get('etag') === createdETag,
    { status: a.status, etag: a.headers.get('etag') });
  a = await call('GET', `/Users/${id}?attributes=userName`);
  check('user: get attributes=userName', a.status === 200 && a.resource?.get('userName') === upn && a.resource.id() === id &&
    a.resource.get('displayName') === undefined && a.resource.get('emails') === undefined, brief(a));

  // ---- filters
  const filtered = async (name, filter, wantIDs) => {
    const r = await call('GET', `/Users?filter=${enc(filter)}`);
    const fl = listOf(r);
    return check(name, r.status === 200 && fl && fl.total === wantIDs.length && fl.items.length === wantIDs.length &&
      fl.items.every((x, i) => x.id() === wantIDs[i] && x.get('meta.resourceType') === 'User'), { filter, answer: brief(r) });
  };
  await filtered('filter: userName eq', `userName eq "${upn}"`, [id]);
  await filtered('filter: userName eq is case-insensitive', `userName eq "${upn.toUpperCase()}"`, [id]);
  await filtered('filter: externalId eq', `externalId eq "${ext}"`, [id]);
  await filtered('filter: no match', 'userName eq "c2-nobody@contoso.com"', []);
  await filtered('filter: value path emails[type eq "work" and value co "c2-main"]', 'emails[type eq "work" and value co "c2-main"]', [id]);

  // ---- paging
  const pageIDs = [];
  for (const n of [1, 2, 3]) {
    const r = await call('POST', '/Users', { body: newResource(URN.user, { userName: `c2-page-${n}@contoso.com`, displayName: `C2 Page ${n}` }).toJSON() });
    if (r.status === 201 && r.resource?.id()) pageIDs.push(r.resource.id());
  }
  check('paging: create 3 users', pageIDs.length === 3, pageIDs);
  summary.users.page = pageIDs.map((pid, i) => ({ id: pid, userName: `c2-page-${i + 1}@contoso.com` }));
  a = await call('GET', '/Users?count=2');
  l = listOf(a);
  check('paging: count=2', a.status === 200 && l && l.items.length === 2 && l.total >= 4 && l.perPage === 2 && l.start === 1, brief(a));
  const seen = [];
  const pf = enc('userName sw "c2-page-"');
  a = await call('GET', `/Users?filter=${pf}&startIndex=1&count=2`);
  l = listOf(a);
  check('paging: filtered page 1', a.status === 200 && l && l.items.length === 2 && l.total === 3 && l.start === 1 && l.perPage === 2, brief(a));
  seen.push(...(l?.items.map((r) => r.id()) ?? []));
  a = await call('GET', `/Users?filter=${pf}&startIndex=3&count=2`);
  l = listOf(a);
  check('paging: filtered startIndex=3', a.status === 200 && l && l.items.length === 1 && l.total === 3 && l.start === 3 && l.perPage === 1, brief(a));
  seen.push(...(l?.items.map((r) => r.id()) ?? []));
  check('paging: pages cover each user once', seen.length === 3 && [...pageIDs].sort().join() === [...seen].sort().join(), { seen, pageIDs });

  // ---- PATCH, built with scim2-js's Patch builder
  a = await call('PATCH', `/Users/${id}`, { body: Patch.patchRequest(
    Patch.replaceOperation('displayName', 'C2 Patched'),
    Patch.replaceOperation('emails[type eq "work"].value', 'c2-patched@contoso.com'),
    Patch.addOperation('phoneNumbers', [{ value: '+1 555 555 1234', type: 'work' }]),
    Patch.addOperation('title', 'Tester'),
  ) });
  check('patch: replace displayName, work email; add phoneNumbers, title → 200', a.status === 200 && isScim(a) && a.resource.id() === id &&
    versionOK(a) && a.resource.get('meta.version') !== createdETag, brief(a));
  a = await call('GET', `/Users/${id}`);
  let u = a.resource;
  check('patch: read back displayName', u?.get('displayName') === 'C2 Patched', u?.get('displayName'));
  check('patch: read back emails[type eq "work"]', workEmail(u) === 'c2-patched@contoso.com' && u?.get('emails')?.length === 1 &&
    u?.get('emails[type eq "work"]')?.primary === true, u?.get('emails'));
  // Sekisho accepts phoneNumbers and title but does not store them (docs/directory.md, "What is mapped").
  check('patch: phoneNumbers and title accepted, not stored', u && u.get('phoneNumbers') === undefined && u.get('title') === undefined &&
    u.get('userName') === upn, brief(a));

  // The builder's own replace of active false: it drops the value (see above), and Sekisho
  // must refuse the value-less operation rather than guess.
  const valueless = Patch.patchRequest(Patch.replaceOperation('active', false));
  a = await call('PATCH', `/Users/${id}`, { body: valueless });
  check('patch: the builder\'s value-less replace active is refused', a.status === 400 && errorOf(a)?.status === '400' &&
    !JSON.parse(valueless).Operations[0].hasOwnProperty('value'), { sent: valueless, answer: brief(a) });
  a = await call('PATCH', `/Users/${id}`, { body: Patch.patchRequest(Patch.replaceOperation(null, { active: false })) });
  check('patch: replace active false (no path) → 200', a.status === 200 && a.resource?.get('active') === false && versionOK(a), brief(a));
  a = await call('GET', `/Users/${id}`);
  u = a.resource;
  check('patch: read back active false', u?.get('active') === false && u?.get('displayName') === 'C2 Patched', brief(a));
  const current = a.headers.get('etag');

  // ---- ETags
  a = await call('PATCH', `/Users/${id}`, { body: Patch.patchRequest(Patch.replaceOperation('displayName', 'C2 Stale')), headers: { 'If-Match': createdETag } });
  checkError('etag: If-Match stale → 412', a, 412);
  a = await call('GET', `/Users/${id}`);
  check('etag: the stale PATCH changed nothing', a.resource?.get('displayName') === 'C2 Patched' && a.headers.get('etag') === current, brief(a));

  // ---- PUT: the read resource, changed with Resource.set, with the current ETag
  u.set('displayName', 'C2 Put');
  u.set('active', true);
  u.set('emails', [{ value: 'c2-put@contoso.com', type: 'work', primary: true }]);
  a = await call('PUT', `/Users/${id}`, { body: u.toJSON(), headers: { 'If-Match': current } });
  check('put: 200', a.status === 200 && isScim(a) && a.resource.id() === id && versionOK(a) && a.headers.get('etag') !== current, brief(a));
  a = await call('GET', `/Users/${id}`);
  check('put: read back', a.resource?.get('displayName') === 'C2 Put' && a.resource.get('active') === true &&
    workEmail(a.resource) === 'c2-put@contoso.com' && a.resource.get('userName') === upn && a.resource.get('externalId') === ext, brief(a));

  // ---- groups
  const [p1, p2, p3] = pageIDs;
  const members = (r) => (r?.get('members') ?? []).map((m) => m.value).sort();
  a = await call('POST', '/Groups', { body: newResource(URN.group, { displayName: 'c2-group', members: [{ value: p1 }, { value: p2 }] }).toJSON() });
  const gid = a.resource?.id();
  check('group: create with members 201', a.status === 201 && isScim(a) && gid && a.resource.get('meta.resourceType') === 'Group' &&
    a.headers.get('location') === `${base}/Groups/${gid}` && versionOK(a) && members(a.resource).join() === [p1, p2].sort().join() &&
    a.resource.get(`members[value eq "${p1}"]`)?.$ref === `${base}/Users/${p1}`, brief(a));
  if (!gid) throw new Error('no group id: cannot go on');
  summary.groups.patched = { id: gid, displayName: 'c2-group' };
  a = await call('PATCH', `/Groups/${gid}`, { body: Patch.patchRequest(
    Patch.addOperation('members', [{ value: p3 }]),
    Patch.removeOperation(`members[value eq "${p1}"]`),
  ) });
  check('group: patch add and remove members → 204', a.status === 204 && a.text === '' && a.headers.get('etag'), a.status);
  const groupETag = a.headers.get('etag');
  a = await call('GET', `/Groups/${gid}`);
  check('group: read back members', a.status === 200 && members(a.resource).join() === [p2, p3].sort().join() &&
    a.resource.get(`members[value eq "${p1}"]`) === undefined && a.resource.get(`members[value eq "${p3}"]`)?.display === 'c2-page-3@contoso.com' &&
    a.resource.get('meta.version') === groupETag, brief(a));
  a = await call('GET', `/Groups/${gid}`, { headers: { 'If-None-Match': groupETag } });
  check('group: get If-None-Match current → 304', a.status === 304 && a.text === '' && a.headers.get('etag') === groupETag,
    { status: a.status, etag: a.headers.get('etag') });
  a = await call('PATCH', `/Groups/${gid}`, { body: Patch.patchRequest(Patch.replaceOperation('displayName', 'c2-group-renamed')) });
  check('group: patch rename → 204', a.status === 204, a.status);
  a = await call('GET', `/Groups?filter=${enc('displayName eq "c2-group-renamed"')}`);
  l = listOf(a);
  check('group: filter displayName eq after rename', l && l.total === 1 && l.items[0].id() === gid && members(l.items[0]).join() === [p2, p3].sort().join(), brief(a));
  summary.groups.patched.displayName = 'c2-group-renamed';
  a = await call('GET', `/Users/${p3}`);
  check('group: member\'s groups attribute', a.resource?.get(`groups[value eq "${gid}"]`)?.display === 'c2-group-renamed', brief(a));

  // A second group that stays: the Go test compares its members in the store.
  a = await call('POST', '/Groups', { body: newResource(URN.group, { displayName: 'c2-kept', externalId: 'c2-kept-ext', members: [{ value: p1 }] }).toJSON() });
  const kid = a.resource?.id();
  const k = await call('PATCH', `/Groups/${kid}`, { body: Patch.patchRequest(Patch.addOperation('members', [{ value: p2 }, { value: p1 }])) });
  a = await call('GET', `/Groups/${kid}`);
  check('group: kept group with members', kid && k.status === 204 && members(a.resource).join() === [p1, p2].sort().join() &&
    a.resource.get('externalId') === 'c2-kept-ext', brief(a));
  summary.groups.kept = { id: kid, displayName: 'c2-kept', members: members(a.resource) };

  // ---- error shapes (RFC 7644 §3.12)
  checkError('error: invalid filter → 400 invalidFilter', await call('GET', `/Users?filter=${enc('userName zz "x"')}`), 400, 'invalidFilter');
  checkError('error: unknown user id → 404', await call('GET', '/Users/00000000-0000-4000-8000-000000000000'), 404);
  checkError('error: unknown group id → 404', await call('GET', '/Groups/00000000-0000-4000-8000-000000000000'), 404);
  checkError('error: duplicate userName → 409 uniqueness',
    await call('POST', '/Users', { body: newResource(URN.user, { userName: upn }).toJSON() }), 409, 'uniqueness');
  checkError('error: duplicate group displayName → 409 uniqueness',
    await call('POST', '/Groups', { body: newResource(URN.group, { displayName: 'c2-kept' }).toJSON() }), 409, 'uniqueness');
  checkError('error: PATCH of an unknown attribute → 400 invalidPath',
    await call('PATCH', `/Users/${id}`, { body: Patch.patchRequest(Patch.replaceOperation('shoeSize', '44')) }), 400, 'invalidPath');

  // ---- deletes
  a = await call('DELETE', `/Users/${id}`);
  check('delete: user → 204', a.status === 204 && a.text === '', a.status);
  checkError('delete: user then GET → 404', await call('GET', `/Users/${id}`), 404);
  checkError('delete: user again → 404', await call('DELETE', `/Users/${id}`), 404);
  summary.deleted.users.push(id);
  a = await call('DELETE', `/Groups/${gid}`);
  check('delete: group → 204', a.status === 204 && a.text === '', a.status);
  checkError('delete: group then GET → 404', await call('GET', `/Groups/${gid}`), 404);
  summary.deleted.groups.push(gid);
  a = await call('GET', `/Users?filter=${enc(`userName eq "${upn}"`)}`);
  l = listOf(a);
  check('delete: user gone from filters', l && l.total === 0 && l.items.length === 0, brief(a));
}

try {
  await run();
} catch (e) {
  check('run: completed', false, String(e?.stack ?? e));
}
process.stdout.write(JSON.stringify({ summary }) + '\n');
process.exit(failed ? 1 : 0);
