//! Finished requests waiting for the caller: pushed by the runtime's tasks, taken in batches by a
//! caller that may block (with a deadline) until the first one arrives.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::Completion;

#[derive(Default)]
pub(super) struct Completions {
    queue: Mutex<VecDeque<Completion>>,
    arrived: Condvar,
}

impl Completions {
    pub(super) fn push(&self, completion: Completion) {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).push_back(completion);
        self.arrived.notify_one();
    }

    pub(super) fn take(&self, max_items: usize, wait: Duration) -> Vec<Completion> {
        let deadline = Instant::now().checked_add(wait);
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while queue.is_empty() {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600), // "forever"
            };
            if left.is_zero() {
                return Vec::new();
            }
            queue = self.arrived.wait_timeout(queue, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        let n = max_items.min(queue.len());
        queue.drain(..n).collect()
    }
}
