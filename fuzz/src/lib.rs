//! Helpers shared by the fuzz targets: fixed times, a deterministic random source, and the
//! fixed token fixture (root key, claims, verifier) of `token_bytes` and `token_attenuation`.
//!
//! Everything here is deterministic, so that an input found by the fuzzer reproduces the
//! same run when it is replayed (`cargo fuzz run TARGET ARTIFACT`).

use std::collections::BTreeSet;

use tessera_core::token::{Claims, Grant, IssuedToken, KeySet, Operation, RootKey, Use, Verifier};
use tessera_core::{CustomerId, EcosystemId, PartnerId, PseudonymSecret, SectorId};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// Every time in the targets is some minutes or seconds after this.
pub const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

/// `T0 + minutes`.
pub fn minutes(m: i64) -> OffsetDateTime {
    T0 + Duration::minutes(m)
}

/// A deterministic "random" source: fills every byte with `byte`. `ring::rand::SecureRandom`
/// is sealed, so ring's own test implementation is the only one outside ring. Use a
/// different byte for every value that must differ (IDs made in the same millisecond,
/// ephemeral key pairs).
#[allow(deprecated)]
pub fn fixed_rng(byte: u8) -> ring::test::rand::FixedByteRandom {
    ring::test::rand::FixedByteRandom { byte }
}

/// Takes at most `max` items (fuzz inputs can ask for long vectors; the targets keep them
/// small so that one run stays fast).
pub fn cap<T>(mut v: Vec<T>, max: usize) -> Vec<T> {
    v.truncate(max);
    v
}

// ---------------------------------------------------------------------------------------
// The token fixture
// ---------------------------------------------------------------------------------------

/// The key id of the fixture's root key.
pub const ROOT_KEY_ID: u32 = 1;

/// The fixture's root key (fixed seed).
pub fn root_key() -> RootKey {
    match RootKey::from_seed(ROOT_KEY_ID, &[9; 32]) {
        Ok(k) => k,
        Err(e) => panic!("fixed seed is a valid key: {e}"),
    }
}

/// A second root key that the verifiers do not trust.
pub fn foreign_root_key() -> RootKey {
    match RootKey::from_seed(ROOT_KEY_ID, &[10; 32]) {
        Ok(k) => k,
        Err(e) => panic!("fixed seed is a valid key: {e}"),
    }
}

/// The fixture's ecosystem.
pub fn ecosystem_id() -> EcosystemId {
    EcosystemId::new("eco-fuzz").expect("a valid ecosystem id")
}

/// The partner the fixture's tokens are for.
pub fn token_partner() -> PartnerId {
    PartnerId::from_parts(T0, [2; 10])
}

/// Another partner (a confused deputy).
pub fn other_partner() -> PartnerId {
    PartnerId::from_parts(T0, [3; 10])
}

/// When the fixture's tokens expire.
pub const TOKEN_EXPIRES: OffsetDateTime = datetime!(2026-01-01 1:00 UTC);

/// Purposes, data categories and channels the token uses draw from: the granted ones and
/// near misses (a parent, a sibling, a child that is not granted).
pub const PURPOSES: [&str; 6] = [
    "marketing.offers",
    "service.delivery",
    "marketing",
    "analytics",
    "marketing.newsletter",
    "service",
];
/// Data categories of the uses.
pub const DATA: [&str; 5] = [
    "contact.email",
    "travel.itinerary",
    "contact.phone",
    "contact",
    "identity.name",
];
/// Channels of the uses (`None` is "no channel").
pub const CHANNELS: [Option<&str>; 4] = [Some("email"), None, Some("sms"), Some("push")];
/// Operations of the uses.
pub const OPERATIONS: [&str; 3] = ["send", "read", "export"];

/// The fixture's claims: several grants, one of each kind.
pub fn claims() -> Claims {
    let secret = PseudonymSecret::from_bytes(&[5; 32]).expect("a valid secret");
    let customer = CustomerId::from_parts(T0, [1; 10]);
    let grant = |p: &str, d: &str, c: Option<&str>| Grant {
        purpose: p.parse().expect("a valid purpose"),
        data: d.parse().expect("a valid category"),
        channel: c.map(|c| c.parse().expect("a valid channel")),
    };
    let grants: BTreeSet<Grant> = [
        grant("marketing.offers", "contact.email", Some("email")),
        grant("marketing.offers", "contact.phone", Some("sms")),
        grant("service.delivery", "travel.itinerary", None),
        grant("service.delivery", "contact.email", None),
        grant("analytics", "identity.name", None),
    ]
    .into_iter()
    .collect();
    Claims {
        ecosystem: ecosystem_id(),
        partner: token_partner(),
        subject: secret.pseudonym(&SectorId::of_partner(token_partner()), customer),
        grants,
        consent_version: 7,
        expires_at: TOKEN_EXPIRES,
    }
}

/// The fixture's token, issued with the fixed root key and a fixed ephemeral key.
pub fn issued_token() -> IssuedToken {
    match tessera_core::token::issue(&root_key(), &claims(), &fixed_rng(0x42)) {
        Ok(t) => t,
        Err(e) => panic!("the fixture token issues: {e}"),
    }
}

/// The key set that trusts the fixture's root key.
pub fn key_set() -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(ROOT_KEY_ID, &root_key().public_bytes())
        .expect("a valid public key");
    keys
}

/// A fresh verifier (empty cache) for `partner` in the fixture's ecosystem.
pub fn verifier(partner: PartnerId) -> Verifier {
    Verifier::new(ecosystem_id(), partner, key_set())
}

/// A use from small indices into the pools above, at `T0 + seconds`.
pub fn make_use(purpose: u8, data: u8, channel: u8, operation: u8, seconds: i64) -> Use {
    let pick = |i: u8, n: usize| usize::from(i) % n;
    Use {
        purpose: PURPOSES[pick(purpose, PURPOSES.len())]
            .parse()
            .expect("a valid purpose"),
        data: DATA[pick(data, DATA.len())]
            .parse()
            .expect("a valid category"),
        channel: CHANNELS[pick(channel, CHANNELS.len())].map(|c| c.parse().expect("a channel")),
        operation: Operation::new(OPERATIONS[pick(operation, OPERATIONS.len())])
            .expect("a valid operation"),
        at: T0 + Duration::seconds(seconds),
    }
}

// ---------------------------------------------------------------------------------------
// Outcome counts (TESSERA_FUZZ_STATS=1)
// ---------------------------------------------------------------------------------------

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

fn stats_on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("TESSERA_FUZZ_STATS").is_some())
}

static COUNTS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static RUNS: AtomicU64 = AtomicU64::new(0);

/// Counts one outcome (a decision reason, an error code, an operation) when
/// `TESSERA_FUZZ_STATS` is set, to check that the generators reach every rule.
pub fn stat(name: impl FnOnce() -> String) {
    if stats_on() {
        let mut counts = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(name()).or_default() += 1;
    }
}

/// Counts a run; prints the outcome counts after 2^k runs when `TESSERA_FUZZ_STATS` is set.
pub fn stats_tick() {
    if stats_on() {
        let n = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() && n >= 1024 {
            let counts = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
            eprintln!("STATS after {n} runs: {counts:?}");
        }
    }
}
