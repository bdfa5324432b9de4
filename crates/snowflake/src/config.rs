//! [`SnowflakeConfig`]: where and as whom to connect, from the environment in Snowflake's own
//! conventions (`SNOWFLAKE_ACCOUNT`, `SNOWFLAKE_USER`, `SNOWFLAKE_PASSWORD` or
//! `SNOWFLAKE_PRIVATE_KEY_FILE`, …) or from a builder. Secrets are [`Secret`]s: redacted in
//! `Debug`, never in errors.

use std::path::PathBuf;

use crate::error::{Result, SnowflakeError};
use crate::secret::Secret;

/// How to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// User and password.
    Password(Secret),
    /// Key-pair authentication: a PKCS#8 private key file, optionally encrypted.
    KeyPair {
        /// The key file.
        path: PathBuf,
        /// Its passphrase, if encrypted.
        passphrase: Option<Secret>,
    },
}

/// A Snowflake account and the context to work in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnowflakeConfig {
    /// The account identifier (`orgname-account` or a locator).
    pub account: String,
    /// The user.
    pub user: String,
    /// Password or key pair.
    pub auth: Auth,
    /// The role to use (default: the user's default role).
    pub role: Option<String>,
    /// The virtual warehouse that runs queries and tasks.
    pub warehouse: Option<String>,
    /// The database the pipeline lives in.
    pub database: String,
    /// The schema the pipeline lives in.
    pub schema: String,
    /// Another endpoint than `https://<account>.snowflakecomputing.com` (an emulator).
    pub base_url: Option<String>,
}

impl SnowflakeConfig {
    /// A configuration for `user` on `account`, in database `SNOWDRIFT`, schema `PUBLIC`;
    /// the `with_*` methods set the rest.
    ///
    /// ```
    /// use snowdrift_snowflake::{Auth, Secret, SnowflakeConfig};
    /// let config = SnowflakeConfig::new("myorg-acct", "loader", Auth::Password(Secret::new("pw")))
    ///     .with_role("SNOWDRIFT_ROLE")
    ///     .with_warehouse("COMPUTE_WH")
    ///     .with_database("ANALYTICS")
    ///     .with_schema("CUSTOMERS");
    /// assert_eq!(config.schema, "CUSTOMERS");
    /// ```
    pub fn new(account: impl Into<String>, user: impl Into<String>, auth: Auth) -> Self {
        SnowflakeConfig {
            account: account.into(),
            user: user.into(),
            auth,
            role: None,
            warehouse: None,
            database: "SNOWDRIFT".into(),
            schema: "PUBLIC".into(),
            base_url: None,
        }
    }

    /// The role to use.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// The virtual warehouse for queries and tasks (tasks are serverless without one).
    pub fn with_warehouse(mut self, warehouse: impl Into<String>) -> Self {
        self.warehouse = Some(warehouse.into());
        self
    }

    /// The database the pipeline lives in.
    pub fn with_database(mut self, database: impl Into<String>) -> Self {
        self.database = database.into();
        self
    }

    /// The schema the pipeline lives in.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Another endpoint (an emulator, a PrivateLink URL).
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Reads the configuration from the process environment:
    ///
    /// | variable | |
    /// |---|---|
    /// | `SNOWFLAKE_ACCOUNT`, `SNOWFLAKE_USER` | required |
    /// | `SNOWFLAKE_PASSWORD` or `SNOWFLAKE_PRIVATE_KEY_FILE` (+ `SNOWFLAKE_PRIVATE_KEY_PASSPHRASE`) | one of them |
    /// | `SNOWFLAKE_DATABASE`, `SNOWFLAKE_SCHEMA` | default `SNOWDRIFT`, `PUBLIC` |
    /// | `SNOWFLAKE_ROLE`, `SNOWFLAKE_WAREHOUSE` | optional |
    /// | `SNOWFLAKE_BASE_URL` | optional, for emulators |
    ///
    /// # Errors
    ///
    /// As [`SnowflakeConfig::from_lookup`]: [`SnowflakeError::MissingVariable`] or
    /// [`SnowflakeError::InvalidVariable`] naming the variable (never its value).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`SnowflakeConfig::from_env`] with another source of variables (tests, a secrets
    /// manager).
    ///
    /// ```
    /// use snowdrift_snowflake::{Auth, SnowflakeConfig};
    /// let vars = [("SNOWFLAKE_ACCOUNT", "myorg-acct"), ("SNOWFLAKE_USER", "loader"), ("SNOWFLAKE_PASSWORD", "hunter2")];
    /// let config = SnowflakeConfig::from_lookup(|name| {
    ///     vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    /// })?;
    /// assert_eq!(config.database, "SNOWDRIFT");
    /// assert!(matches!(config.auth, Auth::Password(_)));
    /// assert!(!format!("{config:?}").contains("hunter2"));
    /// # Ok::<(), snowdrift_snowflake::SnowflakeError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::MissingVariable`] when the account, the user or every way to authenticate
    /// is missing, and [`SnowflakeError::InvalidVariable`] when both a password and a key file are
    /// given or the account is a URL. Neither repeats a value: it may be secret.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &'static str, hint: &'static str| {
            lookup(name).ok_or(SnowflakeError::MissingVariable { name, hint })
        };
        let account = required(
            "SNOWFLAKE_ACCOUNT",
            "set it to your account identifier, e.g. myorg-myaccount",
        )?;
        let user = required("SNOWFLAKE_USER", "set it to the user snowdrift connects as")?;
        let auth = match (
            lookup("SNOWFLAKE_PASSWORD"),
            lookup("SNOWFLAKE_PRIVATE_KEY_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(SnowflakeError::InvalidVariable {
                    name: "SNOWFLAKE_PASSWORD",
                    reason: "set either SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_FILE, not both"
                        .into(),
                });
            }
            (Some(password), None) => Auth::Password(Secret::new(password)),
            (None, Some(path)) => Auth::KeyPair {
                path: PathBuf::from(path),
                passphrase: lookup("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE").map(Secret::new),
            },
            (None, None) => {
                return Err(SnowflakeError::MissingVariable {
                    name: "SNOWFLAKE_PASSWORD",
                    hint: "set SNOWFLAKE_PASSWORD, or SNOWFLAKE_PRIVATE_KEY_FILE for key-pair authentication",
                });
            }
        };
        if account.contains('/') || account.contains(' ') {
            return Err(SnowflakeError::InvalidVariable {
                name: "SNOWFLAKE_ACCOUNT",
                reason: "an account identifier has no `/` or spaces (give the identifier, not a URL; use SNOWFLAKE_BASE_URL for another endpoint)".into(),
            });
        }
        Ok(SnowflakeConfig {
            account,
            user,
            auth,
            role: lookup("SNOWFLAKE_ROLE"),
            warehouse: lookup("SNOWFLAKE_WAREHOUSE"),
            database: lookup("SNOWFLAKE_DATABASE").unwrap_or_else(|| "SNOWDRIFT".into()),
            schema: lookup("SNOWFLAKE_SCHEMA").unwrap_or_else(|| "PUBLIC".into()),
            base_url: lookup("SNOWFLAKE_BASE_URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn missing_and_conflicting_variables_say_what_to_set_without_values() {
        let error = SnowflakeConfig::from_lookup(lookup(&[])).unwrap_err();
        assert!(
            matches!(
                error,
                SnowflakeError::MissingVariable {
                    name: "SNOWFLAKE_ACCOUNT",
                    ..
                }
            ),
            "{error}"
        );
        let both = [
            ("SNOWFLAKE_ACCOUNT", "a"),
            ("SNOWFLAKE_USER", "u"),
            ("SNOWFLAKE_PASSWORD", "hunter2"),
            ("SNOWFLAKE_PRIVATE_KEY_FILE", "/k.p8"),
        ];
        let error = SnowflakeConfig::from_lookup(lookup(&both)).unwrap_err();
        assert!(
            matches!(
                error,
                SnowflakeError::InvalidVariable {
                    name: "SNOWFLAKE_PASSWORD",
                    ..
                }
            ),
            "{error}"
        );
        // The one text check: a secret never reaches the message.
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let no_auth = [("SNOWFLAKE_ACCOUNT", "a"), ("SNOWFLAKE_USER", "u")];
        let error = SnowflakeConfig::from_lookup(lookup(&no_auth)).unwrap_err();
        assert!(
            matches!(
                error,
                SnowflakeError::MissingVariable { name: "SNOWFLAKE_PASSWORD", hint }
                    if hint.contains("SNOWFLAKE_PRIVATE_KEY_FILE")
            ),
            "{error}"
        );
    }

    #[test]
    fn key_pair_with_passphrase_is_redacted() {
        let vars = [
            ("SNOWFLAKE_ACCOUNT", "myorg-acct"),
            ("SNOWFLAKE_USER", "loader"),
            ("SNOWFLAKE_PRIVATE_KEY_FILE", "/keys/loader.p8"),
            ("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "open sesame"),
            ("SNOWFLAKE_WAREHOUSE", "LOAD_WH"),
            ("SNOWFLAKE_BASE_URL", "http://127.0.0.1:8000"),
        ];
        let config = SnowflakeConfig::from_lookup(lookup(&vars)).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("open sesame"), "{shown}");
        assert!(shown.contains("/keys/loader.p8"));
        assert_eq!(config.warehouse.as_deref(), Some("LOAD_WH"));
        assert_eq!(config.base_url.as_deref(), Some("http://127.0.0.1:8000"));
    }

    #[test]
    fn an_account_url_is_refused() {
        let vars = [
            ("SNOWFLAKE_ACCOUNT", "https://x.snowflakecomputing.com"),
            ("SNOWFLAKE_USER", "u"),
            ("SNOWFLAKE_PASSWORD", "p"),
        ];
        let error = SnowflakeConfig::from_lookup(lookup(&vars)).unwrap_err();
        assert!(
            matches!(
                error,
                SnowflakeError::InvalidVariable {
                    name: "SNOWFLAKE_ACCOUNT",
                    ..
                }
            ),
            "{error}"
        );
    }
}
