// One behaviour of the ferrtc demo page (crates/signal/web) in Debian's
// headless Chromium, between two tabs that join as alice and bob and call
// each other over a data channel:
//
//   node demo_page.mjs URL CASE
//
// CASE is one of:
// - received-file-link: alice sends an HTML file whose header says
//   "mime":"text/html"; bob's "save" link saves it under its name, and
//   opened in a new tab (what "Open link in new tab" does) the file must
//   not be rendered as a page of the demo's origin: its script must not run.
// - hangup-mid-transfer: alice sends a 40 MiB file; bob hangs up while it
//   is under way. Both transfer rows must end "failed", none left "running".
// - offer-while-answer-pending: alice has no camera (microphone only) and
//   her browser takes 500 ms to apply an answer; she starts video in the
//   call: bob answers with his camera and microphone, and offers his camera
//   right after the answer. Alice must receive bob's video.
// - refused-room: a tab opens the page with ?room=no!room, a room name the
//   server refuses. The page must say so and stop, not reconnect every
//   second: within 8 s at most 2 WebSocket connections.
//
// - secret-wrong-name (server with --secret s3cret): the page carries a
//   valid join token for alice; the user first types "bob" (the server
//   answers bad-token and closes with 1008, as it always does at a join
//   refused for its token), then "alice". She must get in without reloading:
//   the token was fine, only the name was wrong.
// - hangup-while-hashing: bob's SHA-256 is slow (2 s); alice sends a small
//   file and hangs up once bob has every byte, while bob hashes it. No
//   transfer row may be left "running".
// - csp-features: the page under its real Content-Security-Policy (no
//   bypassCSP): chat, a file saved from its blob: link, a video call, a
//   photo, Broadcast and Watch. No CSP violation may be reported.
//
// playwright-core comes from interop/browser/node_modules (npm ci there); it
// never downloads a browser: CHROMIUM (default /usr/bin/chromium) is used.
// Prints one JSON line with the results on stdout; exits non-zero on failure.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const [url, scenario] = process.argv.slice(2);
if (!url || !scenario) {
  console.error('usage: node demo_page.mjs URL CASE');
  process.exit(2);
}
const TIMEOUT = 30_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    // Plain host candidates instead of mDNS names, which a sandbox may not resolve.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
});
const result = { ok: false, case: scenario };
try {
  if (scenario === 'refused-room') {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(TIMEOUT);
    let sockets = 0;
    page.on('websocket', () => { sockets += 1; });
    await page.goto(new URL('/?room=no%21room', url).href);
    await page.waitForTimeout(8000);
    result.sockets = sockets;
    result.banner = (await page.textContent('#banner-text')).trim();
    result.status = await page.getAttribute('#signal-status', 'data-state');
    if (sockets > 2 || !result.banner.includes('room')) {
      throw new Error(`a refused room is not reported, or is retried: ${JSON.stringify(result)}`);
    }
  } else if (scenario === 'secret-wrong-name') {
    const { createHmac } = await import('node:crypto');
    const expiry = 4_000_000_000;
    const mac = createHmac('sha256', 's3cret').update(`ferrtc-signal-token-v1\ndefault\nalice\n${expiry}`).digest('hex');
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(new URL(`/?token=${expiry}.${mac}`, url).href);
    await page.locator('#signal-status[data-state="open"]').waitFor();
    await page.fill('#name', 'bob');
    await page.click('#join');
    await page.locator('#join-error:not([hidden])').waitFor();
    result.join_error = (await page.textContent('#join-error')).trim();
    await page.waitForTimeout(4000);
    result.status_after_wrong_name = await page.getAttribute('#signal-status', 'data-state');
    await page.fill('#name', 'alice');
    await page.click('#join');
    result.joined = await page.locator('#me', { hasText: 'you are alice' }).waitFor({ timeout: 8000 })
      .then(() => true).catch(() => false);
    result.banner = (await page.textContent('#banner-text')).trim();
    if (!result.joined) throw new Error(`a valid token could not be used after a mistyped name: ${JSON.stringify(result)}`);
  } else {
    await twoTabs();
  }
  result.ok = true;
} catch (e) {
  result.error = String((e && e.stack) || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);

// The cases between two tabs, alice and bob.
async function twoTabs() {
  // bypassCSP: the test's own probes (a fetch of a blob: URL) are not the
  // page's requests; the cases check the page's code, not its policy.
  const context = await browser.newContext({ acceptDownloads: true, bypassCSP: scenario !== 'csp-features' });
  const violations = [];
  await context.exposeFunction('reportViolation', (v) => { violations.push(v); });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportViolation(`${e.effectiveDirective} blocked ${e.blockedURI}`);
    });
  });
  const open = async (name) => {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => console.error(`[${name}] page error: ${e.message}`));
    await page.goto(url);
    await page.locator('#signal-status[data-state="open"]').waitFor();
    await page.fill('#name', name);
    await page.click('#join');
    await page.locator('#me', { hasText: `you are ${name}` }).waitFor();
    return page;
  };
  const alice = await open('alice');
  const bob = await open('bob');
  const call = async () => {
    await alice.locator('#users li[data-user="bob"] button.call').click();
    for (const page of [alice, bob]) await page.locator('#chat-input:not([disabled])').waitFor();
  };
  const rows = (page) => page.evaluate(() => [...document.querySelectorAll('.transfer')]
    .map((li) => ({ dir: li.dataset.dir, state: li.dataset.state, text: li.textContent })));

  if (scenario === 'received-file-link') {
    await call();
    const html = '<!doctype html><title>file</title><script>document.title = "script ran in " + location.origin;</script>';
    await alice.setInputFiles('#file-input', { name: 'page.html', mimeType: 'text/html', buffer: Buffer.from(html) });
    const link = bob.locator('.transfer[data-dir="in"][data-state="done"] a[download]');
    await link.waitFor();
    const href = await link.getAttribute('href');
    result.download = await link.getAttribute('download');
    result.content_type = await bob.evaluate(async (h) => (await fetch(h)).headers.get('content-type'), href);
    // A click on the link saves the file under its name.
    const [saved] = await Promise.all([bob.waitForEvent('download'), link.click()]);
    result.saved_name = saved.suggestedFilename();
    const [tab] = await Promise.all([
      context.waitForEvent('page'),
      bob.evaluate((h) => { window.open(h); }, href),
    ]);
    // A saved file closes the tab; a rendered one sets its title.
    await new Promise((resolve) => { setTimeout(resolve, 1500); });
    result.opened_title = tab.isClosed() ? '' : await tab.title().catch(() => '');
    if (result.opened_title.startsWith('script ran')) {
      throw new Error(`the received file ran as a page of ${url}: ${JSON.stringify(result)}`);
    }
  } else if (scenario === 'hangup-mid-transfer') {
    await call();
    await alice.setInputFiles('#file-input', {
      name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(40 * 1024 * 1024, 7),
    });
    await bob.locator('.transfer[data-dir="in"]').waitFor();
    await bob.click('#hangup');
    await alice.locator('#banner', { hasText: 'bob hung up' }).waitFor();
    const settled = (page) => page.waitForFunction(
      () => [...document.querySelectorAll('.transfer')].every((li) => li.dataset.state !== 'running'),
      null, { timeout: 10_000 },
    ).catch(() => {});
    await settled(alice);
    await settled(bob);
    result.alice = await rows(alice);
    result.bob = await rows(bob);
    const states = [...result.alice, ...result.bob].map((r) => r.state);
    if (states.length !== 2 || states.some((s) => s !== 'failed')) {
      throw new Error(`a transfer is not shown failed after the hang-up: ${JSON.stringify(result)}`);
    }
  } else if (scenario === 'offer-while-answer-pending') {
    await alice.evaluate(() => {
      const media = navigator.mediaDevices;
      const getUserMedia = media.getUserMedia.bind(media);
      media.getUserMedia = (c) => (c && c.video
        ? Promise.reject(new DOMException('no camera here', 'NotFoundError'))
        : getUserMedia(c));
      const apply = RTCPeerConnection.prototype.setRemoteDescription;
      RTCPeerConnection.prototype.setRemoteDescription = async function (d) {
        if (d && d.type === 'answer') await new Promise((r) => setTimeout(r, 500));
        return apply.call(this, d);
      };
    });
    await call();
    await alice.click('#start-video');
    await bob.locator('.log .msg', { hasText: 'sending camera and microphone in the answer' }).waitFor();
    result.video_size_alice = await alice.waitForFunction(() => {
      const v = document.getElementById('remote-video');
      return v && v.videoWidth > 0 && [v.videoWidth, v.videoHeight];
    }, null, { timeout: 15_000 }).then((h) => h.jsonValue()).catch(() => null);
    result.alice_log = await alice.evaluate(() => [...document.querySelectorAll('.log .msg')].map((m) => m.textContent));
    if (!result.video_size_alice) {
      throw new Error(`alice never received bob's video: ${JSON.stringify(result)}`);
    }
  } else if (scenario === 'hangup-while-hashing') {
    await bob.evaluate(() => {
      const subtle = crypto.subtle;
      const digest = subtle.digest.bind(subtle);
      subtle.digest = async (...args) => { await new Promise((r) => setTimeout(r, 2000)); return digest(...args); };
    });
    await call();
    await alice.setInputFiles('#file-input', {
      name: 'small.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(64 * 1024, 7),
    });
    // Bob has every byte (100%) and is hashing them: alice hangs up.
    await bob.locator('.transfer[data-dir="in"] .state', { hasText: '100%' }).waitFor();
    await alice.click('#hangup');
    await bob.locator('#banner', { hasText: 'alice hung up' }).waitFor();
    await bob.waitForTimeout(4000);
    result.alice = await rows(alice);
    result.bob = await rows(bob);
    if ([...result.alice, ...result.bob].some((r) => r.state === 'running')) {
      throw new Error(`a transfer row is left running after the hang-up: ${JSON.stringify(result)}`);
    }
  } else if (scenario === 'csp-features') {
    await call();
    await alice.fill('#chat-input', 'hello');
    await alice.click('#send');
    await bob.locator('.log .msg.remote', { hasText: 'hello' }).waitFor();
    await alice.setInputFiles('#file-input', { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('hi there') });
    const link = bob.locator('.transfer[data-dir="in"][data-state="done"] a[download]');
    await link.waitFor();
    const [saved] = await Promise.all([bob.waitForEvent('download'), link.click()]);
    result.saved = (await (await import('node:fs/promises')).readFile(await saved.path())).toString();
    await alice.click('#start-video');
    result.video = await alice.waitForFunction(() => document.getElementById('remote-video').videoWidth > 0)
      .then(() => true).catch(() => false);
    await alice.click('#photo');
    result.photo = await alice.locator('#photos img').evaluate((img) => img.decode().then(() => img.naturalWidth));
    await alice.click('#broadcast-start');
    await alice.locator('#broadcast-state', { hasText: 'Broadcasting.' }).waitFor();
    await bob.click('#watch-start');
    await bob.locator('#broadcast-state', { hasText: 'Watching the broadcast.' }).waitFor();
    await bob.click('#watch-start');
    await alice.click('#broadcast-start');
    await alice.waitForTimeout(500);
    result.violations = violations;
    if (violations.length || result.saved !== 'hi there' || !result.video || !result.photo) {
      throw new Error(`a feature fails under the policy: ${JSON.stringify(result)}`);
    }
  } else {
    throw new Error(`unknown case ${scenario}`);
  }
}
