//! The [`Ecosystem`] facade: what an ecosystem service embeds. It joins the pure core to a
//! [`Store`], with time and randomness supplied by the caller.
//!
//! Writes go to the store first and only then into the in-process cache, and every read
//! asks the store for the customer's last seq before it trusts a cached state, so a cached
//! state never answers after a newer append was acknowledged — by this process or another.
//!
//! Its futures are `Send`, so an embedder can spawn them as tasks of a multi-threaded
//! executor or await them in an HTTP handler: randomness is taken as
//! `&(dyn SecureRandom + Sync)`, and `ring`'s `SystemRandom` is `Sync`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use ring::rand::SecureRandom;
use serde::Serialize;
use time::OffsetDateTime;

use crate::catalog::Catalog;
use crate::consent::{
    self, Choice, ChoiceKey, ConsentState, Decision, Reason, Request, RequestError,
};
use crate::ecosystem::EcosystemState;
use crate::id::{
    CustomerId, EcosystemId, IdError, PartnerId, Pseudonym, PseudonymSecret, SectorId,
};
use crate::identity::{Identifier, Proof, identifier_digest};
use crate::ledger::{
    Actor, CustomerChange, CustomerEntry, EcosystemChange, EcosystemEntry, Entry, LedgerError,
    Stored, verify,
};
use crate::partner::{Declaration, Governance, Origin, Partner, PartnerStatus, Role};
use crate::receipt::{ReceiptError, ReceiptSigner, SignedReceipt};
use crate::store::{Revocation, Store, StoreError, TokenRecord};
use crate::token::{self, Claims, Grant, IssuedToken, KeySet, RootKey, TokenError};

/// The default lifetime of a capability token: it bounds how long a verifier that cannot
/// reach the revocation feed may act on withdrawn consent.
pub const DEFAULT_TOKEN_TTL: time::Duration = time::Duration::minutes(10);

/// How many times a write re-reads and retries after losing an optimistic-concurrency race.
const RETRIES: usize = 16;

/// Errors of the facade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcosystemError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request or key does not fit the catalog or the partners.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// No such customer (never registered, or erased).
    #[error("unknown customer {0}")]
    UnknownCustomer(CustomerId),
    /// No such partner.
    #[error("unknown partner {0}")]
    UnknownPartner(PartnerId),
    /// The change is not valid (e.g. an expiry in the past, clearing an empty key).
    #[error("invalid change: {0}")]
    Invalid(String),
    /// The identifier is linked to another customer.
    #[error("the identifier belongs to another customer")]
    IdentifierTaken,
    /// The ledger refused the change.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A receipt could not be made.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// An ID could not be made.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The partner is not active (no token can be issued to it).
    #[error("partner {0} is not active")]
    PartnerInactive(PartnerId),
    /// The customer allows the partner nothing: no token is issued.
    #[error("nothing is granted to this partner")]
    NothingGranted,
    /// A token could not be made.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Too many concurrent writers to the same stream; try again.
    #[error("gave up after {RETRIES} write conflicts")]
    Contended,
}

/// How an ecosystem is opened.
#[derive(Debug)]
pub struct EcosystemConfig {
    /// The ecosystem's name.
    pub id: EcosystemId,
    /// The catalog to write when the ecosystem ledger is empty.
    pub catalog: Catalog,
    /// The governance to write when the ecosystem ledger is empty.
    pub governance: Governance,
    /// How many customer states the cache keeps.
    pub cache_capacity: usize,
    /// The sector of the orchestrator's own pseudonyms (used in receipts).
    pub orchestrator_sector: SectorId,
}

impl EcosystemConfig {
    /// Defaults: the given name and catalog, centralized governance, 100,000 cached states.
    pub fn new(id: EcosystemId, catalog: Catalog) -> Self {
        let orchestrator_sector = SectorId::orchestrator_of(&id);
        Self {
            id,
            catalog,
            governance: Governance {
                mode: crate::partner::GovernanceMode::Centralized,
                allow_list: Vec::new(),
            },
            cache_capacity: 100_000,
            orchestrator_sector,
        }
    }
}

/// The secrets of an ecosystem. `Debug` shows none of them.
#[derive(Debug)]
pub struct Secrets {
    /// Key of the pairwise pseudonyms and of the identifier digests in the ledger.
    pub pseudonyms: PseudonymSecret,
    /// Key that signs receipts.
    pub receipts: ReceiptSigner,
    /// Root key that signs capability tokens.
    pub tokens: RootKey,
}

/// One customer choice as listed to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedChoice {
    /// Where.
    pub key: ChoiceKey,
    /// What.
    pub choice: Choice,
    /// The seq that wrote it.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// For a broad grant: how many partners joined after it (and are not covered by it).
    pub partners_joined_since: usize,
}

/// What a merge changed, for every partner: the pseudonym it knew and the one to use now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeEvent {
    /// The customer that remains.
    pub survivor: CustomerId,
    /// The customer folded into it.
    pub absorbed: CustomerId,
    /// Per partner: `(partner, old pseudonym, new pseudonym)`.
    pub pseudonyms: Vec<PseudonymChange>,
    /// Keys where both held a choice and a refusal won.
    pub refusals_won: Vec<ChoiceKey>,
}

/// One partner's pseudonym change after a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PseudonymChange {
    /// The partner.
    pub partner: PartnerId,
    /// The pseudonym of the absorbed customer.
    pub old: Pseudonym,
    /// The pseudonym of the survivor.
    pub new: Pseudonym,
}

/// The facade over a store.
#[derive(Debug)]
pub struct Ecosystem<S> {
    store: S,
    secrets: Secrets,
    orchestrator_sector: SectorId,
    eco: RwLock<Arc<EcosystemState>>,
    cache: quick_cache::sync::Cache<CustomerId, Arc<ConsentState>>,
}

impl<S: Store> Ecosystem<S> {
    /// Opens the ecosystem on `store`: replays its ecosystem ledger, or writes the first
    /// entries (catalog and governance) when it is empty.
    pub async fn open(
        store: S,
        config: EcosystemConfig,
        secrets: Secrets,
        now: OffsetDateTime,
    ) -> Result<Self, EcosystemError> {
        let state = EcosystemState::new(config.id.clone(), config.catalog.clone());
        let this = Self {
            store,
            secrets,
            orchestrator_sector: config.orchestrator_sector,
            eco: RwLock::new(Arc::new(state)),
            cache: quick_cache::sync::Cache::new(config.cache_capacity.max(1)),
        };
        this.refresh_ecosystem().await?;
        if this.ecosystem().position() == 0 {
            let first = [
                EcosystemChange::CatalogSet {
                    catalog: config.catalog.spec().clone(),
                },
                EcosystemChange::GovernanceSet {
                    governance: config.governance,
                },
            ];
            for change in first {
                match this
                    .ecosystem_change(change, Actor::Orchestrator, now)
                    .await
                {
                    // Another process opened the same store at the same moment.
                    Ok(_) | Err(EcosystemError::Contended) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(this)
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The public key that checks receipts.
    pub fn receipt_key(&self) -> &crate::receipt::PublicKey {
        self.secrets.receipts.public_key()
    }

    /// A snapshot of the ecosystem state (catalog, governance, partners).
    pub fn ecosystem(&self) -> Arc<EcosystemState> {
        match self.eco.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn set_ecosystem(&self, state: EcosystemState) {
        let mut guard = match self.eco.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.position() > guard.position() {
            *guard = Arc::new(state);
        }
    }

    /// Catches up with ecosystem entries written by other processes.
    pub async fn refresh_ecosystem(&self) -> Result<(), EcosystemError> {
        self.fresh_ecosystem().await.map(drop)
    }

    /// The ecosystem state caught up with the store, so that a partner change acknowledged
    /// by another process is never missed.
    async fn fresh_ecosystem(&self) -> Result<Arc<EcosystemState>, EcosystemError> {
        let current = self.ecosystem();
        let entries = self.store.read_ecosystem(current.position() + 1).await?;
        self.absorb_ecosystem(current, &Stored::all_unchecked(entries))
    }

    /// Folds the ecosystem entries the store holds after `current` (verified first) into the
    /// shared ecosystem state.
    fn absorb_ecosystem(
        &self,
        current: Arc<EcosystemState>,
        entries: &[Stored<EcosystemEntry>],
    ) -> Result<Arc<EcosystemState>, EcosystemError> {
        if entries.is_empty() {
            return Ok(current);
        }
        crate::ledger::verify_stored_from(entries, current.head()).map_err(LedgerError::from)?;
        let mut next = (*current).clone();
        for e in entries {
            next.apply(e.entry())?;
        }
        self.set_ecosystem(next);
        Ok(self.ecosystem())
    }

    async fn ecosystem_change(
        &self,
        change: EcosystemChange,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<Arc<EcosystemState>, EcosystemError> {
        self.refresh_ecosystem().await?;
        for _ in 0..RETRIES {
            let current = self.ecosystem();
            current.check(&change)?;
            let entry = EcosystemEntry::next(
                current.id().clone(),
                current.head(),
                now,
                actor.clone(),
                change.clone(),
            )?;
            match self
                .store
                .append_ecosystem(current.position(), std::slice::from_ref(&entry))
                .await
            {
                Ok(()) => {
                    let mut next = (*current).clone();
                    next.apply(&entry)?;
                    self.set_ecosystem(next);
                    return Ok(self.ecosystem());
                }
                Err(StoreError::Conflict(_)) => self.refresh_ecosystem().await?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EcosystemError::Contended)
    }

    async fn project_partner(&self, id: PartnerId) -> Result<Partner, EcosystemError> {
        let eco = self.ecosystem();
        let partner = eco
            .directory()
            .partner(id)
            .cloned()
            .ok_or(EcosystemError::UnknownPartner(id))?;
        match self.store.partner(id).await? {
            None => self.store.create_partner(&partner).await?,
            Some(stored) => self.store.update_partner(&partner, stored.version).await?,
        }
        Ok(partner)
    }

    // ----- partners -----------------------------------------------------------------

    /// Enrols a partner. Its starting status follows from the governance mode and the
    /// origin: a self-enrolled partner waits for approval under `Centralized` governance.
    pub async fn enrol_partner(
        &self,
        name: &str,
        roles: Vec<Role>,
        sector: Option<SectorId>,
        origin: Origin,
        now: OffsetDateTime,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<Partner, EcosystemError> {
        let id = PartnerId::generate(now, rng)?;
        let change = EcosystemChange::PartnerEnrolled {
            partner: id,
            name: name.to_owned(),
            roles,
            sector,
            origin,
        };
        self.ecosystem_change(change, actor_for(origin, id), now)
            .await?;
        self.project_partner(id).await
    }

    /// Adds a declaration; approved at once or pending, per the governance mode.
    pub async fn declare(
        &self,
        partner: PartnerId,
        declaration: Declaration,
        origin: Origin,
        now: OffsetDateTime,
    ) -> Result<Partner, EcosystemError> {
        let change = EcosystemChange::DeclarationAdded {
            partner,
            declaration,
            origin,
        };
        self.ecosystem_change(change, actor_for(origin, partner), now)
            .await?;
        self.project_partner(partner).await
    }

    /// Approves a pending declaration (by its index in the partner's declarations).
    pub async fn approve_declaration(
        &self,
        partner: PartnerId,
        index: usize,
        now: OffsetDateTime,
    ) -> Result<Partner, EcosystemError> {
        let change = EcosystemChange::DeclarationApproved { partner, index };
        self.ecosystem_change(change, Actor::Orchestrator, now)
            .await?;
        self.project_partner(partner).await
    }

    async fn set_partner_status(
        &self,
        partner: PartnerId,
        to: PartnerStatus,
        now: OffsetDateTime,
    ) -> Result<Partner, EcosystemError> {
        let change = EcosystemChange::PartnerStatusChanged { partner, to };
        self.ecosystem_change(change, Actor::Orchestrator, now)
            .await?;
        self.project_partner(partner).await
    }

    /// Approves an applied partner (`Applied → Active`).
    pub async fn approve_partner(
        &self,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<Partner, EcosystemError> {
        self.refresh_ecosystem().await?;
        self.require_status(partner, PartnerStatus::Applied)?;
        self.set_partner_status(partner, PartnerStatus::Active, now)
            .await
    }

    /// Suspends an active partner: every decision for it becomes a denial.
    pub async fn suspend_partner(
        &self,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<Partner, EcosystemError> {
        let p = self
            .set_partner_status(partner, PartnerStatus::Suspended, now)
            .await?;
        self.store.revoke_partner_tokens(partner, now).await?;
        Ok(p)
    }

    /// Reinstates a suspended partner (`Suspended → Active`).
    pub async fn reinstate_partner(
        &self,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<Partner, EcosystemError> {
        self.refresh_ecosystem().await?;
        self.require_status(partner, PartnerStatus::Suspended)?;
        self.set_partner_status(partner, PartnerStatus::Active, now)
            .await
    }

    /// Offboards a partner for good.
    pub async fn offboard_partner(
        &self,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<Partner, EcosystemError> {
        let p = self
            .set_partner_status(partner, PartnerStatus::Offboarded, now)
            .await?;
        self.store.revoke_partner_tokens(partner, now).await?;
        Ok(p)
    }

    fn require_status(
        &self,
        partner: PartnerId,
        status: PartnerStatus,
    ) -> Result<(), EcosystemError> {
        let eco = self.ecosystem();
        let p = eco
            .directory()
            .partner(partner)
            .ok_or(EcosystemError::UnknownPartner(partner))?;
        if p.status == status {
            Ok(())
        } else {
            Err(EcosystemError::Invalid(format!(
                "partner is {:?}, not {status:?}",
                p.status
            )))
        }
    }

    // ----- customers ------------------------------------------------------------------

    /// Registers a new customer and returns its ID.
    pub async fn register(
        &self,
        now: OffsetDateTime,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<CustomerId, EcosystemError> {
        let customer = CustomerId::generate(now, rng)?;
        let entry = CustomerEntry::next(
            customer,
            None,
            now,
            Actor::Customer,
            CustomerChange::Registered,
        )?;
        self.store
            .append(customer, 0, std::slice::from_ref(&entry))
            .await?;
        let mut state = ConsentState::new();
        state.apply(&entry)?;
        self.cache.insert(customer, Arc::new(state));
        let pseudonym = self
            .secrets
            .pseudonyms
            .pseudonym(&self.orchestrator_sector, customer);
        self.store
            .put_pseudonym(&self.orchestrator_sector, &pseudonym, customer, false)
            .await?;
        Ok(customer)
    }

    /// The customer behind an ID, following a merge alias to the survivor.
    pub async fn canonical_customer(
        &self,
        customer: CustomerId,
    ) -> Result<CustomerId, EcosystemError> {
        let mut current = customer;
        // Aliases form chains when a survivor is itself merged later; bound the walk.
        for _ in 0..16 {
            match self.store.alias(current).await? {
                Some(next) => current = next,
                None => return Ok(current),
            }
        }
        Err(StoreError::Corrupt("merge alias chain too long".into()).into())
    }

    /// The current state of a customer (cached; never older than the store's last seq).
    async fn state(
        &self,
        customer: CustomerId,
    ) -> Result<Option<Arc<ConsentState>>, EcosystemError> {
        // One round trip either way: a warm state asks only for the last seq; a cold one
        // reads the whole stream.
        let (state, from) = match self.cache.get(&customer) {
            Some(cached) => {
                let last = self.store.last_seq(customer).await?;
                if cached.seq() == last {
                    return Ok(Some(cached));
                }
                if cached.seq() < last {
                    ((*cached).clone(), cached.seq() + 1)
                } else {
                    // The store holds less than the cache (a restored backup): start over.
                    (ConsentState::new(), 1)
                }
            }
            None => (ConsentState::new(), 1),
        };
        let entries = self.store.read(customer, from).await?;
        self.absorb_customer(customer, state, &Stored::all_unchecked(entries))
    }

    /// Folds entries read from the store (verified first: every hash recomputed or checked
    /// against the bytes it was taken over, every link checked) into `state`, and caches the
    /// result. `None` for a customer with no entries.
    fn absorb_customer(
        &self,
        customer: CustomerId,
        mut state: ConsentState,
        entries: &[Stored<CustomerEntry>],
    ) -> Result<Option<Arc<ConsentState>>, EcosystemError> {
        if entries.is_empty() {
            return Ok((state.seq() > 0).then(|| Arc::new(state)));
        }
        crate::ledger::verify_stored_from(entries, state.head()).map_err(LedgerError::from)?;
        for e in entries {
            state.apply(e.entry())?;
        }
        let state = Arc::new(state);
        // Never replace a newer cached state with an older one read concurrently.
        if self
            .cache
            .get(&customer)
            .is_none_or(|c| c.seq() <= state.seq())
        {
            self.cache.insert(customer, Arc::clone(&state));
        }
        Ok(Some(state))
    }

    /// The ecosystem and the customer's state for a check, both caught up with the store in
    /// one round trip
    /// ([`read_with_ecosystem`](crate::store::LedgerStore::read_with_ecosystem)): the
    /// customer's entries after the cached state (all of them when none is cached), its last
    /// seq, and the ecosystem entries after the ecosystem state this handle holds.
    async fn check_inputs(
        &self,
        customer: CustomerId,
    ) -> Result<(Arc<EcosystemState>, Option<Arc<ConsentState>>), EcosystemError> {
        let current = self.ecosystem();
        let cached = self.cache.get(&customer);
        let from = cached.as_ref().map_or(1, |c| c.seq() + 1);
        let tails = self
            .store
            .read_with_ecosystem(customer, from, current.position() + 1)
            .await?;
        let eco = self.absorb_ecosystem(current, &tails.ecosystem)?;
        let state = match cached {
            None => self.absorb_customer(customer, ConsentState::new(), &tails.customer)?,
            Some(c) if tails.customer.is_empty() && tails.last_seq == c.seq() => Some(c),
            Some(c)
                if tails
                    .customer
                    .first()
                    .is_some_and(|e| e.entry().seq == c.seq() + 1) =>
            {
                self.absorb_customer(customer, (*c).clone(), &tails.customer)?
            }
            // The store holds less than the cache (a restored backup), or an append landed
            // between the parts of the read: read the stream again the long way.
            Some(_) => self.state(customer).await?,
        };
        Ok((eco, state))
    }

    async fn known_state(
        &self,
        customer: CustomerId,
        now: OffsetDateTime,
    ) -> Result<Arc<ConsentState>, EcosystemError> {
        match self.state(customer).await? {
            Some(s) if s.is_known_at(now) => Ok(s),
            _ => Err(EcosystemError::UnknownCustomer(customer)),
        }
    }

    /// Appends changes to a customer's stream after re-validating them against the newest
    /// state; retries on a lost race. Returns the new entries.
    async fn append_changes<F>(
        &self,
        customer: CustomerId,
        actor: &Actor,
        now: OffsetDateTime,
        mut changes: F,
    ) -> Result<Vec<CustomerEntry>, EcosystemError>
    where
        F: FnMut(&ConsentState) -> Result<Vec<CustomerChange>, EcosystemError>,
    {
        for _ in 0..RETRIES {
            let state = self.known_state(customer, now).await?;
            let mut next = (*state).clone();
            let mut entries = Vec::new();
            for change in changes(&state)? {
                // Keep the ledger's time non-decreasing even if the caller's clock is not.
                let at = next.last_recorded_at().map_or(now, |last| now.max(last));
                let entry = Entry::next(customer, next.head(), at, actor.clone(), change)?;
                next.apply(&entry)?;
                entries.push(entry);
            }
            if entries.is_empty() {
                return Ok(entries);
            }
            match self.store.append(customer, state.seq(), &entries).await {
                Ok(()) => {
                    let next = Arc::new(next);
                    self.cache.insert(customer, Arc::clone(&next));
                    self.revoke_if_narrowed(customer, &state, &next, now)
                        .await?;
                    return Ok(entries);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(EcosystemError::Contended)
    }

    /// Records a choice and returns its signed receipt. The key is checked against the
    /// catalog and the partners; a broad choice records the current ecosystem position (so
    /// partners who join later are not covered by a broad grant).
    pub async fn set_choice(
        &self,
        customer: CustomerId,
        key: ChoiceKey,
        mut choice: Choice,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<SignedReceipt, EcosystemError> {
        let eco = self.fresh_ecosystem().await?;
        key.validate(eco.directory().catalog(), eco.directory())?;
        if choice.expires_at.is_some_and(|e| e <= now) {
            return Err(EcosystemError::Invalid(
                "the choice would expire before it is recorded".into(),
            ));
        }
        choice.ecosystem_position = key.scope.is_broad().then_some(eco.position());
        let entries = self
            .append_changes(customer, &actor, now, |_| {
                Ok(vec![CustomerChange::ChoiceSet {
                    key: key.clone(),
                    choice: choice.clone(),
                }])
            })
            .await?;
        self.receipt_for(customer, &entries, now)
    }

    /// Removes the choice at `key` and returns the receipt of the withdrawal.
    pub async fn clear_choice(
        &self,
        customer: CustomerId,
        key: ChoiceKey,
        actor: Actor,
        now: OffsetDateTime,
    ) -> Result<SignedReceipt, EcosystemError> {
        let entries = self
            .append_changes(customer, &actor, now, |state| {
                if !state.current_choices().any(|c| *c.key == key) {
                    return Err(EcosystemError::Invalid(format!("no choice at {key}")));
                }
                Ok(vec![CustomerChange::ChoiceCleared { key: key.clone() }])
            })
            .await?;
        self.receipt_for(customer, &entries, now)
    }

    fn receipt_for(
        &self,
        customer: CustomerId,
        entries: &[CustomerEntry],
        now: OffsetDateTime,
    ) -> Result<SignedReceipt, EcosystemError> {
        let entry = entries
            .last()
            .ok_or_else(|| EcosystemError::Invalid("nothing recorded".into()))?;
        let principal = self
            .secrets
            .pseudonyms
            .pseudonym(&self.orchestrator_sector, customer);
        Ok(self.secrets.receipts.receipt(entry, principal, now)?)
    }

    /// Answers a partner's request now.
    pub async fn check(
        &self,
        customer: CustomerId,
        request: &Request,
        now: OffsetDateTime,
    ) -> Result<Decision, EcosystemError> {
        self.check_at(customer, request, now).await
    }

    /// Answers a request *as of `t`* (an audit question: was it allowed then?).
    ///
    /// One store call ([`read_with_ecosystem`](crate::store::LedgerStore::read_with_ecosystem))
    /// catches up with both the ecosystem (so a partner change acknowledged by another
    /// process is seen) and the customer: the entries after the cached state, or the whole
    /// stream when none is cached, verified before they are folded.
    pub async fn check_at(
        &self,
        customer: CustomerId,
        request: &Request,
        t: OffsetDateTime,
    ) -> Result<Decision, EcosystemError> {
        let (eco, state) = self.check_inputs(customer).await?;
        // `decide` validates the request; an unknown customer is validated here, so a
        // malformed request is an error whoever it is about.
        let state = match state {
            // Up to the merge, the absorbed customer's own ledger answers for it.
            Some(s) if s.merged_into().is_some() && !s.is_known_at(t) => {
                let survivor = self.canonical_customer(customer).await?;
                self.state(survivor).await?
            }
            other => other,
        };
        match state {
            Some(state) => Ok(consent::decide(&state, eco.directory(), request, t)?),
            None => {
                consent::validate_request(eco.directory(), request)?;
                Ok(Decision::because(Reason::UnknownCustomer))
            }
        }
    }

    /// The customer's choices as they stand now, with "N partners joined since".
    pub async fn choices(
        &self,
        customer: CustomerId,
        now: OffsetDateTime,
    ) -> Result<Vec<ListedChoice>, EcosystemError> {
        let state = self.known_state(customer, now).await?;
        let eco = self.fresh_ecosystem().await?;
        Ok(state
            .current_choices()
            .map(|c| {
                // A broad refusal covers later partners: only a broad grant leaves them out.
                let broad_grant = c.key.scope.is_broad() && c.choice.is_grant();
                let joined = match (broad_grant, c.choice.ecosystem_position) {
                    (true, Some(pos)) => eco
                        .directory()
                        .partners()
                        .filter(|p| p.status == PartnerStatus::Active && c.key.scope.contains(p))
                        .filter(|p| p.activated_at.is_some_and(|a| a > pos))
                        .count(),
                    _ => 0,
                };
                ListedChoice {
                    key: c.key.clone(),
                    choice: c.choice.clone(),
                    seq: c.seq,
                    recorded_at: c.recorded_at,
                    partners_joined_since: joined,
                }
            })
            .collect())
    }

    /// The customer's whole ledger, verified.
    pub async fn history(
        &self,
        customer: CustomerId,
    ) -> Result<Vec<CustomerEntry>, EcosystemError> {
        let entries = self.store.read(customer, 1).await?;
        if entries.is_empty() {
            return Err(EcosystemError::UnknownCustomer(customer));
        }
        verify(&entries).map_err(LedgerError::from)?;
        Ok(entries)
    }

    // ----- capability tokens --------------------------------------------------------------

    /// The key set partners verify tokens with.
    pub fn token_keys(&self) -> KeySet {
        let mut keys = KeySet::new();
        // The key is well-formed by construction; an error here would leave the set empty,
        // which only makes verification fail closed.
        let _ = keys.insert(
            self.secrets.tokens.id(),
            &self.secrets.tokens.public_bytes(),
        );
        keys
    }

    /// Every concrete use the partner's approved declarations contain and `decide` allows at
    /// `t`, with the earliest expiry of the choices behind them.
    pub fn grants_at(
        &self,
        state: &ConsentState,
        partner: &Partner,
        t: OffsetDateTime,
    ) -> (std::collections::BTreeSet<Grant>, Option<OffsetDateTime>) {
        let eco = self.ecosystem();
        grants_at(eco.directory(), state, partner, t)
    }

    /// Issues a capability token for what the customer allows the partner now. It expires
    /// after `ttl` (or earlier, when a grant behind it expires), and its revocation ids are
    /// stored so that withdrawing consent revokes it.
    pub async fn issue_token(
        &self,
        customer: CustomerId,
        partner: PartnerId,
        ttl: time::Duration,
        now: OffsetDateTime,
        rng: &(dyn SecureRandom + Sync),
    ) -> Result<IssuedToken, EcosystemError> {
        let customer = self.canonical_customer(customer).await?;
        let eco = self.fresh_ecosystem().await?;
        let p = eco
            .directory()
            .partner(partner)
            .ok_or(EcosystemError::UnknownPartner(partner))?;
        if p.status != PartnerStatus::Active {
            return Err(EcosystemError::PartnerInactive(partner));
        }
        if ttl <= time::Duration::ZERO {
            return Err(EcosystemError::Invalid(
                "a token needs a positive lifetime".into(),
            ));
        }
        let state = self.known_state(customer, now).await?;
        let (grants, earliest) = grants_at(eco.directory(), &state, p, now);
        if grants.is_empty() {
            return Err(EcosystemError::NothingGranted);
        }
        let expires_at = earliest.map_or(now + ttl, |e| e.min(now + ttl));
        let claims = Claims {
            ecosystem: eco.id().clone(),
            partner,
            subject: self.pseudonym_for(customer, partner).await?,
            grants,
            consent_version: state.seq(),
            expires_at: token::token_time(expires_at),
        };
        let issued = token::issue(&self.secrets.tokens, &claims, rng)?;
        let record = TokenRecord {
            customer,
            partner,
            consent_version: state.seq(),
            revocation_ids: issued.revocation_ids.clone(),
            issued_at: crate::ledger::ledger_time(now),
            expires_at: issued.claims.expires_at,
        };
        self.store.record_token(&record).await?;
        // A change that raced with the issuance must not leave a wider token alive.
        let latest = self.known_state(customer, now).await?;
        if latest.seq() != state.seq() {
            self.revoke_if_narrowed(customer, &state, &latest, now)
                .await?;
        }
        Ok(issued)
    }

    /// Revocation feed entries after `cursor`.
    pub async fn revocations_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<Revocation>, EcosystemError> {
        Ok(self.store.revocations_since(cursor, limit).await?)
    }

    /// Revokes the tokens of every partner that lost a grant between `before` and `after`.
    async fn revoke_if_narrowed(
        &self,
        customer: CustomerId,
        before: &ConsentState,
        after: &ConsentState,
        now: OffsetDateTime,
    ) -> Result<(), EcosystemError> {
        let holders = self.store.token_partners(customer, now).await?;
        if holders.is_empty() {
            return Ok(());
        }
        if !after.is_known_at(now) {
            self.store.revoke_tokens(customer, None, now).await?;
            return Ok(());
        }
        let eco = self.fresh_ecosystem().await?;
        for partner in holders {
            let Some(p) = eco.directory().partner(partner) else {
                continue;
            };
            let (had, _) = grants_at(eco.directory(), before, p, now);
            let (has, _) = grants_at(eco.directory(), after, p, now);
            if !had.is_subset(&has) || p.status != PartnerStatus::Active {
                self.store
                    .revoke_tokens(customer, Some(partner), now)
                    .await?;
            }
        }
        Ok(())
    }

    // ----- relationships ----------------------------------------------------------------

    /// Records that the customer has a contract with the partner (enables `contract` uses).
    pub async fn start_relationship(
        &self,
        customer: CustomerId,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<(), EcosystemError> {
        if self
            .fresh_ecosystem()
            .await?
            .directory()
            .partner(partner)
            .is_none()
        {
            return Err(EcosystemError::UnknownPartner(partner));
        }
        self.append_changes(customer, &Actor::Partner { partner }, now, |state| {
            if state.has_relationship_at(partner, now) {
                return Err(EcosystemError::Invalid(
                    "the relationship is already active".into(),
                ));
            }
            Ok(vec![CustomerChange::RelationshipStarted { partner }])
        })
        .await?;
        Ok(())
    }

    /// Records that the contract ended.
    pub async fn end_relationship(
        &self,
        customer: CustomerId,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<(), EcosystemError> {
        self.append_changes(customer, &Actor::Partner { partner }, now, |state| {
            if !state.has_relationship_at(partner, now) {
                return Err(EcosystemError::Invalid("no active relationship".into()));
            }
            Ok(vec![CustomerChange::RelationshipEnded { partner }])
        })
        .await?;
        Ok(())
    }

    // ----- identity ---------------------------------------------------------------------

    /// Links the identifier proven by `proof` to the customer (whose session the caller has
    /// checked). A second customer cannot take an identifier:
    /// [`EcosystemError::IdentifierTaken`].
    pub async fn link(
        &self,
        customer: CustomerId,
        proof: &Proof,
        now: OffsetDateTime,
    ) -> Result<(), EcosystemError> {
        self.known_state(customer, now).await?;
        let identifier = proof.identifier();
        match self.store.link(identifier, customer).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(EcosystemError::IdentifierTaken),
            Err(e) => return Err(e.into()),
        }
        let digest = identifier_digest(self.secrets.pseudonyms.key(), identifier);
        let result = self
            .append_changes(customer, &Actor::Customer, now, |state| {
                if state.identifier_digests().any(|d| d == digest) {
                    return Ok(vec![]);
                }
                Ok(vec![CustomerChange::IdentifierLinked {
                    kind: identifier.kind().into(),
                    digest: digest.clone(),
                }])
            })
            .await;
        if let Err(e) = result {
            // Undo the link so store and ledger agree; the original error is what matters.
            let _ = self.store.unlink(identifier, customer).await;
            return Err(e);
        }
        Ok(())
    }

    /// Unlinks an identifier from the customer.
    pub async fn unlink(
        &self,
        customer: CustomerId,
        identifier: &Identifier,
        now: OffsetDateTime,
    ) -> Result<(), EcosystemError> {
        self.known_state(customer, now).await?;
        let digest = identifier_digest(self.secrets.pseudonyms.key(), identifier);
        match self.store.unlink(identifier, customer).await {
            Ok(()) => {}
            Err(StoreError::NotFound(_)) => {
                return Err(EcosystemError::Invalid(
                    "identifier not linked to this customer".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.append_changes(customer, &Actor::Customer, now, |state| {
            if state.identifier_digests().any(|d| d == digest) {
                Ok(vec![CustomerChange::IdentifierUnlinked {
                    digest: digest.clone(),
                }])
            } else {
                Ok(vec![])
            }
        })
        .await?;
        Ok(())
    }

    /// The customer an identifier belongs to (following merges).
    pub async fn resolve(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<CustomerId>, EcosystemError> {
        match self.store.resolve(identifier).await? {
            Some(c) => Ok(Some(self.canonical_customer(c).await?)),
            None => Ok(None),
        }
    }

    /// The pseudonym a partner sees for the customer; recorded in the pseudonym index so
    /// the orchestrator can resolve it back.
    pub async fn pseudonym_for(
        &self,
        customer: CustomerId,
        partner: PartnerId,
    ) -> Result<Pseudonym, EcosystemError> {
        let eco = self.fresh_ecosystem().await?;
        let p = eco
            .directory()
            .partner(partner)
            .ok_or(EcosystemError::UnknownPartner(partner))?;
        let pseudonym = self.secrets.pseudonyms.pseudonym(&p.sector, customer);
        self.store
            .put_pseudonym(&p.sector, &pseudonym, customer, false)
            .await?;
        Ok(pseudonym)
    }

    /// The customer behind a partner's pseudonym (following merges).
    pub async fn resolve_pseudonym(
        &self,
        partner: PartnerId,
        pseudonym: &Pseudonym,
    ) -> Result<Option<CustomerId>, EcosystemError> {
        let eco = self.fresh_ecosystem().await?;
        let p = eco
            .directory()
            .partner(partner)
            .ok_or(EcosystemError::UnknownPartner(partner))?;
        match self.store.resolve_pseudonym(&p.sector, pseudonym).await? {
            Some(c) => Ok(Some(self.canonical_customer(c).await?)),
            None => Ok(None),
        }
    }

    /// Merges `absorbed` into `survivor`: identifiers move, consent folds with *refusal
    /// wins* on any key both hold, the absorbed ID and its pseudonyms resolve to the
    /// survivor from now on, and the returned event names each partner's old and new
    /// pseudonym. Re-running an interrupted merge completes it.
    pub async fn merge(
        &self,
        survivor: CustomerId,
        absorbed: CustomerId,
        now: OffsetDateTime,
    ) -> Result<MergeEvent, EcosystemError> {
        if survivor == absorbed {
            return Err(EcosystemError::Invalid(
                "a customer cannot be merged into itself".into(),
            ));
        }
        let taken = self.known_state(absorbed, now).await?;
        self.known_state(survivor, now).await?;
        let mut refusals_won = Vec::new();
        let absorbed_choices: Vec<(ChoiceKey, Choice)> = taken
            .current_choices()
            .map(|c| (c.key.clone(), c.choice.clone()))
            .collect();
        let entries = self
            .append_changes(survivor, &Actor::Orchestrator, now, |state| {
                refusals_won.clear();
                let mine: BTreeMap<&ChoiceKey, &Choice> =
                    state.current_choices().map(|c| (c.key, c.choice)).collect();
                let mut changes = Vec::new();
                for (key, theirs) in &absorbed_choices {
                    match mine.get(key) {
                        None => changes.push(CustomerChange::ChoiceSet {
                            key: key.clone(),
                            choice: theirs.clone(),
                        }),
                        Some(ours) if ours.is_grant() && !theirs.is_grant() => {
                            refusals_won.push(key.clone());
                            changes.push(CustomerChange::ChoiceSet {
                                key: key.clone(),
                                choice: theirs.clone(),
                            });
                        }
                        Some(ours) if !ours.is_grant() && theirs.is_grant() => {
                            refusals_won.push(key.clone())
                        }
                        Some(_) => {}
                    }
                }
                changes.push(CustomerChange::Merged { survivor, absorbed });
                Ok(changes)
            })
            .await?;
        debug_assert!(!entries.is_empty());
        for identifier in self.store.identifiers(absorbed).await? {
            match self.store.relink(&identifier, absorbed, survivor).await {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            let digest = identifier_digest(self.secrets.pseudonyms.key(), &identifier);
            self.append_changes(survivor, &Actor::Orchestrator, now, |state| {
                if state.identifier_digests().any(|d| d == digest) {
                    Ok(vec![])
                } else {
                    Ok(vec![CustomerChange::IdentifierLinked {
                        kind: identifier.kind().into(),
                        digest: digest.clone(),
                    }])
                }
            })
            .await?;
        }
        self.store.set_alias(absorbed, survivor).await?;
        let mut pseudonyms = Vec::new();
        let eco = self.fresh_ecosystem().await?;
        let mut sectors: Vec<&SectorId> = vec![&self.orchestrator_sector];
        for p in eco.directory().partners() {
            let old = self.secrets.pseudonyms.pseudonym(&p.sector, absorbed);
            let new = self.secrets.pseudonyms.pseudonym(&p.sector, survivor);
            pseudonyms.push(PseudonymChange {
                partner: p.id,
                old,
                new,
            });
            sectors.push(&p.sector);
        }
        sectors.sort();
        sectors.dedup();
        for sector in sectors {
            let old = self.secrets.pseudonyms.pseudonym(sector, absorbed);
            self.store
                .put_pseudonym(sector, &old, survivor, true)
                .await?;
            let new = self.secrets.pseudonyms.pseudonym(sector, survivor);
            self.store
                .put_pseudonym(sector, &new, survivor, false)
                .await?;
        }
        self.append_changes(absorbed, &Actor::Orchestrator, now, |_| {
            Ok(vec![CustomerChange::Merged { survivor, absorbed }])
        })
        .await?;
        // Tokens name the absorbed customer's pseudonyms: they die with it.
        self.store.revoke_tokens(absorbed, None, now).await?;
        Ok(MergeEvent {
            survivor,
            absorbed,
            pseudonyms,
            refusals_won,
        })
    }

    /// Erases a customer: identifiers, profile and pseudonym index entries are deleted, the
    /// ledger stays as pseudonymous proof of past consent, and later checks answer
    /// `unknown_customer`.
    pub async fn erase(
        &self,
        customer: CustomerId,
        now: OffsetDateTime,
    ) -> Result<(), EcosystemError> {
        self.append_changes(customer, &Actor::Customer, now, |_| {
            Ok(vec![CustomerChange::Erased])
        })
        .await?;
        self.store.revoke_tokens(customer, None, now).await?;
        self.store.erase(customer).await?;
        self.store.forget_pseudonyms(customer).await?;
        Ok(())
    }

    /// Stores the customer's profile (free JSON; erased with the customer).
    pub async fn set_profile(
        &self,
        customer: CustomerId,
        profile: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(), EcosystemError> {
        self.known_state(customer, now).await?;
        Ok(self.store.put_profile(customer, profile).await?)
    }

    /// Everything Tessera holds about a customer, as one JSON document (portability).
    pub async fn export(
        &self,
        customer: CustomerId,
        now: OffsetDateTime,
    ) -> Result<serde_json::Value, EcosystemError> {
        let state = self.known_state(customer, now).await?;
        let eco = self.fresh_ecosystem().await?;
        let identifiers = self.store.identifiers(customer).await?;
        let profile = self.store.profile(customer).await?;
        let choices = self.choices(customer, now).await?;
        let history = self.history(customer).await?;
        let pseudonyms: BTreeMap<String, String> = eco
            .directory()
            .partners()
            .map(|p| {
                (
                    p.id.to_string(),
                    self.secrets
                        .pseudonyms
                        .pseudonym(&p.sector, customer)
                        .to_string(),
                )
            })
            .collect();
        let relationships: Vec<String> = eco
            .directory()
            .partners()
            .filter(|p| state.has_relationship_at(p.id, now))
            .map(|p| p.id.to_string())
            .collect();
        let doc = ExportDoc {
            format: "tessera-export/1",
            customer,
            exported_at: now,
            identifiers,
            profile,
            pseudonyms,
            relationships,
            choices,
            ledger: history,
        };
        serde_json::to_value(&doc).map_err(|e| EcosystemError::Invalid(e.to_string()))
    }
}

#[derive(Serialize)]
struct ExportDoc {
    format: &'static str,
    customer: CustomerId,
    #[serde(with = "time::serde::rfc3339")]
    exported_at: OffsetDateTime,
    identifiers: Vec<Identifier>,
    profile: Option<serde_json::Value>,
    pseudonyms: BTreeMap<String, String>,
    relationships: Vec<String>,
    choices: Vec<ListedChoice>,
    ledger: Vec<CustomerEntry>,
}

fn actor_for(origin: Origin, partner: PartnerId) -> Actor {
    match origin {
        Origin::Orchestrator => Actor::Orchestrator,
        Origin::SelfService => Actor::Partner { partner },
    }
}

/// Every concrete use inside the partner's approved declarations that `decide` allows at `t`,
/// and the earliest expiry among the choices that allow them.
fn grants_at(
    directory: &consent::Directory,
    state: &ConsentState,
    partner: &Partner,
    t: OffsetDateTime,
) -> (std::collections::BTreeSet<Grant>, Option<OffsetDateTime>) {
    let catalog = directory.catalog();
    let mut grants = std::collections::BTreeSet::new();
    let mut earliest: Option<OffsetDateTime> = None;
    let in_force: BTreeMap<u64, Option<OffsetDateTime>> = state
        .choices_at(t)
        .map(|c| (c.seq, c.choice.expires_at))
        .collect();
    for d in partner
        .declarations
        .iter()
        .filter(|d| d.status == crate::partner::DeclarationStatus::Approved)
    {
        let purposes = catalog.purposes().filter(|p| d.purpose.contains(&p.id));
        for p in purposes {
            let data = catalog
                .data_categories()
                .filter(|c| d.data.iter().any(|dd| dd.contains(c)));
            for data in data {
                let channels: Vec<Option<&crate::catalog::Channel>> = if p.requires_channel {
                    d.channels.iter().map(Some).collect()
                } else {
                    vec![None]
                };
                for channel in channels {
                    let request = Request {
                        partner: partner.id,
                        purpose: p.id.clone(),
                        data: data.clone(),
                        channel: channel.cloned(),
                    };
                    if let Ok(decision) = consent::decide(state, directory, &request, t)
                        && decision.allowed()
                    {
                        if let Some(Some(e)) =
                            decision.winning_seq().and_then(|seq| in_force.get(&seq))
                        {
                            earliest = Some(earliest.map_or(*e, |x| x.min(*e)));
                        }
                        grants.insert(Grant {
                            purpose: request.purpose,
                            data: request.data,
                            channel: request.channel,
                        });
                    }
                }
            }
        }
    }
    (grants, earliest)
}
