//! From sqlx and PostgreSQL errors to the semantic [`StoreError`] variants.

use sqlx::Error as SqlxError;
use tessera_core::StoreError;

/// SQLSTATE codes the store tells apart.
mod code {
    pub(super) const UNIQUE_VIOLATION: &str = "23505";
    pub(super) const CHECK_VIOLATION: &str = "23514";
    pub(super) const UNDEFINED_TABLE: &str = "42P01";
    pub(super) const UNTRANSLATABLE_CHARACTER: &str = "22P05";
    pub(super) const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
    pub(super) const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub(super) const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub(super) const SERIALIZATION_FAILURE: &str = "40001";
    pub(super) const DEADLOCK_DETECTED: &str = "40P01";
    pub(super) const QUERY_CANCELED: &str = "57014";
    pub(super) const ADMIN_SHUTDOWN: &str = "57P01";
    pub(super) const CRASH_SHUTDOWN: &str = "57P02";
    pub(super) const CANNOT_CONNECT_NOW: &str = "57P03";
}

fn sqlstate(e: &SqlxError) -> Option<String> {
    match e {
        SqlxError::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whether the error means that the connection it happened on cannot be used again.
pub(crate) fn connection_lost(e: &SqlxError) -> bool {
    match e {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::Protocol(_)
        | SqlxError::WorkerCrashed => true,
        SqlxError::Database(_) => sqlstate(e).is_some_and(|c| {
            // Class 08: connection exception; 57P0x: the server is shutting down or starting.
            c.starts_with("08")
                || c == code::ADMIN_SHUTDOWN
                || c == code::CRASH_SHUTDOWN
                || c == code::CANNOT_CONNECT_NOW
        }),
        _ => false,
    }
}

/// The semantic variant of a sqlx error.
///
/// - a unique violation is [`StoreError::Conflict`] (the statement wrote nothing);
/// - a lost connection, a server that is down, shutting down, starting or overloaded, a
///   timeout, and a serialisation failure or deadlock (retry) are [`StoreError::Unavailable`];
/// - a value PostgreSQL will not store (a NUL character in JSON text, a number out of range)
///   is [`StoreError::Invalid`];
/// - a row that does not decode is [`StoreError::Corrupt`].
pub(crate) fn map(e: SqlxError) -> StoreError {
    if connection_lost(&e) {
        return StoreError::Unavailable(format!("lost the database connection: {e}"));
    }
    match &e {
        SqlxError::Database(db) => {
            let code = sqlstate(&e).unwrap_or_default();
            let message = db.message().to_owned();
            match code.as_str() {
                code::UNIQUE_VIOLATION => StoreError::Conflict(message),
                code::UNDEFINED_TABLE => StoreError::Unavailable(format!(
                    "the database has no Tessera schema (call PostgresStore::migrate): {message}"
                )),
                code::UNTRANSLATABLE_CHARACTER
                | code::CHARACTER_NOT_IN_REPERTOIRE
                | code::INVALID_TEXT_REPRESENTATION
                | code::NUMERIC_VALUE_OUT_OF_RANGE
                | code::CHECK_VIOLATION => {
                    StoreError::Invalid(format!("PostgreSQL refused the value: {message}"))
                }
                code::SERIALIZATION_FAILURE | code::DEADLOCK_DETECTED | code::QUERY_CANCELED => {
                    StoreError::Unavailable(format!("transient failure, retry: {message}"))
                }
                // Class 53: insufficient resources (too many connections, disk full, …).
                c if c.starts_with("53") => {
                    StoreError::Unavailable(format!("the database is out of resources: {message}"))
                }
                _ => StoreError::Unavailable(format!("the database failed ({code}): {message}")),
            }
        }
        SqlxError::PoolTimedOut | SqlxError::PoolClosed | SqlxError::BeginFailed => {
            StoreError::Unavailable(e.to_string())
        }
        SqlxError::Configuration(_) | SqlxError::InvalidArgument(_) => {
            StoreError::Invalid(format!("database settings: {e}"))
        }
        SqlxError::Encode(_) => StoreError::Invalid(format!("a value could not be encoded: {e}")),
        SqlxError::RowNotFound
        | SqlxError::TypeNotFound { .. }
        | SqlxError::ColumnIndexOutOfBounds { .. }
        | SqlxError::ColumnNotFound(_)
        | SqlxError::ColumnDecode { .. }
        | SqlxError::Decode(_) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// A stored value that does not decode.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_unavailable_and_lose_the_connection() {
        let e = SqlxError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(connection_lost(&e));
        assert!(matches!(map(e), StoreError::Unavailable(_)));
        assert!(matches!(
            map(SqlxError::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn decode_errors_are_corrupt() {
        let e = SqlxError::Decode("bad".into());
        assert!(!connection_lost(&e));
        assert!(matches!(map(e), StoreError::Corrupt(_)));
        assert!(matches!(
            map(SqlxError::ColumnNotFound("x".into())),
            StoreError::Corrupt(_)
        ));
    }
}
