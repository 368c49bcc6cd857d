//! Media and the ICE agent's datagrams: STUN, TURN and RTP demultiplexed (RFC 7983), the
//! agent's transmits and events drained, RTP sent on the selected pair (RFC 8445 §12).

use super::*;
impl ReferenceEndpoint {
    /// Sends `payload` from local candidate base `local`: through the TURN allocation when `local`
    /// is the relayed address, else as a plain datagram.
    pub(crate) fn emit(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, payload: Vec<u8>) {
        if let Some(t) = self.turn.iter_mut().find(|t| t.client.relayed() == Some(local)) {
            t.client.send_to(now, remote, &payload);
            self.flush_turn(now);
        } else {
            self.out.push_back(Output::Datagram {
                local,
                remote,
                payload: Bytes::from(payload),
            });
        }
    }

    pub(crate) fn on_datagram(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, payload: &Bytes) {
        if let Some(r) = self
            .rtcp
            .as_mut()
            .filter(|r| r.socket == local && Some(remote) == self.stun && !r.stun.resolved)
        {
            if r.stun.on_response(payload) {
                self.check_gathering(now);
                self.trickle(now);
            }
            return;
        }
        if Some(remote) == self.stun && !self.gather.done {
            if self.gather.stun.on_response(payload) {
                // UDP works: the TCP/TLS fallback is not needed.
                self.turn_fallback_at = None;
                self.check_gathering(now);
                self.trickle(now);
            }
            return;
        }
        if let Some(i) = self
            .turn
            .iter()
            .position(|t| t.stream.is_none() && t.local == local && t.client.service.addr == remote)
        {
            return self.on_turn_message(now, i, payload);
        }
        self.deliver(now, local, remote, payload);
    }

    /// A datagram for the call on local base `local` (a host port, or the relayed address for
    /// what came through TURN), demultiplexed as RFC 7983 §7 says: DTLS records (first byte
    /// 20–63) to the session's DTLS-SRTP association when it does one, the rest to the ICE agent;
    /// SRTP from the peer is also counted as authenticated or not once keyed.
    pub(crate) fn deliver(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let identity = self.identity.as_ref();
        let Some(j) = self.call.as_mut().and_then(|c| c.state.jingle_mut()) else {
            return;
        };
        match (data.first(), identity) {
            (Some(20..=63), Some(id)) => {
                if let Some(d) = j.dtls_started(id, now) {
                    d.handle_record(now, data);
                    j.dtls_path = Some((local, remote));
                    return;
                }
            }
            (Some(128..=191), Some(_)) => {
                if let Some(d) = j.dtls.as_mut() {
                    let first = !d.authenticated;
                    if d.unprotect(data) && first {
                        self.out.push_back(Output::Event(EndpointEvent::MediaAuthenticated));
                    }
                }
            }
            _ => {}
        }
        j.ice.handle_packet(now, local, remote, data);
    }

    /// Sends what the DTLS-SRTP association has to send, on the pair of the peer's last record or
    /// else the media pair; a handshake that failed stops media, and a peer certificate that does
    /// not match its fingerprint ends the call (RFC 5763 §5: the session MUST NOT be established).
    pub(crate) fn drain_dtls(&mut self, now: SimTime) {
        // Simulated runs have no identity: nothing here runs for them.
        let Some(id) = self.identity.as_ref() else { return };
        let Some(j) = self.call.as_mut().and_then(|c| c.state.jingle_mut()) else {
            return;
        };
        let pair = j.ice.media_pair();
        // Started once there is a pair to run it on (or, in `deliver`, once the peer's first
        // record came).
        if j.dtls.is_none() && pair.is_none() {
            return;
        }
        let Some(d) = j.dtls_started(id, now) else { return };
        if d.poll_timeout().is_some_and(|t| t <= now) {
            d.handle_timeout(now);
        }
        let records = d.take_records();
        let (failed, mismatch) = (d.state.failed(), d.state == DtlsState::CertificateMismatch);
        let path = j.dtls_path.or(pair);
        if failed {
            j.media_flow.stop();
        }
        if let Some((local, remote)) = path {
            for r in records {
                self.emit(now, local, remote, r);
            }
        }
        if mismatch && !self.call.as_ref().is_some_and(|c| c.state.is_ended()) {
            self.end_call(Reason::SecurityError, true);
        }
    }

    pub(crate) fn drain_ice(&mut self, now: SimTime) {
        // Permissions for remote candidates learned since the last input (signalled or peer-reflexive);
        // most inputs (media, retransmissions) learn none, so nothing is collected for them.
        let relayed = self.turn.iter().any(|t| t.client.relayed().is_some());
        let new_ips: Vec<std::net::IpAddr> = match self.call.as_mut() {
            Some(c) if relayed => match c.state.jingle_mut() {
                Some(j) if j.ice.remote_candidates().len() > j.permitted => {
                    let ips = j.ice.remote_candidates()[j.permitted..]
                        .iter()
                        .map(|r| r.addr.ip())
                        .collect();
                    j.permitted = j.ice.remote_candidates().len();
                    ips
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        if !new_ips.is_empty() {
            self.permit_remotes(now, &new_ips);
        }
        let Some(Jingle {
            ice: agent, media_flow, ..
        }) = self.call.as_mut().and_then(|c| c.state.jingle_mut())
        else {
            return;
        };
        let own_sockets = agent.sends_media();
        let mut out = Vec::new();
        let mut gathered = Vec::new();
        let mut transmits = Vec::new();
        while let Some(t) = agent.poll_transmit() {
            transmits.push(t);
        }
        let mut failed = false;
        let mut consent_lost = false;
        while let Some(e) = agent.poll_event() {
            match e {
                DriverEvent::State(s) => {
                    failed |= s == DriverState::Failed;
                    if s == DriverState::Failed {
                        // Nothing works: no media goes anywhere any more.
                        media_flow.stop();
                    }
                    out.push(Output::Event(EndpointEvent::IceState(s)));
                }
                // Component 2 carries only the agent's own keepalives: RTCP is not simulated.
                DriverEvent::Selected { component: 2.., .. } => {}
                DriverEvent::Selected { local, remote, .. } => {
                    out.push(Output::Event(EndpointEvent::SelectedPair { local, remote }));
                    if !own_sockets {
                        media_flow.resume(&mut self.rng, local, remote, now);
                    }
                    out.push(Output::Event(EndpointEvent::CallState(CallClaim::Connected)));
                }
                DriverEvent::LocalCandidate(c) => {
                    if let Some(i) = agent.local_candidates().iter().rposition(|l| *l == c) {
                        gathered.push(i);
                    }
                }
                DriverEvent::ConsentLost { .. } => {
                    // RFC 7675 §5.1: nothing more goes on that 5-tuple with these credentials.
                    media_flow.stop();
                    consent_lost = true;
                }
            }
        }
        // Where media goes (the selected pair unless a knob says otherwise): started before
        // nomination, or moved to another valid pair after it.
        if let Some((local, remote)) = agent.media_pair().filter(|_| !own_sockets) {
            media_flow.send_on(&mut self.rng, local, remote, now);
        }
        // A stack's own candidates: in the offer or answer while it is not out yet, then each in
        // its own transport-info (RFC 8838 §10).
        let trickled = if jingle_transport_sent(&self.call) {
            gathered
        } else {
            Vec::new()
        };
        for t in transmits {
            self.emit(now, t.local, t.remote, t.payload);
        }
        self.out.extend(out);
        for i in trickled {
            self.signal_local_candidates(i, Some(i + 1));
        }
        if failed && call_side(&self.call) == Some(Side::Initiator) {
            // RFC 8445 §8.1.2: the controlling agent ends the session when ICE failed.
            self.end_call(Reason::ConnectivityError, true);
        } else if consent_lost {
            self.consent_lost(now);
        }
    }

    pub(crate) fn send_rtp(&mut self, now: SimTime) {
        let live_dtls = self.identity.is_some();
        let Some(j) = self.call.as_mut().and_then(|c| c.state.jingle_mut()) else {
            return;
        };
        // With DTLS-SRTP, nothing before the keys: the packets due are skipped, not queued.
        let dtls = match (&mut j.dtls, live_dtls && j.dtls_plan.is_some()) {
            (_, false) => None,
            (Some(d), true) if d.state == DtlsState::Connected => Some(d),
            (_, true) => {
                if let Some(rtp) = j.media_flow.sending_mut() {
                    while rtp.next <= now {
                        rtp.next += RTP_INTERVAL;
                    }
                }
                return;
            }
        };
        let Some(rtp) = j.media_flow.sending_mut() else {
            return;
        };
        let mut packets = Vec::new();
        while rtp.next <= now {
            // RTP header (RFC 3550 §5.1): V=2, PT 111 (opus), then 20 bytes of payload.
            let mut p = Vec::with_capacity(32);
            p.extend_from_slice(&[0x80, 111]);
            p.extend_from_slice(&rtp.seq.to_be_bytes());
            p.extend_from_slice(&rtp.ts.to_be_bytes());
            p.extend_from_slice(&rtp.ssrc.to_be_bytes());
            p.extend_from_slice(&[0u8; 20]);
            packets.push((rtp.local, rtp.remote, p));
            rtp.seq = rtp.seq.wrapping_add(1);
            rtp.ts = rtp.ts.wrapping_add(9600);
            rtp.next += RTP_INTERVAL;
        }
        if let Some(d) = dtls {
            packets = packets
                .into_iter()
                .filter_map(|(l, r, p)| Some((l, r, d.protect(&p)?)))
                .collect();
        }
        let sent = packets.last().map(|(l, r, _)| (*l, *r));
        for (local, remote, p) in packets {
            self.emit(now, local, remote, p);
        }
        if let (Some((local, remote)), Some(a)) = (sent, self.call.as_mut().and_then(|c| c.agent_mut())) {
            a.media_sent(now, local, remote);
        }
    }
}

/// Whether this side's session-initiate or session-accept (with its transport) is out.
fn jingle_transport_sent(call: &Option<Call>) -> bool {
    call.as_ref()
        .and_then(|c| c.state.jingle())
        .is_some_and(|j| j.transport_sent)
}
