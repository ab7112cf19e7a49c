//! Time as a policy sees it, and the tracker that tells the engine when to look again.
//!
//! The only clock is the evaluation time from the log. `now()` and
//! `action.proposal.elapsed()` return a `Clock`: an integer of milliseconds that remembers
//! it is `slope * now + offset` (slope 1 or -1). Adding or subtracting integers keeps it a
//! `Clock`; comparing it with an integer gives a plain boolean and records the instant at
//! which that comparison's answer would change. The earliest such instant after the
//! evaluation time is when `check` can first answer differently, which is what the engine
//! schedules (`Effects.next_check_at_ms`) instead of polling every open proposal.
//!
//! What the tracker cannot follow (multiplying or dividing a clock, turning it into text
//! or a plain integer, storing it) makes the evaluation "time-opaque": the engine then
//! looks again after `POLICY_OPAQUE_RECHECK_MS` at the latest.

use std::cmp::Ordering;

/// `slope * now + offset`, with its value at the evaluation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub value: i64,
    pub slope: i64,
    pub offset: i64,
}

/// The six comparison operators, as written in the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Comparison {
    /// `a OP b` is `b OP' a`.
    pub fn swapped(self) -> Comparison {
        match self {
            Comparison::Less => Comparison::Greater,
            Comparison::LessOrEqual => Comparison::GreaterOrEqual,
            Comparison::Greater => Comparison::Less,
            Comparison::GreaterOrEqual => Comparison::LessOrEqual,
            same => same,
        }
    }

    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Less => ordering.is_lt(),
            Comparison::LessOrEqual => ordering.is_le(),
            Comparison::Greater => ordering.is_gt(),
            Comparison::GreaterOrEqual => ordering.is_ge(),
            Comparison::Equal => ordering.is_eq(),
            Comparison::NotEqual => ordering.is_ne(),
        }
    }
}

impl Clock {
    /// The evaluation time itself (`now()`).
    pub fn now(now_ms: i64) -> Clock {
        Clock {
            value: now_ms,
            slope: 1,
            offset: 0,
        }
    }

    /// `self + amount`; `None` on overflow.
    pub fn plus(self, amount: i64) -> Option<Clock> {
        Some(Clock {
            value: self.value.checked_add(amount)?,
            slope: self.slope,
            offset: self.offset.checked_add(amount)?,
        })
    }

    /// `-self`; `None` on overflow.
    pub fn negated(self) -> Option<Clock> {
        Some(Clock {
            value: self.value.checked_neg()?,
            slope: -self.slope,
            offset: self.offset.checked_neg()?,
        })
    }

    /// Evaluate `self OP threshold` at `now_ms`, and the first instant after `now_ms` at
    /// which the answer differs, if time can ever change it.
    pub fn compare(
        self,
        comparison: Comparison,
        threshold: i64,
        now_ms: i64,
    ) -> (bool, Option<i64>) {
        let holds = comparison.holds(self.value.cmp(&threshold));
        // slope * t + offset OP k  <=>  t OP' c, with c and OP' below.
        let (comparison, instant) = if self.slope >= 0 {
            (comparison, i128::from(threshold) - i128::from(self.offset))
        } else {
            (
                comparison.swapped(),
                i128::from(self.offset) - i128::from(threshold),
            )
        };
        let now = i128::from(now_ms);
        let flip = match comparison {
            // True until t reaches c.
            Comparison::Less if now < instant => Some(instant),
            Comparison::GreaterOrEqual if now < instant => Some(instant),
            // The answer changes the millisecond after c.
            Comparison::LessOrEqual | Comparison::Greater if now <= instant => Some(instant + 1),
            Comparison::Equal | Comparison::NotEqual if now < instant => Some(instant),
            Comparison::Equal | Comparison::NotEqual if now == instant => Some(instant + 1),
            _ => None,
        };
        (holds, flip.and_then(|at| i64::try_from(at).ok()))
    }
}

/// What one evaluation's `check` did with time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    /// The earliest instant after the evaluation time at which a comparison flips.
    pub earliest_flip_ms: Option<i64>,
    /// A clock value went somewhere the tracker cannot follow.
    pub opaque: bool,
}

impl Tracker {
    pub fn flip_at(&mut self, instant_ms: i64) {
        self.earliest_flip_ms = Some(match self.earliest_flip_ms {
            Some(earliest) => earliest.min(instant_ms),
            None => instant_ms,
        });
    }

    /// When the engine should evaluate again, if the answer can change with time.
    pub fn next_check_at_ms(&self, now_ms: u64) -> Option<u64> {
        let flip = self
            .earliest_flip_ms
            .and_then(|instant| u64::try_from(instant).ok())
            .filter(|instant| *instant > now_ms);
        if self.opaque {
            let recheck = now_ms.saturating_add(super::limits::POLICY_OPAQUE_RECHECK_MS);
            Some(flip.map_or(recheck, |flip| flip.min(recheck)))
        } else {
            flip
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn elapsed_greater_than_flips_the_millisecond_after_the_threshold() {
        // elapsed() at 1 day, proposed at 1_000: elapsed() > 2 days first holds at
        // 1_000 + 2 days + 1.
        let proposed = 1_000;
        let now = proposed + DAY;
        let elapsed = Clock {
            value: now - proposed,
            slope: 1,
            offset: -proposed,
        };
        assert_eq!(
            elapsed.compare(Comparison::Greater, 2 * DAY, now),
            (false, Some(proposed + 2 * DAY + 1))
        );
        assert_eq!(
            elapsed.compare(Comparison::GreaterOrEqual, 2 * DAY, now),
            (false, Some(proposed + 2 * DAY))
        );
        assert_eq!(
            elapsed.compare(Comparison::Less, 2 * DAY, now),
            (true, Some(proposed + 2 * DAY))
        );
        // Already past: nothing left to change.
        assert_eq!(elapsed.compare(Comparison::Greater, 0, now), (true, None));
    }

    #[test]
    fn negated_clocks_count_down() {
        // deadline - now() <= 0, deadline at 5_000, now 1_000.
        let remaining = Clock::now(1_000).negated().unwrap().plus(5_000).unwrap();
        assert_eq!(remaining.value, 4_000);
        assert_eq!(
            remaining.compare(Comparison::LessOrEqual, 0, 1_000),
            (false, Some(5_000))
        );
    }

    #[test]
    fn opaque_evaluations_come_back_within_the_recheck_interval() {
        let mut tracker = Tracker::default();
        tracker.flip_at(10_000_000);
        assert_eq!(tracker.next_check_at_ms(1_000), Some(10_000_000));
        tracker.opaque = true;
        assert_eq!(
            tracker.next_check_at_ms(1_000),
            Some(1_000 + super::super::limits::POLICY_OPAQUE_RECHECK_MS)
        );
    }
}
