"""aioice as a jingle-interop/ice-adapter/1 program (impls/live/ADAPTERS.md), driven as aiortc's
RTCIceGatherer and RTCIceTransport drive it (aiortc/rtcicetransport.py, aiortc 1.x): one
Connection per `gather`, one component, the STUN server and one TURN server (UDP) given at
construction, `ice_controlling` set from the role, `gather_candidates()` then every local
candidate at once, remote credentials and candidates set, then `connect()`; media with `send()`.

aiortc offers non-trickle SDP, so its `connect()` runs with the remote candidates of the
description; here `start` waits for gathering and for the first remote candidate, and later
remote candidates are added with `add_remote_candidate` (aiortc's addIceCandidate)."""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import aioice  # noqa: E402
from aioice import Candidate  # noqa: E402


def to_wire(c):
    w = {"foundation": c.foundation, "component": c.component, "priority": c.priority,
         "ip": c.host, "port": c.port, "type": c.type}
    if c.related_address is not None:
        w["rel-addr"], w["rel-port"] = c.related_address, c.related_port
    return w


def from_wire(w):
    return Candidate(foundation=w["foundation"], component=w["component"], transport="udp",
                     priority=w["priority"], host=w["ip"], port=w["port"], type=w["type"],
                     related_address=w.get("rel-addr"), related_port=w.get("rel-port"))


class Call:
    def __init__(self, agent_id, role, servers, policy):
        self.id = agent_id
        kw = {}
        for s in servers:
            kind, host, port, user, cred = common.parse_server(s)
            if kind == "stun" and "stun_server" not in kw:
                kw["stun_server"] = (host, port)
            elif kind == "turn" and "turn_server" not in kw:
                kw.update(turn_server=(host, port), turn_username=user, turn_password=cred, turn_transport="udp")
        if policy == "relay":
            kw["transport_policy"] = aioice.TransportPolicy.RELAY
        self.gathered = asyncio.Event()
        self.has_remote = asyncio.Event()
        self.closed = False
        self.started = False
        self.tasks = []
        try:
            self.conn = aioice.Connection(ice_controlling=role == "controlling", components=1, use_ipv6=False, **kw)
        except ValueError as e:
            # aioice refuses a relay-only policy without a TURN server: no agent, no candidates.
            common.log("no agent: %s" % e)
            self.conn = None
            common.emit({"type": "credentials", "agent": self.id,
                         "ufrag": common.random_token(4), "pwd": common.random_token(22)})
            common.emit({"type": "gathering-done", "agent": self.id})
            return
        common.emit({"type": "credentials", "agent": self.id,
                     "ufrag": self.conn.local_username, "pwd": self.conn.local_password})
        self.spawn(self.gather())

    def spawn(self, coro):
        """A task whose exception ends the program (exit 70) at once, not when it is collected."""
        t = asyncio.ensure_future(coro)

        def done(task):
            if not task.cancelled() and task.exception() is not None:
                common.guarded(_raise)({"exception": task.exception()})
        t.add_done_callback(done)
        self.tasks.append(t)

    async def gather(self):
        await self.conn.gather_candidates()
        for c in self.conn.local_candidates:
            common.emit({"type": "candidate", "agent": self.id, "candidate": to_wire(c)})
        common.emit({"type": "gathering-done", "agent": self.id})
        self.gathered.set()

    async def add_remote(self, w):
        if self.conn is None:
            return
        await self.gathered.wait()
        await self.conn.add_remote_candidate(from_wire(w))
        self.has_remote.set()

    def start(self):
        if self.conn is None or self.started:
            return
        self.started = True
        self.spawn(self.run())

    async def run(self):
        await self.gathered.wait()
        await self.has_remote.wait()
        common.emit({"type": "state", "agent": self.id, "state": "checking"})
        try:
            await self.conn.connect()
        except ConnectionError as e:
            common.log("connect: %s" % e)
            common.emit({"type": "state", "agent": self.id, "state": "failed"})
            return
        pair = self.conn._nominated.get(1)
        if pair is not None:
            lc = pair.local_candidate
            common.emit({"type": "selected", "agent": self.id, "component": 1,
                         "local": "%s:%d" % (lc.host, lc.port),
                         "remote": "%s:%d" % pair.remote_addr})
        common.emit({"type": "state", "agent": self.id, "state": "completed"})
        self.spawn(self.receive())
        seq, ts = 0, 0
        while not self.closed:
            try:
                await self.conn.send(common.rtp_packet(seq, ts, 0x41494F49))
            except ConnectionError:
                # Consent lost or the connection closed: aioice drops its nominated pairs.
                common.emit({"type": "state", "agent": self.id, "state": "failed"})
                return
            seq, ts = seq + 1, ts + 9600
            await asyncio.sleep(common.MEDIA_INTERVAL_MS / 1000)

    async def receive(self):
        while not self.closed:
            try:
                await self.conn.recv()
            except ConnectionError:
                common.emit({"type": "state", "agent": self.id, "state": "failed"})
                return

    async def close(self):
        if not self.closed:
            self.closed = True
            for t in self.tasks:
                t.cancel()
            if self.conn is not None:
                await self.conn.close()


def _raise(ctx):
    raise ctx.get("exception") or RuntimeError(ctx.get("message"))


async def main():
    common.emit({"type": "hello", "protocol": common.PROTOCOL,
                 "stack": "aioice %s" % aioice.__version__})
    loop = asyncio.get_running_loop()
    # An exception in any task ends the program, as in the libnice adapter.
    loop.set_exception_handler(lambda _loop, ctx: common.guarded(_raise)(ctx))
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    calls = {}
    while True:
        line = await reader.readline()
        if not line:
            break
        if not line.strip():
            continue
        common.trace("<", line.decode())
        msg = common.guarded(common.json.loads)(line)
        t = msg["type"]
        if t == "gather":
            for c in calls.values():
                await c.close()
            calls.clear()
            calls[msg["agent"]] = Call(msg["agent"], msg["role"], msg["servers"], msg.get("policy"))
            continue
        c = calls.get(msg.get("agent"))
        if c is None:
            continue
        if t == "remote-credentials":
            if c.conn is not None:
                c.conn.remote_username, c.conn.remote_password = msg["ufrag"], msg["pwd"]
        elif t == "remote-candidate":
            c.spawn(c.add_remote(msg["candidate"]))
        elif t == "start":
            c.start()
        elif t == "close":
            await c.close()


if __name__ == "__main__":
    common.guarded(lambda: asyncio.run(main()))()
