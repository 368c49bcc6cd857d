// The page side of the Chromium ICE adapter (chromium_adapter.py, ADAPTERS.md): one
// RTCPeerConnection per `gather`, driven over the DevTools protocol; every message for the harness
// goes out through the `toAdapter` binding, already in jingle-interop/ice-adapter/1 form.
//
// The remote side's SDP is written here from what the harness hands over (ufrag, pwd,
// candidates): RFC 8839 attributes, and `a=setup:active`, so that Chromium plays the DTLS server
// and waits (the reference has no DTLS yet; ICE alone is judged).
"use strict";
let pc = null;
let agent = 0;
let role = "controlling";
let renomination = false;
let remote = { ufrag: null, pwd: null, candidates: [] };
let started = false;
let selectedId = null;

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

function candidateLine(c) {
  let s = `candidate:${c.foundation} ${c.component} udp ${c.priority} ${c.ip} ${c.port} typ ${c.type}`;
  if (c["rel-addr"]) s += ` raddr ${c["rel-addr"]} rport ${c["rel-port"] || 0}`;
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
  const fp = Array.from({ length: 32 }, () => "AB").join(":");
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
      `a=fingerprint:sha-256 ${fp}`,
      "a=setup:active",
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

async function gather(a, r, servers, reno, policy) {
  if (pc) pc.close();
  agent = a;
  role = r;
  renomination = reno;
  remote = { ufrag: null, pwd: null, candidates: [] };
  started = false;
  selectedId = null;
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
  me.addTransceiver("audio", { direction: "sendrecv" });
  pollSelected(me);
  if (role === "controlling") {
    // The offerer: JSEP makes it the controlling agent (RFC 8829 §5.2.1, RFC 8445 §6.1.1).
    const offer = await me.createOffer();
    await me.setLocalDescription({ type: "offer", sdp: withOptions(offer.sdp) });
    emit({ type: "credentials", agent, ...credentialsOf(me.localDescription.sdp) });
  }
  // The answerer waits for the offer: the peer's credentials (remoteCredentials).
}

async function remoteCredentials(ufrag, pwd) {
  remote.ufrag = ufrag;
  remote.pwd = pwd;
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
