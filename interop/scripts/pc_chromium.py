#!/usr/bin/env python3
"""Headless Chromium against `ferrtc peer --signal stdio --echo`, either role.

Serves a test page on 127.0.0.1 (a small HTTP server, standard library
only), starts headless Chromium on it and the ferrtc binary as a child, and
relays signaling between them: the page POSTs its messages and long-polls
for ferrtc's, all in the browsers' own JSON forms. The page then checks,
over the echo:
  1. mixed text and binary messages of 1 byte to 256 KiB come back intact,
     in order, with their type;
  2. at least 32 MiB of 16 KiB messages pass with back-pressure;
  3. (when Chromium offers) an unordered maxRetransmits=0 channel echoes too;
     with --role negotiated, the child is the `negotiated_echo` example of
     the ferrtc crate and the one channel is negotiated out of band (id 7);
  4. the channels close on both sides; ferrtc exits 0 on {"type":"bye"}.
With --rsa, Chromium's certificate comes from
RTCPeerConnection.generateCertificate (RSASSA-PKCS1-v1_5, 2048 bits,
SHA-256) and, once the channel is open, the page checks that it is the one in
use: the local SDP's fingerprints are the certificate's getFingerprints(),
and the connected DTLS transport's local certificate in getStats() has that
fingerprint and an rsaEncryption public key. The summary then has a
"certificate" object. --rsa-check-on-ecdsa runs the same check on an ECDSA
P-256 certificate instead: it must fail (shows the check can).
With --turn URL --turn-user U --turn-pass P, both sides use only relayed
candidates from that TURN server (Chromium's iceTransportPolicy "relay",
ferrtc's --relay-only); the summary names the selected pair's candidate
types ("local_type", "remote_type").
Chromium keeps its default of hiding host addresses behind mDNS `.local`
names, so ferrtc must connect through peer-reflexive discovery.
Prints one JSON summary line; exits non-zero on any failure.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile

PAGE = r"""<!doctype html><meta charset="utf-8"><title>ferrtc interop</title>
<script>
const role = new URLSearchParams(location.search).get("role");
const BULK = Number(new URLSearchParams(location.search).get("bulk"));
// cert=rsa: Chromium's certificate is RSA 2048 (RSASSA-PKCS1-v1_5, SHA-256)
// and the page proves it is the one in use; cert=ecdsa-as-rsa makes the same
// check on an ECDSA P-256 certificate, where it must fail.
const CERT = new URLSearchParams(location.search).get("cert") || "";
// turn=URL&tu=USER&tp=PASS: relayed candidates only, from that server.
const TURN = new URLSearchParams(location.search).get("turn");
const TURN_USER = new URLSearchParams(location.search).get("tu");
const TURN_PASS = new URLSearchParams(location.search).get("tp");
const post = (path, obj) => fetch(path, {method: "POST", body: JSON.stringify(obj)});
const log = (...a) => post("/log", {msg: a.join(" ")});
const timeout = (p, ms, what) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error("timeout: " + what)), ms))]);

function rnd(n, seed) {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}
function text(n, seed) {
  const abc = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = ""; let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; s += abc[(x >>> 24) % abc.length]; }
  return s;
}
function same(a, b) {
  if (typeof a === "string" || typeof b === "string") return a === b;
  const x = new Uint8Array(a), y = new Uint8Array(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

class Echo {
  constructor(dc) {
    this.dc = dc; this.queue = []; this.waiters = [];
    dc.binaryType = "arraybuffer";
    dc.onmessage = e => { const w = this.waiters.shift(); if (w) w(e.data); else this.queue.push(e.data); };
    this.closed = new Promise(r => dc.addEventListener("close", r));
  }
  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return timeout(new Promise(r => this.waiters.push(r)), 60000, "echo on " + this.dc.label);
  }
}
const opened = dc => dc.readyState === "open" ? Promise.resolve() :
  timeout(new Promise(r => dc.addEventListener("open", r, {once: true})), 30000, "open " + dc.label);

async function mixed(echo) {
  const sizes = [1, 2, 3, 100, 1000, 1199, 1200, 1201, 16384, 65535, 65536, 65537, 131072, 262143, 262144];
  const sent = [];
  sizes.forEach((n, i) => { sent.push(text(n, i)); sent.push(rnd(n, i).buffer); });
  for (const m of sent) echo.dc.send(m);
  for (let i = 0; i < sent.length; i++) {
    const got = await echo.next();
    if (typeof got !== typeof sent[i] || !same(got, sent[i]))
      throw new Error(`mixed message ${i} came back different (${typeof got})`);
  }
  return sent.length;
}

async function bulk(echo, total, size) {
  const dc = echo.dc; const count = Math.floor(total / size);
  dc.bufferedAmountLowThreshold = 256 * 1024;
  const t0 = performance.now();
  const reader = (async () => {
    for (let i = 0; i < count; i++) {
      const m = new Uint8Array(await echo.next());
      const k = new DataView(m.buffer).getUint32(0);
      if (m.length !== size || k !== i) throw new Error(`bulk message ${i} came back as ${k} of ${m.length}`);
    }
  })();
  const buf = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    while (dc.bufferedAmount > 1024 * 1024)
      await timeout(new Promise(r => dc.addEventListener("bufferedamountlow", r, {once: true})), 60000, "bufferedamountlow");
    new DataView(buf.buffer).setUint32(0, i);
    dc.send(buf);
  }
  await reader;
  return [count * size, (performance.now() - t0) / 1000];
}

// maxRetransmits=0 allows loss (RFC 3758), even on a loaded loopback, so this
// checks what the channel promises: echoes are intact, never duplicated, and
// most of them (at least half) arrive; the count goes into the result.
async function unreliable(echo) {
  const n = 200; const got = new Set();
  for (let i = 0; i < n; i++) echo.dc.send("u" + i);
  for (;;) {
    const quiet = new Promise(r => setTimeout(() => r(null), 3000));
    const m = got.size < n ? await Promise.race([echo.next(), quiet]) : null;
    if (m === null) break;
    if (!/^u\d+$/.test(m) || Number(m.slice(1)) >= n) throw new Error("unordered echo corrupted: " + m);
    if (got.has(m)) throw new Error("unordered echo duplicated: " + m);
    got.add(m);
  }
  if (got.size < n / 2) throw new Error(`only ${got.size} of ${n} unordered messages came back`);
  return got.size;
}

const RSA_PARAMS = {name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256"};
const ECDSA_PARAMS = {name: "ECDSA", namedCurve: "P-256"};
// rsaEncryption (1.2.840.113549.1.1.1), DER-encoded with its tag and length:
// the algorithm of an RSA certificate's SubjectPublicKeyInfo.
const RSA_ENCRYPTION_OID = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
function contains(bytes, pattern) {
  outer: for (let i = 0; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return true;
  }
  return false;
}
const sdpFingerprints = sdp => [...sdp.matchAll(/^a=fingerprint:(\S+) (\S+)\s*$/gm)]
  .map(m => m[1].toLowerCase() + " " + m[2].toUpperCase());

// The RSA certificate is the one in use: the local description carries its
// fingerprint (and only that one), and the DTLS transport's local
// certificate in getStats() has that fingerprint and an rsaEncryption key.
async function checkRsaInUse(pc, cert, result) {
  const mine = cert.getFingerprints().map(f => f.algorithm.toLowerCase() + " " + f.value.toUpperCase());
  const inSdp = sdpFingerprints(pc.localDescription.sdp);
  if (!inSdp.length || !inSdp.every(f => mine.includes(f)))
    throw new Error(`local SDP fingerprints ${inSdp} are not the generated certificate's ${mine}`);
  const stats = await pc.getStats();
  let transport = null;
  stats.forEach(s => { if (s.type === "transport" && s.dtlsState === "connected") transport = s; });
  if (!transport) throw new Error("no connected DTLS transport in getStats()");
  const local = stats.get(transport.localCertificateId);
  const remote = stats.get(transport.remoteCertificateId);
  if (!local || !local.base64Certificate) throw new Error("no local certificate in getStats()");
  const statFp = local.fingerprintAlgorithm.toLowerCase() + " " + local.fingerprint.toUpperCase();
  if (!mine.includes(statFp))
    throw new Error(`the DTLS transport's certificate ${statFp} is not the generated one (${mine})`);
  const der = Uint8Array.from(atob(local.base64Certificate), c => c.charCodeAt(0));
  result.certificate = {
    fingerprint: statFp,
    rsa_public_key: contains(der, RSA_ENCRYPTION_OID),
    der_bytes: der.length,
    remote_fingerprint: remote ? remote.fingerprintAlgorithm + " " + remote.fingerprint : null,
    dtls_role: transport.dtlsRole || null,
    dtls_cipher: transport.dtlsCipher || null,
    tls_version: transport.tlsVersion || null,
  };
  if (!result.certificate.rsa_public_key)
    throw new Error(`RSA not in use: the DTLS transport's certificate (${statFp}, ${der.length} bytes) has no rsaEncryption key`);
}

async function main() {
  let cert = null;
  if (CERT)
    cert = await RTCPeerConnection.generateCertificate(CERT === "rsa" ? RSA_PARAMS : ECDSA_PARAMS);
  const config = cert ? {certificates: [cert]} : {};
  if (TURN) {
    config.iceServers = [{urls: TURN, username: TURN_USER, credential: TURN_PASS}];
    config.iceTransportPolicy = "relay";
  }
  const pc = new RTCPeerConnection(config);
  pc.onicecandidate = e => post("/signal", e.candidate ?
    {type: "candidate", candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex} :
    {type: "candidate", candidate: "", sdpMid: "0", sdpMLineIndex: 0});
  pc.onconnectionstatechange = () => log("connection", pc.connectionState);
  const remote = [];
  const remoteWaiters = [];
  pc.ondatachannel = e => { const w = remoteWaiters.shift(); if (w) w(e.channel); else remote.push(e.channel); };
  const nextRemote = () => remote.length ? Promise.resolve(remote.shift()) :
    timeout(new Promise(r => remoteWaiters.push(r)), 30000, "datachannel");
  let data, unord = null;
  if (role === "negotiated") {
    data = pc.createDataChannel("negotiated", {negotiated: true, id: 7});
    await pc.setLocalDescription();
    await post("/signal", {type: "offer", sdp: pc.localDescription.sdp});
  } else if (role === "ferrtc-answers") {
    data = pc.createDataChannel("data");
    unord = pc.createDataChannel("unordered", {ordered: false, maxRetransmits: 0});
    await pc.setLocalDescription();
    await post("/signal", {type: "offer", sdp: pc.localDescription.sdp});
  }
  (async () => {
    for (;;) {
      const msgs = await (await fetch("/poll")).json();
      for (const m of msgs) {
        if (m.type === "offer" || m.type === "answer") {
          await pc.setRemoteDescription(m);
          if (m.type === "offer") {
            await pc.setLocalDescription();
            await post("/signal", {type: "answer", sdp: pc.localDescription.sdp});
          }
        } else if (m.type === "candidate") {
          await pc.addIceCandidate(m.candidate ? m : {candidate: "", sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex});
        }
      }
    }
  })().catch(e => post("/result", {ok: false, error: "signaling: " + e}));
  if (!data) data = await nextRemote();
  const echo = new Echo(data);
  const uecho = unord ? new Echo(unord) : null;
  await opened(data);
  log("channel", data.label, "open, id", data.id);
  const result = {ok: true, role, id: data.id, negotiated: data.negotiated};
  if (cert) await checkRsaInUse(pc, cert, result);
  result.mixed_messages = await mixed(echo);
  if (uecho) {
    await opened(unord);
    result.unordered_messages = await unreliable(uecho);
  }
  const [bytes, secs] = await bulk(echo, BULK, 16384);
  result.bulk_bytes = bytes; result.bulk_secs = secs; result.bulk_mib_per_s = bytes / 1048576 / secs;
  const stats = await pc.getStats();
  stats.forEach(s => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
      result.pair = s.id;
      result.local_type = stats.get(s.localCandidateId).candidateType;
      result.remote_type = stats.get(s.remoteCandidateId).candidateType;
      result.local_protocol = stats.get(s.localCandidateId).protocol;
      result.local_tcp_type = stats.get(s.localCandidateId).tcpType || null;
    }
  });
  data.close();
  if (unord) unord.close();
  await timeout(echo.closed, 30000, "close");
  if (uecho) await timeout(uecho.closed, 30000, "close unordered");
  result.closed = data.readyState;
  await post("/result", result);
}
main().catch(e => post("/result", {ok: false, error: String(e && e.stack || e)}));
</script>"""


def log(*args):
    print("pc_chromium:", *args, file=sys.stderr, flush=True)


class Relay:
    """Signaling between the page (HTTP) and ferrtc (stdio)."""

    def __init__(self, proc, page=PAGE, name="pc_chromium"):
        self.proc = proc
        self.page = page
        self.name = name
        self.to_page = []
        self.page_wakeup = asyncio.Event()
        self.result = asyncio.get_running_loop().create_future()

    async def from_ferrtc(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            self.to_page.append(json.loads(line))
            self.page_wakeup.set()

    async def to_ferrtc(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        await self.proc.stdin.drain()

    async def handle(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for h in lines[1:]:
                if h.lower().startswith("content-length:"):
                    length = int(h.split(":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            status, ctype, out = "200 OK", "application/json", b"{}"
            if method == "GET" and path.startswith("/?"):
                ctype, out = "text/html; charset=utf-8", self.page.encode()
            elif method == "GET" and path == "/poll":
                if not self.to_page:
                    self.page_wakeup.clear()
                    try:
                        await asyncio.wait_for(self.page_wakeup.wait(), 10)
                    except asyncio.TimeoutError:
                        pass
                msgs, self.to_page = self.to_page, []
                out = json.dumps(msgs).encode()
            elif method == "POST" and path == "/signal":
                await self.to_ferrtc(json.loads(body))
            elif method == "POST" and path == "/log":
                print(f"{self.name}: page:", json.loads(body)["msg"], file=sys.stderr, flush=True)
            elif method == "POST" and path == "/result":
                if not self.result.done():
                    self.result.set_result(json.loads(body))
            else:
                status, out = "404 Not Found", b"{}"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(out)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode() + out
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
            log("http:", e)
        except asyncio.CancelledError:
            pass  # a long-poll still open when the run ends
        finally:
            writer.close()


def chromium_binary():
    for name in (os.environ.get("FERRTC_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise SystemExit("pc_chromium: no Chromium found (apt-get install chromium)")


async def start_chromium(url, profile, *extra):
    """Headless Chromium on `url` with a fresh profile; `extra` flags added."""
    return await asyncio.create_subprocess_exec(
        chromium_binary(),
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        # Plain host addresses rather than mDNS names: resolving those would make
        # ferrtc send mDNS queries off loopback, and tests stay on loopback.
        "--disable-features=WebRtcHideLocalIpsWithMdns", *extra, url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        # A process group of its own, so that `end_chromium` ends its helper
        # processes too (they outlive the browser process and would write into
        # the profile after it was removed).
        start_new_session=True,
    )


async def end_chromium(browser, profile):
    """Ends Chromium started by `start_chromium`, its helpers included, and
    removes its profile (also when Chromium did not start: `browser` None)."""
    try:
        if browser is not None:
            try:
                os.killpg(browser.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if browser.returncode is None:
                await browser.wait()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


async def run(args):
    offering_ferrtc = args.role == "ferrtc-offers"
    if args.role == "negotiated":
        # The ferrtc library's negotiated_echo example: channel id 7, both sides.
        cmd = [args.ferrtc, "7"]
    else:
        cmd = [args.ferrtc, "peer", "--signal", "stdio", "--echo"]
        if args.turn:
            cmd += ["--ice-server", args.turn, "--ice-username", args.turn_user,
                    "--ice-credential", args.turn_pass, "--relay-only"]
    if offering_ferrtc:
        cmd.append("--offer")
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    relay = Relay(proc)
    server = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/?role={args.role}&bulk={args.bulk_mib * 1048576}"
    if args.rsa:
        url += "&cert=rsa"
    elif args.rsa_check_on_ecdsa:
        url += "&cert=ecdsa-as-rsa"
    if args.turn:
        from urllib.parse import quote
        url += f"&turn={quote(args.turn)}&tu={quote(args.turn_user)}&tp={quote(args.turn_pass)}"
    profile = tempfile.mkdtemp(prefix="ferrtc-chromium-")
    browser = pump = None
    try:
        browser = await start_chromium(url, profile)
        pump = asyncio.ensure_future(relay.from_ferrtc())
        result = await asyncio.wait_for(relay.result, args.timeout)
        if not result.get("ok"):
            raise SystemExit(f"pc_chromium: page failed: {result.get('error')}")
        await relay.to_ferrtc({"type": "bye"})
        code = await asyncio.wait_for(proc.wait(), 30)
        if code != 0:
            raise SystemExit(f"pc_chromium: ferrtc exited with {code}")
        print(json.dumps(result), flush=True)
    finally:
        if pump is not None:
            pump.cancel()
        await end_chromium(browser, profile)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        server.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ferrtc", required=True)
    ap.add_argument("--role", choices=["ferrtc-offers", "ferrtc-answers", "negotiated"], required=True)
    ap.add_argument("--bulk-mib", type=int, default=32)
    cert = ap.add_mutually_exclusive_group()
    cert.add_argument("--rsa", action="store_true",
                      help="Chromium uses an RSA 2048 certificate; check it is the one in use")
    cert.add_argument("--rsa-check-on-ecdsa", action="store_true",
                      help="the --rsa check on an ECDSA P-256 certificate: must fail")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--turn", help="TURN URL: relayed candidates only, on both sides")
    ap.add_argument("--turn-user", default="")
    ap.add_argument("--turn-pass", default="")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
