//! [`Connection`]: one session with Snowflake through `snowflake-connector-rs`, running
//! [`Statement`]s and reading results as Arrow `RecordBatch`es. Errors carry the statement as
//! displayed (secrets as `***`), never the executed text.

use std::fmt;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use snowflake_connector_rs::{
    AuthConfig, Client, ClientConfig, DynamicRow, EndpointConfig, KeyPairConfig, SessionConfig,
};

use crate::config::{Auth, SnowflakeConfig};
use crate::decode::{arrow_schema, rows_to_batch};
use crate::error::{Result, SnowflakeError};
use crate::render::Statement;
use crate::results::Record;

/// Longest statement text an error repeats.
const SHOWN_STATEMENT_CHARS: usize = 300;

/// A session with Snowflake (or an emulator at `SNOWFLAKE_BASE_URL`).
pub struct Connection {
    session: snowflake_connector_rs::Session,
    account: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Logs in with `config` and opens a session in its role and warehouse.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Connect`] when the key file cannot be read, `SNOWFLAKE_BASE_URL` is not a
    /// URL, or the login or session is refused; the message names the account and user, never a
    /// secret.
    pub async fn connect(config: &SnowflakeConfig) -> Result<Self> {
        let connect_error = |message: String| SnowflakeError::Connect {
            account: config.account.clone(),
            user: config.user.clone(),
            message,
        };
        let auth = match &config.auth {
            Auth::Password(password) => AuthConfig::password(password.expose()),
            Auth::KeyPair { path, passphrase } => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    connect_error(format!(
                        "cannot read the private key file {}: {e}",
                        path.display()
                    ))
                })?;
                AuthConfig::key_pair(match passphrase {
                    Some(p) => {
                        KeyPairConfig::from_encrypted_pem(pem, p.expose().as_bytes().to_vec())
                    }
                    None => KeyPairConfig::from_pem(pem),
                })
            }
        };
        // Statements name their objects fully; the session's database and schema serve
        // anything unqualified (and emulators that want a current schema).
        let mut session = SessionConfig::new()
            .with_database(&config.database)
            .with_schema(&config.schema);
        if let Some(role) = &config.role {
            session = session.with_role(role);
        }
        if let Some(warehouse) = &config.warehouse {
            session = session.with_warehouse(warehouse);
        }
        let mut client_config =
            ClientConfig::new(&config.user, &config.account, auth).with_session(session);
        if let Some(base_url) = &config.base_url {
            let url = url::Url::parse(base_url)
                .map_err(|e| connect_error(format!("SNOWFLAKE_BASE_URL is not a URL: {e}")))?;
            client_config = client_config.with_endpoint(EndpointConfig::custom_base_url(url));
        }
        let client = Client::new(client_config).map_err(|e| connect_error(e.to_string()))?;
        let session = client
            .create_session()
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        Ok(Connection {
            session,
            account: config.account.clone(),
        })
    }

    /// Runs a statement (its secrets substituted); its result rows, if any, are dropped (read
    /// rows with [`Connection::query_inferred`] or [`Connection::query_batch`]).
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Query`] with the statement as shown (secrets masked) and Snowflake's
    /// message.
    pub async fn execute(&self, statement: &Statement) -> Result<()> {
        self.run(&statement.expose_sql(), &statement.to_string())
            .await
            .map(drop)
    }

    /// Runs SQL that holds no secret; its result rows, if any, are dropped.
    ///
    /// # Errors
    ///
    /// As [`Connection::execute`].
    pub async fn execute_sql(&self, sql: &str) -> Result<()> {
        self.run(sql, sql).await.map(drop)
    }

    /// Runs SQL that holds no secret and returns its rows as name/value records.
    pub(crate) async fn records(&self, sql: &str) -> Result<Vec<Record>> {
        Ok(self
            .run(sql, sql)
            .await?
            .iter()
            .map(Record::from_row)
            .collect())
    }

    /// Runs a query and reads its rows into a batch whose schema follows the result's column
    /// types: `NUMBER` with scale 0 → Int64, `FLOAT` → Float64, `BOOLEAN`, `DATE`,
    /// timestamps → µs timestamps, anything else → Utf8 as Snowflake printed it. Names of
    /// unquoted upper-case columns come back in lower case, as the embedded engine names them.
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Query`] when Snowflake fails the statement, and
    /// [`SnowflakeError::Decode`] when a value does not read as its column's type (with the
    /// relation, row and column).
    pub async fn query_inferred(&self, sql: &str, relation: &str) -> Result<RecordBatch> {
        let query_error = |e: snowflake_connector_rs::Error| SnowflakeError::Query {
            statement: shorten(sql),
            message: shorten(&e.to_string()),
        };
        let cursor = self
            .session
            .query(sql.to_owned())
            .await
            .map_err(query_error)?;
        let schema = arrow_schema(cursor.schema());
        let rows = cursor
            .collect::<Vec<DynamicRow>>()
            .await
            .map_err(query_error)?;
        rows_to_batch(&rows, schema, relation)
    }

    /// Runs a query and reads its rows into a batch of `schema` (columns by position).
    ///
    /// # Errors
    ///
    /// [`SnowflakeError::Query`] when Snowflake fails the statement, and
    /// [`SnowflakeError::Decode`] when a value does not read as its column in `schema`.
    pub async fn query_batch(
        &self,
        sql: &str,
        schema: SchemaRef,
        relation: &str,
    ) -> Result<RecordBatch> {
        let rows = self.run(sql, sql).await?;
        rows_to_batch(&rows, schema, relation)
    }

    async fn run(&self, sql: &str, shown: &str) -> Result<Vec<DynamicRow>> {
        let query_error = |e: snowflake_connector_rs::Error| SnowflakeError::Query {
            statement: shorten(shown),
            message: shorten(&e.to_string()),
        };
        self.session
            .query(sql.to_owned())
            .await
            .map_err(query_error)?
            .collect::<Vec<DynamicRow>>()
            .await
            .map_err(query_error)
    }
}

fn shorten(sql: &str) -> String {
    match sql.char_indices().nth(SHOWN_STATEMENT_CHARS) {
        Some((cut, _)) => format!("{}…", &sql[..cut]),
        None => sql.to_owned(),
    }
}
