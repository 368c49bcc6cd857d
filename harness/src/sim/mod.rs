//! The discrete-event core: a time-ordered queue and seeded random streams.
//!
//! There are no ticks: the driver pops the earliest event and jumps virtual time straight to it, so idle
//! simulated time costs nothing.

mod queue;

pub use endpoint_contract::SimRng;
pub use queue::EventQueue;
