//! Nomination and selection (RFC 8445 §8.1): the controlling agent nominates, regular or
//! under negotiated renomination (draft-thatcher-ice-renomination-01, 0xC001; renomination2's
//! 0x0030), and each component's pair is selected, or moved under renomination.

use super::*;
impl IceAgent {
    /// Whether renomination is in force: the controlling agent may nominate a better pair later and
    /// the controlled agent follows the highest NOMINATION value (draft-thatcher-ice-renomination-01
    /// §3–§4; draft-thatcher-tsvwg-renomination-00; libwebrtc p2p/base/p2p_transport_channel.cc
    /// `PingConnection`). Negotiated through `<renomination/>` both ways, except for
    /// `Renomination2Always`, which assumes it.
    pub(crate) fn renomination_in_force(&self) -> bool {
        match self.cfg.nomination {
            Nomination::C001Negotiated | Nomination::Renomination2 => self.peer_renomination,
            Nomination::Renomination2Always => true,
            _ => false,
        }
    }

    /// Whether this agent implements renomination2's NOMINATION 0x0030; without it the attribute is
    /// an unknown comprehension-required one (RFC 8489 §7.3.1: 420).
    pub(crate) fn comprehends_0x0030(&self) -> bool {
        matches!(
            self.cfg.nomination,
            Nomination::Renomination2 | Nomination::Renomination2Always
        )
    }

    /// The controlling agent's stopping point (RFC 8445 §8.1.1), for the first component without a
    /// selected pair: nominate its best valid pair once every pair of the component is done, the
    /// component's best pair is valid, or the nomination delay has passed since the first valid
    /// pair.
    pub(crate) fn maybe_nominate(&mut self, now: SimTime) {
        let Some(c) = (1..=self.components).find(|&c| self.session.selected[slot(c)].is_none()) else {
            return;
        };
        let order: Vec<usize> = self
            .ordered()
            .into_iter()
            .filter(|&i| self.component_of(i) == c)
            .collect();
        let valid: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| self.session.pairs[i].state == PairState::Succeeded)
            .collect();
        let Some(&best_valid) = valid.first() else { return };
        let all_done = order
            .iter()
            .all(|&i| matches!(self.session.pairs[i].state, PairState::Succeeded | PairState::Failed));
        let best_overall_valid = order.first() == Some(&best_valid);
        let waited = self
            .session
            .first_valid_at
            .is_some_and(|f| now >= f + self.cfg.nomination_delay);
        if all_done || best_overall_valid || waited {
            self.nominate(now, best_valid);
        }
    }

    /// Regular nomination (§8.1.1): repeat the check that produced the valid pair `p`, marked as a
    /// nomination, ahead of everything else, paced Ta after the last check.
    pub(crate) fn nominate(&mut self, now: SimTime, p: usize) {
        self.session.nominating = Some(p);
        self.session.triggered.push_front(Triggered {
            pair: p,
            nominate: true,
        });
        let due = self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now));
        if due <= now {
            self.send_next_check(now);
            self.session.next_check = Some(now + self.cfg.ta);
        } else {
            self.session.next_check = Some(due);
        }
    }

    /// Renomination, controlling side: once a pair is selected, a valid pair of higher priority is
    /// nominated again with a higher NOMINATION value (libwebrtc switches its selected connection
    /// and increments its counter, p2p/base/p2p_transport_channel.cc; renomination2,
    /// draft-thatcher-tsvwg-renomination-00). One nomination at a time.
    pub(crate) fn maybe_renominate(&mut self, now: SimTime) {
        if self.role != Role::Controlling || !self.renomination_in_force() || self.session.nominating.is_some() {
            return;
        }
        let Some(s) = self.session.selected[0] else { return };
        let floor = self.session.pairs[s].priority;
        let better = self
            .ordered()
            .into_iter()
            .find(|&i| self.session.pairs[i].state == PairState::Succeeded && self.component_of(i) == 1)
            .filter(|&i| self.session.pairs[i].priority > floor);
        if let Some(p) = better {
            self.nominate(now, p);
        }
    }

    /// The first selection of `p`'s component (RFC 8445 §8.1.1–§8.1.2): records it, stops the checks
    /// that no longer matter, and completes the agent when every component has one.
    pub(crate) fn select_first(&mut self, now: SimTime, p: usize) {
        let c = self.component_of(p);
        if self.session.selected[slot(c)].is_some() {
            return;
        }
        self.session.selected[slot(c)] = Some(p);
        self.session.selected_sent_at[slot(c)] = Some(now);
        let complete = self.complete();
        if self.session.nominating == Some(p) && !complete {
            // The next component's nomination may go.
            self.session.nominating = None;
        }
        // §8.1.2: once a component has a selected pair, stop checking the others. Under best-valid,
        // RFC 5245 §8.1.2 as pjnath reads it: In-Progress checks of higher priority go on. Under
        // renomination both agents keep checking every pair of higher priority, so a better path
        // that opens later becomes valid and can be nominated (libwebrtc keeps pinging its other
        // connections on both sides: p2p/base/p2p_transport_channel.cc).
        // Another component's pairs go on as they were.
        let floor = self.session.pairs[p].priority;
        let keep_higher = self.cfg.pair_selection == PairSelection::BestValid;
        let renominates = self.renomination_in_force();
        let other: Vec<bool> = (0..self.session.pairs.len())
            .map(|q| self.component_of(q) != c)
            .collect();
        let pairs = &self.session.pairs;
        let goes_on = |q: usize| {
            other[q]
                || pairs[q].priority > floor
                    && match pairs[q].state {
                        PairState::InProgress => keep_higher || renominates,
                        PairState::Waiting | PairState::Frozen => renominates,
                        _ => false,
                    }
        };
        self.session
            .transactions
            .retain(|t| t.pair == p || (!t.cancelled && goes_on(t.pair)) || other[t.pair]);
        let going_on: Vec<bool> = (0..self.session.pairs.len()).map(goes_on).collect();
        self.session
            .triggered
            .retain(|t| other[t.pair] || (renominates && !t.nominate && going_on[t.pair]));
        for (i, q) in self.session.pairs.iter_mut().enumerate() {
            if i != p
                && !going_on[i]
                && matches!(q.state, PairState::Waiting | PairState::Frozen | PairState::InProgress)
            {
                q.state = PairState::Failed;
            }
        }
        let paced = Some(self.last_check_at.map_or(now, |t| (t + self.cfg.ta).max(now)));
        self.session.next_check = None;
        if (renominates || !complete) && self.has_check_work() {
            self.session.next_check = paced;
        }
        let (local, remote) = self.pair_addrs(p);
        self.events.push_back(IceEvent::Selected {
            component: c,
            local,
            remote,
        });
        if complete {
            self.session.completed_at = Some(now);
            self.set_state(IceState::Completed);
        }
    }

    /// Selects `p`, or, once a pair is selected and renomination is in force, moves the selection
    /// to `p` (draft-thatcher-ice-renomination-01 §3: the last, highest nomination wins). Without
    /// renomination the first selection stands (RFC 8445 §8.1.1).
    pub(crate) fn select_or_renominate(&mut self, now: SimTime, p: usize) {
        let c = self.component_of(p);
        match self.session.selected[slot(c)] {
            None => self.select_first(now, p),
            Some(s) if s != p && self.renomination_in_force() => {
                self.session.selected[slot(c)] = Some(p);
                self.session.selected_sent_at[slot(c)] = Some(now);
                let (local, remote) = self.pair_addrs(p);
                self.events.push_back(IceEvent::Selected {
                    component: c,
                    local,
                    remote,
                });
            }
            Some(_) => {}
        }
    }
}
