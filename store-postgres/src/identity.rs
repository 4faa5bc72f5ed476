//! [`IdentityStore`]: identifiers, merge aliases and profiles.

use tessera_core::{CustomerId, Identifier, IdentityStore, StoreError};

use crate::error::corrupt;
use crate::{PostgresStore, customer_id};

/// The key of an identifier: its JSON form (the serde form of [`Identifier`], whose field
/// order is fixed), e.g. `{"kind":"email","address":"ada@example.com"}`.
fn key(identifier: &Identifier) -> Result<String, StoreError> {
    serde_json::to_string(identifier)
        .map_err(|e| StoreError::Invalid(format!("the identifier does not serialise: {e}")))
}

fn not_linked(identifier: &Identifier, customer: CustomerId) -> StoreError {
    StoreError::NotFound(format!(
        "the {} identifier is not linked to {customer}",
        identifier.kind()
    ))
}

impl PostgresStore {
    /// The customer an identifier key belongs to.
    async fn owner(&self, key: &str) -> Result<Option<CustomerId>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Option<uuid::Uuid>, _> =
            sqlx::query_scalar("SELECT customer_id FROM identifiers WHERE identifier = $1")
                .bind(key)
                .fetch_optional(lease.conn())
                .await;
        lease.finish(result)?.map(customer_id).transpose()
    }
}

impl IdentityStore for PostgresStore {
    async fn resolve(&self, identifier: &Identifier) -> Result<Option<CustomerId>, StoreError> {
        self.owner(&key(identifier)?).await
    }

    async fn link(&self, identifier: &Identifier, customer: CustomerId) -> Result<(), StoreError> {
        let key = key(identifier)?;
        let mut lease = self.pool.acquire().await?;
        // The row of another customer stays as it is and comes back: one round trip, and a
        // racing link waits for the winner's row and sees its owner.
        let result: Result<uuid::Uuid, _> = sqlx::query_scalar(
            "INSERT INTO identifiers (identifier, customer_id) VALUES ($1, $2) \
             ON CONFLICT (identifier) DO UPDATE SET customer_id = identifiers.customer_id \
             RETURNING customer_id",
        )
        .bind(&key)
        .bind(customer.uuid())
        .fetch_one(lease.conn())
        .await;
        if customer_id(lease.finish(result)?)? == customer {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "the {} identifier belongs to another customer",
                identifier.kind()
            )))
        }
    }

    async fn unlink(
        &self,
        identifier: &Identifier,
        customer: CustomerId,
    ) -> Result<(), StoreError> {
        let key = key(identifier)?;
        let mut lease = self.pool.acquire().await?;
        let result =
            sqlx::query("DELETE FROM identifiers WHERE identifier = $1 AND customer_id = $2")
                .bind(&key)
                .bind(customer.uuid())
                .execute(lease.conn())
                .await;
        match lease.finish(result)?.rows_affected() {
            0 => Err(not_linked(identifier, customer)),
            _ => Ok(()),
        }
    }

    async fn relink(
        &self,
        identifier: &Identifier,
        from: CustomerId,
        to: CustomerId,
    ) -> Result<(), StoreError> {
        let key = key(identifier)?;
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "UPDATE identifiers SET customer_id = $3 WHERE identifier = $1 AND customer_id = $2",
        )
        .bind(&key)
        .bind(from.uuid())
        .bind(to.uuid())
        .execute(lease.conn())
        .await;
        match lease.finish(result)?.rows_affected() {
            0 => Err(not_linked(identifier, from)),
            _ => Ok(()),
        }
    }

    async fn identifiers(&self, customer: CustomerId) -> Result<Vec<Identifier>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Vec<String>, _> =
            sqlx::query_scalar("SELECT identifier FROM identifiers WHERE customer_id = $1")
                .bind(customer.uuid())
                .fetch_all(lease.conn())
                .await;
        let mut ids = lease
            .finish(result)?
            .iter()
            .map(|text| serde_json::from_str(text).map_err(|e| corrupt("identifier", e)))
            .collect::<Result<Vec<Identifier>, _>>()?;
        // The memory store's order: `Identifier`'s `Ord`.
        ids.sort_unstable();
        Ok(ids)
    }

    async fn set_alias(
        &self,
        absorbed: CustomerId,
        survivor: CustomerId,
    ) -> Result<(), StoreError> {
        if absorbed == survivor {
            return Err(StoreError::Invalid(format!(
                "{absorbed} cannot be merged into itself"
            )));
        }
        let mut lease = self.pool.acquire().await?;
        let result: Result<uuid::Uuid, _> = sqlx::query_scalar(
            "INSERT INTO aliases (absorbed_id, survivor_id) VALUES ($1, $2) \
             ON CONFLICT (absorbed_id) DO UPDATE SET survivor_id = aliases.survivor_id \
             RETURNING survivor_id",
        )
        .bind(absorbed.uuid())
        .bind(survivor.uuid())
        .fetch_one(lease.conn())
        .await;
        let known = customer_id(lease.finish(result)?)?;
        if known == survivor {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "{absorbed} was already merged into {known}"
            )))
        }
    }

    async fn alias(&self, absorbed: CustomerId) -> Result<Option<CustomerId>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Option<uuid::Uuid>, _> =
            sqlx::query_scalar("SELECT survivor_id FROM aliases WHERE absorbed_id = $1")
                .bind(absorbed.uuid())
                .fetch_optional(lease.conn())
                .await;
        lease.finish(result)?.map(customer_id).transpose()
    }

    async fn put_profile(
        &self,
        customer: CustomerId,
        profile: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result = sqlx::query(
            "INSERT INTO profiles (customer_id, profile) VALUES ($1, $2) \
             ON CONFLICT (customer_id) DO UPDATE SET profile = excluded.profile",
        )
        .bind(customer.uuid())
        .bind(sqlx::types::Json(profile))
        .execute(lease.conn())
        .await;
        lease.finish(result).map(drop)
    }

    async fn profile(&self, customer: CustomerId) -> Result<Option<serde_json::Value>, StoreError> {
        let mut lease = self.pool.acquire().await?;
        let result: Result<Option<sqlx::types::Json<serde_json::Value>>, _> =
            sqlx::query_scalar("SELECT profile FROM profiles WHERE customer_id = $1")
                .bind(customer.uuid())
                .fetch_optional(lease.conn())
                .await;
        Ok(lease.finish(result)?.map(|json| json.0))
    }

    async fn erase(&self, customer: CustomerId) -> Result<(), StoreError> {
        let mut lease = self.pool.acquire().await?;
        // One statement, so one transaction: both go, or neither.
        let result = sqlx::query(
            "WITH gone AS (DELETE FROM identifiers WHERE customer_id = $1) \
             DELETE FROM profiles WHERE customer_id = $1",
        )
        .bind(customer.uuid())
        .execute(lease.conn())
        .await;
        lease.finish(result).map(drop)
    }
}
