//! Identifiers: one customer ID and one partner ID across the ecosystem, and the pairwise
//! pseudonym a partner sees instead of the customer ID.
//!
//! IDs are UUIDv7 (time-ordered, index friendly) written in the TypeID style: a prefix, an
//! underscore and 26 characters of Crockford base32 (`cus_01jd…`, `ptn_01jd…`). Creating
//! one takes the time and the randomness as parameters; nothing here reads a clock.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::SecureRandom;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use type_safe_id::{StaticType, TypeSafeId};
use uuid::Uuid;

/// Why a text is not a valid Tessera ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The prefix before `_` is not the one this kind of ID uses.
    #[error("expected an id starting with `{expected}_`, got `{found}`")]
    WrongPrefix {
        /// The prefix this ID kind requires.
        expected: &'static str,
        /// What the text started with (cut to 16 characters).
        found: String,
    },
    /// The text is not `prefix_` followed by 26 base32 characters.
    #[error("malformed {kind} id: {reason}")]
    Malformed {
        /// Which ID kind was being parsed.
        kind: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The text decodes to a UUID that is not version 7.
    #[error("{kind} id is not a UUIDv7")]
    NotV7 {
        /// Which ID kind was being parsed.
        kind: &'static str,
    },
    /// The random source failed while generating an ID.
    #[error("the random source failed")]
    Random,
}

fn v7_from_parts(now: OffsetDateTime, random: [u8; 10]) -> Uuid {
    let millis = (now.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

fn random_bytes(rng: &dyn SecureRandom) -> Result<[u8; 10], IdError> {
    let mut buf = [0u8; 10];
    rng.fill(&mut buf).map_err(|_| IdError::Random)?;
    Ok(buf)
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $tag:ident, $prefix:literal, $kind:literal) => {
        #[derive(Default)]
        struct $tag;
        impl StaticType for $tag {
            const TYPE: &'static str = $prefix;
        }

        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The text prefix of this kind of ID (without the underscore).
            pub const PREFIX: &'static str = $prefix;

            /// A new ID for the given time, with randomness from `rng`.
            pub fn generate(now: OffsetDateTime, rng: &dyn SecureRandom) -> Result<Self, IdError> {
                Ok(Self(v7_from_parts(now, random_bytes(rng)?)))
            }

            /// The ID made of a time and ten given random bytes (for tests and replays).
            pub fn from_parts(now: OffsetDateTime, random: [u8; 10]) -> Self {
                Self(v7_from_parts(now, random))
            }

            /// Wraps an existing UUIDv7.
            pub fn from_uuid(uuid: Uuid) -> Result<Self, IdError> {
                if uuid.get_version_num() == 7 {
                    Ok(Self(uuid))
                } else {
                    Err(IdError::NotV7 { kind: $kind })
                }
            }

            /// The UUID inside.
            pub fn uuid(&self) -> Uuid {
                self.0
            }

            /// The 16 bytes of the UUID, big-endian.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&TypeSafeId::<$tag>::from_uuid(self.0), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                let Some((prefix, _)) = s.split_once('_') else {
                    return Err(IdError::Malformed { kind: $kind, reason: "missing `_` after the prefix" });
                };
                if prefix != $prefix {
                    return Err(IdError::WrongPrefix {
                        expected: $prefix,
                        found: prefix.chars().take(16).collect(),
                    });
                }
                let id: TypeSafeId<$tag> = s.parse().map_err(|_| IdError::Malformed {
                    kind: $kind,
                    reason: "the suffix is not 26 lowercase Crockford base32 characters",
                })?;
                // TypeID accepts exactly one spelling per UUID; insist on it so text round-trips.
                if id.to_string() != s {
                    return Err(IdError::Malformed { kind: $kind, reason: "non-canonical spelling" });
                }
                Self::from_uuid(id.uuid())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::text::parse(deserializer, str::parse)
            }
        }
    };
}

typed_id!(
    /// One customer, across every partner, channel and touchpoint (`cus_…`).
    CustomerId,
    CustomerTag,
    "cus",
    "customer"
);

typed_id!(
    /// One partner company of the ecosystem (`ptn_…`).
    PartnerId,
    PartnerTag,
    "ptn",
    "partner"
);

/// The sector a partner belongs to for pseudonyms. Partners in the same sector see the same
/// pseudonym of a customer (as with OIDC's pairwise `sector_identifier_uri`); by default a
/// partner is its own sector.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SectorId(String);

impl SectorId {
    /// A sector named by free text (non-empty, at most 255 bytes, no control characters).
    pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
        let name = name.into();
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err(IdError::Malformed {
                kind: "sector",
                reason: "must be 1 to 255 bytes without control characters",
            });
        }
        Ok(Self(name))
    }

    /// The default sector of a partner: its own ID.
    pub fn of_partner(partner: PartnerId) -> Self {
        Self(partner.to_string())
    }

    /// The sector of the orchestrator's own pseudonyms in an ecosystem.
    pub fn orchestrator_of(ecosystem: &EcosystemId) -> Self {
        Self(format!("{ecosystem}/orchestrator"))
    }

    /// The sector name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SectorId({})", self.0)
    }
}

impl fmt::Display for SectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of an ecosystem (`eco-…` by convention): 1 to 64 of `a-z 0-9 - _ .`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EcosystemId(String);

impl EcosystemId {
    /// Checks and wraps a name.
    pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if ok {
            Ok(Self(name))
        } else {
            Err(IdError::Malformed {
                kind: "ecosystem",
                reason: "1 to 64 of a-z, 0-9, '-', '_', '.'",
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EcosystemId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl From<EcosystemId> for String {
    fn from(value: EcosystemId) -> Self {
        value.0
    }
}

impl fmt::Display for EcosystemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EcosystemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EcosystemId({})", self.0)
    }
}

/// The ecosystem's pseudonym secret: the HMAC-SHA256 key behind every pairwise pseudonym.
///
/// It never prints (`Debug` shows `[redacted]`) and cannot be compared or cloned by accident.
pub struct PseudonymSecret(hmac::Key);

impl PseudonymSecret {
    /// The secret from at least 32 bytes of key material.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        if bytes.len() < 32 {
            return Err(IdError::Malformed {
                kind: "pseudonym secret",
                reason: "needs at least 32 bytes of key material",
            });
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// A fresh random secret.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, IdError> {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes).map_err(|_| IdError::Random)?;
        Self::from_bytes(&bytes)
    }

    pub(crate) fn key(&self) -> &hmac::Key {
        &self.0
    }

    /// The pseudonym of `customer` in `sector`:
    /// `base64url(HMAC-SHA256(secret, sector-bytes || customer-uuid-bytes))`.
    ///
    /// The customer UUID is the fixed-length 16-byte tail, so the input is unambiguous.
    pub fn pseudonym(&self, sector: &SectorId, customer: CustomerId) -> Pseudonym {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(sector.as_str().as_bytes());
        ctx.update(customer.as_bytes());
        Pseudonym(URL_SAFE_NO_PAD.encode(ctx.sign().as_ref()))
    }
}

impl fmt::Debug for PseudonymSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymSecret([redacted])")
    }
}

/// What a partner sees of a customer: stable for that partner's sector, unlinkable across
/// sectors without the ecosystem secret. 43 base64url characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pseudonym(String);

impl Pseudonym {
    /// The pseudonym text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Pseudonym {
    type Error = IdError;

    fn try_from(value: String) -> Result<Self, IdError> {
        let ok = value.len() == 43
            && URL_SAFE_NO_PAD
                .decode(value.as_bytes())
                .is_ok_and(|bytes| bytes.len() == 32);
        if ok {
            Ok(Self(value))
        } else {
            Err(IdError::Malformed {
                kind: "pseudonym",
                reason: "must be 43 base64url characters (32 bytes)",
            })
        }
    }
}

impl FromStr for Pseudonym {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }
}

impl From<Pseudonym> for String {
    fn from(value: Pseudonym) -> Self {
        value.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn text_round_trips_and_prefix_is_checked() {
        let id = CustomerId::from_parts(datetime!(2026-11-22 10:00 UTC), [7; 10]);
        let text = id.to_string();
        assert!(text.starts_with("cus_"), "{text}");
        assert_eq!(text.len(), 30);
        assert_eq!(text.parse::<CustomerId>(), Ok(id));
        let as_partner = text.replacen("cus_", "ptn_", 1);
        assert!(matches!(
            as_partner.parse::<CustomerId>(),
            Err(IdError::WrongPrefix { .. })
        ));
        assert!(matches!(
            text.parse::<PartnerId>(),
            Err(IdError::WrongPrefix { .. })
        ));
        assert!(matches!(
            "cus_".parse::<CustomerId>(),
            Err(IdError::Malformed { .. })
        ));
        assert!(matches!(
            "cus".parse::<CustomerId>(),
            Err(IdError::Malformed { .. })
        ));
        let upper = format!("cus_{}", text[4..].to_uppercase());
        assert!(upper.parse::<CustomerId>().is_err());
    }

    #[test]
    fn non_v7_uuids_are_refused() {
        let v4 = Uuid::from_bytes([0x11; 16]);
        assert!(matches!(
            CustomerId::from_uuid(v4),
            Err(IdError::NotV7 { .. })
        ));
    }

    #[test]
    fn serde_uses_the_text_form() {
        let id = PartnerId::from_parts(datetime!(2026-01-01 0:00 UTC), [1; 10]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<PartnerId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CustomerId>(&json).is_err());
    }

    #[test]
    fn pseudonyms_differ_per_sector_and_secret_is_redacted() {
        let secret = PseudonymSecret::from_bytes(&[42; 32]).unwrap();
        let customer = CustomerId::from_parts(datetime!(2026-01-01 0:00 UTC), [3; 10]);
        let a = secret.pseudonym(&SectorId::new("airline").unwrap(), customer);
        let b = secret.pseudonym(&SectorId::new("hotel").unwrap(), customer);
        assert_ne!(a, b);
        assert_eq!(
            a,
            secret.pseudonym(&SectorId::new("airline").unwrap(), customer)
        );
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(format!("{secret:?}"), "PseudonymSecret([redacted])");
        assert!(PseudonymSecret::from_bytes(&[1; 16]).is_err());
        assert_eq!(a.as_str().parse::<Pseudonym>().unwrap(), a);
    }
}
