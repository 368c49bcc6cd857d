use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// A seeded random stream, one per component (a link, a NAT, an endpoint, a server).
///
/// Each stream is derived from the run seed and a stable label (`"nat/caller"`, `"endpoint/callee"`), so
/// adding a component or drawing more numbers in one component never shifts the numbers another sees.
/// Derivation: ChaCha8 keyed with SHA-256(`"jingle-interop/rng/1"` ‖ seed as big-endian u64 ‖ label).
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The stream named `label` of the run seeded with `seed`.
    pub fn derive(seed: u64, label: &str) -> SimRng {
        let mut h = Sha256::new();
        h.update(b"jingle-interop/rng/1");
        h.update(seed.to_be_bytes());
        h.update(label.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        SimRng {
            inner: ChaCha8Rng::from_seed(key),
        }
    }
    /// The stream's exact state: the ChaCha8 key (SHA-256 of the derivation input, see
    /// [`SimRng::derive`]) and the position in its keystream in 32-bit words. With
    /// [`SimRng::from_state`] it carries a stream across a process boundary (the external endpoint
    /// adapter), so a program drawing from it sees the numbers the in-process endpoint would.
    pub fn state(&self) -> ([u8; 32], u128) {
        (self.inner.get_seed(), self.inner.get_word_pos())
    }
    /// The stream whose [`SimRng::state`] is `(key, word_pos)`.
    pub fn from_state(key: [u8; 32], word_pos: u128) -> SimRng {
        let mut inner = ChaCha8Rng::from_seed(key);
        inner.set_word_pos(word_pos);
        SimRng { inner }
    }
    /// A child stream, derived from this one's next output and `label`; for components an endpoint
    /// creates itself (its ICE agent, a TURN client).
    pub fn fork(&mut self, label: &str) -> SimRng {
        SimRng::derive(self.next_u64(), label)
    }
    /// 64 uniformly random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
    /// 32 uniformly random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }
    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.inner.fill_bytes(buf)
    }
    /// A uniform integer in `lo..=hi` (rejection sampling, no modulo bias).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        let n = span + 1;
        let zone = u64::MAX - (u64::MAX % n) - 1;
        loop {
            let v = self.next_u64();
            if v <= zone {
                return lo + v % n;
            }
        }
    }
    /// True with probability `p` (0.0..=1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        // 53 random bits give a uniform f64 in [0, 1).
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        u < p
    }
    /// `len` random characters from the ICE character set (ALPHA / DIGIT / "+" / "/"), RFC 8445 §5.3.
    pub fn ice_chars(&mut self, len: usize) -> String {
        const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        (0..len).map(|_| SET[self.range(0, 63) as usize] as char).collect()
    }
    /// A random UUIDv4 string, as XEP-0353 recommends for session ids.
    pub fn uuid_v4(&mut self) -> String {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_label_same_stream() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = SimRng::derive(7, "nat/caller");
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = SimRng::derive(7, "nat/caller");
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(SimRng::derive(7, "nat/callee").next_u64(), a[0]);
        assert_ne!(SimRng::derive(8, "nat/caller").next_u64(), a[0]);
    }

    #[test]
    fn a_stream_rebuilt_from_its_state_continues_where_it_was() {
        let mut a = SimRng::derive(7, "endpoint/caller");
        let _ = a.next_u32();
        let (key, pos) = a.state();
        assert_eq!(pos, 1);
        let mut b = SimRng::from_state(key, pos);
        let next: Vec<u64> = (0..20).map(|_| a.next_u64()).collect();
        assert_eq!(next, (0..20).map(|_| b.next_u64()).collect::<Vec<_>>());
    }

    #[test]
    fn range_stays_inside() {
        let mut r = SimRng::derive(1, "t");
        for _ in 0..1000 {
            let v = r.range(49152, 65535);
            assert!((49152..=65535).contains(&v));
        }
        let u = r.uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
