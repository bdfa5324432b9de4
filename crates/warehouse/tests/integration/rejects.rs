//! Bad rows and late rows through the whole deployed pipeline (the default `PipelineSpec` with
//! an operation and a sequence column, staged CSV files, the pipe and both tasks): a poison row
//! never stops the pipeline and lands in `customer_rejected` with its file and line; a late
//! change stays late after a restart, whether the restart replays the log or a checkpoint.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    CopyOptions, LocalWarehouse, OnBadRow, PipelineSpec, TaskRunState, Warehouse, WarehouseExt,
    rejected,
};
use tempfile::TempDir;

const HEADER: &str = "customer_id,first_name,last_name,email,street,city,state,country,op,seq";

/// A row of a staged file: id, e-mail, operation, sequence.
fn line(id: &str, email: &str, op: &str, seq: &str) -> String {
    format!("{id},F,L,{email},S,C,ST,CO,{op},{seq}")
}

/// A temporary folder with a stage and a warehouse root, and the pipeline deployed on them:
/// the default spec with an operation and a sequence column.
struct Pipeline {
    dir: TempDir,
    spec: PipelineSpec,
}

impl Pipeline {
    fn new(on_bad_row: OnBadRow) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir.path().join("stage");
        std::fs::create_dir_all(&stage).unwrap();
        let spec = PipelineSpec {
            stage_url: stage.to_str().unwrap().to_owned(),
            operation_column: Some("op".into()),
            sequence_column: Some("seq".into()),
            on_bad_row,
            ..PipelineSpec::default()
        };
        Pipeline { dir, spec }
    }

    /// Opens the warehouse (again, after a restart) and deploys the pipeline.
    async fn open(&self) -> LocalWarehouse {
        let root = self.dir.path().join("wh");
        let warehouse = LocalWarehouse::builder(root.to_str().unwrap())
            .background(false)
            .open()
            .await
            .unwrap();
        warehouse.deploy(&self.spec).await.unwrap();
        warehouse
    }

    fn stage_file(&self, name: &str, rows: &[String]) {
        let mut text = String::from(HEADER);
        for row in rows {
            text.push('\n');
            text.push_str(row);
        }
        text.push('\n');
        std::fs::write(self.dir.path().join("stage").join(name), text).unwrap();
    }

    /// Loads what is staged (`COPY INTO`, the load path the pipe uses too) and runs the
    /// graph once; returns the states of the root's and the child's last runs.
    async fn load_and_merge(&self, w: &LocalWarehouse) -> Vec<TaskRunState> {
        let spec = &self.spec;
        w.copy_into(&spec.raw_table, &spec.stage, CopyOptions::default())
            .await
            .unwrap();
        w.execute_task(&spec.current_task).await.unwrap();
        let mut states = Vec::new();
        for task in [&spec.current_task, &spec.history_task] {
            let history = w.task_history(task).await.unwrap();
            if let Some(run) = history.last() {
                states.push(run.state);
            }
        }
        states
    }
}

fn emails(batch: &RecordBatch) -> Vec<String> {
    sorted_rows(batch, &["customer_id", "email"])
}

#[tokio::test]
async fn a_poison_row_is_rejected_with_its_file_and_line_and_the_rows_around_it_flow_on() {
    let pipeline = Pipeline::new(OnBadRow::Reject);
    let w = pipeline.open().await;
    pipeline.stage_file(
        "customer_1.csv",
        &[
            line("1", "before@x", "INSERT", "1"),
            line("2", "poison@x", "FOO", "2"),
            line("3", "after@x", "INSERT", "3"),
        ],
    );
    assert_eq!(
        pipeline.load_and_merge(&w).await,
        [TaskRunState::Succeeded, TaskRunState::Succeeded]
    );
    pipeline.stage_file(
        "customer_2.csv",
        &[
            line("4", "later@x", "INSERT", "4"),
            line("5", "noseq@x", "INSERT", ""),
        ],
    );
    assert_eq!(
        pipeline.load_and_merge(&w).await,
        [TaskRunState::Succeeded, TaskRunState::Succeeded]
    );

    let customer = w.table("customer").await.unwrap();
    assert_eq!(emails(&customer), ["1|before@x", "3|after@x", "4|later@x"]);
    let history = w.table("customer_history").await.unwrap();
    assert_eq!(history.num_rows(), 3);
    let rejected_rows = w.table("customer_rejected").await.unwrap();
    assert_eq!(
        sorted_rows(
            &rejected_rows,
            &[
                "customer_id",
                "email",
                rejected::REASON,
                rejected::STAGED_LINE,
                rejected::SOURCE_STREAM
            ]
        ),
        [
            "2|poison@x|bad_operation|3|customer_raw_stream",
            "5|noseq@x|null_sequence|3|customer_raw_stream"
        ]
    );
    let files = rejected_rows
        .column_by_name(rejected::STAGED_FILE)
        .unwrap()
        .as_string::<i32>();
    let mut files: Vec<&str> = files.iter().map(|f| f.unwrap()).collect();
    files.sort_unstable();
    assert!(files[0].ends_with("customer_1.csv") && files[1].ends_with("customer_2.csv"));
    let runs = rejected_rows
        .column_by_name(rejected::TASK_RUN)
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(runs.null_count(), 0);
    let root = w.task_history(&pipeline.spec.current_task).await.unwrap();
    assert!(root.iter().all(|r| r.state == TaskRunState::Succeeded));
    assert_eq!(root.iter().map(|r| r.rejected_rows).sum::<u64>(), 2);
    assert!(!w.stream_has_data(&pipeline.spec.raw_stream).await.unwrap());
}

#[tokio::test]
async fn with_on_bad_row_fail_a_poison_row_fails_the_run_and_keeps_the_stream() {
    let pipeline = Pipeline::new(OnBadRow::Fail);
    let w = pipeline.open().await;
    pipeline.stage_file(
        "customer_1.csv",
        &[
            line("1", "before@x", "INSERT", "1"),
            line("2", "poison@x", "FOO", "2"),
        ],
    );
    let states = pipeline.load_and_merge(&w).await;
    assert_eq!(states[0], TaskRunState::Failed);
    assert_eq!(w.table("customer").await.unwrap().num_rows(), 0);
    assert_eq!(w.table("customer_rejected").await.unwrap().num_rows(), 0);
    assert!(w.stream_has_data(&pipeline.spec.raw_stream).await.unwrap());
}

/// Stages `first`, merges, restarts (with or without a checkpoint), stages `second`, merges;
/// returns the pipeline (which holds the folder) and the restarted warehouse.
async fn late_after_restart(
    first: &str,
    second: &str,
    checkpoint: bool,
) -> (Pipeline, LocalWarehouse) {
    let pipeline = Pipeline::new(OnBadRow::Reject);
    let w = pipeline.open().await;
    pipeline.stage_file("customer_1.csv", &[first.to_owned()]);
    pipeline.load_and_merge(&w).await;
    if checkpoint {
        w.close().await.unwrap();
    } else {
        drop(w);
    }
    let w = pipeline.open().await;
    pipeline.stage_file("customer_2.csv", &[second.to_owned()]);
    assert_eq!(
        pipeline.load_and_merge(&w).await[0],
        TaskRunState::Succeeded
    );
    (pipeline, w)
}

#[tokio::test]
async fn an_older_update_after_a_restart_is_rejected_as_late_and_the_newer_value_stays() {
    for checkpoint in [false, true] {
        let (_pipeline, w) = late_after_restart(
            &line("1", "newer@x", "UPDATE", "200"),
            &line("1", "older@x", "UPDATE", "100"),
            checkpoint,
        )
        .await;
        assert_eq!(emails(&w.table("customer").await.unwrap()), ["1|newer@x"]);
        assert_eq!(w.table("customer_history").await.unwrap().num_rows(), 1);
        let rejected_rows = w.table("customer_rejected").await.unwrap();
        assert_eq!(
            sorted_rows(
                &rejected_rows,
                &["customer_id", "email", "seq", rejected::REASON]
            ),
            ["1|older@x|100|late"],
            "checkpoint: {checkpoint}"
        );
    }
}

#[tokio::test]
async fn an_older_change_after_a_restarted_delete_is_rejected_as_late_and_the_key_stays_deleted() {
    for checkpoint in [false, true] {
        let (_pipeline, w) = late_after_restart(
            &line("1", "gone@x", "DELETE", "200"),
            &line("1", "older@x", "UPDATE", "100"),
            checkpoint,
        )
        .await;
        assert_eq!(w.table("customer").await.unwrap().num_rows(), 0);
        let rejected_rows = w.table("customer_rejected").await.unwrap();
        assert_eq!(
            sorted_rows(&rejected_rows, &["customer_id", "email", rejected::REASON]),
            ["1|older@x|late"],
            "checkpoint: {checkpoint}"
        );
    }
}
