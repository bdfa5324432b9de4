//! The folder-pickup journal: an append-only, fsync'ed text file recording, per local file
//! version (name + size + modification time), that its upload began and that it finished. On
//! restart it tells which files are done, which must be checked against the store, and which are
//! new. Compacted on open to the entries that still matter.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Result, StageError};

/// One version of a local file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FileVersion {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) modified_nanos: i128,
}

/// How far a version got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Upload started; the object may or may not exist.
    Begun { object: String },
    /// Uploaded and announced.
    Done { object: String },
}

#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    entries: HashMap<String, (FileVersion, Progress)>,
}

impl Journal {
    /// Opens (or creates) the journal at `path`, keeping only entries for which `keep` is true.
    pub(crate) fn open(path: &Path, keep: impl Fn(&FileVersion) -> bool) -> Result<Self> {
        let entries = match std::fs::read_to_string(path) {
            Ok(text) => parse(path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(StageError::io("read journal", path, e)),
        };
        let entries: HashMap<_, _> = entries.into_iter().filter(|(_, (v, _))| keep(v)).collect();
        rewrite(path, &entries)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| StageError::io("open journal", path, e))?;
        Ok(Journal {
            path: path.to_owned(),
            file,
            entries,
        })
    }

    pub(crate) fn progress(&self, version: &FileVersion) -> Option<&Progress> {
        self.entries
            .get(&version.name)
            .filter(|(v, _)| v == version)
            .map(|(_, p)| p)
    }

    pub(crate) fn record(&mut self, version: &FileVersion, progress: Progress) -> Result<()> {
        let line = render(version, &progress);
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StageError::io("append to journal", &self.path, e))?;
        self.entries
            .insert(version.name.clone(), (version.clone(), progress));
        Ok(())
    }
}

fn render(version: &FileVersion, progress: &Progress) -> String {
    let (kind, object) = match progress {
        Progress::Begun { object } => ("begun", object),
        Progress::Done { object } => ("done", object),
    };
    format!(
        "{kind}\t{}\t{}\t{}\t{}\n",
        escape(&version.name),
        version.size,
        version.modified_nanos,
        escape(object)
    )
}

type Entries = HashMap<String, (FileVersion, Progress)>;

fn parse(path: &Path, text: &str) -> Result<Entries> {
    let mut entries = HashMap::new();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let last = index + 1 == lines.len();
        if last && !complete {
            break; // a record cut short by a crash: its upload is re-checked, never assumed
        }
        let bad = |reason: &str| StageError::Journal {
            path: path.to_owned(),
            line: index + 1,
            reason: reason.into(),
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let [kind, name, size, modified, object] = fields[..] else {
            return Err(bad("expected 5 tab-separated fields"));
        };
        let version = FileVersion {
            name: unescape(name),
            size: size.parse().map_err(|_| bad("size is not a number"))?,
            modified_nanos: modified
                .parse()
                .map_err(|_| bad("modification time is not a number"))?,
        };
        let object = unescape(object);
        let progress = match kind {
            "begun" => Progress::Begun { object },
            "done" => Progress::Done { object },
            _ => return Err(bad("unknown record kind")),
        };
        entries.insert(version.name.clone(), (version, progress));
    }
    Ok(entries)
}

fn rewrite(path: &Path, entries: &Entries) -> Result<()> {
    let temp = path.with_extension("journal.tmp");
    let mut text = String::new();
    for (version, progress) in entries.values() {
        text.push_str(&render(version, progress));
    }
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| StageError::io("rewrite journal", path, e))
}

fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\t', "%09")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

fn unescape(text: &str) -> String {
    text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%09", "\t")
        .replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(name: &str) -> FileVersion {
        FileVersion {
            name: name.into(),
            size: 10,
            modified_nanos: 1_700_000_000_000_000_000,
        }
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pickup.journal");
        let mut journal = Journal::open(&path, |_| true).unwrap();
        let odd = version("we\tird%name.csv");
        journal
            .record(
                &odd,
                Progress::Begun {
                    object: "p/we\tird%name.csv".into(),
                },
            )
            .unwrap();
        journal
            .record(
                &odd,
                Progress::Done {
                    object: "p/we\tird%name.csv".into(),
                },
            )
            .unwrap();
        journal
            .record(
                &version("b.csv"),
                Progress::Begun {
                    object: "p/b.csv".into(),
                },
            )
            .unwrap();
        drop(journal);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("done\tb.csv\t10"); // crash in the middle of a line
        std::fs::write(&path, text).unwrap();

        let journal = Journal::open(&path, |_| true).unwrap();
        assert_eq!(
            journal.progress(&odd),
            Some(&Progress::Done {
                object: "p/we\tird%name.csv".into()
            })
        );
        assert_eq!(
            journal.progress(&version("b.csv")),
            Some(&Progress::Begun {
                object: "p/b.csv".into()
            })
        );
        let changed = FileVersion {
            size: 11,
            ..version("b.csv")
        };
        assert_eq!(journal.progress(&changed), None);
    }

    #[test]
    fn a_damaged_middle_line_is_an_error_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pickup.journal");
        std::fs::write(
            &path,
            "done\ta.csv\t1\t2\tp/a.csv\nnonsense\ndone\tb.csv\t1\t2\tp/b.csv\n",
        )
        .unwrap();
        let err = Journal::open(&path, |_| true).unwrap_err();
        assert!(matches!(err, StageError::Journal { line: 2, .. }), "{err}");
    }

    #[test]
    fn compaction_drops_what_keep_rejects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pickup.journal");
        let mut journal = Journal::open(&path, |_| true).unwrap();
        journal
            .record(
                &version("gone.csv"),
                Progress::Done {
                    object: "gone.csv".into(),
                },
            )
            .unwrap();
        journal
            .record(
                &version("here.csv"),
                Progress::Done {
                    object: "here.csv".into(),
                },
            )
            .unwrap();
        drop(journal);
        let journal = Journal::open(&path, |v| v.name == "here.csv").unwrap();
        assert!(journal.progress(&version("gone.csv")).is_none());
        assert!(std::fs::read_to_string(&path).unwrap().lines().count() == 1);
    }
}
