// Two headless Chromium pages on two different nodes of a ferrtc signaling
// cluster: alice opens node A's page, bob node B's, both join room ROOM and
// see each other in the user list; alice calls bob and a chat line goes
// each way over their data channel. Then a command-line peer named PEER
// (`ferrtc peer --signal ws://<node C>/ws --name PEER --call alice
// --channel chat --echo`, started by the caller) calls alice from a third
// node: alice's line to it must come back.
//
//   node signal_cluster.mjs URL_A URL_B ROOM PEER
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

const [urlA, urlB, room, peerName] = process.argv.slice(2);
if (!urlA || !urlB || !room || !peerName) {
  console.error('usage: node signal_cluster.mjs URL_A URL_B ROOM PEER');
  process.exit(2);
}
const TIMEOUT = 30_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Plain host candidates instead of mDNS names, which a sandbox may not resolve.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
});
const result = { ok: false };
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const open = async (name, base) => {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('console', (m) => { if (m.type() === 'error') console.error(`[${name}] console: ${m.text()}`); });
    page.on('pageerror', (e) => console.error(`[${name}] page error: ${e.message}`));
    await page.goto(`${base}/?room=${encodeURIComponent(room)}`);
    await page.locator('#signal-status[data-state="open"]').waitFor();
    await page.fill('#name', name);
    await page.click('#join');
    await page.locator('#me', { hasText: `you are ${name}` }).waitFor();
    return page;
  };
  const say = async (page, text) => {
    await page.locator('#chat-input:not([disabled])').waitFor();
    await page.fill('#chat-input', text);
    await page.press('#chat-input', 'Enter');
  };

  const alice = await open('alice', urlA);
  const bob = await open('bob', urlB);
  // Each sees the other although they are on different nodes.
  await alice.locator('#users li[data-user="bob"]').waitFor();
  await bob.locator('#users li[data-user="alice"]').waitFor();
  result.see_each_other = true;

  await alice.locator('#users li[data-user="bob"] button.call').click();
  await alice.locator('#users li[data-user="bob"] button.open').click();
  await say(alice, 'hello bob, across nodes');
  await bob.locator('.log .msg.remote[data-from="alice"]', { hasText: 'hello bob, across nodes' }).waitFor();
  await say(bob, 'hi alice');
  await alice.locator('.log .msg.remote[data-from="bob"]', { hasText: 'hi alice' }).waitFor();
  result.chat = true;

  // The command-line peer on the third node calls alice.
  await alice.locator(`#users li[data-user="${peerName}"] button.open`).waitFor({ timeout: 60_000 });
  await alice.locator(`#users li[data-user="${peerName}"] button.open`).click();
  await say(alice, 'echo this, please');
  await alice.locator(`.log .msg.remote[data-from="${peerName}"]`, { hasText: 'echo this, please' }).waitFor();
  result.cli_echo = true;
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
