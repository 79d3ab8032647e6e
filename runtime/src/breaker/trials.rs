//! HALF_OPEN: the trial calls that decide between closing and opening again.
//!
//! A trial belongs to the period (generation) that admitted it: its outcome counts only while
//! that period lasts, so a trial outliving a forced change of state touches nothing after it.

use super::word::GENERATION_BITS;
use super::{CircuitBreaker, CircuitState, Counting, clock};
use crate::sync::{AtomicU64, Ordering};

impl CircuitBreaker {
    pub(super) fn trial_succeeded(&self, generation: u64) {
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen && word.generation() == generation {
            let succeeded = word.completed() + 1;
            let closes = succeeded >= self.settings.half_open();
            let next = if closes {
                // Before CLOSED is published: its first calls count from zero.
                self.clear_counts();
                word.next(CircuitState::Closed)
            } else {
                word.with_trials(word.in_flight().saturating_sub(1), succeeded)
            };
            match self.exchange(word, next) {
                Ok(()) => {
                    if closes {
                        self.transitioned(CircuitState::HalfOpen, CircuitState::Closed);
                    }
                    return;
                }
                Err(current) => word = current,
            }
        }
    }

    /// A trial of a window breaker finished (resilience4j): once `half_open` trials have
    /// completed, their failure and slow rates decide between OPEN and CLOSED.
    pub(super) fn window_trial_finished(
        &self,
        trials: &AtomicU64,
        generation: u64,
        failed: bool,
        slow: bool,
    ) {
        // Counted first, then completed in the word: whoever completes the last trial has seen
        // every other trial's counts through the word's Acquire.
        let add = (u64::from(failed) << TRIAL_FAILED_SHIFT) + u64::from(slow);
        let mut current = trials.load(Ordering::Relaxed);
        loop {
            let tag = current >> TRIAL_TAG_SHIFT;
            let next = if tag == generation {
                current + add
            } else if is_later(generation, tag) {
                (generation << TRIAL_TAG_SHIFT) + add
            } else {
                // A trial of a period already decided.
                return;
            };
            match trials.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        let half_open = self.settings.half_open();
        let failure_rate = self.settings.failure_rate();
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen && word.generation() == generation {
            let completed = word.completed() + 1;
            let (next, to) = if completed >= half_open {
                let (failed, slow) = trial_counts(trials.load(Ordering::Acquire), generation);
                let over =
                    |part: u32, rate: u8| u64::from(part) * 100 >= u64::from(rate) * half_open;
                let reopens = over(failed, failure_rate)
                    || self
                        .settings
                        .slow_rate()
                        .is_some_and(|rate| over(slow, rate));
                if reopens {
                    // Stored before the exchange that publishes OPEN, as in `trip`.
                    self.open_until.store(
                        clock::now().saturating_add(self.settings.reset_nanos()),
                        Ordering::Relaxed,
                    );
                    (word.next(CircuitState::Open), Some(CircuitState::Open))
                } else {
                    // Before CLOSED is published: its first calls count from zero.
                    self.clear_counts();
                    (word.next(CircuitState::Closed), Some(CircuitState::Closed))
                }
            } else {
                (
                    word.with_trials(word.in_flight().saturating_sub(1), completed),
                    None,
                )
            };
            match self.exchange(word, next) {
                Ok(()) => {
                    if let Some(to) = to {
                        self.transitioned(CircuitState::HalfOpen, to);
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// Decides a HALF_OPEN period that has completed its trials with none in flight, as after
    /// `half_open` was lowered: closes it, or for a window reopens it if its trials' rates say
    /// so.
    pub(super) fn settle_half_open(&self) {
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen
            && word.in_flight() == 0
            && word.completed() >= self.settings.half_open()
            && word.completed() > 0
        {
            let reopens = match &self.counting {
                Counting::Consecutive { .. } => false,
                Counting::FailureRate { trials, .. } => {
                    let (failed, slow) =
                        trial_counts(trials.load(Ordering::Acquire), word.generation());
                    let completed = word.completed();
                    let over =
                        |part: u32, rate: u8| u64::from(part) * 100 >= u64::from(rate) * completed;
                    over(failed, self.settings.failure_rate())
                        || self
                            .settings
                            .slow_rate()
                            .is_some_and(|rate| over(slow, rate))
                }
            };
            let to = if reopens {
                self.open_until.store(
                    clock::now().saturating_add(self.settings.reset_nanos()),
                    Ordering::Relaxed,
                );
                CircuitState::Open
            } else {
                self.clear_counts();
                CircuitState::Closed
            };
            match self.exchange(word, word.next(to)) {
                Ok(()) => {
                    self.transitioned(CircuitState::HalfOpen, to);
                    return;
                }
                Err(current) => word = current,
            }
        }
    }

    /// Frees the slot of a trial that was cancelled or that another layer refused.
    pub(super) fn trial_abandoned(&self, generation: u64) {
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen && word.generation() == generation {
            let next = word.with_trials(word.in_flight().saturating_sub(1), word.completed());
            match self.exchange(word, next) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }
}

/// Where a window breaker's trial counts sit in its `trials` word: the period's generation
/// above, failed trials, then slow trials in the low 16 bits.
const TRIAL_TAG_SHIFT: u32 = 32;
const TRIAL_FAILED_SHIFT: u32 = 16;

/// The failed and slow trials of period `generation` in a `trials` word (none if the word is
/// another period's).
pub(super) fn trial_counts(trials: u64, generation: u64) -> (u32, u32) {
    if trials >> TRIAL_TAG_SHIFT != generation {
        return (0, 0);
    }
    #[allow(clippy::cast_possible_truncation)] // 16-bit fields
    let field = |shift: u32| ((trials >> shift) & 0xFFFF) as u32;
    (field(TRIAL_FAILED_SHIFT), field(0))
}

/// Whether generation `a` comes after `b` (generations wrap, see [`GENERATION_BITS`]).
fn is_later(a: u64, b: u64) -> bool {
    let distance = a.wrapping_sub(b) & ((1 << GENERATION_BITS) - 1);
    distance != 0 && distance < (1 << (GENERATION_BITS - 1))
}
