use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::message::{DecodeError, MAGIC_COOKIE};

/// Attribute type codepoints (RFC 5389 §18.2, RFC 8489, RFC 8445 §16.1, RFC 8656 §18, libwebrtc).
pub mod attr_type {
    #![allow(missing_docs)]
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const CHANGE_REQUEST: u16 = 0x0003;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    pub const EVEN_PORT: u16 = 0x0018;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const DONT_FRAGMENT: u16 = 0x001A;
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    pub const PASSWORD_ALGORITHM: u16 = 0x001D;
    pub const USERHASH: u16 = 0x001E;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const RESERVATION_TOKEN: u16 = 0x0022;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const PADDING: u16 = 0x0026;
    pub const RESPONSE_PORT: u16 = 0x0027;
    /// renomination2 NOMINATION, comprehension-required (draft-thatcher-tsvwg-renomination-00).
    pub const NOMINATION_RENOMINATION2: u16 = 0x0030;
    pub const PASSWORD_ALGORITHMS: u16 = 0x8002;
    pub const ALTERNATE_DOMAIN: u16 = 0x8003;
    pub const SOFTWARE: u16 = 0x8022;
    pub const ALTERNATE_SERVER: u16 = 0x8023;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;
    pub const RESPONSE_ORIGIN: u16 = 0x802B;
    pub const OTHER_ADDRESS: u16 = 0x802C;
    /// libwebrtc's renomination NOMINATION (IANA: ENF-FLOW-DESCRIPTION), comprehension-optional.
    pub const NOMINATION_LEGACY: u16 = 0xC001;

    /// True for the types this codec understands; the rest of 0x0000–0x7FFF draws a 420.
    pub fn is_known(t: u16) -> bool {
        matches!(
            t,
            MAPPED_ADDRESS
                | CHANGE_REQUEST
                | USERNAME
                | MESSAGE_INTEGRITY
                | ERROR_CODE
                | UNKNOWN_ATTRIBUTES
                | CHANNEL_NUMBER
                | LIFETIME
                | XOR_PEER_ADDRESS
                | DATA
                | REALM
                | NONCE
                | XOR_RELAYED_ADDRESS
                | REQUESTED_ADDRESS_FAMILY
                | EVEN_PORT
                | REQUESTED_TRANSPORT
                | DONT_FRAGMENT
                | MESSAGE_INTEGRITY_SHA256
                | PASSWORD_ALGORITHM
                | USERHASH
                | XOR_MAPPED_ADDRESS
                | RESERVATION_TOKEN
                | PRIORITY
                | USE_CANDIDATE
                | PADDING
                | RESPONSE_PORT
                | NOMINATION_RENOMINATION2
                | PASSWORD_ALGORITHMS
                | ALTERNATE_DOMAIN
                | SOFTWARE
                | ALTERNATE_SERVER
                | FINGERPRINT
                | ICE_CONTROLLED
                | ICE_CONTROLLING
                | RESPONSE_ORIGIN
                | OTHER_ADDRESS
                | NOMINATION_LEGACY
        )
    }
}

/// An ERROR-CODE value, RFC 5389 §15.6: `code` is class × 100 + number (e.g. 487).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCode {
    /// 300–699.
    pub code: u16,
    /// UTF-8 reason phrase.
    pub reason: String,
}

/// A decoded attribute. Types the codec does not model are [`Attribute::Unknown`], value kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// MAPPED-ADDRESS (0x0001), plain address.
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS (0x0020).
    XorMappedAddress(SocketAddr),
    /// XOR-PEER-ADDRESS (0x0012), TURN.
    XorPeerAddress(SocketAddr),
    /// XOR-RELAYED-ADDRESS (0x0016), TURN.
    XorRelayedAddress(SocketAddr),
    /// USERNAME (0x0006): `remote-ufrag:local-ufrag` in ICE checks.
    Username(String),
    /// MESSAGE-INTEGRITY (0x0008): 20-byte HMAC-SHA1.
    MessageIntegrity([u8; 20]),
    /// FINGERPRINT (0x8028): CRC-32 XOR 0x5354554e.
    Fingerprint(u32),
    /// ERROR-CODE (0x0009).
    ErrorCode(ErrorCode),
    /// UNKNOWN-ATTRIBUTES (0x000A): the unknown comprehension-required types.
    UnknownAttributes(Vec<u16>),
    /// PRIORITY (0x0024), RFC 8445 §7.1.1.
    Priority(u32),
    /// USE-CANDIDATE (0x0025), empty, RFC 8445 §7.1.2.
    UseCandidate,
    /// ICE-CONTROLLING (0x802A): 64-bit tiebreaker.
    IceControlling(u64),
    /// ICE-CONTROLLED (0x8029): 64-bit tiebreaker.
    IceControlled(u64),
    /// NOMINATION as libwebrtc sends it (0xC001, uint32, 24-bit value in the low bytes).
    NominationLegacy(u32),
    /// NOMINATION of renomination2 (0x0030, uint32, comprehension-required).
    NominationRenomination2(u32),
    /// SOFTWARE (0x8022).
    Software(String),
    /// REALM (0x0014).
    Realm(String),
    /// NONCE (0x0015).
    Nonce(String),
    /// LIFETIME (0x000D), seconds.
    Lifetime(u32),
    /// REQUESTED-TRANSPORT (0x0019): IANA protocol number (17 = UDP) in the first byte.
    RequestedTransport(u8),
    /// CHANNEL-NUMBER (0x000C): 0x4000–0x4FFF (RFC 8656).
    ChannelNumber(u16),
    /// DATA (0x0013).
    Data(Vec<u8>),
    /// DONT-FRAGMENT (0x001A), empty.
    DontFragment,
    /// Any other type, value kept byte-exact.
    Unknown {
        /// The attribute type.
        typ: u16,
        /// Its value, without padding.
        value: Vec<u8>,
    },
}

fn need(typ: u16, v: &[u8], n: usize, why: &'static str) -> Result<(), DecodeError> {
    if v.len() == n {
        Ok(())
    } else {
        Err(DecodeError::BadAttribute { attr_type: typ, why })
    }
}

fn be32(v: &[u8]) -> u32 {
    u32::from_be_bytes([v[0], v[1], v[2], v[3]])
}

fn be64(v: &[u8]) -> u64 {
    u64::from_be_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]])
}

fn utf8(typ: u16, v: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(v.to_vec()).map_err(|_| DecodeError::BadAttribute {
        attr_type: typ,
        why: "not UTF-8",
    })
}

fn xor_mask(tid: &[u8; 12]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[4..].copy_from_slice(tid);
    m
}

fn decode_addr(typ: u16, v: &[u8], xor: Option<&[u8; 12]>) -> Result<SocketAddr, DecodeError> {
    let bad = |why| DecodeError::BadAttribute { attr_type: typ, why };
    if v.len() < 4 {
        return Err(bad("address shorter than 4 bytes"));
    }
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    let mask = xor.map(xor_mask);
    if mask.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match v[1] {
        0x01 => {
            need(typ, v, 8, "IPv4 address must be 8 bytes")?;
            let mut a = [v[4], v[5], v[6], v[7]];
            if let Some(m) = mask {
                for i in 0..4 {
                    a[i] ^= m[i];
                }
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        0x02 => {
            need(typ, v, 20, "IPv6 address must be 20 bytes")?;
            let mut a = [0u8; 16];
            a.copy_from_slice(&v[4..20]);
            if let Some(m) = mask {
                for i in 0..16 {
                    a[i] ^= m[i];
                }
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return Err(bad("unknown address family")),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Appends the address value (RFC 8489 §14.1–14.2): family, port and address, XOR-ed with the magic
/// cookie and `xor`'s transaction id when given.
fn encode_addr_into(a: &SocketAddr, xor: Option<&[u8; 12]>, out: &mut Vec<u8>) {
    let mask = xor.map(xor_mask);
    let mut port = a.port();
    if mask.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let (v4, v6);
    let (family, ip): (u8, &[u8]) = match a.ip() {
        IpAddr::V4(x) => {
            v4 = x.octets();
            (0x01, &v4)
        }
        IpAddr::V6(x) => {
            v6 = x.octets();
            (0x02, &v6)
        }
    };
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&port.to_be_bytes());
    for (i, b) in ip.iter().enumerate() {
        out.push(b ^ mask.map(|m| m[i]).unwrap_or(0));
    }
}

impl Attribute {
    /// Decodes the value of an attribute of type `typ` found in a message with transaction id `tid`.
    ///
    /// Errors: [`DecodeError::BadAttribute`] when the value has the wrong length or content.
    pub fn decode(typ: u16, v: &[u8], tid: &[u8; 12]) -> Result<Attribute, DecodeError> {
        use attr_type as t;
        Ok(match typ {
            t::MAPPED_ADDRESS => Attribute::MappedAddress(decode_addr(typ, v, None)?),
            t::XOR_MAPPED_ADDRESS => Attribute::XorMappedAddress(decode_addr(typ, v, Some(tid))?),
            t::XOR_PEER_ADDRESS => Attribute::XorPeerAddress(decode_addr(typ, v, Some(tid))?),
            t::XOR_RELAYED_ADDRESS => Attribute::XorRelayedAddress(decode_addr(typ, v, Some(tid))?),
            t::USERNAME => Attribute::Username(utf8(typ, v)?),
            t::MESSAGE_INTEGRITY => {
                need(typ, v, 20, "must be 20 bytes")?;
                let mut m = [0u8; 20];
                m.copy_from_slice(v);
                Attribute::MessageIntegrity(m)
            }
            t::FINGERPRINT => {
                need(typ, v, 4, "must be 4 bytes")?;
                Attribute::Fingerprint(be32(v))
            }
            t::ERROR_CODE => {
                if v.len() < 4 {
                    return Err(DecodeError::BadAttribute {
                        attr_type: typ,
                        why: "shorter than 4 bytes",
                    });
                }
                let class = (v[2] & 0x07) as u16;
                let number = v[3] as u16;
                if !(3..=6).contains(&class) || number > 99 {
                    return Err(DecodeError::BadAttribute {
                        attr_type: typ,
                        why: "code out of range",
                    });
                }
                Attribute::ErrorCode(ErrorCode {
                    code: class * 100 + number,
                    reason: utf8(typ, &v[4..])?,
                })
            }
            t::UNKNOWN_ATTRIBUTES => {
                if !v.len().is_multiple_of(2) {
                    return Err(DecodeError::BadAttribute {
                        attr_type: typ,
                        why: "odd length",
                    });
                }
                Attribute::UnknownAttributes(v.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
            }
            t::PRIORITY => {
                need(typ, v, 4, "must be 4 bytes")?;
                Attribute::Priority(be32(v))
            }
            t::USE_CANDIDATE => {
                need(typ, v, 0, "must be empty")?;
                Attribute::UseCandidate
            }
            t::ICE_CONTROLLING => {
                need(typ, v, 8, "must be 8 bytes")?;
                Attribute::IceControlling(be64(v))
            }
            t::ICE_CONTROLLED => {
                need(typ, v, 8, "must be 8 bytes")?;
                Attribute::IceControlled(be64(v))
            }
            t::NOMINATION_LEGACY => {
                need(typ, v, 4, "must be 4 bytes")?;
                Attribute::NominationLegacy(be32(v))
            }
            t::NOMINATION_RENOMINATION2 => {
                need(typ, v, 4, "must be 4 bytes")?;
                Attribute::NominationRenomination2(be32(v))
            }
            t::SOFTWARE => Attribute::Software(utf8(typ, v)?),
            t::REALM => Attribute::Realm(utf8(typ, v)?),
            t::NONCE => Attribute::Nonce(utf8(typ, v)?),
            t::LIFETIME => {
                need(typ, v, 4, "must be 4 bytes")?;
                Attribute::Lifetime(be32(v))
            }
            t::REQUESTED_TRANSPORT => {
                need(typ, v, 4, "must be 4 bytes")?;
                Attribute::RequestedTransport(v[0])
            }
            t::CHANNEL_NUMBER => {
                need(typ, v, 4, "must be 4 bytes")?;
                Attribute::ChannelNumber(u16::from_be_bytes([v[0], v[1]]))
            }
            t::DATA => Attribute::Data(v.to_vec()),
            t::DONT_FRAGMENT => {
                need(typ, v, 0, "must be empty")?;
                Attribute::DontFragment
            }
            _ => Attribute::Unknown { typ, value: v.to_vec() },
        })
    }

    /// Appends the value bytes (unpadded) for a message with transaction id `tid` to `out` and returns
    /// the attribute type; the caller frames it (type, length, padding: RFC 8489 §14).
    pub fn encode_into(&self, tid: &[u8; 12], out: &mut Vec<u8>) -> u16 {
        use attr_type as t;
        match self {
            Attribute::MappedAddress(a) => {
                encode_addr_into(a, None, out);
                t::MAPPED_ADDRESS
            }
            Attribute::XorMappedAddress(a) => {
                encode_addr_into(a, Some(tid), out);
                t::XOR_MAPPED_ADDRESS
            }
            Attribute::XorPeerAddress(a) => {
                encode_addr_into(a, Some(tid), out);
                t::XOR_PEER_ADDRESS
            }
            Attribute::XorRelayedAddress(a) => {
                encode_addr_into(a, Some(tid), out);
                t::XOR_RELAYED_ADDRESS
            }
            Attribute::Username(s) => put(out, t::USERNAME, s.as_bytes()),
            Attribute::MessageIntegrity(m) => put(out, t::MESSAGE_INTEGRITY, m),
            Attribute::Fingerprint(f) => put(out, t::FINGERPRINT, &f.to_be_bytes()),
            Attribute::ErrorCode(e) => {
                out.extend_from_slice(&[0, 0, (e.code / 100) as u8, (e.code % 100) as u8]);
                put(out, t::ERROR_CODE, e.reason.as_bytes())
            }
            Attribute::UnknownAttributes(ts) => {
                ts.iter().for_each(|x| out.extend_from_slice(&x.to_be_bytes()));
                t::UNKNOWN_ATTRIBUTES
            }
            Attribute::Priority(p) => put(out, t::PRIORITY, &p.to_be_bytes()),
            Attribute::UseCandidate => t::USE_CANDIDATE,
            Attribute::IceControlling(x) => put(out, t::ICE_CONTROLLING, &x.to_be_bytes()),
            Attribute::IceControlled(x) => put(out, t::ICE_CONTROLLED, &x.to_be_bytes()),
            Attribute::NominationLegacy(n) => put(out, t::NOMINATION_LEGACY, &n.to_be_bytes()),
            Attribute::NominationRenomination2(n) => put(out, t::NOMINATION_RENOMINATION2, &n.to_be_bytes()),
            Attribute::Software(s) => put(out, t::SOFTWARE, s.as_bytes()),
            Attribute::Realm(s) => put(out, t::REALM, s.as_bytes()),
            Attribute::Nonce(s) => put(out, t::NONCE, s.as_bytes()),
            Attribute::Lifetime(s) => put(out, t::LIFETIME, &s.to_be_bytes()),
            Attribute::RequestedTransport(p) => put(out, t::REQUESTED_TRANSPORT, &[*p, 0, 0, 0]),
            Attribute::ChannelNumber(c) => {
                out.extend_from_slice(&c.to_be_bytes());
                put(out, t::CHANNEL_NUMBER, &[0, 0])
            }
            Attribute::Data(d) => put(out, t::DATA, d),
            Attribute::DontFragment => t::DONT_FRAGMENT,
            Attribute::Unknown { typ, value } => put(out, *typ, value),
        }
    }
}

/// Appends `bytes` to `out` and returns `typ`: one arm of [`Attribute::encode_into`].
fn put(out: &mut Vec<u8>, typ: u16, bytes: &[u8]) -> u16 {
    out.extend_from_slice(bytes);
    typ
}
