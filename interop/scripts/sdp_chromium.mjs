// Headless Chromium as an SDP offer/answer peer for interop/tests/sdp_chromium.rs.
//
//   node sdp_chromium.mjs
//
// Speaks JSON lines on stdin/stdout: one request line in, one reply line out,
// in order. Every request has an `op` and most name an RTCPeerConnection
// (`pc`, any string) that lives in the page until `close`:
//
//   {"op":"offer","pc":P,"scenario":S}  new pc set up as scenario S, then
//        createOffer + setLocalDescription -> {"ok":true,"sdp":...}
//        S is one of: datachannel, audio, video, av-dc, recvonly, simulcast
//        (the kinds of fixtures/sdp/chromium-156).
//   {"op":"reoffer","pc":P,"change":C}  on an existing pc: C is "add-video"
//        (a second camera track) or "restart-ice" (restartIce()); then
//        createOffer + setLocalDescription -> {"ok":true,"sdp":...}
//   {"op":"accept-answer","pc":P,"sdp":A}  setRemoteDescription(answer A)
//        -> {"ok":true,"state":...}
//   {"op":"answer","pc":P,"sdp":O,"send":bool}  new pc,
//        setRemoteDescription(offer O), with send=true a fake track added
//        for each audio/video transceiver, then createAnswer +
//        setLocalDescription -> {"ok":true,"sdp":...,"state":...}
//   {"op":"close","pc":P}               -> {"ok":true}
//   {"op":"quit"}                       closes the browser -> {"ok":true}, exit
//
// Replies with a pc also carry "transceivers": [{mid, kind, direction,
// currentDirection, sendRids}] (W3C getTransceivers(), sendRids the rids of
// sender.getParameters().encodings). A failed step replies
// {"ok":false,"error":"..."} and the script goes on.
//
// The page is a blank document served by request interception at
// http://localhost/ (no server, no network): localhost is a secure context,
// so getUserMedia works, with Chromium's fake camera and microphone.
// playwright-core comes from interop/browser/node_modules (npm ci there); it
// never downloads a browser: CHROMIUM (default /usr/bin/chromium) is used.

import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    // Plain host candidates instead of mDNS names, as in the SDP corpus.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
});
const page = await browser.newPage();
page.setDefaultTimeout(60_000);
page.on('console', (m) => { if (m.type() === 'error') console.error(`console: ${m.text()}`); });
page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
await page.route('http://localhost/', (route) => route.fulfill({
  status: 200, contentType: 'text/html', body: '<!doctype html><title>ferrtc sdp</title>',
}));
await page.goto('http://localhost/');

// The page side: RTCPeerConnections by name and the steps above.
await page.evaluate(() => {
  const pcs = new Map();
  const media = async (kind) => {
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: true });
    return { stream, track: stream.getTracks()[0] };
  };
  const summary = (pc) => pc.getTransceivers().map((t) => ({
    mid: t.mid,
    kind: t.receiver.track.kind,
    direction: t.direction,
    currentDirection: t.currentDirection,
    sendRids: t.sender.getParameters().encodings.map((e) => e.rid ?? null),
  }));
  const makeOffer = async (pc) => {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    return { sdp: offer.sdp, state: pc.signalingState, transceivers: summary(pc) };
  };
  const existing = (name) => {
    const pc = pcs.get(name);
    if (!pc) throw new Error(`no peer connection ${name}`);
    return pc;
  };
  const fresh = (name) => {
    if (pcs.has(name)) throw new Error(`peer connection ${name} exists`);
    const pc = new RTCPeerConnection();
    pcs.set(name, pc);
    return pc;
  };
  const scenarios = {
    datachannel: async (pc) => { pc.createDataChannel('data'); },
    audio: async (pc) => { const a = await media('audio'); pc.addTrack(a.track, a.stream); },
    video: async (pc) => { const v = await media('video'); pc.addTrack(v.track, v.stream); },
    'av-dc': async (pc) => {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
      pc.createDataChannel('data');
    },
    recvonly: async (pc) => {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    },
    simulcast: async (pc) => {
      const v = await media('video');
      pc.addTransceiver(v.track, {
        direction: 'sendrecv',
        streams: [v.stream],
        sendEncodings: [
          { rid: 'q', scaleResolutionDownBy: 4 },
          { rid: 'h', scaleResolutionDownBy: 2 },
          { rid: 'f' },
        ],
      });
    },
  };
  const changes = {
    'add-video': async (pc) => { const v = await media('video'); pc.addTrack(v.track, v.stream); },
    'restart-ice': async (pc) => { pc.restartIce(); },
  };
  window.sdpStep = async (req) => {
    switch (req.op) {
      case 'offer': {
        const setup = scenarios[req.scenario];
        if (!setup) throw new Error(`unknown scenario ${req.scenario}`);
        const pc = fresh(req.pc);
        await setup(pc);
        return makeOffer(pc);
      }
      case 'reoffer': {
        const change = changes[req.change];
        if (!change) throw new Error(`unknown change ${req.change}`);
        const pc = existing(req.pc);
        await change(pc);
        return makeOffer(pc);
      }
      case 'accept-answer': {
        const pc = existing(req.pc);
        await pc.setRemoteDescription({ type: 'answer', sdp: req.sdp });
        return { state: pc.signalingState, transceivers: summary(pc) };
      }
      case 'answer': {
        const pc = fresh(req.pc);
        await pc.setRemoteDescription({ type: 'offer', sdp: req.sdp });
        if (req.send) {
          // addTrack reuses the transceivers the offer created (W3C §5.1).
          for (const t of pc.getTransceivers()) {
            const m = await media(t.receiver.track.kind);
            pc.addTrack(m.track, m.stream);
          }
        }
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        return { sdp: answer.sdp, state: pc.signalingState, transceivers: summary(pc) };
      }
      case 'close': {
        existing(req.pc).close();
        pcs.delete(req.pc);
        return {};
      }
      default:
        throw new Error(`unknown op ${req.op}`);
    }
  };
});

const reply = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let closed = false;
try {
  for await (const line of lines) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      reply({ ok: false, error: `not JSON: ${e.message}` });
      continue;
    }
    if (req.op === 'quit') {
      await browser.close();
      closed = true;
      reply({ ok: true });
      break;
    }
    try {
      const result = await page.evaluate((r) => window.sdpStep(r), req);
      reply({ ok: true, ...result });
    } catch (e) {
      reply({ ok: false, error: String(e && e.message || e) });
    }
  }
} finally {
  if (!closed) await browser.close();
}
