//! Test data and assertions shared by the behaviours.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use ring::rand::{SecureRandom, SystemRandom};
use tessera_core::partner::DeclarationStatus;
use tessera_core::{
    Actor, CustomerChange, CustomerEntry, CustomerId, Declaration, EcosystemChange, EcosystemEntry,
    EcosystemId, EntryHash, Identifier, LegalBasis, Origin, Partner, PartnerId, Pseudonym,
    PseudonymSecret, Role, SectorId, StoreError,
};
use time::OffsetDateTime;
use time::macros::datetime;

/// The time every fixture is recorded at (plus a few seconds per entry).
pub(crate) const T0: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

/// The ecosystem of the ledger fixtures, when the store's ecosystem ledger is empty.
pub(crate) fn ecosystem() -> EcosystemId {
    EcosystemId::new("eco-conformance").expect("a valid ecosystem id")
}

/// Another ecosystem than [`ecosystem`].
pub(crate) fn other_ecosystem() -> EcosystemId {
    EcosystemId::new("eco-conformance-other").expect("a valid ecosystem id")
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    bytes
}

/// A fresh random token, for names that must not collide with other tests' data.
pub(crate) fn unique(label: &str) -> String {
    let bytes: [u8; 8] = random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{label}-{hex}")
}

/// A fresh revocation id: 32 random bytes, lowercase hex.
pub(crate) fn revocation_id() -> String {
    let bytes: [u8; 32] = random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh customer ID.
pub(crate) fn customer() -> CustomerId {
    CustomerId::from_parts(T0, random())
}

/// A fresh partner ID.
pub(crate) fn partner_id() -> PartnerId {
    PartnerId::from_parts(T0, random())
}

/// A fresh e-mail identifier.
pub(crate) fn email(label: &str) -> Identifier {
    Identifier::email(&format!("{}@example.test", unique(label))).expect("a valid address")
}

/// A fresh federated identifier.
pub(crate) fn federated(label: &str) -> Identifier {
    Identifier::federated("https://idp.example.test", &unique(label)).expect("a valid account")
}

/// A fresh partner-account identifier.
pub(crate) fn partner_account(label: &str) -> Identifier {
    Identifier::partner_account(partner_id(), &unique(label)).expect("a valid account")
}

/// A fresh sector.
pub(crate) fn sector(label: &str) -> SectorId {
    SectorId::new(unique(label)).expect("a valid sector")
}

/// The pseudonym of `customer` in `sector` under a fixed test secret.
pub(crate) fn pseudonym(sector: &SectorId, customer: CustomerId) -> Pseudonym {
    PseudonymSecret::from_bytes(&[42; 32])
        .expect("a valid secret")
        .pseudonym(sector, customer)
}

/// A partner with every field set to something other than its default, so that a store that
/// drops or mangles a field is caught.
pub(crate) fn partner(name: &str) -> Partner {
    let id = partner_id();
    let mut p = Partner::new(id, unique(name), vec![Role::Realizer, Role::Enabler]);
    p.declarations = vec![
        Declaration {
            purpose: "marketing.offers".parse().expect("a valid purpose"),
            data: vec!["contact.email".parse().expect("a valid category")],
            channels: vec!["email".parse().expect("a valid channel")],
            legal_basis: LegalBasis::Consent,
            notice: "https://example.test/notice/v3 — «offers» ✈".into(),
            status: DeclarationStatus::Approved,
        },
        Declaration {
            purpose: "service".parse().expect("a valid purpose"),
            data: vec!["identity".parse().expect("a valid category")],
            channels: vec![],
            legal_basis: LegalBasis::Contract,
            notice: String::new(),
            status: DeclarationStatus::Pending,
        },
    ];
    p.set_status(tessera_core::PartnerStatus::Active, 7)
        .expect("applied partners can become active");
    p.sector = SectorId::new(unique("sector")).expect("a valid sector");
    p
}

/// The head `(seq, hash)` of a stream, to append after.
pub(crate) fn head<S, C>(entries: &[tessera_core::Entry<S, C>]) -> Option<(u64, EntryHash)> {
    entries.last().map(|e| (e.seq, e.hash))
}

/// The seq of a head (0 for none).
pub(crate) fn seq_of(head: Option<(u64, EntryHash)>) -> u64 {
    head.map_or(0, |(seq, _)| seq)
}

/// `n` customer entries chained after `prev` (the first is `Registered` when `prev` is
/// `None`); `label` goes into each entry so that entries of different writers differ.
pub(crate) fn customer_entries(
    customer: CustomerId,
    prev: Option<(u64, EntryHash)>,
    n: usize,
    label: &str,
) -> Vec<CustomerEntry> {
    let mut out: Vec<CustomerEntry> = Vec::with_capacity(n);
    let mut prev = prev;
    for k in 0..n {
        let change = if prev.is_none() {
            CustomerChange::Registered
        } else {
            CustomerChange::IdentifierLinked {
                kind: "email".into(),
                digest: format!("{label}/{k}"),
            }
        };
        let seq = seq_of(prev) + 1;
        let entry = CustomerEntry::next(
            customer,
            prev,
            T0 + time::Duration::seconds(seq as i64) + time::Duration::microseconds(k as i64),
            if k % 2 == 0 {
                Actor::Customer
            } else {
                Actor::Orchestrator
            },
            change,
        )
        .expect("entries can be built");
        prev = Some((entry.seq, entry.hash));
        out.push(entry);
    }
    out
}

/// `n` ecosystem entries of `stream` chained after `prev`.
pub(crate) fn ecosystem_entries(
    stream: &EcosystemId,
    prev: Option<(u64, EntryHash)>,
    n: usize,
    label: &str,
) -> Vec<EcosystemEntry> {
    let mut out: Vec<EcosystemEntry> = Vec::with_capacity(n);
    let mut prev = prev;
    for k in 0..n {
        let seq = seq_of(prev) + 1;
        let entry = EcosystemEntry::next(
            stream.clone(),
            prev,
            T0 + time::Duration::seconds(seq as i64),
            Actor::Orchestrator,
            EcosystemChange::PartnerEnrolled {
                partner: partner_id(),
                name: format!("{label}/{k}"),
                roles: vec![Role::Realizer],
                sector: None,
                origin: Origin::Orchestrator,
            },
        )
        .expect("entries can be built");
        prev = Some((entry.seq, entry.hash));
        out.push(entry);
    }
    out
}

/// The value of a store call that must succeed.
#[track_caller]
pub(crate) fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: expected success, the store failed with {e:?}"),
    }
}

/// Asserts that a store call failed with `Conflict`.
#[track_caller]
pub(crate) fn conflict<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected StoreError::Conflict, got {other:?}"),
    }
}

/// Asserts that a store call failed with `Invalid`.
#[track_caller]
pub(crate) fn invalid<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("{what}: expected StoreError::Invalid, got {other:?}"),
    }
}

/// Asserts that a store call failed with `NotFound`.
#[track_caller]
pub(crate) fn not_found<T: Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected StoreError::NotFound, got {other:?}"),
    }
}

/// Asserts that a stream read back from a store is a valid hash chain from seq 1.
#[track_caller]
pub(crate) fn verified<S, C>(entries: &[tessera_core::Entry<S, C>], what: &str)
where
    S: serde::Serialize + Clone + PartialEq,
    C: serde::Serialize,
{
    if let Err(e) = tessera_core::verify(entries) {
        panic!("{what}: the stream read back does not verify: {e}");
    }
}

/// Returns `Pending` once (waking itself at once), so that futures polled together take
/// turns even when the store's own futures never wait.
pub(crate) fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// The future of [`yield_now`].
pub(crate) struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
