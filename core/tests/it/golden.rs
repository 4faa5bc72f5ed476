//! Golden vectors: byte-for-byte pins of what tessera-core writes, under `testdata/golden/`.
//!
//! - `ledger.json`: a customer stream of five entries (registered, an ecosystem grant, a
//!   partner refusal with an expiry, a clear, a relationship), built with [`Entry::next`] from
//!   fixed IDs and times, with their hashes;
//! - `receipt.json`: the Ed25519 public key of a fixed test seed and the signed receipt of the
//!   grant entry;
//! - `pseudonyms.json`: the pairwise pseudonyms of two customers in four sectors under a
//!   fixed test secret.
//!
//! The tests recompute every file from the fixed inputs and fail if the result differs from
//! the committed file (pretty-printed JSON with a trailing newline, compared byte for byte).
//! They also check that the committed ledger verifies with [`tessera_core::verify`], that the
//! committed receipt verifies with the committed public key, and recompute every entry hash
//! without the library's hashing code (SHA-256 over the RFC 8785 canonical JSON of the entry
//! without `hash`).
//!
//! The seed and the secret are test values, written into the files so that an implementation
//! outside the project can reproduce them. Never use them for anything else.
//!
//! # Regenerating
//! A change that alters any of these bytes changes the ledger or receipt format, which breaks
//! every stored ledger and issued receipt: make it only on purpose. Then rewrite the files with
//!
//! ```text
//! TESSERA_BLESS=1 cargo test -p tessera-core --test it golden
//! ```
//!
//! and commit them with the change. With `TESSERA_BLESS=1` the tests write instead of
//! comparing, and check the freshly computed values instead of the files.

use std::path::{Path, PathBuf};

use ring::digest;
use serde::{Deserialize, Serialize};
use tessera_core::ledger::Actor;
use tessera_core::{
    Choice, ChoiceKey, CustomerChange, CustomerEntry, CustomerId, Entry, PartnerId, Pattern,
    PseudonymSecret, PublicKey, ReceiptSigner, Scope, SectorId, SignedReceipt, verify,
};
use time::OffsetDateTime;
use time::macros::datetime;

const BLESS_ENV: &str = "TESSERA_BLESS";

/// The receipt signing seed (test only).
const RECEIPT_SEED: &[u8; 32] = b"tessera-golden-receipt-seed-0001";
/// The pseudonym secret (test only).
const PSEUDONYM_SECRET: &[u8; 32] = b"tessera-golden-pseudonym-secret!";
/// The seq of the ledger entry the golden receipt is for (the ecosystem grant).
const RECEIPT_SEQ: u64 = 2;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden")
}

fn blessing() -> bool {
    std::env::var(BLESS_ENV).is_ok_and(|v| v == "1")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn customer_a() -> CustomerId {
    CustomerId::from_parts(datetime!(2026-01-01 08:00 UTC), [0xc1; 10])
}

fn customer_b() -> CustomerId {
    CustomerId::from_parts(datetime!(2026-01-15 12:30 UTC), [0xc2; 10])
}

fn airline() -> PartnerId {
    PartnerId::from_parts(datetime!(2025-12-01 00:00 UTC), [0xa1; 10])
}

fn parking() -> PartnerId {
    PartnerId::from_parts(datetime!(2025-12-02 00:00 UTC), [0xa2; 10])
}

fn orchestrator_sector() -> SectorId {
    SectorId::new("orchestrator").expect("a valid sector name")
}

fn marketing_email_everyone() -> ChoiceKey {
    ChoiceKey {
        scope: Scope::Ecosystem,
        purpose: "marketing".parse().expect("a purpose"),
        data: Pattern::Any,
        channel: "email".parse().expect("a channel"),
    }
}

/// The golden stream: every entry built with [`Entry::next`] after the one before.
fn ledger() -> Vec<CustomerEntry> {
    let mut grant = Choice::grant("notice-2026-01");
    grant.ecosystem_position = Some(5);
    let refusal = Choice::refuse().expiring(datetime!(2027-02-01 00:00 UTC));
    let no_parking = ChoiceKey {
        scope: Scope::Partner(parking()),
        purpose: "marketing".parse().expect("a purpose"),
        data: Pattern::Any,
        channel: Pattern::Any,
    };
    let steps: [(OffsetDateTime, Actor, CustomerChange); 5] = [
        (
            datetime!(2026-01-01 08:00 UTC),
            Actor::Customer,
            CustomerChange::Registered,
        ),
        (
            // Sub-second, to pin the microsecond precision of ledger times.
            datetime!(2026-01-01 08:05:00.123456 UTC),
            Actor::Customer,
            CustomerChange::ChoiceSet {
                key: marketing_email_everyone(),
                choice: grant,
            },
        ),
        (
            datetime!(2026-02-01 09:00 UTC),
            Actor::Partner { partner: parking() },
            CustomerChange::ChoiceSet {
                key: no_parking,
                choice: refusal,
            },
        ),
        (
            datetime!(2026-03-01 09:00 UTC),
            Actor::Orchestrator,
            CustomerChange::ChoiceCleared {
                key: marketing_email_everyone(),
            },
        ),
        (
            datetime!(2026-04-01 09:00 UTC),
            Actor::Partner { partner: airline() },
            CustomerChange::RelationshipStarted { partner: airline() },
        ),
    ];
    let mut entries: Vec<CustomerEntry> = Vec::new();
    for (at, actor, change) in steps {
        let prev = entries.last().map(|e| (e.seq, e.hash));
        entries.push(Entry::next(customer_a(), prev, at, actor, change).expect("an entry"));
    }
    entries
}

/// `receipt.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptFile {
    /// The Ed25519 seed the key is made from, hex (test only).
    test_only_seed_hex: String,
    /// The public key, base64url.
    public_key: PublicKey,
    /// The receipt of ledger entry `RECEIPT_SEQ`.
    signed: SignedReceipt,
}

fn receipt_file(entries: &[CustomerEntry]) -> ReceiptFile {
    let signer = ReceiptSigner::from_seed(RECEIPT_SEED).expect("a signing key");
    let secret = PseudonymSecret::from_bytes(PSEUDONYM_SECRET).expect("a secret");
    let entry = entries
        .iter()
        .find(|e| e.seq == RECEIPT_SEQ)
        .expect("the receipt entry");
    let principal = secret.pseudonym(&orchestrator_sector(), entry.stream);
    let signed = signer
        .receipt(entry, principal, datetime!(2026-01-01 08:05:01 UTC))
        .expect("a receipt");
    ReceiptFile {
        test_only_seed_hex: hex(RECEIPT_SEED),
        public_key: *signer.public_key(),
        signed,
    }
}

/// `pseudonyms.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PseudonymFile {
    /// The HMAC-SHA256 key, hex (test only).
    test_only_secret_hex: String,
    /// One row per customer and sector.
    pseudonyms: Vec<PseudonymRow>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PseudonymRow {
    customer: CustomerId,
    sector: SectorId,
    pseudonym: tessera_core::Pseudonym,
}

fn pseudonym_file() -> PseudonymFile {
    let secret = PseudonymSecret::from_bytes(PSEUDONYM_SECRET).expect("a secret");
    let sectors = [
        SectorId::of_partner(airline()),
        SectorId::of_partner(parking()),
        SectorId::new("https://travel.example/sector").expect("a sector"),
        orchestrator_sector(),
    ];
    let mut pseudonyms = Vec::new();
    for customer in [customer_a(), customer_b()] {
        for sector in &sectors {
            pseudonyms.push(PseudonymRow {
                customer,
                sector: sector.clone(),
                pseudonym: secret.pseudonym(sector, customer),
            });
        }
    }
    PseudonymFile {
        test_only_secret_hex: hex(PSEUDONYM_SECRET),
        pseudonyms,
    }
}

fn pretty<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON encoding");
    text.push('\n');
    text
}

/// Every golden file, freshly computed: `(file name, contents)`.
fn computed() -> Vec<(&'static str, String)> {
    let entries = ledger();
    vec![
        ("ledger.json", pretty(&entries)),
        ("receipt.json", pretty(&receipt_file(&entries))),
        ("pseudonyms.json", pretty(&pseudonym_file())),
    ]
}

/// The committed contents of a golden file; while blessing, the freshly computed contents
/// (the files may be half rewritten by the blessing test running alongside).
fn committed(name: &str) -> String {
    if blessing() {
        return computed()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text)
            .expect("a golden file name");
    }
    let path = golden_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read testdata/golden/{name} ({e}); create it with {BLESS_ENV}=1")
    })
}

#[test]
fn golden_files_match() {
    let dir = golden_dir();
    if blessing() {
        std::fs::create_dir_all(&dir).expect("create testdata/golden");
        for (name, text) in computed() {
            std::fs::write(dir.join(name), text).expect("write a golden file");
        }
        return;
    }
    let mut problems = Vec::new();
    for (name, text) in computed() {
        match std::fs::read_to_string(dir.join(name)) {
            Err(e) => problems.push(format!("testdata/golden/{name}: cannot read it: {e}")),
            Ok(old) if old == text => {}
            Ok(old) => {
                let line = old
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| old.lines().count().min(text.lines().count()));
                problems.push(format!(
                    "testdata/golden/{name} differs from the computed value at line {}:\n    \
                     committed: {:?}\n    computed:  {:?}",
                    line + 1,
                    old.lines().nth(line).unwrap_or("<end of file>"),
                    text.lines().nth(line).unwrap_or("<end of file>"),
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nIf the change is intended, regenerate with \
         `{BLESS_ENV}=1 cargo test -p tessera-core --test it golden` and commit the files.",
        problems.join("\n")
    );
}

fn committed_ledger() -> Vec<CustomerEntry> {
    serde_json::from_str(&committed("ledger.json")).expect("ledger.json holds customer entries")
}

#[test]
fn committed_ledger_verifies_and_replays() {
    let entries = committed_ledger();
    assert_eq!(entries.len(), 5);
    verify(&entries).expect("the committed ledger verifies");
    let state = tessera_core::ConsentState::replay(&entries).expect("the ledger replays");
    assert_eq!(state.seq(), 5);
    assert_eq!(state.customer(), Some(customer_a()));
    assert!(state.has_relationship_at(airline(), datetime!(2026-04-01 09:00 UTC)));

    // The check has teeth: an edited entry does not verify.
    let mut edited = entries.clone();
    edited[2].change = CustomerChange::ChoiceCleared {
        key: marketing_email_everyone(),
    };
    assert!(verify(&edited).is_err());
}

#[test]
fn committed_receipt_verifies() {
    let file: ReceiptFile =
        serde_json::from_str(&committed("receipt.json")).expect("receipt.json parses");
    let receipt = file
        .public_key
        .verify(&file.signed)
        .expect("the committed receipt verifies with the committed key");
    let entries = committed_ledger();
    let entry = entries
        .iter()
        .find(|e| e.seq == receipt.seq)
        .expect("the receipt points at a ledger entry");
    assert_eq!(receipt.entry_hash, entry.hash);
    assert_eq!(receipt.receipt_id, entry.hash.to_hex());
    assert_eq!(receipt.consent_timestamp, entry.recorded_at);

    // A changed body does not verify.
    let mut forged = file.signed.clone();
    forged.receipt.purpose = "*".into();
    assert!(file.public_key.verify(&forged).is_err());
}

#[test]
fn committed_pseudonyms_are_well_formed() {
    let file: PseudonymFile =
        serde_json::from_str(&committed("pseudonyms.json")).expect("pseudonyms.json parses");
    assert_eq!(file.pseudonyms.len(), 8);
    let distinct: std::collections::BTreeSet<_> =
        file.pseudonyms.iter().map(|r| &r.pseudonym).collect();
    assert_eq!(
        distinct.len(),
        8,
        "pseudonyms must differ across customers and sectors"
    );
}

/// The hash is SHA-256 over the RFC 8785 canonical JSON of the entry without `hash`,
/// recomputed here without the library's hashing code.
#[test]
fn entry_hash_is_sha256_of_rfc8785_json() {
    let entries = committed_ledger();
    for entry in &entries {
        let mut value = serde_json::to_value(entry).expect("an entry encodes");
        let object = value.as_object_mut().expect("an entry is a JSON object");
        let stated = object.remove("hash").expect("an entry has a hash");
        let canonical = serde_json_canonicalizer::to_vec(&value).expect("canonical JSON");
        let d = digest::digest(&digest::SHA256, &canonical);
        assert_eq!(
            serde_json::Value::String(hex(d.as_ref())),
            stated,
            "entry seq {}",
            entry.seq
        );
        assert_eq!(canonical, entry.canonical_bytes().expect("canonical bytes"));
    }

    // And the canonical text of the first entry, written by hand: members sorted by key, no
    // whitespace.
    let first = &entries[0];
    let expected = format!(
        r#"{{"actor":{{"kind":"customer"}},"change":{{"type":"registered"}},"prev_hash":"{}","recorded_at":"2026-01-01T08:00:00Z","seq":1,"stream":"{}"}}"#,
        "0".repeat(64),
        customer_a()
    );
    assert_eq!(
        String::from_utf8(first.canonical_bytes().expect("canonical bytes")).expect("UTF-8"),
        expected
    );
}

/// What the ledger writes it can read back, and a choice with a field it does not know is
/// rejected rather than silently dropped.
#[test]
fn choices_round_trip_and_reject_unknown_fields() {
    for entry in ledger() {
        let text = serde_json::to_string(&entry).expect("an entry encodes");
        let back: CustomerEntry = serde_json::from_str(&text).expect("an entry decodes");
        assert_eq!(back, entry);
    }
    for bad in [
        r#"{"decision":"refuse","bogus":1}"#,
        r#"{"decision":"grant","legal_basis":"consent","notice_version":"v1","bogus":1}"#,
        r#"{"decision":"refuse","expires_at":"2027-01-01T00:00:00Z","bogus":1}"#,
        r#"{"decision":"maybe"}"#,
        r#"{"decision":"grant","legal_basis":"consent"}"#,
        r#"{"decision":"refuse","legal_basis":"consent"}"#,
        r#"{"expires_at":"2027-01-01T00:00:00Z"}"#,
    ] {
        assert!(
            serde_json::from_str::<Choice>(bad).is_err(),
            "{bad} must not decode"
        );
    }
}
