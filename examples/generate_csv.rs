//! The original generator's job: files of customers with `customer_id` = row number (0..rows),
//! fresh random attributes in every file, a header line, written one after another — here by
//! the stage sink into a local folder (or any stage URL), each file announced when complete.
//!
//! ```text
//! cargo run --release --example generate_csv -- --files 5 --rows 10000 --out ./generated
//! cargo run --release --example generate_csv -- --out s3://my-bucket/landing   # AWS_* env
//! ```
//! Names are `customer_<YYYYMMDDHHMMSS>_<micros>-<writer>.csv`: the original's
//! `customer_<YYYYMMDDHHMMSS>.csv` collided when two files closed in one second.

use clap::Parser;
use std::error::Error;

use snowdrift::faker::{ChangeStream, EntitySpec};
use snowdrift::stage::{RollPolicy, StageLocation, StageSink, aws_environment};

/// Files of customers as the original generator wrote them.
#[derive(Debug, Parser)]
struct Args {
    /// Files to write.
    #[arg(long, default_value_t = 5)]
    files: usize,
    /// Customers per file (ids 0..rows).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    rows: u64,
    /// A folder or stage URL.
    #[arg(long, default_value = "./generated")]
    out: String,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let Args {
        files,
        rows,
        out,
        seed,
    } = Args::parse();
    let rows = usize::try_from(rows)?;

    let mut customers = ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .classic(rows)
        .build()?;
    let sink = StageSink::builder(
        StageLocation::parse_opts(&out, aws_environment())?,
        customers.schema(),
    )
    .roll(RollPolicy {
        max_rows: rows,
        ..RollPolicy::default()
    })
    .build()?;
    let mut written = sink.subscribe();
    for _ in 0..files {
        sink.write(&customers.next_batch().batch).await?;
    }
    let metrics = sink.close().await?;
    while let Ok(file) = written.try_recv() {
        println!("{}  {} rows  {} bytes", file.path, file.rows, file.size);
    }
    println!(
        "{} files, {} rows, {} bytes into {out}",
        metrics.files, metrics.rows, metrics.bytes
    );
    Ok(())
}
