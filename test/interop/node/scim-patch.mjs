// scim-patch 0.8.3 (thomaspoignant/scim-patch) as an independent PATCH implementation, for
// test/interop/scim/patch_peer_test.go. Reads one JSON object on stdin,
//   {"resource": {...}, "operations": [...], "options": {...}?}
// applies the operations with scimPatch, and prints one JSON line on stdout:
//   {"resource": {...}}  or  {"error": {"name": "NoTarget", "message": "..."}}.
// options default to scimPatch's own ({mutateDocument: true, treatMissingAsAdd: true}).
import { scimPatch } from 'scim-patch';

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const { resource, operations, options } = JSON.parse(input);
let out;
try {
  const patched = options ? scimPatch(resource, operations, { mutateDocument: true, ...options }) : scimPatch(resource, operations);
  out = { resource: patched };
} catch (e) {
  out = { error: { name: e.constructor?.name ?? 'Error', message: String(e.message ?? e) } };
}
process.stdout.write(JSON.stringify(out) + '\n');
