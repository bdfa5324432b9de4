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

#[path = "support/args.rs"]
mod args;

use args::arg;
use std::error::Error;

use snowdrift::faker::{ChangeStream, EntitySpec};
use snowdrift::stage::{RollPolicy, StageLocation, StageSink};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let files: usize = arg("--files", "5").parse()?;
    let rows: usize = arg("--rows", "10000").parse()?;
    let out = arg("--out", "./generated");
    let seed: u64 = arg("--seed", "1").parse()?;

    let mut customers = ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .classic(rows)
        .build()?;
    let sink = StageSink::builder(StageLocation::parse(&out)?, customers.schema())
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
