//! `tessera_core::canonical::to_vec`, the direct RFC 8785 writer every ledger hash and receipt
//! signature is taken over, gives exactly the bytes (or the error) of the reference,
//! `serde_json_canonicalizer::to_vec`: on random JSON values — keys and strings full of
//! escapes, control characters and characters on both sides of the UTF-16 surrogate range,
//! integers around 2^53, floats — and on ledger entries of every change, customer and
//! ecosystem, with free text drawn from the same characters. And those bytes, kept by a store,
//! open back to the same entry with its hash checked.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::macros::datetime;

use tessera_core::canonical;
use tessera_core::catalog::Catalog;
use tessera_core::partner::DeclarationStatus;
use tessera_core::{
    Actor, Choice, ChoiceKey, CustomerChange, CustomerEntry, CustomerId, Declaration,
    EcosystemChange, EcosystemEntry, EcosystemId, Entry, Governance, GovernanceMode, LegalBasis,
    Origin, PartnerId, PartnerStatus, Role, Scope, Stored,
};

fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{e}");
    }
}

/// [`same`] for an entry, and its hashed bytes are the reference's JSON of it without `hash`.
fn same_entry<S, C>(entry: &tessera_core::Entry<S, C>) -> Result<(), TestCaseError>
where
    S: Serialize + Clone + PartialEq,
    C: Serialize,
{
    same(entry)?;
    let mut value = serde_json::to_value(entry).unwrap();
    value.as_object_mut().unwrap().remove("hash");
    prop_assert_eq!(
        entry.canonical_bytes().unwrap(),
        serde_json_canonicalizer::to_vec(&value).unwrap()
    );
    Ok(())
}

fn same<T: Serialize>(value: &T) -> Result<(), TestCaseError> {
    let fast = canonical::to_vec(value);
    let reference = serde_json_canonicalizer::to_vec(value);
    match (fast, reference) {
        (Ok(fast), Ok(reference)) => {
            prop_assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&reference)
            )
        }
        (Err(fast), Err(reference)) => prop_assert_eq!(fast.to_string(), reference.to_string()),
        (fast, reference) => {
            prop_assert!(false, "fast {fast:?} but reference {reference:?}")
        }
    }
    Ok(())
}

/// Characters that exercise escaping and key order: ASCII, every control character, the
/// escaped ones, DEL, two-byte and three-byte characters below and above the surrogate
/// range (U+E000..U+FFFF sort after supplementary characters in UTF-16), supplementary
/// characters, and the line and paragraph separators.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'e'),
        2 => proptest::char::range(' ', '~'),
        2 => proptest::char::range('\u{0}', '\u{1f}'),
        1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', '\u{2028}', '\u{2029}']),
        1 => proptest::char::range('\u{80}', '\u{7ff}'),
        1 => proptest::char::range('\u{800}', '\u{d7ff}'),
        1 => proptest::char::range('\u{e000}', '\u{ffff}'),
        1 => proptest::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(|cs| cs.into_iter().collect())
}

fn number() -> impl Strategy<Value = Value> {
    const EDGE: i64 = 1 << 53;
    prop_oneof![
        (-100i64..100).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (EDGE - 3..EDGE + 3).prop_map(Value::from),
        (-EDGE - 3..-EDGE + 3).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-1000i32..1000).prop_map(|i| Value::from(f64::from(i) / 8.0)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        tricky_string(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((tricky_string(4), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

#[test]
fn the_direct_writer_gives_the_reference_bytes_for_any_json_value() {
    run(4_000, json_value(), |value| same(&value));
}

/// A map that may repeat a key, with its members in the order given (a `Value` cannot hold
/// a duplicate): the reference refuses a duplicate, and so must the direct writer.
#[derive(Debug)]
struct Members(Vec<(String, Value)>);

impl Serialize for Members {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[test]
fn duplicate_keys_fail_as_they_do_in_the_reference() {
    let key = prop::sample::select(vec!["a", "b", "é", "\u{e000}", "😀"]).prop_map(String::from);
    run(
        1_000,
        prop::collection::vec((key, json_value()), 0..6),
        |members| same(&Members(members)),
    );
}

const T0: time::OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

fn customer() -> CustomerId {
    CustomerId::from_parts(T0, [0xC0; 10])
}

fn partner() -> PartnerId {
    PartnerId::from_parts(T0, [0x70; 10])
}

fn key() -> impl Strategy<Value = ChoiceKey> {
    (
        prop_oneof![
            Just(Scope::Ecosystem),
            prop::sample::select(Role::ALL.to_vec()).prop_map(Scope::Role),
            Just(Scope::Partner(partner())),
        ],
        prop::sample::select(vec!["*", "marketing", "marketing.offers"]),
        prop::sample::select(vec!["*", "contact", "contact.email"]),
        prop::sample::select(vec!["*", "email", "sms"]),
    )
        .prop_map(|(scope, p, d, c)| ChoiceKey {
            scope,
            purpose: p.parse().unwrap(),
            data: d.parse().unwrap(),
            channel: c.parse().unwrap(),
        })
}

fn choice() -> impl Strategy<Value = Choice> {
    (
        any::<bool>(),
        tricky_string(8),
        prop::option::of(0i64..10_000_000),
        prop::option::of(prop_oneof![0u64..100, any::<u64>()]),
    )
        .prop_map(|(grant, notice, expires, position)| {
            let mut c = if grant {
                Choice::grant(notice)
            } else {
                Choice::refuse()
            };
            c.expires_at = expires.map(|s| T0 + time::Duration::seconds(s));
            c.ecosystem_position = position;
            c
        })
}

fn customer_change() -> impl Strategy<Value = CustomerChange> {
    prop_oneof![
        Just(CustomerChange::Registered),
        (key(), choice()).prop_map(|(key, choice)| CustomerChange::ChoiceSet { key, choice }),
        key().prop_map(|key| CustomerChange::ChoiceCleared { key }),
        (tricky_string(8), tricky_string(8))
            .prop_map(|(kind, digest)| CustomerChange::IdentifierLinked { kind, digest }),
        tricky_string(8).prop_map(|digest| CustomerChange::IdentifierUnlinked { digest }),
        Just(CustomerChange::Merged {
            survivor: customer(),
            absorbed: CustomerId::from_parts(T0, [0xC1; 10]),
        }),
        Just(CustomerChange::Erased),
        Just(CustomerChange::RelationshipStarted { partner: partner() }),
        Just(CustomerChange::RelationshipEnded { partner: partner() }),
    ]
}

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        Just(Actor::Customer),
        Just(Actor::Orchestrator),
        Just(Actor::Partner { partner: partner() }),
    ]
}

fn ecosystem_change() -> impl Strategy<Value = EcosystemChange> {
    let declaration =
        (tricky_string(10), any::<bool>()).prop_map(|(notice, channels)| Declaration {
            purpose: "marketing.offers".parse().unwrap(),
            data: vec!["contact.email".parse().unwrap()],
            channels: if channels {
                vec!["email".parse().unwrap()]
            } else {
                vec![]
            },
            legal_basis: LegalBasis::Consent,
            notice,
            status: DeclarationStatus::Pending,
        });
    prop_oneof![
        Just(EcosystemChange::CatalogSet {
            catalog: Catalog::default_travel().spec().clone(),
        }),
        Just(EcosystemChange::GovernanceSet {
            governance: Governance {
                mode: GovernanceMode::Facilitated,
                allow_list: vec![],
            },
        }),
        (tricky_string(12), any::<bool>()).prop_map(|(name, self_service)| {
            EcosystemChange::PartnerEnrolled {
                partner: partner(),
                name,
                roles: vec![Role::Realizer, Role::Enabler],
                sector: None,
                origin: if self_service {
                    Origin::SelfService
                } else {
                    Origin::Orchestrator
                },
            }
        }),
        Just(EcosystemChange::PartnerStatusChanged {
            partner: partner(),
            to: PartnerStatus::Suspended,
        }),
        (declaration, any::<bool>()).prop_map(|(declaration, self_service)| {
            EcosystemChange::DeclarationAdded {
                partner: partner(),
                declaration,
                origin: if self_service {
                    Origin::SelfService
                } else {
                    Origin::Orchestrator
                },
            }
        }),
        any::<usize>().prop_map(|index| EcosystemChange::DeclarationApproved {
            partner: partner(),
            index,
        }),
    ]
}

/// The entries' canonical bytes (what their hash is taken over) are the reference's
/// canonical JSON of the entry without its `hash`, and the direct writer agrees with the
/// reference on whole entries too.
#[test]
fn entry_canonical_bytes_are_the_reference_bytes() {
    let customer_entries = (
        customer_change(),
        actor(),
        0i64..100_000_000,
        prop_oneof![1u64..10, any::<u64>()],
    );
    run(2_000, customer_entries, |(change, actor, secs, seq)| {
        let prev = (seq > 1).then(|| (seq - 1, tessera_core::EntryHash([0x5a; 32])));
        let at = T0 + time::Duration::seconds(secs) + time::Duration::microseconds(secs % 997);
        let Ok(entry) = CustomerEntry::next(customer(), prev, at, actor, change) else {
            return Ok(());
        };
        same_entry(&entry)
    });
    run(500, (ecosystem_change(), actor()), |(change, actor)| {
        let eco = EcosystemId::new("eco-test").unwrap();
        // Integers beyond 2^53 make no entry (RFC 8785 would merge neighbouring ones).
        let Ok(entry) = EcosystemEntry::next(eco, None, T0, actor, change) else {
            return Ok(());
        };
        same_entry(&entry)
    });
}

/// What a store that keeps an entry's canonical bytes reads back: the bytes open to the very
/// entry, marked as checked; beside another hash they open unchecked (so the reader
/// re-hashes them and reports the edit); with any byte changed they are not an entry, or
/// open unchecked.
fn opens<S, C>(entry: &Entry<S, C>, at: usize, byte: u8) -> Result<(), TestCaseError>
where
    S: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug,
    C: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = entry.canonical_bytes().unwrap();
    let opened = Stored::<Entry<S, C>>::open(&bytes, entry.hash).unwrap();
    prop_assert!(opened.hash_checked());
    prop_assert_eq!(opened.entry(), entry);

    let mut other = entry.hash;
    other.0[at % 32] ^= 1 | byte;
    let beside = Stored::<Entry<S, C>>::open(&bytes, other).unwrap();
    prop_assert!(!beside.hash_checked());
    prop_assert_eq!(beside.entry().hash, other);

    let mut edited = bytes.clone();
    let i = at % edited.len();
    if edited[i] != byte {
        edited[i] = byte;
        if let Ok(read) = Stored::<Entry<S, C>>::open(&edited, entry.hash) {
            prop_assert!(!read.hash_checked(), "edited bytes are never checked");
        }
    }
    Ok(())
}

#[test]
fn entries_open_from_their_canonical_bytes() {
    let customer_entries = (
        customer_change(),
        actor(),
        0i64..100_000_000,
        prop_oneof![1u64..10, 1u64..1 << 53],
        any::<usize>(),
        prop_oneof![any::<u8>(), prop::sample::select(b"{}[]\":,0a\\ ".to_vec())],
    );
    run(
        2_000,
        customer_entries,
        |(change, actor, secs, seq, at, byte)| {
            let prev = (seq > 1).then(|| (seq - 1, tessera_core::EntryHash([0x5a; 32])));
            let at_time =
                T0 + time::Duration::seconds(secs) + time::Duration::microseconds(secs % 997);
            let Ok(entry) = CustomerEntry::next(customer(), prev, at_time, actor, change) else {
                return Ok(());
            };
            opens(&entry, at, byte)
        },
    );
    run(
        500,
        (ecosystem_change(), actor(), any::<usize>(), any::<u8>()),
        |(change, actor, at, byte)| {
            let eco = EcosystemId::new("eco-test").unwrap();
            let Ok(entry) = EcosystemEntry::next(eco, None, T0, actor, change) else {
                return Ok(());
            };
            opens(&entry, at, byte)
        },
    );
}
