//! A small connection pool: at most `max` connections, each used by one operation at a time.
//!
//! sqlx's own pool sends a `Sync` round trip every time a connection goes back to it (and
//! another before handing one out, by default), which costs a third to a half of the
//! throughput of one-statement operations (see `BENCHMARKS.md`). This pool sends nothing of
//! its own on a connection that was in use a moment ago, and keeps the two promises the
//! store makes about failures instead:
//!
//! - **A lost connection is never reused.** A connection goes back to the pool only through
//!   [`Lease::finish`], and only when the operation did not fail at the connection level. A
//!   lease dropped before that (the caller's future was cancelled mid-query) closes its
//!   connection, so no half-read reply or open transaction is ever handed to the next caller.
//! - **The next call recovers.** A connection-level failure (I/O error, server shutdown)
//!   starts a new *epoch*: every connection opened before it is closed instead of reused, so
//!   after a server restart only the call that found the dead connection fails, and the
//!   next one connects afresh. A connection idle for longer than a configurable time is
//!   pinged before it is used, for servers and middleboxes that drop idle connections
//!   without a word.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Error as SqlxError};
use tessera_core::StoreError;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{connection_lost, map};

/// How the pool behaves; see [`PostgresOptions`](crate::PostgresOptions).
#[derive(Debug, Clone)]
pub(crate) struct PoolSettings {
    pub(crate) max_connections: usize,
    pub(crate) acquire_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) test_idle_after: Duration,
}

struct Idle {
    conn: PgConnection,
    epoch: u64,
    since: Instant,
}

pub(crate) struct Pool {
    options: PgConnectOptions,
    settings: PoolSettings,
    permits: Semaphore,
    idle: Mutex<Vec<Idle>>,
    epoch: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("database", &self.options.get_database())
            .field("settings", &self.settings)
            .field("idle", &self.idle_count())
            .finish_non_exhaustive()
    }
}

/// One connection, lent to one operation.
pub(crate) struct Lease<'p> {
    pool: &'p Pool,
    conn: PgConnection,
    epoch: u64,
    _permit: SemaphorePermit<'p>,
}

impl Pool {
    pub(crate) fn new(options: PgConnectOptions, settings: PoolSettings) -> Self {
        let max = settings.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            options,
            settings,
            permits: Semaphore::new(max),
            idle: Mutex::new(Vec::with_capacity(max)),
            epoch: AtomicU64::new(0),
        }
    }

    fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// A connection: an idle one of the current epoch, or a new one.
    pub(crate) async fn acquire(&self) -> Result<Lease<'_>, StoreError> {
        let timeout = self.settings.acquire_timeout;
        let permit = match tokio::time::timeout(timeout, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(StoreError::Unavailable("the store was closed".into())),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "no database connection came free within {timeout:?}"
                )));
            }
        };
        let current = self.epoch.load(Ordering::Acquire);
        while let Some(idle) = self.pop_idle() {
            if idle.epoch < current {
                continue; // opened before a connection was lost: likely dead too
            }
            let mut conn = idle.conn;
            if idle.since.elapsed() >= self.settings.test_idle_after && conn.ping().await.is_err() {
                self.lost(idle.epoch);
                continue;
            }
            return Ok(Lease {
                pool: self,
                conn,
                epoch: idle.epoch,
                _permit: permit,
            });
        }
        let connect = PgConnection::connect_with(&self.options);
        let conn = match tokio::time::timeout(self.settings.connect_timeout, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(map(e)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "connecting to the database took longer than {:?}",
                    self.settings.connect_timeout
                )));
            }
        };
        Ok(Lease {
            pool: self,
            conn,
            epoch: current,
            _permit: permit,
        })
    }

    fn put_back(&self, conn: PgConnection, epoch: u64) {
        if epoch < self.epoch.load(Ordering::Acquire) {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Idle {
                conn,
                epoch,
                since: Instant::now(),
            });
    }

    /// A connection was lost: retire every connection opened so far.
    fn lost(&self, epoch: u64) {
        // Only the first loss of an epoch starts a new one.
        let _ = self
            .epoch
            .compare_exchange(epoch, epoch + 1, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Closes the idle connections politely and refuses new operations.
    pub(crate) async fn close(&self) {
        self.permits.close();
        let idle: Vec<Idle> =
            std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for i in idle {
            let _ = i.conn.close().await;
        }
    }
}

impl Lease<'_> {
    /// The connection.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Ends the lease with the operation's result: the connection goes back to the pool
    /// unless it failed at the connection level; errors become [`StoreError`]s.
    pub(crate) fn finish<T>(self, result: Result<T, SqlxError>) -> Result<T, StoreError> {
        match &result {
            Err(e) if connection_lost(e) => self.pool.lost(self.epoch),
            _ => self.pool.put_back(self.conn, self.epoch),
        }
        result.map_err(map)
    }
}
