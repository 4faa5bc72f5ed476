//! [`TokenStore`]: issued tokens and the revocation feed.

use sqlx::Row;
use sqlx::postgres::PgRow;
use tessera_core::{CustomerId, PartnerId, Revocation, StoreError, TokenRecord, TokenStore};
use time::OffsetDateTime;

use crate::error::corrupt;
use crate::{PostgresStore, partner_id, seq_param, seq_value};

/// The advisory lock every revocation holds while it takes feed cursors, so that cursors
/// become visible in the order they were taken: a reader paging by cursor never steps over
/// a cursor that a transaction still in flight will commit later. (`'tessrevk'` as a
/// big-endian integer.)
const FEED_LOCK: i64 = 0x7465_7373_7265_766b;

fn revocation(row: &PgRow) -> Result<Revocation, StoreError> {
    let cursor: i64 = row.try_get(0).map_err(|e| corrupt("feed cursor", e))?;
    Ok(Revocation {
        cursor: seq_value(cursor)?,
        revocation_id: row.try_get(1).map_err(|e| corrupt("revocation id", e))?,
        partner: partner_id(row.try_get(2).map_err(|e| corrupt("partner id", e))?)?,
        expires_at: row.try_get(3).map_err(|e| corrupt("expiry", e))?,
    })
}

impl PostgresStore {
    /// Revokes the live tokens of one customer (of one partner, when given) in one
    /// transaction, and publishes their ids.
    async fn revoke_customer(
        &self,
        customer: CustomerId,
        partner: Option<PartnerId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(lease.conn()).await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(FEED_LOCK)
                .execute(&mut *tx)
                .await?;
            // `NOT revoked` is checked again on a row a concurrent revoker just changed
            // (READ COMMITTED re-evaluates it), so each token is published once.
            let rows = sqlx::query(
                "WITH revoked AS ( \
                     UPDATE tokens SET revoked = true \
                     WHERE customer_id = $1 AND NOT revoked AND expires_at >= $2 \
                       AND ($3::uuid IS NULL OR partner_id = $3) \
                     RETURNING customer_id, token_no, partner_id, expires_at, revocation_ids) \
                 INSERT INTO revocations (revocation_id, partner_id, customer_id, expires_at) \
                 SELECT ids.id, r.partner_id, r.customer_id, r.expires_at \
                 FROM revoked AS r, unnest(r.revocation_ids) WITH ORDINALITY AS ids(id, n) \
                 ORDER BY r.token_no, ids.n \
                 RETURNING cursor, revocation_id, partner_id, expires_at",
            )
            .bind(customer.uuid())
            .bind(now)
            .bind(partner.map(|p| p.uuid()))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(rows)
        }
        .await;
        let rows = lease.finish(result)?;
        let mut published = rows.iter().map(revocation).collect::<Result<Vec<_>, _>>()?;
        published.sort_by_key(|r| r.cursor);
        Ok(published)
    }
}

impl TokenStore for PostgresStore {
    async fn record_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let consent_version = seq_param(record.consent_version)?;
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "INSERT INTO tokens \
             (customer_id, partner_id, consent_version, revocation_ids, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(record.customer.uuid())
        .bind(record.partner.uuid())
        .bind(consent_version)
        .bind(&record.revocation_ids)
        .bind(record.issued_at)
        .bind(record.expires_at)
        .execute(lease.conn())
        .await;
        lease.finish(result).map(drop)
    }

    async fn token_partners(
        &self,
        customer: CustomerId,
        now: OffsetDateTime,
    ) -> Result<Vec<PartnerId>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Vec<uuid::Uuid>, _> = sqlx::query_scalar(
            "SELECT DISTINCT partner_id FROM tokens \
             WHERE customer_id = $1 AND NOT revoked AND expires_at >= $2 \
             ORDER BY partner_id",
        )
        .bind(customer.uuid())
        .bind(now)
        .fetch_all(lease.conn())
        .await;
        lease.finish(result)?.into_iter().map(partner_id).collect()
    }

    async fn revoke_tokens(
        &self,
        customer: CustomerId,
        partner: Option<PartnerId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.revoke_customer(customer, partner, now).await
    }

    async fn revoke_partner_tokens(
        &self,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        // Customer by customer, so that no transaction spans two customers. A failure part
        // way leaves the rest live; calling again finishes (revoking twice publishes nothing
        // new).
        let mut lease = self.pool.acquire().await?;
        let result: Result<Vec<uuid::Uuid>, _> = sqlx::query_scalar(
            "SELECT DISTINCT customer_id FROM tokens \
             WHERE partner_id = $1 AND NOT revoked AND expires_at >= $2",
        )
        .bind(partner.uuid())
        .bind(now)
        .fetch_all(lease.conn())
        .await;
        let customers = lease.finish(result)?;
        let mut published = Vec::new();
        for customer in customers {
            let customer = crate::customer_id(customer)?;
            published.extend(self.revoke_customer(customer, Some(partner), now).await?);
        }
        Ok(published)
    }

    async fn revocations_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<Revocation>, StoreError> {
        let (Ok(cursor), true) = (i64::try_from(cursor), limit > 0) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "SELECT cursor, revocation_id, partner_id, expires_at FROM revocations \
             WHERE cursor > $1 ORDER BY cursor LIMIT $2",
        )
        .bind(cursor)
        .bind(limit)
        .fetch_all(lease.conn())
        .await;
        lease.finish(result)?.iter().map(revocation).collect()
    }
}
