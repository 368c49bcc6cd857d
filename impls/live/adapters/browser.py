"""What the browser adapters share (impls/live/ADAPTERS.md): a throwaway profile per adapter, the
browser in its own process group, and the loop that turns the harness's messages into calls of
webrtc_page.js's functions, whichever protocol (DevTools, WebDriver BiDi) carries them.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "webrtc_page.js")


def binary(names, package):
    """The first of `names` on PATH; an error naming the Debian `package` otherwise."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no %s on PATH (Debian package `%s`)" % (names[0], package))


def version(path):
    """What `path --version` prints (the stack's name in `hello`)."""
    try:
        return subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "%s (version unknown)" % os.path.basename(path)


def stop(proc):
    """Kills the browser's whole process group and reaps it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def remove(profile):
    """Removes a profile, trying again while processes that were just killed let go of it."""
    for _ in range(20):
        shutil.rmtree(profile, ignore_errors=True)
        if not os.path.exists(profile):
            return
        time.sleep(0.05)


def new_profile(prefix):
    """A fresh profile directory named after this adapter's pid, after removing those of adapters
    that were killed before they could (their pid no longer runs). `.ci/run` looks for leftovers
    under the same prefix."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            remove(os.path.join(base, name))
    return tempfile.mkdtemp(prefix="%s%d-" % (prefix, os.getpid()))


async def serve(evaluate, pump, renomination):
    """Reads the harness's messages from stdin until it closes and calls the page for each:
    `evaluate(expression)` runs page JavaScript and waits for its promise; `pump` is the task that
    forwards the page's messages and fails when the browser connection ends."""
    current = None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = asyncio.ensure_future(reader.readline())
        done, _ = await asyncio.wait({line, pump}, return_when=asyncio.FIRST_COMPLETED)
        if pump in done:
            pump.result()
        line = line.result()
        if not line:
            break
        if not line.strip():
            continue
        common.trace("<", line.decode())
        msg = json.loads(line)
        t, a = msg["type"], msg.get("agent")
        # One page, one RTCPeerConnection: messages for an agent a later gather replaced are
        # dropped, as the other adapters drop them.
        if t != "gather" and a != current:
            continue
        if t == "gather":
            current = a
            expr = "gather(%d, %s, %s, %s, %s)" % (
                a, json.dumps(msg["role"]), json.dumps(msg["servers"]),
                "true" if renomination else "false", json.dumps(msg.get("policy") or "all"))
        elif t == "remote-credentials":
            # The harness writes the SDP (impls/live/src/sdp.rs): the page sets it as it is.
            expr = "remoteCredentials(%s)" % json.dumps(msg["description"])
        elif t == "remote-candidate":
            expr = "remoteCandidate(%s)" % json.dumps(msg["line"])
        elif t == "start":
            expr = "start()"
        elif t == "close":
            expr = "close()"
        else:
            continue
        await evaluate(expr)


class Remote:
    """A browser's remote-control connection (DevTools or WebDriver BiDi): numbered commands
    answered by id, and events, which `on_event` handles. Both protocols frame them alike."""

    def __init__(self, ws, name, on_event):
        self.ws = ws
        self.name = name
        self.on_event = on_event
        self.next_id = 0
        self.pending = {}

    async def call(self, method, **params):
        """Sends a command and returns the whole answer."""
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return await fut

    async def pump(self):
        """Hands answers to their callers and events to `on_event` until the connection ends,
        which is an error."""
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg.get("id") is not None:
                    fut = self.pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                else:
                    self.on_event(msg)
            raise RuntimeError("the %s connection closed" % self.name)
        finally:
            # A call waiting for an answer that will never come fails instead of hanging.
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(RuntimeError("the %s connection ended" % self.name))
            self.pending.clear()


def page_message(payload):
    """A message the page sent (a JSON string): emitted as it is, or the end for a `fatal`."""
    m = json.loads(payload)
    if m.get("type") == "fatal":
        raise RuntimeError("page: %s" % m.get("text"))
    common.emit(m)


def page_source():
    with open(PAGE) as f:
        return f.read()
