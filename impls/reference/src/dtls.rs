//! DTLS-SRTP of the reference in live runs: a DTLS 1.2 handshake on the ICE pair media uses, with
//! the certificate whose fingerprint the reference signals and the role XEP-0320's `setup` gives it
//! (RFC 5763 §5, RFC 8842 §5, XEP-0320 §3), then SRTP with the keys it exports (RFC 5764 §4.2).
//!
//! Live runs only ([`EndpointConfig::live`](endpoint_contract::endpoint::EndpointConfig::live)):
//! the certificate's key, the handshake's randoms and its ephemeral keys come from the operating
//! system, which a simulated run, reproduced byte for byte from its seed, must not use. A simulated
//! reference signals a fingerprint drawn from its seed and sends RTP without a handshake, as before.
//!
//! The engine is dimpl (sans-IO, RustCrypto); the certificate is rcgen's; SRTP is rtc-srtp's. Time
//! is the run's: simulated time, which in a live run follows the monotonic clock, is mapped onto an
//! [`Instant`] once, when the session is made.

use endpoint_contract::time::SimTime;
use rtc_srtp::context::Context;
use rtc_srtp::protection_profile::ProtectionProfile;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The reference's certificate for one endpoint: self-signed ECDSA P-256 (what browsers make,
/// RFC 8827 §6.5), DER, with its SHA-256 fingerprint (RFC 8122 §5), the value signalled in
/// XEP-0320's `<fingerprint hash='sha-256'/>`.
pub(crate) struct Identity {
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    /// SHA-256 of `cert_der`.
    pub(crate) fingerprint: [u8; 32],
}

impl Identity {
    /// A fresh key pair and certificate. The serial number is the key's own hash, so no two
    /// certificates of different keys share issuer and serial (Firefox refuses a certificate whose
    /// issuer and serial it saw with another key).
    pub(crate) fn generate() -> Result<Identity, String> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "jingle-interop reference");
        let serial = Sha256::digest(key.public_key_raw());
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial[..16]));
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        let cert_der = cert.der().to_vec();
        Ok(Identity {
            fingerprint: sha256(&cert_der),
            cert_der,
            key_der: key.serialize_der(),
        })
    }
}

/// SHA-256 of `der`, the fingerprint of a certificate (RFC 8122 §5).
pub(crate) fn sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// Parses a XEP-0320 fingerprint: `hash` must be `sha-256` and `value` 32 colon-separated hex bytes
/// (RFC 8122 §5), in either case. `None` otherwise: the reference checks SHA-256 fingerprints only.
pub fn parse_fingerprint(hash: &str, value: &str) -> Option<[u8; 32]> {
    if !hash.eq_ignore_ascii_case("sha-256") {
        return None;
    }
    let mut out = [0u8; 32];
    let mut n = 0;
    for part in value.trim().split(':') {
        *out.get_mut(n)? = u8::from_str_radix(part, 16).ok().filter(|_| part.len() == 2)?;
        n += 1;
    }
    (n == 32).then_some(out)
}

/// Where the handshake stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DtlsState {
    Handshaking,
    /// Done, and SRTP keyed.
    Connected,
    /// The peer presented a certificate other than the one it signalled the fingerprint of (RFC
    /// 5763 §5: the session must not be established).
    CertificateMismatch,
    /// Failed for the reason given; no media goes.
    Failed(String),
}

impl DtlsState {
    /// The handshake failed, whatever the reason: no media goes.
    pub(crate) fn failed(&self) -> bool {
        matches!(self, DtlsState::CertificateMismatch | DtlsState::Failed(_))
    }
}

/// One DTLS-SRTP association (per Jingle session), over whichever pair ICE gives media.
pub(crate) struct DtlsSrtp {
    engine: dimpl::Dtls,
    /// Simulated time zero as an [`Instant`].
    origin: Instant,
    /// This side is the DTLS client (XEP-0320 `setup` active).
    client: bool,
    /// The fingerprint the peer signalled; its certificate must match it (RFC 5763 §5).
    peer_fingerprint: Option<[u8; 32]>,
    pub(crate) state: DtlsState,
    /// dimpl said Connected.
    handshake_done: bool,
    records: Vec<Vec<u8>>,
    timeout: Option<SimTime>,
    tx: Option<Context>,
    rx: Option<Context>,
    /// An SRTP packet from the peer has authenticated.
    pub(crate) authenticated: bool,
}

impl DtlsSrtp {
    /// A DTLS 1.2 endpoint with `identity`, the client when `client` (which then sends its
    /// ClientHello at once), that accepts only a peer certificate matching `peer_fingerprint`.
    pub(crate) fn new(identity: &Identity, client: bool, peer_fingerprint: Option<[u8; 32]>, now: SimTime) -> DtlsSrtp {
        // The only clock read, and live runs only (the endpoint has an identity only then):
        // dimpl keeps time in `Instant`s, so simulated time is anchored to one once.
        let origin = Instant::now()
            .checked_sub(Duration::from_micros(now.as_micros()))
            .unwrap_or_else(Instant::now);
        let cert = dimpl::DtlsCertificate {
            certificate: identity.cert_der.clone(),
            private_key: identity.key_der.clone(),
        };
        let config = Arc::new(dimpl::Config::default());
        let mut engine = dimpl::Dtls::new_12(config, cert, origin + Duration::from_micros(now.as_micros()));
        engine.set_active(client);
        let mut s = DtlsSrtp {
            engine,
            origin,
            client,
            peer_fingerprint,
            state: DtlsState::Handshaking,
            handshake_done: false,
            records: Vec::new(),
            timeout: None,
            tx: None,
            rx: None,
            authenticated: false,
        };
        s.handle_timeout(now);
        s
    }

    fn instant(&self, t: SimTime) -> Instant {
        self.origin + Duration::from_micros(t.as_micros())
    }

    /// A DTLS record from the peer (RFC 7983: first byte 20–63).
    pub(crate) fn handle_record(&mut self, now: SimTime, data: &[u8]) {
        if self.state.failed() {
            return;
        }
        let t = self.instant(now);
        let r = self
            .engine
            .handle_timeout(t)
            .and_then(|_| self.engine.handle_packet(data));
        self.after(r);
    }

    /// Retransmits flights when due (RFC 6347 §4.2.4).
    pub(crate) fn handle_timeout(&mut self, now: SimTime) {
        if self.state.failed() {
            return;
        }
        let r = self.engine.handle_timeout(self.instant(now));
        self.after(r);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub(crate) fn poll_timeout(&self) -> Option<SimTime> {
        self.timeout.filter(|_| self.state == DtlsState::Handshaking)
    }

    /// The records to send, oldest first.
    pub(crate) fn take_records(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.records)
    }

    fn after(&mut self, r: Result<(), dimpl::Error>) {
        if let Err(e) = r {
            self.state = DtlsState::Failed(format!("DTLS: {e}"));
            return;
        }
        let mut buf = vec![0u8; 2048];
        loop {
            match self.engine.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => self.records.push(p.to_vec()),
                dimpl::Output::BufferTooSmall { needed } => buf.resize(needed, 0),
                dimpl::Output::Timeout(t) => {
                    // Rounded up to the microsecond: rounded down, the wake-up would come a few
                    // nanoseconds before the deadline, find nothing due, and ask again at once.
                    let ns = t.saturating_duration_since(self.origin).as_nanos();
                    self.timeout = Some(SimTime::from_micros(ns.div_ceil(1000) as u64));
                    break;
                }
                dimpl::Output::PeerCert(der) => {
                    let got = sha256(der);
                    if self.peer_fingerprint.is_some_and(|want| want != got) {
                        self.state = DtlsState::CertificateMismatch;
                        return;
                    }
                }
                dimpl::Output::KeyingMaterial(km, profile) => {
                    if let Err(e) = self.key_srtp(&km, profile) {
                        self.state = DtlsState::Failed(e);
                        return;
                    }
                }
                dimpl::Output::Connected => self.handshake_done = true,
                _ => {}
            }
        }
        // dimpl gives the keys and Connected in the same poll; media waits for both.
        if self.state == DtlsState::Handshaking && self.handshake_done && self.tx.is_some() {
            self.state = DtlsState::Connected;
        }
    }

    /// Splits the exported material as RFC 5764 §4.2 lays it out (client key, server key, client
    /// salt, server salt) and keys SRTP both ways.
    fn key_srtp(&mut self, km: &[u8], profile: dimpl::SrtpProfile) -> Result<(), String> {
        let (p, key, salt) = match profile {
            dimpl::SrtpProfile::AES128_CM_SHA1_80 => (ProtectionProfile::Aes128CmHmacSha1_80, 16, 14),
            dimpl::SrtpProfile::AEAD_AES_128_GCM => (ProtectionProfile::AeadAes128Gcm, 16, 12),
            dimpl::SrtpProfile::AEAD_AES_256_GCM => (ProtectionProfile::AeadAes256Gcm, 32, 12),
            other => return Err(format!("DTLS-SRTP profile {other:?} is not supported")),
        };
        if km.len() < 2 * (key + salt) {
            return Err("DTLS-SRTP keying material too short".into());
        }
        let (client_key, rest) = km.split_at(key);
        let (server_key, rest) = rest.split_at(key);
        let (client_salt, server_salt) = rest.split_at(salt);
        let server_salt = &server_salt[..salt];
        let crypto = rtc_srtp::crypto::providers::RingCrypto;
        let ctx = |k: &[u8], s: &[u8]| Context::new(k, s, p, None, None, &crypto).map_err(|e| format!("SRTP: {e}"));
        let (mine, theirs) = if self.client {
            ((client_key, client_salt), (server_key, server_salt))
        } else {
            ((server_key, server_salt), (client_key, client_salt))
        };
        self.tx = Some(ctx(mine.0, mine.1)?);
        self.rx = Some(ctx(theirs.0, theirs.1)?);
        Ok(())
    }

    /// `rtp` as SRTP, once keyed.
    pub(crate) fn protect(&mut self, rtp: &[u8]) -> Option<Vec<u8>> {
        self.tx.as_mut()?.encrypt_rtp(rtp).ok().map(|b| b.to_vec())
    }

    /// Whether an SRTP packet from the peer authenticates (RFC 3711 §3.3); false before keys.
    pub(crate) fn unprotect(&mut self, srtp: &[u8]) -> bool {
        let ok = self.rx.as_mut().is_some_and(|rx| rx.decrypt_rtp(srtp).is_ok());
        self.authenticated |= ok;
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the handshake between two engines, handing records across at `now`.
    fn shake(a: &mut DtlsSrtp, b: &mut DtlsSrtp) {
        for i in 0..20 {
            let now = SimTime::from_millis(i);
            for r in a.take_records() {
                b.handle_record(now, &r);
            }
            for r in b.take_records() {
                a.handle_record(now, &r);
            }
        }
    }

    #[test]
    fn a_handshake_keys_srtp_both_ways_and_the_peer_reads_what_is_protected() {
        let (ia, ib) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let mut a = DtlsSrtp::new(&ia, true, Some(ib.fingerprint), SimTime::ZERO);
        let mut b = DtlsSrtp::new(&ib, false, Some(ia.fingerprint), SimTime::ZERO);
        shake(&mut a, &mut b);
        assert_eq!((&a.state, &b.state), (&DtlsState::Connected, &DtlsState::Connected));
        let mut rtp = vec![0x80, 111, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        rtp.extend_from_slice(&[7u8; 20]);
        let srtp = a.protect(&rtp).unwrap();
        assert_ne!(srtp[12..], rtp[12..], "the payload is encrypted");
        assert_eq!(srtp[..12], rtp[..12], "the header stays clear (RFC 3711 §3.1)");
        assert!(b.unprotect(&srtp), "the peer's keys read it");
        assert!(!b.unprotect(&rtp), "clear RTP does not authenticate");
        assert!(b.authenticated);
    }

    #[test]
    fn a_certificate_other_than_the_signalled_one_fails_the_handshake() {
        let (ia, ib, other) = (
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
            Identity::generate().unwrap(),
        );
        let mut a = DtlsSrtp::new(&ia, true, Some(other.fingerprint), SimTime::ZERO);
        let mut b = DtlsSrtp::new(&ib, false, Some(ia.fingerprint), SimTime::ZERO);
        shake(&mut a, &mut b);
        assert_eq!(a.state, DtlsState::CertificateMismatch);
        assert!(a.protect(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
    }

    /// Each wake-up the association asks for finds its retransmission due, so time moves on: a
    /// client whose peer never answers retransmits with growing intervals (RFC 6347 §4.2.4), and
    /// a server waits.
    #[test]
    fn every_wake_up_finds_something_due() {
        let id = Identity::generate().unwrap();
        let mut client = DtlsSrtp::new(&id, true, None, SimTime::from_millis(1000));
        let mut last = SimTime::ZERO;
        let mut sent = 0;
        while let Some(t) = client.poll_timeout().filter(|_| sent < 5) {
            assert!(t > last, "{t} after {last}");
            last = t;
            client.handle_timeout(t);
            sent += client.take_records().len();
        }
        assert!(sent >= 5, "the ClientHello is retransmitted: {sent}");
    }

    #[test]
    fn fingerprints_parse_as_xep_0320_writes_them() {
        let id = Identity::generate().unwrap();
        let text: Vec<String> = id.fingerprint.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_fingerprint("sha-256", &text.join(":")), Some(id.fingerprint));
        assert_eq!(
            parse_fingerprint("SHA-256", &text.join(":").to_lowercase()),
            Some(id.fingerprint)
        );
        assert_eq!(parse_fingerprint("sha-1", &text.join(":")), None);
        assert_eq!(parse_fingerprint("sha-256", &text[..31].join(":")), None);
        assert_eq!(parse_fingerprint("sha-256", &format!("{}:00", text.join(":"))), None);
    }
}
