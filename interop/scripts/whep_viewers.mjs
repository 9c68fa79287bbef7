// WHEP viewers of interop/tests/whep_constrained.rs: Debian's headless
// Chromium opens COUNT pages of the demo page of `ferrtc signal` at URL and
// presses "Watch" in each (WHEP), prints "watching" on stdout once every
// page is connected, then once a second one JSON line with what each page
// receives, from its getStats() inbound video:
//
//   {"t":SECS,"viewers":[{"width":W,"frames":DECODED,"bytes":RECEIVED,"lost":LOST},...]}
//
// (width is the frameWidth of the last decoded frame, 0 before the first;
// frames, bytes and lost are the inbound-rtp counters framesDecoded,
// bytesReceived and packetsLost). It watches until its stdin closes (the
// test tells it to stop so; at most MAX_SECS seconds), then closes the
// browser and exits. The test runs it in a network namespace with
// `ip netns exec`: the browser is driven over a pipe, not the network, so
// only the page's own traffic crosses the namespace's links.
//
//   node whep_viewers.mjs URL COUNT MAX_SECS
//
// URL need not be a secure context (a server in another namespace is not
// on 127.0.0.1): its origin is treated as one. playwright-core comes from
// interop/browser/node_modules (npm ci there); it never downloads a
// browser: CHROMIUM (default /usr/bin/chromium) is used. Exits non-zero on
// failure, with the error on stderr.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const [url, count, secs] = process.argv.slice(2);
if (!url || !(Number(count) > 0) || !(Number(secs) > 0)) {
  console.error('usage: node whep_viewers.mjs URL COUNT MAX_SECS');
  process.exit(2);
}
let stop = false;
const stopped = new Promise((resolve) => {
  const done = () => { stop = true; resolve(); };
  process.stdin.on('end', done);
  process.stdin.on('close', done);
  process.stdin.on('error', done);
  process.stdin.resume();
});
const TIMEOUT = 30_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    // Background tabs keep decoding at full rate.
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
    `--unsafely-treat-insecure-origin-as-secure=${new URL(url).origin}`,
  ],
});
let ok = false;
try {
  const context = await browser.newContext();
  const pages = [];
  for (let i = 0; i < Number(count); i += 1) {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => console.error(`[viewer${i}] page error: ${e.message}`));
    await page.goto(url);
    await page.click('#watch-start');
    pages.push(page);
  }
  for (const page of pages) {
    await page.locator('#broadcast-state', { hasText: 'Watching the broadcast.' }).waitFor();
  }
  console.log('watching');

  const sample = (page) => page.evaluate(async () => {
    const { pc } = window.ferrtcCast;
    const seen = { width: 0, frames: 0, bytes: 0, lost: 0 };
    if (!pc) return seen;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        seen.width = s.frameWidth || 0;
        seen.frames = s.framesDecoded || 0;
        seen.bytes = s.bytesReceived || 0;
        seen.lost = s.packetsLost || 0;
      }
    });
    return seen;
  });
  const start = Date.now();
  const end = start + Number(secs) * 1000;
  for (let tick = 1; !stop && Date.now() < end; tick += 1) {
    const wait = start + tick * 1000 - Date.now();
    if (wait > 0) await Promise.race([stopped, new Promise((r) => setTimeout(r, wait))]);
    if (stop) break;
    const viewers = [];
    for (const page of pages) viewers.push(await sample(page));
    const t = Math.round((Date.now() - start) / 100) / 10;
    console.log(JSON.stringify({ t, viewers }));
  }
  ok = true;
} catch (e) {
  console.error(`whep_viewers: ${e && e.stack || e}`);
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
