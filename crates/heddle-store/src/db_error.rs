//! Turning the database's constraint errors into [`StoreError`] kinds callers can act on.
//!
//! Both engines report a unique violation with text naming the columns: PostgreSQL through the
//! constraint name (`users_tenant_id_email_key`), SQLite through the message
//! (`UNIQUE constraint failed: users.tenant_id, users.email`). Matching a column name against
//! that text works for both.

use sqlx::error::ErrorKind;

use crate::StoreError;

/// A column that may be the cause of a unique violation, with the value the caller tried.
pub(crate) struct UniqueColumn<'a> {
    pub(crate) column: &'static str,
    pub(crate) value: &'a str,
}

/// Maps a unique violation to [`StoreError::Conflict`] naming the first of `columns` that the
/// constraint mentions (the primary key, `id`, when none does); other errors pass through.
pub(crate) fn conflict_or_database(
    err: sqlx::Error,
    entity: &'static str,
    id: &str,
    columns: &[UniqueColumn<'_>],
) -> StoreError {
    let sqlx::Error::Database(db_err) = &err else {
        return StoreError::Database(err);
    };
    if db_err.kind() != ErrorKind::UniqueViolation {
        return StoreError::Database(err);
    }
    let detail = db_err.constraint().unwrap_or_else(|| db_err.message());
    let (field, value) = columns
        .iter()
        .find(|candidate| detail.contains(candidate.column))
        .map_or(("id", id), |candidate| (candidate.column, candidate.value));
    StoreError::Conflict {
        entity,
        field,
        value: value.to_owned(),
    }
}

/// Whether the statement failed on a unique constraint or index.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db_err) if db_err.kind() == ErrorKind::UniqueViolation)
}

/// A compare-and-set on a version lost: someone else wrote `entity` since `expected` was read.
pub(crate) fn version_conflict(entity: &'static str, expected: Option<i64>) -> StoreError {
    StoreError::Conflict {
        entity,
        field: "version",
        value: expected.map_or_else(|| "none".to_owned(), |v| v.to_string()),
    }
}

/// Whether the statement failed because a referenced row (tenant, user) does not exist.
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db_err) if db_err.kind() == ErrorKind::ForeignKeyViolation)
}

pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        id: id.to_string(),
    }
}
