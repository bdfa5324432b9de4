//! Loading staged files, for `COPY INTO` and pipes alike: listing a stage, reading and parsing
//! files several at once without the state lock, deciding each file's fate under `ON_ERROR`,
//! and committing the good rows together with every file's load-history record. Files are
//! identified by path + ETag + size, so each is loaded once; a crash can neither lose nor
//! duplicate one.

use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::ObjectStoreExt as _;
use object_store::path::Path;
use snowdrift_stage::glob_matches;

use crate::catalog::OnError;
use crate::error::{Result, WarehouseError};
use crate::load::{CsvFileFormat, LoadError, LoadLimits};
use crate::local::Inner;
use crate::local::csv_read::{ParsedFile, parse_csv, whole_file_error};
use crate::local::load_history::LoadHistory;
use crate::local::log_writer::PendingCommit;
use crate::local::origin::RowOrigin;
use crate::local::state::{Action, State, key};
use crate::local::table::{Rows, TableWrite};
use crate::{CopyOptions, FileLoad, LoadStatus};

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
pub(crate) struct LoadPlan {
    table: String,
    store: Arc<dyn object_store::ObjectStore>,
    format: CsvFileFormat,
    schema: arrow::datatypes::SchemaRef,
    on_error: OnError,
    force: bool,
    limits: LoadLimits,
}

pub(crate) fn already_loaded(
    history: Option<&LoadHistory>,
    path: &str,
    e_tag: &Option<String>,
    size: u64,
) -> bool {
    history
        .and_then(|h| h.last_load(path))
        .is_some_and(|last| last.is(e_tag.as_deref(), size))
}

pub(crate) fn plan(
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
        limits: state.limits,
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

pub(crate) struct Fetched {
    candidate: Candidate,
    parsed: std::result::Result<ParsedFile, LoadError>,
}

impl Fetched {
    /// The staged object's path.
    pub(crate) fn path(&self) -> &str {
        &self.candidate.path
    }
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
    let mut state = inner.lock_to_commit().await;
    let loading = commit_fetched(inner, &mut state, &plan, fetched, skipped, Vec::new()).await?;
    drop(state);
    inner.wake_tasks.notify_one();
    loading.durable().await
}

/// Reads and parses files, several at once, without the state lock; each file's outcome on
/// its own (a file that cannot be read does not hold the others back).
pub(crate) async fn fetch_each(
    plan: &LoadPlan,
    files: Vec<Candidate>,
) -> Vec<(Candidate, Result<Fetched>)> {
    futures::stream::iter(files.into_iter().map(|c| async move {
        let outcome = fetch_and_parse(plan, c.clone(), false).await;
        (c, outcome)
    }))
    .buffered(PARALLEL_FILES)
    .collect()
    .await
}

/// The load record of a file that could not be read after every attempt.
pub(crate) fn unreadable(file: &Candidate, attempts: u32, error: &str) -> FileLoad {
    FileLoad {
        file: file.path.clone(),
        size: file.size,
        e_tag: file.e_tag.clone(),
        status: LoadStatus::LoadFailed,
        rows_parsed: 0,
        rows_loaded: 0,
        error_count: 1,
        first_error: Some(whole_file_error(
            &file.path,
            format!("could not be read after {attempts} attempts: {error}"),
        )),
        load_time: SystemTime::now(),
        note: Some("load it again with ALTER PIPE … REFRESH or COPY INTO … FORCE".into()),
    }
}

/// Reads and parses files, several at once, without the state lock.
pub(crate) async fn fetch_all(
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

/// Adds the good rows of `fetched` to the table and records every file in the load history
/// (and the `failed` records, files that could not be read), in one commit handed to the log
/// writer; returns the load records after `results`, durable once [`Loading::durable`] says
/// so.
pub(crate) async fn commit_fetched(
    inner: &Inner,
    state: &mut State,
    plan: &LoadPlan,
    fetched: Vec<Fetched>,
    mut results: Vec<FileLoad>,
    failed: Vec<FileLoad>,
) -> Result<Loading> {
    let now = SystemTime::now();
    let mut batches = Vec::new();
    let mut origin = RowOrigin::default();
    let mut actions: Vec<Action> = failed
        .iter()
        .map(|load| Action::FileLoaded {
            table: plan.table.clone(),
            load: load.clone(),
        })
        .collect();
    results.extend(failed);
    for fetch in fetched {
        let history = state.loads.get(&key(&plan.table));
        let c = &fetch.candidate;
        if !plan.force && already_loaded(history, &c.path, &c.e_tag, c.size) {
            results.push(skipped_load(c, now));
            continue;
        }
        let note = note_for(history, plan, c);
        let (load, rows) = decide(plan, fetch, note, now);
        if let Some((batch, lines)) = rows.filter(|(b, _)| b.num_rows() > 0) {
            origin.push(&load.file, &lines, load.error_count);
            batches.push(batch);
        }
        actions.push(Action::FileLoaded {
            table: plan.table.clone(),
            load: load.clone(),
        });
        results.push(load);
    }
    if actions.is_empty() {
        return Ok(Loading {
            table: plan.table.clone(),
            loads: results,
            pending: None,
        });
    }
    let changes = apply_rows(state, plan, batches, origin)?;
    let writes = changes
        .into_iter()
        .map(|c| (plan.table.clone(), c))
        .collect();
    let pending = inner.begin_commit(state, actions, writes).await?;
    Ok(Loading {
        table: plan.table.clone(),
        loads: results,
        pending: Some(pending),
    })
}

/// The load records of one commit, which may still be being written.
pub(crate) struct Loading {
    table: String,
    pub(crate) loads: Vec<FileLoad>,
    pending: Option<PendingCommit>,
}

impl Loading {
    /// Waits until the commit is durable; returns its load records.
    ///
    /// # Errors
    ///
    /// The storage error that stopped the commit: none of its files is loaded then.
    pub(crate) async fn durable(self) -> Result<Vec<FileLoad>> {
        let Some(pending) = self.pending else {
            return Ok(self.loads);
        };
        let version = pending.durable().await?;
        for load in &self.loads {
            if load.status == LoadStatus::LoadSkipped {
                continue;
            }
            tracing::info!(
                table = %self.table,
                file = %load.file,
                status = ?load.status,
                rows_loaded = load.rows_loaded,
                error_count = load.error_count,
                version,
                "file loaded"
            );
        }
        Ok(self.loads)
    }
}

/// What the load history says about loading `file` now: nothing for a new file, else that it
/// is loaded again with FORCE or was rewritten since an earlier load.
fn note_for(history: Option<&LoadHistory>, plan: &LoadPlan, file: &Candidate) -> Option<String> {
    let last = history.and_then(|h| h.last_load(&file.path))?;
    Some(if plan.force && last.is(file.e_tag.as_deref(), file.size) {
        "loaded again with FORCE".to_string()
    } else if last.size != file.size {
        format!(
            "rewritten since an earlier load (was {} bytes): loaded as a new file",
            last.size
        )
    } else {
        "rewritten since an earlier load (another ETag): loaded as a new file".to_string()
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
    if candidate.size > plan.limits.max_file_bytes {
        // Larger than the limit as stored, so larger once decompressed too: refused unread.
        let message = format!(
            "the file holds {} bytes, more than {} (LoadLimits::max_file_bytes)",
            candidate.size, plan.limits.max_file_bytes
        );
        return Ok(Fetched {
            parsed: Err(whole_file_error(&candidate.path, message)),
            candidate,
        });
    }
    let got = match plan.store.get(&path).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => {
            return Ok(Fetched {
                parsed: Err(whole_file_error(
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
    let (format, schema, file, limits) = (
        plan.format.clone(),
        plan.schema.clone(),
        candidate.path.clone(),
        plan.limits,
    );
    let parsed = tokio::task::spawn_blocking(move || {
        parse_csv(&file, &bytes, &format, &schema, &limits, stop_at_first)
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
pub(crate) fn normalize_etag(e_tag: Option<String>) -> Option<String> {
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
) -> (FileLoad, Option<(RecordBatch, Vec<u64>)>) {
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
    (load, Some((parsed.batch, parsed.lines)))
}

/// Adds the loaded rows to the table in memory; returns its change set.
fn apply_rows(
    state: &mut State,
    plan: &LoadPlan,
    batches: Vec<RecordBatch>,
    origin: RowOrigin,
) -> Result<Option<TableWrite>> {
    if batches.is_empty() {
        return Ok(None);
    }
    let rows = concat_batches(&plan.schema, &batches)?;
    let now = state.tick();
    let table = state.table_mut(&plan.table)?;
    match table.rows {
        Rows::Append { .. } => Ok(Some(table.append(rows, Some(origin))?)),
        Rows::Keyed(_) => {
            let outcome = table.upsert(&rows, now)?;
            Ok(Some(table.changed(outcome)?))
        }
    }
}

pub(crate) fn relative<'a>(prefix: &str, path: &'a str) -> &'a str {
    if prefix.is_empty() {
        path
    } else {
        path.strip_prefix(prefix)
            .map_or(path, |p| p.trim_start_matches('/'))
    }
}

pub(crate) fn wanted(pattern: &Option<String>, prefix: &str, path: &str) -> bool {
    pattern
        .as_deref()
        .is_none_or(|p| glob_matches(p, relative(prefix, path)))
}

pub(crate) async fn list(
    store: &Arc<dyn object_store::ObjectStore>,
    prefix: &str,
) -> Result<Vec<Candidate>> {
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
