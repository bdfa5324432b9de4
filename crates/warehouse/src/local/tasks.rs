//! Tasks of the embedded engine: one run (check `WHEN`, consume the stream, merge, commit the
//! target's change and the stream's new offset together), graph runs (children after all their
//! predecessors succeeded), and the scheduler (intervals and cron, no overlapping runs of a
//! graph, suspension after consecutive failures).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use crate::catalog::{MergeDef, ObjectDef, ObjectKind, TableDef, TaskBody, TaskCondition};
use crate::error::{Result, WarehouseError};
use crate::local::Inner;
use crate::local::state::{Action, State, key, micros, push_run};
use crate::local::streams;
use crate::local::task_merge::MergeBasis;
use crate::rejected;
use crate::schedule::Schedule;
use crate::{TaskRun, TaskRunState};

/// Runs `task` and, when it succeeds, the tasks after it whose predecessors all succeeded in
/// this graph run. A failed or cancelled run is attempted again up to the root's
/// `auto_retry_attempts` times (Snowflake's `TASK_AUTO_RETRY_ATTEMPTS`), each attempt in the
/// history with its number. Returns every run, `task`'s first.
pub(crate) async fn run_graph(
    inner: &Inner,
    task: &str,
    scheduled: SystemTime,
) -> Result<Vec<TaskRun>> {
    let graph_run = u64::try_from(micros(SystemTime::now())).unwrap_or_default();
    let (order, retries) = {
        let state = inner.lock_to_commit().await;
        let retries = state.task(task)?.def.auto_retry_attempts;
        (graph_order(&state, task)?, retries)
    };
    let mut runs = Vec::new();
    let mut succeeded: HashSet<String> = HashSet::new();
    for (name, preds) in order {
        let is_start = key(&name) == key(task);
        if !is_start {
            let ready = preds.iter().all(|p| succeeded.contains(&key(p)));
            let resumed = inner
                .lock_to_commit()
                .await
                .task(&name)
                .is_ok_and(|t| t.resumed);
            if !ready || !resumed {
                continue;
            }
        }
        for attempt in 1..=retries.saturating_add(1) {
            let last = attempt > retries;
            let run = run_task(inner, &name, scheduled, graph_run, attempt, last).await?;
            let state = run.state;
            runs.push(run);
            if state == TaskRunState::Succeeded {
                succeeded.insert(key(&name));
            }
            if !matches!(state, TaskRunState::Failed | TaskRunState::Cancelled) {
                break;
            }
        }
    }
    Ok(runs)
}

/// `task` and its descendants in an order where every task comes after its predecessors, each
/// with the predecessors it waits for.
fn graph_order(state: &State, task: &str) -> Result<Vec<(String, Vec<String>)>> {
    let start = state.task(task)?;
    let mut members: Vec<_> = state
        .tasks
        .values()
        .filter(|t| key(&t.def.name) != key(task) && reaches(state, task, &t.def.name))
        .collect();
    members.sort_by(|a, b| a.def.name.cmp(&b.def.name));
    let in_graph: HashSet<String> = members.iter().map(|t| key(&t.def.name)).collect();
    let mut order = vec![(start.def.name.clone(), Vec::new())];
    let mut placed: HashSet<String> = HashSet::from([key(task)]);
    loop {
        let mut added = false;
        for t in &members {
            let k = key(&t.def.name);
            let waits_on_unplaced = t
                .def
                .after
                .iter()
                .any(|p| in_graph.contains(&key(p)) && !placed.contains(&key(p)));
            if placed.contains(&k) || waits_on_unplaced {
                continue;
            }
            placed.insert(k);
            order.push((t.def.name.clone(), t.def.after.clone()));
            added = true;
        }
        if !added {
            return Ok(order);
        }
    }
}

/// Whether two task names name one task (names are case-insensitive).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

/// Whether `to` is `from` or one of its descendants.
pub(crate) fn reaches(state: &State, from: &str, to: &str) -> bool {
    let mut frontier = vec![key(from)];
    let mut seen = HashSet::new();
    while let Some(current) = frontier.pop() {
        if current == key(to) {
            return true;
        }
        if !seen.insert(current.clone()) {
            continue;
        }
        frontier.extend(
            state
                .tasks
                .values()
                .filter(|t| t.def.after.iter().any(|p| key(p) == current))
                .map(|t| key(&t.def.name)),
        );
    }
    false
}

/// One attempt of one run of one task. `last_attempt` says whether a failure is final (it
/// then counts towards `suspend_after_failures`) or will be retried.
pub(crate) async fn run_task(
    inner: &Inner,
    task: &str,
    scheduled: SystemTime,
    graph_run: u64,
    attempt: u32,
    last_attempt: bool,
) -> Result<TaskRun> {
    let mut state = inner.lock_to_commit().await;
    let def = state.task(task)?.def.clone();
    let started_micros = state.clock.now_micros();
    let mut run = TaskRun::begun(
        def.name.clone(),
        graph_run,
        scheduled,
        SystemTime::now(),
        attempt,
    );
    let end = Ending { last_attempt };
    if !condition_holds(&state, &def.when)? {
        run.state = TaskRunState::Skipped;
        run.completed = Some(SystemTime::now());
        push_run(&mut state.task_mut(task)?.history, run.clone());
        return Ok(run);
    }
    let TaskBody::Merge(merge) = &def.body;
    if let Err(error) = ensure_rejected_table(inner, &mut state, merge).await {
        return end.fail(inner, &mut state, run, &error.to_string()).await;
    }
    let mut basis = match MergeBasis::read(inner, &mut state, merge).await {
        Ok(basis) => basis,
        Err(error) => return end.fail(inner, &mut state, run, &error.to_string()).await,
    };
    // The merge is decided with the lock released: loads and commits go on meanwhile.
    drop(state);
    let mut prepared = basis.prepare(merge);
    let mut state = inner.lock_to_commit().await;
    if !basis.current(&state, merge) {
        // Something changed the target, the stream or the catalog meanwhile (a DML
        // statement, another run, a rebuild): decide again, under the lock this time.
        drop(prepared);
        basis = match MergeBasis::read(inner, &mut state, merge).await {
            Ok(basis) => basis,
            Err(error) => return end.fail(inner, &mut state, run, &error.to_string()).await,
        };
        prepared = basis.prepare(merge);
    }
    let prepared = match prepared {
        Ok(prepared) => prepared,
        // Deciding changed nothing: nothing to undo.
        Err(error) => return end.fail(inner, &mut state, run, &error.to_string()).await,
    };
    let elapsed = state.clock.now_micros().saturating_sub(started_micros);
    if u128::try_from(elapsed).unwrap_or(0) > def.timeout.as_micros() {
        run.state = TaskRunState::Cancelled;
        let error = format!(
            "cancelled: the run took {} ms, longer than its timeout of {} ms (USER_TASK_TIMEOUT_MS); nothing was committed",
            elapsed / 1000,
            def.timeout.as_millis()
        );
        return end.fail(inner, &mut state, run, &error).await;
    }
    let outcome = match basis.apply(&mut state, merge, prepared) {
        Ok(outcome) => outcome,
        // A merge that fails leaves the target's rows as they were.
        Err(error) => return end.fail(inner, &mut state, run, &error.to_string()).await,
    };
    let source_version = basis.source_version;
    let done = match basis.finish(&mut state, merge, &run, outcome) {
        Ok(done) => done,
        Err(error) => {
            // Appending the rejected rows may have changed a table in memory before it failed.
            inner.reload(&mut state).await;
            return end.fail(inner, &mut state, run, &error.to_string()).await;
        }
    };
    run.state = TaskRunState::Succeeded;
    let writes = done.record(&mut run, &merge.target, source_version);
    // Commits are serialized under the state lock: this one gets the next version.
    run.version = Some(state.version + 1);
    let resumed = state.task(task)?.resumed;
    let actions = vec![
        Action::StreamOffset {
            stream: merge.source.clone(),
            version: source_version,
        },
        Action::TaskState {
            task: def.name.clone(),
            resumed,
            failures: 0,
        },
        // Its completion time is stamped by the commit, once the data is written.
        Action::TaskRun(run.clone()),
    ];
    let pending = match inner.begin_commit(&mut state, actions, writes).await {
        Ok(pending) => pending,
        Err(error) => return end.fail(inner, &mut state, run, &error.to_string()).await,
    };
    let recorded = state.task(task)?.history.back().cloned().unwrap_or(run);
    // The next merge or load may be decided while this one is written.
    drop(state);
    match pending.durable().await {
        Ok(version) => {
            tracing::info!(
                task = %def.name,
                graph_run = recorded.graph_run,
                attempt = recorded.attempt,
                version,
                rows_consumed = recorded.rows_consumed,
                rows_written = recorded.rows_written,
                late_rows = recorded.late_rows,
                rejected_rows = recorded.rejected_rows,
                "task run succeeded"
            );
            Ok(recorded)
        }
        Err(error) => {
            // The next lock rebuilds the state from storage, without this run.
            let mut state = inner.lock().await;
            let mut run = recorded;
            run.state = TaskRunState::Executing;
            (run.completed, run.version) = (None, None);
            end.fail(inner, &mut state, run, &error.to_string()).await
        }
    }
}

/// How an unsuccessful attempt ends.
struct Ending {
    last_attempt: bool,
}

impl Ending {
    /// Records an unsuccessful run (`Failed`, or `Cancelled` when `run.state` says so). A last
    /// attempt counts as a failure, and the task suspends itself after too many in a row; an
    /// attempt that will be retried only shows in the history.
    async fn fail(
        &self,
        inner: &Inner,
        state: &mut State,
        mut run: TaskRun,
        error: &str,
    ) -> Result<TaskRun> {
        let task = state.task(&run.task)?;
        let failures = task.failures + u32::from(self.last_attempt);
        let limit = task.def.suspend_after_failures;
        let suspend = self.last_attempt && limit > 0 && failures >= limit;
        run.state = match run.state {
            TaskRunState::Cancelled => TaskRunState::Cancelled,
            _ if suspend => TaskRunState::FailedAndAutoSuspended,
            _ => TaskRunState::Failed,
        };
        run.error = Some(error.to_owned());
        run.completed = Some(SystemTime::now());
        tracing::warn!(
            task = %run.task,
            graph_run = run.graph_run,
            attempt = run.attempt,
            state = ?run.state,
            retried = !self.last_attempt,
            error,
            "task run did not succeed"
        );
        let resumed = task.resumed && !suspend;
        let actions = vec![
            Action::TaskState {
                task: run.task.clone(),
                resumed,
                failures,
            },
            Action::TaskRun(run.clone()),
        ];
        if let Err(error) = inner.commit(state, actions, Vec::new()).await {
            tracing::warn!(task = %run.task, %error, "recording a failed task run failed");
            // Storage is failing too: keep the run in memory so task history shows it.
            if let Ok(t) = state.task_mut(&run.task) {
                t.failures = failures;
                t.resumed = resumed;
                push_run(&mut t.history, run.clone());
            }
        }
        Ok(run)
    }
}

fn condition_holds(state: &State, when: &Option<TaskCondition>) -> Result<bool> {
    match when {
        None => Ok(true),
        Some(TaskCondition::StreamHasData(names)) => {
            for name in names {
                if streams::has_data(state, state.stream(name)?)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Creates the merge's rejected table when it does not exist (a warehouse made before
/// rejected tables, or one whose rejected table was dropped), in a commit of its own.
async fn ensure_rejected_table(inner: &Inner, state: &mut State, merge: &MergeDef) -> Result<()> {
    let Some(def) = missing_rejected_table(state, merge)? else {
        return Ok(());
    };
    let object = ObjectDef::Table(def);
    state.check(&object)?;
    inner
        .commit(state, vec![Action::Create(object)], Vec::new())
        .await?;
    Ok(())
}

/// The definition of `merge`'s rejected table when it does not exist yet.
pub(crate) fn missing_rejected_table(state: &State, merge: &MergeDef) -> Result<Option<TableDef>> {
    let name = merge.rejected_table();
    if state.exists(ObjectKind::Table, &name) {
        return Ok(None);
    }
    let source = &state.stream(&merge.source)?.def.table;
    Ok(Some(rejected::table_def(&name, &state.table(source)?.def)))
}

/// The scheduler: runs every resumed root task's graph when its schedule says, never two runs
/// of one graph at once (a run still going when the next is due skips that instance).
pub(crate) async fn run_scheduler(weak: Weak<Inner>) {
    let mut anchors: HashMap<String, (Schedule, SystemTime)> = HashMap::new();
    let mut due: HashMap<String, SystemTime> = HashMap::new();
    let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let mut shutdown = inner.shutdown.subscribe();
        if *shutdown.borrow() {
            return;
        }
        let notify = inner.wake_tasks.clone();
        let wake = notify.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let roots = scheduled_roots(&inner).await;
        let now = SystemTime::now();
        anchors.retain(|name, (schedule, _)| roots.get(name) == Some(schedule));
        due.retain(|name, _| anchors.contains_key(name));
        for (name, schedule) in roots {
            let (schedule, anchor) = anchors.entry(name.clone()).or_insert((schedule, now));
            due.entry(name).or_insert_with(|| {
                schedule
                    .next_after(*anchor, now)
                    .unwrap_or(now + Duration::from_secs(3600))
            });
        }
        for (name, at) in due.iter_mut() {
            if *at > now {
                continue;
            }
            let busy = running.get(name).is_some_and(|h| !h.is_finished());
            if !busy {
                let (weak, name_owned, scheduled) = (Arc::downgrade(&inner), name.clone(), *at);
                running.insert(
                    name.clone(),
                    tokio::spawn(async move {
                        if let Some(inner) = weak.upgrade()
                            && let Err(error) = run_graph(&inner, &name_owned, scheduled).await
                        {
                            // Its runs are in the task history; this is why none could start.
                            tracing::warn!(task = %name_owned, %error, "a scheduled task graph run failed");
                        }
                    }),
                );
            }
            let (schedule, anchor) = &anchors[name];
            *at = schedule
                .next_after(*anchor, now)
                .unwrap_or(now + Duration::from_secs(3600));
        }
        inner.next_runs().clone_from(&due);
        let sleep = due.values().min().map_or(Duration::from_secs(60), |at| {
            at.duration_since(SystemTime::now()).unwrap_or_default()
        });
        drop(inner);
        tokio::select! {
            () = wake => {}
            () = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn scheduled_roots(inner: &Inner) -> HashMap<String, Schedule> {
    let state = inner.lock_to_commit().await;
    state
        .tasks
        .iter()
        .filter(|(_, t)| t.resumed)
        .filter_map(|(name, t)| Some((name.clone(), t.def.schedule.clone()?)))
        .collect()
}

/// Checks that `task` exists and is not a child when it is executed on its own.
pub(crate) fn check_executable(state: &State, task: &str) -> Result<()> {
    let t = state.task(task)?;
    if t.def.after.is_empty() {
        Ok(())
    } else {
        Err(WarehouseError::unsupported(
            ObjectKind::Task,
            task,
            "EXECUTE TASK runs a root task (and its graph); this task runs after others",
        ))
    }
}
