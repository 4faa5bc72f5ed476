//! Capability tokens (biscuit): what a customer allowed a partner, signed by the ecosystem,
//! verifiable offline, narrowable before it reaches a sub-processor, revocable.
//!
//! # The token model
//! The authority block, signed by the ecosystem root key (its key id is in the token):
//!
//! ```text
//! ecosystem("eco-…"); partner("ptn_…"); subject("<pseudonym>");
//! grant("marketing.offers", "contact.email", "email");   // one fact per allowed tuple
//! consent_version(42);                                  // ledger seq it was cut from
//! check if time($t), $t <= 2026-11-22T10:15:00Z;
//! ```
//!
//! Grants are concrete tuples; the channel is `""` for a purpose that takes none. The block's
//! context holds the same claims as JSON (`tessera/token/1`), written by the issuer.
//!
//! Attenuation blocks written by [`attenuate`] hold only checks of these shapes, and a
//! context (`tessera/narrowing/1`) with their parameters:
//!
//! ```text
//! check if purpose($p), {"marketing.offers"}.contains($p);
//! check if data($d), {"contact.email"}.contains($d);
//! check if channel($c), {"email"}.contains($c);
//! check if operation($o), {"send"}.contains($o);
//! check if time($t), $t <= 2026-11-22T10:05:00Z;
//! ```
//!
//! The [`Verifier`] writes all the datalog of the partner side: it adds `time`, `purpose`,
//! `data`, `channel` and `operation` facts and one policy,
//! `allow if partner("<me>"), ecosystem("<eco>"), grant($p, $d, $c), purpose($p), data($d), channel($c)`.
//! Policies trust only the authority block and the authorizer, so facts an attenuation
//! block adds are never seen by them: a block can only narrow.
//!
//! # The verified-token cache
//! A verified token is cached under the SHA-256 of its bytes, so a token seen again skips
//! the signatures. When every block has a shape Tessera writes (checked by regenerating
//! each attenuation block from its context and comparing it with the block's source), a
//! cache hit is answered in plain Rust from the grants and narrowings, without the datalog
//! engine; any other token still runs the authorizer on every use.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{Algorithm, Term};
use biscuit_auth::datalog::RunLimits;
use biscuit_auth::{
    AuthorizerBuilder, Biscuit, BlockBuilder, KeyPair, PrivateKey, UnverifiedBiscuit,
};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::catalog::{Channel, DataCategory, PurposeId};
use crate::id::{EcosystemId, PartnerId, Pseudonym};

const AUTHORITY_CONTEXT: &str = "tessera/token/1 ";
const NARROWING_CONTEXT: &str = "tessera/narrowing/1 ";
/// Longest token the verifier accepts, in bytes.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Most blocks (authority + attenuations) the verifier accepts.
pub const MAX_BLOCKS: usize = 32;

/// Errors of issuing, attenuating and verifying tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The bytes are not a biscuit token (or too large, or too many blocks).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The root key id is not in the verifier's key set (unknown or rotated out).
    #[error("token signed by an unknown root key")]
    UnknownKey,
    /// A signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
    /// The authority block was not written by a Tessera issuer.
    #[error("token was not issued by Tessera")]
    NotTessera,
    /// Key material is not valid.
    #[error("invalid key material")]
    BadKey,
    /// The random source failed.
    #[error("the random source failed")]
    Random,
    /// Building the token failed.
    #[error("token construction failed: {0}")]
    Build(String),
    /// Nothing to put in a token (no grant, empty narrowing, …).
    #[error("{0}")]
    Empty(&'static str),
}

/// An ecosystem root key with its id. `Debug` never shows the secret.
pub struct RootKey {
    id: u32,
    pair: KeyPair,
}

impl RootKey {
    /// The key from a 32-byte Ed25519 seed and its id.
    pub fn from_seed(id: u32, seed: &[u8; 32]) -> Result<Self, TokenError> {
        let private =
            PrivateKey::from_bytes(seed, Algorithm::Ed25519).map_err(|_| TokenError::BadKey)?;
        Ok(Self {
            id,
            pair: KeyPair::from(&private),
        })
    }

    /// A fresh random key with the given id.
    pub fn generate(id: u32, rng: &dyn SecureRandom) -> Result<Self, TokenError> {
        let mut seed = [0u8; 32];
        rng.fill(&mut seed).map_err(|_| TokenError::Random)?;
        Self::from_seed(id, &seed)
    }

    /// The key id written into tokens.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The public half (32 bytes), to publish in the key set.
    pub fn public_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.pair.public().to_bytes());
        out
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The ecosystem's published root public keys, by key id. Rotating means adding the new
/// key, issuing with it, and removing the old one once its tokens have expired.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<u32, biscuit_auth::PublicKey>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a 32-byte Ed25519 public key under `id`.
    pub fn insert(&mut self, id: u32, public: &[u8; 32]) -> Result<(), TokenError> {
        let key = biscuit_auth::PublicKey::from_bytes(public, Algorithm::Ed25519)
            .map_err(|_| TokenError::BadKey)?;
        self.keys.insert(id, key);
        Ok(())
    }

    /// Removes a key (rotated out): its tokens no longer verify.
    pub fn remove(&mut self, id: u32) {
        self.keys.remove(&id);
    }

    /// Whether a key id is known.
    pub fn contains(&self, id: u32) -> bool {
        self.keys.contains_key(&id)
    }
}

struct Provider<'a>(&'a KeySet);

impl biscuit_auth::RootKeyProvider for Provider<'_> {
    fn choose(
        &self,
        key_id: Option<u32>,
    ) -> Result<biscuit_auth::PublicKey, biscuit_auth::error::Format> {
        key_id
            .and_then(|id| self.0.keys.get(&id).copied())
            .ok_or(biscuit_auth::error::Format::UnknownPublicKey)
    }
}

/// One concrete allowed use: purpose, data category and channel (`None` for purposes that
/// take no channel).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Grant {
    /// The purpose.
    pub purpose: PurposeId,
    /// The data category.
    pub data: DataCategory,
    /// The channel, if the purpose takes one.
    pub channel: Option<Channel>,
}

/// What a token says, as the issuer wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The ecosystem.
    pub ecosystem: EcosystemId,
    /// The partner the token is for.
    pub partner: PartnerId,
    /// The customer, as that partner's pseudonym.
    pub subject: Pseudonym,
    /// The allowed uses.
    pub grants: BTreeSet<Grant>,
    /// The customer's ledger seq the grants were cut from.
    pub consent_version: u64,
    /// When the token stops being valid (second precision).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A freshly issued token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The serialized token.
    pub bytes: Vec<u8>,
    /// Its revocation ids (one per block), lowercase hex.
    pub revocation_ids: Vec<String>,
    /// The claims it carries.
    pub claims: Claims,
}

impl IssuedToken {
    /// The token as URL-safe base64, as carried in an HTTP header.
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE.encode(&self.bytes)
    }
}

impl fmt::Debug for IssuedToken {
    // The bytes are a bearer credential: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field(
                "bytes",
                &format_args!("[{} bytes, redacted]", self.bytes.len()),
            )
            .field("revocation_ids", &self.revocation_ids)
            .field("claims", &self.claims)
            .finish()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn date(t: OffsetDateTime) -> Term {
    Term::Date(t.unix_timestamp().max(0) as u64)
}

fn next_keypair(rng: &dyn SecureRandom) -> Result<KeyPair, TokenError> {
    let mut seed = [0u8; 32];
    rng.fill(&mut seed).map_err(|_| TokenError::Random)?;
    let private =
        PrivateKey::from_bytes(&seed, Algorithm::Ed25519).map_err(|_| TokenError::BadKey)?;
    Ok(KeyPair::from(&private))
}

fn build_err(e: impl fmt::Display) -> TokenError {
    TokenError::Build(e.to_string())
}

/// The expiry written into tokens: whole seconds (biscuit dates have second precision).
pub fn token_time(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Issues a token carrying `claims`, signed by `root`. A token without grants is refused:
/// [`TokenError::Empty`].
pub fn issue(
    root: &RootKey,
    claims: &Claims,
    rng: &dyn SecureRandom,
) -> Result<IssuedToken, TokenError> {
    if claims.grants.is_empty() {
        return Err(TokenError::Empty("nothing is granted: no token"));
    }
    let mut claims = claims.clone();
    claims.expires_at = token_time(claims.expires_at);
    let context = format!(
        "{AUTHORITY_CONTEXT}{}",
        serde_json::to_string(&claims).map_err(build_err)?
    );
    let mut b = Biscuit::builder()
        .root_key_id(root.id)
        .context(context)
        .fact(biscuit_auth::builder::fact(
            "ecosystem",
            &[Term::Str(claims.ecosystem.to_string())],
        ))
        .map_err(build_err)?
        .fact(biscuit_auth::builder::fact(
            "partner",
            &[Term::Str(claims.partner.to_string())],
        ))
        .map_err(build_err)?
        .fact(biscuit_auth::builder::fact(
            "subject",
            &[Term::Str(claims.subject.to_string())],
        ))
        .map_err(build_err)?;
    for g in &claims.grants {
        let channel = g.channel.as_ref().map_or("", Channel::as_str);
        let terms = [
            Term::Str(g.purpose.to_string()),
            Term::Str(g.data.to_string()),
            Term::Str(channel.into()),
        ];
        b = b
            .fact(biscuit_auth::builder::fact("grant", &terms))
            .map_err(build_err)?;
    }
    b = b
        .fact(biscuit_auth::builder::fact(
            "consent_version",
            &[Term::Integer(
                claims.consent_version.min(i64::MAX as u64) as i64
            )],
        ))
        .map_err(build_err)?;
    let params = HashMap::from([("exp".to_string(), date(claims.expires_at))]);
    b = b
        .code_with_params("check if time($t), $t <= {exp};", params, HashMap::new())
        .map_err(build_err)?;
    let token = b
        .build_with_key_pair(
            &root.pair,
            biscuit_auth::datalog::SymbolTable::new(),
            &next_keypair(rng)?,
        )
        .map_err(build_err)?;
    let bytes = token.to_vec().map_err(build_err)?;
    let revocation_ids = token
        .revocation_identifiers()
        .iter()
        .map(|r| hex(r))
        .collect();
    Ok(IssuedToken {
        bytes,
        revocation_ids,
        claims,
    })
}

/// An operation name a partner states (`read`, `send`, `export`, …): 1 to 64 of
/// `a-z 0-9 _ . : -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Operation(String);

impl Operation {
    /// Checks and wraps an operation name.
    pub fn new(name: &str) -> Result<Self, TokenError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
        if ok {
            Ok(Self(name.into()))
        } else {
            Err(TokenError::Malformed(
                "operation must be 1-64 of a-z 0-9 _ . : -".into(),
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Operation {
    type Error = TokenError;
    fn try_from(value: String) -> Result<Self, TokenError> {
        Self::new(&value)
    }
}

impl From<Operation> for String {
    fn from(value: Operation) -> Self {
        value.0
    }
}

/// What an attenuation block narrows the token to. Every field that is set must hold for a
/// use to be allowed; unset fields narrow nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Narrowing {
    /// Only these purposes (exact names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purposes: Option<BTreeSet<PurposeId>>,
    /// Only these data categories (exact names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeSet<DataCategory>>,
    /// Only these channels; `""` stands for "no channel".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<BTreeSet<String>>,
    /// Only these operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<BTreeSet<Operation>>,
    /// Only until then (truncated to the second).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<OffsetDateTime>,
}

impl Narrowing {
    fn is_empty(&self) -> bool {
        self.purposes.is_none()
            && self.data.is_none()
            && self.channels.is_none()
            && self.operations.is_none()
            && self.until.is_none()
    }

    /// The block Tessera writes for this narrowing.
    fn block(&self) -> Result<BlockBuilder, TokenError> {
        let mut block = BlockBuilder::new().context(format!(
            "{NARROWING_CONTEXT}{}",
            serde_json::to_string(self).map_err(build_err)?
        ));
        let set = |items: Vec<String>| Term::Set(items.into_iter().map(Term::Str).collect());
        let add = |block: BlockBuilder, code: &str, term: Term| {
            block
                .code_with_params(
                    code,
                    HashMap::from([("v".to_string(), term)]),
                    HashMap::new(),
                )
                .map_err(build_err)
        };
        if let Some(p) = &self.purposes {
            block = add(
                block,
                "check if purpose($p), {v}.contains($p);",
                set(p.iter().map(|x| x.to_string()).collect()),
            )?;
        }
        if let Some(d) = &self.data {
            block = add(
                block,
                "check if data($d), {v}.contains($d);",
                set(d.iter().map(|x| x.to_string()).collect()),
            )?;
        }
        if let Some(c) = &self.channels {
            block = add(
                block,
                "check if channel($c), {v}.contains($c);",
                set(c.iter().cloned().collect()),
            )?;
        }
        if let Some(o) = &self.operations {
            block = add(
                block,
                "check if operation($o), {v}.contains($o);",
                set(o.iter().map(|x| x.0.clone()).collect()),
            )?;
        }
        if let Some(t) = self.until {
            block = add(block, "check if time($t), $t <= {v};", date(token_time(t)))?;
        }
        Ok(block)
    }

    fn admits(&self, u: &Use) -> bool {
        let channel = u.channel.as_ref().map_or("", Channel::as_str);
        self.purposes
            .as_ref()
            .is_none_or(|s| s.contains(&u.purpose))
            && self.data.as_ref().is_none_or(|s| s.contains(&u.data))
            && self.channels.as_ref().is_none_or(|s| s.contains(channel))
            && self
                .operations
                .as_ref()
                .is_none_or(|s| s.contains(&u.operation))
            && self
                .until
                .is_none_or(|t| u.at.unix_timestamp() <= token_time(t).unix_timestamp())
    }
}

/// Appends a narrowing block to a token (holder side: no key needed, the token need not be
/// verified first). The result can only allow less than the input.
pub fn attenuate(
    token: &[u8],
    narrowing: &Narrowing,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, TokenError> {
    if narrowing.is_empty() {
        return Err(TokenError::Empty("an attenuation must narrow something"));
    }
    let unverified = UnverifiedToken::from_bytes(token)?;
    let next = unverified
        .0
        .append_with_keypair(&next_keypair(rng)?, narrowing.block()?)
        .map_err(build_err)?;
    next.to_vec().map_err(build_err)
}

/// Token bytes that have been parsed but not verified: nothing in it can be read yet.
pub struct UnverifiedToken(UnverifiedBiscuit);

impl UnverifiedToken {
    /// Parses token bytes (size and block count are bounded).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        if bytes.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed(format!(
                "token longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let t = UnverifiedBiscuit::from(bytes).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if t.block_count() > MAX_BLOCKS {
            return Err(TokenError::Malformed(format!(
                "more than {MAX_BLOCKS} blocks"
            )));
        }
        // Protobuf skips unknown fields and accepts other encodings of the same message, so
        // other bytes could carry the same signed token. Only its canonical encoding (the
        // one biscuit writes) is a token here: one token, one byte string, one cache slot.
        // The signed blocks inside are kept as bytes, so this re-encodes only the envelope.
        let canonical = t
            .to_vec()
            .map_err(|e| TokenError::Malformed(e.to_string()))?;
        if canonical != bytes {
            return Err(TokenError::Malformed(
                "not the canonical encoding of a token".into(),
            ));
        }
        Ok(Self(t))
    }

    /// Checks the signatures against the key set.
    pub fn verify(self, keys: &KeySet) -> Result<VerifiedToken, TokenError> {
        match self.0.root_key_id() {
            Some(id) if keys.contains(id) => {}
            _ => return Err(TokenError::UnknownKey),
        }
        let biscuit = self.0.verify(Provider(keys)).map_err(|e| match e {
            biscuit_auth::error::Format::UnknownPublicKey => TokenError::UnknownKey,
            _ => TokenError::BadSignature,
        })?;
        VerifiedToken::new(biscuit)
    }
}

impl fmt::Debug for UnverifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnverifiedToken([redacted])")
    }
}

/// A token whose signatures verified against the ecosystem's key set. Its claims can be read.
pub struct VerifiedToken {
    biscuit: Biscuit,
    claims: Claims,
    revocation_ids: Vec<String>,
    /// The narrowings of every block, if every attenuation block is one Tessera writes.
    narrowings: Option<Vec<Narrowing>>,
    expires_at: OffsetDateTime,
}

impl VerifiedToken {
    fn new(biscuit: Biscuit) -> Result<Self, TokenError> {
        let contexts = biscuit.context();
        let claims: Claims = contexts
            .first()
            .and_then(|c| c.as_deref())
            .and_then(|c| c.strip_prefix(AUTHORITY_CONTEXT))
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or(TokenError::NotTessera)?;
        let revocation_ids = biscuit
            .revocation_identifiers()
            .iter()
            .map(|r| hex(r))
            .collect();
        let mut narrowings = Some(Vec::new());
        let mut expires_at = claims.expires_at;
        for i in 1..biscuit.block_count() {
            match known_narrowing(&biscuit, i, contexts.get(i).and_then(|c| c.as_deref())) {
                Some(n) => {
                    if let Some(t) = n.until {
                        expires_at = expires_at.min(token_time(t));
                    }
                    if let Some(list) = narrowings.as_mut() {
                        list.push(n);
                    }
                }
                None => narrowings = None,
            }
        }
        Ok(Self {
            biscuit,
            claims,
            revocation_ids,
            narrowings,
            expires_at,
        })
    }

    /// What the issuer wrote.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The revocation ids (lowercase hex), one per block.
    pub fn revocation_ids(&self) -> &[String] {
        &self.revocation_ids
    }

    /// Whether every attenuation block is one Tessera writes (so a cache hit needs no datalog).
    pub fn is_known_shape(&self) -> bool {
        self.narrowings.is_some()
    }

    /// The earliest expiry in the token (the authority's or a narrowing's).
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("claims", &self.claims)
            .field("blocks", &self.biscuit.block_count())
            .field("known_shape", &self.is_known_shape())
            .finish()
    }
}

/// The block at `index`, if it is exactly the block Tessera writes for the narrowing its
/// context names.
fn known_narrowing(biscuit: &Biscuit, index: usize, context: Option<&str>) -> Option<Narrowing> {
    let narrowing: Narrowing =
        serde_json::from_str(context?.strip_prefix(NARROWING_CONTEXT)?).ok()?;
    if biscuit.block_external_key(index).ok()?.is_some() {
        return None;
    }
    // The sources are compared as text, and biscuit prints strings and names without
    // escaping: a symbol holding `"`, `,` or `}` can make a different block print the same
    // (one string `a", "b` prints like the set of `a` and `b`). Only plain names (on both
    // sides: the block's own symbols, and the context's channels, the one free-form field)
    // keep the comparison exact; anything else is a foreign block.
    let plain = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
    };
    if !narrowing.channels.iter().flatten().all(|c| plain(c))
        || !biscuit.block_symbols(index).ok()?.iter().all(|s| plain(s))
    {
        return None;
    }
    let expected = narrowing.block().ok()?.to_string();
    // biscuit prints a set in symbol-table order; reading the printed source back sorts it
    // the way Tessera writes it. With plain names only, the text has one reading.
    let printed = biscuit.print_block_source(index).ok()?;
    let normalized = BlockBuilder::new().code(&printed).ok()?.to_string();
    (normalized == expected).then_some(narrowing)
}

/// A use a partner is about to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The purpose.
    pub purpose: PurposeId,
    /// The data category.
    pub data: DataCategory,
    /// The channel, for purposes that take one.
    pub channel: Option<Channel>,
    /// The operation.
    pub operation: Operation,
    /// Now.
    pub at: OffsetDateTime,
}

/// Why a token does not allow a use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Denial {
    /// The token is malformed.
    Malformed,
    /// Signed by an unknown or rotated-out key.
    UnknownKey,
    /// A signature does not verify.
    BadSignature,
    /// Not a Tessera token.
    NotTessera,
    /// Issued for another ecosystem.
    WrongEcosystem,
    /// Issued for another partner.
    WrongPartner,
    /// Expired (the authority's expiry or a narrowing's).
    Expired,
    /// One of its revocation ids is revoked.
    Revoked,
    /// An attenuation block excludes the use.
    Narrowed,
    /// The token does not grant the use.
    NotGranted,
    /// The datalog evaluation hit the run limits.
    LimitExceeded,
}

/// The verifier's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenDecision {
    /// The use is allowed; the subject is the customer's pseudonym for this partner.
    Allow {
        /// The customer, as this partner's pseudonym.
        subject: Pseudonym,
        /// The consent version the token was cut from.
        consent_version: u64,
    },
    /// The use is not allowed, and why.
    Deny(Denial),
}

impl TokenDecision {
    /// Whether the use is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, TokenDecision::Allow { .. })
    }
}

/// Revocation ids a verifier has learned from the revocation feed, with the feed cursor.
#[derive(Debug, Clone, Default)]
pub struct RevocationSet {
    ids: HashSet<String>,
    cursor: u64,
}

impl RevocationSet {
    /// An empty set at cursor 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a revoked id (lowercase hex) seen at feed position `cursor`.
    pub fn insert(&mut self, revocation_id: &str, cursor: u64) {
        self.ids.insert(revocation_id.to_ascii_lowercase());
        self.cursor = self.cursor.max(cursor);
    }

    /// The feed position to ask from next.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Whether any of the ids is revoked.
    pub fn any_revoked<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> bool {
        ids.into_iter().any(|id| self.ids.contains(id))
    }

    /// How many ids are revoked.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id is revoked.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The run limits every authorization uses. biscuit-auth's default time limit (1 ms) fails
/// spuriously under load; Tessera bounds the work by facts and iterations (a Tessera token
/// derives no facts; a hostile one is cut off at these bounds) and keeps a generous wall
/// clock limit only as a last resort.
pub const RUN_LIMITS: RunLimits = RunLimits {
    max_facts: 10_000,
    max_iterations: 100,
    max_time: Duration::from_secs(1),
};

/// The partner side: verifies tokens for one partner of one ecosystem, with a bounded cache
/// of verified tokens.
pub struct Verifier {
    ecosystem: EcosystemId,
    partner: PartnerId,
    keys: KeySet,
    limits: RunLimits,
    cache: Option<quick_cache::sync::Cache<[u8; 32], Arc<VerifiedToken>>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("ecosystem", &self.ecosystem)
            .field("partner", &self.partner)
            .finish()
    }
}

impl Verifier {
    /// A verifier for `partner` in `ecosystem`, trusting `keys`, caching up to 10,000 tokens.
    pub fn new(ecosystem: EcosystemId, partner: PartnerId, keys: KeySet) -> Self {
        Self::with_capacity(ecosystem, partner, keys, 10_000)
    }

    /// As [`Verifier::new`] with a cache capacity (0 turns the cache off).
    pub fn with_capacity(
        ecosystem: EcosystemId,
        partner: PartnerId,
        keys: KeySet,
        capacity: usize,
    ) -> Self {
        Self {
            ecosystem,
            partner,
            keys,
            limits: RUN_LIMITS,
            cache: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
        }
    }

    /// Verifies token bytes (or takes them from the cache).
    pub fn verify(&self, bytes: &[u8]) -> Result<Arc<VerifiedToken>, TokenError> {
        let Some(cache) = &self.cache else {
            return Ok(Arc::new(
                UnverifiedToken::from_bytes(bytes)?.verify(&self.keys)?,
            ));
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Some(hit) = cache.get(&key) {
            return Ok(hit);
        }
        let verified = Arc::new(UnverifiedToken::from_bytes(bytes)?.verify(&self.keys)?);
        cache.insert(key, Arc::clone(&verified));
        Ok(verified)
    }

    /// May this partner make `u` with the token? Verifies (or hits the cache), then checks
    /// ecosystem, partner, revocation, expiry, narrowings and grants.
    pub fn check(&self, bytes: &[u8], u: &Use, revoked: &RevocationSet) -> TokenDecision {
        match self.verify(bytes) {
            Ok(token) => self.authorize(&token, u, revoked),
            Err(e) => TokenDecision::Deny(match e {
                TokenError::UnknownKey => Denial::UnknownKey,
                TokenError::BadSignature => Denial::BadSignature,
                TokenError::NotTessera => Denial::NotTessera,
                _ => Denial::Malformed,
            }),
        }
    }

    /// Authorizes a use with a verified token.
    pub fn authorize(
        &self,
        token: &VerifiedToken,
        u: &Use,
        revoked: &RevocationSet,
    ) -> TokenDecision {
        let claims = &token.claims;
        if claims.ecosystem != self.ecosystem {
            return TokenDecision::Deny(Denial::WrongEcosystem);
        }
        if claims.partner != self.partner {
            return TokenDecision::Deny(Denial::WrongPartner);
        }
        if revoked.any_revoked(&token.revocation_ids) {
            return TokenDecision::Deny(Denial::Revoked);
        }
        if u.at.unix_timestamp() > claims.expires_at.unix_timestamp() {
            return TokenDecision::Deny(Denial::Expired);
        }
        let allow = TokenDecision::Allow {
            subject: claims.subject.clone(),
            consent_version: claims.consent_version,
        };
        if let Some(narrowings) = &token.narrowings {
            // Every block is a known shape: answer without the datalog engine.
            if let Some(n) = narrowings.iter().find(|n| !n.admits(u)) {
                return TokenDecision::Deny(
                    if n.until
                        .is_some_and(|t| u.at.unix_timestamp() > token_time(t).unix_timestamp())
                    {
                        Denial::Expired
                    } else {
                        Denial::Narrowed
                    },
                );
            }
            let grant = Grant {
                purpose: u.purpose.clone(),
                data: u.data.clone(),
                channel: u.channel.clone(),
            };
            return if claims.grants.contains(&grant) {
                allow
            } else {
                TokenDecision::Deny(Denial::NotGranted)
            };
        }
        match self.run_authorizer(&token.biscuit, u) {
            Ok(()) => allow,
            Err(d) => TokenDecision::Deny(d),
        }
    }

    fn run_authorizer(&self, biscuit: &Biscuit, u: &Use) -> Result<(), Denial> {
        let channel = u.channel.as_ref().map_or("", Channel::as_str);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u.at.unix_timestamp().max(0) as u64);
        let params = HashMap::from([
            ("time".to_string(), Term::from(at)),
            ("purpose".to_string(), Term::Str(u.purpose.to_string())),
            ("data".to_string(), Term::Str(u.data.to_string())),
            ("channel".to_string(), Term::Str(channel.into())),
            ("operation".to_string(), Term::Str(u.operation.0.clone())),
            ("me".to_string(), Term::Str(self.partner.to_string())),
            ("eco".to_string(), Term::Str(self.ecosystem.to_string())),
        ]);
        let code = "time({time}); purpose({purpose}); data({data}); channel({channel}); operation({operation});
            allow if partner({me}), ecosystem({eco}), grant($p, $d, $c), purpose($p), data($d), channel($c);
            deny if true;";
        let mut authorizer = AuthorizerBuilder::new()
            .code_with_params(code, params, HashMap::new())
            .map_err(|_| Denial::Malformed)?
            .set_limits(self.limits.clone())
            .build(biscuit)
            .map_err(|_| Denial::Malformed)?;
        match authorizer.authorize() {
            Ok(_) => Ok(()),
            Err(biscuit_auth::error::Token::RunLimit(_)) => Err(Denial::LimitExceeded),
            Err(biscuit_auth::error::Token::FailedLogic(
                biscuit_auth::error::Logic::Unauthorized { checks, .. },
            )) => {
                let block_failed = checks.iter().any(
                    |c| matches!(c, biscuit_auth::error::FailedCheck::Block(b) if b.block_id > 0),
                );
                let authority_failed = checks.iter().any(
                    |c| matches!(c, biscuit_auth::error::FailedCheck::Block(b) if b.block_id == 0),
                );
                Err(if authority_failed {
                    Denial::Expired
                } else if block_failed {
                    Denial::Narrowed
                } else {
                    Denial::NotGranted
                })
            }
            Err(_) => Err(Denial::NotGranted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use time::macros::datetime;

    fn claims(partner: PartnerId) -> Claims {
        let secret = crate::id::PseudonymSecret::from_bytes(&[5; 32]).unwrap();
        let customer = crate::id::CustomerId::from_parts(datetime!(2026-01-01 0:00 UTC), [1; 10]);
        Claims {
            ecosystem: EcosystemId::new("eco-test").unwrap(),
            partner,
            subject: secret.pseudonym(&crate::id::SectorId::of_partner(partner), customer),
            grants: [
                Grant {
                    purpose: "marketing.offers".parse().unwrap(),
                    data: "contact.email".parse().unwrap(),
                    channel: Some("email".parse().unwrap()),
                },
                Grant {
                    purpose: "service.delivery".parse().unwrap(),
                    data: "travel.itinerary".parse().unwrap(),
                    channel: None,
                },
            ]
            .into_iter()
            .collect(),
            consent_version: 7,
            expires_at: datetime!(2026-11-22 10:15 UTC),
        }
    }

    fn use_(purpose: &str, data: &str, channel: Option<&str>, op: &str, at: OffsetDateTime) -> Use {
        Use {
            purpose: purpose.parse().unwrap(),
            data: data.parse().unwrap(),
            channel: channel.map(|c| c.parse().unwrap()),
            operation: Operation::new(op).unwrap(),
            at,
        }
    }

    #[test]
    fn issue_verify_attenuate_and_both_paths_agree() {
        let rng = SystemRandom::new();
        let partner = PartnerId::from_parts(datetime!(2026-01-01 0:00 UTC), [2; 10]);
        let root = RootKey::from_seed(1, &[9; 32]).unwrap();
        let mut keys = KeySet::new();
        keys.insert(1, &root.public_bytes()).unwrap();
        let issued = issue(&root, &claims(partner), &rng).unwrap();
        let verifier = Verifier::new(EcosystemId::new("eco-test").unwrap(), partner, keys.clone());
        let now = datetime!(2026-11-22 10:00 UTC);
        let none = RevocationSet::new();
        let email = use_(
            "marketing.offers",
            "contact.email",
            Some("email"),
            "send",
            now,
        );
        assert!(verifier.check(&issued.bytes, &email, &none).allowed());
        let sms = use_(
            "marketing.offers",
            "contact.email",
            Some("sms"),
            "send",
            now,
        );
        assert_eq!(
            verifier.check(&issued.bytes, &sms, &none),
            TokenDecision::Deny(Denial::NotGranted)
        );
        let late = use_(
            "marketing.offers",
            "contact.email",
            Some("email"),
            "send",
            datetime!(2026-11-22 10:16 UTC),
        );
        assert_eq!(
            verifier.check(&issued.bytes, &late, &none),
            TokenDecision::Deny(Denial::Expired)
        );

        let narrowing = Narrowing {
            purposes: Some(["service.delivery".parse().unwrap()].into_iter().collect()),
            until: Some(datetime!(2026-11-22 10:05 UTC)),
            ..Narrowing::default()
        };
        let narrowed = attenuate(&issued.bytes, &narrowing, &rng).unwrap();
        let token = verifier.verify(&narrowed).unwrap();
        assert!(
            token.is_known_shape(),
            "Tessera's own narrowing block must be recognised"
        );
        assert_eq!(
            verifier.check(&narrowed, &email, &none),
            TokenDecision::Deny(Denial::Narrowed)
        );
        let delivery = use_("service.delivery", "travel.itinerary", None, "read", now);
        assert!(verifier.check(&narrowed, &delivery, &none).allowed());
        let after = use_(
            "service.delivery",
            "travel.itinerary",
            None,
            "read",
            datetime!(2026-11-22 10:06 UTC),
        );
        assert_eq!(
            verifier.check(&narrowed, &after, &none),
            TokenDecision::Deny(Denial::Expired)
        );
        // The datalog path gives the same answers.
        for u in [&email, &sms, &late, &delivery, &after] {
            let fast = verifier.authorize(&token, u, &none);
            let slow = match verifier.run_authorizer(&token.biscuit, u) {
                Ok(()) => true,
                Err(_) => false,
            };
            assert_eq!(fast.allowed(), slow, "{u:?}");
        }

        let mut revoked = RevocationSet::new();
        revoked.insert(&issued.revocation_ids[0], 1);
        assert_eq!(
            verifier.check(&narrowed, &delivery, &revoked),
            TokenDecision::Deny(Denial::Revoked)
        );

        let other = PartnerId::from_parts(datetime!(2026-01-01 0:00 UTC), [3; 10]);
        let wrong = Verifier::new(EcosystemId::new("eco-test").unwrap(), other, keys);
        assert_eq!(
            wrong.check(&issued.bytes, &email, &none),
            TokenDecision::Deny(Denial::WrongPartner)
        );
        let rotated = Verifier::new(
            EcosystemId::new("eco-test").unwrap(),
            partner,
            KeySet::new(),
        );
        assert_eq!(
            rotated.check(&issued.bytes, &email, &none),
            TokenDecision::Deny(Denial::UnknownKey)
        );
        assert!(!format!("{issued:?}").contains(&issued.to_base64()[..20]));
    }
}
