//! Integration tests of tessera-store-memory: one test per behaviour of the conformance
//! suite, each on a fresh store, plus tests of what only this backend promises.

mod shared;
mod spawn;
mod threads;

use tessera_store_conformance as conformance;
use tessera_store_memory::MemoryStore;

/// Every conformance behaviour is called below: a behaviour added to the suite fails this
/// test until the backend runs it.
#[test]
fn every_conformance_behaviour_is_called() {
    conformance::assert_every_behaviour_called(include_str!("main.rs"));
}

/// Every facade behaviour is called below, each on a fresh store.
#[test]
fn every_facade_conformance_behaviour_is_called() {
    conformance::assert_every_facade_behaviour_called(include_str!("main.rs"));
}

// Ledger.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_and_read_customer() {
    conformance::append_and_read_customer(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_independent() {
    conformance::streams_are_independent(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_unknown_customer_is_empty() {
    conformance::read_unknown_customer_is_empty(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_expected_seq_conflicts() {
    conformance::stale_expected_seq_conflicts(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_batch_writes_nothing() {
    conformance::conflicting_batch_writes_nothing(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_rejects_foreign_stream() {
    conformance::append_rejects_foreign_stream(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_rejects_gapped_seqs() {
    conformance::append_rejects_gapped_seqs(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_rejects_misaligned_seqs() {
    conformance::append_rejects_misaligned_seqs(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_rejects_empty_batch() {
    conformance::append_rejects_empty_batch(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_and_read_ecosystem() {
    conformance::append_and_read_ecosystem(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_with_ecosystem_agrees_with_separate_reads() {
    conformance::read_with_ecosystem_agrees_with_separate_reads(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecosystem_stale_expected_seq_conflicts() {
    conformance::ecosystem_stale_expected_seq_conflicts(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecosystem_append_rejects_bad_input() {
    conformance::ecosystem_append_rejects_bad_input(&MemoryStore::new()).await;
}

// Concurrency.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_one_customer() {
    conformance::concurrent_appends_one_customer(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_many_customers() {
    conformance::concurrent_appends_many_customers(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_ecosystem() {
    conformance::concurrent_appends_ecosystem(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_links_one_winner() {
    conformance::concurrent_links_one_winner(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_partner_updates_one_winner() {
    conformance::concurrent_partner_updates_one_winner(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pseudonym_claims_one_winner() {
    conformance::concurrent_pseudonym_claims_one_winner(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_aliases_one_winner() {
    conformance::concurrent_aliases_one_winner(&MemoryStore::new()).await;
}

// Identity.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_and_resolve() {
    conformance::link_and_resolve(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_taken_identifier_conflicts() {
    conformance::link_taken_identifier_conflicts(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_identifier() {
    conformance::unlink_identifier(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relink_identifier() {
    conformance::relink_identifier(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_put_and_replace() {
    conformance::profiles_put_and_replace(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_alias_and_alias() {
    conformance::set_alias_and_alias(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_to_self_is_invalid() {
    conformance::alias_to_self_is_invalid(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_moves_identity_to_survivor() {
    conformance::merge_moves_identity_to_survivor(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_forgets_identity_keeps_ledger() {
    conformance::erase_forgets_identity_keeps_ledger(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_is_idempotent() {
    conformance::erase_is_idempotent(&MemoryStore::new()).await;
}

// Partners.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_create_and_read() {
    conformance::partner_create_and_read(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_listed_by_id() {
    conformance::partners_listed_by_id(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_update_checks_version() {
    conformance::partner_update_checks_version(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_unknown_partner_not_found() {
    conformance::update_unknown_partner_not_found(&MemoryStore::new()).await;
}

// Pseudonyms.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pseudonyms_resolve_per_sector() {
    conformance::pseudonyms_resolve_per_sector(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pseudonym_conflict_and_replace() {
    conformance::pseudonym_conflict_and_replace(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_pseudonyms_of_one_customer() {
    conformance::forget_pseudonyms_of_one_customer(&MemoryStore::new()).await;
}

// Tokens.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_record_and_list_partners() {
    conformance::tokens_record_and_list_partners(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_tokens_publishes_feed() {
    conformance::revoke_tokens_publishes_feed(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_partner_tokens_across_customers() {
    conformance::revoke_partner_tokens_across_customers(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_feed_pages_by_cursor() {
    conformance::revocation_feed_pages_by_cursor(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_revocations_publish_once() {
    conformance::concurrent_revocations_publish_once(&MemoryStore::new()).await;
}

// The facade, each behaviour on a fresh store.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_register_and_check_defaults() {
    conformance::facade::register_and_check_defaults(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_relationships_carry_contract_uses() {
    conformance::facade::relationships_carry_contract_uses(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_set_choice_receipts_verify() {
    conformance::facade::set_choice_receipts_verify(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_clear_of_empty_key_is_invalid() {
    conformance::facade::clear_of_empty_key_is_invalid(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_invalid_keys_write_nothing() {
    conformance::facade::invalid_keys_write_nothing(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_check_at_answers_the_past() {
    conformance::facade::check_at_answers_the_past(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_choices_list_partners_joined_since() {
    conformance::facade::choices_list_partners_joined_since(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_broad_grant_does_not_cover_later_partner() {
    conformance::facade::broad_grant_does_not_cover_later_partner(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_governance_centralized() {
    conformance::facade::governance_centralized(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_governance_facilitated() {
    conformance::facade::governance_facilitated(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_governance_self_organized() {
    conformance::facade::governance_self_organized(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_partner_lifecycle() {
    conformance::facade::partner_lifecycle(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_partner_changes_reach_other_handles() {
    conformance::facade::partner_changes_reach_other_handles(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_cold_and_warm_checks_see_partner_changes() {
    conformance::facade::cold_and_warm_checks_see_partner_changes(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_link_with_proof() {
    conformance::facade::link_with_proof(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_merge_folds_into_survivor() {
    conformance::facade::merge_folds_into_survivor(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_merge_keeps_the_absorbed_past() {
    conformance::facade::merge_keeps_the_absorbed_past(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_erase_keeps_only_the_ledger() {
    conformance::facade::erase_keeps_only_the_ledger(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_export_holds_everything() {
    conformance::facade::export_holds_everything(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_cache_never_answers_stale() {
    conformance::facade::cache_never_answers_stale(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_concurrent_choices_all_land() {
    conformance::facade::concurrent_choices_all_land(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_issue_token_needs_active_partner_and_grant() {
    conformance::facade::issue_token_needs_active_partner_and_grant(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_withdrawal_revokes_tokens() {
    conformance::facade::withdrawal_revokes_tokens(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_erase_revokes_tokens() {
    conformance::facade::erase_revokes_tokens(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_merge_revokes_tokens() {
    conformance::facade::merge_revokes_tokens(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_partner_suspension_revokes_tokens() {
    conformance::facade::partner_suspension_revokes_tokens(&MemoryStore::new()).await;
}
