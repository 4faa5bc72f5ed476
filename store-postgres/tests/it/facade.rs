//! The facade behaviours of the conformance suite (`tessera_store_conformance::facade`):
//! the `Ecosystem` facade of core on this backend, each behaviour on a fresh database.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tessera_store_conformance as conformance;

use crate::fresh;

/// Every facade behaviour is called below.
#[test]
fn every_facade_conformance_behaviour_is_called() {
    conformance::assert_every_facade_behaviour_called(include_str!("facade.rs"));
}

#[sqlx::test(migrations = false)]
async fn facade_register_and_check_defaults(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::register_and_check_defaults(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_relationships_carry_contract_uses(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::relationships_carry_contract_uses(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_set_choice_receipts_verify(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::set_choice_receipts_verify(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_clear_of_empty_key_is_invalid(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::clear_of_empty_key_is_invalid(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_invalid_keys_write_nothing(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::invalid_keys_write_nothing(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_check_at_answers_the_past(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::check_at_answers_the_past(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_choices_list_partners_joined_since(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::choices_list_partners_joined_since(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_broad_grant_does_not_cover_later_partner(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = fresh(options).await;
    conformance::facade::broad_grant_does_not_cover_later_partner(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_governance_centralized(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::governance_centralized(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_governance_facilitated(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::governance_facilitated(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_governance_self_organized(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::governance_self_organized(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_partner_lifecycle(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::partner_lifecycle(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_partner_changes_reach_other_handles(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::partner_changes_reach_other_handles(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_cold_and_warm_checks_see_partner_changes(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = fresh(options).await;
    conformance::facade::cold_and_warm_checks_see_partner_changes(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_link_with_proof(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::link_with_proof(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_merge_folds_into_survivor(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::merge_folds_into_survivor(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_merge_keeps_the_absorbed_past(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::merge_keeps_the_absorbed_past(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_erase_keeps_only_the_ledger(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::erase_keeps_only_the_ledger(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_export_holds_everything(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::export_holds_everything(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_cache_never_answers_stale(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::cache_never_answers_stale(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_concurrent_choices_all_land(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::concurrent_choices_all_land(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_issue_token_needs_active_partner_and_grant(
    _: PgPoolOptions,
    options: PgConnectOptions,
) {
    let store = fresh(options).await;
    conformance::facade::issue_token_needs_active_partner_and_grant(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_withdrawal_revokes_tokens(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::withdrawal_revokes_tokens(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_erase_revokes_tokens(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::erase_revokes_tokens(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_merge_revokes_tokens(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::merge_revokes_tokens(&store).await;
    store.close().await;
}

#[sqlx::test(migrations = false)]
async fn facade_partner_suspension_revokes_tokens(_: PgPoolOptions, options: PgConnectOptions) {
    let store = fresh(options).await;
    conformance::facade::partner_suspension_revokes_tokens(&store).await;
    store.close().await;
}
