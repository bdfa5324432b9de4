//! [`WarehouseExt`]: the conveniences built on any [`Warehouse`] (deploying a pipeline spec,
//! reading a table whole, waiting for a pipeline to be idle).

use arrow::array::RecordBatch;
use async_trait::async_trait;

use crate::backend::Warehouse;
use crate::catalog::CreateMode;
use crate::error::Result;
use crate::records::{Relation, TaskAction};
use crate::spec::PipelineSpec;

/// Conveniences on any [`Warehouse`].
#[async_trait]
pub trait WarehouseExt: Warehouse {
    /// Creates every object of `spec` in dependency order (`CREATE … IF NOT EXISTS`, so
    /// deploying twice is safe), then resumes the tasks, children first.
    async fn deploy(&self, spec: &PipelineSpec) -> Result<()> {
        spec.validate()?;
        for object in spec.objects() {
            self.create(object, CreateMode::IfNotExists).await?;
        }
        for task in spec.tasks_children_first() {
            self.alter_task(&task, TaskAction::Resume).await?;
        }
        Ok(())
    }

    /// Whether any stream of `spec`'s task graph has changes its tasks have not merged yet
    /// (false: both merges have caught up with everything loaded).
    async fn pipeline_has_data(&self, spec: &PipelineSpec) -> Result<bool> {
        for stream in spec.streams() {
            if self.stream_has_data(stream).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Suspends the tasks (root first) and drops every object of `spec`, dependents first.
    async fn teardown(&self, spec: &PipelineSpec) -> Result<()> {
        let mut tasks = spec.tasks_children_first();
        tasks.reverse();
        for task in tasks {
            match self.alter_task(&task, TaskAction::Suspend).await {
                Ok(()) | Err(crate::WarehouseError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for object in spec.objects().into_iter().rev() {
            self.drop_object(object.kind(), object.name(), true).await?;
        }
        Ok(())
    }

    /// All rows of a table.
    async fn table(&self, name: &str) -> Result<RecordBatch> {
        self.query(Relation::Table(name.to_owned())).await
    }

    /// A stream's change rows.
    async fn stream(&self, name: &str) -> Result<RecordBatch> {
        self.query(Relation::Stream(name.to_owned())).await
    }
}

impl<W: Warehouse + ?Sized> WarehouseExt for W {}
