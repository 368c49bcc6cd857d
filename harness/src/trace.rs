//! The Trace: every datagram and stanza seen during a run, at every observation point, in order.
//!
//! Observation points are named after what a capture there would see: a party's host interface
//! (`caller`), the outside of its NAT (`caller/nat`), a server (`stun`, `xmpp`). The judge reads only
//! this, plus the scenario.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use minidom::Element;
use sha2::{Digest, Sha256};

use crate::stun::attr_type;
use crate::time::SimTime;

/// An observation point's name (`caller`, `caller/nat`, `turn`): shared, so recording a hop costs a
/// reference count, not a string copy.
pub type Point = std::sync::Arc<str>;

/// Direction relative to the observation point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Leaving the point (sent by the host, or forwarded outward by the NAT, or sent by a client to
    /// its server).
    Tx,
    /// Arriving at the point.
    Rx,
}

/// One observation.
#[derive(Clone, Debug)]
pub enum TraceKind {
    /// A UDP datagram at a point.
    Datagram {
        /// Observation point.
        point: Point,
        /// Direction.
        dir: Dir,
        /// Source address as seen at this point.
        src: SocketAddr,
        /// Destination address as seen at this point.
        dst: SocketAddr,
        /// UDP payload.
        payload: Bytes,
    },
    /// One message on a stream (TCP or TLS), at the client's host or at the server; the stream
    /// transport preserves message boundaries, so each is one STUN message or ChannelData frame.
    Segment {
        /// Observation point.
        point: Point,
        /// Direction.
        dir: Dir,
        /// TLS over TCP (payload recorded as the application wrote it) or plain TCP.
        tls: bool,
        /// Source address as seen at this point.
        src: SocketAddr,
        /// Destination address as seen at this point.
        dst: SocketAddr,
        /// The message.
        payload: Bytes,
    },
    /// A datagram the network dropped, with why (NAT filter, no route, loss).
    Dropped {
        /// Where it was dropped.
        point: Point,
        /// Source as seen there.
        src: SocketAddr,
        /// Destination as seen there.
        dst: SocketAddr,
        /// Why.
        reason: String,
        /// UDP payload.
        payload: Bytes,
    },
    /// An XMPP stanza on a client-to-server stream: `Tx` when the client sent it, `Rx` when the server
    /// delivered it to the client.
    Stanza {
        /// The party whose stream it is.
        party: String,
        /// The device whose stream it is (1-based), when the party has several devices; `None` for a
        /// party with one. A client writes no `from`, so this is what tells a party's devices' sent
        /// stanzas apart.
        device: Option<u8>,
        /// Direction.
        dir: Dir,
        /// The stanza, for checks; its text on the stream is [`crate::xml::to_string`] of it, made
        /// only when an artefact needs it (the hash walks the element, see [`Trace::hash`]). Shared
        /// with the endpoint or the server it was handed to, not copied for the record.
        element: Arc<Element>,
    },
    /// A scripted user action delivered to a party.
    User {
        /// The party.
        party: String,
        /// The action, e.g. `call`.
        action: String,
    },
    /// Something an implementation claimed (call state, selected pair). Evidence, never a verdict.
    Claim {
        /// The party.
        party: String,
        /// The claim.
        claim: String,
    },
    /// A protocol violation the harness saw while carrying an output (malformed output, a datagram from
    /// an address the host does not have), or a fault an adapter reported (`Output::Fault`: an
    /// external process that crashed, hung or wrote garbage).
    Violation {
        /// The party.
        party: String,
        /// What was wrong.
        what: String,
    },
}

/// One numbered observation. `index` is the evidence number used in reports.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    /// Position in the trace, from 0.
    pub index: usize,
    /// When it happened.
    pub time: SimTime,
    /// What happened.
    pub kind: TraceKind,
}

/// The ordered record of a run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Events in the order they happened (time order; same-time events in processing order).
    pub events: Vec<TraceEvent>,
    /// Set when an implementation in the run draws STUN transaction ids from a generator nobody can
    /// seed ([`crate::endpoint::Ics::unseeded_stun_transaction_ids`]): the hash then masks them
    /// ([`Trace::hash`]): each id becomes the order of its first appearance, and the integrity and
    /// fingerprint values computed over it are zeroed.
    pub mask_stun_transaction_ids: bool,
}

/// One trace.jsonl line: `v` as compact JSON and a newline.
fn line<W: std::io::Write>(w: &mut W, v: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

/// A value written as the JSON string of its `Display` (addresses in trace.jsonl).
struct Shown<'a, T>(&'a T);

impl<T: std::fmt::Display> serde::Serialize for Shown<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// Bytes written as a JSON string of lower-case hex (payloads in trace.jsonl).
struct Hex<'a>(&'a [u8]);

impl serde::Serialize for Hex<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(self.0.len() * 2);
        push_hex(&mut out, self.0);
        s.serialize_str(&out)
    }
}

/// The lines of trace.jsonl, one struct per event kind, fields in alphabetical order (the key order
/// of the format).
mod jsonl {
    use serde::Serialize;

    use super::{Dir, Hex, Shown};
    use std::net::SocketAddr;

    #[derive(Serialize)]
    pub(super) struct Datagram<'a> {
        pub dir: Dir,
        pub dst: Shown<'a, SocketAddr>,
        pub index: usize,
        pub kind: &'static str,
        pub payload: Hex<'a>,
        pub point: &'a str,
        pub src: Shown<'a, SocketAddr>,
        pub time_us: u64,
    }

    #[derive(Serialize)]
    pub(super) struct Dropped<'a> {
        pub dst: Shown<'a, SocketAddr>,
        pub index: usize,
        pub kind: &'static str,
        pub payload: Hex<'a>,
        pub point: &'a str,
        pub reason: &'a str,
        pub src: Shown<'a, SocketAddr>,
        pub time_us: u64,
    }

    #[derive(Serialize)]
    pub(super) struct Stanza<'a> {
        pub device: Option<u8>,
        pub dir: Dir,
        pub index: usize,
        pub kind: &'static str,
        pub party: &'a str,
        pub time_us: u64,
        pub xml: &'a str,
    }

    #[derive(Serialize)]
    pub(super) struct User<'a> {
        pub action: &'a str,
        pub index: usize,
        pub kind: &'static str,
        pub party: &'a str,
        pub time_us: u64,
    }

    #[derive(Serialize)]
    pub(super) struct Claim<'a> {
        pub claim: &'a str,
        pub index: usize,
        pub kind: &'static str,
        pub party: &'a str,
        pub time_us: u64,
    }

    #[derive(Serialize)]
    pub(super) struct Violation<'a> {
        pub index: usize,
        pub kind: &'static str,
        pub party: &'a str,
        pub time_us: u64,
        pub what: &'a str,
    }
}

/// Lower-case hex of `b` appended to `out`.
/// The name of a client stream as artefacts print it: `callee`, or `callee/device2` for a device of a
/// party with several ([`TraceKind::Stanza::device`]).
pub fn stream_label(party: &str, device: Option<u8>) -> String {
    match device {
        Some(d) => format!("{party}/device{d}"),
        None => party.to_string(),
    }
}

fn push_hex(out: &mut String, b: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() * 2);
    for x in b {
        out.push(DIGITS[usize::from(x >> 4)] as char);
        out.push(DIGITS[usize::from(x & 0xF)] as char);
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    push_hex(&mut s, b);
    s
}

thread_local! {
    /// The emptied event buffer of the last trace [`Trace::recycle`]d on this thread.
    static SPARE_EVENTS: std::cell::Cell<Vec<TraceEvent>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A recycled event buffer is kept only up to this many events' room, about 5 MB per worker thread
/// (a default-suite run has about a thousand events, the longest, `turn/allocation-refresh`, 6,700),
/// so an outsized run (a 30-minute call has 78,000) does not keep its memory.
const SPARE_EVENTS_MAX: usize = 1 << 15;

impl Trace {
    /// An empty trace whose event buffer is the one the last [`Trace::recycle`] on this thread gave
    /// back, with its room: a run's trace then grows without reallocating and copying its events
    /// over and over, run after run. Contents and outputs are those of a new trace.
    pub fn with_spare_buffer() -> Trace {
        Trace {
            events: SPARE_EVENTS.take(),
            ..Trace::default()
        }
    }

    /// Drops the events and keeps their buffer for the next [`Trace::with_spare_buffer`] on this
    /// thread (unless it has room for more than 2^15 events).
    pub fn recycle(self) {
        let mut events = self.events;
        events.clear();
        if events.capacity() <= SPARE_EVENTS_MAX {
            SPARE_EVENTS.set(events);
        }
    }

    /// Appends an event and returns its index.
    pub fn push(&mut self, time: SimTime, kind: TraceKind) -> usize {
        let index = self.events.len();
        self.events.push(TraceEvent { index, time, kind });
        index
    }

    /// One text line per event with the content the trace hash covers (`replay` prints these):
    /// `INDEX TIME_US KIND FIELDS…`, payloads in hex, stanzas as their XML text.
    pub fn canonical_line(e: &TraceEvent) -> String {
        let mut out = String::new();
        let t = e.time.as_micros();
        // Writing into a String cannot fail.
        let _ = match &e.kind {
            TraceKind::Datagram {
                point,
                dir,
                src,
                dst,
                payload,
            } => {
                let _ = write!(out, "{} {t} dgram {point} {dir:?} {src} {dst} ", e.index);
                push_hex(&mut out, payload);
                Ok(())
            }
            TraceKind::Segment {
                point,
                dir,
                tls,
                src,
                dst,
                payload,
            } => {
                let proto = if *tls { "tls" } else { "tcp" };
                let _ = write!(out, "{} {t} {proto} {point} {dir:?} {src} {dst} ", e.index);
                push_hex(&mut out, payload);
                Ok(())
            }
            TraceKind::Dropped {
                point,
                src,
                dst,
                reason,
                payload,
            } => {
                let _ = write!(out, "{} {t} drop {point} {src} {dst} {reason} ", e.index);
                push_hex(&mut out, payload);
                Ok(())
            }
            TraceKind::Stanza {
                party,
                device,
                dir,
                element,
            } => {
                let xml = crate::xml::to_string(element);
                write!(
                    out,
                    "{} {t} stanza {} {dir:?} {xml}",
                    e.index,
                    stream_label(party, *device)
                )
            }
            TraceKind::User { party, action } => write!(out, "{} {t} user {party} {action}", e.index),
            TraceKind::Claim { party, claim } => write!(out, "{} {t} claim {party} {claim}", e.index),
            TraceKind::Violation { party, what } => write!(out, "{} {t} violation {party} {what}", e.index),
        };
        out
    }

    /// Writes the trace as JSON lines, one object per event: `index`, `time_us`, `kind` (`dgram`,
    /// `tcp`, `tls`, `drop`, `stanza`, `user`, `claim`, `violation`) and the event's fields (payloads
    /// as hex, stanzas as the XML text) — trace.jsonl, for tools that read a run without Rust.
    ///
    /// Errors: I/O errors of `w`.
    pub fn write_jsonl<W: std::io::Write>(&self, mut w: W) -> std::io::Result<()> {
        // Each line is a struct whose fields are in alphabetical order, so the output is what a JSON
        // object with sorted keys gives (the format tools read), without building a map per event.
        for e in &self.events {
            let (index, time_us) = (e.index, e.time.as_micros());
            match &e.kind {
                TraceKind::Datagram {
                    point,
                    dir,
                    src,
                    dst,
                    payload,
                } => line(
                    &mut w,
                    &jsonl::Datagram {
                        dir: *dir,
                        dst: Shown(dst),
                        index,
                        kind: "dgram",
                        payload: Hex(payload),
                        point,
                        src: Shown(src),
                        time_us,
                    },
                ),
                TraceKind::Segment {
                    point,
                    dir,
                    tls,
                    src,
                    dst,
                    payload,
                } => line(
                    &mut w,
                    &jsonl::Datagram {
                        dir: *dir,
                        dst: Shown(dst),
                        index,
                        kind: if *tls { "tls" } else { "tcp" },
                        payload: Hex(payload),
                        point,
                        src: Shown(src),
                        time_us,
                    },
                ),
                TraceKind::Dropped {
                    point,
                    src,
                    dst,
                    reason,
                    payload,
                } => line(
                    &mut w,
                    &jsonl::Dropped {
                        dst: Shown(dst),
                        index,
                        kind: "drop",
                        payload: Hex(payload),
                        point,
                        reason,
                        src: Shown(src),
                        time_us,
                    },
                ),
                TraceKind::Stanza {
                    party,
                    device,
                    dir,
                    element,
                } => line(
                    &mut w,
                    &jsonl::Stanza {
                        device: *device,
                        dir: *dir,
                        index,
                        kind: "stanza",
                        party,
                        time_us,
                        xml: &crate::xml::to_string(element),
                    },
                ),
                TraceKind::User { party, action } => line(
                    &mut w,
                    &jsonl::User {
                        action,
                        index,
                        kind: "user",
                        party,
                        time_us,
                    },
                ),
                TraceKind::Claim { party, claim } => line(
                    &mut w,
                    &jsonl::Claim {
                        claim,
                        index,
                        kind: "claim",
                        party,
                        time_us,
                    },
                ),
                TraceKind::Violation { party, what } => line(
                    &mut w,
                    &jsonl::Violation {
                        index,
                        kind: "violation",
                        party,
                        time_us,
                        what,
                    },
                ),
            }?;
        }
        w.flush()
    }

    /// SHA-256 of the canonical trace, lower-case hex: equal hashes mean identical traces.
    ///
    /// The canonical trace is binary, one record per event, in trace order; see [`Canon`] for the
    /// encoding. It is compact so that hashing costs few bytes: a call's media datagram is seen at
    /// four points with the same payload, and nearly every record names a point, so each of those
    /// is written once and then referred to.
    /// [`Trace::canonical_line`] is the same content as text, for reading.
    pub fn hash(&self) -> String {
        let mut c = Canon::new(true, self.mask_stun_transaction_ids);
        for e in &self.events {
            c.record(e);
        }
        c.finish()
    }
}

/// Staged canonical bytes are handed to the hasher once they reach this many.
const STAGE_FLUSH: usize = 8192;
/// Payloads of at least this many bytes are hashed in place instead of copied into the stage.
const DIRECT_PAYLOAD: usize = 256;
/// How many of the latest distinct payloads a datagram, segment or drop record can refer to instead
/// of repeating it.
const RECENT_PAYLOADS: usize = 4;

/// Appends `v` as unsigned LEB128 (7 bits a byte, least significant first).
fn put_uleb(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A byte string: its length (LEB128) and its bytes.
fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uleb(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

fn put_addr(buf: &mut Vec<u8>, a: &SocketAddr) {
    // One append per IPv4 address (two per datagram record; each append checks capacity).
    match a {
        SocketAddr::V4(a) => {
            let [o0, o1, o2, o3] = a.ip().octets();
            let [p0, p1] = a.port().to_be_bytes();
            buf.extend_from_slice(&[4, o0, o1, o2, o3, p0, p1]);
        }
        SocketAddr::V6(a) => {
            buf.push(6);
            buf.extend_from_slice(&a.ip().octets());
            buf.extend_from_slice(&a.port().to_be_bytes());
        }
    }
}

/// Points numbered by their first appearance: the first appearance of a point's name is written
/// out, later ones by number. Only points: they are in nearly every record and each is one shared
/// `Arc<str>`, found by address. Element and attribute names are short enough that hashing them costs
/// less than numbering them would.
#[derive(Default)]
struct Points<'a> {
    ids: rustc_hash::FxHashMap<&'a str, u32>,
    /// The numbers of the last few points seen, by address and length: the strings outlive the
    /// table, so an address cannot be reused for other content while it is kept.
    recent: [(usize, usize, u32); 8],
    next_recent: usize,
}

impl<'a> Points<'a> {
    /// A point reference: LEB128 `id + 1` for a name seen before, or 0 and the name
    /// ([`put_bytes`]), which takes the next number.
    fn put(&mut self, buf: &mut Vec<u8>, s: &'a str) {
        let key = (s.as_ptr() as usize, s.len());
        // No string lives at the null address, so the unused slots never match.
        if let Some(&(_, _, id)) = self.recent.iter().find(|(p, l, _)| (*p, *l) == key) {
            put_uleb(buf, u64::from(id) + 1);
            return;
        }
        let next = self.ids.len() as u32;
        let id = *self.ids.entry(s).or_insert(next);
        if id == next {
            buf.push(0);
            put_bytes(buf, s.as_bytes());
        } else {
            put_uleb(buf, u64::from(id) + 1);
        }
        self.recent[self.next_recent] = (key.0, key.1, id);
        self.next_recent = (self.next_recent + 1) % self.recent.len();
    }
}

/// Appends the canonical bytes of `el`, whose parent is in namespace `parent_ns` (`""` for a
/// stanza): equal bytes mean equal elements. `<`, its name ([`put_bytes`]), its namespace (`=` when
/// it is the parent's, else `@` and [`put_bytes`]), the number of attributes (LEB128) and each in
/// their sorted order (`-` for no namespace or `@` and the namespace, then name and value, each
/// [`put_bytes`]), then child elements and text nodes (`"` and [`put_bytes`]), then `>`.
///
/// minidom hands out an element's namespace only as a new `String`; one allocation per element was
/// a tenth of hashing a trace. A child almost always shares its parent's namespace or is in one of
/// [`crate::xml::ns`], which are compared in place.
pub(crate) fn put_element(buf: &mut Vec<u8>, el: &Element) {
    put_element_in(buf, el, "");
}

fn put_element_in(buf: &mut Vec<u8>, el: &Element, parent_ns: &str) {
    buf.push(b'<');
    put_bytes(buf, el.name().as_bytes());
    let owned;
    let ns = if el.has_ns(parent_ns) {
        buf.push(b'=');
        parent_ns
    } else {
        buf.push(b'@');
        let ns = match crate::xml::ns::ALL.iter().copied().find(|n| el.has_ns(*n)) {
            Some(known) => known,
            None => {
                owned = el.ns();
                &owned
            }
        };
        put_bytes(buf, ns.as_bytes());
        ns
    };
    put_uleb(buf, el.attrs().len() as u64);
    for ((ans, name), value) in el.attrs().iter() {
        if ans.is_none() {
            buf.push(b'-');
        } else {
            buf.push(b'@');
            put_bytes(buf, ans.as_bytes());
        }
        put_bytes(buf, name.as_bytes());
        put_bytes(buf, value.as_bytes());
    }
    for n in el.nodes() {
        match n {
            minidom::Node::Element(c) => put_element_in(buf, c, ns),
            minidom::Node::Text(t) => {
                buf.push(b'"');
                put_bytes(buf, t.as_bytes());
            }
        }
    }
    buf.push(b'>');
}

/// The canonical encoder of a trace, record by record, into SHA-256 ([`Trace::hash`]).
///
/// A record, for an event at position `p`: the difference of its time from the previous event's
/// (the first event's from 0), in µs, zigzag LEB128; when its `index` is not `p` (a trace assembled
/// by hand), `#` and the index as u64 big-endian; then a kind tag and the fields:
/// - `D`/`d` datagram sent/received at the point, `S`/`s` TCP and `L`/`l` TLS message: the point's
///   reference ([`Points::put`]), source and destination addresses (a family byte 4 or 6, the
///   octets, the port big-endian), the payload reference;
/// - `X` dropped: point, source, destination, the reason ([`put_bytes`]), the payload reference;
/// - `Z`/`z` stanza sent/delivered: the party ([`put_bytes`]), `#` and the device number when
///   the party has several, the element ([`put_element`]);
/// - `U` user action, `C` claim, `V` violation: the party and the text (each [`put_bytes`]).
///
/// A payload reference is LEB128 `k` (1 to [`RECENT_PAYLOADS`]) when the payload's bytes equal
/// the `k`-th latest of the distinct payloads written so far, or 0 and the payload
/// ([`put_bytes`]). Payloads are compared after masking ([`StunMask`]), when the trace masks.
struct Canon<'a> {
    h: Sha256,
    /// Staged record bytes; with `staged` off, the whole canonical trace (tests compare it).
    buf: Vec<u8>,
    staged: bool,
    points: Points<'a>,
    /// The latest distinct payloads, newest first.
    recent: std::collections::VecDeque<std::borrow::Cow<'a, [u8]>>,
    time_us: u64,
    position: usize,
    mask: Option<StunMask>,
}

impl<'a> Canon<'a> {
    /// An encoder; `staged` hands bytes to the hasher as they come (else they stay in `buf`).
    fn new(staged: bool, mask: bool) -> Canon<'a> {
        Canon {
            h: Sha256::new(),
            buf: Vec::with_capacity(STAGE_FLUSH + 2048),
            staged,
            points: Points::default(),
            recent: std::collections::VecDeque::with_capacity(RECENT_PAYLOADS + 1),
            time_us: 0,
            position: 0,
            mask: mask.then(StunMask::default),
        }
    }

    /// Encodes the next event.
    fn record(&mut self, e: &'a TraceEvent) {
        let buf = &mut self.buf;
        let t = e.time.as_micros();
        let delta = t.wrapping_sub(self.time_us) as i64;
        self.time_us = t;
        put_uleb(buf, ((delta << 1) ^ (delta >> 63)) as u64);
        // After the time, where a tag is due and `#` is none: before it, `#` would read as a time.
        if e.index != self.position {
            buf.push(b'#');
            buf.extend_from_slice(&(e.index as u64).to_be_bytes());
        }
        self.position += 1;
        let tag = |d: &Dir, tx: u8| if *d == Dir::Tx { tx } else { tx.to_ascii_lowercase() };
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
                let base = match &e.kind {
                    TraceKind::Segment { tls: true, .. } => b'L',
                    TraceKind::Segment { tls: false, .. } => b'S',
                    _ => b'D',
                };
                buf.push(tag(dir, base));
                self.points.put(buf, point);
                put_addr(buf, src);
                put_addr(buf, dst);
                self.payload(payload);
            }
            TraceKind::Dropped {
                point,
                src,
                dst,
                reason,
                payload,
            } => {
                buf.push(b'X');
                self.points.put(buf, point);
                put_addr(buf, src);
                put_addr(buf, dst);
                put_bytes(buf, reason.as_bytes());
                self.payload(payload);
            }
            TraceKind::Stanza {
                party,
                device,
                dir,
                element,
            } => {
                buf.push(tag(dir, b'Z'));
                put_bytes(buf, party.as_bytes());
                // Only a several-device party's streams carry a number.
                if let Some(d) = device {
                    buf.push(b'#');
                    buf.push(*d);
                }
                put_element(buf, element);
            }
            TraceKind::User { party, action: text }
            | TraceKind::Claim { party, claim: text }
            | TraceKind::Violation { party, what: text } => {
                buf.push(match &e.kind {
                    TraceKind::User { .. } => b'U',
                    TraceKind::Claim { .. } => b'C',
                    _ => b'V',
                });
                put_bytes(buf, party.as_bytes());
                put_bytes(buf, text.as_bytes());
            }
        }
        if self.staged && self.buf.len() >= STAGE_FLUSH {
            self.h.update(&self.buf);
            self.buf.clear();
        }
    }

    /// The payload reference of `p` (see [`Canon`]).
    fn payload(&mut self, p: &'a [u8]) {
        let p = match self.mask.as_mut() {
            Some(m) => m.apply(p),
            None => std::borrow::Cow::Borrowed(p),
        };
        // A datagram's hops share one buffer: the same address and length is the same bytes.
        let same = |r: &[u8]| (r.as_ptr(), r.len()) == (p.as_ptr(), p.len()) || *r == *p;
        if let Some(k) = self.recent.iter().position(|r| same(r)) {
            put_uleb(&mut self.buf, k as u64 + 1);
            return;
        }
        self.buf.push(0);
        put_uleb(&mut self.buf, p.len() as u64);
        if self.staged && p.len() >= DIRECT_PAYLOAD {
            // Most of a call's bytes: hashed from the trace rather than copied into the stage.
            self.h.update(&self.buf);
            self.buf.clear();
            self.h.update(&p);
        } else {
            self.buf.extend_from_slice(&p);
        }
        if self.recent.len() == RECENT_PAYLOADS {
            self.recent.pop_back();
        }
        self.recent.push_front(p);
    }

    /// The SHA-256 of everything encoded, lower-case hex.
    fn finish(mut self) -> String {
        self.h.update(&self.buf);
        hex(&self.h.finalize())
    }
}

/// Masks STUN transaction ids for the hash of a run whose implementation draws them unseeded: each id
/// becomes the order of its first appearance in the run, and the MESSAGE-INTEGRITY,
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT values (computed over the id) are zeroed, in STUN messages
/// on the wire and in those carried inside TURN (the DATA of Send/Data indications, ChannelData).
#[derive(Default)]
struct StunMask {
    ids: HashMap<[u8; 12], u32>,
}

impl StunMask {
    /// `payload` with its STUN messages masked, or unchanged (borrowed) when it holds none.
    fn apply<'a>(&mut self, payload: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        // RTP and DTLS (RFC 7983) are most of a call: never copied.
        if !matches!(payload.first(), Some(0..=3 | 0x40..=0x7F)) {
            return std::borrow::Cow::Borrowed(payload);
        }
        let mut out = payload.to_vec();
        if self.mask(&mut out) {
            std::borrow::Cow::Owned(out)
        } else {
            std::borrow::Cow::Borrowed(payload)
        }
    }

    /// Masks in place; true when something was masked.
    fn mask(&mut self, b: &mut [u8]) -> bool {
        match b.first() {
            Some(0..=3) if b.len() >= 20 && b[4..8] == crate::stun::MAGIC_COOKIE.to_be_bytes() => {
                let n = self.ids.len() as u32;
                let id: [u8; 12] = b[8..20].try_into().expect("12 bytes");
                let ord = *self.ids.entry(id).or_insert(n);
                b[8..20].fill(0);
                b[8..12].copy_from_slice(&ord.to_be_bytes());
                let mut at = 20;
                while at + 4 <= b.len() {
                    let typ = u16::from_be_bytes([b[at], b[at + 1]]);
                    let len = u16::from_be_bytes([b[at + 2], b[at + 3]]) as usize;
                    let (start, end) = (at + 4, (at + 4 + len).min(b.len()));
                    match typ {
                        attr_type::MESSAGE_INTEGRITY | attr_type::MESSAGE_INTEGRITY_SHA256 | attr_type::FINGERPRINT => {
                            b[start..end].fill(0)
                        }
                        attr_type::DATA => {
                            self.mask(&mut b[start..end]);
                        }
                        _ => {}
                    }
                    at = start + len.div_ceil(4) * 4;
                }
                true
            }
            Some(0x40..=0x7F) if b.len() > 4 => self.mask(&mut b[4..]),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::BuilderExt;

    #[test]
    fn a_recycled_buffer_comes_back_empty_with_its_room_on_the_same_thread_only() {
        let mut t = Trace::with_spare_buffer();
        for i in 0..100 {
            t.push(
                SimTime::from_millis(i),
                TraceKind::User {
                    party: "caller".into(),
                    action: "call".into(),
                },
            );
        }
        let room = t.events.capacity();
        t.recycle();
        let again = Trace::with_spare_buffer();
        assert!(again.events.is_empty());
        assert_eq!(again.events.capacity(), room);
        assert!(!again.mask_stun_transaction_ids);
        // Taken: the next trace on this thread starts without it, and other threads never see it.
        assert_eq!(Trace::with_spare_buffer().events.capacity(), 0);
        again.recycle();
        std::thread::spawn(|| assert_eq!(Trace::with_spare_buffer().events.capacity(), 0))
            .join()
            .unwrap();
    }

    #[test]
    fn jsonl_has_one_parseable_object_per_event_with_its_kind() {
        let mut t = Trace::default();
        let a: SocketAddr = "10.0.1.2:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.10:3478".parse().unwrap();
        t.push(
            SimTime::from_millis(1),
            TraceKind::Datagram {
                point: "caller".into(),
                dir: Dir::Tx,
                src: a,
                dst: b,
                payload: Bytes::from_static(&[0, 1, 0xab]),
            },
        );
        t.push(
            SimTime::from_millis(2),
            TraceKind::Dropped {
                point: "caller/nat".into(),
                src: b,
                dst: a,
                reason: "filtered".into(),
                payload: Bytes::new(),
            },
        );
        t.push(
            SimTime::from_millis(3),
            TraceKind::Claim {
                party: "callee".into(),
                claim: "call-state ringing".into(),
            },
        );
        let mut out = Vec::new();
        t.write_jsonl(&mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["kind"], "dgram");
        assert_eq!(lines[0]["dir"], "tx");
        assert_eq!(lines[0]["payload"], "0001ab");
        assert_eq!(lines[0]["time_us"], 1000);
        assert_eq!(lines[1]["reason"], "filtered");
        assert_eq!(lines[2]["claim"], "call-state ringing");
        assert_eq!(lines[2]["index"], 2);
    }

    #[test]
    fn every_jsonl_line_has_its_keys_sorted_as_a_json_object_of_sorted_keys_would() {
        let a: SocketAddr = "10.0.1.2:5000".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:3478".parse().unwrap();
        let kinds = vec![
            TraceKind::Datagram {
                point: "caller".into(),
                dir: Dir::Rx,
                src: a,
                dst: b,
                payload: Bytes::from_static(&[0xde, 0xad]),
            },
            TraceKind::Segment {
                point: "caller/nat".into(),
                dir: Dir::Tx,
                tls: true,
                src: b,
                dst: a,
                payload: Bytes::from_static(b"x"),
            },
            TraceKind::Segment {
                point: "turn".into(),
                dir: Dir::Rx,
                tls: false,
                src: a,
                dst: b,
                payload: Bytes::new(),
            },
            TraceKind::Dropped {
                point: "callee/nat".into(),
                src: a,
                dst: b,
                reason: "filtered \"quoted\"".into(),
                payload: Bytes::from_static(&[1]),
            },
            TraceKind::Stanza {
                party: "callee".into(),
                device: Some(2),
                dir: Dir::Rx,
                element: crate::xml::el("message", "jabber:client").a("to", "a&b").build().into(),
            },
            TraceKind::Stanza {
                party: "caller".into(),
                device: None,
                dir: Dir::Tx,
                element: Element::builder("iq", "jabber:client").build().into(),
            },
            TraceKind::User {
                party: "caller".into(),
                action: "call".into(),
            },
            TraceKind::Claim {
                party: "callee".into(),
                claim: "ice-state connected".into(),
            },
            TraceKind::Violation {
                party: "caller".into(),
                what: "line\nbreak".into(),
            },
        ];
        let mut t = Trace::default();
        for (i, k) in kinds.into_iter().enumerate() {
            t.push(SimTime::from_millis(i as u64), k);
        }
        let mut out = Vec::new();
        t.write_jsonl(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 9);
        let kinds: Vec<String> = lines
            .iter()
            .map(|l| {
                // A serde_json map sorts its keys: re-serialising the parsed line gives the same bytes
                // only if the line's keys were already in that order and written the same way.
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(&serde_json::to_string(&v).unwrap(), l);
                v["kind"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "dgram",
                "tls",
                "tcp",
                "drop",
                "stanza",
                "stanza",
                "user",
                "claim",
                "violation"
            ]
        );
        assert!(lines[0].contains(r#""dst":"[2001:db8::1]:3478""#), "{}", lines[0]);
        assert!(lines[0].contains(r#""payload":"dead""#), "{}", lines[0]);
        assert!(lines[4].contains(r#""device":2"#) && lines[5].contains(r#""device":null"#));
        assert!(lines[4].contains("a&amp;b"), "{}", lines[4]);
    }

    fn sample(stanza: Element, port: u16, payload: &'static [u8]) -> Trace {
        let mut t = Trace::default();
        t.push(
            SimTime::from_millis(1),
            TraceKind::Datagram {
                point: "caller".into(),
                dir: Dir::Tx,
                src: SocketAddr::from(([10, 0, 1, 2], port)),
                dst: "192.0.2.10:3478".parse().unwrap(),
                payload: Bytes::from_static(payload),
            },
        );
        t.push(
            SimTime::from_millis(2),
            TraceKind::Stanza {
                party: "caller".into(),
                device: None,
                dir: Dir::Tx,
                element: stanza.into(),
            },
        );
        t
    }

    /// The canonical bytes of `t`, all of them, unstaged.
    fn canonical_bytes(t: &Trace) -> Vec<u8> {
        let mut c = Canon::new(false, t.mask_stun_transaction_ids);
        for e in &t.events {
            c.record(e);
        }
        c.buf
    }

    #[test]
    fn hash_is_the_digest_of_the_records_one_after_another_whatever_the_staging() {
        // Payloads on both sides of the in-place threshold and a total past the flush size, and a
        // stanza whose children change namespace (put from the parent's, the known list, or none
        // of those).
        let mut t = Trace::default();
        for (i, len) in [0usize, 10, DIRECT_PAYLOAD - 1, DIRECT_PAYLOAD, 5000, 9000, 3]
            .into_iter()
            .enumerate()
        {
            let payload: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
            t.push(
                SimTime::from_millis(i as u64),
                TraceKind::Datagram {
                    point: "caller".into(),
                    dir: Dir::Rx,
                    src: "10.0.1.2:5000".parse().unwrap(),
                    dst: "192.0.2.10:3478".parse().unwrap(),
                    payload: Bytes::from(payload),
                },
            );
        }
        let stanza = Element::builder("iq", crate::xml::ns::CLIENT)
            .append(
                Element::builder("jingle", crate::xml::ns::JINGLE)
                    .append(
                        Element::builder("x", "urn:example:unlisted")
                            .append(Element::builder("y", "urn:example:unlisted").build())
                            .build(),
                    )
                    .append(Element::builder("reason", crate::xml::ns::JINGLE).build())
                    .build(),
            )
            .build();
        t.push(
            SimTime::from_millis(9),
            TraceKind::Stanza {
                party: "callee".into(),
                device: None,
                dir: Dir::Rx,
                element: stanza.into(),
            },
        );
        let whole = canonical_bytes(&t);
        assert!(whole.len() > STAGE_FLUSH);
        assert_eq!(t.hash(), hex(&Sha256::digest(&whole)));
        // The stanza's record is the walk that asks every element for its namespace.
        fn walk(buf: &mut Vec<u8>, el: &Element, parent_ns: &str) {
            buf.push(b'<');
            put_bytes(buf, el.name().as_bytes());
            if el.ns() == parent_ns {
                buf.push(b'=');
            } else {
                buf.push(b'@');
                put_bytes(buf, el.ns().as_bytes());
            }
            assert_eq!(el.attrs().len(), 0, "the sample has no attributes");
            buf.push(0);
            for c in el.children() {
                walk(buf, c, &el.ns());
            }
            buf.push(b'>');
        }
        let TraceKind::Stanza { element, .. } = &t.events[7].kind else {
            unreachable!()
        };
        let (mut ours, mut reference) = (Vec::new(), Vec::new());
        put_element(&mut ours, element);
        walk(&mut reference, element, "");
        assert_eq!(ours, reference);
        assert_eq!(
            &whole[whole.len() - ours.len()..],
            &ours[..],
            "the stanza is the record's end"
        );
    }

    #[test]
    fn a_payload_seen_lately_is_written_as_a_reference_and_only_when_its_bytes_are_equal() {
        let dgram = |point: &str, payload: &'static [u8]| TraceKind::Datagram {
            point: point.into(),
            dir: Dir::Tx,
            src: "10.0.1.2:5000".parse().unwrap(),
            dst: "192.0.2.10:3478".parse().unwrap(),
            payload: Bytes::from_static(payload),
        };
        let trace = |payloads: &[&'static [u8]]| {
            let mut t = Trace::default();
            for (i, p) in payloads.iter().enumerate() {
                t.push(
                    SimTime::from_millis(i as u64),
                    dgram(if i % 2 == 0 { "caller" } else { "caller/nat" }, p),
                );
            }
            t
        };
        let [a, b, c, d, e]: [&[u8]; 5] = [b"aaaa", b"bbbb", b"cccc", b"dddd", b"eeee"];
        // A record with a new payload: time delta, tag, point reference, two addresses, 0, length, bytes.
        let first = canonical_bytes(&trace(&[a]));
        assert_eq!(first.len(), 1 + 1 + 8 + 7 + 7 + 1 + 1 + 4);
        // The same payload again, 1 ms later at the next point (a two-byte time difference): a
        // one-byte reference instead of 6 bytes.
        let again = canonical_bytes(&trace(&[a, a]));
        assert_eq!(again.len() - first.len(), 2 + 1 + 12 + 7 + 7 + 1);
        assert_eq!(*again.last().unwrap(), 1);
        // Four distinct payloads later it is written out again.
        assert_eq!(*canonical_bytes(&trace(&[a, b, c, d, a])).last().unwrap(), 4);
        assert_eq!(&canonical_bytes(&trace(&[a, b, c, d, e, a]))[..], {
            let mut t = canonical_bytes(&trace(&[a, b, c, d, e]));
            // +1000 µs zigzagged, `D`, the second name, 10.0.1.2:5000, 192.0.2.10:3478, new, 4 bytes.
            t.extend_from_slice(&[
                208, 15, b'D', 2, 4, 10, 0, 1, 2, 19, 136, 4, 192, 0, 2, 10, 13, 150, 0, 4,
            ]);
            t.extend_from_slice(a);
            t
        });
        // Same length, other bytes: not a reference; every field still reaches the hash.
        assert_ne!(trace(&[a, a]).hash(), trace(&[a, b]).hash());
        assert_ne!(trace(&[a, b, a]).hash(), trace(&[a, b, b]).hash());
    }

    #[test]
    fn hash_changes_with_every_field_it_covers_and_only_then() {
        let iq = |id: &str, text: &str| {
            Element::builder("iq", "jabber:client")
                .attr(minidom::rxml::NcName::try_from("id").unwrap(), id)
                .append(Element::builder("body", "jabber:client").append(text).build())
                .build()
        };
        let base = sample(iq("a", "x"), 5000, b"\x00\x01");
        assert_eq!(base.hash(), sample(iq("a", "x"), 5000, b"\x00\x01").hash());
        assert_eq!(base.hash().len(), 64);
        for (what, other) in [
            ("port", sample(iq("a", "x"), 5001, b"\x00\x01")),
            ("payload", sample(iq("a", "x"), 5000, b"\x00\x02")),
            ("attribute", sample(iq("b", "x"), 5000, b"\x00\x01")),
            ("text", sample(iq("a", "y"), 5000, b"\x00\x01")),
        ] {
            assert_ne!(base.hash(), other.hash(), "{what} is not covered");
        }
        // Length prefixes keep field boundaries: moving a byte between fields changes the hash.
        let moved = sample(iq("a", "x"), 5000, b"\x00");
        assert_ne!(base.hash(), moved.hash());
        // The index and the time too, though a pushed event's index is its position and times
        // rarely go back (a drop on a downlink is recorded at its later time).
        let mut renumbered = sample(iq("a", "x"), 5000, b"\x00\x01");
        renumbered.events[1].index = 7;
        let mut earlier = sample(iq("a", "x"), 5000, b"\x00\x01");
        earlier.events[1].time = SimTime::from_millis(0);
        let mut later = sample(iq("a", "x"), 5000, b"\x00\x01");
        later.events[1].time = SimTime::from_millis(3);
        let hashes = [&base, &renumbered, &earlier, &later].map(|t| t.hash());
        for i in 0..hashes.len() {
            assert!(!hashes[..i].contains(&hashes[i]), "{i}: {hashes:?}");
        }
        // An index written out is not read as a time: `#` is the zigzag LEB128 of a step of -18 µs,
        // so an index written before the time would let these two traces encode alike.
        let user = |index: usize, time_us: u64, party: &str, action: &str| Trace {
            events: vec![TraceEvent {
                index,
                time: SimTime::from_micros(time_us),
                kind: TraceKind::User {
                    party: party.into(),
                    action: action.into(),
                },
            }],
            mask_stun_transaction_ids: false,
        };
        let a = user(0x550B_0000_0000_0000, 0, "p", "\x01q");
        let b = user(0, u64::MAX - 17, "\0\0\0\0\0\0\0U\x01p\x02", "q");
        assert_ne!(canonical_bytes(&a), canonical_bytes(&b));
        assert_ne!(a.hash(), b.hash());
        let text = Trace::canonical_line(&base.events[1]);
        assert!(text.contains("<body>x</body>") || text.contains("x</body>"), "{text}");
    }
}
