//! `snowdrift sql` on a warehouse whose tasks run while the command has it open: the original
//! worksheet's script runs as written and, after the SCD-2 task's next run, the history shows
//! Snowflake's outcome; results print as CSV and JSON; `--read-only` changes nothing and runs
//! beside a writer, which refuses a second writable session; bad command lines exit with code
//! 2, failed statements with code 1.
#![cfg(feature = "sql")]

use std::time::{Duration, Instant};

use snowdrift::sql::SqlSession;
use snowdrift::warehouse::{LocalWarehouse, PipelineSpec, Schedule};

use crate::support::{deployed, snowdrift, succeeded};

/// Customers 71–74 into the raw table (shared with the other SQL tests).
const FIXTURE: &str = include_str!("../../crates/sql/tests/fixture.sql");

const WORKSHEET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crates/sql/tests/worksheet.sql"
);

/// A warehouse with the default pipeline on a 100 ms schedule, customers 71–74 merged.
async fn warehouse(dir: &std::path::Path) -> String {
    let spec = PipelineSpec {
        schedule: Schedule::Interval(Duration::from_millis(100)),
        ..PipelineSpec::default()
    };
    let (root, warehouse) = deployed(dir, spec).await;
    let sql = SqlSession::new(std::sync::Arc::new(warehouse));
    sql.execute(FIXTURE).await.unwrap();
    sql.execute("execute task customer_scd1_task")
        .await
        .unwrap();
    let warehouse = sql.warehouse().clone();
    drop(sql);
    std::sync::Arc::try_unwrap(warehouse)
        .unwrap()
        .close()
        .await
        .unwrap();
    root
}

/// `query` run by a read-only `snowdrift sql` on `root`, printed in `format`.
fn read_only(root: &str, format: &str, query: &str) -> String {
    succeeded(&snowdrift(&[
        "sql",
        "--root",
        root,
        "--read-only",
        "--format",
        format,
        query,
    ]))
}

/// `count(*)` of the raw table, read by a read-only `snowdrift sql`.
fn raw_rows_read_only(root: &str) -> String {
    let csv = read_only(root, "csv", "select count(*) from customer_raw");
    csv.lines().nth(1).unwrap_or_default().to_owned()
}

/// The last JSON result printed.
fn last_json(stdout: &str) -> Vec<serde_json::Value> {
    let line = stdout.lines().last().unwrap();
    serde_json::from_str::<serde_json::Value>(line)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `(customer_id, first_name, is_current)` of the versions of 72, 73 and 223136, in order.
fn versions(root: &str, wait: &str) -> Vec<(i64, String, bool)> {
    let query = format!(
        "select system$wait({wait}, 'milliseconds'); \
         select customer_id, first_name, is_current from customer_history \
         where customer_id in (72, 73, 223136) order by customer_id, start_time"
    );
    let stdout = succeeded(&snowdrift(&[
        "sql", "--root", root, "--format", "json", &query,
    ]));
    last_json(&stdout)
        .iter()
        .map(|row| {
            (
                row["customer_id"].as_i64().unwrap(),
                row["first_name"].as_str().unwrap().to_owned(),
                row["is_current"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_original_worksheet_runs_through_snowdrift_sql_with_the_tasks_running() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    let before = versions(&root, "0");
    assert_eq!(before, [(72, "Bob".into(), true), (73, "Cid".into(), true)]);
    let stdout = succeeded(&snowdrift(&["sql", "--root", &root, "--file", WORKSHEET]));
    assert!(stdout.contains("SCHEDULED"), "{stdout}");

    // After the SCD-2 task's next run (the tasks run while a session has the warehouse open).
    let want = vec![
        (72, "Bob".to_owned(), false),
        (72, "Jessica".to_owned(), true),
        (73, "Cid".to_owned(), false),
        (223_136, "Jessica".to_owned(), true),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = versions(&root, "300");
        if now == want {
            break;
        }
        assert!(Instant::now() < deadline, "history is {now:?}");
    }
}

#[tokio::test]
async fn results_print_as_csv_and_json_and_read_only_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    let csv = read_only(
        &root,
        "csv",
        "select customer_id, first_name from customer order by customer_id",
    );
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "customer_id,first_name",
            "71,Ann",
            "72,Bob",
            "73,Cid",
            "74,Dee"
        ]
    );
    let empty = read_only(
        &root,
        "json",
        "select * from customer where customer_id = -1",
    );
    assert!(last_json(&empty).is_empty());

    let refused = snowdrift(&[
        "sql",
        "--root",
        &root,
        "--read-only",
        "delete from customer where customer_id = 71",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let count = read_only(&root, "csv", "select count(*) as n from customer");
    assert_eq!(count.lines().nth(1), Some("4"));
}

#[tokio::test]
async fn bad_command_lines_exit_with_code_2_and_failed_statements_with_1() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    let nowhere = dir.path().join("nowhere");
    let nowhere = nowhere.to_str().unwrap();
    for args in [
        vec!["sql", "select 1"],
        vec!["sql", "--root", nowhere, "select 1"],
        vec!["sql", "--root", &root, "--format", "xml", "select 1"],
        vec!["sql", "--root", &root, "--file", nowhere],
        vec!["sql", "--root", &root, "--fiel", "x.sql"],
        vec!["sql", "--root", &root, "--file", WORKSHEET, "select 1"],
    ] {
        let output = snowdrift(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
    assert!(
        !std::path::Path::new(nowhere).exists(),
        "no warehouse was made"
    );
    for statement in [
        "select nope from customer",
        "selec 1",
        "create table t (a int)",
    ] {
        let output = snowdrift(&["sql", "--root", &root, statement]);
        assert_eq!(output.status.code(), Some(1), "{statement}");
    }
    // A script stops at its first failing statement: the insert after it never runs.
    let output = snowdrift(&[
        "sql",
        "--root",
        &root,
        "select nope from customer; insert into customer_raw values (80,'a','b','c','d','e','f','g')",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(raw_rows_read_only(&root), "4");
}

#[tokio::test]
async fn a_writable_session_beside_a_running_writer_is_refused_and_a_read_only_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = warehouse(dir.path()).await;
    let running = LocalWarehouse::open(root.clone()).await.unwrap();
    let refused = snowdrift(&["sql", "--root", &root, "select 1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(!refused.stderr.is_empty());
    assert_eq!(raw_rows_read_only(&root), "4");
    running.close().await.unwrap();
    succeeded(&snowdrift(&["sql", "--root", &root, "select 1"]));
}
