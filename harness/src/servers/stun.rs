//! A STUN Binding server, RFC 8489 §6.3 (no authentication, as public STUN servers run).

use std::net::SocketAddr;

use crate::stun::{method, Attribute, Class, ErrorCode, Message, MessageBuilder};

/// Answers Binding requests with the source address it saw.
#[derive(Clone, Debug)]
pub struct StunServer {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
}

impl StunServer {
    /// Handles one datagram from `src`; returns the response to send back, if any.
    ///
    /// Binding request → success with XOR-MAPPED-ADDRESS; an RFC 3489 Binding request → response
    /// with MAPPED-ADDRESS (RFC 8489 §11.2); a request with an unknown
    /// comprehension-required attribute → 420 with UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1); anything
    /// that is not a STUN request is ignored.
    pub fn handle(&self, src: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
        // An RFC 3489 client (no magic cookie) gets MAPPED-ADDRESS, RFC 8489 §11.2.
        if let Some(id) = crate::stun::classic::binding_request_id(payload) {
            return crate::stun::classic::binding_response(id, src);
        }
        let msg = Message::decode(payload).ok()?;
        if msg.class != Class::Request {
            return None;
        }
        let unknown = msg.unknown_comprehension_required();
        if !unknown.is_empty() {
            return Some(
                MessageBuilder::new(msg.method, Class::Error, msg.transaction_id)
                    .attr(&Attribute::ErrorCode(ErrorCode {
                        code: 420,
                        reason: "Unknown Attribute".into(),
                    }))
                    .attr(&Attribute::UnknownAttributes(unknown))
                    .build(None, true),
            );
        }
        if msg.method != method::BINDING {
            return Some(
                MessageBuilder::new(msg.method, Class::Error, msg.transaction_id)
                    .attr(&Attribute::ErrorCode(ErrorCode {
                        code: 400,
                        reason: "Bad Request".into(),
                    }))
                    .build(None, true),
            );
        }
        Some(
            MessageBuilder::new(method::BINDING, Class::Success, msg.transaction_id)
                .attr(&Attribute::XorMappedAddress(src))
                .attr(&Attribute::Software("jingle-interop stun".into()))
                .build(None, true),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_reflects_source_and_unknown_required_attribute_draws_420() {
        let s = StunServer {
            addr: "192.0.2.10:3478".parse().unwrap(),
        };
        let src: SocketAddr = "203.0.113.1:40000".parse().unwrap();
        let req = MessageBuilder::new(method::BINDING, Class::Request, [7; 12]).build(None, true);
        let resp = Message::decode(&s.handle(src, &req).unwrap()).unwrap();
        assert_eq!(resp.class, Class::Success);
        assert_eq!(resp.transaction_id, [7; 12]);
        assert_eq!(
            resp.get(crate::stun::attr_type::XOR_MAPPED_ADDRESS).unwrap().unwrap(),
            Attribute::XorMappedAddress(src)
        );
        assert_eq!(resp.verify_fingerprint(), Some(true));

        let req = MessageBuilder::new(method::BINDING, Class::Request, [8; 12])
            .raw_attr(0x7777, &[1, 2])
            .build(None, false);
        let resp = Message::decode(&s.handle(src, &req).unwrap()).unwrap();
        assert_eq!(resp.class, Class::Error);
        assert_eq!(
            resp.get(crate::stun::attr_type::UNKNOWN_ATTRIBUTES).unwrap().unwrap(),
            Attribute::UnknownAttributes(vec![0x7777])
        );
    }

    #[test]
    fn an_rfc_3489_client_gets_mapped_address_under_its_own_id() {
        let s = StunServer {
            addr: "192.0.2.10:3478".parse().unwrap(),
        };
        let src: SocketAddr = "203.0.113.1:40000".parse().unwrap();
        let mut req = vec![0x00, 0x01, 0x00, 0x00];
        req.extend_from_slice(&[9; 16]);
        let resp = s.handle(src, &req).expect("answered");
        assert!(crate::stun::classic::is_binding_response(&resp));
        assert_eq!(&resp[4..20], &[9; 16]);
        assert_eq!(&resp[24..], &[0, 1, 0x9c, 0x40, 203, 0, 113, 1]);
    }
}
