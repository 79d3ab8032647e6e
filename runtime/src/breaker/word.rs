//! The breaker's state, half-open trial counts and generation, packed in one `u64`.
//!
//! One word means one compare-and-swap decides every transition: a trial can only finish in
//! the half-open period (generation) that admitted it, and a trial slot is taken and given
//! back atomically with the state it belongs to.
//!
//! ```text
//! bits 0..2   state (0 closed, 1 open, 2 half-open, 3 forced open)
//! bits 2..18  trials in flight
//! bits 18..34 trials that completed
//! bit  34     calls leave the hot path (timed, as slow calls are tracked; or the breaker is disabled): kept across periods
//! bits 35..64 generation, +1 on every transition
//!
//! A CLOSED breaker whose calls are not timed has none of the state and timed bits set: the
//! hot path tests that with the one load of the word.
//! ```

use super::CircuitState;

const STATE_MASK: u64 = 0b11;
const IN_FLIGHT_SHIFT: u32 = 2;
const COMPLETED_SHIFT: u32 = 18;
const TIMED: u64 = 1 << 34;
const GENERATION_SHIFT: u32 = 35;
/// Generations wrap at this many bits.
pub(crate) const GENERATION_BITS: u32 = 64 - GENERATION_SHIFT;
const COUNT_MASK: u64 = 0xFFFF;
/// Both trial counts of a word.
const TRIALS: u64 = (COUNT_MASK << IN_FLIGHT_SHIFT) + (COUNT_MASK << COMPLETED_SHIFT);

/// A decoded breaker word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) const INITIAL: Word = Word(0);

    /// CLOSED, and calls are not timed: the hot path.
    #[inline]
    pub(crate) fn is_closed_untimed(self) -> bool {
        self.0 & (STATE_MASK | TIMED) == 0
    }

    /// Whether calls are timed.
    #[inline]
    pub(crate) fn timed(self) -> bool {
        self.0 & TIMED != 0
    }

    /// The same word with calls timed or not.
    pub(crate) fn with_timed(self, timed: bool) -> Word {
        Word((self.0 & !TIMED) + if timed { TIMED } else { 0 })
    }

    #[inline]
    pub(crate) fn state(self) -> CircuitState {
        match self.0 & STATE_MASK {
            0 => CircuitState::Closed,
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            _ => CircuitState::ForcedOpen,
        }
    }

    pub(crate) fn generation(self) -> u64 {
        self.0 >> GENERATION_SHIFT
    }

    pub(crate) fn in_flight(self) -> u64 {
        (self.0 >> IN_FLIGHT_SHIFT) & COUNT_MASK
    }

    /// Trials that finished in this period without deciding it yet.
    pub(crate) fn completed(self) -> u64 {
        (self.0 >> COMPLETED_SHIFT) & COUNT_MASK
    }

    /// The word of the next period, in `state`, with no trials.
    pub(crate) fn next(self, state: CircuitState) -> Word {
        let state = match state {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
            CircuitState::ForcedOpen => 3,
        };
        // The generation wraps after 2^29 transitions; only equality with a live trial's
        // generation matters, and no trial lives that long. (The fields are disjoint: adding
        // them is or-ing them.)
        Word((self.generation().wrapping_add(1) << GENERATION_SHIFT) + (self.0 & TIMED) + state)
    }

    /// The same period with `in_flight` and `completed` trials.
    pub(crate) fn with_trials(self, in_flight: u64, completed: u64) -> Word {
        debug_assert!(in_flight <= COUNT_MASK && completed <= COUNT_MASK);
        Word((self.0 & !TRIALS) + (in_flight << IN_FLIGHT_SHIFT) + (completed << COMPLETED_SHIFT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let w = Word::INITIAL.next(CircuitState::HalfOpen).with_trials(3, 2);
        assert_eq!(w.state(), CircuitState::HalfOpen);
        assert_eq!((w.generation(), w.in_flight(), w.completed()), (1, 3, 2));
        let closed = w.next(CircuitState::Closed);
        assert_eq!(closed.state(), CircuitState::Closed);
        assert_eq!(
            (closed.generation(), closed.in_flight(), closed.completed()),
            (2, 0, 0)
        );
        assert_eq!(
            closed.next(CircuitState::ForcedOpen).state(),
            CircuitState::ForcedOpen
        );
        let timed = closed.with_timed(true);
        assert!(!timed.is_closed_untimed() && closed.is_closed_untimed());
        let next = timed.next(CircuitState::Open).with_trials(1, 1);
        assert!(next.timed(), "kept across periods");
        assert_eq!(next.generation(), 3);
    }
}
