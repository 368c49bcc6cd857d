//! Reading a capture: pcap or pcapng (gzip-compressed or not) into the UDP datagrams and the
//! STUN-framed TCP messages it holds, with their interface, time and frame number.
//!
//! Link layers: Ethernet (with VLAN tags), Linux cooked SLL and SLL2, raw IP (LINKTYPE_RAW,
//! LINKTYPE_IPV4/IPV6), BSD loopback (NULL, LOOP). IPv4 and IPv6. IP fragments are counted and
//! skipped (STUN and RTP datagrams are never fragmented in practice). TCP streams are reassembled
//! in sequence order per direction and cut into STUN messages (RFC 8489 §6.2.2), TURN ChannelData
//! (RFC 8656 §12.5, padded to 4 bytes over TCP) or RFC 4571 length-prefixed frames (ICE-TCP,
//! RFC 6544 §3); a stream that carries anything else (TLS, XMPP) is counted and left alone.
//!
//! The blocks and packets are read with `pcap-file`, the layers with `etherparse`. The exported-PDU
//! stanzas this project's own captures carry ([`super::write_pcapng`]) are read back as
//! [`CapturedStanza`]s.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::Block;

/// The transport a message came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One UDP datagram.
    Udp,
    /// One message cut from a reassembled TCP stream.
    Tcp,
}

/// A datagram or a TCP message of a capture.
#[derive(Clone, Debug)]
pub struct Packet {
    /// The frame it came in (for TCP, the frame that completed it): 1-based, as Wireshark numbers
    /// frames.
    pub frame: usize,
    /// Time since the Unix epoch, ns (as the capture stamped it).
    pub time_ns: u64,
    /// The capture interface (pcapng interface id; 0 for pcap).
    pub interface: usize,
    /// UDP or TCP.
    pub transport: Transport,
    /// Source address.
    pub src: SocketAddr,
    /// Destination address.
    pub dst: SocketAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// UDP payload, or the TCP message (without an RFC 4571 length prefix).
    pub payload: Vec<u8>,
}

/// An XMPP stanza carried in the capture as an exported PDU (this project's captures write each one
/// with a comment naming the stream: `#12 callee stream, client to server`).
#[derive(Clone, Debug)]
pub struct CapturedStanza {
    /// Frame number, 1-based.
    pub frame: usize,
    /// Time since the Unix epoch, ns.
    pub time_ns: u64,
    /// The stream, as the comment names it (`caller`, `callee/device2`), when it does.
    pub stream: Option<String>,
    /// `true` when the client sent it (comment `client to server`).
    pub from_client: bool,
    /// The stanza's text.
    pub xml: String,
}

/// One capture interface.
#[derive(Clone, Debug, Default)]
pub struct Interface {
    /// Its name (pcapng `if_name`), if the file gives one.
    pub name: Option<String>,
    /// LINKTYPE_ value.
    pub linktype: u32,
    /// Timestamp unit, ns per tick (pcapng `if_tsresol`; 1000 by default).
    ts_unit: TsUnit,
}

#[derive(Clone, Copy, Debug)]
enum TsUnit {
    /// 10^-n s.
    Decimal(u8),
    /// 2^-n s.
    Binary(u8),
}

impl Default for TsUnit {
    fn default() -> Self {
        TsUnit::Decimal(6)
    }
}

impl TsUnit {
    /// `ticks` (as pcap-file hands them back: raw counter value in a `Duration`'s nanoseconds) in ns.
    fn to_ns(self, ticks: u128) -> u64 {
        let ns = match self {
            TsUnit::Decimal(n) if n <= 9 => ticks * 10u128.pow(9 - u32::from(n)),
            TsUnit::Decimal(n) => ticks / 10u128.pow(u32::from(n.min(38)) - 9),
            TsUnit::Binary(n) => (ticks * 1_000_000_000) >> n.min(127),
        };
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// What a capture held that is not judged, and why (for the "nothing found" message).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Frames whose link layer is not one of those read.
    pub link_layer: usize,
    /// Frames without IPv4 or IPv6, or whose headers do not parse.
    pub not_ip: usize,
    /// IP fragments.
    pub fragments: usize,
    /// IP packets that are neither UDP nor TCP.
    pub other_transport: usize,
    /// TCP streams that carry neither STUN framing nor RFC 4571 frames (TLS, XMPP, …).
    pub opaque_streams: usize,
    /// Frames this project's own captures mark as the network's drops (comment `DROPPED at`).
    pub drop_records: usize,
}

/// A capture, read.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// `pcap` or `pcapng`.
    pub format: &'static str,
    /// Its interfaces, in the order the file describes them.
    pub interfaces: Vec<Interface>,
    /// Datagrams and TCP messages, in file order.
    pub packets: Vec<Packet>,
    /// Exported-PDU stanzas, in file order.
    pub stanzas: Vec<CapturedStanza>,
    /// Frames (packet blocks) read.
    pub frames: usize,
    /// What was not read, by reason.
    pub skipped: Skipped,
    /// Why reading stopped early (a truncated or damaged file), with the frames read until then.
    pub truncated: Option<String>,
}

/// A capture that cannot be read at all.
#[derive(Debug)]
pub enum ReadError {
    /// The file cannot be opened or read.
    Io(std::io::Error),
    /// The file is not a pcap or pcapng capture (its first bytes, in hex).
    NotACapture(String),
    /// The file starts like a capture but its header is damaged.
    BadHeader(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotACapture(magic) => write!(
                f,
                "not a pcap or pcapng capture (it starts with {magic}; pcap starts with a1b2c3d4 or a1b23c4d, \
                 pcapng with 0a0d0d0a)"
            ),
            ReadError::BadHeader(e) => write!(f, "the capture's header is damaged: {e}"),
        }
    }
}

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// LINKTYPE_WIRESHARK_UPPER_PDU.
const UPPER_PDU: u32 = 252;

/// Reads the capture in `bytes` (pcap, pcapng, either gzip-compressed).
///
/// Errors: [`ReadError::NotACapture`] for anything else, [`ReadError::BadHeader`] when the first
/// header does not parse. A file damaged or cut short after its header is read up to the damage
/// ([`Capture::truncated`] says where). Never panics on any input.
pub fn read(bytes: &[u8]) -> Result<Capture, ReadError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        let mut gz = flate2::read::GzDecoder::new(bytes);
        let cut = gz.read_to_end(&mut out).err();
        let mut c = read_plain(&out)?;
        if let (Some(e), None) = (cut, &c.truncated) {
            c.truncated = Some(format!("the gzip stream ends early ({e})"));
        }
        return Ok(c);
    }
    read_plain(bytes)
}

fn read_plain(bytes: &[u8]) -> Result<Capture, ReadError> {
    let magic: [u8; 4] = match bytes.get(..4) {
        Some(m) => m.try_into().expect("four bytes"),
        None => return Err(ReadError::NotACapture(hex(bytes))),
    };
    // pcap-file's parsers are not ours: a panic in one on a damaged file is a damaged file, not a
    // crash of the judge.
    let parsed = std::panic::catch_unwind(|| {
        if magic == PCAPNG_MAGIC {
            read_pcapng(bytes)
        } else if PCAP_MAGICS.contains(&magic) {
            read_pcap(bytes)
        } else {
            Err(ReadError::NotACapture(hex(&bytes[..bytes.len().min(8)])))
        }
    });
    parsed.unwrap_or_else(|_| Err(ReadError::BadHeader("the capture reader gave up on it".into())))
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "nothing (the file is empty)".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_pcap(bytes: &[u8]) -> Result<Capture, ReadError> {
    let mut r = pcap_file::pcap::PcapReader::new(bytes).map_err(|e| ReadError::BadHeader(e.to_string()))?;
    let linktype = u32::from(r.header().datalink);
    let mut c = Capture {
        format: "pcap",
        interfaces: vec![Interface {
            name: None,
            linktype,
            ts_unit: TsUnit::Decimal(9),
        }],
        ..Capture::default()
    };
    let mut tcp = Streams::default();
    while let Some(p) = r.next_packet() {
        match p {
            Ok(p) => {
                c.frames += 1;
                let time_ns = u64::try_from(p.timestamp.as_nanos()).unwrap_or(u64::MAX);
                let frame = c.frames;
                c.frame(&mut tcp, frame, 0, time_ns, linktype, &p.data);
            }
            Err(e) => {
                c.truncated = Some(format!("after frame {}: {e}", c.frames));
                break;
            }
        }
    }
    c.skipped.opaque_streams = tcp.opaque;
    Ok(c)
}

fn read_pcapng(bytes: &[u8]) -> Result<Capture, ReadError> {
    let mut r = pcap_file::pcapng::PcapNgReader::new(bytes).map_err(|e| ReadError::BadHeader(e.to_string()))?;
    let mut c = Capture {
        format: "pcapng",
        ..Capture::default()
    };
    let mut tcp = Streams::default();
    // Interface ids restart with every section header; `base` is where this section's begin.
    let mut base = 0;
    let mut sections = 0;
    while let Some(b) = r.next_block() {
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                c.truncated = Some(format!("after frame {}: {e}", c.frames));
                break;
            }
        };
        match b {
            Block::SectionHeader(_) => {
                sections += 1;
                if sections > 1 {
                    base = c.interfaces.len();
                }
            }
            Block::InterfaceDescription(idb) => {
                let mut i = Interface {
                    linktype: u32::from(idb.linktype),
                    ..Interface::default()
                };
                for o in &idb.options {
                    match o {
                        InterfaceDescriptionOption::IfName(n) => i.name = Some(n.to_string()),
                        InterfaceDescriptionOption::IfTsResol(r) => {
                            i.ts_unit = if r & 0x80 == 0 {
                                TsUnit::Decimal(*r)
                            } else {
                                TsUnit::Binary(r & 0x7F)
                            }
                        }
                        _ => {}
                    }
                }
                c.interfaces.push(i);
            }
            Block::EnhancedPacket(epb) => {
                c.frames += 1;
                let frame = c.frames;
                let id = base + epb.interface_id as usize;
                let Some(iface) = c.interfaces.get(id).cloned() else {
                    c.skipped.link_layer += 1;
                    continue;
                };
                let time_ns = iface.ts_unit.to_ns(epb.timestamp.as_nanos());
                // This project's captures record the network's drops where they happened, marked
                // in a comment: not traffic that interface carried.
                if epb
                    .options
                    .iter()
                    .any(|o| matches!(o, EnhancedPacketOption::Comment(t) if t.contains(" DROPPED at ")))
                {
                    c.skipped.drop_records += 1;
                    continue;
                }
                if iface.linktype == UPPER_PDU {
                    let comment = epb.options.iter().find_map(|o| match o {
                        EnhancedPacketOption::Comment(t) if t.contains(" stream, ") => Some(t.to_string()),
                        _ => None,
                    });
                    match exported_stanza(&epb.data, comment.as_deref()) {
                        Some((stream, from_client, xml)) => c.stanzas.push(CapturedStanza {
                            frame,
                            time_ns,
                            stream,
                            from_client,
                            xml,
                        }),
                        None => c.skipped.link_layer += 1,
                    }
                    continue;
                }
                c.frame(&mut tcp, frame, id, time_ns, iface.linktype, &epb.data);
            }
            Block::SimplePacket(spb) => {
                // A simple packet block belongs to the section's first interface and has no time.
                c.frames += 1;
                let frame = c.frames;
                let Some(iface) = c.interfaces.get(base).cloned() else {
                    c.skipped.link_layer += 1;
                    continue;
                };
                c.frame(&mut tcp, frame, base, 0, iface.linktype, &spb.data);
            }
            Block::Packet(pb) => {
                c.frames += 1;
                let frame = c.frames;
                let id = base + pb.interface_id as usize;
                let Some(iface) = c.interfaces.get(id).cloned() else {
                    c.skipped.link_layer += 1;
                    continue;
                };
                let time_ns = iface.ts_unit.to_ns(u128::from(pb.timestamp));
                c.frame(&mut tcp, frame, id, time_ns, iface.linktype, &pb.data);
            }
            _ => {}
        }
    }
    c.skipped.opaque_streams = tcp.opaque;
    Ok(c)
}

/// An exported PDU handed to the `xml` dissector: (stream, sent by the client, text).
fn exported_stanza(data: &[u8], comment: Option<&str>) -> Option<(Option<String>, bool, String)> {
    // Tags: type (u16), length (u16), value padded to 4; tag 0 ends them.
    let mut at = 0;
    let mut dissector = None;
    loop {
        let tag = u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?);
        let len = usize::from(u16::from_be_bytes(data.get(at + 2..at + 4)?.try_into().ok()?));
        at += 4;
        if tag == 0 {
            break;
        }
        let value = data.get(at..at + len)?;
        if tag == 12 {
            dissector = Some(String::from_utf8_lossy(value).trim_end_matches('\0').to_string());
        }
        at += len.div_ceil(4) * 4;
    }
    if dissector.as_deref() != Some("xml") {
        return None;
    }
    let xml = String::from_utf8(data.get(at..)?.to_vec()).ok()?;
    // `#12 callee/device2 stream, client to server`
    let (stream, from_client) = match comment {
        Some(c) => {
            let head = c.split(" stream, ").next().unwrap_or("");
            let stream = head.split_whitespace().last().map(str::to_string);
            (stream, c.ends_with("client to server"))
        }
        None => (None, false),
    };
    Some((stream, from_client, xml))
}

/// TCP streams being reassembled, by (interface, source, destination).
#[derive(Default)]
struct Streams {
    open: rustc_hash::FxHashMap<(usize, SocketAddr, SocketAddr), Stream>,
    opaque: usize,
}

#[derive(Default)]
struct Stream {
    next_seq: Option<u32>,
    buf: Vec<u8>,
    /// It carries something other than STUN framing: nothing more is read from it.
    opaque: bool,
}

/// How a TCP stream frames its messages.
enum Framed {
    /// A whole message of `len` bytes at the front, starting `skip` bytes in (an RFC 4571 prefix).
    Message { skip: usize, len: usize },
    /// Not enough bytes yet.
    Partial,
    /// Not STUN framing.
    Other,
}

fn framing(b: &[u8]) -> Framed {
    let stun_at = |at: usize| -> Option<usize> {
        let h = b.get(at..at + 20)?;
        (h[0] & 0xC0 == 0 && h[4..8] == [0x21, 0x12, 0xA4, 0x42])
            .then(|| 20 + usize::from(u16::from_be_bytes([h[2], h[3]])))
    };
    if b.len() < 4 {
        return Framed::Partial;
    }
    if (0x40..=0x4F).contains(&b[0]) {
        let len = 4 + usize::from(u16::from_be_bytes([b[2], b[3]])).div_ceil(4) * 4;
        return Framed::Message { skip: 0, len };
    }
    if let Some(len) = stun_at(0) {
        return Framed::Message { skip: 0, len };
    }
    if b.len() < 22 {
        // Too short to tell a STUN header from an RFC 4571 prefix followed by one.
        return if b[0] & 0xC0 == 0 {
            Framed::Partial
        } else {
            Framed::Other
        };
    }
    let prefixed = usize::from(u16::from_be_bytes([b[0], b[1]]));
    if stun_at(2).is_some() || (prefixed > 0 && matches!(b[2], 128..=191) && b[0] == 0) {
        return Framed::Message { skip: 2, len: prefixed };
    }
    Framed::Other
}

impl Capture {
    /// Reads one frame's layers and records what it carries.
    fn frame(&mut self, tcp: &mut Streams, frame: usize, interface: usize, time_ns: u64, linktype: u32, data: &[u8]) {
        let sliced = match linktype {
            1 => SlicedPacket::from_ethernet(data).ok(),
            113 => SlicedPacket::from_linux_sll(data).ok(),
            276 => data.get(20..).and_then(|rest| {
                SlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([data[0], data[1]])), rest).ok()
            }),
            101 | 228 | 229 | 12 | 14 => SlicedPacket::from_ip(data).ok(),
            0 | 108 => data.get(4..).and_then(|rest| SlicedPacket::from_ip(rest).ok()),
            _ => {
                self.skipped.link_layer += 1;
                return;
            }
        };
        let Some(p) = sliced else {
            self.skipped.not_ip += 1;
            return;
        };
        let (ip_src, ip_dst, ttl, fragmented): (IpAddr, IpAddr, u8, bool) = match &p.net {
            Some(NetSlice::Ipv4(v4)) => {
                let h = v4.header();
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    h.ttl(),
                    v4.is_payload_fragmented(),
                )
            }
            Some(NetSlice::Ipv6(v6)) => {
                let h = v6.header();
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    h.hop_limit(),
                    v6.is_payload_fragmented(),
                )
            }
            _ => {
                self.skipped.not_ip += 1;
                return;
            }
        };
        if fragmented {
            self.skipped.fragments += 1;
            return;
        }
        let mut push = |transport, src, dst, payload: &[u8]| {
            self.packets.push(Packet {
                frame,
                time_ns,
                interface,
                transport,
                src,
                dst,
                ttl,
                payload: payload.to_vec(),
            })
        };
        match &p.transport {
            Some(TransportSlice::Udp(u)) => {
                let src = SocketAddr::new(ip_src, u.source_port());
                let dst = SocketAddr::new(ip_dst, u.destination_port());
                push(Transport::Udp, src, dst, u.payload());
            }
            Some(TransportSlice::Tcp(t)) => {
                let src = SocketAddr::new(ip_src, t.source_port());
                let dst = SocketAddr::new(ip_dst, t.destination_port());
                let key = (interface, src, dst);
                if t.syn() || t.rst() {
                    tcp.open.remove(&key);
                    if t.syn() {
                        let s = tcp.open.entry(key).or_default();
                        s.next_seq = Some(t.sequence_number().wrapping_add(1));
                    }
                    return;
                }
                let data = t.payload();
                if data.is_empty() {
                    return;
                }
                let s = tcp.open.entry(key).or_default();
                if s.opaque {
                    return;
                }
                let seq = t.sequence_number();
                let next = *s.next_seq.get_or_insert(seq);
                let ahead = seq.wrapping_sub(next) as i32;
                let fresh = if ahead > 0 {
                    // Bytes the capture missed: what was buffered cannot be completed.
                    s.buf.clear();
                    data
                } else {
                    // A retransmission repeats bytes already read.
                    data.get(ahead.unsigned_abs() as usize..).unwrap_or(&[])
                };
                s.next_seq = Some(seq.wrapping_add(data.len() as u32));
                s.buf.extend_from_slice(fresh);
                loop {
                    match framing(&s.buf) {
                        Framed::Message { skip, len } if s.buf.len() >= skip + len => {
                            let msg: Vec<u8> = s.buf.drain(..skip + len).skip(skip).collect();
                            push(Transport::Tcp, src, dst, &msg);
                        }
                        Framed::Message { .. } | Framed::Partial => break,
                        Framed::Other => {
                            s.opaque = true;
                            s.buf = Vec::new();
                            tcp.opaque += 1;
                            break;
                        }
                    }
                }
            }
            _ => self.skipped.other_transport += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_capture_names_its_first_bytes() {
        let e = read(b"hello world").unwrap_err();
        assert!(e.to_string().contains("68656c6c6f20776f"), "{e}");
        assert!(read(b"").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn ticks_become_nanoseconds() {
        assert_eq!(TsUnit::Decimal(6).to_ns(1_500_000), 1_500_000_000);
        assert_eq!(TsUnit::Decimal(9).to_ns(7), 7);
        assert_eq!(TsUnit::Binary(10).to_ns(1024), 1_000_000_000);
    }

    #[test]
    fn tcp_framing_cuts_stun_channel_data_and_rfc4571() {
        let mut stun = vec![0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42];
        stun.extend_from_slice(&[7; 12]);
        assert!(matches!(framing(&stun), Framed::Message { skip: 0, len: 20 }));
        let mut prefixed = vec![0, 20];
        prefixed.extend_from_slice(&stun);
        assert!(matches!(framing(&prefixed), Framed::Message { skip: 2, len: 20 }));
        assert!(matches!(
            framing(&[0x40, 0, 0, 5, 1, 2, 3, 4, 5]),
            Framed::Message { skip: 0, len: 12 }
        ));
        assert!(matches!(
            framing(&[0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Framed::Other
        ));
    }
}
