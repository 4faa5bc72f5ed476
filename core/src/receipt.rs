//! Consent receipts: a signed record of one change, checkable with the ecosystem's published
//! Ed25519 key alone.
//!
//! Field names follow ISO/IEC TS 27560 and the Kantara consent receipt where they apply
//! (`pii_principal_id`, `pii_controller`, `purpose`, `pii_categories`, `legal_basis`,
//! `consent_timestamp`, `event_state`, `expiry`, `notice_version`); Tessera adds the ledger
//! anchor (`seq`, `entry_hash`) so a receipt points at the exact entry it proves.
//!
//! The signature is Ed25519 over the RFC 8785 canonical JSON of the receipt.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::catalog::Pattern;
use crate::consent::{Scope, Verdict};
use crate::id::Pseudonym;
use crate::ledger::{CustomerChange, CustomerEntry, EntryHash};
use crate::partner::LegalBasis;

/// The receipt format version.
pub const RECEIPT_VERSION: &str = "tessera-receipt/1";

/// What happened to the consent at the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// Consent given (a grant).
    Given,
    /// Consent refused, or an objection.
    Refused,
    /// An earlier choice withdrawn (cleared).
    Withdrawn,
}

/// The body of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`RECEIPT_VERSION`].
    pub version: String,
    /// The receipt's ID: the hash of the ledger entry it proves.
    pub receipt_id: String,
    /// The customer, as the orchestrator's pseudonym (never the raw ID).
    pub pii_principal_id: Pseudonym,
    /// Whose use: `ecosystem`, `role:<role>` or `partner:<id>`.
    pub pii_controller: Scope,
    /// The purpose (or `*`).
    pub purpose: String,
    /// The data categories (or `["*"]`).
    pub pii_categories: Vec<String>,
    /// The channel (or `*`).
    pub channel: String,
    /// Given, refused or withdrawn.
    pub event_state: EventState,
    /// The legal basis of a grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<LegalBasis>,
    /// The notice version the customer saw, for a grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_version: Option<String>,
    /// When the choice expires, if it does.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiry: Option<OffsetDateTime>,
    /// When the change was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub consent_timestamp: OffsetDateTime,
    /// The ledger seq of the entry.
    pub seq: u64,
    /// The hash of the entry.
    pub entry_hash: EntryHash,
    /// When the receipt was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// The signing key's ID (see [`PublicKey::key_id`]).
    pub key_id: String,
}

/// A receipt and its signature; this is what the customer keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The body.
    pub receipt: Receipt,
    /// Ed25519 signature over the canonical JSON of `receipt`, base64url without padding.
    pub signature: String,
}

/// Errors about receipts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The entry records no consent change (only choice changes get receipts).
    #[error("entry seq {0} is not a choice change")]
    NotAChoice(u64),
    /// The signature does not verify with the key.
    #[error("the receipt signature does not verify")]
    BadSignature,
    /// The receipt names another key.
    #[error("the receipt was signed by key `{0}`, not this one")]
    WrongKey(String),
    /// Key material is not valid.
    #[error("invalid key material")]
    BadKey,
    /// The receipt cannot be encoded.
    #[error("receipt encoding failed: {0}")]
    Encoding(String),
}

/// The ecosystem's receipt signing key (Ed25519). `Debug` never shows it.
pub struct ReceiptSigner {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl ReceiptSigner {
    /// The key from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, ReceiptError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| ReceiptError::BadKey)?;
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        Ok(Self {
            pair,
            public: PublicKey(public),
        })
    }

    /// A fresh random key.
    pub fn generate(rng: &dyn ring::rand::SecureRandom) -> Result<Self, ReceiptError> {
        let mut seed = [0u8; 32];
        rng.fill(&mut seed).map_err(|_| ReceiptError::BadKey)?;
        Self::from_seed(&seed)
    }

    /// The public half, to publish.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The receipt for a choice entry, signed. `principal` is the customer's pseudonym in the
    /// orchestrator's sector.
    pub fn receipt(
        &self,
        entry: &CustomerEntry,
        principal: Pseudonym,
        issued_at: OffsetDateTime,
    ) -> Result<SignedReceipt, ReceiptError> {
        let (key, verdict, expiry) = match &entry.change {
            CustomerChange::ChoiceSet { key, choice } => {
                (key, Some(&choice.verdict), choice.expires_at)
            }
            CustomerChange::ChoiceCleared { key } => (key, None, None),
            _ => return Err(ReceiptError::NotAChoice(entry.seq)),
        };
        let (event_state, legal_basis, notice_version) = match verdict {
            Some(Verdict::Grant {
                legal_basis,
                notice_version,
            }) => (
                EventState::Given,
                Some(*legal_basis),
                Some(notice_version.clone()),
            ),
            Some(Verdict::Refuse) => (EventState::Refused, None, None),
            None => (EventState::Withdrawn, None, None),
        };
        let receipt = Receipt {
            version: RECEIPT_VERSION.into(),
            receipt_id: entry.hash.to_hex(),
            pii_principal_id: principal,
            pii_controller: key.scope,
            purpose: key.purpose.as_str().into(),
            pii_categories: vec![pattern_text(&key.data)],
            channel: key.channel.as_str().into(),
            event_state,
            legal_basis,
            notice_version,
            expiry,
            consent_timestamp: entry.recorded_at,
            seq: entry.seq,
            entry_hash: entry.hash,
            issued_at: crate::ledger::ledger_time(issued_at),
            key_id: self.public.key_id(),
        };
        let bytes = canonical(&receipt)?;
        let signature = URL_SAFE_NO_PAD.encode(self.pair.sign(&bytes).as_ref());
        Ok(SignedReceipt { receipt, signature })
    }
}

fn pattern_text<T>(p: &Pattern<T>) -> String
where
    Pattern<T>: fmt::Display,
{
    p.to_string()
}

fn canonical(receipt: &Receipt) -> Result<Vec<u8>, ReceiptError> {
    crate::canonical::to_vec(receipt).map_err(|e| ReceiptError::Encoding(e.to_string()))
}

impl fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptSigner")
            .field("public", &self.public)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// An Ed25519 public key (32 bytes), as published by the ecosystem.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The key's ID: base64url of the first 8 bytes of SHA-256 of the key.
    pub fn key_id(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.0);
        URL_SAFE_NO_PAD.encode(&d.as_ref()[..8])
    }

    /// Checks a signed receipt and returns its body.
    pub fn verify<'r>(&self, signed: &'r SignedReceipt) -> Result<&'r Receipt, ReceiptError> {
        if signed.receipt.key_id != self.key_id() {
            return Err(ReceiptError::WrongKey(
                signed.receipt.key_id.chars().take(32).collect(),
            ));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(signed.signature.as_bytes())
            .map_err(|_| ReceiptError::BadSignature)?;
        let bytes = canonical(&signed.receipt)?;
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(&bytes, &sig)
            .map_err(|_| ReceiptError::BadSignature)?;
        Ok(&signed.receipt)
    }
}

impl TryFrom<String> for PublicKey {
    type Error = ReceiptError;
    fn try_from(value: String) -> Result<Self, ReceiptError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(value.as_bytes())
            .map_err(|_| ReceiptError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| ReceiptError::BadKey)?;
        Ok(PublicKey(key))
    }
}

impl From<PublicKey> for String {
    fn from(value: PublicKey) -> Self {
        URL_SAFE_NO_PAD.encode(value.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}
