"""Shared parts of the ICE adapters: jingle-interop/ice-adapter/1 lines (impls/live/ADAPTERS.md),
candidate lines in SDP form (RFC 8839 §5.1), and the RTP-like media the reference sends."""

import json
import secrets
import string
import os
import traceback
import subprocess
import struct
import sys

PROTOCOL = "jingle-interop/ice-adapter/1"

# RTP (RFC 3550 §5.1): V=2, PT 111, then 20 bytes of payload, every 200 ms: the reference's media.
MEDIA_INTERVAL_MS = 200


# With JINGLE_INTEROP_ADAPTER_LOG set to a file, both directions of the protocol are appended to
# it (`<` from the harness, `>` to it), for debugging an adapter.
_LOG = os.environ.get("JINGLE_INTEROP_ADAPTER_LOG")


def trace(direction, line):
    if _LOG:
        with open(_LOG, "a") as f:
            f.write("%d %s %s\n" % (os.getpid(), direction, line.rstrip("\n")))


def emit(msg):
    """Writes one message to stdout as one JSON line."""
    line = json.dumps(msg, separators=(",", ":"))
    trace(">", line)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log(text):
    emit({"type": "log", "text": text})


def rtp_packet(seq, ts, ssrc):
    return struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + bytes(20)


def sdp_to_wire(line):
    """`a=candidate:F C udp PRIO IP PORT typ T [raddr A rport P]` -> a wire candidate, or None
    for a TCP candidate."""
    body = line.strip()
    if body.startswith("a="):
        body = body[2:]
    if body.startswith("candidate:"):
        body = body[len("candidate:"):]
    f = body.split()
    if f[2].lower() != "udp":
        return None
    c = {
        "foundation": f[0],
        "component": int(f[1]),
        "priority": int(f[3]),
        "ip": f[4],
        "port": int(f[5]),
        "type": f[7],
    }
    rest = f[8:]
    for k, v in zip(rest[::2], rest[1::2]):
        if k == "raddr":
            c["rel-addr"] = v
        elif k == "rport":
            c["rel-port"] = int(v)
    return c


def wire_to_sdp(c):
    """A wire candidate -> `a=candidate:…` (RFC 8839 §5.1)."""
    s = "a=candidate:%s %d UDP %d %s %d typ %s" % (
        c["foundation"], c["component"], c["priority"], c["ip"], c["port"], c["type"])
    if "rel-addr" in c:
        s += " raddr %s rport %d" % (c["rel-addr"], c.get("rel-port", 0))
    return s


def parse_server(s):
    """An RTCIceServer -> (kind, host, port, username, credential); kind is `stun` or `turn`."""
    url = s["urls"]
    kind, rest = url.split(":", 1)
    hostport = rest.split("?", 1)[0]
    host, port = hostport.rsplit(":", 1)
    return kind, host, int(port), s.get("username"), s.get("credential")


def package_version(package):
    """The installed Debian package's version, for `hello` (`unknown` elsewhere)."""
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                              capture_output=True, text=True, timeout=5).stdout or "unknown"
    except OSError:
        return "unknown"


def guarded(f):
    """f, except that an exception ends the program (exit 70, the traceback on stderr): the
    harness then records the adapter's failure instead of waiting on a program that lost its
    state (GLib and asyncio would only print it and go on)."""

    def run(*args):
        try:
            return f(*args)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(70)

    return run


def random_token(n):
    """n characters of ICE's ice-char set (RFC 8839 §5.4), for credentials without an agent."""
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(n))
