//! The PostgreSQL store against the server it runs on, beside pgbench on the same server.
//!
//! - `pg_append/writers/1` and `/8`: `LedgerStore::append` of one entry (a `ChoiceSet`, the
//!   entry `set_choice` writes) by 1 and by 8 concurrent writers, each appending to a
//!   customer of its own after the head it holds (no read in between), through a store with
//!   one connection per writer. The entries are built before the clock starts. The baseline
//!   is pgbench's single-row insert of a row of the same shape (uuid, bigint, 32-byte hash,
//!   the same entry's hashed bytes as `bytea`, as the ledger keeps them) with 1 and 8 clients.
//! - `pg_check/cold/8`: `Ecosystem::check` by 8 concurrent callers (one connection each) with
//!   a facade cache of one state, so that every check misses it and reads the customer's
//!   whole stream (4 entries: registration and three choices) in one query, verifies the
//!   hash chain, folds it and decides. 4,096 customers, asked round robin; the server holds
//!   them all in its buffers. The baseline is pgbench's prepared select
//!   of one such row by primary key with 8 clients.
//! - `pg_check/warm/8`: the same with every state cached: one `last_seq` round trip per
//!   check, for reference.
//! - `pg_check/read/8`: the store's share of a cold check alone — `LedgerStore::read` of
//!   those 4-entry streams by 8 callers (one query, rows decoded into entries), without the
//!   facade's hash-chain verification, fold and decision.
//!
//! Each iteration is one operation, so criterion's time per iteration is the inverse of the
//! throughput. `TESSERA_PG_BENCH=append` (or `check`) runs one group only, so that a script
//! can put each beside its pgbench baseline in time. `scripts/bench-postgres` starts a throwaway server, runs this and pgbench on
//! it, and prints the ratios; `BENCHMARKS.md` has the figures. Without `DATABASE_URL` this
//! bench stops at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ring::rand::SystemRandom;
use tessera_core::partner::DeclarationStatus;
use tessera_core::{
    Actor, Catalog, Choice, ChoiceKey, CustomerChange, CustomerEntry, CustomerId, Declaration,
    Ecosystem, EcosystemConfig, EcosystemId, EntryHash, LedgerStore, LegalBasis, Origin, PartnerId,
    PseudonymSecret, ReceiptSigner, Request, Role, Scope, Secrets,
};
use tessera_store_postgres::{PostgresOptions, PostgresStore};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);
/// Customers asked in the check benches.
const CUSTOMERS: usize = 4_096;
/// Concurrent callers of the 8-way benches (and pgbench clients).
const CLIENTS: usize = 8;

fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: run this bench with scripts/bench-postgres")
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn store(connections: usize) -> PostgresStore {
    let store = PostgresOptions::from_url(&url())
        .expect("a valid DATABASE_URL")
        .max_connections(connections)
        .connect()
        .await
        .expect("connect to the bench database");
    store.migrate().await.expect("migrate");
    store
}

/// A customer ID no earlier run used: ten bytes from a counter and the clock.
fn customer(n: u64) -> CustomerId {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&(nanos ^ n.rotate_left(32)).to_be_bytes());
    random[8..].copy_from_slice(&(n as u16).to_be_bytes());
    CustomerId::from_parts(T0, random)
}

fn key(scope: Scope, purpose: &str, data: &str, channel: &str) -> ChoiceKey {
    ChoiceKey {
        scope,
        purpose: purpose.parse().expect("a purpose pattern"),
        data: data.parse().expect("a data pattern"),
        channel: channel.parse().expect("a channel pattern"),
    }
}

/// `n` `ChoiceSet` entries chained after `head`.
fn entries(c: CustomerId, head: &mut Option<(u64, EntryHash)>, n: usize) -> Vec<CustomerEntry> {
    (0..n)
        .map(|i| {
            let change = match head {
                None => CustomerChange::Registered,
                Some(_) => CustomerChange::ChoiceSet {
                    key: key(Scope::Ecosystem, "marketing", "*", "email"),
                    choice: Choice::grant(format!("notice-v{}", i % 7)),
                },
            };
            let e = CustomerEntry::next(c, *head, T0, Actor::Customer, change).expect("an entry");
            *head = Some((e.seq, e.hash));
            e
        })
        .collect()
}

fn group<'c>(
    c: &'c mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(15));
    g
}

/// Whether `TESSERA_PG_BENCH` (unset: every group) asks for this group.
fn wanted(group: &str) -> bool {
    std::env::var("TESSERA_PG_BENCH").map_or(true, |g| g.is_empty() || g == group)
}

fn appends(c: &mut Criterion) {
    if !wanted("append") {
        return;
    }
    let rt = runtime();
    let mut g = group(c, "pg_append");
    for writers in [1, CLIENTS] {
        let store = rt.block_on(store(writers));
        let mut heads: Vec<(CustomerId, Option<(u64, EntryHash)>)> =
            (0..writers).map(|w| (customer(w as u64), None)).collect();
        g.bench_function(BenchmarkId::new("writers", writers), |b| {
            b.iter_custom(|iters| {
                let work: Vec<_> = heads
                    .iter_mut()
                    .enumerate()
                    .map(|(w, (c, head))| {
                        let n = (iters as usize + writers - 1 - w) / writers;
                        let expected = head.map_or(0, |(seq, _)| seq);
                        (*c, expected, entries(*c, head, n))
                    })
                    .collect();
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = work
                        .into_iter()
                        .map(|(c, expected, batch)| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                for (i, e) in batch.iter().enumerate() {
                                    store
                                        .append(c, expected + i as u64, std::slice::from_ref(e))
                                        .await
                                        .expect("append");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("a writer");
                    }
                    start.elapsed()
                })
            });
        });
        rt.block_on(store.close());
    }
    g.finish();
}

/// A facade over `store` whose cache holds `cache` customer states.
async fn facade(store: PostgresStore, cache: usize) -> Arc<Ecosystem<PostgresStore>> {
    let rng = SystemRandom::new();
    let secrets = Secrets {
        pseudonyms: PseudonymSecret::generate(&rng).expect("a secret"),
        receipts: ReceiptSigner::generate(&rng).expect("a key"),
        tokens: tessera_core::token::RootKey::generate(1, &rng).expect("a key"),
    };
    let mut config = EcosystemConfig::new(
        EcosystemId::new("eco-bench").expect("an id"),
        Catalog::default_travel(),
    );
    config.cache_capacity = cache;
    let eco = Ecosystem::open(store, config, secrets, T0)
        .await
        .expect("open");
    Arc::new(eco)
}

/// One partner and `CUSTOMERS` customers of four entries each on a fresh store, and the
/// request every check asks.
async fn setup() -> (PostgresStore, Vec<CustomerId>, Request) {
    let rng = SystemRandom::new();
    let store = store(CLIENTS).await;
    let eco = facade(store.clone(), CUSTOMERS).await;
    let partner = eco
        .enrol_partner(
            "Bench Air",
            vec![Role::Realizer],
            None,
            Origin::Orchestrator,
            T0,
            &rng,
        )
        .await
        .expect("enrol");
    eco.declare(
        partner.id,
        Declaration {
            purpose: "marketing.offers".parse().expect("a purpose"),
            data: vec!["contact.email".parse().expect("a category")],
            channels: vec!["email".parse().expect("a channel")],
            legal_basis: LegalBasis::Consent,
            notice: "https://bench.example/notice".into(),
            status: DeclarationStatus::Pending,
        },
        Origin::Orchestrator,
        T0,
    )
    .await
    .expect("declare");
    let customers = seed(&eco, partner.id).await;
    let request = Request::new(
        partner.id,
        "marketing.offers",
        "contact.email",
        Some("email"),
    )
    .expect("a request");
    (store, customers, request)
}

async fn seed(eco: &Ecosystem<PostgresStore>, partner: PartnerId) -> Vec<CustomerId> {
    // Polled together on one task; the store's connections still work in parallel.
    let rng = SystemRandom::new();
    let seeder = |_| async {
        let mut mine = Vec::new();
        for _ in 0..CUSTOMERS / CLIENTS {
            let c = eco.register(T0, &rng).await.expect("register");
            let choices = [
                (
                    key(Scope::Ecosystem, "marketing", "*", "email"),
                    Choice::grant("v3"),
                ),
                (
                    key(Scope::Ecosystem, "marketing", "*", "sms"),
                    Choice::refuse(),
                ),
                (
                    key(Scope::Partner(partner), "marketing", "*", "*"),
                    Choice::grant("v3"),
                ),
            ];
            for (k, choice) in choices {
                eco.set_choice(c, k, choice, Actor::Customer, T0)
                    .await
                    .expect("set a choice");
            }
            mine.push(c);
        }
        mine
    };
    futures::future::join_all((0..CLIENTS).map(seeder))
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn checks(c: &mut Criterion) {
    if !wanted("check") {
        return;
    }
    let rt = runtime();
    let mut g = group(c, "pg_check");
    let (store, customers, request) = rt.block_on(setup());
    let (customers, request) = (Arc::new(customers), Arc::new(request));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    g.bench_function(BenchmarkId::new("read", CLIENTS), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..CLIENTS)
                    .map(|w| {
                        let n = (iters as usize + CLIENTS - 1 - w) / CLIENTS;
                        let (store, customers, next) =
                            (store.clone(), Arc::clone(&customers), Arc::clone(&next));
                        tokio::spawn(async move {
                            for _ in 0..n {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let who = customers[i % customers.len()];
                                let stream = store.read(who, 1).await.expect("read");
                                assert_eq!(stream.len(), 4);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("a reader");
                }
                start.elapsed()
            })
        });
    });
    for (name, cache) in [("cold", 1), ("warm", 2 * CUSTOMERS)] {
        let eco = rt.block_on(async {
            let eco = facade(store.clone(), cache).await;
            if cache > 1 {
                for &c in customers.iter() {
                    eco.check(c, &request, T0).await.expect("warm the cache");
                }
            }
            eco
        });
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        g.bench_function(BenchmarkId::new(name, CLIENTS), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..CLIENTS)
                        .map(|w| {
                            let n = (iters as usize + CLIENTS - 1 - w) / CLIENTS;
                            let (eco, customers, request, next) = (
                                Arc::clone(&eco),
                                Arc::clone(&customers),
                                Arc::clone(&request),
                                Arc::clone(&next),
                            );
                            tokio::spawn(async move {
                                for _ in 0..n {
                                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    let who = customers[i % customers.len()];
                                    let d = eco.check(who, &request, T0).await.expect("check");
                                    assert!(d.allowed(), "the partner-scope grant allows");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("a checker");
                    }
                    start.elapsed()
                })
            });
        });
    }
    rt.block_on(store.close());
    g.finish();
}

criterion_group!(benches, appends, checks);
criterion_main!(benches);
