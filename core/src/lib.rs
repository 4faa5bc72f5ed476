//! # Tessera core
//!
//! The pure domain of Tessera: one customer ID and pairwise pseudonyms, the catalog of
//! purposes, data and channels, partners and governance, the consent decision rule, the
//! hash-chained ledger and signed receipts. Nothing here opens a socket or a file, reads a
//! clock or starts a runtime: time and randomness are parameters.
//!
//!
//! ## A walkthrough
//!
//! An ecosystem with two partners, a customer who decides once, and the decisions that
//! follow. Every step below is a doc test.
//!
//! ```
//! use tessera_core::{
//!     decide, Catalog, Choice, ChoiceKey, ConsentState, CustomerChange, CustomerEntry, CustomerId,
//!     Declaration, Directory, LegalBasis, Partner, PartnerId, PartnerStatus, Pattern, Reason,
//!     Request, Role, Scope,
//! };
//! use tessera_core::partner::DeclarationStatus;
//! use tessera_core::ledger::Actor;
//! use time::macros::datetime;
//!
//! // Time is a parameter everywhere: nothing in core reads a clock.
//! let t0 = datetime!(2026-03-01 09:00 UTC);
//!
//! // 1. The catalog: purposes, data categories and channels (a default one ships).
//! let catalog = Catalog::default_travel();
//!
//! // 2. Partners with roles and declarations: what each may ever ask for.
//! let offers = Declaration {
//!     purpose: "marketing.offers".parse()?,
//!     data: vec!["contact.email".parse()?, "contact.phone".parse()?],
//!     channels: vec!["email".parse()?, "sms".parse()?],
//!     legal_basis: LegalBasis::Consent,
//!     notice: "https://airline.example/privacy".into(),
//!     status: DeclarationStatus::Approved,
//! };
//! let mut directory = Directory::new(catalog);
//! let mut partner = |name: &str, byte: u8| -> Result<PartnerId, Box<dyn std::error::Error>> {
//!     let id = PartnerId::from_parts(t0, [byte; 10]);
//!     let mut p = Partner::new(id, name, vec![Role::Realizer]);
//!     p.set_status(PartnerStatus::Active, 1)?;       // active from ecosystem position 1
//!     p.declarations.push(offers.clone());
//!     directory.insert(p)?;
//!     Ok(id)
//! };
//! let airline = partner("airline", 1)?;
//! let parking = partner("parking", 2)?;
//!
//! // 3. The customer decides once, in one place. Each change is a hash-chained entry.
//! let customer = CustomerId::from_parts(t0, [9; 10]);
//! let email_everyone = ChoiceKey {
//!     scope: Scope::Ecosystem,
//!     purpose: "marketing".parse()?,
//!     data: Pattern::Any,
//!     channel: "email".parse()?,
//! };
//! let mut grant = Choice::grant("notice-v1");
//! grant.ecosystem_position = Some(5); // the partners disclosed when the choice was made
//! let no_parking = ChoiceKey { scope: Scope::Partner(parking), purpose: "marketing".parse()?, data: Pattern::Any, channel: Pattern::Any };
//! let joined = datetime!(2026-01-15 12:00 UTC);
//! let changes = [
//!     (joined, CustomerChange::Registered),
//!     (t0, CustomerChange::ChoiceSet { key: email_everyone, choice: grant }),
//!     (t0, CustomerChange::ChoiceSet { key: no_parking, choice: Choice::refuse() }),
//! ];
//! let mut ledger: Vec<CustomerEntry> = Vec::new();
//! let mut state = ConsentState::new();
//! for (at, change) in changes {
//!     let entry = CustomerEntry::next(customer, state.head(), at, Actor::Customer, change)?;
//!     state.apply(&entry)?;
//!     ledger.push(entry);
//! }
//!
//! // 4. Every partner asks the same engine, and every answer says why.
//! let now = datetime!(2026-11-22 10:00 UTC);
//! let ask = |partner, channel| Request::new(partner, "marketing.offers", "contact.email", Some(channel));
//! let d = decide(&state, &directory, &ask(airline, "email")?, now)?;
//! assert!(d.allowed());
//! assert_eq!((d.reason, d.winning_seq()), (Reason::Granted, Some(2)));
//! let d = decide(&state, &directory, &ask(parking, "email")?, now)?;
//! assert_eq!((d.reason, d.winning_seq()), (Reason::Refused, Some(3)));
//! let d = decide(&state, &directory, &ask(airline, "sms")?, now)?;
//! assert_eq!(d.reason, Reason::NoConsent);   // nobody may text
//!
//! // A request outside the catalog is an error, not a denial.
//! assert!(Request::new(airline, "marketing.spam", "contact.email", Some("email"))
//!     .and_then(|r| decide(&state, &directory, &r, now)).is_err());
//!
//! // 5. The same function answers audit questions: after joining but before deciding, the
//! //    customer had given no consent; before joining, they were unknown.
//! let before = datetime!(2026-02-01 00:00 UTC);
//! assert_eq!(decide(&state, &directory, &ask(airline, "email")?, before)?.reason, Reason::NoConsent);
//! let earlier = datetime!(2026-01-01 00:00 UTC);
//! assert_eq!(decide(&state, &directory, &ask(airline, "email")?, earlier)?.reason, Reason::UnknownCustomer);
//!
//! // 6. The chain proves every change: an edit anywhere is found.
//! assert!(tessera_core::verify(&ledger).is_ok());
//! let mut edited = ledger.clone();
//! edited[1].recorded_at = now;
//! assert_eq!(tessera_core::verify(&edited).unwrap_err().seq, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Receipts and pseudonyms
//!
//! ```
//! use tessera_core::{CustomerChange, CustomerEntry, CustomerId, PseudonymSecret, ReceiptSigner, SectorId};
//! use tessera_core::{Choice, ChoiceKey, Pattern, Scope};
//! use tessera_core::ledger::Actor;
//! use time::macros::datetime;
//!
//! let t = datetime!(2026-03-01 09:00 UTC);
//! let customer = CustomerId::from_parts(t, [9; 10]);
//!
//! // Each partner sees its own pseudonym of the customer; two partners cannot join on it.
//! let secret = PseudonymSecret::from_bytes(&[7; 32])?;
//! let at_airline = secret.pseudonym(&SectorId::new("airline")?, customer);
//! let at_hotel = secret.pseudonym(&SectorId::new("hotel")?, customer);
//! assert_ne!(at_airline, at_hotel);
//! assert_eq!(format!("{secret:?}"), "PseudonymSecret([redacted])");
//!
//! // Every change gets a receipt, checkable with the published key alone.
//! let registered = CustomerEntry::next(customer, None, t, Actor::Customer, CustomerChange::Registered)?;
//! let key = ChoiceKey { scope: Scope::Ecosystem, purpose: Pattern::Any, data: Pattern::Any, channel: Pattern::Any };
//! let change = CustomerChange::ChoiceSet { key, choice: Choice::refuse() };
//! let entry = CustomerEntry::next(customer, Some((1, registered.hash)), t, Actor::Customer, change)?;
//! let signer = ReceiptSigner::from_seed(&[3; 32])?;
//! let receipt = signer.receipt(&entry, at_airline, t)?;
//! let public = *signer.public_key();
//! assert_eq!(public.verify(&receipt)?.seq, 2);
//! let mut forged = receipt.clone();
//! forged.receipt.seq = 3;
//! assert!(public.verify(&forged).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Where to go next
//! - [`consent`] states the decision rule in full.
//! - [`facade::Ecosystem`] joins the core to a store (the in-memory store is the embedded
//!   default, crate `tessera-store-memory`).
//! - [`store`] lists what a backend must do.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod canonical;
pub mod catalog;
pub mod consent;
pub mod ecosystem;
pub mod facade;
pub mod id;
pub mod identity;
pub mod ledger;
pub mod partner;
pub mod receipt;
pub mod store;
mod tagged;
mod text;
pub mod token;

pub use catalog::{Catalog, Channel, DataCategory, Pattern, PurposeId};
pub use consent::{
    Choice, ChoiceKey, ConsentState, Decision, Directory, Reason, Request, RequestError, Scope,
    decide,
};
pub use ecosystem::EcosystemState;
pub use facade::{Ecosystem, EcosystemConfig, EcosystemError, Secrets};
pub use id::{CustomerId, EcosystemId, PartnerId, Pseudonym, PseudonymSecret, SectorId};
pub use identity::{Identifier, Proof};
pub use ledger::{
    Actor, CustomerChange, CustomerEntry, EcosystemChange, EcosystemEntry, Entry, EntryHash,
    Stored, verify,
};
pub use partner::{
    Declaration, Governance, GovernanceMode, LegalBasis, Origin, Partner, PartnerStatus, Role,
};
pub use receipt::{PublicKey, Receipt, ReceiptSigner, SignedReceipt};
pub use store::{
    IdentityStore, LedgerStore, PartnerStore, PseudonymStore, Revocation, Store, StoreError, Tails,
    TokenRecord, TokenStore,
};
