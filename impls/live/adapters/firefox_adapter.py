"""Firefox (its own ICE stack, nICEr, and NSS DTLS) as a jingle-interop/ice-adapter/1 program
(impls/live/ADAPTERS.md).

Headless Firefox ESR runs in the party's namespace with a throwaway profile and loads nothing but
about:blank. This program drives it over WebDriver BiDi (Firefox's remote agent, no geckodriver)
on loopback:

- it loads webrtc_page.js into the page (script.evaluate);
- it calls the page's functions in the order the harness's messages come;
- it forwards what the page reports through a BiDi channel (script.message events).

Host candidates are not obfuscated with mDNS (media.peerconnection.ice.obfuscate_host_addresses),
as the matrix needs real host addresses; nothing else of Firefox's goes on the network.
"""

import asyncio
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
import common  # noqa: E402

import websockets  # noqa: E402

PROFILE_PREFIX = "jingle-interop-firefox-"
# The party's namespace has its own loopback, so a fixed port is free there.
PORT = 9222

PREFS = {
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    # The page's audio is a Web Audio oscillator, started without a user gesture.
    "media.autoplay.default": 0,
    "media.autoplay.block-webaudio": False,
    "media.navigator.permission.disabled": True,
    # Nothing but the call on the network.
    "app.update.auto": False,
    "app.update.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.newtabpage.enabled": False,
    "browser.region.update.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "services.settings.server": "http://127.0.0.1:1/",
}


def on_event(msg):
    """The page's messages come as script.message events of its channel."""
    if msg.get("method") == "script.message" and msg["params"].get("channel") == "toAdapter":
        browser.page_message(msg["params"]["data"]["value"])


async def call(bidi, method, **params):
    msg = await bidi.call(method, **params)
    if msg.get("type") == "error":
        raise RuntimeError("bidi %s: %s: %s" % (method, msg.get("error"), msg.get("message")))
    return msg.get("result", {})


async def evaluate(bidi, context, expression):
    r = await call(bidi, "script.evaluate", expression=expression, target={"context": context},
                   awaitPromise=True, resultOwnership="none")
    if r.get("type") == "exception":
        raise RuntimeError("page: %s" % json.dumps(r.get("exceptionDetails"))[:2000])
    return r


async def launch(profile):
    binary = browser.binary(("firefox-esr", "firefox"), "firefox-esr")
    with open(os.path.join(profile, "user.js"), "w") as f:
        for k, v in PREFS.items():
            f.write("user_pref(%s, %s);\n" % (json.dumps(k), json.dumps(v)))
    args = [binary, "--headless", "--no-remote", "--profile", profile,
            "--remote-debugging-port", str(PORT), "about:blank"]
    # Its own process group, so that stopping it stops its content processes too, before the
    # profile they write into is removed.
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    # Within the harness's 10 s for the hello.
    for _ in range(160):
        if proc.poll() is not None:
            raise RuntimeError("firefox exited (%s) before its remote agent listened" % proc.returncode)
        try:
            ws = await websockets.connect("ws://127.0.0.1:%d/session" % PORT, max_size=None)
            return proc, binary, ws
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("firefox's remote agent did not listen within 8 s")


async def main():
    profile = browser.new_profile(PROFILE_PREFIX)
    proc = None
    try:
        proc, binary, ws = await launch(profile)
        bidi = browser.Remote(ws, "WebDriver BiDi", on_event)
        pump = asyncio.ensure_future(bidi.pump())
        await call(bidi, "session.new", capabilities={})
        tree = await call(bidi, "browsingContext.getTree")
        context = tree["contexts"][0]["context"]
        await call(bidi, "session.subscribe", events=["script.message"])
        # The page's way out: a BiDi channel, whose calls come back as script.message events.
        await call(bidi, "script.callFunction", functionDeclaration="(ch) => { window.toAdapter = (s) => ch(s); }",
                   arguments=[{"type": "channel", "value": {"channel": "toAdapter"}}],
                   target={"context": context}, awaitPromise=False, resultOwnership="none")
        await evaluate(bidi, context, browser.page_source())
        common.emit({"type": "hello", "protocol": common.PROTOCOL, "stack": browser.version(binary)})
        await browser.serve(lambda e: evaluate(bidi, context, e), pump, False)
    finally:
        if proc is not None:
            browser.stop(proc)
        browser.remove(profile)


if __name__ == "__main__":
    # Any failure ends the program (exit 70), as in the other adapters: the harness records it.
    common.guarded(lambda: asyncio.run(main()))()
