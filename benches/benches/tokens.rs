//! Capability tokens: Tessera beside raw `biscuit-auth` on the same token, in the same run
//! and the same criterion group.
//!
//! Six tokens, all issued by `token::issue` from one root key:
//! - `journey`: six grants, like the hotel's token in the journey example;
//! - `journey_narrowed`: the same with the journey's narrowing (`sms`, `send`) appended by
//!   `token::attenuate` (a known-shape 2-block token);
//! - `grants100` and `grants100_narrowed`: a hundred grants, without and with the narrowing;
//! - `journey_foreign` and `grants100_foreign`: the plain tokens with one foreign block
//!   (`check if true;`), which the verifier answers with the datalog engine on every use.
//!
//! Groups (one per operation and token; `tessera` and `raw` side by side):
//! - `issue`: `token::issue` vs a raw `BiscuitBuilder` with the same facts, check and root
//!   key id (`raw`), and the same plus Tessera's claims context, precomputed
//!   (`raw_with_context`);
//! - `verify_first`: `Verifier::check` on a fresh verifier (built in the untimed setup, so
//!   every call verifies the signatures) vs `Biscuit::from(bytes, key)` + an
//!   `AuthorizerBuilder` with the facts and policy Tessera's verifier writes, under the same
//!   run limits, + `authorize()`;
//! - `verify_cached`: `Verifier::check` on a warm verifier (a cache hit) vs the same raw
//!   path (biscuit-auth has no cache), with `sha256_of_bytes` (the cache key alone) as the
//!   floor of a hit;
//! - `attenuate`: `token::attenuate` vs `UnverifiedBiscuit::from` + `append_with_keypair` of
//!   the same checks + `to_vec`.
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so that other jobs
//! on the machine do not stretch one function's figures and not its neighbour's;
//! `TESSERA_BENCH_CLOCK=wall` switches to wall-clock time.
//!
//! Run: `cargo bench -p tessera-benches --bench tokens`. See `BENCHMARKS.md`.

use std::collections::{BTreeSet, HashMap};
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{Algorithm, Term, fact};
use biscuit_auth::datalog::SymbolTable;
use biscuit_auth::{
    AuthorizerBuilder, Biscuit, BlockBuilder, KeyPair, PrivateKey, UnverifiedBiscuit,
};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion};
use ring::rand::{SecureRandom, SystemRandom};
use tessera_core::token::{
    self, Claims, Grant, KeySet, Narrowing, Operation, RUN_LIMITS, RevocationSet, RootKey, Use,
    Verifier,
};
use tessera_core::{Catalog, CustomerId, EcosystemId, PartnerId, PseudonymSecret, SectorId};
use time::OffsetDateTime;
use time::macros::datetime;

const ROOT_SEED: [u8; 32] = [0x7e; 32];
const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

struct Fixture {
    name: &'static str,
    claims: Claims,
    bytes: Vec<u8>,
    /// The same token with the journey's narrowing.
    narrowed: Vec<u8>,
    /// The same token with one foreign block (`check if true;`): not known-shape, so the
    /// verifier runs the datalog engine on every use.
    foreign: Vec<u8>,
}

fn grant(purpose: &str, data: &str, channel: Option<&str>) -> Grant {
    Grant {
        purpose: purpose.parse().expect("a purpose"),
        data: data.parse().expect("a data category"),
        channel: channel.map(|c| c.parse().expect("a channel")),
    }
}

fn claims(grants: BTreeSet<Grant>) -> Claims {
    let partner = PartnerId::from_parts(datetime!(2026-01-01 0:00 UTC), [0xb2; 10]);
    let secret = PseudonymSecret::from_bytes(&[0x5e; 32]).expect("a secret");
    let customer = CustomerId::from_parts(datetime!(2026-01-01 0:00 UTC), [0xc1; 10]);
    Claims {
        ecosystem: EcosystemId::new("eco-family-trip").expect("an ecosystem"),
        partner,
        subject: secret.pseudonym(&SectorId::of_partner(partner), customer),
        grants,
        consent_version: 12,
        expires_at: NOW + time::Duration::minutes(10),
    }
}

/// Six grants, like the journey's hotel token.
fn journey_grants() -> BTreeSet<Grant> {
    [
        grant("marketing.offers", "contact.email", Some("email")),
        grant("marketing.offers", "contact.email", Some("sms")),
        grant("marketing.offers", "contact.phone", Some("email")),
        grant("marketing.offers", "contact.phone", Some("sms")),
        grant("service.delivery", "travel.itinerary", None),
        grant("service.notifications", "contact.phone", None),
    ]
    .into()
}

/// A hundred concrete uses of the default catalog (the channel-taking purposes first).
fn hundred_grants() -> BTreeSet<Grant> {
    let catalog = Catalog::default_travel();
    let mut out = BTreeSet::new();
    for p in catalog.purposes() {
        for d in catalog.data_categories() {
            let channels: Vec<Option<String>> = if p.requires_channel {
                catalog.channels().map(|c| Some(c.to_string())).collect()
            } else {
                vec![None]
            };
            for c in channels {
                out.insert(grant(p.id.as_str(), d.as_str(), c.as_deref()));
            }
        }
    }
    // Keep the ones with `sms` (the use the benches ask) and fill up to 100.
    let mut picked: BTreeSet<Grant> = out
        .iter()
        .filter(|g| g.channel.as_ref().is_some_and(|c| c.as_str() == "sms"))
        .take(50)
        .cloned()
        .collect();
    for g in out {
        if picked.len() == 100 {
            break;
        }
        picked.insert(g);
    }
    picked.insert(grant("marketing.offers", "contact.phone", Some("sms")));
    while picked.len() > 100 {
        let last = picked.iter().next_back().cloned().expect("a grant");
        picked.remove(&last);
    }
    assert!(picked.contains(&grant("marketing.offers", "contact.phone", Some("sms"))));
    picked
}

fn narrowing() -> Narrowing {
    Narrowing {
        channels: Some(["sms".to_string()].into()),
        operations: Some([Operation::new("send").expect("an operation")].into()),
        ..Narrowing::default()
    }
}

fn the_use() -> Use {
    Use {
        purpose: "marketing.offers".parse().expect("a purpose"),
        data: "contact.phone".parse().expect("a data category"),
        channel: Some("sms".parse().expect("a channel")),
        operation: Operation::new("send").expect("an operation"),
        at: NOW,
    }
}

fn fixture(name: &'static str, grants: BTreeSet<Grant>, root: &RootKey) -> Fixture {
    let rng = SystemRandom::new();
    let claims = claims(grants);
    let issued = token::issue(root, &claims, &rng).expect("a token");
    let narrowed = token::attenuate(&issued.bytes, &narrowing(), &rng).expect("a narrowed token");
    let foreign = UnverifiedBiscuit::from(&issued.bytes)
        .and_then(|t| t.append(BlockBuilder::new().code("check if true;")?))
        .and_then(|t| t.to_vec())
        .expect("a token with a foreign block");
    Fixture {
        name,
        claims: issued.claims,
        bytes: issued.bytes,
        narrowed,
        foreign,
    }
}

fn root_pair() -> KeyPair {
    KeyPair::from(&PrivateKey::from_bytes(&ROOT_SEED, Algorithm::Ed25519).expect("a key"))
}

fn fresh_keypair(rng: &dyn SecureRandom) -> KeyPair {
    let mut seed = [0u8; 32];
    rng.fill(&mut seed).expect("randomness");
    KeyPair::from(&PrivateKey::from_bytes(&seed, Algorithm::Ed25519).expect("a key"))
}

/// The raw biscuit-auth token with Tessera's facts and check (and, if given, its context).
fn raw_issue(c: &Claims, context: Option<&str>, root: &KeyPair, rng: &dyn SecureRandom) -> Vec<u8> {
    let s = |v: &str| Term::Str(v.to_string());
    let mut b = Biscuit::builder().root_key_id(1);
    if let Some(ctx) = context {
        b = b.context(ctx.to_string());
    }
    b = b
        .fact(fact("ecosystem", &[s(c.ecosystem.as_str())]))
        .expect("a fact")
        .fact(fact("partner", &[s(&c.partner.to_string())]))
        .expect("a fact")
        .fact(fact("subject", &[s(&c.subject.to_string())]))
        .expect("a fact");
    for g in &c.grants {
        let channel = g.channel.as_ref().map_or("", |c| c.as_str());
        b = b
            .fact(fact(
                "grant",
                &[s(g.purpose.as_str()), s(g.data.as_str()), s(channel)],
            ))
            .expect("a fact");
    }
    b = b
        .fact(fact(
            "consent_version",
            &[Term::Integer(c.consent_version as i64)],
        ))
        .expect("a fact")
        .code_with_params(
            "check if time($t), $t <= {exp};",
            HashMap::from([(
                "exp".to_string(),
                Term::Date(c.expires_at.unix_timestamp() as u64),
            )]),
            HashMap::new(),
        )
        .expect("a check");
    b.build_with_key_pair(root, SymbolTable::new(), &fresh_keypair(rng))
        .expect("a token")
        .to_vec()
        .expect("bytes")
}

/// Raw biscuit-auth from bytes to an answer, with the facts and policy Tessera's verifier
/// writes.
fn raw_check(bytes: &[u8], c: &Claims, u: &Use, root: biscuit_auth::PublicKey) -> bool {
    let biscuit = Biscuit::from(bytes, root).expect("a valid token");
    let channel = u.channel.as_ref().map_or("", |c| c.as_str());
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u.at.unix_timestamp() as u64);
    let params = HashMap::from([
        ("time".to_string(), Term::from(at)),
        ("purpose".to_string(), Term::Str(u.purpose.to_string())),
        ("data".to_string(), Term::Str(u.data.to_string())),
        ("channel".to_string(), Term::Str(channel.into())),
        (
            "operation".to_string(),
            Term::Str(u.operation.as_str().into()),
        ),
        ("me".to_string(), Term::Str(c.partner.to_string())),
        ("eco".to_string(), Term::Str(c.ecosystem.to_string())),
    ]);
    let code = "time({time}); purpose({purpose}); data({data}); channel({channel}); operation({operation});
        allow if partner({me}), ecosystem({eco}), grant($p, $d, $c), purpose($p), data($d), channel($c);
        deny if true;";
    let mut authorizer = AuthorizerBuilder::new()
        .code_with_params(code, params, HashMap::new())
        .expect("authorizer code")
        .set_limits(RUN_LIMITS)
        .build(&biscuit)
        .expect("an authorizer");
    authorizer.authorize().is_ok()
}

/// The checks `token::attenuate` writes for [`narrowing`], built with raw biscuit-auth.
fn raw_narrowing_block() -> BlockBuilder {
    let set = |v: &str| Term::Set([Term::Str(v.to_string())].into());
    BlockBuilder::new()
        .code_with_params(
            "check if channel($c), {v}.contains($c);",
            HashMap::from([("v".to_string(), set("sms"))]),
            HashMap::new(),
        )
        .expect("a check")
        .code_with_params(
            "check if operation($o), {v}.contains($o);",
            HashMap::from([("v".to_string(), set("send"))]),
            HashMap::new(),
        )
        .expect("a check")
}

fn benches<M: Measurement>(c: &mut Criterion<M>) {
    let root = RootKey::from_seed(1, &ROOT_SEED).expect("a root key");
    let pair = root_pair();
    let public = pair.public();
    let mut keys = KeySet::new();
    keys.insert(1, &root.public_bytes()).expect("a key");
    let rng = SystemRandom::new();
    let none = RevocationSet::new();
    let u = the_use();
    let fixtures = [
        fixture("journey", journey_grants(), &root),
        fixture("grants100", hundred_grants(), &root),
    ];

    for f in &fixtures {
        let context = format!(
            "tessera/token/1 {}",
            serde_json::to_string(&f.claims).expect("claims JSON")
        );
        eprintln!(
            "{}: {} grants, {} bytes (of which the claims context {}); narrowed {} bytes",
            f.name,
            f.claims.grants.len(),
            f.bytes.len(),
            context.len(),
            f.narrowed.len()
        );
        let mut g = c.benchmark_group(format!("issue/{}", f.name));
        g.bench_function("tessera", |b| {
            b.iter(|| token::issue(&root, black_box(&f.claims), &rng).expect("a token"))
        });
        g.bench_function("raw", |b| {
            b.iter(|| raw_issue(black_box(&f.claims), None, &pair, &rng))
        });
        g.bench_function("raw_with_context", |b| {
            b.iter(|| raw_issue(black_box(&f.claims), Some(&context), &pair, &rng))
        });
        g.finish();

        for (shape, bytes) in [
            ("", &f.bytes),
            ("_narrowed", &f.narrowed),
            ("_foreign", &f.foreign),
        ] {
            let warm = Verifier::new(f.claims.ecosystem.clone(), f.claims.partner, keys.clone());
            assert!(warm.check(bytes, &u, &none).allowed());
            assert_eq!(
                warm.verify(bytes).expect("verifies").is_known_shape(),
                shape != "_foreign"
            );
            assert!(raw_check(bytes, &f.claims, &u, public));

            let mut g = c.benchmark_group(format!("verify_first/{}{shape}", f.name));
            g.bench_function("tessera", |b| {
                b.iter_batched_ref(
                    || Verifier::new(f.claims.ecosystem.clone(), f.claims.partner, keys.clone()),
                    |v| v.check(black_box(bytes), &u, &none),
                    BatchSize::SmallInput,
                )
            });
            g.bench_function("raw", |b| {
                b.iter(|| raw_check(black_box(bytes), &f.claims, &u, public))
            });
            g.finish();

            let mut g = c.benchmark_group(format!("verify_cached/{}{shape}", f.name));
            g.bench_function("tessera", |b| {
                b.iter(|| warm.check(black_box(bytes), &u, &none))
            });
            // What a hit costs at least: the cache key is the SHA-256 of the whole token.
            g.bench_function("sha256_of_bytes", |b| {
                b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(bytes)))
            });
            g.bench_function("raw", |b| {
                b.iter(|| raw_check(black_box(bytes), &f.claims, &u, public))
            });
            g.finish();
        }

        let mut g = c.benchmark_group(format!("attenuate/{}", f.name));
        let n = narrowing();
        g.bench_function("tessera", |b| {
            b.iter(|| token::attenuate(black_box(&f.bytes), &n, &rng).expect("a narrowed token"))
        });
        g.bench_function("raw", |b| {
            b.iter(|| {
                UnverifiedBiscuit::from(black_box(&f.bytes))
                    .expect("a token")
                    .append_with_keypair(&fresh_keypair(&rng), raw_narrowing_block())
                    .expect("appended")
                    .to_vec()
                    .expect("bytes")
            })
        });
        g.finish();
    }
}

/// The calling thread's CPU time. This machine class has 2 vCPUs shared with other jobs:
/// wall-clock medians of the same function moved by 2–3× between runs under their load,
/// while the time the thread actually runs does not count the time it waits for a core.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_now().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Thread CPU time by default; `TESSERA_BENCH_CLOCK=wall` measures wall-clock time instead.
fn main() {
    if std::env::var("TESSERA_BENCH_CLOCK").is_ok_and(|v| v == "wall") {
        let mut c = config().configure_from_args();
        benches(&mut c);
        c.final_summary();
    } else {
        let mut c = config()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        benches(&mut c);
        c.final_summary();
    }
}
