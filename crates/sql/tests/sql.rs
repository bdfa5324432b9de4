//! The SQL surface over a deployed pipeline: the original worksheet's script as written, with
//! the outcomes Snowflake gives; streams read without moving their offsets; the metadata
//! views; DML that streams and tasks see; object commands; and errors for what is not run.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use snowdrift_sql::{QueryResult, SqlError, SqlSession, split_statements};
use snowdrift_warehouse::{LocalWarehouse, PipelineSpec, Warehouse, WarehouseError, WarehouseExt};

/// Customers 71–74 into the raw table (shared with the other SQL tests).
const FIXTURE: &str = include_str!("fixture.sql");

const WORKSHEET: &str = include_str!("worksheet.sql");

struct Pipeline {
    sql: SqlSession,
    _dir: tempfile::TempDir,
}

/// A deployed default pipeline (tasks driven by hand) whose raw table holds customers 71–74,
/// merged into `customer` and `customer_history`.
async fn pipeline() -> Pipeline {
    let dir = tempfile::tempdir().unwrap();
    let spec = PipelineSpec {
        stage_url: dir.path().join("stage").to_str().unwrap().into(),
        ..PipelineSpec::default()
    };
    let warehouse = LocalWarehouse::builder(dir.path().join("wh").to_str().unwrap())
        .background(false)
        .open()
        .await
        .unwrap();
    warehouse.deploy(&spec).await.unwrap();
    let sql = SqlSession::new(Arc::new(warehouse));
    sql.execute(FIXTURE).await.unwrap();
    sql.execute("execute task customer_scd1_task")
        .await
        .unwrap();
    Pipeline { sql, _dir: dir }
}

async fn rows(sql: &SqlSession, query: &str) -> RecordBatch {
    sql.execute(query).await.unwrap().concat().unwrap()
}

fn ids(batch: &RecordBatch) -> Vec<i64> {
    let mut ids: Vec<i64> = batch
        .column_by_name("customer_id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    ids.sort_unstable();
    ids
}

fn count(result: &QueryResult) -> i64 {
    result
        .concat()
        .unwrap()
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0)
}

#[tokio::test]
async fn the_original_worksheet_runs_as_written_and_gives_snowflakes_outcome() {
    let p = pipeline().await;
    let statements = split_statements(WORKSHEET).unwrap();
    assert_eq!(statements.complete.len(), 11);
    assert!(statements.rest.is_empty());
    let mut results = Vec::new();
    for statement in &statements.complete {
        results.push(p.sql.execute(statement).await.unwrap());
    }
    assert_eq!(count(&results[0]), 4);
    // The stream on customer shows the three changes: an insert, an update (a DELETE and an
    // INSERT with METADATA$ISUPDATE) and a delete.
    let changes = results[4].concat().unwrap();
    assert_eq!(changes.num_rows(), 4);
    let actions: Vec<(i64, String, bool)> = (0..changes.num_rows())
        .map(|i| {
            (
                changes
                    .column_by_name("customer_id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .value(i),
                changes
                    .column_by_name("metadata$action")
                    .unwrap()
                    .as_string::<i32>()
                    .value(i)
                    .to_owned(),
                changes
                    .column_by_name("metadata$isupdate")
                    .unwrap()
                    .as_boolean()
                    .value(i),
            )
        })
        .collect();
    for want in [
        (223_136, "INSERT", false),
        (72, "INSERT", true),
        (72, "DELETE", true),
        (73, "DELETE", false),
    ] {
        assert!(
            actions.contains(&(want.0, want.1.to_owned(), want.2)),
            "{want:?} not in {actions:?}"
        );
    }
    // Before the SCD-2 task runs, the history still has 72 and 73 as they were.
    assert_eq!(ids(&results[5].concat().unwrap()), [72, 73]);
    assert_eq!(ids(&results[6].concat().unwrap()), [72, 223_136]);
    assert_eq!(results[7].num_rows(), 4); // 71, 72, 74, 223136: one row each
    // The next run of the root task (resumed, so it has a SCHEDULED row) is in the future.
    let scheduled = results[10].concat().unwrap();
    assert_eq!(scheduled.num_rows(), 1);
    let next_run = scheduled
        .column_by_name("next_run")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!(
        (0..=1).contains(&next_run.value(0)),
        "next run in {} s",
        next_run.value(0)
    );

    // After the SCD-2 task's next run: 223136 is a new current version, 72 has its previous
    // version closed and a new current one, 73 is closed with no current version.
    p.sql
        .execute("execute task customer_scd1_task")
        .await
        .unwrap();
    let current = rows(
        &p.sql,
        "select * from customer_history where IS_CURRENT=TRUE and customer_id in (72,73,223136)",
    )
    .await;
    assert_eq!(ids(&current), [72, 223_136]);
    let jessica = rows(
        &p.sql,
        "select first_name from customer_history where IS_CURRENT and customer_id = 72",
    )
    .await;
    assert_eq!(jessica.column(0).as_string::<i32>().value(0), "Jessica");
    let closed = rows(
        &p.sql,
        "select * from customer_history where IS_CURRENT=FALSE",
    )
    .await;
    assert_eq!(ids(&closed), [72, 73]);
    let open_end = rows(
        &p.sql,
        "select count(*) from customer_history where IS_CURRENT and end_time < '9999-12-31'",
    )
    .await;
    assert_eq!(open_end.column(0).as_primitive::<Int64Type>().value(0), 0);
    assert_eq!(
        rows(&p.sql, "select * from customer_table_changes")
            .await
            .num_rows(),
        0
    );
}

#[tokio::test]
async fn reading_a_stream_never_moves_its_offset() {
    let p = pipeline().await;
    p.sql
        .execute("insert into customer_raw values (75,'Eve','Ng','eve@x.com','5 Road','Town','Ohio','Peru')")
        .await
        .unwrap();
    for _ in 0..3 {
        let result = p
            .sql
            .execute("select count(*) from customer_raw_stream")
            .await
            .unwrap();
        assert_eq!(count(&result), 1);
    }
    let has_data = rows(
        &p.sql,
        "select system$stream_has_data('CUSTOMER_RAW_STREAM') as d",
    )
    .await;
    assert!(has_data.column(0).as_boolean().value(0));
    assert!(
        p.sql
            .warehouse()
            .stream_has_data("customer_raw_stream")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn identifiers_are_case_insensitive_unless_quoted_in_mixed_case() {
    let p = pipeline().await;
    for query in [
        "select CUSTOMER_ID from CUSTOMER",
        "select \"CUSTOMER_ID\" from \"CUSTOMER\"",
        "select customer_id from Customer",
        "select METADATA$ACTION, metadata$row_id from customer_table_changes",
    ] {
        p.sql
            .execute(query)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
    }
    assert!(matches!(
        p.sql.execute("select \"Customer_Id\" from customer").await,
        Err(SqlError::Query(_))
    ));
}

#[tokio::test]
async fn metadata_views_show_loads_task_runs_and_pipe_status() {
    let p = pipeline().await;
    let runs = rows(
        &p.sql,
        "select name, state, rows_consumed from table(information_schema.task_history(task_name => 'CUSTOMER_SCD1_TASK')) where state <> 'SCHEDULED'",
    )
    .await;
    assert_eq!(runs.num_rows(), 1);
    assert_eq!(runs.column(1).as_string::<i32>().value(0), "SUCCEEDED");
    let all = rows(
        &p.sql,
        "select distinct name from information_schema.task_history where state = 'SUCCEEDED'",
    )
    .await;
    assert_eq!(all.num_rows(), 2, "both tasks of the graph ran");
    let loads = rows(&p.sql, "select * from information_schema.copy_history").await;
    assert_eq!(
        loads.num_rows(),
        0,
        "rows inserted by SQL are no file loads"
    );
    let status = rows(&p.sql, "select SYSTEM$PIPE_STATUS('customer_pipe') as s").await;
    let json: serde_json::Value =
        serde_json::from_str(status.column(0).as_string::<i32>().value(0)).unwrap();
    assert_eq!(json["executionState"], "RUNNING");
    assert_eq!(json["pendingFileCount"], 0);
}

#[tokio::test]
async fn object_commands_run_on_the_warehouse() {
    let p = pipeline().await;
    p.sql
        .execute("alter task customer_scd1_task suspend")
        .await
        .unwrap();
    let tasks = rows(&p.sql, "show tasks like 'customer_scd1%'").await;
    assert_eq!(tasks.num_rows(), 1);
    assert_eq!(
        tasks
            .column_by_name("state")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "suspended"
    );
    let scheduled = rows(
        &p.sql,
        "select * from information_schema.task_history where state = 'SCHEDULED'",
    )
    .await;
    assert_eq!(scheduled.num_rows(), 0, "a suspended task has no next run");
    p.sql
        .execute("ALTER TASK customer_scd1_task RESUME")
        .await
        .unwrap();
    let refreshed = rows(&p.sql, "alter pipe customer_pipe refresh").await;
    assert_eq!(refreshed.num_rows(), 1);
    p.sql
        .execute("alter pipe customer_pipe set pipe_execution_paused = true")
        .await
        .unwrap();
    let status = p
        .sql
        .warehouse()
        .pipe_status("customer_pipe")
        .await
        .unwrap();
    assert_eq!(
        status.execution_state,
        snowdrift_warehouse::PipeExecutionState::Paused
    );
    let raw = rows(&p.sql, "show tables like 'customer_raw'").await;
    let bytes = raw.column_by_name("bytes").unwrap();
    assert!(
        bytes
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .value(0)
            > 0
    );
    for (command, at_least) in [("show tables", 4), ("show streams", 2), ("show pipes", 1)] {
        assert!(
            rows(&p.sql, command).await.num_rows() >= at_least,
            "{command}"
        );
    }
    assert!(matches!(
        p.sql.execute("execute task no_such_task").await,
        Err(SqlError::Warehouse(WarehouseError::NotFound { .. }))
    ));
}

#[tokio::test]
async fn dml_errors_name_the_column_and_nothing_changes() {
    let p = pipeline().await;
    let before = p.sql.warehouse().version().await;
    assert!(matches!(
        p.sql
            .execute("insert into customer values (1, 'too', 'few')")
            .await,
        Err(SqlError::Column { .. })
    ));
    assert!(matches!(
        p.sql.execute("insert into customer (customer_id, shoe_size) values (1, 42)").await,
        Err(SqlError::Column { column, .. }) if column == "shoe_size"
    ));
    assert!(matches!(
        p.sql.execute("insert into customer (customer_id) values ('seventy')").await,
        Err(SqlError::Column { column, .. }) if column == "customer_id"
    ));
    assert!(matches!(
        p.sql
            .execute("update customer set customer_id = 1 where customer_id = 72")
            .await,
        Err(SqlError::Unsupported { .. })
    ));
    assert!(matches!(
        p.sql
            .execute("delete from customer_raw where customer_id = 72")
            .await,
        Err(SqlError::Unsupported { .. })
    ));
    assert_eq!(p.sql.warehouse().version().await, before);
    // An update that matches nothing changes nothing and says so.
    let none = p
        .sql
        .execute("update customer set first_name = 'X' where customer_id = 9999")
        .await
        .unwrap();
    assert_eq!(count_u64(&none), 0);
    assert_eq!(p.sql.warehouse().version().await, before);
}

fn count_u64(result: &QueryResult) -> u64 {
    result
        .concat()
        .unwrap()
        .column(0)
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .value(0)
}

#[tokio::test]
async fn statements_the_engine_does_not_run_are_refused_with_what_it_runs() {
    let p = pipeline().await;
    for statement in [
        "create table t (a int)",
        "drop table customer",
        "merge into customer using customer_raw on true when matched then delete",
        "alter warehouse w suspend",
        "select system$clustering_information('customer')",
        "select 1; select 2",
        "select customer_id into kept from customer",
    ] {
        match p.sql.execute(statement).await {
            Err(SqlError::Unsupported { supported, .. }) => assert!(!supported.is_empty()),
            other => panic!("{statement}: {other:?}"),
        }
    }
    assert!(matches!(
        p.sql.execute("selec 1").await,
        Err(SqlError::Parse { .. })
    ));
    // And the warehouse still has its table.
    assert!(p.sql.warehouse().row_count("customer").await.unwrap() > 0);
}

#[tokio::test]
async fn the_rejected_table_is_queryable() {
    let p = pipeline().await;
    let rejected = p
        .sql
        .execute("select count(*) from customer_rejected")
        .await
        .unwrap();
    assert_eq!(count(&rejected), 0);
    let nulls = rows(&p.sql, "select count(*) from customer where email is null").await;
    assert_eq!(nulls.column(0).null_count(), 0);
}
