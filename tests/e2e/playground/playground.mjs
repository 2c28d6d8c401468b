// Browser test of the playground page (GET /), in Debian's Chromium driven by
// playwright-core: upload a real photo through the file input, change the width,
// check the variant shown has that width, check the health panel drew values, and
// save a screenshot. Run by tests/e2e/playground.sh, which starts the server.
// Environment:
//   PLAYGROUND_URL         the server's base URL
//   PLAYGROUND_PHOTO       the photo to upload
//   PLAYGROUND_SCREENSHOT  where to write the PNG
//   PLAYGROUND_PROFILE     an empty directory for Chromium's profile
import { statSync } from 'node:fs';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run tests/e2e/playground.sh)`);
  return value;
};
const base = env('PLAYGROUND_URL');
const photo = env('PLAYGROUND_PHOTO');
const screenshot = env('PLAYGROUND_SCREENSHOT');
const WIDTH = 480;  // what the test asks for after the page's default of 640

let passed = 0;
let failed = 0;
function check(condition, what, detail = '') {
  console.log(`${condition ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (condition) passed++;
  else failed++;
}

const context = await chromium.launchPersistentContext(env('PLAYGROUND_PROFILE'), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  // Chromium's own network traffic (updates, sync, QUIC probes) is refused on this
  // network and only slows the start down.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1280, height: 900 },
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(20_000);
  // A script error or a CSP refusal would leave the page dead without failing
  // any selector quickly: collect them and fail on any.
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  const response = await page.goto(`${base}/`);
  check(response.status() === 200, 'GET / answers 200', String(response.status()));
  check(await page.title() === 'pixelmill playground', 'the page is the playground', await page.title());

  // 1. Upload through the file input.
  await page.setInputFiles('#file', photo);
  await page.waitForSelector('#original:not([hidden])');
  const original = {
    format: await page.textContent('#o-format'),
    size: await page.textContent('#o-size'),
    bytes: await page.textContent('#o-bytes'),
  };
  check(original.format === 'jpeg', 'the original\'s format is shown', original.format);
  check(/^\d+ × \d+$/.test(original.size), 'the original\'s width × height is shown', original.size);
  const size = statSync(photo).size;
  check(original.bytes.startsWith(size.toLocaleString('en-US')), 'the original\'s byte count is shown',
        `${original.bytes} for a ${size}-byte file`);

  // 2. The first variant (the page's default width), then the width changed.
  await page.waitForFunction(() => document.getElementById('variant-box').dataset.state === 'ready');
  await page.fill('#w', String(WIDTH));
  await page.waitForFunction((w) => document.getElementById('variant-box').dataset.state === 'ready' &&
                                    document.getElementById('variant').naturalWidth === w, WIDTH);
  const variant = await page.evaluate(() => ({
    naturalWidth: document.getElementById('variant').naturalWidth,
    naturalHeight: document.getElementById('variant').naturalHeight,
    size: document.getElementById('v-size').textContent,
    bytes: document.getElementById('v-bytes').textContent,
    latency: document.getElementById('v-latency').textContent,
    url: document.getElementById('url').value,
  }));
  check(variant.naturalWidth === WIDTH, 'the displayed variant has the requested width', String(variant.naturalWidth));
  check(variant.size === `${WIDTH} × ${variant.naturalHeight}`, 'its width × height is shown', variant.size);
  check(/^[\d,]+$/.test(variant.bytes), 'its size in bytes is shown', variant.bytes);
  check(/^\d+(\.\d+)? ms$/.test(variant.latency), 'the request latency is shown', variant.latency);
  check(variant.url.startsWith(`${base}/v1/images/`) && variant.url.includes(`w=${WIDTH}`),
        'the variant URL is shown', variant.url);
  const fetched = await context.request.get(variant.url);
  check(fetched.status() === 200 && fetched.headers()['content-type'].startsWith('image/'),
        'the shown URL serves the image', `${fetched.status()} ${fetched.headers()['content-type']}`);

  // 3. A burst of resizes, so the sparklines have something to show; then every
  // health value must be a number and every sparkline drawn.
  await page.click('#burst');
  await page.waitForFunction(() => !/running|^$/.test(document.getElementById('burst-result').textContent), null,
                             { timeout: 60_000 });
  console.log(`     burst: ${await page.textContent('#burst-result')}`);
  const drawn = () => [...document.querySelectorAll('.spark')].every((card) => {
    const canvas = card.querySelector('canvas');
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    return /\d/.test(card.querySelector('.value').textContent) && painted > 0;
  });
  await page.waitForFunction(drawn, null, { timeout: 15_000 }).catch(() => {});
  const health = await page.evaluate(() => [...document.querySelectorAll('.spark')].map((card) => ({
    label: card.querySelector('.label').textContent,
    value: card.querySelector('.value').textContent,
  })));
  for (const { label, value } of health) check(/\d/.test(value), `health panel: ${label}`, value);
  check(await page.evaluate(drawn), 'every health sparkline is drawn');
  check(await page.textContent('#live') === 'live', 'the health panel reads /metrics');

  await page.waitForTimeout(1500);  // let the post-burst seconds into the sparklines
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`     screenshot: ${screenshot}`);
  check(errors.length === 0, 'no script errors or refused loads in the page', errors.join(' | '));
} finally {
  await context.close();
}
console.log(`playground: ${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
