//! Judging a capture: each call found in it becomes a run whose trace holds what the capture shows
//! at each agent's vantage ([`super::agents`]), judged by the same checks as a simulated run, then
//! read for what a capture can decide.
//!
//! What a capture cannot decide is `inconclusive`, with the reason:
//! - a check that reads the signalling, when no stanzas were given;
//! - a check about an agent the capture has no vantage at ("the capture does not show it");
//! - a check whose rule depends on what an implementation declares (its ICS), unless it passed;
//! - `endpoint.no-fault`, which is about faults the harness sees in a program it runs.
//!
//! Evidence numbers in a capture's report are the capture's frame numbers (Wireshark's
//! `frame.number`), not trace indices.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use minidom::Element;

use crate::checks::{Judged, Verdict};
use crate::report::RunReport;
use crate::run::{PartyInfo, RunOutput};
use crate::scenario::{PartySpec, RunSpec, Scenario};
use crate::time::SimTime;
use crate::trace::{Dir, Trace, TraceKind};

use super::agents::{self, Found};
use super::read::{Capture, Transport};

/// A stanza of the call, from the capture itself or a stanza log, on the capture's clock.
#[derive(Clone, Debug)]
pub struct LoggedStanza {
    /// Time since the Unix epoch, ns.
    pub time_ns: u64,
    /// The stream it was on: a party name (`caller`, `callee/device2`, as this project's captures
    /// name them) or a JID or session name from a log.
    pub stream: String,
    /// The client sent it (client to server); `false`: the server delivered it.
    pub from_client: bool,
    /// The stanza.
    pub element: Element,
    /// Where it came from, for evidence: the capture frame (1-based) or the log line.
    pub origin: usize,
}

/// One call of a capture, ready to judge.
pub struct CaptureRun {
    /// The run: its trace is the capture's view.
    pub out: RunOutput,
    /// The capture frame of each trace event (index by trace index).
    pub frames: Vec<usize>,
    /// Per party (`caller`, `callee`): its agent's description, and whether the capture has a
    /// vantage at it.
    pub agents: Vec<(String, String, bool)>,
    /// Stanzas are part of the trace.
    pub signalling: bool,
    /// An agent's checks went out under more than one ufrag: an ICE restart (RFC 8445 §9).
    pub restarted: bool,
    /// A check carried a NOMINATION attribute (0xC001 or 0x0030).
    pub nomination_attributes: bool,
}

/// Why a capture has nothing to judge.
#[derive(Debug)]
pub struct NothingToJudge(pub String);

impl std::fmt::Display for NothingToJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that read the signalling (Jingle, JMI, disco, the signalled credentials, fingerprint and
/// `setup`, renomination's negotiation, XEP-0215 credentials).
const NEEDS_SIGNALLING: &[&str] = &[
    "disco.",
    "jingle.",
    "jmi.",
    "dtls.",
    "ice.credentials-signalled",
    "ice.component-2-checked",
    "ice.renomination.only-when-negotiated",
    "ice.restart",
    "turn.credentials-from-xep0215",
];

/// Checks whose failure depends on what the implementation declares (its ICS).
const NEEDS_DECLARATION: &[&str] = &["ice.renomination.unknown-0x0030-draws-420", "ice.restart"];

/// Checks that compare both agents' own views (the controlling agent's nomination with the
/// controlled agent's media): undecided when the capture shows one.
const NEEDS_BOTH_VIEWS: &[&str] = &[
    "media.bidirectional-on-selected-pair",
    "ice.nomination.controlled-uses-nominated",
];

/// Checks that need to know where an ICE restart began (its transport-info): undecided without
/// signalling when the wire shows one (an agent's checks under a new ufrag).
const NEEDS_RESTART_SIGNALLING: &[&str] = &["ice.consent-freshness", "ice.consent-check-schedule"];

/// Checks that need to know whether renomination was negotiated (ice-options in the signalling):
/// undecided without signalling when the wire shows a NOMINATION attribute (0xC001, 0x0030).
const NEEDS_RENOMINATION_SIGNALLING: &[&str] = &[
    "ice.nomination.",
    "media.bidirectional-on-selected-pair",
    "ice.renomination.controlled-follows-highest",
];

/// About faults the harness sees in programs it runs, or about what a user did (the scenario's
/// script: placing a call, answering on a device): not in a capture.
const HARNESS_ONLY: &[&str] = &[
    "endpoint.no-fault",
    "jmi.call-only-to-capable-peer",
    "jmi.other-devices-stop-ringing",
];

fn listed(list: &[&str], id: &str) -> bool {
    list.iter()
        .any(|p| if p.ends_with('.') { id.starts_with(p) } else { id == *p })
}

/// The calls of `cap`, each as a run named `capture/NAME/...`, with `stanzas` merged on the
/// capture's timeline.
///
/// Errors: [`NothingToJudge`] when no ICE agent checked another (no STUN Binding request with a
/// `RECEIVER:SENDER` USERNAME between two agents), saying what the capture held instead.
pub fn runs(cap: &Capture, name: &str, stanzas: &[LoggedStanza]) -> Result<Vec<CaptureRun>, NothingToJudge> {
    let found = agents::find(cap);
    if found.calls.is_empty() {
        return Err(NothingToJudge(nothing_found(cap, &found)));
    }
    let origin = cap
        .packets
        .iter()
        .map(|p| p.time_ns)
        .chain(stanzas.iter().map(|s| s.time_ns))
        .min()
        .unwrap_or(0);
    let parties = party_names(&found, stanzas);
    let mut out = Vec::new();
    if !stanzas.is_empty() && parties.iter().any(Option::is_some) {
        // The signalling names the parties: one run, every agent of a party under its name (the
        // devices of an account are one party, as in a simulated run).
        let caller: Vec<usize> = (0..found.agents.len())
            .filter(|i| parties[*i].as_deref() == Some("caller"))
            .collect();
        let callee: Vec<usize> = (0..found.agents.len())
            .filter(|i| parties[*i].as_deref() == Some("callee"))
            .collect();
        if !caller.is_empty() && !callee.is_empty() {
            out.push(build(cap, &found, name, "call-1", &caller, &callee, stanzas, origin));
            return Ok(out);
        }
    }
    for (n, &(a, b)) in found.calls.iter().enumerate() {
        out.push(build(
            cap,
            &found,
            name,
            &format!("call-{}", n + 1),
            &[a],
            &[b],
            &[],
            origin,
        ));
    }
    Ok(out)
}

/// What the capture holds, when it holds no call.
fn nothing_found(cap: &Capture, found: &Found) -> String {
    let s = &cap.skipped;
    let mut held = vec![format!(
        "{} frames: {} UDP datagrams or TCP messages",
        group(cap.frames),
        group(cap.packets.len())
    )];
    for (n, what) in [
        (s.link_layer, "of a link layer not read"),
        (s.not_ip, "not IP"),
        (s.fragments, "IP fragments"),
        (s.other_transport, "neither UDP nor TCP"),
    ] {
        if n > 0 {
            held.push(format!("{} {what}", group(n)));
        }
    }
    if s.opaque_streams > 0 {
        held.push(format!(
            "{} TCP streams that are not STUN-framed (TLS?)",
            group(s.opaque_streams)
        ));
    }
    if found.malformed_stun > 0 {
        held.push(format!(
            "{} STUN-like messages that do not decode",
            group(found.malformed_stun)
        ));
    }
    let truncated = cap
        .truncated
        .as_ref()
        .map(|t| format!("; the file is cut short or damaged {t}"))
        .unwrap_or_default();
    if found.binding_requests == 0 {
        format!(
            "no STUN Binding requests in {} packets ({}){truncated}",
            group(cap.frames),
            held.join(", ")
        )
    } else {
        format!(
            "{} STUN Binding requests, but no ICE connectivity check between two agents (a USERNAME \
             RECEIVER:SENDER answered from the other side) in {} packets ({}){truncated}",
            group(found.binding_requests),
            group(cap.frames),
            held.join(", ")
        )
    }
}

/// `1204` → `1,204`.
fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The party of each agent, from the ufrags its party's stanzas signalled (XEP-0176 §5.1); `None`
/// for an agent whose ufrags no stanza carried.
fn party_names(found: &Found, stanzas: &[LoggedStanza]) -> Vec<Option<String>> {
    let streams = stream_parties(stanzas);
    let mut by_ufrag: BTreeMap<String, String> = BTreeMap::new();
    for s in stanzas.iter().filter(|s| s.from_client) {
        let Some(party) = streams.get(&s.stream) else { continue };
        for t in s
            .element
            .children()
            .flat_map(|j| j.children())
            .flat_map(|c| c.children())
        {
            if let Some(u) = t.attr("ufrag") {
                by_ufrag.entry(u.to_string()).or_insert_with(|| party.clone());
            }
        }
    }
    found
        .agents
        .iter()
        .map(|a| a.ufrags.iter().find_map(|u| by_ufrag.get(u).cloned()))
        .collect()
}

/// The party each stream belongs to: this project's own stream names as they are (`callee/device2`
/// is `callee`); otherwise the stream that sent the session-initiate is the caller's and the others
/// the callee's.
pub fn stream_parties(stanzas: &[LoggedStanza]) -> BTreeMap<String, String> {
    let own = |s: &str| matches!(s.split('/').next(), Some("caller" | "callee"));
    let initiator = stanzas
        .iter()
        .find(|s| {
            s.from_client
                && s.element
                    .children()
                    .any(|j| j.name() == "jingle" && j.attr("action") == Some("session-initiate"))
        })
        .map(|s| s.stream.clone());
    let mut out = BTreeMap::new();
    for s in stanzas {
        let party = if own(&s.stream) {
            s.stream.split('/').next().unwrap_or("").to_string()
        } else if Some(&s.stream) == initiator.as_ref() {
            "caller".to_string()
        } else {
            "callee".to_string()
        };
        out.entry(s.stream.clone()).or_insert(party);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn build(
    cap: &Capture,
    found: &Found,
    name: &str,
    call: &str,
    caller: &[usize],
    callee: &[usize],
    stanzas: &[LoggedStanza],
    origin: u64,
) -> CaptureRun {
    let at = |t: u64| SimTime::from_micros(t.saturating_sub(origin) / 1000);
    let party_point: [(crate::trace::Point, &[usize]); 2] =
        [(Arc::from("caller"), caller), (Arc::from("callee"), callee)];
    // (interface, address) → the party whose vantage it is.
    let mut home: BTreeMap<(usize, SocketAddr), usize> = BTreeMap::new();
    for (p, (_, agents)) in party_point.iter().enumerate() {
        for &i in agents.iter() {
            let a = &found.agents[i];
            if let Some(v) = a.vantage {
                for addr in a.at_vantage() {
                    home.insert((v, addr), p);
                }
            }
        }
    }
    let mut trace = Trace::default();
    let mut frames = Vec::new();
    // Packets and stanzas merged in time order (stable: file order within a time).
    let mut items: Vec<(u64, usize, bool)> = cap
        .packets
        .iter()
        .enumerate()
        .map(|(i, p)| (p.time_ns, i, false))
        .collect();
    items.extend(stanzas.iter().enumerate().map(|(i, s)| (s.time_ns, i, true)));
    items.sort_by_key(|&(t, i, stanza)| (t, stanza, i));
    let streams = stream_parties(stanzas);
    for (t, i, is_stanza) in items {
        if is_stanza {
            let s = &stanzas[i];
            let Some(party) = streams.get(&s.stream) else { continue };
            let device = s
                .stream
                .split_once("/device")
                .and_then(|(_, d)| d.parse().ok())
                .filter(|_| s.stream.starts_with("caller") || s.stream.starts_with("callee"));
            trace.push(
                at(t),
                TraceKind::Stanza {
                    party: party.clone(),
                    device,
                    dir: if s.from_client { Dir::Tx } else { Dir::Rx },
                    element: Arc::new(s.element.clone()),
                },
            );
            frames.push(s.origin);
            continue;
        }
        let p = &cap.packets[i];
        for (key, dir) in [((p.interface, p.src), Dir::Tx), ((p.interface, p.dst), Dir::Rx)] {
            let Some(&party) = home.get(&key) else { continue };
            let point = party_point[party].0.clone();
            let payload = bytes::Bytes::from(p.payload.clone());
            let kind = match p.transport {
                Transport::Udp => TraceKind::Datagram {
                    point,
                    dir,
                    src: p.src,
                    dst: p.dst,
                    payload,
                },
                Transport::Tcp => TraceKind::Segment {
                    point,
                    dir,
                    tls: false,
                    src: p.src,
                    dst: p.dst,
                    payload,
                },
            };
            trace.push(at(t), kind);
            frames.push(p.frame);
        }
    }
    let describe = |agents: &[usize]| -> (String, bool) {
        let mut d = Vec::new();
        let mut seen = false;
        for &i in agents {
            let a = &found.agents[i];
            let role = match a.controlling {
                Some(true) => "controlling",
                Some(false) => "controlled",
                None => "role unknown",
            };
            let addr = a.shown_address();
            let iface = match a.vantage {
                Some(v) => {
                    seen = true;
                    let n = cap.interfaces.get(v).and_then(|i| i.name.clone());
                    format!("seen at interface {}", n.unwrap_or_else(|| v.to_string()))
                }
                None => "no vantage in the capture".to_string(),
            };
            d.push(format!(
                "agent {addr} ({role}, ufrag {}, {iface})",
                a.ufrags.join(" then ")
            ));
        }
        (d.join("; "), seen)
    };
    let (caller_d, caller_seen) = describe(caller);
    let (callee_d, callee_seen) = describe(callee);
    let impl_name = |agents: &[usize]| format!("agent@{}", found.agents[agents[0]].shown_address());
    let (caller_impl, callee_impl) = (impl_name(caller), impl_name(callee));
    let id = format!("capture/{name}/{call}");
    let yaml = format!(
        "id: {id:?}\ntitle: a capture\nparties:\n  caller: {{impl: x, nat: open}}\n  callee: {{impl: x, nat: open}}\nscript: []\nsettle: 0s\n"
    );
    let scenario =
        Scenario::parse(std::path::Path::new("capture"), &yaml, None).expect("the capture's scenario is valid");
    let nat = crate::net::NatProfile {
        description: "as captured".into(),
        nats: Vec::new(),
        firewall: None,
    };
    let spec = RunSpec {
        id,
        parties: vec![
            PartySpec::new(&scenario, "caller", &caller_impl, "as captured", nat.clone()),
            PartySpec::new(&scenario, "callee", &callee_impl, "as captured", nat),
        ],
        scenario: Arc::new(scenario),
        seed: 0,
    };
    CaptureRun {
        out: RunOutput {
            spec,
            parties: ["caller", "callee"]
                .map(|n| PartyInfo {
                    name: n.to_string(),
                    devices: Vec::new(),
                })
                .to_vec(),
            trace,
            live: None,
        },
        frames,
        agents: vec![
            ("caller".into(), caller_d, caller_seen),
            ("callee".into(), callee_d, callee_seen),
        ],
        signalling: !stanzas.is_empty(),
        restarted: caller.iter().chain(callee).any(|&i| found.agents[i].ufrags.len() > 1),
        nomination_attributes: cap.packets.iter().any(|p| {
            crate::stun::demux(&p.payload) == crate::stun::Demux::Stun
                && crate::stun::Message::decode(&p.payload).is_ok_and(|m| {
                    m.has(crate::stun::attr_type::NOMINATION_LEGACY)
                        || m.has(crate::stun::attr_type::NOMINATION_RENOMINATION2)
                })
        }),
    }
}

/// Judges one call of a capture: the simulated run's checks, then what a capture cannot decide
/// made `inconclusive` (see the module's documentation), evidence as frame numbers, `mode: capture`.
pub fn judge(run: &CaptureRun) -> RunReport {
    let mut r = crate::report::judge(&run.out);
    let unseen: Vec<&str> = run.agents.iter().filter(|a| !a.2).map(|a| a.0.as_str()).collect();
    for c in &mut r.checks {
        let why = if listed(HARNESS_ONLY, &c.id) {
            Some("a capture shows neither the faults of a program the harness ran nor what its user did".to_string())
        } else if !run.signalling && listed(NEEDS_SIGNALLING, &c.id) {
            Some("no signalling in the capture (give the call's stanzas with --stanzas)".to_string())
        } else if !run.signalling && run.restarted && listed(NEEDS_RESTART_SIGNALLING, &c.id) {
            Some(
                "the wire shows an ICE restart (checks under a new ufrag) but not its signalling (give --stanzas)"
                    .into(),
            )
        } else if !run.signalling && run.nomination_attributes && listed(NEEDS_RENOMINATION_SIGNALLING, &c.id) {
            Some(
                "checks carry a NOMINATION attribute, and whether renomination was negotiated is in the signalling                  (give --stanzas)"
                    .into(),
            )
        } else if !unseen.is_empty() && listed(NEEDS_BOTH_VIEWS, &c.id) {
            Some(format!(
                "the rule needs both agents' own traffic, and the capture does not show {}'s",
                unseen.join(" and ")
            ))
        } else if listed(NEEDS_DECLARATION, &c.id) && c.verdict != Verdict::Pass {
            Some("the rule depends on what the implementation declares (its ICS), which a capture does not show".into())
        } else {
            match c.party.name() {
                Some(p) if unseen.contains(&p) => Some(format!(
                    "the capture does not show {p}'s own traffic (no vantage at its agent)"
                )),
                // A pass over both parties with one unseen covers the one the capture shows.
                _ if c.party == Judged::Both && unseen.len() == 1 && c.verdict != Verdict::Inconclusive => {
                    let seen = other(&unseen);
                    c.detail = format!("{} (only {seen}'s side is in the capture)", c.detail);
                    c.party = Judged::party(seen);
                    None
                }
                _ if c.party == Judged::Both && unseen.len() == 2 => {
                    Some("the capture shows neither agent's own traffic".to_string())
                }
                _ => None,
            }
        };
        if let Some(why) = why {
            if c.verdict != Verdict::Inconclusive {
                c.detail = format!("{why}; from what it shows: {}", c.detail);
                c.verdict = Verdict::Inconclusive;
            } else {
                c.detail = format!("{why}: {}", c.detail);
            }
            c.party = Judged::Both;
            c.implementation = None;
        }
        let mut ev: Vec<usize> = c.evidence.iter().filter_map(|i| run.frames.get(*i).copied()).collect();
        ev.dedup();
        c.evidence = ev;
    }
    r.mode = Some("capture".into());
    r.replay = String::new();
    r.expectation = crate::report::Expectation {
        met: true,
        ..Default::default()
    };
    r
}

fn other(unseen: &[&str]) -> &'static str {
    if unseen.contains(&"caller") {
        "callee"
    } else {
        "caller"
    }
}

/// Checks a capture never decides: what the harness sees of a program it runs, and rules whose
/// failure depends on an implementation's declaration.
pub const NEVER_FROM_A_CAPTURE: &[&str] = &[
    "endpoint.no-fault",
    "jmi.call-only-to-capable-peer",
    "jmi.other-devices-stop-ringing",
    "ice.renomination.unknown-0x0030-draws-420",
    "ice.restart",
];

/// Where a capture's verdicts (`cap`) contradict the run's own judge's (`sim`: the simulator's,
/// or a live run's from the harness's trace), one line each naming the run `id` and the `view`;
/// empty when they agree. A decided verdict (not `inconclusive`) must be the run's, naming the
/// same party, except that a pass may name the party the capture shows where the run's failure
/// names the other, and a view of one side alone finds only that side's breach. `whole`: the whole
/// capture with its stanzas, which must also decide everything the run decided but
/// [`NEVER_FROM_A_CAPTURE`]. `swap`: without signalling the capture calls the controlling agent
/// `caller`, and the run's callee was the controlling one. `only`: the one party whose host
/// interface the view holds.
///
/// Panics when the two reports do not list the same checks in the same order (both come from
/// the judge, so they do: a caller's bug).
pub fn disagreements(
    id: &str,
    view: &str,
    sim: &RunReport,
    cap: &RunReport,
    whole: bool,
    swap: bool,
    only: Option<&str>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (s, c) in sim.checks.iter().zip(&cap.checks) {
        let mut c = c.clone();
        if swap {
            c.party = match c.party {
                Judged::Caller => Judged::Callee,
                Judged::Callee => Judged::Caller,
                other => other,
            };
        }
        let c = &c;
        assert_eq!(s.id, c.id);
        if c.verdict == Verdict::Inconclusive {
            if whole && s.verdict != Verdict::Inconclusive && !NEVER_FROM_A_CAPTURE.contains(&s.id.as_str()) {
                wrong.push(format!(
                    "{id} [{view}] {}: undecided from the capture, {:?} in the run: {}",
                    s.id, s.verdict, c.detail
                ));
            }
            continue;
        }
        let failed = |v: Verdict| matches!(v, Verdict::Fail | Verdict::NonStrict);
        let contradicts = if c.verdict == Verdict::Pass {
            // A pass for the party the capture shows holds unless the simulator failed that party.
            // A view with less in it may pass what the simulator could not decide: only the
            // whole capture with its stanzas sees all the simulator saw.
            (whole && s.verdict == Verdict::Inconclusive)
                || (failed(s.verdict) && (c.party == s.party || c.party == Judged::Both || s.party == Judged::Both))
        } else {
            // Where both broke a rule the simulator names the first; a view of one side alone
            // can only find that side's breach.
            let other_unseen = only.is_some_and(|at| s.party.name().is_some_and(|p| p != at));
            c.verdict != s.verdict || (c.party != s.party && !other_unseen)
        };
        if contradicts {
            wrong.push(format!(
                "{id} [{view}] {}: {:?} by {:?} from the capture ({}), {:?} by {:?} in the run ({})",
                s.id, c.verdict, c.party, c.detail, s.verdict, s.party, s.detail
            ));
        }
    }
    wrong
}
