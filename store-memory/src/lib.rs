//! # Tessera in-memory store
//!
//! [`MemoryStore`] keeps the ledgers, identifiers, aliases, profiles, partners, pseudonyms
//! and tokens of one ecosystem in process memory and implements every storage trait of
//! [`tessera_core::store`]. It is the embedded default, and the backend
//! the tests and demos run on. Nothing survives the process.
//!
//! A `MemoryStore` is a handle: [`Clone`] is a cheap [`Arc`] clone, and every clone sees the
//! same data. There is no global state: two stores made with [`MemoryStore::new`] share
//! nothing.
//!
//! ```
//! use futures::executor::block_on;
//! use tessera_core::{Actor, CustomerChange, CustomerEntry, CustomerId, LedgerStore, verify};
//! use tessera_store_memory::MemoryStore;
//! use time::macros::datetime;
//!
//! let store = MemoryStore::new();
//! let customer = CustomerId::from_parts(datetime!(2026-11-22 10:00 UTC), [7; 10]);
//! let registered = CustomerEntry::next(
//!     customer,
//!     None,
//!     datetime!(2026-11-22 10:00 UTC),
//!     Actor::Customer,
//!     CustomerChange::Registered,
//! )?;
//! // The stream is empty: the caller expects seq 0 to be last.
//! block_on(store.append(customer, 0, &[registered.clone()]))?;
//! assert_eq!(block_on(store.last_seq(customer))?, 1);
//!
//! // A writer that still believes the stream is empty loses.
//! assert!(block_on(store.append(customer, 0, &[registered])).is_err());
//!
//! let stream = block_on(store.read(customer, 1))?;
//! verify(&stream)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Semantics
//!
//! The store follows the contract of the core traits as the conformance suite
//! (`tessera-store-conformance`) pins it down, including the choices the traits leave open:
//!
//! - An append is checked whole before anything is written. Arguments that contradict
//!   themselves — no entries, an entry of another stream, seqs that are not consecutive or do
//!   not start at `expected_seq + 1` — are [`StoreError::Invalid`], whatever the stream
//!   holds. Arguments that agree with themselves but not with the stream (its last seq is not
//!   `expected_seq`) are [`StoreError::Conflict`]. Either way nothing is written.
//! - The ecosystem ledger belongs to one ecosystem: its first entry fixes the
//!   [`EcosystemId`](tessera_core::EcosystemId), and entries of another are
//!   [`StoreError::Invalid`].
//! - [`IdentityStore::identifiers`] lists a customer's identifiers in [`Identifier`]'s
//!   [`Ord`] order.
//! - [`IdentityStore::set_alias`] of a customer to itself is [`StoreError::Invalid`].
//! - A token is live while unrevoked and `now <= expires_at` (its own check is
//!   `$t <= expires_at`). [`TokenStore::token_partners`] lists partners in ID order; the
//!   revocation feed's cursors are 1, 2, 3, …, so `revocations_since(0, ..)` starts at the
//!   beginning.
//! - The store does not check hash chains: the facade builds entries with
//!   [`Entry::next`](tessera_core::Entry::next) on the head it read, and optimistic
//!   concurrency makes sure that head was still the head.
//!
//! ## Layout and locking
//!
//! Customer ledgers live in [`SHARDS`] shards, each a [`RwLock`] over a map from customer to
//! entries, picked by a hash of the customer ID, so appends to different customers rarely
//! contend and a million customers cost a million small vectors. Identity, partners,
//! pseudonyms, tokens and the ecosystem ledger each sit behind one lock of their own. No
//! lock is held across an `.await` (the futures never wait on anything), and no operation
//! takes two locks at once. Issued tokens are kept after they expire: the store has no clock
//! to prune them by.
//!
//! A lock poisoned by a panicking thread is taken over as it is: every write checks all its
//! preconditions before it changes anything, and then does nothing that can fail, so no
//! half-done write can be left behind.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use foldhash::fast::RandomState;

use tessera_core::{
    CustomerEntry, CustomerId, EcosystemEntry, Identifier, IdentityStore, LedgerStore, Partner,
    PartnerId, PartnerStore, Pseudonym, PseudonymStore, Revocation, SectorId, StoreError, Stored,
    Tails, TokenRecord, TokenStore,
};
use time::OffsetDateTime;

/// How many shards the customer ledgers are split into.
pub const SHARDS: usize = 64;

/// An in-memory backend implementing every storage trait of [`tessera_core::store`].
///
/// Cloning is cheap and shares the data; see the [crate documentation](crate) for the
/// semantics and the locking.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryStore {
    // Identifiers and profiles are personal data: show sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One lock at a time, as everywhere else.
        let customers: usize = self.inner.ledgers.iter().map(|s| read(s).len()).sum();
        let ecosystem = read(&self.inner.ecosystem).len();
        let partners = read(&self.inner.partners).len();
        f.debug_struct("MemoryStore")
            .field("customer_streams", &customers)
            .field("ecosystem_entries", &ecosystem)
            .field("partners", &partners)
            .finish_non_exhaustive()
    }
}

/// One shard of the customer ledgers.
///
/// The customer ledgers are found by foldhash rather than std's SipHash: a check looks a
/// customer up twice (shard, then map), and SipHash was most of the memory store's share
/// of a warm check. foldhash is seeded at random per process, so callers cannot predict
/// collisions, though it is not a keyed PRF as SipHash is; and the IDs that fill the maps
/// are the ones the facade draws at random when it registers a customer.
type Shard = RwLock<HashMap<CustomerId, Vec<CustomerEntry>, RandomState>>;

struct Inner {
    /// Picks a customer's ledger shard.
    hasher: RandomState,
    ledgers: Box<[Shard]>,
    ecosystem: RwLock<Vec<EcosystemEntry>>,
    identity: RwLock<Identity>,
    partners: RwLock<BTreeMap<PartnerId, Partner>>,
    pseudonyms: RwLock<Pseudonyms>,
    tokens: RwLock<Tokens>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            hasher: RandomState::default(),
            ledgers: (0..SHARDS).map(|_| RwLock::default()).collect(),
            ecosystem: RwLock::default(),
            identity: RwLock::default(),
            partners: RwLock::default(),
            pseudonyms: RwLock::default(),
            tokens: RwLock::default(),
        }
    }
}

impl Inner {
    fn shard(&self, customer: CustomerId) -> &Shard {
        // `SHARDS` divides 2^64, so the remainder is uniform over the shards.
        let index = self.hasher.hash_one(customer) % SHARDS as u64;
        &self.ledgers[index as usize]
    }
}

#[derive(Default)]
struct Identity {
    owner: HashMap<Identifier, CustomerId>,
    linked: HashMap<CustomerId, BTreeSet<Identifier>>,
    aliases: HashMap<CustomerId, CustomerId>,
    profiles: HashMap<CustomerId, serde_json::Value>,
}

impl Identity {
    fn detach(&mut self, identifier: &Identifier, customer: CustomerId) {
        self.owner.remove(identifier);
        if let Some(set) = self.linked.get_mut(&customer) {
            set.remove(identifier);
            if set.is_empty() {
                self.linked.remove(&customer);
            }
        }
    }

    fn attach(&mut self, identifier: &Identifier, customer: CustomerId) {
        self.owner.insert(identifier.clone(), customer);
        self.linked
            .entry(customer)
            .or_default()
            .insert(identifier.clone());
    }
}

type PseudonymKey = (SectorId, Pseudonym);

#[derive(Default)]
struct Pseudonyms {
    customer: HashMap<PseudonymKey, CustomerId>,
    /// The reverse index, so that forgetting a customer does not scan every pseudonym.
    keys: HashMap<CustomerId, HashSet<PseudonymKey>>,
}

/// Issued tokens, indexed by customer and by partner, and the revocation feed.
#[derive(Default)]
struct Tokens {
    issued: Vec<Issued>,
    by_customer: HashMap<CustomerId, Vec<usize>>,
    by_partner: HashMap<PartnerId, Vec<usize>>,
    /// The feed; the entry at index `i` has cursor `i + 1`.
    feed: Vec<Revocation>,
}

struct Issued {
    record: TokenRecord,
    revoked: bool,
}

impl Issued {
    /// A token is live while unrevoked and `now <= expires_at`: its own check is
    /// `time($t), $t <= expires_at`, so it still verifies at `expires_at`.
    fn live(&self, now: OffsetDateTime) -> bool {
        !self.revoked && now <= self.record.expires_at
    }
}

impl Tokens {
    /// Revokes the live tokens among `indexes` that `pick` selects and publishes their ids.
    fn revoke(
        &mut self,
        indexes: &[usize],
        now: OffsetDateTime,
        pick: impl Fn(&TokenRecord) -> bool,
    ) -> Vec<Revocation> {
        let mut published = Vec::new();
        for &i in indexes {
            let issued = &mut self.issued[i];
            if !issued.live(now) || !pick(&issued.record) {
                continue;
            }
            issued.revoked = true;
            for id in &issued.record.revocation_ids {
                let revocation = Revocation {
                    cursor: self.feed.len() as u64 + 1,
                    revocation_id: id.clone(),
                    partner: issued.record.partner,
                    expires_at: issued.record.expires_at,
                };
                self.feed.push(revocation.clone());
                published.push(revocation);
            }
        }
        published
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn conflict(expected_seq: u64, last: u64) -> StoreError {
    StoreError::Conflict(format!(
        "expected the last seq to be {expected_seq}, it is {last}"
    ))
}

/// The last seq of a stream whose seqs are 1, 2, 3, …: its length, known without reading
/// an entry (at a million customers, reading the last entry is a cache miss per check).
fn last_seq<T>(stream: &[T]) -> u64 {
    stream.len() as u64
}

/// The entries from `from_seq` on of a stream whose seqs are 1, 2, 3, ….
fn tail<T: Clone>(entries: &[T], from_seq: u64) -> Vec<T> {
    tail_slice(entries, from_seq).to_vec()
}

/// The entries of a stream from `from_seq` on, as values whose hashes the reader recomputes
/// (this store keeps no bytes to check them against).
fn stored_tail<T: Clone>(entries: &[T], from_seq: u64) -> Vec<Stored<T>> {
    tail_slice(entries, from_seq)
        .iter()
        .cloned()
        .map(Stored::unchecked)
        .collect()
}

fn tail_slice<T>(entries: &[T], from_seq: u64) -> &[T] {
    let skip = usize::try_from(from_seq.saturating_sub(1)).unwrap_or(usize::MAX);
    entries.get(skip..).unwrap_or_default()
}

impl LedgerStore for MemoryStore {
    async fn append(
        &self,
        customer: CustomerId,
        expected_seq: u64,
        entries: &[CustomerEntry],
    ) -> Result<(), StoreError> {
        tessera_core::store::check_append(&customer, expected_seq, entries)?;
        let mut shard = write(self.inner.shard(customer));
        match shard.get_mut(&customer) {
            Some(stream) => {
                let last = last_seq(stream);
                if last != expected_seq {
                    return Err(conflict(expected_seq, last));
                }
                stream.extend_from_slice(entries);
            }
            None if expected_seq == 0 => {
                shard.insert(customer, entries.to_vec());
            }
            None => return Err(conflict(expected_seq, 0)),
        }
        Ok(())
    }

    async fn read(
        &self,
        customer: CustomerId,
        from_seq: u64,
    ) -> Result<Vec<CustomerEntry>, StoreError> {
        let shard = read(self.inner.shard(customer));
        Ok(shard
            .get(&customer)
            .map(|stream| tail(stream, from_seq))
            .unwrap_or_default())
    }

    async fn last_seq(&self, customer: CustomerId) -> Result<u64, StoreError> {
        let shard = read(self.inner.shard(customer));
        Ok(shard.get(&customer).map_or(0, |stream| last_seq(stream)))
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
        tessera_core::store::check_append(&stream, expected_seq, entries)?;
        let mut ledger = write(&self.inner.ecosystem);
        if let Some(first) = ledger.first()
            && first.stream != stream
        {
            return Err(StoreError::Invalid(format!(
                "this store holds the ledger of ecosystem {}, not {stream}",
                first.stream
            )));
        }
        let last = last_seq(&ledger);
        if last != expected_seq {
            return Err(conflict(expected_seq, last));
        }
        ledger.extend_from_slice(entries);
        Ok(())
    }

    async fn read_ecosystem(&self, from_seq: u64) -> Result<Vec<EcosystemEntry>, StoreError> {
        Ok(tail(&read(&self.inner.ecosystem), from_seq))
    }

    /// The ecosystem's tail, then the customer's tail and last seq under one lock of its
    /// shard (the trait's default would find and lock the shard twice when nothing is new,
    /// which is every warm check).
    async fn read_with_ecosystem(
        &self,
        customer: CustomerId,
        from_seq: u64,
        ecosystem_from_seq: u64,
    ) -> Result<Tails, StoreError> {
        let ecosystem = stored_tail(&read(&self.inner.ecosystem), ecosystem_from_seq);
        let shard = read(self.inner.shard(customer));
        let stream = shard.get(&customer).map_or(&[][..], Vec::as_slice);
        Ok(Tails {
            customer: stored_tail(stream, from_seq),
            last_seq: last_seq(stream),
            ecosystem,
        })
    }
}

impl IdentityStore for MemoryStore {
    async fn resolve(&self, identifier: &Identifier) -> Result<Option<CustomerId>, StoreError> {
        Ok(read(&self.inner.identity).owner.get(identifier).copied())
    }

    async fn link(&self, identifier: &Identifier, customer: CustomerId) -> Result<(), StoreError> {
        let mut identity = write(&self.inner.identity);
        match identity.owner.get(identifier) {
            Some(&owner) if owner == customer => Ok(()),
            Some(_) => Err(StoreError::Conflict(format!(
                "the {} identifier belongs to another customer",
                identifier.kind()
            ))),
            None => {
                identity.attach(identifier, customer);
                Ok(())
            }
        }
    }

    async fn unlink(
        &self,
        identifier: &Identifier,
        customer: CustomerId,
    ) -> Result<(), StoreError> {
        let mut identity = write(&self.inner.identity);
        if identity.owner.get(identifier) != Some(&customer) {
            return Err(not_linked(identifier, customer));
        }
        identity.detach(identifier, customer);
        Ok(())
    }

    async fn relink(
        &self,
        identifier: &Identifier,
        from: CustomerId,
        to: CustomerId,
    ) -> Result<(), StoreError> {
        let mut identity = write(&self.inner.identity);
        if identity.owner.get(identifier) != Some(&from) {
            return Err(not_linked(identifier, from));
        }
        identity.detach(identifier, from);
        identity.attach(identifier, to);
        Ok(())
    }

    async fn identifiers(&self, customer: CustomerId) -> Result<Vec<Identifier>, StoreError> {
        Ok(read(&self.inner.identity)
            .linked
            .get(&customer)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default())
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
        let mut identity = write(&self.inner.identity);
        match identity.aliases.get(&absorbed) {
            Some(&known) if known == survivor => Ok(()),
            Some(&known) => Err(StoreError::Conflict(format!(
                "{absorbed} was already merged into {known}"
            ))),
            None => {
                identity.aliases.insert(absorbed, survivor);
                Ok(())
            }
        }
    }

    async fn alias(&self, absorbed: CustomerId) -> Result<Option<CustomerId>, StoreError> {
        Ok(read(&self.inner.identity).aliases.get(&absorbed).copied())
    }

    async fn put_profile(
        &self,
        customer: CustomerId,
        profile: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let profile = profile.clone();
        write(&self.inner.identity)
            .profiles
            .insert(customer, profile);
        Ok(())
    }

    async fn profile(&self, customer: CustomerId) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(read(&self.inner.identity).profiles.get(&customer).cloned())
    }

    async fn erase(&self, customer: CustomerId) -> Result<(), StoreError> {
        let mut identity = write(&self.inner.identity);
        for identifier in identity.linked.remove(&customer).unwrap_or_default() {
            identity.owner.remove(&identifier);
        }
        identity.profiles.remove(&customer);
        Ok(())
    }
}

fn not_linked(identifier: &Identifier, customer: CustomerId) -> StoreError {
    StoreError::NotFound(format!(
        "the {} identifier is not linked to {customer}",
        identifier.kind()
    ))
}

impl PartnerStore for MemoryStore {
    async fn create_partner(&self, partner: &Partner) -> Result<(), StoreError> {
        let mut partners = write(&self.inner.partners);
        if partners.contains_key(&partner.id) {
            return Err(StoreError::Conflict(format!(
                "partner {} already exists",
                partner.id
            )));
        }
        partners.insert(partner.id, partner.clone());
        Ok(())
    }

    async fn partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        Ok(read(&self.inner.partners).get(&id).cloned())
    }

    async fn partners(&self) -> Result<Vec<Partner>, StoreError> {
        Ok(read(&self.inner.partners).values().cloned().collect())
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
        let mut partners = write(&self.inner.partners);
        let stored = partners
            .get_mut(&partner.id)
            .ok_or_else(|| StoreError::NotFound(format!("partner {}", partner.id)))?;
        if stored.version != expected_version {
            return Err(StoreError::Conflict(format!(
                "partner {} is at version {}, not {expected_version}",
                partner.id, stored.version
            )));
        }
        *stored = updated;
        Ok(())
    }
}

impl PseudonymStore for MemoryStore {
    async fn put_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
        customer: CustomerId,
        replace: bool,
    ) -> Result<(), StoreError> {
        let key = (sector.clone(), pseudonym.clone());
        let mut index = write(&self.inner.pseudonyms);
        match index.customer.get(&key).copied() {
            Some(owner) if owner == customer => return Ok(()),
            Some(_) if !replace => {
                return Err(StoreError::Conflict(format!(
                    "the pseudonym in sector {sector} belongs to another customer"
                )));
            }
            Some(owner) => {
                if let Some(keys) = index.keys.get_mut(&owner) {
                    keys.remove(&key);
                    if keys.is_empty() {
                        index.keys.remove(&owner);
                    }
                }
            }
            None => {}
        }
        index.keys.entry(customer).or_default().insert(key.clone());
        index.customer.insert(key, customer);
        Ok(())
    }

    async fn resolve_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
    ) -> Result<Option<CustomerId>, StoreError> {
        let key = (sector.clone(), pseudonym.clone());
        Ok(read(&self.inner.pseudonyms).customer.get(&key).copied())
    }

    async fn forget_pseudonyms(&self, customer: CustomerId) -> Result<(), StoreError> {
        let mut index = write(&self.inner.pseudonyms);
        for key in index.keys.remove(&customer).unwrap_or_default() {
            index.customer.remove(&key);
        }
        Ok(())
    }
}

impl TokenStore for MemoryStore {
    async fn record_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let record = record.clone();
        let mut tokens = write(&self.inner.tokens);
        let index = tokens.issued.len();
        tokens
            .by_customer
            .entry(record.customer)
            .or_default()
            .push(index);
        tokens
            .by_partner
            .entry(record.partner)
            .or_default()
            .push(index);
        tokens.issued.push(Issued {
            record,
            revoked: false,
        });
        Ok(())
    }

    async fn token_partners(
        &self,
        customer: CustomerId,
        now: OffsetDateTime,
    ) -> Result<Vec<PartnerId>, StoreError> {
        let tokens = read(&self.inner.tokens);
        let partners: BTreeSet<PartnerId> = tokens
            .by_customer
            .get(&customer)
            .into_iter()
            .flatten()
            .map(|&i| &tokens.issued[i])
            .filter(|issued| issued.live(now))
            .map(|issued| issued.record.partner)
            .collect();
        Ok(partners.into_iter().collect())
    }

    async fn revoke_tokens(
        &self,
        customer: CustomerId,
        partner: Option<PartnerId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut tokens = write(&self.inner.tokens);
        let indexes = tokens
            .by_customer
            .get(&customer)
            .cloned()
            .unwrap_or_default();
        Ok(tokens.revoke(&indexes, now, |r| partner.is_none_or(|p| r.partner == p)))
    }

    async fn revoke_partner_tokens(
        &self,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut tokens = write(&self.inner.tokens);
        let indexes = tokens.by_partner.get(&partner).cloned().unwrap_or_default();
        Ok(tokens.revoke(&indexes, now, |_| true))
    }

    async fn revocations_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<Revocation>, StoreError> {
        let tokens = read(&self.inner.tokens);
        let skip = usize::try_from(cursor).unwrap_or(usize::MAX);
        Ok(tokens
            .feed
            .get(skip..)
            .unwrap_or_default()
            .iter()
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_and_new_stores_do_not() {
        let a = MemoryStore::new();
        let b = a.clone();
        let c = MemoryStore::new();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert!(!Arc::ptr_eq(&a.inner, &c.inner));
        assert_eq!(a.inner.ledgers.len(), SHARDS);
    }

    #[test]
    fn tail_handles_every_start() {
        let v = [1, 2, 3];
        assert_eq!(tail(&v, 0), vec![1, 2, 3]);
        assert_eq!(tail(&v, 1), vec![1, 2, 3]);
        assert_eq!(tail(&v, 3), vec![3]);
        assert_eq!(tail(&v, 4), Vec::<i32>::new());
        assert_eq!(tail(&v, u64::MAX), Vec::<i32>::new());
    }

    #[test]
    fn debug_shows_no_data() {
        let text = format!("{:?}", MemoryStore::new());
        assert!(text.starts_with("MemoryStore"), "{text}");
    }
}
