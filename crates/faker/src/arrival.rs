//! [`OutOfOrder`]: hands generated batches (or files) on in an order different from generation
//! order, as uploads that finish out of order do, so that late changes really happen end to
//! end. Seeded: the same seed, share and delay give the same order.

use std::collections::VecDeque;

use crate::{FakerError, FakerRng, Result};

/// Holds back a share of items and delivers each held one after `delay` newer items.
///
/// ```
/// use snowdrift_faker::OutOfOrder;
/// let mut arrival = OutOfOrder::new(7, 0.3, 2)?; // hold 30% back two places
/// let mut delivered = Vec::new();
/// for item in 0..50 {
///     delivered.extend(arrival.push(item));
/// }
/// delivered.extend(arrival.finish());
/// assert_eq!(delivered.len(), 50);
/// assert!(delivered.windows(2).any(|w| w[0] > w[1])); // some arrive after newer ones
/// # Ok::<(), snowdrift_faker::FakerError>(())
/// ```
#[derive(Debug)]
pub struct OutOfOrder<T> {
    share: f64,
    delay: usize,
    rng: FakerRng,
    held: VecDeque<(usize, T)>,
    pushed: usize,
}

impl<T> OutOfOrder<T> {
    /// Holds back each item with probability `share` (0 to 1) and delivers it once `delay`
    /// newer items (at least 1) were delivered.
    ///
    /// # Errors
    ///
    /// [`FakerError::InvalidOption`] for a share outside 0..=1 or a delay of 0.
    pub fn new(seed: u64, share: f64, delay: usize) -> Result<Self> {
        if !(0.0..=1.0).contains(&share) {
            return Err(FakerError::InvalidOption {
                option: "out_of_order share",
                value: share.to_string(),
                reason: "a share between 0 and 1",
            });
        }
        if delay == 0 {
            return Err(FakerError::InvalidOption {
                option: "out_of_order delay",
                value: "0".into(),
                reason: "at least one newer item before a held one",
            });
        }
        Ok(OutOfOrder {
            share,
            delay,
            rng: FakerRng::from_seed(seed ^ 0x0a11_7e0f_0de5),
            held: VecDeque::new(),
            pushed: 0,
        })
    }

    /// Takes the next item in generation order; returns the items to deliver now, in order.
    pub fn push(&mut self, item: T) -> Vec<T> {
        let index = self.pushed;
        self.pushed += 1;
        let mut out = Vec::new();
        if self.share > 0.0 && self.rng.chance(self.share) {
            self.held.push_back((index + self.delay, item));
        } else {
            out.push(item);
        }
        while self.held.front().is_some_and(|(due, _)| *due <= index) {
            if let Some((_, late)) = self.held.pop_front() {
                out.push(late);
            }
        }
        out
    }

    /// The items still held, oldest first (the end of the stream).
    pub fn finish(self) -> Vec<T> {
        self.held.into_iter().map(|(_, item)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(seed: u64, share: f64, delay: usize, n: usize) -> Vec<usize> {
        let mut arrival = OutOfOrder::new(seed, share, delay).unwrap();
        let mut out: Vec<usize> = (0..n).flat_map(|i| arrival.push(i)).collect();
        out.extend(arrival.finish());
        out
    }

    #[test]
    fn every_item_is_delivered_once_and_a_share_of_zero_keeps_the_order() {
        assert_eq!(deliver(1, 0.0, 3, 10), (0..10).collect::<Vec<_>>());
        let mut shuffled = deliver(1, 0.5, 3, 100);
        assert_ne!(shuffled, (0..100).collect::<Vec<_>>());
        shuffled.sort_unstable();
        assert_eq!(shuffled, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_held_item_comes_after_newer_ones_and_the_same_seed_repeats() {
        let order = deliver(3, 0.3, 2, 40);
        for (at, &item) in order.iter().enumerate() {
            // An item is never more than `delay` newer items late, never early.
            let newer_before = order[..at].iter().filter(|&&x| x > item).count();
            assert!(newer_before <= 2, "{order:?}");
        }
        assert!(order.windows(2).any(|w| w[0] > w[1]));
        assert_eq!(order, deliver(3, 0.3, 2, 40));
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(OutOfOrder::<u8>::new(1, 1.5, 1).is_err());
        assert!(OutOfOrder::<u8>::new(1, 0.5, 0).is_err());
    }
}
