// The sharp baseline for bench/peers.sh: the endpoint shape pixelmill serves, done the
// way a sharp user would write it, with sharp's and Node's defaults untouched.
//   POST /v1/resize?w=&h=&format=jpeg|png|webp&quality=   body: the image
//   GET  /healthz
// Rotates by EXIF, fits inside w x h, never enlarges; JPEG q80 unless asked.
//   node server.js [PORT]   (default 8090, 0: any free port; 127.0.0.1 only)
'use strict';
const http = require('node:http');
const sharp = require('sharp');

const port = Number(process.argv[2] ?? process.env.PORT ?? 8090);
const maxBody = 50 * 1024 * 1024;

function problem(res, status, detail) {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ status, detail }));
}

function positive(text) {
  if (text === null) return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : NaN;
}

async function resize(req, res, query) {
  const width = positive(query.get('w'));
  const height = positive(query.get('h'));
  const quality = query.has('quality') ? Number(query.get('quality')) : 80;
  const format = query.get('format') || 'jpeg';
  if (Number.isNaN(width) || Number.isNaN(height) || !(quality >= 1 && quality <= 100) ||
      !['jpeg', 'png', 'webp'].includes(format)) {
    return problem(res, 400, 'bad query');
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > maxBody) return problem(res, 413, 'body too large');
    chunks.push(chunk);
  }
  let out;
  try {
    out = await sharp(Buffer.concat(chunks))
      .rotate()
      .resize({ width, height, fit: 'inside', withoutEnlargement: true })
      .toFormat(format, { quality })
      .toBuffer();
  } catch (err) {
    return problem(res, 422, String(err.message || err));
  }
  res.writeHead(200, { 'content-type': `image/${format}`, 'content-length': out.length });
  res.end(out);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end('{"status":"ok"}');
  }
  if (req.method === 'POST' && url.pathname === '/v1/resize') {
    return resize(req, res, url.searchParams).catch((err) => problem(res, 500, String(err)));
  }
  problem(res, 404, 'not found');
});
server.keepAliveTimeout = 75000;
server.listen(port, '127.0.0.1', () => {
  const { versions } = sharp;
  console.log(`listening on 127.0.0.1:${server.address().port} (sharp ${versions.sharp}, libvips ${versions.vips})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
