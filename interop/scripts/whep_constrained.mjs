// The publisher of interop/tests/whep_constrained.rs: Debian's headless
// Chromium opens the demo page of `ferrtc signal` and presses "Broadcast"
// (its fake camera as three simulcast layers q/h/f by WHIP), prints
// "broadcasting" on stdout once connected, keeps broadcasting until its
// stdin closes (the test tells it to stop so; at most MAX_SECS seconds),
// then prints one JSON line: the layers it sent (rid, width, bytes) from
// its getStats().
//
//   node whep_constrained.mjs URL MAX_SECS
//
// playwright-core comes from interop/browser/node_modules (npm ci there); it
// never downloads a browser: CHROMIUM (default /usr/bin/chromium) is used.
// Exits non-zero on failure.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const [url, secs] = process.argv.slice(2);
if (!url || !secs) {
  console.error('usage: node whep_constrained.mjs URL MAX_SECS');
  process.exit(2);
}
// Resolves when stdin closes (the test's "stop").
const stopped = new Promise((resolve) => {
  process.stdin.on('end', resolve);
  process.stdin.on('close', resolve);
  process.stdin.on('error', resolve);
  process.stdin.resume();
});
const TIMEOUT = 30_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
    // Three simulcast layers at any capture size.
    '--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/',
  ],
});
const result = { ok: false };
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => console.error(`[publisher] page error: ${e.message}`));
  await page.goto(url);
  await page.click('#broadcast-start');
  await page.locator('#broadcast-state', { hasText: 'Broadcasting.' }).waitFor();
  console.log('broadcasting');
  await Promise.race([stopped, page.waitForTimeout(Number(secs) * 1000)]);
  result.layers_sent = await page.evaluate(async () => {
    const stats = await window.ferrtcCast.pc.getStats();
    const layers = [];
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) {
        layers.push({ rid: s.rid, width: s.frameWidth || 0, bytes: s.bytesSent || 0 });
      }
    });
    return layers.sort((a, b) => a.rid.localeCompare(b.rid));
  });
  result.ok = result.layers_sent.length === 3;
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
