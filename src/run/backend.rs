//! Where a run (`snowdrift run`, `full_pipeline`) runs its flow: the embedded warehouse, or
//! (feature `snowflake`) a Snowflake account. Glue only: every operation is a `Warehouse` call
//! or a crate's own API. What it has to tell the user goes into the run's notes.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::stage::StageSink;
use crate::verify::CheckError as Error;
use crate::warehouse::{LocalWarehouse, PipelineSpec, Warehouse, WarehouseExt};

/// Where the pipeline runs.
pub(crate) enum Backend {
    Embedded(LocalWarehouse),
    #[cfg(feature = "snowflake")]
    Snowflake(Box<crate::snowflake::SnowflakeWarehouse>),
}

impl Backend {
    /// Opens the backend called `name` (`embedded`, `snowflake`) and deploys `spec` on it;
    /// the embedded warehouse lives under `folder`.
    pub(crate) async fn deploy(
        name: &str,
        folder: &Path,
        spec: &PipelineSpec,
        notes: &mut Vec<String>,
    ) -> Result<Self, Error> {
        let _ = &notes; // only the Snowflake backend has something to say here
        match name {
            "embedded" => {
                let root = folder.join("warehouse");
                // The stage may be on S3: its pipe reads it with the `AWS_*` environment.
                let warehouse = LocalWarehouse::builder(root.to_str().ok_or("non-UTF-8 path")?)
                    .store_options(snowdrift_stage::aws_environment())
                    .open()
                    .await?;
                warehouse.deploy(spec).await?;
                Ok(Backend::Embedded(warehouse))
            }
            #[cfg(feature = "snowflake")]
            "snowflake" => {
                use crate::snowflake::{SnowflakeConfig, SnowflakeWarehouse};
                if !spec.stage_url.starts_with("s3://") {
                    return Err("--backend snowflake loads from S3: give --stage s3://bucket/prefix (AWS_* variables for this machine's uploads; SNOWDRIFT_STORAGE_INTEGRATION or the same keys for Snowflake's stage)".into());
                }
                let config = SnowflakeConfig::from_env()?;
                let warehouse = SnowflakeWarehouse::connect(&config).await?;
                let plan = warehouse.deploy_spec(spec).await?;
                notes.push(format!(
                    "deployed {} statements to {}.{} on Snowflake account {}",
                    plan.statements.len(),
                    config.database,
                    config.schema,
                    config.account
                ));
                Ok(Backend::Snowflake(Box::new(warehouse)))
            }
            #[cfg(not(feature = "snowflake"))]
            "snowflake" => Err("--backend snowflake needs the Snowflake backend: build with --features snowflake (cargo run --release --features snowflake --bin snowdrift -- run --backend snowflake ...)".into()),
            other => Err(format!("unknown --backend `{other}` (embedded or snowflake)").into()),
        }
    }

    pub(crate) fn warehouse(&self) -> &dyn Warehouse {
        match self {
            Backend::Embedded(w) => w,
            #[cfg(feature = "snowflake")]
            Backend::Snowflake(w) => w.as_ref(),
        }
    }

    pub(crate) async fn row_counts(&self, spec: &PipelineSpec) -> Result<[usize; 3], Error> {
        let tables = [&spec.raw_table, &spec.current_table, &spec.history_table];
        let mut counts = [0; 3];
        for (count, table) in counts.iter_mut().zip(tables) {
            *count = match self {
                Backend::Embedded(w) => w.row_count(table).await?,
                #[cfg(feature = "snowflake")]
                Backend::Snowflake(w) => w.table(table).await?.num_rows(),
            };
        }
        Ok(counts)
    }

    /// Lets new files reach the pipe: the embedded pipe hears the sink's notifications;
    /// Snowflake's hears S3 event notifications when the bucket sends them, and a refresh
    /// every ten seconds covers a bucket that does not.
    pub(crate) fn listen(&self, spec: &PipelineSpec, sink: &StageSink) {
        match self {
            Backend::Embedded(w) => w.forward_notifications(&spec.stage, sink.subscribe()),
            #[cfg(feature = "snowflake")]
            Backend::Snowflake(_) => {}
        }
    }

    pub(crate) async fn nudge(&self, spec: &PipelineSpec, last: &mut Instant) -> Result<(), Error> {
        #[cfg(feature = "snowflake")]
        if let Backend::Snowflake(w) = self
            && last.elapsed() >= Duration::from_secs(10)
        {
            w.refresh_pipe(&spec.pipe).await?;
            *last = Instant::now();
        }
        let _ = (spec, last);
        Ok(())
    }

    /// How often to ask whether the pipeline has caught up: often for the embedded engine
    /// (a question costs microseconds), seldom for Snowflake (each is a query).
    pub(crate) fn poll_every(&self) -> Duration {
        match self {
            Backend::Embedded(_) => Duration::from_millis(10),
            #[cfg(feature = "snowflake")]
            Backend::Snowflake(_) => Duration::from_secs(2),
        }
    }

    pub(crate) fn location(&self) -> String {
        match self {
            Backend::Embedded(w) => w.root().to_string(),
            #[cfg(feature = "snowflake")]
            Backend::Snowflake(w) => format!(
                "Snowflake, {}",
                w.renderer()
                    .qualified(crate::warehouse::ObjectKind::Table, "…")
                    .unwrap_or_default()
            ),
        }
    }

    /// Exports the tables (embedded) or tears the deployment down (Snowflake, unless kept).
    pub(crate) async fn finish(
        self,
        spec: &PipelineSpec,
        exports: &Path,
        keep: bool,
        notes: &mut Vec<String>,
    ) -> Result<(), Error> {
        match self {
            Backend::Embedded(warehouse) => {
                std::fs::create_dir_all(exports)?;
                let [current_rejected, history_rejected] = spec.rejected_tables();
                for table in [
                    &spec.raw_table,
                    &spec.current_table,
                    &spec.history_table,
                    &current_rejected.name,
                    &history_rejected.name,
                ] {
                    warehouse
                        .export_ipc(table, &exports.join(format!("{table}.arrow")))
                        .await?;
                }
                notes.push(format!(
                    "tables exported as Arrow IPC: {} (python: polars.read_ipc(path))",
                    exports.display()
                ));
                warehouse.close().await?;
            }
            #[cfg(feature = "snowflake")]
            Backend::Snowflake(warehouse) => {
                if keep {
                    notes.push(
                        "the deployment was kept (--keep); remove it with the snowflake_deploy example's --teardown".into(),
                    );
                } else {
                    warehouse.teardown_spec(spec).await?;
                    notes.push("the deployment was torn down (--keep leaves it)".into());
                }
            }
        }
        let _ = (keep, notes);
        Ok(())
    }
}
