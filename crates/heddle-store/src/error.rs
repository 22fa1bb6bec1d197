//! Storage errors. Callers match on the kind; the database's own error stays inside.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} `{id}` not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{entity} with {field} `{value}` already exists")]
    Conflict {
        entity: &'static str,
        field: &'static str,
        value: String,
    },
    #[error("unsupported database url scheme `{scheme}`; use sqlite:// or postgres://")]
    UnsupportedUrl { scheme: String },
    /// The directory for a SQLite database file could not be created.
    #[error("cannot create the database directory `{path}`: {source}")]
    CreateDirectory {
        path: String,
        source: std::io::Error,
    },
    /// The audit sequencer refused a batch or returned output that does not fit the head;
    /// the append transaction was rolled back.
    #[error("audit sequencing failed: {0}")]
    Sequencer(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
