//! Stanzas the reference endpoint writes and reads: JMI (XEP-0353), Jingle RTP sessions (XEP-0166,
//! XEP-0167) over ICE-UDP (XEP-0176) with a DTLS fingerprint (XEP-0320), disco and caps.
//!
//! xmpp-parsers builds the parts it models completely and that are not on the per-call hot path
//! (session-terminate with its reason, fingerprint, disco, caps hashing). The ICE-UDP transport is
//! written with minidom because xmpp-parsers 0.23 keeps its ufrag and pwd private, JMI because it
//! lacks `<ringing/>`, `<finish/>` and `<reason/>`, and session-initiate/accept for speed; a test
//! holds the latter equal to what xmpp-parsers writes.

use std::net::SocketAddr;

use endpoint_contract::xml::{el, ns, BuilderExt};
use minidom::rxml::NcName;
use minidom::Element;
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::Algo;
use xmpp_parsers::jingle::{Action, Creator, Reason};
use xmpp_parsers::jingle_dtls_srtp::Setup;

use crate::ice::{Candidate, CandidateType};

/// Caps node of the reference endpoint.
pub const CAPS_NODE: &str = "https://jingle-interop.example/reference";

/// The features a call-capable client advertises (XEP-0166 §11, XEP-0167 §10, XEP-0176 §7), sorted
/// as disco requires; `jmi` adds urn:xmpp:jingle-message:0, `dtls` urn:xmpp:jingle:apps:dtls:0
/// (XEP-0320).
pub fn features(jmi: bool, dtls: bool) -> Vec<&'static str> {
    let mut f = vec![
        ns::DISCO_INFO,
        ns::JINGLE,
        ns::JINGLE_RTP,
        ns::JINGLE_RTP_AUDIO,
        ns::JINGLE_RTP_VIDEO,
        ns::JINGLE_ICE_UDP,
    ];
    if dtls {
        f.push(ns::JINGLE_DTLS);
    }
    if jmi {
        f.push(ns::JMI);
    }
    f.sort_unstable();
    f
}

/// What a peer must advertise before a call to it with `media` is offered (the features
/// Conversations requires to show its call button, RtpCapability.java): Jingle, RTP, ICE-UDP,
/// DTLS-SRTP and each medium. Returns the ones `advertised` lacks, in that order; empty when the
/// call may go.
pub fn missing_for_call(advertised: &[String], media: &[String]) -> Vec<&'static str> {
    let mut need: Vec<&'static str> = vec![ns::JINGLE, ns::JINGLE_RTP, ns::JINGLE_ICE_UDP, ns::JINGLE_DTLS];
    for m in media {
        need.push(match m.as_str() {
            "video" => ns::JINGLE_RTP_VIDEO,
            _ => ns::JINGLE_RTP_AUDIO,
        });
    }
    need.into_iter()
        .filter(|f| !advertised.iter().any(|a| a == f))
        .collect()
}

/// Our disco#info, for the caps hash and for answering queries.
pub fn disco_info(node: Option<String>, jmi: bool, dtls: bool) -> DiscoInfoResult {
    DiscoInfoResult {
        node,
        identities: vec![Identity::new("client", "phone", "en", "jingle-interop reference")],
        features: features(jmi, dtls).into_iter().map(String::from).collect(),
        extensions: vec![],
    }
}

/// [`disco_info`] as the `<query/>` element answering a disco#info get for `node`.
///
/// The element is the same in every run, and xmpp-parsers' conversion of it was a twentieth of a
/// reference run: each thread converts each (node, jmi, dtls) once and hands out clones.
pub fn disco_info_element(node: Option<&str>, jmi: bool, dtls: bool) -> Element {
    /// (node, jmi, dtls) and the element answering for it.
    type Built = Vec<((Option<String>, bool, bool), Element)>;
    thread_local! {
        static BUILT: std::cell::RefCell<Built> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUILT.with(|b| {
        let mut b = b.borrow_mut();
        if let Some((_, e)) = b
            .iter()
            .find(|((n, j, d), _)| n.as_deref() == node && *j == jmi && *d == dtls)
        {
            return e.clone();
        }
        let e = Element::from(disco_info(node.map(str::to_string), jmi, dtls));
        // A handful of distinct answers exist (one node per feature set); the bound only guards
        // against a peer that queries ever new nodes.
        if b.len() >= 16 {
            b.clear();
        }
        b.push(((node.map(str::to_string), jmi, dtls), e.clone()));
        e
    })
}

/// XEP-0115 `ver` of our disco#info (SHA-1, base64); computed once per feature set.
pub fn caps_ver(jmi: bool, dtls: bool) -> String {
    use base64::Engine;
    static VER: [[std::sync::OnceLock<String>; 2]; 2] = [
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
    ];
    VER[usize::from(jmi)][usize::from(dtls)]
        .get_or_init(|| {
            let s = xmpp_parsers::caps::compute_disco(&disco_info(None, jmi, dtls));
            let h = xmpp_parsers::caps::hash_caps(&s, Algo::Sha_1).expect("sha-1 is supported");
            base64::engine::general_purpose::STANDARD.encode(h.hash)
        })
        .clone()
}

/// Initial presence with caps.
pub fn presence(jmi: bool, dtls: bool) -> Element {
    el("presence", ns::CLIENT)
        .append(
            el("c", ns::CAPS)
                .a("hash", "sha-1")
                .a("node", CAPS_NODE)
                .a("ver", caps_ver(jmi, dtls))
                .build(),
        )
        .build()
}

/// A disco#info query for the caps node a presence announced (XEP-0115 §6.2).
pub fn disco_query(to: &str, id: &str, caps: &Element) -> Element {
    let node = format!(
        "{}#{}",
        caps.attr("node").unwrap_or_default(),
        caps.attr("ver").unwrap_or_default()
    );
    el("iq", ns::CLIENT)
        .a("type", "get")
        .a("to", to)
        .a("id", id)
        .append(el("query", ns::DISCO_INFO).a("node", node).build())
        .build()
}

/// A JMI message (XEP-0353 §3): `<message type='chat'>` with the element and a store hint.
pub fn jmi(to: &str, id: &str, child: Element) -> Element {
    el("message", ns::CLIENT)
        .a("type", "chat")
        .a("to", to)
        .a("id", id)
        .append(child)
        .append(el("store", ns::HINTS).build())
        .build()
}

/// `<propose id=sid>` with one RTP description per media type (XEP-0353 §3.1).
pub fn propose(sid: &str, media: &[String]) -> Element {
    let mut p = el("propose", ns::JMI).a("id", sid);
    for m in media {
        p = p.append(el("description", ns::JINGLE_RTP).a("media", m.clone()).build());
    }
    p.build()
}

/// An empty JMI element (`ringing`, `proceed`, `retract`, `reject`, `finish`) with an optional reason.
pub fn jmi_simple(name: &str, sid: &str, reason: Option<&str>) -> Element {
    let mut e = el(name, ns::JMI).a("id", sid);
    if let Some(r) = reason {
        e = e.append(el("reason", ns::JINGLE).append(el(r, ns::JINGLE).build()).build());
    }
    e.build()
}

/// The ICE-UDP transport with credentials, candidates and the fingerprint (XEP-0176 §5, XEP-0320 §3).
pub fn transport(
    ufrag: &str,
    pwd: &str,
    candidates: &[Candidate],
    fingerprint: Option<&[u8]>,
    setup: Setup,
    renomination: bool,
) -> Element {
    let mut t = el("transport", ns::JINGLE_ICE_UDP).a("ufrag", ufrag).a("pwd", pwd);
    if renomination {
        // Conversations' private option child: the only deployed way to negotiate renomination in
        // Jingle (XEP-0176 has no ice-options): Conversations' IceUdpTransportInfo.java, since
        // commit fd4b8ba18.
        t = t.append(el("renomination", ns::ICE_UDP_OPTION).build());
    }
    for (i, c) in candidates.iter().enumerate() {
        t = t.append(candidate(c, i, 0));
    }
    if let Some(fingerprint) = fingerprint {
        t = t.append(dtls_fingerprint(fingerprint, setup));
    }
    t.build()
}

/// A fingerprint's bytes as RFC 8122 §5 writes them (and XEP-0320 after it): colon-separated
/// upper-case hex pairs, `AB:CD:…`.
pub fn fingerprint_text(value: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = String::with_capacity(value.len() * 3);
    for (i, b) in value.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push(char::from(HEX[usize::from(b >> 4)]));
        text.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    text
}

/// `<fingerprint hash='sha-256' setup=…>` with the SHA-256 `value` as colon-separated upper-case
/// hex (XEP-0320 §3): the element xmpp-parsers' `Fingerprint` writes, built directly because its
/// conversion goes through XML events and one string per byte; a test holds the two equal.
fn dtls_fingerprint(value: &[u8], setup: Setup) -> Element {
    let text = fingerprint_text(value);
    let setup = match setup {
        Setup::Active => "active",
        Setup::Passive => "passive",
        Setup::Actpass => "actpass",
    };
    el("fingerprint", ns::JINGLE_DTLS)
        .a("hash", "sha-256")
        .a("setup", setup)
        .append(text)
        .build()
}

/// One `<candidate/>` (XEP-0176 §5) of ICE generation `generation` (0, plus one per ICE
/// restart) with id `c{id}`, the candidate's index in its agent's list, so ids stay unique over
/// the session-initiate/accept and later transport-infos; after a restart `g{generation}c{id}`,
/// as the agent's list starts over.
fn candidate(c: &Candidate, id: usize, generation: u8) -> Element {
    let id = match generation {
        0 => format!("c{id}"),
        g => format!("g{g}c{id}"),
    };
    let mut e = el("candidate", ns::JINGLE_ICE_UDP)
        .a("component", c.component.to_string())
        .a("foundation", c.foundation.clone())
        .a("generation", generation.to_string())
        .a("id", id)
        .a("ip", c.addr.ip().to_string())
        .a("network", "0")
        .a("port", c.addr.port().to_string())
        .a("priority", c.priority.to_string())
        .a("protocol", "udp")
        .a("type", c.typ.as_str());
    if c.typ != CandidateType::Host {
        e = e
            .a("rel-addr", c.base.ip().to_string())
            .a("rel-port", c.base.port().to_string());
    }
    e.build()
}

/// The ICE session a transport-info belongs to: the sender's credentials and the generation of
/// its candidates (XEP-0176 §5; a restart changes all three, RFC 8445 §9).
#[derive(Clone, Copy, Debug)]
pub struct IceSession<'a> {
    /// ufrag.
    pub ufrag: &'a str,
    /// pwd.
    pub pwd: &'a str,
    /// Candidate generation: 0, plus one per ICE restart.
    pub generation: u8,
}

/// transport-info (XEP-0176 §7.1, RFC 8838 §5): for every content (`media`, written with
/// `creator`), the transport with ufrag and pwd (which tie the candidates to the ICE session) and
/// `candidates`, the first with id `c{first_id}` (see [`candidate`]). One candidate is a trickled
/// one; none, or all of them, an ICE restart's offer or answer (XEP-0176 §5.9; Conversations'
/// JingleRtpConnection.java). No end-of-candidates follows: ice-udp:1 has no way to say it.
pub fn transport_info(
    sid: &str,
    media: &[String],
    creator: &Creator,
    session: IceSession,
    candidates: &[Candidate],
    first_id: usize,
) -> Element {
    let creator = match creator {
        Creator::Initiator => "initiator",
        Creator::Responder => "responder",
    };
    let mut j = el("jingle", ns::JINGLE).a("action", "transport-info").a("sid", sid);
    for m in media {
        let mut t = el("transport", ns::JINGLE_ICE_UDP)
            .a("ufrag", session.ufrag)
            .a("pwd", session.pwd);
        for (i, c) in candidates.iter().enumerate() {
            t = t.append(candidate(c, first_id + i, session.generation));
        }
        j = j.append(
            el("content", ns::JINGLE)
                .a("creator", creator)
                .a("name", m.clone())
                .append(t.build())
                .build(),
        );
    }
    j.build()
}

/// A Jingle IQ-set to `to` carrying `jingle` (a `<jingle/>` element, or an xmpp-parsers `Jingle`).
pub fn jingle_iq(to: &str, id: &str, jingle: impl Into<Element>) -> Element {
    el("iq", ns::CLIENT)
        .a("type", "set")
        .a("to", to)
        .a("id", id)
        .append(jingle.into())
        .build()
}

/// session-initiate or session-accept for `media` (one content per media, named after it, with
/// `creator` — the initiator, when conforming), opus 48 kHz stereo or VP8, `<rtcp-mux/>` when
/// `rtcp_mux` (RFC 5761; without it RTCP has its own component, XEP-0167 §3) (XEP-0166 §7,
/// XEP-0167 §4, XEP-0176 §5), as a `<jingle/>` element.
///
/// Written with minidom rather than through xmpp-parsers' `Jingle`: its conversion streams the
/// transport element through XML events and back, which cost a tenth of a whole simulated call.
/// The output is the element xmpp-parsers writes (`senders='both'` left implicit, the default).
pub fn session(
    action: Action,
    sid: &str,
    me: &str,
    media: &[String],
    transport_el: &Element,
    creator: Creator,
    rtcp_mux: bool,
) -> Element {
    let (party_attr, action_name) = match action {
        Action::SessionInitiate => ("initiator", "session-initiate"),
        Action::SessionAccept => ("responder", "session-accept"),
        other => panic!("session() writes initiate or accept, not {other:?}"),
    };
    let creator = match creator {
        Creator::Initiator => "initiator",
        Creator::Responder => "responder",
    };
    let mut j = el("jingle", ns::JINGLE)
        .a("action", action_name)
        .a(party_attr, me)
        .a("sid", sid);
    for m in media {
        let pt = if m == "audio" {
            el("payload-type", ns::JINGLE_RTP)
                .a("channels", "2")
                .a("clockrate", "48000")
                .a("id", "111")
                .a("name", "opus")
        } else {
            el("payload-type", ns::JINGLE_RTP)
                .a("clockrate", "90000")
                .a("id", "96")
                .a("name", "VP8")
        };
        let mut d = el("description", ns::JINGLE_RTP)
            .a("media", m.clone())
            .append(pt.build());
        if rtcp_mux {
            d = d.append(el("rtcp-mux", ns::JINGLE_RTP).build());
        }
        j = j.append(
            el("content", ns::JINGLE)
                .a("creator", creator)
                .a("name", m.clone())
                .append(d.build())
                .append(transport_el.clone())
                .build(),
        );
    }
    j.build()
}

/// session-terminate with a reason condition, as a `<jingle/>` element (XEP-0166 §6.7).
pub fn terminate(sid: &str, reason: Reason) -> Element {
    terminate_with_text(sid, reason, None)
}

/// session-terminate with a reason and, when given, an English `<text/>` (XEP-0166 §7.4).
///
/// Written with minidom rather than through xmpp-parsers' `Jingle`, whose conversion (XML events
/// and back) was a seventieth of a whole simulated call for this one element of every call's end;
/// a test holds the two equal for every reason.
pub fn terminate_with_text(sid: &str, reason: Reason, text: Option<String>) -> Element {
    let condition = match reason_name(&reason) {
        Some(name) => el(name, ns::JINGLE).build(),
        // A reason with content (`<alternative-session><sid/>`) is xmpp-parsers' to write.
        None => Element::from(reason),
    };
    let mut r = el("reason", ns::JINGLE).append(condition);
    if let Some(t) = text {
        r = r.append(
            el("text", ns::JINGLE)
                .attr_ns(
                    minidom::rxml::Namespace::XML,
                    NcName::try_from("lang").expect("an NCName"),
                    "en",
                )
                .append(t)
                .build(),
        );
    }
    el("jingle", ns::JINGLE)
        .a("action", "session-terminate")
        .a("sid", sid)
        .append(r.build())
        .build()
}

/// The element name of a reason condition without content (XEP-0166 §7.4), `None` for one with.
fn reason_name(reason: &Reason) -> Option<&'static str> {
    Some(match reason {
        Reason::AlternativeSession { .. } => return None,
        Reason::Busy => "busy",
        Reason::Cancel => "cancel",
        Reason::ConnectivityError => "connectivity-error",
        Reason::Decline => "decline",
        Reason::Expired => "expired",
        Reason::FailedApplication => "failed-application",
        Reason::FailedTransport => "failed-transport",
        Reason::GeneralError => "general-error",
        Reason::Gone => "gone",
        Reason::IncompatibleParameters => "incompatible-parameters",
        Reason::MediaError => "media-error",
        Reason::SecurityError => "security-error",
        Reason::Success => "success",
        Reason::Timeout => "timeout",
        Reason::UnsupportedApplications => "unsupported-applications",
        Reason::UnsupportedTransports => "unsupported-transports",
    })
}

/// A Jingle-specific error condition (XEP-0166 §8, namespace `urn:xmpp:jingle:errors:1`) with the
/// stanza error it rides in (RFC 6120 §8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JingleError {
    /// `<unknown-session/>` in `item-not-found` (cancel): the sid names no live session here, e.g.
    /// one this side already terminated (XEP-0166 §6.7).
    UnknownSession,
    /// `<out-of-order/>` in `unexpected-request`: the action cannot occur in the session's current
    /// state (e.g. session-initiate after session-accept). XEP-0166 fixes no error type; `wait`
    /// is what Conversations sends.
    OutOfOrder,
    /// `<tie-break/>` in `conflict` (cancel): the request lost a tie-break (XEP-0166 §7.2.16).
    TieBreak,
}

impl JingleError {
    /// (error type, stanza condition, Jingle condition).
    pub fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            JingleError::UnknownSession => ("cancel", "item-not-found", "unknown-session"),
            JingleError::OutOfOrder => ("wait", "unexpected-request", "out-of-order"),
            JingleError::TieBreak => ("cancel", "conflict", "tie-break"),
        }
    }
}

/// The IQ error answering the Jingle IQ-set `iq` with `e`, from `me`: the stanza condition first,
/// then the Jingle condition (XEP-0166 §8, examples in §6.7 and §7.2.16).
pub fn jingle_error(iq: &Element, me: &str, e: JingleError) -> Element {
    let (typ, condition, jingle) = e.parts();
    endpoint_contract::xml::iq_error(iq, me, typ, condition, Some(el(jingle, ns::JINGLE_ERRORS).build()))
}

/// Whether the session-initiate `theirs` (sid, initiator JID) overrules `ours` when both parties
/// sent one at once (XEP-0166 §7.2.16): the lower sid wins in "i;octet" order (RFC 4790 §9.3, the
/// byte order Rust's `str` comparison is); equal sids fall back to the lower JID.
pub fn initiate_overrules(theirs: (&str, &str), ours: (&str, &str)) -> bool {
    theirs.0 < ours.0 || (theirs.0 == ours.0 && theirs.1 < ours.1)
}

/// What the endpoint reads from an incoming session-initiate / session-accept.
#[derive(Clone, Debug, Default)]
pub struct RemoteSession {
    /// RTP media of the contents.
    pub media: Vec<String>,
    /// ICE ufrag.
    pub ufrag: Option<String>,
    /// ICE pwd.
    pub pwd: Option<String>,
    /// Candidates.
    pub candidates: Vec<Candidate>,
    /// Fingerprint setup, if a fingerprint is present.
    pub setup: Option<String>,
    /// The fingerprint's value when its hash is SHA-256 and it reads as 32 bytes (XEP-0320 §3,
    /// RFC 8122 §5).
    pub fingerprint: Option<[u8; 32]>,
    /// The transport carried Conversations' `<renomination/>` option.
    pub renomination: bool,
    /// Each content as (creator, name, has a DTLS fingerprint).
    pub contents: Vec<(String, String, bool)>,
    /// Every RTP description carried `<rtcp-mux/>` (RFC 5761); false without any description.
    pub rtcp_mux: bool,
}

/// Reads the contents of a `<jingle/>` element losslessly enough for the session logic.
pub fn read_session(j: &Element) -> RemoteSession {
    let mut r = RemoteSession::default();
    let mut descriptions = 0;
    let mut muxed = 0;
    for c in j.children().filter(|c| c.is("content", ns::JINGLE)) {
        if let Some(d) = c.get_child("description", ns::JINGLE_RTP) {
            descriptions += 1;
            muxed += usize::from(d.has_child("rtcp-mux", ns::JINGLE_RTP));
        }
        let fingerprint = c
            .get_child("transport", ns::JINGLE_ICE_UDP)
            .is_some_and(|t| t.has_child("fingerprint", ns::JINGLE_DTLS));
        let [creator, name] = endpoint_contract::xml::attrs(c, ["creator", "name"]);
        r.contents.push((
            creator.unwrap_or("").to_string(),
            name.unwrap_or("").to_string(),
            fingerprint,
        ));
        if let Some(m) = c.get_child("description", ns::JINGLE_RTP).and_then(|d| d.attr("media")) {
            if !r.media.iter().any(|x| x == m) {
                r.media.push(m.to_string());
            }
        }
        let Some(t) = c.get_child("transport", ns::JINGLE_ICE_UDP) else {
            continue;
        };
        r.ufrag = r.ufrag.or(t.attr("ufrag").map(str::to_string));
        r.pwd = r.pwd.or(t.attr("pwd").map(str::to_string));
        if let Some(f) = t.get_child("fingerprint", ns::JINGLE_DTLS) {
            r.setup = Some(f.attr("setup").unwrap_or("").to_string());
            r.fingerprint = crate::dtls::parse_fingerprint(f.attr("hash").unwrap_or(""), &f.text());
        }
        r.renomination |= t.has_child("renomination", ns::ICE_UDP_OPTION);
        for x in t.children().filter(|x| x.is("candidate", ns::JINGLE_ICE_UDP)) {
            let parsed = (|| {
                let [ip, port, typ, priority, foundation, component] =
                    endpoint_contract::xml::attrs(x, ["ip", "port", "type", "priority", "foundation", "component"]);
                let addr = SocketAddr::new(ip?.parse().ok()?, port?.parse().ok()?);
                Some(Candidate {
                    addr,
                    base: addr,
                    typ: CandidateType::parse(typ?)?,
                    priority: priority?.parse().ok()?,
                    foundation: foundation?.to_string(),
                    component: component?.parse().ok()?,
                })
            })();
            if let Some(c) = parsed {
                r.candidates.push(c);
            }
        }
    }
    r.rtcp_mux = descriptions > 0 && muxed == descriptions;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jmi_sorts_before_jingle_in_features() {
        // XEP-0115 §5.1 sorts features in i;octet order (RFC 4790 §9.3): '-' (0x2D) sorts before
        // ':' (0x3A).
        let f = features(true, true);
        let a = f.iter().position(|x| *x == ns::JMI).unwrap();
        let b = f.iter().position(|x| *x == ns::JINGLE).unwrap();
        assert!(a < b);
        assert_eq!(caps_ver(true, true).len(), 28);
        // A device without JMI hashes to another ver, so peers re-query and see the difference.
        assert!(!features(false, true).contains(&ns::JMI));
        assert!(!features(true, false).contains(&ns::JINGLE_DTLS));
        assert_ne!(caps_ver(false, true), caps_ver(true, true));
    }

    #[test]
    fn terminate_equals_what_xmpp_parsers_writes_for_every_reason() {
        use std::collections::BTreeMap;
        use xmpp_parsers::jingle::{Jingle, ReasonElement, SessionId};
        let reasons = [
            Reason::AlternativeSession { sid: Some("s0".into()) },
            Reason::Busy,
            Reason::Cancel,
            Reason::ConnectivityError,
            Reason::Decline,
            Reason::Expired,
            Reason::FailedApplication,
            Reason::FailedTransport,
            Reason::GeneralError,
            Reason::Gone,
            Reason::IncompatibleParameters,
            Reason::MediaError,
            Reason::SecurityError,
            Reason::Success,
            Reason::Timeout,
            Reason::UnsupportedApplications,
            Reason::UnsupportedTransports,
        ];
        for reason in reasons {
            for text in [None, Some("no <fingerprint/> & no luck".to_string())] {
                let texts: BTreeMap<String, String> = text.iter().map(|t| ("en".to_string(), t.clone())).collect();
                let theirs = Element::from(
                    Jingle::new(Action::SessionTerminate, SessionId("s1".into())).set_reason(ReasonElement {
                        reason: reason.clone(),
                        texts,
                    }),
                );
                let ours = terminate_with_text("s1", reason.clone(), text.clone());
                assert_eq!(
                    endpoint_contract::xml::to_string(&ours),
                    endpoint_contract::xml::to_string(&theirs)
                );
                assert_eq!(ours, theirs, "{reason:?} {text:?}");
            }
        }
    }

    #[test]
    fn fingerprint_equals_what_xmpp_parsers_writes() {
        use xmpp_parsers::jingle_dtls_srtp::Fingerprint;
        let value: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37)).collect();
        for setup in [Setup::Active, Setup::Passive, Setup::Actpass] {
            let theirs = Element::from(Fingerprint {
                hash: Algo::Sha_256,
                setup: setup.clone(),
                value: value.clone(),
            });
            let ours = dtls_fingerprint(&value, setup);
            assert_eq!(
                endpoint_contract::xml::to_string(&ours),
                endpoint_contract::xml::to_string(&theirs)
            );
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn session_element_equals_what_xmpp_parsers_writes() {
        use xmpp_parsers::jingle::{Content, ContentId, Jingle, Senders, SessionId, Transport};
        use xmpp_parsers::jingle_rtp::{Description, PayloadType};
        let t = transport("uf", "pw", &[], Some(&[0xab; 32]), Setup::Actpass, true);
        let media = vec!["audio".to_string(), "video".to_string()];
        for (action, creator) in [
            (Action::SessionInitiate, Creator::Initiator),
            (Action::SessionAccept, Creator::Responder),
        ] {
            let me = "a@example.org/d1";
            let mut j = Jingle::new(action.clone(), SessionId("s1".into()));
            j = if action == Action::SessionInitiate {
                j.with_initiator(me.parse().unwrap())
            } else {
                j.with_responder(me.parse().unwrap())
            };
            for m in &media {
                let mut d = Description::new(m.clone());
                d.payload_types.push(if m == "audio" {
                    PayloadType::new(111, "opus".into(), 48000, 2)
                } else {
                    PayloadType::new(96, "VP8".into(), 90000, 1)
                });
                d.rtcp_mux = true;
                j = j.add_content(
                    Content::new(creator.clone(), ContentId(m.clone()))
                        .with_senders(Senders::Both)
                        .with_description(d)
                        .with_transport(Transport::Unknown(t.clone())),
                );
            }
            let ours = session(action, "s1", me, &media, &t, creator, true);
            assert_eq!(
                endpoint_contract::xml::to_string(&ours),
                endpoint_contract::xml::to_string(&Element::from(j))
            );
        }
    }
}
