//! The whole flow on one machine, verified: synthetic customer changes (snowdrift-faker) →
//! CSV files in a staging folder (the stage sink, NiFi's and S3's part) → the embedded
//! warehouse's pipe auto-ingests them into `customer_raw` (Snowpipe's part) → a task merges raw
//! into `customer` (SCD-1) and a task after it merges the stream on `customer` into
//! `customer_history` (SCD-2). At the end both tables are checked against the faker's ground
//! truth and the SCD invariants; the exit code is non-zero on any mismatch. The ground truth is
//! rebuilt in the grouping the SCD-1 runs used (each records the files it consumed), so the
//! whole history is compared version by version, and with `--out-of-order` the late changes in
//! `customer_rejected` too.
//!
//! ```text
//! cargo run --release --example full_pipeline
//! cargo run --release --example full_pipeline -- --batches 50 --rows 10000 --interval "1 minute"
//! cargo run --release --example full_pipeline -- --stage s3://my-bucket/landing   # AWS_* env
//! cargo run --release --features snowflake --example full_pipeline -- --backend snowflake \
//!     --stage s3://my-bucket/landing --interval "1 minute"                          # SNOWFLAKE_* env
//! ```
//! Options: `--rows` per file (10,000, as the original generator), `--batches` (20), `--interval`
//! (`"1 second"`; the original's is `"1 minute"`, cron works too), `--pause-ms` between files
//! (200), `--rate` (offered load in rows/s: file `i` is written no earlier than `i × rows / rate`
//! after the start; unset, files come as fast as the pause allows), `--out-of-order` (a share of
//! files staged after `--delay` newer ones, 0), `--seed` (1), `--insert/--update/--delete/--noop` change rates, `--data` (where the run
//! keeps its warehouse and staging folder, default `./snowdrift-data`), `--stage` (a stage URL
//! instead of the local staging folder), `--backend` (`embedded`, or `snowflake`: deploy the
//! same pipeline to the account `SNOWFLAKE_*` names, stage to the `--stage` S3 URL, let
//! Snowpipe and the tasks run there, verify the same way, then tear it down unless `--keep`).

#[path = "support/backend.rs"]
mod backend;

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backend::Backend;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;

use arrow::array::RecordBatch;
use snowdrift::faker::{
    ChangeMix, ChangeStream, EntitySpec, GroundTruth, OutOfOrder, VersionOrder,
};
use snowdrift::replay::{
    check_full_history, check_late_rows, history_follows_merges, merge_groups, replay,
};
use snowdrift::stage::{RollPolicy, StageLocation, StageSink, StagedFile};
use snowdrift::verify::{check_run, freshness};
use snowdrift::warehouse::{PipelineSpec, Schedule};

/// How often the progress line asks the warehouse for counts while files are produced.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

struct Options {
    rows: usize,
    batches: usize,
    interval: Schedule,
    pause: Duration,
    rate: Option<f64>,
    out_of_order: f64,
    delay: usize,
    seed: u64,
    mix: ChangeMix,
    data: String,
    stage: Option<String>,
    json: bool,
    backend: String,
    keep: bool,
}

const USAGE: &str = "usage: cargo run --release --example full_pipeline -- [options]
  --rows N          customer changes per file (10000, as the original generator)
  --batches N       files (20)
  --interval TEXT   task schedule: \"1 second\" (default), \"1 minute\" (the original), \"USING CRON ...\"
  --pause-ms N      pause between files (200)
  --rate N          offered load: at most N rows/s (files paced evenly; default unpaced)
  --out-of-order S  stage a share S (0 to 1) of the files late, after --delay newer ones (0):
                    late changes really happen and must land in customer_rejected
  --delay N         how many newer files a late file waits for (2)
  --seed N          generator seed (1)
  --insert/--update/--delete/--noop RATE   change rates (0.20/0.55/0.05/0.19)
  --data DIR        where runs keep their warehouse and staging folder (./snowdrift-data)
  --stage URL       stage somewhere else, e.g. s3://bucket/prefix (AWS_* environment)
  --json            also print the summary as one JSON line (for ci/bench-pipeline)
  --backend NAME    embedded (default) or snowflake (build with --features snowflake; needs
                    SNOWFLAKE_* variables, --stage s3://..., an --interval of 10 seconds or more)
  --keep            snowflake: leave the deployed objects instead of tearing them down";

fn options() -> Result<Options, Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        std::process::exit(0);
    }
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |name: &str, default: f64| -> Result<f64, Box<dyn Error>> {
        Ok(value(name)
            .map(|v| v.parse())
            .transpose()
            .map_err(|e| format!("{name}: {e}"))?
            .unwrap_or(default))
    };
    let known = [
        "--rows",
        "--batches",
        "--interval",
        "--pause-ms",
        "--rate",
        "--out-of-order",
        "--delay",
        "--seed",
        "--insert",
        "--update",
        "--delete",
        "--noop",
        "--data",
        "--stage",
        "--backend",
    ];
    let pairs: Vec<&String> = args
        .iter()
        .filter(|a| *a != "--json" && *a != "--keep")
        .collect();
    for pair in pairs.chunks(2) {
        if !known.contains(&pair[0].as_str()) || pair.len() < 2 {
            return Err(format!(
                "unknown or incomplete option `{}`; options: {}",
                pair[0],
                known.join(" ")
            )
            .into());
        }
    }
    let defaults = ChangeMix::default();
    Ok(Options {
        rows: number("--rows", 10_000.0)? as usize,
        batches: number("--batches", 20.0)? as usize,
        interval: Schedule::parse(&value("--interval").unwrap_or_else(|| "1 second".into()))?,
        pause: Duration::from_millis(number("--pause-ms", 200.0)? as u64),
        rate: match number("--rate", 0.0)? {
            r if r > 0.0 => Some(r),
            0.0 => None,
            r => return Err(format!("--rate: {r} is not a positive number of rows/s").into()),
        },
        out_of_order: match number("--out-of-order", 0.0)? {
            s if (0.0..=1.0).contains(&s) => s,
            s => return Err(format!("--out-of-order: {s} is not a share between 0 and 1").into()),
        },
        delay: match number("--delay", 2.0)? {
            d if d >= 1.0 && d.fract() == 0.0 => d as usize,
            d => {
                return Err(
                    format!("--delay: {d} is not a whole number of files, 1 or more").into(),
                );
            }
        },
        seed: number("--seed", 1.0)? as u64,
        mix: ChangeMix {
            insert: number("--insert", defaults.insert)?,
            update: number("--update", defaults.update)?,
            delete: number("--delete", defaults.delete)?,
            noop: number("--noop", defaults.noop)?,
            restore: defaults.restore,
        },
        data: value("--data").unwrap_or_else(|| "./snowdrift-data".into()),
        stage: value("--stage"),
        json: args.iter().any(|a| a == "--json"),
        backend: value("--backend").unwrap_or_else(|| "embedded".into()),
        keep: args.iter().any(|a| a == "--keep"),
    })
}

fn progress() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

async fn show(
    bar: &ProgressBar,
    backend: &Backend,
    spec: &PipelineSpec,
    staged: usize,
) -> Result<bool, Box<dyn Error>> {
    let warehouse = backend.warehouse();
    let loaded = warehouse.copy_history(&spec.raw_table).await?.len();
    let [raw, customer, history] = backend.row_counts(spec).await?;
    bar.set_message(format!(
        "files staged {staged:>4} · loaded {loaded:>4} · rows in raw {raw:>9} · customer {customer:>8} · history {history:>9}"
    ));
    Ok(loaded >= staged
        && !warehouse.stream_has_data(&spec.raw_stream).await?
        && !warehouse.stream_has_data(&spec.current_stream).await?)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool, Box<dyn Error>> {
    let options = options()?;
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let folder = std::path::Path::new(&options.data).join(format!("run-{run_id}"));
    let stage_url = match &options.stage {
        Some(url) => format!("{}/run-{run_id}", url.trim_end_matches('/')),
        None => folder
            .join("stage")
            .to_str()
            .ok_or("non-UTF-8 path")?
            .to_owned(),
    };
    let spec = PipelineSpec {
        stage_url: stage_url.clone(),
        operation_column: Some("op".into()),
        // Files may land and load in any order (uploads finish out of order, Snowpipe
        // guarantees none); the generator's row numbers keep changes in the order they happened.
        sequence_column: Some("seq".into()),
        schedule: options.interval.clone(),
        ..PipelineSpec::default()
    };
    let backend = Backend::deploy(&options.backend, &folder, &spec).await?;
    let warehouse = backend.warehouse();

    let mut changes = ChangeStream::builder(EntitySpec::customer())
        .seed(options.seed)
        .batch_size(options.rows)
        .initial_population(options.rows)
        .mix(options.mix)
        .operation_column(Some("op"))
        .sequence_column(Some("seq"))
        .event_time_column(None)
        .late_rate(0.0)
        .parallel(true) // values on all cores; the output is the same as on one
        .build()?;
    let mut truth = GroundTruth::for_stream(&changes).with_order(VersionOrder::Sequence)?;
    let mut arrival = OutOfOrder::new(options.seed, options.out_of_order, options.delay)?;
    let sink = StageSink::builder(StageLocation::parse(&stage_url)?, changes.schema())
        .roll(RollPolicy {
            max_rows: options.rows,
            ..RollPolicy::default()
        })
        .build()?;
    let mut announced = sink.subscribe();
    backend.listen(&spec, &sink);

    println!(
        "snowdrift full pipeline: {} files of {} customer changes, task interval {}",
        options.batches, options.rows, options.interval
    );
    println!("stage: {stage_url}\nwarehouse: {}", backend.location());
    let bar = progress();
    let start = Instant::now();
    let mut refreshed = Instant::now();
    let mut generated = Vec::with_capacity(options.batches);
    let produce = async {
        for i in 0..options.batches {
            if let Some(rate) = options.rate {
                let due = start + Duration::from_secs_f64(i as f64 * options.rows as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            for batch in arrival.push(changes.next_batch().batch) {
                sink.write(&batch).await?;
                sink.flush().await?;
                generated.push(batch);
            }
            if !options.pause.is_zero() {
                tokio::time::sleep(options.pause).await;
            }
            backend.nudge(&spec, &mut refreshed).await?;
        }
        for batch in std::mem::replace(&mut arrival, OutOfOrder::new(0, 0.0, 1)?).finish() {
            sink.write(&batch).await?;
            sink.flush().await?;
            generated.push(batch);
        }
        sink.close().await?;
        Ok::<_, Box<dyn Error>>(())
    };
    // The progress line is refreshed beside the producer, not by it: asking the warehouse for
    // counts after every file would make the producer wait on merges in progress.
    let refresh = async {
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            show(&bar, &backend, &spec, options.batches).await?;
        }
    };
    tokio::select! {
        produced = produce => produced?,
        failed = refresh => return failed,
    }
    let mut staged: Vec<StagedFile> = Vec::new();
    while let Ok(file) = announced.try_recv() {
        staged.push(file);
    }
    while !show(&bar, &backend, &spec, staged.len()).await? {
        backend.nudge(&spec, &mut refreshed).await?;
        tokio::time::sleep(backend.poll_every()).await;
    }
    let elapsed = start.elapsed();
    bar.finish();
    // The ground truth is computed after the clock stops: it is the check, not the pipeline.
    // Files are named in the order they were written, one batch each.
    let mut paths: Vec<String> = staged.iter().map(|f| f.path.to_string()).collect();
    paths.sort();
    let batches: HashMap<String, RecordBatch> = paths.into_iter().zip(generated).collect();
    let groups = merge_groups(warehouse, &spec)
        .await
        .map_err(|e| e.to_string())?;
    let grouped = !groups.is_empty();
    if grouped {
        replay(&mut truth, &groups, &batches).map_err(|e| e.to_string())?;
    } else {
        // A backend that records no files per run: each file as its own merge.
        let mut files: Vec<&String> = batches.keys().collect();
        files.sort();
        for file in files {
            truth.merge(&[&batches[file]])?;
        }
    }

    let rows = options.rows * options.batches;
    let mut check = check_run(warehouse, &spec, &truth, staged.len(), rows)
        .await
        .map_err(|e| e.to_string())?;
    let whole_history = grouped
        && history_follows_merges(warehouse, &spec)
            .await
            .map_err(|e| e.to_string())?;
    if whole_history {
        check.problems.extend(
            check_full_history(warehouse, &spec, &truth)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    if grouped {
        check.problems.extend(
            check_late_rows(warehouse, &spec, &truth)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let fresh = freshness(warehouse, &spec, &staged)
        .await
        .map_err(|e| e.to_string())?;
    let exports = folder.join("export");
    let pacing = match options.rate {
        Some(rate) => format!("offered at most {rate:.0} rows/s"),
        None => format!("files paced {} ms apart", options.pause.as_millis()),
    };
    println!(
        "\n{} rows in {} files, {:.1} s from the first file to history up to date ({:.0} rows/s, {pacing})",
        rows,
        staged.len(),
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
    );
    println!(
        "customer: {} rows · customer_history: {} versions · customer_raw: {} rows (consumed by offset, never truncated)",
        check.customer_rows, check.history_rows, check.raw_rows
    );
    if let Some(f) = fresh {
        println!(
            "freshness (file landed → visible in history): p50 {} ms, p99 {} ms, max {} ms over {} files",
            f.p50.as_millis(),
            f.p99.as_millis(),
            f.max.as_millis(),
            f.files
        );
    }
    if options.json {
        let (p50, p99) = fresh.map_or((0, 0), |f| (f.p50.as_millis(), f.p99.as_millis()));
        println!(
            "{{\"engine\": \"snowdrift\", \"rows\": {rows}, \"files\": {}, \"seconds\": {:.3}, \"rows_per_s\": {:.0}, \"offered_rows_per_s\": {}, \"p50_ms\": {p50}, \"p99_ms\": {p99}, \"verified\": {}, \"stage\": \"{}\", \"export\": \"{}\"}}",
            staged.len(),
            elapsed.as_secs_f64(),
            rows as f64 / elapsed.as_secs_f64(),
            options
                .rate
                .map_or("null".to_string(), |r| format!("{r:.0}")),
            check.passed(),
            stage_url,
            exports.display()
        );
    }
    backend.finish(&spec, &exports, options.keep).await?;
    if check.passed() {
        let history = if whole_history {
            "the whole customer_history (every version, in order)"
        } else {
            "the current customer_history rows (closed versions by the SCD invariants)"
        };
        let late = if grouped {
            format!(
                "; {} late changes rejected to customer_rejected, as expected",
                truth.late_rows().len()
            )
        } else {
            String::new()
        };
        println!(
            "verified: customer and {history} match the ground truth{late}; every file loaded exactly once"
        );
        Ok(true)
    } else {
        for problem in &check.problems {
            eprintln!("MISMATCH: {problem}");
        }
        Ok(false)
    }
}
