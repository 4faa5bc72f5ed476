//! Identity: the identifiers a customer is known by, and the proof needed to link one.
//!
//! Linking an identifier needs *proof* of it — a federated login, a one-time code sent to the
//! address, a partner's signed assertion — never a bare e-mail match, which is an
//! account-takeover path. [`Proof`] values are the only way into a link: the embedder makes
//! one after its own verification step, and the constructor names that step.
//!
//! Raw identifiers live in the identity store (erasable); the ledger holds only a keyed
//! digest of them ([`identifier_digest`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::id::PartnerId;

/// Why an identifier is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierError {
    /// Not an e-mail address.
    #[error("not an e-mail address")]
    Email,
    /// Not an E.164 phone number (`+` and 8 to 15 digits).
    #[error("not an E.164 phone number")]
    Phone,
    /// An empty or over-long field.
    #[error("{0} must be 1 to 512 bytes without control characters")]
    Field(&'static str),
}

/// Something a customer is known by. One identifier belongs to at most one customer.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Identifier {
    /// An e-mail address, normalised (trimmed, lowercased).
    Email {
        /// The address.
        address: String,
    },
    /// A phone number in E.164 form.
    Phone {
        /// The number, `+` and digits.
        number: String,
    },
    /// An account at an OpenID Connect (or other federated) provider.
    Federated {
        /// The provider's issuer.
        issuer: String,
        /// The subject at that issuer.
        subject: String,
    },
    /// An account in a partner's own system.
    PartnerAccount {
        /// The partner.
        partner: PartnerId,
        /// The partner's account reference.
        account_ref: String,
    },
}

fn field(value: &str, name: &'static str) -> Result<String, IdentifierError> {
    if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
        Err(IdentifierError::Field(name))
    } else {
        Ok(value.to_owned())
    }
}

impl Identifier {
    /// An e-mail identifier, normalised: trimmed and lowercased.
    pub fn email(address: &str) -> Result<Self, IdentifierError> {
        let a = address.trim().to_lowercase();
        let valid = a.len() <= 254
            && !a.chars().any(|c| c.is_whitespace() || c.is_control())
            && a.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
            });
        if valid {
            Ok(Identifier::Email { address: a })
        } else {
            Err(IdentifierError::Email)
        }
    }

    /// A phone identifier in E.164 form (spaces, dashes and dots are dropped).
    pub fn phone(number: &str) -> Result<Self, IdentifierError> {
        let n: String = number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = n.strip_prefix('+').ok_or(IdentifierError::Phone)?;
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Identifier::Phone { number: n })
        } else {
            Err(IdentifierError::Phone)
        }
    }

    /// A federated account.
    pub fn federated(issuer: &str, subject: &str) -> Result<Self, IdentifierError> {
        Ok(Identifier::Federated {
            issuer: field(issuer, "issuer")?,
            subject: field(subject, "subject")?,
        })
    }

    /// A partner account.
    pub fn partner_account(partner: PartnerId, account_ref: &str) -> Result<Self, IdentifierError> {
        Ok(Identifier::PartnerAccount {
            partner,
            account_ref: field(account_ref, "account_ref")?,
        })
    }

    /// The kind (`email`, `phone`, `federated`, `partner_account`).
    pub fn kind(&self) -> &'static str {
        match self {
            Identifier::Email { .. } => "email",
            Identifier::Phone { .. } => "phone",
            Identifier::Federated { .. } => "federated",
            Identifier::PartnerAccount { .. } => "partner_account",
        }
    }

    /// A canonical, unambiguous text form (`kind` then length-prefixed fields).
    pub fn canonical(&self) -> String {
        let parts: Vec<&str> = match self {
            Identifier::Email { address } => vec![address],
            Identifier::Phone { number } => vec![number],
            Identifier::Federated { issuer, subject } => vec![issuer, subject],
            Identifier::PartnerAccount {
                partner: _,
                account_ref,
            } => vec![account_ref],
        };
        let mut out = String::from(self.kind());
        if let Identifier::PartnerAccount { partner, .. } = self {
            out.push(':');
            out.push_str(&partner.to_string());
        }
        for p in parts {
            out.push_str(&format!(":{}:{}", p.len(), p));
        }
        out
    }
}

impl fmt::Debug for Identifier {
    // Identifiers are personal data: Debug shows the kind and a short digest-free hint only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identifier({}, [redacted])", self.kind())
    }
}

/// The keyed digest of an identifier that the ledger stores instead of the raw value:
/// `base64url(HMAC-SHA256(key, "tessera/identifier/v1\0" || canonical form))`.
pub fn identifier_digest(key: &hmac::Key, identifier: &Identifier) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"tessera/identifier/v1\0");
    ctx.update(identifier.canonical().as_bytes());
    URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
}

/// How an identifier was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofMethod {
    /// A federated login whose ID token the embedder verified.
    FederatedLogin,
    /// A one-time code sent to the e-mail address or phone and typed back.
    OneTimeCode,
    /// A partner's signed assertion that the account is the customer's.
    PartnerAssertion,
}

/// Proof that the customer controls an identifier. The identifier linked is the one proven,
/// so a proof for one address can never link another.
#[derive(Clone, PartialEq, Eq)]
pub struct Proof {
    identifier: Identifier,
    method: ProofMethod,
}

impl Proof {
    /// The embedder verified an ID token from `issuer` for `subject` (signature, audience,
    /// expiry, nonce) and hands over the result.
    pub fn verified_federated_login(issuer: &str, subject: &str) -> Result<Self, IdentifierError> {
        Ok(Self {
            identifier: Identifier::federated(issuer, subject)?,
            method: ProofMethod::FederatedLogin,
        })
    }

    /// The embedder sent a one-time code to this e-mail address or phone and the customer
    /// typed it back. Only e-mail and phone identifiers can be proven this way.
    pub fn verified_one_time_code(identifier: Identifier) -> Result<Self, IdentifierError> {
        match identifier {
            Identifier::Email { .. } | Identifier::Phone { .. } => Ok(Self {
                identifier,
                method: ProofMethod::OneTimeCode,
            }),
            _ => Err(IdentifierError::Field(
                "one-time codes prove only e-mail or phone",
            )),
        }
    }

    /// The embedder verified the partner's signed assertion that `account_ref` at `partner`
    /// belongs to the customer in this session.
    pub fn verified_partner_assertion(
        partner: PartnerId,
        account_ref: &str,
    ) -> Result<Self, IdentifierError> {
        Ok(Self {
            identifier: Identifier::partner_account(partner, account_ref)?,
            method: ProofMethod::PartnerAssertion,
        })
    }

    /// The identifier proven.
    pub fn identifier(&self) -> &Identifier {
        &self.identifier
    }

    /// How it was proven.
    pub fn method(&self) -> ProofMethod {
        self.method
    }
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proof")
            .field("identifier", &self.identifier)
            .field("method", &self.method)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_and_validation() {
        assert_eq!(
            Identifier::email("  Ada@Example.COM ").unwrap(),
            Identifier::Email {
                address: "ada@example.com".into()
            }
        );
        assert!(Identifier::email("nobody").is_err());
        assert!(Identifier::email("a@b@c.d").is_err());
        assert_eq!(
            Identifier::phone("+44 20 7946 0958").unwrap(),
            Identifier::Phone {
                number: "+442079460958".into()
            }
        );
        assert!(Identifier::phone("020 7946 0958").is_err());
        assert!(Identifier::federated("", "x").is_err());
        assert!(Proof::verified_one_time_code(Identifier::federated("i", "s").unwrap()).is_err());
    }

    #[test]
    fn digests_are_keyed_and_debug_is_redacted() {
        let k1 = hmac::Key::new(hmac::HMAC_SHA256, &[1; 32]);
        let k2 = hmac::Key::new(hmac::HMAC_SHA256, &[2; 32]);
        let id = Identifier::email("ada@example.com").unwrap();
        assert_ne!(identifier_digest(&k1, &id), identifier_digest(&k2, &id));
        assert!(!format!("{id:?}").contains("ada"));
        let a = Identifier::federated("a:1", "b").unwrap();
        let b = Identifier::federated("a", "1:b").unwrap();
        assert_ne!(a.canonical(), b.canonical());
    }
}
