//! The plug-in contract: an implementation is a sans-IO state machine.
//!
//! It never touches a socket, a clock or OS randomness. The simulator hands it time, datagrams,
//! stanzas and user actions; it hands back datagrams, stanzas and claims. The same endpoint can be
//! driven by the simulator, by a process adapter, or by a real-time driver on real sockets.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use minidom::Element;

use crate::rng::SimRng;
use crate::time::SimTime;

/// The capabilities a scenario can require of an implementation's ICS (`expect.requires`), each
/// answered by [`Ics::declares`].
pub const CAPABILITIES: &[&str] = &["jmi", "trickle", "rtcp-mux", "ice-restart", "renomination", "turn"];

/// A call state an endpoint claims, as the user would see it. Claims go into the trace as evidence
/// of what an implementation believed; no verdict rests on one alone. Written (`Display`) as the
/// names below; an external program's own names are kept as [`CallClaim::Other`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallClaim {
    /// `proposed`: a JMI propose went out.
    Proposed,
    /// `ringing`: the user is being rung.
    Ringing,
    /// `proceeding`: the callee answered the propose (JMI proceed).
    Proceeding,
    /// `initiated`: the session-initiate went out.
    Initiated,
    /// `accepted`: the session-accept went out or came in.
    Accepted,
    /// `connected`: media flows on a selected pair.
    Connected,
    /// `rejected`: declined.
    Rejected,
    /// `cancelled`: withdrawn before the answer.
    Cancelled,
    /// `ended`: the session is over.
    Ended,
    /// `ice-restart`: the endpoint restarted ICE.
    IceRestart,
    /// `answered-elsewhere`: another device of the account answered.
    AnsweredElsewhere,
    /// `rejected-elsewhere`: another device of the account declined.
    RejectedElsewhere,
    /// `waiting for PEER's presence`: no JMI, so the call waits for a device of the callee.
    WaitingForPresence {
        /// The callee's bare JID.
        peer: String,
    },
    /// `unavailable: PEER does not advertise FEATURES`: the callee lacks what the call needs.
    Unavailable {
        /// The callee's bare JID.
        peer: String,
        /// The features it lacks.
        missing: Vec<String>,
    },
    /// Any other name an external program claims.
    Other(String),
}

impl CallClaim {
    const NAMED: [(CallClaim, &'static str); 12] = [
        (CallClaim::Proposed, "proposed"),
        (CallClaim::Ringing, "ringing"),
        (CallClaim::Proceeding, "proceeding"),
        (CallClaim::Initiated, "initiated"),
        (CallClaim::Accepted, "accepted"),
        (CallClaim::Connected, "connected"),
        (CallClaim::Rejected, "rejected"),
        (CallClaim::Cancelled, "cancelled"),
        (CallClaim::Ended, "ended"),
        (CallClaim::IceRestart, "ice-restart"),
        (CallClaim::AnsweredElsewhere, "answered-elsewhere"),
        (CallClaim::RejectedElsewhere, "rejected-elsewhere"),
    ];

    /// The claim written `name`: a named state, or [`CallClaim::Other`].
    pub fn from_name(name: &str) -> CallClaim {
        CallClaim::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| CallClaim::Other(name.to_string()), |(c, _)| c.clone())
    }
}

impl std::fmt::Display for CallClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallClaim::WaitingForPresence { peer } => write!(f, "waiting for {peer}'s presence"),
            CallClaim::Unavailable { peer, missing } => {
                write!(f, "unavailable: {peer} does not advertise {}", missing.join(", "))
            }
            CallClaim::Other(name) => f.write_str(name),
            named => {
                let (_, name) = CallClaim::NAMED
                    .iter()
                    .find(|(c, _)| c == named)
                    .expect("every other variant is named");
                f.write_str(name)
            }
        }
    }
}

/// An ICE agent's state as an endpoint claims it, named as W3C WebRTC's `RTCIceConnectionState`
/// (§5.6); each stack reports the subset it has (RFC 8445 §6.1.3 defines only Running, Completed
/// and Failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceState {
    /// `new`: not started.
    New,
    /// `checking`: checks under way, no usable pair yet.
    Checking,
    /// `connected`: a pair is usable, checks may go on.
    Connected,
    /// `completed`: a pair is selected.
    Completed,
    /// `disconnected`: the selected pair stopped answering; the stack may still recover.
    Disconnected,
    /// `failed`: terminal failure (RFC 8445 §8.1.2).
    Failed,
    /// `closed`: closed by the application.
    Closed,
}

impl IceState {
    const ALL: [IceState; 7] = [
        IceState::New,
        IceState::Checking,
        IceState::Connected,
        IceState::Completed,
        IceState::Disconnected,
        IceState::Failed,
        IceState::Closed,
    ];

    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Checking => "checking",
            IceState::Connected => "connected",
            IceState::Completed => "completed",
            IceState::Disconnected => "disconnected",
            IceState::Failed => "failed",
            IceState::Closed => "closed",
        }
    }

    /// The state named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<IceState> {
        IceState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for IceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A renomination flavour an implementation can negotiate, written as its ICS and the report
/// write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Renomination {
    /// Regular nomination only (RFC 8445 §8.1.1).
    None,
    /// libwebrtc's NOMINATION attribute 0xC001 (draft-thatcher-ice-renomination-01).
    LegacyC001,
    /// NOMINATION 0x0030 (draft-thatcher-tsvwg-renomination-00).
    Renomination2,
}

impl Renomination {
    /// The name as written: `none`, `legacy-c001`, `renomination2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Renomination::None => "none",
            Renomination::LegacyC001 => "legacy-c001",
            Renomination::Renomination2 => "renomination2",
        }
    }

    /// The flavour named `name` ([`Renomination::as_str`]).
    pub fn from_name(name: &str) -> Option<Renomination> {
        [
            Renomination::None,
            Renomination::LegacyC001,
            Renomination::Renomination2,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Renomination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an implementation declares it supports (an implementation conformance statement), so the
/// judge can say "unsupported" instead of guessing from failures.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Ics {
    /// Implementation name as registered (`reference`, `conversations-2.9.7`).
    pub name: String,
    /// Sends and answers XEP-0353 Jingle Message Initiation.
    pub jmi: bool,
    /// Trickles candidates in transport-info (RFC 8838).
    pub trickle: bool,
    /// Offers and accepts rtcp-mux (one component).
    pub rtcp_mux: bool,
    /// Renomination flavour it can negotiate.
    pub renomination: Renomination,
    /// TURN client transports (`udp`, `tcp`, `tls`); empty when it has no TURN client.
    pub turn_transports: Vec<String>,
    /// Can perform an ICE restart.
    pub ice_restart: bool,
    /// Draws its STUN transaction ids from a generator the harness cannot seed (rtc-ice's thread RNG),
    /// so they differ between identical runs: the trace hash of a run with such an implementation
    /// masks them (`harness::trace::Trace::mask_stun_transaction_ids`) and the report says so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unseeded_stun_transaction_ids: bool,
    /// Sends media only after a DTLS-SRTP handshake on the selected pair, with the certificate
    /// whose fingerprint the peer signalled (XEP-0320, RFC 5763 §5): a browser. Against a peer
    /// that declares no such handshake, its media obligations cannot be judged.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dtls_srtp_media: bool,
    /// What a real stack says it is, name and version (a live adapter's `hello`, e.g.
    /// `libnice 0.1.21-1 (aggressive nomination)`); `None` for everything else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

impl Ics {
    /// Whether the ICS declares capability `cap`, one of [`CAPABILITIES`]:
    /// `jmi`, `trickle`, `rtcp-mux`, `ice-restart`, `renomination` (any flavour), `turn` (a TURN
    /// client). An unknown name is declared by nobody.
    pub fn declares(&self, cap: &str) -> bool {
        match cap {
            "jmi" => self.jmi,
            "trickle" => self.trickle,
            "rtcp-mux" => self.rtcp_mux,
            "ice-restart" => self.ice_restart,
            "renomination" => self.renomination != Renomination::None,
            "turn" => !self.turn_transports.is_empty(),
            _ => false,
        }
    }
}

/// Everything an endpoint is created with. Addresses are the host's own; it learns STUN/TURN servers
/// through XEP-0215 like a real client.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Scenario party name (`caller`), for logs.
    pub party: String,
    /// Full JID the XMPP server bound for this client (`caller@example.org/device`).
    pub jid: String,
    /// Domain of its XMPP server, where disco and XEP-0215 queries go.
    pub server: String,
    /// Addresses of the host's interfaces; datagrams may be sent only from these.
    pub interfaces: Vec<IpAddr>,
    /// The endpoint's own seeded random stream.
    pub rng: SimRng,
    /// Behaviour knobs the scenario set for this party (`omit-fingerprint: "true"`), already checked
    /// by the implementation's [`ImplEntry::check_knobs`]; empty for the implementation's defaults.
    pub knobs: BTreeMap<String, String>,
    /// The run is live (a real program is among its parties, design/live-mode.md): time follows the
    /// monotonic clock and the run is not reproduced byte for byte, so the endpoint may draw on the
    /// operating system's randomness where a protocol needs secrets (the reference's DTLS-SRTP
    /// handshake, RFC 5763). False in simulated runs, which stay deterministic.
    pub live: bool,
}

/// What a person does, delivered at scripted times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserAction {
    /// Start a call to `to` (a bare JID) with these media (`audio`, `video`).
    Call {
        /// Bare JID of the callee.
        to: String,
        /// Media types.
        media: Vec<String>,
    },
    /// Answer the ringing call.
    Answer,
    /// Decline the ringing call.
    Reject,
    /// End the call (or cancel it before it is answered).
    Hangup,
    /// The app goes to the background (screen off): tell the server `<inactive/>` (XEP-0352).
    GoInactive,
    /// The app comes back: tell the server `<active/>` (XEP-0352).
    GoActive,
}

impl UserAction {
    /// Short name as written in scenarios.
    pub fn name(&self) -> &'static str {
        match self {
            UserAction::Call { .. } => "call",
            UserAction::Answer => "answer",
            UserAction::Reject => "reject",
            UserAction::Hangup => "hangup",
            UserAction::GoInactive => "go-inactive",
            UserAction::GoActive => "go-active",
        }
    }
}

/// Input to an endpoint.
#[derive(Clone, Debug)]
pub enum Input {
    /// A UDP datagram arrived on `local` from `remote`.
    Datagram {
        /// The host address and port it arrived on.
        local: SocketAddr,
        /// Where it came from, as seen by the host.
        remote: SocketAddr,
        /// UDP payload.
        payload: Bytes,
    },
    /// A stanza from the XMPP server; shared with the trace, which records it as delivered.
    Stanza(Arc<Element>),
    /// A user action.
    User(UserAction),
    /// The time the endpoint asked for through `poll_timeout` has come.
    Timeout,
    /// The host's interfaces changed (Wi-Fi → mobile): datagrams may now be sent only from these
    /// addresses; sockets on vanished addresses are gone. Recovering is the endpoint's job (an ICE
    /// restart, RFC 8445 §9).
    InterfacesChanged(Vec<IpAddr>),
    /// The stream the endpoint opened with `id` is established; `local` is its own end.
    StreamOpened {
        /// The endpoint's stream id.
        id: u64,
        /// Its own address on the stream.
        local: SocketAddr,
    },
    /// The stream `id` could not be opened or was reset.
    StreamFailed {
        /// The endpoint's stream id.
        id: u64,
        /// Why (for logs; the trace has the evidence).
        reason: String,
    },
    /// One message arrived on stream `id` (the stream transport preserves message boundaries).
    StreamData {
        /// The endpoint's stream id.
        id: u64,
        /// The message.
        payload: Bytes,
    },
}

/// A claim an endpoint makes about itself. Recorded and cross-checked; never decides a verdict alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Call state as the user would see it.
    CallState(CallClaim),
    /// ICE agent state.
    IceState(IceState),
    /// The pair the endpoint says it selected, as (local base, remote) addresses.
    SelectedPair {
        /// Local base address.
        local: SocketAddr,
        /// Remote candidate address.
        remote: SocketAddr,
    },
    /// The first SRTP packet from the peer passed authentication with the keys the DTLS-SRTP
    /// handshake exported (RFC 3711 §3.3, RFC 5764 §4.2): both sides keyed alike, so the media on
    /// the wire is media the peer can play. Said once per session.
    MediaAuthenticated,
}

/// Output of an endpoint.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a UDP datagram from `local` (one of the host's addresses) to `remote`.
    Datagram {
        /// Source address and port on the host.
        local: SocketAddr,
        /// Destination.
        remote: SocketAddr,
        /// UDP payload.
        payload: Bytes,
    },
    /// Send a stanza to the XMPP server.
    Stanza(Element),
    /// Open a stream (TCP, or TLS when `tls`) from the host address `local` to `remote`; the
    /// answer is `Input::StreamOpened` or `Input::StreamFailed` with the same `id` (chosen by the
    /// endpoint, unique for it). Used for TURN over TCP/TLS, RFC 8656 §3.1.
    StreamOpen {
        /// The endpoint's stream id.
        id: u64,
        /// Source address on the host.
        local: SocketAddr,
        /// The server.
        remote: SocketAddr,
        /// TLS over TCP.
        tls: bool,
    },
    /// Write one message on an open stream.
    StreamSend {
        /// The endpoint's stream id.
        id: u64,
        /// One framed message (a STUN message or a ChannelData frame).
        payload: Bytes,
    },
    /// A claim.
    Event(EndpointEvent),
    /// A fault of the implementation that an adapter saw and that no other output can carry: the
    /// external process crashed, hung or wrote a line that is not the protocol. Recorded as a
    /// violation (`harness::trace::TraceKind::Violation`) naming the device; never a verdict alone.
    Fault(String),
}

/// A call endpoint under test.
pub trait Endpoint: Send {
    /// Who this is and what it claims to support.
    fn ics(&self) -> &Ics;
    /// Feeds one input at virtual time `now` (never earlier than a previous `now`).
    fn handle_input(&mut self, now: SimTime, input: Input);
    /// Takes the next pending output, if any.
    fn poll_output(&mut self) -> Option<Output>;
    /// When the endpoint next wants `Input::Timeout`; `None` when it waits for nothing.
    fn poll_timeout(&self) -> Option<SimTime>;
}

/// Validates the knobs a scenario sets for an implementation: `Err` names the bad knob or value.
pub type KnobCheck = fn(&BTreeMap<String, String>) -> Result<(), String>;

/// A named way to make an endpoint: what `--impl NAME` selects.
pub struct ImplEntry {
    /// Registered name.
    pub name: String,
    /// One line for `cargo xtask list impls`.
    pub description: String,
    /// Creates the endpoint.
    pub make: Box<dyn Fn(EndpointConfig) -> Box<dyn Endpoint> + Send + Sync>,
    /// Checks knobs a scenario sets for this implementation before anything runs; `Err` names the
    /// bad knob or value (bad input, exit 2). `None`: the implementation takes no knobs.
    pub check_knobs: Option<KnobCheck>,
    /// Set for a live implementation: a real program in its own network namespace, in real time
    /// (`jingle-interop/live/1`, impls/live/PROTOCOL.md). A run with such a party is a live run, and
    /// the harness makes its endpoints with this instead of `make`. `None`: simulated.
    pub live: Option<LiveMake>,
}

/// Makes a live party's endpoint: the signalling half of a real program (stanzas and user actions
/// in; stanzas and claims out). Its datagrams never pass through the endpoint: the program sends
/// them on the namespace's network, and the harness carries them through the world's TUN device.
pub type LiveMake = Box<dyn Fn(EndpointConfig, LiveContext) -> Box<dyn Endpoint> + Send + Sync>;

/// What a live endpoint is made with besides its [`EndpointConfig`].
#[derive(Clone)]
pub struct LiveContext {
    /// The network namespace its program runs in (`ip netns exec NAME …`); its TUN device holds the
    /// host address of [`EndpointConfig::interfaces`].
    pub netns: String,
    /// Called from any thread when outputs are ready: the harness then polls the endpoint at the
    /// current time. Outputs of a live endpoint appear without an input.
    pub wake: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for LiveContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveContext")
            .field("netns", &self.netns)
            .finish_non_exhaustive()
    }
}

/// The implementations a run may use, in registration order. The harness knows no implementation;
/// xtask and the scenario tests fill this in.
#[derive(Default)]
pub struct Registry {
    entries: Vec<ImplEntry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }
    /// Adds an implementation.
    pub fn register(&mut self, entry: ImplEntry) {
        self.entries.push(entry);
    }
    /// Looks up by name.
    pub fn get(&self, name: &str) -> Option<&ImplEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
    /// All entries in registration order.
    pub fn entries(&self) -> &[ImplEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::{CallClaim, IceState};

    #[test]
    fn claims_are_written_as_named_and_read_back() {
        for name in [
            "proposed",
            "ringing",
            "ice-restart",
            "answered-elsewhere",
            "something else",
        ] {
            assert_eq!(CallClaim::from_name(name).to_string(), name);
        }
        assert_eq!(CallClaim::from_name("ringing"), CallClaim::Ringing);
        assert_eq!(CallClaim::from_name("dialling"), CallClaim::Other("dialling".into()));
        let waiting = CallClaim::WaitingForPresence {
            peer: "bob@example.org".into(),
        };
        assert_eq!(waiting.to_string(), "waiting for bob@example.org's presence");
        let unavailable = CallClaim::Unavailable {
            peer: "bob@example.org".into(),
            missing: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            unavailable.to_string(),
            "unavailable: bob@example.org does not advertise a, b"
        );
        for s in IceState::ALL {
            assert_eq!(IceState::from_name(s.as_str()), Some(s));
        }
        assert_eq!(IceState::from_name("gathering"), None);
    }
}
