//! CSV staging throughput: encodes `--rows` customers (the original generator's 8 columns) and
//! writes them through a `StageSink` into a local folder, best of five, and writes the same rows
//! to `<out>/input.csv` so that `ci/peers/stage_peer.py` can time Python's csv module and Polars
//! on them in the same run.
//!
//! ```text
//! cargo run --release --example stage_throughput -- --rows 1000000 --out .cache/bench-stage
//! ```
//! Prints one JSON line per case.

use clap::Parser;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::RecordBatch;
use snowdrift::faker::{ChangeStream, EntitySpec};
use snowdrift::stage::{CsvEncoder, CsvFormat, RollPolicy, StageLocation, StageSink};

const BATCH_ROWS: usize = 100_000;

fn customers(rows: usize) -> Result<Vec<RecordBatch>, Box<dyn Error>> {
    let per_batch = rows.min(BATCH_ROWS);
    let stream = ChangeStream::builder(EntitySpec::customer())
        .seed(42)
        .classic(per_batch)
        .parallel(true)
        .build()?;
    Ok(stream
        .take(rows.div_ceil(per_batch))
        .map(|b| b.batch)
        .collect())
}

fn folder_bytes(folder: &Path) -> u64 {
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

async fn stage_once(
    batches: &[RecordBatch],
    folder: &Path,
    roll: RollPolicy,
) -> Result<(f64, u64, u64), Box<dyn Error>> {
    let _ = std::fs::remove_dir_all(folder);
    let location = StageLocation::parse(folder.to_str().ok_or("non-UTF-8 path")?)?;
    let start = Instant::now();
    let sink = StageSink::builder(location, batches[0].schema())
        .roll(roll)
        .writer_id(1)
        .build()?;
    for batch in batches {
        sink.write(batch).await?;
    }
    let metrics = sink.close().await?;
    let seconds = start.elapsed().as_secs_f64();
    Ok((seconds, metrics.files, folder_bytes(folder)))
}

fn report(case: &str, rows: usize, bytes: u64, files: u64, seconds: f64) {
    println!(
        "{{\"engine\": \"snowdrift\", \"case\": \"{case}\", \"rows\": {rows}, \"bytes\": {bytes}, \"files\": {files}, \
         \"seconds\": {seconds:.4}, \"rows_per_s\": {:.0}, \"mb_per_s\": {:.1}}}",
        rows as f64 / seconds,
        bytes as f64 / seconds / 1e6
    );
}

/// Staging throughput against the CSV peers.
#[derive(Debug, Parser)]
struct Args {
    /// Rows to stage.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Where the files go.
    #[arg(long, default_value = ".cache/bench-stage")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let Args { rows, out } = Args::parse();
    std::fs::create_dir_all(&out)?;
    let batches = customers(rows)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut input = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(std::fs::File::create(out.join("input.csv"))?);
    for batch in &batches {
        input.write(batch)?;
    }
    drop(input);

    let encoder = CsvEncoder::new(batches[0].schema(), CsvFormat::new())?;
    let (mut best, mut bytes) = (f64::MAX, 0);
    for _ in 0..5 {
        let start = Instant::now();
        bytes = batches
            .iter()
            .map(|b| encoder.encode(b).map(|e| e.bytes.len() as u64))
            .sum::<Result<u64, _>>()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    report("encode only (memory)", rows, bytes, 0, best);

    let cases = [
        (
            "sink to local folder, 64 MiB files",
            RollPolicy {
                max_rows: usize::MAX,
                ..RollPolicy::default()
            },
        ),
        (
            "sink to local folder, 10,000-row files",
            RollPolicy::default(),
        ),
    ];
    for (case, roll) in cases {
        let (mut best, mut files, mut bytes) = (f64::MAX, 0, 0);
        for _ in 0..5 {
            let (seconds, f, b) = stage_once(&batches, &out.join("staged"), roll).await?;
            (best, files, bytes) = (best.min(seconds), f, b);
        }
        report(case, rows, bytes, files, best);
    }
    std::fs::remove_dir_all(out.join("staged"))?;
    Ok(())
}
