//! [`StageLocation::parse_opts`] against an S3-compatible server on 127.0.0.1: the options
//! alone configure the store (no environment is read), a staged file lands under the URL's
//! prefix, and the keys never show in `Debug` output or errors.

use crate::support;

use std::time::Duration;

use snowdrift_stage::{RetryPolicy, RollPolicy, StageLocation, StageSink};
use support::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use support::{change_batches, read_stage};

fn options(server: &S3Server, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT", server.endpoint()),
        ("aws_allow_http", "true".into()),
        ("Aws_Region", "us-east-1".into()),
        ("aws_access_key_id", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", secret.into()),
        ("NOT_AN_OPTION", "ignored".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_parsed_with_options_stages_files_on_that_server() {
    let server = S3Server::start().await;
    let url = format!("s3://{BUCKET}/landing/customer");
    let location = StageLocation::parse_opts(&url, options(&server, SECRET_KEY)).unwrap();
    assert_eq!(location.prefix(), "landing/customer");
    assert!(!format!("{location:?}").contains(SECRET_KEY));
    let batches = change_batches(3, 1, 200);
    let sink = StageSink::builder(location, batches[0].schema())
        .roll(RollPolicy {
            max_rows: 100,
            ..RollPolicy::default()
        })
        .build()
        .unwrap();
    sink.write(&batches[0]).await.unwrap();
    let summary = sink.close().await.unwrap();
    assert_eq!((summary.rows, summary.files), (200, 2));
    let staged = read_stage(&server.store(), "landing/customer").await;
    assert_eq!(staged.len(), 2, "{staged:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_fails_the_upload_without_showing_it() {
    let server = S3Server::start().await;
    let wrong = "not-the-secret-9876543210";
    let url = format!("s3://{BUCKET}/landing");
    let location = StageLocation::parse_opts(&url, options(&server, wrong)).unwrap();
    let batches = change_batches(4, 1, 10);
    let sink = StageSink::builder(location, batches[0].schema())
        .retry(RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        })
        .build()
        .unwrap();
    let written = sink.write(&batches[0]).await;
    let closed = sink.close().await;
    let error = written
        .err()
        .or(closed.err())
        .expect("the upload is refused");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(wrong), "{shown}");
}
