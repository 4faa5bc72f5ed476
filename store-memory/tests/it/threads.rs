//! What only the memory backend promises: real threads appending at once, many customers
//! across the shards, clones that share data, and a `Debug` that shows no personal data.

use std::collections::HashSet;

use futures::executor::block_on;
use tessera_core::{
    Actor, CustomerChange, CustomerEntry, CustomerId, IdentityStore, LedgerStore, StoreError,
    verify,
};
use tessera_store_memory::MemoryStore;
use time::macros::datetime;

fn id(n: u64) -> CustomerId {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&n.to_be_bytes());
    CustomerId::from_parts(datetime!(2026-11-22 10:00 UTC), random)
}

fn entry(c: CustomerId, prev: Option<&CustomerEntry>, label: String) -> CustomerEntry {
    let change = match prev {
        None => CustomerChange::Registered,
        Some(_) => CustomerChange::IdentifierLinked {
            kind: "email".into(),
            digest: label,
        },
    };
    CustomerEntry::next(
        c,
        prev.map(|e| (e.seq, e.hash)),
        datetime!(2026-11-22 10:00 UTC),
        Actor::Customer,
        change,
    )
    .unwrap()
}

#[test]
fn os_threads_appending_to_one_customer_lose_nothing() {
    const THREADS: usize = 4;
    const APPENDS: usize = 100;
    let store = MemoryStore::new();
    let c = id(1);
    block_on(store.append(c, 0, &[entry(c, None, String::new())])).unwrap();

    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..APPENDS {
                    loop {
                        let last = block_on(store.last_seq(c)).unwrap();
                        let head = block_on(store.read(c, last)).unwrap();
                        let next = entry(c, head.first(), format!("{t}/{i}"));
                        match block_on(store.append(c, last, &[next])) {
                            Ok(()) => break,
                            Err(StoreError::Conflict(_)) => continue,
                            Err(e) => panic!("thread {t}: {e:?}"),
                        }
                    }
                }
            });
        }
    });

    let all = block_on(store.read(c, 1)).unwrap();
    verify(&all).unwrap();
    assert_eq!(all.len(), 1 + THREADS * APPENDS);
    let labels: HashSet<String> = all[1..]
        .iter()
        .map(|e| match &e.change {
            CustomerChange::IdentifierLinked { digest, .. } => digest.clone(),
            other => panic!("unexpected change {other:?}"),
        })
        .collect();
    assert_eq!(labels.len(), THREADS * APPENDS, "every append landed once");
}

#[test]
fn many_customers_across_shards() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 5_000;
    let store = MemoryStore::new();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let store = store.clone();
            scope.spawn(move || {
                for n in t * PER_THREAD..(t + 1) * PER_THREAD {
                    let c = id(n);
                    block_on(store.append(c, 0, &[entry(c, None, String::new())])).unwrap();
                }
            });
        }
    });
    for n in 0..THREADS * PER_THREAD {
        assert_eq!(block_on(store.last_seq(id(n))).unwrap(), 1, "customer {n}");
    }
    let debug = format!("{store:?}");
    assert!(
        debug.contains(&format!("customer_streams: {}", THREADS * PER_THREAD)),
        "{debug}"
    );
}

#[test]
fn clones_share_data_and_new_stores_do_not() {
    let store = MemoryStore::new();
    let clone = store.clone();
    let c = id(7);
    block_on(clone.append(c, 0, &[entry(c, None, String::new())])).unwrap();
    assert_eq!(
        block_on(store.last_seq(c)).unwrap(),
        1,
        "a clone writes to the same data"
    );
    assert_eq!(block_on(MemoryStore::default().last_seq(c)).unwrap(), 0);
    assert_eq!(block_on(MemoryStore::new().last_seq(c)).unwrap(), 0);
}

#[test]
fn debug_shows_no_personal_data() {
    let store = MemoryStore::new();
    let c = id(9);
    let address = tessera_core::Identifier::email("ada@example.test").unwrap();
    block_on(store.link(&address, c)).unwrap();
    block_on(store.put_profile(c, &serde_json::json!({"name": "Ada Lovelace"}))).unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("ada@"), "{debug}");
    assert!(!debug.contains("Lovelace"), "{debug}");
}
