// Contract test: drives real pixelmill servers through successes and every
// documented error and validates each response — status, headers, body — against
// docs/openapi.yaml with ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1).
// A response the spec does not allow is a failure; so is a route the server has
// and the spec lacks, or a spec operation the server does not have.
//
// Run by tests/e2e/contract.sh, which starts the servers. Environment:
//   CONTRACT_SPEC      docs/openapi.yaml
//   CONTRACT_REPO      the repository root (route registrations are read from server/src)
//   CONTRACT_TESTDATA  ../shared/testdata
//   CONTRACT_MAIN      base URL of a server with default settings
//   CONTRACT_TIGHT     base URL of a server with 1 CPU thread, a queue of 1, a short job
//                      deadline and server.playground = false (503, 504, GET / 404)
//   CONTRACT_AUTH      base URL of a server with auth.api_keys = [CONTRACT_API_KEY],
//                      auth.sign_urls on with auth.signing_keys = [CONTRACT_SIGNING_KEY]
//                      and metrics.listen = CONTRACT_AUTH_METRICS (401, 403, /metrics 404)
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run tests/e2e/contract.sh)`);
  return value;
};
const specFile = env('CONTRACT_SPEC');
const repo = env('CONTRACT_REPO');
const testdata = env('CONTRACT_TESTDATA');
const MAIN = env('CONTRACT_MAIN');
const TIGHT = env('CONTRACT_TIGHT');
const AUTH = env('CONTRACT_AUTH');
const AUTH_METRICS = env('CONTRACT_AUTH_METRICS');
const API_KEY = env('CONTRACT_API_KEY');
const SIGNING_KEY = env('CONTRACT_SIGNING_KEY');

// ---- the spec and its validators ---------------------------------------------------

const specText = readFileSync(specFile);
const spec = parseYaml(specText.toString('utf8'));
const SPEC_ID = 'openapi.json';
// The whole document is added as one schema resource, so that every schema in it
// is compiled by JSON pointer and its `#/components/...` refs resolve as written.
// strict: false because the document's other keys (paths, info, ...) are not schema
// keywords. Headers arrive as text: that instance coerces "1" to 1, as OpenAPI's
// simple-style header serialization means.
const makeAjv = (coerceTypes) => {
  const ajv = new Ajv2020({ strict: false, allErrors: true, coerceTypes });
  addFormats(ajv);
  ajv.addSchema(spec, SPEC_ID);
  return ajv;
};
const bodyAjv = makeAjv(false);
const headerAjv = makeAjv(true);

const METHODS = ['get', 'head', 'post', 'put', 'delete', 'patch', 'options', 'trace'];
const TRANSPORT_HEADERS = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive',
                                   'transfer-encoding']);

const pointer = (...keys) => keys.map((k) => '/' + String(k).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
const at = (ptr) => ptr.split('/').slice(1)
  .reduce((node, key) => node?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], spec);

// Follows OpenAPI-level $refs (responses, headers); returns the object and where it is.
function deref(ptr) {
  let node = at(ptr);
  for (let hops = 0; node && node.$ref; hops++) {
    if (!node.$ref.startsWith('#/') || hops > 10) throw new Error(`unsupported $ref ${node.$ref} at ${ptr}`);
    ptr = node.$ref.slice(1);
    node = at(ptr);
  }
  if (!node) throw new Error(`spec has nothing at ${ptr}`);
  return { node, ptr };
}

const compiled = new Map();
function schemaAt(ajv, ptr) {
  const key = `${ajv === headerAjv ? 'h' : 'b'}${ptr}`;
  if (!compiled.has(key)) {
    const fragment = ptr.split('/').map(encodeURIComponent).join('/');
    const validate = ajv.getSchema(`${SPEC_ID}#${fragment}`);
    if (!validate) throw new Error(`no schema at ${ptr}`);
    compiled.set(key, validate);
  }
  return compiled.get(key);
}

const templates = Object.keys(spec.paths);
const templateRegex = new Map(templates.map((t) => [t, new RegExp('^' + t.split(/(\{[^}]+\})/)
  .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('') + '$')]));
const templateOf = (p) => templates.find((t) => templateRegex.get(t).test(p));
// What a 405's Allow must say for a path: the spec's methods, upper case, sorted.
const specMethods = (t) => METHODS.filter((m) => spec.paths[t][m]).map((m) => m.toUpperCase()).sort();

// "type/subtype; a=b" -> normalized text; media ranges such as image/* match too.
const normalizeType = (text) => text.toLowerCase().split(';').map((s) => s.trim()).filter(Boolean).join('; ');
function mediaKey(content, contentType) {
  if (!contentType) return null;
  const given = normalizeType(contentType);
  const essence = given.split(';')[0];
  const keys = Object.keys(content);
  return keys.find((k) => normalizeType(k) === given)
    ?? keys.find((k) => !k.includes(';') && normalizeType(k) === essence)
    ?? keys.find((k) => k.endsWith('/*') && essence.startsWith(k.slice(0, -1)))
    ?? null;
}

// ---- checking one response ----------------------------------------------------------

let checked = 0;
const failures = [];
const covered = new Set();  // "get /v1/images/{id} 304"

function validateResponse(responsePtr, method, res, errors) {
  const { node: response, ptr } = deref(responsePtr);
  const documented = new Set();
  for (const name of Object.keys(response.headers ?? {})) {
    const { node: header, ptr: headerPtr } = deref(ptr + pointer('headers', name));
    documented.add(name.toLowerCase());
    const value = res.headers[name.toLowerCase()];
    if (value === undefined) {
      if (header.required) errors.push(`required header ${name} is missing`);
      continue;
    }
    const validate = schemaAt(headerAjv, headerPtr + '/schema');
    if (!validate(value)) errors.push(`header ${name}: ${JSON.stringify(value)} ${headerAjv.errorsText(validate.errors)}`);
  }
  for (const name of Object.keys(res.headers)) {
    if (!TRANSPORT_HEADERS.has(name) && !documented.has(name)) errors.push(`header ${name} is not in the spec for this response`);
  }

  const contentType = res.headers['content-type'];
  if (!response.content) {
    if (contentType) errors.push(`Content-Type ${contentType} on a response the spec gives no content`);
    if (res.body.length) errors.push(`a ${res.body.length}-byte body on a response the spec gives no content`);
    return null;
  }
  const key = mediaKey(response.content, contentType);
  if (!key) {
    errors.push(`Content-Type ${contentType} is not one of: ${Object.keys(response.content).join(', ')}`);
    return null;
  }
  if (method === 'HEAD') return null;
  let data = res.body.toString(/json|^text\/|yaml/.test(key) ? 'utf8' : 'latin1');
  if (/[/+]json$/.test(key.split(';')[0])) {
    try {
      data = JSON.parse(data);
    } catch {
      errors.push(`the body is not JSON: ${data.slice(0, 120)}`);
      return null;
    }
  }
  const validate = schemaAt(bodyAjv, ptr + pointer('content', key, 'schema'));
  if (!validate(data)) errors.push(`body: ${bodyAjv.errorsText(validate.errors)}`);
  return data;
}

// Validates one exchange against the spec; returns the response with `json` when
// the body was JSON. `label` says what the request was for, in failure messages.
function check(label, method, target, res) {
  checked++;
  const errors = [];
  const p = target.split('?')[0];
  const template = templateOf(p);
  let responsePtr = null;
  if (!template) {
    if (res.status !== 404) errors.push(`the spec has no path ${p}, yet the server answered ${res.status}`);
    else responsePtr = '/components/responses/NotFound';
  } else if (!spec.paths[template][method.toLowerCase()]) {
    if (res.status !== 405) {
      errors.push(`the spec has no ${method} ${template}, yet the server answered ${res.status}`);
    } else {
      responsePtr = '/components/responses/MethodNotAllowed';
      const allow = (res.headers.allow ?? '').split(',').map((s) => s.trim()).filter(Boolean).sort();
      const expected = specMethods(template);
      if (allow.join() !== expected.join()) {
        errors.push(`Allow says ${allow.join(', ')}; the spec has ${expected.join(', ')} for ${template}`);
      }
    }
  } else {
    const op = method.toLowerCase();
    const responses = spec.paths[template][op].responses;
    const status = String(res.status);
    const key = [status, `${status[0]}XX`, 'default'].find((k) => k in responses);
    if (!key) errors.push(`status ${status} is not documented for ${method} ${template}`);
    else responsePtr = pointer('paths', template, op, 'responses', key);
    covered.add(`${op} ${template} ${status}`);
  }
  let data = null;
  if (responsePtr) data = validateResponse(responsePtr, method, res, errors);
  // Not a schema: RFC 9457 bodies name the request they answer.
  if (data && typeof data === 'object' && 'request_id' in data && data.request_id !== res.headers['x-request-id']) {
    errors.push(`problem request_id ${data.request_id} differs from X-Request-Id ${res.headers['x-request-id']}`);
  }
  if (errors.length) {
    failures.push({ label, method, target, res, errors });
    console.log(`FAIL ${label}: ${method} ${target} -> ${res.status}`);
    for (const e of errors) console.log(`       ${e}`);
    const type = res.headers['content-type'] ?? '-';
    const text = /json|text|yaml/.test(type);
    const body = text ? res.body.toString('utf8', 0, 300).replace(/\n/g, '\\n') : `${res.body.length} bytes`;
    console.log(`       Content-Type: ${type}; body: ${body}`);
  }
  return { ...res, json: data && typeof data === 'object' ? data : null };
}

// ---- HTTP ---------------------------------------------------------------------------

// One request on a fresh connection (errors that close it cannot disturb the next).
// `headersOnly` sends the headers and no body: for 413, which is answered from
// Content-Length before the body is read.
function send(base, method, target, { headers = {}, body, headersOnly = false } = {}) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: target, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (headersOnly) req.destroy();
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      });
    req.on('error', (e) => reject(new Error(`${method} ${target}: ${e.message}` +
                                            (e.rawPacket ? ` (received: ${JSON.stringify(e.rawPacket.toString('latin1', 0, 400))})` : ''))));
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${target}: no answer in 60 s`)));
    if (headersOnly) req.flushHeaders();
    else req.end(body);
  });
}

async function call(label, base, method, target, options) {
  const res = await send(base, method, target, options);
  return check(label, method, target, res);
}

function expect(condition, label, message) {
  if (condition) return;
  failures.push({ label, errors: [message] });
  console.log(`FAIL ${label}: ${message}`);
}

const file = (relative) => readFileSync(path.join(testdata, relative));
const raw = (type, body) => ({ headers: { 'Content-Type': type }, body });

async function multipart(field, filename, type, bytes) {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type }), filename);
  const encoded = new Response(form);  // the platform's multipart encoder
  return { headers: { 'Content-Type': encoded.headers.get('content-type') },
           body: Buffer.from(await encoded.arrayBuffer()) };
}

// ---- scenarios -----------------------------------------------------------------------

const SMALL_JPEG = file('sharp/320x240.jpg');
const PHOTO = file('photos/Wine_by_Jakkub_Mede.jpg');
const BIG_PNG = file('photos/calla.png');           // 3700x2400: slow to decode and encode
const GIF = file('sharp/animated-loop-3.gif');      // not an accepted format
const BOMB = file('fuzzdb/lottapixel.jpg');         // 4.8 KB declaring 64250x64250
const BROKEN = file('pillow/broken_data_stream.png'); // a valid header, pixel data that fails
const BIG_HEADER = { 'X-Padding': 'x'.repeat(20_000) };  // over server.max_header_bytes (16 KiB)

async function health() {
  for (const method of ['GET', 'HEAD']) {
    await call('liveness', MAIN, method, '/healthz');
    await call('readiness', MAIN, method, '/readyz');
    await call('metrics', MAIN, method, '/metrics');
  }
}

async function staticFiles() {
  const yaml = await call('the contract', MAIN, 'GET', '/openapi.yaml');
  expect(yaml.body.equals(specText), 'the contract', 'GET /openapi.yaml differs from docs/openapi.yaml');
  const page = await call('the playground', MAIN, 'GET', '/');
  for (const [p, res] of [['/openapi.yaml', yaml], ['/', page]]) {
    for (const method of ['GET', 'HEAD']) {
      await call(`${p} revalidated`, MAIN, method, p, { headers: { 'If-None-Match': res.headers.etag } });
    }
    await call(`HEAD ${p}`, MAIN, 'HEAD', p);
  }
  await call('playground switched off', TIGHT, 'GET', '/');
  await call('playground switched off', TIGHT, 'HEAD', '/');
}

async function uploads() {
  const first = await call('upload raw', MAIN, 'POST', '/v1/images', raw('image/jpeg', SMALL_JPEG));
  expect(first.status === 201, 'upload raw', `expected 201, got ${first.status}`);
  const again = await call('upload the same bytes', MAIN, 'POST', '/v1/images', raw('image/jpeg', SMALL_JPEG));
  expect(again.status === 200 && again.json?.id === first.json?.id, 'upload again', 'expected 200 with the same id');
  const form = await call('upload multipart', MAIN, 'POST', '/v1/images',
                          await multipart('file', 'wine.jpg', 'image/jpeg', PHOTO));
  expect(form.status === 201, 'upload multipart', `expected 201, got ${form.status}`);
  // Stored (upload reads only the header); its variants cannot be computed: 415.
  const broken = await call('upload octet-stream', MAIN, 'POST', '/v1/images', raw('application/octet-stream', BROKEN));
  await call('upload: empty body', MAIN, 'POST', '/v1/images', raw('image/jpeg', Buffer.alloc(0)));
  await call('upload: form without file', MAIN, 'POST', '/v1/images',
             await multipart('picture', 'wine.jpg', 'image/jpeg', SMALL_JPEG));
  await call('upload: text', MAIN, 'POST', '/v1/images', raw('text/plain', Buffer.from('hello')));
  await call('upload: GIF', MAIN, 'POST', '/v1/images', raw('image/gif', GIF));
  await call('upload: pixel bomb', MAIN, 'POST', '/v1/images', raw('image/jpeg', BOMB));
  await call('upload: too large', MAIN, 'POST', '/v1/images',
             { headers: { 'Content-Type': 'image/jpeg', 'Content-Length': String(64 << 20) }, headersOnly: true });
  return { small: first.json?.id, photo: form.json?.id, broken: broken.json?.id };
}

async function images(ids) {
  const base = `/v1/images/${ids.small}`;
  const original = await call('original', MAIN, 'GET', base);
  expect(original.body.equals(SMALL_JPEG), 'original', 'the original is not the uploaded bytes');
  const conditional = { headers: { 'If-None-Match': original.headers.etag } };
  for (const method of ['GET', 'HEAD']) {
    await call('original revalidated', MAIN, method, base, conditional);
    await call('original', MAIN, method, base);
    await call('no such image', MAIN, method, `/v1/images/${'0'.repeat(64)}`);
    await call('not an id', MAIN, method, '/v1/images/not-an-id');
    await call('bad parameter', MAIN, method, `${base}?w=abc`);
  }
  const variant = await call('variant', MAIN, 'GET', `${base}?w=100&format=jpeg`);
  await call('variant revalidated', MAIN, 'GET', `${base}?w=100&format=jpeg`,
             { headers: { 'If-None-Match': variant.headers.etag } });
  const auto = await call('variant, format=auto', MAIN, 'GET', `${base}?w=120`, { headers: { Accept: 'image/webp,*/*' } });
  expect(auto.headers.vary === 'Accept' && auto.headers['content-type'] === 'image/webp', 'format=auto',
         `expected WebP with Vary: Accept, got ${auto.headers['content-type']} / ${auto.headers.vary}`);
  await call('variant, png', MAIN, 'GET', `${base}?w=64&h=64&fit=contain&background=%23ff000080&format=png`);
  await call('variant, empty query', MAIN, 'GET', `${base}?`);
  await call('photo variant', MAIN, 'GET', `/v1/images/${ids.photo}?w=300&format=webp&quality=50`);
  for (const query of ['w=0', 'w=8193', 'fit=squash', 'quality=101', 'w=1&w=2', 'nope=1', 'w=%zz']) {
    await call(`bad parameter ${query}`, MAIN, 'GET', `${base}?${query}`);
  }
  // outside covers the box without cropping: 100x8192 on a 4:3 source is 10923 wide.
  await call('output over the limit', MAIN, 'GET', `${base}?w=100&h=8192&fit=outside&enlarge=true`);
  await call('pixels that do not decode', MAIN, 'GET', `/v1/images/${ids.broken}?w=10`);
  await call('original as octet-stream', MAIN, 'GET', `/v1/images/${ids.broken}`);
}

// Every query parameter the spec declares, probed with values its schema allows and
// values it refuses: the server must accept exactly what the schema accepts. Values
// come from the schema (enum members, bounds and one past them) plus spellings
// worth trying for the pattern-typed ones.
const EXTRA_VALUES = {
  position: ['centre', 'center', 'northwest', 'top', 'right top', 'top-right', 'left_bottom', 'bottom left',
             'top top', 'middle', 'right-top-left', 'Right'],
  background: ['white', 'transparent', 'fff', '#FFF', 'ff000080', '#00ff00', '12345', 'red', '#12345g', ''],
  enlarge: ['yes', 'TRUE', ''],
  orient: ['no', 'False'],
  format: ['gif', 'JPEG', ''],
  fit: ['Cover', 'crop'],
  kernel: ['Lanczos', 'bilinear', ''],
  w: ['05', '1.5', '-1', ''],
  quality: ['0080', '8a'],
};

function probeValues(name, schema) {
  const values = new Set(EXTRA_VALUES[name] ?? []);
  for (const v of schema.enum ?? []) values.add(String(v));
  if (schema.type === 'integer') {
    for (const v of [schema.minimum - 1, schema.minimum, schema.maximum, schema.maximum + 1]) values.add(String(v));
  }
  if (schema.default !== undefined) values.add(String(schema.default));
  return [...values];
}

async function parameters(ids) {
  const op = spec.paths['/v1/images/{id}'].get;
  const params = op.parameters.map((p, i) => deref(pointer('paths', '/v1/images/{id}', 'get', 'parameters', i)))
    .filter(({ node }) => node.in === 'query');
  const base = `/v1/images/${ids.small}`;

  // The server names every parameter it accepts when it refuses an unknown one.
  const unknown = await call('unknown parameter', MAIN, 'GET', `${base}?zzz=1`);
  const named = /\(allowed: ([^)]*)\)/.exec(unknown.json?.detail ?? '')?.[1]?.split(', ').sort() ?? [];
  // sig is the URL's signature, not a transform parameter: the parser only skips it.
  const declared = params.map(({ node }) => node.name).filter((name) => name !== 'sig').sort();
  expect(named.join() === declared.join(), 'query parameters',
         `the server accepts [${named.join(', ')}], the spec declares [${declared.join(', ')}]`);

  for (const { node, ptr } of params) {
    const validate = schemaAt(headerAjv, ptr + '/schema');
    for (const value of probeValues(node.name, node.schema)) {
      const res = await call(`${node.name}=${JSON.stringify(value)}`, MAIN, 'GET',
                             `${base}?${node.name}=${encodeURIComponent(value)}`);
      const specAllows = validate(value);
      const serverAllows = res.status !== 400;
      expect(specAllows === serverAllows, `parameter ${node.name}`,
             `${JSON.stringify(value)}: the spec ${specAllows ? 'allows' : 'refuses'} it, the server answered ${res.status}`);
    }
    // A documented default must be the default: the variant (its ETag) is the same
    // whether the parameter is left out or given at its default.
    if (node.schema.default !== undefined) {
      const without = await call('defaults', MAIN, 'GET', `${base}?w=50`);
      const given = await call('defaults', MAIN, 'GET', `${base}?w=50&${node.name}=${encodeURIComponent(node.schema.default)}`);
      expect(without.headers.etag === given.headers.etag, `default of ${node.name}`,
             `${node.name}=${node.schema.default} gives a different variant than leaving it out`);
    }
  }
}

async function resize() {
  await call('resize raw', MAIN, 'POST', '/v1/resize?w=200', raw('image/jpeg', PHOTO));
  await call('resize multipart', MAIN, 'POST', '/v1/resize?w=64&format=png',
             await multipart('file', 'small.jpg', 'image/jpeg', SMALL_JPEG));
  await call('resize auto', MAIN, 'POST', '/v1/resize?w=64', { headers: { 'Content-Type': 'image/jpeg', Accept: 'image/webp' }, body: SMALL_JPEG });
  await call('resize: bad parameter', MAIN, 'POST', '/v1/resize?fit=squash', raw('image/jpeg', SMALL_JPEG));
  await call('resize: empty body', MAIN, 'POST', '/v1/resize?w=10', raw('image/jpeg', Buffer.alloc(0)));
  await call('resize: text', MAIN, 'POST', '/v1/resize?w=10', raw('text/plain', Buffer.from('hello')));
  await call('resize: GIF', MAIN, 'POST', '/v1/resize?w=10', raw('image/gif', GIF));
  await call('resize: undecodable', MAIN, 'POST', '/v1/resize?w=10', raw('image/png', BROKEN));
  await call('resize: pixel bomb', MAIN, 'POST', '/v1/resize?w=10', raw('image/jpeg', BOMB));
  await call('resize: output over the limit', MAIN, 'POST', '/v1/resize?w=100&h=8192&fit=outside&enlarge=true',
             raw('image/jpeg', SMALL_JPEG));
  await call('resize: too large', MAIN, 'POST', '/v1/resize?w=10',
             { headers: { 'Content-Type': 'image/jpeg', 'Content-Length': String(64 << 20) }, headersOnly: true });
}

// The signed-URL recipe of the spec's description, written again here from the
// text (not from the server's code): parameters other than sig, decoded, encoded
// with everything but A-Z a-z 0-9 - . _ ~ as %XX, sorted by name; HMAC-SHA256;
// base64url without padding.
function signedUrl(target, key) {
  const [p, query = ''] = target.split('?');
  const encode = (text) => encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  const params = [...new URLSearchParams(query)].filter(([name]) => name !== 'sig')
    .map(([name, value]) => [encode(name), encode(value)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const canonical = `${p}?${params.map(([n, v]) => `${n}=${v}`).join('&')}`;
  const sig = createHmac('sha256', key).update(canonical).digest('base64url');
  return `${canonical}${params.length ? '&' : ''}sig=${sig}`;
}

// The AUTH server: API keys on POST and DELETE, signatures on variants, /metrics
// on its own listener. On MAIN (signing off) a sig changes nothing.
async function access() {
  const keyed = (key, options = {}) => ({ ...options, headers: { ...options.headers, Authorization: `Bearer ${key}` } });
  const jpeg = raw('image/jpeg', SMALL_JPEG);
  await call('upload without a key', AUTH, 'POST', '/v1/images', jpeg);
  await call('upload with a malformed Authorization', AUTH, 'POST', '/v1/images',
             { ...jpeg, headers: { ...jpeg.headers, Authorization: 'Basic dXNlcjpwYXNz' } });
  await call('upload with a wrong key', AUTH, 'POST', '/v1/images', keyed('wrong-key-0123456789', jpeg));
  const stored = await call('upload with the key', AUTH, 'POST', '/v1/images', keyed(API_KEY, jpeg));
  expect(stored.status === 201, 'upload with the key', `expected 201, got ${stored.status}`);
  await call('resize without a key', AUTH, 'POST', '/v1/resize?w=10', jpeg);
  await call('resize with a wrong key', AUTH, 'POST', '/v1/resize?w=10', keyed('wrong-key-0123456789', jpeg));
  await call('resize with the key', AUTH, 'POST', '/v1/resize?w=10', keyed(API_KEY, jpeg));

  const base = `/v1/images/${stored.json?.id}`;
  for (const method of ['GET', 'HEAD']) {
    await call('original, unsigned', AUTH, method, base);
    await call('variant without sig', AUTH, method, `${base}?w=20&format=png`);
    await call('variant with a bad sig', AUTH, method, `${base}?w=20&format=png&sig=${'A'.repeat(43)}`);
    const signed = await call('variant, signed', AUTH, method, signedUrl(`${base}?w=20&format=png`, SIGNING_KEY));
    expect(signed.status === 200, 'signed variant', `expected 200, got ${signed.status}`);
  }
  const plain = await call('sig ignored without auth.sign_urls', MAIN, 'GET', `${base}?w=20&format=png`);
  const withSig = await call('sig ignored without auth.sign_urls', MAIN, 'GET', `${base}?w=20&format=png&sig=anything`);
  expect(plain.headers.etag === withSig.headers.etag, 'sig', 'sig changed the variant on a server without signing');

  for (const method of ['GET', 'HEAD']) {
    await call('/metrics moved to metrics.listen', AUTH, method, '/metrics');
    const scrape = await send(AUTH_METRICS, method, '/metrics');
    expect(scrape.status === 200, 'metrics.listen', `${method} /metrics on metrics.listen: ${scrape.status}`);
    check('metrics on metrics.listen', method, '/metrics', scrape);
  }

  await call('delete without a key', AUTH, 'DELETE', base);
  await call('delete with a wrong key', AUTH, 'DELETE', base, keyed('wrong-key-0123456789'));
  await call('delete with the key', AUTH, 'DELETE', base, keyed(API_KEY));
}

async function deletes(ids) {
  const res = await call('delete', MAIN, 'DELETE', `/v1/images/${ids.photo}`);
  expect(res.status === 204, 'delete', `expected 204, got ${res.status}`);
  await call('delete again', MAIN, 'DELETE', `/v1/images/${ids.photo}`);
  await call('gone after delete', MAIN, 'GET', `/v1/images/${ids.photo}?w=10`);
  await call('delete: not an id', MAIN, 'DELETE', '/v1/images/not-an-id');
}

// Answers given before routing, on every operation: headers over
// server.max_header_bytes (431), a transfer coding other than chunked (501) and a
// target that is not a valid URL (400). Not 431 to HEAD: the server answers before
// it has parsed the request, so it sends a body, which HTTP forbids after HEAD and
// Node's parser rejects.
async function everyOperation(ids) {
  for (const template of templates) {
    const p = template.replace('{id}', ids.small);
    for (const method of specMethods(template)) {
      if (method !== 'HEAD') await call(`headers too large`, MAIN, method, p, { headers: BIG_HEADER });
      await call('transfer coding', MAIN, method, p,
                 { headers: { 'Transfer-Encoding': 'gzip, chunked' }, headersOnly: true });
      await call(`bad target`, MAIN, method, `${p}?x=%zz`);
    }
  }
}

// The route table, twice: statically, every router.add(...) in server/src must be
// a spec operation and every spec operation a registration; and over HTTP, OPTIONS
// (registered nowhere) on every spec path must be a 405 whose Allow lists exactly
// the spec's methods.
async function routes(ids) {
  const dir = path.join(repo, 'server', 'src');
  const registered = new Set();
  let calls = 0;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpp'))) {
    const text = readFileSync(path.join(dir, name), 'utf8');
    calls += (text.match(/\brouter\.add\s*\(/g) ?? []).length;
    for (const m of text.matchAll(/\brouter\.add\s*\(\s*http::verb::(\w+?)_?\s*,\s*"([^"]*)"/g)) {
      registered.add(`${m[1].toUpperCase()} ${m[2]}`);
    }
  }
  expect(calls === registered.size, 'route registrations',
         `${calls} router.add calls in server/src, ${registered.size} of the form router.add(http::verb::X, "/path", ...)`);
  const documented = new Set(templates.flatMap((t) => specMethods(t).filter((m) => m !== 'HEAD').map((m) => `${m} ${t}`)));
  for (const route of registered) expect(documented.has(route), 'routes', `the server has ${route}; the spec lacks it`);
  for (const route of documented) expect(registered.has(route), 'routes', `the spec has ${route}; the server does not register it`);
  for (const t of templates) {
    const getAndHead = ['get', 'head'].map((m) => Boolean(spec.paths[t][m]));
    expect(getAndHead[0] === getAndHead[1], 'routes', `${t}: HEAD works wherever GET does; the spec must list both`);
    await call('OPTIONS (never registered)', MAIN, 'OPTIONS', t.replace('{id}', ids.small));
  }
  await call('no such path', MAIN, 'GET', '/nowhere');
  await call('no such path', MAIN, 'POST', '/v1/images/x/y');
}

// 1 CPU thread and a queue of 1: a burst of slow resizes gets one running, one
// queued (its deadline passes before the thread is free: 504) and the rest 503;
// /readyz says 503 meanwhile.
async function overload() {
  const seen = new Set();
  for (let attempt = 0; attempt < 3 && !(seen.has(503) && seen.has(504) && seen.has('ready-503')); attempt++) {
    let done = false;
    const burst = Promise.all(Array.from({ length: 6 }, () =>
      call('burst', TIGHT, 'POST', '/v1/resize?w=3000&format=png', raw('image/png', BIG_PNG))
        .then((res) => seen.add(res.status)))).finally(() => { done = true; });
    while (!done) {
      const ready = await call('readiness under load', TIGHT, 'GET', '/readyz');
      if (ready.status === 503) seen.add('ready-503');
      await new Promise((r) => setTimeout(r, 10));
    }
    await burst;
  }
  console.log(`contract: overload burst saw ${[...seen].join(', ')}`);
  expect(seen.has(503), 'overload', 'no 503 from a burst on a full CPU queue');
  expect(seen.has(504), 'overload', 'no 504 from a job queued past its deadline');
  expect(seen.has('ready-503'), 'overload', '/readyz never said 503 while the queue was full');
}

// Statuses the spec documents that this run does not provoke, and why.
function excused(op, template, status) {
  if (status === '500') return 'needs a server bug or a failing store';
  if (status === '507') return 'needs a full disk';
  if (op === 'head' && status === '431') return 'answered before the method is read, with a body HEAD forbids';
  if (op === 'head' && !['200', '304', '404'].includes(status)) return "HEAD runs GET's handler; provoked with GET";
  if ((status === '503' || status === '504') && template.startsWith('/v1/') && template !== '/v1/resize') {
    return 'the same CPU-pool path as POST /v1/resize, where it is provoked';
  }
  return null;
}

function coverage() {
  const missing = [];
  const skipped = [];
  for (const template of templates) {
    for (const op of METHODS.filter((m) => spec.paths[template][m])) {
      for (const status of Object.keys(spec.paths[template][op].responses)) {
        if (covered.has(`${op} ${template} ${status}`)) continue;
        const why = excused(op, template, status);
        (why ? skipped : missing).push(`${op.toUpperCase()} ${template} ${status}${why ? ` (${why})` : ''}`);
      }
    }
  }
  for (const m of missing) expect(false, 'coverage', `documented but never provoked: ${m}`);
  console.log(`contract: not provoked, by design: ${skipped.length}`);
  for (const s of skipped) console.log(`  ${s}`);
}

async function main() {
  await health();
  await staticFiles();
  const ids = await uploads();
  if (!ids.small || !ids.photo || !ids.broken) throw new Error('uploads failed; nothing else can be checked');
  await images(ids);
  await parameters(ids);
  await resize();
  await access();
  await everyOperation(ids);
  await routes(ids);
  await deletes(ids);
  await overload();
  coverage();
  const badResponses = failures.filter((f) => f.res).length;
  console.log(`contract: ${checked} responses validated against ${path.basename(specFile)}: ` +
              `${badResponses} violate it; ${failures.length - badResponses} other expectations failed`);
  console.log(`contract: ${checked - badResponses} passed, ${failures.length} failed`);
  process.exitCode = failures.length ? 1 : 0;
}

main().catch((e) => {
  console.log(`FAIL contract test crashed: ${e.stack}`);
  process.exitCode = 1;
});
