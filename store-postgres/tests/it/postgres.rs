//! What only the PostgreSQL backend promises: explicit migrations, error mapping (values
//! PostgreSQL refuses, damaged rows, lost connections, an unreachable server), a `Debug`
//! without the password, and a revocation feed that a reader paging by cursor never skips.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tessera_core::ledger::{ChainError, ChainProblem, verify_stored_from};
use tessera_core::{
    Actor, CustomerChange, CustomerEntry, CustomerId, IdentityStore, LedgerStore, PartnerId,
    StoreError, TokenRecord, TokenStore,
};
use tessera_store_postgres::{PostgresOptions, PostgresStore};
use time::macros::datetime;

use crate::fresh;

const T0: time::OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).expect("randomness");
    bytes
}

fn customer() -> CustomerId {
    CustomerId::from_parts(T0, random())
}

fn registered(c: CustomerId) -> CustomerEntry {
    CustomerEntry::next(c, None, T0, Actor::Customer, CustomerChange::Registered).expect("an entry")
}

fn linked(prev: &CustomerEntry, digest: &str) -> CustomerEntry {
    CustomerEntry::next(
        prev.stream,
        Some((prev.seq, prev.hash)),
        T0,
        Actor::Customer,
        CustomerChange::IdentifierLinked {
            kind: "email".into(),
            digest: digest.into(),
        },
    )
    .expect("an entry")
}

async fn sql(options: &PgConnectOptions) -> PgConnection {
    PgConnection::connect_with(options)
        .await
        .expect("a direct connection")
}

#[sqlx::test(migrations = false)]
async fn migrations_are_explicit_and_idempotent(_: PgPoolOptions, options: PgConnectOptions) {
    let store = PostgresOptions::from_connect_options(options)
        .connect()
        .await
        .expect("connect");
    match store.last_seq(customer()).await {
        Err(StoreError::Unavailable(message)) => assert!(
            message.contains("migrate"),
            "a database without the schema says what to do: {message}"
        ),
        other => panic!("connecting must not create the schema; got {other:?}"),
    }
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrate again: a no-op");
    assert_eq!(store.last_seq(customer()).await, Ok(0));
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn values_postgres_refuses_are_invalid_and_write_nothing(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = fresh(options).await;
    let c = customer();
    let profile = serde_json::json!({"name": "nul \u{0} inside"});
    assert!(
        matches!(
            store.put_profile(c, &profile).await,
            Err(StoreError::Invalid(_))
        ),
        "jsonb cannot hold U+0000"
    );
    assert_eq!(store.profile(c).await, Ok(None));
    store.close().await;
}

/// Ledger entries are kept as the bytes their hash is taken over (`bytea`), so an entry
/// holding U+0000, which `jsonb` and `json` text refuse, is kept and read back like any other.
#[sqlx::test(migrations = false)]
async fn entries_holding_nul_are_kept_as_they_are(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    let c = customer();
    let first = registered(c);
    let second = linked(&first, "nul \u{0} inside");
    let third = linked(&second, "nul \u{0} again");
    store
        .append(c, 0, std::slice::from_ref(&first))
        .await
        .expect("append");
    store
        .append(c, 1, &[second.clone(), third.clone()])
        .await
        .expect("append entries holding U+0000");
    let read = store.read(c, 1).await.expect("read");
    assert_eq!(read, vec![first, second, third]);
    assert_eq!(tessera_core::verify(&read), Ok(()));
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn damaged_rows_are_corrupt(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options.clone()).await;
    let mut conn = sql(&options).await;
    let (garbage, misplaced) = (customer(), customer());
    sqlx::query(
        "INSERT INTO customer_ledger (customer_id, seq, hash, entry) \
         VALUES ($1, 1, $2, '{\"not\": \"an entry\"}')",
    )
    .bind(garbage.uuid())
    .bind(&[0u8; 32][..])
    .execute(&mut conn)
    .await
    .expect("insert a damaged row");
    // A real entry, filed at the wrong seq.
    let entry = registered(misplaced);
    sqlx::query(
        "INSERT INTO customer_ledger (customer_id, seq, hash, entry) VALUES ($1, 2, $2, $3)",
    )
    .bind(misplaced.uuid())
    .bind(&entry.hash.0[..])
    .bind(sqlx::types::Json(&entry))
    .execute(&mut conn)
    .await
    .expect("insert a misplaced row");
    // Bytes that are not an entry, where the hashed bytes belong.
    let scrambled = customer();
    sqlx::query(
        "INSERT INTO customer_ledger (customer_id, seq, hash, body) VALUES ($1, 1, $2, $3)",
    )
    .bind(scrambled.uuid())
    .bind(&[0u8; 32][..])
    .bind(&b"{\"stream\":"[..])
    .execute(&mut conn)
    .await
    .expect("insert a damaged body");
    // A row with neither the hashed bytes nor the JSON text.
    let empty = customer();
    sqlx::query("INSERT INTO customer_ledger (customer_id, seq, hash) VALUES ($1, 1, $2)")
        .bind(empty.uuid())
        .bind(&[0u8; 32][..])
        .execute(&mut conn)
        .await
        .expect("insert a row without an entry");
    for c in [garbage, misplaced, scrambled, empty] {
        assert!(
            matches!(store.read(c, 1).await, Err(StoreError::Corrupt(_))),
            "a row that is not its entry is Corrupt"
        );
    }
    conn.close().await.expect("close");
    store.close().await;
}

/// Terminates the server processes of every connection with this application name.
/// Rows written before migration 0004 hold the entry's JSON text (`entry`), not the hashed
/// bytes (`body`): they are read as before, beside newer rows of the same stream, and only
/// the newer rows come with their hash checked.
#[sqlx::test(migrations = false)]
async fn rows_written_before_the_hashed_bytes_are_read_as_before(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = fresh(options.clone()).await;
    let mut conn = sql(&options).await;
    let c = customer();
    let first = registered(c);
    let second = linked(&first, "older");
    for e in [&first, &second] {
        sqlx::query(
            "INSERT INTO customer_ledger (customer_id, seq, hash, entry) VALUES ($1, $2, $3, $4)",
        )
        .bind(c.uuid())
        .bind(e.seq as i64)
        .bind(&e.hash.0[..])
        .bind(sqlx::types::Json(e))
        .execute(&mut conn)
        .await
        .expect("insert a row as the store wrote it before migration 0004");
    }
    let third = linked(&second, "newer");
    store
        .append(c, 2, std::slice::from_ref(&third))
        .await
        .expect("append after the older rows");
    let all = vec![first, second, third];
    let read = store.read(c, 1).await.expect("read");
    assert_eq!(read, all);
    assert_eq!(tessera_core::verify(&read), Ok(()));
    let tails = store.read_with_ecosystem(c, 1, 1).await.expect("read");
    let checked: Vec<bool> = tails.customer.iter().map(|e| e.hash_checked()).collect();
    assert_eq!(
        checked,
        [false, false, true],
        "only the hashed bytes are checked"
    );
    assert_eq!(verify_stored_from(&tails.customer, None), Ok(()));
    let (body, entry): (Option<Vec<u8>>, Option<String>) = sqlx::query_as(
        "SELECT body, entry::text FROM customer_ledger WHERE customer_id = $1 AND seq = 3",
    )
    .bind(c.uuid())
    .fetch_one(&mut conn)
    .await
    .expect("the new row");
    assert_eq!(
        (body, entry),
        (Some(all[2].canonical_bytes().expect("bytes")), None),
        "a new row holds the bytes its hash is taken over, and no JSON text"
    );
    conn.close().await.expect("close");
    store.close().await;
}

/// An edited body no longer hashes to its row's hash, so it comes unchecked and the reader's
/// verification reports the edit; an edit that rewrites the hash too breaks the next link.
#[sqlx::test(migrations = false)]
async fn an_edited_body_is_found_by_its_hash(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options.clone()).await;
    let mut conn = sql(&options).await;
    let c = customer();
    let first = registered(c);
    let second = linked(&first, "aaaa");
    let third = linked(&second, "cccc");
    store
        .append(c, 0, &[first, second, third])
        .await
        .expect("append");
    sqlx::query(
        "UPDATE customer_ledger \
         SET body = convert_to(replace(convert_from(body, 'UTF8'), 'aaaa', 'bbbb'), 'UTF8') \
         WHERE customer_id = $1 AND seq = 2",
    )
    .bind(c.uuid())
    .execute(&mut conn)
    .await
    .expect("edit the second entry");
    let tails = store.read_with_ecosystem(c, 1, 1).await.expect("read");
    assert_eq!(
        tails.customer[1].entry().change,
        CustomerChange::IdentifierLinked {
            kind: "email".into(),
            digest: "bbbb".into()
        },
        "the edited entry is read as edited"
    );
    assert!(!tails.customer[1].hash_checked());
    assert_eq!(
        verify_stored_from(&tails.customer, None),
        Err(ChainError {
            seq: 2,
            problem: ChainProblem::Edited
        })
    );
    sqlx::query(
        "UPDATE customer_ledger SET hash = sha256(body) WHERE customer_id = $1 AND seq = 2",
    )
    .bind(c.uuid())
    .execute(&mut conn)
    .await
    .expect("rewrite its hash");
    let tails = store.read_with_ecosystem(c, 1, 1).await.expect("read");
    assert!(tails.customer[1].hash_checked());
    assert_eq!(
        verify_stored_from(&tails.customer, None),
        Err(ChainError {
            seq: 3,
            problem: ChainProblem::BrokenLink
        })
    );
    conn.close().await.expect("close");
    store.close().await;
}

async fn terminate(options: &PgConnectOptions, application: &str) -> i64 {
    let mut conn = sql(options).await;
    let n: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(application)
    .fetch_one(&mut conn)
    .await
    .expect("terminate");
    conn.close().await.expect("close");
    n
}

/// A connection holding an exclusive lock on the customer ledger, until [`release`].
async fn lock_ledger(options: &PgConnectOptions) -> PgConnection {
    let mut conn = sql(options).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE customer_ledger IN ACCESS EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .expect("lock the ledger");
    conn
}

/// Releases the lock of [`lock_ledger`] once `n` connections with this application name
/// wait for it, so that `n` concurrent calls each hold a connection of their own. (Without
/// the lock a call can finish before the next one starts, on a busy machine, and they share
/// one connection.)
async fn release(mut lock: PgConnection, options: &PgConnectOptions, application: &str, n: i64) {
    let mut observer = sql(options).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(application)
        .fetch_one(&mut observer)
        .await
        .expect("count the waiting connections");
        if waiting >= n {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} connections should wait for the lock; {waiting} do"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sqlx::raw_sql("COMMIT")
        .execute(&mut lock)
        .await
        .expect("release the lock");
    observer.close().await.expect("close");
    lock.close().await.expect("close");
}

#[sqlx::test(migrations = false)]
async fn a_lost_connection_is_unavailable_and_the_next_call_recovers(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    fresh(options.clone()).await.close().await;
    let application = format!("tessera-test-{:016x}", u64::from_be_bytes(random()));
    let store =
        PostgresOptions::from_connect_options(options.clone().application_name(&application))
            .max_connections(4)
            .connect()
            .await
            .expect("connect");
    let c = customer();
    let first = registered(c);
    store
        .append(c, 0, std::slice::from_ref(&first))
        .await
        .expect("append");
    assert_eq!(terminate(&options, &application).await, 1, "one connection");

    let second = linked(&first, "after the loss");
    match store.append(c, 1, std::slice::from_ref(&second)).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a lost connection is Unavailable, got {other:?}"),
    }
    assert_eq!(
        store.read(c, 1).await,
        Ok(vec![first.clone()]),
        "the next call recovers"
    );
    store
        .append(c, 1, std::slice::from_ref(&second))
        .await
        .expect("append");
    assert_eq!(store.read(c, 1).await, Ok(vec![first, second]));

    // Several connections lost at once: one call fails, the next recovers.
    let lock = lock_ledger(&options).await;
    let (busy, ()) = tokio::join!(
        join_all((0..4).map(|_| store.last_seq(c))),
        release(lock, &options, &application, 4),
    );
    assert!(busy.iter().all(Result::is_ok));
    assert_eq!(
        terminate(&options, &application).await,
        4,
        "four connections"
    );
    assert!(matches!(
        store.last_seq(c).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(store.last_seq(c).await, Ok(2), "the next call recovers");
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn idle_connections_are_tested_before_use(_: PgPoolOptions, options: PgConnectOptions) {
    fresh(options.clone()).await.close().await;
    let application = format!("tessera-test-{:016x}", u64::from_be_bytes(random()));
    let store =
        PostgresOptions::from_connect_options(options.clone().application_name(&application))
            .test_idle_after(Duration::ZERO)
            .connect()
            .await
            .expect("connect");
    let c = customer();
    assert_eq!(store.last_seq(c).await, Ok(0));
    assert_eq!(terminate(&options, &application).await, 1);
    assert_eq!(
        store.last_seq(c).await,
        Ok(0),
        "a dead idle connection is found by the ping and replaced"
    );
    store.close().await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Nothing listens on port 1.
    let options = PostgresOptions::from_url("postgres://postgres@127.0.0.1:1/tessera")
        .expect("a valid URL")
        .connect_timeout(Duration::from_secs(2));
    match options.clone().connect().await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let lazy = options.connect_lazy();
    assert!(matches!(
        lazy.last_seq(customer()).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[sqlx::test(migrations = false)]
async fn a_closed_store_is_unavailable(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    store.close().await;
    assert!(matches!(
        store.last_seq(customer()).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[test]
fn urls_and_debug_keep_the_password() {
    match PostgresOptions::from_url("postgres://ada:s3cret@db.example:notaport/tessera") {
        Err(StoreError::Invalid(message)) => {
            assert!(!message.contains("s3cret"), "{message}")
        }
        other => panic!("a bad URL is Invalid, got {other:?}"),
    }
    let options = PostgresOptions::from_url("postgres://ada:s3cret@db.example:5433/tessera")
        .expect("a valid URL")
        .max_connections(3);
    let text = format!("{options:?} {:?}", options.clone().connect_lazy());
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains("db.example") && text.contains("5433"),
        "{text}"
    );
}

fn token(c: CustomerId, partner: PartnerId) -> TokenRecord {
    TokenRecord {
        customer: c,
        partner,
        consent_version: 1,
        revocation_ids: (0..2)
            .map(|_| random::<16>().iter().map(|b| format!("{b:02x}")).collect())
            .collect(),
        issued_at: T0,
        expires_at: T0 + time::Duration::minutes(10),
    }
}

/// Revokers of many customers commit in whatever order the server lets them while a reader
/// pages the feed by cursor: the reader must see every entry, none skipped because a lower
/// cursor committed after a higher one was read.
#[sqlx::test(migrations = false)]
async fn a_reader_paging_the_feed_skips_nothing(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    let customers: Vec<CustomerId> = (0..48).map(|_| customer()).collect();
    for &c in &customers {
        store
            .record_token(&token(c, PartnerId::from_parts(T0, random())))
            .await
            .expect("record");
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let revokers = async {
        for chunk in customers.chunks(6) {
            let results = join_all(chunk.iter().map(|&c| store.revoke_tokens(c, None, T0))).await;
            for r in results {
                assert_eq!(r.expect("revoke").len(), 2);
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let reader = async {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let page = store.revocations_since(cursor, 5).await.expect("page");
            match page.last() {
                Some(last) => cursor = last.cursor,
                None if finished => break,
                None => tokio::task::yield_now().await,
            }
            seen.extend(page);
        }
        seen
    };
    let ((), seen) = futures::join!(revokers, reader);
    let all = store
        .revocations_since(0, usize::MAX)
        .await
        .expect("the feed");
    assert_eq!(all.len(), 2 * customers.len());
    let seen: BTreeSet<u64> = seen.iter().map(|r| r.cursor).collect();
    let missed: Vec<u64> = all
        .iter()
        .map(|r| r.cursor)
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(missed.is_empty(), "the reader skipped cursors {missed:?}");
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn identifiers_erase_with_the_profile(_: PgPoolOptions, options: PgConnectOptions) {
    // `erase` is one statement over two tables: both go.
    let store = fresh(options).await;
    let c = customer();
    let id = tessera_core::Identifier::email("erased@example.test").expect("an address");
    store.link(&id, c).await.expect("link");
    store
        .put_profile(c, &serde_json::json!({"name": "x"}))
        .await
        .expect("profile");
    store.erase(c).await.expect("erase");
    assert_eq!(store.resolve(&id).await, Ok(None));
    assert_eq!(store.profile(c).await, Ok(None));
    store.close().await;
}

fn assert_store<S: tessera_core::Store>() {}

#[test]
fn postgres_store_is_a_store() {
    assert_store::<PostgresStore>();
}
