//! Writes seed inputs for the fuzz targets into `fuzz/corpus/<target>/` (created if
//! missing). Run by `fuzz/run` before a target's first run; the corpora are not committed.
//!
//! Only `ledger_verify` (raw JSON mode), `stored_open` and `token_bytes` (raw mode) profit:
//! they take bytes that random mutation alone rarely makes into a parseable ledger entry or
//! token. The other targets take structured inputs and start from nothing.

use std::fs;
use std::path::Path;

use tessera_core::ledger::Actor;
use tessera_core::{Choice, ChoiceKey, CustomerChange, CustomerEntry, CustomerId, Pattern, Scope};
use tessera_fuzz::{T0, issued_token, minutes};

fn write(dir: &Path, name: &str, mode: u8, body: &[u8]) {
    let mut bytes = vec![mode];
    bytes.extend_from_slice(body);
    fs::write(dir.join(name), bytes).expect("seed written");
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "corpus".to_string());
    let root = Path::new(&root);

    // ledger_verify: a few real chains as JSON (first byte 0: raw mode), and one entry alone.
    let dir = root.join("ledger_verify");
    fs::create_dir_all(&dir).expect("corpus dir");
    let customer = CustomerId::from_parts(T0, [0xC0; 10]);
    let key = |scope: Scope, purpose: &str| ChoiceKey {
        scope,
        purpose: purpose.parse().expect("valid"),
        data: Pattern::Any,
        channel: Pattern::Any,
    };
    let mut grant = Choice::grant("v1").expiring(minutes(90));
    grant.ecosystem_position = Some(3);
    let changes = vec![
        CustomerChange::Registered,
        CustomerChange::ChoiceSet {
            key: key(Scope::Ecosystem, "marketing"),
            choice: grant,
        },
        CustomerChange::IdentifierLinked {
            kind: "email".into(),
            digest: "ZGlnZXN0".into(),
        },
        CustomerChange::ChoiceCleared {
            key: key(Scope::Ecosystem, "marketing"),
        },
        CustomerChange::ChoiceSet {
            key: key(Scope::Ecosystem, "*"),
            choice: Choice::refuse(),
        },
        CustomerChange::Erased,
    ];
    let mut chain: Vec<CustomerEntry> = Vec::new();
    for (i, change) in changes.into_iter().enumerate() {
        let prev = chain.last().map(|e| (e.seq, e.hash));
        let entry = CustomerEntry::next(customer, prev, minutes(i as i64), Actor::Customer, change)
            .expect("entry");
        chain.push(entry);
        let json = serde_json::to_vec(&chain).expect("json");
        write(&dir, &format!("chain-{}", i + 1), 0, &json);
    }
    let one = serde_json::to_vec(&chain[1]).expect("json");
    write(&dir, "entry", 0, &one);

    // stored_open: the same entries' hashed bytes, as a store keeps them (no mode byte).
    let dir = root.join("stored_open");
    fs::create_dir_all(&dir).expect("corpus dir");
    for e in &chain {
        let bytes = e.canonical_bytes().expect("canonical bytes");
        fs::write(dir.join(format!("entry-{}", e.seq)), bytes).expect("seed written");
    }

    // token_bytes: the fixture token after 12 bytes of uses (first byte 0: raw mode).
    let dir = root.join("token_bytes");
    fs::create_dir_all(&dir).expect("corpus dir");
    let mut body = vec![0u8, 0, 0, 0, 60, 0, 2, 2, 1, 1, 60, 0];
    body.extend_from_slice(&issued_token().bytes);
    write(&dir, "fixture-token", 0, &body);
}
