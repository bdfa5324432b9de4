//! [`FaultStore`]: an `ObjectStore` wrapper for fault tests of anything durable. It can
//!
//! - fail a seeded random share of puts, gets, heads and lists with transient errors (the
//!   same seed fails the same calls, call for call), and
//! - *crash*: let a given number of commit-log puts through (puts whose path has a `log/`
//!   folder), then refuse every later put, as if the process had died right after that
//!   commit. Reopening the warehouse on the inner store is the restart.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// What a [`FaultStore`] does to calls; change it while the store is in use.
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
    held: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// Commit-log puts waiting at the hold now.
    pub waiting: AtomicU64,
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
            rng: Mutex::new(seed.max(1)),
        }
    }

    /// Holds every commit-log put until [`FaultPlan::release_commits`]: the data files of a
    /// commit are written, its log entry waits ([`FaultPlan::waiting`] counts the waiters).
    pub fn hold_commits(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Arc::new(tokio::sync::Semaphore::new(0)));
    }

    /// Lets held and later commit-log puts through.
    pub fn release_commits(&self) {
        if let Some(gate) = self.held.lock().unwrap_or_else(|e| e.into_inner()).take() {
            gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS);
        }
    }

    /// Waits at the hold if `location` is a commit-log entry and commits are held.
    async fn wait_if_held(&self, location: &Path) {
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
    fn get_refused(&self, location: &Path) -> bool {
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

    /// Turns every fault off (after a crash: the restarted process).
    pub fn heal(&self) {
        self.transient_per_mille.store(0, Ordering::SeqCst);
        self.failing_log_puts.store(0, Ordering::SeqCst);
        self.refuse_folder(None);
        self.failing_gets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.log_puts_before_crash.store(-1, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
    }

    fn draw(&self) -> bool {
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
    fn put_refused(&self, location: &Path) -> Option<object_store::Error> {
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
    fn crash_refuses(&self, location: &Path) -> bool {
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

/// The wrapper; see the module documentation.
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    plan: Arc<FaultPlan>,
}

impl FaultStore {
    /// Wraps `inner`; returns the store and its plan.
    pub fn wrap(inner: Arc<dyn ObjectStore>, seed: u64) -> (Arc<dyn ObjectStore>, Arc<FaultPlan>) {
        let plan = Arc::new(FaultPlan::new(seed));
        let store = FaultStore {
            inner,
            plan: plan.clone(),
        };
        (Arc::new(store), plan)
    }
}

fn transient(what: &str, path: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "fault-store",
        source: Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            format!("injected transient failure of {what} {path}"),
        )),
    }
}

fn crashed(path: &Path) -> object_store::Error {
    object_store::Error::PermissionDenied {
        path: path.to_string(),
        source: "injected crash: the process is gone".into(),
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

impl fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.plan.wait_if_held(location).await;
        if let Some(error) = self.plan.put_refused(location) {
            return Err(error);
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if let Some(error) = self.plan.put_refused(location) {
            return Err(error);
        }
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let what = if options.head { "head" } else { "get" };
        if self.plan.get_refused(location) {
            return Err(transient(what, location.as_ref()));
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        if self.plan.draw() {
            return Err(transient("get", location.as_ref()));
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if self.plan.crashed.load(Ordering::SeqCst) {
            return locations.map(|l| l.and_then(|p| Err(crashed(&p)))).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if self.plan.draw() {
            let path = prefix.map(|p| p.to_string()).unwrap_or_default();
            return futures::stream::once(async move { Err(transient("list", &path)) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        if self.plan.draw() {
            let path = prefix.map(|p| p.to_string()).unwrap_or_default();
            return Err(transient("list", &path));
        }
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        if self.plan.crash_refuses(to) {
            return Err(crashed(to));
        }
        self.inner.copy_opts(from, to, options).await
    }
}
