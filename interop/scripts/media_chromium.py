#!/usr/bin/env python3
"""Audio and video between headless Chromium and `ferrtc peer`, either role.

ferrtc plays a video file (IVF VP8 or Annex-B H.264, 320x240 at 30 fps) and an
Ogg/Opus file (`--play`, looped at the files' rate) and records what it
receives (`--record DIR`); Chromium sends its fake camera and microphone
(`--use-fake-device-for-media-stream`). The page measures, from getStats(),
the frames Chromium decodes per second and the audio samples it receives per
second over a window, and reports how many frames it sent. After `bye` the
harness decodes ferrtc's recordings with ffprobe (`-count_frames`) and checks
that every frame Chromium had sent by then is in the file and decodes.
With --chromium-dtmf TONES, Chromium's RTCDTMFSender sends the tones during
the window and they must come out of ferrtc as `dtmf received: X` stderr
lines, in order (`dtmf_received` in the summary). --dtmf TONES passes
`--dtmf TONES` to ferrtc.
With --generated (a ferrtc built with the `codecs` feature), ferrtc plays
`--play test-pattern --play tone` (VP8 640x480 and a 440 Hz Opus tone,
encoded live) instead of the files; with --snapshot, ferrtc also writes a
PNG still of Chromium's camera (`--snapshot`), whose size and validity go
into the summary (`snapshot`).
Prints one JSON summary line; exits non-zero on any failure.
"""

import argparse
import asyncio
import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

from pc_chromium import Relay, end_chromium, start_chromium

PAGE = r"""<!doctype html><meta charset="utf-8"><title>ferrtc media interop</title>
<video id="remote" autoplay muted playsinline></video><audio id="remote-audio" autoplay></audio>
<script>
const q = new URLSearchParams(location.search);
const role = q.get("role"), CODEC = q.get("codec"), SECS = Number(q.get("secs"));
const CHROMIUM_DTMF = q.get("dtmf") || "";
// With ferrtc sending DTMF, the page reads the telephone events Chromium
// receives from its audio receiver's encoded frames (payload type and the
// RFC 4733 event code in the first byte), one tone per RTP timestamp.
const HEAR_DTMF = q.get("hear") === "1";
const heard = [];
const TONES = "0123456789*#ABCD";
function passThrough(endpoint, inspect) {
  const {readable, writable} = endpoint.createEncodedStreams();
  readable.pipeThrough(new TransformStream({transform(frame, out) {
    if (inspect) inspect(frame);
    out.enqueue(frame);
  }})).pipeTo(writable);
}
const post = (path, obj) => fetch(path, {method: "POST", body: JSON.stringify(obj)});
const log = (...a) => post("/log", {msg: a.join(" ")});
const sleep = ms => new Promise(r => setTimeout(r, ms));
const timeout = (p, ms, what) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error("timeout: " + what)), ms))]);

// The video transceiver offers CODEC first (and its RTX), as ferrtc's file needs.
function preferCodec(transceiver) {
  const caps = RTCRtpReceiver.getCapabilities("video").codecs;
  const first = caps.filter(c => c.mimeType.toLowerCase() === "video/" + CODEC.toLowerCase());
  if (!first.length) throw new Error(`Chromium has no ${CODEC}: ${caps.map(c => c.mimeType)}`);
  transceiver.setCodecPreferences([...first, ...caps.filter(c => !first.includes(c))]);
}

async function statsOf(pc) {
  const out = {};
  const stats = await pc.getStats();
  stats.forEach(s => {
    if (s.type === "inbound-rtp") {
      const codec = stats.get(s.codecId);
      out["in_" + s.kind] = {...s, mime: codec && codec.mimeType};
    } else if (s.type === "outbound-rtp") {
      const codec = stats.get(s.codecId);
      out["out_" + s.kind] = {...s, mime: codec && codec.mimeType};
    }
  });
  return out;
}

async function main() {
  const stream = await navigator.mediaDevices.getUserMedia(
    {video: {width: 320, height: 240, frameRate: 30}, audio: true});
  const pc = new RTCPeerConnection(HEAR_DTMF ? {encodedInsertableStreams: true} : {});
  let telephoneEvent = new Set();
  let lastEventTs = null;
  const inspectAudio = frame => {
    const md = frame.getMetadata();
    if (!telephoneEvent.size) {
      const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || "";
      for (const m of sdp.matchAll(/^a=rtpmap:(\d+) telephone-event\//gm)) telephoneEvent.add(Number(m[1]));
    }
    if (!telephoneEvent.has(md.payloadType)) return;
    const ts = md.rtpTimestamp !== undefined ? md.rtpTimestamp : md.timestamp;
    const code = new Uint8Array(frame.data)[0];
    if (ts !== lastEventTs) { lastEventTs = ts; heard.push(TONES[code] || "?"); }
  };
  pc.onicecandidate = e => post("/signal", e.candidate ?
    {type: "candidate", candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex} :
    {type: "candidate", candidate: "", sdpMid: "0", sdpMLineIndex: 0});
  pc.onconnectionstatechange = () => log("connection", pc.connectionState);
  const tracks = {};
  let gotBoth;
  const both = new Promise(r => gotBoth = r);
  pc.ontrack = e => {
    log("track", e.track.kind, "streams", e.streams.map(s => s.id));
    if (HEAR_DTMF) passThrough(e.receiver, e.track.kind === "audio" ? inspectAudio : null);
    tracks[e.track.kind] = e;
    if (e.track.kind === "audio") {
      const a = document.getElementById("remote-audio");
      a.srcObject = new MediaStream([e.track]);
      a.play().catch(() => {});
    }
    if (e.track.kind === "video") {
      const v = document.getElementById("remote");
      v.srcObject = e.streams[0] || new MediaStream([e.track]);
      v.play().catch(() => {});
    }
    if (tracks.audio && tracks.video) gotBoth();
  };
  if (role === "ferrtc-answers") {
    for (const track of stream.getTracks()) {
      const t = pc.addTransceiver(track, {direction: "sendrecv", streams: [stream]});
      if (track.kind === "video") preferCodec(t);
      if (HEAR_DTMF) passThrough(t.sender, null);
    }
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
            // addTrack reuses the offered transceivers: the answer sends on them.
            for (const track of stream.getTracks()) {
              const sender = pc.addTrack(track, stream);
              if (HEAR_DTMF) passThrough(sender, null);
            }
            await pc.setLocalDescription();
            await post("/signal", {type: "answer", sdp: pc.localDescription.sdp});
          }
        } else if (m.type === "candidate") {
          await pc.addIceCandidate(m.candidate ? m : {candidate: "", sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex});
        }
      }
    }
  })().catch(e => post("/result", {ok: false, error: "signaling: " + e}));

  await timeout(both, 30000, "remote audio and video tracks");
  // Wait for the first decoded frame, then measure over SECS seconds.
  for (let i = 0; ; i++) {
    const s = await statsOf(pc);
    if (s.in_video && s.in_video.framesDecoded > 0) break;
    if (i > 300) throw new Error("no video frame decoded in 30 s: " + JSON.stringify(s.in_video || null));
    await sleep(100);
  }
  const a = await statsOf(pc);
  const t0 = performance.now();
  let dtmfTones = "";
  if (CHROMIUM_DTMF) {
    const audio = pc.getSenders().find(s => s.track && s.track.kind === "audio");
    if (!audio || !audio.dtmf || !audio.dtmf.canInsertDTMF)
      throw new Error("Chromium cannot send DTMF on its audio sender");
    audio.dtmf.ontonechange = e => { if (e.tone) dtmfTones += e.tone; };
    audio.dtmf.insertDTMF(CHROMIUM_DTMF, 100, 70);
  }
  await sleep(SECS * 1000);
  const b = await statsOf(pc);
  const secs = (performance.now() - t0) / 1000;
  const result = {
    ok: true, role, secs,
    recv_video_codec: b.in_video.mime,
    recv_video_fps: (b.in_video.framesDecoded - a.in_video.framesDecoded) / secs,
    recv_video_frames_decoded: b.in_video.framesDecoded,
    recv_video_keyframes_decoded: b.in_video.keyFramesDecoded,
    recv_video_size: [b.in_video.frameWidth, b.in_video.frameHeight],
    recv_audio_codec: b.in_audio && b.in_audio.mime,
    recv_audio_samples_per_s: b.in_audio ? (b.in_audio.totalSamplesReceived - a.in_audio.totalSamplesReceived) / secs : 0,
    recv_audio_energy: b.in_audio ? b.in_audio.totalAudioEnergy : 0,
    recv_audio_concealed: b.in_audio ? (b.in_audio.concealedSamples - a.in_audio.concealedSamples) /
      Math.max(1, b.in_audio.totalSamplesReceived - a.in_audio.totalSamplesReceived) : 1,
    recv_audio_packets: b.in_audio ? b.in_audio.packetsReceived : 0,
    recv_packets_lost: (b.in_video.packetsLost || 0) + (b.in_audio ? b.in_audio.packetsLost || 0 : 0),
    sent_video_codec: b.out_video && b.out_video.mime,
    sent_video_frames: b.out_video ? b.out_video.framesSent : 0,
    sent_audio_packets: b.out_audio ? b.out_audio.packetsSent : 0,
    chromium_dtmf_sent: dtmfTones,
    chromium_dtmf_heard: heard.join(""),
  };
  // What Chromium sends stops before the harness says bye, so the count of
  // frames sent is exact when ferrtc's recording ends.
  for (const s of pc.getSenders()) if (s.track) s.track.enabled = false;
  for (const s of pc.getSenders()) await s.replaceTrack(null);
  await sleep(500);
  const c = await statsOf(pc);
  result.sent_video_frames = c.out_video ? c.out_video.framesSent : 0;
  result.sent_audio_packets = c.out_audio ? c.out_audio.packetsSent : 0;
  await post("/result", result);
}
main().catch(e => post("/result", {ok: false, error: String(e && e.stack || e)}));
</script>"""


def log(*args):
    print("media_chromium:", *args, file=sys.stderr, flush=True)


def ffprobe(path):
    """Decodes `path` and returns (codec name, frames decoded)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,nb_read_frames", "-of", "json", path],
        capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise SystemExit(f"media_chromium: ffprobe failed on {path}: {out.stderr}")
    streams = json.loads(out.stdout).get("streams") or []
    if not streams:
        raise SystemExit(f"media_chromium: ffprobe finds no stream in {path}")
    return streams[0]["codec_name"], int(streams[0].get("nb_read_frames") or 0)


def png_summary(path):
    """The size of the PNG at `path` and whether its chunks' CRCs hold."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return {"error": str(e)}
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return {"error": "no PNG signature"}
    crcs_ok, i, chunks = True, 8, []
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        crcs_ok &= zlib.crc32(kind + body) == crc
        chunks.append(kind.decode("latin-1"))
        i += 12 + length
    width, height = struct.unpack(">II", data[16:24])
    return {"width": width, "height": height, "crcs_ok": crcs_ok,
            "first": chunks[:1], "last": chunks[-1:], "bytes": len(data)}


async def run(args):
    record = tempfile.mkdtemp(prefix="ferrtc-record-")
    try:
        await run_recording_to(record, args)
    finally:
        shutil.rmtree(record, ignore_errors=True)


async def run_recording_to(record, args):
    video = {"VP8": "vp8-320x240-30fps-4s.ivf", "H264": "h264-320x240-30fps-4s.h264"}[args.codec]
    if args.generated:
        sources = ["test-pattern", "tone"]
    else:
        sources = [os.path.join(args.media, video), os.path.join(args.media, "opus-440hz-4s.ogg")]
    cmd = [args.ferrtc, "peer", "--signal", "stdio",
           "--play", sources[0], "--play", sources[1], "--record", record]
    snapshot = os.path.join(record, "snapshot.png") if args.snapshot else None
    if snapshot:
        cmd += ["--snapshot", snapshot]
    if args.dtmf:
        cmd += ["--dtmf", args.dtmf]
    if args.role == "ferrtc-offers":
        cmd.append("--offer")
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stderr_lines = []

    async def pump_stderr():
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            stderr_lines.append(text)
            print("ferrtc:", text, file=sys.stderr, flush=True)

    relay = Relay(proc, PAGE, "media_chromium")
    server = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = (f"http://127.0.0.1:{port}/?role={args.role}&codec={args.codec}&secs={args.secs}"
           f"&dtmf={args.chromium_dtmf}&hear={1 if args.dtmf else 0}")
    profile = tempfile.mkdtemp(prefix="ferrtc-chromium-")
    browser = pump = errors = None
    try:
        browser = await start_chromium(
            url, profile, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            "--autoplay-policy=no-user-gesture-required")
        pump = asyncio.ensure_future(relay.from_ferrtc())
        errors = asyncio.ensure_future(pump_stderr())
        result = await asyncio.wait_for(relay.result, args.timeout)
        if not result.get("ok"):
            raise SystemExit(f"media_chromium: page failed: {result.get('error')}")
        await relay.to_ferrtc({"type": "bye"})
        code = await asyncio.wait_for(proc.wait(), 30)
        await asyncio.wait_for(errors, 10)
        if code != 0:
            raise SystemExit(f"media_chromium: ferrtc exited with {code}")
        if snapshot:
            result["snapshot"] = png_summary(snapshot)
        # A snapshot's `.part` (left only by a crash mid-write) is no recording.
        files = sorted(f for f in glob.glob(os.path.join(record, "*"))
                       if f != snapshot and not f.endswith(".part"))
        result["recorded"] = {}
        for f in files:
            codec, frames = ffprobe(f)
            result["recorded"][os.path.basename(f)] = {"codec": codec, "frames": frames,
                                                       "bytes": os.path.getsize(f)}
        result["dtmf_received"] = "".join(
            m.group(1) for m in (re.search(r"dtmf received: (\S)$", l) for l in stderr_lines) if m)
        print(json.dumps(result), flush=True)
    finally:
        for task in (pump, errors):
            if task is not None:
                task.cancel()
        await end_chromium(browser, profile)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        server.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ferrtc", required=True)
    ap.add_argument("--role", choices=["ferrtc-offers", "ferrtc-answers"], required=True)
    ap.add_argument("--codec", choices=["VP8", "H264"], default="VP8")
    ap.add_argument("--media", required=True, help="the directory of the media fixtures")
    ap.add_argument("--secs", type=int, default=5, help="how long the page measures")
    ap.add_argument("--dtmf", default="", help="tones ferrtc sends (its --dtmf)")
    ap.add_argument("--chromium-dtmf", default="", help="tones Chromium's RTCDTMFSender sends")
    ap.add_argument("--generated", action="store_true",
                    help="ferrtc plays test-pattern and tone (feature codecs)")
    ap.add_argument("--snapshot", action="store_true",
                    help="ferrtc writes a PNG still of Chromium's camera (feature codecs)")
    ap.add_argument("--timeout", type=float, default=120)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
