//! Differential test of the STUN codec against an independent, maintained crate (stun-rs): what we
//! write it parses and validates (MESSAGE-INTEGRITY with short- and long-term keys, FINGERPRINT),
//! and what it writes we parse and validate. Two codecs agreeing on the wire bytes is evidence
//! neither invented the format.

use std::net::SocketAddr;

use harness::stun::{attr_type, long_term_key, method, Attribute, Class, Message, MessageBuilder};
use stun_rs::attributes::ice::{IceControlling, Priority, UseCandidate};
use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity, Nonce, Realm, UserName, XorMappedAddress};
use stun_rs::attributes::turn::{LifeTime, XorRelayedAddress};
use stun_rs::methods::{ALLOCATE, BINDING};
use stun_rs::{
    Algorithm, AlgorithmId, DecoderContextBuilder, HMACKey, MessageClass, MessageDecoderBuilder, MessageEncoderBuilder,
    StunMessageBuilder, TransactionId,
};

const TID: [u8; 12] = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

fn theirs_decode(bytes: &[u8], key: HMACKey) -> stun_rs::StunMessage {
    let ctx = DecoderContextBuilder::default().with_key(key).with_validation().build();
    let (msg, size) = MessageDecoderBuilder::default()
        .with_context(ctx)
        .build()
        .decode(bytes)
        .expect("stun-rs accepts and validates our message");
    assert_eq!(size, bytes.len());
    msg
}

#[test]
fn stun_rs_parses_and_validates_our_ice_check() {
    let bytes = MessageBuilder::new(method::BINDING, Class::Request, TID)
        .attr(&Attribute::Username("rfrag:lfrag".into()))
        .attr(&Attribute::Priority(0x6e00_1eff))
        .attr(&Attribute::IceControlling(0x0102_0304_0506_0708))
        .attr(&Attribute::UseCandidate)
        .build(Some(b"remote-password-22chars"), true);
    let key = HMACKey::new_short_term("remote-password-22chars").unwrap();
    let m = theirs_decode(&bytes, key);
    assert_eq!(m.method(), BINDING);
    assert_eq!(m.class(), MessageClass::Request);
    assert_eq!(m.transaction_id().as_bytes(), &TID);
    let user = m.get::<UserName>().unwrap().as_user_name().unwrap();
    assert_eq!(user.as_str(), "rfrag:lfrag");
    assert_eq!(*m.get::<Priority>().unwrap().as_priority().unwrap(), 0x6e00_1eff);
    assert_eq!(
        *m.get::<IceControlling>().unwrap().as_ice_controlling().unwrap(),
        0x0102_0304_0506_0708
    );
    assert!(m.get::<UseCandidate>().is_some());
}

#[test]
fn stun_rs_parses_and_validates_our_long_term_turn_response() {
    let relayed: SocketAddr = "192.0.2.20:49152".parse().unwrap();
    let mapped: SocketAddr = "203.0.113.1:40000".parse().unwrap();
    let key = long_term_key("1735689600:alice", "example.org", "HbvWA6hGDtdv3wflBolXLhvzs0w=");
    let bytes = MessageBuilder::new(method::ALLOCATE, Class::Success, TID)
        .attr(&Attribute::XorRelayedAddress(relayed))
        .attr(&Attribute::Lifetime(600))
        .attr(&Attribute::XorMappedAddress(mapped))
        .build(Some(&key), true);
    let their_key = HMACKey::new_long_term(
        "1735689600:alice",
        "example.org",
        "HbvWA6hGDtdv3wflBolXLhvzs0w=",
        Algorithm::from(AlgorithmId::MD5),
    )
    .unwrap();
    assert_eq!(their_key.as_bytes(), &key[..], "both derive the same long-term key");
    let m = theirs_decode(&bytes, their_key);
    assert_eq!(m.method(), ALLOCATE);
    assert_eq!(m.class(), MessageClass::SuccessResponse);
    let r = m.get::<XorRelayedAddress>().unwrap().as_xor_relayed_address().unwrap();
    assert_eq!(r.socket_address(), &relayed);
    assert_eq!(*m.get::<LifeTime>().unwrap().as_life_time().unwrap(), 600);
    let x = m.get::<XorMappedAddress>().unwrap().as_xor_mapped_address().unwrap();
    assert_eq!(x.socket_address(), &mapped);
}

#[test]
fn we_parse_and_validate_what_stun_rs_writes() {
    let key = HMACKey::new_short_term("remote-password-22chars").unwrap();
    let msg = StunMessageBuilder::new(BINDING, MessageClass::Request)
        .with_transaction_id(TransactionId::from(TID))
        .with_attribute(UserName::new("rfrag:lfrag").unwrap())
        .with_attribute(Priority::from(0x6e00_1eff))
        .with_attribute(IceControlling::from(42))
        .with_attribute(UseCandidate::default())
        .with_attribute(MessageIntegrity::new(key))
        .with_attribute(Fingerprint::default())
        .build();
    let mut buf = [0u8; 256];
    let n = MessageEncoderBuilder::default().build().encode(&mut buf, &msg).unwrap();
    let ours = Message::decode(&buf[..n]).expect("we accept stun-rs's message");
    assert_eq!(
        (ours.method, ours.class, ours.transaction_id),
        (method::BINDING, Class::Request, TID)
    );
    assert!(ours.verify_integrity(b"remote-password-22chars"));
    assert!(!ours.verify_integrity(b"another-password"));
    assert_eq!(ours.verify_fingerprint(), Some(true));
    assert_eq!(
        ours.get(attr_type::USERNAME).unwrap().unwrap(),
        Attribute::Username("rfrag:lfrag".into())
    );
    assert_eq!(
        ours.get(attr_type::PRIORITY).unwrap().unwrap(),
        Attribute::Priority(0x6e00_1eff)
    );
    assert_eq!(
        ours.get(attr_type::ICE_CONTROLLING).unwrap().unwrap(),
        Attribute::IceControlling(42)
    );
    assert!(ours.has(attr_type::USE_CANDIDATE));

    // Long-term credentials, as a TURN client would send them.
    let key = HMACKey::new_long_term(
        "1735689600:alice",
        "example.org",
        "secret",
        Algorithm::from(AlgorithmId::MD5),
    )
    .unwrap();
    let msg = StunMessageBuilder::new(ALLOCATE, MessageClass::Request)
        .with_transaction_id(TransactionId::from(TID))
        .with_attribute(UserName::new("1735689600:alice").unwrap())
        .with_attribute(Realm::new("example.org").unwrap())
        .with_attribute(Nonce::new("abcdefgh").unwrap())
        .with_attribute(MessageIntegrity::new(key))
        .with_attribute(Fingerprint::default())
        .build();
    let n = MessageEncoderBuilder::default().build().encode(&mut buf, &msg).unwrap();
    let ours = Message::decode(&buf[..n]).unwrap();
    assert!(ours.verify_integrity(&long_term_key("1735689600:alice", "example.org", "secret")));
    assert_eq!(ours.verify_fingerprint(), Some(true));
}
