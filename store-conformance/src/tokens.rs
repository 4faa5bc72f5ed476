//! Issued tokens and the revocation feed ([`TokenStore`]).
//!
//! [`Store`] does not include [`TokenStore`], so these behaviours ask for both.

use std::collections::BTreeSet;

use futures::future::join_all;
use tessera_core::{CustomerId, PartnerId, Revocation, Store, TokenRecord, TokenStore};
use time::{Duration, OffsetDateTime};

use crate::fixture::{T0, customer, ok, partner_id, revocation_id, yield_now};

/// "Now" in the token behaviours.
const NOW: OffsetDateTime = T0;

/// A token of `customer` for `partner` with `ids` fresh revocation ids, expiring at
/// `expires_at`.
fn token(
    customer: CustomerId,
    partner: PartnerId,
    ids: usize,
    expires_at: OffsetDateTime,
) -> TokenRecord {
    TokenRecord {
        customer,
        partner,
        consent_version: 3,
        revocation_ids: (0..ids).map(|_| revocation_id()).collect(),
        issued_at: expires_at - Duration::minutes(10),
        expires_at,
    }
}

fn live(customer: CustomerId, partner: PartnerId) -> TokenRecord {
    token(customer, partner, 2, NOW + Duration::minutes(5))
}

async fn record<S: TokenStore>(store: &S, records: &[&TokenRecord]) {
    for r in records {
        ok(store.record_token(r).await, "record a token");
    }
}

async fn partners_of<S: TokenStore>(store: &S, c: CustomerId) -> BTreeSet<PartnerId> {
    let listed = ok(store.token_partners(c, NOW).await, "token_partners");
    let set: BTreeSet<PartnerId> = listed.iter().copied().collect();
    assert_eq!(
        set.len(),
        listed.len(),
        "token_partners lists each partner once"
    );
    set
}

/// The revocations a set of tokens should publish: one per revocation id, with the token's
/// partner and expiry, as `(id, partner, expires_at)` in no particular order.
fn expected(records: &[&TokenRecord]) -> BTreeSet<(String, PartnerId, OffsetDateTime)> {
    records
        .iter()
        .flat_map(|r| {
            r.revocation_ids
                .iter()
                .map(|id| (id.clone(), r.partner, r.expires_at))
        })
        .collect()
}

fn published(revocations: &[Revocation]) -> BTreeSet<(String, PartnerId, OffsetDateTime)> {
    let set: BTreeSet<_> = revocations
        .iter()
        .map(|r| (r.revocation_id.clone(), r.partner, r.expires_at))
        .collect();
    assert_eq!(
        set.len(),
        revocations.len(),
        "each revocation id is published once"
    );
    set
}

/// Asserts that the feed, read from the start, holds `mine` with the same cursors, and that
/// cursors strictly increase.
async fn in_feed<S: TokenStore>(store: &S, mine: &[Revocation]) {
    let feed = ok(
        store.revocations_since(0, usize::MAX).await,
        "read the feed",
    );
    assert!(
        feed.windows(2).all(|w| w[0].cursor < w[1].cursor),
        "feed cursors strictly increase"
    );
    for r in mine {
        assert!(
            feed.contains(r),
            "every revocation returned by a revoke call is on the feed, with the same cursor"
        );
    }
}

/// Recorded tokens make their partners holders: `token_partners` lists each partner with a
/// live token of the customer once — a token is live through its `expires_at` (its check is
/// `$t <= expires_at`) — and not partners whose tokens expired or belong to another
/// customer.
pub async fn tokens_record_and_list_partners<S: Store>(store: &S) {
    let c = customer();
    let other = customer();
    let (twice, once, at_edge, expired, elsewhere) = (
        partner_id(),
        partner_id(),
        partner_id(),
        partner_id(),
        partner_id(),
    );
    assert!(
        partners_of(store, c).await.is_empty(),
        "a customer without tokens has no holders"
    );
    record(
        store,
        &[
            &live(c, twice),
            &live(c, twice),
            &live(c, once),
            &token(c, at_edge, 1, NOW),
            &token(c, expired, 1, NOW - Duration::seconds(1)),
            &live(other, elsewhere),
        ],
    )
    .await;
    assert_eq!(
        partners_of(store, c).await,
        BTreeSet::from([twice, once, at_edge]),
        "the partners with live tokens, each once; a token is live at its expiry, not after"
    );
    assert_eq!(partners_of(store, other).await, BTreeSet::from([elsewhere]));
}

/// `revoke_tokens` revokes the customer's live tokens — one partner's when given, all
/// otherwise — returns one feed entry per revocation id (with the token's partner and
/// expiry) that is also on the feed, stops listing those partners as holders, and publishes
/// nothing for expired tokens, other customers' tokens, or a second revocation.
pub async fn revoke_tokens_publishes_feed<S: Store>(store: &S) {
    let c = customer();
    let other = customer();
    let (first, second) = (partner_id(), partner_id());
    let a = live(c, first);
    let b = live(c, first);
    let d = live(c, second);
    let expired = token(c, second, 1, NOW - Duration::minutes(1));
    let foreign = live(other, first);
    record(store, &[&a, &b, &d, &expired, &foreign]).await;

    let one = ok(
        store.revoke_tokens(c, Some(first), NOW).await,
        "revoke one partner's tokens",
    );
    assert_eq!(
        published(&one),
        expected(&[&a, &b]),
        "one feed entry per revocation id of that partner's live tokens"
    );
    assert_eq!(partners_of(store, c).await, BTreeSet::from([second]));
    assert!(
        ok(
            store.revoke_tokens(c, Some(first), NOW).await,
            "revoke again"
        )
        .is_empty(),
        "revoking twice publishes nothing new"
    );

    let rest = ok(store.revoke_tokens(c, None, NOW).await, "revoke all");
    assert_eq!(
        published(&rest),
        expected(&[&d]),
        "revoking all publishes the remaining live tokens only, not expired ones"
    );
    assert!(partners_of(store, c).await.is_empty(), "no holder is left");
    assert!(
        ok(store.revoke_tokens(c, None, NOW).await, "revoke all again").is_empty(),
        "revoking twice publishes nothing new"
    );
    assert_eq!(
        partners_of(store, other).await,
        BTreeSet::from([first]),
        "another customer's tokens stay live"
    );
    assert!(
        ok(store.revoke_tokens(customer(), None, NOW).await, "revoke").is_empty(),
        "a customer without tokens publishes nothing"
    );
    in_feed(store, &[one, rest].concat()).await;
}

/// `revoke_partner_tokens` revokes a partner's live tokens of every customer, and only that
/// partner's; a second call publishes nothing new.
pub async fn revoke_partner_tokens_across_customers<S: Store>(store: &S) {
    let (c1, c2) = (customer(), customer());
    let (suspended, other) = (partner_id(), partner_id());
    let t1 = live(c1, suspended);
    let t2 = live(c2, suspended);
    let kept = live(c1, other);
    record(store, &[&t1, &t2, &kept]).await;

    let revoked = ok(
        store.revoke_partner_tokens(suspended, NOW).await,
        "revoke a partner's tokens",
    );
    assert_eq!(
        published(&revoked),
        expected(&[&t1, &t2]),
        "every customer's tokens of that partner are revoked"
    );
    assert_eq!(partners_of(store, c1).await, BTreeSet::from([other]));
    assert!(partners_of(store, c2).await.is_empty());
    assert!(
        ok(store.revoke_partner_tokens(suspended, NOW).await, "again").is_empty(),
        "revoking twice publishes nothing new"
    );
    assert!(
        ok(
            store.revoke_partner_tokens(partner_id(), NOW).await,
            "unknown"
        )
        .is_empty(),
        "a partner without tokens publishes nothing"
    );
    in_feed(store, &revoked).await;
}

/// The feed pages by cursor: `revocations_since(cursor, limit)` returns at most `limit`
/// entries with a greater cursor, oldest first, so paging from 0 reads the whole feed
/// once (cursors start above 0); past the last cursor, or with limit 0, it is empty.
pub async fn revocation_feed_pages_by_cursor<S: Store>(store: &S) {
    let c = customer();
    let tokens: Vec<TokenRecord> = (0..3).map(|_| live(c, partner_id())).collect();
    for t in &tokens {
        ok(store.record_token(t).await, "record a token");
    }
    let revoked = ok(store.revoke_tokens(c, None, NOW).await, "revoke");
    assert_eq!(revoked.len(), 6, "three tokens of two ids each");

    let whole = ok(
        store.revocations_since(0, usize::MAX).await,
        "read the feed",
    );
    assert!(
        whole.iter().all(|r| r.cursor > 0),
        "cursors start above 0, so that revocations_since(0, ..) reads the whole feed"
    );
    let mut paged = Vec::new();
    let mut cursor = 0;
    loop {
        let page = ok(store.revocations_since(cursor, 2).await, "read a page");
        assert!(page.len() <= 2, "a page holds at most `limit` entries");
        assert!(
            page.iter().all(|r| r.cursor > cursor),
            "a page holds only entries after the cursor"
        );
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        paged.extend(page);
    }
    assert_eq!(
        paged, whole,
        "paging from 0 reads the whole feed once, in order"
    );
    assert!(
        ok(store.revocations_since(cursor, 10).await, "past the end").is_empty(),
        "nothing after the last cursor"
    );
    assert!(
        ok(store.revocations_since(0, 0).await, "limit 0").is_empty(),
        "limit 0 returns nothing"
    );
    let first_mine = revoked.iter().map(|r| r.cursor).min().unwrap_or(0);
    let tail = ok(
        store.revocations_since(first_mine - 1, usize::MAX).await,
        "read from before the revocations",
    );
    assert!(
        revoked.iter().all(|r| tail.contains(r)),
        "reading from just before a revocation's cursor includes it"
    );
}

/// Eight revokers of one customer's tokens at once: every revocation id is published
/// exactly once across all of them, and the feed holds each once.
pub async fn concurrent_revocations_publish_once<S: Store>(store: &S) {
    let c = customer();
    let tokens: Vec<TokenRecord> = (0..4).map(|_| live(c, partner_id())).collect();
    for t in &tokens {
        ok(store.record_token(t).await, "record a token");
    }
    let results = join_all((0..8).map(|i| async move {
        for _ in 0..i % 3 {
            yield_now().await;
        }
        store.revoke_tokens(c, None, NOW).await
    }))
    .await;
    let all: Vec<Revocation> = results
        .into_iter()
        .flat_map(|r| ok(r, "a concurrent revoke"))
        .collect();
    let refs: Vec<&TokenRecord> = tokens.iter().collect();
    assert_eq!(
        published(&all),
        expected(&refs),
        "every revocation id is published exactly once across concurrent revokers"
    );
    let ids: BTreeSet<&str> = all.iter().map(|r| r.revocation_id.as_str()).collect();
    let feed = ok(
        store.revocations_since(0, usize::MAX).await,
        "read the feed",
    );
    let on_feed = feed
        .iter()
        .filter(|r| ids.contains(r.revocation_id.as_str()))
        .count();
    assert_eq!(on_feed, all.len(), "the feed holds each revocation once");
    assert!(partners_of(store, c).await.is_empty(), "no holder is left");
}
