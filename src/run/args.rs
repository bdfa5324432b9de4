//! The options of a run on the command line (`snowdrift run`, the `full_pipeline` example),
//! parsed and validated by `clap`: a misspelled flag, a negative count or a share outside
//! 0–1 is an error naming the flag (exit code 2), never a silent default.

use std::path::PathBuf;
use std::time::Duration;

use crate::faker::ChangeMix;
use crate::warehouse::{LateChanges, Schedule};

use super::{EventTimeRun, RunOptions};

/// `snowdrift run` / `full_pipeline` options.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Customer changes per file (the original generator wrote 10,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rows: u64,
    /// Files to stage.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub batches: u64,
    /// The task schedule: "1 second", "1 minute" (the original's), "USING CRON 0 * * * * UTC".
    #[arg(long, default_value = "1 second", value_parser = parse_schedule)]
    pub interval: Schedule,
    /// Milliseconds between files.
    #[arg(long, default_value_t = 200)]
    pub pause_ms: u64,
    /// Offered load: at most this many rows per second (files paced evenly; default: as fast
    /// as the pause allows).
    #[arg(long, value_parser = parse_positive)]
    pub rate: Option<f64>,
    /// A share (0 to 1) of the files staged late, after `--delay` newer ones: late changes
    /// really happen and must land in customer_rejected.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub out_of_order: f64,
    /// How many newer files a late file waits for.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub delay: u64,
    /// Sequence the history by each change's event time (an `event_time` column carried
    /// through the files) instead of the merge's clock: `start_time`/`end_time` say when a
    /// change happened, and a change that arrives late is put in its place.
    #[arg(long)]
    pub event_time: bool,
    /// A share (0 to 1) of changes whose event time lags behind their place in the stream, by
    /// up to `--max-lateness`: late changes that the history puts in their place.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share, requires = "event_time")]
    pub late_share: f64,
    /// How far a late change's event time lags at most ("1m", "2s"; rows are 1 ms of event
    /// time apart).
    #[arg(long, default_value = "1m", value_parser = parse_lateness, requires = "event_time")]
    pub max_lateness: Duration,
    /// How late a change may be and still be put in its place, measured from its key's newest
    /// change ("1day", "30s", or "any"); older ones go to customer_history_rejected.
    #[arg(long, default_value = "1day", value_parser = parse_within, requires = "event_time")]
    pub late_within: LateChanges,
    /// Stage every file as a full snapshot of the live customers (the file's changes applied,
    /// deleted customers left out) and diff `customer` against each: a snapshot source
    /// (`ChangeSource::Snapshots`), checked against the faker's ground truth as any run.
    #[arg(long, conflicts_with = "event_time")]
    pub snapshots: bool,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of changes that insert a new customer.
    #[arg(long, default_value_t = ChangeMix::default().insert, value_parser = parse_share)]
    pub insert: f64,
    /// Share of changes that update one.
    #[arg(long, default_value_t = ChangeMix::default().update, value_parser = parse_share)]
    pub update: f64,
    /// Share of changes that delete one.
    #[arg(long, default_value_t = ChangeMix::default().delete, value_parser = parse_share)]
    pub delete: f64,
    /// Share of changes that re-state a customer unchanged.
    #[arg(long, default_value_t = ChangeMix::default().noop, value_parser = parse_share)]
    pub noop: f64,
    /// Where runs keep their warehouse and staging folder (`<DATA>/run-<id>/…`).
    #[arg(long, default_value = "./snowdrift-data", value_name = "DIR")]
    pub data: PathBuf,
    /// Stage somewhere else, e.g. s3://bucket/prefix (credentials from `AWS_*`).
    #[arg(long, value_name = "URL")]
    pub stage: Option<String>,
    /// Also print the summary as one JSON line (for ci/bench-pipeline).
    #[arg(long)]
    pub json: bool,
    /// `embedded`, or `snowflake` (build with `--features snowflake`; needs `SNOWFLAKE_*`
    /// variables, `--stage s3://…` and an `--interval` of 10 seconds or more).
    #[arg(long, default_value = "embedded", value_parser = ["embedded", "snowflake"])]
    pub backend: String,
    /// Snowflake: leave the deployed objects instead of tearing them down.
    #[arg(long)]
    pub keep: bool,
}

fn parse_schedule(text: &str) -> Result<Schedule, String> {
    Schedule::parse(text).map_err(|e| e.to_string())
}

fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

fn parse_lateness(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("the lateness must be more than 0".into()),
        Err(e) => Err(format!("`{text}` is not a duration: {e}")),
    }
}

fn parse_within(text: &str) -> Result<LateChanges, String> {
    if text.eq_ignore_ascii_case("any") {
        return Ok(LateChanges::RESTITCH_ANY);
    }
    humantime::parse_duration(text)
        .map(LateChanges::restitch_within)
        .map_err(|e| format!("`{text}` is neither a duration nor `any`: {e}"))
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not a share between 0 and 1")),
    }
}

impl RunArgs {
    /// The run these options describe.
    pub fn options(&self) -> RunOptions {
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        RunOptions {
            rows: to_usize(self.rows),
            batches: to_usize(self.batches),
            interval: self.interval.clone(),
            pause: Duration::from_millis(self.pause_ms),
            rate: self.rate,
            out_of_order: self.out_of_order,
            delay: to_usize(self.delay),
            seed: self.seed,
            snapshots: self.snapshots,
            event_time: self.event_time.then_some(EventTimeRun {
                late: self.late_within,
                late_share: self.late_share,
                max_lateness: self.max_lateness,
            }),
            mix: ChangeMix {
                insert: self.insert,
                update: self.update,
                delete: self.delete,
                noop: self.noop,
                restore: ChangeMix::default().restore,
            },
            data: self.data.clone(),
            stage: self.stage.clone(),
            backend: self.backend.clone(),
            keep: self.keep,
        }
    }
}
