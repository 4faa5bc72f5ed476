//! The behaviours tolerate a store that already holds other data: every behaviour, run
//! twice in a row on one store. A persistent backend's tests rely on this.

use tessera_store_conformance as conformance;
use tessera_store_memory::MemoryStore;

#[test]
fn every_conformance_behaviour_is_run_on_the_shared_store() {
    conformance::assert_every_behaviour_called(include_str!("shared.rs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviours_share_one_store() {
    let store = MemoryStore::new();
    for _ in 0..2 {
        conformance::append_and_read_customer(&store).await;
        conformance::streams_are_independent(&store).await;
        conformance::read_unknown_customer_is_empty(&store).await;
        conformance::stale_expected_seq_conflicts(&store).await;
        conformance::conflicting_batch_writes_nothing(&store).await;
        conformance::append_rejects_foreign_stream(&store).await;
        conformance::append_rejects_gapped_seqs(&store).await;
        conformance::append_rejects_misaligned_seqs(&store).await;
        conformance::append_rejects_empty_batch(&store).await;
        conformance::append_and_read_ecosystem(&store).await;
        conformance::read_with_ecosystem_agrees_with_separate_reads(&store).await;
        conformance::ecosystem_stale_expected_seq_conflicts(&store).await;
        conformance::ecosystem_append_rejects_bad_input(&store).await;
        conformance::concurrent_appends_one_customer(&store).await;
        conformance::concurrent_appends_many_customers(&store).await;
        conformance::concurrent_appends_ecosystem(&store).await;
        conformance::concurrent_links_one_winner(&store).await;
        conformance::concurrent_partner_updates_one_winner(&store).await;
        conformance::concurrent_pseudonym_claims_one_winner(&store).await;
        conformance::concurrent_aliases_one_winner(&store).await;
        conformance::link_and_resolve(&store).await;
        conformance::link_taken_identifier_conflicts(&store).await;
        conformance::unlink_identifier(&store).await;
        conformance::relink_identifier(&store).await;
        conformance::profiles_put_and_replace(&store).await;
        conformance::set_alias_and_alias(&store).await;
        conformance::alias_to_self_is_invalid(&store).await;
        conformance::merge_moves_identity_to_survivor(&store).await;
        conformance::erase_forgets_identity_keeps_ledger(&store).await;
        conformance::erase_is_idempotent(&store).await;
        conformance::partner_create_and_read(&store).await;
        conformance::partners_listed_by_id(&store).await;
        conformance::partner_update_checks_version(&store).await;
        conformance::update_unknown_partner_not_found(&store).await;
        conformance::pseudonyms_resolve_per_sector(&store).await;
        conformance::pseudonym_conflict_and_replace(&store).await;
        conformance::forget_pseudonyms_of_one_customer(&store).await;
        conformance::tokens_record_and_list_partners(&store).await;
        conformance::revoke_tokens_publishes_feed(&store).await;
        conformance::revoke_partner_tokens_across_customers(&store).await;
        conformance::revocation_feed_pages_by_cursor(&store).await;
        conformance::concurrent_revocations_publish_once(&store).await;
    }
}
