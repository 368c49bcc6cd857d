// The page side of the browser ICE adapters (chromium_adapter.py over the DevTools protocol,
// firefox_adapter.py over WebDriver BiDi; ADAPTERS.md): one RTCPeerConnection per `gather`, driven
// by calls of the functions below; every message for the harness goes out through `toAdapter`,
// already in jingle-interop/ice-adapter/1 form. Nothing here is browser-specific except where a
// comment says so.
//
// The SDP mapping is the harness's (impls/live/src/sdp.rs), shared with the webrtc-rs adapter:
// the remote description and candidate lines come written in `remote-credentials` and
// `remote-candidate`, and the page hands back its local description (`description`) and its
// candidates' `a=candidate` values (`sdp-candidate`) for the harness to read. Only the local
// description's renomination option is written here, as it must be before setLocalDescription.
"use strict";
let pc = null;
let agent = 0;
let role = "controlling";
let renomination = false;
let remote = { description: null, candidates: [] };
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

// "renomination" in the ice-options, as Conversations <= 2.9.7 hard-coded it on both sides.
function withOptions(sdp) {
  if (!renomination) return sdp;
  if (/a=ice-options:/.test(sdp)) {
    return sdp.replace(/a=ice-options:([^\r\n]*)/g, (m, o) => (o.includes("renomination") ? m : `a=ice-options:${o} renomination`));
  }
  return sdp.replace(/(a=ice-pwd:[^\r\n]*\r\n)/g, "$1a=ice-options:trickle renomination\r\n");
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
  remote = { description: null, candidates: [] };
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
    emit({ type: "sdp-candidate", agent, line: e.candidate.candidate });
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
    emit({ type: "description", agent, sdp: me.localDescription.sdp });
  }
  // The answerer waits for the offer: the peer's credentials (remoteCredentials).
}

// `description`: the peer's, as the harness wrote it (sdp.rs `remote_description`).
async function remoteCredentials(description) {
  remote.description = description;
  if (role === "controlled") {
    await pc.setRemoteDescription({ type: "offer", sdp: remote.description });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription({ type: "answer", sdp: withOptions(answer.sdp) });
    emit({ type: "description", agent, sdp: pc.localDescription.sdp });
    await addRemote(remote.candidates);
    started = true;
  }
}

// `line`: a remote candidate's `a=candidate` value, as the harness wrote it (sdp.rs
// `candidate_line`).
async function addRemote(lines) {
  for (const line of lines) {
    await pc.addIceCandidate({ candidate: line, sdpMid: "0", sdpMLineIndex: 0 });
  }
}

async function remoteCandidate(line) {
  if (started) {
    await addRemote([line]);
  } else {
    remote.candidates.push(line);
  }
}

async function start() {
  if (role === "controlling" && !started) {
    await pc.setRemoteDescription({ type: "answer", sdp: remote.description });
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
