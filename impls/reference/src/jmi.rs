//! Jingle Message Initiation (XEP-0353): propose, ringing, proceed, reject, retract and finish,
//! the carbons of a sibling device's answer (XEP-0280), and replies addressed as the profile says.

use super::*;
impl ReferenceEndpoint {
    /// XEP-0353 §3.6 (0.8.0): once the Jingle session of a JMI call ends, each party sends finish,
    /// with the session's reason, to the peer's full JID.
    pub(crate) fn send_finish(&mut self, to: &str, sid: &str, reason: &str) {
        let mid = self.next_id("jm-finish-");
        self.send_jmi_reply(to, &mid, signalling::jmi_simple("finish", sid, Some(reason)));
    }

    /// A JMI reply (ringing, proceed, reject, finish) to the peer device `to`: its full JID (XEP-0353
    /// §3, 0.8.0), or its bare JID with the `jmi-addressing: bare` knob (the 0.6/0.7 text).
    pub(crate) fn send_jmi_reply(&mut self, to: &str, id: &str, child: Element) {
        let to = match self.knobs.jmi_addressing {
            JmiAddressing::Full => to,
            JmiAddressing::Bare => bare(to),
        };
        self.send(signalling::jmi(to, id, child));
    }

    /// A XEP-0280 carbon copy: what another device of this account sent (`<sent/>`) or received
    /// (`<received/>`). Only copies from the account's own bare JID are read (XEP-0280 security
    /// considerations: anyone else could forge them).
    ///
    /// XEP-0353 §3 has the callee's devices all ring on a propose to the bare JID; the one that
    /// answers sends proceed (or reject) to the caller's full JID, and the others learn it from the
    /// `<sent/>` copy and stop ringing without sending anything (XEP-0280 §6–§7; Conversations'
    /// JingleConnectionManager.java: "answered/rejected on another device"). Apart from the finish
    /// below, everything else in a copy is another device's business.
    ///
    /// When two devices answer at once, both proceed and the caller takes the first: the other
    /// device, waiting in vain for a session-initiate, stops at the copy of the finish that ends
    /// the session (XEP-0353 §3.6): `<sent/>` from the sibling or `<received/>` from the caller.
    pub(crate) fn on_carbon(&mut self, m: &Element, kind: CarbonKind, inner: &Element) {
        if m.attr("from") != Some(bare(&self.cfg.jid)) {
            return;
        }
        let Some(x) = inner.children().find(|c| c.ns() == ns::JMI) else {
            return;
        };
        // Which phases the sibling's answer ends: ringing, and for a finish also proceeded.
        let (claim, also_proceeded) = match (kind, x.name()) {
            (CarbonKind::Sent, "proceed") => (CallClaim::AnsweredElsewhere, false),
            (CarbonKind::Sent, "reject") => (CallClaim::RejectedElsewhere, false),
            (_, "finish") => (CallClaim::AnsweredElsewhere, true),
            _ => return,
        };
        let id = x.attr("id").unwrap_or("");
        if let Some(c) = self.call.as_mut().filter(|c| {
            c.sid == id
                && c.side == Side::Responder
                && (c.state.is_ringing() || also_proceeded && c.state.is_proceeded())
        }) {
            c.state.end();
            self.claim(claim);
        }
    }

    pub(crate) fn on_message(&mut self, now: SimTime, m: &Element) {
        if let Some((kind, inner)) = carbon_payload(m) {
            return self.on_carbon(m, kind, inner);
        }
        let from = m.attr("from").unwrap_or("").to_string();
        let Some(x) = m.children().find(|c| c.ns() == ns::JMI) else {
            return;
        };
        let id = x.attr("id").unwrap_or("").to_string();
        match x.name() {
            "propose" => {
                if self.knobs.no_jmi || bare(&from) == bare(&self.cfg.jid) {
                    return;
                }
                // Both proposed to each other (XEP-0353 §4.1): the lower id wins, in octet
                // order; equal ids fall back to the lower JID.
                let glare = self
                    .call
                    .as_ref()
                    .filter(|c| c.state.is_proposed() && c.peer_bare == bare(&from))
                    .map(|c| c.sid.clone());
                if let Some(ours) = glare {
                    let theirs_wins = id < ours || (id == ours && from.as_str() < self.cfg.jid.as_str());
                    if !theirs_wins {
                        let mid = self.next_id("jm-reject-");
                        self.send_jmi_reply(&from, &mid, tie_break("reject", &id));
                        return;
                    }
                    let to = bare(&from).to_string();
                    let mid = self.next_id("jm-retract-");
                    self.send(signalling::jmi(&to, &mid, tie_break("retract", &ours)));
                    if let Some(c) = self.call.as_mut() {
                        c.state.end();
                    }
                    // Then their propose is answered normally, below.
                }
                if self.call.as_ref().is_some_and(|c| !c.state.is_ended()) {
                    return;
                }
                let media: Vec<String> = x
                    .children()
                    .filter(|d| d.is("description", ns::JINGLE_RTP))
                    .filter_map(|d| d.attr("media").map(str::to_string))
                    .collect();
                if media.is_empty() {
                    return; // not an RTP call: ignored silently (Conversations' JingleConnectionManager.java)
                }
                let peer_bare = bare(&from).to_string();
                self.call = Some(Call::new(
                    id.clone(),
                    Side::Responder,
                    peer_bare,
                    Some(from.clone()),
                    media,
                    CallState::Ringing(None),
                ));
                let mid = self.next_id("jm-ringing-");
                self.send_jmi_reply(&from, &mid, signalling::jmi_simple("ringing", &id, None));
                self.claim(CallClaim::Ringing);
                if self.knobs.start_checks_at == StartChecksAt::Propose {
                    // A gateway answers the JMI leg itself and rings the network behind it.
                    if let Some(c) = self.call.as_mut() {
                        c.state.proceed();
                        c.proceeded_early = true;
                    }
                    let mid = format!("jm-proceed-{id}");
                    self.send_jmi_reply(&from, &mid, signalling::jmi_simple("proceed", &id, None));
                }
            }
            "ringing" => {
                if let Some(c) = self.call.as_mut().filter(|c| c.sid == id && c.state.is_proposed()) {
                    c.peer_full.get_or_insert(from);
                    self.claim(CallClaim::Ringing);
                }
            }
            "proceed" => {
                let Some(c) = self
                    .call
                    .as_mut()
                    .filter(|c| c.sid == id && c.side == Side::Initiator && c.state.is_proposed())
                else {
                    return;
                };
                // XEP-0353 §3.2: initiate to the full JID that sent proceed. The first proceed
                // takes the call; the state moves on at once (the session-initiate may still wait
                // for gathering), so a sibling device's proceed crossing it is ignored, as
                // Conversations does. XEP-0353 gives the caller nothing to send that device: a
                // retract to its full JID would also reach the answering device as a carbon. It
                // learns the call went elsewhere from the carbons of the finish (`on_carbon`).
                c.peer_full = Some(from);
                c.state.proceed();
                self.send_initiate(now);
            }
            // A reject declines a call still proposed; once a device proceeded, a reject from another
            // of the callee's devices (one that never heard of the answer) changes nothing. A retract
            // cancels a call still ringing or proceeded.
            "reject" | "retract" => {
                let live = |c: &Call| match x.name() {
                    "reject" => c.side == Side::Initiator && c.state.is_proposed(),
                    _ => c.side == Side::Responder && (c.state.is_ringing() || c.state.is_proceeded()),
                };
                if let Some(c) = self.call.as_mut().filter(|c| c.sid == id && live(c)) {
                    c.state.end();
                    self.claim(if x.name() == "reject" {
                        CallClaim::Rejected
                    } else {
                        CallClaim::Cancelled
                    });
                }
            }
            _ => {}
        }
    }
}
