//! The facade's futures are `Send`: an embedder can run them on a multi-threaded runtime
//! (`tokio::spawn`, an axum handler). Each facade behaviour below runs as a spawned task;
//! the test is that this file compiles, and that the behaviours pass there too.

use tessera_store_conformance::facade;
use tessera_store_memory::MemoryStore;

async fn spawned<F>(behaviour: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(behaviour)
        .await
        .expect("the behaviour passes on a spawned task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_futures_can_be_spawned() {
    let store = MemoryStore::new();
    spawned(async move { facade::register_and_check_defaults(&store).await }).await;
    let store = MemoryStore::new();
    spawned(async move { facade::set_choice_receipts_verify(&store).await }).await;
    let store = MemoryStore::new();
    spawned(async move { facade::partner_lifecycle(&store).await }).await;
    let store = MemoryStore::new();
    spawned(async move { facade::merge_folds_into_survivor(&store).await }).await;
    let store = MemoryStore::new();
    spawned(async move { facade::export_holds_everything(&store).await }).await;
}
