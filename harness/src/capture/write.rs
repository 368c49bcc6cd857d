//! pcapng captures of a run: one interface per observation point, datagrams as IPv4/UDP packets, stanzas
//! as exported XML PDUs on the same timeline, packet comments naming the trace event and scenario step.
//!
//! Opens in Wireshark and tshark with STUN decoded (UDP port 3478 by default; the ICE checks on other
//! ports are found by the STUN heuristic: `tshark -o stun.heuristic:TRUE` is not needed for
//! `stun.att.type` filters because Wireshark tries STUN on any UDP payload with the magic cookie).
//! Note for readers: Wireshark names attribute 0xC001 "ENF-FLOW-DESCRIPTION" (its IANA registration);
//! in these captures it is the renomination NOMINATION attribute.

use std::borrow::Cow;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use crate::trace::{Dir, Trace, TraceKind};

/// LINKTYPE_WIRESHARK_UPPER_PDU: a PDU handed to a named dissector.
const UPPER_PDU: u32 = 252;
/// Exported-PDU tag: name of the dissector to hand the payload to.
const TAG_DISSECTOR_NAME: u16 = 12;
/// The interface that carries stanzas.
const XMPP_IF: &str = "xmpp-streams";

/// An IPv4 header for `l4_len` bytes of protocol `proto` (17 UDP, 6 TCP), checksum filled in.
fn ipv4_header(proto: u8, src: SocketAddr, dst: SocketAddr, ident: u16, l4_len: usize) -> Option<Vec<u8>> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        return None;
    };
    let total = 20 + l4_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    let mut sum: u32 = p.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    Some(p)
}

fn ipv4_udp(src: SocketAddr, dst: SocketAddr, ident: u16, payload: &[u8]) -> Option<Vec<u8>> {
    let mut p = ipv4_header(17, src, dst, ident, 8 + payload.len())?;
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    // A zero UDP checksum means "not computed", allowed over IPv4 (RFC 768).
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    Some(p)
}

/// One stream message as a TCP segment (PSH|ACK) with sequence number `seq`. The TCP checksum is
/// left zero: Wireshark does not validate it by default, and the stream model has no real segments.
fn ipv4_tcp(src: SocketAddr, dst: SocketAddr, ident: u16, seq: u32, payload: &[u8]) -> Option<Vec<u8>> {
    let mut p = ipv4_header(6, src, dst, ident, 20 + payload.len())?;
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    Some(p)
}

fn upper_pdu(dissector: &str, payload: &[u8]) -> Vec<u8> {
    let mut name = dissector.as_bytes().to_vec();
    name.push(0);
    while !name.len().is_multiple_of(4) {
        name.push(0);
    }
    let mut p = Vec::with_capacity(8 + name.len() + payload.len());
    p.extend_from_slice(&TAG_DISSECTOR_NAME.to_be_bytes());
    p.extend_from_slice(&(name.len() as u16).to_be_bytes());
    p.extend_from_slice(&name);
    p.extend_from_slice(&[0, 0, 0, 0]); // end of options
    p.extend_from_slice(payload);
    p
}

/// Writes `trace` as pcapng to `w`, time 0 stamped as the UNIX epoch: same run, same bytes.
///
/// Errors: I/O errors of `w`.
pub fn write_pcapng<W: Write>(trace: &Trace, run_id: &str, w: W) -> std::io::Result<()> {
    write_pcapng_at(trace, run_id, Duration::ZERO, w)
}

/// [`write_pcapng`] with the trace's time 0 stamped `start` after the UNIX epoch: a live run's
/// start ([`crate::run::LiveStats::started_unix_us`]), so its capture lines up with a tcpdump
/// taken during the run.
///
/// Errors: I/O errors of `w`.
pub fn write_pcapng_at<W: Write>(trace: &Trace, run_id: &str, start: Duration, w: W) -> std::io::Result<()> {
    let to_io = |e: pcap_file::PcapError| std::io::Error::other(e.to_string());
    let mut out = PcapNgWriter::new(w).map_err(to_io)?;
    let mut ifaces: Vec<String> = Vec::new();
    let mut step: Option<String> = None;
    // Next TCP sequence number per (point, src, dst); probed by key only.
    let mut seqs: rustc_hash::FxHashMap<(&str, SocketAddr, SocketAddr), u32> = Default::default();
    for e in &trace.events {
        let (point, data, link, comment) = match &e.kind {
            TraceKind::Datagram {
                point,
                dir,
                src,
                dst,
                payload,
            } => {
                let Some(pkt) = ipv4_udp(*src, *dst, e.index as u16, payload) else {
                    continue;
                };
                (
                    &**point,
                    pkt,
                    DataLink::RAW,
                    format!("#{} {point} {}", e.index, if *dir == Dir::Tx { "out" } else { "in" }),
                )
            }
            TraceKind::Dropped {
                point,
                src,
                dst,
                reason,
                payload,
            } => {
                let Some(pkt) = ipv4_udp(*src, *dst, e.index as u16, payload) else {
                    continue;
                };
                (
                    &**point,
                    pkt,
                    DataLink::RAW,
                    format!("#{} DROPPED at {point}: {reason}", e.index),
                )
            }
            TraceKind::Segment {
                point,
                dir,
                tls,
                src,
                dst,
                payload,
            } => {
                let seq = seqs.entry((&**point, *src, *dst)).or_insert(1);
                let Some(pkt) = ipv4_tcp(*src, *dst, e.index as u16, *seq, payload) else {
                    continue;
                };
                *seq = seq.wrapping_add(payload.len() as u32);
                let how = if *tls { "TLS (shown decrypted)" } else { "TCP" };
                (
                    &**point,
                    pkt,
                    DataLink::RAW,
                    format!(
                        "#{} {point} {} {how}",
                        e.index,
                        if *dir == Dir::Tx { "out" } else { "in" }
                    ),
                )
            }
            TraceKind::Stanza {
                party,
                device,
                dir,
                element,
            } => {
                let xml = crate::xml::to_string(element);
                let stream = crate::trace::stream_label(party, *device);
                let how = if *dir == Dir::Tx {
                    "client to server"
                } else {
                    "server to client"
                };
                (
                    XMPP_IF,
                    upper_pdu("xml", xml.as_bytes()),
                    DataLink::Unknown(UPPER_PDU),
                    format!("#{} {stream} stream, {how}", e.index),
                )
            }
            TraceKind::User { party, action } => {
                step = Some(format!("scenario step: {party} {action}"));
                continue;
            }
            _ => continue,
        };
        let id = match ifaces.iter().position(|i| i == point) {
            Some(i) => i,
            None => {
                let idb = InterfaceDescriptionBlock {
                    linktype: link,
                    snaplen: 0,
                    options: vec![
                        InterfaceDescriptionOption::IfName(Cow::Owned(point.to_string())),
                        InterfaceDescriptionOption::IfDescription(Cow::Owned(format!("{run_id}: {point}"))),
                        // pcap-file writes nanosecond timestamps; say so (the pcapng default is µs).
                        InterfaceDescriptionOption::IfTsResol(9),
                    ],
                };
                out.write_pcapng_block(idb).map_err(to_io)?;
                ifaces.push(point.to_string());
                ifaces.len() - 1
            }
        };
        let mut options = vec![EnhancedPacketOption::Comment(Cow::Owned(comment))];
        if let Some(s) = step.take() {
            options.push(EnhancedPacketOption::Comment(Cow::Owned(s)));
        }
        let epb = EnhancedPacketBlock {
            interface_id: id as u32,
            timestamp: start + Duration::from_micros(e.time.as_micros()),
            original_len: data.len() as u32,
            data: Cow::Owned(data),
            options,
        };
        out.write_pcapng_block(epb).map_err(to_io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_verifies() {
        let p = ipv4_udp("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap(), 7, b"hi").unwrap();
        let mut sum: u32 = p[..20].chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum();
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        assert_eq!(sum, 0xFFFF);
        assert_eq!(p.len(), 30);
        assert_eq!(&p[28..], b"hi");
    }
}
