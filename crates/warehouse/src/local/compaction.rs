//! Compaction of segment files, in the background: a table whose loads or merges leave many
//! small segments (one per load of a raw table, one per SCD-2 merge of retired versions) gets
//! runs of them rewritten as one, so reads open few files and checkpoints list few.
//!
//! Segments have size tiers, `log8` of their rows. Once [`FANOUT`] adjacent segments of one
//! kind share a tier they are merged into one of the next tier; segments of [`MAX_ROWS`] rows
//! or more are left alone. A row is therefore rewritten at most `log8(MAX_ROWS / rows of a
//! load)` times (two or three for files of 10,000 rows): bounded write amplification.
//!
//! A compaction reads and writes with no lock held, then commits like any change: one log
//! entry replacing the run by the new segment, only if the run is still the table's (a table
//! dropped or replaced meanwhile makes it give up). Its output file is registered with the
//! state first, so a checkpoint taken meanwhile keeps it.

use std::sync::{Arc, Weak};

use arrow::datatypes::SchemaRef;

use crate::error::Result;
use crate::local::Inner;
use crate::local::segment::Segment;
use crate::local::state::{Action, key};
use crate::local::storage::{Codec, ParquetParts, Storage};
use crate::local::table::{LocalTable, conform};

/// Adjacent segments of one tier merged at once.
pub(crate) const FANOUT: usize = 8;

/// Segments this large are not compacted further.
pub(crate) const MAX_ROWS: u64 = 1 << 18;

fn tier(rows: u64) -> u32 {
    rows.max(1).ilog2() / FANOUT.ilog2()
}

/// Whether two segments can be in one: both with consecutive row ids that follow on, or both
/// with a row id column.
fn joinable(a: &Segment, b: &Segment) -> bool {
    match (a.first_row_id, b.first_row_id) {
        (Some(_), Some(next)) => a.last_row_id().map(|last| last + 1) == Some(next),
        (None, None) => true,
        _ => false,
    }
}

/// The first run of segments of `table` to compact: [`FANOUT`] adjacent, joinable segments of
/// one tier, each below [`MAX_ROWS`].
pub(crate) fn pick(table: &LocalTable) -> Option<Vec<Segment>> {
    let segments = &table.segments;
    (0..segments.len().saturating_sub(FANOUT - 1)).find_map(|start| {
        let run = &segments[start..start + FANOUT];
        let t = tier(run[0].rows);
        let fits = run.iter().all(|s| s.rows < MAX_ROWS && tier(s.rows) == t)
            && run.windows(2).all(|w| joinable(&w[0], &w[1]));
        fits.then(|| run.to_vec())
    })
}

/// Rewrites `run` as one Parquet file named `file`; returns its segment.
async fn rewrite(
    storage: &Storage,
    schema: &SchemaRef,
    run: &[Segment],
    file: String,
) -> Result<Segment> {
    let first_row_id = run[0].first_row_id;
    let mut writer = None;
    let mut rows = 0;
    // One segment in memory at a time, encoded as it comes.
    for segment in run {
        for part in storage.read_parts(&segment.file).await? {
            // Appended rows as the table has them; retired ones keep their row id column.
            let part = match first_row_id {
                Some(_) => conform(&part, schema, &segment.file)?,
                None => part,
            };
            let writer = match &mut writer {
                Some(w) => w,
                None => writer.insert(ParquetParts::new(&part.schema(), 0, Codec::Compact)?),
            };
            writer.write(&part)?;
            rows += part.num_rows() as u64;
        }
    }
    let Some(writer) = writer else {
        return Err(crate::WarehouseError::Corrupt {
            path: file,
            reason: "a compaction of no segments".into(),
        });
    };
    storage.write_object(&file, writer.finish()?).await?;
    Ok(Segment {
        file,
        rows,
        first_row_id,
    })
}

/// Compacts one run of one table, if any table has one; returns whether it did.
async fn compact_once(inner: &Inner) -> Result<bool> {
    let (name, schema, run, file) = {
        let mut state = inner.lock().await;
        let found = state
            .tables
            .iter()
            .find_map(|(name, t)| pick(t).map(|run| (name.clone(), run)));
        let Some((name, run)) = found else {
            return Ok(false);
        };
        let file = format!(
            "data/{name}/{:020}-compact-{}.parquet",
            state.version + 1,
            run[0].file.rsplit('/').next().unwrap_or("segment")
        );
        state.pending_files.insert(file.clone());
        let schema = state.table(&name)?.schema();
        (name, schema, run, file)
    };
    let written = rewrite(&inner.storage, &schema, &run, file.clone()).await;
    let mut state = inner.lock().await;
    state.pending_files.remove(&file);
    let segment = written?;
    let still_there = state
        .table(&name)
        .is_ok_and(|t| t.segments.windows(run.len()).any(|w| w == run.as_slice()));
    if !still_there {
        // The table was dropped or replaced meanwhile: the file is garbage for the next
        // checkpoint.
        return Ok(true);
    }
    let rows = segment.rows;
    let action = Action::Compact {
        table: key(&name),
        removed: run.iter().map(|s| s.file.clone()).collect(),
        added: segment,
    };
    let version = inner.commit(&mut state, vec![action], Vec::new()).await?;
    tracing::info!(table = %name, segments = run.len(), rows, version, "segments compacted");
    Ok(true)
}

/// The compactor: after commits, compacts until no table has a run to compact.
pub(crate) async fn run_compactor(weak: Weak<Inner>, wake: Arc<tokio::sync::Notify>) {
    loop {
        wake.notified().await;
        loop {
            let Some(inner) = weak.upgrade() else { return };
            match compact_once(&inner).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(%error, "compaction failed; tried again after the next commit");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appended(first: u64, rows: u64) -> Segment {
        Segment {
            file: format!("f{first}"),
            rows,
            first_row_id: Some(first),
        }
    }

    #[test]
    fn runs_are_adjacent_joinable_and_of_one_tier() {
        let mut segments: Vec<Segment> = (0..8).map(|i| appended(1 + i * 100, 100)).collect();
        assert!(segments.windows(2).all(|w| joinable(&w[0], &w[1])));
        // A gap in the row ids breaks a run.
        segments[4].first_row_id = Some(10_000);
        assert!(!joinable(&segments[3], &segments[4]));
        let retired = |n: usize| Segment {
            file: format!("r{n}"),
            rows: 100,
            first_row_id: None,
        };
        assert!(joinable(&retired(1), &retired(2)));
        assert!(!joinable(&appended(1, 100), &retired(2)));
        assert_eq!([1, 7, 8, 63, 64, 1 << 20].map(tier), [0, 0, 1, 1, 2, 6]);
    }
}
