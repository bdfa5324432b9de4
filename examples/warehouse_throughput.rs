//! The embedded warehouse under load, two measurements:
//!
//! 1. **Throughput**: `--rows` customer changes already staged as CSV files of `--file-rows`;
//!    from creating the pipe until `customer_history` is up to date (pipe loads, SCD-1 and
//!    SCD-2 merges on a 100 ms schedule), in rows/s; `--repeat` runs (3), each on a fresh
//!    warehouse, and their median.
//! 2. **Freshness**: a file of `--fresh-rows` rows lands every `--every-ms` for `--seconds`;
//!    for each file, the time from its upload completing to the end of the history merge that
//!    includes it; p50 / p99 / max.
//!
//! ```text
//! cargo run --release --example warehouse_throughput -- --rows 1000000 --out /tmp/whb
//! ```
//! Prints one JSON line per measurement, and leaves `customer_history` as an Arrow IPC file in
//! `<out>/customer_history.arrow` (ci/bench-warehouse opens it with Polars).

use clap::Parser;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use snowdrift::faker::{ChangeStream, EntitySpec};
use snowdrift::stage::{RollPolicy, StageLocation, StageSink, StagedFile};
use snowdrift::verify::freshness;
use snowdrift::warehouse::{
    CreateMode, LocalWarehouse, ObjectDef, PipelineSpec, Schedule, TaskAction, Warehouse,
    WarehouseExt,
};

fn changes(seed: u64, batch: usize, population: usize) -> Result<ChangeStream, Box<dyn Error>> {
    Ok(ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(batch)
        .initial_population(population)
        .operation_column(Some("op"))
        .event_time_column(None)
        .late_rate(0.0)
        .parallel(true)
        .build()?)
}

fn spec(stage: &Path) -> Result<PipelineSpec, Box<dyn Error>> {
    Ok(PipelineSpec {
        stage_url: stage.to_str().ok_or("non-UTF-8 path")?.to_owned(),
        operation_column: Some("op".into()),
        schedule: Schedule::Interval(Duration::from_millis(100)),
        ..PipelineSpec::default()
    })
}

/// Stages `rows` changes into `stage` as files of `file_rows` (not timed).
async fn stage_files(stage: &Path, rows: usize, file_rows: usize) -> Result<u64, Box<dyn Error>> {
    let mut stream = changes(42, file_rows, rows / 10)?;
    let sink = StageSink::builder(
        StageLocation::parse(stage.to_str().ok_or("path")?)?,
        stream.schema(),
    )
    .roll(RollPolicy {
        max_rows: file_rows,
        ..RollPolicy::default()
    })
    .writer_id(1)
    .build()?;
    for _ in 0..rows.div_ceil(file_rows) {
        sink.write(&stream.next_batch().batch).await?;
    }
    Ok(sink.close().await?.files)
}

async fn caught_up(
    warehouse: &LocalWarehouse,
    spec: &PipelineSpec,
    files: usize,
) -> Result<bool, Box<dyn Error>> {
    Ok(
        warehouse.copy_history(&spec.raw_table).await?.len() >= files
            && !warehouse.pipeline_has_data(spec).await?,
    )
}

async fn throughput(out: &Path, rows: usize, file_rows: usize) -> Result<f64, Box<dyn Error>> {
    let stage = out.join("throughput-stage");
    let root = out.join("throughput-warehouse");
    let _ = std::fs::remove_dir_all(&stage);
    let _ = std::fs::remove_dir_all(&root);
    let files = stage_files(&stage, rows, file_rows).await? as usize;
    let spec = spec(&stage)?;
    let warehouse = LocalWarehouse::open(root.to_str().ok_or("path")?).await?;
    let objects = spec.objects();
    let (pipe, rest): (Vec<ObjectDef>, Vec<ObjectDef>) = objects
        .into_iter()
        .partition(|o| matches!(o, ObjectDef::Pipe(_)));
    for object in rest {
        warehouse.create(object, CreateMode::Create).await?;
    }
    for task in spec.tasks_children_first() {
        warehouse.alter_task(&task, TaskAction::Resume).await?;
    }
    let start = Instant::now();
    for object in pipe {
        warehouse.create(object, CreateMode::Create).await?; // a new pipe loads what is staged
    }
    while !caught_up(&warehouse, &spec, files).await? {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    if std::env::var_os("WAREHOUSE_TRACE").is_some() {
        let t0 = SystemTime::now() - start.elapsed();
        let at = |t: SystemTime| t.duration_since(t0).unwrap_or_default().as_secs_f64();
        for task in [&spec.current_task, &spec.history_task] {
            for r in warehouse
                .task_history(task)
                .await?
                .iter()
                .filter(|r| r.rows_consumed > 0)
            {
                eprintln!(
                    "{task}: {:.3}..{:.3} consumed {} wrote {}",
                    at(r.started),
                    r.completed.map_or(0.0, at),
                    r.rows_consumed,
                    r.rows_written
                );
            }
        }
        let loads = warehouse.copy_history(&spec.raw_table).await?;
        for chunk in loads.chunks(64) {
            eprintln!(
                "loaded {} files by {:.3}",
                chunk.len(),
                at(chunk.last().map_or(t0, |l| l.load_time))
            );
        }
    }
    let history = warehouse.table(&spec.history_table).await?.num_rows();
    let exported = warehouse
        .export_ipc(&spec.history_table, &out.join("customer_history.arrow"))
        .await?;
    assert_eq!(exported, history);
    let runs = warehouse.task_history(&spec.current_task).await?;
    let merges = runs.iter().filter(|r| r.rows_consumed > 0).count();
    println!(
        "{{\"measure\": \"throughput\", \"rows\": {rows}, \"files\": {files}, \"seconds\": {seconds:.3}, \
         \"rows_per_s\": {:.0}, \"history_rows\": {history}, \"scd1_merges\": {merges}}}",
        rows as f64 / seconds
    );
    warehouse.close().await?;
    Ok(rows as f64 / seconds)
}

async fn measure_freshness(
    out: &Path,
    fresh_rows: usize,
    every: Duration,
    seconds: u64,
) -> Result<(), Box<dyn Error>> {
    let stage = out.join("freshness-stage");
    let root = out.join("freshness-warehouse");
    let _ = std::fs::remove_dir_all(&stage);
    let _ = std::fs::remove_dir_all(&root);
    let spec = spec(&stage)?;
    let warehouse = LocalWarehouse::open(root.to_str().ok_or("path")?).await?;
    warehouse.deploy(&spec).await?;
    let mut stream = changes(43, fresh_rows, 50_000)?;
    let sink = StageSink::builder(
        StageLocation::parse(stage.to_str().ok_or("path")?)?,
        stream.schema(),
    )
    .roll(RollPolicy {
        max_rows: fresh_rows,
        ..RollPolicy::default()
    })
    .writer_id(2)
    .build()?;
    let mut landed_rx = sink.subscribe();
    warehouse.forward_notifications(&spec.stage, sink.subscribe());
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut ticker = tokio::time::interval(every);
    let mut sent = 0;
    while Instant::now() < end {
        ticker.tick().await;
        sink.write(&stream.next_batch().batch).await?;
        sent += 1;
    }
    sink.close().await?;
    let mut landed: Vec<StagedFile> = Vec::new();
    while let Ok(file) = landed_rx.try_recv() {
        landed.push(file);
    }
    while !caught_up(&warehouse, &spec, landed.len()).await? {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fresh = freshness(&warehouse, &spec, &landed)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no file reached the history")?;
    println!(
        "{{\"measure\": \"freshness\", \"files\": {sent}, \"measured\": {}, \"rows_per_file\": {fresh_rows}, \
         \"every_ms\": {}, \"task_interval_ms\": 100, \"p50_ms\": {}, \"p99_ms\": {}, \"max_ms\": {}}}",
        fresh.files,
        every.as_millis(),
        fresh.p50.as_millis(),
        fresh.p99.as_millis(),
        fresh.max.as_millis()
    );
    warehouse.close().await?;
    Ok(())
}

/// The warehouse's load and merge throughput, and freshness under a steady trickle.
#[derive(Debug, Parser)]
struct Args {
    /// Rows for the throughput runs.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Rows per file.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    file_rows: u64,
    /// Rows per file of the freshness run.
    #[arg(long, default_value_t = 1000)]
    fresh_rows: usize,
    /// Milliseconds between files of the freshness run.
    #[arg(long, default_value_t = 50)]
    every_ms: u64,
    /// Seconds of the freshness run.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Where the files go.
    #[arg(long, default_value = ".cache/bench-warehouse")]
    out: PathBuf,
    /// Throughput runs (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let (rows, fresh_rows, seconds, out) = (args.rows, args.fresh_rows, args.seconds, args.out);
    let file_rows = usize::try_from(args.file_rows)?;
    let every = Duration::from_millis(args.every_ms);
    std::fs::create_dir_all(&out)?;
    let repeat = usize::try_from(args.repeat)?;
    let mut rates = Vec::new();
    for _ in 0..repeat.max(1) {
        rates.push(throughput(&out, rows, file_rows).await?);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{{\"measure\": \"throughput_median\", \"rows\": {rows}, \"runs\": {}, \"median_rows_per_s\": {:.0}, \"min_rows_per_s\": {:.0}, \"max_rows_per_s\": {:.0}}}",
        rates.len(),
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1]
    );
    measure_freshness(&out, fresh_rows, every, seconds).await?;
    Ok(())
}
