//! Typed views of what the Trace holds, for the judge: STUN messages, RTP packets, JMI and Jingle
//! stanzas. Views read `minidom::Element`s directly and keep what they do not model.
//!
//! Relayed traffic is unwrapped: a Send indication a host sends to its TURN server (over UDP or a
//! TCP/TLS stream) and a Data indication it receives from it, and ChannelData either way on a
//! channel a ChannelBind success bound, are seen as the inner datagram between the relayed address
//! (learned from the Allocate success the host received) and the peer, with `relayed` set — the view a capture on the relay itself would give, so ICE and media checks judge
//! relayed pairs like any other.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use minidom::Element;

use crate::stun::{self, attr_type, Class, Message};
use crate::time::SimTime;
use crate::trace::{Dir, Trace, TraceKind};
use crate::xml::{self, ns};

/// A party of the run as the views name it: a host observation point (`caller`) or the owner of a
/// client stream. Parties are numbered per [`Wire`] as the extraction first meets them, so that the
/// checks' countless "is this message that party's" tests compare two numbers, not two strings.
///
/// Equal when they name the same party of the same [`Wire`] (parties of two extractions of one
/// trace compare equal too, as the numbering follows the trace). Derefs to the name; displays as
/// the name.
#[derive(Clone, Copy)]
pub struct Party<'a> {
    id: u32,
    name: &'a str,
}

impl<'a> Party<'a> {
    /// The party's name, borrowed from the trace.
    pub fn as_str(&self) -> &'a str {
        self.name
    }
}

impl PartialEq for Party<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Party<'_> {}

impl PartialEq<str> for Party<'_> {
    fn eq(&self, other: &str) -> bool {
        self.name == other
    }
}

impl PartialEq<&str> for Party<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.name == *other
    }
}

impl PartialEq<Party<'_>> for String {
    fn eq(&self, other: &Party<'_>) -> bool {
        self == other.name
    }
}

impl std::ops::Deref for Party<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.name
    }
}

impl fmt::Display for Party<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name)
    }
}

impl fmt::Debug for Party<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name, f)
    }
}

/// The parties of one extraction, numbered in the order first met.
#[derive(Clone, Debug, Default)]
struct Parties<'a> {
    names: Vec<&'a str>,
    /// Observation points by the address of their shared name ([`crate::trace::Point`]): the same
    /// point recurs on most events, and a pointer comparison settles it without reading the name.
    /// `None`: not a host of the run.
    points: Vec<(usize, Option<Party<'a>>)>,
}

impl<'a> Parties<'a> {
    fn get(&self, name: &str) -> Option<Party<'a>> {
        let id = self.names.iter().position(|n| *n == name)?;
        Some(Party {
            id: id as u32,
            name: self.names[id],
        })
    }

    fn intern(&mut self, name: &'a str) -> Party<'a> {
        self.get(name).unwrap_or_else(|| {
            self.names.push(name);
            Party {
                id: self.names.len() as u32 - 1,
                name,
            }
        })
    }

    /// The party whose host interface `point` is, when it is one of `hosts`.
    #[inline(always)]
    fn host(&mut self, point: &'a crate::trace::Point, hosts: &[String]) -> Option<Party<'a>> {
        let at = point.as_ptr() as usize;
        if let Some((_, p)) = self.points.iter().find(|(a, _)| *a == at) {
            return *p;
        }
        let p = hosts.iter().any(|h| **h == **point).then(|| self.intern(point));
        self.points.push((at, p));
        p
    }
}

/// A STUN message seen at a party's host interface.
#[derive(Clone, Debug)]
pub struct StunSeen<'a> {
    /// Trace index.
    pub index: usize,
    /// Time.
    pub time: SimTime,
    /// Party (observation point).
    pub party: Party<'a>,
    /// Sent or received by the host.
    pub dir: Dir,
    /// Source as seen at the host.
    pub src: SocketAddr,
    /// Destination as seen at the host.
    pub dst: SocketAddr,
    /// The decoded message.
    pub msg: Message,
    /// Carried through the party's TURN allocation (src/dst are then relayed address and peer).
    pub relayed: bool,
}

/// An RTP packet seen at a party's host interface (RFC 7983 first byte 128–191, version 2).
#[derive(Clone, Debug)]
pub struct RtpSeen<'a> {
    /// Trace index.
    pub index: usize,
    /// Time.
    pub time: SimTime,
    /// Party.
    pub party: Party<'a>,
    /// Sent or received.
    pub dir: Dir,
    /// Source.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// Carried through the party's TURN allocation.
    pub relayed: bool,
}

/// A DTLS handshake message (RFC 6347 §4.2.2) seen at a party's host interface, reassembled from
/// its fragments, of the kinds the judge uses. Only epoch-0 records are read: DTLS 1.2's handshake
/// is in the clear up to Finished, DTLS 1.3 encrypts everything after ServerHello (RFC 9147 §4),
/// its Certificate included.
#[derive(Clone, Debug)]
pub struct DtlsSeen<'a> {
    /// Trace index of the datagram that completed the message.
    pub index: usize,
    /// Time.
    pub time: SimTime,
    /// Party.
    pub party: Party<'a>,
    /// Sent or received.
    pub dir: Dir,
    /// Source.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// Carried through the party's TURN allocation.
    pub relayed: bool,
    /// Which message.
    pub message: DtlsMessage,
}

/// The DTLS handshake messages the judge reads (RFC 6347 §4.3.2, RFC 5246 §7.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtlsMessage {
    /// ClientHello: its sender is the DTLS client, the side whose `setup` is active (RFC 5763 §5).
    ClientHello,
    /// ServerHello.
    ServerHello,
    /// Certificate, with the SHA-256 of the first certificate of its list (the sender's own, RFC
    /// 5246 §7.4.2), `None` for an empty list.
    Certificate {
        /// SHA-256 of the leaf certificate's DER, comparable with a `sha-256` fingerprint.
        leaf_sha256: Option<[u8; 32]>,
    },
}

/// A handshake message being put together from its fragments (RFC 6347 §4.2.3).
struct Reassembly {
    body: Vec<u8>,
    /// Which bytes of `body` have come.
    have: Vec<bool>,
}

/// A payload at a host, possibly unwrapped from TURN.
struct Seen<'a> {
    index: usize,
    time: SimTime,
    party: Party<'a>,
    dir: Dir,
    src: SocketAddr,
    dst: SocketAddr,
    relayed: bool,
}

/// A JMI element (XEP-0353) in a message stanza.
#[derive(Clone, Debug)]
pub struct JmiSeen<'a> {
    /// Trace index.
    pub index: usize,
    /// Time.
    pub time: SimTime,
    /// Party whose stream carried it.
    pub party: Party<'a>,
    /// Sent by the party (Tx) or delivered to it (Rx).
    pub dir: Dir,
    /// `propose`, `ringing`, `proceed`, `reject`, `retract`, `finish`, `accept`.
    pub kind: String,
    /// The session id (`id` attribute).
    pub id: String,
    /// Stanza `to`.
    pub to: Option<String>,
    /// Stanza `from` (set by the server on delivery).
    pub from: Option<String>,
    /// Media of the `<description/>` children (propose only), sorted and deduplicated.
    pub media: BTreeSet<String>,
}

/// A candidate as signalled in an ICE-UDP transport (XEP-0176).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateSeen {
    /// Address.
    pub addr: SocketAddr,
    /// `host`, `srflx`, `prflx`, `relay`.
    pub typ: String,
    /// Component.
    pub component: u8,
    /// `priority`, RFC 8445 §5.1.2 (absent or unreadable: `None`).
    pub priority: Option<u32>,
}

/// One `<content/>` of a Jingle action.
#[derive(Clone, Debug)]
pub struct ContentSeen {
    /// `creator`.
    pub creator: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// RTP `media`, when there is a description.
    pub media: Option<String>,
    /// ICE-UDP ufrag.
    pub ufrag: Option<String>,
    /// ICE-UDP pwd.
    pub pwd: Option<String>,
    /// Candidates.
    pub candidates: Vec<CandidateSeen>,
    /// XEP-0320 fingerprint `setup`, when a fingerprint is present.
    pub fingerprint_setup: Option<String>,
    /// XEP-0320 fingerprint as (`hash`, value bytes), when present; the value is empty when its
    /// text is not colon-separated hex bytes (RFC 8122 §5).
    pub fingerprint: Option<(String, Vec<u8>)>,
    /// The transport carried Conversations' `<renomination/>` option (its IceUdpTransportInfo.java,
    /// since commit fd4b8ba18).
    pub renomination: bool,
    /// The RTP description carried `<rtcp-mux/>` (RFC 5761; XEP-0167 §3).
    pub rtcp_mux: bool,
}

/// A Jingle IQ-set (XEP-0166).
#[derive(Clone, Debug)]
pub struct JingleSeen<'a> {
    /// Trace index.
    pub index: usize,
    /// Time.
    pub time: SimTime,
    /// Party whose stream carried it.
    pub party: Party<'a>,
    /// Tx (sent by the party) or Rx (delivered to it).
    pub dir: Dir,
    /// `action`.
    pub action: String,
    /// `sid`.
    pub sid: String,
    /// IQ `id`.
    pub iq_id: Option<String>,
    /// IQ `to`.
    pub to: Option<String>,
    /// Contents.
    pub contents: Vec<ContentSeen>,
    /// `<reason/>` condition, if any.
    pub reason: Option<String>,
    /// `<reason><text/>`, if any.
    pub reason_text: Option<String>,
}

impl JingleSeen<'_> {
    /// The set of RTP media in the action's contents.
    pub fn media(&self) -> BTreeSet<String> {
        self.contents.iter().filter_map(|c| c.media.clone()).collect()
    }
}

/// An IQ response (result or error) on a client stream.
#[derive(Clone, Debug)]
pub struct IqReplySeen<'a> {
    /// Trace index.
    pub index: usize,
    /// Party whose stream carried it.
    pub party: Party<'a>,
    /// Tx (the party answered) or Rx.
    pub dir: Dir,
    /// `result` or `error`.
    pub typ: String,
    /// The IQ id it answers.
    pub id: String,
    /// The error condition, for errors.
    pub condition: Option<String>,
}

/// Something a party sent that is not what its first byte or its element says it is: a STUN
/// message that does not decode, an RTP packet shorter than its header, a Jingle action without
/// `action` or `sid`, a JMI element without `id`. Recorded as the sender's, never skipped.
#[derive(Clone, Debug)]
pub struct MalformedSeen<'a> {
    /// Trace index.
    pub index: usize,
    /// Time.
    pub time: SimTime,
    /// The party that sent it.
    pub party: Party<'a>,
    /// What is wrong, with the rule's source.
    pub what: String,
}

/// A datagram or stream message the network dropped (link loss, link down, NAT filtering, firewall,
/// no route), as the trace records it.
#[derive(Clone, Debug)]
pub struct DropSeen<'a> {
    /// Trace index.
    pub index: usize,
    /// Time.
    pub time: SimTime,
    /// Where it was dropped (`caller-site/uplink`, `caller/nat1`, …).
    pub point: &'a str,
    /// Why (`loss`, `link down`, a NAT filtering rule, a firewall rule).
    pub reason: &'a str,
    /// Source as seen where it was dropped.
    pub src: SocketAddr,
    /// Destination as seen where it was dropped.
    pub dst: SocketAddr,
    /// The STUN transaction id it carried, directly or inside a TURN Send/Data indication.
    pub transaction_id: Option<[u8; 12]>,
    /// It was RTP (directly or relayed).
    pub rtp: bool,
}

impl DropSeen<'_> {
    /// A fault of the path rather than a rule of the topology: random loss, a bandwidth queue's
    /// overflow, a link down, a stream reset. NAT filtering, a missing mapping and firewall rules
    /// are deterministic behaviours ICE is designed to work through, not chance.
    pub fn is_path_fault(&self) -> bool {
        [
            "lost on the access link",
            "queue overflow",
            "link down",
            "connection reset",
        ]
        .iter()
        .any(|r| self.reason.contains(r))
    }
}

/// Every view the judge uses, extracted once per run.
#[derive(Clone, Debug, Default)]
pub struct Wire<'a> {
    /// STUN at host interfaces.
    pub stun: Vec<StunSeen<'a>>,
    /// RTP at host interfaces.
    pub rtp: Vec<RtpSeen<'a>>,
    /// DTLS handshake messages at host interfaces.
    pub dtls: Vec<DtlsSeen<'a>>,
    /// JMI elements on client streams.
    pub jmi: Vec<JmiSeen<'a>>,
    /// Jingle IQ-sets on client streams.
    pub jingle: Vec<JingleSeen<'a>>,
    /// IQ results and errors on client streams.
    pub iq_replies: Vec<IqReplySeen<'a>>,
    /// What the network dropped, anywhere.
    pub drops: Vec<DropSeen<'a>>,
    /// What the parties sent malformed.
    pub malformed: Vec<MalformedSeen<'a>>,
    parties: Parties<'a>,
}

fn parse_content(c: &Element) -> ContentSeen {
    let desc = c.get_child("description", ns::JINGLE_RTP);
    let tr = c.get_child("transport", ns::JINGLE_ICE_UDP);
    let candidates = tr
        .map(|t| {
            t.children()
                .filter(|x| x.is("candidate", ns::JINGLE_ICE_UDP))
                .filter_map(|x| {
                    let [ip, port, typ, component, priority] =
                        xml::attrs(x, ["ip", "port", "type", "component", "priority"]);
                    let ip = ip?.parse().ok()?;
                    let port: u16 = port?.parse().ok()?;
                    Some(CandidateSeen {
                        addr: SocketAddr::new(ip, port),
                        typ: typ.unwrap_or("").to_string(),
                        component: component.and_then(|v| v.parse().ok()).unwrap_or(0),
                        priority: priority.and_then(|v| v.parse().ok()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let [creator, name] = xml::attrs(c, ["creator", "name"]);
    let [ufrag, pwd] = tr.map_or([None; 2], |t| xml::attrs(t, ["ufrag", "pwd"]));
    ContentSeen {
        creator: creator.map(str::to_string),
        name: name.map(str::to_string),
        media: desc.and_then(|d| d.attr("media")).map(str::to_string),
        ufrag: ufrag.map(str::to_string),
        pwd: pwd.map(str::to_string),
        candidates,
        fingerprint_setup: tr
            .and_then(|t| t.get_child("fingerprint", ns::JINGLE_DTLS))
            .map(|f| f.attr("setup").unwrap_or("").to_string()),
        fingerprint: tr.and_then(|t| t.get_child("fingerprint", ns::JINGLE_DTLS)).map(|f| {
            let text = f.text();
            let bytes: Option<Vec<u8>> = text
                .trim()
                .split(':')
                .map(|b| u8::from_str_radix(b, 16).ok().filter(|_| b.len() == 2))
                .collect();
            (
                f.attr("hash").unwrap_or("").to_ascii_lowercase(),
                bytes.unwrap_or_default(),
            )
        }),
        renomination: tr.is_some_and(|t| t.has_child("renomination", ns::ICE_UDP_OPTION)),
        rtcp_mux: desc.is_some_and(|d| d.has_child("rtcp-mux", ns::JINGLE_RTP)),
    }
}

/// What the TURN traffic seen so far at the hosts has set up: relayed addresses from Allocate
/// successes, and channels from ChannelBind successes.
#[derive(Default)]
struct Relays {
    /// (party, host address, TURN server) → relayed address.
    relayed: BTreeMap<(u32, SocketAddr, SocketAddr), SocketAddr>,
    /// ChannelBind requests sent: transaction id → (channel, peer).
    binding: BTreeMap<[u8; 12], (u16, SocketAddr)>,
    /// (party, host address, TURN server, channel) → peer.
    channels: BTreeMap<(u32, SocketAddr, SocketAddr, u16), SocketAddr>,
    /// Fragmented DTLS handshake messages under way: (party, sent, source, destination, message
    /// sequence) → what has come of it.
    dtls: BTreeMap<(u32, bool, SocketAddr, SocketAddr, u16), Reassembly>,
}

impl Relays {
    /// Adds a fragment of `length` bytes' message `key` at `offset`; the whole body once every
    /// byte has come (fragments may overlap or repeat, RFC 6347 §4.2.3). A fragment past the end
    /// is ignored.
    fn dtls_fragment(
        &mut self,
        key: (u32, bool, SocketAddr, SocketAddr, u16),
        length: u32,
        offset: u32,
        part: &[u8],
    ) -> Option<Vec<u8>> {
        let (len, at) = (length as usize, offset as usize);
        if at + part.len() > len || len > 1 << 16 {
            return None;
        }
        let r = self.dtls.entry(key).or_insert_with(|| Reassembly {
            body: vec![0; len],
            have: vec![false; len],
        });
        if r.body.len() != len {
            return None;
        }
        r.body[at..at + part.len()].copy_from_slice(part);
        r.have[at..at + part.len()].iter_mut().for_each(|h| *h = true);
        if r.have.iter().all(|h| *h) {
            return self.dtls.remove(&key).map(|r| r.body);
        }
        None
    }
}

/// The length of an RTP packet's fixed header and CSRC list (RFC 3550 §5.1: 12 bytes plus 4 per
/// CSRC), `None` when fewer than 12 bytes are there to read it from.
fn rtp_header_len(p: &[u8]) -> Option<usize> {
    (p.len() >= 12).then(|| 12 + 4 * usize::from(p[0] & 0x0f))
}

/// What a dropped payload carried: a STUN transaction id (unwrapping one TURN Send/Data indication
/// or ChannelData frame) and whether it was RTP.
fn dropped_content(payload: &Bytes) -> (Option<[u8; 12]>, bool) {
    match stun::demux(payload) {
        stun::Demux::Stun => {
            let Ok(msg) = Message::decode_shared(payload) else {
                return (None, false);
            };
            let inner = (msg.class == Class::Indication)
                .then(|| msg.raw_shared(attr_type::DATA))
                .flatten();
            match inner {
                Some(data) => match dropped_content(&data) {
                    (None, false) => (Some(msg.transaction_id), false),
                    found => found,
                },
                None => (Some(msg.transaction_id), false),
            }
        }
        stun::Demux::ChannelData => {
            let data = payload.slice(stun::channel::CHANNEL_DATA_HEADER_LEN.min(payload.len())..);
            if matches!(stun::demux(&data), stun::Demux::ChannelData) {
                return (None, false);
            }
            dropped_content(&data)
        }
        stun::Demux::Rtp => (None, true),
        _ => (None, false),
    }
}

impl<'a> Wire<'a> {
    /// Extracts the views from `trace`; `parties` are the host observation points.
    pub fn extract(trace: &'a Trace, parties: &[String]) -> Wire<'a> {
        let mut w = Wire::default();
        // Most of a run's events are datagrams at the hosts, each one STUN or RTP view: sized once
        // up front, as growing vectors of these large views copied them several times over.
        let at_hosts = trace
            .events
            .iter()
            .filter(|e| match &e.kind {
                TraceKind::Datagram { point, .. } | TraceKind::Segment { point, .. } => {
                    w.parties.host(point, parties).is_some()
                }
                _ => false,
            })
            .count();
        w.rtp.reserve(at_hosts);
        w.stun.reserve(at_hosts / 4);
        // (party, host address, TURN server) → relayed address, from Allocate successes.
        let mut relays = Relays::default();
        for e in &trace.events {
            match &e.kind {
                TraceKind::Datagram {
                    point,
                    dir,
                    src,
                    dst,
                    payload,
                }
                | TraceKind::Segment {
                    point,
                    dir,
                    src,
                    dst,
                    payload,
                    ..
                } => {
                    let Some(party) = w.parties.host(point, parties) else {
                        continue;
                    };
                    let seen = Seen {
                        index: e.index,
                        time: e.time,
                        party,
                        dir: *dir,
                        src: *src,
                        dst: *dst,
                        relayed: false,
                    };
                    w.host_payload(&seen, payload, &mut relays);
                }
                TraceKind::Dropped {
                    point,
                    src,
                    dst,
                    reason,
                    payload,
                } => {
                    let (transaction_id, rtp) = dropped_content(payload);
                    w.drops.push(DropSeen {
                        index: e.index,
                        time: e.time,
                        point,
                        reason,
                        src: *src,
                        dst: *dst,
                        transaction_id,
                        rtp,
                    });
                }
                TraceKind::Stanza {
                    party, dir, element, ..
                } => {
                    let party = w.parties.intern(party);
                    let [typ, id, to, from] = xml::attrs(element, ["type", "id", "to", "from"]);
                    if element.name() == "message" {
                        for c in element.children().filter(|c| c.has_ns(ns::JMI)) {
                            if *dir == Dir::Tx && c.attr("id").is_none() {
                                w.malformed.push(MalformedSeen {
                                    index: e.index,
                                    time: e.time,
                                    party,
                                    what: format!("a JMI <{}/> without the session id `id` (XEP-0353 §3)", c.name()),
                                });
                            }
                            w.jmi.push(JmiSeen {
                                index: e.index,
                                time: e.time,
                                party,
                                dir: *dir,
                                kind: c.name().to_string(),
                                id: c.attr("id").unwrap_or("").to_string(),
                                to: to.map(str::to_string),
                                from: from.map(str::to_string),
                                media: c
                                    .children()
                                    .filter(|d| d.is("description", ns::JINGLE_RTP))
                                    .filter_map(|d| d.attr("media").map(str::to_string))
                                    .collect(),
                            });
                        }
                    }
                    if element.name() == "iq" && matches!(typ, Some("result" | "error")) {
                        w.iq_replies.push(IqReplySeen {
                            index: e.index,
                            party,
                            dir: *dir,
                            typ: typ.unwrap_or("").to_string(),
                            id: id.unwrap_or("").to_string(),
                            condition: element
                                .get_child("error", ns::CLIENT)
                                .and_then(|er| er.children().find(|c| c.has_ns(ns::STANZAS) && c.name() != "text"))
                                .map(|c| c.name().to_string()),
                        });
                    }
                    if element.name() == "iq" && typ == Some("set") {
                        if let Some(j) = element.get_child("jingle", ns::JINGLE) {
                            let reason = j.get_child("reason", ns::JINGLE);
                            let [action, sid] = xml::attrs(j, ["action", "sid"]);
                            if *dir == Dir::Tx && (action.is_none() || sid.is_none()) {
                                w.malformed.push(MalformedSeen {
                                    index: e.index,
                                    time: e.time,
                                    party,
                                    what: "a <jingle/> without its REQUIRED `action` or `sid` (XEP-0166 §7.1)".into(),
                                });
                            }
                            w.jingle.push(JingleSeen {
                                index: e.index,
                                time: e.time,
                                party,
                                dir: *dir,
                                action: action.unwrap_or("").to_string(),
                                sid: sid.unwrap_or("").to_string(),
                                iq_id: id.map(str::to_string),
                                to: to.map(str::to_string),
                                contents: j
                                    .children()
                                    .filter(|c| c.is("content", ns::JINGLE))
                                    .map(parse_content)
                                    .collect(),
                                reason: reason.and_then(|r| {
                                    r.children().find(|c| c.name() != "text").map(|c| c.name().to_string())
                                }),
                                reason_text: reason.and_then(|r| r.get_child("text", ns::JINGLE)).map(|t| t.text()),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        w
    }

    /// Records one payload seen at a host, unwrapping TURN Send/Data indications once.
    fn host_payload(&mut self, seen: &Seen<'a>, payload: &Bytes, relays: &mut Relays) {
        match stun::demux(payload) {
            stun::Demux::Stun => {
                let msg = match Message::decode_shared(payload) {
                    Ok(m) => m,
                    // RFC 3489 Binding, which RFC 8489 §11 keeps answerable: not malformed.
                    Err(_)
                        if stun::classic::binding_request_id(payload).is_some()
                            || stun::classic::is_binding_response(payload) =>
                    {
                        return
                    }
                    Err(e) => {
                        if seen.dir == Dir::Tx {
                            self.malformed.push(MalformedSeen {
                                index: seen.index,
                                time: seen.time,
                                party: seen.party,
                                what: format!(
                                    "a STUN message to {}{} that does not decode: {e} (RFC 8489 §5, §14)",
                                    seen.dst,
                                    if seen.relayed { ", relayed" } else { "" }
                                ),
                            });
                        }
                        return;
                    }
                };
                if !seen.relayed {
                    let (local, server) = match seen.dir {
                        Dir::Tx => (seen.src, seen.dst),
                        Dir::Rx => (seen.dst, seen.src),
                    };
                    let key = (seen.party.id, local, server);
                    if seen.dir == Dir::Rx && msg.method == stun::method::ALLOCATE && msg.class == Class::Success {
                        if let Some(Ok(stun::Attribute::XorRelayedAddress(r))) = msg.get(attr_type::XOR_RELAYED_ADDRESS)
                        {
                            relays.relayed.insert(key, r);
                        }
                    }
                    // ChannelBind (RFC 8656 §11): the request names channel and peer, the success
                    // binds them for the ChannelData that follows.
                    if msg.method == stun::method::CHANNEL_BIND {
                        match (seen.dir, msg.class) {
                            (Dir::Tx, Class::Request) => {
                                let channel = match msg.get(attr_type::CHANNEL_NUMBER) {
                                    Some(Ok(stun::Attribute::ChannelNumber(c))) => Some(c),
                                    _ => None,
                                };
                                let peer = match msg.get(attr_type::XOR_PEER_ADDRESS) {
                                    Some(Ok(stun::Attribute::XorPeerAddress(a))) => Some(a),
                                    _ => None,
                                };
                                if let (Some(c), Some(p)) = (channel, peer) {
                                    relays.binding.insert(msg.transaction_id, (c, p));
                                }
                            }
                            (Dir::Rx, Class::Success) => {
                                if let Some(&(c, p)) = relays.binding.get(&msg.transaction_id) {
                                    relays.channels.insert((seen.party.id, local, server, c), p);
                                }
                            }
                            _ => {}
                        }
                    }
                    let wrapped = msg.class == Class::Indication
                        && ((seen.dir == Dir::Tx && msg.method == stun::method::SEND)
                            || (seen.dir == Dir::Rx && msg.method == stun::method::DATA));
                    if let Some(&relayed) = wrapped.then(|| relays.relayed.get(&key)).flatten() {
                        let peer = match msg.get(attr_type::XOR_PEER_ADDRESS) {
                            Some(Ok(stun::Attribute::XorPeerAddress(a))) => Some(a),
                            _ => None,
                        };
                        // DATA is the raw value (it cannot be malformed): a view, not a copy.
                        let data = msg.raw_shared(attr_type::DATA);
                        if let (Some(peer), Some(data)) = (peer, data) {
                            self.relayed_payload(seen, relayed, peer, &data, relays);
                        }
                    }
                }
                self.stun.push(StunSeen {
                    index: seen.index,
                    time: seen.time,
                    party: seen.party,
                    dir: seen.dir,
                    src: seen.src,
                    dst: seen.dst,
                    msg,
                    relayed: seen.relayed,
                })
            }
            stun::Demux::ChannelData if !seen.relayed => {
                let (local, server) = match seen.dir {
                    Dir::Tx => (seen.src, seen.dst),
                    Dir::Rx => (seen.dst, seen.src),
                };
                let Ok((channel, data)) = stun::decode_channel_data(payload) else {
                    if seen.dir == Dir::Tx {
                        self.malformed.push(MalformedSeen {
                            index: seen.index,
                            time: seen.time,
                            party: seen.party,
                            what: format!(
                                "a ChannelData message to {} that does not parse (RFC 8656 §12.4)",
                                seen.dst
                            ),
                        });
                    }
                    return;
                };
                let key = (seen.party.id, local, server);
                let relayed = relays.relayed.get(&key).copied();
                let peer = relays.channels.get(&(seen.party.id, local, server, channel)).copied();
                if let (Some(relayed), Some(peer)) = (relayed, peer) {
                    self.relayed_payload(seen, relayed, peer, &payload.slice_ref(data), relays);
                }
            }
            stun::Demux::Rtp if seen.dir == Dir::Tx && rtp_header_len(payload).is_none_or(|h| h > payload.len()) => {
                self.malformed.push(MalformedSeen {
                    index: seen.index,
                    time: seen.time,
                    party: seen.party,
                    what: format!(
                        "an RTP packet of {} bytes to {} that is shorter than its header (RFC 3550 §5.1)",
                        payload.len(),
                        seen.dst
                    ),
                });
            }
            stun::Demux::Dtls => self.dtls_records(seen, payload, relays),
            stun::Demux::Rtp => self.rtp.push(RtpSeen {
                index: seen.index,
                time: seen.time,
                party: seen.party,
                dir: seen.dir,
                src: seen.src,
                dst: seen.dst,
                relayed: seen.relayed,
            }),
            _ => {}
        }
    }

    /// The handshake messages in the epoch-0 records of a DTLS datagram (RFC 6347 §4.1), whole or
    /// once their fragments are all in. A record the parser cannot read ends the datagram: later
    /// records' boundaries are unknown then (a DTLS 1.3 unified header, or garbage).
    fn dtls_records(&mut self, seen: &Seen<'a>, payload: &[u8], relays: &mut Relays) {
        use tls_parser::{DTLSMessage, DTLSMessageHandshakeBody as Body, TlsHandshakeType as T, TlsRecordType};
        let mut rest = payload;
        while let Ok((after, header)) = tls_parser::parse_dtls_record_header(rest) {
            let Some(mut fragment) = after.get(..usize::from(header.length)) else {
                return;
            };
            rest = &after[usize::from(header.length)..];
            if header.content_type != TlsRecordType::Handshake || header.epoch != 0 {
                continue;
            }
            while let Ok((next, DTLSMessage::Handshake(h))) = tls_parser::parse_dtls_message_handshake(fragment) {
                fragment = next;
                let whole;
                let body = match h.body {
                    Body::Fragment(part) => {
                        let key = (seen.party.id, seen.dir == Dir::Tx, seen.src, seen.dst, h.message_seq);
                        let Some(done) = relays.dtls_fragment(key, h.length, h.fragment_offset, part) else {
                            continue;
                        };
                        // The whole message as one unfragmented DTLS handshake message.
                        let mut m = Vec::with_capacity(12 + done.len());
                        m.push(h.msg_type.0);
                        m.extend_from_slice(&h.length.to_be_bytes()[1..]);
                        m.extend_from_slice(&h.message_seq.to_be_bytes());
                        m.extend_from_slice(&[0, 0, 0]);
                        m.extend_from_slice(&h.length.to_be_bytes()[1..]);
                        m.extend_from_slice(&done);
                        whole = m;
                        match tls_parser::parse_dtls_message_handshake(&whole) {
                            Ok((_, DTLSMessage::Handshake(h))) => h.body,
                            _ => continue,
                        }
                    }
                    b => b,
                };
                let message = match (h.msg_type, body) {
                    (T::ClientHello, _) => DtlsMessage::ClientHello,
                    (T::ServerHello, _) => DtlsMessage::ServerHello,
                    (T::Certificate, Body::Certificate(c)) => DtlsMessage::Certificate {
                        leaf_sha256: c.cert_chain.first().map(|r| Sha256::digest(r.data).into()),
                    },
                    _ => continue,
                };
                self.dtls.push(DtlsSeen {
                    index: seen.index,
                    time: seen.time,
                    party: seen.party,
                    dir: seen.dir,
                    src: seen.src,
                    dst: seen.dst,
                    relayed: seen.relayed,
                    message,
                });
            }
        }
    }

    /// Records what `seen` carried through the party's allocation as the datagram between its
    /// relayed address and `peer` (sent to the peer, or received from it).
    fn relayed_payload(
        &mut self,
        seen: &Seen<'a>,
        relayed: SocketAddr,
        peer: SocketAddr,
        data: &Bytes,
        relays: &mut Relays,
    ) {
        let (src, dst) = match seen.dir {
            Dir::Tx => (relayed, peer),
            Dir::Rx => (peer, relayed),
        };
        let inner = Seen {
            src,
            dst,
            relayed: true,
            ..*seen
        };
        self.host_payload(&inner, data, relays);
    }

    /// The first Jingle `action` any party sent.
    pub fn first_sent(&self, action: &str) -> Option<&JingleSeen<'a>> {
        self.jingle.iter().find(|j| j.dir == Dir::Tx && j.action == action)
    }

    /// The session-initiate of the session that went ahead: the one whose sid a session-accept
    /// names, so a crossing initiate that lost the tie-break (XEP-0166 §7.2.16) is passed over;
    /// without any session-accept, the first session-initiate sent.
    pub fn session_initiate(&self) -> Option<&JingleSeen<'a>> {
        let initiates = || {
            self.jingle
                .iter()
                .filter(|j| j.dir == Dir::Tx && j.action == "session-initiate")
        };
        self.first_sent("session-accept")
            .and_then(|a| initiates().find(|j| j.sid == a.sid))
            .or_else(|| initiates().next())
    }

    /// Every session-initiate and session-accept sent, in order: the actions that carry an offer or
    /// an answer.
    pub fn offers_and_answers(&self) -> Vec<&JingleSeen<'a>> {
        self.jingle
            .iter()
            .filter(|j| j.dir == Dir::Tx && matches!(j.action.as_str(), "session-initiate" | "session-accept"))
            .collect()
    }

    /// The session-accept `party` received and did not refuse with an IQ error, if any: the session
    /// is accepted from that party's view.
    pub fn accepted_by(&self, party: &str) -> Option<&JingleSeen<'a>> {
        let party = self.parties.get(party)?;
        self.jingle.iter().find(|j| {
            j.party == party
                && j.dir == Dir::Rx
                && j.action == "session-accept"
                && !self.iq_replies.iter().any(|r| {
                    r.party == party && r.dir == Dir::Tx && r.typ == "error" && Some(&r.id) == j.iq_id.as_ref()
                })
        })
    }

    /// The Binding success response (at the same party, received) to request `req`, if one came back.
    pub fn response_to(&self, req: &StunSeen) -> Option<&StunSeen<'a>> {
        self.stun.iter().find(|s| {
            s.party == req.party
                && s.dir == Dir::Rx
                && s.index > req.index
                && s.msg.transaction_id == req.msg.transaction_id
                && matches!(s.msg.class, Class::Success | Class::Error)
        })
    }

    /// The same message (by transaction id and class) as another party received it.
    pub fn received_by(&self, party: &str, sent: &StunSeen) -> Option<&StunSeen<'a>> {
        let party = self.parties.get(party)?;
        self.stun.iter().find(|s| {
            s.party == party
                && s.dir == Dir::Rx
                && s.msg.transaction_id == sent.msg.transaction_id
                && s.msg.class == sent.msg.class
        })
    }

    /// The party named `name`, as the views carry it; numbered now, and so equal to no party of
    /// the views, when none has that name.
    pub fn party(&mut self, name: &'a str) -> Party<'a> {
        self.parties.intern(name)
    }

    /// ICE connectivity checks (Binding requests with ICE-CONTROLLING or ICE-CONTROLLED) sent by `party`.
    pub fn checks_sent_by<'s>(&'s self, party: &str) -> impl Iterator<Item = &'s StunSeen<'a>> + 's {
        let party = self.parties.get(party);
        self.stun.iter().filter(move |s| {
            Some(s.party) == party
                && s.dir == Dir::Tx
                && s.msg.class == Class::Request
                && s.msg.method == stun::method::BINDING
                && (s.msg.has(attr_type::ICE_CONTROLLING) || s.msg.has(attr_type::ICE_CONTROLLED))
        })
    }
}
