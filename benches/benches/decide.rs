//! `decide` against a bare `HashMap` hit, measured in the same run.
//!
//! Three customers with 10, 100 and 1,000 choices are built through
//! `ConsentState::record`, at keys spread over the scopes (ecosystem, the three roles, 20
//! partners), purposes, data categories and channels of the default catalog. Each is asked 64
//! different requests, cycled: hits won at partner, role and ecosystem scope, and misses that
//! fall through to rule 6. The baselines are `std::collections::HashMap` hits on 1,000,000
//! random `u64` keys: `hashmap_hit_1m_cold` cycles through all 1,000,000 keys in shuffled
//! order (a random-key hit, which misses the caches), `hashmap_hit_1m` through 4,096 of them
//! (a warm hit). Each customer is also timed paired with each baseline, pass by pass
//! (`tessera_benches::paired`), for ratios that hold on a busy machine.
//!
//! Run: `cargo bench -p tessera-benches --bench decide`. See `BENCHMARKS.md`.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_benches::{Rng, pattern};
use tessera_core::partner::DeclarationStatus;
use tessera_core::{
    Catalog, Choice, ChoiceKey, ConsentState, CustomerChange, Declaration, Directory, LegalBasis,
    Partner, PartnerId, PartnerStatus, Request, Role, Scope, decide,
};
use time::{Duration as Span, OffsetDateTime, macros::datetime};

/// Partners in the directory.
const PARTNERS: usize = 20;
/// Partners whose keys never name an `analytics` purpose or `*`: their analytics requests
/// are the misses.
const UNTOUCHED_FROM: usize = 16;
/// Requests per customer, cycled.
const REQUESTS: usize = 64;
/// Entries in the baseline map.
const MAP_ENTRIES: usize = 1_000_000;
/// Present keys the baseline cycles through; also the operations per paired pass.
const MAP_PROBES: usize = 4_096;
/// Rounds of the paired measurement (each: one pass of each side).
const PAIRED_ROUNDS: usize = 1_001;

/// The start of every stream.
const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);
/// The ecosystem position recorded with every broad choice: after every activation.
const BROAD_POSITION: u64 = 1_000;

/// The names of the default catalog, as strings.
struct Names {
    purposes: Vec<String>,
    data: Vec<String>,
    channels: Vec<String>,
    requires_channel: HashMap<String, bool>,
}

impl Names {
    fn of(catalog: &Catalog) -> Self {
        Self {
            purposes: catalog.purposes().map(|p| p.id.to_string()).collect(),
            data: catalog.data_categories().map(ToString::to_string).collect(),
            channels: catalog.channels().map(ToString::to_string).collect(),
            requires_channel: catalog
                .purposes()
                .map(|p| (p.id.to_string(), p.requires_channel))
                .collect(),
        }
    }

    fn requires_channel(&self, purpose: &str) -> bool {
        self.requires_channel[purpose]
    }

    /// `name` or one of its descendants in `all`, at random.
    fn refine(rng: &mut Rng, all: &[String], name: &str) -> String {
        let below: Vec<&String> = all
            .iter()
            .filter(|n| *n == name || n.starts_with(&format!("{name}.")))
            .collect();
        (*rng.pick(&below)).clone()
    }
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
        DeclarationStatus::Approved,
    )
}

fn roles_of(i: usize) -> Vec<Role> {
    match i {
        0 => vec![Role::Orchestrator],
        5 | 15 => vec![Role::Realizer, Role::Enabler],
        1..=13 => vec![Role::Realizer],
        _ => vec![Role::Enabler],
    }
}

/// 20 active partners, activated at ecosystem positions 1..=20, each declaring every purpose
/// family of the catalog over every top-level data category (and one narrower declaration).
fn directory() -> (Directory, Vec<PartnerId>) {
    let catalog = Catalog::default_travel();
    let mut directory = Directory::new(catalog);
    let all_data = [
        "contact", "identity", "location", "travel", "vehicle", "payment", "behavior", "loyalty",
    ];
    let all_channels = ["email", "sms", "push", "phone", "post", "in_app"];
    let mut ids = Vec::new();
    for i in 0..PARTNERS {
        let id = PartnerId::from_parts(T0 - Span::days(30), [i as u8; 10]);
        let mut partner = Partner::new(id, format!("partner {i}"), roles_of(i));
        let analytics_basis = if i % 2 == 0 {
            LegalBasis::LegitimateInterest
        } else {
            LegalBasis::Consent
        };
        partner.declarations = vec![
            declaration("marketing", &all_data, &all_channels, LegalBasis::Consent),
            declaration(
                "marketing.offers",
                &["contact.email", "contact.phone"],
                &["email", "sms", "push"],
                LegalBasis::Consent,
            ),
            declaration("service", &all_data, &[], LegalBasis::Contract),
            declaration("analytics", &all_data, &[], analytics_basis),
            declaration("personalization", &all_data, &[], LegalBasis::Consent),
            declaration("loyalty", &all_data, &[], LegalBasis::Contract),
        ];
        partner
            .set_status(PartnerStatus::Active, i as u64 + 1)
            .expect("applied to active");
        directory.insert(partner).expect("a new partner");
        ids.push(id);
    }
    (directory, ids)
}

/// A random key. Broad keys never name `*` or an `analytics` purpose, nor do the keys of the
/// partners from `UNTOUCHED_FROM` on, so analytics requests to those partners miss.
fn random_key(rng: &mut Rng, names: &Names, partners: &[PartnerId], tier: usize) -> ChoiceKey {
    let scope = match tier {
        0 => Scope::Ecosystem,
        1 => Scope::Role(*rng.pick(&Role::ALL)),
        _ => Scope::Partner(partners[rng.below(PARTNERS)]),
    };
    let untouched = match scope {
        Scope::Partner(p) => partners[UNTOUCHED_FROM..].contains(&p),
        _ => true,
    };
    let purpose = loop {
        let p = if !untouched && rng.percent() < 10 {
            "*".to_string()
        } else {
            rng.pick(&names.purposes).clone()
        };
        if !(untouched && (p == "*" || p.starts_with("analytics"))) {
            break p;
        }
    };
    let data = if rng.percent() < 25 {
        "*".to_string()
    } else {
        rng.pick(&names.data).clone()
    };
    let channel = if (purpose == "*" || names.requires_channel(&purpose)) && rng.percent() >= 40 {
        rng.pick(&names.channels).clone()
    } else {
        "*".to_string()
    };
    ChoiceKey {
        scope,
        purpose: pattern(&purpose),
        data: pattern(&data),
        channel: pattern(&channel),
    }
}

/// A customer with `n` choices at distinct keys, recorded through `ConsentState::record`:
/// registered, a contract relationship with the first half of the partners, `n` choices
/// (about 65 % grants, some expiring, a few already expired at the decision time), then
/// one in ten keys decided again. Returns the state and its keys.
fn customer(
    n: usize,
    directory: &Directory,
    partners: &[PartnerId],
    names: &Names,
) -> (ConsentState, Vec<ChoiceKey>) {
    let mut rng = Rng(n as u64);
    let mut state = ConsentState::new();
    let mut seq = 0;
    let mut record = |state: &mut ConsentState, change: CustomerChange| {
        seq += 1;
        state
            .record(seq, T0 + Span::minutes(seq as i64), &change)
            .expect("a valid change");
    };
    record(&mut state, CustomerChange::Registered);
    for &partner in &partners[..PARTNERS / 2] {
        record(&mut state, CustomerChange::RelationshipStarted { partner });
    }
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    while keys.len() < n {
        // Always one ecosystem and one role key; then ~8 % ecosystem, ~17 % role.
        let tier = match (keys.len(), rng.percent()) {
            (0, _) | (_, 0..8) => 0,
            (1, _) | (_, 8..25) => 1,
            _ => 2,
        };
        let key = random_key(&mut rng, names, partners, tier);
        key.validate(directory.catalog(), directory)
            .expect("a key that fits the catalog");
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    let now = T0 + Span::minutes(state.seq() as i64);
    let choices: Vec<Choice> = keys
        .iter()
        .map(|key| {
            let mut choice = if rng.percent() < 65 {
                Choice::grant("v3")
            } else {
                Choice::refuse()
            };
            match rng.percent() {
                0..10 => choice = choice.expiring(decision_time() + Span::days(180)),
                10..13 => choice = choice.expiring(now + Span::days(30)),
                _ => {}
            }
            if key.scope.is_broad() {
                choice.ecosystem_position = Some(BROAD_POSITION);
            }
            choice
        })
        .collect();
    for (key, choice) in keys.iter().zip(&choices) {
        let change = CustomerChange::ChoiceSet {
            key: key.clone(),
            choice: choice.clone(),
        };
        record(&mut state, change);
    }
    for (key, choice) in keys.iter().zip(&choices).step_by(10) {
        let mut again = if choice.is_grant() {
            Choice::refuse()
        } else {
            Choice::grant("v4")
        };
        again.ecosystem_position = choice.ecosystem_position;
        let change = CustomerChange::ChoiceSet {
            key: key.clone(),
            choice: again,
        };
        record(&mut state, change);
    }
    (state, keys)
}

/// When every decision is asked: a year after the streams start.
fn decision_time() -> OffsetDateTime {
    T0 + Span::days(365)
}

/// A request inside `key` (same partner or one in its scope, same or narrower names).
fn request_under(
    rng: &mut Rng,
    key: &ChoiceKey,
    directory: &Directory,
    partners: &[PartnerId],
    names: &Names,
) -> Request {
    let partner = match key.scope {
        Scope::Partner(p) => p,
        Scope::Ecosystem => partners[rng.below(PARTNERS)],
        Scope::Role(r) => loop {
            let p = partners[rng.below(PARTNERS)];
            if directory.partner(p).is_some_and(|p| p.has_role(r)) {
                break p;
            }
        },
    };
    let purpose = match key.purpose.value() {
        Some(p) => Names::refine(rng, &names.purposes, p.as_str()),
        None => rng.pick(&names.purposes).clone(),
    };
    let data = match key.data.value() {
        Some(d) => Names::refine(rng, &names.data, d.as_str()),
        None => rng.pick(&names.data).clone(),
    };
    let channel = names
        .requires_channel(&purpose)
        .then(|| match key.channel.value() {
            Some(c) => c.to_string(),
            None => rng.pick(&names.channels).clone(),
        });
    Request::new(partner, &purpose, &data, channel.as_deref()).expect("a valid request")
}

/// An analytics request to a partner no key names with analytics: it falls through to rule 6.
fn miss(rng: &mut Rng, partners: &[PartnerId], names: &Names) -> Request {
    let partner = partners[UNTOUCHED_FROM + rng.below(PARTNERS - UNTOUCHED_FROM)];
    let purpose = if rng.percent() < 50 {
        "analytics"
    } else {
        "analytics.usage"
    };
    let data = rng.pick(&names.data).clone();
    Request::new(partner, purpose, &data, None).expect("a valid request")
}

/// What decided a request: the winner's scope rank (0 ecosystem, 1 role, 2 partner) or,
/// for a miss, 3.
fn class(state: &ConsentState, directory: &Directory, request: &Request) -> usize {
    let decision = decide(state, directory, request, decision_time()).expect("a valid request");
    decision
        .winner
        .map_or(3, |w| usize::from(w.key.scope.rank()))
}

/// 64 different requests: 16 each won at partner, role and ecosystem scope, and 16 misses
/// (fewer of a kind when the customer has too few choices to supply them; the rest are
/// filled from the others), shuffled.
fn requests(
    state: &ConsentState,
    keys: &[ChoiceKey],
    directory: &Directory,
    partners: &[PartnerId],
    names: &Names,
) -> (Vec<Request>, [usize; 4]) {
    let mut rng = Rng(keys.len() as u64 ^ 0xD1CE);
    let mut by_class: [Vec<Request>; 4] = Default::default();
    let mut seen = HashSet::new();
    for attempt in 0..20_000 {
        let request = if attempt % 4 == 3 {
            miss(&mut rng, partners, names)
        } else {
            let key = rng.pick(keys);
            request_under(&mut rng, key, directory, partners, names)
        };
        if seen.insert(request.clone()) {
            by_class[class(state, directory, &request)].push(request);
        }
    }
    let quota = REQUESTS / 4;
    let mut chosen = Vec::new();
    let mut mix = [0; 4];
    for (c, requests) in by_class.iter_mut().enumerate() {
        let take = requests.len().min(quota);
        chosen.extend(requests.drain(..take));
        mix[c] = take;
    }
    for (c, requests) in by_class.iter_mut().enumerate() {
        let take = requests.len().min(REQUESTS - chosen.len());
        chosen.extend(requests.drain(..take));
        mix[c] += take;
    }
    assert_eq!(chosen.len(), REQUESTS, "not enough different requests");
    for i in (1..chosen.len()).rev() {
        chosen.swap(i, rng.below(i + 1));
    }
    (chosen, mix)
}

/// The baseline: a map of 1,000,000 random `u64` keys, 4,096 of its keys in random order
/// (the baseline), and every key in random order (for the cold reference).
fn baseline() -> (HashMap<u64, u32>, Vec<u64>, Vec<u64>) {
    let mut rng = Rng(0x5EED);
    let mut map = HashMap::with_capacity(MAP_ENTRIES);
    let mut all = Vec::with_capacity(MAP_ENTRIES);
    while map.len() < MAP_ENTRIES {
        let k = rng.next();
        if map.insert(k, (k & 0xFFFF) as u32).is_none() {
            all.push(k);
        }
    }
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i + 1));
    }
    let probes = all[..MAP_PROBES].to_vec();
    (map, probes, all)
}

fn bench(c: &mut Criterion) {
    let (directory, partners) = directory();
    let names = Names::of(directory.catalog());
    let t = decision_time();
    let (map, probes, all) = baseline();

    let mut group = c.benchmark_group("decide");
    group.bench_function("hashmap_hit_1m", |b| {
        let mut i = 0;
        b.iter(|| {
            let key = &probes[i % MAP_PROBES];
            i += 1;
            black_box(&map).get(black_box(key)).copied()
        });
    });
    // A reference, not the baseline of the target: every key once per pass, so nearly
    // every hit misses the caches and the TLB.
    group.bench_function("hashmap_hit_1m_cold", |b| {
        let mut i = 0;
        b.iter(|| {
            let key = &all[i];
            i += 1;
            if i == all.len() {
                i = 0;
            }
            black_box(&map).get(black_box(key)).copied()
        });
    });
    for n in [10, 100, 1_000] {
        let (state, keys) = customer(n, &directory, &partners, &names);
        let (requests, mix) = requests(&state, &keys, &directory, &partners, &names);
        eprintln!(
            "choices_{n}: {} choices in force; requests won at partner {}, role {}, \
             ecosystem {}, misses {}",
            state.choices_at(t).count(),
            mix[2],
            mix[1],
            mix[0],
            mix[3],
        );
        group.bench_function(format!("choices_{n}"), |b| {
            let mut i = 0;
            b.iter(|| {
                let request = &requests[i % REQUESTS];
                i += 1;
                decide(
                    black_box(&state),
                    black_box(&directory),
                    black_box(request),
                    black_box(t),
                )
            });
        });
        // The same loops paired, pass by pass (a ratio that holds on a busy machine): against
        // the warm hit, and against random keys of the whole map (4,096 others each round).
        let decisions = |_| {
            for i in 0..MAP_PROBES {
                black_box(
                    decide(
                        black_box(&state),
                        black_box(&directory),
                        black_box(&requests[i % REQUESTS]),
                        black_box(t),
                    )
                    .ok(),
                );
            }
        };
        tessera_benches::paired(
            &format!("decide bench: choices_{n}: decide / warm HashMap hit"),
            PAIRED_ROUNDS,
            |_| {
                for key in &probes {
                    black_box(black_box(&map).get(black_box(key)).copied());
                }
            },
            decisions,
        );
        tessera_benches::paired(
            &format!("decide bench: choices_{n}: decide / random-key HashMap hit"),
            PAIRED_ROUNDS,
            |r| {
                let from = (r * MAP_PROBES) % (all.len() - MAP_PROBES);
                for key in &all[from..from + MAP_PROBES] {
                    black_box(black_box(&map).get(black_box(key)).copied());
                }
            },
            decisions,
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .sample_size(50);
    targets = bench
}
criterion_main!(benches);
