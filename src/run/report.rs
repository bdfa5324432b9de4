//! What a run tells its caller: [`RunEvent`]s while it goes, and the [`RunReport`] at the end,
//! in the two forms it is read in (lines for a person, one JSON line for `ci/bench-pipeline`).

use std::path::PathBuf;

use serde::Serialize;

/// What a run reports while it goes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// Deployed; files are about to be staged.
    Started {
        /// Where the files go.
        stage: String,
        /// Where the warehouse is.
        warehouse: String,
    },
    /// Counts now.
    Progress {
        /// Files staged.
        staged: usize,
        /// Files in the load history.
        loaded: usize,
        /// Rows in the raw table, the SCD-1 table and the history.
        rows: [usize; 3],
    },
}

/// Freshness of a run: from a file landing to its changes visible in the history.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FreshnessReport {
    /// Files measured.
    pub files: usize,
    /// Median, ms.
    pub p50_ms: u128,
    /// 99th percentile, ms.
    pub p99_ms: u128,
    /// Worst, ms.
    pub max_ms: u128,
}

/// What a run did and whether it was right.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's folder (`<data>/run-<id>`).
    pub folder: PathBuf,
    /// Where the files were staged.
    pub stage: String,
    /// Where the warehouse is (a folder for the embedded one).
    pub warehouse: String,
    /// Where the tables were exported (embedded).
    pub export: PathBuf,
    /// Rows staged.
    pub rows: usize,
    /// Files staged.
    pub files: usize,
    /// From the first file to the history up to date.
    pub seconds: f64,
    /// `rows / seconds`.
    pub rows_per_s: f64,
    /// The offered load, when paced.
    pub offered_rows_per_s: Option<f64>,
    /// How files were paced, in words.
    pub pacing: String,
    /// Rows of `customer`, versions of `customer_history`, rows of `customer_raw`.
    pub customer_rows: usize,
    /// Versions in the history.
    pub history_rows: usize,
    /// Rows in raw (consumed by offset, never truncated).
    pub raw_rows: usize,
    /// Freshness, when measured.
    pub freshness: Option<FreshnessReport>,
    /// Whether the whole history was compared version by version (else the current rows
    /// and the invariants).
    pub whole_history: bool,
    /// Late changes rejected, when the runs' grouping is known.
    pub late_rows: Option<usize>,
    /// The table they were rejected to.
    pub late_table: String,
    /// Every mismatch found; empty when verified.
    pub problems: Vec<String>,
    /// What else the backend has to say (exports, deployment).
    pub notes: Vec<String>,
}

impl RunReport {
    /// Whether the run matched the ground truth.
    pub fn verified(&self) -> bool {
        self.problems.is_empty()
    }

    /// The lines a person reads at the end of a run.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "{} rows in {} files, {:.1} s from the first file to history up to date ({:.0} rows/s, {})",
                self.rows, self.files, self.seconds, self.rows_per_s, self.pacing
            ),
            format!(
                "customer: {} rows · customer_history: {} versions · customer_raw: {} rows (consumed by offset, never truncated)",
                self.customer_rows, self.history_rows, self.raw_rows
            ),
        ];
        if let Some(f) = self.freshness {
            lines.push(format!(
                "freshness (file landed → visible in history): p50 {} ms, p99 {} ms, max {} ms over {} files",
                f.p50_ms, f.p99_ms, f.max_ms, f.files
            ));
        }
        lines.extend(self.notes.iter().cloned());
        lines.push(format!(
            "warehouse: {} (look at it with `snowdrift sql --root {}` and `snowdrift status --root {}`)",
            self.warehouse, self.warehouse, self.warehouse
        ));
        if self.verified() {
            let history = if self.whole_history {
                "the whole customer_history (every version, in order)"
            } else {
                "the current customer_history rows (closed versions by the SCD invariants)"
            };
            let late = self.late_rows.map_or(String::new(), |n| {
                format!(
                    "; {n} late changes rejected to {}, as expected",
                    self.late_table
                )
            });
            lines.push(format!(
                "verified: customer and {history} match the ground truth{late}; every file loaded exactly once"
            ));
        }
        lines
    }

    /// The one-line JSON summary `ci/bench-pipeline` reads.
    pub fn json_line(&self) -> String {
        let (p50, p99) = self.freshness.map_or((0, 0), |f| (f.p50_ms, f.p99_ms));
        serde_json::json!({
            "engine": "snowdrift",
            "rows": self.rows,
            "files": self.files,
            "seconds": self.seconds,
            "rows_per_s": self.rows_per_s.round() as u64,
            "offered_rows_per_s": self.offered_rows_per_s,
            "p50_ms": p50,
            "p99_ms": p99,
            "verified": self.verified(),
            "customer_rows": self.customer_rows,
            "history_rows": self.history_rows,
            "late_rows": self.late_rows,
            "late_table": self.late_table,
            "stage": self.stage,
            "export": self.export,
            "warehouse": self.warehouse,
        })
        .to_string()
    }
}
