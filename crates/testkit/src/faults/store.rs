//! [`FaultStore`]: the `ObjectStore` wrapper that does what its [`FaultPlan`] says to the calls
//! that pass through it, including the parts of multipart uploads.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

use super::plan::{FaultPlan, crashed, transient};

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
        let _flight = self.plan.enter_put();
        self.plan.wait_at_gate().await;
        self.plan.wait_if_held(location).await;
        if let Some(error) = self.plan.put_refused(location) {
            return Err(error);
        }
        if self.plan.planned_put_failure() {
            return Err(transient("put", location.as_ref()));
        }
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.plan.puts.fetch_add(1, Ordering::SeqCst);
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        if let Some(error) = self.plan.put_refused(location) {
            return Err(error);
        }
        if self.plan.planned_put_failure() {
            return Err(transient("put", location.as_ref()));
        }
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultUpload {
            inner,
            plan: self.plan.clone(),
            location: location.to_string(),
        }))
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

/// A multipart upload through a [`FaultStore`]: its parts can fail as planned, and its
/// completion counts as a put.
#[derive(Debug)]
struct FaultUpload {
    inner: Box<dyn MultipartUpload>,
    plan: Arc<FaultPlan>,
    location: String,
}

#[async_trait]
impl MultipartUpload for FaultUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let grow = self
            .plan
            .grow_on_part
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(path) = grow {
            use std::io::Write as _;
            let appended = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut file| file.write_all(b"one more line\n"));
            if let Err(e) = appended {
                let error = transient("growing", &format!("{}: {e}", path.display()));
                return Box::pin(async move { Err(error) });
            }
        }
        if self.plan.planned_part_failure() {
            let error = transient("part of", &self.location);
            return Box::pin(async move { Err(error) });
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let _flight = self.plan.enter_put();
        let result = self.inner.complete().await?;
        self.plan.puts.fetch_add(1, Ordering::SeqCst);
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}
