//! Pipes: files announced by notifications or found by listing the stage wait in the pipe's
//! queue; a loop loads them, older first, up to [`FILES_PER_LOAD`] per commit, reading the next
//! files while merges hold the state lock.

use std::sync::Weak;
use std::time::{Instant, SystemTime};

use snowdrift_stage::StagedFile;

use crate::api::LoadStatus;
use crate::catalog::ObjectKind;
use crate::error::{Result, WarehouseError};
use crate::local::Inner;
use crate::local::copy::{
    Candidate, LoadPlan, already_loaded, commit_fetched, fetch_all, list, normalize_etag, plan,
    wanted,
};
use crate::local::state::{PendingFile, State, key};

/// Files per pipe commit.
const FILES_PER_LOAD: usize = 64;

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
