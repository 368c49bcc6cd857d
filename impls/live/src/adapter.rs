//! A real ICE stack as the reference endpoint's ICE agent: a program in the party's namespace
//! speaking `jingle-interop/ice-adapter/1` (JSON lines, impls/live/ADAPTERS.md) gathers, checks,
//! nominates and sends media on its own sockets, while the reference's JMI and Jingle logic, with
//! the knobs of the party, runs in the harness ([`reference::ReferenceEndpoint::with_stack`]).
//!
//! One program runs per endpoint, started with it; each call's agent is one `gather` (a new
//! `gather` replaces the program's previous agent). Its lines arrive on a reader thread, which
//! wakes the harness; the driver takes them at its next timeout, so they enter the run at the
//! time they were read.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::process::Child;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use endpoint_contract::endpoint::{Endpoint, Ics, Input, LiveContext, Output};
use endpoint_contract::SimTime;
use external::{excerpt, read_lines, write_lines, FromStdout};
use reference::ice::{Candidate, CandidateType, DriverEvent, DriverState, IceDriver, Role, StackCall, StackFactory};
use reference::ReferenceEndpoint;
use serde::{Deserialize, Serialize};
use xmpp_parsers::jingle_dtls_srtp::Setup;

use crate::program::{exit_status, kill, spawn_in, wait_then_kill};

/// The adapter protocol's name and version, echoed in the program's `hello`.
pub const ADAPTER_PROTOCOL: &str = "jingle-interop/ice-adapter/1";

/// How long an adapter has to write its `hello` after it started. Longer than an external
/// program's `START_LIMIT`: a browser adapter starts a browser first, which takes seconds, and
/// more with several starting at once on a small machine. The wait is before the run's clock
/// starts, so it costs the run nothing but its own start.
pub const ADAPTER_START_LIMIT: Duration = Duration::from_secs(30);

/// How long a program has to answer `gather` with `credentials`: the session logic needs them at
/// once (they go in the session-initiate or session-accept). The harness waits for them, and the
/// run's other events wait with it, so this is short; a stack that creates its agent
/// asynchronously answers as soon as it exists. A browser creating its offer on a loaded machine
/// has taken more than 2 s.
pub const CREDENTIALS_LIMIT: Duration = Duration::from_secs(5);

/// A candidate as the adapter protocol writes it: the attributes of XEP-0176's `<candidate/>`
/// (and of SDP's `a=candidate`, RFC 8839 §5.1), UDP only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WireCandidate {
    /// RFC 8445 §5.1.1.3 foundation.
    pub foundation: String,
    /// 1 = RTP, 2 = RTCP.
    pub component: u8,
    /// RFC 8445 §5.1.2 priority.
    pub priority: u32,
    /// Transport address: IP.
    pub ip: IpAddr,
    /// Transport address: port.
    pub port: u16,
    /// `host`, `srflx`, `prflx` or `relay`.
    #[serde(rename = "type")]
    pub typ: String,
    /// Related address (RFC 8839 §5.1 `raddr`): the base of a server-reflexive candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_addr: Option<IpAddr>,
    /// Related port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_port: Option<u16>,
}

impl WireCandidate {
    /// The wire form of a remote candidate the session logic learned from signalling.
    pub fn of(c: &Candidate) -> WireCandidate {
        WireCandidate {
            foundation: c.foundation.clone(),
            component: c.component,
            priority: c.priority,
            ip: c.addr.ip(),
            port: c.addr.port(),
            typ: type_name(c.typ).into(),
            rel_addr: None,
            rel_port: None,
        }
    }

    /// The candidate as the session logic holds it: the base of a server-reflexive candidate is
    /// its related address, every other candidate is its own base (RFC 8445 §5.1.1.2).
    ///
    /// Errors: an unknown type.
    pub fn to_candidate(&self) -> Result<Candidate, String> {
        let typ = match self.typ.as_str() {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::ServerReflexive,
            "prflx" => CandidateType::PeerReflexive,
            "relay" => CandidateType::Relayed,
            other => return Err(format!("unknown candidate type `{other}`")),
        };
        let addr = SocketAddr::new(self.ip, self.port);
        let base = match (typ, self.rel_addr, self.rel_port) {
            (CandidateType::ServerReflexive, Some(ip), Some(port)) => SocketAddr::new(ip, port),
            _ => addr,
        };
        Ok(Candidate {
            addr,
            base,
            typ,
            priority: self.priority,
            foundation: self.foundation.clone(),
            component: self.component,
        })
    }
}

fn type_name(t: CandidateType) -> &'static str {
    match t {
        CandidateType::Host => "host",
        CandidateType::ServerReflexive => "srflx",
        CandidateType::PeerReflexive => "prflx",
        CandidateType::Relayed => "relay",
    }
}

/// A server as `gather` carries it: WebRTC's `RTCIceServer` (W3C webrtc-pc §4.2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireServer {
    /// `stun:HOST:PORT` or `turn:HOST:PORT?transport=udp`.
    pub urls: String,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// What the harness writes to the program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ToAdapter {
    /// Make agent `agent` (replacing any earlier one) in `role` (`controlling` or `controlled`,
    /// XEP-0176 §2: the session initiator controls), gather with `servers`; answer `credentials`
    /// at once, then `candidate` for each local candidate and `gathering-done`.
    Gather {
        /// Agent id, echoed in every agent message.
        agent: u32,
        /// `controlling` or `controlled`.
        role: String,
        /// STUN and TURN servers (XEP-0215).
        servers: Vec<WireServer>,
        /// `relay`: gather relayed candidates only (WebRTC's `iceTransportPolicy`, W3C
        /// webrtc-pc §4.2.1); absent: all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<String>,
    },
    /// The peer's ufrag and pwd.
    RemoteCredentials {
        /// Agent id.
        agent: u32,
        /// Remote ufrag.
        ufrag: String,
        /// Remote pwd.
        pwd: String,
        /// The peer's certificate fingerprint as SDP writes it (`sha-256 AB:CD:…`, RFC 8122 §5),
        /// when it signalled a SHA-256 one (XEP-0320); for a stack that does DTLS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
        /// The peer's XEP-0320 `setup` (`actpass`, `active`, `passive`), with its fingerprint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        setup: Option<String>,
        /// The same as the remote description a stack speaking SDP sets ([`crate::sdp`]): one
        /// bundled audio m-line, with "renomination" in its ice-options when the party does it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A signalled remote candidate (before or after `start`: trickle, RFC 8838).
    RemoteCandidate {
        /// Agent id.
        agent: u32,
        /// The candidate.
        candidate: WireCandidate,
        /// The same as SDP's `a=candidate` value (`candidate:…`, RFC 8839 §5.1), for a stack
        /// speaking SDP ([`crate::sdp::candidate_line`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<String>,
    },
    /// Start connectivity checks (RFC 8445 §6.1.4), then media on the selected pair.
    Start {
        /// Agent id.
        agent: u32,
    },
    /// Stop the agent and its media; free its sockets and relays.
    Close {
        /// Agent id.
        agent: u32,
    },
}

/// What the program writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FromAdapter {
    /// First line: the protocol and the stack as it names itself (name and version).
    Hello {
        /// [`ADAPTER_PROTOCOL`].
        protocol: String,
        /// For example `libnice 0.1.21`.
        stack: String,
    },
    /// The local ufrag and pwd of `agent`, in answer to `gather`; for a stack with its own DTLS
    /// (a browser), also its certificate's fingerprint and its `setup` role, which the party's
    /// Jingle transport then carries (XEP-0320).
    Credentials {
        /// Agent id.
        agent: u32,
        /// Local ufrag (RFC 8445 §5.3).
        ufrag: String,
        /// Local pwd.
        pwd: String,
        /// `sha-256 AB:CD:…` (RFC 8122 §5); other hash functions are not carried.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
        /// `actpass`, `active` or `passive` (RFC 4145 §4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        setup: Option<String>,
    },
    /// A stack speaking SDP answers `gather` with its local description instead of
    /// `credentials`: the harness reads the ufrag, pwd, fingerprint and setup from it
    /// ([`crate::sdp::credentials_of`]).
    Description {
        /// Agent id.
        agent: u32,
        /// The local description (SDP).
        sdp: String,
    },
    /// A stack speaking SDP reports a gathered candidate as its `a=candidate` value instead of
    /// `candidate` ([`crate::sdp::parse_candidate`]); a TCP one is left out (the live network
    /// carries UDP), one that does not parse is the adapter's fault.
    SdpCandidate {
        /// Agent id.
        agent: u32,
        /// `candidate:…` (RFC 8839 §5.1).
        line: String,
    },
    /// A gathered local candidate.
    Candidate {
        /// Agent id.
        agent: u32,
        /// The candidate.
        candidate: WireCandidate,
    },
    /// Gathering is complete.
    GatheringDone {
        /// Agent id.
        agent: u32,
    },
    /// The agent's state: `checking`, `connected`, `completed`, `disconnected`, `failed`, `closed`.
    State {
        /// Agent id.
        agent: u32,
        /// The state.
        state: String,
    },
    /// The stack selected this pair for `component` (again, for one that moves): `local` is the
    /// local candidate's transport address (for a server-reflexive one, its base is meant; the
    /// driver maps it), `remote` the remote candidate's.
    Selected {
        /// Agent id.
        agent: u32,
        /// 1 or 2.
        component: u8,
        /// Local candidate address.
        local: SocketAddr,
        /// Remote candidate address; `None` when the stack hides it: a browser does not expose a
        /// remote peer-reflexive candidate's address (W3C webrtc-stats, `RTCIceCandidateStats`
        /// `address`), only its port.
        #[serde(default)]
        remote: Option<SocketAddr>,
        /// The remote port, when `remote` is hidden.
        #[serde(default, rename = "remote-port", skip_serializing_if = "Option::is_none")]
        remote_port: Option<u16>,
    },
    /// Free text (the stack's own debug lines): read and ignored, never judged.
    Log {
        /// The text.
        text: String,
    },
}

/// The program's lines not yet taken, and its health.
struct Inbox {
    lines: VecDeque<FromAdapter>,
    faults: VecDeque<String>,
    /// Set once the endpoint is being dropped.
    closing: bool,
    failed: bool,
}

/// One adapter program: its pipes and what it said.
struct Io {
    to_child: Mutex<Option<Sender<String>>>,
    inbox: Mutex<Inbox>,
    /// Signalled with every line, for the synchronous `credentials` wait.
    arrived: Condvar,
    child: Arc<Mutex<Option<Child>>>,
    wake: Arc<dyn Fn() + Send + Sync>,
    next_agent: Mutex<u32>,
}

impl Io {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, msg: &ToAdapter) {
        if self.inbox().failed {
            return;
        }
        if let Some(tx) = &*self.to_child.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = tx.send(serde_json::to_string(msg).expect("serialisable"));
        }
    }

    /// Records the program's fault (once) and stops it.
    fn fail(&self, why: String) {
        let mut i = self.inbox();
        if !i.closing && !i.failed {
            i.failed = true;
            i.faults.push_back(why);
        }
        drop(i);
        *self.to_child.lock().unwrap_or_else(|e| e.into_inner()) = None;
        kill(&self.child);
        self.arrived.notify_all();
        (self.wake)();
    }

    /// Takes the lines of `agent` (and drops those of earlier agents).
    fn take_for(&self, agent: u32) -> Vec<FromAdapter> {
        let mut i = self.inbox();
        std::mem::take(&mut i.lines)
            .into_iter()
            .filter(|l| agent_of(l) == Some(agent))
            .collect()
    }
}

/// A stack's SDP line as the message the driver takes: a description as `credentials`, an SDP
/// candidate as `candidate` (`Ok(None)` for a TCP one, left out). Other messages pass as they are.
///
/// Errors: a description without ICE credentials, a candidate line that does not parse.
fn from_sdp(m: FromAdapter) -> Result<Option<FromAdapter>, String> {
    Ok(Some(match m {
        FromAdapter::Description { agent, sdp } => {
            let c = crate::sdp::credentials_of(&sdp)?;
            FromAdapter::Credentials {
                agent,
                ufrag: c.ufrag,
                pwd: c.pwd,
                fingerprint: c.fingerprint,
                setup: c.setup,
            }
        }
        FromAdapter::SdpCandidate { agent, line } => match crate::sdp::parse_candidate(&line)? {
            Some(candidate) => FromAdapter::Candidate { agent, candidate },
            None => return Ok(None),
        },
        other => other,
    }))
}

fn agent_of(l: &FromAdapter) -> Option<u32> {
    match l {
        FromAdapter::Credentials { agent, .. }
        | FromAdapter::Description { agent, .. }
        | FromAdapter::SdpCandidate { agent, .. }
        | FromAdapter::Candidate { agent, .. }
        | FromAdapter::GatheringDone { agent }
        | FromAdapter::State { agent, .. }
        | FromAdapter::Selected { agent, .. } => Some(*agent),
        FromAdapter::Hello { .. } | FromAdapter::Log { .. } => None,
    }
}

/// Starts `argv` in `ctx.netns` and waits up to [`ADAPTER_START_LIMIT`] for its `hello`. Returns the
/// stack name and version it gave (for the ICS and the report), or `None` with a fault already
/// recorded in the returned `Io`.
fn start(argv: &[String], ctx: &LiveContext) -> (Arc<Io>, Option<String>) {
    let io = Arc::new(Io {
        to_child: Mutex::new(None),
        inbox: Mutex::new(Inbox {
            lines: VecDeque::new(),
            faults: VecDeque::new(),
            closing: false,
            failed: false,
        }),
        arrived: Condvar::new(),
        child: Arc::new(Mutex::new(None)),
        wake: Arc::clone(&ctx.wake),
        next_agent: Mutex::new(0),
    });
    let (child, stdin, stdout) = match spawn_in(&ctx.netns, argv) {
        Ok(x) => x,
        Err(e) => {
            io.fail(format!("ICE adapter failed: {e}"));
            return (io, None);
        }
    };
    *io.child.lock().expect("fresh") = Some(child);
    let (to_child, rx) = mpsc::channel();
    std::thread::spawn(move || write_lines(stdin, rx));
    *io.to_child.lock().expect("fresh") = Some(to_child);
    let (tx, from_child) = mpsc::channel();
    std::thread::spawn(move || read_lines(stdout, tx));
    let stack = match from_child.recv_timeout(ADAPTER_START_LIMIT) {
        Ok(FromStdout::Line(l)) => match serde_json::from_str::<FromAdapter>(&l) {
            Ok(FromAdapter::Hello { protocol, stack }) if protocol == ADAPTER_PROTOCOL => Some(stack),
            _ => {
                io.fail(format!(
                    "ICE adapter broke {ADAPTER_PROTOCOL}: its first line is not a hello for it: {}",
                    excerpt(&l)
                ));
                return (io, None);
            }
        },
        Ok(FromStdout::Bad(why)) => {
            io.fail(format!("ICE adapter broke {ADAPTER_PROTOCOL}: {why}"));
            return (io, None);
        }
        Ok(FromStdout::Eof) => {
            let status = exit_status(&io.child);
            io.fail(format!("ICE adapter failed: it exited ({status}) before its hello"));
            return (io, None);
        }
        Err(_) => {
            io.fail(format!(
                "ICE adapter failed: no hello within {}s (hung); killed",
                ADAPTER_START_LIMIT.as_secs()
            ));
            return (io, None);
        }
    };
    let reader = Arc::clone(&io);
    std::thread::spawn(move || {
        for msg in from_child {
            let fault = match msg {
                FromStdout::Line(l) => match serde_json::from_str::<FromAdapter>(&l) {
                    Ok(FromAdapter::Log { .. }) => continue,
                    Ok(FromAdapter::Hello { .. }) => {
                        format!("ICE adapter broke {ADAPTER_PROTOCOL}: a second hello: {}", excerpt(&l))
                    }
                    Ok(m) => match from_sdp(m) {
                        Ok(Some(m)) => {
                            reader.inbox().lines.push_back(m);
                            reader.arrived.notify_all();
                            (reader.wake)();
                            continue;
                        }
                        Ok(None) => continue,
                        Err(e) => format!("ICE adapter broke {ADAPTER_PROTOCOL}: {e}: {}", excerpt(&l)),
                    },
                    Err(e) => format!(
                        "ICE adapter broke {ADAPTER_PROTOCOL}: not a message ({e}): {}",
                        excerpt(&l)
                    ),
                },
                FromStdout::Bad(why) => format!("ICE adapter broke {ADAPTER_PROTOCOL}: {why}"),
                FromStdout::Eof => {
                    if reader.inbox().closing {
                        return;
                    }
                    let status = exit_status(&reader.child);
                    format!("ICE adapter failed: it exited ({status}) before the run ended")
                }
            };
            reader.fail(fault);
            return;
        }
    });
    (io, stack)
}

/// What a `credentials` line gave.
struct Creds {
    ufrag: String,
    pwd: String,
    /// Certificate fingerprint (SHA-256) and `setup` role, for a stack with its own DTLS.
    dtls: Option<([u8; 32], Setup)>,
}

impl Creds {
    fn of(ufrag: String, pwd: String, fingerprint: Option<String>, setup: Option<String>) -> Creds {
        let dtls = fingerprint
            .as_deref()
            .and_then(sha256_fingerprint)
            .zip(setup.as_deref().and_then(setup_role));
        Creds { ufrag, pwd, dtls }
    }
}

/// `sha-256 AB:CD:…` (RFC 8122 §5) as its 32 bytes; `None` for another hash or a malformed value.
fn sha256_fingerprint(f: &str) -> Option<[u8; 32]> {
    let (hash, hex) = f.split_once(' ')?;
    reference::parse_fingerprint(hash, hex)
}

fn setup_role(s: &str) -> Option<Setup> {
    match s {
        "actpass" => Some(Setup::Actpass),
        "active" => Some(Setup::Active),
        "passive" => Some(Setup::Passive),
        _ => None,
    }
}

/// One call's agent in the adapter program (see the module docs).
pub struct AdapterDriver {
    io: Arc<Io>,
    agent: u32,
    /// Its local ufrag, pwd and DTLS identity, fetched when first asked for
    /// ([`AdapterDriver::credentials`]).
    credentials: OnceLock<Creds>,
    local: Vec<Candidate>,
    remote: Vec<Candidate>,
    events: VecDeque<DriverEvent>,
    state: DriverState,
    selected: Option<(SocketAddr, SocketAddr)>,
    /// The last time the driver was given: its wake-ups are never earlier.
    now: SimTime,
    /// It advertises renomination (the stack follows 0xC001 as the controlled agent).
    renomination: bool,
    /// `start` went out.
    started: bool,
    /// The peer's fingerprint and `setup`, for `remote-credentials`.
    remote_dtls: (Option<String>, Option<String>),
}

impl AdapterDriver {
    fn new(io: Arc<Io>, call: StackCall, renomination: bool) -> AdapterDriver {
        let StackCall {
            role,
            servers,
            relay_only,
            now,
        } = call;
        let agent = {
            let mut n = io.next_agent.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        io.send(&ToAdapter::Gather {
            agent,
            role: match role {
                Role::Controlling => "controlling",
                Role::Controlled => "controlled",
            }
            .into(),
            servers: servers
                .iter()
                .map(|s| WireServer {
                    urls: s.urls.clone(),
                    username: s.username.clone(),
                    credential: s.credential.clone(),
                })
                .collect(),
            policy: relay_only.then(|| "relay".to_string()),
        });
        AdapterDriver {
            io,
            agent,
            credentials: OnceLock::new(),
            local: Vec::new(),
            remote: Vec::new(),
            events: VecDeque::new(),
            state: DriverState::New,
            selected: None,
            now,
            renomination,
            started: false,
            remote_dtls: (None, None),
        }
    }

    /// The agent's ufrag and pwd, from its `credentials` line, waited for (up to
    /// [`CREDENTIALS_LIMIT`]) the first time they are needed: by then the peer's credentials have
    /// gone out when the session logic had them (the callee's), which a stack that must see the
    /// peer's offer first (a browser as the answerer) needs. Without them in time, the adapter's
    /// fault is recorded and empty credentials stand in.
    fn credentials(&self) -> &Creds {
        self.credentials.get_or_init(|| {
            let deadline = Instant::now() + CREDENTIALS_LIMIT;
            let mut inbox = self.io.inbox();
            loop {
                let pos = inbox
                    .lines
                    .iter()
                    .position(|l| matches!(l, FromAdapter::Credentials { agent, .. } if *agent == self.agent));
                if let Some(FromAdapter::Credentials {
                    ufrag,
                    pwd,
                    fingerprint,
                    setup,
                    ..
                }) = pos.and_then(|p| inbox.lines.remove(p))
                {
                    return Creds::of(ufrag, pwd, fingerprint, setup);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if inbox.failed || left.is_zero() {
                    let failed = inbox.failed;
                    drop(inbox);
                    if !failed {
                        self.io.fail(format!(
                            "ICE adapter failed: no credentials within {} ms of being needed",
                            CREDENTIALS_LIMIT.as_millis()
                        ));
                    }
                    return Creds::of(String::new(), String::new(), None, None);
                }
                inbox = self
                    .io
                    .arrived
                    .wait_timeout(inbox, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        })
    }

    /// The local base a pair's local transport address stands for.
    fn base_of(&self, local: SocketAddr) -> SocketAddr {
        self.local.iter().find(|c| c.addr == local).map_or(local, |c| c.base)
    }

    fn take_lines(&mut self) {
        for l in self.io.take_for(self.agent) {
            match l {
                FromAdapter::Candidate { candidate, .. } => match candidate.to_candidate() {
                    Ok(c) => {
                        self.local.push(c.clone());
                        self.events.push_back(DriverEvent::LocalCandidate(c));
                    }
                    Err(e) => self.io.fail(format!("ICE adapter broke {ADAPTER_PROTOCOL}: {e}")),
                },
                FromAdapter::State { state, .. } => {
                    let s = match state.as_str() {
                        "checking" => DriverState::Checking,
                        "connected" | "completed" => DriverState::Completed,
                        "disconnected" => DriverState::Disconnected,
                        "failed" => DriverState::Failed,
                        "closed" => DriverState::Closed,
                        "new" | "gathering" => DriverState::New,
                        other => {
                            self.io
                                .fail(format!("ICE adapter broke {ADAPTER_PROTOCOL}: unknown state `{other}`"));
                            continue;
                        }
                    };
                    if s != self.state {
                        self.state = s;
                        self.events.push_back(DriverEvent::State(s));
                    }
                }
                FromAdapter::Selected {
                    component,
                    local,
                    remote,
                    remote_port,
                    ..
                } => {
                    let local = self.base_of(local);
                    // A hidden address stands as the unspecified one, with the port if given.
                    let remote =
                        remote.unwrap_or_else(|| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), remote_port.unwrap_or(0)));
                    if component == 1 {
                        self.selected = Some((local, remote));
                    }
                    self.events.push_back(DriverEvent::Selected {
                        component,
                        local,
                        remote,
                    });
                }
                FromAdapter::Credentials {
                    ufrag,
                    pwd,
                    fingerprint,
                    setup,
                    ..
                } => {
                    let _ = self.credentials.set(Creds::of(ufrag, pwd, fingerprint, setup));
                }
                FromAdapter::GatheringDone { .. } => {}
                // Turned into `credentials` and `candidate` as they arrive (`from_sdp`).
                FromAdapter::Description { .. } | FromAdapter::SdpCandidate { .. } => {}
                FromAdapter::Hello { .. } | FromAdapter::Log { .. } => {}
            }
        }
    }
}

impl Drop for AdapterDriver {
    /// A call's agent dropped without `close` (the session logic made it and then gave up) still
    /// stops checking and releases its relays.
    fn drop(&mut self) {
        self.close();
    }
}

impl IceDriver for AdapterDriver {
    fn local_credentials(&self) -> (&str, &str) {
        let c = self.credentials();
        (&c.ufrag, &c.pwd)
    }
    fn local_candidates(&self) -> &[Candidate] {
        &self.local
    }
    /// The stack gathers its own candidates: one given here has nowhere to go.
    fn add_local_candidate(&mut self, _c: Candidate) {}
    fn remote_candidates(&self) -> &[Candidate] {
        &self.remote
    }
    fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) {
        let (fingerprint, setup) = self.remote_dtls.clone();
        let remote = crate::sdp::Remote {
            ufrag: ufrag.into(),
            pwd: pwd.into(),
            fingerprint: fingerprint.clone(),
            setup: setup.clone(),
        };
        self.io.send(&ToAdapter::RemoteCredentials {
            agent: self.agent,
            ufrag: ufrag.into(),
            pwd: pwd.into(),
            fingerprint,
            setup,
            description: Some(crate::sdp::remote_description(&remote, self.renomination)),
        });
    }
    fn set_remote_dtls(&mut self, fingerprint: Option<[u8; 32]>, setup: Option<&str>) {
        let hex: Option<Vec<String>> = fingerprint.map(|f| f.iter().map(|b| format!("{b:02X}")).collect());
        self.remote_dtls = (
            hex.map(|h| format!("sha-256 {}", h.join(":"))),
            setup.map(str::to_string),
        );
    }
    fn add_remote_candidate(&mut self, c: Candidate) {
        if c.component != 1 {
            return;
        }
        let candidate = WireCandidate::of(&c);
        self.io.send(&ToAdapter::RemoteCandidate {
            agent: self.agent,
            line: Some(crate::sdp::candidate_line(&candidate)),
            candidate,
        });
        self.remote.push(c);
    }
    /// Not carried: the adapter protocol has no ICE restart, so the candidates are added.
    fn restart_with_remote_candidates(&mut self, _now: SimTime, candidates: Vec<Candidate>) {
        for c in candidates {
            if !self.remote.iter().any(|r| r.addr == c.addr) {
                self.add_remote_candidate(c);
            }
        }
    }
    fn offers_renomination(&self) -> bool {
        self.renomination
    }
    fn set_peer_renomination(&mut self, _on: bool) {}
    /// Once: the session logic may call it again (a later session-accept, a restart per
    /// trickled candidate), which an adapter must not take as a second start.
    fn start(&mut self, now: SimTime) {
        self.now = self.now.max(now);
        if !self.started {
            self.started = true;
            self.io.send(&ToAdapter::Start { agent: self.agent });
        }
    }
    fn close(&mut self) {
        if self.state != DriverState::Closed {
            self.io.send(&ToAdapter::Close { agent: self.agent });
            self.state = DriverState::Closed;
            self.selected = None;
        }
    }
    fn handle_packet(&mut self, _now: SimTime, _local: SocketAddr, _remote: SocketAddr, _data: &[u8]) -> bool {
        false
    }
    fn handle_timeout(&mut self, now: SimTime) {
        self.now = self.now.max(now);
        if self.state != DriverState::Closed {
            self.take_lines();
        }
    }
    fn poll_timeout(&self) -> Option<SimTime> {
        if self.state == DriverState::Closed {
            return None;
        }
        let inbox = self.io.inbox();
        inbox
            .lines
            .iter()
            .any(|l| agent_of(l) == Some(self.agent))
            .then_some(self.now)
    }
    fn poll_transmit(&mut self) -> Option<reference::ice::Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<DriverEvent> {
        self.events.pop_front()
    }
    fn selected(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.selected
    }
    fn media_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.selected.filter(|_| self.state != DriverState::Failed)
    }
    fn state(&self) -> DriverState {
        self.state
    }
    fn sends_media(&self) -> bool {
        true
    }
    fn local_dtls(&self) -> Option<([u8; 32], Setup)> {
        self.credentials().dtls.clone()
    }
}

/// The endpoint of a party whose ICE is a real stack: the reference signalling with the party's
/// knobs around [`AdapterDriver`]s, and the adapter program's faults as the party's.
pub struct StackEndpoint {
    inner: ReferenceEndpoint,
    io: Arc<Io>,
    /// The inner endpoint's ICS with the stack as its `hello` named it.
    ics: Ics,
}

impl StackEndpoint {
    /// Starts `argv` (the adapter) in `ctx.netns` and makes the endpoint `make_inner` builds around
    /// the stack; `make_inner` gets the stack factory. `renomination`: its agents advertise
    /// renomination in their transports (XEP-0176 as Conversations extends it).
    pub fn start(
        argv: &[String],
        ctx: &LiveContext,
        renomination: bool,
        make_inner: impl FnOnce(StackFactory) -> ReferenceEndpoint,
    ) -> StackEndpoint {
        let (io, stack) = start(argv, ctx);
        let shared = Arc::clone(&io);
        let factory: StackFactory =
            Arc::new(move |call| Box::new(AdapterDriver::new(Arc::clone(&shared), call, renomination)));
        let inner = make_inner(factory);
        let ics = Ics {
            stack,
            ..inner.ics().clone()
        };
        StackEndpoint { inner, io, ics }
    }
}

/// How long an adapter has, once its stdin is closed, to end by itself (stop its browser, remove
/// its temporary profile) before its process group is killed.
pub const EXIT_GRACE: Duration = Duration::from_secs(2);

impl Drop for StackEndpoint {
    fn drop(&mut self) {
        self.io.inbox().closing = true;
        *self.io.to_child.lock().unwrap_or_else(|e| e.into_inner()) = None;
        wait_then_kill(&self.io.child, EXIT_GRACE);
    }
}

impl Endpoint for StackEndpoint {
    fn ics(&self) -> &Ics {
        &self.ics
    }
    fn handle_input(&mut self, now: SimTime, input: Input) {
        self.inner.handle_input(now, input)
    }
    fn poll_output(&mut self) -> Option<Output> {
        if let Some(f) = self.io.inbox().faults.pop_front() {
            return Some(Output::Fault(f));
        }
        self.inner.poll_output()
    }
    fn poll_timeout(&self) -> Option<SimTime> {
        self.inner.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sdp_stack_s_description_and_candidate_lines_read_as_credentials_and_candidates() {
        let d: FromAdapter = serde_json::from_str(
            r#"{"type":"description","agent":2,"sdp":"v=0\r\na=ice-ufrag:Ab\r\na=ice-pwd:0123456789abcdefghijkl\r\na=fingerprint:sha-256 01:02\r\na=setup:actpass\r\n"}"#,
        )
        .unwrap();
        let Ok(Some(FromAdapter::Credentials {
            agent: 2,
            ufrag,
            fingerprint,
            setup,
            ..
        })) = from_sdp(d)
        else {
            panic!("not credentials")
        };
        assert_eq!(
            (ufrag.as_str(), fingerprint.as_deref(), setup.as_deref()),
            ("Ab", Some("sha-256 01:02"), Some("actpass"))
        );
        let bad = FromAdapter::Description {
            agent: 2,
            sdp: "v=0\r\n".into(),
        };
        assert!(from_sdp(bad).unwrap_err().contains("ice-ufrag"));
        let line = |l: &str| FromAdapter::SdpCandidate {
            agent: 2,
            line: l.into(),
        };
        let Ok(Some(FromAdapter::Candidate { candidate, .. })) = from_sdp(line(
            "candidate:1 1 udp 2122260223 10.0.1.2 50000 typ host generation 0",
        )) else {
            panic!("not a candidate")
        };
        assert_eq!((candidate.port, candidate.typ.as_str()), (50000, "host"));
        assert!(matches!(
            from_sdp(line("candidate:1 1 tcp 1518280447 10.0.1.2 9 typ host tcptype active")),
            Ok(None)
        ));
    }

    #[test]
    fn messages_round_trip_in_their_documented_form() {
        let g = ToAdapter::Gather {
            agent: 1,
            role: "controlling".into(),
            servers: vec![WireServer {
                urls: "turn:203.0.113.3:3478?transport=udp".into(),
                username: Some("u".into()),
                credential: Some("p".into()),
            }],
            policy: None,
        };
        let line = serde_json::to_string(&g).unwrap();
        assert_eq!(
            line,
            r#"{"type":"gather","agent":1,"role":"controlling","servers":[{"urls":"turn:203.0.113.3:3478?transport=udp","username":"u","credential":"p"}]}"#
        );
        let c: FromAdapter = serde_json::from_str(
            r#"{"type":"candidate","agent":1,"candidate":{"foundation":"2","component":1,"priority":1694498815,"ip":"198.51.100.7","port":40000,"type":"srflx","rel-addr":"10.0.1.2","rel-port":50000}}"#,
        )
        .unwrap();
        let FromAdapter::Candidate { candidate, .. } = c else {
            panic!("{c:?}")
        };
        let cand = candidate.to_candidate().unwrap();
        assert_eq!(cand.typ, CandidateType::ServerReflexive);
        assert_eq!(cand.base, "10.0.1.2:50000".parse::<SocketAddr>().unwrap());
        assert!(serde_json::from_str::<FromAdapter>(r#"{"type":"selected","agent":1}"#).is_err());
        let hidden: FromAdapter = serde_json::from_str(
            r#"{"type":"selected","agent":1,"component":1,"local":"192.0.2.20:49153","remote":null,"remote-port":11587}"#,
        )
        .unwrap();
        assert!(matches!(
            hidden,
            FromAdapter::Selected {
                remote: None,
                remote_port: Some(11587),
                ..
            }
        ));
        assert!(WireCandidate {
            typ: "bogus".into(),
            ..WireCandidate::of(&cand)
        }
        .to_candidate()
        .is_err());
    }
}
