//! Where loaded rows came from: the staged file and line of each row a load appended, kept
//! compactly (runs of consecutive lines per file, so a clean file costs one entry) beside the
//! appended rows and in the commit log, so that a rejected row can name its file and line
//! after a restart too.

use serde::{Deserialize, Serialize};

/// The files and lines of consecutive appended rows, in row order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowOrigin {
    files: Vec<FileLines>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileLines {
    file: String,
    /// `(first line, rows)`: rows on consecutive lines.
    runs: Vec<(u64, u64)>,
    /// Records of the file the load skipped as bad (`ON_ERROR = CONTINUE`): its rows are
    /// then not the whole file, which a snapshot source must know.
    #[serde(default, skip_serializing_if = "is_zero")]
    skipped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl RowOrigin {
    /// Adds the rows of `file`, one per entry of `lines`; the load skipped `skipped` bad
    /// records of it.
    pub(crate) fn push(&mut self, file: &str, lines: &[u64], skipped: u64) {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &line in lines {
            match runs.last_mut() {
                Some((first, rows)) if *first + *rows == line => *rows += 1,
                _ => runs.push((line, 1)),
            }
        }
        self.files.push(FileLines {
            file: file.to_owned(),
            runs,
            skipped,
        });
    }

    /// The files, in row order.
    pub(crate) fn files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|f| f.file.as_str())
    }

    /// Each file's rows (how many, in row order) and whether the load skipped records of it.
    pub(crate) fn file_rows(&self) -> impl Iterator<Item = (u64, bool)> + '_ {
        self.files
            .iter()
            .map(|f| (f.runs.iter().map(|r| r.1).sum(), f.skipped > 0))
    }

    /// The file and line of row `row` (0-based among the rows it describes).
    pub(crate) fn locate(&self, row: u64) -> Option<(&str, u64)> {
        let mut left = row;
        for file in &self.files {
            for &(first, rows) in &file.runs {
                if left < rows {
                    return Some((&file.file, first + left));
                }
                left -= rows;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_found_across_files_and_gaps() {
        let mut origin = RowOrigin::default();
        origin.push("a.csv", &[2, 3, 4, 7, 8], 0);
        origin.push("b.csv", &[2], 1);
        let rows: Vec<(u64, bool)> = origin.file_rows().collect();
        assert_eq!(rows, [(5, false), (1, true)]);
        assert_eq!(origin.files[0].runs, [(2, 3), (7, 2)]);
        assert_eq!(origin.locate(0), Some(("a.csv", 2)));
        assert_eq!(origin.locate(3), Some(("a.csv", 7)));
        assert_eq!(origin.locate(5), Some(("b.csv", 2)));
        assert_eq!(origin.locate(6), None);
    }
}
