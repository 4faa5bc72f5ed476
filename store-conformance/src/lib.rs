//! # Tessera store conformance suite
//!
//! One `pub async fn` per behaviour of the storage traits of [`tessera_core::store`]. Each
//! takes a reference to a store handle, exercises one behaviour and panics with a message
//! naming the violated rule: it is a test suite, run by every backend against itself so
//! that the backends provably behave the same (the model is object_store's
//! `integration.rs`).
//!
//! A backend calls **every** function explicitly, one test each, from its own integration
//! tests, and calls [`assert_every_behaviour_called`] on that test file's source so that a
//! behaviour added here cannot be forgotten by a backend:
//!
//! ```text
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn append_and_read_customer() {
//!     tessera_store_conformance::append_and_read_customer(&MyStore::fresh().await).await;
//! }
//!
//! #[test]
//! fn every_behaviour_is_called() {
//!     tessera_store_conformance::assert_every_behaviour_called(include_str!("main.rs"));
//! }
//! ```
//!
//! The functions need no runtime and spawn nothing: concurrent behaviours run their actors
//! as futures polled together ([`futures::future::join_all`]), each yielding between its
//! read and its write so that they interleave even on a store whose futures never wait.
//!
//! Each function makes its own customers, partners, identifiers and sectors with random IDs,
//! so the functions may run one after another on one store that already holds data (a fresh
//! store per function is still the norm). The ecosystem ledger and the revocation feed are
//! one per store, so those functions append after whatever they already hold and look only
//! at their own entries where they can; the ecosystem functions must not run at the same
//! time as each other on one store.
//!
//! ## The facade behaviours
//!
//! The module [`facade`] holds a second set of behaviours: the [`Ecosystem`] facade of core
//! run on the backend (customers, choices and receipts, checks as of any time, partners and
//! governance, identity, merge, erasure, export, the customer-state cache across handles,
//! capability tokens and their revocation). Each of them needs a **fresh** store, because an
//! ecosystem ledger holds one ecosystem and some of them choose its governance, so they are
//! listed apart ([`facade_behaviours`]) from the store behaviours above, which may also run
//! one after another on one shared store. A backend calls every one of them too, one test
//! each on a fresh store, and checks that it does with [`assert_every_facade_behaviour_called`]:
//!
//! ```text
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn facade_merge_folds_into_survivor() {
//!     tessera_store_conformance::facade::merge_folds_into_survivor(&MyStore::fresh().await).await;
//! }
//!
//! #[test]
//! fn every_facade_behaviour_is_called() {
//!     tessera_store_conformance::assert_every_facade_behaviour_called(include_str!("main.rs"));
//! }
//! ```
//!
//! [`Ecosystem`]: tessera_core::Ecosystem
//!
//! ## What the traits leave open, and how this suite decides it
//!
//! - **Append: `Invalid` before `Conflict`.** Arguments that contradict themselves are
//!   [`StoreError::Invalid`], decided from the arguments alone, whatever the stream
//!   holds: no entries; an entry of another stream; seqs that are not consecutive; a
//!   first seq that is not `expected_seq + 1`. [`StoreError::Conflict`] means only that the
//!   arguments agree with themselves but the stream's last seq is not `expected_seq`. So a
//!   writer who read a stale head and built its entries on it gets `Conflict`; a caller who
//!   built entries that do not follow its own `expected_seq` gets `Invalid`, even when the
//!   entries would happen to fit the stream. Either way nothing is written.
//! - **The ecosystem ledger is one stream.** Its first entry fixes the ecosystem ID; a batch
//!   that mixes IDs, or names another ecosystem than the stored entries, is `Invalid`.
//! - **Unknown things.** Reads of an unknown customer's stream are empty and its last seq is
//!   0; `resolve`, `alias`, `profile`, `partner` and `resolve_pseudonym` of unknown keys are
//!   `None`; `identifiers` of an unknown customer is empty; `unlink` and `relink` of an
//!   identifier not linked to the given customer, and `update_partner` of an unknown partner,
//!   are [`StoreError::NotFound`]; `erase` and `forget_pseudonyms` of an unknown customer
//!   succeed (they are idempotent).
//! - **Self-alias.** `set_alias(x, x)` is `Invalid` (a customer is not merged into itself).
//! - **Tokens.** A token is live while unrevoked and `now <= expires_at` (the token's own
//!   check is `$t <= expires_at`, so it still verifies at its expiry). Feed cursors start
//!   above 0, so `revocations_since(0, ..)` reads the whole feed.
//! - **Identifier order.** `identifiers` must return the same order on every call; which
//!   order is not pinned down.
//!
//! [`StoreError::Invalid`]: tessera_core::StoreError::Invalid
//! [`StoreError::Conflict`]: tessera_core::StoreError::Conflict
//! [`StoreError::NotFound`]: tessera_core::StoreError::NotFound

mod concurrency;
pub mod facade;
mod fixture;
mod identity;
mod ledger;
mod partner;
mod pseudonym;
mod tokens;

pub use concurrency::*;
pub use identity::*;
pub use ledger::*;
pub use partner::*;
pub use pseudonym::*;
pub use tokens::*;

/// The source of every module that defines behaviours, for [`behaviours`].
const SOURCES: &[(&str, &str)] = &[
    ("concurrency.rs", include_str!("concurrency.rs")),
    ("identity.rs", include_str!("identity.rs")),
    ("ledger.rs", include_str!("ledger.rs")),
    ("partner.rs", include_str!("partner.rs")),
    ("pseudonym.rs", include_str!("pseudonym.rs")),
    ("tokens.rs", include_str!("tokens.rs")),
];

/// The source of the facade behaviours, for [`facade_behaviours`]: apart from [`SOURCES`]
/// because each needs a fresh store.
const FACADE_SOURCES: &[(&str, &str)] = &[("facade.rs", include_str!("facade.rs"))];

/// The name of every store behaviour of the suite: every `pub async fn` in its source.
pub fn behaviours() -> Vec<&'static str> {
    names_in(SOURCES)
}

/// The name of every facade behaviour (module [`facade`]): every `pub async fn` in its
/// source.
pub fn facade_behaviours() -> Vec<&'static str> {
    names_in(FACADE_SOURCES)
}

fn names_in(sources: &[(&str, &'static str)]) -> Vec<&'static str> {
    let mut names = Vec::new();
    for (_, source) in sources {
        for line in source.lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub async fn ") else {
                continue;
            };
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.push(&rest[..end]);
        }
    }
    names.sort_unstable();
    names
}

/// Panics, naming them, unless `test_source` (a backend's test file, usually
/// `include_str!("main.rs")`) calls every behaviour of the suite: contains `NAME(` for each
/// name of [`behaviours`], with `NAME` neither part of a longer identifier nor the name of a
/// function being defined.
pub fn assert_every_behaviour_called(test_source: &str) {
    let missing: Vec<&str> = behaviours()
        .into_iter()
        .filter(|name| !calls(test_source, name))
        .collect();
    assert!(
        missing.is_empty(),
        "the backend's tests do not call these conformance behaviours: {}",
        missing.join(", ")
    );
}

/// Panics, naming them, unless `test_source` calls every facade behaviour of the suite
/// (every name of [`facade_behaviours`]), as [`assert_every_behaviour_called`] does for the
/// store behaviours.
pub fn assert_every_facade_behaviour_called(test_source: &str) {
    let missing: Vec<&str> = facade_behaviours()
        .into_iter()
        .filter(|name| !calls(test_source, name))
        .collect();
    assert!(
        missing.is_empty(),
        "the backend's tests do not call these facade conformance behaviours: {}",
        missing.join(", ")
    );
}

/// Whether `source` calls `name`: has `name(` with `name` not the tail of a longer
/// identifier and not right after `fn` (a test function named like the behaviour is not a
/// call of it).
fn calls(source: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    source.match_indices(&pattern).any(|(at, _)| {
        let before = &source[..at];
        let whole = !before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let defined = before.trim_end().strip_suffix("fn").is_some_and(|b| {
            !b.chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        });
        whole && !defined
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_is_scanned() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".rs"))
            .filter(|name| name != "lib.rs" && name != "fixture.rs")
            .collect();
        on_disk.sort();
        let mut scanned: Vec<&str> = SOURCES
            .iter()
            .chain(FACADE_SOURCES)
            .map(|(name, _)| *name)
            .collect();
        scanned.sort_unstable();
        assert_eq!(
            on_disk, scanned,
            "list every behaviour module in SOURCES or FACADE_SOURCES"
        );
        for (name, source) in SOURCES.iter().chain(FACADE_SOURCES) {
            assert!(
                source.contains("pub async fn "),
                "{name} defines no behaviour"
            );
        }
        let lib = include_str!("lib.rs");
        let fixture = include_str!("fixture.rs");
        for source in [lib, fixture] {
            assert!(
                !source
                    .lines()
                    .any(|l| l.trim_start().starts_with("pub async fn ")),
                "behaviours live in the modules of SOURCES"
            );
        }
    }

    #[test]
    fn behaviours_are_found_and_unique() {
        let names = behaviours();
        assert!(names.contains(&"append_and_read_customer"), "{names:?}");
        assert!(
            names.contains(&"concurrent_appends_one_customer"),
            "{names:?}"
        );
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(unique, names);

        let facade = facade_behaviours();
        assert!(facade.contains(&"merge_folds_into_survivor"), "{facade:?}");
        let mut unique = facade.clone();
        unique.dedup();
        assert_eq!(unique, facade);
        assert!(
            facade.iter().all(|name| !names.contains(name)),
            "a facade behaviour and a store behaviour share a name"
        );
    }

    #[test]
    #[should_panic(expected = "do not call these facade conformance behaviours")]
    fn a_missing_facade_call_is_named() {
        assert_every_facade_behaviour_called("facade::merge_folds_into_survivor(&store)");
    }

    #[test]
    fn calls_need_a_whole_name() {
        assert!(calls("x::erase_is_idempotent(&s)", "erase_is_idempotent"));
        assert!(calls("erase_is_idempotent(&s)", "erase_is_idempotent"));
        assert!(!calls("my_erase_is_idempotent(&s)", "erase_is_idempotent"));
        assert!(!calls("erase_is_idempotent", "erase_is_idempotent"));
        assert!(!calls(
            "async fn erase_is_idempotent() {}",
            "erase_is_idempotent"
        ));
        assert!(calls(
            "async fn erase_is_idempotent() { c::erase_is_idempotent(&s) }",
            "erase_is_idempotent"
        ));
        assert!(calls("cfn erase_is_idempotent(&s)", "erase_is_idempotent"));
    }

    #[test]
    #[should_panic(expected = "do not call these conformance behaviours")]
    fn a_missing_call_is_named() {
        assert_every_behaviour_called("append_and_read_customer(&store)");
    }
}
