//! # Tessera PostgreSQL store
//!
//! [`PostgresStore`] implements every storage trait of [`tessera_core::store`] on PostgreSQL
//! with [`sqlx`]: the backend an operator deploys. It passes the same conformance suite
//! (`tessera-store-conformance`) as the in-memory store, against a real server.
//!
//! ```no_run
//! use tessera_core::{Actor, CustomerChange, CustomerEntry, CustomerId, LedgerStore, verify};
//! use tessera_store_postgres::{PostgresOptions, PostgresStore};
//! use time::macros::datetime;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresOptions::from_url("postgres://tessera@127.0.0.1/tessera")?
//!     .max_connections(16)
//!     .connect()
//!     .await?;
//! // Migrations are embedded in the binary and applied only when asked.
//! store.migrate().await?;
//!
//! let customer = CustomerId::from_parts(datetime!(2026-11-22 10:00 UTC), [7; 10]);
//! let registered = CustomerEntry::next(
//!     customer,
//!     None,
//!     datetime!(2026-11-22 10:00 UTC),
//!     Actor::Customer,
//!     CustomerChange::Registered,
//! )?;
//! store.append(customer, 0, &[registered.clone()]).await?;
//! // A writer that still believes the stream is empty loses, and writes nothing.
//! assert!(store.append(customer, 0, &[registered]).await.is_err());
//! verify(&store.read(customer, 1).await?)?;
//! # Ok(())
//! # }
//! ```
//!
//! It needs a Tokio runtime with the time driver (as `#[tokio::main]` makes).
//!
//! ## Schema
//!
//! Four migrations, embedded with [`sqlx::migrate!`] as [`MIGRATOR`] and applied by
//! [`PostgresStore::migrate`] — never by connecting: `0001_schema.sql`;
//! `0002_ledger_entries_as_json.sql`, which kept ledger entries as `json` text rather than
//! `jsonb`; `0003_customer_ledger_statistics.sql`, which fixes the planner's estimate of a
//! stream's length so that the store's prepared statements keep one generic plan when a few
//! customers hold long streams; and `0004_ledger_entries_as_hashed_bytes.sql`, from which on
//! each new entry is kept as the bytes its hash is taken over.
//!
//! **Ledger rows.** A row written since migration 0004 holds in `body` (`bytea`) exactly
//! [`Entry::canonical_bytes`](tessera_core::Entry::canonical_bytes), the RFC 8785 JSON its
//! hash is SHA-256 of, and the hash in `hash`. A check that reads a stream opens each row
//! with [`Stored::open`](tessera_core::Stored::open): SHA-256 of `body` equal to `hash`
//! proves the entry is the hashed one, so the facade does not encode the entry again to
//! recompute its hash (it still checks every seq and link); an edited body comes unchecked,
//! and the facade's verification reports it. Rows written before keep their JSON text in
//! `entry` and are read, and re-hashed, as before (a row with neither is corrupt). `bytea`
//! rather than `json`, because no server or driver may rewrite the bytes (CockroachDB's
//! `JSON` is binary and reorders keys), and so an entry may hold any string, U+0000 too.
//! To look inside a new entry in SQL: `convert_from(body, 'UTF8')::json`.
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `customer_ledger` | `(customer_id, seq)` | each entry's hashed bytes (`bytea`; older rows: `json` text), with its hash |
//! | `ecosystem_ledger` | `seq` | the ecosystem's entries, kept as the customer ledger's (one stream per database) |
//! | `identifiers` | the identifier's JSON | → `customer_id` (indexed) |
//! | `aliases` | `absorbed_id` | → `survivor_id` |
//! | `profiles` | `customer_id` | the profile, `jsonb` |
//! | `partners` | `partner_id` | the partner as `jsonb`, and its `version` |
//! | `pseudonyms` | `(sector, pseudonym)` | → `customer_id` (indexed) |
//! | `tokens` | `(customer_id, token_no)` | partner, consent version, revocation ids, times, `revoked` |
//! | `revocations` | `cursor` | the revocation feed |
//!
//! ## Optimistic concurrency without a prior read
//!
//! An append is one `INSERT … SELECT … WHERE expected_seq = 0 OR EXISTS <the row at
//! expected_seq>`: the condition rejects an `expected_seq` that is ahead of the stream, and
//! the primary key `(customer_id, seq)` rejects one that is behind it (the stream already
//! holds `expected_seq + 1`) and the loser of two appends that both saw the same head
//! (PostgreSQL makes the second wait for the first and then reports a unique violation).
//! Seqs are contiguous from 1 — every row is written by this statement, after a check that
//! its batch continues `expected_seq` — so together they mean that an append lands exactly
//! when its `expected_seq` is the last seq at commit. Both are key probes, where asking for
//! the stream's `max(seq)` took a backward index scan under two sub-plans (4 to 15 % fewer
//! appends per second in pgbench with `fsync` on; see BENCHMARKS.md).
//! (A row deleted behind the store's back breaks that contiguity, and an append whose
//! `expected_seq` is the seq just before such a hole would fill it. The facade never asks
//! for that: it appends after the last entry it read, and its verification of a stream it
//! reads from seq 1 reports the gap.) Either failure is [`StoreError::Conflict`] and
//! writes nothing; a batch is one statement, so one transaction: all its entries or none.
//! The arguments are checked first, as the memory store does: no entries, an entry of
//! another stream, or seqs that are not `expected_seq + 1, + 2, …` are
//! [`StoreError::Invalid`].
//!
//! The other unique values work the same way: `link`, `set_alias` and `put_pseudonym` are
//! one `INSERT … ON CONFLICT … RETURNING` that returns the owner, `create_partner` an
//! `INSERT … ON CONFLICT DO NOTHING`, `update_partner` an `UPDATE … WHERE version = $expected`.
//!
//! ## Errors and failures
//!
//! A unique violation is [`StoreError::Conflict`]; a value PostgreSQL will not store (a NUL
//! character in a string of a profile, which is `jsonb`) is [`StoreError::Invalid`]; a row that does not decode is
//! [`StoreError::Corrupt`]; a lost connection, a server that is down or restarting, a pool
//! or connect timeout and a transient server failure are [`StoreError::Unavailable`]. Every
//! write is one statement or one transaction, so a failure leaves nothing half-written —
//! though a write whose connection died *after* it committed reports `Unavailable` all the
//! same (no database can tell the client otherwise); a retried append then gets `Conflict`.
//!
//! The store keeps its own small pool of connections (see [`PostgresOptions`]). A
//! connection that failed is never reused, and a connection-level failure retires every
//! connection opened before it, so after a server restart the call that meets the dead
//! connection reports `Unavailable` and the next call connects afresh. A connection idle
//! for longer than [`PostgresOptions::test_idle_after`] is pinged before it is used.
//!
//! Times of tokens are kept to the microsecond, PostgreSQL's resolution (truncated); a
//! token's liveness is decided at that resolution, which can only count a token as live a
//! fraction of a microsecond longer — so it errs towards revoking.
//!
//! ## Beyond one PostgreSQL
//!
//! Every customer table leads with the customer id and the partner table with the partner
//! id; the identifier and pseudonym indexes are keyed by the value they make unique, and
//! every write to them is one row. No statement or transaction writes two customers'
//! ledgers, profiles or tokens: a partner's suspension revokes customer by customer. So the
//! schema keeps to what Postgres-compatible distributed SQL engines (CockroachDB,
//! YugabyteDB, Citus) support, with these exceptions, which are PostgreSQL-specific:
//!
//! - **The revocation feed** is one global table whose cursors come from an identity column
//!   and are taken under `pg_advisory_xact_lock`, so that they become visible in order. An
//!   engine without advisory locks needs another serialisation point (a one-row counter
//!   updated by every revocation serialises the same way), and on Citus the feed and the
//!   ecosystem ledger belong on the coordinator (or in a reference table).
//! - **Migrations** are run by sqlx's migrator, which takes a session advisory lock.
//! - **Data-modifying CTEs** join two tables in one statement in `erase` (identifiers and
//!   profile of one customer) and in revocation (tokens and feed); on Citus, whose
//!   distributed tables need the distribution column in every unique key, these become two
//!   statements in one transaction.
//! - **Read committed** is assumed: a racing append waits for the winner and then fails
//!   with a unique violation. Under serialisable isolation (CockroachDB's default) the loser
//!   may get a serialisation failure instead, which this store reports as `Unavailable`
//!   (retry) rather than `Conflict`.
//!
//! ## Tests
//!
//! `store-postgres/tests` runs every conformance behaviour with a fresh database each, on a
//! real server: `scripts/with-postgres cargo test -p tessera-store-postgres` (or
//! `scripts/test` for the whole workspace) starts a throwaway one. Without `DATABASE_URL`
//! they fail; they never pass without a server.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
mod identity;
mod ledger;
mod partner;
mod pool;
mod tokens;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgConnectOptions;
use tessera_core::{CustomerId, PartnerId, StoreError};

pub use sqlx::postgres::PgConnectOptions as ConnectOptions;

use crate::pool::{Pool, PoolSettings};

/// The embedded schema migrations (`store-postgres/migrations`), for
/// [`PostgresStore::migrate`] and for `#[sqlx::test(migrator = "…")]`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How a [`PostgresStore`] connects: the server, from a URL or [`ConnectOptions`], and the
/// pool's limits.
///
/// `Debug` shows the host, port, database and user, never the password.
#[derive(Clone)]
pub struct PostgresOptions {
    connect: PgConnectOptions,
    pool: PoolSettings,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("host", &self.connect.get_host())
            .field("port", &self.connect.get_port())
            .field("database", &self.connect.get_database())
            .field("user", &self.connect.get_username())
            .field("pool", &self.pool)
            .finish()
    }
}

impl PostgresOptions {
    /// Settings from a URL in libpq's form, `postgres://user:password@host:port/database?…`
    /// (with `sslmode`, `options` and the other parameters sqlx understands), and the
    /// defaults below. A URL that does not parse is [`StoreError::Invalid`].
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(|e| {
            // The error may quote the URL, password and all: do not pass it on.
            let kind = match e {
                sqlx::Error::Configuration(_) => "it does not parse",
                _ => "it is not usable",
            };
            StoreError::Invalid(format!("bad database URL: {kind}"))
        })?;
        Ok(Self::from_connect_options(connect))
    }

    /// Settings from sqlx's [`ConnectOptions`], and the defaults: at most 10 connections, 10 s
    /// to wait for one, 5 s to open one, and a ping before using one that was idle for 30 s.
    /// The store's sessions run with `plan_cache_mode = force_generic_plan` (each of its
    /// statements looks up one key, and a generic plan spares the server re-planning it).
    pub fn from_connect_options(connect: ConnectOptions) -> Self {
        let connect = match connect.get_application_name() {
            Some(_) => connect,
            None => connect.application_name("tessera"),
        };
        // Every statement the store runs looks up one customer, partner or key, so a
        // generic plan (made once per connection) suits it whatever the parameters; left to
        // itself, PostgreSQL re-plans on every execution whenever a few customers hold far
        // more entries than the rest (see migration 0003), and planning then costs more
        // than running the statement.
        let connect = connect.options([("plan_cache_mode", "force_generic_plan")]);
        Self {
            connect,
            pool: PoolSettings {
                max_connections: 10,
                acquire_timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                test_idle_after: Duration::from_secs(30),
            },
        }
    }

    /// At most this many connections at once (at least 1).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.pool.max_connections = max.max(1);
        self
    }

    /// How long an operation waits for a free connection before it is
    /// [`StoreError::Unavailable`].
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.pool.acquire_timeout = timeout;
        self
    }

    /// How long opening a connection may take before the operation is
    /// [`StoreError::Unavailable`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.pool.connect_timeout = timeout;
        self
    }

    /// A connection idle for at least this long is pinged before it is used (and replaced
    /// if the ping fails). A connection used more recently is used as it is.
    pub fn test_idle_after(mut self, idle: Duration) -> Self {
        self.pool.test_idle_after = idle;
        self
    }

    /// A store that connects when it is first used.
    pub fn connect_lazy(self) -> PostgresStore {
        PostgresStore {
            pool: Arc::new(Pool::new(self.connect, self.pool)),
        }
    }

    /// A store, after checking that the server answers ([`StoreError::Unavailable`] if not).
    /// Does not touch the schema: see [`PostgresStore::migrate`].
    pub async fn connect(self) -> Result<PostgresStore, StoreError> {
        let store = self.connect_lazy();
        let mut lease = store.pool.acquire().await?;
        let result = sqlx::query("SELECT 1").execute(lease.conn()).await;
        lease.finish(result)?;
        Ok(store)
    }
}

/// A PostgreSQL backend implementing every storage trait of [`tessera_core::store`].
///
/// A handle: [`Clone`] is cheap and shares the connection pool. See the
/// [crate documentation](crate) for the schema and the semantics.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Arc<Pool>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool", &self.pool)
            .finish()
    }
}

impl PostgresStore {
    /// Connects with the settings of a URL and the default pool; see
    /// [`PostgresOptions::from_url`] and [`PostgresOptions::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        PostgresOptions::from_url(url)?.connect().await
    }

    /// Applies the embedded migrations that the database does not have yet, in order, each
    /// in a transaction; a no-op when it is up to date. Concurrent callers wait for each
    /// other (sqlx's migrator holds an advisory lock). A database that holds a migration
    /// this build does not know, or one that differs from this build's, is
    /// [`StoreError::Invalid`]: this build and that schema do not belong together.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut lease = self.pool.acquire().await?;
        match MIGRATOR.run_direct(None, lease.conn(), false).await {
            Ok(()) => lease.finish(Ok(())),
            // The migrator may return with its session lock still held: close the
            // connection (which releases it) rather than lend it out again.
            Err(e) => {
                drop(lease);
                Err(match e {
                    MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
                        error::map(e)
                    }
                    other => StoreError::Invalid(format!("migrations: {other}")),
                })
            }
        }
    }

    /// Closes the idle connections (telling the server) and fails every later operation
    /// with [`StoreError::Unavailable`]. Connections in use close when their operation
    /// ends.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A seq, version or count as PostgreSQL's `bigint`.
fn seq_param(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Invalid(format!("{value} is too large for this store")))
}

/// A stored `bigint` seq, version or cursor.
fn seq_value(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative seq {value}")))
}

fn customer_id(uuid: uuid::Uuid) -> Result<CustomerId, StoreError> {
    CustomerId::from_uuid(uuid).map_err(|e| error::corrupt("customer id", e))
}

fn partner_id(uuid: uuid::Uuid) -> Result<PartnerId, StoreError> {
    PartnerId::from_uuid(uuid).map_err(|e| error::corrupt("partner id", e))
}
