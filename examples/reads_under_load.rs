//! Reads under load: the latency of `row_count` and of a whole-table `query` of
//! `customer_history` on the embedded warehouse, first with the pipeline idle, then while
//! files land back to back and both merges run all the time. Reads are served from the last
//! committed version, so they should not depend on the merge in progress. Prints one JSON
//! line per phase.
//!
//! ```text
//! cargo run --release --example reads_under_load -- --population 200000 --rows 10000 --seconds 20
//! ```

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use snowdrift::stage::{RollPolicy, StageLocation, StageSink};
use snowdrift::warehouse::{LocalWarehouse, PipelineSpec, Schedule, Warehouse, WarehouseExt};
use snowdrift::workloads;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// Times `count` calls of row_count and `queries` whole-table queries of the history.
async fn measure(
    warehouse: &LocalWarehouse,
    spec: &PipelineSpec,
    phase: &str,
    seconds: f64,
) -> Result<(), Box<dyn Error>> {
    let (mut counts, mut queries, mut per_million) = (Vec::new(), Vec::new(), Vec::new());
    let mut rows = 0;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        for _ in 0..20 {
            let started = Instant::now();
            warehouse.row_count(&spec.history_table).await?;
            counts.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        rows = warehouse.table(&spec.history_table).await?.num_rows();
        let took = started.elapsed();
        queries.push(took);
        // The history grows while merges run: the time per million rows read compares phases.
        per_million.push(took.mul_f64(1e6 / rows.max(1) as f64));
    }
    counts.sort_unstable();
    queries.sort_unstable();
    per_million.sort_unstable();
    println!(
        "{{\"phase\":\"{phase}\",\"history_rows\":{rows},\"counts\":{},\"count_p50_ms\":{:.3},\"count_p99_ms\":{:.3},\"queries\":{},\"query_p50_ms\":{:.1},\"query_p99_ms\":{:.1},\"query_ms_per_million_rows_p50\":{:.1},\"query_ms_per_million_rows_p99\":{:.1}}}",
        counts.len(),
        percentile(&counts, 0.5),
        percentile(&counts, 0.99),
        queries.len(),
        percentile(&queries, 0.5),
        percentile(&queries, 0.99),
        percentile(&per_million, 0.5),
        percentile(&per_million, 0.99),
    );
    Ok(())
}

/// Read latency while merges run.
#[derive(Debug, Parser)]
struct Args {
    /// Customers loaded first.
    #[arg(long, default_value_t = 200_000)]
    population: usize,
    /// Changes per file while reads run.
    #[arg(long, default_value_t = 10_000)]
    rows: usize,
    /// How long to measure.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let Args {
        population,
        rows,
        seconds,
    } = Args::parse();
    let dir = tempfile::tempdir()?;
    let spec = PipelineSpec {
        stage_url: dir
            .path()
            .join("stage")
            .to_str()
            .ok_or("non-UTF-8 path")?
            .into(),
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        schedule: Schedule::parse("100 milliseconds")?,
        ..PipelineSpec::default()
    };
    let warehouse = Arc::new(
        LocalWarehouse::open(dir.path().join("wh").to_str().ok_or("non-UTF-8 path")?).await?,
    );
    warehouse.deploy(&spec).await?;
    let mut changes = workloads::steady_population(3, rows, population)?;
    let sink = StageSink::builder(StageLocation::parse(&spec.stage_url)?, changes.schema())
        .roll(RollPolicy {
            max_rows: rows,
            ..RollPolicy::default()
        })
        .build()?;
    warehouse.forward_notifications(&spec.stage, sink.subscribe());
    // The population, then twice as many updates: a history of about three versions a key.
    let initial = 3 * population.div_ceil(rows);
    for _ in 0..initial {
        sink.write(&changes.next_batch().batch).await?;
        sink.flush().await?;
    }
    while warehouse.copy_history(&spec.raw_table).await?.len() < initial
        || warehouse.stream_has_data(&spec.raw_stream).await?
        || warehouse.stream_has_data(&spec.current_stream).await?
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    measure(&warehouse, &spec, "idle", seconds).await?;
    let busy = Arc::new(AtomicBool::new(true));
    let producer = {
        let busy = busy.clone();
        tokio::spawn(async move {
            while busy.load(Ordering::Relaxed) {
                sink.write(&changes.next_batch().batch).await?;
                sink.flush().await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sink.close().await?;
            Ok::<_, Box<dyn Error + Send + Sync>>(())
        })
    };
    measure(&warehouse, &spec, "merging", seconds).await?;
    busy.store(false, Ordering::Relaxed);
    producer.await?.map_err(|e| e.to_string())?;
    let runs = warehouse.task_history(&spec.history_task).await?;
    println!(
        "{{\"history_runs_during_the_run\":{},\"files_loaded\":{}}}",
        runs.len(),
        warehouse.copy_history(&spec.raw_table).await?.len()
    );
    Ok(())
}
