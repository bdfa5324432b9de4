//! The engine's `tracing` events, as an operator's log collector sees them: a loaded file
//! with its rows and errors, a task run with the rows it consumed and wrote, the commit of each
//! change with its version, a checkpoint. Events carry their facts as fields, not only text.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::support::{csv_stage, id_email, raw_and_target};
use arrow::array::{Int64Array, RecordBatch, StringArray};
use object_store::ObjectStoreExt as _;
use object_store::memory::InMemory;
use object_store::path::Path;
use snowdrift_warehouse::{
    CopyOptions, CreateMode, Dml, LocalWarehouse, MergeDef, ObjectDef, StreamDef, TaskBody,
    TaskDef, Warehouse,
};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};

/// One event: its message and its other fields, as text.
#[derive(Debug, Clone)]
struct Event {
    message: String,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Records every event.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(Event {
            message,
            fields: fields.0,
        });
    }
}

impl Recorder {
    fn find(&self, message: &str) -> Vec<Event> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.message == message)
            .cloned()
            .collect()
    }
}

/// Runs [`events_worker`] alone in a child process of this test binary: which events reach a
/// subscriber is decided per call site for the whole process (`tracing`'s interest cache), so
/// other tests running beside it on other threads could make it miss some.
#[test]
fn loads_task_runs_commits_and_checkpoints_are_logged_with_their_facts() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "events::events_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EVENTS_WORKER", "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the worker did not run: {text}");
}

// One thread: every event of the run is recorded by this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
#[ignore = "the worker process of loads_task_runs_commits_and_checkpoints_are_logged_with_their_facts"]
async fn events_worker() {
    if std::env::var_os("EVENTS_WORKER").is_none() {
        return;
    }
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _guard = tracing::subscriber::set_default(subscriber);

    let stage = Arc::new(InMemory::new());
    stage
        .put(
            &Path::from("a.csv"),
            "id,email\n1,a@x\n2,b@x\nnope,c@x\n".into(),
        )
        .await
        .unwrap();
    let w = LocalWarehouse::builder("memory://events")
        .object_store("memory://stage", stage)
        .background(false)
        .checkpoint_every(1)
        .open()
        .await
        .unwrap();
    for object in raw_and_target(id_email())
        .into_iter()
        .chain(csv_stage("memory://stage"))
        .chain([
            ObjectDef::Stream(StreamDef {
                name: "raw_s".into(),
                table: "raw".into(),
                append_only: true,
                show_initial_rows: false,
            }),
            ObjectDef::Task(TaskDef::new(
                "t",
                TaskBody::Merge(MergeDef::new("raw_s", "target")),
            )),
        ])
    {
        w.create(object, CreateMode::Create).await.unwrap();
    }
    let options = CopyOptions {
        on_error: snowdrift_warehouse::OnError::Continue,
        ..CopyOptions::default()
    };
    w.copy_into("raw", "landing", options).await.unwrap();
    let rows = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![3])) as _),
        ("email", Arc::new(StringArray::from(vec!["c@x"])) as _),
    ])
    .unwrap();
    w.dml("raw", Dml::Insert(vec![rows])).await.unwrap();
    w.execute_task("t").await.unwrap();
    w.checkpoint().await.unwrap();

    let loaded = recorder.find("file loaded");
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    let load = &loaded[0].fields;
    assert_eq!(load["file"], "a.csv");
    assert_eq!(load["rows_loaded"], "2");
    assert_eq!(load["error_count"], "1");
    assert_eq!(load["table"], "raw");

    let runs = recorder.find("task run succeeded");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].fields["task"], "t");
    assert_eq!(runs[0].fields["rows_consumed"], "3");
    assert_eq!(runs[0].fields["rows_written"], "3");

    let commits = recorder.find("committed");
    let versions: Vec<u64> = commits
        .iter()
        .map(|c| c.fields["version"].parse().unwrap())
        .collect();
    assert!(
        versions.windows(2).all(|v| v[1] == v[0] + 1) && versions.len() >= 9,
        "{versions:?}"
    );
    assert!(!recorder.find("checkpoint written").is_empty());
}
