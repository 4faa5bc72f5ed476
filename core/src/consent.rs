//! Consent: the customer's choices and the decision rule.
//!
//! A [`Choice`] is the customer's decision at one [`ChoiceKey`] `(scope, purpose, data,
//! channel)`. A later choice at the same key replaces the earlier one; clearing removes it.
//! [`decide`] answers *may this partner use this data for this purpose on this channel at
//! `t`?* following the normative rule of the design, and says why.
//!
//! # The decision rule
//! A request that does not fit the catalog is a [`RequestError`], not a decision. Otherwise
//! the first rule that applies decides:
//! 1. unknown or erased customer → deny ([`Reason::UnknownCustomer`]);
//! 2. partner not active → deny ([`Reason::PartnerInactive`]);
//! 3. outside the partner's approved declarations → deny ([`Reason::NotDeclared`]); the most
//!    specific containing declaration is kept for rule 6;
//! 4. among the choices in force at `t` that cover the request, the most specific wins:
//!    `(scope rank, purpose depth, data depth, channel given)` compared lexicographically;
//!    at equal rank a refusal wins, then the later seq. A broad *grant* covers only partners
//!    active when it was made; a broad *refusal* covers every partner;
//! 5. the winner decides: grant → allow, refuse → deny ([`Reason::Refused`]);
//! 6. no covering choice: a `contract` declaration with an active relationship, or a
//!    `legitimate_interest` declaration → allow ([`Reason::LegalBasis`]); else deny
//!    ([`Reason::NoConsent`]).
//!
//! # How it is fast
//! A decision resolves the request's three names in the catalog once (three hash lookups);
//! after that it works on small integers. The [`Directory`] keeps every partner compiled
//! against the catalog, its approved declarations indexed by purpose, so rule 3 is a few
//! integer compares. The state keeps, per key, the list of versions written to it, in a hash
//! map keyed by symbols it interns for every name its choices use, and per scope a mask of
//! the symbols its keys use. It also remembers, per catalog, the symbols of each catalog name
//! and its ancestors (rebuilt when a new name comes in). A decision probes the candidate keys
//! of the request from the most specific down, skips those the masks rule out, and stops at
//! the first one in force, so its cost depends on the catalog depth and the partner's roles,
//! not on the number of choices; the winning key is shared with the state, not copied.
//! Property tests check it against a naive scan of every choice.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use hashbrown::HashTable;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::catalog::{
    Catalog, CatalogNames, Channel, DataCategory, MAX_DEPTH, Node, Pattern, PurposeId, name_hash,
};
use crate::id::{CustomerId, PartnerId};
use crate::ledger::CustomerChange;
use crate::partner::{LegalBasis, Partner, PartnerError, PartnerStatus, Role};

/// Whose use a choice is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every partner of the ecosystem (a *broad* scope).
    Ecosystem,
    /// Every partner with this role (a *broad* scope).
    Role(Role),
    /// One partner.
    Partner(PartnerId),
}

impl Scope {
    /// Rank in the decision rule: partner 2 > role 1 > ecosystem 0.
    pub fn rank(&self) -> u8 {
        match self {
            Scope::Ecosystem => 0,
            Scope::Role(_) => 1,
            Scope::Partner(_) => 2,
        }
    }

    /// Whether the scope is broad (ecosystem or role).
    pub fn is_broad(&self) -> bool {
        !matches!(self, Scope::Partner(_))
    }

    /// Whether the scope contains the partner (by ID or role).
    pub fn contains(&self, partner: &Partner) -> bool {
        match self {
            Scope::Ecosystem => true,
            Scope::Role(r) => partner.has_role(*r),
            Scope::Partner(id) => *id == partner.id,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Ecosystem => f.write_str("ecosystem"),
            Scope::Role(r) => write!(f, "role:{r}"),
            Scope::Partner(p) => write!(f, "partner:{p}"),
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a scope text does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a scope (`ecosystem`, `role:<role>` or `partner:<partner id>`)")]
pub struct ScopeError(String);

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, ScopeError> {
        let err = || ScopeError(s.chars().take(64).collect());
        if s == "ecosystem" {
            return Ok(Scope::Ecosystem);
        }
        match s.split_once(':') {
            Some(("role", r)) => r.parse().map(Scope::Role).map_err(|_| err()),
            Some(("partner", p)) => p.parse().map(Scope::Partner).map_err(|_| err()),
            _ => Err(err()),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::parse(deserializer, str::parse)
    }
}

/// Where a choice sits: `(scope, purpose, data category, channel)`, each but the scope a
/// catalog name or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceKey {
    /// Whose use.
    pub scope: Scope,
    /// For which purpose (and its sub-purposes).
    pub purpose: Pattern<PurposeId>,
    /// Of which data (and its sub-categories).
    pub data: Pattern<DataCategory>,
    /// On which channel.
    pub channel: Pattern<Channel>,
}

impl ChoiceKey {
    /// The rank used to pick the most specific covering choice.
    pub fn rank(&self) -> (u8, u8, u8, u8) {
        (
            self.scope.rank(),
            self.purpose.depth(),
            self.data.depth(),
            u8::from(self.channel != Pattern::Any),
        )
    }

    /// Whether the key's purpose, data and channel cover the request's (the scope is checked
    /// separately).
    pub fn covers_use(&self, request: &Request) -> bool {
        self.purpose.covers(&request.purpose)
            && self.data.covers(&request.data)
            && match (&self.channel, &request.channel) {
                (Pattern::Any, _) => true,
                (Pattern::Is(c), Some(rc)) => c == rc,
                (Pattern::Is(_), None) => false,
            }
    }

    /// Checks the key against the catalog and the known partners: names must exist, and a
    /// channel may be named only with `*` or a purpose that requires one.
    pub fn validate(&self, catalog: &Catalog, directory: &Directory) -> Result<(), RequestError> {
        let requires = match &self.purpose {
            Pattern::Any => None,
            Pattern::Is(p) => Some(
                catalog
                    .purpose_requires_channel(p.as_str())
                    .ok_or_else(|| RequestError::UnknownPurpose(p.to_string()))?,
            ),
        };
        if let Pattern::Is(d) = &self.data
            && !catalog.has_data(d.as_str())
        {
            return Err(RequestError::UnknownData(d.to_string()));
        }
        if let Pattern::Is(c) = &self.channel {
            if !catalog.has_channel(c.as_str()) {
                return Err(RequestError::UnknownChannel(c.to_string()));
            }
            if requires == Some(false) {
                return Err(RequestError::UnexpectedChannel);
            }
        }
        if let Scope::Partner(p) = self.scope
            && directory.partner(p).is_none()
        {
            return Err(RequestError::UnknownPartner(p));
        }
        Ok(())
    }
}

impl fmt::Display for ChoiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} / {} / {}",
            self.scope, self.purpose, self.data, self.channel
        )
    }
}

/// Grant or refuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum Verdict {
    /// The customer allows the use.
    Grant {
        /// The legal basis of the grant (normally `consent`).
        legal_basis: LegalBasis,
        /// The version of the notice the customer saw.
        notice_version: String,
    },
    /// The customer refuses (or objects to) the use.
    Refuse,
}

/// The customer's decision at one key.
///
/// It is written flat (`{"decision": "grant", "legal_basis": …, "expires_at": …}`) and read
/// through a private wire struct: serde does not support `deny_unknown_fields` together with
/// `flatten` (every verdict field would count as unknown, so no choice could be read back),
/// and without it unknown fields would be dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ChoiceWire")]
pub struct Choice {
    /// Grant or refuse.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// When the choice stops being in force (exclusive), if ever.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// For broad scopes: the ecosystem ledger position when the choice was made. A broad
    /// grant covers only partners activated at or before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_position: Option<u64>,
}

/// The JSON form of a [`Choice`], as read: every field at one level, none unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceWire {
    decision: WireDecision,
    #[serde(default)]
    legal_basis: Option<LegalBasis>,
    #[serde(default)]
    notice_version: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    #[serde(default)]
    ecosystem_position: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireDecision {
    Grant,
    Refuse,
}

impl TryFrom<ChoiceWire> for Choice {
    type Error = &'static str;

    fn try_from(w: ChoiceWire) -> Result<Self, &'static str> {
        let verdict = match (w.decision, w.legal_basis, w.notice_version) {
            (WireDecision::Grant, Some(legal_basis), Some(notice_version)) => Verdict::Grant {
                legal_basis,
                notice_version,
            },
            (WireDecision::Grant, _, _) => {
                return Err("a grant needs `legal_basis` and `notice_version`");
            }
            (WireDecision::Refuse, None, None) => Verdict::Refuse,
            (WireDecision::Refuse, _, _) => {
                return Err("a refusal has no `legal_basis` or `notice_version`");
            }
        };
        Ok(Self {
            verdict,
            expires_at: w.expires_at,
            ecosystem_position: w.ecosystem_position,
        })
    }
}

impl Choice {
    /// A grant on the basis of consent under the given notice version.
    pub fn grant(notice_version: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Grant {
                legal_basis: LegalBasis::Consent,
                notice_version: notice_version.into(),
            },
            expires_at: None,
            ecosystem_position: None,
        }
    }

    /// A refusal.
    pub fn refuse() -> Self {
        Self {
            verdict: Verdict::Refuse,
            expires_at: None,
            ecosystem_position: None,
        }
    }

    /// The same choice with an expiry.
    pub fn expiring(mut self, at: OffsetDateTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Whether it is a grant.
    pub fn is_grant(&self) -> bool {
        matches!(self.verdict, Verdict::Grant { .. })
    }

    /// Whether it is in force at `t` (not expired).
    pub fn in_force_at(&self, t: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|e| t < e)
    }
}

/// A use a partner asks about: `(partner, purpose, data category, channel)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Who asks.
    pub partner: PartnerId,
    /// For which purpose.
    pub purpose: PurposeId,
    /// Which data.
    pub data: DataCategory,
    /// On which channel (only for purposes that require one).
    pub channel: Option<Channel>,
}

impl Request {
    /// A request; names are checked for syntax here and against the catalog by [`decide`].
    pub fn new(
        partner: PartnerId,
        purpose: &str,
        data: &str,
        channel: Option<&str>,
    ) -> Result<Self, RequestError> {
        Ok(Self {
            partner,
            purpose: purpose
                .parse()
                .map_err(|_| RequestError::UnknownPurpose(clip(purpose)))?,
            data: data
                .parse()
                .map_err(|_| RequestError::UnknownData(clip(data)))?,
            channel: channel
                .map(|c| c.parse().map_err(|_| RequestError::UnknownChannel(clip(c))))
                .transpose()?,
        })
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A request that does not fit the catalog: an error, not a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The purpose is not in the catalog.
    #[error("unknown purpose `{0}`")]
    UnknownPurpose(String),
    /// The data category is not in the catalog.
    #[error("unknown data category `{0}`")]
    UnknownData(String),
    /// The channel is not in the catalog.
    #[error("unknown channel `{0}`")]
    UnknownChannel(String),
    /// The purpose requires a channel and none was given.
    #[error("this purpose requires a channel")]
    ChannelRequired,
    /// A channel was given for a purpose that takes none.
    #[error("this purpose takes no channel")]
    UnexpectedChannel,
    /// The partner is not known to the ecosystem.
    #[error("unknown partner {0}")]
    UnknownPartner(PartnerId),
}

impl RequestError {
    /// The stable code of the error (`unknown_purpose`, …), as in the decision vectors.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::UnknownPurpose(_) => "unknown_purpose",
            RequestError::UnknownData(_) => "unknown_data",
            RequestError::UnknownChannel(_) => "unknown_channel",
            RequestError::ChannelRequired => "channel_required",
            RequestError::UnexpectedChannel => "unexpected_channel",
            RequestError::UnknownPartner(_) => "unknown_partner",
        }
    }
}

/// Why a decision came out the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "basis")]
pub enum Reason {
    /// Rule 5: a covering grant.
    Granted,
    /// Rule 6: no covering choice, but the declaration's legal basis carries the use.
    LegalBasis(LegalBasis),
    /// Rule 5: a covering refusal (or objection).
    Refused,
    /// Rule 6: no covering choice and no legal basis other than consent.
    NoConsent,
    /// Rule 3: outside the partner's approved declarations.
    NotDeclared,
    /// Rule 2: the partner is not active.
    PartnerInactive,
    /// Rule 1: unknown or erased customer.
    UnknownCustomer,
}

impl Reason {
    /// The stable code (`granted`, `legal_basis`, …), as in the decision vectors.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::LegalBasis(_) => "legal_basis",
            Reason::Refused => "refused",
            Reason::NoConsent => "no_consent",
            Reason::NotDeclared => "not_declared",
            Reason::PartnerInactive => "partner_inactive",
            Reason::UnknownCustomer => "unknown_customer",
        }
    }

    /// Whether the reason allows the use.
    pub fn allows(&self) -> bool {
        matches!(self, Reason::Granted | Reason::LegalBasis(_))
    }
}

/// The choice that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Winner {
    /// Its key (shared with the state it was decided on: a decision allocates nothing).
    pub key: Arc<ChoiceKey>,
    /// The ledger seq that wrote it.
    pub seq: u64,
}

/// A decision: allowed or not, why, and which choice decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Why.
    #[serde(flatten)]
    pub reason: Reason,
    /// The winning choice, for `granted` and `refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<Winner>,
}

impl Decision {
    /// Whether the use is allowed.
    pub fn allowed(&self) -> bool {
        self.reason.allows()
    }

    /// A decision without a winning choice.
    pub fn because(reason: Reason) -> Self {
        Self {
            reason,
            winner: None,
        }
    }

    /// The seq of the winning choice, if one decided.
    pub fn winning_seq(&self) -> Option<u64> {
        self.winner.as_ref().map(|w| w.seq)
    }
}

/// The ecosystem as the decision rule needs it: the catalog and the partners.
///
/// Each partner is kept beside a form of it compiled against the catalog (its roles as
/// scopes, its approved declarations indexed by purpose), so that rule 3 is a few integer
/// compares. The compiled form is rebuilt whenever a partner or the catalog changes, which
/// is why partners are changed through [`Directory::partner_mut`]'s guard.
#[derive(Debug, Clone)]
pub struct Directory {
    catalog: Catalog,
    partners: FxHashMap<PartnerId, Listed>,
    order: Vec<PartnerId>,
}

#[derive(Debug, Clone)]
struct Listed {
    partner: Partner,
    compiled: Compiled,
}

/// A partner compiled against the catalog.
#[derive(Debug, Clone, Default)]
struct Compiled {
    /// The partner's role scopes (as packed in [`ChoiceIndex`]), in role order.
    roles: Vec<u32>,
    /// For purpose node `p`, `candidates[offsets[p]..offsets[p + 1]]` are the approved
    /// declarations whose purpose contains `p`: deepest purpose first, then as listed.
    offsets: Vec<u32>,
    candidates: Vec<u32>,
    declarations: Vec<CompiledDeclaration>,
}

#[derive(Debug, Clone)]
struct CompiledDeclaration {
    /// Its index in `Partner::declarations`.
    index: usize,
    purpose_depth: u8,
    /// The data category nodes it names, as a bit set.
    data: Vec<u64>,
    /// Channel nodes.
    channels: Vec<u32>,
}

fn bit_set(nodes: impl Iterator<Item = u32>, len: usize) -> Vec<u64> {
    let mut set = vec![0; len.div_ceil(64)];
    for n in nodes {
        set[n as usize / 64] |= 1 << (n % 64);
    }
    set
}

fn bit_test(set: &[u64], node: u32) -> bool {
    set.get(node as usize / 64)
        .is_some_and(|w| w & (1 << (node % 64)) != 0)
}

impl Compiled {
    fn new(partner: &Partner, catalog: &Catalog) -> Self {
        let roles = Role::ALL
            .into_iter()
            .filter(|&r| partner.has_role(r))
            .map(|r| 1 + r.index())
            .collect();
        // Names the catalog does not know (a declaration from before a catalog change)
        // cannot contain a request that fits the catalog, so they are left out.
        let mut declarations: Vec<(u32, CompiledDeclaration)> = partner
            .declarations
            .iter()
            .enumerate()
            .filter(|(_, d)| d.status == crate::partner::DeclarationStatus::Approved)
            .filter_map(|(index, d)| {
                let purpose = catalog.purpose_node(d.purpose.as_str())?;
                Some((
                    purpose,
                    CompiledDeclaration {
                        index,
                        purpose_depth: d.purpose.depth(),
                        data: bit_set(
                            d.data.iter().filter_map(|c| catalog.data_node(c.as_str())),
                            catalog.spec().data.len(),
                        ),
                        channels: d
                            .channels
                            .iter()
                            .filter_map(|c| catalog.channel_node(c.as_str()))
                            .collect(),
                    },
                ))
            })
            .collect();
        // Deepest purpose first; the sort is stable, so equals stay as listed.
        declarations.sort_by_key(|(_, d)| std::cmp::Reverse(d.purpose_depth));
        let purposes = catalog.spec().purposes.len();
        let mut offsets = Vec::with_capacity(purposes + 1);
        let mut candidates = Vec::new();
        for p in 0..purposes as u32 {
            offsets.push(candidates.len() as u32);
            let lineage = &catalog.purpose(p).lineage;
            for (i, (purpose, _)) in declarations.iter().enumerate() {
                if lineage.contains(purpose) {
                    candidates.push(i as u32);
                }
            }
        }
        offsets.push(candidates.len() as u32);
        Self {
            roles,
            offsets,
            candidates,
            declarations: declarations.into_iter().map(|(_, d)| d).collect(),
        }
    }

    /// Rule 3 on resolved names: the index of the most specific approved declaration
    /// containing the use (deepest purpose, then deepest data; ties to the first listed).
    fn declaration(&self, catalog: &Catalog, request: &Resolved) -> Option<usize> {
        let p = request.purpose as usize;
        let (from, to) = (*self.offsets.get(p)?, *self.offsets.get(p + 1)?);
        let data_lineage = &catalog.data(request.data).lineage;
        let mut best: Option<((u8, u8), usize)> = None;
        for &c in &self.candidates[from as usize..to as usize] {
            let d = &self.declarations[c as usize];
            if best.is_some_and(|((depth, _), _)| d.purpose_depth < depth) {
                break; // sorted by purpose depth: nothing below can win
            }
            // The lineage runs from the request's category (at its depth) up to the root
            // (depth 1): the first one the declaration names is its deepest match.
            let Some(i) = data_lineage.iter().position(|&n| bit_test(&d.data, n)) else {
                continue;
            };
            let data_depth = (data_lineage.len() - i) as u8;
            if let Some(channel) = request.channel
                && !d.channels.contains(&channel)
            {
                continue;
            }
            let fit = (d.purpose_depth, data_depth);
            if best.is_none_or(|(b, _)| fit > b) {
                best = Some((fit, d.index));
            }
        }
        best.map(|(_, index)| index)
    }
}

/// A request whose names are resolved to catalog nodes, with its partner.
struct Resolved<'d> {
    listed: &'d Listed,
    purpose: u32,
    data: u32,
    channel: Option<u32>,
}

impl Directory {
    /// A directory with no partners.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            partners: FxHashMap::default(),
            order: Vec::new(),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Replaces the catalog.
    pub fn set_catalog(&mut self, catalog: Catalog) {
        self.catalog = catalog;
        for listed in self.partners.values_mut() {
            listed.compiled = Compiled::new(&listed.partner, &self.catalog);
        }
    }

    /// Adds a partner; a second partner with the same ID is an error.
    pub fn insert(&mut self, partner: Partner) -> Result<(), PartnerError> {
        if self.partners.contains_key(&partner.id) {
            return Err(PartnerError::DuplicatePartner(partner.id));
        }
        self.order.push(partner.id);
        let compiled = Compiled::new(&partner, &self.catalog);
        self.partners
            .insert(partner.id, Listed { partner, compiled });
        Ok(())
    }

    /// A partner by ID.
    pub fn partner(&self, id: PartnerId) -> Option<&Partner> {
        self.partners.get(&id).map(|l| &l.partner)
    }

    /// A partner by ID, for changes: the guard derefs to the partner and brings the
    /// directory up to date when it is dropped. The partner's ID cannot be changed through
    /// it (a change is undone).
    pub fn partner_mut(&mut self, id: PartnerId) -> Option<PartnerMut<'_>> {
        let listed = self.partners.get_mut(&id)?;
        Some(PartnerMut {
            id,
            listed,
            catalog: &self.catalog,
        })
    }

    /// Every partner, in the order they were added.
    pub fn partners(&self) -> impl Iterator<Item = &Partner> {
        self.order
            .iter()
            .filter_map(|id| self.partners.get(id).map(|l| &l.partner))
    }

    /// Checks a request against the catalog and resolves its names and partner.
    fn resolve(&self, request: &Request) -> Result<Resolved<'_>, RequestError> {
        let catalog = &self.catalog;
        let purpose = catalog
            .purpose_node(request.purpose.as_str())
            .ok_or_else(|| RequestError::UnknownPurpose(request.purpose.to_string()))?;
        let data = catalog
            .data_node(request.data.as_str())
            .ok_or_else(|| RequestError::UnknownData(request.data.to_string()))?;
        let channel = match &request.channel {
            Some(c) => Some(
                catalog
                    .channel_node(c.as_str())
                    .ok_or_else(|| RequestError::UnknownChannel(c.to_string()))?,
            ),
            None => None,
        };
        match (channel, catalog.node_requires_channel(purpose)) {
            (None, true) => return Err(RequestError::ChannelRequired),
            (Some(_), false) => return Err(RequestError::UnexpectedChannel),
            _ => {}
        }
        let listed = self
            .partners
            .get(&request.partner)
            .ok_or(RequestError::UnknownPartner(request.partner))?;
        Ok(Resolved {
            listed,
            purpose,
            data,
            channel,
        })
    }
}

/// A partner borrowed from a [`Directory`] for changes; see [`Directory::partner_mut`].
pub struct PartnerMut<'d> {
    id: PartnerId,
    listed: &'d mut Listed,
    catalog: &'d Catalog,
}

impl std::ops::Deref for PartnerMut<'_> {
    type Target = Partner;
    fn deref(&self) -> &Partner {
        &self.listed.partner
    }
}

impl std::ops::DerefMut for PartnerMut<'_> {
    fn deref_mut(&mut self) -> &mut Partner {
        &mut self.listed.partner
    }
}

impl Drop for PartnerMut<'_> {
    fn drop(&mut self) {
        let listed = &mut *self.listed;
        // The directory is keyed by the ID.
        listed.partner.id = self.id;
        listed.compiled = Compiled::new(&listed.partner, self.catalog);
    }
}

/// The fold of a customer's ledger: choices, relationships and lifecycle, with their history,
/// so that the state *as of any time* can be asked.
#[derive(Debug, Clone, Default)]
pub struct ConsentState {
    customer: Option<CustomerId>,
    last_seq: u64,
    last_at: Option<OffsetDateTime>,
    pub(crate) head: Option<crate::ledger::EntryHash>,
    registered_at: Option<OffsetDateTime>,
    erased_at: Option<OffsetDateTime>,
    merged_into: Option<(CustomerId, OffsetDateTime)>,
    /// The three times above as the span in which the customer is known.
    known: Known,
    choices: ChoiceIndex,
    relationships: FxHashMap<PartnerId, Vec<Version<bool>>>,
    identifiers: std::collections::BTreeSet<String>,
}

/// Why a change cannot be recorded in a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Records must come in increasing seq order.
    #[error("seq {got} does not follow {last}")]
    SeqNotIncreasing {
        /// The last recorded seq.
        last: u64,
        /// The seq offered.
        got: u64,
    },
    /// The customer is erased; nothing more can be recorded but nothing.
    #[error("the customer is erased")]
    Erased,
    /// The customer was merged into another one.
    #[error("the customer was merged into {0}")]
    MergedInto(CustomerId),
    /// The customer is registered twice.
    #[error("the customer is already registered")]
    AlreadyRegistered,
    /// Removing something that is not there.
    #[error("nothing to remove: {0}")]
    NothingToRemove(&'static str),
}

/// A time as nanoseconds since the Unix epoch: what the rule compares (an `OffsetDateTime`
/// comparison normalises offsets every time).
type Stamp = i128;

fn stamp(t: OffsetDateTime) -> Stamp {
    t.unix_timestamp_nanos()
}

#[derive(Debug, Clone)]
struct Version<T> {
    seq: u64,
    at: OffsetDateTime,
    /// `at` as a stamp.
    stamp: Stamp,
    /// The stamp from which the value is no longer in force (its expiry), or `Stamp::MAX`.
    until: Stamp,
    value: Option<T>,
}

impl<T> Version<T> {
    fn new(seq: u64, at: OffsetDateTime, value: Option<T>, until: Option<OffsetDateTime>) -> Self {
        Self {
            seq,
            at,
            stamp: stamp(at),
            until: until.map_or(Stamp::MAX, stamp),
            value,
        }
    }
}

/// When a customer exists: from registration (or always, for a state that never saw it)
/// until erasure or a merge into another customer.
#[derive(Debug, Clone, Copy)]
struct Known {
    from: Stamp,
    until: Stamp,
}

impl Default for Known {
    fn default() -> Self {
        Self {
            from: Stamp::MIN,
            until: Stamp::MAX,
        }
    }
}

/// The value at `t`: the last version (by seq) recorded at or before `t`.
fn as_of<T>(versions: &[Version<T>], t: Stamp) -> Option<&Version<T>> {
    versions.iter().rev().find(|v| v.stamp <= t)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Packed {
    scope: u32,
    purpose: u32,
    data: u32,
    channel: u32,
}

const ANY: u32 = 0;
const PARTNER_SCOPES: u32 = 8;

/// The choices of a state, indexed for the decision rule.
///
/// Every name a key uses is interned as a small symbol (0 is `*`), filed under
/// [`name_hash`] so that a name the catalog has resolved is found without hashing it again.
/// A key packs into four symbols; `slots` maps packed keys to their versions. Per scope,
/// three 64-bit masks (a one-hash Bloom filter: bit `symbol % 64`) say which purpose, data
/// and channel symbols its keys use, so that a decision skips the probes that cannot hit.
#[derive(Debug, Clone, Default)]
struct ChoiceIndex {
    names: HashTable<(Box<str>, u32)>,
    partners: FxHashMap<PartnerId, u32>,
    slots: FxHashMap<Packed, usize>,
    keys: Vec<(Arc<ChoiceKey>, Vec<Version<Choice>>)>,
    masks: Vec<[u64; 3]>,
    binding: OnceLock<Binding>,
    /// Set by the first decision, which looks names up one by one; the second builds the
    /// binding. A state decided once (a check whose state then leaves the cache) would pay
    /// for binding the whole catalog to use it once.
    decided: OnceLock<()>,
}

/// Which kind of catalog name: an index into [`CatalogNames::nodes`].
const PURPOSES: usize = 0;
const DATA: usize = 1;
const CHANNELS: usize = 2;

/// A state's symbols for one catalog's names, so that a decision finds the symbols of a
/// resolved name and of its ancestors with one array read. Built on the second decision
/// against that catalog; dropped whenever a key brings in a new name.
#[derive(Clone)]
struct Binding {
    /// Held, not only compared: while it lives, no other catalog can have its address.
    catalog: Arc<CatalogNames>,
    /// For every node of every kind, the symbols of the node and its ancestors that some key
    /// uses, deepest first, then `*`; concatenated.
    symbols: Box<[u32]>,
    /// For every node (purposes, then data categories, then channels): where its symbols
    /// start in `symbols`, and one more entry for the end.
    starts: Box<[u32]>,
    /// Where each kind's nodes start in `starts`.
    kinds: [usize; 3],
}

impl Binding {
    fn new(index: &ChoiceIndex, catalog: &Arc<CatalogNames>) -> Self {
        let mut symbols = Vec::new();
        let mut starts = Vec::new();
        let mut kinds = [0; 3];
        for (kind, nodes) in catalog.nodes().into_iter().enumerate() {
            kinds[kind] = starts.len();
            for node in nodes {
                starts.push(symbols.len() as u32);
                let lineage = node.lineage.iter().take(MAX_DEPTH);
                symbols.extend(lineage.filter_map(|&i| index.symbol(&nodes[i as usize])));
                symbols.push(ANY);
            }
        }
        starts.push(symbols.len() as u32);
        Self {
            catalog: Arc::clone(catalog),
            symbols: symbols.into(),
            starts: starts.into(),
            kinds,
        }
    }

    /// The symbols of node `node` of `kind` and of its ancestors, then `*`.
    fn lineage(&self, kind: usize, node: u32) -> &[u32] {
        let at = self.kinds[kind] + node as usize;
        match (self.starts.get(at), self.starts.get(at + 1)) {
            (Some(&from), Some(&to)) => self.symbols.get(from as usize..to as usize),
            _ => None,
        }
        .unwrap_or(&[ANY])
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binding")
            .field("names", &self.symbols.len())
            .finish_non_exhaustive()
    }
}

/// A name's symbols for one decision: the name's and its ancestors' (at most
/// [`MAX_DEPTH`]), then `*`.
#[derive(Default)]
struct Symbols {
    len: usize,
    symbols: [u32; MAX_DEPTH + 1],
}

impl Symbols {
    fn push(&mut self, symbol: u32) {
        if let Some(slot) = self.symbols.get_mut(self.len) {
            *slot = symbol;
            self.len += 1;
        }
    }

    fn any() -> Self {
        let mut out = Self::default();
        out.push(ANY);
        out
    }

    fn as_slice(&self) -> &[u32] {
        &self.symbols[..self.len]
    }
}

fn bit(symbol: u32) -> u64 {
    1 << (symbol % 64)
}

impl ChoiceIndex {
    fn intern(&mut self, name: &str) -> u32 {
        let hash = name_hash(name);
        if let Some(&(_, symbol)) = self.names.find(hash, |(n, _)| **n == *name) {
            return symbol;
        }
        let symbol = self.names.len() as u32 + 1;
        self.names
            .insert_unique(hash, (name.into(), symbol), |(n, _)| name_hash(n));
        // A catalog name may now have a symbol its binding says it has not.
        self.binding = OnceLock::new();
        symbol
    }

    /// The symbol of a resolved catalog name, if some key uses it.
    fn symbol(&self, node: &Node) -> Option<u32> {
        self.names
            .find(node.hash, |(n, _)| *n == node.name)
            .map(|&(_, symbol)| symbol)
    }

    fn pack(&mut self, key: &ChoiceKey) -> Packed {
        let scope = match key.scope {
            Scope::Ecosystem => 0,
            Scope::Role(r) => 1 + r.index(),
            Scope::Partner(p) => {
                let next = self.partners.len() as u32 + PARTNER_SCOPES;
                *self.partners.entry(p).or_insert(next)
            }
        };
        let mut sym = |p: &str| if p == "*" { ANY } else { self.intern(p) };
        Packed {
            scope,
            purpose: sym(key.purpose.as_str()),
            data: sym(key.data.as_str()),
            channel: sym(key.channel.as_str()),
        }
    }

    fn record(&mut self, key: &ChoiceKey, version: Version<Choice>) {
        let packed = self.pack(key);
        let slot = match self.slots.get(&packed) {
            Some(&i) => i,
            None => {
                self.keys.push((Arc::new(key.clone()), Vec::new()));
                self.slots.insert(packed, self.keys.len() - 1);
                let scope = packed.scope as usize;
                if self.masks.len() <= scope {
                    self.masks.resize(scope + 1, [0; 3]);
                }
                let m = &mut self.masks[scope];
                m[0] |= bit(packed.purpose);
                m[1] |= bit(packed.data);
                m[2] |= bit(packed.channel);
                self.keys.len() - 1
            }
        };
        self.keys[slot].1.push(version);
    }

    fn get(&self, packed: &Packed) -> Option<&(Arc<ChoiceKey>, Vec<Version<Choice>>)> {
        self.slots.get(packed).map(|&i| &self.keys[i])
    }

    /// The masks of a scope (all zero if no key uses it).
    fn masks(&self, scope: u32) -> [u64; 3] {
        self.masks.get(scope as usize).copied().unwrap_or([0; 3])
    }

    /// The binding to `catalog`: built on the second decision; `None` on the first, or if
    /// the state is bound to another catalog (then names are looked up one by one).
    fn bound(&self, catalog: &Catalog) -> Option<&Binding> {
        if self.binding.get().is_none() && self.decided.set(()).is_ok() {
            return None;
        }
        let names = catalog.names();
        let binding = self.binding.get_or_init(|| Binding::new(self, names));
        Arc::ptr_eq(&binding.catalog, names).then_some(binding)
    }

    /// Symbols of catalog node `node` of `kind` and of its ancestors that some key uses,
    /// deepest first, then `*`, when the state is not bound to the catalog.
    fn lineage(&self, nodes: &[Node], node: u32) -> Symbols {
        let mut out = Symbols::default();
        let lineage = nodes.get(node as usize).map_or(&[][..], |n| &n.lineage[..]);
        for &i in lineage.iter().take(MAX_DEPTH) {
            if let Some(symbol) = nodes.get(i as usize).and_then(|n| self.symbol(n)) {
                out.push(symbol);
            }
        }
        out.push(ANY);
        out
    }
}

/// A choice in force at the decision time, with its key and seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChoiceInForce<'a> {
    /// Its key.
    pub key: &'a ChoiceKey,
    /// The choice.
    pub choice: &'a Choice,
    /// The seq that wrote it.
    pub seq: u64,
    /// When it was recorded.
    pub recorded_at: OffsetDateTime,
}

impl ConsentState {
    /// An empty state for a known customer (as if just registered).
    pub fn new() -> Self {
        Self::default()
    }

    /// The customer this state belongs to, once a ledger entry named it.
    pub fn customer(&self) -> Option<CustomerId> {
        self.customer
    }

    pub(crate) fn set_customer(&mut self, customer: CustomerId) {
        self.customer = Some(customer);
    }

    /// The last seq recorded (0 for none): the consent version.
    pub fn seq(&self) -> u64 {
        self.last_seq
    }

    /// When the last change was recorded.
    pub fn last_recorded_at(&self) -> Option<OffsetDateTime> {
        self.last_at
    }

    /// When the customer was erased, if they were.
    pub fn erased_at(&self) -> Option<OffsetDateTime> {
        self.erased_at
    }

    /// The customer this one was merged into, if any.
    pub fn merged_into(&self) -> Option<CustomerId> {
        self.merged_into.map(|(c, _)| c)
    }

    /// Whether the customer exists (registered and not erased or merged away) at `t`.
    pub fn is_known_at(&self, t: OffsetDateTime) -> bool {
        let t = stamp(t);
        self.known.from <= t && t < self.known.until
    }

    /// Digests of the identifiers linked now.
    pub fn identifier_digests(&self) -> impl Iterator<Item = &str> {
        self.identifiers.iter().map(String::as_str)
    }

    /// Whether the customer has an active contract relationship with the partner at `t`.
    pub fn has_relationship_at(&self, partner: PartnerId, t: OffsetDateTime) -> bool {
        self.relationships
            .get(&partner)
            .and_then(|v| as_of(v, stamp(t)))
            .is_some_and(|v| v.value == Some(true))
    }

    /// Records one change at `seq`, made at `at`. Seqs must increase (gaps are allowed here;
    /// the ledger insists on none). Choices are not checked against a catalog: the facade
    /// does that before it appends.
    pub fn record(
        &mut self,
        seq: u64,
        at: OffsetDateTime,
        change: &CustomerChange,
    ) -> Result<(), StateError> {
        if seq <= self.last_seq {
            return Err(StateError::SeqNotIncreasing {
                last: self.last_seq,
                got: seq,
            });
        }
        if self.erased_at.is_some() {
            return Err(StateError::Erased);
        }
        if let Some((into, _)) = self.merged_into {
            return Err(StateError::MergedInto(into));
        }
        match change {
            CustomerChange::Registered => {
                if self.registered_at.is_some() || self.last_seq > 0 {
                    return Err(StateError::AlreadyRegistered);
                }
                self.registered_at = Some(at);
                self.known.from = stamp(at);
            }
            CustomerChange::ChoiceSet { key, choice } => {
                self.choices.record(
                    key,
                    Version::new(seq, at, Some(choice.clone()), choice.expires_at),
                );
            }
            CustomerChange::ChoiceCleared { key } => {
                self.choices.record(key, Version::new(seq, at, None, None));
            }
            CustomerChange::IdentifierLinked { digest, .. } => {
                self.identifiers.insert(digest.clone());
            }
            CustomerChange::IdentifierUnlinked { digest } => {
                if !self.identifiers.remove(digest) {
                    return Err(StateError::NothingToRemove("identifier not linked"));
                }
            }
            CustomerChange::Merged { survivor, absorbed } => {
                if Some(*absorbed) == self.customer {
                    self.merged_into = Some((*survivor, at));
                    self.known.until = self.known.until.min(stamp(at));
                }
            }
            CustomerChange::Erased => {
                self.erased_at = Some(at);
                self.known.until = self.known.until.min(stamp(at));
                self.identifiers.clear();
            }
            CustomerChange::RelationshipStarted { partner } => {
                self.relationships
                    .entry(*partner)
                    .or_default()
                    .push(Version::new(seq, at, Some(true), None));
            }
            CustomerChange::RelationshipEnded { partner } => {
                match self.relationships.get_mut(partner) {
                    Some(versions) if versions.last().and_then(|v| v.value) == Some(true) => {
                        versions.push(Version::new(seq, at, Some(false), None));
                    }
                    _ => return Err(StateError::NothingToRemove("no active relationship")),
                }
            }
        }
        self.last_seq = seq;
        self.last_at = Some(at);
        Ok(())
    }

    /// The choices in force at `t` (recorded at or before `t`, not cleared, not expired), in
    /// the order their keys were first used.
    pub fn choices_at(&self, t: OffsetDateTime) -> impl Iterator<Item = ChoiceInForce<'_>> {
        let t = stamp(t);
        self.choices.keys.iter().filter_map(move |(key, versions)| {
            let v = as_of(versions, t)?;
            let choice = v.value.as_ref()?;
            (t < v.until).then_some(ChoiceInForce {
                key: key.as_ref(),
                choice,
                seq: v.seq,
                recorded_at: v.at,
            })
        })
    }

    /// The latest choice at every key now in the state (cleared keys left out), whatever
    /// its time or expiry.
    pub fn current_choices(&self) -> impl Iterator<Item = ChoiceInForce<'_>> {
        self.choices.keys.iter().filter_map(|(key, versions)| {
            let v = versions.last()?;
            let choice = v.value.as_ref()?;
            Some(ChoiceInForce {
                key: key.as_ref(),
                choice,
                seq: v.seq,
                recorded_at: v.at,
            })
        })
    }

    /// The choice at `key` in force at `t`, if it covers `partner` (scope, expiry and the
    /// disclosed-partners rule), with its shared key.
    fn covering(
        &self,
        packed: &Packed,
        partner: &Partner,
        t: Stamp,
    ) -> Option<(&Arc<ChoiceKey>, ChoiceInForce<'_>)> {
        let (key, versions) = self.choices.get(packed)?;
        let v = as_of(versions, t)?;
        let choice = v.value.as_ref()?;
        if t >= v.until {
            return None;
        }
        // Scopes below PARTNER_SCOPES are the broad ones (ecosystem and roles).
        let broad = packed.scope < PARTNER_SCOPES;
        if broad && choice.is_grant() && !disclosed(choice, partner) {
            return None;
        }
        Some((
            key,
            ChoiceInForce {
                key: key.as_ref(),
                choice,
                seq: v.seq,
                recorded_at: v.at,
            },
        ))
    }
}

/// The disclosed-partners rule: a broad grant covers a partner only if it was active when
/// the grant was made.
pub fn disclosed(choice: &Choice, partner: &Partner) -> bool {
    matches!((partner.activated_at, choice.ecosystem_position), (Some(a), Some(p)) if a <= p)
}

/// Checks a request against the catalog and the partners; returns the partner.
pub fn validate_request<'d>(
    directory: &'d Directory,
    request: &Request,
) -> Result<&'d Partner, RequestError> {
    directory.resolve(request).map(|r| &r.listed.partner)
}

/// The decision rule (see the module docs): may `request.partner` make this use of the
/// customer's data at `t`, given the customer's `state`?
///
/// `t` also selects the state: only entries recorded at or before `t` count, so the same
/// function answers audit questions about the past.
pub fn decide(
    state: &ConsentState,
    directory: &Directory,
    request: &Request,
    t: OffsetDateTime,
) -> Result<Decision, RequestError> {
    let resolved = directory.resolve(request)?;
    let partner = &resolved.listed.partner;
    // Rule 1.
    if !state.is_known_at(t) {
        return Ok(Decision::because(Reason::UnknownCustomer));
    }
    // Rule 2.
    if partner.status != PartnerStatus::Active {
        return Ok(Decision::because(Reason::PartnerInactive));
    }
    // Rule 3.
    let Some(declaration) = resolved
        .listed
        .compiled
        .declaration(directory.catalog(), &resolved)
        .and_then(|i| partner.declarations.get(i))
    else {
        return Ok(Decision::because(Reason::NotDeclared));
    };
    // Rules 4 and 5.
    if let Some((key, winner)) = most_specific(state, directory.catalog(), &resolved, stamp(t)) {
        let reason = if winner.choice.is_grant() {
            Reason::Granted
        } else {
            Reason::Refused
        };
        return Ok(Decision {
            reason,
            winner: Some(Winner {
                key: Arc::clone(key),
                seq: winner.seq,
            }),
        });
    }
    // Rule 6.
    let reason = match declaration.legal_basis {
        LegalBasis::Contract if state.has_relationship_at(partner.id, t) => {
            Reason::LegalBasis(LegalBasis::Contract)
        }
        LegalBasis::LegitimateInterest => Reason::LegalBasis(LegalBasis::LegitimateInterest),
        _ => Reason::NoConsent,
    };
    Ok(Decision::because(reason))
}

/// Rule 4: the most specific choice in force at `t` that covers the request, if any.
///
/// Candidate keys are probed in rank order: scope tier (partner, roles, ecosystem), then
/// purpose, data and channel from the deepest name the state uses down to `*`. The first
/// combination at which some scope of the tier has a covering choice holds the winner.
fn most_specific<'s>(
    state: &'s ConsentState,
    catalog: &Catalog,
    request: &Resolved<'_>,
    t: Stamp,
) -> Option<(&'s Arc<ChoiceKey>, ChoiceInForce<'s>)> {
    let index = &state.choices;
    if index.keys.is_empty() {
        return None;
    }
    let partner = &request.listed.partner;
    // The symbols of the request's names and their ancestors: from the binding, or looked
    // up one by one.
    let unbound: [Symbols; 3];
    let [purposes, data, channels]: [&[u32]; 3] = match index.bound(catalog) {
        Some(b) => [
            b.lineage(PURPOSES, request.purpose),
            b.lineage(DATA, request.data),
            request.channel.map_or(&[ANY], |c| b.lineage(CHANNELS, c)),
        ],
        None => {
            let nodes = catalog.names().nodes();
            unbound = [
                index.lineage(nodes[PURPOSES], request.purpose),
                index.lineage(nodes[DATA], request.data),
                request
                    .channel
                    .map_or_else(Symbols::any, |c| index.lineage(nodes[CHANNELS], c)),
            ];
            [
                unbound[0].as_slice(),
                unbound[1].as_slice(),
                unbound[2].as_slice(),
            ]
        }
    };
    let partner_scope = index.partners.get(&partner.id).copied();
    // Tiers in rank order: partner (2), roles (1), ecosystem (0).
    let tiers: [&[u32]; 3] = [
        partner_scope.as_slice(),
        &request.listed.compiled.roles,
        &[0],
    ];
    for scopes in tiers {
        let mut masks = [[0u64; 3]; 3];
        let mut union = [0u64; 3];
        for (m, &scope) in masks.iter_mut().zip(scopes) {
            *m = index.masks(scope);
            for k in 0..3 {
                union[k] |= m[k];
            }
        }
        if union[0] == 0 {
            continue;
        }
        for &p in purposes.iter().filter(|&&p| union[0] & bit(p) != 0) {
            for &d in data.iter().filter(|&&d| union[1] & bit(d) != 0) {
                for &c in channels.iter().filter(|&&c| union[2] & bit(c) != 0) {
                    let mut best: Option<(&'s Arc<ChoiceKey>, ChoiceInForce<'s>)> = None;
                    for (m, &scope) in masks.iter().zip(scopes) {
                        if m[0] & bit(p) == 0 || m[1] & bit(d) == 0 || m[2] & bit(c) == 0 {
                            continue;
                        }
                        let packed = Packed {
                            scope,
                            purpose: p,
                            data: d,
                            channel: c,
                        };
                        if let Some(found) = state.covering(&packed, partner, t) {
                            best = Some(match best {
                                Some(b) if beats(&b.1, &found.1) => b,
                                _ => found,
                            });
                        }
                    }
                    if best.is_some() {
                        return best;
                    }
                }
            }
        }
    }
    None
}

/// Between two covering choices of equal rank: a refusal wins, then the later seq.
fn beats(a: &ChoiceInForce<'_>, b: &ChoiceInForce<'_>) -> bool {
    (!a.choice.is_grant(), a.seq) > (!b.choice.is_grant(), b.seq)
}
