//! Rendered SQL of the merge task bodies, the task DDL and the deploy / teardown plans.
//! The bodies' results are checked against the embedded engine in `tests/emulator.rs`.

use snowdrift_snowflake::{Now, Renderer, SnowflakeError, SourceShape, StageAccess};
use snowdrift_warehouse::{
    ChangePredicate, EventTime, IgnoreNullUpdates, LateChanges, MergeDef, ObjectDef, OnBadRow,
    PipelineSpec, Scd2Delete, TableDef, TaskBody, TaskDef, ValidityColumns,
};

fn spec() -> PipelineSpec {
    PipelineSpec {
        stage_url: "s3://acme-landing/customers".into(),
        schedule: PipelineSpec::original_schedule(),
        ..PipelineSpec::default()
    }
}

fn table(spec: &PipelineSpec, name: &str) -> TableDef {
    spec.objects()
        .into_iter()
        .find_map(|o| match o {
            ObjectDef::Table(t) if t.name == name => Some(t),
            _ => None,
        })
        .unwrap()
}

fn task(spec: &PipelineSpec, name: &str) -> TaskDef {
    spec.objects()
        .into_iter()
        .find_map(|o| match o {
            ObjectDef::Task(t) if t.name == name => Some(t),
            _ => None,
        })
        .unwrap()
}

fn merge_of(task: &TaskDef) -> &MergeDef {
    let TaskBody::Merge(merge) = &task.body;
    merge
}

#[test]
fn scd1_merge_consumes_the_raw_stream_with_a_deterministic_winner_and_null_safe_compare() {
    // The one-statement form: bad rows fail the statement, no sequence to keep.
    let spec = PipelineSpec {
        on_bad_row: OnBadRow::Fail,
        ..spec()
    };
    let task = task(&spec, "customer_scd1_task");
    let sql = Renderer::new("db", "sc")
        .merge_body(
            merge_of(&task),
            &table(&spec, "customer"),
            SourceShape::AppendOnly,
        )
        .unwrap();
    // Defect 1: reads the stream, never truncates raw.
    assert!(
        sql.contains("FROM \"DB\".\"SC\".\"CUSTOMER_RAW_STREAM\""),
        "{sql}"
    );
    assert!(!sql.to_uppercase().contains("TRUNCATE"));
    // Defect 2: one winner per key, latest by file then row.
    assert!(
        sql.contains(
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY \"CUSTOMER_ID\" ORDER BY \"_SNOWDRIFT_FILE\" DESC \
             NULLS LAST, \"_SNOWDRIFT_ROW\" DESC NULLS LAST) = 1"
        ),
        "{sql}"
    );
    // Defect 3: null-safe comparison of every attribute.
    assert!(
        sql.contains("t.\"EMAIL\" IS DISTINCT FROM s.\"EMAIL\""),
        "{sql}"
    );
    assert!(!sql.contains("<>"), "{sql}");
    assert!(sql.contains(
        "\"UPDATE_TIMESTAMP\" = CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ"
    ));
    // Insert columns are unqualified (valid Snowflake, and what emulators accept).
    assert!(
        sql.contains("THEN INSERT (\"CUSTOMER_ID\", \"FIRST_NAME\""),
        "{sql}"
    );
}

#[test]
fn by_default_the_scd1_body_rejects_bad_and_late_rows_and_keeps_sequences_in_one_transaction() {
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        ..spec()
    };
    let task = task(&spec, "customer_scd1_task");
    let renderer = Renderer::new("db", "sc");
    let customer = table(&spec, "customer");
    let statements = renderer
        .merge_statements(merge_of(&task), &customer, SourceShape::AppendOnly)
        .unwrap();
    assert_eq!(statements.len(), 3);
    assert!(statements[0].starts_with("INSERT INTO \"DB\".\"SC\".\"CUSTOMER_REJECTED\""));
    assert!(statements[0].contains("'bad_operation'") && statements[0].contains("'late'"));
    assert!(statements[0].contains("'null_sequence'") && statements[0].contains("'null_key'"));
    assert!(!statements[0].contains("TO_NUMBER('not an operation"));
    assert!(statements[1].starts_with("MERGE INTO \"DB\".\"SC\".\"CUSTOMER\""));
    assert!(statements[2].starts_with("MERGE INTO \"DB\".\"SC\".\"CUSTOMER_SEQUENCES\""));
    let body = renderer
        .merge_body(merge_of(&task), &customer, SourceShape::AppendOnly)
        .unwrap();
    assert!(
        body.starts_with("BEGIN BEGIN TRANSACTION; INSERT INTO"),
        "{body}"
    );
    assert!(body.ends_with("; COMMIT; END"), "{body}");
    // The deploy plan creates the sequences table before the task, teardown drops it.
    let plan = renderer
        .deploy_plan(&spec, &StageAccess::Integration("i".into()))
        .unwrap()
        .to_string();
    let sequences = plan.find("CREATE TABLE IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_SEQUENCES\"");
    let task_at = plan.find("CREATE TASK IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_SCD1_TASK\"");
    assert!(sequences.is_some() && sequences < task_at, "{plan}");
    let teardown = renderer.teardown_plan(&spec).unwrap().to_string();
    assert!(teardown.contains("DROP TABLE IF EXISTS \"DB\".\"SC\".\"CUSTOMER_SEQUENCES\""));
}

#[test]
fn a_truncate_with_a_sequence_raises_a_sequence_floor_kept_in_a_table_of_its_own() {
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        truncate_when: Some(ChangePredicate::equals("op", "TRUNCATE")),
        ..spec()
    };
    let task = task(&spec, "customer_scd1_task");
    let renderer = Renderer::new("db", "sc");
    let statements = renderer
        .merge_statements(
            merge_of(&task),
            &table(&spec, "customer"),
            SourceShape::AppendOnly,
        )
        .unwrap();
    let floor = "\"DB\".\"SC\".\"CUSTOMER_SEQUENCE_FLOOR\"";
    // Last, so that the statements before it judge lateness against the floor as it was.
    assert_eq!(statements.len(), 4);
    assert!(statements[3].starts_with(&format!("MERGE INTO {floor}")));
    assert!(statements[0].contains(floor) && statements[1].contains(floor));
    let plan = renderer
        .deploy_plan(&spec, &StageAccess::Integration("i".into()))
        .unwrap()
        .to_string();
    let created = plan.find(&format!("CREATE TABLE IF NOT EXISTS {floor}"));
    let task_at = plan.find("CREATE TASK IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_SCD1_TASK\"");
    assert!(created.is_some() && created < task_at, "{plan}");
    let teardown = renderer.teardown_plan(&spec).unwrap().to_string();
    assert!(teardown.contains(&format!("DROP TABLE IF EXISTS {floor}")));
    // Without a truncate there is no floor.
    let plain = PipelineSpec {
        truncate_when: None,
        ..spec
    };
    let plan = renderer
        .deploy_plan(&plain, &StageAccess::Integration("i".into()))
        .unwrap()
        .to_string();
    assert!(!plan.contains("SEQUENCE_FLOOR"), "{plan}");
}

#[test]
fn a_history_by_event_time_that_rejects_late_changes_is_one_transaction_over_the_raw_rows() {
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        event_time: Some(EventTime {
            late: LateChanges::Reject,
            ..EventTime::default()
        }),
        ..spec()
    };
    let task = task(&spec, "customer_scd2_task");
    let renderer = Renderer::new("db", "sc");
    let statements = renderer
        .merge_statements(
            merge_of(&task),
            &table(&spec, "customer_history"),
            SourceShape::AppendOnly,
        )
        .unwrap();
    assert_eq!(statements.len(), 3);
    assert!(statements[0].starts_with("INSERT INTO \"DB\".\"SC\".\"CUSTOMER_HISTORY_REJECTED\""));
    assert!(statements[1].starts_with("MERGE INTO \"DB\".\"SC\".\"CUSTOMER_HISTORY\""));
    assert!(statements[2].starts_with("MERGE INTO \"DB\".\"SC\".\"CUSTOMER_HISTORY_SEQUENCES\""));
    // The applied event times are kept as times, in a table deploy makes before the task.
    let plan = renderer
        .deploy_plan(&spec, &StageAccess::Integration("i".into()))
        .unwrap()
        .to_string();
    let created = plan
        .lines()
        .find(|l| {
            l.contains("CREATE TABLE IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_HISTORY_SEQUENCES\"")
        })
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(created.contains("TIMESTAMP_NTZ"), "{created}");
    // The SCD-1 merge is sequenced by the event time too: its applied sequences are times.
    let current = plan
        .lines()
        .find(|l| l.contains("CREATE TABLE IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_SEQUENCES\""))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(current.contains("TIMESTAMP_NTZ"), "{current}");
    let teardown = renderer.teardown_plan(&spec).unwrap().to_string();
    assert!(teardown.contains("DROP TABLE IF EXISTS \"DB\".\"SC\".\"CUSTOMER_HISTORY_SEQUENCES\""));
}

#[test]
fn a_history_by_event_time_that_restitches_is_refused_at_deploy() {
    let spec = PipelineSpec {
        event_time: Some(EventTime::default()),
        ..spec()
    };
    let err = Renderer::new("db", "sc")
        .deploy_plan(&spec, &StageAccess::Integration("i".into()))
        .unwrap_err();
    assert!(
        matches!(&err, SnowflakeError::Unsupported { object, .. } if object.contains("customer_history")),
        "{err}"
    );
}

#[test]
fn an_operation_column_becomes_deletes_and_bad_operations_fail_the_statement() {
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        on_bad_row: OnBadRow::Fail,
        ..spec()
    };
    let task = task(&spec, "customer_scd1_task");
    let sql = Renderer::new("db", "sc")
        .with_now(Now::Fixed(1_700_000_000_000_001))
        .merge_body(
            merge_of(&task),
            &table(&spec, "customer"),
            SourceShape::AppendOnly,
        )
        .unwrap();
    assert!(sql.contains("WHEN MATCHED AND s.\"_SNOWDRIFT_OP\" = 'DELETE' THEN DELETE"));
    assert!(sql.contains("TO_NUMBER('not an operation"), "{sql}");
    assert!(sql.contains("ORDER BY \"SEQ\" DESC NULLS LAST, \"_SNOWDRIFT_FILE\""));
    assert!(
        sql.contains("'2023-11-14 22:13:20.000001'::TIMESTAMP_NTZ"),
        "{sql}"
    );
}

#[test]
fn scd2_merge_orders_versions_strictly_and_closes_on_delete() {
    let spec = spec();
    let task = task(&spec, "customer_scd2_task");
    let sql = Renderer::new("db", "sc")
        .merge_body(
            merge_of(&task),
            &table(&spec, "customer_history"),
            SourceShape::Changes,
        )
        .unwrap();
    // Defect 5: a version starts at least 1 µs after its predecessor.
    assert!(
        sql.contains("GREATEST(c.\"UPDATE_TIMESTAMP\", DATEADD(MICROSECOND, 1, l.\"START_TIME\"))"),
        "{sql}"
    );
    // Updates' DELETE halves are not deletes.
    assert!(sql.contains("NOT (\"METADATA$ACTION\" = 'DELETE' AND \"METADATA$ISUPDATE\")"));
    assert!(
        sql.contains("'9999-12-31 00:00:00.000000'::TIMESTAMP_NTZ"),
        "{sql}"
    );
    assert!(
        sql.contains("UPDATE SET \"END_TIME\" = s.\"_SNOWDRIFT_TIME\", \"IS_CURRENT\" = FALSE")
    );
    assert!(!sql.contains("TOMBSTONE") && !sql.contains("'OVERWRITE'"));
}

#[test]
fn scd2_options_render_tracked_columns_and_tombstones() {
    let spec = spec();
    let mut history = table(&spec, "customer_history");
    history.layout = snowdrift_warehouse::TableLayout::Scd2 {
        validity: ValidityColumns {
            deleted: Some("is_deleted".into()),
            ..ValidityColumns::default()
        },
        late: Default::default(),
    };
    let merge = MergeDef {
        tracked: Some(vec!["street".into(), "city".into(), "state".into()]),
        scd2_on_delete: Scd2Delete::CloseWithTombstone,
        ..merge_of(&task(&spec, "customer_scd2_task")).clone()
    };
    let sql = Renderer::new("db", "sc")
        .merge_body(&merge, &history, SourceShape::Changes)
        .unwrap();
    assert!(
        sql.contains("'OVERWRITE' THEN UPDATE SET \"FIRST_NAME\" = s.\"FIRST_NAME\""),
        "{sql}"
    );
    assert!(sql.contains("\"IS_DELETED\""), "{sql}");
    let bad = MergeDef {
        tracked: Some(vec!["nope".into()]),
        ..merge
    };
    let err = Renderer::new("db", "sc")
        .merge_body(&bad, &history, SourceShape::Changes)
        .unwrap_err();
    assert!(
        matches!(&err, SnowflakeError::InvalidMerge { target, .. } if *target == bad.target),
        "{err}"
    );
}

#[test]
fn sources_of_the_wrong_shape_are_refused() {
    let spec = spec();
    let scd1 = task(&spec, "customer_scd1_task");
    let err = Renderer::new("db", "sc")
        .merge_body(
            merge_of(&scd1),
            &table(&spec, "customer"),
            SourceShape::Changes,
        )
        .unwrap_err();
    assert!(
        matches!(&err, SnowflakeError::Unsupported { object, .. } if object.contains("customer_raw_stream")),
        "{err}"
    );
}

#[test]
fn tasks_carry_schedule_condition_limits_and_predecessors_and_the_root_watches_both_streams() {
    let spec = spec();
    let renderer = Renderer::new("db", "sc").with_warehouse("compute_wh");
    let root = task(&spec, "customer_scd1_task");
    let sql = renderer.task(&root, "SELECT 1").unwrap().to_string();
    assert_eq!(
        sql,
        "CREATE TASK IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_SCD1_TASK\" WAREHOUSE = \"COMPUTE_WH\" \
         SCHEDULE = '1 MINUTE' SUSPEND_TASK_AFTER_NUM_FAILURES = 10 USER_TASK_TIMEOUT_MS = 3600000 \
         WHEN SYSTEM$STREAM_HAS_DATA('\"DB\".\"SC\".\"CUSTOMER_RAW_STREAM\"') \
         OR SYSTEM$STREAM_HAS_DATA('\"DB\".\"SC\".\"CUSTOMER_TABLE_CHANGES\"') AS SELECT 1"
    );
    let child = task(&spec, "customer_scd2_task");
    let sql = Renderer::new("db", "sc")
        .task(&child, "SELECT 1")
        .unwrap()
        .to_string();
    assert!(sql.contains("USER_TASK_MANAGED_INITIAL_WAREHOUSE_SIZE = 'XSMALL'"));
    assert!(
        sql.contains("AFTER \"DB\".\"SC\".\"CUSTOMER_SCD1_TASK\""),
        "{sql}"
    );
    assert!(!sql.contains("SCHEDULE"));
}

#[test]
fn the_deploy_plan_is_ordered_idempotent_and_resumes_children_first() {
    let plan = Renderer::new("snowdrift", "public")
        .deploy_plan(&spec(), &StageAccess::Integration("s3_int".into()))
        .unwrap();
    let lines: Vec<String> = plan.statements.iter().map(|s| s.to_string()).collect();
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in plan:\n{plan}"))
    };
    assert!(lines[0].starts_with("ALTER TASK IF EXISTS"), "{plan}");
    assert!(position("CREATE DATABASE") < position("CREATE TABLE"));
    assert!(position("CREATE STAGE") < position("CREATE PIPE"));
    assert!(position("CREATE PIPE") < position("CREATE STREAM"));
    assert!(
        position("TASK IF NOT EXISTS \"SNOWDRIFT\".\"PUBLIC\".\"CUSTOMER_SCD1_TASK\"")
            < position(" AFTER \"")
    );
    let resume_child = position("\"CUSTOMER_SCD2_TASK\" RESUME");
    let resume_root = position("\"CUSTOMER_SCD1_TASK\" RESUME");
    assert!(resume_child < resume_root && resume_root == lines.len() - 1);
    for line in &lines {
        assert!(
            line.starts_with("ALTER TASK") || line.contains("IF NOT EXISTS"),
            "not safe to apply twice: {line}"
        );
    }
    // Only the raw table gets the load-order columns.
    assert_eq!(
        plan.to_string()
            .matches("\"_SNOWDRIFT_FILE\" VARCHAR")
            .count(),
        1
    );
}

#[test]
fn teardown_drops_in_reverse_order_after_suspending() {
    let plan = Renderer::new("db", "sc").teardown_plan(&spec()).unwrap();
    let text = plan.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ALTER TASK IF EXISTS"));
    assert_eq!(
        lines[1],
        "DROP TASK IF EXISTS \"DB\".\"SC\".\"CUSTOMER_SCD2_TASK\";"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"DROP TABLE IF EXISTS \"DB\".\"SC\".\"CUSTOMER_RAW\";"
    );
    assert!(text.contains("DROP FILE FORMAT IF EXISTS"));
}

#[test]
fn teardown_with_namespace_also_drops_the_schema_and_database_last() {
    let plan = Renderer::new("db", "sc")
        .teardown_plan_with_namespace(&spec())
        .unwrap();
    let text = plan.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    assert_eq!(lines[n - 2], "DROP SCHEMA IF EXISTS \"DB\".\"SC\";");
    assert_eq!(lines[n - 1], "DROP DATABASE IF EXISTS \"DB\";");
    assert_eq!(
        n,
        Renderer::new("db", "sc")
            .teardown_plan(&spec())
            .unwrap()
            .statements
            .len()
            + 2
    );
}

#[test]
fn a_root_task_with_retries_renders_task_auto_retry_attempts() {
    let spec = spec();
    let renderer = Renderer::new("db", "sc");
    let root = TaskDef {
        auto_retry_attempts: 3,
        ..task(&spec, "customer_scd1_task")
    };
    let sql = renderer.task(&root, "SELECT 1").unwrap().to_string();
    assert!(sql.contains(" TASK_AUTO_RETRY_ATTEMPTS = 3 "), "{sql}");
    let plain = renderer
        .task(&task(&spec, "customer_scd1_task"), "SELECT 1")
        .unwrap()
        .to_string();
    assert!(!plain.contains("TASK_AUTO_RETRY_ATTEMPTS"), "{plain}");
}

#[test]
fn a_table_retention_is_rendered_only_when_set() {
    let spec = spec();
    let renderer = Renderer::new("db", "sc");
    let plain = renderer.table(&table(&spec, "customer")).unwrap();
    assert!(!plain.to_string().contains("DATA_RETENTION_TIME_IN_DAYS"));
    let kept = table(&spec, "customer").with_retention_days(7);
    let sql = renderer.table(&kept).unwrap().to_string();
    assert!(sql.ends_with(") DATA_RETENTION_TIME_IN_DAYS = 7"), "{sql}");
    let extended = kept.with_max_data_extension_days(30);
    let sql = renderer.table(&extended).unwrap().to_string();
    assert!(
        sql.ends_with(") DATA_RETENTION_TIME_IN_DAYS = 7 MAX_DATA_EXTENSION_TIME_IN_DAYS = 30"),
        "{sql}"
    );
}

#[test]
fn ignore_null_updates_renders_coalesce_in_scd1_and_fills_from_the_current_version_in_scd2() {
    let spec = PipelineSpec {
        on_bad_row: OnBadRow::Fail,
        ignore_null_updates: IgnoreNullUpdates::Columns(vec!["email".into()]),
        ..spec()
    };
    let renderer = Renderer::new("db", "sc");
    let scd1 = task(&spec, "customer_scd1_task");
    let sql = renderer
        .merge_body(
            merge_of(&scd1),
            &table(&spec, "customer"),
            SourceShape::AppendOnly,
        )
        .unwrap();
    assert!(
        sql.contains("\"EMAIL\" = COALESCE(s.\"EMAIL\", t.\"EMAIL\")"),
        "{sql}"
    );
    assert!(sql.contains("\"CITY\" = s.\"CITY\""), "{sql}");
    let history = MergeDef {
        ignore_null_updates: IgnoreNullUpdates::All,
        ..merge_of(&task(&spec, "customer_scd2_task")).clone()
    };
    let sql = renderer
        .merge_body(
            &history,
            &table(&spec, "customer_history"),
            SourceShape::Changes,
        )
        .unwrap();
    // A NULL in an upsert of a live key takes the current version's value (its behaviour is
    // checked against the embedded engine by the emulator differential).
    assert!(sql.contains("COALESCE(c.\"EMAIL\", l.\"EMAIL\")"), "{sql}");
    assert!(sql.contains("FROM \"_FILLED\" AS c"), "{sql}");
}
