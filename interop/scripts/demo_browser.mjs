// Drives Debian's headless Chromium through the ferrtc demo page:
// two tabs join as two users, chat over a data channel, send a 5 MiB file
// and compare the SHA-256 each side shows with the one computed here; a third
// tab tries a taken name and must see the error. Then alice starts video in
// the call (Chromium's fake camera and microphone): bob answers with his,
// both see the other's video play with frame rates in the stats panel,
// alice mutes, bob takes a photo of alice's video (a PNG to save), and bob
// hangs up. Screenshots go to ARTIFACTS.
//
//   node demo_browser.mjs URL ARTIFACTS_DIR [SERVER_PID] [--bot]
//
// With --bot (for `ferrtc demo`, whose room has the ferrtc peer named
// ferrtc-bot), alice then calls the bot: her chat line must come back, a
// 5 MiB upload must be confirmed with the right SHA-256, and /stats must be
// answered with JSON; then alice starts video and must see her own camera
// come back through the bot, whose /stats then has inbound and outbound
// RTP. With SERVER_PID (a server the caller started for this
// test), the server is then stopped and the page must say that signaling was
// lost.
//
// playwright-core comes from interop/browser/node_modules (npm ci there); it
// never downloads a browser: CHROMIUM (default /usr/bin/chromium) is used.
// Prints one JSON line with the results on stdout; exits non-zero on failure.

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const cli = process.argv.slice(2);
const withBot = cli.includes('--bot');
const [url, artifacts, serverPid] = cli.filter((a) => a !== '--bot');
if (!url || !artifacts) {
  console.error('usage: node demo_browser.mjs URL ARTIFACTS_DIR');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });
const TIMEOUT = 30_000;
const FILE_SIZE = 5 * 1024 * 1024;

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
const result = { ok: false };
const pages = {};
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const open = async (name) => {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('console', (m) => { if (m.type() === 'error') console.error(`[${name}] console: ${m.text()}`); });
    page.on('pageerror', (e) => console.error(`[${name}] page error: ${e.message}`));
    await page.goto(url);
    await page.locator('#signal-status[data-state="open"]').waitFor();
    pages[name] = page;
    return page;
  };
  const joinAs = async (page, name) => {
    await page.fill('#name', name);
    await page.click('#join');
    await page.locator('#me', { hasText: `you are ${name}` }).waitFor();
  };

  const alice = await open('alice');
  const bob = await open('bob');
  await joinAs(alice, 'alice');
  await joinAs(bob, 'bob');
  await alice.locator('#users li[data-user="bob"] button.call').click();

  // Both tabs get an open chat channel.
  for (const page of [alice, bob]) {
    await page.locator('#chat-input:not([disabled])').waitFor();
  }
  await alice.fill('#chat-input', 'hello bob');
  await alice.press('#chat-input', 'Enter');
  await bob.locator('.log .msg.remote[data-from="alice"]', { hasText: 'hello bob' }).waitFor();
  await bob.fill('#chat-input', 'hi alice');
  await bob.press('#chat-input', 'Enter');
  await alice.locator('.log .msg.remote[data-from="bob"]', { hasText: 'hi alice' }).waitFor();
  result.chat = true;

  // A 5 MiB file from alice to bob; both sides show the SHA-256.
  const bytes = randomBytes(FILE_SIZE);
  const expected = createHash('sha256').update(bytes).digest('hex');
  const started = Date.now();
  await alice.setInputFiles('#file-input', { name: 'random-5MiB.bin', mimeType: 'application/octet-stream', buffer: bytes });
  const received = bob.locator('.transfer[data-dir="in"][data-state="done"] .sha256');
  await received.waitFor({ timeout: 60_000 });
  const sent = alice.locator('.transfer[data-dir="out"][data-state="done"]');
  await sent.waitFor({ timeout: 60_000 });
  result.file_ms = Date.now() - started;
  result.sha256_expected = expected;
  result.sha256_receiver = (await received.textContent()).trim();
  result.sha256_sender = (await sent.locator('.sha256').textContent()).trim();
  result.sender_match = await sent.getAttribute('data-match');
  if (result.sha256_receiver !== expected || result.sha256_sender !== expected || result.sender_match !== 'true') {
    throw new Error(`SHA-256 mismatch: ${JSON.stringify(result)}`);
  }

  // The stats panel shows the selected pair and an RTT.
  await alice.locator('#stat-rtt', { hasText: 'ms' }).waitFor();
  result.pair = (await alice.textContent('#stat-local')) + ' <-> ' + (await alice.textContent('#stat-remote'));
  result.rtt = await alice.textContent('#stat-rtt');

  // A taken name gets a clear error.
  const carol = await open('carol');
  await carol.fill('#name', 'alice');
  await carol.click('#join');
  result.name_taken_error = (await carol.locator('#join-error:not([hidden])').textContent()).trim();
  await carol.close();

  await alice.waitForTimeout(2500); // a few more stats samples for the graphs
  await alice.screenshot({ path: join(artifacts, 'demo-alice.png') });
  await bob.screenshot({ path: join(artifacts, 'demo-bob.png') });
  result.screenshots = [join(artifacts, 'demo-alice.png'), join(artifacts, 'demo-bob.png')];

  // Video in the same call: alice starts it, bob answers with his camera.
  await alice.click('#start-video');
  const playing = (page) => page.waitForFunction(() => {
    const v = document.getElementById('remote-video');
    return v && v.videoWidth > 0 && v.currentTime > 1 && !document.getElementById('media').hidden;
  }, null, { timeout: 30_000 });
  await playing(alice);
  await playing(bob);
  for (const [name, page] of [['alice', alice], ['bob', bob]]) {
    await page.locator('#stat-video-in', { hasText: 'fps' }).waitFor();
    await page.locator('#stat-audio-in', { hasText: 'kbit/s' }).waitFor();
    result[`video_in_${name}`] = await page.textContent('#stat-video-in');
    result[`video_size_${name}`] = await page.evaluate(() => {
      const v = document.getElementById('remote-video');
      return [v.videoWidth, v.videoHeight];
    });
  }
  await alice.click('#mute');
  await alice.locator('#mute', { hasText: 'Unmute' }).waitFor();
  result.muted = await alice.evaluate(() => document.querySelector('#local-video').srcObject.getAudioTracks().every((t) => !t.enabled));
  if (!result.muted) throw new Error('mute left the microphone on');
  await bob.click('#photo');
  const photo = bob.locator('#photos figure.photo img');
  await photo.waitFor();
  result.photo = await photo.evaluate((img) => [img.naturalWidth, img.naturalHeight, img.src.startsWith('data:image/png;base64,')]);
  if (!(result.photo[0] > 0 && result.photo[2])) throw new Error(`no photo: ${result.photo}`);
  await alice.waitForTimeout(2000); // the stats panel fills in
  await alice.screenshot({ path: join(artifacts, 'video-alice.png') });
  await bob.screenshot({ path: join(artifacts, 'video-bob.png') });
  result.screenshots.push(join(artifacts, 'video-alice.png'), join(artifacts, 'video-bob.png'));

  // Bob hangs up; alice is told and her video tiles go.
  await bob.click('#hangup');
  await alice.locator('#banner', { hasText: 'bob hung up' }).waitFor();
  await alice.locator('#media[hidden]').waitFor({ state: 'attached' });
  result.hangup = true;

  if (withBot) {
    const BOT = 'ferrtc-bot';
    await alice.locator(`#users li[data-user="${BOT}"] button.call`).click();
    await alice.locator('#chat-input:not([disabled])').waitFor();
    const botLog = alice.locator(`.log[data-peer="${BOT}"]`);
    await alice.fill('#chat-input', 'hello bot');
    await alice.press('#chat-input', 'Enter');
    await botLog.locator(`.msg.remote[data-from="${BOT}"]`, { hasText: 'hello bot' }).waitFor();
    result.bot_echo = true;

    const upload = randomBytes(FILE_SIZE);
    const uploadHash = createHash('sha256').update(upload).digest('hex');
    await alice.setInputFiles('#file-input', { name: 'bot-5MiB.bin', mimeType: 'application/octet-stream', buffer: upload });
    const done = alice.locator('.transfer[data-dir="out"][data-name="bot-5MiB.bin"][data-state="done"]');
    await done.waitFor({ timeout: 60_000 });
    result.bot_sha256 = (await done.locator('.sha256').textContent()).trim();
    result.bot_match = await done.getAttribute('data-match');
    if (result.bot_sha256 !== uploadHash || result.bot_match !== 'true') {
      throw new Error(`the bot did not confirm the upload: ${JSON.stringify(result)}`);
    }

    await alice.fill('#chat-input', '/stats');
    await alice.press('#chat-input', 'Enter');
    await botLog.locator(`.msg.remote[data-from="${BOT}"] .text.json`).first().waitFor();
    result.bot_stats = true;

    // Video with the bot: it sends alice's own camera and microphone back,
    // forwarded without decoding; its /stats then has RTP both ways.
    await alice.click('#start-video');
    await playing(alice);
    await alice.locator('#stat-video-in', { hasText: 'fps' }).waitFor();
    result.bot_video_in = await alice.textContent('#stat-video-in');
    result.bot_video_size = await alice.evaluate(() => {
      const v = document.getElementById('remote-video');
      return [v.videoWidth, v.videoHeight];
    });
    await alice.fill('#chat-input', '/stats');
    await alice.press('#chat-input', 'Enter');
    const rtpStats = botLog.locator(`.msg.remote[data-from="${BOT}"] .text.json`, { hasText: 'outbound-rtp' });
    await rtpStats.first().waitFor();
    const text = await rtpStats.first().textContent();
    result.bot_rtp_stats = ['inbound-rtp', 'outbound-rtp'].filter((t) => text.includes(`"${t}"`));
    await alice.waitForTimeout(2000);
    await alice.screenshot({ path: join(artifacts, 'demo-bot.png') });
  }

  if (serverPid) {
    process.kill(Number(serverPid), 'SIGTERM');
    await alice.locator('#signal-status[data-state="lost"]').waitFor();
    result.signaling_lost = (await alice.textContent('#banner-text')).trim();
    await alice.screenshot({ path: join(artifacts, 'demo-signaling-lost.png') });
  }
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack || e);
  for (const [name, page] of Object.entries(pages)) {
    if (page.isClosed()) continue;
    await page.screenshot({ path: join(artifacts, `demo-failed-${name}.png`) }).catch(() => {});
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
