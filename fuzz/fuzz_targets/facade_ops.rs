//! `facade_ops`: the `Ecosystem` facade over the in-memory store, driven by an arbitrary
//! sequence of operations and checked against a model written here.
//!
//! The ecosystem is fixed and small: the default travel catalog and three partners enrolled
//! by the orchestrator with declarations (a fourth can join later, which exercises the
//! disclosed-partners rule). The clock is fake and monotonic (each operation may advance it).
//! The operations: register, set and clear a choice, link (a one-time-code proof of an
//! address from a small pool), unlink, resolve, merge, erase, start and end a relationship,
//! suspend and reinstate a partner, enrol the late partner, check (now and as of an earlier
//! time), list choices and history, and issue a token.
//!
//! The model keeps, per customer, the list of its choices (keys in the order they were first
//! used), its relationships and identifiers, whether it is erased or merged away, and the
//! stream of changes the facade must have written, as a `NaiveState` of the naive decision
//! model (`core/tests/it/naive.rs`). It applies the facade's documented semantics: a merge
//! folds the absorbed customer's choices into the survivor with refusal winning on keys both
//! hold, moves the identifiers and redirects the absorbed customer to the survivor; an erased
//! customer answers `unknown_customer`; an identifier belongs to at most one customer, so
//! linking it to a second one fails with `IdentifierTaken`. `check` is answered by the naive
//! decision rule on the model's stream. Every result of the facade must be the one the model
//! predicts, errors included (by variant), and nothing may panic.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Arbitrary, Unstructured};
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use tessera_core::partner::DeclarationStatus;
use tessera_core::token::Grant;
use tessera_core::{
    Actor, Catalog, Choice, ChoiceKey, CustomerChange, CustomerId, Declaration, Ecosystem,
    EcosystemConfig, EcosystemError, Identifier, LegalBasis, Origin, PartnerId, PartnerStatus,
    Pattern, Proof, PseudonymSecret, ReceiptSigner, Request, Role, Scope, Secrets,
};
use tessera_fuzz::{T0, ecosystem_id, fixed_rng, root_key, stat, stats_tick};
use tessera_store_memory::MemoryStore;
use time::{Duration, OffsetDateTime};

#[allow(dead_code)]
#[path = "../../core/tests/it/naive.rs"]
mod naive;

use naive::NaiveState;

// ---------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------

/// Purposes of keys and requests: `*` (keys only), catalog purposes, one unknown.
const PURPOSES: [&str; 10] = [
    "*",
    "marketing",
    "marketing.offers",
    "marketing.partner_offers",
    "service",
    "service.delivery",
    "service.support",
    "analytics",
    "personalization",
    "marketing.spam",
];
const DATA: [&str; 10] = [
    "*",
    "contact",
    "contact.email",
    "contact.phone",
    "travel",
    "travel.itinerary",
    "vehicle",
    "payment",
    "behavior",
    "contact.fax",
];
const CHANNELS: [&str; 5] = ["*", "email", "sms", "push", "fax"];
const EMAILS: [&str; 4] = [
    "ada@example.test",
    "bob@example.test",
    "ADA@Example.test ",
    "cy@example.test",
];

fn pick<T>(items: &[T], i: u8) -> &T {
    &items[usize::from(i) % items.len()]
}

fn unknown_partner() -> PartnerId {
    PartnerId::from_parts(T0, [0xEE; 10])
}

fn never_registered() -> CustomerId {
    CustomerId::from_parts(T0, [0xDD; 10])
}

fn decl(purpose: &str, data: &[&str], channels: &[&str], basis: LegalBasis) -> Declaration {
    Declaration {
        purpose: purpose.parse().expect("valid"),
        data: data.iter().map(|d| d.parse().expect("valid")).collect(),
        channels: channels.iter().map(|c| c.parse().expect("valid")).collect(),
        legal_basis: basis,
        notice: String::new(),
        status: DeclarationStatus::Approved,
    }
}

/// The partners: three at the start, the fourth joins when an operation asks.
fn partner_specs() -> Vec<(&'static str, Vec<Role>, Vec<Declaration>)> {
    use LegalBasis::*;
    vec![
        (
            "airline",
            vec![Role::Realizer],
            vec![
                decl(
                    "marketing.offers",
                    &["contact.email", "contact.phone"],
                    &["email", "sms"],
                    Consent,
                ),
                decl("service", &["travel", "contact"], &[], Contract),
                decl("analytics", &["behavior"], &[], LegitimateInterest),
            ],
        ),
        (
            "parking",
            vec![Role::Realizer, Role::Enabler],
            vec![
                decl(
                    "marketing",
                    &["contact"],
                    &["email", "sms", "push"],
                    Consent,
                ),
                decl("service.delivery", &["vehicle"], &[], Contract),
            ],
        ),
        (
            "payments",
            vec![Role::Enabler],
            vec![
                decl(
                    "service.support",
                    &["payment", "contact.email"],
                    &[],
                    LegitimateInterest,
                ),
                decl(
                    "marketing.partner_offers",
                    &["contact.email"],
                    &["email"],
                    Consent,
                ),
            ],
        ),
        (
            "latecomer",
            vec![Role::Orchestrator, Role::Realizer],
            vec![
                decl("marketing", &["contact"], &["email"], Consent),
                decl("service", &["travel"], &[], Contract),
            ],
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The input
// ---------------------------------------------------------------------------------------

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawKey {
    scope: u8,
    purpose: u8,
    data: u8,
    channel: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawRequest {
    /// Where the request aims: 0 anywhere in the pools, 1 inside one of the partner's
    /// declarations, 2 at a key some customer set.
    aim: u8,
    partner: u8,
    purpose: u8,
    data: u8,
    /// Mostly the right shape for the purpose; sometimes any channel or none.
    channel: u8,
}

/// One operation; `kind` picks (with weights) which, the other fields fill it in.
#[derive(Arbitrary, Debug)]
struct Op {
    kind: u8,
    /// Seconds the clock advances first (mostly; sometimes not at all).
    dt: u8,
    /// A customer handle (registered customers, or one never registered).
    who: u8,
    /// A second customer handle, a partner, an address, …
    other: u8,
    key: RawKey,
    request: RawRequest,
    grant: bool,
    expires: Option<u8>,
    /// For sets: a key some customer used before (merges then meet keys both hold); for
    /// clears: one of the customer's keys (else `key`).
    reuse: bool,
}

#[derive(Debug)]
struct Input {
    /// Customer states the facade caches (small: evictions and re-reads happen).
    cache: u8,
    ops: Vec<Op>,
}

/// Operations are read back to back until the input ends (the derived `Vec` reading would
/// stop after each element with probability one half, so sequences would stay short).
impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let cache = u8::arbitrary(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(Op::arbitrary(u)?);
        }
        Ok(Self { cache, ops })
    }
}

/// The longest operation sequence one input runs.
const MAX_OPS: usize = 48;

// ---------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------

/// What the model expects of a call that fails.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Request(&'static str),
    UnknownCustomer(CustomerId),
    UnknownPartner(PartnerId),
    Invalid,
    IdentifierTaken,
    Ledger,
    PartnerInactive(PartnerId),
    NothingGranted,
}

fn matches(e: &EcosystemError, want: &Expected) -> bool {
    match (e, want) {
        (EcosystemError::Request(r), Expected::Request(code)) => r.code() == *code,
        (EcosystemError::UnknownCustomer(a), Expected::UnknownCustomer(b)) => a == b,
        (EcosystemError::UnknownPartner(a), Expected::UnknownPartner(b)) => a == b,
        (EcosystemError::Invalid(_), Expected::Invalid) => true,
        (EcosystemError::IdentifierTaken, Expected::IdentifierTaken) => true,
        (EcosystemError::Ledger(_), Expected::Ledger) => true,
        (EcosystemError::PartnerInactive(a), Expected::PartnerInactive(b)) => a == b,
        (EcosystemError::NothingGranted, Expected::NothingGranted) => true,
        _ => false,
    }
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(got: Result<T, EcosystemError>, want: Expected, what: &str) {
    stat(|| {
        let variant = format!("{want:?}");
        let variant = variant.split('(').next().unwrap_or("").to_string();
        format!("{} -> {variant}", what.split(' ').next().unwrap_or(what))
    });
    match got {
        Err(e) if matches(&e, &want) => {}
        other => panic!("{what}: expected {want:?}, got {other:?}"),
    }
}

#[track_caller]
fn expect_ok<T>(got: Result<T, EcosystemError>, what: &str) -> T {
    stat(|| format!("{what} -> ok"));
    match got {
        Ok(v) => v,
        Err(e) => panic!("{what}: expected success, got {e:?}"),
    }
}

struct Customer {
    id: CustomerId,
    /// Every change the facade must have written to the customer's stream.
    stream: NaiveState,
    seq: u64,
    /// Keys in the order they were first used, with the current choice and its seq.
    keys: Vec<(ChoiceKey, Option<(Choice, u64)>)>,
    relationships: BTreeSet<PartnerId>,
    /// Addresses (normalised) the ledger state holds a digest of.
    identifiers: BTreeSet<String>,
    erased: bool,
    merged_into: Option<usize>,
}

impl Customer {
    fn known(&self) -> bool {
        !self.erased && self.merged_into.is_none()
    }

    fn record(&mut self, now: OffsetDateTime, change: CustomerChange) {
        self.seq += 1;
        match &change {
            CustomerChange::ChoiceSet { key, choice } => {
                let slot = Some((choice.clone(), self.seq));
                match self.keys.iter_mut().find(|(k, _)| k == key) {
                    Some((_, c)) => *c = slot,
                    None => self.keys.push((key.clone(), slot)),
                }
            }
            CustomerChange::ChoiceCleared { key } => {
                if let Some((_, c)) = self.keys.iter_mut().find(|(k, _)| k == key) {
                    *c = None;
                }
            }
            CustomerChange::RelationshipStarted { partner } => {
                self.relationships.insert(*partner);
            }
            CustomerChange::RelationshipEnded { partner } => {
                self.relationships.remove(partner);
            }
            CustomerChange::IdentifierLinked { digest, .. } => {
                self.identifiers.insert(digest.clone());
            }
            CustomerChange::IdentifierUnlinked { digest } => {
                self.identifiers.remove(digest);
            }
            CustomerChange::Erased => {
                self.erased = true;
                self.identifiers.clear();
            }
            _ => {}
        }
        if let Err(e) = self.stream.record(self.seq, now, change.clone()) {
            panic!("the model's own stream refuses {change:?}: {e:?}");
        }
    }

    fn current(&self) -> impl Iterator<Item = (&ChoiceKey, &Choice, u64)> {
        self.keys
            .iter()
            .filter_map(|(k, c)| c.as_ref().map(|(c, s)| (k, c, *s)))
    }

    fn current_at(&self, key: &ChoiceKey) -> Option<&Choice> {
        self.current()
            .find(|(k, _, _)| *k == key)
            .map(|(_, c, _)| c)
    }
}

struct PartnerModel {
    id: PartnerId,
    roles: Vec<Role>,
    status: PartnerStatus,
    activated_at: u64,
}

struct Model {
    customers: Vec<Customer>,
    /// Identity store: address → owning customer.
    owner: BTreeMap<String, usize>,
    partners: Vec<PartnerModel>,
    /// The ecosystem ledger position.
    position: u64,
    late_enrolled: bool,
}

impl Model {
    fn canonical(&self, mut c: usize) -> usize {
        while let Some(next) = self.customers[c].merged_into {
            c = next;
        }
        c
    }

    fn partner(&self, id: PartnerId) -> Option<&PartnerModel> {
        self.partners.iter().find(|p| p.id == id)
    }
}

struct World {
    eco: Ecosystem<MemoryStore>,
    model: Model,
    /// Keys of the choices set so far, by any customer.
    used_keys: Vec<ChoiceKey>,
    catalog: Catalog,
    now: OffsetDateTime,
    rng_counter: u8,
}

impl World {
    fn rng(&mut self) -> impl ring::rand::SecureRandom + use<> {
        self.rng_counter = self.rng_counter.wrapping_add(1);
        fixed_rng(self.rng_counter)
    }

    /// The customer a handle names: a registered one, or (rarely) one never registered.
    fn customer(&self, who: u8) -> (Option<usize>, CustomerId) {
        let n = self.model.customers.len();
        if n == 0 || who % 16 == 15 {
            (None, never_registered())
        } else {
            let i = usize::from(who) % n;
            (Some(i), self.model.customers[i].id)
        }
    }

    /// A partner: the enrolled ones (the late one once it joined), else an unknown one.
    fn partner_ref(&self, i: u8) -> PartnerId {
        let all: Vec<PartnerId> = self.model.partners.iter().map(|p| p.id).collect();
        let k = usize::from(i) % 5;
        all.get(k).copied().unwrap_or_else(unknown_partner)
    }

    fn key(&self, k: RawKey) -> ChoiceKey {
        ChoiceKey {
            scope: match k.scope % 6 {
                0 => Scope::Ecosystem,
                1 | 2 => Scope::Role(*pick(&Role::ALL, k.scope / 6)),
                _ => Scope::Partner(self.partner_ref(k.scope / 6)),
            },
            purpose: pick(&PURPOSES, k.purpose).parse().expect("valid"),
            data: pick(&DATA, k.data).parse().expect("valid"),
            channel: pick(&CHANNELS, k.channel).parse().expect("valid"),
        }
    }

    fn request(&self, r: RawRequest) -> Request {
        let aimed = match r.aim % 3 {
            1 => self.aimed_request(r),
            2 => self.request_at_key(r),
            _ => None,
        };
        if let Some(request) = aimed {
            return request;
        }
        let purpose = pick(&PURPOSES[1..], r.purpose);
        let requires = self
            .catalog
            .spec()
            .purposes
            .iter()
            .find(|p| p.id.as_str() == *purpose)
            .is_some_and(|p| p.requires_channel);
        let channel = match r.channel % 8 {
            0..=5 if requires => Some(*pick(&CHANNELS[1..], r.channel / 8)),
            0..=5 => None,
            6 => None,
            _ => Some(*pick(&CHANNELS[1..], r.channel / 8)),
        };
        Request {
            partner: self.partner_ref(r.partner),
            purpose: purpose.parse().expect("valid"),
            data: pick(&DATA[1..], r.data).parse().expect("valid"),
            channel: channel.map(|c| c.parse().expect("valid")),
        }
    }

    /// A request inside one of the partner's declarations: a catalog purpose under its
    /// purpose, a category under one of its categories, one of its channels.
    fn aimed_request(&self, r: RawRequest) -> Option<Request> {
        let partner = self.partner_ref(r.partner);
        let eco = self.eco.ecosystem();
        let p = eco.directory().partner(partner)?;
        let d = p
            .declarations
            .get(usize::from(r.purpose) % p.declarations.len().max(1))?;
        let spec = self.catalog.spec();
        let purposes: Vec<_> = spec
            .purposes
            .iter()
            .filter(|x| d.purpose.contains(&x.id))
            .collect();
        let ps = purposes.get(usize::from(r.data) % purposes.len().max(1))?;
        let data: Vec<_> = spec
            .data
            .iter()
            .filter(|x| d.data.iter().any(|dd| dd.contains(x)))
            .collect();
        let data = data.get(usize::from(r.channel) % data.len().max(1))?;
        let channel = if ps.requires_channel {
            d.channels
                .get(usize::from(r.channel / 8) % d.channels.len().max(1))
                .cloned()
        } else {
            None
        };
        Some(Request {
            partner,
            purpose: ps.id.clone(),
            data: (*data).clone(),
            channel,
        })
    }

    /// A request a key some customer set covers: a partner in its scope, a catalog purpose
    /// and category under its own, its channel (or one the partner declared).
    fn request_at_key(&self, r: RawRequest) -> Option<Request> {
        if self.used_keys.is_empty() {
            return None;
        }
        let key = pick(&self.used_keys, r.partner);
        let eco = self.eco.ecosystem();
        let partners: Vec<_> = eco
            .directory()
            .partners()
            .filter(|p| key.scope.contains(p))
            .collect();
        let p = partners.get(usize::from(r.purpose) % partners.len().max(1))?;
        let spec = self.catalog.spec();
        let purposes: Vec<_> = spec
            .purposes
            .iter()
            .filter(|x| key.purpose.covers(&x.id))
            .collect();
        let ps = purposes.get(usize::from(r.data) % purposes.len().max(1))?;
        let data: Vec<_> = spec.data.iter().filter(|x| key.data.covers(x)).collect();
        let data = data.get(usize::from(r.channel) % data.len().max(1))?;
        let channel = match (&key.channel, ps.requires_channel) {
            (_, false) => None,
            (Pattern::Is(c), true) => Some(c.clone()),
            (Pattern::Any, true) => {
                let declared: Vec<_> = p.declarations.iter().flat_map(|d| &d.channels).collect();
                let c = declared.get(usize::from(r.channel / 8) % declared.len().max(1));
                Some((*c?).clone())
            }
        };
        Some(Request {
            partner: p.id,
            purpose: ps.id.clone(),
            data: (*data).clone(),
            channel,
        })
    }

    /// The model's `ChoiceKey::validate`: scans the catalog as written.
    fn key_error(&self, key: &ChoiceKey) -> Option<&'static str> {
        let spec = self.catalog.spec();
        let requires = match &key.purpose {
            Pattern::Any => None,
            Pattern::Is(p) => match spec.purposes.iter().find(|x| x.id == *p) {
                Some(x) => Some(x.requires_channel),
                None => return Some("unknown_purpose"),
            },
        };
        if let Pattern::Is(d) = &key.data
            && !spec.data.contains(d)
        {
            return Some("unknown_data");
        }
        if let Pattern::Is(c) = &key.channel {
            if !spec.channels.contains(c) {
                return Some("unknown_channel");
            }
            if requires == Some(false) {
                return Some("unexpected_channel");
            }
        }
        if let Scope::Partner(p) = key.scope
            && self.model.partner(p).is_none()
        {
            return Some("unknown_partner");
        }
        None
    }

    // ----- operations -------------------------------------------------------------------

    fn register(&mut self) {
        if self.model.customers.len() >= 6 {
            return;
        }
        let rng = self.rng();
        let id = expect_ok(block_on(self.eco.register(self.now, &rng)), "register");
        assert!(
            self.model.customers.iter().all(|c| c.id != id),
            "register returned a known ID"
        );
        let mut c = Customer {
            id,
            stream: NaiveState::for_customer(id),
            seq: 0,
            keys: Vec::new(),
            relationships: BTreeSet::new(),
            identifiers: BTreeSet::new(),
            erased: false,
            merged_into: None,
        };
        c.record(self.now, CustomerChange::Registered);
        self.model.customers.push(c);
    }

    fn set_choice(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let key = if op.reuse && !self.used_keys.is_empty() {
            pick(&self.used_keys, op.other).clone()
        } else {
            self.key(op.key)
        };
        let mut choice = if op.grant {
            Choice::grant("notice-v1")
        } else {
            Choice::refuse()
        };
        choice.expires_at = op
            .expires
            .map(|e| self.now + Duration::seconds(i64::from(e % 8) * 30));
        let got = block_on(self.eco.set_choice(
            id,
            key.clone(),
            choice.clone(),
            Actor::Customer,
            self.now,
        ));
        if let Some(code) = self.key_error(&key) {
            return expect_err(got, Expected::Request(code), "set_choice");
        }
        if choice.expires_at.is_some_and(|e| e <= self.now) {
            return expect_err(got, Expected::Invalid, "set_choice (expired)");
        }
        let Some(i) = idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(id), "set_choice");
        };
        let receipt = expect_ok(got, "set_choice");
        if !self.used_keys.contains(&key) {
            self.used_keys.push(key.clone());
        }
        choice.ecosystem_position = key.scope.is_broad().then_some(self.model.position);
        let now = self.now;
        let c = &mut self.model.customers[i];
        c.record(now, CustomerChange::ChoiceSet { key, choice });
        assert_eq!(receipt.receipt.seq, c.seq, "receipt seq");
        let checked = self.eco.receipt_key().verify(&receipt).map(|r| r.seq);
        assert_eq!(checked, Ok(c.seq), "the receipt verifies");
    }

    fn clear_choice(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let key = match idx {
            Some(i) if op.reuse && !self.model.customers[i].keys.is_empty() => {
                pick(&self.model.customers[i].keys, op.other).0.clone()
            }
            _ => self.key(op.key),
        };
        let got = block_on(
            self.eco
                .clear_choice(id, key.clone(), Actor::Customer, self.now),
        );
        let Some(i) = idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(id), "clear_choice");
        };
        if self.model.customers[i].current_at(&key).is_none() {
            return expect_err(got, Expected::Invalid, "clear_choice (nothing there)");
        }
        let receipt = expect_ok(got, "clear_choice");
        let now = self.now;
        let c = &mut self.model.customers[i];
        c.record(now, CustomerChange::ChoiceCleared { key });
        assert_eq!(receipt.receipt.seq, c.seq, "receipt seq");
    }

    fn address(&self, i: u8) -> (String, Identifier) {
        let raw = pick(&EMAILS, i);
        let id = Identifier::email(raw).expect("pool addresses are valid");
        let Identifier::Email { address } = &id else {
            unreachable!("an e-mail identifier")
        };
        (address.clone(), id)
    }

    fn link(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let (address, identifier) = self.address(op.other);
        let proof = Proof::verified_one_time_code(identifier).expect("e-mail can be proven");
        let got = block_on(self.eco.link(id, &proof, self.now));
        let Some(i) = idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(id), "link");
        };
        match self.model.owner.get(&address) {
            Some(&o) if o != i => return expect_err(got, Expected::IdentifierTaken, "link"),
            _ => {}
        }
        expect_ok(got, "link");
        self.model.owner.insert(address.clone(), i);
        let now = self.now;
        let c = &mut self.model.customers[i];
        if !c.identifiers.contains(&address) {
            c.record(
                now,
                CustomerChange::IdentifierLinked {
                    kind: "email".into(),
                    digest: address,
                },
            );
        }
    }

    fn unlink(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let (address, identifier) = self.address(op.other);
        let got = block_on(self.eco.unlink(id, &identifier, self.now));
        let Some(i) = idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(id), "unlink");
        };
        if self.model.owner.get(&address) != Some(&i) {
            return expect_err(got, Expected::Invalid, "unlink (not linked here)");
        }
        expect_ok(got, "unlink");
        self.model.owner.remove(&address);
        let now = self.now;
        let c = &mut self.model.customers[i];
        if c.identifiers.contains(&address) {
            c.record(now, CustomerChange::IdentifierUnlinked { digest: address });
        }
    }

    fn resolve(&mut self, op: &Op) {
        let (address, identifier) = self.address(op.other);
        let got = expect_ok(block_on(self.eco.resolve(&identifier)), "resolve");
        let want = self
            .model
            .owner
            .get(&address)
            .map(|&o| self.model.customers[self.model.canonical(o)].id);
        assert_eq!(got, want, "resolve({address})");
    }

    fn merge(&mut self, op: &Op) {
        let (s_idx, s_id) = self.customer(op.who);
        let (a_idx, a_id) = self.customer(op.other);
        let got = block_on(self.eco.merge(s_id, a_id, self.now));
        if s_id == a_id {
            return expect_err(got, Expected::Invalid, "merge into itself");
        }
        let Some(a) = a_idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(a_id), "merge (absorbed)");
        };
        let Some(s) = s_idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(s_id), "merge (survivor)");
        };
        let event = expect_ok(got, "merge");
        let now = self.now;
        // Fold the absorbed customer's choices into the survivor: refusal wins.
        let theirs: Vec<(ChoiceKey, Choice)> = self.model.customers[a]
            .current()
            .map(|(k, c, _)| (k.clone(), c.clone()))
            .collect();
        let mut changes = Vec::new();
        let mut refusals_won = Vec::new();
        for (key, their) in theirs {
            match self.model.customers[s].current_at(&key) {
                None => changes.push(CustomerChange::ChoiceSet { key, choice: their }),
                Some(ours) if ours.is_grant() && !their.is_grant() => {
                    refusals_won.push(key.clone());
                    changes.push(CustomerChange::ChoiceSet { key, choice: their });
                }
                Some(ours) if !ours.is_grant() && their.is_grant() => refusals_won.push(key),
                Some(_) => {}
            }
        }
        changes.push(CustomerChange::Merged {
            survivor: s_id,
            absorbed: a_id,
        });
        for change in changes {
            self.model.customers[s].record(now, change);
        }
        // Identifiers move (in address order), each linked in the survivor's ledger.
        let moved: Vec<String> = self
            .model
            .owner
            .iter()
            .filter(|(_, o)| **o == a)
            .map(|(addr, _)| addr.clone())
            .collect();
        for address in moved {
            self.model.owner.insert(address.clone(), s);
            let c = &mut self.model.customers[s];
            if !c.identifiers.contains(&address) {
                c.record(
                    now,
                    CustomerChange::IdentifierLinked {
                        kind: "email".into(),
                        digest: address,
                    },
                );
            }
        }
        let absorbed = &mut self.model.customers[a];
        absorbed.record(
            now,
            CustomerChange::Merged {
                survivor: s_id,
                absorbed: a_id,
            },
        );
        absorbed.merged_into = Some(s);
        assert_eq!(event.survivor, s_id);
        assert_eq!(event.absorbed, a_id);
        assert_eq!(event.refusals_won, refusals_won, "refusals that won");
        stat(|| format!("merge:refusals_won:{}", refusals_won.len().min(2)));
        assert_eq!(event.pseudonyms.len(), self.model.partners.len());
        assert!(
            event.pseudonyms.iter().all(|p| p.old != p.new),
            "pseudonyms change on merge"
        );
    }

    fn erase(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let got = block_on(self.eco.erase(id, self.now));
        let Some(i) = idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(id), "erase");
        };
        expect_ok(got, "erase");
        let now = self.now;
        self.model.customers[i].record(now, CustomerChange::Erased);
        self.model.owner.retain(|_, o| *o != i);
    }

    fn start_relationship(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let partner = self.partner_ref(op.other);
        let got = block_on(self.eco.start_relationship(id, partner, self.now));
        if self.model.partner(partner).is_none() {
            return expect_err(got, Expected::UnknownPartner(partner), "start_relationship");
        }
        let Some(i) = idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(id), "start_relationship");
        };
        if self.model.customers[i].relationships.contains(&partner) {
            return expect_err(got, Expected::Invalid, "start_relationship (active)");
        }
        expect_ok(got, "start_relationship");
        let now = self.now;
        self.model.customers[i].record(now, CustomerChange::RelationshipStarted { partner });
    }

    fn end_relationship(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let partner = self.partner_ref(op.other);
        let got = block_on(self.eco.end_relationship(id, partner, self.now));
        let Some(i) = idx.filter(|&i| self.model.customers[i].known()) else {
            return expect_err(got, Expected::UnknownCustomer(id), "end_relationship");
        };
        if !self.model.customers[i].relationships.contains(&partner) {
            return expect_err(got, Expected::Invalid, "end_relationship (none)");
        }
        expect_ok(got, "end_relationship");
        let now = self.now;
        self.model.customers[i].record(now, CustomerChange::RelationshipEnded { partner });
    }

    fn suspend(&mut self, op: &Op) {
        let partner = self.partner_ref(op.other);
        let got = block_on(self.eco.suspend_partner(partner, self.now));
        let Some(p) = self.model.partners.iter_mut().find(|p| p.id == partner) else {
            return expect_err(got, Expected::Ledger, "suspend (unknown partner)");
        };
        if p.status != PartnerStatus::Active {
            return expect_err(got, Expected::Ledger, "suspend (not active)");
        }
        expect_ok(got, "suspend");
        p.status = PartnerStatus::Suspended;
        self.model.position += 1;
    }

    fn reinstate(&mut self, op: &Op) {
        let partner = self.partner_ref(op.other);
        let got = block_on(self.eco.reinstate_partner(partner, self.now));
        let Some(p) = self.model.partners.iter_mut().find(|p| p.id == partner) else {
            return expect_err(got, Expected::UnknownPartner(partner), "reinstate");
        };
        if p.status != PartnerStatus::Suspended {
            return expect_err(got, Expected::Invalid, "reinstate (not suspended)");
        }
        expect_ok(got, "reinstate");
        p.status = PartnerStatus::Active;
        self.model.position += 1;
    }

    fn enrol_late(&mut self) {
        if self.model.late_enrolled {
            return;
        }
        self.model.late_enrolled = true;
        let (name, roles, decls) = partner_specs().remove(3);
        let rng = self.rng();
        let id = enrol(
            &self.eco,
            &mut self.model,
            name,
            roles,
            decls,
            self.now,
            &rng,
        );
        assert!(id != unknown_partner());
    }

    fn check(&mut self, op: &Op, back: Option<u8>) {
        let (idx, id) = self.customer(op.who);
        let request = self.request(op.request);
        let t = match back {
            Some(b) => self.now - Duration::seconds(i64::from(b) * 4),
            None => self.now,
        };
        let got = match back {
            Some(_) => block_on(self.eco.check_at(id, &request, t)),
            None => block_on(self.eco.check(id, &request, self.now)),
        };
        let eco = self.eco.ecosystem();
        let directory = eco.directory();
        let empty = NaiveState::new();
        // A customer merged away answers with its own ledger up to the merge, and with the
        // survivor's (at the end of the merge chain) from then on.
        let stream = match idx {
            Some(i) => {
                let c = &self.model.customers[i];
                let f = c.stream.fold_at(t);
                let known_at_t = f.registered && !f.erased && !f.merged_away;
                if c.merged_into.is_some() && !known_at_t {
                    &self.model.customers[self.model.canonical(i)].stream
                } else {
                    &c.stream
                }
            }
            None => &empty,
        };
        match naive::naive_decide(stream, directory, &request, t) {
            Err(code) => expect_err(got, Expected::Request(code), "check"),
            Ok(_) if idx.is_none() => {
                let d = expect_ok(got, "check (never registered)");
                assert_eq!(d.reason, tessera_core::Reason::UnknownCustomer);
            }
            Ok(want) => {
                let d = expect_ok(got, "check");
                let seen = (
                    d.reason,
                    d.allowed(),
                    d.winner.as_ref().map(|w| (ChoiceKey::clone(&w.key), w.seq)),
                );
                stat(|| format!("decision:{}", want.reason.code()));
                assert_eq!(
                    seen,
                    (want.reason, want.allowed, want.winner.clone()),
                    "check differs from the model (left: facade) for {request:?} at {t}"
                );
            }
        }
    }

    fn list(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let got = block_on(self.eco.choices(id, self.now));
        let history = block_on(self.eco.history(id));
        let Some(i) = idx else {
            expect_err(history, Expected::UnknownCustomer(id), "history");
            return expect_err(got, Expected::UnknownCustomer(id), "choices");
        };
        let c = &self.model.customers[i];
        let history = expect_ok(history, "history");
        assert_eq!(history.len() as u64, c.seq, "history length");
        if !c.known() {
            return expect_err(got, Expected::UnknownCustomer(id), "choices");
        }
        let listed = expect_ok(got, "choices");
        let seen: Vec<(ChoiceKey, Choice, u64, usize)> = listed
            .into_iter()
            .map(|l| (l.key, l.choice, l.seq, l.partners_joined_since))
            .collect();
        let want: Vec<(ChoiceKey, Choice, u64, usize)> = c
            .current()
            .map(|(k, ch, s)| {
                // Partners that joined after a broad grant are not covered by it (a broad
                // refusal covers them, so it counts none).
                let joined = match (k.scope, ch.ecosystem_position) {
                    (Scope::Partner(_), _) | (_, None) => 0,
                    _ if !ch.is_grant() => 0,
                    (scope, Some(pos)) => self
                        .model
                        .partners
                        .iter()
                        .filter(|p| p.status == PartnerStatus::Active)
                        .filter(|p| match scope {
                            Scope::Role(r) => p.roles.contains(&r),
                            _ => true,
                        })
                        .filter(|p| p.activated_at > pos)
                        .count(),
                };
                (k.clone(), ch.clone(), s, joined)
            })
            .collect();
        assert_eq!(seen, want, "listed choices");
    }

    fn issue_token(&mut self, op: &Op) {
        let (idx, id) = self.customer(op.who);
        let partner = self.partner_ref(op.other);
        let rng = self.rng();
        let got =
            block_on(
                self.eco
                    .issue_token(id, partner, Duration::minutes(10), self.now, &rng),
            );
        let Some(p) = self.model.partner(partner) else {
            return expect_err(got, Expected::UnknownPartner(partner), "issue_token");
        };
        if p.status != PartnerStatus::Active {
            return expect_err(got, Expected::PartnerInactive(partner), "issue_token");
        }
        let Some(i) = idx.map(|i| self.model.canonical(i)) else {
            return expect_err(got, Expected::UnknownCustomer(id), "issue_token");
        };
        let c = &self.model.customers[i];
        if !c.known() {
            let canonical = c.id;
            return expect_err(got, Expected::UnknownCustomer(canonical), "issue_token");
        }
        // Every concrete use inside the approved declarations that the naive rule allows.
        let eco = self.eco.ecosystem();
        let directory = eco.directory();
        let spec = self.catalog.spec();
        let mut grants = BTreeSet::new();
        let dp = directory.partner(partner).expect("known partner");
        for d in dp
            .declarations
            .iter()
            .filter(|d| d.status == DeclarationStatus::Approved)
        {
            for ps in spec.purposes.iter().filter(|ps| d.purpose.contains(&ps.id)) {
                for data in spec
                    .data
                    .iter()
                    .filter(|x| d.data.iter().any(|dd| dd.contains(x)))
                {
                    let channels: Vec<Option<_>> = if ps.requires_channel {
                        d.channels.iter().cloned().map(Some).collect()
                    } else {
                        vec![None]
                    };
                    for channel in channels {
                        let request = Request {
                            partner,
                            purpose: ps.id.clone(),
                            data: data.clone(),
                            channel: channel.clone(),
                        };
                        let allowed = naive::naive_decide(&c.stream, directory, &request, self.now)
                            .is_ok_and(|d| d.allowed);
                        if allowed {
                            grants.insert(Grant {
                                purpose: ps.id.clone(),
                                data: data.clone(),
                                channel,
                            });
                        }
                    }
                }
            }
        }
        if grants.is_empty() {
            return expect_err(got, Expected::NothingGranted, "issue_token");
        }
        let token = expect_ok(got, "issue_token");
        assert_eq!(token.claims.grants, grants, "token grants");
        assert_eq!(token.claims.partner, partner);
        assert_eq!(token.claims.consent_version, c.seq, "consent version");
        assert!(token.claims.expires_at <= self.now + Duration::minutes(10));
    }

    fn check_directory(&self) {
        let eco = self.eco.ecosystem();
        assert_eq!(eco.position(), self.model.position, "ecosystem position");
        for p in &self.model.partners {
            let got = eco.directory().partner(p.id).expect("enrolled partner");
            assert_eq!(got.status, p.status, "partner status");
            assert_eq!(
                got.activated_at,
                Some(p.activated_at),
                "activation position"
            );
        }
    }
}

fn enrol(
    eco: &Ecosystem<MemoryStore>,
    model: &mut Model,
    name: &str,
    roles: Vec<Role>,
    decls: Vec<Declaration>,
    now: OffsetDateTime,
    rng: &(dyn ring::rand::SecureRandom + Sync),
) -> PartnerId {
    let p = expect_ok(
        block_on(eco.enrol_partner(name, roles.clone(), None, Origin::Orchestrator, now, rng)),
        "enrol",
    );
    model.position += 1;
    assert_eq!(
        p.status,
        PartnerStatus::Active,
        "orchestrator enrolment is active"
    );
    model.partners.push(PartnerModel {
        id: p.id,
        roles,
        status: PartnerStatus::Active,
        activated_at: model.position,
    });
    for d in decls {
        expect_ok(
            block_on(eco.declare(p.id, d, Origin::Orchestrator, now)),
            "declare",
        );
        model.position += 1;
    }
    p.id
}

fn setup(cache: u8) -> World {
    let catalog = Catalog::default_travel();
    let mut config = EcosystemConfig::new(ecosystem_id(), catalog.clone());
    config.cache_capacity = usize::from(cache % 4) + 1;
    let secrets = Secrets {
        pseudonyms: PseudonymSecret::from_bytes(&[7; 32]).expect("a valid secret"),
        receipts: ReceiptSigner::from_seed(&[3; 32]).expect("a valid seed"),
        tokens: root_key(),
    };
    let eco = expect_ok(
        block_on(Ecosystem::open(MemoryStore::new(), config, secrets, T0)),
        "open",
    );
    let mut model = Model {
        customers: Vec::new(),
        owner: BTreeMap::new(),
        partners: Vec::new(),
        // Catalog and governance.
        position: 2,
        late_enrolled: false,
    };
    for (k, (name, roles, decls)) in partner_specs().into_iter().take(3).enumerate() {
        enrol(
            &eco,
            &mut model,
            name,
            roles,
            decls,
            T0,
            &fixed_rng(0xA0 + k as u8),
        );
    }
    World {
        eco,
        model,
        used_keys: Vec::new(),
        catalog,
        now: T0,
        rng_counter: 0,
    }
}

fn run(input: Input) {
    let mut w = setup(input.cache);
    w.check_directory();
    // Two customers from the start, so that merges and shared keys come early.
    w.register();
    w.register();
    for op in input.ops {
        if op.dt % 4 != 0 {
            w.now += Duration::seconds(i64::from(op.dt));
        }
        match op.kind % 64 {
            0..=5 => w.register(),
            6..=17 => w.set_choice(&op),
            18..=21 => w.clear_choice(&op),
            22..=25 => w.link(&op),
            26..=27 => w.unlink(&op),
            28 => w.resolve(&op),
            29..=31 => w.merge(&op),
            32 => w.erase(&op),
            33..=35 => w.start_relationship(&op),
            36..=37 => w.end_relationship(&op),
            38 => w.suspend(&op),
            39 => w.reinstate(&op),
            40 => w.enrol_late(),
            41..=52 => w.check(&op, None),
            53..=56 => w.check(&op, Some(op.other)),
            57..=59 => w.list(&op),
            _ => w.issue_token(&op),
        }
        w.check_directory();
    }
}

fuzz_target!(|input: Input| {
    run(input);
    stats_tick();
});
