//! Checking a pipeline run: the warehouse's `customer` and `customer_history` against the
//! faker's ground truth and the SCD invariants, every staged file loaded exactly once, and the
//! run's freshness (file landed → visible in history).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::faker::GroundTruth;
use crate::scd::{TableSpec, ValidityColumns, check_history};
use crate::stage::StagedFile;
use crate::warehouse::rows::sorted_rows;
use crate::warehouse::{FileLoad, LoadStatus, PipelineSpec, Warehouse, WarehouseExt};

/// Any error of the checks (a warehouse, SCD or Arrow error).
pub type CheckError = Box<dyn std::error::Error + Send + Sync>;

/// What a finished run holds and what is wrong with it.
#[derive(Debug, Clone, Default)]
pub struct RunCheck {
    /// Rows in the SCD-1 table.
    pub customer_rows: usize,
    /// Rows (versions) in the SCD-2 table.
    pub history_rows: usize,
    /// Files in the load history.
    pub files_loaded: usize,
    /// Rows in the raw table.
    pub raw_rows: usize,
    /// Every problem found; empty when the run is right.
    pub problems: Vec<String>,
}

impl RunCheck {
    /// Whether nothing is wrong.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compares a finished run with `truth` (fed with every staged batch):
/// - `customer` equals the expected SCD-1 table (business columns);
/// - the current versions of `customer_history` equal it too, and the history keeps its
///   invariants (one current version per key, ordered non-overlapping intervals, current
///   exactly when open);
/// - `files_staged` files were loaded, each once and completely, and raw holds `rows_staged`.
///
/// The history's closed versions depend on how the tasks grouped the files (a merge sees the
/// net change since the previous one), so they are checked by the invariants, not row by row.
///
/// # Errors
///
/// The backend's error when a table, the load history or the task history cannot be read, or
/// an Arrow error when a table's columns are not of the pipeline's types. What does not match
/// the truth is reported in the returned [`RunCheck`], not as an error.
pub async fn check_run(
    warehouse: &dyn Warehouse,
    spec: &PipelineSpec,
    truth: &GroundTruth,
    files_staged: usize,
    rows_staged: usize,
) -> Result<RunCheck, CheckError> {
    let business: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
    let expected = sorted_rows(&truth.expected_current()?, &business);
    let customer = warehouse.table(&spec.current_table).await?;
    let history = warehouse.table(&spec.history_table).await?;
    let loads = warehouse.copy_history(&spec.raw_table).await?;
    let mut check = RunCheck {
        customer_rows: customer.num_rows(),
        history_rows: history.num_rows(),
        files_loaded: loads.len(),
        raw_rows: warehouse.table(&spec.raw_table).await?.num_rows(),
        problems: Vec::new(),
    };
    compare(
        &mut check.problems,
        "customer",
        sorted_rows(&customer, &business),
        &expected,
    );
    let mut with_flag = business.clone();
    with_flag.push("is_current");
    let current: Vec<String> = sorted_rows(&history, &with_flag)
        .into_iter()
        .filter_map(|row| row.strip_suffix("|true").map(str::to_owned))
        .collect();
    compare(
        &mut check.problems,
        "current customer_history rows",
        current,
        &expected,
    );
    let history_spec = TableSpec::builder(&spec.history_table, spec.business_schema())
        .key(spec.key.clone())
        .build()?;
    for violation in check_history(&history, &history_spec, &ValidityColumns::default(), true)? {
        check
            .problems
            .push(format!("customer_history: {violation:?}"));
    }
    check_loads(&mut check.problems, &loads, files_staged);
    if check.raw_rows != rows_staged {
        check.problems.push(format!(
            "customer_raw holds {} rows, {rows_staged} were staged",
            check.raw_rows
        ));
    }
    Ok(check)
}

fn compare(problems: &mut Vec<String>, what: &str, got: Vec<String>, want: &[String]) {
    if got == want {
        return;
    }
    let missing = want
        .iter()
        .filter(|r| got.binary_search(r).is_err())
        .count();
    let unexpected = got
        .iter()
        .filter(|r| want.binary_search(r).is_err())
        .count();
    let example = want
        .iter()
        .find(|r| got.binary_search(r).is_err())
        .or_else(|| got.iter().find(|r| want.binary_search(r).is_err()));
    problems.push(format!(
        "{what}: {} rows, expected {}; {missing} expected rows missing, {unexpected} unexpected (for example {example:?})",
        got.len(),
        want.len()
    ));
}

fn check_loads(problems: &mut Vec<String>, loads: &[FileLoad], files_staged: usize) {
    let mut files: Vec<&str> = loads.iter().map(|l| l.file.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    if files.len() != loads.len() {
        problems.push(format!(
            "{} loads of {} distinct files: a file was loaded twice",
            loads.len(),
            files.len()
        ));
    }
    if files.len() != files_staged {
        problems.push(format!(
            "{} files loaded, {files_staged} staged",
            files.len()
        ));
    }
    for load in loads.iter().filter(|l| l.status != LoadStatus::Loaded) {
        problems.push(format!(
            "`{}` was not loaded completely: {:?}, first error {:?}",
            load.file, load.status, load.first_error
        ));
    }
}

/// File landed → visible in history, over the files of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Files measured.
    pub files: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Worst.
    pub max: Duration,
}

/// For each staged file: from its announcement (object complete) to the completion of the
/// SCD-2 run that made it visible — the first graph run that started after the file was
/// loaded. `None` when no file has been merged yet.
///
/// # Errors
///
/// As [`file_latencies`].
pub async fn freshness(
    warehouse: &dyn Warehouse,
    spec: &PipelineSpec,
    staged: &[StagedFile],
) -> Result<Option<Freshness>, CheckError> {
    let mut latencies: Vec<Duration> = file_latencies(warehouse, spec, staged)
        .await?
        .into_iter()
        .map(|(_, latency)| latency)
        .collect();
    if latencies.is_empty() {
        return Ok(None);
    }
    latencies.sort_unstable();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Ok(Some(Freshness {
        files: latencies.len(),
        p50: at(0.5),
        p99: at(0.99),
        max: latencies[latencies.len() - 1],
    }))
}

/// The files of `staged` already visible in history, each with its time from announcement
/// to visible (as [`freshness`] measures it); files not merged yet are left out.
///
/// # Errors
///
/// The backend's error when its load history or task history cannot be read.
pub async fn file_latencies(
    warehouse: &dyn Warehouse,
    spec: &PipelineSpec,
    staged: &[StagedFile],
) -> Result<Vec<(String, Duration)>, CheckError> {
    let loads = warehouse.copy_history(&spec.raw_table).await?;
    let loaded: HashMap<&str, SystemTime> = loads
        .iter()
        .map(|l| (l.file.as_str(), l.load_time))
        .collect();
    let roots = warehouse.task_history(&spec.current_task).await?;
    let children = warehouse.task_history(&spec.history_task).await?;
    Ok(staged
        .iter()
        .filter_map(|file| {
            let path = file.path.to_string();
            let load_time = *loaded.get(path.as_str())?;
            let visible = roots
                .iter()
                .filter(|r| r.started >= load_time && r.rows_consumed > 0)
                .filter_map(|r| {
                    children
                        .iter()
                        .find(|c| c.graph_run == r.graph_run)?
                        .completed
                })
                .min()?;
            let latency = visible
                .duration_since(file.last_modified)
                .unwrap_or_default();
            Some((path, latency))
        })
        .collect())
}
