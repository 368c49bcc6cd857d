// The page side of the browser ICE adapters (chromium_adapter.py over the DevTools protocol,
// firefox_adapter.py over WebDriver BiDi; ADAPTERS.md): one RTCPeerConnection per `gather`, driven
// by calls of the functions below; every message for the harness goes out through `toAdapter`,
// already in jingle-interop/ice-adapter/1 form. Nothing here is browser-specific except where a
// comment says so.
//
// The remote side's SDP is written here from what the harness hands over (ufrag, pwd, the
// peer's certificate fingerprint and XEP-0320 setup, candidates): RFC 8839 and RFC 8842
// attributes. A peer that signalled no fingerprint gets a placeholder one and `a=setup:active`:
// the browser then waits as the DTLS server for a handshake that never comes, and sends no media.
"use strict";
let pc = null;
let agent = 0;
let role = "controlling";
let renomination = false;
let remote = { ufrag: null, pwd: null, fingerprint: null, setup: null, candidates: [] };
let started = false;
let selectedId = null;
let inbound = { n: 0, at: 0 };

function emit(m) {
  toAdapter(JSON.stringify(m));
}

function fail(e) {
  emit({ type: "log", text: "page error: " + (e && e.stack ? e.stack : String(e)) });
  toAdapter(JSON.stringify({ type: "fatal", text: String(e) }));
}

// `candidate:F C udp PRIO IP PORT typ T [raddr A rport P] ...` -> wire candidate, or null (TCP).
function parseCandidate(line) {
  const f = line.replace(/^a=/, "").replace(/^candidate:/, "").split(" ");
  if (f[2].toLowerCase() !== "udp") return null;
  const c = {
    foundation: f[0],
    component: parseInt(f[1], 10),
    priority: parseInt(f[3], 10),
    ip: f[4],
    port: parseInt(f[5], 10),
    type: f[7],
  };
  for (let i = 8; i + 1 < f.length; i += 2) {
    if (f[i] === "raddr") c["rel-addr"] = f[i + 1];
    if (f[i] === "rport") c["rel-port"] = parseInt(f[i + 1], 10);
  }
  return c;
}

// RFC 8839 §5.1 has raddr and rport on every candidate but a host one; XEP-0176 makes rel-addr
// optional. Firefox ignores a server-reflexive or relayed candidate without them, so a missing
// related address is written as browsers write a hidden one: 0.0.0.0, port 0.
function candidateLine(c) {
  let s = `candidate:${c.foundation} ${c.component} udp ${c.priority} ${c.ip} ${c.port} typ ${c.type}`;
  if (c["rel-addr"]) s += ` raddr ${c["rel-addr"]} rport ${c["rel-port"] || 0}`;
  else if (c.type !== "host") s += " raddr 0.0.0.0 rport 0";
  return s;
}

// ICE credentials, and the certificate fingerprint and DTLS role the party's Jingle transport
// then carries (XEP-0320), from a local description.
function credentialsOf(sdp) {
  const fp = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  const setup = /a=setup:(\S+)/.exec(sdp);
  return {
    ufrag: /a=ice-ufrag:(\S+)/.exec(sdp)[1],
    pwd: /a=ice-pwd:(\S+)/.exec(sdp)[1],
    fingerprint: fp ? `${fp[1]} ${fp[2]}` : undefined,
    setup: setup ? setup[1] : undefined,
  };
}

// "renomination" in the ice-options, as Conversations <= 2.9.7 hard-coded it on both sides.
function withOptions(sdp) {
  if (!renomination) return sdp;
  if (/a=ice-options:/.test(sdp)) {
    return sdp.replace(/a=ice-options:([^\r\n]*)/g, (m, o) => (o.includes("renomination") ? m : `a=ice-options:${o} renomination`));
  }
  return sdp.replace(/(a=ice-pwd:[^\r\n]*\r\n)/g, "$1a=ice-options:trickle renomination\r\n");
}

function remoteSdp() {
  const fp = remote.fingerprint || "sha-256 " + Array.from({ length: 32 }, () => "AB").join(":");
  const setup = (remote.fingerprint && remote.setup) || "active";
  return withOptions(
    [
      "v=0",
      "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE 0",
      "a=msid-semantic: WMS",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111",
      "c=IN IP4 0.0.0.0",
      "a=rtcp:9 IN IP4 0.0.0.0",
      `a=ice-ufrag:${remote.ufrag}`,
      `a=ice-pwd:${remote.pwd}`,
      "a=ice-options:trickle",
      `a=fingerprint:${fp}`,
      `a=setup:${setup}`,
      "a=mid:0",
      "a=sendrecv",
      "a=rtcp-mux",
      "a=rtpmap:111 opus/48000/2",
      "",
    ].join("\r\n"),
  );
}

const STATES = {
  new: "new",
  checking: "checking",
  connected: "connected",
  completed: "completed",
  disconnected: "disconnected",
  failed: "failed",
  closed: "closed",
};

async function pollSelected(me) {
  while (pc === me) {
    try {
      const stats = await me.getStats();
      let pairId = null;
      stats.forEach((s) => {
        if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      });
      // Firefox has no transport stats (webrtc-stats RTCTransportStats); its candidate pair says
      // `selected` instead, a field of its own.
      if (!pairId) {
        stats.forEach((s) => {
          if (s.type === "candidate-pair" && s.selected) pairId = s.id;
        });
      }
      // What the peer's media came to once SRTP had authenticated it (webrtc-stats
      // RTCInboundRtpStreamStats), logged when it changes, at most once a second.
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio" && s.packetsReceived !== inbound.n && Date.now() - inbound.at >= 1000) {
          inbound.n = s.packetsReceived;
          inbound.at = Date.now();
          emit({ type: "log", text: `inbound-rtp packetsReceived=${s.packetsReceived}` });
        }
      });
      if (pairId && pairId !== selectedId) {
        const pair = stats.get(pairId);
        const l = stats.get(pair.localCandidateId);
        const r = stats.get(pair.remoteCandidateId);
        if (l && r) {
          selectedId = pairId;
          // A remote peer-reflexive candidate's address is not exposed (W3C webrtc-stats),
          // only its port.
          const ra = r.address || r.ip;
          emit({
            type: "selected",
            agent,
            component: 1,
            local: `${l.address || l.ip}:${l.port}`,
            remote: ra ? `${ra}:${r.port}` : null,
            "remote-port": r.port,
          });
        }
      }
    } catch (e) {
      fail(e);
      return;
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

let audio = null;

// A 440 Hz tone as a MediaStreamTrack, made once per page.
function audioTrack() {
  if (!audio) {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    const dst = ctx.createMediaStreamDestination();
    osc.connect(dst);
    osc.start();
    audio = dst.stream.getAudioTracks()[0];
  }
  return audio;
}

async function gather(a, r, servers, reno, policy) {
  if (pc) pc.close();
  agent = a;
  role = r;
  renomination = reno;
  remote = { ufrag: null, pwd: null, fingerprint: null, setup: null, candidates: [] };
  started = false;
  selectedId = null;
  inbound = { n: 0, at: 0 };
  const me = new RTCPeerConnection({
    iceServers: servers,
    iceTransportPolicy: policy,
    bundlePolicy: "max-bundle",
    rtcpMuxPolicy: "require",
  });
  pc = me;
  me.onicecandidate = (e) => {
    if (pc !== me) return;
    if (!e.candidate || !e.candidate.candidate) {
      emit({ type: "gathering-done", agent });
      return;
    }
    const c = parseCandidate(e.candidate.candidate);
    if (c) emit({ type: "candidate", agent, candidate: c });
  };
  me.oniceconnectionstatechange = () => {
    if (pc !== me) return;
    const s = STATES[me.iceConnectionState];
    if (s) emit({ type: "state", agent, state: s });
  };
  // A sender with a track: without one Chromium sends no RTP. about:blank is no secure context,
  // so the track comes from Web Audio rather than getUserMedia. addTrack, not addTransceiver: an
  // answerer's remote offer takes over a transceiver addTrack made (JSEP, RFC 8829 §5.10), while
  // one from addTransceiver stays apart and the answer's m-line gets a new one with no track.
  const track = audioTrack();
  me.addTrack(track, new MediaStream([track]));
  pollSelected(me);
  if (role === "controlling") {
    // The offerer: JSEP makes it the controlling agent (RFC 8829 §5.2.1, RFC 8445 §6.1.1).
    const offer = await me.createOffer();
    await me.setLocalDescription({ type: "offer", sdp: withOptions(offer.sdp) });
    emit({ type: "credentials", agent, ...credentialsOf(me.localDescription.sdp) });
  }
  // The answerer waits for the offer: the peer's credentials (remoteCredentials).
}

async function remoteCredentials(ufrag, pwd, fingerprint, setup) {
  remote.ufrag = ufrag;
  remote.pwd = pwd;
  remote.fingerprint = fingerprint;
  remote.setup = setup;
  if (role === "controlled") {
    await pc.setRemoteDescription({ type: "offer", sdp: remoteSdp() });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription({ type: "answer", sdp: withOptions(answer.sdp) });
    emit({ type: "credentials", agent, ...credentialsOf(pc.localDescription.sdp) });
    await addRemote(remote.candidates);
    started = true;
  }
}

async function addRemote(cands) {
  for (const c of cands) {
    await pc.addIceCandidate({ candidate: candidateLine(c), sdpMid: "0", sdpMLineIndex: 0 });
  }
}

async function remoteCandidate(c) {
  if (started) {
    await addRemote([c]);
  } else {
    remote.candidates.push(c);
  }
}

async function start() {
  if (role === "controlling" && !started) {
    await pc.setRemoteDescription({ type: "answer", sdp: remoteSdp() });
    started = true;
    await addRemote(remote.candidates);
  }
}

function close() {
  if (pc) {
    const me = pc;
    pc = null;
    me.close();
  }
}
