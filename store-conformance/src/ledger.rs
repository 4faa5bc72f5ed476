//! Ledger behaviours: appends and reads, optimistic concurrency, and bad input, for customer
//! streams and the ecosystem ledger.

use std::fmt;

use serde::Serialize;
use tessera_core::{
    CustomerEntry, CustomerId, EcosystemEntry, EcosystemId, Entry, EntryHash, Store, Stored,
};

use crate::fixture::{
    conflict, customer, customer_entries, ecosystem, ecosystem_entries, head, invalid, ok,
    other_ecosystem, seq_of, verified,
};

/// Reads back a customer's whole stream, asserting that `last_seq` agrees with it.
async fn stream_of<S: Store>(store: &S, c: CustomerId) -> Vec<CustomerEntry> {
    let entries = ok(store.read(c, 1).await, "read a customer stream");
    let last = ok(store.last_seq(c).await, "last_seq of a customer stream");
    assert_eq!(
        last,
        entries.last().map_or(0, |e| e.seq),
        "last_seq must be the seq of the last entry read"
    );
    entries
}

/// Asserts that a customer's stream still holds exactly `before`.
async fn unchanged<S: Store>(store: &S, c: CustomerId, before: &[CustomerEntry], what: &str) {
    let now = stream_of(store, c).await;
    assert!(
        now == before,
        "{what}: the failed append must write nothing, but the stream went from {} to {} entries (or changed)",
        before.len(),
        now.len()
    );
}

/// Creates a customer with a stream of `n` entries, appended in one call.
async fn customer_with<S: Store>(store: &S, n: usize) -> (CustomerId, Vec<CustomerEntry>) {
    let c = customer();
    let entries = customer_entries(c, None, n, "setup");
    ok(store.append(c, 0, &entries).await, "append a new stream");
    (c, entries)
}

/// A head `(seq, hash)` that no stored entry has: for entries built on a head the stream
/// never had.
fn phantom_head(seq: u64) -> Option<(u64, EntryHash)> {
    Some((seq, EntryHash([0xab; 32])))
}

/// Appending to a customer stream, one entry and several at a time, then reading it back:
/// the entries come back exactly as appended, from any seq, `last_seq` follows, and
/// `verify` passes on what is read.
pub async fn append_and_read_customer<S: Store>(store: &S) {
    let c = customer();
    assert_eq!(
        ok(store.last_seq(c).await, "last_seq of a new customer"),
        0,
        "a customer without entries has last seq 0"
    );

    let first = customer_entries(c, None, 1, "first");
    ok(
        store.append(c, 0, &first).await,
        "append seq 1 to an empty stream",
    );
    assert_eq!(
        ok(store.last_seq(c).await, "last_seq"),
        1,
        "after one entry"
    );
    assert_eq!(
        ok(store.read(c, 1).await, "read"),
        first,
        "the first entry reads back as appended"
    );

    let batch = customer_entries(c, head(&first), 3, "batch");
    ok(
        store.append(c, 1, &batch).await,
        "append seqs 2..=4 in one call",
    );
    assert_eq!(
        ok(store.last_seq(c).await, "last_seq"),
        4,
        "after a batch of 3"
    );

    let single = customer_entries(c, head(&batch), 1, "single");
    ok(store.append(c, 4, &single).await, "append seq 5");

    let all: Vec<CustomerEntry> = [first, batch, single].concat();
    let back = stream_of(store, c).await;
    assert_eq!(back, all, "every entry reads back, in order, as appended");
    verified(&back, "append_and_read_customer");
    assert_eq!(
        ok(store.read(c, 0).await, "read from 0"),
        all,
        "reading from seq 0 returns the whole stream"
    );
    for from in 1..=all.len() + 1 {
        assert_eq!(
            ok(store.read(c, from as u64).await, "read from a seq"),
            all[from - 1..],
            "reading from seq {from} returns the entries with seq >= {from}"
        );
    }
    assert!(
        ok(store.read(c, u64::MAX).await, "read from u64::MAX").is_empty(),
        "reading past the end returns nothing"
    );
}

/// Customer streams are independent: each has its own seqs from 1, and appends to one never
/// show up in another.
pub async fn streams_are_independent<S: Store>(store: &S) {
    let a = customer();
    let b = customer();
    let a1 = customer_entries(a, None, 2, "a");
    let b1 = customer_entries(b, None, 1, "b");
    ok(store.append(a, 0, &a1).await, "append to a");
    ok(
        store.append(b, 0, &b1).await,
        "append seq 1 to b while a has 2",
    );
    let a2 = customer_entries(a, head(&a1), 1, "a");
    let b2 = customer_entries(b, head(&b1), 2, "b");
    ok(store.append(b, 1, &b2).await, "append to b");
    ok(store.append(a, 2, &a2).await, "append to a");

    let a_all = stream_of(store, a).await;
    let b_all = stream_of(store, b).await;
    assert_eq!(
        a_all,
        [a1, a2].concat(),
        "a's stream holds a's entries only"
    );
    assert_eq!(
        b_all,
        [b1, b2].concat(),
        "b's stream holds b's entries only"
    );
    verified(&a_all, "stream a");
    verified(&b_all, "stream b");
}

/// An unknown customer has an empty stream: reads return nothing and `last_seq` is 0.
pub async fn read_unknown_customer_is_empty<S: Store>(store: &S) {
    let c = customer();
    assert!(ok(store.read(c, 0).await, "read").is_empty(), "read from 0");
    assert!(ok(store.read(c, 1).await, "read").is_empty(), "read from 1");
    assert!(ok(store.read(c, 7).await, "read").is_empty(), "read from 7");
    assert_eq!(ok(store.last_seq(c).await, "last_seq"), 0, "last_seq");
}

/// An append whose `expected_seq` is not the stream's last seq — lower or higher, on an
/// empty stream or not — fails with `Conflict` and writes nothing; the right one then
/// succeeds.
pub async fn stale_expected_seq_conflicts<S: Store>(store: &S) {
    let (c, before) = customer_with(store, 3).await;

    let behind = customer_entries(c, head(&before[..2]), 1, "stale");
    conflict(
        store.append(c, 2, &behind).await,
        "append after seq 2 when the stream is at 3",
    );
    unchanged(store, c, &before, "expected seq one behind").await;

    let fresh = customer_entries(c, None, 1, "stale");
    conflict(
        store.append(c, 0, &fresh).await,
        "append seq 1 when the stream is at 3",
    );
    unchanged(store, c, &before, "expected seq 0 on a non-empty stream").await;

    let ahead = customer_entries(c, phantom_head(4), 1, "ahead");
    conflict(
        store.append(c, 4, &ahead).await,
        "append after seq 4 when the stream is at 3",
    );
    unchanged(store, c, &before, "expected seq one ahead").await;

    let far = customer_entries(c, phantom_head(10), 2, "ahead");
    conflict(
        store.append(c, 10, &far).await,
        "append after seq 10 when the stream is at 3",
    );
    unchanged(store, c, &before, "expected seq far ahead").await;

    let empty = customer();
    let into_empty = customer_entries(empty, phantom_head(1), 1, "ahead");
    conflict(
        store.append(empty, 1, &into_empty).await,
        "append after seq 1 to an empty stream",
    );
    unchanged(store, empty, &[], "expected seq 1 on an empty stream").await;

    let right = customer_entries(c, head(&before), 1, "right");
    ok(
        store.append(c, 3, &right).await,
        "append after the real last seq",
    );
    let after = stream_of(store, c).await;
    assert_eq!(after, [before, right].concat(), "the right append lands");
    verified(&after, "after conflicts");
}

/// A multi-entry append that conflicts writes none of its entries, including when another
/// writer got in first from the same head.
pub async fn conflicting_batch_writes_nothing<S: Store>(store: &S) {
    let (c, before) = customer_with(store, 2).await;

    let behind = customer_entries(c, head(&before[..1]), 3, "behind");
    conflict(
        store.append(c, 1, &behind).await,
        "a batch of 3 after a stale seq",
    );
    unchanged(store, c, &before, "a stale batch").await;

    let ahead = customer_entries(c, phantom_head(3), 3, "ahead");
    conflict(
        store.append(c, 3, &ahead).await,
        "a batch of 3 after a future seq",
    );
    unchanged(store, c, &before, "a batch from the future").await;

    // Two writers read the same head; the first one's batch lands, the second's conflicts.
    let winner = customer_entries(c, head(&before), 2, "winner");
    let loser = customer_entries(c, head(&before), 3, "loser");
    ok(
        store.append(c, 2, &winner).await,
        "the first writer's batch",
    );
    let expected = [before, winner].concat();
    conflict(
        store.append(c, 2, &loser).await,
        "the second writer's batch from the same head",
    );
    unchanged(store, c, &expected, "the losing batch").await;
    verified(&expected, "after a lost race");
}

/// An append with an entry of another customer's stream is `Invalid` and writes nothing, to
/// either stream; one foreign entry in a batch rejects the whole batch.
pub async fn append_rejects_foreign_stream<S: Store>(store: &S) {
    let (c, before) = customer_with(store, 1).await;
    let other = customer();

    let foreign = customer_entries(other, head(&before), 1, "foreign");
    invalid(
        store.append(c, 1, &foreign).await,
        "an entry of another customer",
    );
    unchanged(store, c, &before, "a foreign entry").await;
    unchanged(store, other, &[], "a foreign entry, in its own stream").await;

    let own = customer_entries(c, head(&before), 1, "own");
    let mixed = [
        own.clone(),
        customer_entries(other, head(&own), 1, "foreign"),
    ]
    .concat();
    invalid(
        store.append(c, 1, &mixed).await,
        "a batch whose second entry is another customer's",
    );
    unchanged(store, c, &before, "a mixed batch").await;

    let stray = customer_entries(other, None, 2, "stray");
    let target = customer();
    invalid(
        store.append(target, 0, &stray).await,
        "a new stream made of another customer's entries",
    );
    unchanged(store, target, &[], "a foreign first append").await;
    unchanged(
        store,
        other,
        &[],
        "a foreign first append, in its own stream",
    )
    .await;
}

/// An append whose seqs are not consecutive (a gap, a repeat) is `Invalid` and writes
/// nothing.
pub async fn append_rejects_gapped_seqs<S: Store>(store: &S) {
    let (c, before) = customer_with(store, 1).await;
    let next = customer_entries(c, head(&before), 3, "gap");

    let gap = [next[0].clone(), next[2].clone()];
    invalid(store.append(c, 1, &gap).await, "seqs 2 and 4");
    unchanged(store, c, &before, "a gap").await;

    let repeat = [next[0].clone(), next[0].clone()];
    invalid(store.append(c, 1, &repeat).await, "seqs 2 and 2");
    unchanged(store, c, &before, "a repeated seq").await;

    let late_repeat = [next[0].clone(), next[1].clone(), next[1].clone()];
    invalid(store.append(c, 1, &late_repeat).await, "seqs 2, 3 and 3");
    unchanged(store, c, &before, "a repeat at the end").await;

    let reversed = [next[1].clone(), next[0].clone()];
    invalid(store.append(c, 2, &reversed).await, "seqs 3 and 2");
    unchanged(store, c, &before, "reversed seqs").await;
}

/// An append whose first seq is not `expected_seq + 1` is `Invalid` (not `Conflict`) and
/// writes nothing — even when `expected_seq` is also stale and the entries would fit the
/// stream: arguments that contradict themselves are `Invalid` whatever the stream holds.
pub async fn append_rejects_misaligned_seqs<S: Store>(store: &S) {
    let (c, before) = customer_with(store, 2).await;

    let skips = customer_entries(c, phantom_head(3), 1, "skip");
    invalid(
        store.append(c, 2, &skips).await,
        "expected seq 2 (right) with an entry at seq 4",
    );
    unchanged(store, c, &before, "an entry past expected + 1").await;

    invalid(
        store.append(c, 2, &before[1..]).await,
        "expected seq 2 (right) with an entry at seq 2",
    );
    unchanged(store, c, &before, "an entry at expected").await;

    invalid(
        store.append(c, 2, &before[..1]).await,
        "expected seq 2 (right) with an entry at seq 1",
    );
    unchanged(store, c, &before, "an entry before expected").await;

    let fits = customer_entries(c, head(&before), 1, "fits");
    invalid(
        store.append(c, 1, &fits).await,
        "expected seq 1 (stale) with an entry at seq 3 (fits the stream)",
    );
    unchanged(
        store,
        c,
        &before,
        "an entry that fits the stream but not expected_seq",
    )
    .await;

    let empty = customer();
    let second = customer_entries(empty, phantom_head(1), 1, "second");
    invalid(
        store.append(empty, 0, &second).await,
        "expected seq 0 with an entry at seq 2",
    );
    unchanged(store, empty, &[], "a new stream starting at seq 2").await;
}

/// An append of no entries is `Invalid`, whether `expected_seq` is right or not, and creates
/// no stream.
pub async fn append_rejects_empty_batch<S: Store>(store: &S) {
    let (c, before) = customer_with(store, 1).await;
    invalid(
        store.append(c, 1, &[]).await,
        "no entries, right expected seq",
    );
    invalid(
        store.append(c, 0, &[]).await,
        "no entries, stale expected seq",
    );
    unchanged(store, c, &before, "an empty append").await;

    let new = customer();
    invalid(
        store.append(new, 0, &[]).await,
        "no entries to a new stream",
    );
    unchanged(store, new, &[], "an empty first append").await;
}

/// The ecosystem ledger as it stands, and the ecosystem ID to append with.
async fn ecosystem_now<S: Store>(store: &S) -> (Vec<EcosystemEntry>, EcosystemId) {
    let entries = ok(store.read_ecosystem(1).await, "read the ecosystem ledger");
    let id = entries.first().map_or_else(ecosystem, |e| e.stream.clone());
    (entries, id)
}

/// The ecosystem ledger with at least `n` entries.
async fn ecosystem_with<S: Store>(store: &S, n: usize) -> (Vec<EcosystemEntry>, EcosystemId) {
    let (mut entries, id) = ecosystem_now(store).await;
    if entries.len() < n {
        let more = ecosystem_entries(&id, head(&entries), n - entries.len(), "setup");
        ok(
            store.append_ecosystem(seq_of(head(&entries)), &more).await,
            "append setup entries to the ecosystem ledger",
        );
        entries.extend(more);
    }
    (entries, id)
}

async fn ecosystem_unchanged<S: Store>(store: &S, before: &[EcosystemEntry], what: &str) {
    let now = ok(store.read_ecosystem(1).await, "read the ecosystem ledger");
    assert!(
        now == before,
        "{what}: the failed ecosystem append must write nothing, but the ledger went from {} to {} entries (or changed)",
        before.len(),
        now.len()
    );
}

/// Appending to the ecosystem ledger, one entry and several at a time, then reading it
/// back: exactly as appended, from any seq, and `verify` passes.
pub async fn append_and_read_ecosystem<S: Store>(store: &S) {
    let (before, id) = ecosystem_now(store).await;
    let start = seq_of(head(&before));

    let single = ecosystem_entries(&id, head(&before), 1, "single");
    ok(
        store.append_ecosystem(start, &single).await,
        "append one ecosystem entry",
    );
    let batch = ecosystem_entries(&id, head(&single), 3, "batch");
    ok(
        store.append_ecosystem(start + 1, &batch).await,
        "append three ecosystem entries in one call",
    );

    let all: Vec<EcosystemEntry> = [before, single, batch].concat();
    let back = ok(store.read_ecosystem(1).await, "read the ecosystem ledger");
    assert_eq!(
        back, all,
        "every ecosystem entry reads back, in order, as appended"
    );
    verified(&back, "append_and_read_ecosystem");
    assert_eq!(
        ok(store.read_ecosystem(0).await, "read from 0"),
        all,
        "reading from seq 0 returns the whole ledger"
    );
    for from in start as usize + 1..=all.len() + 1 {
        assert_eq!(
            ok(store.read_ecosystem(from as u64).await, "read from a seq"),
            all[from - 1..],
            "reading the ecosystem ledger from seq {from} returns the entries with seq >= {from}"
        );
    }
    assert!(
        ok(store.read_ecosystem(u64::MAX).await, "read from u64::MAX").is_empty(),
        "reading past the end returns nothing"
    );
}

/// An ecosystem append whose `expected_seq` is not the ledger's last seq fails with
/// `Conflict` and writes nothing, for single entries and batches.
pub async fn ecosystem_stale_expected_seq_conflicts<S: Store>(store: &S) {
    let (before, id) = ecosystem_with(store, 2).await;
    let last = seq_of(head(&before));

    let behind = ecosystem_entries(&id, head(&before[..before.len() - 1]), 1, "stale");
    conflict(
        store.append_ecosystem(last - 1, &behind).await,
        "append after the second-to-last seq",
    );
    let fresh = ecosystem_entries(&id, None, 2, "stale");
    conflict(
        store.append_ecosystem(0, &fresh).await,
        "append seq 1 to a non-empty ledger",
    );
    let ahead = ecosystem_entries(&id, phantom_head(last + 1), 3, "ahead");
    conflict(
        store.append_ecosystem(last + 1, &ahead).await,
        "append a batch after a seq one ahead",
    );
    ecosystem_unchanged(store, &before, "stale ecosystem appends").await;

    let right = ecosystem_entries(&id, head(&before), 2, "right");
    ok(
        store.append_ecosystem(last, &right).await,
        "append after the real last seq",
    );
    let after = ok(store.read_ecosystem(1).await, "read");
    assert_eq!(after, [before, right].concat(), "the right append lands");
    verified(&after, "after ecosystem conflicts");
}

/// Bad ecosystem appends are `Invalid` and write nothing: no entries, gaps, a first seq
/// that is not `expected_seq + 1`, a batch that mixes ecosystem IDs, and entries of another
/// ecosystem than the one the ledger holds.
pub async fn ecosystem_append_rejects_bad_input<S: Store>(store: &S) {
    let (before, id) = ecosystem_with(store, 1).await;
    let last = seq_of(head(&before));
    let next = ecosystem_entries(&id, head(&before), 3, "bad");

    invalid(store.append_ecosystem(last, &[]).await, "no entries");
    invalid(
        store
            .append_ecosystem(last, &[next[0].clone(), next[2].clone()])
            .await,
        "a gap in the seqs",
    );
    invalid(
        store.append_ecosystem(last, &next[1..]).await,
        "a first seq past expected + 1",
    );
    invalid(
        store.append_ecosystem(last - 1, &next[..1]).await,
        "a stale expected seq with entries that fit the ledger",
    );
    let other = if id == other_ecosystem() {
        ecosystem()
    } else {
        other_ecosystem()
    };
    let mixed = [
        next[0].clone(),
        ecosystem_entries(&other, head(&next[..1]), 1, "other")[0].clone(),
    ];
    invalid(
        store.append_ecosystem(last, &mixed).await,
        "a batch that mixes ecosystems",
    );
    let foreign = ecosystem_entries(&other, head(&before), 2, "other");
    invalid(
        store.append_ecosystem(last, &foreign).await,
        "entries of another ecosystem than the ledger's",
    );
    ecosystem_unchanged(store, &before, "bad ecosystem appends").await;
}

/// The entries of a read, each checked to be honest about its hash: one a store marks as
/// checked ([`Stored::open`]) really has the hash of its fields.
fn values<S, C>(read: &[Stored<Entry<S, C>>]) -> Vec<Entry<S, C>>
where
    S: Serialize + Clone + PartialEq + fmt::Debug,
    C: Serialize + Clone + fmt::Debug,
{
    for e in read {
        if e.hash_checked() {
            assert_eq!(
                e.entry().compute_hash().ok(),
                Some(e.entry().hash),
                "an entry marked as checked has the hash of its fields: {e:?}"
            );
        }
    }
    read.iter().map(|e| e.entry().clone()).collect()
}

/// `read_with_ecosystem` answers what the separate reads answer: the customer's entries from
/// any seq (none past the end, none for an unknown customer), its last seq whatever the
/// seq asked from, and the ecosystem entries from any seq; and what was acknowledged before
/// the call — a customer append, an ecosystem append — is in its answer.
pub async fn read_with_ecosystem_agrees_with_separate_reads<S: Store>(store: &S) {
    let (c, entries) = customer_with(store, 5).await;
    let (eco, id) = ecosystem_with(store, 3).await;
    let eco_last = seq_of(head(&eco));
    let eco_froms = [0, 1, eco_last, eco_last + 1, eco_last + 2, u64::MAX];
    for from in [0, 1, 2, 5, 6, 7, u64::MAX] {
        for &eco_from in &eco_froms {
            let tails = ok(
                store.read_with_ecosystem(c, from, eco_from).await,
                "read a customer and the ecosystem together",
            );
            let skip = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
            let eco_skip = usize::try_from(eco_from.saturating_sub(1)).unwrap_or(usize::MAX);
            assert_eq!(
                values(&tails.customer),
                entries.iter().skip(skip).cloned().collect::<Vec<_>>(),
                "the customer's entries with seq >= {from}"
            );
            assert_eq!(
                tails.last_seq, 5,
                "the customer's last seq, read from seq {from}"
            );
            assert_eq!(
                values(&tails.ecosystem),
                eco.iter().skip(eco_skip).cloned().collect::<Vec<_>>(),
                "the ecosystem entries with seq >= {eco_from}"
            );
        }
    }

    let unknown = customer();
    for from in [1, 3] {
        let tails = ok(
            store.read_with_ecosystem(unknown, from, eco_last + 1).await,
            "read an unknown customer",
        );
        assert!(
            tails.customer.is_empty() && tails.last_seq == 0 && tails.ecosystem.is_empty(),
            "an unknown customer has no entries and last seq 0, and the ecosystem nothing new: {tails:?}"
        );
    }

    let more = customer_entries(c, head(&entries), 2, "more");
    ok(store.append(c, 5, &more).await, "append to the customer");
    let eco_more = ecosystem_entries(&id, head(&eco), 1, "more");
    ok(
        store.append_ecosystem(eco_last, &eco_more).await,
        "append to the ecosystem",
    );
    let tails = ok(
        store.read_with_ecosystem(c, 6, eco_last + 1).await,
        "read after both appends",
    );
    assert_eq!(
        (
            values(&tails.customer),
            tails.last_seq,
            values(&tails.ecosystem)
        ),
        (more, 7, eco_more),
        "acknowledged appends to the customer and to the ecosystem are in the next read"
    );
    let tails = ok(
        store.read_with_ecosystem(c, 8, eco_last + 2).await,
        "read after the end",
    );
    assert!(
        tails.customer.is_empty() && tails.last_seq == 7 && tails.ecosystem.is_empty(),
        "past both ends: nothing, and the last seq: {tails:?}"
    );
}
