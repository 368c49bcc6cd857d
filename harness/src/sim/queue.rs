use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::SimTime;

/// A priority queue of events ordered by time, then by insertion order.
///
/// Ties are broken by a sequence number so that two events scheduled for the same instant are always
/// delivered in the order they were scheduled: the heap's own order for equal keys is unspecified and
/// would break determinism. Push and pop are O(log n).
///
/// The heap holds only (time, sequence, slot) keys of 24 bytes; events wait in a slab of slots. Events
/// carry datagrams and stanzas of a hundred bytes or more, and sifting them through the heap was most of
/// the queue's cost (the bench's synthetic workload spent a third of its time in those moves).
pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
    slots: Vec<Option<E>>,
    /// Indices of empty slots, reused before the slab grows.
    free: Vec<u32>,
    seq: u64,
}

struct Key {
    at: SimTime,
    seq: u64,
    slot: u32,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    // Reversed: BinaryHeap is a max-heap and we want the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: SimTime, event: E) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        self.heap.push(Key {
            at,
            seq: self.seq,
            slot,
        });
    }
    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let k = self.heap.pop()?;
        self.free.push(k.slot);
        let event = self.slots[k.slot as usize]
            .take()
            .expect("a queued key's slot holds its event");
        Some((k.at, event))
    }
    /// The time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.at)
    }
    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    /// True when no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_fifo_on_ties() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_millis(5), "b");
        q.push(SimTime::from_millis(1), "a");
        q.push(SimTime::from_millis(5), "c");
        q.push(SimTime::from_millis(5), "d");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn slots_are_reused_and_order_holds_across_interleaved_pushes_and_pops() {
        let mut q = EventQueue::new();
        let mut popped = Vec::new();
        for round in 0..50u64 {
            for k in 0..4u64 {
                // Times go back and forth so that later pushes land before earlier ones.
                q.push(SimTime::from_millis(round * 10 + (k * 7) % 5), (round, k));
            }
            for _ in 0..3 {
                popped.push(q.pop().unwrap());
            }
        }
        while let Some(e) = q.pop() {
            popped.push(e);
        }
        assert_eq!(popped.len(), 200);
        assert!(q.slots.len() <= 60, "slots grew to {}", q.slots.len());
        // Pops come out in (time, push order) within what was pending at each pop; across the whole run
        // times never go backwards once everything pending is earlier than what follows.
        let mut tail: Vec<_> = popped[150..].to_vec();
        tail.sort_by_key(|(t, (r, k))| (*t, *r, *k));
        assert_eq!(&popped[150..], &tail[..]);
    }
}
