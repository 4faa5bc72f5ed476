//! `stored_open`: ledger rows as a store that keeps an entry's hashed bytes hands them back
//! (the Postgres store's `body` column), the bytes being the untrusted input.
//!
//! The input is opened with `Stored::open` beside its own SHA-256 and beside another hash.
//! Properties:
//! - opening never panics; it is checked exactly when the hash is SHA-256 of the bytes;
//! - an entry that opens is the entry the same JSON decodes to through a parsed
//!   `serde_json::Value` (the decoder of the tagged enums keeps the members before a tag as
//!   text on the first path and as values on the second: they must agree);
//! - an entry that opens from its own canonical bytes has the hash of its fields, and its
//!   canonical bytes open to it again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ring::digest;
use tessera_core::{CustomerEntry, EntryHash, Stored};
use tessera_fuzz::{stat, stats_tick};

fn sha256(bytes: &[u8]) -> EntryHash {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    EntryHash(out)
}

fuzz_target!(|data: &[u8]| {
    stats_tick();
    let hash = sha256(data);
    let Ok(opened) = Stored::<CustomerEntry>::open(data, hash) else {
        stat(|| "not an entry".into());
        return;
    };
    assert!(opened.hash_checked(), "its own SHA-256 is checked");
    let mut other = hash;
    other.0[0] ^= 1;
    let beside = Stored::<CustomerEntry>::open(data, other).expect("the same bytes open");
    assert!(!beside.hash_checked(), "another hash is not checked");
    assert_eq!(beside.entry().hash, other);

    let entry = opened.entry();
    let mut value: serde_json::Value = serde_json::from_slice(data).expect("JSON that opened");
    value
        .as_object_mut()
        .expect("an object")
        .insert("hash".into(), serde_json::Value::String(hash.to_hex()));
    let via_value: CustomerEntry =
        serde_json::from_value(value).expect("what opens from text decodes from a value");
    assert_eq!(&via_value, entry, "text and value decode alike");

    match entry.canonical_bytes() {
        Ok(canonical) if canonical == data => {
            stat(|| "canonical".into());
            assert_eq!(entry.compute_hash().ok(), Some(hash));
        }
        Ok(canonical) => {
            stat(|| "not canonical".into());
            let again = Stored::<CustomerEntry>::open(&canonical, sha256(&canonical))
                .expect("canonical bytes open");
            assert!(again.hash_checked());
            assert_eq!(again.entry().hash, sha256(&canonical));
            let mut same = again.into_entry();
            same.hash = hash;
            assert_eq!(&same, entry, "canonical bytes open to the same entry");
        }
        Err(_) => stat(|| "no canonical bytes".into()),
    }
});
