//! The failure-rate window: the outcomes of the last `n` calls, lock-free.
//!
//! Each call claims the next slot of a ring with one `fetch_add`, swaps its outcome in, and
//! adjusts three counters packed in one `u64` by the difference with the outcome it replaced;
//! a success replacing a success writes no counter.

use crate::sync::{AtomicU8, AtomicU64, Ordering};

pub(crate) const RECORDED: u8 = 1;
pub(crate) const FAILED: u8 = 2;
pub(crate) const SLOW: u8 = 4;

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
// The largest window (`staunch_options::circuit_breaker::MAX_WINDOW`): each packed count
// must hold it.
const _: () = assert!(staunch_options::circuit_breaker::MAX_WINDOW as u64 <= FIELD_MASK);

/// Calls, failures and slow calls among the last `window` recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

#[derive(Debug)]
pub(crate) struct Window {
    slots: Box<[AtomicU8]>,
    head: AtomicU64,
    counts: AtomicU64,
}

/// The outcomes that may push a window over a threshold.
const JUDGED: u8 = FAILED + SLOW;

/// What an outcome adds to the packed counters.
fn weight(code: u8) -> u64 {
    u64::from(code & RECORDED)
        + (u64::from((code & FAILED) >> 1) << FIELD_BITS)
        + (u64::from((code & SLOW) >> 2) << (2 * FIELD_BITS))
}

/// A failure or a slow call: after one, the counts are worth checking against the thresholds.
/// (Checking after any other call would find nothing new: a success lowers the rates.)
fn judged(code: u8) -> bool {
    code & JUDGED != 0
}

impl Window {
    pub(crate) fn new(len: u32) -> Self {
        Self {
            slots: (0..len).map(|_| AtomicU8::new(0)).collect(),
            head: AtomicU64::new(0),
            counts: AtomicU64::new(0),
        }
    }

    /// Records one outcome; returns the counts after it when they may now be over a threshold:
    /// after a failure or a slow call, and after any call that filled an empty slot (the
    /// window grew, so it may just have reached `min_calls`).
    #[inline]
    pub(crate) fn record(&self, code: u8) -> Option<Counts> {
        let len = self.slots.len() as u64;
        // Relaxed: the counters are statistics, read to decide a transition that is itself
        // settled by a compare-and-swap on the breaker's word.
        #[allow(clippy::cast_possible_truncation)] // the modulo fits the slot index
        let slot = (self.head.fetch_add(1, Ordering::Relaxed) % len) as usize;
        // Load first: in a healthy window a success replaces a success, and then nothing is
        // written (as a swap of the same value would do).
        let mut old = self.slots[slot].load(Ordering::Relaxed);
        if old != code {
            old = self.slots[slot].swap(code, Ordering::Relaxed);
        }
        if old == code {
            return judged(code).then(|| self.counts());
        }
        let delta = weight(code).wrapping_sub(weight(old));
        let packed = self
            .counts
            .fetch_add(delta, Ordering::Relaxed)
            .wrapping_add(delta);
        (judged(code) || old == 0).then(|| unpack(packed))
    }

    pub(crate) fn counts(&self) -> Counts {
        unpack(self.counts.load(Ordering::Relaxed))
    }

    /// Empties the window. Slot by slot, each outcome taken out and its weight subtracted, as
    /// `record` replaces one: an outcome recorded meanwhile is counted exactly once, either
    /// emptied or kept, and the packed counts never drift from the slots.
    pub(crate) fn clear(&self) {
        for slot in &*self.slots {
            let old = slot.swap(0, Ordering::Relaxed);
            if old != 0 {
                self.counts.fetch_sub(weight(old), Ordering::Relaxed);
            }
        }
    }
}

#[allow(clippy::cast_possible_truncation)] // each field is masked to 21 bits
fn unpack(packed: u64) -> Counts {
    Counts {
        calls: (packed & FIELD_MASK) as u32,
        failures: ((packed >> FIELD_BITS) & FIELD_MASK) as u32,
        slow: ((packed >> (2 * FIELD_BITS)) & FIELD_MASK) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_n_outcomes() {
        let w = Window::new(3);
        assert_eq!(w.record(RECORDED | FAILED).map(|c| c.failures), Some(1));
        // A success that grows the window is judged too: it may reach `min_calls`.
        assert_eq!(w.record(RECORDED).map(|c| c.calls), Some(2));
        w.record(RECORDED | SLOW);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // The fourth call replaces the first (a failure) with a success: nothing to judge.
        assert_eq!(w.record(RECORDED), None);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        w.clear();
        assert_eq!(
            w.counts(),
            Counts {
                calls: 0,
                failures: 0,
                slow: 0
            }
        );
    }
}
