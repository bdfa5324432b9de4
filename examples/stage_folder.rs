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

use clap::Parser;
use std::error::Error;
use std::time::Duration;

use snowdrift::stage::{FolderPickup, Stability, StageLocation, aws_environment};

/// Stages the files another program writes into a folder, each exactly once.
#[derive(Debug, Parser)]
struct Args {
    /// The folder to watch.
    #[arg(long, default_value = "./generated")]
    from: String,
    /// The stage (a folder or URL).
    #[arg(long, default_value = "./landing")]
    to: String,
    /// Milliseconds between scans.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// How old (ms) an unchanged file must be to be taken.
    #[arg(long, default_value_t = 1000)]
    min_age_ms: u64,
    /// Upload what is there, then stop.
    #[arg(long)]
    once: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let (from, to, once) = (args.from, args.to, args.once);
    let interval = Duration::from_millis(args.interval_ms);
    let min_age = Duration::from_millis(args.min_age_ms);

    let mut pickup =
        FolderPickup::builder(&from, StageLocation::parse_opts(&to, aws_environment())?)
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
