use std::fmt;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::Digest;

use super::attr::{attr_type, Attribute};

/// The fixed magic cookie, RFC 5389 §6.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// The class bits of a message type, RFC 5389 §6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// 0b00
    Request,
    /// 0b01
    Indication,
    /// 0b10
    Success,
    /// 0b11
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0,
            Class::Indication => 1,
            Class::Success => 2,
            Class::Error => 3,
        }
    }
}

/// Why bytes are not a STUN message. Never a panic: malformed input from an implementation is evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than 20 bytes, or fewer than the header's length field says.
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The two top bits are not zero.
    NotStun,
    /// The magic cookie is not 0x2112A442.
    BadCookie(u32),
    /// The length field is not a multiple of 4.
    BadLength(u16),
    /// An attribute runs past the end of the message.
    AttributeOverrun {
        /// Offset of the attribute header.
        offset: usize,
        /// Its type.
        attr_type: u16,
    },
    /// Bytes follow the length the header declares.
    TrailingBytes(usize),
    /// An attribute's value has the wrong shape for its type.
    BadAttribute {
        /// The attribute type.
        attr_type: u16,
        /// What is wrong.
        why: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { have, need } => write!(f, "truncated: {have} bytes, need {need}"),
            DecodeError::NotStun => write!(f, "first two bits are not 00"),
            DecodeError::BadCookie(c) => write!(f, "magic cookie {c:#010x} is not 0x2112a442"),
            DecodeError::BadLength(l) => write!(f, "length {l} is not a multiple of 4"),
            DecodeError::AttributeOverrun { offset, attr_type } => {
                write!(f, "attribute {attr_type:#06x} at offset {offset} runs past the end")
            }
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the declared length"),
            DecodeError::BadAttribute { attr_type, why } => write!(f, "attribute {attr_type:#06x}: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One attribute exactly as on the wire: type, value, and the padding bytes that followed it.
///
/// Value and padding borrow the message's bytes. A message keeps no heap list of its attributes:
/// decoding validates the walk once and notes where the first few start in a fixed array, and they
/// are read from the bytes when asked for ([`Message::raw`], [`Message::attributes`]). The judge, the
/// servers and the endpoints decode every STUN message of a run, most of them to read one or two
/// attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// Attribute type (0x0000–0x7FFF comprehension-required).
    pub typ: u16,
    /// Value bytes, without padding.
    pub value: &'a [u8],
    /// Padding bytes as received (0–3 bytes; may be non-zero, RFC 5389 §15).
    pub padding: &'a [u8],
    /// Offset of the attribute header within the message bytes.
    pub offset: usize,
}

/// The attributes of a [`Message`] in wire order, walked from its bytes; see [`Message::attributes`].
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    bytes: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        let b = self.bytes;
        let off = self.off;
        // The walk was validated by `Message::decode_with`: every header and padded value is whole.
        if off + 4 > b.len() {
            return None;
        }
        let typ = u16::from_be_bytes([b[off], b[off + 1]]);
        let vlen = u16::from_be_bytes([b[off + 2], b[off + 3]]) as usize;
        let padded = (vlen + 3) & !3;
        self.off = off + 4 + padded;
        Some(RawAttribute {
            typ,
            value: &b[off + 4..off + 4 + vlen],
            padding: &b[off + 4 + vlen..off + 4 + padded],
            offset: off,
        })
    }
}

/// A decoded STUN message; see the module docs for what "lossless" means here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Method (12 bits), e.g. [`super::method::BINDING`].
    pub method: u16,
    /// Class.
    pub class: Class,
    /// 96-bit transaction id.
    pub transaction_id: [u8; 12],
    /// The whole message as received; its attributes are read from here.
    bytes: Bytes,
    /// Type and offset (from the end of the header) of the first [`INDEXED`] attributes, found by
    /// the validating walk: a lookup scans these instead of walking the bytes again.
    index: [(u16, u16); INDEXED],
    /// How many entries of `index` hold an attribute.
    indexed: u8,
    /// More attributes follow the indexed ones (a lookup walks on past them).
    overflow: bool,
}

/// Attributes a [`Message`] indexes when decoded (an ICE check has about six, a TURN request ten).
const INDEXED: usize = 12;

/// True when `b` looks like a STUN message (RFC 5389 §6: top bits 00, magic cookie); cheap, for demux.
pub fn is_stun(b: &[u8]) -> bool {
    b.len() >= HEADER_LEN && b[0] & 0xC0 == 0 && u32::from_be_bytes([b[4], b[5], b[6], b[7]]) == MAGIC_COOKIE
}

/// The long-term credential key, MD5(username ":" realm ":" password), RFC 5389 §15.4.
///
/// The password is used as given: SASLprep / OpaqueString is the identity for the ASCII passwords the
/// simulator hands out.
pub fn long_term_key(username: &str, realm: &str, password: &str) -> Vec<u8> {
    let mut h = Md5::new();
    for part in [username, ":", realm, ":", password] {
        h.update(part.as_bytes());
    }
    h.finalize().to_vec()
}

fn msg_type(method: u16, class: Class) -> u16 {
    let m = method & 0x0FFF;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2);
    let class = match ((t >> 4) & 1) | ((t >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

/// HMAC-SHA1 of `parts` one after another under `key` (RFC 2104).
///
/// Keying costs two SHA-1 blocks (the padded key XOR ipad and XOR opad) of the five an ICE check
/// takes, and a run uses a handful of keys (each agent's two ICE passwords, a TURN client's
/// long-term key) thousands of times: each thread keeps the keyed state of up to
/// [`HMAC_KEYS_KEPT`] keys (the one added first goes first) and clones it. The MAC depends only on
/// the key and the data.
fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    type Keyed = Vec<(Box<[u8]>, Hmac<Sha1>)>;
    thread_local! {
        /// Keys with their keyed state, most recently added last; the oldest goes first.
        static KEYED: std::cell::RefCell<Keyed> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut mac = KEYED.with(|k| {
        let mut k = k.borrow_mut();
        if let Some((_, m)) = k.iter().find(|(kk, _)| **kk == *key) {
            return m.clone();
        }
        let m = <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        if k.len() >= HMAC_KEYS_KEPT {
            k.remove(0);
        }
        k.push((key.into(), m.clone()));
        m
    });
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// How many keys [`hmac_sha1`] keeps keyed per thread.
const HMAC_KEYS_KEPT: usize = 8;

impl Message {
    /// Decodes one message. Checks structure only; integrity is checked by [`Message::verify_integrity`].
    ///
    /// Errors: see [`DecodeError`]. Never panics on any input.
    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        Self::decode_with(b, || Bytes::copy_from_slice(b))
    }

    /// [`Message::decode`] of bytes already held in a [`Bytes`] (a trace payload): the message and
    /// its attributes share them instead of copying.
    ///
    /// Errors: see [`DecodeError`]. Never panics on any input.
    pub fn decode_shared(b: &Bytes) -> Result<Message, DecodeError> {
        Self::decode_with(b, || b.clone())
    }

    /// Checks the structure of `b` and decodes it; `shared` gives `b` as [`Bytes`], asked for only
    /// once `b` proved to be a whole message, so malformed input costs no copy.
    fn decode_with(b: &[u8], shared: impl FnOnce() -> Bytes) -> Result<Message, DecodeError> {
        if b.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                have: b.len(),
                need: HEADER_LEN,
            });
        }
        if b[0] & 0xC0 != 0 {
            return Err(DecodeError::NotStun);
        }
        let cookie = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(DecodeError::BadCookie(cookie));
        }
        let len = u16::from_be_bytes([b[2], b[3]]);
        if !len.is_multiple_of(4) {
            return Err(DecodeError::BadLength(len));
        }
        let end = HEADER_LEN + len as usize;
        if b.len() < end {
            return Err(DecodeError::Truncated {
                have: b.len(),
                need: end,
            });
        }
        if b.len() > end {
            return Err(DecodeError::TrailingBytes(b.len() - end));
        }
        let (method, class) = split_type(u16::from_be_bytes([b[0], b[1]]));
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&b[8..20]);
        // The attribute walk is validated here once, indexing the first attributes; `attributes`
        // repeats it without the checks.
        let mut index = [(0u16, 0u16); INDEXED];
        let mut indexed = 0;
        let mut overflow = false;
        let mut off = HEADER_LEN;
        while off < end {
            if off + 4 > end {
                return Err(DecodeError::AttributeOverrun {
                    offset: off,
                    attr_type: 0,
                });
            }
            let typ = u16::from_be_bytes([b[off], b[off + 1]]);
            let vlen = u16::from_be_bytes([b[off + 2], b[off + 3]]) as usize;
            let padded = (vlen + 3) & !3;
            if off + 4 + padded > end {
                return Err(DecodeError::AttributeOverrun {
                    offset: off,
                    attr_type: typ,
                });
            }
            if indexed < INDEXED {
                // `end` is at most 20 + 65535, so an offset past the header fits 16 bits.
                index[indexed] = (typ, (off - HEADER_LEN) as u16);
                indexed += 1;
            } else {
                overflow = true;
            }
            off += 4 + padded;
        }
        Ok(Message {
            method,
            class,
            transaction_id,
            bytes: shared(),
            index,
            indexed: indexed as u8,
            overflow,
        })
    }

    /// The message's bytes as received (or as built).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The attributes in wire order.
    pub fn attributes(&self) -> Attributes<'_> {
        self.walk_from(HEADER_LEN)
    }

    /// The attributes from the one whose header starts at `off`, an offset the validating walk
    /// reached.
    fn walk_from(&self, off: usize) -> Attributes<'_> {
        Attributes {
            bytes: &self.bytes,
            off,
        }
    }

    /// The first attribute of type `typ`, raw (RFC 5389 §15: only the first of duplicates counts).
    pub fn raw(&self, typ: u16) -> Option<RawAttribute<'_>> {
        let indexed = &self.index[..self.indexed as usize];
        if let Some(&(_, off)) = indexed.iter().find(|(t, _)| *t == typ) {
            return self.attribute_at(HEADER_LEN + off as usize);
        }
        if !self.overflow {
            return None;
        }
        // Past the index (a message with more than INDEXED attributes is rare): walk on.
        self.attributes().skip(INDEXED).find(|a| a.typ == typ)
    }

    /// The attribute whose header starts at `off`, an offset the validating walk reached.
    fn attribute_at(&self, off: usize) -> Option<RawAttribute<'_>> {
        self.walk_from(off).next()
    }

    /// The value of the first attribute of type `typ` as a view of the message's shared bytes (DATA
    /// handed on without a copy). `None` when absent.
    pub fn raw_shared(&self, typ: u16) -> Option<Bytes> {
        self.raw(typ).map(|a| self.bytes.slice_ref(a.value))
    }

    /// True when an attribute of type `typ` is present.
    pub fn has(&self, typ: u16) -> bool {
        self.raw(typ).is_some()
    }

    /// The first attribute of type `typ`, decoded. `None` when absent; `Some(Err)` when malformed.
    pub fn get(&self, typ: u16) -> Option<Result<Attribute, DecodeError>> {
        self.raw(typ)
            .map(|a| Attribute::decode(a.typ, a.value, &self.transaction_id))
    }

    /// Every attribute decoded, in wire order (unknown types as [`Attribute::Unknown`]).
    pub fn decoded(&self) -> Vec<Result<Attribute, DecodeError>> {
        self.attributes()
            .map(|a| Attribute::decode(a.typ, a.value, &self.transaction_id))
            .collect()
    }

    /// Comprehension-required attribute types (0x0000–0x7FFF) that this codec does not know, in order:
    /// what a 420 response must list in UNKNOWN-ATTRIBUTES, RFC 5389 §7.3.1.
    pub fn unknown_comprehension_required(&self) -> Vec<u16> {
        self.attributes()
            .map(|a| a.typ)
            .filter(|t| *t < 0x8000 && !attr_type::is_known(*t))
            .collect()
    }

    /// Checks MESSAGE-INTEGRITY with `key` (the ICE password for short-term credentials, or
    /// [`long_term_key`]) over the bytes as received, RFC 5389 §15.4. `false` when absent or wrong.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        let Some(mi) = self.raw(attr_type::MESSAGE_INTEGRITY) else {
            return false;
        };
        if mi.value.len() != 20 {
            return false;
        }
        // The length field is set as if MESSAGE-INTEGRITY were the last attribute.
        let covered_len = (mi.offset + 4 + 20 - HEADER_LEN) as u16;
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.bytes[..HEADER_LEN]);
        header[2..4].copy_from_slice(&covered_len.to_be_bytes());
        let mac = hmac_sha1(key, &[&header, &self.bytes[HEADER_LEN..mi.offset]]);
        mac[..] == *mi.value
    }

    /// Checks FINGERPRINT, RFC 5389 §15.5. `None` when absent (or not last), else whether it matches.
    pub fn verify_fingerprint(&self) -> Option<bool> {
        let last = match self.index[..self.indexed as usize].last() {
            Some(&(_, off)) if !self.overflow => self.attribute_at(HEADER_LEN + off as usize),
            _ => self.attributes().last(),
        };
        let fp = last.filter(|a| a.typ == attr_type::FINGERPRINT)?;
        if fp.value.len() != 4 {
            return Some(false);
        }
        let got = u32::from_be_bytes([fp.value[0], fp.value[1], fp.value[2], fp.value[3]]);
        Some(crc32fast::hash(&self.bytes[..fp.offset]) ^ FINGERPRINT_XOR == got)
    }
}

/// Builds a message attribute by attribute, then appends MESSAGE-INTEGRITY and FINGERPRINT as asked.
///
/// Attributes are written in place after room for the 20-byte header, so building a message copies
/// each value once (a relayed media packet's DATA is most of the bytes the simulator moves).
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    method: u16,
    class: Class,
    transaction_id: [u8; 12],
    /// The header's 20 bytes (written by [`MessageBuilder::build`]), then the attributes.
    buf: Vec<u8>,
}

impl MessageBuilder {
    /// A message of `method` and `class` with transaction id `tid`.
    pub fn new(method: u16, class: Class, transaction_id: [u8; 12]) -> MessageBuilder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[0; HEADER_LEN]);
        MessageBuilder {
            method,
            class,
            transaction_id,
            buf,
        }
    }

    /// Appends a typed attribute (zero padding).
    pub fn attr(mut self, a: &Attribute) -> MessageBuilder {
        let tid = self.transaction_id;
        self.push(|buf| a.encode_into(&tid, buf));
        self
    }

    /// Appends an attribute given as raw type and value (zero padding): unknown or deliberately
    /// malformed attributes, and DATA from a borrowed payload without first copying it into an
    /// [`Attribute::Data`].
    pub fn raw_attr(mut self, typ: u16, value: &[u8]) -> MessageBuilder {
        self.push_raw(typ, value);
        self
    }

    fn push_raw(&mut self, typ: u16, value: &[u8]) {
        self.push(|buf| {
            buf.extend_from_slice(value);
            typ
        });
    }

    /// Appends one attribute: `write` appends its value and returns its type; the type and length
    /// go into the 4 bytes reserved before the value, then padding to 4 bytes (RFC 8489 §14).
    fn push(&mut self, write: impl FnOnce(&mut Vec<u8>) -> u16) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let typ = write(&mut self.buf);
        let len = self.buf.len() - at - 4;
        self.buf[at..at + 2].copy_from_slice(&typ.to_be_bytes());
        self.buf[at + 2..at + 4].copy_from_slice(&(len as u16).to_be_bytes());
        let pad = (4 - len % 4) % 4;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
    }

    /// Writes the header with message length `body_len` (bytes after the header).
    fn header(&mut self, body_len: usize) {
        let h = &mut self.buf[..HEADER_LEN];
        h[0..2].copy_from_slice(&msg_type(self.method, self.class).to_be_bytes());
        h[2..4].copy_from_slice(&(body_len as u16).to_be_bytes());
        h[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        h[8..20].copy_from_slice(&self.transaction_id);
    }

    /// The encoded message, with MESSAGE-INTEGRITY keyed by `integrity` if given, then FINGERPRINT if
    /// `fingerprint` (RFC 5389 §15.4–15.5: MI covers the header with the length up to MI; FINGERPRINT
    /// covers everything before it with the final length).
    pub fn build(mut self, integrity: Option<&[u8]>, fingerprint: bool) -> Vec<u8> {
        if let Some(key) = integrity {
            self.header(self.buf.len() - HEADER_LEN + 24);
            let mac = hmac_sha1(key, &[&self.buf]);
            self.push_raw(attr_type::MESSAGE_INTEGRITY, &mac);
        }
        if fingerprint {
            self.header(self.buf.len() - HEADER_LEN + 8);
            let crc = crc32fast::hash(&self.buf) ^ FINGERPRINT_XOR;
            self.push_raw(attr_type::FINGERPRINT, &crc.to_be_bytes());
        }
        self.header(self.buf.len() - HEADER_LEN);
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bits_roundtrip() {
        assert_eq!(msg_type(0x001, Class::Request), 0x0001);
        assert_eq!(msg_type(0x001, Class::Success), 0x0101);
        assert_eq!(msg_type(0x001, Class::Error), 0x0111);
        assert_eq!(msg_type(0x001, Class::Indication), 0x0011);
        assert_eq!(msg_type(0x003, Class::Error), 0x0113);
        assert_eq!(msg_type(0x006, Class::Indication), 0x0016);
        for m in 0..0x1000u16 {
            for c in [Class::Request, Class::Indication, Class::Success, Class::Error] {
                assert_eq!(split_type(msg_type(m, c)), (m, c));
            }
        }
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202_whichever_keys_the_thread_kept() {
        // RFC 2202 §3 test cases 1 and 2, and a key longer than a block (case 6), which is hashed.
        let cases: [(Vec<u8>, &[u8], &str); 3] = [
            (vec![0x0b; 20], b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
        ];
        let hex = |m: [u8; 20]| m.iter().map(|b| format!("{b:02x}")).collect::<String>();
        // Each case keyed afresh, then from the kept state; each round after the kept keys were pushed out.
        for round in 0..3 {
            for (key, data, want) in cases.iter().chain(&cases) {
                let (a, b) = data.split_at(data.len() / 2);
                assert_eq!(hex(hmac_sha1(key, &[a, b])), *want, "round {round}");
            }
            for k in 0..=HMAC_KEYS_KEPT as u8 {
                let _ = hmac_sha1(&[k; 16], &[b"other"]);
            }
        }
    }

    #[test]
    fn decode_shared_equals_decode_and_views_the_bytes_it_was_given() {
        let b = Bytes::from(
            MessageBuilder::new(super::super::method::BINDING, Class::Request, [7; 12])
                .raw_attr(attr_type::USERNAME, b"abcde")
                .raw_attr(0xC0FF, &[])
                .build(Some(b"pw"), true),
        );
        let shared = Message::decode_shared(&b).unwrap();
        assert_eq!(shared, Message::decode(&b).unwrap());
        let user = shared.raw(attr_type::USERNAME).unwrap();
        assert_eq!((user.value, user.padding), (&b"abcde"[..], &[0u8, 0, 0][..]));
        // A view into `b`, not a copy.
        let at = user.value.as_ptr() as usize - b.as_ptr() as usize;
        assert_eq!(at, user.offset + 4);
        assert!(shared.verify_integrity(b"pw"));
        // Malformed input is refused the same way by both.
        for cut in [b.len() - 1, 19, 0] {
            assert_eq!(
                Message::decode_shared(&b.slice(..cut)).unwrap_err(),
                Message::decode(&b[..cut]).unwrap_err()
            );
        }
    }

    #[test]
    fn lookups_agree_with_a_walk_below_and_past_the_indexed_attributes() {
        // 0..=20 attributes of types cycling through 0x8000..0x800d (duplicates included), then
        // FINGERPRINT: lookups past the indexed ones walk on, and only the first of a type counts.
        for n in 0..=20u16 {
            let mut b = MessageBuilder::new(super::super::method::BINDING, Class::Request, [n as u8; 12]);
            for k in 0..n {
                b = b.raw_attr(0x8000 + k % 14, &k.to_be_bytes()[..(k as usize % 2) + 1]);
            }
            let bytes = Bytes::from(b.build(None, true));
            let m = Message::decode_shared(&bytes).unwrap();
            for typ in (0x8000..0x800f).chain([attr_type::FINGERPRINT, attr_type::USERNAME]) {
                assert_eq!(
                    m.raw(typ),
                    m.attributes().find(|a| a.typ == typ),
                    "n = {n}, type {typ:#06x}"
                );
            }
            assert_eq!(m.attributes().count(), n as usize + 1);
            assert_eq!(m.verify_fingerprint(), Some(true), "n = {n}");
        }
    }

    #[test]
    fn long_term_key_matches_rfc5389_example() {
        let k = long_term_key("user", "realm", "pass");
        let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "8493fbc53ba582fb4c044c456bdc40eb");
    }
}
