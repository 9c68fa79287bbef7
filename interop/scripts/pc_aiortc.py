#!/usr/bin/env python3
"""aiortc against `ferrtc peer --signal stdio --echo`, in either role.

Runs the ferrtc binary as a child, relays signaling as JSON lines over its
stdin/stdout (the browsers' JSON forms), then over one data channel:
  1. mixed text and binary messages of 1 byte to 64 KiB come back intact,
     in order and with their type;
  2. at least 32 MiB of 16 KiB binary messages pass with back-pressure
     (bufferedAmount / bufferedamountlow) and come back intact;
  3. the channel closes on both sides and ferrtc exits 0 on {"type":"bye"}.
Prints one JSON summary line on stdout; exits non-zero on any failure.
"""

import argparse
import asyncio
import hashlib
import json
import random
import sys
import time

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

STEP_TIMEOUT = 60.0


def log(*args):
    print("pc_aiortc:", *args, file=sys.stderr, flush=True)


class Signaling:
    """JSON lines to and from the ferrtc child."""

    def __init__(self, proc):
        self.proc = proc

    async def send(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        await self.proc.stdin.drain()

    async def lines(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            yield json.loads(line)


async def relay(pc, sig, offering_ferrtc):
    """Applies ferrtc's signaling lines to the aiortc peer."""
    async for msg in sig.lines():
        kind = msg.get("type")
        if kind == "offer" and offering_ferrtc:
            await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            # aiortc puts its candidates in the SDP (no trickle).
            await sig.send({"type": "answer", "sdp": pc.localDescription.sdp})
        elif kind == "answer" and not offering_ferrtc:
            await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
        elif kind == "candidate":
            text = msg.get("candidate", "")
            if not text:
                await pc.addIceCandidate(None)
                continue
            c = candidate_from_sdp(text.split(":", 1)[1])
            c.sdpMid = msg.get("sdpMid")
            c.sdpMLineIndex = msg.get("sdpMLineIndex")
            await pc.addIceCandidate(c)
        else:
            raise RuntimeError(f"unexpected signaling line {msg!r}")


class Echo:
    """Collects the messages coming back on a channel."""

    def __init__(self, channel):
        self.queue = asyncio.Queue()
        self.closed = asyncio.Event()
        self.low = asyncio.Event()
        channel.on("message", self.queue.put_nowait)
        channel.on("close", self.closed.set)
        channel.on("bufferedamountlow", self.low.set)

    async def next(self):
        return await asyncio.wait_for(self.queue.get(), STEP_TIMEOUT)


def mixed_messages(rng):
    sizes = [1, 2, 3, 100, 1000, 1199, 1200, 1201, 4096, 16383, 16384, 16385, 60000, 65535, 65536]
    out = []
    for i, size in enumerate(sizes * 2):
        if i % 2 == 0:
            out.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyzé") for _ in range(size)).encode()[:size].decode("utf-8", "ignore") or "x")
        else:
            out.append(rng.randbytes(size))
    return out


async def check_mixed(channel, echo, rng):
    messages = mixed_messages(rng)
    for m in messages:
        channel.send(m)
    for i, sent in enumerate(messages):
        got = await echo.next()
        if type(got) is not type(sent) or got != sent:
            raise AssertionError(
                f"message {i}: sent {type(sent).__name__} of {len(sent)}, got {type(got).__name__} of {len(got)}"
            )
    return len(messages)


async def check_bulk(channel, echo, total, size):
    count = total // size
    channel.bufferedAmountLowThreshold = 256 * 1024
    high = 1024 * 1024
    sent_hash = hashlib.sha256()
    got_hash = hashlib.sha256()
    received = 0

    async def reader():
        nonlocal received
        for _ in range(count):
            m = await echo.next()
            if not isinstance(m, bytes):
                raise AssertionError("bulk echo changed type")
            got_hash.update(m)
            received += len(m)

    read_task = asyncio.ensure_future(reader())
    start = time.monotonic()
    for i in range(count):
        payload = (i.to_bytes(4, "big") * (size // 4))[:size]
        sent_hash.update(payload)
        while channel.bufferedAmount > high:
            echo.low.clear()
            await asyncio.wait_for(echo.low.wait(), STEP_TIMEOUT)
        channel.send(payload)
    await asyncio.wait_for(read_task, 600)
    secs = time.monotonic() - start
    if sent_hash.digest() != got_hash.digest() or received != count * size:
        raise AssertionError("bulk data came back different")
    return count * size, secs


async def run(args):
    rng = random.Random(6)
    offering_ferrtc = args.role == "ferrtc-offers"
    cmd = [args.ferrtc, "peer", "--signal", "stdio", "--echo"]
    if args.turn:
        # ferrtc relays only; aiortc (no transport policy) uses the server
        # too, so either of its candidates may pair with ferrtc's relay.
        cmd += ["--ice-server", args.turn, "--ice-username", args.turn_user,
                "--ice-credential", args.turn_pass, "--relay-only"]
    if offering_ferrtc:
        cmd.append("--offer")
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    sig = Signaling(proc)
    if args.turn:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[
            RTCIceServer(urls=args.turn, username=args.turn_user, credential=args.turn_pass)]))
    else:
        pc = RTCPeerConnection()
    remote_channel = asyncio.get_running_loop().create_future()

    @pc.on("datachannel")
    def on_datachannel(channel):
        if not remote_channel.done():
            remote_channel.set_result(channel)

    if offering_ferrtc:
        channel = None
    else:
        channel = pc.createDataChannel("data")
        await pc.setLocalDescription(await pc.createOffer())
        await sig.send({"type": "offer", "sdp": pc.localDescription.sdp})
    relay_task = asyncio.ensure_future(relay(pc, sig, offering_ferrtc))
    try:
        if channel is None:
            channel = await asyncio.wait_for(remote_channel, STEP_TIMEOUT)
        echo = Echo(channel)
        if channel.readyState != "open":
            opened = asyncio.Event()
            channel.on("open", opened.set)
            await asyncio.wait_for(opened.wait(), STEP_TIMEOUT)
        log("channel", channel.label, "open")
        mixed = await check_mixed(channel, echo, rng)
        log(mixed, "mixed messages echoed")
        bulk, secs = await check_bulk(channel, echo, args.bulk_mib * 1024 * 1024, 16 * 1024)
        log(f"{bulk} bytes echoed in {secs:.1f} s")
        channel.close()
        await asyncio.wait_for(echo.closed.wait(), STEP_TIMEOUT)
        await sig.send({"type": "bye"})
        code = await asyncio.wait_for(proc.wait(), STEP_TIMEOUT)
        if code != 0:
            raise AssertionError(f"ferrtc exited with {code}")
        print(json.dumps({
            "role": args.role,
            "mixed_messages": mixed,
            "bulk_bytes": bulk,
            "bulk_secs": round(secs, 3),
            "bulk_mib_per_s": round(bulk / 1048576 / secs, 2),
        }), flush=True)
    finally:
        relay_task.cancel()
        await pc.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ferrtc", required=True)
    ap.add_argument("--role", choices=["ferrtc-offers", "ferrtc-answers"], required=True)
    ap.add_argument("--bulk-mib", type=int, default=32)
    ap.add_argument("--turn", help="TURN URL: ferrtc uses relayed candidates only")
    ap.add_argument("--turn-user", default="")
    ap.add_argument("--turn-pass", default="")
    args = ap.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
