//! Scenarios: the YAML model, loading with precise errors, and matrix expansion into runs.
//!
//! A scenario names its parties, their implementations (`$under_test`, `$peer` or a name) and NAT
//! profiles (a name or a list, which expands), the network, the servers, a script of user actions and
//! what to expect. Unknown keys are errors that name the file, line, column and key path.
//!
//! A party is one XMPP account. It may be logged in from several devices (`devices: 2`, at most
//! [`MAX_DEVICES`]): resources `NAME@example.org/device1` … `deviceN`, all running the party's
//! implementation behind its NAT, each on its own host address. A script step acts on device 1
//! unless it names another (`{at: 3s, callee: answer, device: 2}`).

mod duration;
mod run_id;
mod spans;

pub use run_id::RunId;
pub use spans::Spans;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::net::{nat_profiles, NatProfile};

pub use duration::{parse_duration, parse_percent};

/// A scenario file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Stable id, e.g. `basic/audio-call`; the file's path under `scenarios/` without `.yaml`.
    pub id: String,
    /// One line saying what the scenario shows.
    pub title: String,
    /// The clauses it exercises (`RFC 8445 §7.3.1.4`).
    #[serde(default)]
    pub cites: Vec<String>,
    /// Parties by name, in file order. `caller` and `callee` are required.
    pub parties: IndexMap<String, Party>,
    /// Network settings.
    #[serde(default)]
    pub network: Network,
    /// Servers inside the simulator.
    #[serde(default)]
    pub servers: Servers,
    /// User actions over time, in order.
    pub script: Vec<Step>,
    /// Simulated time after the last script step before the run stops (default 10 s).
    #[serde(default, deserialize_with = "duration::opt")]
    pub settle: Option<Duration>,
    /// What a conforming pairing produces.
    #[serde(default)]
    pub expect: Expect,
    /// The file it was read from and where its keys are, for errors found after loading
    /// ([`Scenario::error_at`]).
    #[serde(skip)]
    pub source: Option<Arc<Source>>,
    /// The `--scenarios` folder it was loaded from; `None` for the scenario library. Its runs'
    /// replay commands name it.
    #[serde(skip)]
    pub folder: Option<PathBuf>,
}

/// Where a scenario came from: its file and the positions of its keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// The file.
    pub file: PathBuf,
    /// Its keys' positions.
    pub spans: Spans,
}

/// One party: which implementation and which NAT profile(s).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// `$under_test`, `$peer`, an implementation name, or a list of those.
    #[serde(rename = "impl")]
    pub implementation: OneOrMany,
    /// A NAT profile name or a list of names (`cargo xtask list nat-profiles`).
    pub nat: OneOrMany,
    /// Behaviour knobs for this party's implementation, on top of its profile
    /// (`{omit-fingerprint: true}`); see impls/profiles/README.md for the reference's knobs.
    #[serde(default)]
    pub knobs: BTreeMap<String, KnobValue>,
    /// Parties naming the same LAN share one site: hosts side by side behind the same NATs (their
    /// `nat` must be equal), so host candidates reach each other directly.
    #[serde(default)]
    pub lan: Option<String>,
    /// How many devices the account is logged in from (default 1, at most [`MAX_DEVICES`]):
    /// resources `device1` … `deviceN`, same implementation, knobs and NAT, one host address each.
    #[serde(default = "one_device", deserialize_with = "device_count")]
    pub devices: usize,
    /// One-way latency between this party's clients and their XMPP server (a slow mobile link, a
    /// far-away server), instead of half of `network.signalling.latency`.
    #[serde(default, rename = "signalling-latency", deserialize_with = "duration::opt")]
    pub signalling_latency: Option<Duration>,
}

/// The most devices a party may have, and the highest device a step may name.
pub const MAX_DEVICES: usize = 4;

fn one_device() -> usize {
    1
}

/// `n` when it is from 1 to [`MAX_DEVICES`]; else an error saying what `what` takes. Checked while
/// deserializing, so the error names the line, column and key.
fn in_device_range<E: de::Error>(n: u64, what: &str) -> Result<usize, E> {
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_DEVICES).contains(&n) => Ok(n),
        _ => Err(E::custom(format!("{what} takes 1 to {MAX_DEVICES}, not `{n}`"))),
    }
}

/// `devices: N` of a party.
fn device_count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    in_device_range(u64::deserialize(d)?, "`devices`")
}

/// `device: N` of a script step.
struct DeviceNumber(usize);

impl<'de> Deserialize<'de> for DeviceNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DeviceNumber, D::Error> {
        in_device_range(u64::deserialize(d)?, "`device`").map(DeviceNumber)
    }
}

/// A knob value as written: a string, a boolean or a number; implementations read it as text.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum KnobValue {
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Text(String),
}

impl fmt::Display for KnobValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnobValue::Bool(b) => write!(f, "{b}"),
            KnobValue::Num(n) => write!(f, "{n}"),
            KnobValue::Text(t) => f.write_str(t),
        }
    }
}

/// A value or a list of values; a list expands into several runs.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, in order.
    pub fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Latency and impairments of one path.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PathSettings {
    /// One-way latency between the two parties (each party's access link carries half).
    #[serde(default, deserialize_with = "duration::opt")]
    pub latency: Option<Duration>,
    /// Per-packet extra delay, uniform in 0..=jitter (each access link gets half); never reorders.
    #[serde(default, deserialize_with = "duration::opt")]
    pub jitter: Option<Duration>,
    /// Loss per access link traversal: `1%` (independent), or bursty
    /// `{model: gilbert-elliott, p: 1%, r: 25%, loss-good: 0%, loss-bad: 100%}`.
    #[serde(default)]
    pub loss: Option<LossSetting>,
    /// Share of packets delivered twice per access link traversal, e.g. `0.5%`.
    #[serde(default, deserialize_with = "duration::opt_percent")]
    pub duplicate: Option<f64>,
    /// Share of packets held back by `reorder-delay` so later ones overtake them, e.g. `1%`.
    #[serde(default, deserialize_with = "duration::opt_percent")]
    pub reorder: Option<f64>,
    /// How long a reordered packet is held back (default 20ms).
    #[serde(default, deserialize_with = "duration::opt")]
    pub reorder_delay: Option<Duration>,
    /// Bandwidth cap of each access link, e.g. `1mbit`, `256kbit` (bits per second).
    #[serde(default, deserialize_with = "duration::opt_bandwidth")]
    pub bandwidth: Option<u64>,
}

/// A loss setting as written: a rate, or the Gilbert–Elliott burst model.
#[derive(Clone, Debug, PartialEq)]
pub enum LossSetting {
    /// Independent loss with this probability.
    Rate(f64),
    /// Bursty loss ([`crate::net::LossModel::GilbertElliott`]).
    Burst(BurstLoss),
}

/// The Gilbert–Elliott parameters as written (all percentages).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BurstLoss {
    /// Must be `gilbert-elliott`.
    pub model: String,
    /// P(good → bad) per packet.
    #[serde(deserialize_with = "duration::percent")]
    pub p: f64,
    /// P(bad → good) per packet; mean burst length is 1/r packets.
    #[serde(deserialize_with = "duration::percent")]
    pub r: f64,
    /// Loss in the good state (default 0%).
    #[serde(default, deserialize_with = "duration::opt_percent")]
    pub loss_good: Option<f64>,
    /// Loss in the bad state (default 100%).
    #[serde(default, deserialize_with = "duration::opt_percent")]
    pub loss_bad: Option<f64>,
}

impl<'de> Deserialize<'de> for LossSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LossSetting, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LossSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a loss rate like 1%, or {model: gilbert-elliott, p: 1%, r: 25%}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LossSetting, E> {
                parse_percent(v).map(LossSetting::Rate).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LossSetting, E> {
                parse_percent(&v.to_string()).map(LossSetting::Rate).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LossSetting, E> {
                self.visit_f64(v as f64)
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<LossSetting, A::Error> {
                let b = BurstLoss::deserialize(de::value::MapAccessDeserializer::new(m))?;
                if b.model != "gilbert-elliott" {
                    return Err(de::Error::unknown_variant(&b.model, &["gilbert-elliott"]));
                }
                Ok(LossSetting::Burst(b))
            }
        }
        d.deserialize_any(V)
    }
}

impl PathSettings {
    /// The impairments of one access link when this path's latency and jitter are split evenly
    /// over the two parties' links (loss, duplication and reordering apply per link).
    pub fn per_link(&self) -> crate::net::LinkParams {
        use crate::net::LossModel;
        let half = |d: Option<Duration>| d.unwrap_or_default() / 2;
        crate::net::LinkParams {
            latency: half(self.latency),
            jitter: half(self.jitter),
            loss: match &self.loss {
                None => LossModel::Bernoulli(0.0),
                Some(LossSetting::Rate(p)) => LossModel::Bernoulli(*p),
                Some(LossSetting::Burst(b)) => LossModel::GilbertElliott {
                    p: b.p,
                    r: b.r,
                    loss_good: b.loss_good.unwrap_or(0.0),
                    loss_bad: b.loss_bad.unwrap_or(1.0),
                },
            },
            duplicate: self.duplicate.unwrap_or(0.0),
            reorder: self.reorder.unwrap_or(0.0),
            reorder_delay: self.reorder_delay.unwrap_or(Duration::from_millis(20)),
            bandwidth_bps: self.bandwidth,
        }
    }
}

/// Network settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The XMPP path: one-way client-to-client stanza latency (each client-to-server leg carries half).
    #[serde(default)]
    pub signalling: PathSettings,
    /// The media path (UDP).
    #[serde(default)]
    pub media: PathSettings,
}

/// Servers inside the simulator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Servers {
    /// Run a STUN server and announce it through XEP-0215.
    #[serde(default = "yes")]
    pub stun: bool,
    /// The TURN server and how the XMPP server hands out its credentials.
    #[serde(default)]
    pub turn: TurnSettings,
    /// XMPP server settings.
    #[serde(default)]
    pub xmpp: XmppSettings,
}

fn yes() -> bool {
    true
}

impl Default for Servers {
    fn default() -> Self {
        Servers {
            stun: true,
            turn: TurnSettings::default(),
            xmpp: XmppSettings::default(),
        }
    }
}

/// The TURN server (RFC 8656) inside the simulator, announced through XEP-0215 with TURN REST
/// credentials (XEP-0215 §2; draft-uberti-rtcweb-turn-rest-00 §2.2, §4.2).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TurnSettings {
    /// Run it (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Client transports it listens on and announces: `udp` (3478), `tcp` (3478), `tls` (443,
    /// announced as `turns`). Default `[udp, tls]`, what the Conversations notes recommend.
    #[serde(default = "default_turn_transports")]
    pub transports: Vec<TurnServerTransport>,
    /// Live allocations per REST user; 0 = unlimited.
    #[serde(default)]
    pub user_quota: u32,
    /// Live allocations on the whole server (coturn `total-quota`); 0 = unlimited.
    #[serde(default)]
    pub total_quota: u32,
    /// How long the credentials the XMPP server hands out stay valid (default 24h).
    #[serde(default, deserialize_with = "duration::opt")]
    pub credential_ttl: Option<Duration>,
    /// The one allocation lifetime the server grants, whatever a client asks (coturn
    /// `max-allocate-lifetime` and `default-allocate-lifetime` set alike); default 600 s with at most
    /// 3600 s on request (RFC 8656 §7.2). A short one makes clients refresh within a call.
    #[serde(default, deserialize_with = "duration::opt")]
    pub lifetime: Option<Duration>,
    /// Hand out credentials that expired an hour before the run began (a server with a wrong clock
    /// or a stale credential cache); the TURN server answers 401.
    #[serde(default)]
    pub expired_credentials: bool,
    /// Put this fixed user in every REST username instead of the requester's localpart, so all
    /// accounts share one per-user quota (Prosody's mod_turn_external with `turn_external_user`).
    #[serde(default)]
    pub shared_user: Option<String>,
}

fn default_turn_transports() -> Vec<TurnServerTransport> {
    vec![TurnServerTransport::Udp, TurnServerTransport::Tls]
}

/// A client transport of the TURN server (RFC 8656 §3.1), as a scenario names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnServerTransport {
    /// UDP on port 3478, announced as `turn` over `udp`.
    Udp,
    /// TCP on port 3478, announced as `turn` over `tcp`.
    Tcp,
    /// TLS over TCP on port 443, announced as `turns` over `tcp`.
    Tls,
}

/// How a run ended, as a scenario expects it and the report writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Media flowed both ways.
    Connected,
    /// No media both ways, and nobody declined or cancelled.
    Failed,
    /// The callee declined (JMI reject, or session-terminate decline or busy).
    Rejected,
    /// The caller cancelled before the answer.
    Cancelled,
}

impl Outcome {
    /// The name as written: `connected`, `failed`, `rejected`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
        }
    }
}

impl Default for TurnSettings {
    fn default() -> Self {
        TurnSettings {
            enabled: true,
            transports: default_turn_transports(),
            user_quota: 0,
            total_quota: 0,
            credential_ttl: None,
            lifetime: None,
            expired_credentials: false,
            shared_user: None,
        }
    }
}

/// XMPP server settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmppSettings {
    /// Client State Indication behaviour for inactive clients: `none` (deliver at once, default),
    /// `queue-bodyless` (hold messages without a body, JMI included), `queue-except-jmi`.
    #[serde(default)]
    pub csi: Option<crate::servers::xmpp::CsiPolicy>,
    /// XEP-0280 Message Carbons (default true): a resource that enabled them gets copies of the chat
    /// messages its account's other resources send and receive. `false`: the server does not offer
    /// them (an enable request draws service-unavailable).
    #[serde(default = "yes")]
    pub carbons: bool,
}

impl Default for XmppSettings {
    fn default() -> Self {
        XmppSettings {
            csi: None,
            carbons: true,
        }
    }
}

/// Expected result for a conforming pairing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `connected`, `failed`, `rejected` or `cancelled`.
    pub outcome: Option<Outcome>,
    /// Checks and the verdicts they must reach: an id alone must pass (an INFO check must be
    /// informational), or `{id: ID, verdict: fail, detail: "486"}` names the verdict and a text the
    /// detail must contain.
    #[serde(default)]
    pub checks: Vec<ExpectCheck>,
    /// Capabilities every party's implementation must declare in its ICS for the whole
    /// expectation to apply (`[jmi]`, `[ice-restart]`; [`CAPABILITIES`]). A run whose parties lack
    /// one still runs and is judged; its expectation is waived, with the reason, as the scenario
    /// says nothing about such a pairing.
    #[serde(default, deserialize_with = "capabilities")]
    pub requires: Vec<String>,
}

/// Capability names a scenario's `requires` may use ([`crate::endpoint::CAPABILITIES`]).
pub use crate::endpoint::CAPABILITIES;

fn capabilities<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    if let Some(bad) = v.iter().find(|c| !CAPABILITIES.contains(&c.as_str())) {
        return Err(de::Error::unknown_variant(bad, CAPABILITIES));
    }
    Ok(v)
}

/// One expected check result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectCheck {
    /// Check id (`cargo xtask list checks`).
    pub id: String,
    /// Expected verdict, written as the report writes it (`pass`, `fail`, `inconclusive`, ...);
    /// `None` means pass (informational for INFO checks).
    pub verdict: Option<crate::checks::Verdict>,
    /// Text the check's detail must contain.
    pub detail: Option<String>,
    /// Capabilities both parties must declare for this entry to apply ([`Expect::requires`]).
    pub requires: Vec<String>,
}

impl<'de> Deserialize<'de> for ExpectCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ExpectCheck, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            id: String,
            #[serde(default)]
            verdict: Option<crate::checks::Verdict>,
            #[serde(default)]
            detail: Option<String>,
            #[serde(default, deserialize_with = "capabilities")]
            requires: Vec<String>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectCheck;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a check id, or {id: ID, verdict: VERDICT, detail: TEXT, requires: [CAPABILITY]}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExpectCheck, E> {
                Ok(ExpectCheck {
                    id: v.to_string(),
                    verdict: None,
                    detail: None,
                    requires: vec![],
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<ExpectCheck, A::Error> {
                let f = Full::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(ExpectCheck {
                    id: f.id,
                    verdict: f.verdict,
                    detail: f.detail,
                    requires: f.requires,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A user action in the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Call a party with these media.
    Call {
        /// The party called.
        to: String,
        /// `audio`, `video`.
        media: Vec<String>,
    },
    /// Answer.
    Answer,
    /// Decline.
    Reject,
    /// Hang up or cancel.
    Hangup,
    /// The app goes to the background: CSI `<inactive/>`.
    GoInactive,
    /// The app comes back: CSI `<active/>`.
    GoActive,
    /// The party's current access link goes down (every packet across it is lost).
    LinkDown,
    /// The party's current access link comes back.
    LinkUp,
    /// The party's host moves to a new interface (Wi-Fi → mobile) behind NAT profile `nat`
    /// (default `mobile-carrier`); the old link goes down.
    SwitchInterface {
        /// NAT profile of the new interface's network.
        nat: String,
    },
}

/// Every action a step may name.
pub const ACTIONS: &[&str] = &[
    "call",
    "answer",
    "reject",
    "hangup",
    "go-inactive",
    "go-active",
    "link-down",
    "link-up",
    "switch-interface",
];

/// One scripted step: `{at: 3s, callee: answer}`, or on another of the party's devices
/// `{at: 3s, callee: answer, device: 2}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When, from the start of the run.
    pub at: Duration,
    /// Which party acts.
    pub party: String,
    /// On which of its devices (1-based; default 1).
    pub device: usize,
    /// What it does.
    pub action: Action,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step like {at: 3s, callee: answer}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Step, A::Error> {
                let mut at = None;
                let mut actor: Option<(String, String)> = None;
                let mut to = None;
                let mut media: Option<Vec<String>> = None;
                let mut nat: Option<String> = None;
                let mut device = 1;
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "at" => {
                            let s: String = m.next_value()?;
                            at = Some(parse_duration(&s).map_err(de::Error::custom)?);
                        }
                        "to" => to = Some(m.next_value::<String>()?),
                        "media" => media = Some(m.next_value()?),
                        "nat" => nat = Some(m.next_value()?),
                        "device" => device = m.next_value::<DeviceNumber>()?.0,
                        _ => {
                            let a: String = m.next_value()?;
                            if let Some((p, _)) = &actor {
                                return Err(de::Error::custom(format!(
                                    "one party acts per step, found `{p}` and `{k}`"
                                )));
                            }
                            if !ACTIONS.contains(&a.as_str()) {
                                return Err(de::Error::unknown_variant(&a, ACTIONS));
                            }
                            actor = Some((k, a));
                        }
                    }
                }
                let at = at.ok_or_else(|| de::Error::missing_field("at"))?;
                let (party, a) = actor.ok_or_else(|| de::Error::custom("a step needs `PARTY: ACTION`"))?;
                let action = match a.as_str() {
                    "call" => Action::Call {
                        to: to.ok_or_else(|| de::Error::missing_field("to"))?,
                        media: media.unwrap_or_else(|| vec!["audio".into()]),
                    },
                    "answer" => Action::Answer,
                    "reject" => Action::Reject,
                    "go-inactive" => Action::GoInactive,
                    "go-active" => Action::GoActive,
                    "link-down" => Action::LinkDown,
                    "link-up" => Action::LinkUp,
                    "switch-interface" => Action::SwitchInterface {
                        nat: nat.take().unwrap_or_else(|| "mobile-carrier".into()),
                    },
                    _ => Action::Hangup,
                };
                if nat.is_some() {
                    return Err(de::Error::custom("`nat` belongs to a switch-interface step"));
                }
                Ok(Step {
                    at,
                    party,
                    device,
                    action,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// A scenario that could not be loaded. Displays as `FILE:LINE:COLUMN: KEY.PATH: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Key path (`network.media.latency`), when known.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        write!(f, ": ")?;
        if let Some(p) = &self.path {
            write!(f, "{p}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

impl Source {
    /// An error about the value at key path `path`, placed at its line and column (or at the
    /// deepest enclosing key the file has).
    pub fn error_at(&self, path: &str, message: String) -> ScenarioError {
        let at = self.spans.find(path);
        ScenarioError {
            file: self.file.clone(),
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            path: Some(path.to_string()),
            message,
        }
    }
}

impl Scenario {
    /// An error about this scenario's value at key path `path` (`parties.caller.impl`), with the
    /// file, line and column when the scenario was read from a file.
    pub fn error_at(&self, path: &str, message: String) -> ScenarioError {
        match &self.source {
            Some(s) => s.error_at(path, message),
            None => ScenarioError {
                file: PathBuf::from(format!("{}.yaml", self.id)),
                line: None,
                column: None,
                path: Some(path.to_string()),
                message,
            },
        }
    }

    /// Parses `text` (the contents of `file`) and validates names. `id_hint` is what the id must be
    /// (the path under `scenarios/`), when known.
    ///
    /// Errors: YAML syntax, unknown or missing keys, bad durations, unknown NAT profiles or parties.
    pub fn parse(file: &Path, text: &str, id_hint: Option<&str>) -> Result<Scenario, ScenarioError> {
        let spans = Spans::of(text);
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let mut sc: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let loc = inner.location();
            // serde_yaml_ng appends " at line L column C" to messages; we print the location ourselves.
            let mut message = inner.to_string();
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            // It also prefixes the parent key path ("network.media: "); we print the full path ourselves.
            if let Some((head, rest)) = message.split_once(": ") {
                if !head.contains(' ') && path.starts_with(head) {
                    message = rest.to_string();
                }
            }
            let path = (path != "." && !path.is_empty()).then_some(path);
            // A value's own deserializer (a duration, a NAT list) reports no useful position:
            // the key path's does.
            let at = match (&loc, path.as_deref().and_then(|p| spans.find(p))) {
                (Some(l), _) if (l.line(), l.column()) != (1, 1) || path.is_none() => Some((l.line(), l.column())),
                (_, Some(found)) => Some(found),
                (Some(l), None) => Some((l.line(), l.column())),
                (None, None) => None,
            };
            ScenarioError {
                file: file.to_path_buf(),
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                path,
                message,
            }
        })?;
        let source = Arc::new(Source {
            file: file.to_path_buf(),
            spans,
        });
        sc.source = Some(Arc::clone(&source));
        let err = |path: &str, message: String| source.error_at(path, message);
        if let Some(h) = id_hint {
            if sc.id != h {
                return Err(err("id", format!("id `{}` must match the file's path `{h}`", sc.id)));
            }
        }
        for required in ["caller", "callee"] {
            if !sc.parties.contains_key(required) {
                return Err(err("parties", format!("a party named `{required}` is required")));
            }
        }
        let profiles = nat_profiles();
        for (name, p) in &sc.parties {
            for n in p.nat.values() {
                if !profiles.contains_key(&n) {
                    let known: Vec<_> = profiles.keys().cloned().collect();
                    return Err(err(
                        &format!("parties.{name}.nat"),
                        format!("unknown NAT profile `{n}` (known: {})", known.join(", ")),
                    ));
                }
            }
        }
        for (name, p) in &sc.parties {
            let Some(lan) = &p.lan else { continue };
            if let Some((other, q)) = sc.parties.iter().find(|(_, q)| q.lan.as_ref() == Some(lan)) {
                if q.nat != p.nat {
                    return Err(err(
                        &format!("parties.{name}.nat"),
                        format!("parties on LAN `{lan}` share its NATs: `{name}` and `{other}` must have the same nat"),
                    ));
                }
            }
        }
        for (i, s) in sc.script.iter().enumerate() {
            let Some(p) = sc.parties.get(&s.party) else {
                return Err(err(
                    &format!("script[{i}].{}", s.party),
                    format!("no party named `{}`", s.party),
                ));
            };
            if s.device > p.devices {
                return Err(err(
                    &format!("script[{i}].device"),
                    format!(
                        "party `{}` has {} device(s), so there is no device {}",
                        s.party, p.devices, s.device
                    ),
                ));
            }
            if let Action::Call { to, .. } = &s.action {
                if !sc.parties.contains_key(to) {
                    return Err(err(&format!("script[{i}].to"), format!("no party named `{to}`")));
                }
            }
            if let Action::SwitchInterface { nat } = &s.action {
                if !profiles.contains_key(nat) {
                    let known: Vec<_> = profiles.keys().cloned().collect();
                    return Err(err(
                        &format!("script[{i}].nat"),
                        format!("unknown NAT profile `{nat}` (known: {})", known.join(", ")),
                    ));
                }
            }
            if i > 0 && s.at < sc.script[i - 1].at {
                return Err(err(&format!("script[{i}].at"), "steps must be in time order".into()));
            }
        }
        Ok(sc)
    }

    /// Loads every `*.yaml` under `dir` (recursively), sorted by id.
    ///
    /// Errors: the first file that fails to read or parse.
    pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
        let mut files = Vec::new();
        collect_yaml(dir, &mut files).map_err(|e| ScenarioError {
            file: dir.to_path_buf(),
            line: None,
            column: None,
            path: None,
            message: e.to_string(),
        })?;
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| ScenarioError {
                file: f.clone(),
                line: None,
                column: None,
                path: None,
                message: e.to_string(),
            })?;
            let rel = f.strip_prefix(dir).unwrap_or(&f).with_extension("");
            let id = rel.to_string_lossy().replace('\\', "/");
            out.push(Scenario::parse(&f, &text, Some(&id))?);
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Simulated time at which the run stops: the last step plus `settle` (default 10 s).
    pub fn deadline(&self) -> Duration {
        self.script.last().map(|s| s.at).unwrap_or_default() + self.settle.unwrap_or(Duration::from_secs(10))
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            collect_yaml(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// One party of an expanded run.
#[derive(Clone, Debug)]
pub struct PartySpec {
    /// Party name (`caller`).
    pub name: String,
    /// Implementation name.
    pub implementation: String,
    /// NAT profile name.
    pub nat_name: String,
    /// The profile.
    pub nat: NatProfile,
    /// Knobs the scenario sets for this party.
    pub knobs: BTreeMap<String, String>,
    /// The LAN it shares with other parties, if any.
    pub lan: Option<String>,
    /// Its own client-to-server latency, one way, when the scenario sets one.
    pub signalling_latency: Option<Duration>,
}

/// One run: a scenario with every list resolved, an implementation per party, and a seed.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// `SCENARIO/CALLER_IMPL->CALLEE_IMPL/CALLER_NAT+CALLEE_NAT/seed-N`.
    pub id: String,
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// Parties in scenario order.
    pub parties: Vec<PartySpec>,
    /// The run seed.
    pub seed: u64,
}

impl PartySpec {
    /// Party `name` of `sc` with this implementation and NAT profile; knobs and LAN come from the
    /// scenario.
    pub fn new(sc: &Scenario, name: &str, implementation: &str, nat_name: &str, nat: NatProfile) -> PartySpec {
        let p = &sc.parties[name];
        PartySpec {
            name: name.to_string(),
            implementation: implementation.to_string(),
            nat_name: nat_name.to_string(),
            nat,
            knobs: p.knobs.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
            lan: p.lan.clone(),
            signalling_latency: p.signalling_latency,
        }
    }
}

impl RunSpec {
    /// The party named `name`.
    pub fn party(&self, name: &str) -> Option<&PartySpec> {
        self.parties.iter().find(|p| p.name == name)
    }

    /// How many devices party `name` is logged in from: the scenario's `devices` (1 when the
    /// scenario does not name the party).
    pub fn devices(&self, name: &str) -> usize {
        self.scenario.parties.get(name).map_or(1, |p| p.devices)
    }
}

/// What to expand a scenario over.
#[derive(Clone, Debug)]
pub struct MatrixSpec {
    /// (under test, peer) pairs; `$under_test` and `$peer` are replaced by these.
    pub pairings: Vec<(String, String)>,
    /// When set, every party's NAT is each of these in turn (replacing the scenario's).
    pub nat_override: Option<Vec<String>>,
    /// Seeds.
    pub seeds: Vec<u64>,
}

/// Expands `sc` over `m`: every pairing × every combination of the parties' NAT lists × every seed.
/// Runs come out sorted by id, duplicates removed.
pub fn expand(sc: &Arc<Scenario>, m: &MatrixSpec) -> Vec<RunSpec> {
    let profiles = nat_profiles();
    let mut out: BTreeMap<String, RunSpec> = BTreeMap::new();
    for (ut, peer) in &m.pairings {
        // Cartesian product of per-party impl and NAT choices, in party order.
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for p in sc.parties.values() {
            let impls: Vec<String> = p
                .implementation
                .values()
                .into_iter()
                .map(|i| match i.as_str() {
                    "$under_test" => ut.clone(),
                    "$peer" => peer.clone(),
                    _ => i,
                })
                .collect();
            let nats = m.nat_override.clone().unwrap_or_else(|| p.nat.values());
            let mut next = Vec::new();
            for c in &combos {
                for i in &impls {
                    for n in &nats {
                        let mut c = c.clone();
                        c.push((i.clone(), n.clone()));
                        next.push(c);
                    }
                }
            }
            combos = next;
        }
        // Parties on one LAN sit behind one NAT chain: a combination that gives them different NATs
        // (a list, or `--nat` applied to each party) would label a run with a NAT one of them is not
        // behind, so the LAN takes each NAT as one.
        let lans: Vec<Option<&String>> = sc.parties.values().map(|p| p.lan.as_ref()).collect();
        combos.retain(|c| {
            (0..c.len()).all(|i| (0..i).all(|j| lans[i].is_none() || lans[i] != lans[j] || c[i].1 == c[j].1))
        });
        for c in combos {
            for &seed in &m.seeds {
                let parties: Vec<PartySpec> = sc
                    .parties
                    .keys()
                    .zip(&c)
                    .map(|(name, (i, n))| {
                        let nat = profiles.get(n).cloned().unwrap_or_else(|| NatProfile {
                            description: String::new(),
                            nats: Vec::new(),
                            firewall: None,
                        });
                        PartySpec::new(sc, name, i, n, nat)
                    })
                    .collect();
                let id = RunId {
                    scenario: sc.id.clone(),
                    impls: parties.iter().map(|p| p.implementation.clone()).collect(),
                    nats: parties.iter().map(|p| p.nat_name.clone()).collect(),
                    seed,
                    repeat: None,
                }
                .to_string();
                out.entry(id.clone()).or_insert(RunSpec {
                    id,
                    scenario: sc.clone(),
                    parties,
                    seed,
                });
            }
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests;
