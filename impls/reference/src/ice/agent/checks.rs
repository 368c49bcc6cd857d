//! The checklist and the checks this agent sends: pairs formed and ordered (RFC 8445 §6.1.2),
//! paced by Ta (§14.2), retransmitted and timed out (RFC 8489 §6.2.1), failure under the PAC bound
//! (RFC 8863 §4).

use super::*;
impl IceAgent {
    pub(crate) fn compute_priority(&self, li: usize, ri: usize) -> u64 {
        let (l, r) = (self.local[li].priority, self.session.remote[ri].priority);
        match self.role {
            Role::Controlling => pair_priority(l, r),
            Role::Controlled => pair_priority(r, l),
        }
    }

    pub(crate) fn add_pair(&mut self, li: usize, ri: usize) -> Option<usize> {
        let (l, r) = (&self.local[li], &self.session.remote[ri]);
        if l.component != r.component || l.component > self.components || l.base.is_ipv4() != r.addr.is_ipv4() {
            return None;
        }
        let base = l.base;
        if let Some(i) = self
            .session
            .pairs
            .iter()
            .position(|p| self.local[p.local].base == base && p.remote == ri)
        {
            return Some(i); // pruned: same base and remote (§6.1.2.4)
        }
        let foundation = format!("{}:{}", l.foundation, r.foundation);
        let prio = self.compute_priority(li, ri);
        // A new pair is Waiting if checks are running and nothing of its foundation is under way;
        // otherwise Frozen (RFC 8838 §12 for pairs added while checking).
        let state = if self.session.started_at.is_some()
            && !self
                .session
                .pairs
                .iter()
                .any(|p| p.foundation == foundation && p.state != PairState::Failed)
        {
            PairState::Waiting
        } else {
            PairState::Frozen
        };
        self.session.pairs.push(Pair {
            local: li,
            remote: ri,
            priority: prio,
            state,
            foundation,
            nominate_on_success: false,
            consent_at: None,
            consent_lost: false,
        });
        if let Some(now) = self.session.started_at {
            if self.session.next_check.is_none() {
                self.session.next_check = Some(now);
            }
        }
        Some(self.session.pairs.len() - 1)
    }

    /// Pairs by descending priority; ties by creation order, so the order is deterministic.
    pub(crate) fn ordered(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.session.pairs.len()).collect();
        idx.sort_by(|a, b| {
            self.session.pairs[*b]
                .priority
                .cmp(&self.session.pairs[*a].priority)
                .then(a.cmp(b))
        });
        idx
    }

    /// RFC 8445 §6.1.2.6: per foundation, the highest-priority pair (lowest component) goes Waiting.
    pub(crate) fn unfreeze_initial(&mut self) {
        let mut seen: Vec<String> = Vec::new();
        for i in self.ordered() {
            if self.session.pairs[i].state == PairState::Frozen && !seen.contains(&self.session.pairs[i].foundation) {
                seen.push(self.session.pairs[i].foundation.clone());
                self.session.pairs[i].state = PairState::Waiting;
            }
        }
    }

    /// Drives timers: retransmissions, the next paced check, nomination, failure.
    pub fn handle_timeout(&mut self, now: SimTime) {
        if matches!(self.state, IceState::Closed | IceState::Failed) {
            return;
        }
        self.retransmit(now);
        if self.role == Role::Controlling && self.session.nominating.is_none() && !self.complete() {
            self.maybe_nominate(now);
        }
        self.maybe_renominate(now);
        if let Some(t) = self.session.next_check {
            if t <= now && self.remote_pwd.is_some() {
                if self.send_next_check(now) {
                    self.session.next_check = Some(now + self.cfg.ta);
                } else {
                    // Nothing to check: the next trigger re-arms pacing.
                    self.session.next_check = Some(now + self.cfg.ta).filter(|_| self.has_check_work());
                }
            }
        }
        self.maybe_fail(now);
        self.consent_tick(now);
        self.note_sent(now);
        self.keepalive(now);
    }

    pub(crate) fn retransmit(&mut self, now: SimTime) {
        let mut k = 0;
        while k < self.session.transactions.len() {
            let tx = &mut self.session.transactions[k];
            if tx.next > now {
                k += 1;
                continue;
            }
            if tx.cancelled {
                // Its window for a late response is over; its silence is not failure (§7.3.1.4).
                self.session.transactions.remove(k);
                continue;
            }
            if tx.sends >= self.cfg.max_sends {
                let tx = self.session.transactions.remove(k);
                self.pair_failed(tx.pair);
                continue;
            }
            tx.sends += 1;
            tx.next = match self.cfg.check_interval {
                Some(interval) => now + interval,
                None if tx.sends >= self.cfg.max_sends => now + self.cfg.rto * self.cfg.final_wait,
                None => now + self.cfg.rto * (1 << (tx.sends - 1)),
            };
            let (pair, payload) = (tx.pair, tx.request.clone());
            let (local, remote) = self.pair_addrs(pair);
            self.transmits.push_back(Transmit { local, remote, payload });
            k += 1;
        }
    }

    pub(crate) fn pair_failed(&mut self, p: usize) {
        if self.session.pairs[p].state == PairState::InProgress {
            self.session.pairs[p].state = PairState::Failed;
        }
        if self.session.nominating == Some(p) {
            // §8.1.1: a failed nomination check removes the pair from the valid list.
            self.session.nominating = None;
            self.session.pairs[p].state = PairState::Failed;
        }
    }

    pub(crate) fn send_next_check(&mut self, now: SimTime) -> bool {
        if self.remote_pwd.is_none() {
            return false;
        }
        // A relayed pair waits for its TURN permission; the queue keeps its order.
        if let Some(k) = self.session.triggered.iter().position(|t| self.sendable(t.pair)) {
            let Triggered { pair: p, nominate } = self.session.triggered.remove(k).expect("found");
            self.send_check(now, p, nominate);
            return true;
        }
        let order = self.ordered();
        let waiting = order
            .iter()
            .copied()
            .find(|&i| self.session.pairs[i].state == PairState::Waiting && self.sendable(i));
        let pick =
            waiting.or_else(|| {
                // §6.1.4.2: nothing Waiting: unfreeze a Frozen pair whose foundation has nothing in flight.
                order.iter().copied().find(|&i| {
                    let f = &self.session.pairs[i].foundation;
                    self.sendable(i)
                        && self.session.pairs[i].state == PairState::Frozen
                        && !self.session.pairs.iter().any(|q| {
                            &q.foundation == f && matches!(q.state, PairState::Waiting | PairState::InProgress)
                        })
                })
            });
        match pick {
            Some(p) => {
                self.send_check(now, p, false);
                true
            }
            None => false,
        }
    }

    pub(crate) fn send_check(&mut self, now: SimTime, p: usize, use_candidate: bool) {
        self.last_check_at = Some(now);
        let use_candidate =
            use_candidate || (self.cfg.nomination == Nomination::Aggressive && self.role == Role::Controlling);
        let Some((txid, request)) = self.check_request(p, use_candidate) else {
            return;
        };
        let (local, remote) = self.pair_addrs(p);
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload: request.clone(),
        });
        if self.session.pairs[p].state != PairState::Succeeded {
            self.session.pairs[p].state = PairState::InProgress;
        }
        self.session.transactions.push(Transaction {
            txid,
            pair: p,
            request,
            sends: 1,
            next: now + self.cfg.check_interval.unwrap_or(self.cfg.rto),
            use_candidate,
            cancelled: false,
        });
    }

    /// A connectivity check on pair `p` (RFC 8445 §7.2.2): USERNAME, PRIORITY, the role attribute,
    /// the nomination marking when `use_candidate`, MESSAGE-INTEGRITY with the peer's pwd and
    /// FINGERPRINT; with its new transaction id. `None` before the peer's credentials are known.
    pub(crate) fn check_request(&mut self, p: usize, use_candidate: bool) -> Option<([u8; 12], Vec<u8>)> {
        let (Some(ru), Some(rp)) = (self.remote_ufrag.clone(), self.remote_pwd.clone()) else {
            return None;
        };
        let mut txid = [0u8; 12];
        self.rng.fill(&mut txid);
        let l = &self.local[self.session.pairs[p].local];
        // PRIORITY is the local candidate's priority as if it were peer-reflexive (§7.1.1).
        let prio = priority(
            CandidateType::PeerReflexive,
            ((l.priority >> 8) & 0xFFFF) as u16,
            l.component,
        );
        let mut b = MessageBuilder::new(method::BINDING, Class::Request, txid)
            .attr(&Attribute::Username(
                [ru.as_str(), ":", self.local_ufrag.as_str()].concat(),
            ))
            .attr(&Attribute::Priority(prio))
            .attr(&match self.role {
                Role::Controlling => Attribute::IceControlling(self.tiebreaker),
                Role::Controlled => Attribute::IceControlled(self.tiebreaker),
            });
        if use_candidate {
            let renomination2 = !self.peer_lacks_0x0030 && self.peer_renomination;
            let marking = match self.cfg.nomination {
                Nomination::UseCandidate | Nomination::Aggressive => Marking::UseCandidate,
                Nomination::C001Always => Marking::C001,
                Nomination::C001Negotiated if self.peer_renomination => Marking::C001,
                Nomination::C001Negotiated => Marking::UseCandidate,
                Nomination::Renomination2 if renomination2 => Marking::With0030,
                Nomination::Renomination2 if self.peer_renomination => Marking::C001,
                Nomination::Renomination2 => Marking::UseCandidate,
                Nomination::Renomination2Always => Marking::With0030,
            };
            match marking {
                Marking::UseCandidate => b = b.attr(&Attribute::UseCandidate),
                Marking::C001 => {
                    // libwebrtc sends NOMINATION instead of, never with, USE-CANDIDATE
                    // (p2p/base/p2p_transport_channel.cc, `PingConnection`).
                    self.nomination_counter += 1;
                    b = b.attr(&Attribute::NominationLegacy(self.nomination_counter));
                }
                Marking::With0030 => {
                    // renomination2 keeps USE-CANDIDATE and adds a strictly increasing value
                    // (draft-thatcher-tsvwg-renomination-00); a retransmission repeats the same
                    // bytes, so the same value.
                    self.nomination_counter += 1;
                    b = b
                        .attr(&Attribute::UseCandidate)
                        .attr(&Attribute::NominationRenomination2(self.nomination_counter));
                }
            }
        }
        Some((txid, b.build(Some(rp.as_bytes()), true)))
    }

    pub(crate) fn maybe_fail(&mut self, now: SimTime) {
        let Some(s) = self.session.started_at else { return };
        if self.complete() || now < s + self.cfg.pac {
            return;
        }
        // RFC 8445 §6.1.2.6: the checklist fails when a component has no valid pair and nothing
        // left to try.
        let hopeless = |c: u8| {
            let of_c = |p: usize| self.component_of(p) == c;
            let in_flight = self.session.transactions.iter().any(|t| !t.cancelled && of_c(t.pair));
            let pending = (0..self.session.pairs.len()).any(|p| {
                of_c(p)
                    && matches!(
                        self.session.pairs[p].state,
                        PairState::Waiting | PairState::Frozen | PairState::InProgress | PairState::Succeeded
                    )
            });
            !in_flight && !pending
        };
        if (1..=self.components).any(|c| self.session.selected[slot(c)].is_none() && hopeless(c)) {
            self.session.transactions.clear();
            self.session.next_check = None;
            self.set_state(IceState::Failed);
        } else {
            self.session.pac_passed = true;
        }
    }
}
