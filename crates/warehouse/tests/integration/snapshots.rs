//! Snapshot sources and `APPLY AS TRUNCATE WHEN` through the whole flow on the embedded
//! engine: staged CSV files → pipe → `customer_raw` → both merges, with the exactly-once
//! guarantees of any pipeline (a file is one snapshot; a run after a restart changes nothing).

use crate::support;

use std::time::Duration;

use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use snowdrift_stage::StageLocation;
use snowdrift_warehouse::conformance::sorted_rows;
use snowdrift_warehouse::{
    AbsentKeys, ChangePredicate, ChangeSource, LocalWarehouse, OnError, PipelineSpec, Schedule,
    TaskAction, TaskRunState, Warehouse, WarehouseError, WarehouseExt,
};
use support::flow::{open_with, wait_for_files};

/// A CSV file of the customer columns (and `op` when given), one record per row.
fn csv(rows: &[(Option<i64>, &str, Option<&str>)]) -> Vec<u8> {
    let with_op = rows.iter().any(|r| r.2.is_some());
    let mut out = String::from("customer_id,first_name,last_name,email,street,city,state,country");
    out.push_str(if with_op { ",op\n" } else { "\n" });
    for (id, email, op) in rows {
        let id = id.map(|i| i.to_string()).unwrap_or_default();
        out.push_str(&format!("{id},F{id},L{id},{email},S,C,ST,CO"));
        match op {
            Some(op) => out.push_str(&format!(",{op}\n")),
            None => out.push('\n'),
        }
    }
    out.into_bytes()
}

fn snapshot(ids: impl IntoIterator<Item = i64>, email: impl Fn(i64) -> String) -> Vec<u8> {
    let rows: Vec<(i64, String)> = ids.into_iter().map(|i| (i, email(i))).collect();
    let rows: Vec<(Option<i64>, &str, Option<&str>)> = rows
        .iter()
        .map(|(i, e)| (Some(*i), e.as_str(), None))
        .collect();
    csv(&rows)
}

struct Flow {
    _dir: tempfile::TempDir,
    spec: PipelineSpec,
    root: std::path::PathBuf,
    stage: StageLocation,
    warehouse: LocalWarehouse,
    files: usize,
}

impl Flow {
    async fn new(spec: PipelineSpec) -> Flow {
        let dir = tempfile::tempdir().unwrap();
        let stage_dir = dir.path().join("stage");
        std::fs::create_dir_all(&stage_dir).unwrap();
        let spec = PipelineSpec {
            stage_url: stage_dir.to_str().unwrap().to_owned(),
            schedule: Schedule::Interval(Duration::from_secs(3600)),
            ..spec
        };
        let root = dir.path().join("wh");
        let warehouse = open_with(&root, &spec, 3).await;
        // A child task runs in its graph only when resumed (the root runs by hand here).
        warehouse
            .alter_task(&spec.history_task, TaskAction::Resume)
            .await
            .unwrap();
        let stage = StageLocation::parse(stage_dir.to_str().unwrap()).unwrap();
        Flow {
            _dir: dir,
            spec,
            root,
            stage,
            warehouse,
            files: 0,
        }
    }

    /// Stages `files` (named in order) and waits until the pipe has loaded them.
    async fn stage(&mut self, files: Vec<Vec<u8>>) {
        for body in files {
            self.files += 1;
            let name = format!("snap-{:04}.csv", self.files);
            self.stage
                .store()
                .put(&Path::from(name.as_str()), body.into())
                .await
                .unwrap();
            self.warehouse.refresh_pipe(&self.spec.pipe).await.unwrap();
            wait_for_files(&self.warehouse, &self.spec, self.files).await;
        }
    }

    async fn run(&self) {
        let run = self
            .warehouse
            .execute_task(&self.spec.current_task)
            .await
            .unwrap();
        assert_eq!(run.state, TaskRunState::Succeeded, "{run:?}");
    }

    /// `customer` as `id|email` rows.
    async fn customers(&self) -> Vec<String> {
        let table = self
            .warehouse
            .table(&self.spec.current_table)
            .await
            .unwrap();
        sorted_rows(&table, &["customer_id", "email"])
    }

    /// `customer_history` as `id|email|is_current` rows.
    async fn history(&self) -> Vec<String> {
        let table = self
            .warehouse
            .table(&self.spec.history_table)
            .await
            .unwrap();
        sorted_rows(&table, &["customer_id", "email", "is_current"])
    }
}

fn rows(items: impl IntoIterator<Item = (i64, String)>) -> Vec<String> {
    let mut rows: Vec<String> = items.into_iter().map(|(i, e)| format!("{i}|{e}")).collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_source_diffs_customer_against_each_staged_file() {
    let mut flow = Flow::new(PipelineSpec {
        change_source: ChangeSource::Snapshots(AbsentKeys::Delete),
        ..PipelineSpec::default()
    })
    .await;
    flow.stage(vec![snapshot(0..20, |i| format!("a{i}"))]).await;
    flow.run().await;
    // Customers 0..5 leave, 5..10 change their e-mail, 20..25 arrive.
    let second = |i: i64| {
        if i < 10 {
            format!("b{i}")
        } else {
            format!("a{i}")
        }
    };
    flow.stage(vec![snapshot(5..25, second)]).await;
    flow.run().await;
    let want = rows((5..25).map(|i| (i, second(i))));
    assert_eq!(flow.customers().await, want);
    let history = flow.history().await;
    let current: Vec<String> = history
        .iter()
        .filter_map(|r| r.strip_suffix("|true").map(str::to_owned))
        .collect();
    assert_eq!(
        current, want,
        "the history's current rows are the snapshot: {history:?}"
    );
    // 0..5: one closed version; 5..10: a closed and a current one; others one current.
    assert_eq!(history.len(), 5 + 2 * 5 + 15);

    // Two snapshots in one run: the last decides.
    flow.stage(vec![
        snapshot(0..30, |i| format!("c{i}")),
        snapshot(0..3, |i| format!("d{i}")),
    ])
    .await;
    flow.run().await;
    let want = rows((0..3).map(|i| (i, format!("d{i}"))));
    assert_eq!(flow.customers().await, want);

    // Exactly once: after a restart the files are not loaded again and a run changes nothing.
    let Flow {
        warehouse,
        root,
        spec,
        _dir,
        ..
    } = flow;
    warehouse.close().await.unwrap();
    let flow_spec = spec;
    let reopened = open_with(&root, &flow_spec, 3).await;
    reopened.refresh_pipe(&flow_spec.pipe).await.unwrap();
    let run = reopened
        .execute_task(&flow_spec.current_task)
        .await
        .unwrap();
    assert_eq!(run.rows_consumed, 0, "{run:?}");
    let customer = reopened.table(&flow_spec.current_table).await.unwrap();
    assert_eq!(sorted_rows(&customer, &["customer_id", "email"]), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_keys_keep_leaves_customers_a_snapshot_does_not_name() {
    let mut flow = Flow::new(PipelineSpec {
        change_source: ChangeSource::Snapshots(AbsentKeys::Keep),
        ..PipelineSpec::default()
    })
    .await;
    flow.stage(vec![snapshot(0..4, |i| format!("a{i}"))]).await;
    flow.run().await;
    flow.stage(vec![snapshot(2..6, |i| format!("b{i}"))]).await;
    flow.run().await;
    let want = rows((0..6).map(|i| {
        (
            i,
            if i < 2 {
                format!("a{i}")
            } else {
                format!("b{i}")
            },
        )
    }));
    assert_eq!(flow.customers().await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_loaded_with_bad_records_skipped_deletes_nothing() {
    let mut flow = Flow::new(PipelineSpec {
        change_source: ChangeSource::Snapshots(AbsentKeys::Delete),
        on_error: OnError::Continue,
        ..PipelineSpec::default()
    })
    .await;
    flow.stage(vec![snapshot(0..4, |i| format!("a{i}"))]).await;
    flow.run().await;
    // Customer 3's record is bad (its id is not a number): the load skips it, and the
    // snapshot, no longer whole, must not delete customer 3 (nor anyone else it misses).
    let mut body = snapshot(0..2, |i| format!("b{i}"));
    body.extend_from_slice(b"x3,F,L,bad,S,C,ST,CO\n");
    flow.stage(vec![body]).await;
    flow.run().await;
    let want = rows([
        (0, "b0".to_string()),
        (1, "b1".to_string()),
        (2, "a2".to_string()),
        (3, "a3".to_string()),
    ]);
    assert_eq!(flow.customers().await, want);
    // The next whole snapshot deletes what it leaves out.
    flow.stage(vec![snapshot(0..2, |i| format!("b{i}"))]).await;
    flow.run().await;
    assert_eq!(flow.customers().await, want[..2].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_as_truncate_when_empties_customer_and_closes_the_history() {
    let mut flow = Flow::new(PipelineSpec {
        operation_column: Some("op".into()),
        truncate_when: Some(ChangePredicate::equals("op", "TRUNCATE")),
        ..PipelineSpec::default()
    })
    .await;
    let inserts: Vec<(Option<i64>, &str, Option<&str>)> =
        (0..6).map(|i| (Some(i), "a", Some("INSERT"))).collect();
    flow.stage(vec![csv(&inserts)]).await;
    flow.run().await;
    // A truncate row names no customer; customer 3 comes back after it with a new e-mail.
    flow.stage(vec![csv(&[
        (Some(1), "z", Some("UPDATE")),
        (None, "", Some("TRUNCATE")),
        (Some(3), "b", Some("INSERT")),
    ])])
    .await;
    flow.run().await;
    assert_eq!(flow.customers().await, ["3|b"]);
    let history = flow.history().await;
    assert_eq!(
        history
            .iter()
            .filter(|r| r.ends_with("|true"))
            .collect::<Vec<_>>(),
        ["3|b|true"]
    );
    assert_eq!(
        history.len(),
        6 + 1,
        "every version closed, one new for customer 3"
    );
    let rejected = flow
        .warehouse
        .table(&format!("{}_rejected", flow.spec.current_table))
        .await
        .unwrap();
    assert_eq!(rejected.num_rows(), 0, "a truncate row is not a bad row");
}

#[test]
fn a_snapshot_source_refuses_per_row_rules() {
    let snapshots = || PipelineSpec {
        change_source: ChangeSource::Snapshots(AbsentKeys::Delete),
        ..PipelineSpec::default()
    };
    let specs = [
        PipelineSpec {
            operation_column: Some("op".into()),
            ..snapshots()
        },
        PipelineSpec {
            sequence_column: Some("seq".into()),
            ..snapshots()
        },
        PipelineSpec {
            event_time: Some(Default::default()),
            ..snapshots()
        },
        PipelineSpec {
            truncate_when: Some(ChangePredicate::equals("email", "x")),
            ..snapshots()
        },
        PipelineSpec {
            truncate_when: Some(ChangePredicate::equals("nope", "x")),
            ..PipelineSpec::default()
        },
    ];
    for spec in specs {
        assert!(
            matches!(
                spec.validate(),
                Err(WarehouseError::InvalidDefinition { .. })
            ),
            "{spec:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncate_by_sequence_makes_older_changes_late_after_a_restart_too() {
    let mut flow = Flow::new(PipelineSpec {
        operation_column: Some("op".into()),
        sequence_column: Some("seq".into()),
        truncate_when: Some(ChangePredicate::equals("op", "TRUNCATE")),
        ..PipelineSpec::default()
    })
    .await;
    let file = |rows: &[(Option<i64>, &str, i64)]| {
        let mut out = String::from(
            "customer_id,first_name,last_name,email,street,city,state,country,op,seq\n",
        );
        for (id, op, seq) in rows {
            let id = id.map(|i| i.to_string()).unwrap_or_default();
            out.push_str(&format!("{id},F,L,e{id},S,C,ST,CO,{op},{seq}\n"));
        }
        out.into_bytes()
    };
    let inserts: Vec<(Option<i64>, &str, i64)> =
        (0..5).map(|i| (Some(i), "INSERT", i + 1)).collect();
    flow.stage(vec![file(&inserts)]).await;
    flow.run().await;
    // Truncated at sequence 10; customer 1 changed after it.
    flow.stage(vec![file(&[
        (None, "TRUNCATE", 10),
        (Some(1), "UPDATE", 12),
    ])])
    .await;
    flow.run().await;
    assert_eq!(flow.customers().await, ["1|e1"]);
    // Restart: the truncate's sequence is kept with the applied sequences.
    let Flow {
        warehouse,
        root,
        spec,
        _dir,
        stage,
        files,
    } = flow;
    warehouse.close().await.unwrap();
    let warehouse = open_with(&root, &spec, 3).await;
    warehouse
        .alter_task(&spec.history_task, TaskAction::Resume)
        .await
        .unwrap();
    let mut flow = Flow {
        _dir,
        spec,
        root,
        stage,
        warehouse,
        files,
    };
    // Customer 9, never seen, changed at 7: before the truncate, so late; 8 at 20 applies.
    flow.stage(vec![file(&[
        (Some(9), "INSERT", 7),
        (Some(8), "INSERT", 20),
    ])])
    .await;
    flow.run().await;
    assert_eq!(flow.customers().await, ["1|e1", "8|e8"]);
    let rejected = flow.warehouse.table("customer_rejected").await.unwrap();
    assert_eq!(
        sorted_rows(&rejected, &["customer_id", "seq", "reject_reason"]),
        ["9|7|late"]
    );
}
