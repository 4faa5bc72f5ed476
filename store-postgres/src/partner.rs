//! [`PartnerStore`] and [`PseudonymStore`].

use sqlx::types::Json;
use tessera_core::{
    CustomerId, Partner, PartnerId, PartnerStore, Pseudonym, PseudonymStore, SectorId, StoreError,
};

use crate::{PostgresStore, customer_id, seq_param};

impl PartnerStore for PostgresStore {
    async fn create_partner(&self, partner: &Partner) -> Result<(), StoreError> {
        let version = seq_param(partner.version)?;
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "INSERT INTO partners (partner_id, version, record) VALUES ($1, $2, $3) \
             ON CONFLICT (partner_id) DO NOTHING",
        )
        .bind(partner.id.uuid())
        .bind(version)
        .bind(Json(partner))
        .execute(lease.conn())
        .await;
        match lease.finish(result)?.rows_affected() {
            0 => Err(StoreError::Conflict(format!(
                "partner {} already exists",
                partner.id
            ))),
            _ => Ok(()),
        }
    }

    async fn partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Option<Json<Partner>>, _> =
            sqlx::query_scalar("SELECT record FROM partners WHERE partner_id = $1")
                .bind(id.uuid())
                .fetch_optional(lease.conn())
                .await;
        Ok(lease.finish(result)?.map(|json| json.0))
    }

    async fn partners(&self) -> Result<Vec<Partner>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        // uuid order is byte order, which is `PartnerId`'s `Ord`.
        let result: Result<Vec<Json<Partner>>, _> =
            sqlx::query_scalar("SELECT record FROM partners ORDER BY partner_id")
                .fetch_all(lease.conn())
                .await;
        Ok(lease
            .finish(result)?
            .into_iter()
            .map(|json| json.0)
            .collect())
    }

    async fn update_partner(
        &self,
        partner: &Partner,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let version = expected_version
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("partner version overflow".into()))?;
        let mut updated = partner.clone();
        updated.version = version;
        let (expected, version) = (seq_param(expected_version)?, seq_param(version)?);
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "UPDATE partners SET version = $3, record = $4 \
             WHERE partner_id = $1 AND version = $2",
        )
        .bind(partner.id.uuid())
        .bind(expected)
        .bind(version)
        .bind(Json(&updated))
        .execute(lease.conn())
        .await;
        if lease.finish(result)?.rows_affected() == 1 {
            return Ok(());
        }
        // Nothing was written; say why.
        match self.partner(partner.id).await? {
            None => Err(StoreError::NotFound(format!("partner {}", partner.id))),
            Some(stored) => Err(StoreError::Conflict(format!(
                "partner {} is at version {}, not {expected_version}",
                partner.id, stored.version
            ))),
        }
    }
}

impl PseudonymStore for PostgresStore {
    async fn put_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
        customer: CustomerId,
        replace: bool,
    ) -> Result<(), StoreError> {
        let mut lease = self.pool.acquire().await?;
        // Without `replace`, a row of another customer stays as it is and is returned
        // unchanged; with it, the row is moved. Either way the statement returns the owner.
        let sql = if replace {
            "INSERT INTO pseudonyms (sector, pseudonym, customer_id) VALUES ($1, $2, $3) \
             ON CONFLICT (sector, pseudonym) DO UPDATE SET customer_id = excluded.customer_id \
             RETURNING customer_id"
        } else {
            "INSERT INTO pseudonyms (sector, pseudonym, customer_id) VALUES ($1, $2, $3) \
             ON CONFLICT (sector, pseudonym) DO UPDATE SET customer_id = pseudonyms.customer_id \
             RETURNING customer_id"
        };
        let result: Result<uuid::Uuid, _> = sqlx::query_scalar(sql)
            .bind(sector.as_str())
            .bind(pseudonym.as_str())
            .bind(customer.uuid())
            .fetch_one(lease.conn())
            .await;
        let owner = customer_id(lease.finish(result)?)?;
        if owner == customer {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "the pseudonym in sector {sector} belongs to another customer"
            )))
        }
    }

    async fn resolve_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
    ) -> Result<Option<CustomerId>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Option<uuid::Uuid>, _> = sqlx::query_scalar(
            "SELECT customer_id FROM pseudonyms WHERE sector = $1 AND pseudonym = $2",
        )
        .bind(sector.as_str())
        .bind(pseudonym.as_str())
        .fetch_optional(lease.conn())
        .await;
        lease.finish(result)?.map(customer_id).transpose()
    }

    async fn forget_pseudonyms(&self, customer: CustomerId) -> Result<(), StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query("DELETE FROM pseudonyms WHERE customer_id = $1")
            .bind(customer.uuid())
            .execute(lease.conn())
            .await;
        lease.finish(result).map(drop)
    }
}
