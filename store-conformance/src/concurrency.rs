//! Behaviours under concurrency: many writers at once, exactly one winner where a value is
//! unique, nothing lost, nothing interleaved.
//!
//! The writers are futures polled together with [`join_all`]; each yields between what it
//! reads and what it writes, so that they interleave even on a store whose futures finish
//! without waiting. Nothing is spawned.

use std::fmt::Debug;

use futures::future::join_all;
use tessera_core::{CustomerEntry, CustomerId, EcosystemEntry, Entry, Store, StoreError};

use crate::fixture::{
    customer, customer_entries, ecosystem, ecosystem_entries, email, head, ok, partner, pseudonym,
    sector, seq_of, verified, yield_now,
};

/// Writers of the single-stream tests.
const WRITERS: usize = 8;
/// Appends per writer.
const APPENDS: usize = 25;

/// An acknowledged append: the seq its first entry was written at, and its entries.
type Ack<S, C> = (u64, Vec<Entry<S, C>>);

/// Yields one to three times, varying with the inputs, so that the winner of each round of
/// a race is not always the same writer.
async fn stagger(a: usize, b: usize, c: usize) {
    for _ in 0..=(a + b + c) % 3 {
        yield_now().await;
    }
}

/// The bound on retries of one append: every retry means another writer's append landed, so
/// more retries than all appends of all writers means the store reports false conflicts.
const MAX_TRIES: usize = WRITERS * APPENDS + 10;

/// One writer of [`concurrent_appends_one_customer`]: `APPENDS` appends of one or two
/// entries, each retried on `Conflict` after re-reading the head and rebuilding its entries.
async fn customer_writer<S: Store>(
    store: &S,
    c: CustomerId,
    writer: usize,
) -> (Vec<Ack<CustomerId, tessera_core::CustomerChange>>, usize) {
    let mut acks = Vec::with_capacity(APPENDS);
    let mut conflicts = 0;
    for i in 0..APPENDS {
        let len = 1 + i % 2;
        let mut tries = 0;
        loop {
            tries += 1;
            assert!(
                tries <= MAX_TRIES,
                "writer {writer}, append {i}: {MAX_TRIES} conflicts in a row; the store reports conflicts that no other append caused"
            );
            let last = ok(store.last_seq(c).await, "last_seq of the contended stream");
            let tail = ok(
                store.read(c, last).await,
                "read the head of the contended stream",
            );
            let prev = tail.iter().find(|e| e.seq == last).map(|e| (e.seq, e.hash));
            assert!(
                prev.is_some(),
                "last_seq said {last} but reading from {last} did not return that entry"
            );
            stagger(writer, i, tries).await;
            let entries = customer_entries(c, prev, len, &format!("writer {writer} append {i}"));
            match store.append(c, last, &entries).await {
                Ok(()) => {
                    acks.push((last + 1, entries));
                    break;
                }
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("writer {writer}, append {i}: expected Ok or Conflict, got {e:?}"),
            }
        }
    }
    (acks, conflicts)
}

/// Checks a contended stream against the acknowledged appends: each is present exactly
/// once, whole and contiguous at the seq it was acknowledged at, in each writer's order,
/// and nothing else was written after the first `base` entries.
fn check_acks<S, C>(all: &[Entry<S, C>], base: usize, acks: &[Vec<Ack<S, C>>], what: &str)
where
    S: PartialEq + Debug,
    C: PartialEq + Debug,
{
    let mut covered: Vec<u64> = Vec::new();
    for (writer, writer_acks) in acks.iter().enumerate() {
        let mut last_seq = 0;
        for (seq, entries) in writer_acks {
            assert!(
                *seq > last_seq,
                "{what}: writer {writer}'s appends must land in the order it made them"
            );
            last_seq = *seq;
            let at = (*seq - 1) as usize;
            let found = all.get(at..at + entries.len());
            assert!(
                found == Some(entries.as_slice()),
                "{what}: writer {writer}'s acknowledged append at seq {seq} is not in the stream, whole and in place"
            );
            covered.extend(*seq..*seq + entries.len() as u64);
        }
    }
    covered.sort_unstable();
    let expected: Vec<u64> = (base as u64 + 1..=all.len() as u64).collect();
    assert!(
        covered == expected,
        "{what}: the stream holds {} entries after the first {base}, the acknowledged appends {}; every seq must have exactly one acknowledged writer",
        all.len() - base,
        covered.len()
    );
}

/// `WRITERS` (8) writers append `APPENDS` (25) times each to one customer at once, retrying
/// on `Conflict` by re-reading the head and rebuilding their entries (odd appends carry two
/// entries). The writers must actually race (some append gets `Conflict`); exactly one
/// append wins each seq, every acknowledged append is present exactly once and whole,
/// nothing is interleaved, and `verify` passes on the final stream.
pub async fn concurrent_appends_one_customer<S: Store>(store: &S) {
    let c = customer();
    let first = customer_entries(c, None, 1, "registered");
    ok(
        store.append(c, 0, &first).await,
        "register the contended customer",
    );

    let (acks, conflicts): (Vec<_>, Vec<usize>) =
        join_all((0..WRITERS).map(|w| customer_writer(store, c, w)))
            .await
            .into_iter()
            .unzip();
    assert!(
        conflicts.iter().sum::<usize>() > 0,
        "the writers never got a Conflict: they did not race, so nothing was tested"
    );

    let all = ok(store.read(c, 1).await, "read the contended stream");
    verified(&all, "the contended customer stream");
    assert_eq!(
        ok(store.last_seq(c).await, "last_seq"),
        all.len() as u64,
        "last_seq of the contended stream"
    );
    let appended: usize = acks.iter().flatten().map(|(_, e)| e.len()).sum();
    assert_eq!(
        all.len(),
        1 + appended,
        "the stream holds the registration and every acknowledged entry, nothing more"
    );
    check_acks(&all, 1, &acks, "concurrent appends to one customer");
}

/// `WRITERS` writers append `APPENDS` times each at once, each to its own customer: no
/// append conflicts (a conflict on one stream must not come from another), and every
/// stream ends whole and verified.
pub async fn concurrent_appends_many_customers<S: Store>(store: &S) {
    let writer = |w: usize| async move {
        let c = customer();
        let mut entries: Vec<CustomerEntry> = Vec::new();
        for i in 0..APPENDS {
            let expected = seq_of(head(&entries));
            stagger(w, i, 0).await;
            let next = customer_entries(c, head(&entries), 1 + i % 2, &format!("w{w}/{i}"));
            if let Err(e) = store.append(c, expected, &next).await {
                panic!("writer {w}, append {i} to its own customer: expected Ok, got {e:?}");
            }
            entries.extend(next);
        }
        (c, entries)
    };
    let streams = join_all((0..WRITERS).map(writer)).await;
    for (c, entries) in streams {
        let back = ok(store.read(c, 1).await, "read one of many streams");
        assert!(
            back == entries,
            "a stream written alongside others must hold exactly its own {} entries, found {}",
            entries.len(),
            back.len()
        );
        verified(&back, "one of many streams");
    }
}

/// Writers of the ecosystem test.
const ECO_WRITERS: usize = 4;
/// Appends per ecosystem writer.
const ECO_APPENDS: usize = 10;

async fn ecosystem_writer<S: Store>(
    store: &S,
    writer: usize,
) -> (
    Vec<Ack<tessera_core::EcosystemId, tessera_core::EcosystemChange>>,
    usize,
) {
    let mut acks = Vec::with_capacity(ECO_APPENDS);
    let mut conflicts = 0;
    for i in 0..ECO_APPENDS {
        let mut tries = 0;
        loop {
            tries += 1;
            assert!(
                tries <= MAX_TRIES,
                "ecosystem writer {writer}, append {i}: {MAX_TRIES} conflicts in a row"
            );
            let now = ok(store.read_ecosystem(1).await, "read the ecosystem ledger");
            let id = now.first().map_or_else(ecosystem, |e| e.stream.clone());
            let last = seq_of(head(&now));
            stagger(writer, i, tries).await;
            let entries = ecosystem_entries(&id, head(&now), 1 + i % 2, &format!("w{writer}/{i}"));
            match store.append_ecosystem(last, &entries).await {
                Ok(()) => {
                    acks.push((last + 1, entries));
                    break;
                }
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!(
                    "ecosystem writer {writer}, append {i}: expected Ok or Conflict, got {e:?}"
                ),
            }
        }
    }
    (acks, conflicts)
}

/// `ECO_WRITERS` (4) writers append `ECO_APPENDS` (10) times each to the ecosystem ledger at
/// once, retrying on `Conflict`: one winner per seq, nothing lost or interleaved, and the
/// ledger verifies.
pub async fn concurrent_appends_ecosystem<S: Store>(store: &S) {
    let base = ok(store.read_ecosystem(1).await, "read the ecosystem ledger").len();
    let (acks, conflicts): (Vec<_>, Vec<usize>) =
        join_all((0..ECO_WRITERS).map(|w| ecosystem_writer(store, w)))
            .await
            .into_iter()
            .unzip();
    assert!(
        conflicts.iter().sum::<usize>() > 0,
        "the ecosystem writers never got a Conflict: they did not race, so nothing was tested"
    );
    let all: Vec<EcosystemEntry> = ok(store.read_ecosystem(1).await, "read the ecosystem ledger");
    verified(&all, "the contended ecosystem ledger");
    let appended: usize = acks.iter().flatten().map(|(_, e)| e.len()).sum();
    assert_eq!(
        all.len(),
        base + appended,
        "the ecosystem ledger holds what it had and every acknowledged entry, nothing more"
    );
    check_acks(&all, base, &acks, "concurrent ecosystem appends");
}

/// Asserts that exactly one of `results` is `Ok` and every other is `Conflict`; returns the
/// index of the winner.
#[track_caller]
fn one_winner(results: &[Result<(), StoreError>], what: &str) -> usize {
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{what}: exactly one of {} racers must win, {} did",
        results.len(),
        winners.len()
    );
    for (i, r) in results.iter().enumerate() {
        assert!(
            r.is_ok() || matches!(r, Err(StoreError::Conflict(_))),
            "{what}: racer {i} must win or get Conflict, got {r:?}"
        );
    }
    winners[0]
}

/// Sixteen customers race to link one identifier: exactly one wins, the others get
/// `Conflict`, and the identifier resolves to the winner only. The same customer linking an
/// identifier several times at once succeeds every time and holds it once.
pub async fn concurrent_links_one_winner<S: Store>(store: &S) {
    let id = email("contended");
    let racers: Vec<CustomerId> = (0..16).map(|_| customer()).collect();
    let results = join_all(racers.iter().enumerate().map(|(i, &c)| {
        let id = &id;
        async move {
            stagger(i, 0, 0).await;
            store.link(id, c).await
        }
    }))
    .await;
    let winner = racers[one_winner(&results, "racing links of one identifier")];
    assert_eq!(
        ok(store.resolve(&id).await, "resolve"),
        Some(winner),
        "the identifier resolves to the customer whose link won"
    );
    for &c in &racers {
        let ids = ok(store.identifiers(c).await, "identifiers");
        let expected = if c == winner {
            vec![id.clone()]
        } else {
            vec![]
        };
        assert_eq!(
            ids, expected,
            "only the winner holds the contended identifier"
        );
    }

    let same = email("same");
    let c = customer();
    let results = join_all((0..4).map(|i| {
        let same = &same;
        async move {
            stagger(i, 1, 0).await;
            store.link(same, c).await
        }
    }))
    .await;
    for r in results {
        ok(r, "a customer linking its own identifier again is a no-op");
    }
    assert_eq!(
        ok(store.identifiers(c).await, "identifiers"),
        vec![same.clone()],
        "linked once however often"
    );
}

/// Eight writers update one partner at once from the same version: exactly one wins, the
/// others get `Conflict`, and the stored record is the winner's at the next version. Eight
/// creators of one new partner: exactly one wins.
pub async fn concurrent_partner_updates_one_winner<S: Store>(store: &S) {
    let base = partner("contended");
    ok(
        store.create_partner(&base).await,
        "create the contended partner",
    );
    let updates: Vec<_> = (0..8)
        .map(|i| {
            let mut p = base.clone();
            p.name = format!("{} / writer {i}", base.name);
            p
        })
        .collect();
    let results = join_all(updates.iter().enumerate().map(|(i, p)| async move {
        stagger(i, 0, 0).await;
        store.update_partner(p, base.version).await
    }))
    .await;
    let winner = one_winner(&results, "racing partner updates");
    let stored = ok(store.partner(base.id).await, "read the contended partner")
        .expect("the contended partner exists");
    let mut expected = updates[winner].clone();
    expected.version = base.version + 1;
    assert_eq!(
        stored, expected,
        "the winning update is stored, at the next version"
    );

    let fresh = partner("created");
    let results = join_all((0..8).map(|i| {
        let fresh = &fresh;
        async move {
            stagger(i, 1, 0).await;
            store.create_partner(fresh).await
        }
    }))
    .await;
    one_winner(&results, "racing creations of one partner");
    assert_eq!(
        ok(store.partner(fresh.id).await, "read"),
        Some(fresh.clone()),
        "the created partner is stored once, as given"
    );
}

/// Eight customers race to claim one pseudonym without `replace`: exactly one wins and the
/// pseudonym resolves to it.
pub async fn concurrent_pseudonym_claims_one_winner<S: Store>(store: &S) {
    let sector = sector("contended");
    let racers: Vec<CustomerId> = (0..8).map(|_| customer()).collect();
    let p = pseudonym(&sector, racers[0]);
    let results = join_all(racers.iter().enumerate().map(|(i, &c)| {
        let (sector, p) = (&sector, &p);
        async move {
            stagger(i, 0, 0).await;
            store.put_pseudonym(sector, p, c, false).await
        }
    }))
    .await;
    let winner = racers[one_winner(&results, "racing pseudonym claims")];
    assert_eq!(
        ok(store.resolve_pseudonym(&sector, &p).await, "resolve"),
        Some(winner),
        "the pseudonym resolves to the winner"
    );
}

/// Eight survivors race to absorb one customer: exactly one `set_alias` wins and the alias
/// points at it.
pub async fn concurrent_aliases_one_winner<S: Store>(store: &S) {
    let absorbed = customer();
    let survivors: Vec<CustomerId> = (0..8).map(|_| customer()).collect();
    let results = join_all(survivors.iter().enumerate().map(|(i, &s)| async move {
        stagger(i, 0, 0).await;
        store.set_alias(absorbed, s).await
    }))
    .await;
    let winner = survivors[one_winner(&results, "racing merges of one customer")];
    assert_eq!(
        ok(store.alias(absorbed).await, "alias"),
        Some(winner),
        "the alias points at the winning survivor"
    );
}
