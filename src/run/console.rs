//! A run as a person watches it: a progress line (`indicatif`) while files are staged and
//! merged, then the summary, the mismatches if any, and the JSON line when asked. Shared by
//! `snowdrift run` and the `full_pipeline` example so both print the same.

use std::io::Write as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{RunArgs, RunEvent, run_pipeline};
use crate::verify::CheckError;

/// Runs the pipeline `args` describe and prints it; returns whether it verified.
///
/// # Errors
///
/// As [`run_pipeline`].
pub async fn run_and_print(args: &RunArgs) -> Result<bool, CheckError> {
    let options = args.options();
    say(&format!(
        "snowdrift run: {} files of {} customer changes, task interval {}",
        options.batches, options.rows, options.interval
    ));
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let on_event = |event: RunEvent| {
        match event {
        RunEvent::Started { stage, warehouse } => {
            // Printed also when the progress line is hidden (output not to a terminal).
            bar.suspend(|| say(&format!("stage: {stage}\nwarehouse: {warehouse}")));
        }
        RunEvent::Progress {
            staged,
            loaded,
            rows: [raw, customer, history],
        } => bar.set_message(format!(
            "files staged {staged:>4} · loaded {loaded:>4} · rows in raw {raw:>9} · customer {customer:>8} · history {history:>9}"
        )),
    }
    };
    let report = run_pipeline(&options, &on_event).await;
    bar.finish();
    let report = report?;
    say("");
    for line in report.summary() {
        say(&line);
    }
    if args.json {
        say(&report.json_line());
    }
    for problem in &report.problems {
        let _ = writeln!(std::io::stderr(), "MISMATCH: {problem}");
    }
    Ok(report.verified())
}

/// Prints a line on standard output; a closed output (`| head`) ends nothing but the printing.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}
