//! [`FakeSnowServer`]: fakesnow (a Snowflake emulator on DuckDB, from PyPI) in server mode
//! behind `crates/testkit/fakesnow_adapter.py`, started on 127.0.0.1 for one test and stopped when
//! dropped. `ci/test` installs it (pinned) into `.cache/venv`; `SNOWDRIFT_PYTHON` names
//! another Python that has it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long the emulator may take to start (imports of DuckDB and sqlglot are slow).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running fakesnow server; killed on drop, with the temporary folders it made.
#[derive(Debug)]
pub struct FakeSnowServer {
    child: Child,
    port: u16,
    /// The emulator's `TMPDIR` (it makes a folder per stage bucket there): removed on drop.
    _temp: tempfile::TempDir,
}

impl FakeSnowServer {
    /// Starts the adapter on a free port and waits until it accepts connections.
    ///
    /// # Panics
    /// When the Python environment is missing (run `ci/test` once to create it) or the server
    /// does not start; the message says which.
    pub fn start() -> Self {
        let root = workspace_root();
        let python = std::env::var_os("SNOWDRIFT_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".cache/venv/bin/python"));
        assert!(
            python.exists(),
            "{} does not exist: the emulator tests need fakesnow, which `ci/test` installs \
             into .cache/venv (or set SNOWDRIFT_PYTHON to a Python that has fakesnow[server]==0.12.1)",
            python.display()
        );
        let temp = tempfile::tempdir().expect("a temporary folder for the emulator");
        let mut child = Command::new(&python)
            // The adapter is this crate's own fixture, beside its sources.
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fakesnow_adapter.py"))
            .env("TMPDIR", temp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("listening on ") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(port)) => FakeSnowServer {
                child,
                port,
                _temp: temp,
            },
            other => {
                let _ = child.kill();
                panic!(
                    "fakesnow did not start within {START_TIMEOUT:?} ({other:?}); see its output above"
                )
            }
        }
    }

    /// The base URL for `SNOWFLAKE_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeSnowServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}
