//! Pseudonym index behaviours: per-sector keys, conflicts and replacement, forgetting.

use tessera_core::Store;

use crate::fixture::{conflict, customer, ok, pseudonym, sector};

/// The index is keyed by sector and pseudonym: the same pseudonym text in two sectors is two
/// keys that resolve to different customers; recording a mapping again is a no-op; an
/// unknown pseudonym, or a known one in another sector, resolves to nothing.
pub async fn pseudonyms_resolve_per_sector<S: Store>(store: &S) {
    let a = customer();
    let b = customer();
    let one = sector("one");
    let two = sector("two");
    let three = sector("three");
    let shared = pseudonym(&one, a);

    ok(
        store.put_pseudonym(&one, &shared, a, false).await,
        "put in sector one",
    );
    ok(
        store.put_pseudonym(&two, &shared, b, false).await,
        "same text in sector two",
    );
    assert_eq!(
        ok(store.resolve_pseudonym(&one, &shared).await, "resolve"),
        Some(a),
        "sector one"
    );
    assert_eq!(
        ok(store.resolve_pseudonym(&two, &shared).await, "resolve"),
        Some(b),
        "the same pseudonym text in another sector is another key"
    );
    assert_eq!(
        ok(store.resolve_pseudonym(&three, &shared).await, "resolve"),
        None,
        "a sector where the pseudonym was never recorded"
    );
    assert_eq!(
        ok(
            store.resolve_pseudonym(&one, &pseudonym(&one, b)).await,
            "resolve"
        ),
        None,
        "an unknown pseudonym"
    );

    ok(
        store.put_pseudonym(&one, &shared, a, false).await,
        "record the same mapping again",
    );
    ok(
        store.put_pseudonym(&one, &shared, a, true).await,
        "again, with replace",
    );
    assert_eq!(
        ok(store.resolve_pseudonym(&one, &shared).await, "resolve"),
        Some(a),
        "recording the same mapping again is a no-op"
    );
}

/// Recording a pseudonym for another customer is `Conflict` without `replace` (and changes
/// nothing), and moves it with `replace`.
pub async fn pseudonym_conflict_and_replace<S: Store>(store: &S) {
    let first = customer();
    let second = customer();
    let s = sector("replace");
    let p = pseudonym(&s, first);
    ok(store.put_pseudonym(&s, &p, first, false).await, "put");
    conflict(
        store.put_pseudonym(&s, &p, second, false).await,
        "the same pseudonym for another customer, without replace",
    );
    assert_eq!(
        ok(store.resolve_pseudonym(&s, &p).await, "resolve"),
        Some(first),
        "a refused put changes nothing"
    );
    ok(store.put_pseudonym(&s, &p, second, true).await, "replace");
    assert_eq!(
        ok(store.resolve_pseudonym(&s, &p).await, "resolve"),
        Some(second),
        "replace moves the pseudonym"
    );
}

/// `forget_pseudonyms` deletes every pseudonym that resolves to the customer, in every
/// sector, including one moved to it by `replace`, and none that resolves to another
/// customer — including one moved away from it.
pub async fn forget_pseudonyms_of_one_customer<S: Store>(store: &S) {
    let forgotten = customer();
    let kept = customer();
    let sectors = [sector("forget-a"), sector("forget-b")];
    for s in &sectors {
        ok(
            store
                .put_pseudonym(s, &pseudonym(s, forgotten), forgotten, false)
                .await,
            "put",
        );
        ok(
            store
                .put_pseudonym(s, &pseudonym(s, kept), kept, false)
                .await,
            "put",
        );
    }
    // One pseudonym moves from `kept` to `forgotten`, one the other way.
    let s = sector("forget-moved");
    let to_forgotten = pseudonym(&s, kept);
    let to_kept = pseudonym(&s, forgotten);
    ok(
        store.put_pseudonym(&s, &to_forgotten, kept, false).await,
        "put",
    );
    ok(
        store
            .put_pseudonym(&s, &to_forgotten, forgotten, true)
            .await,
        "move",
    );
    ok(
        store.put_pseudonym(&s, &to_kept, forgotten, false).await,
        "put",
    );
    ok(store.put_pseudonym(&s, &to_kept, kept, true).await, "move");

    ok(store.forget_pseudonyms(forgotten).await, "forget");

    for s in &sectors {
        assert_eq!(
            ok(
                store.resolve_pseudonym(s, &pseudonym(s, forgotten)).await,
                "resolve"
            ),
            None,
            "every sector's pseudonym of the customer is forgotten"
        );
        assert_eq!(
            ok(
                store.resolve_pseudonym(s, &pseudonym(s, kept)).await,
                "resolve"
            ),
            Some(kept),
            "another customer's pseudonym is kept"
        );
    }
    assert_eq!(
        ok(store.resolve_pseudonym(&s, &to_forgotten).await, "resolve"),
        None,
        "a pseudonym moved to the customer is forgotten with it"
    );
    assert_eq!(
        ok(store.resolve_pseudonym(&s, &to_kept).await, "resolve"),
        Some(kept),
        "a pseudonym moved away from the customer is kept"
    );
}
