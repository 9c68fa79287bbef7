// Two headless Chromium tabs on the demo page, both with
// iceTransportPolicy "relay" through the TURN server given in the page URL
// (?turn=...&turnUser=...&turnPass=...&relay=1): they join, call, and chat;
// the selected candidate pair of each is relay to relay. Prints one JSON
// line; exits non-zero on failure.
// usage: node demo_turn.mjs PAGE_URL_WITH_TURN_PARAMS
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node demo_turn.mjs URL');
  process.exit(2);
}
const TIMEOUT = 30_000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
});
const result = { ok: false };
try {
  const context = await browser.newContext();
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
  await alice.locator('#users li[data-user="bob"] button.call').click();
  for (const page of [alice, bob]) await page.locator('#chat-input:not([disabled])').waitFor();
  await alice.fill('#chat-input', 'hello through the relay');
  await alice.press('#chat-input', 'Enter');
  await bob.locator('.log .msg.remote[data-from="alice"]', { hasText: 'hello through the relay' }).waitFor();
  result.chat = true;
  // The selected pair as each tab's connection panel shows it
  // ("<candidateType> <protocol> <address>:<port>").
  for (const [name, page] of [['alice', alice], ['bob', bob]]) {
    await page.locator('#stat-local', { hasText: ':' }).waitFor();
    result[`${name}_local`] = (await page.textContent('#stat-local')).trim();
    result[`${name}_remote`] = (await page.textContent('#stat-remote')).trim();
  }
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
