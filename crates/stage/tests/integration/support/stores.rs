//! ObjectStore wrappers for fault tests: one that fails chosen calls, one that counts puts, and
//! one that holds every put until the test lets it through.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use tokio::sync::Semaphore;

/// What the wrapper does to calls.
#[derive(Default, Debug)]
pub struct Faults {
    /// Fail this many of the next single puts with a transient error.
    pub fail_puts: AtomicUsize,
    /// Fail this many of the next multipart parts with a transient error.
    pub fail_parts: AtomicUsize,
    /// Fail every put with a permanent error while set above zero.
    pub refuse_all: AtomicUsize,
    /// Puts and completed multipart uploads that reached the inner store.
    pub puts: AtomicUsize,
    /// Puts (single or multipart) currently in flight.
    pub in_flight: AtomicUsize,
    /// Most puts in flight at once.
    pub max_in_flight: AtomicUsize,
    /// When set, every put waits for a permit.
    pub gate: Option<Arc<Semaphore>>,
    /// When set, the first multipart part appends a line to this local file (a writer that is
    /// still writing while the file is uploaded).
    pub grow_on_part: std::sync::Mutex<Option<std::path::PathBuf>>,
}

pub struct FaultyStore {
    pub inner: Arc<dyn ObjectStore>,
    pub faults: Arc<Faults>,
}

impl FaultyStore {
    pub fn wrap(
        inner: Arc<dyn ObjectStore>,
        faults: Faults,
    ) -> (Arc<dyn ObjectStore>, Arc<Faults>) {
        let faults = Arc::new(faults);
        (
            Arc::new(FaultyStore {
                inner,
                faults: faults.clone(),
            }),
            faults,
        )
    }
}

fn transient(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "faulty",
        source: Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            format!("injected: {what}"),
        )),
    }
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore")
    }
}

struct InFlight<'a>(&'a Faults);

impl<'a> InFlight<'a> {
    fn enter(faults: &'a Faults) -> Self {
        let now = faults.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        faults.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(faults)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let _flight = InFlight::enter(&self.faults);
        if let Some(gate) = &self.faults.gate {
            gate.acquire().await.unwrap().forget();
        }
        if self.faults.refuse_all.load(Ordering::SeqCst) > 0 {
            return Err(object_store::Error::PermissionDenied {
                path: location.to_string(),
                source: "injected: refused".into(),
            });
        }
        if take_one(&self.faults.fail_puts) {
            return Err(transient("put"));
        }
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.faults.puts.fetch_add(1, Ordering::SeqCst);
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultyUpload {
            inner,
            faults: self.faults.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    faults: Arc<Faults>,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if let Some(path) = self.faults.grow_on_part.lock().unwrap().take() {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            file.write_all(b"one more line\n").unwrap();
        }
        if take_one(&self.faults.fail_parts) {
            return Box::pin(async { Err(transient("part")) });
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.inner.complete().await?;
        self.faults.puts.fetch_add(1, Ordering::SeqCst);
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}
