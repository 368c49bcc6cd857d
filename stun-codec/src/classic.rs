//! Classic STUN (RFC 3489): the Binding request of a client that predates the magic cookie, and
//! the response a backwards-compatible server gives it (RFC 8489 §11.2). libnice, for one, still
//! discovers its server-reflexive address this way (agent/discovery.c, RFC 3489 compatibility).
//!
//! An RFC 3489 header is an RFC 8489 header whose bytes 4..8 are part of a 128-bit transaction
//! ID instead of the magic cookie (RFC 3489 §11.1).

use std::net::{IpAddr, SocketAddr};

use crate::message::MAGIC_COOKIE;

/// The 20-byte header.
const HEADER_LEN: usize = 20;
/// RFC 3489 §11.1: Binding Request and Binding Response message types.
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_RESPONSE: u16 = 0x0101;
/// RFC 3489 §11.2.1: MAPPED-ADDRESS.
const MAPPED_ADDRESS: u16 = 0x0001;

/// The 16-byte transaction ID of `b` when it is an RFC 3489 Binding request: message type 0x0001,
/// a length that matches the datagram and is a multiple of 4, and no magic cookie. `None` for
/// anything else, an RFC 8489 message included.
pub fn binding_request_id(b: &[u8]) -> Option<[u8; 16]> {
    if b.len() < HEADER_LEN {
        return None;
    }
    let typ = u16::from_be_bytes([b[0], b[1]]);
    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
    let cookie = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    if typ != BINDING_REQUEST || !len.is_multiple_of(4) || HEADER_LEN + len != b.len() || cookie == MAGIC_COOKIE {
        return None;
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&b[4..20]);
    Some(id)
}

/// True when `b` is an RFC 3489 Binding response (type 0x0101, length matching, no magic cookie).
pub fn is_binding_response(b: &[u8]) -> bool {
    b.len() >= HEADER_LEN
        && u16::from_be_bytes([b[0], b[1]]) == BINDING_RESPONSE
        && HEADER_LEN + u16::from_be_bytes([b[2], b[3]]) as usize == b.len()
        && u32::from_be_bytes([b[4], b[5], b[6], b[7]]) != MAGIC_COOKIE
}

/// The Binding response to the classic request `id`: the same 16 ID bytes (the "magic cookie"
/// field copied, RFC 8489 §11.2) and MAPPED-ADDRESS `mapped` (RFC 3489 §11.2.1). `None` for an
/// IPv6 address, which RFC 3489 cannot carry.
pub fn binding_response(id: [u8; 16], mapped: SocketAddr) -> Option<Vec<u8>> {
    let IpAddr::V4(ip) = mapped.ip() else { return None };
    let mut v = Vec::with_capacity(HEADER_LEN + 12);
    v.extend_from_slice(&BINDING_RESPONSE.to_be_bytes());
    v.extend_from_slice(&12u16.to_be_bytes());
    v.extend_from_slice(&id);
    v.extend_from_slice(&MAPPED_ADDRESS.to_be_bytes());
    v.extend_from_slice(&8u16.to_be_bytes());
    v.extend_from_slice(&[0, 1]);
    v.extend_from_slice(&mapped.port().to_be_bytes());
    v.extend_from_slice(&ip.octets());
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libnice 0.1.21's discovery request as captured in a live run: type 0x0001, length 0, a
    /// 16-byte ID.
    const LIBNICE: [u8; 20] = [
        0x00, 0x01, 0x00, 0x00, 0xd1, 0xe0, 0xad, 0xab, 0x2e, 0x08, 0x1b, 0xc4, 0x95, 0x2d, 0x2c, 0xaf, 0x26, 0xf4,
        0xd0, 0x16,
    ];

    #[test]
    fn a_classic_request_is_answered_with_its_id_and_mapped_address() {
        let id = binding_request_id(&LIBNICE).expect("classic Binding request");
        assert_eq!(&id[..], &LIBNICE[4..]);
        let r = binding_response(id, "203.0.113.1:52666".parse().unwrap()).unwrap();
        assert!(is_binding_response(&r));
        assert_eq!(&r[4..20], &LIBNICE[4..]);
        assert_eq!(&r[20..], &[0, 1, 0, 8, 0, 1, 0xcd, 0xba, 203, 0, 113, 1]);
    }

    #[test]
    fn modern_and_malformed_messages_are_not_classic() {
        let mut modern = LIBNICE;
        modern[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        assert_eq!(binding_request_id(&modern), None);
        assert_eq!(binding_request_id(&LIBNICE[..19]), None);
        let mut long = LIBNICE.to_vec();
        long.extend_from_slice(&[0; 4]);
        assert_eq!(binding_request_id(&long), None, "the length field says 0");
        assert!(!is_binding_response(&LIBNICE));
        assert_eq!(binding_response([0; 16], "[2001:db8::1]:1".parse().unwrap()), None);
    }
}
