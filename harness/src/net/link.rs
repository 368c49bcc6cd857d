//! Access-link impairments: latency, jitter, loss (independent or bursty), duplication, reordering
//! and a bandwidth cap. Each direction of each link has its own state and its own seeded stream, so
//! one link's draws never shift another's.

use std::time::Duration;

use crate::sim::SimRng;
use crate::time::SimTime;

/// How a link loses packets.
#[derive(Clone, Debug, PartialEq)]
pub enum LossModel {
    /// Each packet is lost independently with probability `0.0..=1.0`.
    Bernoulli(f64),
    /// Bursty loss: the two-state Gilbert–Elliott model. Before each packet the link moves from
    /// the good to the bad state with probability `p` and back with `r`; a packet is then lost with
    /// `loss_good` or `loss_bad`. Mean burst length is `1/r` packets.
    GilbertElliott {
        /// P(good → bad) per packet.
        p: f64,
        /// P(bad → good) per packet.
        r: f64,
        /// Loss probability in the good state (often 0).
        loss_good: f64,
        /// Loss probability in the bad state (often 1).
        loss_bad: f64,
    },
}

impl Default for LossModel {
    fn default() -> Self {
        LossModel::Bernoulli(0.0)
    }
}

/// Impairments of one access link, applied in each direction independently.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkParams {
    /// One-way latency between the site and the routing core.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet; it never reorders packets.
    pub jitter: Duration,
    /// Loss model.
    pub loss: LossModel,
    /// Probability `0.0..=1.0` that a packet is delivered twice (the copy 1 ms after the original).
    pub duplicate: f64,
    /// Probability `0.0..=1.0` that a packet is held back by `reorder_delay`, letting later packets
    /// overtake it. The only source of reordering.
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Serialization rate in bits per second; `None` for unlimited. Packets queue behind each other
    /// (drop-tail once the queue holds more than [`QUEUE_LIMIT`] of traffic).
    pub bandwidth_bps: Option<u64>,
}

/// Longest queueing delay a bandwidth-capped link buffers before it drops (drop-tail), 200 ms: a
/// typical home-router buffer at access rates.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(200);

/// Delay of a duplicated packet's copy after the original.
const DUPLICATE_DELAY: Duration = Duration::from_millis(1);

/// One direction of one link: its parameters, random stream and state.
#[derive(Debug)]
pub(crate) struct LinkState {
    params: LinkParams,
    rng: SimRng,
    /// Exit time of the last in-order packet, so jitter cannot reorder.
    last: SimTime,
    /// When the serializer is free again (bandwidth cap).
    busy_until: SimTime,
    /// Gilbert–Elliott state.
    bad: bool,
}

impl LinkState {
    pub(crate) fn new(params: LinkParams, rng: SimRng) -> LinkState {
        LinkState {
            params,
            rng,
            last: SimTime::ZERO,
            busy_until: SimTime::ZERO,
            bad: false,
        }
    }

    fn lost(&mut self) -> bool {
        match self.params.loss {
            LossModel::Bernoulli(p) => self.rng.chance(p),
            LossModel::GilbertElliott {
                p,
                r,
                loss_good,
                loss_bad,
            } => {
                let flip = if self.bad { r } else { p };
                if self.rng.chance(flip) {
                    self.bad = !self.bad;
                }
                self.rng.chance(if self.bad { loss_bad } else { loss_good })
            }
        }
    }

    /// A `len`-byte packet enters the link at `now`: `Ok((exit time, copy delay if duplicated))`, or
    /// `Err(why)` when it is lost.
    pub(crate) fn traverse(&mut self, now: SimTime, len: usize) -> Result<(SimTime, Option<Duration>), String> {
        let mut start = now;
        if let Some(bps) = self.params.bandwidth_bps {
            let begin = self.busy_until.max(now);
            if begin - now > QUEUE_LIMIT {
                return Err("queue overflow on the bandwidth-capped link".into());
            }
            let tx = Duration::from_micros((len as u64 * 8 * 1_000_000).div_ceil(bps.max(1)));
            self.busy_until = begin + tx;
            start = self.busy_until;
        }
        if self.lost() {
            return Err("lost on the access link".into());
        }
        let j = if self.params.jitter.is_zero() {
            0
        } else {
            self.rng.range(0, self.params.jitter.as_micros() as u64)
        };
        let mut at = start + self.params.latency + Duration::from_micros(j);
        if self.rng.chance(self.params.reorder) {
            at += self.params.reorder_delay;
        } else {
            at = at.max(self.last);
            self.last = at;
        }
        let dup = self.rng.chance(self.params.duplicate).then_some(DUPLICATE_DELAY);
        Ok((at, dup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(params: LinkParams) -> LinkState {
        LinkState::new(params, SimRng::derive(7, "test"))
    }

    #[test]
    fn jitter_never_reorders_but_reorder_does() {
        let mut l = link(LinkParams {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
            ..Default::default()
        });
        let mut last = SimTime::ZERO;
        for i in 0..1000 {
            let (at, _) = l.traverse(SimTime::from_millis(i), 100).unwrap();
            assert!(at >= last);
            last = at;
        }
        let mut l = link(LinkParams {
            latency: Duration::from_millis(20),
            reorder: 0.1,
            reorder_delay: Duration::from_millis(15),
            ..Default::default()
        });
        let exits: Vec<SimTime> = (0..1000)
            .map(|i| l.traverse(SimTime::from_millis(i * 5), 100).unwrap().0)
            .collect();
        let inversions = exits.windows(2).filter(|w| w[1] < w[0]).count();
        assert!((50..=150).contains(&inversions), "{inversions} inversions");
    }

    #[test]
    fn gilbert_elliott_loss_comes_in_bursts_with_the_configured_mean_rate() {
        // p = 1 %, r = 25 %: stationary bad share p/(p+r) ≈ 3.8 %, mean burst 4 packets.
        let mut l = link(LinkParams {
            loss: LossModel::GilbertElliott {
                p: 0.01,
                r: 0.25,
                loss_good: 0.0,
                loss_bad: 1.0,
            },
            ..Default::default()
        });
        let lost: Vec<bool> = (0..100_000)
            .map(|i| l.traverse(SimTime::from_millis(i), 100).is_err())
            .collect();
        let n = lost.iter().filter(|x| **x).count();
        let bursts = lost.windows(2).filter(|w| w[1] && !w[0]).count();
        let rate = n as f64 / lost.len() as f64;
        let mean_burst = n as f64 / bursts as f64;
        assert!((0.030..0.047).contains(&rate), "rate {rate}");
        assert!((3.3..4.7).contains(&mean_burst), "mean burst {mean_burst}");
        // The same mean rate drawn independently gives bursts of about one packet.
        let mut b = link(LinkParams {
            loss: LossModel::Bernoulli(rate),
            ..Default::default()
        });
        let lost: Vec<bool> = (0..100_000)
            .map(|i| b.traverse(SimTime::from_millis(i), 100).is_err())
            .collect();
        let n = lost.iter().filter(|x| **x).count();
        let bursts = lost.windows(2).filter(|w| w[1] && !w[0]).count();
        assert!((n as f64 / bursts as f64) < 1.2);
    }

    #[test]
    fn bandwidth_cap_serializes_and_drops_beyond_the_queue() {
        // 1 Mbit/s: a 1250-byte packet takes 10 ms on the wire.
        let mut l = link(LinkParams {
            latency: Duration::from_millis(5),
            bandwidth_bps: Some(1_000_000),
            ..Default::default()
        });
        let t = SimTime::ZERO;
        assert_eq!(l.traverse(t, 1250).unwrap().0, SimTime::from_millis(15));
        assert_eq!(l.traverse(t, 1250).unwrap().0, SimTime::from_millis(25));
        // 20 queued packets fill 200 ms of queue; the next is dropped.
        for _ in 0..19 {
            l.traverse(t, 1250).unwrap();
        }
        assert!(l.traverse(t, 1250).is_err());
    }

    #[test]
    fn duplication_rate_follows_the_setting() {
        let mut l = link(LinkParams {
            duplicate: 0.05,
            ..Default::default()
        });
        let d = (0..10_000)
            .filter(|i| l.traverse(SimTime::from_millis(*i), 100).unwrap().1.is_some())
            .count();
        assert!((400..600).contains(&d), "{d}");
    }
}
