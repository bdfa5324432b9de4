//! The rendered merge bodies executed by an emulator, through the real Rust connector, and
//! compared row for row with the embedded engine on the same input.
//!
//! The emulator is fakesnow in server mode behind `crates/testkit/fakesnow_adapter.py`; `ci/test`
//! installs it. It has no streams or tasks, so each stream is replaced by a table holding
//! the change rows the embedded engine's stream showed before its merge, and each merge body
//! runs on its own with the clock the embedded engine used.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use snowdrift_faker::{ChangeMix, ChangeStream, EntitySpec};
use snowdrift_snowflake::merge::{LOAD_FILE_COLUMN, LOAD_ROW_COLUMN};
use snowdrift_snowflake::values::insert_statements;
use snowdrift_snowflake::{Auth, Connection, Now, Renderer, Secret, SnowflakeConfig, SourceShape};
use snowdrift_testkit::fakesnow::FakeSnowServer;
use snowdrift_warehouse::rows::sorted_rows;
use snowdrift_warehouse::{
    AbsentKeys, ChangePredicate, ChangeSource, Clock, ColumnSelection, ColumnType, CreateMode, Dml,
    IgnoreNullUpdates, LocalWarehouse, ObjectDef, ObjectKind, OpenEnd, PipelineSpec, Scd2Delete,
    TableDef, TableLayout, TaskBody, TaskDef, TaskRunState, ValidityColumns, Warehouse,
    WarehouseExt,
};

const DATABASE: &str = "DIFF";
const SCHEMA: &str = "PUBLIC";

fn config(server: &FakeSnowServer) -> SnowflakeConfig {
    SnowflakeConfig {
        account: "fakesnow".into(),
        user: "tester".into(),
        auth: Auth::Password(Secret::new("not-a-real-password")),
        role: None,
        warehouse: None,
        database: DATABASE.into(),
        schema: SCHEMA.into(),
        base_url: Some(server.url()),
    }
}

async fn connect(server: &FakeSnowServer) -> Connection {
    let connection = Connection::connect(&config(server)).await.unwrap();
    for statement in Renderer::new(DATABASE, SCHEMA).namespace().unwrap() {
        connection.execute(&statement).await.unwrap();
    }
    connection
}

fn qualified(name: &str) -> String {
    Renderer::new(DATABASE, SCHEMA)
        .qualified(ObjectKind::Table, name)
        .unwrap()
}

/// `CREATE TABLE` for a batch's columns.
async fn create_table_like(connection: &Connection, name: &str, schema: &Schema) {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let sql_type = ColumnType::from_arrow(f.data_type())
                .unwrap_or_else(|| panic!("no SQL type for {f:?}"))
                .sql();
            format!("\"{}\" {sql_type}", f.name().to_ascii_uppercase())
        })
        .collect();
    connection
        .execute_sql(&format!(
            "CREATE OR REPLACE TABLE {} ({})",
            qualified(name),
            columns.join(", ")
        ))
        .await
        .unwrap();
}

async fn replace_rows(connection: &Connection, name: &str, batch: &RecordBatch) {
    connection
        .execute_sql(&format!("DELETE FROM {}", qualified(name)))
        .await
        .unwrap();
    for sql in insert_statements(&qualified(name), batch).unwrap() {
        connection.execute_sql(&sql).await.unwrap();
    }
}

async fn read_table(connection: &Connection, name: &str, schema: SchemaRef) -> RecordBatch {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name().to_ascii_uppercase()))
        .collect();
    let sql = format!("SELECT {} FROM {}", columns.join(", "), qualified(name));
    connection.query_batch(&sql, schema, name).await.unwrap()
}

/// Asserts that `table` holds the same rows on the emulator as in the embedded engine, compared
/// on `columns` (all when empty); `context` says which step of which run failed.
async fn assert_same_table(
    connection: &Connection,
    embedded: &Embedded,
    table: &str,
    columns: &[&str],
    context: &str,
) {
    let expected = embedded.warehouse.table(table).await.unwrap();
    let got = read_table(connection, table, expected.schema()).await;
    assert_eq!(
        sorted_rows(&got, columns),
        sorted_rows(&expected, columns),
        "{table} differs {context}"
    );
}

/// Replaces the rows of the emulator's source table `name`, creating it on first use.
async fn stage_source(connection: &Connection, name: &str, rows: &RecordBatch, created: &mut bool) {
    if !*created {
        create_table_like(connection, name, &rows.schema()).await;
        *created = true;
    }
    replace_rows(connection, name, rows).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_round_trips_every_column_type() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let def = TableDef::new(
        "types",
        vec![
            snowdrift_warehouse::Column::new("n", ColumnType::Number),
            snowdrift_warehouse::Column::new("f", ColumnType::Float),
            snowdrift_warehouse::Column::new("s", ColumnType::Varchar),
            snowdrift_warehouse::Column::new("b", ColumnType::Boolean),
            snowdrift_warehouse::Column::new("d", ColumnType::Date),
            snowdrift_warehouse::Column::new("t", ColumnType::TimestampNtz),
        ],
    );
    let renderer = Renderer::new(DATABASE, SCHEMA);
    connection
        .execute(&renderer.table(&def).unwrap())
        .await
        .unwrap();
    let schema = def.schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![Some(-7), None, Some(i64::MAX)])),
            Arc::new(arrow::array::Float64Array::from(vec![
                Some(1.5),
                Some(-0.25),
                None,
            ])),
            Arc::new(StringArray::from(vec![
                Some("O'Brien \\ \"x\""),
                Some(""),
                None,
            ])),
            Arc::new(arrow::array::BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
            ])),
            Arc::new(arrow::array::Date32Array::from(vec![
                Some(0),
                Some(20_000),
                None,
            ])),
            Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![
                Some(1_700_000_000_123_456),
                Some(0),
                None,
            ])),
        ],
    )
    .unwrap();
    for sql in insert_statements(&qualified("types"), &batch).unwrap() {
        connection.execute_sql(&sql).await.unwrap();
    }
    let back = read_table(&connection, "types", schema).await;
    assert_eq!(sorted_rows(&back, &[]), sorted_rows(&batch, &[]));
}

/// The embedded side of a differential run: the spec's tables, streams and merge tasks,
/// with the SCD-2 task runnable on its own and a clock the test sets.
struct Embedded {
    warehouse: LocalWarehouse,
    now: Arc<AtomicI64>,
}

impl Embedded {
    async fn new(objects: &[ObjectDef]) -> Self {
        let now = Arc::new(AtomicI64::new(1_750_000_000_000_000));
        let source = now.clone();
        let warehouse = LocalWarehouse::builder("memory://")
            .background(false)
            .clock(Clock::from_fn(move || source.load(Ordering::SeqCst)))
            .open()
            .await
            .unwrap();
        for object in objects.iter().cloned() {
            let object = match object {
                ObjectDef::Table(_) | ObjectDef::Stream(_) => object,
                ObjectDef::Task(task) => ObjectDef::Task(TaskDef {
                    after: Vec::new(),
                    ..task
                }),
                _ => continue,
            };
            warehouse.create(object, CreateMode::Create).await.unwrap();
        }
        Embedded { warehouse, now }
    }

    async fn run_task(&self, task: &str, at: i64) {
        self.now.store(at, Ordering::SeqCst);
        let run = self.warehouse.execute_task(task).await.unwrap();
        assert!(
            matches!(run.state, TaskRunState::Succeeded | TaskRunState::Skipped),
            "{run:?}"
        );
    }
}

fn table_def(objects: &[ObjectDef], name: &str) -> TableDef {
    objects
        .iter()
        .cloned()
        .find_map(|o| match o {
            ObjectDef::Table(t) if t.name == name => Some(t),
            _ => None,
        })
        .unwrap()
}

fn merge_def(objects: &[ObjectDef], task: &str) -> snowdrift_warehouse::MergeDef {
    objects
        .iter()
        .cloned()
        .find_map(|o| match o {
            ObjectDef::Task(t) if t.name == task => {
                let TaskBody::Merge(merge) = t.body;
                Some(merge)
            }
            _ => None,
        })
        .unwrap()
}

/// The raw stream's rows as a Snowflake stream on the raw table shows them: the raw columns,
/// the load-order columns (file = the step, row = the position in load order) and the
/// embedded stream's `METADATA$ROW_ID`.
fn raw_rows_with_load_order(stream_rows: &RecordBatch, raw: &TableDef, step: usize) -> RecordBatch {
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for column in &raw.columns {
        let i = stream_rows.schema().index_of(&column.name).unwrap();
        fields.push(stream_rows.schema().field(i).clone());
        columns.push(stream_rows.column(i).clone());
    }
    let n = stream_rows.num_rows();
    fields.push(Field::new(
        LOAD_FILE_COLUMN,
        arrow::datatypes::DataType::Utf8,
        true,
    ));
    columns.push(Arc::new(StringArray::from(vec![
        format!(
            "step-{step:04}.csv"
        );
        n
    ])));
    fields.push(Field::new(
        LOAD_ROW_COLUMN,
        arrow::datatypes::DataType::Int64,
        true,
    ));
    columns.push(Arc::new(Int64Array::from_iter_values(1..=n as i64)));
    let ids = stream_rows.schema().index_of("METADATA$ROW_ID").unwrap();
    fields.push(Field::new(
        "METADATA$ROW_ID",
        arrow::datatypes::DataType::Utf8,
        true,
    ));
    columns.push(stream_rows.column(ids).clone());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// The columns of a rejected table both backends fill the same way (the task run, the time
/// and the staged file differ by design: see docs/operations.md).
fn comparable_rejected_columns(def: &TableDef) -> Vec<String> {
    use snowdrift_warehouse::rejected;
    def.columns
        .iter()
        .map(|c| c.name.clone())
        .filter(|n| {
            // The emulator reads a table standing in for the stream, under another name.
            ![
                rejected::SOURCE_STREAM,
                rejected::TASK,
                rejected::TASK_RUN,
                rejected::REJECTED_AT,
                rejected::STAGED_FILE,
                rejected::STAGED_LINE,
            ]
            .contains(&n.as_str())
        })
        .collect()
}

/// Creates (anew) the tables the rendered SCD-1 merge writes beside its target.
async fn create_merge_side_tables(
    connection: &Connection,
    renderer: &Renderer,
    objects: &[ObjectDef],
    current: &TableDef,
    merge: &snowdrift_warehouse::MergeDef,
) -> TableDef {
    let rejected = table_def(objects, &merge.rejected_table());
    let sequences = snowdrift_snowflake::reject::sequences_table(current, ColumnType::Number);
    let floor = snowdrift_snowflake::reject::sequence_floor_table(current);
    recreate_tables(connection, renderer, &[&rejected, &sequences, &floor]).await;
    rejected
}

/// Drops and creates `defs` on the emulator.
async fn recreate_tables(connection: &Connection, renderer: &Renderer, defs: &[&TableDef]) {
    for def in defs {
        connection
            .execute_sql(&format!("DROP TABLE IF EXISTS {}", qualified(&def.name)))
            .await
            .unwrap();
        connection
            .execute(&renderer.table(def).unwrap())
            .await
            .unwrap();
    }
}

/// Runs the statements of a merge body in order (fakesnow runs no Scripting blocks; on
/// Snowflake they run in one transaction).
async fn run_merge(connection: &Connection, statements: Vec<String>) {
    for sql in statements {
        connection.execute_sql(&sql).await.unwrap();
    }
}

/// Runs `steps` change batches through the embedded engine and, step by step, the rendered
/// merges on the emulator; the SCD-1 and SCD-2 tables and the SCD-1 rejected table must hold
/// the same rows after every step. Returns the rows rejected in the end.
async fn differential(
    connection: &Connection,
    spec: PipelineSpec,
    objects: Vec<ObjectDef>,
    seed: u64,
    steps: usize,
    rows: usize,
) -> usize {
    let mut changes = ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(rows)
        .initial_population(rows / 2)
        .mix(ChangeMix {
            insert: 0.2,
            update: 0.4,
            delete: if spec.operation_column.is_some() {
                0.15
            } else {
                0.0
            },
            noop: 0.15,
            restore: if spec.operation_column.is_some() {
                0.1
            } else {
                0.0
            },
        })
        .duplicate_rate(0.1)
        .null_rate(0.1)
        .operation_column(spec.operation_column.as_deref())
        .sequence_column(spec.sequence_column.as_deref())
        .build()
        .unwrap();
    // With a sequence, files arrive out of generation order: late changes happen.
    let mut arrival = snowdrift_faker::OutOfOrder::new(seed, 0.4, 2).unwrap();
    let mut inserts: Vec<Vec<RecordBatch>> = Vec::new();
    for _ in 0..steps {
        let next = changes.next_batch().batch;
        if spec.sequence_column.is_some() {
            let arrived = arrival.push(next);
            if !arrived.is_empty() {
                inserts.push(arrived);
            }
        } else {
            inserts.push(vec![next]);
        }
    }
    differential_of(connection, spec, objects, seed, inserts).await
}

/// Like [`differential`], for given inserts into the raw table: one step per entry, each
/// step's rows staged as one file.
async fn differential_of(
    connection: &Connection,
    spec: PipelineSpec,
    objects: Vec<ObjectDef>,
    seed: u64,
    inserts: Vec<Vec<RecordBatch>>,
) -> usize {
    let embedded = Embedded::new(&objects).await;
    let raw = table_def(&objects, &spec.raw_table);
    let current = table_def(&objects, &spec.current_table);
    let history = table_def(&objects, &spec.history_table);
    let renderer = Renderer::new(DATABASE, SCHEMA);
    recreate_tables(connection, &renderer, &[&current, &history]).await;
    let raw_source = "raw_changes";
    let current_source = "current_changes";
    let scd1 = snowdrift_warehouse::MergeDef {
        source: raw_source.into(),
        ..merge_def(&objects, &spec.current_task)
    };
    let scd2 = snowdrift_warehouse::MergeDef {
        source: current_source.into(),
        ..merge_def(&objects, &spec.history_task)
    };
    let rejected = create_merge_side_tables(connection, &renderer, &objects, &current, &scd1).await;
    let compared_rejected = comparable_rejected_columns(&rejected);
    let compared_rejected: Vec<&str> = compared_rejected.iter().map(String::as_str).collect();
    let mut raw_table_created = false;
    let mut changes_table_created = false;
    for (step, pending) in inserts.into_iter().enumerate() {
        embedded
            .warehouse
            .dml(&spec.raw_table, Dml::Insert(pending))
            .await
            .unwrap();
        let at = 1_800_000_000_000_000 + step as i64 * 10_000_000;

        // SCD-1: the raw stream's rows, merged at the same time on both sides.
        let raw_rows = raw_rows_with_load_order(
            &embedded.warehouse.stream(&spec.raw_stream).await.unwrap(),
            &raw,
            step,
        );
        stage_source(connection, raw_source, &raw_rows, &mut raw_table_created).await;
        embedded.run_task(&spec.current_task, at).await;
        let statements = renderer
            .clone()
            .with_now(Now::Fixed(at))
            .merge_statements(&scd1, &current, SourceShape::AppendOnly)
            .unwrap();
        run_merge(connection, statements).await;
        let context = format!("after SCD-1 at step {step} (seed {seed})");
        assert_same_table(connection, &embedded, &spec.current_table, &[], &context).await;
        assert_same_table(
            connection,
            &embedded,
            &rejected.name,
            &compared_rejected,
            &context,
        )
        .await;

        // SCD-2: the change rows the embedded stream on the SCD-1 table shows.
        let current_rows = embedded
            .warehouse
            .stream(&spec.current_stream)
            .await
            .unwrap();
        stage_source(
            connection,
            current_source,
            &current_rows,
            &mut changes_table_created,
        )
        .await;
        embedded.run_task(&spec.history_task, at + 5_000_000).await;
        let sql = renderer
            .clone()
            .with_now(Now::Fixed(at + 5_000_000))
            .merge_body(&scd2, &history, SourceShape::Changes)
            .unwrap();
        connection.execute_sql(&sql).await.unwrap();
        let context = format!("after SCD-2 at step {step} (seed {seed})");
        assert_same_table(connection, &embedded, &spec.history_table, &[], &context).await;
    }
    embedded.warehouse.row_count(&rejected.name).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_merges_match_the_embedded_engine_on_generated_change_streams() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let with_deletes = PipelineSpec {
        operation_column: Some("op".into()),
        ..PipelineSpec::default()
    };
    for seed in [1, 2, 3] {
        differential(
            &connection,
            with_deletes.clone(),
            with_deletes.objects(),
            seed,
            4,
            300,
        )
        .await;
    }
    // The original's shape: upserts only, every file re-stating known keys.
    let original = PipelineSpec::default();
    differential(&connection, original.clone(), original.objects(), 4, 3, 300).await;
}

/// History tracked on the address only (names and email overwritten in place), deletes
/// closing the version and opening a tombstone.
fn tracked_with_tombstones(spec: &PipelineSpec) -> Vec<ObjectDef> {
    spec.objects()
        .into_iter()
        .map(|object| match object {
            ObjectDef::Table(mut table) if table.name == spec.history_table => {
                table.layout = TableLayout::Scd2 {
                    validity: ValidityColumns {
                        deleted: Some("is_deleted".into()),
                        ..ValidityColumns::default()
                    },
                    late: Default::default(),
                };
                ObjectDef::Table(table)
            }
            ObjectDef::Task(mut task) if task.name == spec.history_task => {
                let TaskBody::Merge(merge) = &mut task.body;
                merge.tracked = Some(vec!["street".into(), "city".into(), "state".into()]);
                merge.scd2_on_delete = Scd2Delete::CloseWithTombstone;
                ObjectDef::Task(task)
            }
            other => other,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_columns_and_tombstones_match_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        ..PipelineSpec::default()
    };
    for seed in [5, 6] {
        differential(
            &connection,
            spec.clone(),
            tracked_with_tombstones(&spec),
            seed,
            4,
            300,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_validity_columns_match_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    // dbt's names, `dbt_valid_to` NULL while current, `dbt_scd_id`, and `hard_deletes:
    // new_record` tombstones in `dbt_is_deleted`; then the same with 9999-12-31
    // (`dbt_valid_to_current`).
    for (seed, open_end) in [(11, OpenEnd::Null), (12, OpenEnd::FarFuture)] {
        let spec = PipelineSpec {
            operation_column: Some("op".into()),
            history_on_delete: Scd2Delete::CloseWithTombstone,
            history_validity: ValidityColumns {
                deleted: Some("dbt_is_deleted".into()),
                open_end,
                ..ValidityColumns::dbt()
            },
            ..PipelineSpec::default()
        };
        differential(&connection, spec.clone(), spec.objects(), seed, 4, 300).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_null_updates_matches_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    for (seed, ignore) in [
        (7, IgnoreNullUpdates::All),
        (
            8,
            IgnoreNullUpdates::Columns(vec!["email".into(), "city".into()]),
        ),
        (9, IgnoreNullUpdates::AllExcept(vec!["email".into()])),
    ] {
        let spec = PipelineSpec {
            operation_column: Some("op".into()),
            sequence_column: Some("seq".into()),
            ignore_null_updates: ignore,
            ..PipelineSpec::default()
        };
        differential(&connection, spec.clone(), spec.objects(), seed, 4, 300).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_null_updates_in_the_history_merge_matches_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    // The SCD-1 merge takes NULLs as values; the history merge (a MergeDef of its own, as a
    // user may write it) keeps the stored value of its current version instead.
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        ..PipelineSpec::default()
    };
    let objects: Vec<ObjectDef> = spec
        .objects()
        .into_iter()
        .map(|object| match object {
            ObjectDef::Task(mut task) if task.name == spec.history_task => {
                let TaskBody::Merge(merge) = &mut task.body;
                merge.ignore_null_updates = IgnoreNullUpdates::AllExcept(vec!["city".into()]);
                ObjectDef::Task(task)
            }
            other => other,
        })
        .collect();
    differential(&connection, spec, objects, 13, 4, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_columns_match_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        kept_columns: ColumnSelection::AllExcept(vec!["street".into(), "state".into()]),
        ..PipelineSpec::default()
    };
    differential(&connection, spec.clone(), spec.objects(), 10, 4, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_as_delete_when_matches_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    // Upserts only, a customer deleted when the change has no city or is in Texas.
    let delete_when = ChangePredicate::Or(vec![
        ChangePredicate::IsNull {
            column: "city".into(),
        },
        ChangePredicate::equals("state", "Texas"),
    ]);
    for (seed, sequence) in [(11, None), (12, Some("seq".to_string()))] {
        let spec = PipelineSpec {
            delete_when: Some(delete_when.clone()),
            sequence_column: sequence,
            ..PipelineSpec::default()
        };
        spec.validate().unwrap();
        differential(&connection, spec.clone(), spec.objects(), seed, 4, 300).await;
    }
}

/// `batch` with a truncate row (every column NULL but the operation and, if given, the
/// sequence `seq`) at row `at`, in the raw table's schema.
fn with_truncate_at(
    batch: &RecordBatch,
    raw: &TableDef,
    at: usize,
    seq: Option<i64>,
) -> RecordBatch {
    let schema = raw.schema();
    let truncate: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "op" => Arc::new(StringArray::from(vec!["TRUNCATE"])) as ArrayRef,
            "seq" => Arc::new(Int64Array::from(vec![seq])) as ArrayRef,
            _ => arrow::array::new_null_array(f.data_type(), 1),
        })
        .collect();
    let truncate = RecordBatch::try_new(schema.clone(), truncate).unwrap();
    let conformed = RecordBatch::try_new(schema.clone(), batch.columns().to_vec()).unwrap();
    let (before, after) = (
        conformed.slice(0, at),
        conformed.slice(at, batch.num_rows() - at),
    );
    arrow::compute::concat_batches(&schema, [&before, &truncate, &after]).unwrap()
}

/// A spec whose SCD-1 merge applies `op = 'TRUNCATE'` rows as truncates (sequenced by
/// `sequence` when given), its raw table, and files of 200 changes over 100 customers.
fn truncating(seed: u64, sequence: Option<&str>) -> (PipelineSpec, TableDef, ChangeStream) {
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: sequence.map(Into::into),
        truncate_when: Some(ChangePredicate::equals("op", "TRUNCATE")),
        ..PipelineSpec::default()
    };
    spec.validate().unwrap();
    let raw = table_def(&spec.objects(), &spec.raw_table);
    let changes = ChangeStream::builder(EntitySpec::customer())
        .seed(seed)
        .batch_size(200)
        .initial_population(100)
        .operation_column(Some("op"))
        .sequence_column(sequence)
        .event_time_column(None)
        .build()
        .unwrap();
    (spec, raw, changes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_as_truncate_when_matches_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let (spec, raw, mut changes) = truncating(21, None);
    // A truncate in the middle of the second file and at the end of the fourth.
    let inserts: Vec<Vec<RecordBatch>> = (0..5)
        .map(|step| {
            let batch = changes.next_batch().batch;
            vec![match step {
                1 => with_truncate_at(&batch, &raw, 100, None),
                3 => with_truncate_at(&batch, &raw, batch.num_rows(), None),
                _ => RecordBatch::try_new(raw.schema(), batch.columns().to_vec()).unwrap(),
            }]
        })
        .collect();
    let objects = spec.objects();
    differential_of(&connection, spec, objects, 21, inserts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_as_truncate_when_with_a_sequence_matches_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let (spec, raw, mut changes) = truncating(22, Some("seq"));
    // Files of sequences 0..199, 200..399, ...; each row's sequence is its place in the file.
    let files: Vec<RecordBatch> = (0..5).map(|_| changes.next_batch().batch).collect();
    let conform =
        |batch: &RecordBatch| RecordBatch::try_new(raw.schema(), batch.columns().to_vec()).unwrap();
    let inserts = vec![
        vec![conform(&files[0])],
        // Two truncates: the last by sequence (250) is the reset, not the last in the file;
        // rows after it in the file but older (200..250) are superseded, rows before it but
        // younger (251..299) stay.
        vec![with_truncate_at(
            &with_truncate_at(&files[1], &raw, 100, Some(250)),
            &raw,
            150,
            Some(230),
        )],
        // A younger file first, then an older one ending in a truncate at 500: keys last
        // changed after 500 stay, the older file's rows up to 500 are superseded.
        vec![conform(&files[3])],
        vec![with_truncate_at(
            &files[2],
            &raw,
            files[2].num_rows(),
            Some(500),
        )],
        // Changes older than the floor (500) are late, for deleted and unknown keys alike.
        vec![conform(&files[1].slice(0, 60)), conform(&files[4])],
    ];
    let objects = spec.objects();
    let rejected = differential_of(&connection, spec, objects, 22, inserts).await;
    assert!(rejected > 0, "no change was older than the floor");
}

/// Like [`differential_of`] for a history sequenced by event time whose late changes are
/// rejected: both merges read the raw rows (the SCD-1 merge sequenced by the event time too),
/// and both targets and their rejected tables are compared after every step. Returns the rows
/// the history rejected in the end.
async fn history_of_raw_rows_differential(
    connection: &Connection,
    spec: PipelineSpec,
    objects: Vec<ObjectDef>,
    seed: u64,
    inserts: Vec<Vec<RecordBatch>>,
) -> usize {
    let embedded = Embedded::new(&objects).await;
    let raw = table_def(&objects, &spec.raw_table);
    let history = table_def(&objects, &spec.history_table);
    let renderer = Renderer::new(DATABASE, SCHEMA);
    let source = "raw_history_changes";
    let merge = snowdrift_warehouse::MergeDef {
        source: source.into(),
        ..merge_def(&objects, &spec.history_task)
    };
    let rejected = table_def(&objects, &merge.rejected_table());
    let sequences =
        snowdrift_snowflake::reject::sequences_table(&history, ColumnType::TimestampNtz);
    let current = table_def(&objects, &spec.current_table);
    let scd1 = snowdrift_warehouse::MergeDef {
        source: source.into(),
        ..merge_def(&objects, &spec.current_task)
    };
    let current_rejected = table_def(&objects, &scd1.rejected_table());
    let current_sequences =
        snowdrift_snowflake::reject::sequences_table(&current, ColumnType::TimestampNtz);
    recreate_tables(
        connection,
        &renderer,
        &[
            &history,
            &rejected,
            &sequences,
            &current,
            &current_rejected,
            &current_sequences,
        ],
    )
    .await;
    let compared_rejected = comparable_rejected_columns(&rejected);
    let compared_rejected: Vec<&str> = compared_rejected.iter().map(String::as_str).collect();
    let mut source_created = false;
    for (step, pending) in inserts.into_iter().enumerate() {
        // Loaded a second before the merges (the history's stream must not outlive the
        // retention; the engine's clock never gives two commits one time).
        let at = 1_800_000_000_000_000 + step as i64 * 10_000_000;
        embedded.now.store(at - 1_000_000, Ordering::SeqCst);
        embedded
            .warehouse
            .dml(&spec.raw_table, Dml::Insert(pending))
            .await
            .unwrap();
        let rows = raw_rows_with_load_order(
            &embedded
                .warehouse
                .stream(spec.history_source())
                .await
                .unwrap(),
            &raw,
            step,
        );
        stage_source(connection, source, &rows, &mut source_created).await;
        embedded.run_task(&spec.current_task, at).await;
        embedded.run_task(&spec.history_task, at + 5_000_000).await;
        for (merge, target, at) in [(&scd1, &current, at), (&merge, &history, at + 5_000_000)] {
            let statements = renderer
                .clone()
                .with_now(Now::Fixed(at))
                .merge_statements(merge, target, SourceShape::AppendOnly)
                .unwrap();
            run_merge(connection, statements).await;
        }
        for (table, columns) in [
            (&current.name, &[][..]),
            (&current_rejected.name, &compared_rejected[..]),
            (&history.name, &[][..]),
            (&rejected.name, &compared_rejected[..]),
        ] {
            let context = format!("at step {step} (seed {seed})");
            assert_same_table(connection, &embedded, table, columns, &context).await;
        }
    }
    embedded.warehouse.row_count(&rejected.name).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_by_event_time_that_rejects_late_changes_matches_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    for (seed, on_delete, validity) in [
        (41, Scd2Delete::Close, ValidityColumns::default()),
        (
            42,
            Scd2Delete::CloseWithTombstone,
            ValidityColumns {
                deleted: Some("dbt_is_deleted".into()),
                ..ValidityColumns::dbt()
            },
        ),
        // A pipeline refuses to ignore deletes in a history by event time; a merge of its
        // own may (a delete that wins its key changes nothing).
        (43, Scd2Delete::Ignore, ValidityColumns::default()),
    ] {
        let spec = PipelineSpec {
            operation_column: Some("op".into()),
            event_time: Some(snowdrift_warehouse::EventTime {
                late: snowdrift_warehouse::LateChanges::Reject,
                ..snowdrift_warehouse::EventTime::default()
            }),
            history_on_delete: match on_delete {
                Scd2Delete::Ignore => Scd2Delete::Close,
                other => other,
            },
            history_validity: validity,
            ..PipelineSpec::default()
        };
        spec.validate().unwrap();
        let objects: Vec<ObjectDef> = spec
            .objects()
            .into_iter()
            .map(|object| match object {
                ObjectDef::Task(mut task) if task.name == spec.history_task => {
                    let TaskBody::Merge(merge) = &mut task.body;
                    merge.scd2_on_delete = on_delete;
                    ObjectDef::Task(task)
                }
                other => other,
            })
            .collect();
        let mut changes = ChangeStream::builder(EntitySpec::customer())
            .seed(seed)
            .batch_size(300)
            .initial_population(150)
            .mix(ChangeMix {
                insert: 0.2,
                update: 0.4,
                delete: 0.15,
                noop: 0.15,
                restore: 0.1,
            })
            .duplicate_rate(0.1)
            .null_rate(0.1)
            .late_rate(0.1)
            .operation_column(Some("op"))
            .build()
            .unwrap();
        // Files also arrive out of generation order.
        let mut arrival = snowdrift_faker::OutOfOrder::new(seed, 0.4, 2).unwrap();
        let mut inserts = Vec::new();
        for _ in 0..5 {
            let arrived = arrival.push(changes.next_batch().batch);
            if !arrived.is_empty() {
                inserts.push(arrived);
            }
        }
        let rejected =
            history_of_raw_rows_differential(&connection, spec, objects, seed, inserts).await;
        assert!(rejected > 0, "no change arrived late (seed {seed})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_sources_match_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    for (seed, absent) in [(31, AbsentKeys::Delete), (32, AbsentKeys::Keep)] {
        let spec = PipelineSpec {
            change_source: ChangeSource::Snapshots(absent),
            ..PipelineSpec::default()
        };
        spec.validate().unwrap();
        // Each file re-states a random part of the population: customers come, change and go.
        let mut changes = ChangeStream::builder(EntitySpec::customer())
            .seed(seed)
            .batch_size(150)
            .initial_population(100)
            .event_time_column(None)
            .build()
            .unwrap();
        let inserts: Vec<Vec<RecordBatch>> =
            (0..5).map(|_| vec![changes.next_batch().batch]).collect();
        differential_of(&connection, spec.clone(), spec.objects(), seed, inserts).await;
    }
}

/// Runs `sql`, which must fail with an error that names `says` (the emulator's errors carry
/// no structure to match), and checks that the SCD-1 target is still empty.
async fn fails_and_merges_nothing(
    connection: &Connection,
    sql: &str,
    spec: &PipelineSpec,
    current: &TableDef,
    says: &str,
) {
    let err = connection.execute_sql(sql).await.unwrap_err().to_string();
    assert!(err.contains(says), "{err}");
    let left = read_table(connection, &spec.current_table, current.schema()).await;
    assert_eq!(left.num_rows(), 0, "nothing was merged");
}

/// The objects of `spec`, its SCD-1 target and a merge into it from `bad_ops`, a raw source
/// made by [`bad_operation_source`].
async fn bad_operation_merge(
    connection: &Connection,
    spec: &PipelineSpec,
) -> (Vec<ObjectDef>, TableDef, snowdrift_warehouse::MergeDef) {
    let objects = spec.objects();
    let current = bad_operation_source(connection, spec, &objects).await;
    let merge = snowdrift_warehouse::MergeDef {
        source: "bad_ops".into(),
        ..merge_def(&objects, &spec.current_task)
    };
    (objects, current, merge)
}

/// A raw source holding one good row and one bad one (a bad operation, or with a sequence in
/// the spec a NULL sequence), and the SCD-1 target.
async fn bad_operation_source(
    connection: &Connection,
    spec: &PipelineSpec,
    objects: &[ObjectDef],
) -> TableDef {
    let current = table_def(objects, &spec.current_table);
    recreate_tables(connection, &Renderer::new(DATABASE, SCHEMA), &[&current]).await;
    let raw = table_def(objects, &spec.raw_table);
    let mut fields = arrow::datatypes::SchemaBuilder::from(raw.schema().fields());
    fields.extend([
        Field::new(LOAD_FILE_COLUMN, arrow::datatypes::DataType::Utf8, true),
        Field::new(LOAD_ROW_COLUMN, arrow::datatypes::DataType::Int64, true),
        Field::new("METADATA$ROW_ID", arrow::datatypes::DataType::Utf8, true),
    ]);
    let schema = Arc::new(fields.finish());
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![1, 2]))];
    for _ in 1..8 {
        columns.push(Arc::new(StringArray::from(vec!["a", "b"])));
    }
    if spec.sequence_column.is_some() {
        // The second row's operation is good, its sequence NULL.
        columns.push(Arc::new(StringArray::from(vec!["INSERT", "INSERT"])));
        columns.push(Arc::new(Int64Array::from(vec![Some(1), None])));
    } else {
        columns.push(Arc::new(StringArray::from(vec!["INSERT", "FROB"])));
    }
    columns.push(Arc::new(StringArray::from(vec!["f.csv", "f.csv"])));
    columns.push(Arc::new(Int64Array::from(vec![1, 2])));
    columns.push(Arc::new(StringArray::from(vec!["01", "02"])));
    let rows = RecordBatch::try_new(schema.clone(), columns).unwrap();
    create_table_like(connection, "bad_ops", &schema).await;
    replace_rows(connection, "bad_ops", &rows).await;
    current
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_operation_fails_the_merge_and_keeps_the_rows_under_on_bad_row_fail() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        on_bad_row: snowdrift_warehouse::OnBadRow::Fail,
        ..PipelineSpec::default()
    };
    let (_, current, merge) = bad_operation_merge(&connection, &spec).await;
    let sql = Renderer::new(DATABASE, SCHEMA)
        .merge_body(&merge, &current, SourceShape::AppendOnly)
        .unwrap();
    fails_and_merges_nothing(&connection, &sql, &spec, &current, "FROB").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_sequence_and_on_bad_row_fail_a_bad_row_fails_the_transaction() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        on_bad_row: snowdrift_warehouse::OnBadRow::Fail,
        ..PipelineSpec::default()
    };
    let (objects, current, merge) = bad_operation_merge(&connection, &spec).await;
    let renderer = Renderer::new(DATABASE, SCHEMA);
    create_merge_side_tables(&connection, &renderer, &objects, &current, &merge).await;
    let statements = renderer
        .merge_statements(&merge, &current, SourceShape::AppendOnly)
        .unwrap();
    assert_eq!(statements.len(), 3);
    // The first statement fails; in the task's transaction nothing after it runs.
    fails_and_merges_nothing(
        &connection,
        &statements[0],
        &spec,
        &current,
        "null_sequence",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_operation_is_rejected_with_its_reason_and_the_good_row_merged() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        ..PipelineSpec::default()
    };
    let (objects, current, merge) = bad_operation_merge(&connection, &spec).await;
    let renderer = Renderer::new(DATABASE, SCHEMA);
    let rejected =
        create_merge_side_tables(&connection, &renderer, &objects, &current, &merge).await;
    let statements = renderer
        .merge_statements(&merge, &current, SourceShape::AppendOnly)
        .unwrap();
    run_merge(&connection, statements).await;
    let merged = read_table(&connection, &spec.current_table, current.schema()).await;
    assert_eq!(sorted_rows(&merged, &["customer_id"]), ["1"]);
    let rows = read_table(&connection, &rejected.name, rejected.schema()).await;
    use snowdrift_warehouse::rejected as r;
    assert_eq!(
        sorted_rows(
            &rows,
            &[
                "customer_id",
                "op",
                r::REASON,
                r::COLUMN,
                r::SOURCE_ROW_ID,
                r::STAGED_FILE,
                r::STAGED_LINE
            ]
        ),
        ["2|FROB|bad_operation|op|02|f.csv|2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_loads_with_a_sequence_reject_the_same_late_rows_as_the_embedded_engine() {
    let server = FakeSnowServer::start();
    let connection = connect(&server).await;
    let spec = PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        ..PipelineSpec::default()
    };
    for seed in [7, 8] {
        let rejected = differential(&connection, spec.clone(), spec.objects(), seed, 8, 200).await;
        assert!(rejected > 0, "no change arrived late (seed {seed})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warehouse_trait_writes_and_reads_tables_like_the_embedded_engine() {
    let server = FakeSnowServer::start();
    connect(&server).await;
    let snowflake = snowdrift_snowflake::SnowflakeWarehouse::connect_with(
        &config(&server),
        snowdrift_snowflake::StageAccess::None,
    )
    .await
    .unwrap();
    let local = LocalWarehouse::builder("memory://")
        .background(false)
        .open()
        .await
        .unwrap();
    let spec = PipelineSpec::default();
    let objects = spec.objects();
    let customer = table_def(&objects, &spec.current_table);
    let raw = table_def(&objects, &spec.raw_table);
    let mut changes = ChangeStream::builder(EntitySpec::customer())
        .seed(11)
        .batch_size(200)
        .initial_population(100)
        .duplicate_rate(0.2)
        .null_rate(0.2)
        .build()
        .unwrap();
    let backends: [&dyn Warehouse; 2] = [&snowflake, &local];
    for warehouse in backends {
        for def in [&customer, &raw] {
            warehouse
                .create(ObjectDef::Table(def.clone()), CreateMode::Create)
                .await
                .unwrap();
        }
        let again = warehouse
            .create(ObjectDef::Table(raw.clone()), CreateMode::Create)
            .await
            .unwrap_err();
        assert!(
            matches!(
                again,
                snowdrift_warehouse::WarehouseError::AlreadyExists { .. }
            ),
            "{}: {again}",
            warehouse.backend()
        );
        warehouse
            .create(ObjectDef::Table(raw.clone()), CreateMode::IfNotExists)
            .await
            .unwrap();
    }
    let business: Vec<&str> = customer.columns.iter().map(|c| c.name.as_str()).collect();
    for _ in 0..3 {
        let batch = changes.next_batch().batch;
        let keys = batch.slice(0, 10);
        for warehouse in backends {
            let count = warehouse
                .dml(&spec.current_table, Dml::Insert(vec![batch.clone()]))
                .await
                .unwrap();
            assert!(count.inserted + count.updated > 0, "{count:?}");
            warehouse
                .dml(&spec.raw_table, Dml::Insert(vec![batch.clone()]))
                .await
                .unwrap();
            let deleted = warehouse
                .dml(&spec.current_table, Dml::Delete(keys.clone()))
                .await
                .unwrap();
            assert!(deleted.deleted > 0, "{}: {deleted:?}", warehouse.backend());
        }
        for table in [&spec.current_table, &spec.raw_table] {
            let ours = snowflake.table(table).await.unwrap();
            let theirs = local.table(table).await.unwrap();
            assert_eq!(
                sorted_rows(&ours, &business),
                sorted_rows(&theirs, &business),
                "{table}"
            );
        }
    }
    snowflake
        .drop_object(ObjectKind::Table, &spec.raw_table, false)
        .await
        .unwrap();
    let gone = snowflake.table(&spec.raw_table).await.unwrap_err();
    assert!(
        matches!(gone, snowdrift_warehouse::WarehouseError::NotFound { .. }),
        "{gone}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_debug_output_and_errors() {
    let password = "s3cr3t-Pa55-do-not-show";
    let server = FakeSnowServer::start();
    let mut config = config(&server);
    config.auth = Auth::Password(Secret::new(password));
    let keys = snowdrift_snowflake::StageAccess::Keys {
        key_id: Secret::new("AKIA-do-not-show"),
        secret_key: Secret::new("aws-secret-do-not-show"),
    };
    let warehouse = snowdrift_snowflake::SnowflakeWarehouse::connect_with(&config, keys)
        .await
        .unwrap();
    let shown = format!("{config:?} {warehouse:?}");
    assert!(!shown.contains("do-not-show"), "{shown}");

    // Nobody listens on port 1: the error names the account and the user, not the password.
    config.base_url = Some("http://127.0.0.1:1".into());
    let err = Connection::connect(&config).await.unwrap_err().to_string();
    assert!(err.contains("fakesnow") && err.contains("tester"), "{err}");
    assert!(!err.contains(password), "{err}");
}
