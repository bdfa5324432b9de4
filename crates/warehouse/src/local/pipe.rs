//! Loading staged files: `COPY INTO` and pipes. Files are identified by path + ETag + size; each
//! is loaded once, in one commit with its load-history record, so a crash can neither lose nor
//! duplicate a file. Pipes learn of files from notifications and, as a fallback, by listing
//! their stage periodically; they load older files first, several per commit.

use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use snowdrift_stage::{StagedFile, glob_matches};

use crate::api::{CopyOptions, FileLoad, LoadStatus};
use crate::catalog::{ObjectKind, OnError};
use crate::error::{Result, WarehouseError};
use crate::load::{CsvFileFormat, LoadError, ParsedFile, parse_csv};
use crate::local::Inner;
use crate::local::state::{Action, PendingFile, State, key};
use crate::local::table::{Rows, TableWrite};

/// Files per pipe commit.
const FILES_PER_LOAD: usize = 64;
/// Files fetched and parsed at once.
const PARALLEL_FILES: usize = 4;

/// A staged object to load.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) e_tag: Option<String>,
}

/// Where and how a load reads.
#[derive(Clone)]
struct LoadPlan {
    table: String,
    store: Arc<dyn object_store::ObjectStore>,
    format: CsvFileFormat,
    schema: arrow::datatypes::SchemaRef,
    on_error: OnError,
    force: bool,
}

pub(crate) async fn notify(inner: &Inner, stage: &str, file: &StagedFile) -> Result<()> {
    let mut state = inner.lock().await;
    let prefix = state.stage(stage)?.location.prefix().to_owned();
    let path = file.path.to_string();
    let e_tag = normalize_etag(file.e_tag.clone());
    let State { pipes, loads, .. } = &mut *state;
    for pipe in pipes.values_mut() {
        if key(&pipe.def.stage) != key(stage) || !pipe.def.auto_ingest {
            continue;
        }
        if !wanted(&pipe.def.pattern, &prefix, &path)
            || already_loaded(loads.get(&key(&pipe.def.table)), &path, &e_tag, file.size)
        {
            continue;
        }
        pipe.pending.insert(
            path.clone(),
            PendingFile {
                size: file.size,
                e_tag: e_tag.clone(),
                noticed: SystemTime::now(),
            },
        );
    }
    drop(state);
    inner.wake_pipes.notify_one();
    Ok(())
}

fn relative<'a>(prefix: &str, path: &'a str) -> &'a str {
    if prefix.is_empty() {
        path
    } else {
        path.strip_prefix(prefix)
            .map_or(path, |p| p.trim_start_matches('/'))
    }
}

fn wanted(pattern: &Option<String>, prefix: &str, path: &str) -> bool {
    pattern
        .as_deref()
        .is_none_or(|p| glob_matches(p, relative(prefix, path)))
}

fn already_loaded(
    history: Option<&crate::local::state::LoadHistory>,
    path: &str,
    e_tag: &Option<String>,
    size: u64,
) -> bool {
    history
        .and_then(|h| h.latest.get(path))
        .is_some_and(|(tag, loaded_size)| tag == e_tag && *loaded_size == size)
}

/// The pipes' loop: load pending files, list stages now and then, sleep until notified.
pub(crate) async fn run_pipes(weak: Weak<Inner>) {
    let mut last_list: Option<Instant> = None;
    let mut next: Vec<PipeWork> = Vec::new();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let mut shutdown = inner.shutdown.subscribe();
        if *shutdown.borrow() {
            return;
        }
        if last_list.is_none_or(|t| t.elapsed() >= inner.list_interval) {
            list_stages(&inner).await;
            last_list = Some(Instant::now());
        }
        let work = match std::mem::take(&mut next) {
            ready if !ready.is_empty() => ready,
            _ => collect_work(&mut *inner.lock().await),
        };
        if !work.is_empty() {
            let (handled, more) = load_work(&inner, work).await;
            next = more;
            if handled > 0 || !next.is_empty() {
                continue;
            }
        }
        let wait = inner
            .list_interval
            .saturating_sub(last_list.map_or(inner.list_interval, |t| t.elapsed()));
        let notify = inner.wake_pipes.clone();
        let wake = notify.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        if pending_count(&inner).await > 0 {
            continue;
        }
        drop(inner);
        tokio::select! {
            () = wake => {}
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn pending_count(inner: &Inner) -> usize {
    let state = inner.lock().await;
    state
        .pipes
        .values()
        .filter(|p| !p.paused)
        .map(|p| p.pending.len())
        .sum()
}

/// Lists every stage that has a running pipe; new files become pending.
async fn list_stages(inner: &Inner) {
    let pipes: Vec<String> = {
        let state = inner.lock().await;
        state.pipes.keys().cloned().collect()
    };
    for pipe in pipes {
        let outcome = queue_unloaded(inner, &pipe).await;
        let mut state = inner.lock().await;
        if let Ok(p) = state.pipe_mut(&pipe) {
            p.error = outcome.err().map(|e| e.to_string());
        }
    }
}

/// Lists the pipe's stage and queues the files it has not loaded; returns how many.
pub(crate) async fn queue_unloaded(inner: &Inner, pipe: &str) -> Result<u64> {
    let (store, prefix, pattern, table) = {
        let state = inner.lock().await;
        let p = state
            .pipes
            .get(&key(pipe))
            .ok_or_else(|| WarehouseError::not_found(ObjectKind::Pipe, pipe))?;
        let stage = state.stage(&p.def.stage)?;
        (
            stage.location.store().clone(),
            stage.location.prefix().to_owned(),
            p.def.pattern.clone(),
            p.def.table.clone(),
        )
    };
    let listed = list(&store, &prefix).await?;
    let mut state = inner.lock().await;
    let State { pipes, loads, .. } = &mut *state;
    let history = loads.get(&key(&table));
    let Some(p) = pipes.get_mut(&key(pipe)) else {
        return Ok(0);
    };
    let mut queued = 0;
    for file in listed {
        if !wanted(&pattern, &prefix, &file.path)
            || already_loaded(history, &file.path, &file.e_tag, file.size)
            || p.pending.contains_key(&file.path)
        {
            continue;
        }
        p.pending.insert(
            file.path,
            PendingFile {
                size: file.size,
                e_tag: file.e_tag,
                noticed: SystemTime::now(),
            },
        );
        queued += 1;
    }
    drop(state);
    inner.wake_pipes.notify_one();
    Ok(queued)
}

async fn list(store: &Arc<dyn object_store::ObjectStore>, prefix: &str) -> Result<Vec<Candidate>> {
    let prefix_path = (!prefix.is_empty()).then(|| Path::from(prefix));
    let listed: Vec<_> = store
        .list(prefix_path.as_ref())
        .try_collect()
        .await
        .map_err(|e| WarehouseError::storage("list stage", prefix, e))?;
    let mut files: Vec<Candidate> = listed
        .into_iter()
        .map(|m| Candidate {
            path: m.location.to_string(),
            size: m.size,
            e_tag: normalize_etag(m.e_tag),
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A pipe's next files, with everything needed to read them without the state lock.
struct PipeWork {
    pipe: String,
    plan: LoadPlan,
    files: Vec<Candidate>,
    /// The catalog this plan was made from; a commit under another one drops the work.
    epoch: u64,
}

/// The next files of every running pipe (up to [`FILES_PER_LOAD`] each). Files loaded
/// meanwhile leave the queue; a pipe whose plan cannot be made records why.
fn collect_work(state: &mut State) -> Vec<PipeWork> {
    let names: Vec<String> = state
        .pipes
        .iter()
        .filter(|(_, p)| !p.paused && !p.pending.is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    let mut work = Vec::new();
    for name in names {
        let def = state.pipes[&name].def.clone();
        let planned = plan(
            state,
            &def.table,
            &def.stage,
            def.file_format.as_deref(),
            def.on_error,
            false,
        );
        let State { pipes, loads, .. } = &mut *state;
        let pipe = pipes.get_mut(&name).expect("listed above");
        let plan = match planned {
            Ok(plan) => plan,
            Err(error) => {
                pipe.error = Some(error.to_string());
                continue;
            }
        };
        let history = loads.get(&key(&def.table));
        pipe.pending
            .retain(|path, f| !already_loaded(history, path, &f.e_tag, f.size));
        let files: Vec<Candidate> = pipe
            .pending
            .iter()
            .take(FILES_PER_LOAD)
            .map(|(path, f)| Candidate {
                path: path.clone(),
                size: f.size,
                e_tag: f.e_tag.clone(),
            })
            .collect();
        if !files.is_empty() {
            work.push(PipeWork {
                pipe: name,
                plan,
                files,
                epoch: state.catalog_epoch,
            });
        }
    }
    work
}

/// Loads `work`; returns how many files were handled and the next work, collected while the
/// last commit held the state lock (so reading the next files need not wait for it again).
async fn load_work(inner: &Inner, work: Vec<PipeWork>) -> (usize, Vec<PipeWork>) {
    let mut handled = 0;
    let mut next = Vec::new();
    let count = work.len();
    for (i, w) in work.into_iter().enumerate() {
        let fetched = fetch_all(&w.plan, w.files.clone(), false).await;
        let mut state = inner.lock().await;
        let outcome = match fetched {
            Ok(_) if state.catalog_epoch != w.epoch => Ok(None), // the catalog changed: redo
            Ok(fetched) => commit_fetched(inner, &mut state, &w.plan, fetched, Vec::new())
                .await
                .map(Some),
            Err(error) => Err(error),
        };
        if let Ok(p) = state.pipe_mut(&w.pipe) {
            match outcome {
                Ok(Some(loads)) => {
                    for file in &w.files {
                        p.pending.remove(&file.path);
                    }
                    if let Some(last) = loads
                        .iter()
                        .rev()
                        .find(|l| l.rows_loaded > 0 || l.status == LoadStatus::Loaded)
                    {
                        p.last_ingested = Some((last.load_time, last.file.clone()));
                    }
                    p.error = None;
                    handled += w.files.len();
                }
                Ok(None) => {}
                Err(error) => p.error = Some(error.to_string()),
            }
        }
        if i + 1 == count {
            next = collect_work(&mut state);
        }
    }
    inner.wake_tasks.notify_one();
    (handled, next)
}

fn plan(
    state: &State,
    table: &str,
    stage: &str,
    format: Option<&str>,
    on_error: OnError,
    force: bool,
) -> Result<LoadPlan> {
    let stage_state = state.stage(stage)?;
    let format_name = format.or(stage_state.def.file_format.as_deref());
    let format = match format_name {
        Some(name) => state.format(name)?.csv.clone(),
        None => CsvFileFormat::default(),
    };
    let table_state = state.table(table)?;
    Ok(LoadPlan {
        table: table_state.def.name.clone(),
        store: stage_state.location.store().clone(),
        format,
        schema: table_state.def.business_schema(),
        on_error,
        force,
    })
}

/// `COPY INTO table FROM @stage`.
pub(crate) async fn copy_into(
    inner: &Inner,
    table: &str,
    stage: &str,
    options: CopyOptions,
) -> Result<Vec<FileLoad>> {
    let (plan, store, prefix) = {
        let state = inner.lock().await;
        let plan = plan(
            &state,
            table,
            stage,
            options.file_format.as_deref(),
            options.on_error,
            options.force,
        )?;
        let location = &state.stage(stage)?.location;
        (plan, location.store().clone(), location.prefix().to_owned())
    };
    let files = list(&store, &prefix)
        .await?
        .into_iter()
        .filter(|f| wanted(&options.pattern, &prefix, &f.path))
        .filter(|f| {
            options.files.as_ref().is_none_or(|names| {
                names
                    .iter()
                    .any(|n| n == relative(&prefix, &f.path) || *n == f.path)
            })
        })
        .collect();
    load_files(inner, plan, files).await
}

struct Fetched {
    candidate: Candidate,
    parsed: std::result::Result<ParsedFile, LoadError>,
}

async fn load_files(inner: &Inner, plan: LoadPlan, files: Vec<Candidate>) -> Result<Vec<FileLoad>> {
    let (todo, skipped) = {
        let state = inner.lock().await;
        triage(&state, &plan, files)
    };
    let stop_at_first = plan.on_error == OnError::AbortStatement;
    let fetched = fetch_all(&plan, todo, stop_at_first).await?;
    if stop_at_first && let Some(first) = fetched.iter().find_map(first_error) {
        return Err(WarehouseError::CopyAborted {
            table: plan.table.clone(),
            first_error: Box::new(first),
        });
    }
    let mut state = inner.lock().await;
    let results = commit_fetched(inner, &mut state, &plan, fetched, skipped).await?;
    drop(state);
    inner.wake_tasks.notify_one();
    Ok(results)
}

/// Reads and parses files, several at once, without the state lock.
async fn fetch_all(
    plan: &LoadPlan,
    files: Vec<Candidate>,
    stop_at_first: bool,
) -> Result<Vec<Fetched>> {
    futures::stream::iter(
        files
            .into_iter()
            .map(|c| fetch_and_parse(plan, c, stop_at_first)),
    )
    .buffered(PARALLEL_FILES)
    .try_collect()
    .await
}

/// Adds the good rows of `fetched` to the table and records every file in the load history,
/// in one commit; returns the load records after `results`.
async fn commit_fetched(
    inner: &Inner,
    state: &mut State,
    plan: &LoadPlan,
    fetched: Vec<Fetched>,
    mut results: Vec<FileLoad>,
) -> Result<Vec<FileLoad>> {
    let now = SystemTime::now();
    let mut batches = Vec::new();
    let mut actions = Vec::new();
    for fetch in fetched {
        let history = state.loads.get(&key(&plan.table));
        let c = &fetch.candidate;
        if !plan.force && already_loaded(history, &c.path, &c.e_tag, c.size) {
            results.push(skipped_load(c, now));
            continue;
        }
        let note = note_for(history, plan, c);
        let (load, batch) = decide(plan, fetch, note, now);
        if let Some(batch) = batch.filter(|b| b.num_rows() > 0) {
            batches.push(batch);
        }
        actions.push(Action::FileLoaded {
            table: plan.table.clone(),
            load: load.clone(),
        });
        results.push(load);
    }
    if actions.is_empty() {
        return Ok(results);
    }
    let changes = apply_rows(state, plan, batches)?;
    let writes = changes
        .into_iter()
        .map(|c| (plan.table.clone(), c))
        .collect();
    inner.commit(state, actions, writes).await?;
    Ok(results)
}

/// What the load history says about loading `file` now: nothing for a new file, else that it
/// is loaded again with FORCE or was rewritten since an earlier load.
fn note_for(
    history: Option<&crate::local::state::LoadHistory>,
    plan: &LoadPlan,
    file: &Candidate,
) -> Option<String> {
    let (tag, size) = history.and_then(|h| h.latest.get(&file.path))?;
    Some(if plan.force && *tag == file.e_tag && *size == file.size {
        "loaded again with FORCE".to_string()
    } else {
        format!(
            "rewritten since an earlier load (was ETag {}, {size} bytes): loaded as a new file",
            tag.as_deref().unwrap_or("none")
        )
    })
}

/// Splits candidates into files to load and skipped ones (already loaded).
fn triage(
    state: &State,
    plan: &LoadPlan,
    files: Vec<Candidate>,
) -> (Vec<Candidate>, Vec<FileLoad>) {
    let history = state.loads.get(&key(&plan.table));
    let now = SystemTime::now();
    let (todo, skipped): (Vec<Candidate>, Vec<Candidate>) = files
        .into_iter()
        .partition(|f| plan.force || !already_loaded(history, &f.path, &f.e_tag, f.size));
    (todo, skipped.iter().map(|f| skipped_load(f, now)).collect())
}

async fn fetch_and_parse(
    plan: &LoadPlan,
    candidate: Candidate,
    stop_at_first: bool,
) -> Result<Fetched> {
    let path = Path::from(candidate.path.as_str());
    let got = match plan.store.get(&path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => {
            return Ok(Fetched {
                parsed: Err(whole_file(
                    &candidate.path,
                    "the file no longer exists".into(),
                )),
                candidate,
            });
        }
        Err(e) => {
            return Err(WarehouseError::storage(
                "read staged file",
                &candidate.path,
                e,
            ));
        }
    };
    let meta = got.meta.clone();
    let bytes = got
        .bytes()
        .await
        .map_err(|e| WarehouseError::storage("read staged file", &candidate.path, e))?;
    let candidate = Candidate {
        size: meta.size,
        e_tag: normalize_etag(meta.e_tag).or(candidate.e_tag),
        path: candidate.path,
    };
    let (format, schema, file) = (
        plan.format.clone(),
        plan.schema.clone(),
        candidate.path.clone(),
    );
    let parsed = tokio::task::spawn_blocking(move || {
        parse_csv(&file, &bytes, &format, &schema, stop_at_first)
    })
    .await
    .map_err(|e| WarehouseError::Corrupt {
        path: candidate.path.clone(),
        reason: format!("the parser stopped: {e}"),
    })??;
    Ok(Fetched {
        candidate,
        parsed: Ok(parsed),
    })
}

/// ETags compare without their quotes and weak marker: stores differ in how they show them
/// (an S3 listing and a GET of the same object may not agree).
fn normalize_etag(e_tag: Option<String>) -> Option<String> {
    e_tag.map(|t| t.trim_start_matches("W/").trim_matches('"').to_owned())
}

fn skipped_load(file: &Candidate, now: SystemTime) -> FileLoad {
    FileLoad {
        file: file.path.clone(),
        size: file.size,
        e_tag: file.e_tag.clone(),
        status: LoadStatus::LoadSkipped,
        rows_parsed: 0,
        rows_loaded: 0,
        error_count: 0,
        first_error: None,
        load_time: now,
        note: Some("loaded before (same path, ETag and size); use FORCE to load it again".into()),
    }
}

fn whole_file(file: &str, message: String) -> LoadError {
    LoadError {
        file: file.to_owned(),
        line: 0,
        character: 0,
        column: None,
        row: 0,
        message,
        rejected_record: String::new(),
    }
}

fn first_error(fetched: &Fetched) -> Option<LoadError> {
    match &fetched.parsed {
        Ok(parsed) => parsed.errors.first().cloned(),
        Err(error) => Some(error.clone()),
    }
}

/// The load record of one file and the rows to load from it, under `ON_ERROR`.
fn decide(
    plan: &LoadPlan,
    fetched: Fetched,
    note: Option<String>,
    now: SystemTime,
) -> (FileLoad, Option<RecordBatch>) {
    let mut load = FileLoad {
        file: fetched.candidate.path.clone(),
        size: fetched.candidate.size,
        e_tag: fetched.candidate.e_tag.clone(),
        status: LoadStatus::LoadFailed,
        rows_parsed: 0,
        rows_loaded: 0,
        error_count: 1,
        first_error: None,
        load_time: now,
        note,
    };
    let parsed = match fetched.parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            load.first_error = Some(error);
            return (load, None);
        }
    };
    let errors = parsed.errors.len() as u64;
    load.rows_parsed = parsed.rows_parsed;
    load.error_count = errors;
    load.first_error = parsed.errors.first().cloned();
    let whole_file_failed = parsed.errors.iter().any(|e| e.line == 0);
    let good = parsed.batch.num_rows() as u64;
    let skip_file = whole_file_failed
        || (errors > 0 && good == 0)
        || match plan.on_error {
            OnError::Continue => false,
            OnError::SkipFile | OnError::AbortStatement => errors > 0,
            OnError::SkipFileAfter(n) => errors >= n as u64,
            OnError::SkipFilePercent(percent) => {
                errors > 0 && errors as f64 * 100.0 >= percent * parsed.rows_parsed.max(1) as f64
            }
        };
    if skip_file {
        load.status = LoadStatus::LoadFailed;
        return (load, None);
    }
    load.status = if errors == 0 {
        LoadStatus::Loaded
    } else {
        LoadStatus::PartiallyLoaded
    };
    load.rows_loaded = good;
    (load, Some(parsed.batch))
}

/// Adds the loaded rows to the table in memory; returns its change set.
fn apply_rows(
    state: &mut State,
    plan: &LoadPlan,
    batches: Vec<RecordBatch>,
) -> Result<Option<TableWrite>> {
    if batches.is_empty() {
        return Ok(None);
    }
    let rows = concat_batches(&plan.schema, &batches)?;
    let now = state.tick();
    let table = state.table_mut(&plan.table)?;
    match table.rows {
        Rows::Append { .. } => Ok(Some(table.append(rows)?)),
        Rows::Keyed(_) => Ok(Some(TableWrite::Changed(table.upsert(&rows, now)?.changes))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_patterns() {
        assert_eq!(relative("landing", "landing/a.csv"), "a.csv");
        assert_eq!(relative("", "a.csv"), "a.csv");
        assert!(wanted(&Some("*.csv".into()), "landing", "landing/a.csv"));
        assert!(!wanted(&Some("*.csv".into()), "landing", "landing/a.txt"));
        assert!(wanted(&None, "landing", "landing/a.txt"));
    }
}
