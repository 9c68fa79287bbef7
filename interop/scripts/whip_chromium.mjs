// WHIP/WHEP through the demo page in Debian's headless Chromium: one page
// presses "Broadcast" (its fake camera and microphone go to the server by
// WHIP, the video as three simulcast layers q/h/f), three pages press "Watch" (WHEP), and each viewer's getStats() must
// show its inbound video decoding: framesDecoded grows. A fourth page that
// tries to broadcast at the same time must be refused (409). When the
// broadcaster stops, every viewer's connection must end (the server ends its
// WHEP sessions; each page sees its connection fail, close or stay
// disconnected, and stops watching). Screenshots go to ARTIFACTS.
//
//   node whip_chromium.mjs URL ARTIFACTS_DIR
//
// playwright-core comes from interop/browser/node_modules (npm ci there); it
// never downloads a browser: CHROMIUM (default /usr/bin/chromium) is used.
// Prints one JSON line with the results on stdout; exits non-zero on failure.

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const [url, artifacts] = process.argv.slice(2);
if (!url || !artifacts) {
  console.error('usage: node whip_chromium.mjs URL ARTIFACTS_DIR');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });
const TIMEOUT = 30_000;
const VIEWERS = 3;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    // Plain host candidates instead of mDNS names, which a sandbox may not resolve.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    // Background tabs keep decoding at full rate.
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
    // The broadcast's three simulcast layers at any capture size (the
    // legacy table allows fewer below 960x540).
    '--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/',
  ],
});
const result = { ok: false };
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const open = async (name) => {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('console', (m) => { if (m.type() === 'error') console.error(`[${name}] console: ${m.text()}`); });
    page.on('pageerror', (e) => console.error(`[${name}] page error: ${e.message}`));
    await page.goto(url);
    return page;
  };
  const state = (page, text) => page.locator('#broadcast-state', { hasText: text }).waitFor();

  const publisher = await open('publisher');
  await publisher.click('#broadcast-start');
  await state(publisher, 'Broadcasting.');
  result.broadcasting = true;

  const intruder = await open('intruder');
  await intruder.click('#broadcast-start');
  await state(intruder, '/whip answered 409');
  result.second_broadcaster_refused = true;
  await intruder.close();

  const viewers = [];
  for (let i = 0; i < VIEWERS; i += 1) {
    const page = await open(`viewer${i}`);
    await page.click('#watch-start');
    viewers.push(page);
  }
  for (const page of viewers) await state(page, 'Watching the broadcast.');

  // framesDecoded of the inbound video, twice, 3 s apart.
  const decoded = (page) => page.evaluate(async () => {
    const stats = await window.ferrtcCast.pc.getStats();
    let frames = 0; let width = 0; let codec = '';
    const codecs = new Map();
    stats.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s.mimeType); });
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        frames = s.framesDecoded || 0;
        width = s.frameWidth || 0;
        codec = codecs.get(s.codecId) || '';
      }
    });
    return { frames, width, codec };
  });
  const waitDecoding = async (page) => {
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      const s = await decoded(page);
      if (s.frames > 0) return s;
      if (Date.now() > deadline) return s;
      await page.waitForTimeout(250);
    }
  };
  const first = [];
  for (const page of viewers) first.push(await waitDecoding(page));
  await viewers[0].waitForTimeout(3000);
  result.viewers = [];
  for (let i = 0; i < VIEWERS; i += 1) {
    const later = await decoded(viewers[i]);
    result.viewers.push({
      frames_first: first[i].frames,
      frames_later: later.frames,
      width: later.width,
      codec: later.codec,
    });
  }
  // The broadcaster sends simulcast: its outbound video layers by rid.
  // Chromium turns its top layer on only once its own bandwidth estimate
  // (from ferrtc's transport-cc feedback) has ramped up to it, which can
  // take longer than the 3 s above on a busy machine: poll until every
  // layer has sent, up to the page timeout.
  const layersSent = () => publisher.evaluate(async () => {
    const stats = await window.ferrtcCast.pc.getStats();
    const layers = [];
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) {
        layers.push({ rid: s.rid, width: s.frameWidth || 0, bytes: s.bytesSent || 0 });
      }
    });
    return layers.sort((a, b) => a.rid.localeCompare(b.rid));
  });
  const layersDeadline = Date.now() + TIMEOUT;
  for (;;) {
    result.layers_sent = await layersSent();
    const all = result.layers_sent.length === 3 && result.layers_sent.every((l) => l.bytes > 0);
    if (all || Date.now() > layersDeadline) break;
    await publisher.waitForTimeout(250);
  }
  for (let i = 0; i < VIEWERS; i += 1) {
    await viewers[i].screenshot({ path: join(artifacts, `whep-viewer${i}.png`) });
  }

  // The broadcaster stops: the viewers' connections end.
  for (const page of viewers) {
    await page.evaluate(() => {
      const { pc } = window.ferrtcCast;
      window.castStates = [];
      pc.addEventListener('connectionstatechange', () => window.castStates.push(pc.connectionState));
    });
  }
  await publisher.click('#broadcast-start');
  await state(publisher, 'Not broadcasting.');
  result.stopped = true;
  result.viewers_ended = [];
  for (const page of viewers) {
    await page.waitForFunction(() => window.ferrtcCast.pc === null, null, { timeout: TIMEOUT });
    result.viewers_ended.push({
      states: await page.evaluate(() => window.castStates),
      note: await page.locator('#broadcast-state').textContent(),
    });
  }
  result.ok = result.viewers.every((v) => v.frames_later > v.frames_first && v.frames_first > 0)
    && result.viewers_ended.length === VIEWERS;
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
