//! The whole flow on one machine, verified — what `snowdrift run` (and the `full_pipeline`
//! example, a thin wrapper over it) does: synthetic customer changes (`faker`) → CSV files in a
//! staging folder (the stage sink: NiFi's and S3's part) → the warehouse's pipe auto-ingests
//! them into `customer_raw` (Snowpipe's part) → a task merges raw into `customer` (SCD-1) and a
//! task after it merges the stream on `customer` into `customer_history` (SCD-2).
//!
//! At the end both tables are checked against the faker's ground truth and the SCD
//! invariants. The ground truth is rebuilt in the grouping the SCD-1 runs used (each records
//! the files it consumed), so the whole history is compared version by version, and with
//! `out_of_order` the late changes in `customer_rejected` too. With `event_time` the history
//! is sequenced by each change's event time (late changes put in their place, those beyond
//! the bound in `customer_history_rejected`), and its validity is compared exactly as well.
//! The run leaves its warehouse at
//! `<data>/run-<id>/warehouse` for `snowdrift sql` and `snowdrift status`.

mod args;
mod backend;
mod console;
mod options;
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;

use crate::faker::{ChangeStream, EntitySpec, GroundTruth, OutOfOrder, VersionOrder};
use crate::replay::{
    check_full_history, check_late_rows, history_follows_merges, merge_groups, replay,
};
use crate::stage::{RollPolicy, StageLocation, StageSink, StagedFile};
use crate::verify::{CheckError, check_run, freshness};
use crate::warehouse::{
    AbsentKeys, ChangeSource, EventTime, LateChanges, PipelineSpec, WarehouseExt,
};

pub use args::RunArgs;
use backend::Backend;
pub use console::run_and_print;
pub use options::{EventTimeRun, RunOptions};
pub use report::{FreshnessReport, RunEvent, RunReport};

/// How often progress is reported while files are produced.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Runs the whole pipeline with `options`, reporting progress to `on_event`.
///
/// # Errors
///
/// Any failure to deploy, generate, stage, load or read back (the warehouse's, the stage's
/// or the faker's error, boxed). A run that completes but does not match the ground truth is
/// not an error: its report lists the problems.
pub async fn run_pipeline(
    options: &RunOptions,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Result<RunReport, CheckError> {
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let folder = options.data.join(format!("run-{run_id}"));
    let stage_url = match &options.stage {
        Some(url) => format!("{}/run-{run_id}", url.trim_end_matches('/')),
        None => folder
            .join("stage")
            .to_str()
            .ok_or("the data folder's path is not UTF-8")?
            .to_owned(),
    };
    let spec = PipelineSpec {
        stage_url: stage_url.clone(),
        operation_column: (!options.snapshots).then(|| "op".into()),
        // Files may land and load in any order (uploads finish out of order, Snowpipe
        // guarantees none); the generator's row numbers keep changes in the order they happened
        // (or, by event time, the time each change happened).
        sequence_column: (options.event_time.is_none() && !options.snapshots).then(|| "seq".into()),
        change_source: match options.snapshots {
            true => ChangeSource::Snapshots(AbsentKeys::Delete),
            false => ChangeSource::Changes,
        },
        schedule: options.interval.clone(),
        event_time: options.event_time.map(|e| EventTime {
            late: e.late,
            ..EventTime::default()
        }),
        ..PipelineSpec::default()
    };
    let mut notes = Vec::new();
    let backend = Backend::deploy(&options.backend, &folder, &spec, &mut notes).await?;
    on_event(RunEvent::Started {
        stage: stage_url.clone(),
        warehouse: backend.location(),
    });
    let (staged, generated, elapsed) = produce(options, &backend, &spec, on_event).await?;
    let mut report = verify(options, &backend, &spec, &staged, generated, elapsed).await?;
    report.folder = folder.clone();
    report.stage = stage_url;
    report.warehouse = backend.location();
    report.export = folder.join("export");
    backend
        .finish(&spec, &report.export, options.keep, &mut notes)
        .await?;
    report.notes = notes;
    Ok(report)
}

/// The generator of the run's changes.
fn changes(options: &RunOptions) -> Result<ChangeStream, CheckError> {
    let builder = ChangeStream::builder(EntitySpec::customer())
        .seed(options.seed)
        .batch_size(options.rows)
        .initial_population(options.rows)
        .mix(options.mix)
        .operation_column(Some("op"))
        .parallel(true); // values on all cores; the output is the same as on one
    let builder = match options.event_time {
        Some(e) => builder
            .sequence_column(None)
            .event_time_column(Some("event_time"))
            .late_rate(e.late_share)
            .max_lateness(e.max_lateness),
        None => builder
            .sequence_column(Some("seq"))
            .event_time_column(None)
            .late_rate(0.0),
    };
    let builder = match options.snapshots {
        true => builder.snapshots(),
        false => builder,
    };
    Ok(builder.build()?)
}

/// The order the ground truth keeps versions in: the generator's sequence, or event time with
/// late changes put in their place (one row at a time, whatever the runs' grouping).
fn version_order(options: &RunOptions) -> VersionOrder {
    if options.snapshots {
        // No sequence: the files' load order decides, as in the warehouse.
        return VersionOrder::Arrival;
    }
    match options.event_time.map(|e| e.late) {
        Some(LateChanges::Restitch { within }) => VersionOrder::Restitch { within },
        Some(LateChanges::Reject) => VersionOrder::EventTime,
        None => VersionOrder::Sequence,
    }
}

type Produced = (Vec<StagedFile>, Vec<RecordBatch>, Duration);

/// Stages the files and waits until the history is up to date; returns the staged files, the
/// batches in staging order and the time it took.
async fn produce(
    options: &RunOptions,
    backend: &Backend,
    spec: &PipelineSpec,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Result<Produced, CheckError> {
    let mut changes = changes(options)?;
    let mut arrival = OutOfOrder::new(options.seed, options.out_of_order, options.delay)?;
    let sink = StageSink::builder(
        StageLocation::parse_opts(&spec.stage_url, crate::stage::aws_environment())?,
        changes.schema(),
    )
    .roll(RollPolicy {
        // A snapshot holds every live customer, more rows than a file of changes: it
        // must stay one file.
        max_rows: if options.snapshots {
            usize::MAX
        } else {
            options.rows
        },
        ..RollPolicy::default()
    })
    .build()?;
    let mut announced = sink.subscribe();
    backend.listen(spec, &sink);
    let start = Instant::now();
    let mut refreshed = Instant::now();
    let mut generated = Vec::with_capacity(options.batches);
    let staging = async {
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
            backend.nudge(spec, &mut refreshed).await?;
        }
        for batch in std::mem::replace(&mut arrival, OutOfOrder::new(0, 0.0, 1)?).finish() {
            sink.write(&batch).await?;
            sink.flush().await?;
            generated.push(batch);
        }
        sink.close().await?;
        Ok::<_, CheckError>(())
    };
    // Progress is asked beside the producer, not by it: asking the warehouse for counts after
    // every file would make the producer wait on merges in progress.
    let refresh = async {
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            caught_up(backend, spec, options.batches, on_event).await?;
        }
    };
    tokio::select! {
        produced = staging => produced?,
        failed = refresh => return failed,
    }
    let mut staged: Vec<StagedFile> = Vec::new();
    while let Ok(file) = announced.try_recv() {
        staged.push(file);
    }
    while !caught_up(backend, spec, staged.len(), on_event).await? {
        backend.nudge(spec, &mut refreshed).await?;
        tokio::time::sleep(backend.poll_every()).await;
    }
    Ok((staged, generated, start.elapsed()))
}

/// Reports counts; whether every staged file is loaded and both streams are consumed.
async fn caught_up(
    backend: &Backend,
    spec: &PipelineSpec,
    staged: usize,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Result<bool, CheckError> {
    let warehouse = backend.warehouse();
    let loaded = warehouse.copy_history(&spec.raw_table).await?.len();
    let rows = backend.row_counts(spec).await?;
    on_event(RunEvent::Progress {
        staged,
        loaded,
        rows,
    });
    Ok(loaded >= staged && !warehouse.pipeline_has_data(spec).await?)
}

/// Checks the tables against the ground truth rebuilt in the runs' grouping.
async fn verify(
    options: &RunOptions,
    backend: &Backend,
    spec: &PipelineSpec,
    staged: &[StagedFile],
    generated: Vec<RecordBatch>,
    elapsed: Duration,
) -> Result<RunReport, CheckError> {
    let warehouse = backend.warehouse();
    let rows: usize = generated.iter().map(RecordBatch::num_rows).sum();
    let mut truth =
        GroundTruth::for_stream(&changes(options)?).with_order(version_order(options))?;
    // Files are named in the order they were written, one batch each.
    let mut paths: Vec<String> = staged.iter().map(|f| f.path.to_string()).collect();
    paths.sort();
    let batches: HashMap<String, RecordBatch> = paths.into_iter().zip(generated).collect();
    let groups = merge_groups(warehouse, spec).await?;
    let grouped = !groups.is_empty();
    if grouped {
        replay(&mut truth, &groups, &batches)?;
    } else {
        // A backend that records no files per run: each file as its own merge.
        let mut files: Vec<&String> = batches.keys().collect();
        files.sort();
        for file in files {
            truth.merge(&[&batches[file]])?;
        }
    }
    let mut check = check_run(warehouse, spec, &truth, staged.len(), rows).await?;
    // By event time the history is the rows applied one by one: the grouping does not matter.
    let whole_history =
        grouped && (spec.event_time.is_some() || history_follows_merges(warehouse, spec).await?);
    if whole_history {
        check
            .problems
            .extend(check_full_history(warehouse, spec, &truth).await?);
    }
    if grouped {
        check
            .problems
            .extend(check_late_rows(warehouse, spec, &truth).await?);
    }
    let fresh = freshness(warehouse, spec, staged).await?;
    let seconds = elapsed.as_secs_f64();
    Ok(RunReport {
        folder: PathBuf::new(),
        stage: String::new(),
        warehouse: String::new(),
        export: PathBuf::new(),
        rows,
        files: staged.len(),
        seconds,
        rows_per_s: rows as f64 / seconds.max(f64::EPSILON),
        offered_rows_per_s: options.rate,
        pacing: match options.rate {
            Some(rate) => format!("offered at most {rate:.0} rows/s"),
            None => format!("files paced {} ms apart", options.pause.as_millis()),
        },
        customer_rows: check.customer_rows,
        history_rows: check.history_rows,
        raw_rows: check.raw_rows,
        freshness: fresh.map(|f| FreshnessReport {
            files: f.files,
            p50_ms: f.p50.as_millis(),
            p99_ms: f.p99.as_millis(),
            max_ms: f.max.as_millis(),
        }),
        whole_history,
        late_rows: grouped.then(|| truth.late_rows().len()),
        late_table: spec.late_rows_table(),
        problems: check.problems,
        notes: Vec::new(),
    })
}
