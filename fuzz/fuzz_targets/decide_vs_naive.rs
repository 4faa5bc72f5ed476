//! `decide_vs_naive`: the fast `tessera_core::decide` against the naive reference model of
//! the decision rule (`core/tests/it/naive.rs`), on a structured input.
//!
//! The input is a small catalog built from a fixed pool of names (parents always present, a
//! purpose requires a channel when it or an ancestor does), 1–4 partners with roles, status,
//! activation position and declarations, a sequence of recorded changes (choices set and
//! cleared, relationships started and ended, erasure, and a few registrations, identifier
//! links and merges) with increasing seqs and arbitrary times, expiries and ecosystem
//! positions, and a batch of requests at arbitrary times.
//!
//! Checked: every change is accepted by `ConsentState` exactly when the naive model accepts
//! it (by `record` with seq gaps, or by `apply` of hash-chained entries in ledger mode); then
//! for every request both give the same error code, or the same reason, allowance and
//! winning key and seq; and both agree on the choices in force at the request's time. No
//! panic anywhere.

#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tessera_core::catalog::{CatalogSpec, PurposeSpec};
use tessera_core::partner::DeclarationStatus;
use tessera_core::{
    Actor, Catalog, Choice, ChoiceKey, ConsentState, CustomerChange, CustomerId, Declaration,
    Directory, Entry, LegalBasis, Partner, PartnerId, PartnerStatus, Pattern, Request, Role, Scope,
    decide,
};
use tessera_fuzz::{T0, stat, stats_tick};
use time::{Duration, OffsetDateTime};

#[allow(dead_code)]
#[path = "../../core/tests/it/naive.rs"]
mod naive;

use naive::{NaiveDecision, NaiveState};

/// Segments of purpose and data names. The same names are purposes, categories and
/// channels at once, so requests often hit the keys of the choices.
const SEGMENTS: [&str; 4] = ["a", "b", "x", "email"];
const CHANNELS: [&str; 4] = ["email", "sms", "x", "a"];
/// Syntactically valid names that no generated catalog contains.
const UNKNOWN: [&str; 3] = ["zz", "a.zz", "b.a.zz"];

// ---------------------------------------------------------------------------------------
// The raw input
// ---------------------------------------------------------------------------------------

#[derive(Arbitrary, Debug)]
struct RawPath {
    segs: [u8; 3],
    len: u8,
}

impl RawPath {
    fn segments(&self) -> Vec<u8> {
        let n = usize::from(self.len % 3) + 1;
        self.segs[..n].iter().map(|s| s % 4).collect()
    }
}

#[derive(Arbitrary, Debug)]
struct RawCatalog {
    purposes: Vec<(RawPath, bool)>,
    data: Vec<RawPath>,
    /// Bitmask over `CHANNELS` (at least one is kept).
    channels: u8,
    /// List the purposes children first (the catalog must not care).
    reverse: bool,
}

#[derive(Arbitrary, Debug)]
struct RawDecl {
    purpose: u8,
    data: Vec<u8>,
    channels: Vec<u8>,
    basis: u8,
    pending: u8,
    /// Use the roots of the picked purpose and data (wide declarations).
    widen: bool,
}

#[derive(Arbitrary, Debug)]
struct RawPartner {
    /// Bitmask over `Role::ALL`.
    roles: u8,
    status: u8,
    activated_at: Option<u8>,
    decls: Vec<RawDecl>,
}

/// A partner index, or (rarely) a partner that the directory does not contain.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawPartnerRef(u8);

/// A catalog name by index, or (rarely) an unknown one.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawName(u8);

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawScope {
    kind: u8,
    role: u8,
    partner: RawPartnerRef,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawKey {
    scope: RawScope,
    purpose: Option<RawName>,
    data: Option<RawName>,
    channel: Option<u8>,
}

/// One change; `kind` picks (with weights) which, the other fields fill it in.
#[derive(Arbitrary, Debug)]
struct RawEntry {
    kind: u8,
    key: RawKey,
    /// For twins: the key to reuse under `key.scope`; for clears: the key to clear.
    reuse: u8,
    /// For clears: clear `key` instead of one used before.
    fresh: bool,
    grant: bool,
    expires: Option<u8>,
    position: Option<u8>,
    partner: RawPartnerRef,
    digest: u8,
    /// For merges: this customer is the absorbed one (else the survivor).
    absorbed: bool,
    time: RawTime,
    /// Seq gap to the previous entry (record mode): mostly 1–3, rarely 0 (refused).
    gap: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawTime {
    minute: u8,
    /// Usually 0: exact minutes make equal times (the boundaries) frequent.
    frac: u8,
}

impl RawTime {
    fn at(self) -> OffsetDateTime {
        let base = T0 + Duration::minutes(i64::from(self.minute % 64));
        match self.frac % 8 {
            0..=4 => base,
            // Sub-microsecond and sub-second offsets (ledger mode truncates to micros).
            5 => base + Duration::nanoseconds(i64::from(self.frac)),
            6 => base + Duration::microseconds(i64::from(self.frac)),
            _ => base - Duration::nanoseconds(1),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Aim {
    /// At a recorded key: its partner (or one with its role), a purpose and data under
    /// its own, its channel.
    Key(u8, u8, u8, u8),
    /// At one of the partner's declarations: a purpose, data and channel inside it.
    Declaration(u8, u8, u8, u8),
    /// Wherever the raw names point.
    Anywhere,
}

#[derive(Arbitrary, Debug)]
struct RawRequest {
    aim: Aim,
    partner: RawPartnerRef,
    purpose: RawName,
    data: RawName,
    /// Mostly proper (a catalog channel if the purpose needs one, else none); sometimes
    /// flipped, or a channel the catalog lacks.
    channel: u8,
    channel_pick: u8,
    time: RawTime,
}

#[derive(Arbitrary, Debug)]
struct Input {
    catalog: RawCatalog,
    partners: Vec<RawPartner>,
    /// Build the state by `apply` of hash-chained entries instead of `record`.
    ledger: bool,
    /// When a multiple of 4: partner scopes become role scopes (many ties between roles).
    broad_only: u8,
    /// Record `Registered` first, at this time (always in ledger mode).
    registered: Option<RawTime>,
    entries: Vec<RawEntry>,
    requests: Vec<RawRequest>,
    /// Not used: a last field keeps the derived reading of `requests` length-prefixed
    /// (a last `Vec` would stop after each element with probability one half).
    _end: u8,
}

// ---------------------------------------------------------------------------------------
// Resolving the input
// ---------------------------------------------------------------------------------------

fn customer_id() -> CustomerId {
    CustomerId::from_parts(T0, [0xC0; 10])
}

fn other_customer_id() -> CustomerId {
    CustomerId::from_parts(T0, [0xC1; 10])
}

fn partner_id(i: usize) -> PartnerId {
    PartnerId::from_parts(T0, [i as u8 + 1; 10])
}

fn unknown_partner_id() -> PartnerId {
    PartnerId::from_parts(T0, [0xEE; 10])
}

fn join(path: &[u8]) -> String {
    path.iter()
        .map(|&s| SEGMENTS[usize::from(s)])
        .collect::<Vec<_>>()
        .join(".")
}

fn under(top: &str, name: &str) -> bool {
    name == top || name.starts_with(&format!("{top}."))
}

fn root(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn pick<T>(items: &[T], i: u8) -> &T {
    &items[usize::from(i) % items.len()]
}

struct World {
    directory: Directory,
    broad_only: bool,
    /// Purposes (sorted) and whether each requires a channel.
    purposes: Vec<(String, bool)>,
    data: Vec<String>,
    channels: Vec<String>,
    partners: Vec<PartnerId>,
}

fn build_world(input: &Input) -> World {
    // Purposes: every prefix of every path; a purpose requires a channel if it or an
    // ancestor was flagged, which keeps the catalog valid.
    let mut own: std::collections::BTreeMap<String, bool> = Default::default();
    let raw_purposes: Vec<&(RawPath, bool)> = input.catalog.purposes.iter().take(6).collect();
    for (path, flag) in &raw_purposes {
        let segs = path.segments();
        for n in 1..=segs.len() {
            let e = own.entry(join(&segs[..n])).or_insert(false);
            if n == segs.len() {
                *e |= *flag;
            }
        }
    }
    if own.is_empty() {
        own.insert("a".into(), true);
        own.insert("b".into(), false);
    }
    let purposes: Vec<(String, bool)> = own
        .keys()
        .map(|name| {
            let mut requires = false;
            let mut prefix = String::new();
            for seg in name.split('.') {
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(seg);
                requires |= own[&prefix];
            }
            (name.clone(), requires)
        })
        .collect();
    let mut data: BTreeSet<String> = BTreeSet::new();
    for p in input.catalog.data.iter().take(5) {
        let segs = p.segments();
        for n in 1..=segs.len() {
            data.insert(join(&segs[..n]));
        }
    }
    if data.is_empty() {
        data.insert("a".into());
    }
    let data: Vec<String> = data.into_iter().collect();
    let mut channels: Vec<String> = (0..4)
        .filter(|i| input.catalog.channels & (1 << i) != 0)
        .map(|i| CHANNELS[i].to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if channels.is_empty() {
        channels.push("email".into());
    }
    let mut specs: Vec<PurposeSpec> = purposes
        .iter()
        .map(|(p, r)| PurposeSpec {
            id: p.parse().expect("pool names are valid"),
            requires_channel: *r,
        })
        .collect();
    if input.catalog.reverse {
        specs.reverse();
    }
    let catalog = Catalog::new(CatalogSpec {
        purposes: specs,
        data: data
            .iter()
            .map(|d| d.parse().expect("pool names are valid"))
            .collect(),
        channels: channels
            .iter()
            .map(|c| c.parse().expect("pool names are valid"))
            .collect(),
    })
    .expect("generated catalogs are valid");

    let mut directory = Directory::new(catalog);
    let mut ids = Vec::new();
    let raw_partners: Vec<&RawPartner> = input.partners.iter().take(4).collect();
    let default_partner = RawPartner {
        roles: 2,
        status: 7,
        activated_at: Some(0),
        decls: vec![],
    };
    let raw_partners = if raw_partners.is_empty() {
        vec![&default_partner]
    } else {
        raw_partners
    };
    for (i, rp) in raw_partners.iter().enumerate() {
        let id = partner_id(i);
        let roles: Vec<Role> = (0..3)
            .filter(|b| rp.roles & (1 << b) != 0)
            .map(|b| Role::ALL[b])
            .collect();
        let mut p = Partner::new(id, format!("partner {i}"), roles);
        p.status = match rp.status % 16 {
            0 => PartnerStatus::Applied,
            1 => PartnerStatus::Suspended,
            2 => PartnerStatus::Offboarded,
            _ => PartnerStatus::Active,
        };
        p.activated_at = rp.activated_at.map(|a| u64::from(a % 8));
        let default_decl = RawDecl {
            purpose: 0,
            data: vec![0],
            channels: vec![0],
            basis: 0,
            pending: 1,
            widen: false,
        };
        let decls: Vec<&RawDecl> = if rp.decls.is_empty() {
            vec![&default_decl]
        } else {
            rp.decls.iter().take(4).collect()
        };
        for rd in decls {
            let (mut purpose, requires) = pick(&purposes, rd.purpose).clone();
            let raw_data = if rd.data.is_empty() {
                &[0u8][..]
            } else {
                &rd.data[..rd.data.len().min(3)]
            };
            let mut decl_data: Vec<String> =
                raw_data.iter().map(|&d| pick(&data, d).clone()).collect();
            if rd.widen {
                purpose = root(&purpose).to_owned();
                decl_data = decl_data.iter().map(|d| root(d).to_owned()).collect();
            }
            let requires = if rd.widen {
                purposes.iter().any(|(p, r)| *p == purpose && *r)
            } else {
                requires
            };
            let raw_channels = if rd.channels.is_empty() {
                &[0u8][..]
            } else {
                &rd.channels[..rd.channels.len().min(3)]
            };
            let decl_channels = if requires {
                raw_channels
                    .iter()
                    .map(|&c| pick(&channels, c).clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .map(|c| c.parse().expect("pool names are valid"))
                    .collect()
            } else {
                Vec::new()
            };
            let decl = Declaration {
                purpose: purpose.parse().expect("pool names are valid"),
                data: decl_data
                    .iter()
                    .map(|d| d.parse().expect("pool names are valid"))
                    .collect(),
                channels: decl_channels,
                legal_basis: match rd.basis % 5 {
                    0..=2 => LegalBasis::Consent,
                    3 => LegalBasis::Contract,
                    _ => LegalBasis::LegitimateInterest,
                },
                notice: String::new(),
                status: if rd.pending % 8 == 0 {
                    DeclarationStatus::Pending
                } else {
                    DeclarationStatus::Approved
                },
            };
            decl.validate(directory.catalog())
                .expect("generated declarations fit the catalog");
            p.declarations.push(decl);
        }
        directory.insert(p).expect("partner ids are distinct");
        ids.push(id);
    }
    World {
        directory,
        broad_only: input.broad_only.is_multiple_of(4),
        purposes,
        data,
        channels,
        partners: ids,
    }
}

impl World {
    fn partner(&self, r: RawPartnerRef) -> PartnerId {
        if r.0 % 25 == 24 {
            unknown_partner_id()
        } else {
            *pick(&self.partners, r.0)
        }
    }

    fn purpose(&self, n: RawName) -> String {
        if n.0 % 20 == 19 {
            pick(&UNKNOWN, n.0 / 20).to_string()
        } else {
            pick(&self.purposes, n.0).0.clone()
        }
    }

    fn data(&self, n: RawName) -> String {
        if n.0 % 20 == 19 {
            pick(&UNKNOWN, n.0 / 20).to_string()
        } else {
            pick(&self.data, n.0).clone()
        }
    }

    fn requires_channel(&self, purpose: &str) -> bool {
        self.purposes.iter().any(|(p, r)| p == purpose && *r)
    }

    fn scope(&self, s: RawScope) -> Scope {
        match s.kind % 11 {
            0..=2 => Scope::Ecosystem,
            3..=6 => Scope::Role(*pick(&Role::ALL, s.role)),
            _ if self.broad_only => Scope::Role(*pick(&Role::ALL, s.partner.0)),
            _ => Scope::Partner(self.partner(s.partner)),
        }
    }

    fn key(&self, k: &RawKey) -> ChoiceKey {
        ChoiceKey {
            scope: self.scope(k.scope),
            purpose: match k.purpose {
                None => Pattern::Any,
                Some(n) => Pattern::Is(self.purpose(n).parse().expect("valid syntax")),
            },
            data: match k.data {
                None => Pattern::Any,
                Some(n) => Pattern::Is(self.data(n).parse().expect("valid syntax")),
            },
            channel: match k.channel {
                None => Pattern::Any,
                Some(i) => Pattern::Is(pick(&self.channels, i).parse().expect("valid syntax")),
            },
        }
    }

    fn choice(&self, e: &RawEntry, notice: &str) -> Choice {
        let mut choice = if e.grant {
            Choice::grant(notice)
        } else {
            Choice::refuse()
        };
        choice.expires_at = e.expires.map(|m| T0 + Duration::minutes(i64::from(m % 70)));
        choice.ecosystem_position = e.position.map(|p| u64::from(p % 8));
        choice
    }

    /// The changes of the input, resolved: `(seq, recorded at, change)`.
    fn changes(&self, input: &Input) -> Vec<(u64, OffsetDateTime, CustomerChange)> {
        let customer = customer_id();
        let mut used: Vec<ChoiceKey> = Vec::new();
        let mut seq = 0u64;
        let mut out = Vec::new();
        let registered = input
            .registered
            .or(input.ledger.then_some(RawTime { minute: 0, frac: 0 }));
        if let Some(t) = registered {
            seq += 1;
            out.push((seq, t.at(), CustomerChange::Registered));
        }
        for e in input.entries.iter().take(40) {
            seq += match e.gap % 16 {
                0 => 0,
                g => u64::from(g % 3) + 1,
            };
            let change = match e.kind % 100 {
                // A choice at a fresh key.
                0..=44 => {
                    let key = self.key(&e.key);
                    used.push(key.clone());
                    CustomerChange::ChoiceSet {
                        key,
                        choice: self.choice(e, "v1"),
                    }
                }
                // The use of a key set before, under another scope (ties between roles, a
                // partner choice over a broad one, …).
                45..=69 if !used.is_empty() => {
                    let mut key = pick(&used, e.reuse).clone();
                    key.scope = self.scope(e.key.scope);
                    used.push(key.clone());
                    CustomerChange::ChoiceSet {
                        key,
                        choice: self.choice(e, "v2"),
                    }
                }
                45..=69 => CustomerChange::ChoiceCleared {
                    key: self.key(&e.key),
                },
                70..=79 => {
                    let key = if e.fresh || used.is_empty() {
                        self.key(&e.key)
                    } else {
                        pick(&used, e.reuse).clone()
                    };
                    CustomerChange::ChoiceCleared { key }
                }
                80..=86 => CustomerChange::RelationshipStarted {
                    partner: self.partner(e.partner),
                },
                87..=91 => CustomerChange::RelationshipEnded {
                    partner: self.partner(e.partner),
                },
                92 => CustomerChange::Erased,
                93 => CustomerChange::Registered,
                94 | 95 => CustomerChange::IdentifierLinked {
                    kind: "email".into(),
                    digest: format!("digest-{}", e.digest % 3),
                },
                96 | 97 => CustomerChange::IdentifierUnlinked {
                    digest: format!("digest-{}", e.digest % 3),
                },
                _ => {
                    let (survivor, absorbed) = if e.absorbed {
                        (other_customer_id(), customer)
                    } else {
                        (customer, other_customer_id())
                    };
                    CustomerChange::Merged { survivor, absorbed }
                }
            };
            out.push((seq, e.time.at(), change));
        }
        out
    }

    /// One of the names (purposes or data categories) under `top`, if any.
    fn below<'a>(
        &self,
        names: impl Iterator<Item = &'a String>,
        top: &str,
        i: u8,
    ) -> Option<String> {
        let below: Vec<&String> = names.filter(|n| under(top, n)).collect();
        (!below.is_empty()).then(|| (*pick(&below, i)).clone())
    }

    fn request(&self, r: &RawRequest, keys: &[ChoiceKey]) -> (Request, OffsetDateTime) {
        let mut partner = self.partner(r.partner);
        let mut purpose = self.purpose(r.purpose);
        let mut data = self.data(r.data);
        let mut channel_hint = None;
        match r.aim {
            Aim::Key(k, p, d, who) if !keys.is_empty() => {
                let key = pick(keys, k);
                match key.scope {
                    Scope::Partner(id) => partner = id,
                    Scope::Role(role) => {
                        let holders: Vec<&Partner> = self
                            .directory
                            .partners()
                            .filter(|p| p.roles.contains(&role))
                            .collect();
                        if !holders.is_empty() {
                            partner = pick(&holders, who).id;
                        }
                    }
                    Scope::Ecosystem => {}
                }
                if let Pattern::Is(kp) = &key.purpose {
                    let names = self.purposes.iter().map(|(n, _)| n);
                    if let Some(n) = self.below(names, kp.as_str(), p) {
                        purpose = n;
                    }
                }
                if let Pattern::Is(kd) = &key.data
                    && let Some(n) = self.below(self.data.iter(), kd.as_str(), d)
                {
                    data = n;
                }
                if let Pattern::Is(c) = &key.channel {
                    channel_hint = Some(c.to_string());
                }
            }
            Aim::Declaration(which, p, d, c) => {
                let declarations = self
                    .directory
                    .partner(partner)
                    .map_or(&[][..], |p| &p.declarations[..]);
                if !declarations.is_empty() {
                    let decl = pick(declarations, which);
                    let names = self.purposes.iter().map(|(n, _)| n);
                    if let Some(n) = self.below(names, decl.purpose.as_str(), p) {
                        purpose = n;
                    }
                    let top = pick(&decl.data, d);
                    if let Some(n) = self.below(self.data.iter(), top.as_str(), d) {
                        data = n;
                    }
                    if !decl.channels.is_empty() {
                        channel_hint = Some(pick(&decl.channels, c).to_string());
                    }
                }
            }
            _ => {}
        }
        let requires = self.requires_channel(&purpose);
        let channel = match r.channel % 16 {
            0..=13 if requires => Some(
                channel_hint
                    .filter(|c| self.channels.contains(c))
                    .unwrap_or_else(|| pick(&self.channels, r.channel_pick).clone()),
            ),
            0..=13 => None,
            14 if requires => None,
            14 => Some(pick(&self.channels, r.channel_pick).clone()),
            _ => Some("zz".to_owned()),
        };
        let request = Request {
            partner,
            purpose: purpose.parse().expect("valid syntax"),
            data: data.parse().expect("valid syntax"),
            channel: channel.map(|c| c.parse().expect("valid syntax")),
        };
        (request, r.time.at())
    }
}

// ---------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------

fn run(input: &Input) {
    let world = build_world(input);
    let customer = customer_id();
    let mut fast = ConsentState::new();
    let mut model = if input.ledger {
        NaiveState::for_customer(customer)
    } else {
        NaiveState::new()
    };
    let mut keys: Vec<ChoiceKey> = Vec::new();
    for (seq, t, change) in world.changes(input) {
        let (fast_result, seq, t) = if input.ledger {
            let entry = Entry::next(customer, fast.head(), t, Actor::Customer, change.clone())
                .expect("entries can be built");
            let (seq, t) = (entry.seq, entry.recorded_at);
            (fast.apply(&entry).map_err(|e| e.to_string()), seq, t)
        } else {
            (
                fast.record(seq, t, &change).map_err(|e| e.to_string()),
                seq,
                t,
            )
        };
        let model_result = model.record(seq, t, change.clone());
        stat(|| {
            format!(
                "record:{}",
                if fast_result.is_ok() { "ok" } else { "refused" }
            )
        });
        assert_eq!(
            fast_result.is_ok(),
            model_result.is_ok(),
            "fast and naive disagree on recording seq {seq} at {t}: {change:?}\n\
             fast: {fast_result:?}\nnaive: {model_result:?}"
        );
        if let (Ok(()), CustomerChange::ChoiceSet { key, .. }) = (&fast_result, &change) {
            keys.push(key.clone());
        }
    }
    assert_eq!(fast.seq(), model.seq(), "last seqs differ");

    for r in input.requests.iter().take(12) {
        let (request, t) = world.request(r, &keys);
        let got = decide(&fast, &world.directory, &request, t);
        let want = naive::naive_decide(&model, &world.directory, &request, t);
        match (&got, &want) {
            (Err(f), Err(n)) => {
                assert_eq!(f.code(), *n, "errors differ for {request:?} at {t}");
                stat(|| format!("error:{n}"));
            }
            (Ok(f), Ok(n)) => {
                let seen = NaiveDecision {
                    reason: f.reason,
                    allowed: f.allowed(),
                    winner: f.winner.as_ref().map(|w| (ChoiceKey::clone(&w.key), w.seq)),
                };
                assert_eq!(
                    &seen, n,
                    "decisions differ (left: fast, right: naive) for {request:?} at {t}"
                );
                assert_eq!(f.winning_seq(), n.winning_seq());
                assert_eq!(f.allowed(), f.reason.allows());
                stat(|| match (&f.reason, &f.winner) {
                    (tessera_core::Reason::LegalBasis(b), _) => {
                        format!("legal_basis:{}", b.as_str())
                    }
                    (r, Some(w)) => format!("{}:rank{}", r.code(), w.key.scope.rank()),
                    (r, None) => r.code().to_string(),
                });
            }
            _ => panic!("fast {got:?} but naive {want:?} for {request:?} at {t}"),
        }

        // The state as of t, both ways.
        let folded = model.fold_at(t);
        let fast_in_force: BTreeSet<(ChoiceKey, u64)> =
            fast.choices_at(t).map(|c| (c.key.clone(), c.seq)).collect();
        let naive_in_force: BTreeSet<(ChoiceKey, u64)> = folded
            .choices
            .iter()
            .filter(|(_, (_, c))| c.expires_at.is_none_or(|e| t < e))
            .map(|(k, (s, _))| (k.clone(), *s))
            .collect();
        assert_eq!(fast_in_force, naive_in_force, "choices_at({t}) differ");
    }
}

fuzz_target!(|input: Input| {
    run(&input);
    stats_tick();
});
