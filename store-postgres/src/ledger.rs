//! [`LedgerStore`]: the customer streams and the ecosystem ledger.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::postgres::PgRow;
use tessera_core::{
    CustomerEntry, CustomerId, EcosystemEntry, Entry, EntryHash, LedgerStore, StoreError, Stored,
    Tails,
};

use crate::error::corrupt;
use crate::{PostgresStore, seq_param, seq_value};

/// Checks the parts of an append that depend on the arguments alone (core's shared check),
/// and that every seq fits a `bigint`.
fn check_batch<S: PartialEq + fmt::Display, C>(
    stream: &S,
    expected_seq: u64,
    entries: &[Entry<S, C>],
) -> Result<(), StoreError> {
    let last = tessera_core::store::check_append(stream, expected_seq, entries)?;
    seq_param(last)?;
    Ok(())
}

/// The columns of a batch, for `unnest`.
struct Columns {
    seqs: Vec<i64>,
    hashes: Vec<Vec<u8>>,
    bodies: Vec<Vec<u8>>,
}

fn columns<S, C>(entries: &[Entry<S, C>]) -> Result<Columns, StoreError>
where
    S: Serialize + Clone + PartialEq,
    C: Serialize,
{
    let mut out = Columns {
        seqs: Vec::with_capacity(entries.len()),
        hashes: Vec::with_capacity(entries.len()),
        bodies: Vec::with_capacity(entries.len()),
    };
    for e in entries {
        out.seqs.push(seq_param(e.seq)?);
        out.hashes.push(e.hash.0.to_vec());
        out.bodies.push(body(e)?);
    }
    Ok(out)
}

/// What the ledger tables keep of an entry (column `body`): the bytes its hash is taken
/// over, so that a reader checks the hash without encoding the entry again
/// ([`Stored::open`]).
fn body<S, C>(entry: &Entry<S, C>) -> Result<Vec<u8>, StoreError>
where
    S: Serialize + Clone + PartialEq,
    C: Serialize,
{
    entry
        .canonical_bytes()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Decodes rows of one stream — `stream`, or for `None` the stream of the first row — whose
/// columns from `at` are `(seq, hash, body, entry)`, checking that each entry is the one its
/// row says. A row written since migration 0004 holds the hashed bytes (`body`), opened with
/// their hash checked; an older one holds the entry's JSON text (`entry`), whose hash the
/// reader recomputes.
fn decode_rows<S, C>(
    rows: Vec<PgRow>,
    stream: Option<&S>,
    at: usize,
) -> Result<Vec<Stored<Entry<S, C>>>, StoreError>
where
    S: PartialEq + Clone + fmt::Display + DeserializeOwned,
    C: DeserializeOwned,
{
    let mut out: Vec<Stored<Entry<S, C>>> = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(at).map_err(|e| corrupt("ledger seq", e))?;
        let body: Option<&[u8]> = row.try_get(at + 2).map_err(|e| corrupt("ledger body", e))?;
        let stored = match body {
            Some(bytes) => {
                let hash: &[u8] = row.try_get(at + 1).map_err(|e| corrupt("ledger hash", e))?;
                let hash = <[u8; 32]>::try_from(hash).map_err(|_| {
                    StoreError::Corrupt(format!("the hash at seq {seq} is not 32 bytes"))
                })?;
                Stored::open(bytes, EntryHash(hash)).map_err(|e| corrupt("ledger entry", e))?
            }
            None => {
                let entry: sqlx::types::Json<Entry<S, C>> = row
                    .try_get(at + 3)
                    .map_err(|e| corrupt("ledger entry", e))?;
                Stored::unchecked(entry.0)
            }
        };
        let entry = stored.entry();
        let owner = stream.or_else(|| out.first().map(|e| &e.entry().stream));
        if owner.is_some_and(|s| *s != entry.stream) || u64::try_from(seq) != Ok(entry.seq) {
            return Err(StoreError::Corrupt(format!(
                "the row at seq {seq} holds entry {} of stream {}",
                entry.seq, entry.stream
            )));
        }
        out.push(stored);
    }
    Ok(out)
}

/// [`decode_rows`] for the reads that hand over plain entries (their reader re-hashes them).
fn decode_entries<S, C>(
    rows: Vec<PgRow>,
    stream: Option<&S>,
) -> Result<Vec<Entry<S, C>>, StoreError>
where
    S: PartialEq + Clone + fmt::Display + DeserializeOwned,
    C: DeserializeOwned,
{
    let stored = decode_rows(rows, stream, 0)?;
    Ok(stored.into_iter().map(Stored::into_entry).collect())
}

/// The parts of [`LedgerStore::read_with_ecosystem`]'s one statement, in its first column.
const CUSTOMER_PART: i16 = 0;
const ECOSYSTEM_PART: i16 = 1;

impl LedgerStore for PostgresStore {
    async fn append(
        &self,
        customer: CustomerId,
        expected_seq: u64,
        entries: &[CustomerEntry],
    ) -> Result<(), StoreError> {
        check_batch(&customer, expected_seq, entries)?;
        let expected = seq_param(expected_seq)?;
        let id = customer.uuid();
        // No prior read: the statement appends only if the stream holds the expected seq
        // (or none is expected), and the primary key refuses a seq the stream holds already,
        // also to the loser of a race (a unique violation: Conflict). Seqs are contiguous
        // from 1, so together that is "the last seq is the expected one" — checked by one
        // key probe rather than a search for the last seq. One statement is one
        // transaction: all or nothing.
        let mut lease = self.pool.acquire().await?;
        let result = if let [entry] = entries {
            sqlx::query(
                "INSERT INTO customer_ledger (customer_id, seq, hash, body) \
                 SELECT $1, $2, $3, $4 \
                 WHERE $5 = 0 \
                    OR EXISTS (SELECT FROM customer_ledger WHERE customer_id = $1 AND seq = $5)",
            )
            .bind(id)
            .bind(seq_param(entry.seq)?)
            .bind(&entry.hash.0[..])
            .bind(body(entry)?)
            .bind(expected)
            .execute(lease.conn())
            .await
        } else {
            let c = columns(entries)?;
            sqlx::query(
                "INSERT INTO customer_ledger (customer_id, seq, hash, body) \
                 SELECT $1, t.seq, t.hash, t.body \
                 FROM unnest($2::bigint[], $3::bytea[], $4::bytea[]) AS t(seq, hash, body) \
                 WHERE $5 = 0 \
                    OR EXISTS (SELECT FROM customer_ledger WHERE customer_id = $1 AND seq = $5)",
            )
            .bind(id)
            .bind(&c.seqs)
            .bind(&c.hashes)
            .bind(&c.bodies)
            .bind(expected)
            .execute(lease.conn())
            .await
        };
        let inserted = match lease.finish(result) {
            Ok(done) => done.rows_affected(),
            Err(StoreError::Conflict(_)) => 0,
            Err(e) => return Err(e),
        };
        if inserted == entries.len() as u64 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "the last seq of {customer} is not {expected_seq}"
            )))
        }
    }

    async fn read(
        &self,
        customer: CustomerId,
        from_seq: u64,
    ) -> Result<Vec<CustomerEntry>, StoreError> {
        let Ok(from) = i64::try_from(from_seq) else {
            return Ok(Vec::new());
        };
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "SELECT seq, hash, body, entry FROM customer_ledger \
             WHERE customer_id = $1 AND seq >= $2 ORDER BY seq",
        )
        .bind(customer.uuid())
        .bind(from)
        .fetch_all(lease.conn())
        .await;
        decode_entries(lease.finish(result)?, Some(&customer))
    }

    async fn last_seq(&self, customer: CustomerId) -> Result<u64, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Option<i64>, _> =
            sqlx::query_scalar("SELECT max(seq) FROM customer_ledger WHERE customer_id = $1")
                .bind(customer.uuid())
                .fetch_one(lease.conn())
                .await;
        lease.finish(result)?.map_or(Ok(0), seq_value)
    }

    async fn append_ecosystem(
        &self,
        expected_seq: u64,
        entries: &[EcosystemEntry],
    ) -> Result<(), StoreError> {
        let stream = entries
            .first()
            .map(|e| e.stream.clone())
            .ok_or_else(|| StoreError::Invalid("an append needs at least one entry".into()))?;
        check_batch(&stream, expected_seq, entries)?;
        let expected = seq_param(expected_seq)?;
        let c = columns(entries)?;
        let mut lease = self.pool.acquire().await?;
        // Appends only if the last seq is the expected one and the ledger is this
        // ecosystem's (or empty).
        let result = sqlx::query(
            "INSERT INTO ecosystem_ledger (seq, ecosystem_id, hash, body) \
             SELECT t.seq, $1, t.hash, t.body \
             FROM unnest($2::bigint[], $3::bytea[], $4::bytea[]) AS t(seq, hash, body) \
             WHERE ($5 = 0 OR EXISTS (SELECT FROM ecosystem_ledger WHERE seq = $5)) \
               AND coalesce((SELECT ecosystem_id FROM ecosystem_ledger WHERE seq = 1), $1) = $1",
        )
        .bind(stream.as_str())
        .bind(&c.seqs)
        .bind(&c.hashes)
        .bind(&c.bodies)
        .bind(expected)
        .execute(lease.conn())
        .await;
        let inserted = match lease.finish(result) {
            Ok(done) => done.rows_affected(),
            Err(StoreError::Conflict(_)) => 0,
            Err(e) => return Err(e),
        };
        if inserted == entries.len() as u64 {
            return Ok(());
        }
        // Nothing was written; say why (this read happens only on the failure path).
        let mut lease = self.pool.acquire().await?;
        let result: Result<Option<String>, _> =
            sqlx::query_scalar("SELECT ecosystem_id FROM ecosystem_ledger WHERE seq = 1")
                .fetch_optional(lease.conn())
                .await;
        match lease.finish(result)? {
            Some(held) if held != stream.as_str() => Err(StoreError::Invalid(format!(
                "this store holds the ledger of ecosystem {held}, not {stream}"
            ))),
            _ => Err(StoreError::Conflict(format!(
                "the last seq of the ecosystem ledger is not {expected_seq}"
            ))),
        }
    }

    async fn read_ecosystem(&self, from_seq: u64) -> Result<Vec<EcosystemEntry>, StoreError> {
        let Ok(from) = i64::try_from(from_seq) else {
            return Ok(Vec::new());
        };
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "SELECT seq, hash, body, entry FROM ecosystem_ledger WHERE seq >= $1 ORDER BY seq",
        )
        .bind(from)
        .fetch_all(lease.conn())
        .await;
        decode_entries(lease.finish(result)?, None)
    }

    /// One statement, so one round trip and one snapshot: the customer's entries (after a
    /// cached state, from the cached seq on, which says the last seq) and the ecosystem's.
    /// Each row says which part it belongs to. Only a stream shorter than the cache takes a
    /// second round trip, for its last seq.
    async fn read_with_ecosystem(
        &self,
        customer: CustomerId,
        from_seq: u64,
        ecosystem_from_seq: u64,
    ) -> Result<Tails, StoreError> {
        let (Ok(from), Ok(eco_from)) = (i64::try_from(from_seq), i64::try_from(ecosystem_from_seq))
        else {
            // Beyond any stored seq: the separate reads say so without a statement of their own.
            return tessera_core::store::read_separately(
                self,
                customer,
                from_seq,
                ecosystem_from_seq,
            )
            .await;
        };
        // One index scan per ledger (a `UNION ALL` part switched off by a parameter would
        // still cost the server its setup with a generic plan). From seq 1 the entries say
        // the customer's last seq. After a cached state (`from > 1`) the customer's part
        // starts one row earlier, at the cached seq, and that row comes without its entry:
        // present, it shows that the stream still reaches the cached seq, so the last seq is
        // that of the last row; absent, the stream is shorter than the cache (a restored
        // backup) and the last seq is asked for on its own.
        let statement = if from <= 1 {
            "SELECT 0::int2 AS part, seq, hash, body, entry FROM customer_ledger \
               WHERE customer_id = $1 AND seq >= $2 \
             UNION ALL \
             SELECT 1::int2, seq, hash, body, entry FROM ecosystem_ledger WHERE seq >= $3"
        } else {
            "SELECT 0::int2 AS part, seq, hash, \
                    CASE WHEN seq >= $2 THEN body END, CASE WHEN seq >= $2 THEN entry END \
               FROM customer_ledger WHERE customer_id = $1 AND seq >= $2 - 1 \
             UNION ALL \
             SELECT 1::int2, seq, hash, body, entry FROM ecosystem_ledger WHERE seq >= $3"
        };
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(statement)
            .bind(customer.uuid())
            .bind(from)
            .bind(eco_from)
            .fetch_all(lease.conn())
            .await;
        let rows = lease.finish(result)?;
        // No ORDER BY: a sort node cost the server more than the few rows it would order.
        // The rows are put in order here, by part and seq.
        let mut customer_rows = Vec::with_capacity(rows.len());
        let mut ecosystem_rows = Vec::new();
        let mut reached: Option<i64> = None;
        for row in rows {
            let part: i16 = row.try_get(0).map_err(|e| corrupt("ledger part", e))?;
            let seq: i64 = row.try_get(1).map_err(|e| corrupt("ledger seq", e))?;
            match part {
                CUSTOMER_PART if seq < from => reached = Some(seq),
                CUSTOMER_PART => customer_rows.push((seq, row)),
                ECOSYSTEM_PART => ecosystem_rows.push((seq, row)),
                other => return Err(StoreError::Corrupt(format!("unknown ledger part {other}"))),
            }
        }
        let in_order = |mut rows: Vec<(i64, PgRow)>| {
            rows.sort_by_key(|(seq, _)| *seq);
            rows.into_iter().map(|(_, row)| row).collect::<Vec<_>>()
        };
        let (customer_rows, ecosystem_rows) = (in_order(customer_rows), in_order(ecosystem_rows));
        let customer_entries = decode_rows(customer_rows, Some(&customer), 1)?;
        let ecosystem = decode_rows(ecosystem_rows, None, 1)?;
        let last_seq = match (customer_entries.last(), reached) {
            (Some(e), _) => e.entry().seq,
            (None, Some(seq)) => seq_value(seq)?,
            (None, None) if from <= 1 => 0,
            (None, None) => self.last_seq(customer).await?,
        };
        Ok(Tails {
            customer: customer_entries,
            last_seq,
            ecosystem,
        })
    }
}
