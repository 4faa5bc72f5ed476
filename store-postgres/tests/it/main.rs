//! Integration tests of tessera-store-postgres against a real server: one test per
//! behaviour of the conformance suite, each on a fresh database (`#[sqlx::test]` creates
//! one per test from `DATABASE_URL` and drops it afterwards), plus what only this backend
//! promises (`postgres.rs`); the facade behaviours are in `facade.rs`, the store behaviours
//! on one shared database in `shared.rs`. `scripts/with-postgres` provides the server; without
//! `DATABASE_URL` every test here fails.

mod facade;
mod postgres;
mod shared;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tessera_store_conformance as conformance;
use tessera_store_postgres::{PostgresOptions, PostgresStore};

/// A store on the test's fresh database, migrated by the explicit call.
pub(crate) async fn fresh(options: PgConnectOptions) -> PostgresStore {
    let store = PostgresOptions::from_connect_options(options)
        .max_connections(8)
        .connect()
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("apply the migrations");
    store
}

/// Every conformance behaviour is called below: a behaviour added to the suite fails this
/// test until the backend runs it.
#[test]
fn every_conformance_behaviour_is_called() {
    conformance::assert_every_behaviour_called(include_str!("main.rs"));
}

/// These tests need a server: without one they must fail, not pass (CI treats a missing
/// server as a failure).
#[test]
fn a_server_is_configured() {
    assert!(
        std::env::var_os("DATABASE_URL").is_some_and(|url| !url.is_empty()),
        "DATABASE_URL is not set: the PostgreSQL tests need a server. Run them under \
         scripts/with-postgres (scripts/test does), which starts a throwaway one."
    );
}

// Ledger.

#[sqlx::test(migrations = false)]
async fn append_and_read_customer(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::append_and_read_customer(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn streams_are_independent(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::streams_are_independent(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn read_unknown_customer_is_empty(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::read_unknown_customer_is_empty(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn stale_expected_seq_conflicts(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::stale_expected_seq_conflicts(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn conflicting_batch_writes_nothing(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::conflicting_batch_writes_nothing(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn append_rejects_foreign_stream(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::append_rejects_foreign_stream(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn append_rejects_gapped_seqs(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::append_rejects_gapped_seqs(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn append_rejects_misaligned_seqs(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::append_rejects_misaligned_seqs(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn append_rejects_empty_batch(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::append_rejects_empty_batch(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn append_and_read_ecosystem(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::append_and_read_ecosystem(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn read_with_ecosystem_agrees_with_separate_reads(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = fresh(options).await;
    conformance::read_with_ecosystem_agrees_with_separate_reads(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn ecosystem_stale_expected_seq_conflicts(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::ecosystem_stale_expected_seq_conflicts(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn ecosystem_append_rejects_bad_input(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::ecosystem_append_rejects_bad_input(&store).await;
    store.close().await;
}

// Concurrency.

#[sqlx::test(migrations = false)]
async fn concurrent_appends_one_customer(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_appends_one_customer(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_appends_many_customers(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_appends_many_customers(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_appends_ecosystem(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_appends_ecosystem(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_links_one_winner(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_links_one_winner(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_partner_updates_one_winner(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_partner_updates_one_winner(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_pseudonym_claims_one_winner(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_pseudonym_claims_one_winner(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_aliases_one_winner(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_aliases_one_winner(&store).await;
    store.close().await;
}

// Identity.

#[sqlx::test(migrations = false)]
async fn link_and_resolve(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::link_and_resolve(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn link_taken_identifier_conflicts(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::link_taken_identifier_conflicts(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn unlink_identifier(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::unlink_identifier(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn relink_identifier(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::relink_identifier(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn profiles_put_and_replace(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::profiles_put_and_replace(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn set_alias_and_alias(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::set_alias_and_alias(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn alias_to_self_is_invalid(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::alias_to_self_is_invalid(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn merge_moves_identity_to_survivor(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::merge_moves_identity_to_survivor(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn erase_forgets_identity_keeps_ledger(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::erase_forgets_identity_keeps_ledger(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn erase_is_idempotent(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::erase_is_idempotent(&store).await;
    store.close().await;
}

// Partners.

#[sqlx::test(migrations = false)]
async fn partner_create_and_read(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::partner_create_and_read(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn partners_listed_by_id(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::partners_listed_by_id(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn partner_update_checks_version(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::partner_update_checks_version(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn update_unknown_partner_not_found(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::update_unknown_partner_not_found(&store).await;
    store.close().await;
}

// Pseudonyms.

#[sqlx::test(migrations = false)]
async fn pseudonyms_resolve_per_sector(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::pseudonyms_resolve_per_sector(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn pseudonym_conflict_and_replace(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::pseudonym_conflict_and_replace(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn forget_pseudonyms_of_one_customer(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::forget_pseudonyms_of_one_customer(&store).await;
    store.close().await;
}

// Tokens.

#[sqlx::test(migrations = false)]
async fn tokens_record_and_list_partners(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::tokens_record_and_list_partners(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn revoke_tokens_publishes_feed(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::revoke_tokens_publishes_feed(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn revoke_partner_tokens_across_customers(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::revoke_partner_tokens_across_customers(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn revocation_feed_pages_by_cursor(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::revocation_feed_pages_by_cursor(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn concurrent_revocations_publish_once(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::concurrent_revocations_publish_once(&store).await;
    store.close().await;
}
