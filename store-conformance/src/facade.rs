//! Behaviours of the [`Ecosystem`] facade on a store: customers, choices and receipts,
//! checks now and as of the past, partners and governance, identity, merge, erasure,
//! export, the customer-state cache and capability tokens with their revocation.
//!
//! Each behaviour takes a **fresh** store (its ecosystem ledger empty) and opens an
//! [`Ecosystem`] on it with fixed secrets, a fake clock that starts at the fixtures' time and
//! moves one second per step, and the default travel catalog. A behaviour that stands for
//! two processes opens two `Ecosystem` handles on clones of the same store. Concurrent
//! behaviours poll their calls together ([`join_all`]) on a wrapper of the store that yields
//! before every store call, so that the calls interleave between their reads and their
//! writes even on a store whose futures never wait. Nothing is spawned.
//!
//! What the facade leaves open, and how this suite decides it:
//!
//! - **Illegal partner transitions** are errors that change nothing; the facade reports them
//!   as [`EcosystemError::Invalid`] (approve, reinstate) or as
//!   [`EcosystemError::Ledger`] (suspend, offboard), and the suite accepts either.
//! - **Partner changes made through another handle** are seen by the next check, choice or
//!   token of every handle, like customer changes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::join_all;
use ring::rand::SystemRandom;
use tessera_core::facade::{DEFAULT_TOKEN_TTL, MergeEvent};
use tessera_core::ledger::LedgerError;
use tessera_core::partner::DeclarationStatus;
use tessera_core::receipt::EventState;
use tessera_core::token::{
    Denial, IssuedToken, Operation, RevocationSet, RootKey, TokenDecision, Use, Verifier,
};
use tessera_core::{
    Actor, Catalog, Choice, ChoiceKey, CustomerChange, CustomerEntry, CustomerId, Decision,
    Declaration, Ecosystem, EcosystemConfig, EcosystemEntry, EcosystemError, EcosystemId,
    Governance, GovernanceMode, Identifier, IdentityStore, LedgerStore, LegalBasis, Origin,
    Partner, PartnerId, PartnerStatus, PartnerStore, Proof, Pseudonym, PseudonymSecret,
    PseudonymStore, Reason, ReceiptSigner, Request, RequestError, Revocation, Role, Scope,
    SectorId, SignedReceipt, Store, StoreError, TokenRecord, TokenStore,
};
use time::{Duration, OffsetDateTime};

use crate::fixture::{T0, email, unique, yield_now};

/// The ecosystem every facade behaviour opens.
fn ecosystem_id() -> EcosystemId {
    EcosystemId::new("eco-facade-conformance").expect("a valid ecosystem id")
}

/// The fixed pseudonym secret (also keys the identifier digests in the ledger).
const PSEUDONYM_KEY: [u8; 32] = [42; 32];

/// Fixed secrets, so that every run signs and pseudonymises alike.
fn secrets() -> tessera_core::Secrets {
    tessera_core::Secrets {
        pseudonyms: PseudonymSecret::from_bytes(&PSEUDONYM_KEY).expect("a valid secret"),
        receipts: ReceiptSigner::from_seed(&[7; 32]).expect("a valid seed"),
        tokens: RootKey::from_seed(1, &[9; 32]).expect("a valid seed"),
    }
}

/// The pseudonym of `customer` in `sector` under the fixed secret.
fn pseudonym_in(sector: &SectorId, customer: CustomerId) -> Pseudonym {
    PseudonymSecret::from_bytes(&PSEUDONYM_KEY)
        .expect("a valid secret")
        .pseudonym(sector, customer)
}

fn governance(mode: GovernanceMode, allow_list: Vec<Declaration>) -> Governance {
    Governance { mode, allow_list }
}

fn centralized() -> Governance {
    governance(GovernanceMode::Centralized, Vec::new())
}

/// A fake clock: starts at the fixtures' time, moves on only when told.
struct Clock(Mutex<OffsetDateTime>);

impl Clock {
    fn new() -> Self {
        Self(Mutex::new(T0))
    }

    /// Moves one second on and returns the new time.
    fn tick(&self) -> OffsetDateTime {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *t += Duration::seconds(1);
        *t
    }

    /// The time now, without moving.
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The value of a facade call that must succeed.
#[track_caller]
fn done<T>(result: Result<T, EcosystemError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: expected success, the facade failed with {e:?} ({e})"),
    }
}

/// The error of a facade call that must fail.
#[track_caller]
fn failed<T: std::fmt::Debug>(result: Result<T, EcosystemError>, what: &str) -> EcosystemError {
    match result {
        Ok(value) => panic!("{what}: expected an error, the facade returned {value:?}"),
        Err(e) => e,
    }
}

/// The value of a store call that must succeed.
#[track_caller]
fn stored<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: expected success, the store failed with {e:?}"),
    }
}

/// Whether an error is how the facade refuses an illegal partner transition.
fn is_illegal_transition(e: &EcosystemError) -> bool {
    matches!(
        e,
        EcosystemError::Invalid(_) | EcosystemError::Ledger(LedgerError::Ecosystem(_))
    )
}

fn declaration(
    purpose: &str,
    data: &[&str],
    channels: &[&str],
    legal_basis: LegalBasis,
) -> Declaration {
    Declaration {
        purpose: purpose.parse().expect("a catalog purpose"),
        data: data
            .iter()
            .map(|d| d.parse().expect("a catalog category"))
            .collect(),
        channels: channels
            .iter()
            .map(|c| c.parse().expect("a catalog channel"))
            .collect(),
        legal_basis,
        notice: format!("https://example.test/notice/{purpose}"),
        // The facade decides the status from the governance and the origin.
        status: DeclarationStatus::Pending,
    }
}

/// Offers by e-mail or text, on consent.
fn offers() -> Declaration {
    declaration(
        "marketing.offers",
        &["contact.email", "contact.phone"],
        &["email", "sms"],
        LegalBasis::Consent,
    )
}

/// Sharing the itinerary to deliver a booking, on contract.
fn delivery() -> Declaration {
    declaration(
        "service.delivery",
        &["travel.itinerary"],
        &[],
        LegalBasis::Contract,
    )
}

/// App usage analytics, on legitimate interest.
fn usage() -> Declaration {
    declaration(
        "analytics.usage",
        &["behavior"],
        &[],
        LegalBasis::LegitimateInterest,
    )
}

fn key(scope: Scope, purpose: &str, data: &str, channel: &str) -> ChoiceKey {
    ChoiceKey {
        scope,
        purpose: purpose.parse().expect("a purpose pattern"),
        data: data.parse().expect("a data pattern"),
        channel: channel.parse().expect("a channel pattern"),
    }
}

fn ask(partner: PartnerId, purpose: &str, data: &str, channel: Option<&str>) -> Request {
    Request::new(partner, purpose, data, channel).expect("a well-formed request")
}

/// May the partner e-mail the customer an offer?
fn email_offer(partner: PartnerId) -> Request {
    ask(partner, "marketing.offers", "contact.email", Some("email"))
}

/// May the partner text the customer an offer?
fn sms_offer(partner: PartnerId) -> Request {
    ask(partner, "marketing.offers", "contact.phone", Some("sms"))
}

/// May the partner share the itinerary to deliver a booking?
fn itinerary(partner: PartnerId) -> Request {
    ask(partner, "service.delivery", "travel.itinerary", None)
}

/// The use of [`email_offer`], for a token verifier.
fn email_use(at: OffsetDateTime) -> Use {
    Use {
        purpose: "marketing.offers".parse().expect("a purpose"),
        data: "contact.email".parse().expect("a category"),
        channel: Some("email".parse().expect("a channel")),
        operation: Operation::new("send").expect("an operation"),
        at,
    }
}

/// A customer ID no store has seen.
fn stranger() -> CustomerId {
    crate::fixture::customer()
}

/// A partner ID no ecosystem has seen.
fn stranger_partner() -> PartnerId {
    crate::fixture::partner_id()
}

fn address_of(identifier: &Identifier) -> String {
    match identifier {
        Identifier::Email { address } => address.clone(),
        other => panic!("not an e-mail identifier: {other:?}"),
    }
}

/// One facade handle on a store, with the clock and randomness of the behaviour.
struct World<S> {
    eco: Ecosystem<S>,
    clock: Clock,
    rng: SystemRandom,
}

impl<S: Store> World<S> {
    /// Opens a centralized ecosystem on `store`.
    async fn new(store: &S) -> Self {
        Self::with(store, centralized()).await
    }

    /// Opens an ecosystem with the given governance on `store`.
    async fn with(store: &S, governance: Governance) -> Self {
        let clock = Clock::new();
        let eco = open(store.clone(), governance, 100_000, clock.tick()).await;
        Self {
            eco,
            clock,
            rng: SystemRandom::new(),
        }
    }

    /// A second handle on the same store, as another process would open it.
    async fn another(&self, store: S, cache_capacity: usize) -> Ecosystem<S> {
        open(store, centralized(), cache_capacity, self.clock.tick()).await
    }

    fn tick(&self) -> OffsetDateTime {
        self.clock.tick()
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// An active partner entered by the orchestrator, with approved declarations.
    async fn partner(&self, name: &str, roles: &[Role], declarations: &[Declaration]) -> PartnerId {
        let p = done(
            self.eco
                .enrol_partner(
                    name,
                    roles.to_vec(),
                    None,
                    Origin::Orchestrator,
                    self.tick(),
                    &self.rng,
                )
                .await,
            "enrol a partner as the orchestrator",
        );
        assert_eq!(
            p.status,
            PartnerStatus::Active,
            "a partner the orchestrator enrols is active at once"
        );
        for d in declarations {
            let after = done(
                self.eco
                    .declare(p.id, d.clone(), Origin::Orchestrator, self.tick())
                    .await,
                "declare as the orchestrator",
            );
            assert_eq!(
                after.declarations.last().map(|d| d.status),
                Some(DeclarationStatus::Approved),
                "a declaration the orchestrator enters is approved at once"
            );
        }
        p.id
    }

    /// A partner that enrolled itself.
    /// A realizer that enrolled itself and declared [`usage`] itself, neither approved yet.
    async fn applicant(&self, name: &str) -> Partner {
        let applied = self.self_enrolled(name, &[Role::Realizer]).await;
        done(
            self.eco
                .declare(applied.id, usage(), Origin::SelfService, self.tick())
                .await,
            "self-declare",
        );
        applied
    }

    async fn self_enrolled(&self, name: &str, roles: &[Role]) -> Partner {
        done(
            self.eco
                .enrol_partner(
                    name,
                    roles.to_vec(),
                    None,
                    Origin::SelfService,
                    self.tick(),
                    &self.rng,
                )
                .await,
            "self-enrol a partner",
        )
    }

    async fn customer(&self) -> CustomerId {
        done(
            self.eco.register(self.tick(), &self.rng).await,
            "register a customer",
        )
    }

    async fn set(&self, c: CustomerId, key: &ChoiceKey, choice: Choice) -> SignedReceipt {
        done(
            self.eco
                .set_choice(c, key.clone(), choice, Actor::Customer, self.tick())
                .await,
            "set a choice",
        )
    }

    async fn grant(&self, c: CustomerId, key: &ChoiceKey) -> SignedReceipt {
        self.set(c, key, Choice::grant("notice-v1")).await
    }

    async fn refuse(&self, c: CustomerId, key: &ChoiceKey) -> SignedReceipt {
        self.set(c, key, Choice::refuse()).await
    }

    async fn clear(&self, c: CustomerId, key: &ChoiceKey) -> SignedReceipt {
        done(
            self.eco
                .clear_choice(c, key.clone(), Actor::Customer, self.tick())
                .await,
            "clear a choice",
        )
    }

    async fn check(&self, c: CustomerId, request: &Request) -> Decision {
        check(&self.eco, c, request, self.now()).await
    }

    async fn reason(&self, c: CustomerId, request: &Request) -> Reason {
        self.check(c, request).await.reason
    }

    async fn history(&self, c: CustomerId) -> Vec<CustomerEntry> {
        done(self.eco.history(c).await, "read the history")
    }

    async fn token(&self, c: CustomerId, partner: PartnerId) -> IssuedToken {
        done(
            self.eco
                .issue_token(c, partner, DEFAULT_TOKEN_TTL, self.tick(), &self.rng)
                .await,
            "issue a token",
        )
    }

    /// The whole revocation feed.
    async fn feed(&self) -> Vec<Revocation> {
        done(
            self.eco.revocations_since(0, usize::MAX).await,
            "read the revocation feed",
        )
    }

    fn position(&self) -> u64 {
        self.eco.ecosystem().position()
    }

    fn status(&self, partner: PartnerId) -> PartnerStatus {
        self.eco
            .ecosystem()
            .directory()
            .partner(partner)
            .map(|p| p.status)
            .expect("a known partner")
    }
}

async fn open<S: Store>(
    store: S,
    governance: Governance,
    cache_capacity: usize,
    now: OffsetDateTime,
) -> Ecosystem<S> {
    let mut config = EcosystemConfig::new(ecosystem_id(), Catalog::default_travel());
    config.governance = governance;
    config.cache_capacity = cache_capacity;
    done(
        Ecosystem::open(store, config, secrets(), now).await,
        "open the ecosystem",
    )
}

async fn check<S: Store>(
    eco: &Ecosystem<S>,
    c: CustomerId,
    request: &Request,
    at: OffsetDateTime,
) -> Decision {
    done(eco.check_at(c, request, at).await, "check a request")
}

/// The revocation ids a token put on the feed, or would.
fn ids_of(token: &IssuedToken) -> BTreeSet<String> {
    token.revocation_ids.iter().cloned().collect()
}

/// The revocation ids on a stretch of the feed.
fn ids_on(feed: &[Revocation]) -> BTreeSet<String> {
    feed.iter().map(|r| r.revocation_id.clone()).collect()
}

/// A verifier's revocation set built from the feed.
fn revocation_set(feed: &[Revocation]) -> RevocationSet {
    let mut set = RevocationSet::new();
    for r in feed {
        set.insert(&r.revocation_id, r.cursor);
    }
    set
}

/// The feed entries after `before` (the feed as it was).
fn new_on_feed(before: &[Revocation], now: &[Revocation]) -> Vec<Revocation> {
    assert!(
        now.starts_with(before),
        "the revocation feed only grows: earlier entries keep their place and cursor"
    );
    assert!(
        now.windows(2).all(|w| w[0].cursor < w[1].cursor),
        "revocation feed cursors strictly increase"
    );
    now[before.len()..].to_vec()
}

// ----- customers, choices and checks -------------------------------------------------------

/// A registered customer has one `registered` entry and no choices; with no choice a request
/// is decided by the declaration's legal basis (`no_consent` for consent and for a contract
/// without a relationship, `legal_basis` for legitimate interest), a use outside the
/// declarations is `not_declared`, a customer never registered is `unknown_customer`, and a
/// request outside the catalog or for an unknown partner is an error, not a decision.
pub async fn register_and_check_defaults<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w
        .partner(
            "airline",
            &[Role::Realizer],
            &[offers(), delivery(), usage()],
        )
        .await;
    let c = w.customer().await;
    let other = w.customer().await;
    assert_ne!(c, other, "every registration is a new customer");

    let history = w.history(c).await;
    assert_eq!(history.len(), 1, "a new customer has one entry");
    assert_eq!(history[0].seq, 1);
    assert_eq!(history[0].stream, c);
    assert_eq!(history[0].change, CustomerChange::Registered);
    assert!(
        done(w.eco.choices(c, w.now()).await, "list choices").is_empty(),
        "a new customer has no choices"
    );

    assert_eq!(w.reason(c, &email_offer(p)).await, Reason::NoConsent);
    assert_eq!(
        w.reason(c, &itinerary(p)).await,
        Reason::NoConsent,
        "a contract use needs an active relationship"
    );
    assert_eq!(
        w.reason(c, &ask(p, "analytics.usage", "behavior", None))
            .await,
        Reason::LegalBasis(LegalBasis::LegitimateInterest)
    );
    assert_eq!(
        w.reason(c, &ask(p, "personalization", "travel.preferences", None))
            .await,
        Reason::NotDeclared
    );
    let d = w.check(c, &email_offer(p)).await;
    assert!(!d.allowed() && d.winner.is_none(), "no choice, no winner");

    let nobody = stranger();
    assert_eq!(
        w.reason(nobody, &email_offer(p)).await,
        Reason::UnknownCustomer
    );
    assert_eq!(
        failed(
            w.eco.choices(nobody, w.now()).await,
            "choices of a stranger"
        ),
        EcosystemError::UnknownCustomer(nobody)
    );
    assert_eq!(
        failed(w.eco.history(nobody).await, "history of a stranger"),
        EcosystemError::UnknownCustomer(nobody)
    );

    let errors = [
        (
            ask(p, "marketing.spam", "contact.email", Some("email")),
            RequestError::UnknownPurpose("marketing.spam".into()),
        ),
        (
            ask(p, "marketing.offers", "contact.fax", Some("email")),
            RequestError::UnknownData("contact.fax".into()),
        ),
        (
            ask(p, "marketing.offers", "contact.email", Some("pigeon")),
            RequestError::UnknownChannel("pigeon".into()),
        ),
        (
            ask(p, "marketing.offers", "contact.email", None),
            RequestError::ChannelRequired,
        ),
        (
            ask(p, "service.delivery", "travel.itinerary", Some("email")),
            RequestError::UnexpectedChannel,
        ),
    ];
    for (request, expected) in errors {
        assert_eq!(
            failed(w.eco.check(c, &request, w.now()).await, "a bad request"),
            EcosystemError::Request(expected),
            "a request outside the catalog is an error, not a decision"
        );
    }
    let unknown = stranger_partner();
    assert_eq!(
        failed(
            w.eco.check(c, &email_offer(unknown), w.now()).await,
            "an unknown partner"
        ),
        EcosystemError::Request(RequestError::UnknownPartner(unknown))
    );
    assert_eq!(w.history(c).await.len(), 1, "checks write nothing");
}

/// A relationship makes a contract use allowed (by legal basis) while it lasts; starting it
/// twice or ending one that is not active is invalid; a refusal (an objection) beats it; an
/// unknown partner is a typed error.
pub async fn relationships_carry_contract_uses<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("rental", &[Role::Realizer], &[delivery()]).await;
    let c = w.customer().await;
    assert_eq!(w.reason(c, &itinerary(p)).await, Reason::NoConsent);

    done(
        w.eco.start_relationship(c, p, w.tick()).await,
        "start a relationship",
    );
    let started = w.now();
    assert_eq!(
        w.reason(c, &itinerary(p)).await,
        Reason::LegalBasis(LegalBasis::Contract)
    );
    assert!(matches!(
        failed(w.eco.start_relationship(c, p, w.tick()).await, "again"),
        EcosystemError::Invalid(_)
    ));
    let unknown = stranger_partner();
    assert_eq!(
        failed(
            w.eco.start_relationship(c, unknown, w.tick()).await,
            "unknown partner"
        ),
        EcosystemError::UnknownPartner(unknown)
    );

    let objection = key(Scope::Partner(p), "service", "*", "*");
    let receipt = w.refuse(c, &objection).await;
    let d = w.check(c, &itinerary(p)).await;
    assert_eq!(d.reason, Reason::Refused, "an objection beats the contract");
    assert_eq!(d.winning_seq(), Some(receipt.receipt.seq));
    w.clear(c, &objection).await;

    done(
        w.eco.end_relationship(c, p, w.tick()).await,
        "end the relationship",
    );
    assert_eq!(w.reason(c, &itinerary(p)).await, Reason::NoConsent);
    assert!(matches!(
        failed(w.eco.end_relationship(c, p, w.tick()).await, "end again"),
        EcosystemError::Invalid(_)
    ));
    assert_eq!(
        check(&w.eco, c, &itinerary(p), started).await.reason,
        Reason::LegalBasis(LegalBasis::Contract),
        "as of a time inside the relationship, the contract still carries the use"
    );
    let history = w.history(c).await;
    let changes: Vec<&CustomerChange> = history.iter().map(|e| &e.change).collect();
    assert!(changes.contains(&&CustomerChange::RelationshipStarted { partner: p }));
    assert!(changes.contains(&&CustomerChange::RelationshipEnded { partner: p }));
}

/// `set_choice` and `clear_choice` return receipts that verify with `receipt_key()` alone
/// and name the entry they prove (its seq and hash), the customer by the orchestrator's
/// pseudonym, the scope, purpose and channel, and what happened (given, refused,
/// withdrawn); an edited receipt does not verify; the check that follows names the same seq.
pub async fn set_choice_receipts_verify<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    let k = key(Scope::Partner(p), "marketing", "*", "email");
    let principal = pseudonym_in(&SectorId::orchestrator_of(&ecosystem_id()), c);

    let steps = [
        (Some(Choice::grant("notice-v1")), EventState::Given),
        (Some(Choice::refuse()), EventState::Refused),
        (None, EventState::Withdrawn),
    ];
    for (choice, state) in steps {
        let signed = match choice {
            Some(choice) => w.set(c, &k, choice).await,
            None => w.clear(c, &k).await,
        };
        let history = w.history(c).await;
        let last = history.last().expect("a non-empty history");
        let body = done(
            w.eco
                .receipt_key()
                .verify(&signed)
                .map_err(EcosystemError::from),
            "verify the receipt with the published key",
        );
        assert_eq!(body.seq, last.seq, "the receipt names the entry it proves");
        assert_eq!(body.entry_hash, last.hash);
        assert_eq!(body.event_state, state);
        assert_eq!(
            body.pii_principal_id, principal,
            "the receipt names the customer by the orchestrator's pseudonym"
        );
        assert_eq!(body.pii_controller, Scope::Partner(p));
        assert_eq!(body.purpose, "marketing");
        assert_eq!(body.channel, "email");
        assert_eq!(
            body.notice_version.as_deref(),
            (state == EventState::Given).then_some("notice-v1")
        );

        let d = w.check(c, &email_offer(p)).await;
        match state {
            EventState::Given => {
                assert_eq!(d.reason, Reason::Granted);
                assert_eq!(d.winning_seq(), Some(body.seq));
                assert_eq!(d.winner.as_ref().map(|w| &*w.key), Some(&k));
            }
            EventState::Refused => {
                assert_eq!(d.reason, Reason::Refused);
                assert_eq!(d.winning_seq(), Some(body.seq));
            }
            EventState::Withdrawn => assert_eq!(d.reason, Reason::NoConsent),
        }

        let mut forged = signed.clone();
        forged.receipt.seq += 1;
        assert!(
            w.eco.receipt_key().verify(&forged).is_err(),
            "an edited receipt does not verify"
        );
    }
    assert_eq!(w.history(c).await.len(), 4, "one entry per change");
}

/// Clearing a key that holds no choice is [`EcosystemError::Invalid`] and writes nothing —
/// never set, or already cleared.
pub async fn clear_of_empty_key_is_invalid<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    let k = key(Scope::Partner(p), "marketing", "*", "*");
    let before = w.history(c).await;
    assert!(matches!(
        failed(
            w.eco
                .clear_choice(c, k.clone(), Actor::Customer, w.tick())
                .await,
            "clear a key never set"
        ),
        EcosystemError::Invalid(_)
    ));
    assert_eq!(w.history(c).await, before, "a refused clear writes nothing");

    w.grant(c, &k).await;
    w.clear(c, &k).await;
    let before = w.history(c).await;
    assert!(matches!(
        failed(
            w.eco.clear_choice(c, k, Actor::Customer, w.tick()).await,
            "clear a key twice"
        ),
        EcosystemError::Invalid(_)
    ));
    assert_eq!(w.history(c).await, before, "a refused clear writes nothing");
    let nobody = stranger();
    assert_eq!(
        failed(
            w.eco
                .clear_choice(
                    nobody,
                    key(Scope::Ecosystem, "*", "*", "*"),
                    Actor::Customer,
                    w.tick()
                )
                .await,
            "clear for a stranger"
        ),
        EcosystemError::UnknownCustomer(nobody)
    );
}

/// Keys that do not fit the catalog or the partners are typed errors and write nothing: an
/// unknown purpose, data category or channel, a channel on a purpose that takes none, a
/// partner scope naming an unknown partner; so is a choice that would expire before it is
/// recorded, and a choice for an unknown customer.
pub async fn invalid_keys_write_nothing<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    w.grant(c, &key(Scope::Partner(p), "marketing", "*", "email"))
        .await;
    let before = w.history(c).await;
    let listed = done(w.eco.choices(c, w.now()).await, "list choices");
    let unknown = stranger_partner();
    let bad = [
        (
            key(Scope::Ecosystem, "marketing.spam", "*", "email"),
            RequestError::UnknownPurpose("marketing.spam".into()),
        ),
        (
            key(Scope::Ecosystem, "marketing", "contact.fax", "email"),
            RequestError::UnknownData("contact.fax".into()),
        ),
        (
            key(Scope::Ecosystem, "marketing", "*", "pigeon"),
            RequestError::UnknownChannel("pigeon".into()),
        ),
        (
            key(Scope::Ecosystem, "service", "*", "email"),
            RequestError::UnexpectedChannel,
        ),
        (
            key(Scope::Partner(unknown), "marketing", "*", "email"),
            RequestError::UnknownPartner(unknown),
        ),
    ];
    for (k, expected) in bad {
        for choice in [Choice::grant("notice-v1"), Choice::refuse()] {
            assert_eq!(
                failed(
                    w.eco
                        .set_choice(c, k.clone(), choice, Actor::Customer, w.tick())
                        .await,
                    "set a choice at a bad key"
                ),
                EcosystemError::Request(expected.clone()),
                "{k}: a key outside the catalog or the partners is a typed error"
            );
        }
        assert_eq!(w.history(c).await, before, "{k}: a bad key writes nothing");
    }
    let expired = Choice::grant("notice-v1").expiring(w.now() - Duration::seconds(1));
    assert!(matches!(
        failed(
            w.eco
                .set_choice(
                    c,
                    key(Scope::Ecosystem, "marketing", "*", "email"),
                    expired,
                    Actor::Customer,
                    w.now()
                )
                .await,
            "an already expired choice"
        ),
        EcosystemError::Invalid(_)
    ));
    assert_eq!(
        w.history(c).await,
        before,
        "an expired choice writes nothing"
    );
    assert_eq!(
        done(w.eco.choices(c, w.now()).await, "list choices"),
        listed,
        "the choices are unchanged"
    );

    let nobody = stranger();
    assert_eq!(
        failed(
            w.eco
                .set_choice(
                    nobody,
                    key(Scope::Ecosystem, "marketing", "*", "email"),
                    Choice::grant("notice-v1"),
                    Actor::Customer,
                    w.tick()
                )
                .await,
            "a choice for a stranger"
        ),
        EcosystemError::UnknownCustomer(nobody)
    );
    assert_eq!(
        stored(w.eco.store().last_seq(nobody).await, "last_seq"),
        0,
        "a choice for an unknown customer writes nothing"
    );
}

/// `check_at` answers as of a past time: before registration `unknown_customer`; then each
/// choice from the moment it was recorded until it was replaced, cleared or expired (an
/// expiry is exclusive); `check` answers now.
pub async fn check_at_answers_the_past<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("parking", &[Role::Realizer], &[offers()]).await;
    let before_registration = w.tick();
    let c = w.customer().await;
    let k = key(Scope::Partner(p), "marketing", "*", "*");
    let granted = w.grant(c, &k).await;
    w.tick();
    let refused = w.refuse(c, &k).await;
    w.tick();
    let cleared = w.clear(c, &k).await;
    let at = |r: &SignedReceipt| r.receipt.consent_timestamp;
    let second = Duration::seconds(1);

    let text = sms_offer(p);
    let then = |t| check(&w.eco, c, &text, t);
    assert_eq!(
        then(before_registration).await.reason,
        Reason::UnknownCustomer
    );
    assert_eq!(then(at(&granted) - second).await.reason, Reason::NoConsent);
    let d = then(at(&granted)).await;
    assert_eq!(
        (d.reason, d.winning_seq()),
        (Reason::Granted, Some(granted.receipt.seq)),
        "a choice is in force from the moment it is recorded"
    );
    let d = then(at(&refused) - second).await;
    assert_eq!(
        (d.reason, d.winning_seq()),
        (Reason::Granted, Some(granted.receipt.seq))
    );
    let d = then(at(&refused)).await;
    assert_eq!(
        (d.reason, d.winning_seq()),
        (Reason::Refused, Some(refused.receipt.seq))
    );
    assert_eq!(then(at(&cleared) - second).await.reason, Reason::Refused);
    assert_eq!(then(at(&cleared)).await.reason, Reason::NoConsent);
    assert_eq!(w.reason(c, &sms_offer(p)).await, Reason::NoConsent);

    let until = w.now() + Duration::hours(1);
    let expiring = w
        .set(
            c,
            &key(Scope::Partner(p), "marketing.offers", "*", "email"),
            Choice::grant("notice-v1").expiring(until),
        )
        .await;
    let offer = email_offer(p);
    let mail = |t| check(&w.eco, c, &offer, t);
    let d = mail(until - second).await;
    assert_eq!(
        (d.reason, d.winning_seq()),
        (Reason::Granted, Some(expiring.receipt.seq))
    );
    assert_eq!(
        mail(until).await.reason,
        Reason::NoConsent,
        "a choice is not in force at its expiry"
    );
    assert_eq!(
        w.reason(c, &email_offer(p)).await,
        Reason::Granted,
        "check answers now"
    );
}

/// `choices` lists the choices in force with their seq and time, and for a broad *grant*
/// the number of active partners in its scope that joined after it (which it does not
/// cover): partners enrolled later count once active, an applied partner only once
/// approved, a role grant only partners of that role; partner-scoped choices and refusals
/// show 0 (a refusal covers every partner).
pub async fn choices_list_partners_joined_since<S: Store>(store: &S) {
    let w = World::new(store).await;
    let realizer = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    w.partner("messaging", &[Role::Enabler], &[offers()]).await;
    let c = w.customer().await;
    let everyone = key(Scope::Ecosystem, "marketing", "*", "email");
    let realizers = key(Scope::Role(Role::Realizer), "service", "*", "*");
    let no_analytics = key(Scope::Ecosystem, "analytics", "*", "*");
    let one = key(Scope::Partner(realizer), "marketing", "*", "sms");
    let receipts = [
        w.grant(c, &everyone).await,
        w.grant(c, &realizers).await,
        w.refuse(c, &no_analytics).await,
        w.grant(c, &one).await,
    ];
    let joined = |listed: &[tessera_core::facade::ListedChoice], k: &ChoiceKey| {
        listed
            .iter()
            .find(|l| &l.key == k)
            .map(|l| l.partners_joined_since)
            .expect("the choice is listed")
    };

    let listed = done(w.eco.choices(c, w.now()).await, "list choices");
    assert_eq!(listed.len(), 4);
    for (k, r) in [&everyone, &realizers, &no_analytics, &one]
        .into_iter()
        .zip(&receipts)
    {
        let l = listed.iter().find(|l| &l.key == k).expect("listed");
        assert_eq!(
            l.seq, r.receipt.seq,
            "{k}: listed with the seq that wrote it"
        );
        assert_eq!(l.recorded_at, r.receipt.consent_timestamp);
        assert_eq!(l.partners_joined_since, 0, "{k}: nobody joined yet");
    }

    w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    w.partner("payments", &[Role::Enabler], &[offers()]).await;
    let applied = w.self_enrolled("late", &[Role::Realizer]).await;
    assert_eq!(applied.status, PartnerStatus::Applied);
    let listed = done(w.eco.choices(c, w.now()).await, "list choices");
    assert_eq!(joined(&listed, &everyone), 2, "two active partners joined");
    assert_eq!(joined(&listed, &realizers), 1, "one of them is a realizer");
    assert_eq!(
        joined(&listed, &no_analytics),
        0,
        "a broad refusal covers partners who join later: none is left out"
    );
    assert_eq!(joined(&listed, &one), 0, "a partner-scoped choice");

    done(w.eco.approve_partner(applied.id, w.tick()).await, "approve");
    let listed = done(w.eco.choices(c, w.now()).await, "list choices");
    assert_eq!(
        joined(&listed, &everyone),
        3,
        "an applied partner counts once approved"
    );
    assert_eq!(joined(&listed, &realizers), 2);

    w.grant(c, &everyone).await;
    let listed = done(w.eco.choices(c, w.now()).await, "list choices");
    assert_eq!(
        joined(&listed, &everyone),
        0,
        "deciding again discloses every partner active now"
    );
}

/// A broad grant covers only the partners active when it was made: a partner enrolled
/// after it gets `no_consent` until the customer decides again, while a broad refusal
/// covers partners present and future.
pub async fn broad_grant_does_not_cover_later_partner<S: Store>(store: &S) {
    let w = World::new(store).await;
    let early = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    let mail = key(Scope::Ecosystem, "marketing", "*", "email");
    let text = key(Scope::Ecosystem, "marketing", "*", "sms");
    let role = key(Scope::Role(Role::Realizer), "marketing", "*", "email");
    w.grant(c, &mail).await;
    w.refuse(c, &text).await;
    assert_eq!(w.reason(c, &email_offer(early)).await, Reason::Granted);

    let late = w.partner("parking", &[Role::Realizer], &[offers()]).await;
    assert_eq!(w.reason(c, &email_offer(early)).await, Reason::Granted);
    assert_eq!(
        w.reason(c, &email_offer(late)).await,
        Reason::NoConsent,
        "a broad grant does not cover a partner enrolled after it"
    );
    assert_eq!(
        w.reason(c, &sms_offer(late)).await,
        Reason::Refused,
        "a broad refusal covers a partner enrolled after it"
    );

    let later = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    let again = w.grant(c, &role).await;
    let d = w.check(c, &email_offer(late)).await;
    assert_eq!(
        (d.reason, d.winning_seq()),
        (Reason::Granted, Some(again.receipt.seq)),
        "a broad grant made after the partner joined covers it"
    );
    assert_eq!(w.reason(c, &email_offer(later)).await, Reason::Granted);
}

// ----- partners and governance ---------------------------------------------------------------

/// Centralized governance: the orchestrator's partners are active with approved
/// declarations; a self-enrolled partner starts `applied` (checks answer
/// `partner_inactive`) and its own declarations wait for approval (`not_declared`) even
/// after the partner is approved; the store's partner record follows every change.
pub async fn governance_centralized<S: Store>(store: &S) {
    let w = World::new(store).await;
    assert_eq!(
        w.eco.ecosystem().governance().mode,
        GovernanceMode::Centralized
    );
    let by_orchestrator = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let applied = w.self_enrolled("parking", &[Role::Realizer]).await;
    assert_eq!(applied.status, PartnerStatus::Applied);
    let declared = done(
        w.eco
            .declare(applied.id, offers(), Origin::SelfService, w.tick())
            .await,
        "self-declare",
    );
    assert_eq!(
        declared.declarations[0].status,
        DeclarationStatus::Pending,
        "a self-service declaration waits for the orchestrator"
    );
    let c = w.customer().await;
    w.grant(c, &key(Scope::Ecosystem, "marketing", "*", "email"))
        .await;
    assert_eq!(
        w.reason(c, &email_offer(by_orchestrator)).await,
        Reason::Granted
    );
    assert_eq!(
        w.reason(c, &email_offer(applied.id)).await,
        Reason::PartnerInactive
    );

    let approved = done(w.eco.approve_partner(applied.id, w.tick()).await, "approve");
    assert_eq!(approved.status, PartnerStatus::Active);
    assert_eq!(
        w.reason(c, &email_offer(applied.id)).await,
        Reason::NotDeclared,
        "its declaration is still pending"
    );
    let approved = done(
        w.eco.approve_declaration(applied.id, 0, w.tick()).await,
        "approve the declaration",
    );
    assert_eq!(approved.declarations[0].status, DeclarationStatus::Approved);
    assert_eq!(
        w.reason(c, &email_offer(applied.id)).await,
        Reason::NoConsent,
        "the broad grant predates the partner's activation"
    );
    w.grant(
        c,
        &key(Scope::Partner(applied.id), "marketing", "*", "email"),
    )
    .await;
    assert_eq!(w.reason(c, &email_offer(applied.id)).await, Reason::Granted);
    let record = stored(w.eco.store().partner(applied.id).await, "read the partner")
        .expect("the store holds the partner");
    assert_eq!(record.status, PartnerStatus::Active);
    assert_eq!(record.declarations, approved.declarations);
}

/// Facilitated governance: a self-enrolled partner is active at once; its declarations
/// inside the allow-list are approved at once, the rest wait for approval.
pub async fn governance_facilitated<S: Store>(store: &S) {
    let allowed = declaration(
        "marketing",
        &["contact"],
        &["email", "sms"],
        LegalBasis::Consent,
    );
    let w = World::with(
        store,
        governance(GovernanceMode::Facilitated, vec![allowed]),
    )
    .await;
    assert_eq!(
        w.eco.ecosystem().governance().mode,
        GovernanceMode::Facilitated
    );
    let p = w.self_enrolled("parking", &[Role::Realizer]).await;
    assert_eq!(p.status, PartnerStatus::Active, "self-enrolment is active");
    let inside = done(
        w.eco
            .declare(p.id, offers(), Origin::SelfService, w.tick())
            .await,
        "declare inside the allow-list",
    );
    assert_eq!(inside.declarations[0].status, DeclarationStatus::Approved);
    let outside = done(
        w.eco
            .declare(p.id, usage(), Origin::SelfService, w.tick())
            .await,
        "declare outside the allow-list",
    );
    assert_eq!(outside.declarations[1].status, DeclarationStatus::Pending);
    let wider = done(
        w.eco
            .declare(
                p.id,
                declaration(
                    "marketing.offers",
                    &["contact.email"],
                    &["push"],
                    LegalBasis::Consent,
                ),
                Origin::SelfService,
                w.tick(),
            )
            .await,
        "declare a channel outside the allow-list",
    );
    assert_eq!(wider.declarations[2].status, DeclarationStatus::Pending);

    let c = w.customer().await;
    let usage_request = ask(p.id, "analytics.usage", "behavior", None);
    assert_eq!(
        w.reason(c, &usage_request).await,
        Reason::NotDeclared,
        "a pending declaration allows nothing"
    );
    assert_eq!(
        w.reason(c, &email_offer(p.id)).await,
        Reason::NoConsent,
        "an approved declaration still needs consent"
    );
    done(
        w.eco.approve_declaration(p.id, 1, w.tick()).await,
        "approve",
    );
    assert_eq!(
        w.reason(c, &usage_request).await,
        Reason::LegalBasis(LegalBasis::LegitimateInterest)
    );
}

/// Self-organized governance: a self-enrolled partner and every declaration it makes are
/// active at once, and customer consent is still required.
pub async fn governance_self_organized<S: Store>(store: &S) {
    let w = World::with(store, governance(GovernanceMode::SelfOrganized, Vec::new())).await;
    let p = w.self_enrolled("parking", &[Role::Realizer]).await;
    assert_eq!(p.status, PartnerStatus::Active);
    for d in [offers(), usage()] {
        let after = done(
            w.eco.declare(p.id, d, Origin::SelfService, w.tick()).await,
            "self-declare",
        );
        assert_eq!(
            after.declarations.last().map(|d| d.status),
            Some(DeclarationStatus::Approved)
        );
    }
    let c = w.customer().await;
    assert_eq!(
        w.reason(c, &email_offer(p.id)).await,
        Reason::NoConsent,
        "consent is still the customer's"
    );
    assert_eq!(
        w.reason(c, &ask(p.id, "analytics.usage", "behavior", None))
            .await,
        Reason::LegalBasis(LegalBasis::LegitimateInterest)
    );
    w.grant(c, &key(Scope::Partner(p.id), "marketing", "*", "*"))
        .await;
    assert_eq!(w.reason(c, &email_offer(p.id)).await, Reason::Granted);
}

/// The partner lifecycle: `applied → active` (approve), `active ↔ suspended` (suspend,
/// reinstate), `→ offboarded` (terminal). A suspended or offboarded partner's checks answer
/// `partner_inactive`, a reinstated one's answer as before; every illegal transition is an
/// error that writes nothing to the ecosystem ledger; the store's partner record follows.
pub async fn partner_lifecycle<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    w.grant(c, &key(Scope::Partner(p), "marketing", "*", "*"))
        .await;
    let projected = || async {
        stored(w.eco.store().partner(p).await, "read the partner")
            .expect("the store holds the partner")
            .status
    };

    let illegal = |what: &'static str, result: Result<Partner, EcosystemError>, before: u64| {
        let e = failed(result, what);
        assert!(
            is_illegal_transition(&e),
            "{what}: expected an illegal-transition error, got {e:?}"
        );
        assert_eq!(
            w.position(),
            before,
            "{what}: an illegal transition writes nothing"
        );
    };
    let at = w.position();
    illegal(
        "approve an active partner",
        w.eco.approve_partner(p, w.tick()).await,
        at,
    );
    illegal(
        "reinstate an active partner",
        w.eco.reinstate_partner(p, w.tick()).await,
        at,
    );

    let suspended = done(w.eco.suspend_partner(p, w.tick()).await, "suspend");
    assert_eq!(suspended.status, PartnerStatus::Suspended);
    assert_eq!(projected().await, PartnerStatus::Suspended);
    assert_eq!(w.reason(c, &email_offer(p)).await, Reason::PartnerInactive);
    let at = w.position();
    illegal(
        "suspend twice",
        w.eco.suspend_partner(p, w.tick()).await,
        at,
    );
    illegal(
        "approve a suspended partner",
        w.eco.approve_partner(p, w.tick()).await,
        at,
    );

    let back = done(w.eco.reinstate_partner(p, w.tick()).await, "reinstate");
    assert_eq!(back.status, PartnerStatus::Active);
    assert_eq!(projected().await, PartnerStatus::Active);
    assert_eq!(w.reason(c, &email_offer(p)).await, Reason::Granted);

    let gone = done(w.eco.offboard_partner(p, w.tick()).await, "offboard");
    assert_eq!(gone.status, PartnerStatus::Offboarded);
    assert_eq!(projected().await, PartnerStatus::Offboarded);
    assert_eq!(w.reason(c, &email_offer(p)).await, Reason::PartnerInactive);
    let at = w.position();
    illegal(
        "reinstate offboarded",
        w.eco.reinstate_partner(p, w.tick()).await,
        at,
    );
    illegal(
        "suspend offboarded",
        w.eco.suspend_partner(p, w.tick()).await,
        at,
    );
    illegal(
        "approve offboarded",
        w.eco.approve_partner(p, w.tick()).await,
        at,
    );
    illegal(
        "offboard twice",
        w.eco.offboard_partner(p, w.tick()).await,
        at,
    );
    assert_eq!(w.status(p), PartnerStatus::Offboarded);

    let applied = w.self_enrolled("parking", &[Role::Realizer]).await;
    let at = w.position();
    illegal(
        "suspend an applied partner",
        w.eco.suspend_partner(applied.id, w.tick()).await,
        at,
    );
    illegal(
        "reinstate an applied partner",
        w.eco.reinstate_partner(applied.id, w.tick()).await,
        at,
    );
    let gone = done(
        w.eco.offboard_partner(applied.id, w.tick()).await,
        "offboard an applied partner",
    );
    assert_eq!(gone.status, PartnerStatus::Offboarded);

    let unknown = stranger_partner();
    assert_eq!(
        failed(w.eco.approve_partner(unknown, w.tick()).await, "unknown"),
        EcosystemError::UnknownPartner(unknown)
    );
    assert!(
        failed(w.eco.suspend_partner(unknown, w.tick()).await, "unknown")
            .to_string()
            .contains(&unknown.to_string()),
        "suspending an unknown partner is an error naming it"
    );
    let ledger: Vec<EcosystemEntry> = stored(w.eco.store().read_ecosystem(1).await, "read");
    assert_eq!(ledger.len() as u64, w.position());
    tessera_core::verify(&ledger).expect("the ecosystem ledger verifies");
}

/// Partner changes made through one handle are seen by the next call of another handle on
/// the same store: a partner enrolled elsewhere can be named in a choice and gets a
/// pseudonym; a declaration approved elsewhere is in force; a partner suspended elsewhere
/// answers `partner_inactive` and gets no token; a withdrawal through one handle revokes a
/// token issued through the other to a partner that handle enrolled; a merge names the
/// pseudonyms of partners enrolled elsewhere.
pub async fn partner_changes_reach_other_handles<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let a = w.another(store.clone(), 1_000).await;
    let c = w.customer().await;
    w.grant(c, &key(Scope::Partner(p), "marketing", "*", "*"))
        .await;
    assert_eq!(
        check(&a, c, &email_offer(p), w.now()).await.reason,
        Reason::Granted
    );

    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    done(
        a.set_choice(
            c,
            key(Scope::Partner(q), "marketing", "*", "email"),
            Choice::grant("notice-v1"),
            Actor::Customer,
            w.tick(),
        )
        .await,
        "name a partner enrolled through another handle",
    );
    assert_eq!(
        check(&a, c, &email_offer(q), w.now()).await.reason,
        Reason::Granted
    );
    let at_q = done(
        a.pseudonym_for(c, q).await,
        "a pseudonym at a partner enrolled elsewhere",
    );
    assert_eq!(
        done(w.eco.resolve_pseudonym(q, &at_q).await, "resolve"),
        Some(c)
    );

    let applied = w.applicant("parking").await;
    done(
        a.approve_partner(applied.id, w.tick()).await,
        "approve, through A, a partner that enrolled through B",
    );
    let analytics = ask(applied.id, "analytics.usage", "behavior", None);
    assert_eq!(
        check(&a, c, &analytics, w.now()).await.reason,
        Reason::NotDeclared
    );
    done(
        w.eco.approve_declaration(applied.id, 0, w.tick()).await,
        "approve the declaration through B",
    );
    assert_eq!(
        check(&a, c, &analytics, w.now()).await.reason,
        Reason::LegalBasis(LegalBasis::LegitimateInterest),
        "a declaration approved elsewhere is in force at the next check"
    );

    // A partner A has not heard of yet holds a token; A takes its grant away.
    let r = w.partner("ferry", &[Role::Realizer], &[offers()]).await;
    let r_mail = key(Scope::Partner(r), "marketing", "*", "email");
    w.grant(c, &r_mail).await;
    let token = w.token(c, r).await;
    let start = w.feed().await;
    done(
        a.clear_choice(c, r_mail, Actor::Customer, w.tick()).await,
        "withdraw through A",
    );
    assert_eq!(
        ids_on(&new_on_feed(&start, &w.feed().await)),
        ids_of(&token),
        "a withdrawal through one handle revokes a token issued through the other"
    );

    done(
        a.issue_token(c, p, DEFAULT_TOKEN_TTL, w.tick(), &w.rng)
            .await,
        "token",
    );
    done(
        w.eco.suspend_partner(p, w.tick()).await,
        "suspend elsewhere",
    );
    assert_eq!(
        failed(
            a.issue_token(c, p, DEFAULT_TOKEN_TTL, w.tick(), &w.rng)
                .await,
            "a token for a partner suspended elsewhere"
        ),
        EcosystemError::PartnerInactive(p)
    );
    assert_eq!(
        check(&a, c, &email_offer(p), w.now()).await.reason,
        Reason::PartnerInactive,
        "a suspension acknowledged elsewhere is seen by the next check"
    );
    done(
        a.reinstate_partner(p, w.tick()).await,
        "reinstate, through A, a partner suspended through B",
    );

    let late = w.partner("rental", &[Role::Realizer], &[offers()]).await;
    let absorbed = w.customer().await;
    let event = done(a.merge(c, absorbed, w.tick()).await, "merge through A");
    assert!(
        event.pseudonyms.iter().any(|change| change.partner == late),
        "a merge names the pseudonym of a partner enrolled elsewhere"
    );
    let old = pseudonym_in(
        &w.eco
            .ecosystem()
            .directory()
            .partner(late)
            .expect("a partner")
            .sector,
        absorbed,
    );
    assert_eq!(
        done(w.eco.resolve_pseudonym(late, &old).await, "resolve"),
        Some(c)
    );
}

// ----- identity ---------------------------------------------------------------------------------

/// A check reads the customer and the ecosystem in one go, and still sees every partner
/// change acknowledged through another handle, whether its cache holds the customer's state
/// (warm) or not (cold: a handle whose cache holds one state, asked about two customers in
/// turn): a suspension answers `partner_inactive` at the next check, a reinstatement and a
/// declaration approved elsewhere are in force at the next check, and a partner enrolled and
/// granted elsewhere is known at the next check.
pub async fn cold_and_warm_checks_see_partner_changes<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let cold = w.another(store.clone(), 1).await;
    let warm = w.another(store.clone(), 1_000).await;
    let (c, d) = (w.customer().await, w.customer().await);
    for x in [c, d] {
        w.grant(x, &key(Scope::Partner(p), "marketing", "*", "*"))
            .await;
    }
    // Ask about both customers through each handle, so that the cold handle's one cached
    // state is never the one asked about, and the warm handle holds both.
    let answers = |request: Request| {
        let (cold, warm, now) = (&cold, &warm, w.now());
        async move {
            let mut out = Vec::new();
            for x in [c, d] {
                out.push(check(cold, x, &request, now).await.reason);
            }
            for x in [c, d] {
                out.push(check(warm, x, &request, now).await.reason);
            }
            out
        }
    };
    assert_eq!(answers(email_offer(p)).await, [Reason::Granted; 4]);

    done(w.eco.suspend_partner(p, w.tick()).await, "suspend");
    assert_eq!(
        answers(email_offer(p)).await,
        [Reason::PartnerInactive; 4],
        "a suspension acknowledged elsewhere is seen by the next check, cold or warm"
    );
    done(w.eco.reinstate_partner(p, w.tick()).await, "reinstate");
    assert_eq!(
        answers(email_offer(p)).await,
        [Reason::Granted; 4],
        "a reinstatement acknowledged elsewhere is seen by the next check, cold or warm"
    );

    let applied = w.applicant("parking").await;
    done(w.eco.approve_partner(applied.id, w.tick()).await, "approve");
    let analytics = ask(applied.id, "analytics.usage", "behavior", None);
    assert_eq!(answers(analytics.clone()).await, [Reason::NotDeclared; 4]);
    done(
        w.eco.approve_declaration(applied.id, 0, w.tick()).await,
        "approve the declaration",
    );
    assert_eq!(
        answers(analytics).await,
        [Reason::LegalBasis(LegalBasis::LegitimateInterest); 4],
        "a declaration approved elsewhere is in force at the next check, cold or warm"
    );

    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    for x in [c, d] {
        w.grant(x, &key(Scope::Partner(q), "marketing", "*", "email"))
            .await;
    }
    assert_eq!(
        answers(email_offer(q)).await,
        [Reason::Granted; 4],
        "a partner enrolled and granted elsewhere is known at the next check, cold or warm"
    );
}

/// `link` links the identifier a proof proves; `resolve` finds the customer; the ledger
/// records a keyed digest, never the raw value; linking it again is a no-op; a second
/// customer linking the same identifier gets `IdentifierTaken` and nothing is written;
/// `unlink` frees it (unlinking again is invalid) and then another customer may link it.
pub async fn link_with_proof<S: Store>(store: &S) {
    let w = World::new(store).await;
    let c = w.customer().await;
    let other = w.customer().await;
    let mail = email("link");
    let address = address_of(&mail);
    let by_code = done(
        Proof::verified_one_time_code(mail.clone())
            .map_err(|e| EcosystemError::Invalid(e.to_string())),
        "a one-time-code proof",
    );
    let login_subject = unique("subject");
    let by_login = done(
        Proof::verified_federated_login("https://idp.example.test", &login_subject)
            .map_err(|e| EcosystemError::Invalid(e.to_string())),
        "a federated proof",
    );

    assert_eq!(done(w.eco.resolve(&mail).await, "resolve"), None);
    done(w.eco.link(c, &by_code, w.tick()).await, "link an e-mail");
    done(w.eco.link(c, &by_login, w.tick()).await, "link a login");
    assert_eq!(done(w.eco.resolve(&mail).await, "resolve"), Some(c));
    assert_eq!(
        done(w.eco.resolve(by_login.identifier()).await, "resolve"),
        Some(c)
    );
    let history = w.history(c).await;
    assert_eq!(history.len(), 3, "one entry per identifier");
    assert!(
        history
            .iter()
            .filter(|e| matches!(e.change, CustomerChange::IdentifierLinked { .. }))
            .count()
            == 2
    );
    let text = serde_json::to_string(&history).expect("entries serialize");
    assert!(
        !text.contains(&address) && !text.contains(&login_subject),
        "the ledger holds digests of identifiers, never their values"
    );

    done(w.eco.link(c, &by_code, w.tick()).await, "link again");
    assert_eq!(w.history(c).await, history, "linking again is a no-op");

    let before = w.history(other).await;
    assert_eq!(
        failed(
            w.eco.link(other, &by_code, w.tick()).await,
            "a second customer links the same e-mail"
        ),
        EcosystemError::IdentifierTaken
    );
    assert_eq!(
        w.history(other).await,
        before,
        "a refused link writes nothing"
    );
    assert_eq!(done(w.eco.resolve(&mail).await, "resolve"), Some(c));
    let nobody = stranger();
    assert_eq!(
        failed(
            w.eco.link(nobody, &by_code, w.tick()).await,
            "link for a stranger"
        ),
        EcosystemError::UnknownCustomer(nobody)
    );

    done(w.eco.unlink(c, &mail, w.tick()).await, "unlink");
    assert_eq!(done(w.eco.resolve(&mail).await, "resolve"), None);
    assert!(matches!(
        w.history(c).await.last().map(|e| &e.change),
        Some(CustomerChange::IdentifierUnlinked { .. })
    ));
    assert!(matches!(
        failed(w.eco.unlink(c, &mail, w.tick()).await, "unlink again"),
        EcosystemError::Invalid(_)
    ));
    assert!(matches!(
        failed(
            w.eco.unlink(other, by_login.identifier(), w.tick()).await,
            "unlink another customer's identifier"
        ),
        EcosystemError::Invalid(_)
    ));
    assert_eq!(
        done(w.eco.resolve(by_login.identifier()).await, "resolve"),
        Some(c)
    );
    done(
        w.eco.link(other, &by_code, w.tick()).await,
        "link the freed e-mail",
    );
    assert_eq!(done(w.eco.resolve(&mail).await, "resolve"), Some(other));
}

// ----- merge and erasure --------------------------------------------------------------------

/// `merge(survivor, absorbed)`: the absorbed customer's identifiers move to the survivor;
/// consent folds with refusal winning on every key both hold (either way round), choices
/// only the absorbed held move over; checks through the absorbed ID answer from the
/// survivor; the absorbed ID and its pseudonyms resolve to the survivor; the event names the
/// keys where a refusal won and, per partner, the old and new pseudonym; both ledgers verify;
/// merging into itself is invalid and merging the absorbed ID again is `unknown_customer`.
pub async fn merge_folds_into_survivor<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w
        .partner("airline", &[Role::Realizer], &[offers(), delivery()])
        .await;
    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    let survivor = w.customer().await;
    let absorbed = w.customer().await;
    let theirs = email("absorbed");
    let ours = email("survivor");
    for (c, mail) in [(absorbed, &theirs), (survivor, &ours)] {
        let proof = Proof::verified_one_time_code(mail.clone()).expect("a proof");
        done(w.eco.link(c, &proof, w.tick()).await, "link");
    }

    let grant_vs_refusal = key(Scope::Partner(p), "marketing", "*", "email");
    let refusal_vs_grant = key(Scope::Partner(p), "marketing", "*", "sms");
    let only_absorbed = key(Scope::Partner(q), "marketing", "*", "email");
    let only_survivor = key(Scope::Partner(q), "marketing", "*", "sms");
    let both_grant = key(Scope::Partner(p), "service", "*", "*");
    w.grant(survivor, &grant_vs_refusal).await;
    w.refuse(absorbed, &grant_vs_refusal).await;
    w.refuse(survivor, &refusal_vs_grant).await;
    w.grant(absorbed, &refusal_vs_grant).await;
    w.grant(absorbed, &only_absorbed).await;
    w.grant(survivor, &only_survivor).await;
    w.grant(survivor, &both_grant).await;
    w.grant(absorbed, &both_grant).await;
    let old_at_p = done(w.eco.pseudonym_for(absorbed, p).await, "pseudonym");

    let event: MergeEvent = done(w.eco.merge(survivor, absorbed, w.tick()).await, "merge");
    assert_eq!((event.survivor, event.absorbed), (survivor, absorbed));
    assert_eq!(
        event.refusals_won.iter().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([grant_vs_refusal.clone(), refusal_vs_grant.clone()]),
        "the event names every key both held where a refusal won"
    );
    let eco = w.eco.ecosystem();
    let partners: BTreeSet<PartnerId> = event.pseudonyms.iter().map(|c| c.partner).collect();
    assert_eq!(
        partners,
        BTreeSet::from([p, q]),
        "one pseudonym change per partner"
    );
    for change in &event.pseudonyms {
        let sector = &eco
            .directory()
            .partner(change.partner)
            .expect("a partner")
            .sector;
        assert_eq!(change.old, pseudonym_in(sector, absorbed));
        assert_eq!(change.new, pseudonym_in(sector, survivor));
        assert_eq!(
            done(
                w.eco.resolve_pseudonym(change.partner, &change.old).await,
                "resolve"
            ),
            Some(survivor),
            "the absorbed customer's pseudonym resolves to the survivor"
        );
        assert_eq!(
            done(
                w.eco.resolve_pseudonym(change.partner, &change.new).await,
                "resolve"
            ),
            Some(survivor)
        );
        assert_eq!(
            done(w.eco.pseudonym_for(survivor, change.partner).await, "new"),
            change.new
        );
    }
    assert!(event.pseudonyms.iter().any(|c| c.old == old_at_p));

    assert_eq!(
        done(w.eco.resolve(&theirs).await, "resolve"),
        Some(survivor)
    );
    assert_eq!(done(w.eco.resolve(&ours).await, "resolve"), Some(survivor));
    assert!(
        stored(w.eco.store().identifiers(absorbed).await, "identifiers").is_empty(),
        "the absorbed customer keeps no identifier"
    );
    let moved = stored(w.eco.store().identifiers(survivor).await, "identifiers");
    assert!(moved.contains(&theirs) && moved.contains(&ours));
    assert_eq!(
        done(w.eco.canonical_customer(absorbed).await, "canonical"),
        survivor
    );

    let expected = [
        (email_offer(p), Reason::Refused),
        (sms_offer(p), Reason::Refused),
        (email_offer(q), Reason::Granted),
        (sms_offer(q), Reason::Granted),
        (itinerary(p), Reason::Granted),
    ];
    for (request, reason) in &expected {
        let of_survivor = w.check(survivor, request).await;
        assert_eq!(
            of_survivor.reason, *reason,
            "{request:?}: the folded consent"
        );
        assert_eq!(
            w.check(absorbed, request).await,
            of_survivor,
            "{request:?}: a check through the absorbed ID answers from the survivor"
        );
    }

    let survivor_ledger = w.history(survivor).await;
    let absorbed_ledger = w.history(absorbed).await;
    assert!(
        survivor_ledger
            .iter()
            .any(|e| e.change == CustomerChange::Merged { survivor, absorbed })
    );
    assert_eq!(
        absorbed_ledger.last().map(|e| &e.change),
        Some(&CustomerChange::Merged { survivor, absorbed }),
        "the absorbed stream ends with the merge"
    );
    assert!(
        survivor_ledger
            .iter()
            .filter(|e| matches!(e.change, CustomerChange::IdentifierLinked { .. }))
            .count()
            == 2,
        "the survivor's ledger records the moved identifier"
    );

    assert!(matches!(
        failed(w.eco.merge(survivor, survivor, w.tick()).await, "self"),
        EcosystemError::Invalid(_)
    ));
    assert_eq!(
        failed(w.eco.merge(survivor, absorbed, w.tick()).await, "again"),
        EcosystemError::UnknownCustomer(absorbed)
    );
    let nobody = stranger();
    assert_eq!(
        failed(w.eco.merge(nobody, survivor, w.tick()).await, "stranger"),
        EcosystemError::UnknownCustomer(nobody)
    );
    w.grant(survivor, &key(Scope::Ecosystem, "loyalty", "*", "*"))
        .await;
    assert_eq!(w.history(survivor).await.len(), survivor_ledger.len() + 1);
}

/// After a merge the absorbed ID still answers for its own past: a check as of a time
/// before the merge answers from the absorbed customer's ledger (what it had decided then,
/// not the survivor's choices), a check as of a later time from the survivor.
pub async fn merge_keeps_the_absorbed_past<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let survivor = w.customer().await;
    let absorbed = w.customer().await;
    let mail = key(Scope::Partner(p), "marketing", "*", "email");
    let text = key(Scope::Partner(p), "marketing", "*", "sms");
    let given = w.grant(absorbed, &mail).await;
    w.refuse(survivor, &text).await;
    let before = w.tick();
    done(w.eco.merge(survivor, absorbed, w.tick()).await, "merge");
    let after = w.tick();

    let d = check(&w.eco, absorbed, &email_offer(p), before).await;
    assert_eq!(
        (d.reason, d.winning_seq()),
        (Reason::Granted, Some(given.receipt.seq)),
        "before the merge, the absorbed ID answers from its own ledger"
    );
    assert_eq!(
        check(&w.eco, absorbed, &sms_offer(p), before).await.reason,
        Reason::NoConsent,
        "the survivor's refusal was not the absorbed customer's choice then"
    );
    assert_eq!(
        check(&w.eco, survivor, &email_offer(p), before)
            .await
            .reason,
        Reason::NoConsent,
        "nor was the absorbed customer's grant the survivor's"
    );
    assert_eq!(
        check(&w.eco, absorbed, &email_offer(p), after).await,
        check(&w.eco, survivor, &email_offer(p), after).await
    );
    assert_eq!(
        check(&w.eco, absorbed, &sms_offer(p), after).await.reason,
        Reason::Refused
    );
}

/// `erase`: the identifiers, the profile and the pseudonym index entries are gone (resolve
/// finds nothing), checks answer `unknown_customer` and every later change is refused, while
/// the ledger stays and verifies, holds no raw identifier, and still answers for the past.
pub async fn erase_keeps_only_the_ledger<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    let mail = email("erase");
    let proof = Proof::verified_one_time_code(mail.clone()).expect("a proof");
    done(w.eco.link(c, &proof, w.tick()).await, "link");
    let profile = serde_json::json!({ "name": "Ada", "home": "Lisbon" });
    done(
        w.eco.set_profile(c, &profile, w.tick()).await,
        "set the profile",
    );
    assert_eq!(
        stored(w.eco.store().profile(c).await, "profile"),
        Some(profile)
    );
    let given = w
        .grant(c, &key(Scope::Partner(p), "marketing", "*", "email"))
        .await;
    let at_p = done(w.eco.pseudonym_for(c, p).await, "pseudonym");
    let orchestrator = SectorId::orchestrator_of(&ecosystem_id());
    let before = w.tick();

    done(w.eco.erase(c, w.tick()).await, "erase");
    assert_eq!(done(w.eco.resolve(&mail).await, "resolve"), None);
    assert!(stored(w.eco.store().identifiers(c).await, "identifiers").is_empty());
    assert_eq!(stored(w.eco.store().profile(c).await, "profile"), None);
    assert_eq!(
        done(w.eco.resolve_pseudonym(p, &at_p).await, "resolve"),
        None
    );
    assert_eq!(
        stored(
            w.eco
                .store()
                .resolve_pseudonym(&orchestrator, &pseudonym_in(&orchestrator, c))
                .await,
            "resolve"
        ),
        None,
        "the orchestrator's pseudonym is forgotten too"
    );
    assert_eq!(w.reason(c, &email_offer(p)).await, Reason::UnknownCustomer);
    let d = check(&w.eco, c, &email_offer(p), before).await;
    assert_eq!(
        (d.reason, d.winning_seq()),
        (Reason::Granted, Some(given.receipt.seq)),
        "the ledger still proves the consent given before the erasure"
    );

    let ledger = w.history(c).await;
    tessera_core::verify(&ledger).expect("the erased customer's ledger verifies");
    assert_eq!(
        ledger.last().map(|e| &e.change),
        Some(&CustomerChange::Erased)
    );
    let text = serde_json::to_string(&ledger).expect("entries serialize");
    assert!(!text.contains(&address_of(&mail)));

    let unknown = EcosystemError::UnknownCustomer(c);
    let mail_key = key(Scope::Ecosystem, "marketing", "*", "email");
    assert_eq!(
        failed(
            w.eco
                .set_choice(
                    c,
                    mail_key,
                    Choice::grant("notice-v1"),
                    Actor::Customer,
                    w.tick()
                )
                .await,
            "a choice after erasure"
        ),
        unknown
    );
    assert_eq!(
        failed(w.eco.link(c, &proof, w.tick()).await, "link after erasure"),
        unknown
    );
    assert_eq!(
        failed(w.eco.choices(c, w.now()).await, "choices after erasure"),
        unknown
    );
    assert_eq!(
        failed(w.eco.export(c, w.now()).await, "export after erasure"),
        unknown
    );
    assert_eq!(
        failed(w.eco.erase(c, w.tick()).await, "erase again"),
        unknown
    );
    assert_eq!(
        w.history(c).await,
        ledger,
        "nothing is written after erasure"
    );
}

/// `export` returns one JSON document with everything about the customer: its ID, its
/// identifiers (and no one else's), its profile, its pseudonym at every partner, its active
/// relationships, its choices as `choices` lists them, and its whole ledger, which reads
/// back and verifies.
pub async fn export_holds_everything<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w
        .partner("airline", &[Role::Realizer], &[offers(), delivery()])
        .await;
    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    let other = w.customer().await;
    let mail = email("export");
    let elsewhere = email("someone-else");
    for (who, m) in [(c, &mail), (other, &elsewhere)] {
        let proof = Proof::verified_one_time_code(m.clone()).expect("a proof");
        done(w.eco.link(who, &proof, w.tick()).await, "link");
    }
    let profile = serde_json::json!({ "name": "Ada", "languages": ["pt", "en"] });
    done(w.eco.set_profile(c, &profile, w.tick()).await, "profile");
    w.grant(c, &key(Scope::Ecosystem, "marketing", "*", "email"))
        .await;
    w.refuse(c, &key(Scope::Partner(q), "marketing", "*", "*"))
        .await;
    done(
        w.eco.start_relationship(c, p, w.tick()).await,
        "relationship",
    );

    let doc = done(w.eco.export(c, w.tick()).await, "export");
    let field = |name: &str| {
        doc.get(name)
            .unwrap_or_else(|| panic!("export has `{name}`"))
    };
    assert_eq!(field("customer"), &serde_json::json!(c.to_string()));
    assert_eq!(
        field("identifiers"),
        &serde_json::to_value(stored(w.eco.store().identifiers(c).await, "ids"))
            .expect("identifiers serialize")
    );
    let text = doc.to_string();
    assert!(
        text.contains(&address_of(&mail)),
        "the identifiers are in it"
    );
    assert!(
        !text.contains(&address_of(&elsewhere)),
        "another customer's identifiers are not"
    );
    assert_eq!(field("profile"), &profile);
    for partner in [p, q] {
        let expected = done(w.eco.pseudonym_for(c, partner).await, "pseudonym");
        assert_eq!(
            field("pseudonyms").get(partner.to_string()),
            Some(&serde_json::json!(expected.to_string())),
            "the pseudonym every partner sees"
        );
    }
    assert_eq!(field("relationships"), &serde_json::json!([p.to_string()]));
    let listed = done(w.eco.choices(c, w.now()).await, "choices");
    assert_eq!(
        field("choices"),
        &serde_json::to_value(&listed).expect("choices serialize")
    );
    let ledger: Vec<CustomerEntry> =
        serde_json::from_value(field("ledger").clone()).expect("the ledger reads back");
    assert_eq!(ledger, w.history(c).await, "the whole ledger");
    tessera_core::verify(&ledger).expect("the exported ledger verifies on its own");
}

// ----- the customer-state cache ------------------------------------------------------------

/// Two handles on one store, as two processes: every change acknowledged through one is
/// seen by the very next check through the other, although that one had the customer's
/// state cached; a handle that writes on a stale cached state still lands its change after
/// the other's, and the chain verifies; a handle whose cache holds one state answers for
/// many customers alike.
pub async fn cache_never_answers_stale<S: Store>(store: &S) {
    let w = World::new(store).await;
    let b = &w.eco;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let a = w.another(store.clone(), 1_000).await;
    let c = w.customer().await;
    let k = key(Scope::Partner(p), "marketing", "*", "email");
    assert_eq!(
        check(&a, c, &email_offer(p), w.now()).await.reason,
        Reason::NoConsent,
        "handle A caches the state"
    );
    for _ in 0..3 {
        let r = w.grant(c, &k).await;
        let d = check(&a, c, &email_offer(p), w.now()).await;
        assert_eq!(
            (d.reason, d.winning_seq()),
            (Reason::Granted, Some(r.receipt.seq)),
            "a grant acknowledged through B is seen by A's next check"
        );
        let r = w.refuse(c, &k).await;
        let d = check(&a, c, &email_offer(p), w.now()).await;
        assert_eq!(
            (d.reason, d.winning_seq()),
            (Reason::Refused, Some(r.receipt.seq)),
            "a refusal acknowledged through B is seen by A's next check"
        );
        w.clear(c, &k).await;
        assert_eq!(
            check(&a, c, &email_offer(p), w.now()).await.reason,
            Reason::NoConsent,
            "a withdrawal acknowledged through B is seen by A's next check"
        );
    }

    let text = key(Scope::Partner(p), "marketing", "*", "sms");
    assert_eq!(
        check(&a, c, &sms_offer(p), w.now()).await.reason,
        Reason::NoConsent
    );
    let by_b = w.grant(c, &k).await;
    let by_a = done(
        a.set_choice(
            c,
            text.clone(),
            Choice::grant("notice-v1"),
            Actor::Customer,
            w.tick(),
        )
        .await,
        "a choice through A on a stale cached state",
    );
    assert_eq!(
        by_a.receipt.seq,
        by_b.receipt.seq + 1,
        "A's change lands after B's"
    );
    assert_eq!(
        check(&a, c, &email_offer(p), w.now()).await.reason,
        Reason::Granted
    );
    assert_eq!(
        check(b, c, &sms_offer(p), w.now()).await.reason,
        Reason::Granted,
        "B sees A's change"
    );
    let history = w.history(c).await;
    tessera_core::verify(&history).expect("the chain verifies");
    assert_eq!(
        history.last().map(|e| (e.seq, e.hash)),
        Some((by_a.receipt.seq, by_a.receipt.entry_hash))
    );

    let tiny = w.another(store.clone(), 1).await;
    let mut customers = Vec::new();
    for i in 0..4 {
        let c = w.customer().await;
        if i % 2 == 0 {
            w.grant(c, &k).await;
        }
        customers.push((c, i % 2 == 0));
    }
    for round in 0..3 {
        for &(c, granted) in &customers {
            let d = check(&tiny, c, &email_offer(p), w.now()).await;
            assert_eq!(
                d.allowed(),
                granted ^ (round == 2),
                "a handle with a one-state cache answers for every customer"
            );
        }
        if round == 1 {
            for (c, granted) in &customers {
                if *granted {
                    w.refuse(*c, &k).await;
                } else {
                    w.grant(*c, &k).await;
                }
            }
        }
    }
}

/// Handles that write to one customer at once (each on its own clone of the store, their
/// calls interleaved between read and write): every `set_choice` lands, none is lost or
/// written twice, every receipt names its own entry, the chain verifies, and every handle
/// then sees every choice.
pub async fn concurrent_choices_all_land<S: Store>(store: &S) {
    const HANDLES: usize = 4;
    const PER_HANDLE: usize = 3;
    let shared = Interleaved::new(store.clone());
    let w = World::new(&shared).await;
    let every_channel = declaration(
        "marketing",
        &["contact"],
        &["email", "sms", "push", "phone"],
        LegalBasis::Consent,
    );
    let p = w
        .partner("airline", &[Role::Realizer], &[every_channel])
        .await;
    let c = w.customer().await;
    let mut handles = Vec::new();
    for _ in 0..HANDLES {
        handles.push(w.another(shared.clone(), 1_000).await);
    }
    let purposes = ["marketing", "marketing.offers", "marketing.newsletter"];
    let channels = ["email", "sms", "push", "phone"];
    let keys: Vec<ChoiceKey> = purposes
        .iter()
        .flat_map(|p| channels.iter().map(move |ch| (*p, *ch)))
        .map(|(p, ch)| key(Scope::Ecosystem, p, "*", ch))
        .collect();
    assert!(keys.len() >= HANDLES * PER_HANDLE);
    let clock = &w.clock;
    let results = join_all(handles.iter().enumerate().map(|(h, eco)| {
        let mine: Vec<ChoiceKey> = keys[h * PER_HANDLE..(h + 1) * PER_HANDLE].to_vec();
        async move {
            let mut receipts = Vec::new();
            for (i, k) in mine.into_iter().enumerate() {
                for _ in 0..(h + i) % 3 {
                    yield_now().await;
                }
                let result = eco
                    .set_choice(
                        c,
                        k.clone(),
                        Choice::grant(format!("notice-{h}-{i}")),
                        Actor::Customer,
                        clock.tick(),
                    )
                    .await;
                receipts.push((k, done(result, "a concurrent set_choice")));
            }
            receipts
        }
    }))
    .await;
    let receipts: Vec<(ChoiceKey, SignedReceipt)> = results.into_iter().flatten().collect();
    assert_eq!(receipts.len(), HANDLES * PER_HANDLE);
    assert!(
        shared.conflicts() > 0,
        "the writers raced: some appends lost and were retried"
    );

    let history = w.history(c).await;
    tessera_core::verify(&history).expect("the chain verifies");
    assert_eq!(
        history.len(),
        1 + HANDLES * PER_HANDLE,
        "every change landed once: none lost, none doubled"
    );
    let seqs: BTreeSet<u64> = receipts.iter().map(|(_, r)| r.receipt.seq).collect();
    assert_eq!(
        seqs.len(),
        receipts.len(),
        "every receipt names its own seq"
    );
    for (k, r) in &receipts {
        let entry = &history[(r.receipt.seq - 1) as usize];
        assert_eq!(entry.hash, r.receipt.entry_hash, "{k}: the receipt's entry");
        match &entry.change {
            CustomerChange::ChoiceSet { key, .. } => assert_eq!(key, k),
            other => panic!("{k}: seq {} holds {other:?}", r.receipt.seq),
        }
    }
    for eco in handles.iter().chain([&w.eco]) {
        let listed = done(eco.choices(c, clock.now()).await, "choices");
        assert_eq!(
            listed.len(),
            receipts.len(),
            "every handle sees every choice"
        );
        for (k, _) in &receipts {
            // The request only this key covers most specifically.
            let purpose = match k.purpose.as_str() {
                "marketing" => "marketing.partner_offers",
                other => other,
            };
            let request = ask(p, purpose, "contact.email", Some(k.channel.as_str()));
            let d = check(eco, c, &request, clock.now()).await;
            assert_eq!(
                d.winner.as_ref().map(|w| &*w.key),
                Some(k),
                "{k}: every handle's check sees the choice"
            );
        }
    }
}

// ----- capability tokens -------------------------------------------------------------------

/// `issue_token` refuses, with a typed error and without recording a token, a partner that
/// is not active (applied, suspended), an unknown partner or customer, a customer who grants
/// the partner nothing, and a lifetime that is not positive; a token it issues carries the
/// partner's pseudonym of the customer, the concrete grants and the consent version, and a
/// `Verifier` allows exactly those uses.
pub async fn issue_token_needs_active_partner_and_grant<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let suspended = w.partner("parking", &[Role::Realizer], &[offers()]).await;
    let applied = w.self_enrolled("hotel", &[Role::Realizer]).await;
    let c = w.customer().await;
    let silent = w.customer().await;
    w.grant(c, &key(Scope::Ecosystem, "marketing", "*", "email"))
        .await;
    done(w.eco.suspend_partner(suspended, w.tick()).await, "suspend");
    let late = w.partner("rental", &[Role::Realizer], &[offers()]).await;
    let issue = |customer, partner, ttl| w.eco.issue_token(customer, partner, ttl, w.now(), &w.rng);

    assert_eq!(
        failed(issue(c, applied.id, DEFAULT_TOKEN_TTL).await, "applied"),
        EcosystemError::PartnerInactive(applied.id)
    );
    assert_eq!(
        failed(issue(c, suspended, DEFAULT_TOKEN_TTL).await, "suspended"),
        EcosystemError::PartnerInactive(suspended)
    );
    assert_eq!(
        failed(issue(silent, p, DEFAULT_TOKEN_TTL).await, "no choices"),
        EcosystemError::NothingGranted
    );
    assert_eq!(
        failed(issue(c, late, DEFAULT_TOKEN_TTL).await, "not covered"),
        EcosystemError::NothingGranted,
        "a broad grant made before the partner joined grants it nothing"
    );
    let unknown = stranger_partner();
    assert_eq!(
        failed(
            issue(c, unknown, DEFAULT_TOKEN_TTL).await,
            "unknown partner"
        ),
        EcosystemError::UnknownPartner(unknown)
    );
    let nobody = stranger();
    assert_eq!(
        failed(
            issue(nobody, p, DEFAULT_TOKEN_TTL).await,
            "unknown customer"
        ),
        EcosystemError::UnknownCustomer(nobody)
    );
    assert!(matches!(
        failed(issue(c, p, Duration::ZERO).await, "no lifetime"),
        EcosystemError::Invalid(_)
    ));
    for who in [c, silent] {
        assert!(
            stored(w.eco.store().token_partners(who, w.now()).await, "holders").is_empty(),
            "a refused issuance records no token"
        );
    }

    let token = w.token(c, p).await;
    let sector = w
        .eco
        .ecosystem()
        .directory()
        .partner(p)
        .expect("a partner")
        .sector
        .clone();
    assert_eq!(token.claims.partner, p);
    assert_eq!(token.claims.subject, pseudonym_in(&sector, c));
    assert_eq!(
        token.claims.consent_version,
        w.history(c).await.last().map(|e| e.seq).unwrap_or(0)
    );
    let grants: BTreeSet<(String, String, Option<String>)> = token
        .claims
        .grants
        .iter()
        .map(|g| {
            (
                g.purpose.to_string(),
                g.data.to_string(),
                g.channel.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    let email = Some("email".to_string());
    assert_eq!(
        grants,
        BTreeSet::from([
            (
                "marketing.offers".into(),
                "contact.email".into(),
                email.clone()
            ),
            ("marketing.offers".into(), "contact.phone".into(), email),
        ]),
        "the declared uses the customer allows, as concrete tuples"
    );
    assert!(token.claims.expires_at <= w.now() + DEFAULT_TOKEN_TTL);
    assert_eq!(
        stored(w.eco.store().token_partners(c, w.now()).await, "holders"),
        vec![p]
    );

    let verifier = Verifier::new(ecosystem_id(), p, w.eco.token_keys());
    let none = RevocationSet::new();
    assert_eq!(
        verifier.check(&token.bytes, &email_use(w.now()), &none),
        TokenDecision::Allow {
            subject: pseudonym_in(&sector, c),
            consent_version: token.claims.consent_version,
        }
    );
    let text = Use {
        channel: Some("sms".parse().expect("a channel")),
        ..email_use(w.now())
    };
    assert_eq!(
        verifier.check(&token.bytes, &text, &none),
        TokenDecision::Deny(Denial::NotGranted)
    );
    let someone_else = Verifier::new(ecosystem_id(), late, w.eco.token_keys());
    assert_eq!(
        someone_else.check(&token.bytes, &email_use(w.now()), &none),
        TokenDecision::Deny(Denial::WrongPartner)
    );
}

/// A choice that takes any grant away from a partner revokes every live token of that
/// customer and partner: their revocation ids appear on the feed (cursors increasing) and a
/// `Verifier` whose revocation set is built from the feed denies them, even for uses still
/// granted; a change that takes nothing away from a partner (a refusal of what it never
/// had, a wider grant) revokes nothing of it; a token issued afterwards lives.
pub async fn withdrawal_revokes_tokens<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w
        .partner("airline", &[Role::Realizer], &[offers(), delivery()])
        .await;
    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    let p_text = key(Scope::Partner(p), "marketing", "*", "sms");
    let q_mail = key(Scope::Partner(q), "marketing", "*", "email");
    w.grant(c, &key(Scope::Partner(p), "marketing", "*", "email"))
        .await;
    w.grant(c, &p_text).await;
    w.grant(c, &q_mail).await;
    let tp = w.token(c, p).await;
    let tq = w.token(c, q).await;
    let at_p = Verifier::new(ecosystem_id(), p, w.eco.token_keys());
    let at_q = Verifier::new(ecosystem_id(), q, w.eco.token_keys());
    let start = w.feed().await;

    w.refuse(c, &key(Scope::Partner(q), "marketing", "*", "sms"))
        .await;
    w.grant(c, &key(Scope::Partner(p), "service", "*", "*"))
        .await;
    w.refuse(c, &key(Scope::Ecosystem, "analytics", "*", "*"))
        .await;
    assert!(
        new_on_feed(&start, &w.feed().await).is_empty(),
        "changes that take nothing away from any holder revoke nothing"
    );

    w.clear(c, &p_text).await;
    let feed = w.feed().await;
    let revoked = new_on_feed(&start, &feed);
    assert_eq!(
        ids_on(&revoked),
        ids_of(&tp),
        "withdrawing one of the partner's grants revokes its live tokens, and only those"
    );
    for r in &revoked {
        assert_eq!(r.partner, p);
        assert_eq!(r.expires_at, tp.claims.expires_at);
    }
    let set = revocation_set(&feed);
    assert_eq!(
        at_p.check(&tp.bytes, &email_use(w.now()), &set),
        TokenDecision::Deny(Denial::Revoked),
        "a revoked token is denied, even for a use still granted"
    );
    assert!(
        at_q.check(&tq.bytes, &email_use(w.now()), &set).allowed(),
        "another partner's token lives"
    );

    let fresh = w.token(c, p).await;
    assert!(
        fresh
            .claims
            .grants
            .iter()
            .all(|g| g.channel.as_ref().map(|c| c.as_str()) != Some("sms")),
        "a new token is cut from the new consent"
    );
    assert!(
        at_p.check(&fresh.bytes, &email_use(w.now()), &set)
            .allowed()
    );

    let before = w.feed().await;
    w.refuse(c, &q_mail).await;
    let feed = w.feed().await;
    assert_eq!(ids_on(&new_on_feed(&before, &feed)), ids_of(&tq));
    let set = revocation_set(&feed);
    assert_eq!(
        at_q.check(&tq.bytes, &email_use(w.now()), &set),
        TokenDecision::Deny(Denial::Revoked)
    );
    assert!(
        at_p.check(&fresh.bytes, &email_use(w.now()), &set)
            .allowed()
    );
    assert_eq!(
        failed(
            w.eco
                .issue_token(c, q, DEFAULT_TOKEN_TTL, w.tick(), &w.rng)
                .await,
            "a token after the only grant is refused"
        ),
        EcosystemError::NothingGranted
    );
}

/// Erasing a customer revokes every live token of that customer, for every partner, and
/// nobody else's; no token is issued for the erased customer.
pub async fn erase_revokes_tokens<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    let c = w.customer().await;
    let other = w.customer().await;
    let mail = key(Scope::Ecosystem, "marketing", "*", "email");
    w.grant(c, &mail).await;
    w.grant(other, &mail).await;
    let (tp, tq, kept) = (
        w.token(c, p).await,
        w.token(c, q).await,
        w.token(other, p).await,
    );
    let start = w.feed().await;

    done(w.eco.erase(c, w.tick()).await, "erase");
    let feed = w.feed().await;
    let expected: BTreeSet<String> = ids_of(&tp).union(&ids_of(&tq)).cloned().collect();
    assert_eq!(ids_on(&new_on_feed(&start, &feed)), expected);
    let set = revocation_set(&feed);
    let at_p = Verifier::new(ecosystem_id(), p, w.eco.token_keys());
    assert_eq!(
        at_p.check(&tp.bytes, &email_use(w.now()), &set),
        TokenDecision::Deny(Denial::Revoked)
    );
    assert!(
        at_p.check(&kept.bytes, &email_use(w.now()), &set).allowed(),
        "another customer's token lives"
    );
    assert_eq!(
        failed(
            w.eco
                .issue_token(c, p, DEFAULT_TOKEN_TTL, w.tick(), &w.rng)
                .await,
            "a token for an erased customer"
        ),
        EcosystemError::UnknownCustomer(c)
    );
}

/// A merge revokes every live token of the absorbed customer (they name its pseudonyms) and
/// the survivor's tokens of every partner that lost a grant to a winning refusal, and no
/// other; a token issued through the absorbed ID afterwards is the survivor's.
pub async fn merge_revokes_tokens<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    let survivor = w.customer().await;
    let absorbed = w.customer().await;
    let p_mail = key(Scope::Partner(p), "marketing", "*", "email");
    w.grant(survivor, &p_mail).await;
    w.grant(survivor, &key(Scope::Partner(q), "marketing", "*", "email"))
        .await;
    w.refuse(absorbed, &p_mail).await;
    w.grant(absorbed, &key(Scope::Partner(p), "marketing", "*", "sms"))
        .await;
    w.grant(absorbed, &key(Scope::Partner(q), "marketing", "*", "sms"))
        .await;
    let narrowed = w.token(survivor, p).await;
    let widened = w.token(survivor, q).await;
    let theirs = w.token(absorbed, p).await;
    let start = w.feed().await;

    done(w.eco.merge(survivor, absorbed, w.tick()).await, "merge");
    let feed = w.feed().await;
    let expected: BTreeSet<String> = ids_of(&narrowed).union(&ids_of(&theirs)).cloned().collect();
    assert_eq!(
        ids_on(&new_on_feed(&start, &feed)),
        expected,
        "the absorbed customer's tokens and the survivor's narrowed ones are revoked"
    );
    let set = revocation_set(&feed);
    let at_p = Verifier::new(ecosystem_id(), p, w.eco.token_keys());
    let at_q = Verifier::new(ecosystem_id(), q, w.eco.token_keys());
    let text = Use {
        channel: Some("sms".parse().expect("a channel")),
        data: "contact.phone".parse().expect("a category"),
        ..email_use(w.now())
    };
    assert_eq!(
        at_p.check(&theirs.bytes, &text, &set),
        TokenDecision::Deny(Denial::Revoked)
    );
    assert_eq!(
        at_p.check(&narrowed.bytes, &email_use(w.now()), &set),
        TokenDecision::Deny(Denial::Revoked)
    );
    assert!(
        at_q.check(&widened.bytes, &email_use(w.now()), &set)
            .allowed(),
        "a token the merge only widened lives"
    );

    let after = w.token(absorbed, p).await;
    let sector = w
        .eco
        .ecosystem()
        .directory()
        .partner(p)
        .expect("a partner")
        .sector
        .clone();
    assert_eq!(
        after.claims.subject,
        pseudonym_in(&sector, survivor),
        "a token issued through the absorbed ID is the survivor's"
    );
    assert!(at_p.check(&after.bytes, &text, &set).allowed());
}

/// Suspending a partner revokes every live token of that partner, for every customer, and
/// no other partner's; offboarding revokes the tokens issued after a reinstatement; neither
/// gets new tokens.
pub async fn partner_suspension_revokes_tokens<S: Store>(store: &S) {
    let w = World::new(store).await;
    let p = w.partner("airline", &[Role::Realizer], &[offers()]).await;
    let q = w.partner("hotel", &[Role::Realizer], &[offers()]).await;
    let c1 = w.customer().await;
    let c2 = w.customer().await;
    let mail = key(Scope::Ecosystem, "marketing", "*", "email");
    w.grant(c1, &mail).await;
    w.grant(c2, &mail).await;
    let (t1, t2, kept) = (
        w.token(c1, p).await,
        w.token(c2, p).await,
        w.token(c1, q).await,
    );
    let start = w.feed().await;

    done(w.eco.suspend_partner(p, w.tick()).await, "suspend");
    let feed = w.feed().await;
    let expected: BTreeSet<String> = ids_of(&t1).union(&ids_of(&t2)).cloned().collect();
    assert_eq!(
        ids_on(&new_on_feed(&start, &feed)),
        expected,
        "every customer's tokens of the suspended partner are revoked, and only those"
    );
    let set = revocation_set(&feed);
    let at_p = Verifier::new(ecosystem_id(), p, w.eco.token_keys());
    let at_q = Verifier::new(ecosystem_id(), q, w.eco.token_keys());
    for t in [&t1, &t2] {
        assert_eq!(
            at_p.check(&t.bytes, &email_use(w.now()), &set),
            TokenDecision::Deny(Denial::Revoked)
        );
    }
    assert!(at_q.check(&kept.bytes, &email_use(w.now()), &set).allowed());
    assert_eq!(
        failed(
            w.eco
                .issue_token(c1, p, DEFAULT_TOKEN_TTL, w.tick(), &w.rng)
                .await,
            "a token for a suspended partner"
        ),
        EcosystemError::PartnerInactive(p)
    );

    done(w.eco.reinstate_partner(p, w.tick()).await, "reinstate");
    let again = w.token(c1, p).await;
    assert!(
        at_p.check(&again.bytes, &email_use(w.now()), &set)
            .allowed()
    );
    let before = w.feed().await;
    done(w.eco.offboard_partner(p, w.tick()).await, "offboard");
    let feed = w.feed().await;
    assert_eq!(ids_on(&new_on_feed(&before, &feed)), ids_of(&again));
    assert_eq!(
        at_p.check(&again.bytes, &email_use(w.now()), &revocation_set(&feed)),
        TokenDecision::Deny(Denial::Revoked)
    );
}

// ----- a store whose calls interleave -------------------------------------------------------

/// A store whose every call yields once before it runs, so that facade calls polled together
/// take turns between their reads and their writes, even on a store whose own futures never
/// wait. It counts the customer appends that lost a race, to show that they did race.
#[derive(Clone)]
struct Interleaved<S>(S, Arc<AtomicUsize>);

impl<S> Interleaved<S> {
    fn new(store: S) -> Self {
        Self(store, Arc::new(AtomicUsize::new(0)))
    }

    /// How many customer appends failed with `Conflict` so far.
    fn conflicts(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }
}

impl<S: Store> LedgerStore for Interleaved<S> {
    async fn append(
        &self,
        customer: CustomerId,
        expected_seq: u64,
        entries: &[CustomerEntry],
    ) -> Result<(), StoreError> {
        yield_now().await;
        let result = self.0.append(customer, expected_seq, entries).await;
        if let Err(StoreError::Conflict(_)) = result {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    async fn read(
        &self,
        customer: CustomerId,
        from_seq: u64,
    ) -> Result<Vec<CustomerEntry>, StoreError> {
        yield_now().await;
        self.0.read(customer, from_seq).await
    }

    async fn last_seq(&self, customer: CustomerId) -> Result<u64, StoreError> {
        yield_now().await;
        self.0.last_seq(customer).await
    }

    async fn append_ecosystem(
        &self,
        expected_seq: u64,
        entries: &[EcosystemEntry],
    ) -> Result<(), StoreError> {
        yield_now().await;
        self.0.append_ecosystem(expected_seq, entries).await
    }

    async fn read_ecosystem(&self, from_seq: u64) -> Result<Vec<EcosystemEntry>, StoreError> {
        yield_now().await;
        self.0.read_ecosystem(from_seq).await
    }
}

impl<S: Store> IdentityStore for Interleaved<S> {
    async fn resolve(&self, identifier: &Identifier) -> Result<Option<CustomerId>, StoreError> {
        yield_now().await;
        self.0.resolve(identifier).await
    }

    async fn link(&self, identifier: &Identifier, customer: CustomerId) -> Result<(), StoreError> {
        yield_now().await;
        self.0.link(identifier, customer).await
    }

    async fn unlink(
        &self,
        identifier: &Identifier,
        customer: CustomerId,
    ) -> Result<(), StoreError> {
        yield_now().await;
        self.0.unlink(identifier, customer).await
    }

    async fn relink(
        &self,
        identifier: &Identifier,
        from: CustomerId,
        to: CustomerId,
    ) -> Result<(), StoreError> {
        yield_now().await;
        self.0.relink(identifier, from, to).await
    }

    async fn identifiers(&self, customer: CustomerId) -> Result<Vec<Identifier>, StoreError> {
        yield_now().await;
        self.0.identifiers(customer).await
    }

    async fn set_alias(
        &self,
        absorbed: CustomerId,
        survivor: CustomerId,
    ) -> Result<(), StoreError> {
        yield_now().await;
        self.0.set_alias(absorbed, survivor).await
    }

    async fn alias(&self, absorbed: CustomerId) -> Result<Option<CustomerId>, StoreError> {
        yield_now().await;
        self.0.alias(absorbed).await
    }

    async fn put_profile(
        &self,
        customer: CustomerId,
        profile: &serde_json::Value,
    ) -> Result<(), StoreError> {
        yield_now().await;
        self.0.put_profile(customer, profile).await
    }

    async fn profile(&self, customer: CustomerId) -> Result<Option<serde_json::Value>, StoreError> {
        yield_now().await;
        self.0.profile(customer).await
    }

    async fn erase(&self, customer: CustomerId) -> Result<(), StoreError> {
        yield_now().await;
        self.0.erase(customer).await
    }
}

impl<S: Store> PartnerStore for Interleaved<S> {
    async fn create_partner(&self, partner: &Partner) -> Result<(), StoreError> {
        yield_now().await;
        self.0.create_partner(partner).await
    }

    async fn partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        yield_now().await;
        self.0.partner(id).await
    }

    async fn partners(&self) -> Result<Vec<Partner>, StoreError> {
        yield_now().await;
        self.0.partners().await
    }

    async fn update_partner(
        &self,
        partner: &Partner,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        yield_now().await;
        self.0.update_partner(partner, expected_version).await
    }
}

impl<S: Store> PseudonymStore for Interleaved<S> {
    async fn put_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
        customer: CustomerId,
        replace: bool,
    ) -> Result<(), StoreError> {
        yield_now().await;
        self.0
            .put_pseudonym(sector, pseudonym, customer, replace)
            .await
    }

    async fn resolve_pseudonym(
        &self,
        sector: &SectorId,
        pseudonym: &Pseudonym,
    ) -> Result<Option<CustomerId>, StoreError> {
        yield_now().await;
        self.0.resolve_pseudonym(sector, pseudonym).await
    }

    async fn forget_pseudonyms(&self, customer: CustomerId) -> Result<(), StoreError> {
        yield_now().await;
        self.0.forget_pseudonyms(customer).await
    }
}

impl<S: Store> TokenStore for Interleaved<S> {
    async fn record_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        yield_now().await;
        self.0.record_token(record).await
    }

    async fn token_partners(
        &self,
        customer: CustomerId,
        now: OffsetDateTime,
    ) -> Result<Vec<PartnerId>, StoreError> {
        yield_now().await;
        self.0.token_partners(customer, now).await
    }

    async fn revoke_tokens(
        &self,
        customer: CustomerId,
        partner: Option<PartnerId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        yield_now().await;
        self.0.revoke_tokens(customer, partner, now).await
    }

    async fn revoke_partner_tokens(
        &self,
        partner: PartnerId,
        now: OffsetDateTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        yield_now().await;
        self.0.revoke_partner_tokens(partner, now).await
    }

    async fn revocations_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<Revocation>, StoreError> {
        yield_now().await;
        self.0.revocations_since(cursor, limit).await
    }
}
