//! Soak: a long run of the whole embedded pipeline (faker → stage → pipe → both merges) over a
//! population that stops growing, with the process's resident memory and the freshness of
//! files sampled every second. Prints one JSON line per second and a summary line at the end
//! (`ci/bench-soak` runs it and draws the plot in `docs/`).
//!
//! ```text
//! cargo run --release --example soak -- --changes 30000000 --population 500000 --rate 100000
//! ```
//!
//! The summary line also gives the SCD-2 merge time per 10,000 changes around one million
//! versions in `customer_history` and in the last tenth of the run (the big-history benchmark).
//!
//! Options: `--changes N` (30,000,000) changes in all, `--population N` (500,000) customers
//! inserted first (afterwards only updates and no-ops: the population stops growing),
//! `--rows N` (10,000) changes per file, `--rate N` (100,000) offered changes per second,
//! `--interval TEXT` ("100 milliseconds") task schedule, `--seed N` (1), `--data DIR`
//! (`./snowdrift-data`) where the run keeps its warehouse and stage (removed at the end
//! unless `--keep`), `--retention-days N` (1) the tables' `DATA_RETENTION_TIME_IN_DAYS`: files
//! no table refers to any more stay that long, so with 1 the disk holds the whole run.

use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use snowdrift::stage::{RollPolicy, StageLocation, StageSink, StagedFile};
use snowdrift::verify::file_latencies;
use snowdrift::warehouse::{LocalWarehouse, PipelineSpec, Schedule, Warehouse, WarehouseExt};
use snowdrift::workloads;

/// One second of the run.
#[derive(Debug, Default, Clone)]
struct Sample {
    seconds: f64,
    changes: u64,
    rss_bytes: u64,
    history_rows: u64,
    /// Latencies of the files that became visible in this second.
    fresh: Vec<Duration>,
    /// SCD-2 merge time per 10,000 changes of the runs that completed in this second.
    merge_ms_per_10k: Option<f64>,
}

impl Sample {
    fn json(&self) -> String {
        let (p50, p99) = percentiles(&self.fresh);
        format!(
            "{{\"t\":{:.1},\"changes\":{},\"rss_mb\":{:.1},\"history_rows\":{},\"files\":{},\"fresh_p50_ms\":{},\"fresh_p99_ms\":{},\"merge_ms_per_10k\":{}}}",
            self.seconds,
            self.changes,
            self.rss_bytes as f64 / 1e6,
            self.history_rows,
            self.fresh.len(),
            p50.map_or("null".into(), |d| d.as_millis().to_string()),
            p99.map_or("null".into(), |d| d.as_millis().to_string()),
            self.merge_ms_per_10k
                .map_or("null".into(), |ms| format!("{ms:.2}")),
        )
    }
}

/// SCD-2 merge time per 10,000 changes over the runs of `task` that completed after `since`
/// (which moves to the last one seen).
async fn merge_cost(
    warehouse: &LocalWarehouse,
    task: &str,
    since: &mut SystemTime,
) -> Result<Option<f64>, Box<dyn Error>> {
    let runs = warehouse.task_history(task).await?;
    let (mut micros, mut rows) = (0u128, 0u64);
    for run in runs.iter().filter(|r| r.rows_consumed > 0) {
        let Some(completed) = run.completed.filter(|c| c > since) else {
            continue;
        };
        micros += completed
            .duration_since(run.started)
            .unwrap_or_default()
            .as_micros();
        rows += run.rows_consumed;
    }
    if let Some(last) = runs.iter().filter_map(|r| r.completed).max() {
        *since = (*since).max(last);
    }
    Ok((rows > 0).then(|| micros as f64 / 1e3 / rows as f64 * 1e4))
}

fn percentiles(values: &[Duration]) -> (Option<Duration>, Option<Duration>) {
    if values.is_empty() {
        return (None, None);
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    (Some(at(0.5)), Some(at(0.99)))
}

/// The resident set size of this process (Linux `/proc`; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// A long run over a population that stops growing, RSS and freshness sampled every second.
#[derive(Debug, Parser)]
struct Options {
    /// Changes in all.
    #[arg(long, default_value_t = 30_000_000)]
    changes: u64,
    /// Customers loaded first.
    #[arg(long, default_value_t = 500_000)]
    population: usize,
    /// Changes per file.
    #[arg(long, default_value_t = 10_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    rows: usize,
    /// Offered changes per second.
    #[arg(long, default_value_t = 100_000.0, value_parser = positive)]
    rate: f64,
    /// The tasks' schedule.
    #[arg(long, default_value = "100 milliseconds", value_parser = schedule)]
    interval: Schedule,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The warehouse root.
    #[arg(long, default_value = snowdrift::warehouse::DEFAULT_ROOT)]
    data: String,
    /// Keep the warehouse after the run.
    #[arg(long)]
    keep: bool,
    /// DATA_RETENTION_TIME_IN_DAYS of the tables.
    #[arg(long, default_value_t = 1)]
    retention_days: u32,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

fn schedule(text: &str) -> Result<Schedule, String> {
    Schedule::parse(text).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let options = Options::parse();
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let folder = std::path::Path::new(&options.data).join(format!("soak-{run_id}"));
    let stage = folder.join("stage");
    let spec = PipelineSpec {
        stage_url: stage.to_str().ok_or("non-UTF-8 path")?.to_owned(),
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        schedule: options.interval.clone(),
        retention_days: Some(options.retention_days),
        ..PipelineSpec::default()
    };
    let root = folder.join("warehouse");
    let warehouse = LocalWarehouse::open(root.to_str().ok_or("non-UTF-8 path")?).await?;
    warehouse.deploy(&spec).await?;
    let mut changes = workloads::steady_population(options.seed, options.rows, options.population)?;
    let sink = StageSink::builder(StageLocation::parse(&spec.stage_url)?, changes.schema())
        .roll(RollPolicy {
            max_rows: options.rows,
            ..RollPolicy::default()
        })
        .build()?;
    let mut announced = sink.subscribe();
    warehouse.forward_notifications(&spec.stage, sink.subscribe());

    let staged_changes = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let files = options.changes.div_ceil(options.rows as u64);
    let produce = {
        let staged_changes = staged_changes.clone();
        async move {
            for i in 0..files {
                let due =
                    start + Duration::from_secs_f64(i as f64 * options.rows as f64 / options.rate);
                tokio::time::sleep_until(due.into()).await;
                let batch = changes.next_batch().batch;
                sink.write(&batch).await?;
                sink.flush().await?;
                staged_changes.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            }
            sink.close().await?;
            Ok::<_, Box<dyn Error + Send + Sync>>(())
        }
    };
    let producer = tokio::spawn(produce);

    let mut pending: Vec<StagedFile> = Vec::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut visible = 0u64;
    let mut merges_since = SystemTime::UNIX_EPOCH;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        while let Ok(file) = announced.try_recv() {
            pending.push(file);
        }
        let latencies: HashMap<String, Duration> = file_latencies(&warehouse, &spec, &pending)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        let mut fresh = Vec::new();
        pending.retain(|f| match latencies.get(&f.path.to_string()) {
            Some(latency) => {
                fresh.push(*latency);
                false
            }
            None => true,
        });
        visible += fresh.len() as u64;
        let sample = Sample {
            seconds: start.elapsed().as_secs_f64(),
            changes: staged_changes.load(Ordering::Relaxed),
            rss_bytes: rss_bytes(),
            history_rows: warehouse.table_storage(&spec.history_table).await?.rows,
            fresh,
            merge_ms_per_10k: merge_cost(&warehouse, &spec.history_task, &mut merges_since).await?,
        };
        println!("{}", sample.json());
        samples.push(sample);
        if producer.is_finished() && pending.is_empty() && visible >= files {
            break;
        }
        if producer.is_finished() && start.elapsed() > Duration::from_secs(3600 * 6) {
            return Err("files still not visible six hours into the run".into());
        }
    }
    producer.await?.map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    warehouse.close().await?;
    let disk = Disk {
        mb: folder_bytes(&root) as f64 / 1e6,
        retention_days: options.retention_days,
    };
    println!("{}", summary(&samples, elapsed, &disk));
    if !options.keep {
        std::fs::remove_dir_all(&folder)?;
    }
    Ok(())
}

/// The warehouse's files at the end of the run.
struct Disk {
    mb: f64,
    retention_days: u32,
}

/// Peak RSS after the first 3M changes and over the run, freshness p99 per tenth, and the
/// warehouse's disk use at the end.
fn summary(samples: &[Sample], elapsed: Duration, disk: &Disk) -> String {
    let peak = |until: u64| {
        samples
            .iter()
            .filter(|s| s.changes <= until)
            .map(|s| s.rss_bytes)
            .max()
            .unwrap_or(0) as f64
            / 1e6
    };
    let total = samples.last().map_or(0, |s| s.changes);
    let tenths: Vec<String> = (0..10)
        .map(|i| {
            let (lo, hi) = (total * i / 10, total * (i + 1) / 10);
            let fresh: Vec<Duration> = samples
                .iter()
                .filter(|s| s.changes > lo && s.changes <= hi)
                .flat_map(|s| s.fresh.iter().copied())
                .collect();
            percentiles(&fresh)
                .1
                .map_or("null".into(), |d| d.as_millis().to_string())
        })
        .collect();
    let median_cost = |keep: &dyn Fn(&Sample) -> bool| {
        let mut costs: Vec<f64> = samples
            .iter()
            .filter(|s| keep(s))
            .filter_map(|s| s.merge_ms_per_10k)
            .collect();
        costs.sort_by(f64::total_cmp);
        costs
            .get(costs.len() / 2)
            .map_or("null".into(), |c| format!("{c:.2}"))
    };
    let last_history = samples.last().map_or(0, |s| s.history_rows);
    // The history around one million versions, against the last tenth of the run.
    let at_1m = median_cost(&|s| (1_000_000..2_000_000).contains(&s.history_rows));
    let at_end = median_cost(&|s| s.history_rows >= last_history / 10 * 9);
    format!(
        "{{\"summary\":true,\"history_rows\":{last_history},\"merge_ms_per_10k_at_1m_versions\":{at_1m},\"merge_ms_per_10k_at_end\":{at_end},\"changes\":{total},\"seconds\":{:.1},\"changes_per_s\":{:.0},\"peak_rss_mb_3m\":{:.1},\"peak_rss_mb\":{:.1},\"fresh_p99_ms_by_tenth\":[{}],\"disk_mb\":{:.1},\"retention_days\":{}}}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        peak(3_000_000),
        peak(u64::MAX),
        tenths.join(","),
        disk.mb,
        disk.retention_days,
    )
}

/// Bytes of the files under `folder`.
fn folder_bytes(folder: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => folder_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
