"""Chromium (libwebrtc) as a jingle-interop/ice-adapter/1 program (impls/live/ADAPTERS.md).

Headless Chromium runs in the party's namespace, as root with --no-sandbox, and loads nothing but
about:blank. This program drives it over the DevTools protocol on loopback:

- it loads webrtc_page.js into the page;
- it calls the page's functions in the order the harness's messages come;
- it forwards what the page reports through a `toAdapter` binding (Runtime.addBinding).

mDNS host-candidate obfuscation is off (WebRtcHideLocalIpsWithMdns), as the matrix needs real
host addresses.

--renomination puts "renomination" in the ice-options of both descriptions, as Conversations
<= 2.9.7 hard-coded it. libwebrtc then nominates with NOMINATION 0xC001 instead of USE-CANDIDATE
(p2p_transport_channel.cc: `remote_supports_renomination_`).
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
import common  # noqa: E402

import websockets  # noqa: E402

PROFILE_PREFIX = "jingle-interop-chromium-"


def on_event(msg):
    """The page's messages come as calls of its `toAdapter` binding."""
    if msg.get("method") == "Runtime.bindingCalled" and msg["params"]["name"] == "toAdapter":
        browser.page_message(msg["params"]["payload"])


async def evaluate(dt, expression):
    r = await dt.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in r.get("result", {}):
        raise RuntimeError("page: %s" % json.dumps(r["result"]["exceptionDetails"])[:2000])
    if "error" in r:
        raise RuntimeError("devtools: %s" % r["error"])
    return r


async def launch(profile, renomination):
    binary = browser.binary(("chromium", "chromium-browser", "google-chrome"), "chromium")
    args = [
        binary,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--user-data-dir=" + profile,
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        # Nothing but the call on the network: no updates, pings or name lookups.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--disable-sync",
        "--no-pings",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        # The page's audio comes from an oscillator, which runs without a user gesture only so.
        "--autoplay-policy=no-user-gesture-required",
        "about:blank",
    ]
    # Its own process group, so that stopping it stops its renderer and utility processes too,
    # before the profile they write into is removed.
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    port_file = os.path.join(profile, "DevToolsActivePort")
    # Within the harness's 10 s for the hello, with `--version` after it.
    for _ in range(120):
        if proc.poll() is not None:
            raise RuntimeError("chromium exited (%s) before DevTools listened" % proc.returncode)
        if os.path.exists(port_file):
            with open(port_file) as f:
                lines = f.read().split()
            if lines:
                port = int(lines[0])
                break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("chromium's DevTools did not listen within 6 s")
    with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=2) as r:
        targets = json.load(r)
    page = next(t for t in targets if t.get("type") == "page")
    ws = await websockets.connect(page["webSocketDebuggerUrl"], max_size=None)
    return proc, binary, ws


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--renomination", action="store_true")
    args = ap.parse_args()
    profile = browser.new_profile(PROFILE_PREFIX)
    proc = None
    try:
        proc, binary, ws = await launch(profile, args.renomination)
        dt = browser.Remote(ws, "DevTools", on_event)
        pump = asyncio.ensure_future(dt.pump())
        await dt.call("Runtime.enable")
        await dt.call("Runtime.addBinding", name="toAdapter")
        await evaluate(dt, browser.page_source())
        common.emit({"type": "hello", "protocol": common.PROTOCOL,
                     "stack": "%s%s" % (browser.version(binary), " (renomination)" if args.renomination else "")})
        await browser.serve(lambda e: evaluate(dt, e), pump, args.renomination)
    finally:
        if proc is not None:
            browser.stop(proc)
        browser.remove(profile)


if __name__ == "__main__":
    # Any failure ends the program (exit 70), as in the other adapters: the harness records it.
    common.guarded(lambda: asyncio.run(main()))()
