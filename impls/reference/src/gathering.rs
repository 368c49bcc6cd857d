//! Candidate gathering: host candidates, the server-reflexive address from the STUN server
//! (RFC 8489 Binding), relayed candidates from a TURN client per transport (RFC 8656), learned
//! through XEP-0215; the second component's candidates without rtcp-mux (RFC 5761, RFC 8445 §5.1.1).

use super::*;
impl ReferenceEndpoint {
    pub(crate) fn start(&mut self, _now: SimTime) {
        self.started = true;
        self.send(signalling::presence(!self.knobs.no_jmi, !self.knobs.no_dtls_feature));
        let id = self.next_id("extdisco");
        let server = self.cfg.server.clone();
        self.send(
            el("iq", ns::CLIENT)
                .a("type", "get")
                .a("id", id)
                .a("to", server)
                .append(el("services", ns::EXTDISCO).build())
                .build(),
        );
    }

    pub(crate) fn local_candidates(&self) -> Vec<Candidate> {
        let mut v = Vec::new();
        // Under a relay-only policy only the relayed candidate is gathered (WebRTC
        // `iceTransportPolicy: relay`; Conversations' WebRTCWrapper.java `IceTransportsType.RELAY`).
        if !self.knobs.relay_only {
            v.push(Candidate {
                addr: self.socket,
                base: self.socket,
                typ: CandidateType::Host,
                priority: ice::priority(CandidateType::Host, 65535, 1),
                foundation: "1".into(),
                component: 1,
            });
        }
        if let Some(s) = self
            .gather
            .stun
            .srflx
            .filter(|s| *s != self.socket && !self.knobs.relay_only)
        {
            v.push(Candidate {
                addr: s,
                base: self.socket,
                typ: CandidateType::ServerReflexive,
                priority: ice::priority(CandidateType::ServerReflexive, 65535, 1),
                foundation: "2".into(),
                component: 1,
            });
        }
        if let Some(t) = self.turn.iter().find(|t| t.client.relayed().is_some()) {
            let relayed = t.client.relayed().expect("found");
            // RFC 8445 §5.1.2.1: local preference ranks relays by client transport, UDP first.
            let local_pref = match t.client.service.transport {
                TurnTransport::Udp => 65535,
                TurnTransport::Tcp => 32767,
                TurnTransport::Tls => 16383,
            };
            v.push(Candidate {
                addr: relayed,
                base: relayed,
                typ: CandidateType::Relayed,
                priority: ice::priority(CandidateType::Relayed, local_pref, 1),
                foundation: "3".into(),
                component: 1,
            });
        }
        // Component 2 after component 1, with component 1's foundations (RFC 8445 §5.1.1.3; RFC
        // 8838 §17: never component 2 of a foundation before component 1).
        if let Some(r) = &self.rtcp {
            let mut push = |addr, base, typ, foundation: &str| {
                v.push(Candidate {
                    addr,
                    base,
                    typ,
                    priority: ice::priority(typ, 65535, 2),
                    foundation: foundation.into(),
                    component: 2,
                })
            };
            if !self.knobs.relay_only {
                push(r.socket, r.socket, CandidateType::Host, "1");
                if let Some(s) = r.stun.srflx.filter(|s| *s != r.socket) {
                    push(s, r.socket, CandidateType::ServerReflexive, "2");
                }
            }
            if let Some(relayed) = self
                .turn
                .iter()
                .find(|t| t.component == 2)
                .and_then(|t| t.client.relayed())
            {
                push(relayed, relayed, CandidateType::Relayed, "3");
            }
        }
        v
    }

    /// The relayed address of component 1 in use, if any.
    pub(crate) fn relayed(&self) -> Option<SocketAddr> {
        self.turn
            .iter()
            .filter(|t| t.component == 1)
            .find_map(|t| t.client.relayed())
    }

    /// Starts component 2's gathering (once per socket): the host candidate one port above the
    /// RTP socket, a STUN Binding from it and a UDP TURN allocation from it with the service
    /// component 1 uses over UDP (XEP-0215 credentials). TCP/TLS relays serve component 1 only.
    /// The caller trickles what it yields.
    pub(crate) fn begin_rtcp_gathering(&mut self, now: SimTime) {
        if self.rtcp.is_some() {
            return;
        }
        let socket = SocketAddr::new(self.socket.ip(), self.socket.port().wrapping_add(1));
        let mut r = Rtcp {
            socket,
            stun: Binding {
                resolved: self.stun.is_none(),
                ..Binding::default()
            },
        };
        if self.stun.is_some() {
            self.rng.fill(&mut r.stun.txid);
        }
        self.rtcp = Some(r);
        self.rtcp_gather_send(now);
        let service = self
            .turn
            .iter()
            .find(|t| t.component == 1 && t.client.service.transport == TurnTransport::Udp)
            .map(|t| t.client.service.clone());
        if let Some(service) = service {
            self.turn.retain(|t| t.component != 2);
            let mut client = TurnClient::new(service, self.rng.fork("turn-rtcp"));
            client.start(now);
            self.turn.push(Turn {
                client,
                stream: None,
                local: socket,
                component: 2,
            });
            self.flush_turn(now);
        }
    }

    /// Component 2's first STUN Binding request.
    pub(crate) fn rtcp_gather_send(&mut self, now: SimTime) {
        let (Some(server), Some(r)) = (self.stun, self.rtcp.as_mut()) else {
            return;
        };
        if r.stun.resolved {
            return;
        }
        let req = r.stun.request(now);
        self.out.push_back(Output::Datagram {
            local: r.socket,
            remote: server,
            payload: Bytes::from(req),
        });
    }

    /// Component 2 is not used after all (the answer agreed rtcp-mux): its gathering stops, its
    /// relay is given back, and nothing more of it is signalled.
    pub(crate) fn end_rtcp_gathering(&mut self, now: SimTime) {
        if self.rtcp.take().is_none() {
            return;
        }
        for t in self.turn.iter_mut().filter(|t| t.component == 2) {
            t.client.close(now);
        }
        self.flush_turn(now);
    }

    /// Moves TURN messages to the wire and reacts to allocation events.
    pub(crate) fn flush_turn(&mut self, now: SimTime) {
        let mut changed = false;
        let mut rtcp_changed = false;
        // (relayed address, peer IP, installed): permission news for the ICE agent.
        let mut permits = Vec::new();
        for t in &mut self.turn {
            while let Some(b) = t.client.poll_transmit() {
                let payload = Bytes::from(b);
                self.out.push_back(match t.stream {
                    Some(id) => Output::StreamSend { id, payload },
                    None => Output::Datagram {
                        local: t.local,
                        remote: t.client.service.addr,
                        payload,
                    },
                });
            }
            while let Some(e) = t.client.poll_event() {
                let relayed = t.client.relayed();
                match (&e, relayed) {
                    (TurnEvent::Permitted { ip }, Some(r)) => permits.push((r, *ip, true)),
                    (TurnEvent::Refused { ip }, Some(r)) => permits.push((r, *ip, false)),
                    _ => {}
                }
                if matches!(e, TurnEvent::Permitted { .. } | TurnEvent::Refused { .. }) {
                    continue;
                }
                changed = true;
                rtcp_changed |= t.component == 2;
                // UDP reached the TURN server: the TCP/TLS fallback is not needed.
                if matches!(e, TurnEvent::Allocated { .. }) && t.client.service.transport == TurnTransport::Udp {
                    self.turn_fallback_at = None;
                }
            }
        }
        if let Some(a) = self.call.as_mut().and_then(|c| c.agent_mut()) {
            for (relayed, ip, installed) in permits {
                if installed {
                    a.relay_permitted(now, relayed, ip);
                } else {
                    a.relay_refused(relayed, ip);
                }
            }
        }
        if changed {
            self.check_gathering(now);
        }
        if rtcp_changed && self.gather.done {
            // Component 2's relay, when its gathering began after component 1's had ended.
            self.trickle(now);
        }
    }

    /// Asks the TURN allocation in use for permissions for every remote candidate's IP, before any
    /// check is relayed to them (RFC 8445 §7.2.1; RFC 8656 §9).
    pub(crate) fn permit_remotes(&mut self, now: SimTime, ips: &[std::net::IpAddr]) {
        let first = self
            .turn
            .iter()
            .position(|t| t.component == 1 && t.client.relayed().is_some());
        let rtcp = self
            .turn
            .iter()
            .position(|t| t.component == 2 && t.client.relayed().is_some());
        if first.is_none() && rtcp.is_none() {
            return;
        }
        for i in [first, rtcp].into_iter().flatten() {
            for ip in ips {
                self.turn[i].client.permit(now, *ip);
            }
        }
        self.flush_turn(now);
    }

    /// Opens the TCP/TLS TURN allocations (the fallback).
    pub(crate) fn start_stream_turn(&mut self) {
        self.turn_fallback_at = None;
        for (next_id, t) in (self.stream_base + 1..).zip(self.turn.iter_mut()) {
            if t.client.service.transport != TurnTransport::Udp && t.stream.is_none() {
                t.stream = Some(next_id);
                self.out.push_back(Output::StreamOpen {
                    id: next_id,
                    local: t.local,
                    remote: t.client.service.addr,
                    tls: t.client.service.transport == TurnTransport::Tls,
                });
            }
        }
    }

    /// Gathering is complete when the STUN transaction and every started allocation are resolved
    /// (the TCP/TLS ones count only once the fallback started them), or when a relayed candidate
    /// exists and [`GATHER_GRACE`] has passed since gathering began. Then only the best allocation
    /// is kept; the others are released.
    pub(crate) fn check_gathering(&mut self, now: SimTime) {
        if self.gather.done {
            return;
        }
        let started_resolved = self
            .turn
            .iter()
            .filter(|t| t.client.service.transport == TurnTransport::Udp || t.stream.is_some())
            .all(|t| t.client.resolved());
        let rtcp_resolved = self.rtcp.as_ref().is_none_or(|r| r.stun.resolved);
        let all = self.gather.stun.resolved && started_resolved && rtcp_resolved && self.turn_fallback_at.is_none();
        let grace = self.relayed().is_some() && self.gather.started.is_some_and(|s| now >= s + GATHER_GRACE);
        if all || grace {
            let keep = self
                .turn
                .iter()
                .position(|t| t.component == 1 && t.client.relayed().is_some());
            for (i, t) in self.turn.iter_mut().enumerate() {
                if Some(i) != keep && t.component == 1 {
                    t.client.close(now);
                }
            }
            self.turn_fallback_at = None;
            self.gather.stun.next = None;
            self.gathering_done(now);
            self.flush_turn(now);
        }
    }

    /// Starts gathering from the current socket: the STUN Binding transaction and the UDP TURN
    /// allocation at once, TCP/TLS TURN only if UDP stays silent for [`TURN_STREAM_FALLBACK`].
    pub(crate) fn begin_gathering(&mut self, now: SimTime) {
        if self
            .turn
            .iter()
            .any(|t| t.client.service.transport != TurnTransport::Udp)
        {
            self.turn_fallback_at = Some(now + TURN_STREAM_FALLBACK);
        }
        for t in &mut self.turn {
            if t.client.service.transport == TurnTransport::Udp {
                t.client.start(now);
            }
        }
        if self.stun.is_some() {
            self.rng.fill(&mut self.gather.stun.txid);
            self.gather_send(now);
        } else {
            self.gather.stun.resolved = true;
        }
        if !self.knobs.rtcp_mux || self.knobs.components_before_answer == 2 {
            // Every offer of this endpoint may need component 2.
            self.begin_rtcp_gathering(now);
        }
        self.flush_turn(now);
        self.check_gathering(now);
    }

    /// Component 1's first STUN Binding request.
    pub(crate) fn gather_send(&mut self, now: SimTime) {
        let Some(server) = self.stun else { return };
        let req = self.gather.stun.request(now);
        self.out.push_back(Output::Datagram {
            local: self.socket,
            remote: server,
            payload: Bytes::from(req),
        });
    }

    pub(crate) fn gathering_done(&mut self, now: SimTime) {
        self.gather.done = true;
        self.gather.stun.next = None;
        let due = self
            .call
            .as_mut()
            .and_then(|c| c.state.jingle_mut())
            .filter(|j| j.restart.due());
        if let Some(j) = due {
            // Without trickle the restart offer carries every candidate of the new gathering.
            j.restart = if j.restart == OwnRestart::OfferDue {
                OwnRestart::AwaitingAnswer
            } else {
                OwnRestart::None
            };
            let candidates = self.signalable_candidates();
            self.send_transport(candidates);
        }
        self.trickle(now);
        let Some(call) = self.call.as_mut().filter(|c| c.waiting_for_gathering) else {
            return;
        };
        call.waiting_for_gathering = false;
        match call.side {
            Side::Initiator => self.send_initiate(now),
            Side::Responder => self.send_accept(now),
        }
    }

    /// The XEP-0215 external services: the STUN server and a TURN client per transport, then
    /// gathering begins.
    pub(crate) fn on_external_services(&mut self, now: SimTime, s: &Element) {
        if self.gather.started.is_some() {
            return;
        }
        self.gather.started = Some(now);
        if self.stack.is_some() {
            return self.hand_servers_to_stack(now, s);
        }
        for svc in ice_services(s) {
            let turn = match svc {
                IceService::Stun(addr) => {
                    if !self.knobs.relay_only {
                        self.stun.get_or_insert(addr);
                    }
                    continue;
                }
                IceService::Turn(t) => t,
            };
            let transport = turn.transport;
            if self.turn.iter().any(|t| t.client.service.transport == transport) {
                continue;
            }
            let local = if transport == TurnTransport::Udp {
                self.socket
            } else {
                SocketAddr::new(self.socket.ip(), self.rng.range(49152, 65535) as u16)
            };
            let rng = self.rng.fork("turn");
            self.turn.push(Turn {
                client: TurnClient::new(turn, rng),
                stream: None,
                local,
                component: 1,
            });
        }
        self.turn.sort_by_key(|t| t.client.service.transport);
        self.begin_gathering(now);
    }

    /// A message from TURN allocation `i`'s server; relayed data goes to the ICE agent as if it
    /// had arrived on the relayed address.
    pub(crate) fn on_turn_message(&mut self, now: SimTime, i: usize, payload: &Bytes) {
        let relayed = self.turn[i].client.relayed();
        let data = self.turn[i].client.on_message(now, payload);
        self.flush_turn(now);
        if let (Some((peer, data)), Some(relayed)) = (data, relayed) {
            self.deliver(now, relayed, peer, &data);
        }
    }

    /// A stack that owns its sockets gathers per call, with these servers: the STUN server and
    /// TURN over UDP (the live network carries UDP only), with Conversations' filter as above.
    /// The endpoint itself has nothing to gather.
    fn hand_servers_to_stack(&mut self, now: SimTime, s: &Element) {
        for svc in ice_services(s) {
            let server = match svc {
                IceService::Stun(addr) if !self.knobs.relay_only => IceServer {
                    urls: format!("stun:{addr}"),
                    username: None,
                    credential: None,
                },
                IceService::Turn(t) if t.transport == TurnTransport::Udp => IceServer {
                    urls: format!("turn:{}?transport=udp", t.addr),
                    username: Some(t.username),
                    credential: Some(t.password),
                },
                _ => continue,
            };
            if !self.ice_servers.contains(&server) {
                self.ice_servers.push(server);
            }
        }
        self.gather.stun.resolved = true;
        self.gathering_done(now);
    }
}

/// A STUN or TURN service from an XEP-0215 answer.
enum IceService {
    Stun(SocketAddr),
    Turn(TurnService),
}

/// The usable services of an XEP-0215 `<services/>` answer, in order, with Conversations' filter
/// (Services.java `getIceServers`): an address and a transport are required, TURN needs
/// credentials; `stun`/`udp`, `turn`/`udp`, `turn`/`tcp` and `turns`/`tcp` are understood.
fn ice_services(s: &Element) -> impl Iterator<Item = IceService> + '_ {
    s.children()
        .filter(|c| c.is("service", ns::EXTDISCO))
        .filter_map(|svc| {
            let addr = SocketAddr::new(svc.attr("host")?.parse().ok()?, svc.attr("port")?.parse().ok()?);
            let transport = match (svc.attr("type"), svc.attr("transport")) {
                (Some("stun"), Some("udp")) => return Some(IceService::Stun(addr)),
                (Some("turn"), Some("udp")) => TurnTransport::Udp,
                (Some("turn"), Some("tcp")) => TurnTransport::Tcp,
                (Some("turns"), Some("tcp")) => TurnTransport::Tls,
                _ => return None,
            };
            Some(IceService::Turn(TurnService {
                addr,
                transport,
                username: svc.attr("username")?.into(),
                password: svc.attr("password")?.into(),
            }))
        })
}
