//! The `snowdrift` command line on a warehouse left by a pipeline: `status`, `history` and
//! `export` read it (read-only, as JSON for these checks), and every bad command line exits
//! with code 2 and names what is wrong.

use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use snowdrift::warehouse::{Dml, PipelineSpec, Warehouse};

use crate::support::{deployed, snowdrift, succeeded};

/// A warehouse with the default pipeline, three customers loaded into raw and both merges run.
async fn warehouse(dir: &std::path::Path) -> String {
    let spec = PipelineSpec::default();
    let (root, warehouse) = deployed(dir, spec.clone()).await;
    let text = |v: &str| Arc::new(StringArray::from(vec![v; 3])) as _;
    // The generator's customer columns: the key, then text.
    let schema = snowdrift::faker::EntitySpec::customer().schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            arrow::datatypes::DataType::Int64 => Arc::new(Int64Array::from(vec![1, 2, 3])) as _,
            _ => text(f.name()),
        })
        .collect();
    let rows = RecordBatch::try_new(schema, columns).unwrap();
    warehouse
        .dml(&spec.raw_table, Dml::Insert(vec![rows]))
        .await
        .unwrap();
    // The root task runs its graph: the SCD-1 merge, then the SCD-2 merge after it.
    warehouse.execute_task(&spec.current_task).await.unwrap();
    assert_eq!(warehouse.row_count(&spec.history_table).await.unwrap(), 3);
    warehouse.close().await.unwrap();
    root
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&succeeded(output)).unwrap()
}

/// The one-line JSON summary of a successful `snowdrift run --json` (its other output shown
/// when it failed).
fn run_summary(output: &Output) -> serde_json::Value {
    succeeded(output)
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap()
}

#[tokio::test]
async fn status_shows_tables_pipes_streams_and_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    let status = json(&snowdrift(&["status", "--root", &root, "--format", "json"]));
    let rows_of = |table: &str| {
        status["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == table)
            .map(|t| t["rows"].as_u64().unwrap())
    };
    assert_eq!(rows_of("customer_raw"), Some(3));
    assert_eq!(rows_of("customer"), Some(3));
    assert_eq!(rows_of("customer_history"), Some(3));
    assert_eq!(status["pipes"][0]["name"], "customer_pipe");
    assert_eq!(status["pipes"][0]["execution_state"], "Running");
    let streams = status["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    assert!(
        streams
            .iter()
            .all(|s| s["has_data"] == false && s["stale"] == false)
    );
    let bytes = status["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "customer_history")
        .map(|t| t["bytes"].as_u64().unwrap())
        .unwrap();
    assert!(bytes > 0, "the history's files take room");
    let tasks = status["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().all(|t| t["last_run_state"] == "Succeeded"),
        "{tasks:?}"
    );
    // The root task is resumed and scheduled: it has a next run; its child runs after it.
    let next_run = |name: &str| {
        tasks
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["next_run"].clone())
            .unwrap()
    };
    assert!(next_run("customer_scd1_task").is_string(), "{tasks:?}");
    assert!(next_run("customer_scd2_task").is_null(), "{tasks:?}");
    // The text form names the same objects.
    let text = snowdrift(&["status", "--root", &root]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    for name in [
        "customer_history",
        "customer_pipe",
        "customer_table_changes",
        "customer_scd2_task",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    // Output closed before the command writes (`snowdrift status | head -0`): no panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_snowdrift"))
        .args(["status", "--root", &root])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
}

#[tokio::test]
async fn history_lists_task_runs_and_copy_history() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    let runs = json(&snowdrift(&[
        "history",
        "--root",
        &root,
        "--format",
        "json",
        "task",
        "--task",
        "customer_scd1_task",
    ]));
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "Succeeded");
    assert_eq!(runs[0]["rows_consumed"], 3);
    // Nothing was loaded from files: an empty copy history, not an error.
    let loads = json(&snowdrift(&[
        "history",
        "--root",
        &root,
        "--format",
        "json",
        "copy",
        "--table",
        "customer_raw",
    ]));
    assert_eq!(loads.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn export_writes_parquet_csv_and_arrow() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    for format in ["parquet", "csv", "arrow"] {
        let out = dir.path().join(format!("history.{format}"));
        let done = snowdrift(&[
            "export",
            "--root",
            &root,
            "--table",
            "customer_history",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert!(out.metadata().unwrap().len() > 0);
    }
    let csv = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        4,
        "a header and three versions:\n{csv}"
    );
    assert!(csv.starts_with("customer_id,first_name"));
    let file = std::fs::File::open(dir.path().join("history.arrow")).unwrap();
    let reader = arrow::ipc::reader::FileReader::try_new(file, None).unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3);
}

#[tokio::test]
async fn bad_command_lines_exit_with_code_2_and_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    let nowhere = dir.path().join("nowhere");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["status", "--rot", &root], "--rot"),
        (
            vec!["status", "--root", &root, "--format", "yaml"],
            "--format",
        ),
        (
            vec!["status", "--root", nowhere.to_str().unwrap()],
            "--root",
        ),
        (vec!["history", "copy", "--table", "customer_raw"], "--root"),
        (
            vec!["history", "--root", &root, "task", "--task", "nope"],
            "--task",
        ),
        (
            vec![
                "export",
                "--root",
                &root,
                "--table",
                "nope",
                "--out",
                "x.parquet",
            ],
            "--table",
        ),
        (
            vec!["export", "--root", &root, "--table", "customer"],
            "--out",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, named) in cases {
        let output = snowdrift(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} should name {named}: {stderr}"
        );
    }
    assert!(
        !nowhere.exists(),
        "inspecting a missing root creates nothing"
    );
    // Every subcommand has help.
    for command in ["status", "history", "export"] {
        let help = snowdrift(&[command, "--help"]);
        assert!(help.status.success(), "{command} --help");
    }
}

#[test]
fn run_verifies_the_pipeline_and_prints_where_its_warehouse_is() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = snowdrift(&[
        "run",
        "--batches",
        "2",
        "--rows",
        "500",
        "--interval",
        "100 milliseconds",
        "--pause-ms",
        "20",
        "--data",
        data,
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let summary: serde_json::Value = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap();
    assert_eq!(summary["verified"], true);
    assert_eq!(summary["rows"], 1000);
    let warehouse = summary["warehouse"].as_str().unwrap();
    assert!(
        std::path::Path::new(warehouse).join("log").exists()
            || std::path::Path::new(warehouse).join("checkpoint").exists()
    );
    assert!(stdout.contains(&format!("warehouse: {warehouse}")));
    // And the warehouse it left answers the other commands.
    let status = json(&snowdrift(&[
        "status", "--root", warehouse, "--format", "json",
    ]));
    assert!(status["tables"].as_array().unwrap().len() >= 3);
}

#[test]
fn run_by_event_time_verifies_the_whole_history_with_late_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = snowdrift(&[
        "run",
        "--batches",
        "6",
        "--rows",
        "1000",
        "--interval",
        "100 milliseconds",
        "--pause-ms",
        "20",
        "--out-of-order",
        "0.3",
        "--event-time",
        "--late-share",
        "0.1",
        "--max-lateness",
        "2s",
        "--late-within",
        "1s",
        "--data",
        data,
        "--json",
    ]);
    let summary = run_summary(&output);
    assert_eq!(summary["verified"], true);
    assert_eq!(summary["late_table"], "customer_history_rejected");
    assert!(summary["late_rows"].as_u64().unwrap() > 0, "{summary}");
}

#[test]
fn run_with_snapshots_diffs_customer_against_each_file_and_verifies_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = snowdrift(&[
        "run",
        "--snapshots",
        "--batches",
        "5",
        "--rows",
        "500",
        "--interval",
        "100 milliseconds",
        "--pause-ms",
        "300",
        "--data",
        data,
        "--json",
    ]);
    let summary = run_summary(&output);
    assert_eq!(summary["verified"], true, "{summary}");
    // Each file re-states every live customer: more rows than changes, and the customers the
    // mix deleted are gone from customer.
    let (rows, customers) = (
        summary["rows"].as_u64().unwrap(),
        summary["customer_rows"].as_u64().unwrap(),
    );
    assert!(rows > 5 * 500 && customers < rows, "{summary}");
}

#[test]
fn run_rejects_bad_options_with_code_2() {
    for args in [
        vec!["run", "--late-share", "0.1"],
        vec!["run", "--event-time", "--late-within", "soon"],
        vec!["run", "--event-time", "--max-lateness", "0s"],
        vec!["run", "--event-time", "--late-share", "1.5"],
        vec!["run", "--rows", "-5"],
        vec!["run", "--rows", "0"],
        vec!["run", "--out-of-order", "2"],
        vec!["run", "--rate", "0"],
        vec!["run", "--interval", "soon"],
        vec!["run", "--backend", "oracle"],
        vec!["run", "--batchs", "3"],
    ] {
        let output = snowdrift(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[cfg(feature = "snowflake")]
#[test]
fn deploy_prints_the_snowflake_plan_and_teardown_needs_an_account() {
    let plan = snowdrift(&[
        "deploy",
        "--backend",
        "snowflake",
        "--stage",
        "s3://example-bucket/landing",
    ]);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan = String::from_utf8(plan.stdout).unwrap();
    assert!(plan.contains(r#"ALTER TASK "SNOWDRIFT"."PUBLIC"."CUSTOMER_SCD1_TASK" RESUME;"#));
    assert_eq!(
        snowdrift(&["deploy", "--backend", "embedded"])
            .status
            .code(),
        Some(2)
    );
    let teardown = Command::new(env!("CARGO_BIN_EXE_snowdrift"))
        .args(["teardown", "--backend", "snowflake"])
        .env_remove("SNOWFLAKE_ACCOUNT")
        .output()
        .unwrap();
    assert_eq!(teardown.status.code(), Some(1));
}
