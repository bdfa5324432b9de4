//! Object stores given to the warehouse by URL prefix (like DataFusion's object store
//! registry): a stage or root URL under a registered prefix uses that store, configured however
//! its owner wants (credentials provider, client options, an S3-compatible endpoint); any other
//! URL is parsed by [`StageLocation::parse`] (S3 configured from `AWS_*`).

use std::sync::Arc;

use object_store::ObjectStore;
use snowdrift_stage::StageLocation;

use crate::error::Result;

#[derive(Debug, Default, Clone)]
pub(crate) struct StoreRegistry {
    entries: Vec<(String, Arc<dyn ObjectStore>)>,
}

impl StoreRegistry {
    pub(crate) fn register(&mut self, prefix: &str, store: Arc<dyn ObjectStore>) {
        self.entries
            .push((prefix.trim_end_matches('/').to_owned(), store));
    }

    /// The store and prefix for `url`.
    pub(crate) fn resolve(&self, url: &str) -> Result<StageLocation> {
        for (prefix, store) in &self.entries {
            if let Some(rest) = url.strip_prefix(prefix.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return Ok(StageLocation::from_store(
                    store.clone(),
                    rest.trim_matches('/'),
                ));
            }
        }
        Ok(StageLocation::parse(url)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_prefixes_win_and_others_parse() {
        let mut registry = StoreRegistry::default();
        registry.register(
            "s3://bucket/",
            Arc::new(object_store::memory::InMemory::new()),
        );
        assert_eq!(
            registry.resolve("s3://bucket/landing/x").unwrap().prefix(),
            "landing/x"
        );
        assert_eq!(registry.resolve("s3://bucket").unwrap().prefix(), "");
        assert_eq!(
            registry.resolve("memory:///other").unwrap().prefix(),
            "other"
        );
        // `s3://bucket2` is not under `s3://bucket`
        assert!(
            registry
                .resolve("s3://bucket2/x")
                .is_ok_and(|l| l.prefix() == "x")
        );
    }
}
