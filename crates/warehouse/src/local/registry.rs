//! Object stores given to the warehouse by URL prefix (like DataFusion's object store
//! registry): a stage or root URL under a registered prefix uses that store, configured however
//! its owner wants (credentials provider, client options, an S3-compatible endpoint); any other
//! URL is parsed by [`StageLocation::parse_opts`] with the options the warehouse was given
//! (none unless its opener passes them: the library never reads the environment itself).

use std::sync::Arc;

use object_store::ObjectStore;
use snowdrift_stage::StageLocation;

use crate::error::Result;

#[derive(Default, Clone)]
pub(crate) struct StoreRegistry {
    entries: Vec<(String, Arc<dyn ObjectStore>)>,
    /// Options for URLs no registered store covers (S3 keys among them).
    options: Vec<(String, String)>,
}

impl std::fmt::Debug for StoreRegistry {
    /// The prefixes and the names of the options, never their values (keys are secrets).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<&str> = self.entries.iter().map(|(p, _)| p.as_str()).collect();
        let options: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StoreRegistry")
            .field("prefixes", &prefixes)
            .field("options", &options)
            .finish()
    }
}

impl StoreRegistry {
    pub(crate) fn set_options(&mut self, options: Vec<(String, String)>) {
        self.options = options;
    }

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
        let options = self.options.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        Ok(StageLocation::parse_opts(url, options)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_show_their_names_never_their_values() {
        let mut registry = StoreRegistry::default();
        registry.set_options(vec![(
            "AWS_SECRET_ACCESS_KEY".into(),
            "wJalrXUtnFEMI-secret".into(),
        )]);
        let shown = format!("{registry:?}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI-secret"), "{shown}");
    }

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
