//! NiFi's part in the original (ListFile → FetchFile → PutS3Object): watch a local folder and
//! upload every complete CSV file to a stage exactly once, remembering what was uploaded in a
//! journal so that a restart neither uploads a file again nor misses one.
//!
//! ```text
//! cargo run --release --example stage_folder -- --from ./generated --to ./landing --once
//! cargo run --release --example stage_folder -- --from ./outbox --to s3://my-bucket/landing
//! ```
//! Without `--once` it scans every `--interval-ms` (1000) until Ctrl-C. Files must keep their
//! size and modification time between two scans and be at least `--min-age-ms` (1000) old.

#[path = "support/args.rs"]
mod args;

use args::{arg, flag};
use std::error::Error;
use std::time::Duration;

use snowdrift::stage::{FolderPickup, Stability, StageLocation};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let from = arg("--from", "./generated");
    let to = arg("--to", "./landing");
    let interval = Duration::from_millis(arg("--interval-ms", "1000").parse()?);
    let min_age = Duration::from_millis(arg("--min-age-ms", "1000").parse()?);
    let once = flag("--once");

    let mut pickup = FolderPickup::builder(&from, StageLocation::parse(&to)?)
        .pattern("*.csv*")
        .stability(Stability { min_age })
        .build()?;
    if once {
        // A file is taken once it looks the same in two scans and is old enough.
        let mut uploaded = 0;
        loop {
            let report = pickup.scan().await?;
            uploaded += report.uploaded.len();
            for file in &report.uploaded {
                println!("uploaded {} ({} bytes)", file.path, file.size);
            }
            for (path, error) in &report.failed {
                eprintln!("not uploaded {}: {error}", path.display());
            }
            if report.waiting.is_empty() {
                println!(
                    "{uploaded} uploaded, {} uploaded before",
                    report.already_uploaded
                );
                return Ok(());
            }
            tokio::time::sleep(interval.min(min_age)).await;
        }
    }
    println!(
        "watching {from} → {to} every {} ms; Ctrl-C to stop",
        interval.as_millis()
    );
    let uploaded = pickup
        .run_until(interval, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    println!("{uploaded} files uploaded");
    Ok(())
}
