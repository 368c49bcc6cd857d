"""libnice through GObject introspection as a jingle-interop/ice-adapter/1 program
(impls/live/ADAPTERS.md). One NiceAgent per `gather`, one stream, one component (rtcp-mux).

--nomination regular: nice_agent_new_full(..., NICE_AGENT_OPTION_REGULAR_NOMINATION).
--nomination aggressive: as Dino (plugins/ice/src/module.vala, dino/dino@093491d1): the agent of
  `new Nice.Agent(ctx, RFC5245)` (no option flags, so libnice's default aggressive nomination),
  `ice_tcp = false`, STUN server and TURN-over-UDP relay info from XEP-0215, controlling mode set
  from the call's direction (transport_parameters.vala), remote candidates handed over when the
  session connects (`create_transport_connection`) and as transport-info arrives.
"""

import argparse
import ctypes
import os
import sys

import gi

gi.require_version("Nice", "0.1")
from gi.repository import GLib, Nice  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# nice_agent_attach_recv is not introspectable; without a receive callback libnice reads its
# sockets (STUN included) only inside nice_agent_recv*(), so it is attached through ctypes.
_lib = ctypes.CDLL("libnice.so.10")
_RECV = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                         ctypes.POINTER(ctypes.c_char), ctypes.c_void_p)
_lib.nice_agent_attach_recv.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint,
                                        ctypes.c_void_p, _RECV, ctypes.c_void_p]
# nice_agent_send's buffer is introspected as a string, which cannot carry binary RTP.
_lib.nice_agent_send.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_char_p]
_lib.nice_agent_send.restype = ctypes.c_int
ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

STATES = {
    Nice.ComponentState.GATHERING: "new",
    Nice.ComponentState.CONNECTING: "checking",
    Nice.ComponentState.CONNECTED: "connected",
    Nice.ComponentState.READY: "completed",
    Nice.ComponentState.FAILED: "failed",
    Nice.ComponentState.DISCONNECTED: "disconnected",
}


class Call:
    def __init__(self, agent_id, role, servers, flags):
        self.id = agent_id
        self.agent = Nice.Agent.new_full(GLib.MainContext.default(), Nice.Compatibility.RFC5245, flags)
        self.agent.set_property("ice-tcp", False)
        self.agent.set_property("controlling-mode", role == "controlling")
        turn = []
        for s in servers:
            kind, host, port, user, cred = common.parse_server(s)
            if kind == "stun":
                self.agent.set_property("stun-server", host)
                self.agent.set_property("stun-server-port", port)
            elif kind == "turn":
                turn.append((host, port, user, cred))
        self.stream = self.agent.add_stream(1)
        for host, port, user, cred in turn:
            self.agent.set_relay_info(self.stream, 1, host, port, user, cred, Nice.RelayType.UDP)
        self.agent.connect("new-candidate-full", common.guarded(self.on_candidate))
        self.agent.connect("candidate-gathering-done", common.guarded(self.on_gathered))
        self.agent.connect("component-state-changed", common.guarded(self.on_state))
        self.agent.connect("new-selected-pair-full", common.guarded(self.on_selected))
        self.recv_cb = _RECV(self.on_recv)
        self.ptr = ctypes.pythonapi.PyCapsule_GetPointer(self.agent.__gpointer__, None)
        _lib.nice_agent_attach_recv(self.ptr, self.stream, 1, None, self.recv_cb, None)
        ok, ufrag, pwd = self.agent.get_local_credentials(self.stream)
        common.emit({"type": "credentials", "agent": self.id, "ufrag": ufrag, "pwd": pwd})
        self.remote = []
        self.started = False
        self.closed = False
        self.selected = False
        self.seq, self.ts, self.ssrc = 0, 0, 0x4C4E4943
        self.received = 0
        self.emitted = set()
        self.agent.gather_candidates(self.stream)
        # Host candidates exist once gather_candidates returns; libnice signals only those found
        # later (server-reflexive, relayed) with new-candidate-full.
        for cand in self.agent.get_local_candidates(self.stream, 1):
            self.on_candidate(self.agent, cand)

    def on_candidate(self, agent, cand):
        if self.closed:
            return
        c = common.sdp_to_wire(agent.generate_local_candidate_sdp(cand))
        if c is None:
            return
        if c["type"] == "srflx" and "rel-addr" not in c:
            # The base of a server-reflexive candidate (RFC 8445 §5.1.1.2) is its host candidate
            # with the same port: libnice binds one socket per host address.
            for h in agent.get_local_candidates(self.stream, 1):
                w = common.sdp_to_wire(agent.generate_local_candidate_sdp(h))
                if w and w["type"] == "host" and cand.base_addr.get_port() == w["port"]:
                    c["rel-addr"], c["rel-port"] = w["ip"], w["port"]
        key = (c["type"], c["ip"], c["port"])
        if key not in self.emitted:
            self.emitted.add(key)
            common.emit({"type": "candidate", "agent": self.id, "candidate": c})

    def on_gathered(self, agent, stream):
        if not self.closed and stream == self.stream:
            for cand in agent.get_local_candidates(self.stream, 1):
                self.on_candidate(agent, cand)
            common.emit({"type": "gathering-done", "agent": self.id})

    def on_state(self, agent, stream, component, state):
        if self.closed or stream != self.stream:
            return
        name = STATES.get(state)
        if name:
            common.emit({"type": "state", "agent": self.id, "state": name})

    def on_selected(self, agent, stream, component, local, remote):
        if self.closed or stream != self.stream:
            return
        l = common.sdp_to_wire(agent.generate_local_candidate_sdp(local))
        r = common.sdp_to_wire(agent.generate_local_candidate_sdp(remote))
        common.emit({"type": "selected", "agent": self.id, "component": component,
                     "local": "%s:%d" % (l["ip"], l["port"]), "remote": "%s:%d" % (r["ip"], r["port"])})
        if not self.selected:
            self.selected = True
            GLib.timeout_add(common.MEDIA_INTERVAL_MS, common.guarded(self.send_media))

    def on_recv(self, agent, stream, component, n, buf, data):
        self.received += 1

    def send_media(self):
        if self.closed:
            return False
        p = common.rtp_packet(self.seq, self.ts, self.ssrc)
        _lib.nice_agent_send(self.ptr, self.stream, 1, len(p), p)
        self.seq += 1
        self.ts += 9600
        return True

    def remote_credentials(self, ufrag, pwd):
        self.agent.set_remote_credentials(self.stream, ufrag, pwd)

    def add_remote(self, c):
        self.remote.append(c)
        if self.started:
            self.hand_over([c])

    def hand_over(self, cands):
        nice = [self.agent.parse_remote_candidate_sdp(self.stream, common.wire_to_sdp(c)) for c in cands]
        nice = [n for n in nice if n is not None]
        if nice:
            self.agent.set_remote_candidates(self.stream, 1, nice)

    def start(self):
        # Remote candidates reach the agent when the session connects, as Dino hands them over
        # (create_transport_connection); libnice starts checking as soon as it has them.
        self.started = True
        self.hand_over(self.remote)

    def close(self):
        if not self.closed:
            self.closed = True
            self.agent.remove_stream(self.stream)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nomination", choices=["regular", "aggressive"], required=True)
    ap.add_argument("--support-renomination", action="store_true",
                    help="NICE_AGENT_OPTION_SUPPORT_RENOMINATION: as the controlled agent, follow NOMINATION 0xC001")
    args = ap.parse_args()
    flags = Nice.AgentOption.REGULAR_NOMINATION if args.nomination == "regular" else Nice.AgentOption.NONE
    if args.support_renomination:
        flags |= Nice.AgentOption.SUPPORT_RENOMINATION
    common.emit({"type": "hello", "protocol": common.PROTOCOL,
                 "stack": "libnice %s (%s nomination%s)" % (
                     common.package_version("libnice10"), args.nomination,
                     ", support-renomination" if args.support_renomination else "")})
    loop = GLib.MainLoop()
    calls = {}
    buf = b""

    def handle(msg):
        t = msg["type"]
        if t == "gather":
            for c in calls.values():
                c.close()
            calls.clear()
            calls[msg["agent"]] = Call(msg["agent"], msg["role"], msg["servers"], flags)
            return
        c = calls.get(msg.get("agent"))
        if c is None:
            return
        if t == "remote-credentials":
            c.remote_credentials(msg["ufrag"], msg["pwd"])
        elif t == "remote-candidate":
            c.add_remote(msg["candidate"])
        elif t == "start":
            c.start()
        elif t == "close":
            c.close()

    def on_stdin(fd, cond):
        nonlocal buf
        chunk = os.read(fd, 65536)
        if not chunk:
            loop.quit()
            return False
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                common.trace("<", line.decode())
                common.guarded(lambda l: handle(common.json.loads(l)))(line)
        return True

    GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, 0, GLib.IOCondition.IN | GLib.IOCondition.HUP, on_stdin)
    loop.run()


if __name__ == "__main__":
    main()
