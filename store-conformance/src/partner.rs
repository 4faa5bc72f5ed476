//! Partner behaviours: create, read, list and versioned update.

use tessera_core::{PartnerStatus, Store};

use crate::fixture::{conflict, not_found, ok, partner, partner_id};

/// Creating a partner stores it as given (every field), reading an unknown ID is `None`,
/// and creating an existing ID again is `Conflict` and keeps the first record.
pub async fn partner_create_and_read<S: Store>(store: &S) {
    let p = partner("create");
    assert_eq!(
        ok(store.partner(p.id).await, "partner"),
        None,
        "not created yet"
    );
    ok(store.create_partner(&p).await, "create");
    assert_eq!(
        ok(store.partner(p.id).await, "partner"),
        Some(p.clone()),
        "a created partner reads back with every field as given"
    );

    let mut twin = partner("twin");
    twin.id = p.id;
    conflict(
        store.create_partner(&twin).await,
        "create an existing ID again",
    );
    assert_eq!(
        ok(store.partner(p.id).await, "partner"),
        Some(p),
        "a refused creation keeps the first record"
    );
    assert_eq!(
        ok(store.partner(partner_id()).await, "partner"),
        None,
        "an unknown partner is None"
    );
}

/// `partners` lists every partner, ordered by ID, whatever order they were created in.
pub async fn partners_listed_by_id<S: Store>(store: &S) {
    let mut created: Vec<_> = (0..6).map(|i| partner(&format!("listed-{i}"))).collect();
    // Create in reverse ID order, so that insertion order is not ID order.
    created.sort_by_key(|p| std::cmp::Reverse(p.id));
    for p in &created {
        ok(store.create_partner(p).await, "create");
    }
    let listed = ok(store.partners().await, "partners");
    assert!(
        listed.windows(2).all(|w| w[0].id < w[1].id),
        "partners are listed in strictly increasing ID order"
    );
    let ours: Vec<_> = listed
        .into_iter()
        .filter(|p| created.iter().any(|c| c.id == p.id))
        .collect();
    created.reverse();
    assert_eq!(
        ours, created,
        "every created partner is listed once, as stored"
    );
}

/// `update_partner` replaces a partner whose stored version is `expected_version`, and the
/// stored version becomes `expected_version + 1` whatever the given record says; a stale or
/// future version is `Conflict` and changes nothing; an unknown partner is `NotFound`.
pub async fn partner_update_checks_version<S: Store>(store: &S) {
    let p = partner("update");
    ok(store.create_partner(&p).await, "create");

    let mut first = p.clone();
    first.name = format!("{} (renamed)", p.name);
    first.status = PartnerStatus::Suspended;
    first.declarations.truncate(1);
    first.version = 42;
    ok(
        store.update_partner(&first, p.version).await,
        "update at the stored version",
    );
    let mut expected = first.clone();
    expected.version = p.version + 1;
    assert_eq!(
        ok(store.partner(p.id).await, "partner"),
        Some(expected.clone()),
        "the update is stored at version expected + 1, not the version it carried"
    );

    let mut stale = p.clone();
    stale.name = "stale".into();
    conflict(
        store.update_partner(&stale, p.version).await,
        "update at the version before",
    );
    conflict(
        store.update_partner(&stale, p.version + 2).await,
        "update at a future version",
    );
    assert_eq!(
        ok(store.partner(p.id).await, "partner"),
        Some(expected.clone()),
        "a refused update changes nothing"
    );

    let mut second = expected.clone();
    second.status = PartnerStatus::Active;
    ok(
        store.update_partner(&second, expected.version).await,
        "update at the new version",
    );
    second.version = expected.version + 1;
    assert_eq!(ok(store.partner(p.id).await, "partner"), Some(second));
}

/// Updating a partner that does not exist is `NotFound` and creates nothing.
pub async fn update_unknown_partner_not_found<S: Store>(store: &S) {
    let p = partner("unknown");
    not_found(
        store.update_partner(&p, 0).await,
        "update an unknown partner",
    );
    assert_eq!(
        ok(store.partner(p.id).await, "partner"),
        None,
        "a refused update creates nothing"
    );
}
