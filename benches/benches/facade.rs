//! The `Ecosystem` facade on the memory store, each figure beside a baseline measured in the
//! same run, at 10,000 and at 1,000,000 registered customers with 10 choices each.
//!
//! - `check_<n>/decide`: a bare `tessera_core::decide` on the customer's state (replayed from
//!   the store once, up front) and the ecosystem's directory — the baseline.
//!   `check_<n>/check_warm`: `Ecosystem::check` of the same customers and requests with their
//!   states in the facade's cache. Both cycle through the same 4,096 (customer, request) pairs
//!   in the same order: 1,024 customers drawn from the whole population, 4 requests each,
//!   mixing granted, refused, legal-basis, no-consent and not-declared answers (the mix is
//!   printed). The facade's answers are checked equal to the bare rule's first, which also
//!   puts every checked state in the cache.
//! - `set_choice_<n>/core`: the pure work of one choice — `Entry::next` (canonical JSON and
//!   SHA-256), a clone of the state and `apply`, the orchestrator pseudonym (HMAC) and the
//!   signed receipt (Ed25519) — on a fixed state, so it does not grow. The baseline.
//!   `set_choice_<n>/set_choice`: `Ecosystem::set_choice`, alternating a grant and a refusal
//!   at one key, customer after customer through a rotation of 10,000 customers whose states
//!   are cached. A ledger is append-only, so every call adds an entry; the rotation spreads
//!   them, and the bench prints the longest ledger in the rotation afterwards to show how
//!   far the states grew (from 11 to about 17 entries).
//! - `check_parts_<n>`: the parts of a warm check that can be timed from outside the facade —
//!   the ecosystem snapshot, the ecosystem refresh (an empty read of the ecosystem ledger's
//!   tail), the store's `last_seq` and the request validation.
//!
//! Criterion measures a bench and its baseline seconds apart; on a shared machine whose load
//! changes in between, their ratio moves with it. So each pair is also timed **paired**:
//! rounds of one short pass over the baseline and one over the facade, in alternating order;
//! the median (and quartiles) of the per-round ratios is printed — the figure to read on a
//! busy machine — and the ratio of the fastest passes of each, which no other process
//! interrupted, as on an idle machine.
//!
//! The store is populated directly with `LedgerStore::append` of entries built with
//! `Entry::next` (as the facade builds them), on every available thread. The resident memory
//! of the process (`VmRSS`) is read before and after, and after caching the rotation's states,
//! and printed as bytes per customer and per cached state (the latter in the first world
//! only: later worlds reuse the memory the previous one freed).
//!
//! The memory store's futures never wait, so each call is polled once (`now_or_never`): the
//! figures hold no executor overhead.
//!
//! Run: `cargo bench -p tessera-benches --bench facade`; `TESSERA_FACADE_SIZES=10000` (a
//! comma-separated list) runs only the sizes given, e.g. under a profiler. See
//! `BENCHMARKS.md`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::FutureExt as _;
use tessera_benches::{Rng, pattern};
use tessera_core::partner::DeclarationStatus;
use tessera_core::token::RootKey;
use tessera_core::{
    Actor, Catalog, Choice, ChoiceKey, ConsentState, CustomerChange, CustomerEntry, CustomerId,
    Declaration, Ecosystem, EcosystemConfig, EcosystemId, LedgerStore, LegalBasis, Origin,
    PartnerId, PseudonymSecret, ReceiptSigner, Request, Role, Scope, Secrets, SectorId, decide,
};
use tessera_store_memory::MemoryStore;
use time::{Duration as Span, OffsetDateTime, macros::datetime};

/// Partners in the ecosystem.
const PARTNERS: usize = 20;
/// Customers the check cycles through.
const CHECKED: usize = 1_024;
/// Requests per checked customer.
const REQUESTS_EACH: usize = 4;
/// Customers `set_choice` rotates through (their states cached).
const ROTATION: usize = 10_000;
/// The facade's cache: large enough for the checked customers and the rotation together.
const CACHE: usize = 200_000;

/// The start of every stream.
const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);
/// "Now" for every check and choice: after every populated entry.
const NOW: OffsetDateTime = datetime!(2026-01-02 0:00 UTC);

/// Polls a memory-store future once: it never waits.
fn now<F: std::future::Future>(f: F) -> F::Output {
    f.now_or_never().expect("the memory store never waits")
}

fn declaration(
    purpose: &str,
    data: &[&str],
    channels: &[&str],
    legal_basis: LegalBasis,
) -> Declaration {
    tessera_benches::declaration(
        purpose,
        data,
        channels,
        legal_basis,
        DeclarationStatus::Pending,
    )
}

fn key(scope: Scope, purpose: &str, data: &str, channel: &str) -> ChoiceKey {
    ChoiceKey {
        scope,
        purpose: pattern(purpose),
        data: pattern(data),
        channel: pattern(channel),
    }
}

fn secrets() -> Secrets {
    Secrets {
        pseudonyms: PseudonymSecret::from_bytes(&[42; 32]).expect("a secret"),
        receipts: ReceiptSigner::from_seed(&[7; 32]).expect("a seed"),
        tokens: RootKey::from_seed(1, &[9; 32]).expect("a seed"),
    }
}

fn customer_id(i: usize) -> CustomerId {
    let mut random = [0u8; 10];
    random[2..].copy_from_slice(&(i as u64).to_be_bytes());
    CustomerId::from_parts(T0, random)
}

/// The 10 choices of customer `i`: broad and partner-scoped, grants and refusals, over the
/// catalog's purpose families; the partners named vary with `i`.
fn choices_of(i: usize, partners: &[PartnerId], position: u64) -> Vec<(ChoiceKey, Choice)> {
    let p = |k: usize| Scope::Partner(partners[(i * 7 + k * 3) % PARTNERS]);
    let grant = || Choice::grant("notice-v3");
    let broad = |mut c: Choice| {
        c.ecosystem_position = Some(position);
        c
    };
    vec![
        (
            key(Scope::Ecosystem, "marketing", "*", "email"),
            broad(grant()),
        ),
        (
            key(Scope::Ecosystem, "marketing", "*", "sms"),
            broad(Choice::refuse()),
        ),
        (
            key(Scope::Role(Role::Realizer), "service", "*", "*"),
            broad(grant()),
        ),
        if i.is_multiple_of(2) {
            (
                key(Scope::Ecosystem, "analytics", "*", "*"),
                broad(Choice::refuse()),
            )
        } else {
            (key(p(4), "analytics", "*", "*"), Choice::refuse())
        },
        (key(p(0), "marketing", "*", "*"), Choice::refuse()),
        (
            key(p(1), "marketing.offers", "contact.email", "email"),
            grant(),
        ),
        (key(p(2), "personalization", "*", "*"), grant()),
        (
            key(Scope::Role(Role::Enabler), "marketing", "*", "push"),
            broad(grant()),
        ),
        (key(Scope::Ecosystem, "loyalty", "*", "*"), broad(grant())),
        (
            key(p(3), "service.delivery", "travel.itinerary", "*"),
            Choice::refuse(),
        ),
    ]
}

/// The ledger of customer `i`: `registered`, then its 10 choices, a second apart.
fn ledger_of(i: usize, partners: &[PartnerId], position: u64) -> Vec<CustomerEntry> {
    let c = customer_id(i);
    let mut entries: Vec<CustomerEntry> = Vec::with_capacity(11);
    let registered = CustomerEntry::next(c, None, T0, Actor::Customer, CustomerChange::Registered)
        .expect("an entry");
    entries.push(registered);
    for (k, (key, choice)) in choices_of(i, partners, position).into_iter().enumerate() {
        let prev = entries.last().map(|e| (e.seq, e.hash));
        let entry = CustomerEntry::next(
            c,
            prev,
            T0 + Span::seconds(k as i64 + 1),
            Actor::Customer,
            CustomerChange::ChoiceSet { key, choice },
        )
        .expect("an entry");
        entries.push(entry);
    }
    entries
}

/// The process's resident memory, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// An ecosystem on a memory store holding `n` customers with 10 choices each.
struct World {
    eco: Ecosystem<MemoryStore>,
    partners: Vec<PartnerId>,
    n: usize,
}

fn world(n: usize) -> World {
    let rng = ring::rand::SystemRandom::new();
    let mut config = EcosystemConfig::new(
        EcosystemId::new("eco-bench").expect("an id"),
        Catalog::default_travel(),
    );
    config.cache_capacity = CACHE;
    let eco = now(Ecosystem::open(MemoryStore::new(), config, secrets(), T0)).expect("open");
    let mut partners = Vec::new();
    for i in 0..PARTNERS {
        let roles = if i % 4 == 3 {
            vec![Role::Enabler]
        } else {
            vec![Role::Realizer]
        };
        let p = now(eco.enrol_partner(
            &format!("partner {i}"),
            roles,
            None,
            Origin::Orchestrator,
            T0,
            &rng,
        ))
        .expect("enrol");
        let declarations = [
            declaration(
                "marketing",
                &["contact"],
                &["email", "sms", "push"],
                LegalBasis::Consent,
            ),
            declaration(
                "service",
                &["travel", "identity"],
                &[],
                LegalBasis::Contract,
            ),
            declaration(
                "analytics",
                &["behavior"],
                &[],
                LegalBasis::LegitimateInterest,
            ),
            declaration(
                "personalization",
                &["travel.preferences"],
                &[],
                LegalBasis::Consent,
            ),
        ];
        for d in declarations {
            now(eco.declare(p.id, d, Origin::Orchestrator, T0)).expect("declare");
        }
        partners.push(p.id);
    }
    let position = eco.ecosystem().position();

    let before = resident_bytes();
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |t| t.get());
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (store, partners) = (eco.store(), &partners);
            scope.spawn(move || {
                for i in (t..n).step_by(threads) {
                    let entries = ledger_of(i, partners, position);
                    now(store.append(customer_id(i), 0, &entries)).expect("append");
                }
            });
        }
    });
    let after = resident_bytes();
    eprintln!(
        "facade bench: {n} customers x 11 entries built and appended in {:.1} s on {threads} threads; \
         resident memory +{} MiB = {} bytes per customer with 10 choices",
        started.elapsed().as_secs_f64(),
        (after.saturating_sub(before)) >> 20,
        after.saturating_sub(before) / n as u64,
    );
    World { eco, partners, n }
}

/// The checked pairs: `(customer, its state, request)`, in a shuffled order.
fn checked(w: &World) -> Vec<(CustomerId, Arc<ConsentState>, Request)> {
    let mut rng = Rng(0x5eed);
    let kinds: [(&str, &str, Option<&str>); 7] = [
        ("marketing.offers", "contact.email", Some("email")),
        ("marketing.offers", "contact.phone", Some("sms")),
        ("marketing.newsletter", "contact.email", Some("push")),
        ("service.delivery", "travel.itinerary", None),
        ("analytics.usage", "behavior", None),
        ("personalization", "travel.preferences", None),
        ("marketing.offers", "payment.card", Some("email")),
    ];
    let mut pairs = Vec::with_capacity(CHECKED * REQUESTS_EACH);
    for _ in 0..CHECKED {
        let c = customer_id(rng.below(w.n));
        let entries = now(w.eco.store().read(c, 1)).expect("read");
        let state = Arc::new(ConsentState::replay(&entries).expect("a valid ledger"));
        for _ in 0..REQUESTS_EACH {
            let (purpose, data, channel) = kinds[rng.below(kinds.len())];
            let partner = w.partners[rng.below(PARTNERS)];
            let request = Request::new(partner, purpose, data, channel).expect("a request");
            pairs.push((c, Arc::clone(&state), request));
        }
    }
    for i in (1..pairs.len()).rev() {
        pairs.swap(i, rng.below(i + 1));
    }
    pairs
}

fn label(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{}m", n / 1_000_000)
    } else {
        format!("{}k", n / 1_000)
    }
}

fn bench_check(c: &mut Criterion, w: &World) {
    let pairs = checked(w);
    let eco_state = w.eco.ecosystem();
    let directory = eco_state.directory();
    // Warm the cache, and check that the facade and the bare rule agree on every pair.
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for (customer, state, request) in &pairs {
        let bare = decide(state, directory, request, NOW).expect("a valid request");
        let facade = now(w.eco.check(*customer, request, NOW)).expect("a check");
        assert_eq!(bare, facade, "the facade answers as the bare rule");
        *reasons.entry(bare.reason.code()).or_default() += 1;
    }
    eprintln!("facade bench: check mix {reasons:?}");

    // Criterion calls each routine once per sample: the cursors live outside, so that every
    // sample carries on through the pairs where the last one stopped.
    let (mut i, mut j) = (0, 0);
    let mut group = c.benchmark_group(format!("check_{}", label(w.n)));
    group.bench_function("decide", |b| {
        b.iter(|| {
            let (_, state, request) = &pairs[i % pairs.len()];
            i += 1;
            decide(
                black_box(state),
                black_box(directory),
                black_box(request),
                black_box(NOW),
            )
        });
    });
    group.bench_function("check_warm", |b| {
        b.iter(|| {
            let (customer, _, request) = &pairs[j % pairs.len()];
            j += 1;
            now(w
                .eco
                .check(black_box(*customer), black_box(request), black_box(NOW)))
        });
    });
    group.finish();
    // Passes of 512 pairs (about half a millisecond), moving through all the pairs.
    const PASS: usize = 512;
    let chunk = |r: usize| &pairs[(r * PASS) % pairs.len()..][..PASS];
    tessera_benches::paired(
        &format!(
            "facade bench: check_{}: warm check / bare decide",
            label(w.n)
        ),
        2_001,
        |r| {
            for (_, state, request) in chunk(r) {
                black_box(decide(black_box(state), directory, black_box(request), NOW).ok());
            }
        },
        |r| {
            for (customer, _, request) in chunk(r) {
                black_box(now(w.eco.check(black_box(*customer), black_box(request), NOW)).ok());
            }
        },
    );

    // The parts of a warm check that can be timed from outside the facade.
    let mut group = c.benchmark_group(format!("check_parts_{}", label(w.n)));
    group.bench_function("ecosystem_snapshot", |b| {
        b.iter(|| black_box(w.eco.ecosystem()))
    });
    group.bench_function("refresh_ecosystem", |b| {
        b.iter(|| now(w.eco.refresh_ecosystem()))
    });
    let mut k = 0;
    group.bench_function("store_last_seq", |b| {
        b.iter(|| {
            let (customer, _, _) = &pairs[k % pairs.len()];
            k += 1;
            now(w.eco.store().last_seq(black_box(*customer)))
        })
    });
    let mut k = 0;
    group.bench_function("validate_request", |b| {
        b.iter(|| {
            let (_, _, request) = &pairs[k % pairs.len()];
            k += 1;
            tessera_core::consent::validate_request(black_box(directory), black_box(request))
                .map(|p| p.id)
        })
    });
    group.finish();
}

fn bench_set_choice(c: &mut Criterion, w: &World, first: bool) {
    let rotation = ROTATION.min(w.n);
    let probe = Request::new(w.partners[0], "loyalty", "loyalty", None).expect("a request");
    let before = resident_bytes();
    for i in 0..rotation {
        now(w.eco.check(customer_id(i), &probe, NOW)).expect("warm the cache");
    }
    let after = resident_bytes();
    if first {
        eprintln!(
            "facade bench: {rotation} states cached: resident memory +{} KiB = {} bytes per cached state",
            after.saturating_sub(before) >> 10,
            after.saturating_sub(before) / rotation as u64,
        );
    } else {
        // The previous world's cache was freed and is reused: the growth says nothing.
        eprintln!(
            "facade bench: {rotation} states cached (memory measured in the first world only)"
        );
    }

    let alternated = key(Scope::Ecosystem, "marketing.newsletter", "*", "email");
    let signer = ReceiptSigner::from_seed(&[7; 32]).expect("a seed");
    let pseudonyms = PseudonymSecret::from_bytes(&[42; 32]).expect("a secret");
    let sector = SectorId::orchestrator_of(w.eco.ecosystem().id());
    let fixed = customer_id(0);
    let fixed_state = ConsentState::replay(&now(w.eco.store().read(fixed, 1)).expect("read"))
        .expect("a valid ledger");

    let mut k = 0u64;
    let mut core = || {
        k += 1;
        let choice = if k.is_multiple_of(2) {
            Choice::grant("notice-v3")
        } else {
            Choice::refuse()
        };
        let change = CustomerChange::ChoiceSet {
            key: alternated.clone(),
            choice,
        };
        let entry = CustomerEntry::next(fixed, fixed_state.head(), NOW, Actor::Customer, change)
            .expect("an entry");
        let mut next = black_box(&fixed_state).clone();
        next.apply(&entry).expect("apply");
        let principal = pseudonyms.pseudonym(&sector, fixed);
        signer.receipt(&entry, principal, NOW).expect("a receipt")
    };
    let mut m = 0usize;
    let mut facade = || {
        let customer = customer_id(m % rotation);
        let choice = if (m / rotation).is_multiple_of(2) {
            Choice::grant("notice-v3")
        } else {
            Choice::refuse()
        };
        m += 1;
        now(w.eco.set_choice(
            black_box(customer),
            alternated.clone(),
            choice,
            Actor::Customer,
            NOW,
        ))
        .expect("a choice")
    };
    let mut group = c.benchmark_group(format!("set_choice_{}", label(w.n)));
    group.bench_function("core", |b| b.iter(&mut core));
    group.bench_function("set_choice", |b| b.iter(&mut facade));
    group.finish();
    tessera_benches::paired(
        &format!("facade bench: set_choice_{}: set_choice / core", label(w.n)),
        201,
        |_| {
            for _ in 0..10 {
                black_box(core());
            }
        },
        |_| {
            for _ in 0..10 {
                black_box(facade());
            }
        },
    );

    let longest = (0..rotation)
        .map(|i| now(w.eco.store().last_seq(customer_id(i))).expect("last_seq"))
        .max()
        .unwrap_or(0);
    eprintln!(
        "facade bench: after set_choice the longest ledger in the rotation has {longest} entries (11 at the start)"
    );
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .sample_size(50)
        .configure_from_args();
    // `TESSERA_FACADE_SIZES=10000` (comma-separated) runs only some sizes, e.g. to profile.
    let sizes: Vec<usize> = std::env::var("TESSERA_FACADE_SIZES")
        .ok()
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().parse().expect("a number of customers"))
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 1_000_000]);
    for (k, n) in sizes.into_iter().enumerate() {
        let w = world(n);
        bench_check(&mut c, &w);
        bench_set_choice(&mut c, &w, k == 0);
    }
    c.final_summary();
}
