//! Identity behaviours: linking identifiers, profiles, merge at the store level (relink,
//! aliases, pseudonyms) and erasure.

use std::collections::BTreeSet;

use serde_json::json;
use tessera_core::{CustomerId, Identifier, Store};

use crate::fixture::{
    conflict, customer, customer_entries, email, federated, invalid, not_found, ok,
    partner_account, pseudonym, sector, verified,
};

/// The identifiers of `c` as a set, asserting that two calls list them in the same order.
async fn identifier_set<S: Store>(store: &S, c: CustomerId) -> BTreeSet<Identifier> {
    let once = ok(store.identifiers(c).await, "identifiers");
    let twice = ok(store.identifiers(c).await, "identifiers");
    assert_eq!(once, twice, "identifiers must come in a stable order");
    let set: BTreeSet<Identifier> = once.iter().cloned().collect();
    assert_eq!(
        set.len(),
        once.len(),
        "identifiers lists each identifier once"
    );
    set
}

fn set_of(ids: &[&Identifier]) -> BTreeSet<Identifier> {
    ids.iter().map(|&i| i.clone()).collect()
}

/// Linking identifiers of every kind and resolving them: each resolves to its customer,
/// `identifiers` lists them, linking one again to the same customer is a no-op, and unknown
/// identifiers and customers resolve to nothing.
pub async fn link_and_resolve<S: Store>(store: &S) {
    let c = customer();
    let mail = email("ada");
    let fed = federated("ada");
    let account = partner_account("ada");
    let phone = Identifier::phone("+44 20 7946 0958").expect("a valid number");
    // A shared store may hold this fixed number already; use it only when it is free.
    let phone_free = ok(store.resolve(&phone).await, "resolve").is_none();

    for id in [&mail, &fed, &account] {
        assert_eq!(
            ok(store.resolve(id).await, "resolve"),
            None,
            "not linked yet"
        );
        ok(store.link(id, c).await, "link a free identifier");
    }
    if phone_free {
        ok(store.link(&phone, c).await, "link a free phone number");
    }
    for id in [&mail, &fed, &account] {
        assert_eq!(
            ok(store.resolve(id).await, "resolve"),
            Some(c),
            "a linked {} identifier resolves to its customer",
            id.kind()
        );
    }
    let mut expected = set_of(&[&mail, &fed, &account]);
    if phone_free {
        expected.insert(phone.clone());
    }
    assert_eq!(
        identifier_set(store, c).await,
        expected,
        "identifiers lists every link"
    );

    ok(
        store.link(&mail, c).await,
        "link the same identifier to the same customer again",
    );
    assert_eq!(
        identifier_set(store, c).await,
        expected,
        "linking again is a no-op"
    );

    assert_eq!(
        ok(store.resolve(&email("nobody")).await, "resolve"),
        None,
        "an unknown identifier resolves to nothing"
    );
    assert!(
        ok(store.identifiers(customer()).await, "identifiers").is_empty(),
        "an unknown customer has no identifiers"
    );
}

/// Linking an identifier that belongs to another customer is `Conflict` and changes
/// nothing: it still resolves to its owner, and the other customer does not hold it.
pub async fn link_taken_identifier_conflicts<S: Store>(store: &S) {
    let owner = customer();
    let other = customer();
    let id = email("taken");
    ok(store.link(&id, owner).await, "link to the owner");
    conflict(store.link(&id, other).await, "link to another customer");
    assert_eq!(
        ok(store.resolve(&id).await, "resolve"),
        Some(owner),
        "a conflicting link must not move the identifier"
    );
    assert!(
        identifier_set(store, other).await.is_empty(),
        "the losing customer holds nothing"
    );
    assert_eq!(identifier_set(store, owner).await, set_of(&[&id]));
}

/// Unlinking: the owner unlinks an identifier, which then resolves to nothing and may be
/// linked by another customer; unlinking an identifier not linked to that customer (unknown,
/// already unlinked, or another's) is `NotFound` and changes nothing.
pub async fn unlink_identifier<S: Store>(store: &S) {
    let c = customer();
    let other = customer();
    let kept = email("kept");
    let dropped = email("dropped");
    ok(store.link(&kept, c).await, "link");
    ok(store.link(&dropped, c).await, "link");

    ok(store.unlink(&dropped, c).await, "unlink by the owner");
    assert_eq!(
        ok(store.resolve(&dropped).await, "resolve"),
        None,
        "an unlinked identifier resolves to nothing"
    );
    assert_eq!(
        identifier_set(store, c).await,
        set_of(&[&kept]),
        "the other link stays"
    );

    not_found(store.unlink(&dropped, c).await, "unlink twice");
    not_found(
        store.unlink(&email("never"), c).await,
        "unlink an unknown identifier",
    );
    not_found(
        store.unlink(&kept, other).await,
        "unlink another customer's identifier",
    );
    assert_eq!(
        ok(store.resolve(&kept).await, "resolve"),
        Some(c),
        "a refused unlink changes nothing"
    );

    ok(
        store.link(&dropped, other).await,
        "an unlinked identifier is free to link",
    );
    assert_eq!(ok(store.resolve(&dropped).await, "resolve"), Some(other));
}

/// Relinking moves an identifier from one customer to another in one step; relinking one
/// that is not linked to `from` (unknown, or another's) is `NotFound` and changes nothing.
pub async fn relink_identifier<S: Store>(store: &S) {
    let from = customer();
    let to = customer();
    let third = customer();
    let moved = email("moved");
    let stays = email("stays");
    ok(store.link(&moved, from).await, "link");
    ok(store.link(&stays, from).await, "link");

    ok(
        store.relink(&moved, from, to).await,
        "relink to another customer",
    );
    assert_eq!(
        ok(store.resolve(&moved).await, "resolve"),
        Some(to),
        "moved"
    );
    assert_eq!(identifier_set(store, from).await, set_of(&[&stays]));
    assert_eq!(identifier_set(store, to).await, set_of(&[&moved]));

    not_found(
        store.relink(&moved, from, third).await,
        "relink from a customer that no longer holds it",
    );
    not_found(
        store.relink(&email("never"), from, to).await,
        "relink an unknown identifier",
    );
    assert_eq!(
        ok(store.resolve(&moved).await, "resolve"),
        Some(to),
        "a refused relink changes nothing"
    );
    assert!(identifier_set(store, third).await.is_empty());
}

/// Profiles: stored as given (any JSON), replaced whole by the next `put_profile`, and
/// `None` for a customer without one.
pub async fn profiles_put_and_replace<S: Store>(store: &S) {
    let c = customer();
    assert_eq!(
        ok(store.profile(c).await, "profile"),
        None,
        "no profile yet"
    );
    let first = json!({
        "name": "Ada Lovelace",
        "locale": "en-GB",
        "nested": {"seats": ["12A", "12B"], "vip": true, "miles": 120_000, "note": null},
        "unicode": "Zoë — ✈",
    });
    ok(store.put_profile(c, &first).await, "put a profile");
    assert_eq!(
        ok(store.profile(c).await, "profile"),
        Some(first),
        "the profile reads back as stored"
    );
    let second = json!({"name": "A. L."});
    ok(store.put_profile(c, &second).await, "replace the profile");
    assert_eq!(
        ok(store.profile(c).await, "profile"),
        Some(second),
        "a new profile replaces the old one whole"
    );
    assert_eq!(
        ok(store.profile(customer()).await, "profile"),
        None,
        "another customer has no profile"
    );
}

/// Aliases: `set_alias` records a merge, `alias` returns the survivor (one hop, even when the
/// survivor was itself absorbed later), setting the same alias again is a no-op, a
/// different survivor is `Conflict` and changes nothing, and unknown IDs have no alias.
pub async fn set_alias_and_alias<S: Store>(store: &S) {
    let absorbed = customer();
    let survivor = customer();
    let later = customer();
    assert_eq!(
        ok(store.alias(absorbed).await, "alias"),
        None,
        "no alias yet"
    );

    ok(store.set_alias(absorbed, survivor).await, "set an alias");
    assert_eq!(ok(store.alias(absorbed).await, "alias"), Some(survivor));
    ok(
        store.set_alias(absorbed, survivor).await,
        "set the same alias again",
    );
    assert_eq!(
        ok(store.alias(absorbed).await, "alias"),
        Some(survivor),
        "a no-op"
    );

    conflict(
        store.set_alias(absorbed, later).await,
        "merge an absorbed customer into another survivor",
    );
    assert_eq!(
        ok(store.alias(absorbed).await, "alias"),
        Some(survivor),
        "a refused alias changes nothing"
    );

    ok(
        store.set_alias(survivor, later).await,
        "absorb the survivor in turn",
    );
    assert_eq!(
        ok(store.alias(absorbed).await, "alias"),
        Some(survivor),
        "alias is one hop"
    );
    assert_eq!(ok(store.alias(survivor).await, "alias"), Some(later));
    assert_eq!(
        ok(store.alias(later).await, "alias"),
        None,
        "the last survivor has none"
    );
}

/// `set_alias(x, x)` is `Invalid` and records nothing: a customer is not merged into
/// itself.
pub async fn alias_to_self_is_invalid<S: Store>(store: &S) {
    let c = customer();
    invalid(store.set_alias(c, c).await, "merge a customer into itself");
    assert_eq!(ok(store.alias(c).await, "alias"), None, "nothing recorded");
}

/// A merge as the facade does it at the store level: every identifier of the absorbed
/// customer is relinked to the survivor, the alias is set, and the absorbed pseudonym is
/// pointed at the survivor with `put_pseudonym(.., replace = true)`. Afterwards everything
/// resolves to the survivor, `replace = false` cannot take the pseudonym back, and neither
/// ledger is touched.
pub async fn merge_moves_identity_to_survivor<S: Store>(store: &S) {
    let survivor = customer();
    let absorbed = customer();
    let own = email("survivor");
    let moved = [email("absorbed"), federated("absorbed")];
    ok(store.link(&own, survivor).await, "link to the survivor");
    for id in &moved {
        ok(
            store.link(id, absorbed).await,
            "link to the absorbed customer",
        );
    }
    let s = sector("merge");
    let p_survivor = pseudonym(&s, survivor);
    let p_absorbed = pseudonym(&s, absorbed);
    ok(
        store.put_pseudonym(&s, &p_survivor, survivor, false).await,
        "put pseudonym",
    );
    ok(
        store.put_pseudonym(&s, &p_absorbed, absorbed, false).await,
        "put pseudonym",
    );
    let survivor_stream = customer_entries(survivor, None, 2, "survivor");
    let absorbed_stream = customer_entries(absorbed, None, 3, "absorbed");
    ok(store.append(survivor, 0, &survivor_stream).await, "append");
    ok(store.append(absorbed, 0, &absorbed_stream).await, "append");

    for id in ok(store.identifiers(absorbed).await, "identifiers") {
        ok(
            store.relink(&id, absorbed, survivor).await,
            "relink to the survivor",
        );
    }
    ok(store.set_alias(absorbed, survivor).await, "set the alias");
    ok(
        store.put_pseudonym(&s, &p_absorbed, survivor, true).await,
        "point the absorbed pseudonym at the survivor",
    );

    assert!(
        identifier_set(store, absorbed).await.is_empty(),
        "the absorbed customer keeps no identifier"
    );
    assert_eq!(
        identifier_set(store, survivor).await,
        set_of(&[&own, &moved[0], &moved[1]]),
        "the survivor holds every identifier"
    );
    for id in moved.iter().chain([&own]) {
        assert_eq!(ok(store.resolve(id).await, "resolve"), Some(survivor));
    }
    assert_eq!(ok(store.alias(absorbed).await, "alias"), Some(survivor));
    assert_eq!(
        ok(
            store.resolve_pseudonym(&s, &p_absorbed).await,
            "resolve pseudonym"
        ),
        Some(survivor),
        "the absorbed pseudonym resolves to the survivor"
    );
    assert_eq!(
        ok(
            store.resolve_pseudonym(&s, &p_survivor).await,
            "resolve pseudonym"
        ),
        Some(survivor),
        "the survivor's own pseudonym is untouched"
    );
    conflict(
        store.put_pseudonym(&s, &p_absorbed, absorbed, false).await,
        "claim the moved pseudonym back without replace",
    );
    assert_eq!(
        ok(
            store.resolve_pseudonym(&s, &p_absorbed).await,
            "resolve pseudonym"
        ),
        Some(survivor),
        "a refused claim changes nothing"
    );
    assert_eq!(ok(store.read(survivor, 1).await, "read"), survivor_stream);
    assert_eq!(ok(store.read(absorbed, 1).await, "read"), absorbed_stream);
}

/// Erasure: `erase` and `forget_pseudonyms` delete the customer's identifiers, profile and
/// pseudonyms — nothing resolves to it any more and its identifiers are free — while its
/// ledger stays exactly as it was, and other customers keep everything.
pub async fn erase_forgets_identity_keeps_ledger<S: Store>(store: &S) {
    let gone = customer();
    let bystander = customer();
    let gone_ids = [email("gone"), federated("gone"), partner_account("gone")];
    let kept_id = email("bystander");
    for id in &gone_ids {
        ok(store.link(id, gone).await, "link");
    }
    ok(store.link(&kept_id, bystander).await, "link");
    ok(
        store.put_profile(gone, &json!({"name": "gone"})).await,
        "profile",
    );
    ok(
        store.put_profile(bystander, &json!({"name": "kept"})).await,
        "profile",
    );
    let sectors = [sector("erase-a"), sector("erase-b")];
    for s in &sectors {
        ok(
            store
                .put_pseudonym(s, &pseudonym(s, gone), gone, false)
                .await,
            "pseudonym",
        );
        ok(
            store
                .put_pseudonym(s, &pseudonym(s, bystander), bystander, false)
                .await,
            "pseudonym",
        );
    }
    let stream = customer_entries(gone, None, 3, "gone");
    ok(store.append(gone, 0, &stream).await, "append");

    ok(store.erase(gone).await, "erase");
    ok(store.forget_pseudonyms(gone).await, "forget pseudonyms");

    assert!(
        identifier_set(store, gone).await.is_empty(),
        "no identifier is left"
    );
    for id in &gone_ids {
        assert_eq!(
            ok(store.resolve(id).await, "resolve"),
            None,
            "an erased customer's {} identifier resolves to nothing",
            id.kind()
        );
    }
    assert_eq!(
        ok(store.profile(gone).await, "profile"),
        None,
        "the profile is gone"
    );
    for s in &sectors {
        assert_eq!(
            ok(
                store.resolve_pseudonym(s, &pseudonym(s, gone)).await,
                "resolve"
            ),
            None,
            "an erased customer's pseudonym resolves to nothing"
        );
    }
    let ledger = ok(store.read(gone, 1).await, "read");
    assert_eq!(ledger, stream, "erasure leaves the ledger as it was");
    verified(&ledger, "an erased customer's ledger");

    assert_eq!(
        ok(store.resolve(&kept_id).await, "resolve"),
        Some(bystander)
    );
    assert_eq!(
        ok(store.profile(bystander).await, "profile"),
        Some(json!({"name": "kept"})),
        "another customer's profile is kept"
    );
    for s in &sectors {
        assert_eq!(
            ok(
                store.resolve_pseudonym(s, &pseudonym(s, bystander)).await,
                "resolve"
            ),
            Some(bystander),
            "another customer's pseudonyms are kept"
        );
    }
    ok(
        store.link(&gone_ids[0], bystander).await,
        "an erased identifier is free to link",
    );
}

/// `erase` and `forget_pseudonyms` are idempotent: again on an erased customer, and on a
/// customer the store never saw, they succeed and change nothing.
pub async fn erase_is_idempotent<S: Store>(store: &S) {
    let c = customer();
    let id = email("twice");
    ok(store.link(&id, c).await, "link");
    let s = sector("twice");
    ok(
        store.put_pseudonym(&s, &pseudonym(&s, c), c, false).await,
        "pseudonym",
    );
    let stream = customer_entries(c, None, 1, "twice");
    ok(store.append(c, 0, &stream).await, "append");
    for round in 0..2 {
        ok(store.erase(c).await, &format!("erase, round {round}"));
        ok(
            store.forget_pseudonyms(c).await,
            &format!("forget, round {round}"),
        );
    }
    assert_eq!(ok(store.resolve(&id).await, "resolve"), None);
    assert_eq!(
        ok(store.read(c, 1).await, "read"),
        stream,
        "the ledger stays"
    );

    let unknown = customer();
    ok(store.erase(unknown).await, "erase an unknown customer");
    ok(
        store.forget_pseudonyms(unknown).await,
        "forget an unknown customer",
    );
}
