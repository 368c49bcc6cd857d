//! ICE restart (RFC 8445 §9) in Jingle: offered and answered in transport-info with new
//! credentials (XEP-0176 §5.9, or Conversations' form), on an interface change or lost consent
//! (RFC 7675), and the tie-break of two crossing restarts (XEP-0166 §7.2.16).

use super::*;
impl ReferenceEndpoint {
    /// Restarts the call's ICE agent (RFC 8445 §9) and parks the media until a pair of the new ICE
    /// session is selected. False when there is no session to restart or the stack cannot.
    pub(crate) fn restart_agent(&mut self, now: SimTime) -> bool {
        let Some(call) = self.call.as_mut().filter(|c| c.state.is_active()) else {
            return false;
        };
        let Some(j) = call.state.jingle_mut() else { return false };
        if !j.ice.ice_restart(now) {
            return false;
        }
        // The peer's candidates are gone from the agent: every one gets its TURN permission
        // again (RFC 8656 §9).
        j.permitted = 0;
        j.media_flow.park();
        self.claim(CallClaim::IceRestart);
        true
    }

    /// Offers an ICE restart (RFC 8445 §9; XEP-0176 §5.9; Conversations' JingleRtpConnection.java):
    /// new credentials, candidates of the next generation, roles kept. XEP form: one transport-info
    /// with the new credentials and the candidates there are now (later ones trickle); without
    /// trickle it waits for gathering.
    /// Conversations form: the new credentials alone; the candidates follow the answer. False
    /// when nothing could be restarted.
    pub(crate) fn offer_restart(&mut self, now: SimTime) -> bool {
        if !self.restart_agent(now) {
            return false;
        }
        let Some(j) = self.call.as_mut().and_then(|c| c.state.jingle_mut()) else {
            return false;
        };
        j.restart = OwnRestart::AwaitingAnswer;
        match self.knobs.restart_form {
            RestartForm::Conversations => self.send_transport(Vec::new()),
            RestartForm::Xep if !self.knobs.trickle && !self.gather.done => j.restart = OwnRestart::OfferDue,
            RestartForm::Xep => {
                let candidates = self.signalable_candidates();
                self.send_transport(candidates);
            }
        }
        true
    }

    /// Consent on the media pair is gone (RFC 7675 §5.1) after the call had connected: restart
    /// ICE, as Conversations does when its PeerConnection fails after having been connected
    /// (Conversations' JingleRtpConnection.java), since the same credentials may not be used on
    /// that 5-tuple again. A stack that cannot restart ends the session with connectivity-error.
    pub(crate) fn consent_lost(&mut self, now: SimTime) {
        let restarting = self
            .call
            .as_ref()
            .and_then(|c| c.state.jingle())
            .is_some_and(|j| j.restart.awaiting_answer());
        if !restarting && !self.offer_restart(now) {
            self.end_call(Reason::ConnectivityError, true);
        }
    }

    /// The host's interfaces changed (Wi-Fi → mobile, `switch-interface`): the socket moves to the
    /// new address (same port), STUN and TURN are gathered anew from it (the old allocations'
    /// 5-tuples are gone; their servers let them expire), and a call in progress restarts ICE
    /// (RFC 8445 §9: changing the media path needs a restart).
    pub(crate) fn interfaces_changed(&mut self, now: SimTime, ips: &[std::net::IpAddr]) {
        let Some(&ip) = ips.first() else { return };
        self.socket = SocketAddr::new(ip, self.socket.port());
        self.stream_base += self.turn.len() as u64;
        let services: Vec<TurnService> = self
            .turn
            .drain(..)
            .filter(|t| t.component == 1)
            .map(|t| t.client.service)
            .collect();
        for service in services {
            let local = if service.transport == TurnTransport::Udp {
                self.socket
            } else {
                SocketAddr::new(ip, self.rng.range(49152, 65535) as u16)
            };
            let rng = self.rng.fork("turn");
            self.turn.push(Turn {
                client: TurnClient::new(service, rng),
                stream: None,
                local,
                component: 1,
            });
        }
        self.turn_fallback_at = None;
        let started = self.gather.started.is_some();
        self.gather = Gather {
            stun: Binding::default(),
            started: started.then_some(now),
            done: false,
        };
        // Component 2 moves with component 1, one port above.
        let rtcp = self.rtcp.take().is_some();
        if started {
            self.begin_gathering(now);
            if rtcp {
                self.begin_rtcp_gathering(now);
            }
        }
        let active = self.call.as_ref().is_some_and(|c| c.state.is_active());
        if active && !self.offer_restart(now) {
            // An agent that cannot restart had its sockets on the vanished address: it is gone
            // with them, and so is the media; the session lingers until someone hangs up.
            if let Some(c) = self.call.as_mut() {
                if let Some(m) = c.media_flow_mut() {
                    m.stop();
                }
                if let Some(a) = c.agent_mut() {
                    a.close();
                }
            }
        }
    }

    /// A transport-info whose credentials differ from the peer's current ones (RFC 8445 §9): the
    /// answer to this side's restart offer, or the peer's own offer, which this side answers
    /// (XEP-0176 §5.9; Conversations' JingleRtpConnection.java), restarting its own agent first.
    pub(crate) fn remote_restart(&mut self, now: SimTime, ufrag: &str, pwd: &str, candidates: Vec<Candidate>) {
        let Some(j) = self.call.as_mut().and_then(|c| c.state.jingle_mut()) else {
            return;
        };
        j.remote_ufrags.push(ufrag.to_string());
        let answer = j.restart.awaiting_answer();
        if !answer {
            if self.knobs.restart_form == RestartForm::Conversations && !candidates.is_empty() {
                // Read as an answer to an offer this side never made: Conversations cannot apply
                // it to its PeerConnection and gives up on the session (its JingleRtpConnection.java).
                self.end_call(Reason::FailedApplication, true);
                return;
            }
            if !self.restart_agent(now) {
                // A stack that cannot restart: the candidates belong to an ICE session it cannot
                // join, so they are dropped.
                return;
            }
        }
        let Some(j) = self.call.as_mut().and_then(|c| c.state.jingle_mut()) else {
            return;
        };
        // An offer still waiting for gathering goes out then, as this side's answer.
        j.restart = if j.restart == OwnRestart::OfferDue {
            OwnRestart::AnswerDue
        } else {
            OwnRestart::None
        };
        let agent = &mut j.ice;
        agent.set_remote_credentials(ufrag, pwd);
        for c in candidates {
            agent.add_remote_candidate(c);
        }
        if answer {
            // Held in the Conversations form until now.
            self.trickle(now);
        } else {
            let ours = self.signalable_candidates();
            self.send_transport(ours);
        }
        if let Some(agent) = self.call.as_mut().and_then(|c| c.agent_mut()) {
            agent.start(now);
        }
    }

    /// Whether a transport-info with `ufrag` and `candidates` is the peer's restart offer crossing
    /// this side's own, to be refused with conflict + tie-break (XEP-0166 §7.2.16): this side is
    /// the initiator, both sides use the Conversations form, and neither offer is answered yet
    /// (XEP-0166 §7.2.16; Conversations' JingleRtpConnection.java does so for crossing restarts).
    pub(crate) fn crossing_restart_loses(&self, ufrag: Option<&str>, candidates: usize) -> bool {
        let Some(c) = self.call.as_ref() else { return false };
        let Some(j) = c.state.jingle() else { return false };
        self.knobs.restart_form == RestartForm::Conversations
            && j.restart.awaiting_answer()
            && c.side == Side::Initiator
            && candidates == 0
            && ufrag.is_some_and(|u| j.remote_ufrags.last().is_some_and(|cur| cur != u))
    }
}
