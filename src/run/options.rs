//! What a run is asked to do: [`RunOptions`] (the library form of `snowdrift run`'s flags, which
//! `args.rs` parses) and, for a history by event time, [`EventTimeRun`].

use std::path::PathBuf;
use std::time::Duration;

use crate::faker::ChangeMix;
use crate::warehouse::{LateChanges, Schedule};

/// What a run does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Customer changes per file.
    pub rows: usize,
    /// Files.
    pub batches: usize,
    /// The tasks' schedule.
    pub interval: Schedule,
    /// Pause between files.
    pub pause: Duration,
    /// Offered load in rows/s (file `i` is written no earlier than `i × rows / rate` after the
    /// start); `None`: as fast as the pause allows.
    pub rate: Option<f64>,
    /// Share of files staged after `delay` newer ones.
    pub out_of_order: f64,
    /// How many newer files a late file waits for.
    pub delay: usize,
    /// Generator seed.
    pub seed: u64,
    /// History by event time (`None`: by the merge's clock, as the original).
    pub event_time: Option<EventTimeRun>,
    /// Every file a full snapshot of the live customers, read by a snapshot source (no
    /// operation or sequence column; not with `event_time`).
    pub snapshots: bool,
    /// Change rates.
    pub mix: ChangeMix,
    /// Where runs keep their warehouse and staging folder.
    pub data: PathBuf,
    /// A stage URL instead of the run's local staging folder.
    pub stage: Option<String>,
    /// `embedded` or `snowflake`.
    pub backend: String,
    /// Snowflake: keep the deployment.
    pub keep: bool,
}

impl Default for RunOptions {
    /// 20 files of 10,000 changes, tasks every second, into `./snowdrift-data`.
    fn default() -> Self {
        RunOptions {
            rows: 10_000,
            batches: 20,
            interval: Schedule::Interval(Duration::from_secs(1)),
            pause: Duration::from_millis(200),
            rate: None,
            out_of_order: 0.0,
            delay: 2,
            seed: 1,
            event_time: None,
            snapshots: false,
            mix: ChangeMix::default(),
            data: PathBuf::from("./snowdrift-data"),
            stage: None,
            backend: "embedded".into(),
            keep: false,
        }
    }
}

/// A run whose history is sequenced by event time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventTimeRun {
    /// Late changes: put in their place within a bound (or any lateness).
    pub late: LateChanges,
    /// Share of changes whose event time lags.
    pub late_share: f64,
    /// How far it lags at most.
    pub max_lateness: Duration,
}
