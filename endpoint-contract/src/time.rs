//! Virtual time. Nothing in the simulator or an endpoint reads the wall clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// The calendar instant at which every run begins, in UNIX seconds: 2026-01-01T00:00:00Z. A
/// constant, never the wall clock, so absolute timestamps on the wire are reproducible.
pub const SIM_EPOCH_UNIX: u64 = 1_767_225_600;

/// Virtual monotonic time since the run began, in microseconds.
///
/// Microsecond resolution keeps every latency a scenario can express (whole milliseconds) exact, and
/// a `u64` of microseconds covers half a million years of simulated time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SimTime(u64);

impl SimTime {
    /// The instant the run begins.
    pub const ZERO: SimTime = SimTime(0);
    /// A time later than any run reaches; used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// `us` microseconds after the start of the run.
    pub const fn from_micros(us: u64) -> SimTime {
        SimTime(us)
    }
    /// `ms` milliseconds after the start of the run.
    pub const fn from_millis(ms: u64) -> SimTime {
        SimTime(ms * 1000)
    }
    /// Microseconds since the start of the run.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Whole milliseconds since the start of the run (truncated).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }
    /// The simulated calendar time in whole UNIX seconds: the run begins at [`SIM_EPOCH_UNIX`].
    /// Used where a protocol carries absolute time (TURN REST usernames, XEP-0215 `expires`), so
    /// those values are the same in every run of a seed.
    pub const fn unix_secs(self) -> u64 {
        SIM_EPOCH_UNIX + self.0 / 1_000_000
    }
    /// Time elapsed since `earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, d: Duration) -> SimTime {
        SimTime(self.0.saturating_add(d.as_micros() as u64))
    }
}

impl AddAssign<Duration> for SimTime {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub for SimTime {
    type Output = Duration;
    fn sub(self, rhs: SimTime) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for SimTime {
    /// Seconds with millisecond precision, as in a ladder diagram: `12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_exact_in_micros() {
        let t = SimTime::from_millis(40) + Duration::from_micros(1500);
        assert_eq!(t.as_micros(), 41_500);
        assert_eq!(t - SimTime::from_millis(1), Duration::from_micros(40_500));
        assert_eq!(SimTime::from_millis(1) - t, Duration::ZERO);
        assert_eq!(t.to_string(), "0.041500s");
    }
}
