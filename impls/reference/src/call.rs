//! A call and the phases it goes through: proposed, ringing, proceeded, pending, active, ended,
//! with its Jingle session (ICE agent, RTP stream, restart) held by the phases that can have one.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Initiator,
    Responder,
}

/// Where the call stands, holding its Jingle session in the phases that can have one: none while
/// proposed, always while pending or active, and, while ringing, proceeded or ended, when the
/// session-initiate has come (or gone) by then.
pub(crate) enum CallState {
    /// Caller: propose sent, or (no JMI) waiting for the callee's presence.
    Proposed,
    /// Callee: ringing the user; with the session when its session-initiate came first (no JMI,
    /// or proceed sent on the propose).
    Ringing(Option<Jingle>),
    /// Proceed sent (callee) or received (caller): the session-initiate is awaited or due; a
    /// callee has the session once it came, while its session-accept waits for gathering.
    Proceeded(Option<Jingle>),
    /// The caller's session-initiate is out, unanswered.
    Pending(Jingle),
    /// Accepted (session-accept sent or received).
    Active(Jingle),
    /// Over; the session stays for its agent to close and go quiet.
    Ended(Option<Jingle>),
}

impl CallState {
    /// The Jingle session, in the phases that hold one.
    pub(crate) fn jingle(&self) -> Option<&Jingle> {
        match self {
            CallState::Pending(j) | CallState::Active(j) => Some(j),
            CallState::Ringing(j) | CallState::Proceeded(j) | CallState::Ended(j) => j.as_ref(),
            CallState::Proposed => None,
        }
    }

    /// The Jingle session, in the phases that hold one.
    pub(crate) fn jingle_mut(&mut self) -> Option<&mut Jingle> {
        match self {
            CallState::Pending(j) | CallState::Active(j) => Some(j),
            CallState::Ringing(j) | CallState::Proceeded(j) | CallState::Ended(j) => j.as_mut(),
            CallState::Proposed => None,
        }
    }

    /// Takes the session out, leaving the call Ended without one (the caller sets the next phase).
    pub(crate) fn take_jingle(&mut self) -> Option<Jingle> {
        match std::mem::replace(self, CallState::Ended(None)) {
            CallState::Pending(j) | CallState::Active(j) => Some(j),
            CallState::Ringing(j) | CallState::Proceeded(j) | CallState::Ended(j) => j,
            CallState::Proposed => None,
        }
    }

    /// Ends the call, keeping its session.
    pub(crate) fn end(&mut self) {
        let j = self.take_jingle();
        *self = CallState::Ended(j);
    }

    /// Moves to Proceeded, keeping the session if there is one.
    pub(crate) fn proceed(&mut self) {
        let j = self.take_jingle();
        *self = CallState::Proceeded(j);
    }

    /// Moves to Active with the session; without one the state stays as it was.
    pub(crate) fn activate(&mut self) -> bool {
        match self.take_jingle() {
            Some(j) => {
                *self = CallState::Active(j);
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_proposed(&self) -> bool {
        matches!(self, CallState::Proposed)
    }
    pub(crate) fn is_ringing(&self) -> bool {
        matches!(self, CallState::Ringing(_))
    }
    pub(crate) fn is_proceeded(&self) -> bool {
        matches!(self, CallState::Proceeded(_))
    }
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self, CallState::Pending(_))
    }
    pub(crate) fn is_active(&self) -> bool {
        matches!(self, CallState::Active(_))
    }
    pub(crate) fn is_ended(&self) -> bool {
        matches!(self, CallState::Ended(_))
    }
}

pub(crate) struct Call {
    pub(crate) sid: String,
    pub(crate) side: Side,
    pub(crate) peer_bare: String,
    pub(crate) peer_full: Option<String>,
    pub(crate) media: Vec<String>,
    pub(crate) state: CallState,
    /// The session-initiate / session-accept is due but gathering is not done: send it once it is.
    pub(crate) waiting_for_gathering: bool,
    /// The call began with JMI, so JMI finish follows the session (XEP-0353 §3.6).
    pub(crate) via_jmi: bool,
    /// Callee: proceed went out on the propose, before the user answered (`start-checks-at:
    /// propose`).
    pub(crate) proceeded_early: bool,
}

/// What a Jingle session holds (XEP-0166): made with its ICE agent when this side sends or receives
/// the session-initiate.
pub(crate) struct Jingle {
    /// The ICE agent.
    pub(crate) ice: Box<dyn IceDriver>,
    /// The RTP stream: sent on the selected pair once ICE selected one, parked while ICE restarts.
    pub(crate) media_flow: MediaFlow,
    /// How many of the agent's remote candidates have had TURN permissions asked for.
    pub(crate) permitted: usize,
    /// This side's session-initiate or session-accept went out: later candidates go in
    /// transport-info.
    pub(crate) transport_sent: bool,
    /// Every ICE ufrag the peer signalled in this session, the current one last: candidates of an
    /// older ICE session are stale (RFC 8838 §8), and a new ufrag is an ICE restart (RFC 8445 §9).
    pub(crate) remote_ufrags: Vec<String>,
    /// Where this side's own ICE restart offer stands.
    pub(crate) restart: OwnRestart,
    /// rtcp-mux in this session: what this side offered, then what the answer agreed (RFC 5761;
    /// without it the agent has two components, XEP-0167 §3).
    pub(crate) rtcp_mux: bool,
    /// DTLS-SRTP this session will do (live runs, a peer that signalled a fingerprint): this
    /// side's role and the peer's fingerprint, settled by the offer and answer (XEP-0320 §3).
    pub(crate) dtls_plan: Option<DtlsPlan>,
    /// The association, once there is a pair to run it on (or the peer's ClientHello came).
    pub(crate) dtls: Option<crate::dtls::DtlsSrtp>,
    /// Where DTLS records go: the pair of the peer's last record, else the media pair.
    pub(crate) dtls_path: Option<(SocketAddr, SocketAddr)>,
}

/// A session's DTLS-SRTP: this side's role and what the peer's certificate must hash to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DtlsPlan {
    /// This side is the DTLS client (its `setup` is active).
    pub(crate) client: bool,
    /// The peer's SHA-256 fingerprint, when it signalled one the reference can read.
    pub(crate) peer_fingerprint: Option<[u8; 32]>,
}

impl Jingle {
    /// The session's DTLS-SRTP association, started with `identity` if it is not yet; `None`
    /// when the session does none (the peer signalled no fingerprint).
    pub(crate) fn dtls_started(
        &mut self,
        identity: &crate::dtls::Identity,
        now: SimTime,
    ) -> Option<&mut crate::dtls::DtlsSrtp> {
        let plan = self.dtls_plan?;
        Some(
            self.dtls
                .get_or_insert_with(|| crate::dtls::DtlsSrtp::new(identity, plan.client, plan.peer_fingerprint, now)),
        )
    }

    /// A session with agent `ice`, offering or accepting rtcp-mux as `rtcp_mux` says.
    pub(crate) fn new(ice: Box<dyn IceDriver>, rtcp_mux: bool) -> Jingle {
        Jingle {
            ice,
            media_flow: MediaFlow::Off,
            permitted: 0,
            transport_sent: false,
            remote_ufrags: Vec::new(),
            restart: OwnRestart::None,
            rtcp_mux,
            dtls_plan: None,
            dtls: None,
            dtls_path: None,
        }
    }
}

impl Call {
    /// The Jingle session exists: this side sent or received its session-initiate (the ICE agent
    /// is made then). Before that the sid is at most a JMI id.
    pub(crate) fn jingle_started(&self) -> bool {
        self.state.jingle().is_some()
    }

    /// The ICE agent, once the Jingle session exists.
    pub(crate) fn agent(&self) -> Option<&dyn IceDriver> {
        self.state.jingle().map(|j| j.ice.as_ref())
    }

    /// The ICE agent, once the Jingle session exists.
    pub(crate) fn agent_mut(&mut self) -> Option<&mut Box<dyn IceDriver>> {
        self.state.jingle_mut().map(|j| &mut j.ice)
    }

    /// The RTP stream, once the Jingle session exists.
    pub(crate) fn media_flow_mut(&mut self) -> Option<&mut MediaFlow> {
        self.state.jingle_mut().map(|j| &mut j.media_flow)
    }

    /// This side's own session-initiate to `peer`'s account is out and unanswered: a
    /// session-initiate from `peer` now crosses it (XEP-0166 §7.2.16).
    pub(crate) fn crosses(&self, peer: &str) -> bool {
        self.side == Side::Initiator && self.state.is_pending() && self.peer_bare == bare(peer)
    }

    pub(crate) fn new(
        sid: String,
        side: Side,
        peer_bare: String,
        peer_full: Option<String>,
        media: Vec<String>,
        state: CallState,
    ) -> Call {
        Call {
            sid,
            side,
            peer_bare,
            peer_full,
            media,
            state,
            waiting_for_gathering: false,
            via_jmi: true,
            proceeded_early: false,
        }
    }
}

/// Where this side's own ICE restart offer stands (RFC 8445 §9; XEP-0176 §5.9; Conversations'
/// JingleRtpConnection.java).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OwnRestart {
    /// No restart of this side's is under way.
    None,
    /// Offered, but the offer waits for gathering to end (the `trickle: false` knob).
    OfferDue,
    /// Offered: waiting for the peer's new credentials.
    AwaitingAnswer,
    /// The peer restarted while this side's offer still waited for gathering: this side's new
    /// credentials and candidates go out when gathering ends, as the answer, and nothing is
    /// awaited.
    AnswerDue,
}

impl OwnRestart {
    /// This side offered a restart (sent or due) and the peer has not answered it.
    pub(crate) fn awaiting_answer(self) -> bool {
        matches!(self, OwnRestart::OfferDue | OwnRestart::AwaitingAnswer)
    }

    /// This side's transport waits for gathering to end before it goes out.
    pub(crate) fn due(self) -> bool {
        matches!(self, OwnRestart::OfferDue | OwnRestart::AnswerDue)
    }
}

/// The call's RTP stream.
pub(crate) enum MediaFlow {
    /// Nothing is sent.
    Off,
    /// Sent on the pair it names.
    Sending(Rtp),
    /// Held while ICE restarts: same SSRC and sequence, resumed on the new selected pair (RFC 8445
    /// §9 lets media stay on the old pair meanwhile; here the old pair is gone or lost its consent,
    /// so media waits).
    Parked(Rtp),
}

impl MediaFlow {
    /// The stream being sent, if any.
    pub(crate) fn sending(&self) -> Option<&Rtp> {
        match self {
            MediaFlow::Sending(r) => Some(r),
            _ => None,
        }
    }

    /// The stream being sent, if any.
    pub(crate) fn sending_mut(&mut self) -> Option<&mut Rtp> {
        match self {
            MediaFlow::Sending(r) => Some(r),
            _ => None,
        }
    }

    /// Stops sending; a parked stream stays parked.
    pub(crate) fn stop(&mut self) {
        if matches!(self, MediaFlow::Sending(_)) {
            *self = MediaFlow::Off;
        }
    }

    /// Parks the stream being sent while ICE restarts.
    pub(crate) fn park(&mut self) {
        if let MediaFlow::Sending(_) = self {
            let MediaFlow::Sending(r) = std::mem::replace(self, MediaFlow::Off) else {
                unreachable!()
            };
            *self = MediaFlow::Parked(r);
        }
    }

    /// Sends from `local` to `remote` from `now` on, unless a stream is already being sent: a parked
    /// stream resumes there, otherwise a new one starts with its SSRC drawn from `rng`.
    pub(crate) fn resume(&mut self, rng: &mut SimRng, local: SocketAddr, remote: SocketAddr, now: SimTime) {
        match std::mem::replace(self, MediaFlow::Off) {
            MediaFlow::Sending(r) => *self = MediaFlow::Sending(r),
            MediaFlow::Parked(mut r) => {
                (r.local, r.remote, r.next) = (local, remote, now);
                *self = MediaFlow::Sending(r);
            }
            MediaFlow::Off => *self = MediaFlow::Sending(Rtp::new(rng, local, remote, now)),
        }
    }

    /// Sends from `local` to `remote`: a stream being sent moves there, otherwise as
    /// [`MediaFlow::resume`].
    pub(crate) fn send_on(&mut self, rng: &mut SimRng, local: SocketAddr, remote: SocketAddr, now: SimTime) {
        match self {
            MediaFlow::Sending(r) => (r.local, r.remote) = (local, remote),
            _ => self.resume(rng, local, remote, now),
        }
    }
}

pub(crate) struct Rtp {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) next: SimTime,
}

impl Rtp {
    /// A stream from `local` to `remote` starting at `now`, SSRC drawn from `rng`.
    pub(crate) fn new(rng: &mut SimRng, local: SocketAddr, remote: SocketAddr, now: SimTime) -> Rtp {
        let ssrc = rng.next_u32();
        Rtp {
            local,
            remote,
            ssrc,
            seq: (ssrc >> 16) as u16,
            ts: ssrc.rotate_left(7),
            next: now,
        }
    }
}
