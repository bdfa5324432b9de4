//! An S3-compatible server on 127.0.0.1 for tests: the s3s-fs crate's file-system backed S3
//! service, run inside the test process, that can be stopped and started again on the same port
//! with its data intact.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The server's access key id.
pub const ACCESS_KEY: &str = "snowdrift-test";
/// The server's secret key (tests check it never shows in output).
pub const SECRET_KEY: &str = "snowdrift-test-secret-0123456789";
/// The bucket the server starts with.
pub const BUCKET: &str = "stage";

/// A running (or stopped) S3-compatible server.
#[derive(Debug)]
pub struct S3Server {
    /// Where it listens.
    pub addr: SocketAddr,
    root: tempfile::TempDir,
    server: Option<JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server on a free port with an empty bucket `stage`.
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Some(serve(listener, root.path().to_owned()));
        S3Server { addr, root, server }
    }

    /// Stops accepting and drops every open connection: the server is gone.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Starts again on the same port, with the same data.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.server = Some(serve(listener, self.root.path().to_owned()));
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An object_store client for the bucket, with short internal retries so tests that take
    /// the server away finish quickly.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(2),
        };
        Arc::new(
            AmazonS3Builder::new()
                .with_client_options(ClientOptions::new().with_timeout(Duration::from_secs(5)))
                .with_endpoint(self.endpoint())
                .with_allow_http(true)
                .with_bucket_name(BUCKET)
                .with_region("us-east-1")
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .with_retry(retry)
                .build()
                .unwrap(),
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

fn serve(listener: TcpListener, root: PathBuf) -> JoinHandle<()> {
    let fs = s3s_fs::FileSystem::new(root).unwrap();
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            connections.spawn(async move {
                let http = ConnBuilder::new(TokioExecutor::new());
                let _ = http.serve_connection(TokioIo::new(socket), service).await;
            });
            while connections.try_join_next().is_some() {}
        }
    })
}
