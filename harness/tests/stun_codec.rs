//! The STUN codec against the RFC 5769 vectors and the project's own ICE vectors (harness/tests/vectors/stun/README.md), plus round-trip and
//! malformed-input properties. Vectors are copied from the project's shared spec folder.

use std::net::SocketAddr;

use harness::stun::{attr_type, long_term_key, method, Attribute, Class, Message, MessageBuilder};
use proptest::prelude::*;

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/stun/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let hex = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

const SHORT_TERM: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
const TID: [u8; 12] = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

#[test]
fn rfc5769_2_1_sample_request() {
    let b = vector("rfc5769-2.1-sample-request");
    let m = Message::decode(&b).unwrap();
    assert_eq!(
        (m.method, m.class, m.transaction_id),
        (method::BINDING, Class::Request, TID)
    );
    assert_eq!(
        m.get(attr_type::SOFTWARE).unwrap().unwrap(),
        Attribute::Software("STUN test client".into())
    );
    assert_eq!(
        m.get(attr_type::PRIORITY).unwrap().unwrap(),
        Attribute::Priority(0x6e0001ff)
    );
    assert_eq!(
        m.get(attr_type::ICE_CONTROLLED).unwrap().unwrap(),
        Attribute::IceControlled(0x932ff9b151263b36)
    );
    assert_eq!(
        m.get(attr_type::USERNAME).unwrap().unwrap(),
        Attribute::Username("evtj:h6vY".into())
    );
    // The USERNAME padding is 0x20 and must be kept: MESSAGE-INTEGRITY covers it.
    assert_eq!(m.raw(attr_type::USERNAME).unwrap().padding, [0x20, 0x20, 0x20]);
    assert!(m.verify_integrity(SHORT_TERM));
    assert!(!m.verify_integrity(b"wrong"));
    assert_eq!(m.verify_fingerprint(), Some(true));
    assert_eq!(
        m.get(attr_type::FINGERPRINT).unwrap().unwrap(),
        Attribute::Fingerprint(0xe57a3bcf)
    );
}

#[test]
fn rfc5769_2_2_sample_ipv4_response() {
    let m = Message::decode(&vector("rfc5769-2.2-sample-ipv4-response")).unwrap();
    assert_eq!(m.class, Class::Success);
    let want: SocketAddr = "192.0.2.1:32853".parse().unwrap();
    assert_eq!(
        m.get(attr_type::XOR_MAPPED_ADDRESS).unwrap().unwrap(),
        Attribute::XorMappedAddress(want)
    );
    assert_eq!(
        m.raw(attr_type::XOR_MAPPED_ADDRESS).unwrap().value,
        vec![0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]
    );
    assert!(m.verify_integrity(SHORT_TERM));
    assert_eq!(m.verify_fingerprint(), Some(true));
}

#[test]
fn rfc5769_2_3_sample_ipv6_response() {
    let m = Message::decode(&vector("rfc5769-2.3-sample-ipv6-response")).unwrap();
    let want: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap();
    assert_eq!(
        m.get(attr_type::XOR_MAPPED_ADDRESS).unwrap().unwrap(),
        Attribute::XorMappedAddress(want)
    );
    assert!(m.verify_integrity(SHORT_TERM));
    assert_eq!(m.verify_fingerprint(), Some(true));
}

#[test]
fn rfc5769_2_4_sample_request_long_term() {
    let m = Message::decode(&vector("rfc5769-2.4-sample-request-long-term-auth")).unwrap();
    let user = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    assert_eq!(
        m.get(attr_type::USERNAME).unwrap().unwrap(),
        Attribute::Username(user.into())
    );
    assert_eq!(
        m.get(attr_type::NONCE).unwrap().unwrap(),
        Attribute::Nonce("f//499k954d6OL34oL9FSTvy64sA".into())
    );
    assert_eq!(
        m.get(attr_type::REALM).unwrap().unwrap(),
        Attribute::Realm("example.org".into())
    );
    let key = long_term_key(user, "example.org", "TheMatrIX");
    assert_eq!(
        key.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "e8ca7ad59d5eb0518e312911d2dab2a9"
    );
    assert!(m.verify_integrity(&key));
    assert_eq!(m.verify_fingerprint(), None);
}

#[test]
fn ice_checks_use_candidate_nomination_and_487() {
    let key = b"YH75Fviy6338Vbrhrlp8YhXy";
    let uc = Message::decode(&vector("ice-check-use-candidate")).unwrap();
    assert!(uc.has(attr_type::USE_CANDIDATE));
    assert_eq!(
        uc.get(attr_type::PRIORITY).unwrap().unwrap(),
        Attribute::Priority(1862270975)
    );
    assert_eq!(
        uc.get(attr_type::ICE_CONTROLLING).unwrap().unwrap(),
        Attribute::IceControlling(1)
    );
    assert!(uc.verify_integrity(key));
    assert_eq!(uc.verify_fingerprint(), Some(true));

    let nom = Message::decode(&vector("ice-check-nomination-0xc001")).unwrap();
    assert!(!nom.has(attr_type::USE_CANDIDATE));
    assert_eq!(
        nom.get(attr_type::NOMINATION_LEGACY).unwrap().unwrap(),
        Attribute::NominationLegacy(2)
    );
    // 0xC001 is comprehension-optional: no 420 for an agent that does not know it.
    assert!(nom.unknown_comprehension_required().is_empty());
    assert!(nom.verify_integrity(key));

    let rc = Message::decode(&vector("487-role-conflict-response")).unwrap();
    assert_eq!(rc.class, Class::Error);
    match rc.get(attr_type::ERROR_CODE).unwrap().unwrap() {
        Attribute::ErrorCode(e) => assert_eq!((e.code, e.reason.as_str()), (487, "Role Conflict")),
        other => panic!("{other:?}"),
    }
    assert!(rc.verify_integrity(key));
}

#[test]
fn built_messages_verify_and_unknown_attributes_survive() {
    let b = MessageBuilder::new(method::BINDING, Class::Request, [3; 12])
        .attr(&Attribute::Username("a:b".into()))
        .raw_attr(0x7F01, &[1, 2, 3])
        .raw_attr(0xC0FF, &[9])
        .build(Some(b"pw"), true);
    let m = Message::decode(&b).unwrap();
    assert!(m.verify_integrity(b"pw"));
    assert_eq!(m.verify_fingerprint(), Some(true));
    assert_eq!(m.unknown_comprehension_required(), vec![0x7F01]);
    assert_eq!(m.raw(0xC0FF).unwrap().value, vec![9]);
    assert_eq!(m.as_bytes(), &b[..]);
}

fn any_attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        any::<([u8; 4], u16)>().prop_map(|(ip, p)| Attribute::XorMappedAddress(SocketAddr::from((ip, p)))),
        any::<([u8; 16], u16)>().prop_map(|(ip, p)| Attribute::XorPeerAddress(SocketAddr::from((ip, p)))),
        "[a-zA-Z0-9+/:]{0,40}".prop_map(Attribute::Username),
        any::<u32>().prop_map(Attribute::Priority),
        Just(Attribute::UseCandidate),
        any::<u64>().prop_map(Attribute::IceControlling),
        any::<u64>().prop_map(Attribute::IceControlled),
        any::<u32>().prop_map(Attribute::NominationLegacy),
        any::<u32>().prop_map(Attribute::NominationRenomination2),
        any::<u32>().prop_map(Attribute::Lifetime),
        (0xC100u16..0xFFFF, proptest::collection::vec(any::<u8>(), 0..13))
            .prop_map(|(typ, value)| Attribute::Unknown { typ, value }),
    ]
}

proptest! {
    #[test]
    fn roundtrip(attrs in proptest::collection::vec(any_attribute(), 0..8), tid in any::<[u8; 12]>(), key in proptest::option::of("[a-z]{1,16}")) {
        let mut b = MessageBuilder::new(method::BINDING, Class::Request, tid);
        for a in &attrs {
            b = b.attr(a);
        }
        let bytes = b.build(key.as_deref().map(str::as_bytes), true);
        let m = Message::decode(&bytes).unwrap();
        let decoded: Vec<Attribute> = m.decoded().into_iter().map(|r| r.unwrap()).collect();
        let n = attrs.len();
        prop_assert_eq!(&decoded[..n], &attrs[..]);
        if let Some(k) = key {
            prop_assert!(m.verify_integrity(k.as_bytes()));
        }
        prop_assert_eq!(m.verify_fingerprint(), Some(true));
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(m) = Message::decode(&bytes) {
            let _ = m.decoded();
            let _ = m.verify_integrity(b"k");
            let _ = m.verify_fingerprint();
        }
    }

    #[test]
    fn truncating_a_valid_message_is_an_error(cut in 1usize..40) {
        let b = MessageBuilder::new(method::BINDING, Class::Request, [1; 12]).attr(&Attribute::Username("abcd:efgh".into())).build(Some(b"k"), true);
        let cut = cut.min(b.len());
        prop_assert!(Message::decode(&b[..b.len() - cut]).is_err());
    }
}
