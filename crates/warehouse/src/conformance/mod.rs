//! The conformance suite (feature `conformance`): scenarios that any [`Warehouse`] must pass,
//! comparing results (rows, counts, states), never SQL text — the way object_store runs one
//! integration suite against every store. A backend runs what its [`Capabilities`] declare; the
//! rest is reported as skipped.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use snowdrift_warehouse::LocalWarehouse;
//! use snowdrift_warehouse::conformance::{Fixture, run};
//! let warehouse = LocalWarehouse::builder("./wh").background(false).open().await?;
//! let report = run(&warehouse, &Fixture::new("./stage-files")?).await;
//! assert!(report.failed.is_empty(), "{report}");
//! # Ok(()) }
//! ```

mod reads;
mod rejects;
mod scenarios;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use snowdrift_stage::StageLocation;

use crate::{Capabilities, Warehouse};

pub use crate::rows::{rows_of, sorted_rows};

/// What the scenarios need besides the warehouse: a stage they can write files into, which
/// the warehouse reads through the same URL.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The stage URL given to the warehouse (`CREATE STAGE … URL = …`).
    pub stage_url: String,
    /// The same place, for writing files.
    pub stage: StageLocation,
}

impl Fixture {
    /// A fixture on the stage at `url` (a folder, `s3://…`).
    pub fn new(url: &str) -> crate::Result<Self> {
        Ok(Fixture {
            stage_url: url.to_owned(),
            stage: StageLocation::parse(url)?,
        })
    }
}

type ScenarioFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One scenario.
pub struct Scenario {
    /// Its name (also the prefix of the objects it creates).
    pub name: &'static str,
    needs: fn(&Capabilities) -> bool,
    run: for<'a> fn(&'a dyn Warehouse, &'a Fixture) -> ScenarioFuture<'a>,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .finish()
    }
}

/// What a run of the suite found.
#[derive(Debug, Default)]
pub struct Report {
    /// Scenarios that passed.
    pub passed: Vec<&'static str>,
    /// Scenarios the backend does not support.
    pub skipped: Vec<&'static str>,
    /// Scenarios that failed, with what differed.
    pub failed: Vec<(&'static str, String)>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} passed, {} skipped, {} failed",
            self.passed.len(),
            self.skipped.len(),
            self.failed.len()
        )?;
        for name in &self.skipped {
            writeln!(f, "  skipped {name}: not supported by this backend")?;
        }
        for (name, why) in &self.failed {
            writeln!(f, "  FAILED {name}: {why}")?;
        }
        Ok(())
    }
}

/// Every scenario.
pub fn scenarios() -> Vec<Scenario> {
    scenarios::all()
}

/// Runs every scenario the warehouse supports.
pub async fn run(warehouse: &dyn Warehouse, fixture: &Fixture) -> Report {
    let capabilities = warehouse.capabilities();
    let mut report = Report::default();
    for scenario in scenarios() {
        if !(scenario.needs)(&capabilities) {
            report.skipped.push(scenario.name);
            continue;
        }
        match (scenario.run)(warehouse, fixture).await {
            Ok(()) => report.passed.push(scenario.name),
            Err(why) => report.failed.push((scenario.name, why)),
        }
    }
    report
}
