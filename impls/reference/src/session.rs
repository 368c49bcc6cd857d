//! The Jingle session (XEP-0166, XEP-0167, XEP-0176, XEP-0320): session-initiate and
//! session-accept built and read, one handler per action received, trickled candidates sent as
//! transport-info, refusals with their Jingle errors, service discovery answered.

use super::*;
impl ReferenceEndpoint {
    /// The local candidates that may be signalled now. While gathering goes on, the relayed
    /// candidate waits until gathering has settled which allocation is kept.
    pub(crate) fn signalable_candidates(&self) -> Vec<Candidate> {
        let mut v = self.local_candidates();
        if !self.gather.done {
            v.retain(|c| c.typ != CandidateType::Relayed);
        }
        v
    }

    /// Trickle ICE (RFC 8838 §10, XEP-0176 §7.1): hands the agent every local candidate gathered
    /// since it was made and, once this side's session-initiate or session-accept is out, signals
    /// each in its own transport-info first. Without the `trickle` knob, offers wait for
    /// gathering instead and this does nothing.
    pub(crate) fn trickle(&mut self, _now: SimTime) {
        if !self.knobs.trickle {
            return;
        }
        let fresh: Vec<Candidate> = match self.call.as_ref() {
            // In the Conversations form the offerer's candidates follow the answer (Conversations'
            // JingleRtpConnection.java); without trickle a restart offer carries them all once
            // gathering is done.
            Some(c)
                if c.state.jingle().is_some_and(|j| {
                    j.restart.due()
                        || (j.restart.awaiting_answer() && self.knobs.restart_form == RestartForm::Conversations)
                }) =>
            {
                return
            }
            Some(c) if !c.state.is_ended() => match c.agent() {
                Some(a) => self
                    .signalable_candidates()
                    .into_iter()
                    .filter(|n| {
                        !a.local_candidates()
                            .iter()
                            .any(|l| l.addr == n.addr && l.base == n.base)
                    })
                    .collect(),
                None => return,
            },
            _ => return,
        };
        for c in fresh {
            let Some(j) = self.call.as_mut().and_then(|c| c.state.jingle_mut()) else {
                return;
            };
            // The agent's own view goes on the wire (another stack computes its own priority and
            // foundation). It is paired before the transport-info is written, but no check can
            // leave before this input's outputs, the transport-info first (RFC 8838 §10).
            let index = j.ice.local_candidates().len();
            j.ice.add_local_candidate(c);
            if j.ice.local_candidates().len() > index && j.transport_sent {
                self.signal_local_candidates(index, None);
            }
        }
    }

    /// Signals the agent's local candidates from index `first` up to `end` (to the last, for
    /// `None`; none, for a restart offer in the Conversations form) in one transport-info with its current credentials and generation
    /// (XEP-0176 §5), to the peer's full JID.
    pub(crate) fn signal_local_candidates(&mut self, first: usize, end: Option<usize>) {
        let creator = self.transport_creator();
        let Some(call) = self.call.as_ref() else { return };
        let (Some(agent), Some(to)) = (call.agent(), call.peer_full.clone()) else {
            return;
        };
        let (ufrag, pwd) = agent.local_credentials();
        let session = signalling::IceSession {
            ufrag,
            pwd,
            generation: agent.generation(),
        };
        let j = signalling::transport_info(
            &call.sid,
            &call.media,
            &creator,
            session,
            &agent.local_candidates()[first..end.unwrap_or(agent.local_candidates().len())],
            first,
        );
        let id = self.next_id("jingle");
        self.send(signalling::jingle_iq(&to, &id, j));
    }

    /// The `creator` this side writes on the contents of its transport-infos (XEP-0166 §7.3).
    pub(crate) fn transport_creator(&self) -> Creator {
        match (self.call.as_ref().map(|c| c.side), self.knobs.creator) {
            (Some(Side::Responder), CreatorMode::OwnRole) => Creator::Responder,
            _ => Creator::Initiator,
        }
    }

    /// Sends a transport-info with the agent's current credentials and `candidates` (added to the
    /// agent first, so the ids match its list): a restart's offer or answer (XEP-0176 §5.9;
    /// Conversations' JingleRtpConnection.java).
    pub(crate) fn send_transport(&mut self, candidates: Vec<Candidate>) {
        let Some(call) = self.call.as_mut() else { return };
        if call.peer_full.is_none() {
            return;
        }
        let Some(agent) = call.agent_mut() else { return };
        let first = agent.local_candidates().len();
        for c in candidates {
            agent.add_local_candidate(c);
        }
        self.signal_local_candidates(first, None);
    }

    pub(crate) fn send_initiate(&mut self, now: SimTime) {
        if !self.gather.done && !self.knobs.trickle {
            if let Some(c) = self.call.as_mut() {
                c.waiting_for_gathering = true;
            }
            return;
        }
        if self.gather.started.is_some() && (!self.knobs.rtcp_mux || self.knobs.components_before_answer == 2) {
            // Dropped after an earlier call's answer agreed rtcp-mux: this offer needs it again.
            self.begin_rtcp_gathering(now);
        }
        let mut agent = self.new_agent(Role::Controlling, now);
        if self.rtcp.is_some() {
            // Two components until the answer says whether rtcp-mux holds.
            agent.set_components(2);
        }
        let (u, p) = agent.local_credentials();
        let (own_fp, setup) = self.own_dtls(agent.as_ref(), Setup::Actpass).unzip();
        let fp = own_fp.as_ref().map(|f| &f[..]);
        let setup = setup.unwrap_or(Setup::Actpass);
        let in_offer = self.knobs.candidates_in_initiate || !self.knobs.trickle;
        let t = signalling::transport(
            u,
            p,
            if in_offer { agent.local_candidates() } else { &[] },
            fp,
            setup,
            agent.offers_renomination(),
        );
        let me = self.cfg.jid.clone();
        let id = self.next_id("jingle");
        let extra = self.knobs.initiate_extra_media.clone();
        let Some(call) = self.call.as_mut() else { return };
        let Some(to) = call.peer_full.clone() else { return };
        if let Some(m) = extra.filter(|m| !call.media.contains(m)) {
            call.media.push(m);
        }
        let rtcp_mux = self.knobs.rtcp_mux;
        let j = signalling::session(
            Action::SessionInitiate,
            &call.sid,
            &me,
            &call.media,
            &t,
            Creator::Initiator,
            rtcp_mux,
        );
        let mut jingle = Jingle::new(agent, rtcp_mux);
        jingle.transport_sent = true;
        call.state = CallState::Pending(jingle);
        self.send(signalling::jingle_iq(&to, &id, j));
        self.claim(CallClaim::Initiated);
        if !in_offer {
            // Each candidate in its own transport-info, as the browser reports them: component 1
            // before component 2.
            let mut order: Vec<usize> = (0..self
                .call
                .as_ref()
                .and_then(|c| c.agent())
                .map_or(0, |a| a.local_candidates().len()))
                .collect();
            if let Some(a) = self.call.as_ref().and_then(|c| c.agent()) {
                let cands = a.local_candidates();
                order.sort_by_key(|i| cands[*i].component);
            }
            for i in order {
                self.signal_local_candidates(i, Some(i + 1));
            }
        }
    }

    pub(crate) fn send_accept(&mut self, now: SimTime) {
        if !self.gather.done && !self.knobs.trickle {
            if let Some(c) = self.call.as_mut() {
                c.waiting_for_gathering = true;
            }
            return;
        }
        let me = self.cfg.jid.clone();
        let id = self.next_id("jingle");
        let creator = match self.knobs.creator {
            CreatorMode::Initiator => Creator::Initiator,
            CreatorMode::OwnRole => Creator::Responder,
        };
        // Candidates gathered since the session-initiate arrived go in the answer.
        let fresh = self.signalable_candidates();
        let Some(call) = self.call.as_mut() else { return };
        let Some(to) = call.peer_full.clone() else { return };
        let Some(jingle) = call.state.jingle_mut() else { return };
        for c in fresh {
            jingle.ice.add_local_candidate(c);
        }
        // RFC 8842 §5.3: the answerer takes active or passive; passive only when the offerer
        // insists on being active.
        let answer_setup = match jingle.dtls_plan {
            Some(p) if !p.client => Setup::Passive,
            _ => Setup::Active,
        };
        let own = own_dtls(&self.knobs, self.fingerprint, jingle.ice.as_ref(), answer_setup.clone());
        let agent = &mut jingle.ice;
        let (u, p) = agent.local_credentials();
        let (fp, setup) = own.unzip();
        let t = signalling::transport(
            u,
            p,
            agent.local_candidates(),
            fp.as_ref().map(|f| &f[..]),
            setup.unwrap_or(answer_setup),
            agent.offers_renomination(),
        );
        let j = signalling::session(
            Action::SessionAccept,
            &call.sid,
            &me,
            &call.media,
            &t,
            creator,
            jingle.rtcp_mux,
        );
        jingle.transport_sent = true;
        agent.start(now);
        call.state.activate();
        self.send(signalling::jingle_iq(&to, &id, j));
        self.claim(CallClaim::Accepted);
    }

    pub(crate) fn end_call(&mut self, reason: Reason, notify_jingle: bool) {
        let Some(call) = self.call.as_mut() else { return };
        if call.state.is_ended() {
            return;
        }
        let sid = call.sid.clone();
        let peer = call.peer_full.clone();
        let via_jmi = call.via_jmi;
        let was_session = matches!(call.state, CallState::Pending(_) | CallState::Active(_));
        call.state.end();
        if let Some(a) = call.agent_mut() {
            a.close();
        }
        if let Some(m) = call.media_flow_mut() {
            m.stop();
        }
        if let Some(to) = peer {
            if was_session && notify_jingle {
                let id = self.next_id("jingle");
                self.send(signalling::jingle_iq(&to, &id, signalling::terminate(&sid, reason)));
            }
            if via_jmi {
                self.send_finish(&to, &sid, "success");
            }
        }
        self.claim(CallClaim::Ended);
    }

    /// The peer's session description as this endpoint takes it: under `ignore-component-2`
    /// without any candidate of component 2 (JMP's Asterisk patch, docs/field-failures.md §Firefox
    /// component 2 and per-candidate restarts).
    pub(crate) fn read_remote(&self, j: &Element) -> signalling::RemoteSession {
        let mut r = signalling::read_session(j);
        if self.knobs.ignore_component_2 {
            r.candidates.retain(|c| c.component != 2);
        }
        r
    }

    pub(crate) fn on_iq(&mut self, now: SimTime, iq: &Element) {
        let typ = iq.attr("type").unwrap_or("");
        let me = self.cfg.jid.clone();
        // What this endpoint answers to an IQ it does not serve (RFC 6120 §8.2.3).
        let unavailable =
            |iq: &Element| endpoint_contract::xml::iq_error(iq, &me, "cancel", "service-unavailable", None);
        if typ == "result" {
            if let (Some(q), Some(from)) = (iq.get_child("query", ns::DISCO_INFO), iq.attr("from")) {
                return self.on_disco_info_result(now, q, from);
            }
            if let Some(s) = iq.get_child("services", ns::EXTDISCO) {
                self.on_external_services(now, s);
            }
            return;
        }
        if typ == "error" {
            if iq.attr("id").is_some_and(|i| i.starts_with("extdisco")) {
                self.gather.stun.resolved = true;
                self.check_gathering(now);
            }
            return;
        }
        if typ == "get" {
            if let Some(q) = iq.get_child("query", ns::DISCO_INFO) {
                let info =
                    signalling::disco_info_element(q.attr("node"), !self.knobs.no_jmi, !self.knobs.no_dtls_feature);
                let mut r = iq_result(iq, &me);
                r.append_child(info);
                self.send(r);
            } else {
                self.send(unavailable(iq));
            }
            return;
        }
        let Some(j) = iq.get_child("jingle", ns::JINGLE) else {
            self.send(unavailable(iq));
            return;
        };
        let sid = j.attr("sid").unwrap_or("").to_string();
        let action = j.attr("action").unwrap_or("").to_string();
        let from = iq.attr("from").unwrap_or("").to_string();
        let mut refused = self.refusal(&action, &sid, &from);
        if action == "transport-info" && refused.is_none() {
            let r = signalling::read_session(j);
            if self.crossing_restart_loses(r.ufrag.as_deref(), r.candidates.len()) {
                // This side's restart offer stands; the responder answers it (XEP-0166 §7.2.16).
                refused = Some(signalling::JingleError::TieBreak);
            }
        }
        if let Some(e) = refused {
            self.send(signalling::jingle_error(iq, &me, e));
            return;
        }
        self.send(iq_result(iq, &me));
        match action.as_str() {
            "session-initiate" => self.on_session_initiate(now, j, from, sid),
            "session-accept" => self.on_session_accept(now, iq, j, &me),
            "transport-info" => self.on_transport_info(now, j),
            "session-terminate" => self.end_call(Reason::Success, false),
            _ => {}
        }
    }

    /// A disco#info result (XEP-0030): the peer device's features, and a call proposed before they
    /// were known to a device that speaks no JMI goes to it directly.
    pub(crate) fn on_disco_info_result(&mut self, now: SimTime, q: &Element, from: &str) {
        let features: Vec<String> = q
            .children()
            .filter(|c| c.is("feature", ns::DISCO_INFO))
            .filter_map(|c| c.attr("var").map(str::to_string))
            .collect();
        let direct = !features.iter().any(|x| x == ns::JMI) && features.iter().any(|x| x == ns::JINGLE);
        self.features.insert(from.to_string(), features);
        // The call was proposed before the callee's caps were known, and this device of it
        // speaks no JMI, so it ignores the propose: initiate to it directly (XEP-0353 §2), as
        // if the user had called a moment later.
        if let Some(c) = self
            .call
            .as_mut()
            .filter(|c| direct && c.side == Side::Initiator && c.state.is_proposed() && c.peer_bare == bare(from))
        {
            c.peer_full = Some(from.to_string());
            c.via_jmi = false;
            c.state.proceed();
            // A session of its own: the propose's id stays with the JMI attempt that device
            // never saw, so no JMI finish is owed for this session (XEP-0353 §3.6).
            c.sid = self.rng.uuid_v4();
            self.send_initiate(now);
        }
    }

    /// session-initiate (XEP-0166 §7.2.10, XEP-0167, XEP-0176): an incoming call, or the peer's
    /// side of a crossing one.
    pub(crate) fn on_session_initiate(&mut self, now: SimTime, j: &Element, from: String, sid: String) {
        let remote = self.read_remote(j);
        let remote_ufrag = remote.ufrag.clone();
        if let Some(c) = self.call.as_mut().filter(|c| c.crosses(&from)) {
            // Both initiated at once and theirs has the lower sid (`refusal` let it
            // through): ours is overruled and theirs is handled as any incoming call
            // (XEP-0166 §7.2.16). The peer answers ours with conflict + tie-break, so no
            // session-terminate is owed for it.
            c.state.end();
            if let Some(a) = c.agent_mut() {
                a.close();
            }
            if let Some(m) = c.media_flow_mut() {
                m.stop();
            }
        }
        let busy = self.call.as_ref().is_some_and(|c| !c.state.is_ended() && c.sid != sid);
        if busy {
            let id = self.next_id("jingle");
            self.send(signalling::jingle_iq(
                &from,
                &id,
                signalling::terminate(&sid, Reason::Busy),
            ));
            return;
        }
        let pre_approved = self
            .call
            .as_ref()
            .is_some_and(|c| c.sid == sid && c.state.is_proceeded());
        if let Some(text) = self.security_error(&remote, pre_approved) {
            let id = self.next_id("jingle");
            self.send(signalling::jingle_iq(
                &from,
                &id,
                signalling::terminate_with_text(&sid, Reason::SecurityError, Some(text)),
            ));
            if let Some(c) = self.call.as_mut().filter(|c| c.sid == sid) {
                c.state.end();
            }
            if pre_approved {
                self.send_finish(&from, &sid, "security-error");
            }
            self.claim(CallClaim::Ended);
            return;
        }
        // RFC 5761: rtcp-mux holds when the offer has it and this side accepts it; else RTCP
        // has its own component (XEP-0167 §3).
        let rtcp_mux = remote.rtcp_mux && self.knobs.rtcp_mux;
        if !rtcp_mux {
            self.begin_rtcp_gathering(now);
        } else {
            // Gathered for this side's own offers (`components-before-answer`): as the
            // answerer it knows rtcp-mux holds, so component 2 is neither signalled nor kept.
            self.end_rtcp_gathering(now);
        }
        let mut agent = self.new_agent(Role::Controlled, now);
        agent.set_components(if rtcp_mux { 1 } else { 2 });
        agent.set_remote_dtls(remote.fingerprint, remote.setup.as_deref());
        let plan = dtls_plan(&remote);
        if let (Some(u), Some(p)) = (&remote.ufrag, &remote.pwd) {
            agent.set_remote_credentials(u, p);
        }
        agent.set_peer_renomination(remote.renomination);
        for c in remote.candidates {
            agent.add_remote_candidate(c);
        }
        if self.knobs.start_checks_at != StartChecksAt::SessionAccept {
            // Checks start while the user is still rung (chan_motif; docs/field-failures.md
            // §Asterisk 2021 Failed pairs and early checks).
            agent.start(now);
        }
        let mut jingle = Jingle::new(agent, rtcp_mux);
        jingle.dtls_plan = plan;
        let early_proceed = self.call.as_ref().is_some_and(|c| c.proceeded_early);
        if pre_approved && early_proceed {
            // Proceed went out before the user answered: ring on; Answer accepts the session.
            let c = self.call.as_mut().expect("checked");
            c.peer_full = Some(from);
            c.media = remote.media;
            c.state = CallState::Ringing(Some(jingle));
        } else if pre_approved {
            let c = self.call.as_mut().expect("checked");
            c.peer_full = Some(from);
            c.media = remote.media;
            c.state = CallState::Proceeded(Some(jingle));
            self.send_accept(now);
        } else {
            let mut call = Call::new(
                sid,
                Side::Responder,
                bare(&from).to_string(),
                Some(from),
                remote.media,
                CallState::Ringing(Some(jingle)),
            );
            call.via_jmi = false;
            self.call = Some(call);
            self.claim(CallClaim::Ringing);
        }
        if let Some(j) = self
            .call
            .as_mut()
            .and_then(|c| c.state.jingle_mut())
            .filter(|j| j.remote_ufrags.is_empty())
        {
            j.remote_ufrags.extend(remote_ufrag);
        }
    }

    /// session-accept (XEP-0166 §7.2.8): the answer settles rtcp-mux and the remote credentials,
    /// and checks start.
    pub(crate) fn on_session_accept(&mut self, now: SimTime, iq: &Element, j: &Element, me: &str) {
        let remote = self.read_remote(j);
        if let Some(text) = self.unknown_content(&remote) {
            // Gajim's handlers have already acked; the error follows for the same IQ id.
            // RFC 6120 §8.3.2: <text/> rides in the error next to the condition.
            let text = el("text", ns::STANZAS).append(text).build();
            self.send(endpoint_contract::xml::iq_error(
                iq,
                me,
                "modify",
                "bad-request",
                Some(text),
            ));
            return;
        }
        let Some(c) = self.call.as_mut() else { return };
        if !c.state.activate() {
            return;
        }
        let Some(jingle) = c.state.jingle_mut() else { return };
        jingle.remote_ufrags.extend(remote.ufrag.clone());
        // The answer settles rtcp-mux (RFC 5761), so the component count (RFC 8445
        // §6.1.2.2).
        jingle.rtcp_mux &= remote.rtcp_mux;
        let rtcp_mux = jingle.rtcp_mux;
        jingle.dtls_plan = dtls_plan(&remote);
        {
            let a = &mut jingle.ice;
            a.set_components(if rtcp_mux { 1 } else { 2 });
            a.set_remote_dtls(remote.fingerprint, remote.setup.as_deref());
            if let (Some(u), Some(p)) = (&remote.ufrag, &remote.pwd) {
                a.set_remote_credentials(u, p);
            }
            a.set_peer_renomination(remote.renomination);
            for cand in remote.candidates {
                a.add_remote_candidate(cand);
            }
            a.start(now);
        }
        if rtcp_mux {
            self.end_rtcp_gathering(now);
        } else if self.rtcp.is_none() {
            self.begin_rtcp_gathering(now);
            self.trickle(now);
        }
        self.claim(CallClaim::Accepted);
    }

    /// transport-info (XEP-0176 §5, RFC 8838): trickled candidates, or an ICE restart by the peer.
    pub(crate) fn on_transport_info(&mut self, now: SimTime, j: &Element) {
        let remote = self.read_remote(j);
        let restart = self.knobs.restart_on_each_trickled_candidate;
        let Some(call) = self.call.as_mut() else { return };
        let active = call.state.is_active();
        // A transport-info before the session exists is refused before it gets here.
        let Some(jingle) = call.state.jingle_mut() else { return };
        // Which ICE session the transport belongs to: its credentials say (RFC 8838 §8,
        // XEP-0176 §5).
        let creds = remote.ufrag.clone().zip(remote.pwd.clone());
        let current = jingle.remote_ufrags.last().cloned();
        let new_ufrag = creds.as_ref().filter(|(u, _)| current.as_ref() != Some(u));
        if new_ufrag.is_some_and(|(u, _)| jingle.remote_ufrags.contains(u)) {
            return; // candidates of an ICE session the peer has restarted since: stale
        }
        if let (Some((u, p)), true) = (new_ufrag.cloned(), active && !restart) {
            if current.is_some() {
                return self.remote_restart(now, &u, &p, remote.candidates);
            }
        }
        if let Some((u, p)) = new_ufrag {
            // An agent that starts over per transport-info takes the credentials it carries.
            if restart && current.is_some() {
                jingle.ice.set_remote_credentials(u, p);
            }
        }
        if let Some((u, _)) = new_ufrag {
            jingle.remote_ufrags.push(u.clone());
        }
        {
            let a = &mut jingle.ice;
            if restart && !remote.candidates.is_empty() {
                a.restart_with_remote_candidates(now, remote.candidates);
                // The remote list starts over: its candidates are asked TURN permissions
                // again (the client skips those it has), as no check leaves a relayed
                // candidate before its permission (RFC 8445 §7.2.1).
                jingle.permitted = 0;
                // chan_motif calls ice->start() on every transport it reads
                // (docs/field-failures.md §Firefox component 2 and per-candidate restarts): in
                // an answered call that includes the peer's answer to this side's own ICE
                // restart, which left the agent stopped (`start` is a no-op when running).
                if active {
                    a.start(now);
                }
            } else {
                // Trickled candidates join the checklist (RFC 8838 §11).
                for cand in remote.candidates {
                    a.add_remote_candidate(cand);
                }
            }
        }
    }

    /// The error that replaces the ack of a Jingle IQ-set `action` for `sid` from `from`, if it is
    /// refused (XEP-0166 §8):
    /// - a sid with no live call here → unknown-session (§6.7: also once this side terminated);
    /// - an action the session's state does not allow → out-of-order: anything but
    ///   session-initiate before the Jingle session exists (the sid is only known from JMI, or
    ///   this side's own session-initiate has not gone out yet), session-initiate for a session
    ///   that already exists or that this side proposed, session-accept at the responder, or a
    ///   second session-accept;
    /// - a session-initiate crossing this side's own pending one to the same peer and losing the
    ///   tie-break (a higher sid, §7.2.16) → tie-break. The winning one is acked and handled.
    pub(crate) fn refusal(&self, action: &str, sid: &str, from: &str) -> Option<signalling::JingleError> {
        use signalling::JingleError::{OutOfOrder, TieBreak, UnknownSession};
        let live = self.call.as_ref().filter(|c| !c.state.is_ended());
        let this = live.filter(|c| c.sid == sid);
        if action == "session-initiate" {
            // Glare is judged first: two random sids that happen to be equal are still glare,
            // settled by the JIDs.
            if let Some(c) = live.filter(|c| c.crosses(from)) {
                let theirs_wins = signalling::initiate_overrules((sid, from), (&c.sid, &self.cfg.jid));
                return (!theirs_wins).then_some(TieBreak);
            }
            return this
                .filter(|c| c.jingle_started() || c.side == Side::Initiator)
                .map(|_| OutOfOrder);
        }
        let Some(c) = this else {
            return Some(UnknownSession);
        };
        let out_of_order = match action {
            _ if !c.jingle_started() => true,
            "session-accept" => c.side == Side::Responder || c.state.is_active(),
            _ => false,
        };
        out_of_order.then_some(OutOfOrder)
    }

    /// Why a session-initiate must be refused with security-error, in Conversations' words
    /// (docs/field-failures.md §JMI propose and session-initiate media, §Missing DTLS fingerprint): its
    /// media differ from the JMI propose this side proceeded with, or a content has no DTLS
    /// fingerprint.
    pub(crate) fn security_error(&self, remote: &signalling::RemoteSession, after_jmi: bool) -> Option<String> {
        if after_jmi {
            let proposed = self.call.as_ref().map(|c| c.media.clone()).unwrap_or_default();
            let mut a = proposed.clone();
            let mut b = remote.media.clone();
            a.sort();
            b.sort();
            if a != b {
                return Some(format!(
                    "Your session proposal (Jingle Message Initiation) included media {a:?} but your session-initiate was {b:?}"
                ));
            }
        }
        remote
            .contents
            .iter()
            .find(|(_, _, fp)| !fp)
            .map(|(_, name, _)| format!("Use of DTLS-SRTP (XEP-0320) is required for content {name}"))
    }

    /// With `strict-creator`, the first content whose (creator, name) the session-initiate did not
    /// create, in Gajim's words: `Content NAME (created by CREATOR) does not exist`.
    pub(crate) fn unknown_content(&self, remote: &signalling::RemoteSession) -> Option<String> {
        if !self.knobs.strict_creator {
            return None;
        }
        let media = &self.call.as_ref()?.media;
        remote
            .contents
            .iter()
            .find(|(creator, name, _)| creator != "initiator" || !media.contains(name))
            .map(|(creator, name, _)| format!("Content {name} (created by {creator}) does not exist"))
    }
}

/// The session's DTLS-SRTP roles from the peer's offer or answer (XEP-0320 §3, RFC 8842 §5.3): this
/// side is the client unless the peer said `active`; an offerer's `actpass` leaves the answerer
/// (this side) active, and an answer that wrongly says `actpass` leaves this offerer active too,
/// so that one side starts the handshake. `None` when the peer signalled no fingerprint: no DTLS.
fn dtls_plan(remote: &signalling::RemoteSession) -> Option<crate::call::DtlsPlan> {
    remote.setup.as_ref().map(|s| crate::call::DtlsPlan {
        client: s != "active",
        peer_fingerprint: remote.fingerprint,
    })
}

/// The fingerprint and `setup` this side signals: none with `omit-fingerprint`; a stack's own
/// certificate and role when it does its own DTLS (a browser); else the session logic's own
/// fingerprint with `setup`. An ICE-only stack (libnice, aioice) gets the session logic's too, a
/// stand-in: peers that require DTLS-SRTP (the reference, XEP-0320) accept its calls, and the
/// handshake it cannot answer leaves its peer's media unjudged, not its ICE.
pub(crate) fn own_dtls(
    knobs: &Knobs,
    fingerprint: [u8; 32],
    agent: &dyn IceDriver,
    setup: Setup,
) -> Option<([u8; 32], Setup)> {
    (!knobs.omit_fingerprint).then(|| agent.local_dtls().unwrap_or((fingerprint, setup)))
}

impl ReferenceEndpoint {
    fn own_dtls(&self, agent: &dyn IceDriver, setup: Setup) -> Option<([u8; 32], Setup)> {
        own_dtls(&self.knobs, self.fingerprint, agent, setup)
    }
}
