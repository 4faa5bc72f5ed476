//! Storage traits: what a backend must do for the [`Ecosystem`](crate::facade::Ecosystem)
//! facade. Core owns the traits; each backend is its own crate (memory, Postgres), and one
//! conformance suite (`tessera-store-conformance`) checks that they all behave the same.
//!
//! The traits use native `async fn` in traits (written as `impl Future + Send` so that every
//! future can cross threads) and need no runtime. Every operation touches one customer, one
//! partner, one identifier or one pseudonym: no transaction spans two customers, so a backend
//! can run on a distributed SQL engine.
//!
//! Errors map to the semantic variants of [`StoreError`], which callers and the conformance
//! suite match on.

use std::future::Future;

use crate::id::{CustomerId, PartnerId, Pseudonym, SectorId};
use crate::identity::Identifier;
use crate::ledger::{CustomerEntry, EcosystemEntry, Stored};
use crate::partner::Partner;

/// What a store operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A precondition failed: a stale expected seq or version, or a unique value that is
    /// already taken. Nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend cannot be reached or failed transiently; the call may be retried.
    /// Nothing half-written remains.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The input is not acceptable (e.g. entries that do not belong to the stream).
    /// Nothing was written.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The stored data is damaged (e.g. does not decode).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// What [`LedgerStore::read_with_ecosystem`] returns: the tail of one customer's stream and
/// the tail of the ecosystem ledger, read together.
///
/// Each entry comes as a [`Stored`]: a store that keeps the bytes an entry's hash was taken
/// over opens it with [`Stored::open`] (its hash checked on the way), any other store hands
/// it over with [`Stored::unchecked`]; the facade recomputes the hashes of the unchecked ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tails {
    /// The customer's entries with seq ≥ the `from_seq` asked for, in order.
    pub customer: Vec<Stored<CustomerEntry>>,
    /// The customer's last seq (0 if it has none): the seq of the last entry in `customer`,
    /// or, when that is empty, what [`LedgerStore::last_seq`] would say.
    pub last_seq: u64,
    /// The ecosystem entries with seq ≥ the `ecosystem_from_seq` asked for, in order.
    pub ecosystem: Vec<Stored<EcosystemEntry>>,
}

/// The per-customer and ecosystem ledgers.
pub trait LedgerStore: Send + Sync {
    /// Appends `entries` (consecutive seqs, all of `customer`) after `expected_seq`, the seq
    /// the caller believes is last (0 for an empty stream). All or nothing: if the stream's
    /// last seq is not `expected_seq`, fails with [`StoreError::Conflict`] and writes nothing.
    fn append(
        &self,
        customer: CustomerId,
        expected_seq: u64,
        entries: &[CustomerEntry],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The entries of `customer` with seq ≥ `from_seq`, in order (empty if none).
    fn read(
        &self,
        customer: CustomerId,
        from_seq: u64,
    ) -> impl Future<Output = Result<Vec<CustomerEntry>, StoreError>> + Send;

    /// The last seq of `customer`'s stream (0 if it has none).
    fn last_seq(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Appends to the ecosystem ledger, as [`LedgerStore::append`].
    fn append_ecosystem(
        &self,
        expected_seq: u64,
        entries: &[EcosystemEntry],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The ecosystem entries with seq ≥ `from_seq`, in order.
    fn read_ecosystem(
        &self,
        from_seq: u64,
    ) -> impl Future<Output = Result<Vec<EcosystemEntry>, StoreError>> + Send;

    /// What a consent check reads, in one call: `customer`'s entries with seq ≥ `from_seq`,
    /// its last seq, and the ecosystem entries with seq ≥ `ecosystem_from_seq`.
    ///
    /// Every part is read after the call begins, so it holds every append acknowledged
    /// before it, by this process or another; that is how a check sees a partner change
    /// made elsewhere. The parts need not come from one snapshot: `last_seq` may be ahead of
    /// the entries returned when an append lands between the reads.
    ///
    /// The default makes the separate calls ([`read_ecosystem`](Self::read_ecosystem),
    /// [`read`](Self::read), and [`last_seq`](Self::last_seq) only when the read is empty);
    /// a backend with a network round trip per call should answer it in one.
    fn read_with_ecosystem(
        &self,
        customer: CustomerId,
        from_seq: u64,
        ecosystem_from_seq: u64,
    ) -> impl Future<Output = Result<Tails, StoreError>> + Send {
        read_separately(self, customer, from_seq, ecosystem_from_seq)
    }
}

/// [`LedgerStore::read_with_ecosystem`] by the separate calls, as the trait's default does:
/// for a backend that answers it in one call but not in every case.
pub async fn read_separately<S: LedgerStore + ?Sized>(
    store: &S,
    customer: CustomerId,
    from_seq: u64,
    ecosystem_from_seq: u64,
) -> Result<Tails, StoreError> {
    let ecosystem = store.read_ecosystem(ecosystem_from_seq).await?;
    let entries = store.read(customer, from_seq).await?;
    let last_seq = match entries.last() {
        Some(e) => e.seq,
        None => store.last_seq(customer).await?,
    };
    Ok(Tails {
        customer: Stored::all_unchecked(entries),
        last_seq,
        ecosystem: Stored::all_unchecked(ecosystem),
    })
}

/// Identifiers, merge aliases and customer profiles.
pub trait IdentityStore: Send + Sync {
    /// The customer an identifier is linked to.
    fn resolve(
        &self,
        identifier: &Identifier,
    ) -> impl Future<Output = Result<Option<CustomerId>, StoreError>> + Send;

    /// Links an identifier to a customer. Linking it again to the same customer is a no-op;
    /// if it belongs to another customer, [`StoreError::Conflict`].
    fn link(
        &self,
        identifier: &Identifier,
        customer: CustomerId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Unlinks an identifier from `customer`; [`StoreError::NotFound`] if it is not linked
    /// to that customer.
    fn unlink(
        &self,
        identifier: &Identifier,
        customer: CustomerId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves an identifier from one customer to another in one step (used by merge);
    /// [`StoreError::NotFound`] if it is not linked to `from`.
    fn relink(
        &self,
        identifier: &Identifier,
        from: CustomerId,
        to: CustomerId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every identifier linked to `customer`, in a stable order.
    fn identifiers(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Result<Vec<Identifier>, StoreError>> + Send;

    /// Records that `absorbed` was merged into `survivor`. Setting the same alias again is
    /// a no-op; a different survivor for the same absorbed ID is [`StoreError::Conflict`].
    fn set_alias(
        &self,
        absorbed: CustomerId,
        survivor: CustomerId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The survivor an absorbed ID was merged into, if any (one hop).
    fn alias(
        &self,
        absorbed: CustomerId,
    ) -> impl Future<Output = Result<Option<CustomerId>, StoreError>> + Send;

    /// Stores the customer's profile (free JSON), replacing any earlier one.
    fn put_profile(
        &self,
        customer: CustomerId,
        profile: &serde_json::Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The customer's profile, if any.
    fn profile(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, StoreError>> + Send;

    /// Deletes every identifier and the profile of `customer` (erasure). Idempotent.
    fn erase(&self, customer: CustomerId) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Partner records (a projection of the ecosystem ledger, with versions for optimistic
/// concurrency).
pub trait PartnerStore: Send + Sync {
    /// Creates a partner; [`StoreError::Conflict`] if the ID exists.
    fn create_partner(
        &self,
        partner: &Partner,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A partner by ID.
    fn partner(
        &self,
        id: PartnerId,
    ) -> impl Future<Output = Result<Option<Partner>, StoreError>> + Send;

    /// Every partner, ordered by ID.
    fn partners(&self) -> impl Future<Output = Result<Vec<Partner>, StoreError>> + Send;

    /// Replaces a partner whose stored version is `expected_version`; the stored record
    /// then has version `expected_version + 1` whatever `partner.version` says.
    /// [`StoreError::Conflict`] on a version mismatch, [`StoreError::NotFound`] if absent.
    fn update_partner(
        &self,
        partner: &Partner,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The pseudonym index: pseudonym + sector → customer.
pub trait PseudonymStore: Send + Sync {
    /// Records that `pseudonym` in `sector` is `customer`. Recording the same mapping again
    /// is a no-op; the same pseudonym for another customer is [`StoreError::Conflict`]
    /// unless `replace` is set (used when a merge points the absorbed pseudonym at the
    /// survivor).
    fn put_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
        customer: CustomerId,
        replace: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The customer behind a pseudonym in a sector.
    fn resolve_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
    ) -> impl Future<Output = Result<Option<CustomerId>, StoreError>> + Send;

    /// Deletes every pseudonym that resolves to `customer` (erasure). Idempotent.
    fn forget_pseudonyms(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A token the ecosystem issued: its revocation ids with the customer, partner and
/// consent version it was cut from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    /// The customer.
    pub customer: CustomerId,
    /// The partner it was issued to.
    pub partner: PartnerId,
    /// The customer's ledger seq it was cut from.
    pub consent_version: u64,
    /// Its revocation ids, lowercase hex.
    pub revocation_ids: Vec<String>,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: time::OffsetDateTime,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

/// One entry of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Revocation {
    /// The feed position: strictly increasing across the whole feed.
    pub cursor: u64,
    /// The revoked id, lowercase hex.
    pub revocation_id: String,
    /// The partner whose token it was (so a partner can follow only its own revocations).
    pub partner: PartnerId,
    /// When the token would have expired (after that the entry no longer matters).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

/// Issued tokens and the revocation feed.
pub trait TokenStore: Send + Sync {
    /// Records an issued token.
    fn record_token(
        &self,
        record: &TokenRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The partners holding live (unexpired at `now`, unrevoked) tokens of the customer.
    fn token_partners(
        &self,
        customer: CustomerId,
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<PartnerId>, StoreError>> + Send;

    /// Revokes every live token of the customer (only those of `partner` when given) and
    /// publishes their ids on the feed, returning the new feed entries. Revoking twice
    /// publishes nothing new.
    fn revoke_tokens(
        &self,
        customer: CustomerId,
        partner: Option<PartnerId>,
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Revocation>, StoreError>> + Send;

    /// Revokes every live token of a partner, for all customers (suspension).
    fn revoke_partner_tokens(
        &self,
        partner: PartnerId,
        now: time::OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Revocation>, StoreError>> + Send;

    /// Feed entries with a cursor greater than `cursor`, oldest first, at most `limit`.
    fn revocations_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Revocation>, StoreError>> + Send;
}

/// Checks the parts of an append that depend on the arguments alone: at least one entry, all
/// of `stream`, with consecutive seqs from `expected_seq + 1`. Every backend runs it before
/// it touches storage, so a malformed append is [`StoreError::Invalid`] on all of them.
/// Returns the seq of the last entry.
pub fn check_append<S: PartialEq + std::fmt::Display, C>(
    stream: &S,
    expected_seq: u64,
    entries: &[crate::ledger::Entry<S, C>],
) -> Result<u64, StoreError> {
    if entries.is_empty() {
        return Err(StoreError::Invalid(
            "an append needs at least one entry".into(),
        ));
    }
    let mut seq = expected_seq;
    for entry in entries {
        if entry.stream != *stream {
            return Err(StoreError::Invalid(format!(
                "entry {} belongs to stream {}, not {stream}",
                entry.seq, entry.stream
            )));
        }
        let next = seq
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("seq overflow".into()))?;
        if entry.seq != next {
            return Err(StoreError::Invalid(format!(
                "entries must have consecutive seqs from expected_seq + 1 = {}: found {} where {next} belongs",
                expected_seq.saturating_add(1),
                entry.seq
            )));
        }
        seq = next;
    }
    Ok(seq)
}

/// Everything the facade needs from a backend. Handles are cheap to clone and share.
pub trait Store:
    LedgerStore + IdentityStore + PartnerStore + PseudonymStore + TokenStore + Clone + 'static
{
}

impl<T> Store for T where
    T: LedgerStore + IdentityStore + PartnerStore + PseudonymStore + TokenStore + Clone + 'static
{
}
