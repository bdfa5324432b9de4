//! [`FaultPlan`]: what a [`FaultStore`](super::FaultStore) does to the calls it sees, changed
//! by the test while the store is in use.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use object_store::path::Path;
use tokio::sync::Semaphore;

/// What a [`FaultStore`](super::FaultStore) does to calls; change it while the store is in use.
#[derive(Debug)]
pub struct FaultPlan {
    /// Per mille of puts, gets, heads and lists failed with a transient error.
    pub transient_per_mille: AtomicU64,
    /// Commit-log puts still let through before the crash; negative: no crash planned.
    pub log_puts_before_crash: AtomicI64,
    /// Whether the crash happened (every put is refused from then on).
    pub crashed: AtomicBool,
    /// The next this many commit-log puts fail with a transient error.
    pub failing_log_puts: AtomicU64,
    /// Every put into a folder of this name fails (for example `checkpoint`).
    pub refused_folder: Mutex<Option<String>>,
    /// Gets of paths ending with the text fail transiently, the given number of times more.
    pub failing_gets: Mutex<Vec<(String, u64)>>,
    /// Calls failed on purpose so far.
    pub injected: AtomicU64,
    /// While set, commit-log puts wait here (a commit held in the middle of its writes).
    held: Mutex<Option<Arc<Semaphore>>>,
    /// Commit-log puts waiting at the hold now.
    pub waiting: AtomicU64,
    /// The next this many puts (of any path, single or the start of a multipart upload) fail
    /// with a transient error.
    pub failing_puts: AtomicU64,
    /// The next this many parts of multipart uploads fail with a transient error.
    pub failing_parts: AtomicU64,
    /// Puts and completed multipart uploads that reached the inner store.
    pub puts: AtomicU64,
    /// Puts (single or multipart) in flight now.
    pub in_flight: AtomicU64,
    /// Most puts in flight at once so far.
    pub max_in_flight: AtomicU64,
    /// While set, every put waits for a permit of this gate ([`FaultPlan::gate_puts`]).
    gate: Mutex<Option<Arc<Semaphore>>>,
    /// While set, the next multipart part first appends a line to this local file (a writer
    /// still writing a file that is being uploaded).
    pub grow_on_part: Mutex<Option<PathBuf>>,
    rng: Mutex<u64>,
}

impl FaultPlan {
    /// No faults; random ones drawn from `seed` once enabled.
    pub fn new(seed: u64) -> Self {
        FaultPlan {
            transient_per_mille: AtomicU64::new(0),
            log_puts_before_crash: AtomicI64::new(-1),
            crashed: AtomicBool::new(false),
            failing_log_puts: AtomicU64::new(0),
            refused_folder: Mutex::new(None),
            failing_gets: Mutex::new(Vec::new()),
            injected: AtomicU64::new(0),
            held: Mutex::new(None),
            waiting: AtomicU64::new(0),
            failing_puts: AtomicU64::new(0),
            failing_parts: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            gate: Mutex::new(None),
            grow_on_part: Mutex::new(None),
            rng: Mutex::new(seed.max(1)),
        }
    }

    /// Holds every commit-log put until [`FaultPlan::release_commits`]: the data files of a
    /// commit are written, its log entry waits ([`FaultPlan::waiting`] counts the waiters).
    pub fn hold_commits(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Semaphore::new(0)));
    }

    /// Lets held and later commit-log puts through.
    pub fn release_commits(&self) {
        if let Some(gate) = self.held.lock().unwrap_or_else(|e| e.into_inner()).take() {
            gate.add_permits(Semaphore::MAX_PERMITS);
        }
    }

    /// Waits at the hold if `location` is a commit-log entry and commits are held.
    pub(super) async fn wait_if_held(&self, location: &Path) {
        if !location.parts().any(|p| p.as_ref() == "log") {
            return;
        }
        let gate = self.held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(gate) = gate {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _ = gate.acquire().await;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Plans a crash right after `commits` more commit-log puts.
    pub fn crash_after_commits(&self, commits: i64) {
        self.log_puts_before_crash.store(commits, Ordering::SeqCst);
    }

    /// Fails the next `n` commit-log puts with a transient error.
    pub fn fail_next_commits(&self, n: u64) {
        self.failing_log_puts.store(n, Ordering::SeqCst);
    }

    /// Refuses every put into a folder named `folder` (`None`: none).
    pub fn refuse_folder(&self, folder: Option<&str>) {
        *self
            .refused_folder
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = folder.map(str::to_owned);
    }

    /// Fails the next `n` gets of every path ending with `suffix`.
    pub fn fail_gets_of(&self, suffix: &str, n: u64) {
        self.failing_gets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((suffix.to_owned(), n));
    }

    /// Whether this get of `location` is one planned to fail.
    pub(super) fn get_refused(&self, location: &Path) -> bool {
        let mut planned = self.failing_gets.lock().unwrap_or_else(|e| e.into_inner());
        let hit = planned
            .iter_mut()
            .find(|(suffix, left)| *left > 0 && location.as_ref().ends_with(suffix.as_str()));
        match hit {
            Some((_, left)) => {
                *left -= 1;
                self.injected.fetch_add(1, Ordering::SeqCst);
                true
            }
            None => self.draw(),
        }
    }

    /// Makes every put wait for a permit of `gate` (a store that holds writes back until the
    /// test lets them through); `None` lets them go again.
    pub fn gate_puts(&self, gate: Option<Arc<Semaphore>>) {
        *self.gate.lock().unwrap_or_else(|e| e.into_inner()) = gate;
    }

    /// Waits for a permit if puts are gated.
    pub(super) async fn wait_at_gate(&self) {
        let gate = self.gate.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(gate) = gate
            && let Ok(permit) = gate.acquire().await
        {
            permit.forget();
        }
    }

    /// Whether this put is one of the next [`FaultPlan::failing_puts`].
    pub(super) fn planned_put_failure(&self) -> bool {
        take_one(&self.failing_puts, &self.injected)
    }

    /// Whether this multipart part is one of the next [`FaultPlan::failing_parts`].
    pub(super) fn planned_part_failure(&self) -> bool {
        take_one(&self.failing_parts, &self.injected)
    }

    /// Counts a put in flight until the guard drops.
    pub(super) fn enter_put(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// Turns every fault off (after a crash: the restarted process).
    pub fn heal(&self) {
        self.transient_per_mille.store(0, Ordering::SeqCst);
        self.failing_log_puts.store(0, Ordering::SeqCst);
        self.failing_puts.store(0, Ordering::SeqCst);
        self.failing_parts.store(0, Ordering::SeqCst);
        self.refuse_folder(None);
        self.failing_gets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.log_puts_before_crash.store(-1, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
    }

    pub(super) fn draw(&self) -> bool {
        let per_mille = self.transient_per_mille.load(Ordering::SeqCst);
        if per_mille == 0 {
            return false;
        }
        let mut state = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        // xorshift64: small, seeded, the same sequence for the same seed.
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let hit = *state % 1000 < per_mille;
        if hit {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }

    /// Whether a put to `location` fails on purpose: refused by the crash or a refused
    /// folder, or a planned transient failure of a commit-log put.
    pub(super) fn put_refused(&self, location: &Path) -> Option<object_store::Error> {
        if self.crash_refuses(location) {
            return Some(crashed(location));
        }
        let folder = self
            .refused_folder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if folder.is_some_and(|f| location.parts().any(|p| p.as_ref() == f)) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Some(transient("put", location.as_ref()));
        }
        let is_log = location.parts().any(|p| p.as_ref() == "log");
        let planned = is_log
            && self
                .failing_log_puts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if planned || self.draw() {
            self.injected
                .fetch_add(u64::from(planned), Ordering::SeqCst);
            return Some(transient("put", location.as_ref()));
        }
        None
    }

    /// Whether a put to `location` is refused by the crash (and counts the log put).
    pub(super) fn crash_refuses(&self, location: &Path) -> bool {
        if self.crashed.load(Ordering::SeqCst) {
            return true;
        }
        let is_log = location.parts().any(|p| p.as_ref() == "log");
        if !is_log {
            return false;
        }
        let left = self.log_puts_before_crash.load(Ordering::SeqCst);
        if left < 0 {
            return false;
        }
        if left == 0 {
            self.crashed.store(true, Ordering::SeqCst);
            return true;
        }
        self.log_puts_before_crash.store(left - 1, Ordering::SeqCst);
        false
    }
}

/// A transient failure of `what` on `path`, as a flaky network gives.
pub(super) fn transient(what: &str, path: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "fault-store",
        source: Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            format!("injected transient failure of {what} {path}"),
        )),
    }
}

/// The refusal of every call after the planned crash.
pub(super) fn crashed(path: &Path) -> object_store::Error {
    object_store::Error::PermissionDenied {
        path: path.to_string(),
        source: "injected crash: the process is gone".into(),
    }
}

/// A put in flight, counted in [`FaultPlan::in_flight`] until dropped.
pub(super) struct InFlight<'a>(&'a FaultPlan);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes one from `counter` if it is above zero (and counts the injected fault).
fn take_one(counter: &AtomicU64, injected: &AtomicU64) -> bool {
    let hit = counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if hit {
        injected.fetch_add(1, Ordering::SeqCst);
    }
    hit
}
