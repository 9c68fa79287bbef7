#!/usr/bin/env python3
"""An aioice peer for interop/tests/ice_aioice.rs, signalling in JSON lines.

Usage: ice_aioice.py controlling|controlled

stdout: {"type": "credentials", "ufrag", "pwd"}, one {"type": "candidate",
"candidate": "candidate:..."} per local candidate, {"type": "end-of-candidates"},
then {"type": "connected"} and one {"type": "received", "data"} per datagram.
stdin: the same credentials/candidate/end-of-candidates lines from the other
side, then {"type": "bye"} (or end of input) to stop.

Once connected it sends b"hello from aioice" and echoes every datagram back
prefixed with b"echo:". Only loopback (127.0.0.1, IPv4) candidates are used.
Set FERRTC_AIOICE_DEBUG=1 for aioice's debug log on stderr.
"""

import asyncio
import json
import logging
import os
import sys

import aioice
import aioice.ice

# aioice skips 127.0.0.1 when it lists interfaces; the test is loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


if os.environ.get("FERRTC_AIOICE_DEBUG"):
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


def emit(obj):
    print(json.dumps(obj), flush=True)


async def read_line(loop):
    line = await loop.run_in_executor(None, sys.stdin.readline)
    return json.loads(line) if line.strip() else None


async def main():
    controlling = sys.argv[1] == "controlling"
    conn = aioice.Connection(ice_controlling=controlling, components=1, use_ipv6=False)
    await conn.gather_candidates()
    emit({"type": "credentials", "ufrag": conn.local_username, "pwd": conn.local_password})
    for c in conn.local_candidates:
        emit({"type": "candidate", "candidate": "candidate:" + c.to_sdp()})
    emit({"type": "end-of-candidates"})

    loop = asyncio.get_running_loop()
    while True:
        msg = await read_line(loop)
        if msg is None:
            return
        logging.debug("signal in: %s", msg)
        if msg["type"] == "credentials":
            conn.remote_username = msg["ufrag"]
            conn.remote_password = msg["pwd"]
        elif msg["type"] == "candidate":
            sdp = msg["candidate"].removeprefix("candidate:")
            await conn.add_remote_candidate(aioice.Candidate.from_sdp(sdp))
        elif msg["type"] == "end-of-candidates":
            await conn.add_remote_candidate(None)
            break

    await asyncio.wait_for(conn.connect(), 20)
    emit({"type": "connected"})
    await conn.send(b"hello from aioice")

    async def echo():
        while True:
            data = await conn.recv()
            emit({"type": "received", "data": data.decode(errors="replace")})
            await conn.send(b"echo:" + data)

    task = asyncio.create_task(echo())
    while True:
        msg = await read_line(loop)
        if msg is None or msg.get("type") == "bye":
            break
    task.cancel()
    await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
