//! Pipes: files announced by notifications or found by listing the stage wait in the pipe's
//! queue; a loop loads them, older first, up to [`FILES_PER_LOAD`] per commit, reading the next
//! files while merges hold the state lock.

use std::sync::Weak;
use std::time::Instant;

use snowdrift_stage::StagedFile;

use crate::LoadStatus;
use crate::catalog::ObjectKind;
use crate::error::{Result, WarehouseError};
use crate::local::Inner;
use crate::local::copy::{
    Candidate, Fetched, LoadPlan, Loading, already_loaded, commit_fetched, fetch_each, list,
    normalize_etag, plan, unreadable, wanted,
};
use crate::local::state::{PendingFile, State, key};

/// Files per pipe commit.
const FILES_PER_LOAD: usize = 64;

pub(crate) async fn notify(inner: &Inner, stage: &str, file: &StagedFile) -> Result<()> {
    let mut state = inner.lock_to_commit().await;
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
        pipe.pending
            .insert(path.clone(), PendingFile::new(file.size, e_tag.clone()));
    }
    drop(state);
    inner.wake_pipes.notify_one();
    Ok(())
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
            _ => collect_work(&mut *inner.lock_to_commit().await),
        };
        if !work.is_empty() {
            let (handled, more) = load_work(&inner, work).await;
            next = more;
            if handled > 0 || !next.is_empty() {
                continue;
            }
        }
        let mut wait = inner
            .list_interval
            .saturating_sub(last_list.map_or(inner.list_interval, |t| t.elapsed()));
        let notify = inner.wake_pipes.clone();
        let wake = notify.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let (ready, retry_at) = pending_now(&inner).await;
        if ready > 0 {
            continue;
        }
        if let Some(at) = retry_at {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        drop(inner);
        tokio::select! {
            () = wake => {}
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Files of running pipes that may be tried now, and the earliest time one backing off may.
async fn pending_now(inner: &Inner) -> (usize, Option<Instant>) {
    let state = inner.lock_to_commit().await;
    let now = Instant::now();
    let files = state
        .pipes
        .values()
        .filter(|p| !p.paused)
        .flat_map(|p| p.pending.values());
    let (mut ready, mut next) = (0, None::<Instant>);
    for f in files {
        match f.retry_at {
            Some(at) if at > now => next = Some(next.map_or(at, |n| n.min(at))),
            _ => ready += 1,
        }
    }
    (ready, next)
}

/// Lists the stage of every running auto-ingest pipe; new files become pending.
async fn list_stages(inner: &Inner) {
    // A pipe without auto-ingest loads only what ALTER PIPE … REFRESH queues.
    let pipes: Vec<String> = {
        let state = inner.lock_to_commit().await;
        state
            .pipes
            .iter()
            .filter(|(_, p)| p.def.auto_ingest && !p.paused)
            .map(|(name, _)| name.clone())
            .collect()
    };
    for pipe in pipes {
        let outcome = queue_unloaded(inner, &pipe).await;
        let mut state = inner.lock_to_commit().await;
        if let Ok(p) = state.pipe_mut(&pipe) {
            p.error = outcome.err().map(|e| e.to_string());
        }
    }
}

/// Lists the pipe's stage and queues the files it has not loaded; returns how many.
pub(crate) async fn queue_unloaded(inner: &Inner, pipe: &str) -> Result<u64> {
    let (store, prefix, pattern, table) = {
        let state = inner.lock_to_commit().await;
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
    let mut state = inner.lock_to_commit().await;
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
        p.pending
            .insert(file.path, PendingFile::new(file.size, file.e_tag));
        queued += 1;
    }
    drop(state);
    inner.wake_pipes.notify_one();
    Ok(queued)
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
        let now = Instant::now();
        let files: Vec<Candidate> = pipe
            .pending
            .iter()
            .filter(|(_, f)| f.ready(now))
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
/// A file that cannot be read stays queued with a backoff (or, after its last attempt, is
/// recorded as failed) while the files read with it are committed.
async fn load_work(inner: &Inner, work: Vec<PipeWork>) -> (usize, Vec<PipeWork>) {
    let mut handled = 0;
    let mut next = Vec::new();
    let mut loading = Vec::new();
    let count = work.len();
    for (i, w) in work.into_iter().enumerate() {
        let mut fetched = Vec::new();
        let mut unread = Vec::new();
        for (candidate, outcome) in fetch_each(&w.plan, w.files.clone()).await {
            match outcome {
                Ok(file) => fetched.push(file),
                Err(error) => unread.push((candidate, error.to_string())),
            }
        }
        let mut state = inner.lock_to_commit().await;
        if state.catalog_epoch == w.epoch {
            let (done, commit) = commit_work(inner, &mut state, &w, fetched, unread).await;
            handled += done;
            loading.extend(commit.map(|c| (w.pipe.clone(), c)));
        }
        if i + 1 == count {
            next = collect_work(&mut state);
        }
    }
    // The tasks may build on the loads while they are written.
    inner.wake_tasks.notify_one();
    for (pipe, commit) in loading {
        if let Err(error) = commit.durable().await {
            record_failed_commit(inner, &pipe, &error).await;
        }
    }
    (handled, next)
}

/// A pipe's load that did not become durable: the next lock rebuilds the state from storage
/// (the pipe's queue with it: its files are found again by the next listing), and the pipe's
/// status shows why.
async fn record_failed_commit(inner: &Inner, pipe: &str, error: &WarehouseError) {
    tracing::warn!(%pipe, %error, "a pipe's load did not commit; retried later");
    let mut state = inner.lock_to_commit().await;
    if let Ok(p) = state.pipe_mut(pipe) {
        p.error = Some(error.to_string());
    }
}

/// Commits the files of `w` that were read and the ones out of attempts; backs off the rest.
/// Returns the files that left the queue and the commit, which may still be being written.
async fn commit_work(
    inner: &Inner,
    state: &mut State,
    w: &PipeWork,
    fetched: Vec<Fetched>,
    unread: Vec<(Candidate, String)>,
) -> (usize, Option<Loading>) {
    let retry = inner.pipe_retry;
    let now = Instant::now();
    let mut failed = Vec::new();
    let mut retried = Vec::new();
    if let Ok(p) = state.pipe_mut(&w.pipe) {
        for (candidate, error) in unread {
            let Some(pending) = p.pending.get_mut(&candidate.path) else {
                continue;
            };
            pending.attempts += 1;
            tracing::warn!(
                pipe = %w.pipe,
                file = %candidate.path,
                attempt = pending.attempts,
                of = retry.max_attempts,
                %error,
                "a staged file could not be read"
            );
            if pending.attempts >= retry.max_attempts {
                failed.push(unreadable(&candidate, pending.attempts, &error));
            } else {
                pending.retry_at = Some(now + retry.delay(pending.attempts));
                pending.last_error = Some(error);
                retried.push(candidate.path);
            }
        }
    }
    let read: Vec<String> = fetched.iter().map(|f| f.path().to_owned()).collect();
    let outcome = commit_fetched(inner, state, &w.plan, fetched, Vec::new(), failed).await;
    let Ok(p) = state.pipe_mut(&w.pipe) else {
        return (0, outcome.ok());
    };
    match outcome {
        Ok(loading) => {
            let mut done = 0;
            for load in &loading.loads {
                if p.pending.remove(&load.file).is_some() {
                    done += 1;
                }
            }
            if let Some(last) = loading.loads.iter().rev().find(|l| {
                read.contains(&l.file) && (l.rows_loaded > 0 || l.status == LoadStatus::Loaded)
            }) {
                p.last_ingested = Some((last.load_time, last.file.clone()));
            }
            p.error = None;
            (done, Some(loading))
        }
        Err(error) => {
            // The commit failed (storage): every file of the batch is tried again later.
            tracing::warn!(pipe = %w.pipe, files = read.len(), %error, "a pipe's load did not commit; retried later");
            let error = error.to_string();
            for path in read.iter().chain(&retried) {
                if let Some(pending) = p.pending.get_mut(path) {
                    if !retried.contains(path) {
                        pending.attempts += 1;
                        pending.retry_at = Some(now + retry.delay(pending.attempts));
                    }
                    pending.last_error = Some(error.clone());
                }
            }
            p.error = Some(error);
            (0, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::local::copy::{relative, wanted};

    #[test]
    fn relative_paths_and_patterns() {
        assert_eq!(relative("landing", "landing/a.csv"), "a.csv");
        assert_eq!(relative("", "a.csv"), "a.csv");
        assert!(wanted(&Some("*.csv".into()), "landing", "landing/a.csv"));
        assert!(!wanted(&Some("*.csv".into()), "landing", "landing/a.txt"));
        assert!(wanted(&None, "landing", "landing/a.txt"));
    }
}
