//! STUN this agent receives: requests answered as an ICE server (RFC 8445 §7.3: triggered checks,
//! peer-reflexive candidates, role conflicts, nominations received) and responses to its checks
//! (§7.2.5: the valid list, symmetric addresses, role-conflict errors).

use super::*;
impl IceAgent {
    /// Handles a datagram that arrived on `local` from `remote`. Returns false when it is not STUN for
    /// this agent (the caller then treats it as media).
    pub fn handle_packet(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> bool {
        if !stun_codec::is_stun(data) {
            return false;
        }
        let Ok(msg) = Message::decode(data) else { return true };
        if msg.method != method::BINDING {
            return false;
        }
        match msg.class {
            Class::Request => self.handle_request(now, local, remote, &msg),
            Class::Success | Class::Error => self.handle_response(now, local, remote, &msg),
            Class::Indication => {} // keepalive (§11)
        }
        self.note_sent(now);
        true
    }

    pub(crate) fn reply(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
        class: Class,
        attrs: &[Attribute],
        integrity: bool,
    ) {
        let mut b = MessageBuilder::new(method::BINDING, class, msg.transaction_id);
        for a in attrs {
            b = b.attr(a);
        }
        let key = self.local_pwd.clone();
        let payload = b.build(integrity.then_some(key.as_bytes()), true);
        self.transmits.push_back(Transmit { local, remote, payload });
    }

    pub(crate) fn error(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
        code: u16,
        reason: &str,
        integrity: bool,
    ) {
        let e = Attribute::ErrorCode(ErrorCode {
            code,
            reason: reason.into(),
        });
        self.reply(local, remote, msg, Class::Error, &[e], integrity);
    }

    pub(crate) fn handle_request(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, msg: &Message) {
        // RFC 5389 §10.1.2: missing USERNAME or MESSAGE-INTEGRITY → 400; wrong → 401.
        let Some(Ok(Attribute::Username(user))) = msg.get(attr_type::USERNAME) else {
            return self.error(local, remote, msg, 400, "Bad Request", false);
        };
        let ours = user
            .strip_prefix(self.local_ufrag.as_str())
            .is_some_and(|rest| rest.starts_with(':'));
        if !ours || !msg.verify_integrity(self.local_pwd.as_bytes()) {
            return self.error(local, remote, msg, 401, "Unauthorized", false);
        }
        let mut unknown = msg.unknown_comprehension_required();
        if msg.has(attr_type::NOMINATION_RENOMINATION2) && !self.comprehends_0x0030() {
            // The codec knows 0x0030, this agent does not implement renomination2
            // (draft-thatcher-tsvwg-renomination-00).
            unknown.push(attr_type::NOMINATION_RENOMINATION2);
        }
        if !unknown.is_empty() {
            let attrs = [
                Attribute::ErrorCode(ErrorCode {
                    code: 420,
                    reason: "Unknown Attribute".into(),
                }),
                Attribute::UnknownAttributes(unknown),
            ];
            return self.reply(local, remote, msg, Class::Error, &attrs, true);
        }
        // Role conflict, §7.3.1.1.
        let theirs = match (msg.get(attr_type::ICE_CONTROLLING), msg.get(attr_type::ICE_CONTROLLED)) {
            (Some(Ok(Attribute::IceControlling(t))), _) => Some((Role::Controlling, t)),
            (_, Some(Ok(Attribute::IceControlled(t)))) => Some((Role::Controlled, t)),
            _ => None,
        };
        if let Some((their_role, their_tb)) = theirs {
            if their_role == self.role {
                let i_win = self.tiebreaker >= their_tb;
                match (self.role, i_win) {
                    (Role::Controlling, true) | (Role::Controlled, false) => {
                        return self.error(local, remote, msg, 487, "Role Conflict", true);
                    }
                    _ => self.switch_role(),
                }
            }
        }
        self.reply(
            local,
            remote,
            msg,
            Class::Success,
            &[Attribute::XorMappedAddress(remote)],
            true,
        );

        if self.session.dormant {
            return;
        }
        // Triggered check, §7.3.1.4: learn a peer-reflexive remote candidate if needed.
        let Some(li) = self
            .local
            .iter()
            .position(|c| c.base == local && matches!(c.typ, CandidateType::Host | CandidateType::Relayed))
        else {
            return;
        };
        let component = self.local[li].component;
        let ri = match self
            .session
            .remote
            .iter()
            .position(|r| r.addr == remote && r.component == component)
        {
            Some(ri) => ri,
            // Answered above; the source is neither learned nor checked.
            None if !self.cfg.pair_remote_prflx => return,
            None => {
                let prio = match msg.get(attr_type::PRIORITY) {
                    Some(Ok(Attribute::Priority(p))) => p,
                    _ => priority(CandidateType::PeerReflexive, 65535, 1),
                };
                self.prflx_count += 1;
                self.session.remote.push(Candidate {
                    addr: remote,
                    base: remote,
                    typ: CandidateType::PeerReflexive,
                    priority: prio,
                    foundation: format!("prflx{}", self.prflx_count),
                    component,
                });
                self.session.remote.len() - 1
            }
        };
        let Some(p) = self
            .session
            .pairs
            .iter()
            .position(|q| self.local[q.local].base == local && q.remote == ri)
            .or_else(|| self.add_pair(li, ri))
        else {
            return;
        };
        // 0xC001 counts as a nomination when renomination was negotiated both ways, or by tolerance.
        let c001_negotiated = self.offers_renomination() && self.peer_renomination;
        let c001 = msg.has(attr_type::NOMINATION_LEGACY) && (self.cfg.accept_c001_as_use_candidate || c001_negotiated);
        let value = match (
            msg.get(attr_type::NOMINATION_RENOMINATION2),
            msg.get(attr_type::NOMINATION_LEGACY),
        ) {
            (Some(Ok(Attribute::NominationRenomination2(v))), _) if self.comprehends_0x0030() => Some(v),
            (_, Some(Ok(Attribute::NominationLegacy(v)))) if c001_negotiated => Some(v),
            _ => None,
        };
        let use_candidate =
            (msg.has(attr_type::USE_CANDIDATE) || c001 || value.is_some()) && self.role == Role::Controlled;
        let follow = self.renomination_in_force();
        let takes = use_candidate
            && if follow {
                // The largest value wins and any value beats none; a USE-CANDIDATE without a value
                // counts only before anything was selected (draft-thatcher-ice-renomination-01
                // §3–§4, draft-thatcher-tsvwg-renomination-00).
                match (value, self.session.highest_nomination) {
                    (Some(v), Some(h)) => v > h,
                    (Some(_), None) => true,
                    (None, h) => h.is_none() && self.session.selected[slot(component)].is_none(),
                }
            } else {
                self.session.selected[slot(component)].is_none()
            };
        if takes && follow {
            self.session.highest_nomination = value.or(self.session.highest_nomination);
            for q in self.session.pairs.iter_mut() {
                q.nominate_on_success = false;
            }
        }
        if takes && self.session.pairs[p].state == PairState::Succeeded {
            self.select_or_renominate(now, p);
            return;
        }
        if !follow
            && self
                .session
                .completed_at
                .is_some_and(|c| now >= c + QUIET_AFTER_COMPLETED)
        {
            // §8.1.2: three seconds after Completed an agent may stop generating triggered checks;
            // it keeps answering. Under renomination a later path may still be nominated.
            return;
        }
        match self.session.pairs[p].state {
            PairState::Succeeded => return,
            PairState::InProgress => {
                let window = now + self.cfg.rto * self.cfg.final_wait;
                for t in self.session.transactions.iter_mut().filter(|t| t.pair == p) {
                    t.cancelled = true;
                    t.next = window;
                }
                self.session.pairs[p].state = PairState::Waiting;
                self.enqueue_triggered(now, p);
            }
            // pjnath: no triggered check for a Failed pair, and it stays off the valid list, so a
            // nomination on it is lost too (a deviation from §7.3.1.4).
            PairState::Failed if !self.cfg.retrigger_failed_pairs => return,
            PairState::Waiting | PairState::Frozen | PairState::Failed => {
                self.session.pairs[p].state = PairState::Waiting;
                self.enqueue_triggered(now, p);
            }
        }
        if takes {
            self.session.pairs[p].nominate_on_success = true;
        }
    }

    pub(crate) fn enqueue_triggered(&mut self, now: SimTime, p: usize) {
        if !self.session.triggered.iter().any(|t| t.pair == p) {
            self.session.triggered.push_back(Triggered {
                pair: p,
                nominate: false,
            });
        }
        if self.session.started_at.is_some() && self.session.next_check.is_none() {
            // Paced like every new check: Ta after the last one (RFC 8445 §14.2).
            self.session.next_check = Some(self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now)));
        }
    }

    pub(crate) fn switch_role(&mut self) {
        self.role = match self.role {
            Role::Controlling => Role::Controlled,
            Role::Controlled => Role::Controlling,
        };
        for i in 0..self.session.pairs.len() {
            self.session.pairs[i].priority =
                self.compute_priority(self.session.pairs[i].local, self.session.pairs[i].remote);
        }
    }

    pub(crate) fn handle_response(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr, msg: &Message) {
        if let Some(k) = self
            .session
            .consent_pending
            .iter()
            .position(|t| t.0 == msg.transaction_id)
        {
            return self.consent_response(now, k, local, remote, msg);
        }
        let Some(k) = self
            .session
            .transactions
            .iter()
            .position(|t| t.txid == msg.transaction_id)
        else {
            return;
        };
        let Some(pwd) = self.remote_pwd.clone() else { return };
        if !msg.verify_integrity(pwd.as_bytes()) {
            return; // dropped as if never received (RFC 5389 §10.1.3)
        }
        let tx = self.session.transactions.remove(k);
        let p = tx.pair;
        if self.pair_addrs(p) != (local, remote) {
            // Non-symmetric, §7.2.5.2.1.
            self.session.pairs[p].state = PairState::Failed;
            return;
        }
        if msg.class == Class::Error {
            if let Some(Ok(Attribute::ErrorCode(e))) = msg.get(attr_type::ERROR_CODE) {
                if e.code == 487 {
                    // §7.2.5.1: switch role, new tiebreaker, recheck.
                    self.switch_role();
                    self.tiebreaker = self.rng.next_u64();
                    self.session.pairs[p].state = PairState::Waiting;
                    self.session.triggered.push_back(Triggered {
                        pair: p,
                        nominate: false,
                    });
                    return;
                }
                let lists_0030 = matches!(msg.get(attr_type::UNKNOWN_ATTRIBUTES),
                    Some(Ok(Attribute::UnknownAttributes(l))) if l.contains(&attr_type::NOMINATION_RENOMINATION2));
                if e.code == 420 && lists_0030 && self.cfg.nomination == Nomination::Renomination2 && tx.use_candidate {
                    // The transaction failed (RFC 8489 §7.3.4), not the path: the peer advertised
                    // renomination but speaks only the legacy flavour, so nominate again with 0xC001.
                    self.peer_lacks_0x0030 = true;
                    self.session.nominating = None;
                    self.nominate(now, p);
                    return;
                }
            }
            self.pair_failed(p);
            self.session.pairs[p].state = PairState::Failed;
            return;
        }
        self.session.pairs[p].state = PairState::Succeeded;
        if !self.session.pairs[p].consent_lost {
            self.session.pairs[p].consent_at = Some(now);
        }
        if self.session.first_valid_at.is_none() {
            self.session.first_valid_at = Some(now);
        }
        // §7.2.5.3.3: unfreeze pairs with the same foundation.
        let f = self.session.pairs[p].foundation.clone();
        for q in self
            .session
            .pairs
            .iter_mut()
            .filter(|q| q.foundation == f && q.state == PairState::Frozen)
        {
            q.state = PairState::Waiting;
        }
        // Controlling: our USE-CANDIDATE check succeeded. Controlled: the peer nominated this pair before
        // our own check on it succeeded (§7.3.1.5).
        let nominated = match self.role {
            Role::Controlling => tx.use_candidate,
            Role::Controlled => self.session.pairs[p].nominate_on_success,
        };
        if nominated {
            self.session.pairs[p].nominate_on_success = false;
            self.select_or_renominate(now, p);
            if self.session.nominating == Some(p) && self.renomination_in_force() {
                // This nomination is done; a better pair may be nominated next.
                self.session.nominating = None;
            }
        }
        if self.role == Role::Controlling && self.session.nominating.is_none() && !self.complete() {
            self.maybe_nominate(now);
        }
        self.maybe_renominate(now);
    }
}
