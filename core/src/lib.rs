//! # Tessera core
//!
//! The pure domain of Tessera: one customer ID and pairwise pseudonyms, the catalog of
//! purposes, data and channels, partners and governance, the consent decision rule, the
//! hash-chained ledger and signed receipts. Nothing here opens a socket or a file, reads a
//! clock or starts a runtime: time and randomness are parameters.
//!
//! WALKTHROUGH
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod catalog;
pub mod consent;
pub mod ecosystem;
pub mod id;
pub mod identity;
pub mod ledger;
pub mod partner;
pub mod receipt;
pub mod store;

pub use catalog::{Catalog, Channel, DataCategory, Pattern, PurposeId};
pub use consent::{
    Choice, ChoiceKey, ConsentState, Decision, Directory, Reason, Request, RequestError, Scope,
    decide,
};
pub use ecosystem::EcosystemState;
pub use id::{CustomerId, EcosystemId, PartnerId, Pseudonym, PseudonymSecret, SectorId};
pub use ledger::{
    Actor, CustomerChange, CustomerEntry, EcosystemChange, EcosystemEntry, Entry, EntryHash, verify,
};
pub use partner::{
    Declaration, Governance, GovernanceMode, LegalBasis, Origin, Partner, PartnerStatus, Role,
};
pub use identity::{Identifier, Proof};
pub use receipt::{PublicKey, Receipt, ReceiptSigner, SignedReceipt};
pub use store::{IdentityStore, LedgerStore, PartnerStore, PseudonymStore, Store, StoreError};
