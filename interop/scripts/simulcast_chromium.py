#!/usr/bin/env python3
"""Headless Chromium sends three-layer VP8 simulcast to `ferrtc peer --record`.

Chromium's page takes its fake camera (`--use-fake-device-for-media-stream`)
and offers it on a send-only transceiver with three encodings (RFC 8853:
rids q, h and f, `scaleResolutionDownBy` 4, 2 and 1); `ferrtc peer --record
DIR` answers (recv simulcast), splits the layers by their RFC 8852 rid and
writes each to `DIR/track-<mid>-<rid>.ivf`. The page waits until
Chromium's getStats() shows every layer sending (bandwidth ramps up on
loopback), lets them run for --secs, stops the track and reports, per rid,
the frames sent and their size. After `bye` the harness lists the files in
DIR (left for the caller to inspect) with ffprobe's codec and decoded frame
count. Prints one JSON summary line; exits non-zero on any failure.
"""

import argparse
import asyncio
import glob
import json
import os
import subprocess
import sys
import tempfile

from pc_chromium import Relay, end_chromium, start_chromium

PAGE = r"""<!doctype html><meta charset="utf-8"><title>ferrtc simulcast interop</title>
<script>
const q = new URLSearchParams(location.search);
const SECS = Number(q.get("secs")), RAMP = Number(q.get("ramp"));
const W = Number(q.get("w")), H = Number(q.get("h"));
const post = (path, obj) => fetch(path, {method: "POST", body: JSON.stringify(obj)});
const log = (...a) => post("/log", {msg: a.join(" ")});
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function layers(pc) {
  const out = {};
  (await pc.getStats()).forEach(s => {
    if (s.type === "outbound-rtp" && s.kind === "video" && s.rid) {
      out[s.rid] = {frames: s.framesSent || 0, width: s.frameWidth || 0, height: s.frameHeight || 0,
                    bytes: s.bytesSent || 0, limitation: s.qualityLimitationReason || ""};
    }
  });
  return out;
}

async function main() {
  const stream = await navigator.mediaDevices.getUserMedia(
    {video: {width: W, height: H, frameRate: 30}});
  const [track] = stream.getVideoTracks();
  const pc = new RTCPeerConnection();
  pc.onicecandidate = e => post("/signal", e.candidate ?
    {type: "candidate", candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex} :
    {type: "candidate", candidate: "", sdpMid: "0", sdpMLineIndex: 0});
  pc.onconnectionstatechange = () => log("connection", pc.connectionState);
  const t = pc.addTransceiver(track, {direction: "sendonly", streams: [stream], sendEncodings: [
    {rid: "q", scaleResolutionDownBy: 4}, {rid: "h", scaleResolutionDownBy: 2}, {rid: "f"}]});
  // VP8 first: ferrtc records it as IVF.
  const caps = RTCRtpSender.getCapabilities("video").codecs;
  const vp8 = caps.filter(c => c.mimeType.toLowerCase() === "video/vp8");
  t.setCodecPreferences([...vp8, ...caps.filter(c => !vp8.includes(c))]);
  // Keep each layer's size: a busy machine would otherwise scale down.
  try {
    const p = t.sender.getParameters();
    p.degradationPreference = "maintain-resolution";
    await t.sender.setParameters(p);
  } catch (e) { log("degradationPreference not set:", e); }
  await pc.setLocalDescription();
  log("offer simulcast:", (pc.localDescription.sdp.match(/^a=simulcast.*$/m) || ["none"])[0]);
  await post("/signal", {type: "offer", sdp: pc.localDescription.sdp});
  (async () => {
    for (;;) {
      const msgs = await (await fetch("/poll")).json();
      for (const m of msgs) {
        if (m.type === "answer") {
          await pc.setRemoteDescription(m);
          log("answer simulcast:", (m.sdp.match(/^a=simulcast.*$/m) || ["none"])[0]);
        } else if (m.type === "candidate") {
          await pc.addIceCandidate(m.candidate ? m : {candidate: "", sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex});
        }
      }
    }
  })().catch(e => post("/result", {ok: false, error: "signaling: " + e}));

  // Every layer sending (Chromium enables layers as its estimate grows).
  let s = {};
  const t0 = performance.now();
  for (;;) {
    s = await layers(pc);
    const on = ["q", "h", "f"].filter(r => s[r] && s[r].frames > 10);
    if (on.length === 3) break;
    if (performance.now() - t0 > RAMP * 1000) break;
    await sleep(250);
  }
  log("layers after", ((performance.now() - t0) / 1000).toFixed(1), "s:", JSON.stringify(s));
  await sleep(SECS * 1000);
  const during = await layers(pc);
  // What Chromium sends stops before the harness says bye, so the counts
  // of frames sent are final when ferrtc's recordings end.
  track.enabled = false;
  await t.sender.replaceTrack(null);
  await sleep(500);
  const after = await layers(pc);
  for (const r of Object.keys(after)) {
    after[r].width = during[r] ? during[r].width : 0;
    after[r].height = during[r] ? during[r].height : 0;
  }
  await post("/result", {ok: true, ramp_secs: (performance.now() - t0) / 1000 - SECS, sent: after});
}
main().catch(e => post("/result", {ok: false, error: String(e && e.stack || e)}));
</script>"""


def log(*args):
    print("simulcast_chromium:", *args, file=sys.stderr, flush=True)


def ffprobe(path):
    """Decodes `path`: (codec name, frames decoded, width, height)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,nb_read_frames,width,height", "-of", "json", path],
        capture_output=True, text=True, timeout=120,
    )
    if out.returncode != 0:
        raise SystemExit(f"simulcast_chromium: ffprobe failed on {path}: {out.stderr}")
    streams = json.loads(out.stdout).get("streams") or []
    if not streams:
        raise SystemExit(f"simulcast_chromium: ffprobe finds no stream in {path}")
    s = streams[0]
    return s["codec_name"], int(s.get("nb_read_frames") or 0), s.get("width"), s.get("height")


async def run(args):
    os.makedirs(args.record, exist_ok=True)
    cmd = [args.ferrtc, "peer", "--signal", "stdio", "--record", args.record]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )

    async def pump_stderr():
        while True:
            line = await proc.stderr.readline()
            if not line:
                return
            print("ferrtc:", line.decode(errors="replace").rstrip(), file=sys.stderr, flush=True)

    relay = Relay(proc, PAGE, "simulcast_chromium")
    server = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = (f"http://127.0.0.1:{port}/?secs={args.secs}&ramp={args.ramp}"
           f"&w={args.width}&h={args.height}")
    profile = tempfile.mkdtemp(prefix="ferrtc-chromium-")
    browser = pump = errors = None
    try:
        browser = await start_chromium(
            url, profile, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            # Three layers at any input size (the legacy table allows two at 640x360).
            "--force-fieldtrials=WebRTC-LegacySimulcastLayerLimit/Disabled/")
        pump = asyncio.ensure_future(relay.from_ferrtc())
        errors = asyncio.ensure_future(pump_stderr())
        result = await asyncio.wait_for(relay.result, args.timeout)
        if not result.get("ok"):
            raise SystemExit(f"simulcast_chromium: page failed: {result.get('error')}")
        await relay.to_ferrtc({"type": "bye"})
        code = await asyncio.wait_for(proc.wait(), 30)
        await asyncio.wait_for(errors, 10)
        if code != 0:
            raise SystemExit(f"simulcast_chromium: ferrtc exited with {code}")
        result["recorded"] = {}
        for f in sorted(glob.glob(os.path.join(args.record, "*"))):
            codec, frames, width, height = ffprobe(f)
            result["recorded"][os.path.basename(f)] = {
                "codec": codec, "frames": frames, "width": width, "height": height,
                "bytes": os.path.getsize(f)}
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
    ap.add_argument("--record", required=True, help="where ferrtc records (left in place)")
    ap.add_argument("--secs", type=int, default=4, help="how long every layer runs")
    ap.add_argument("--ramp", type=int, default=15, help="how long the layers may take to start")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--timeout", type=float, default=120)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
