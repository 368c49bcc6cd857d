//! Keeping a selected pair alive and wanted: keepalives on each component's selected pair
//! (RFC 8445 §11) and consent freshness on the pair media uses (RFC 7675 §5).

use super::*;
impl IceAgent {
    /// While consent is kept on a pair: when its next consent check goes (paced like every new
    /// check, RFC 8445 §14.2) and when consent expires without a fresh response (RFC 7675 §5.1).
    pub(crate) fn consent_due(&self) -> Option<(SimTime, SimTime)> {
        let (p, next) = self.session.consent?;
        if self.session.pairs[p].consent_lost || matches!(self.state, IceState::Closed | IceState::Failed) {
            return None;
        }
        let paced = self.last_check_at.map_or(next, |t| next.max(t + self.cfg.ta));
        let expiry = self.session.pairs[p].consent_at? + CONSENT_EXPIRY;
        Some((paced, expiry))
    }

    /// RFC 7675 §5.1: a consent check on the pair in use when due (a Binding request with the
    /// session's short-term credentials and a new transaction id, sent once), and consent lost
    /// when no valid response came for 30 s.
    pub(crate) fn consent_tick(&mut self, now: SimTime) {
        let Some((next, expiry)) = self.consent_due() else {
            return;
        };
        let Some((p, _)) = self.session.consent else { return };
        if now >= expiry {
            return self.lose_consent(p);
        }
        if now < next {
            return;
        }
        let Some((txid, request)) = self.check_request(p, false) else {
            return;
        };
        self.last_check_at = Some(now);
        let (local, remote) = self.pair_addrs(p);
        self.transmits.push_back(Transmit {
            local,
            remote,
            payload: request,
        });
        // A response later than the expiry no longer counts, so older entries can go.
        self.session
            .consent_pending
            .retain(|(_, _, at)| now < *at + CONSENT_EXPIRY);
        self.session.consent_pending.push((txid, p, now));
        let wait = self.rng.range(CONSENT_INTERVAL_US.0, CONSENT_INTERVAL_US.1);
        self.session.consent = Some((p, now + Duration::from_micros(wait)));
    }

    /// Consent on pair `p` is gone: its outstanding consent transactions are discarded (RFC 7675
    /// §5.1), no media goes there, and the owner hears of it.
    pub(crate) fn lose_consent(&mut self, p: usize) {
        if self.session.pairs[p].consent_lost {
            return;
        }
        self.session.pairs[p].consent_lost = true;
        self.session.consent_pending.retain(|(_, q, _)| *q != p);
        let (local, remote) = self.pair_addrs(p);
        self.events.push_back(IceEvent::ConsentLost { local, remote });
        if self.session.selected[0] == Some(p) || self.session.consent.is_some_and(|(q, _)| q == p) {
            self.set_state(IceState::Disconnected);
        }
    }

    /// When the next keepalive is due on a selected pair: Tr after the last packet sent on it
    /// (RFC 8445 §11), the earliest over the components. Nothing is due before every component
    /// has its selected pair or once the agent stopped.
    pub(crate) fn keepalive_due(&self) -> Option<SimTime> {
        (1..=self.components).filter_map(|c| self.keepalive_due_for(c)).min()
    }

    /// [`IceAgent::keepalive_due`] for one component.
    pub(crate) fn keepalive_due_for(&self, component: u8) -> Option<SimTime> {
        if self.state != IceState::Completed {
            return None;
        }
        self.session.selected_sent_at[slot(component)].map(|t| t + self.cfg.keepalive)
    }

    /// The owner sent media from `local` to `remote` at `now`: on the selected pair it resets the
    /// keepalive clock, since any packet keeps the NAT bindings open (RFC 8445 §11).
    ///
    /// Consent freshness starts on the pair the first time media goes there, and follows the
    /// media to another pair (RFC 7675 §5.1: consent is kept on the pair data is sent on).
    pub fn media_sent(&mut self, now: SimTime, local: SocketAddr, remote: SocketAddr) {
        if self.session.selected[0].is_some_and(|p| self.pair_addrs(p) == (local, remote)) {
            self.session.selected_sent_at[0] = Some(now);
        }
        if !self.cfg.consent_freshness
            || self
                .session
                .consent
                .is_some_and(|(p, _)| self.pair_addrs(p) == (local, remote))
        {
            return;
        }
        if let Some(p) = self
            .media_pair_index()
            .filter(|&p| self.pair_addrs(p) == (local, remote))
        {
            let wait = self.rng.range(CONSENT_INTERVAL_US.0, CONSENT_INTERVAL_US.1);
            self.session.consent = Some((p, now + Duration::from_micros(wait)));
        }
    }

    /// Whatever was queued for a selected pair by this input counts as sent on it now.
    pub(crate) fn note_sent(&mut self, now: SimTime) {
        for k in 0..self.session.selected.len() {
            let Some(p) = self.session.selected[k] else { continue };
            let addrs = self.pair_addrs(p);
            if self.transmits.iter().any(|t| (t.local, t.remote) == addrs) {
                self.session.selected_sent_at[k] = Some(now);
            }
        }
    }

    /// RFC 8445 §11: a Binding indication, FINGERPRINT only (no authentication, no other
    /// attributes), on each selected pair when nothing went out on it for Tr.
    pub(crate) fn keepalive(&mut self, now: SimTime) {
        for c in 1..=self.components {
            let (Some(p), Some(due)) = (self.session.selected[slot(c)], self.keepalive_due_for(c)) else {
                continue;
            };
            if now < due {
                continue;
            }
            let mut txid = [0u8; 12];
            self.rng.fill(&mut txid);
            let payload = MessageBuilder::new(method::BINDING, Class::Indication, txid).build(None, true);
            let (local, remote) = self.pair_addrs(p);
            self.transmits.push_back(Transmit { local, remote, payload });
            self.session.selected_sent_at[slot(c)] = Some(now);
        }
    }

    /// The response to consent check `k` of `consent_pending`, arrived on `local` from `remote`
    /// (RFC 7675 §5): an authenticated success from the checked address refreshes consent on the
    /// pair; an authenticated 403 revokes it at once (§5.2). Anything unauthenticated is dropped
    /// as never received (RFC 5389 §10.1.3), so it neither refreshes nor revokes.
    pub(crate) fn consent_response(
        &mut self,
        now: SimTime,
        k: usize,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
    ) {
        let Some(pwd) = self.remote_pwd.as_deref() else { return };
        if !msg.verify_integrity(pwd.as_bytes()) {
            return;
        }
        let (_, p, _) = self.session.consent_pending.remove(k);
        if self.session.pairs[p].consent_lost || self.pair_addrs(p) != (local, remote) {
            return; // late responses do not restore consent (§5.1)
        }
        match msg.class {
            Class::Success => self.session.pairs[p].consent_at = Some(now),
            _ => {
                if matches!(msg.get(attr_type::ERROR_CODE), Some(Ok(Attribute::ErrorCode(e))) if e.code == 403) {
                    self.lose_consent(p);
                }
            }
        }
    }
}
