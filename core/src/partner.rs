//! Partners, their roles and status, what they declare, and the governance mode that decides
//! whether a self-enrolled partner or a new declaration is active at once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Channel, DataCategory, PurposeId};
use crate::id::{PartnerId, SectorId};

/// What a partner does in the ecosystem (from the ecosystem literature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform and owns the customer interface.
    Orchestrator,
    /// Delivers products and services (airline, hotel, car rental).
    Realizer,
    /// Supplies technology (payment, messaging).
    Enabler,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 3] = [Role::Orchestrator, Role::Realizer, Role::Enabler];

    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Orchestrator => "orchestrator",
            Role::Realizer => "realizer",
            Role::Enabler => "enabler",
        }
    }

    pub(crate) fn index(self) -> u32 {
        match self {
            Role::Orchestrator => 0,
            Role::Realizer => 1,
            Role::Enabler => 2,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PartnerError;
    fn from_str(s: &str) -> Result<Self, PartnerError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| PartnerError::UnknownRole(s.chars().take(32).collect()))
    }
}

/// Where a partner stands. `Applied → Active`, `Active ↔ Suspended`, any → `Offboarded`
/// (terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    /// Enrolled, waiting for the orchestrator.
    Applied,
    /// May be asked about and may receive tokens.
    Active,
    /// Temporarily barred; every decision for it is a denial.
    Suspended,
    /// Gone for good.
    Offboarded,
}

impl PartnerStatus {
    /// Whether `self → to` is a legal transition.
    pub fn can_become(self, to: PartnerStatus) -> bool {
        use PartnerStatus::*;
        matches!(
            (self, to),
            (Applied, Active)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Applied | Active | Suspended, Offboarded)
        )
    }

    /// The status after a transition, or a typed error for an illegal one.
    pub fn transition(self, to: PartnerStatus) -> Result<PartnerStatus, PartnerError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(PartnerError::IllegalTransition { from: self, to })
        }
    }
}

/// The legal basis a declaration (or a grant) rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// GDPR Art. 6(1)(a): the customer's consent.
    Consent,
    /// Art. 6(1)(b): needed for a contract with the customer.
    Contract,
    /// Art. 6(1)(f): the partner's legitimate interest (the customer may object).
    LegitimateInterest,
}

impl LegalBasis {
    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegitimateInterest => "legitimate_interest",
        }
    }
}

/// Whether a declaration may be relied on yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclarationStatus {
    /// Waiting for the orchestrator.
    Pending,
    /// In force.
    Approved,
}

/// What a partner may ever ask for. A partner can never be allowed anything outside its
/// approved declarations, whatever the customer chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The purpose (covers its sub-purposes).
    pub purpose: PurposeId,
    /// Data categories (each covers its sub-categories).
    pub data: Vec<DataCategory>,
    /// Channels, for a purpose that requires one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    /// The legal basis the partner relies on.
    pub legal_basis: LegalBasis,
    /// The notice shown to customers (free text or a URL).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notice: String,
    /// Approval state.
    #[serde(default = "approved")]
    pub status: DeclarationStatus,
}

fn approved() -> DeclarationStatus {
    DeclarationStatus::Approved
}

impl Declaration {
    /// Checks the declaration against the catalog: known names, channels only for purposes
    /// that require one, and at least one for those.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), PartnerError> {
        let invalid = |reason: String| PartnerError::InvalidDeclaration(reason);
        let requires = catalog
            .purpose_requires_channel(self.purpose.as_str())
            .ok_or_else(|| invalid(format!("unknown purpose `{}`", self.purpose)))?;
        if self.data.is_empty() {
            return Err(invalid("no data category".into()));
        }
        if let Some(d) = self.data.iter().find(|d| !catalog.has_data(d.as_str())) {
            return Err(invalid(format!("unknown data category `{d}`")));
        }
        if let Some(c) = self
            .channels
            .iter()
            .find(|c| !catalog.has_channel(c.as_str()))
        {
            return Err(invalid(format!("unknown channel `{c}`")));
        }
        match (requires, self.channels.is_empty()) {
            (true, true) => Err(invalid(format!(
                "purpose `{}` needs at least one channel",
                self.purpose
            ))),
            (false, false) => Err(invalid(format!(
                "purpose `{}` takes no channel",
                self.purpose
            ))),
            _ => Ok(()),
        }
    }

    /// If the request lies inside this declaration, the specificity used to pick the most
    /// specific declaration: `(purpose depth, depth of the deepest matching data category)`.
    pub(crate) fn fit(&self, purpose: &str, data: &str, channel: Option<&str>) -> Option<(u8, u8)> {
        if !crate::catalog::contains(self.purpose.as_str(), purpose) {
            return None;
        }
        let data_depth = self
            .data
            .iter()
            .filter(|d| crate::catalog::contains(d.as_str(), data))
            .map(DataCategory::depth)
            .max()?;
        if let Some(c) = channel
            && !self.channels.iter().any(|dc| dc.as_str() == c)
        {
            return None;
        }
        Some((self.purpose.depth(), data_depth))
    }
}

/// A partner as the decision rule sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    /// Its ID.
    pub id: PartnerId,
    /// Display name.
    pub name: String,
    /// Roles (a partner may have several).
    pub roles: Vec<Role>,
    /// Status.
    pub status: PartnerStatus,
    /// Declarations, in the order they were made.
    pub declarations: Vec<Declaration>,
    /// The ecosystem ledger position at which the partner first became active; broad grants
    /// made before it do not cover the partner (the disclosed-partners rule).
    pub activated_at: Option<u64>,
    /// Pseudonym sector (default: the partner's own ID).
    pub sector: SectorId,
    /// Version for optimistic concurrency in stores (bumped by every change).
    #[serde(default)]
    pub version: u64,
}

impl Partner {
    /// A new partner with the given roles, in `Applied` status with no declarations.
    pub fn new(id: PartnerId, name: impl Into<String>, roles: Vec<Role>) -> Self {
        Self {
            id,
            name: name.into(),
            roles,
            status: PartnerStatus::Applied,
            declarations: Vec::new(),
            activated_at: None,
            sector: SectorId::of_partner(id),
            version: 0,
        }
    }

    /// Whether the partner has the role.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Moves the partner to `to` at ecosystem position `position`.
    pub fn set_status(&mut self, to: PartnerStatus, position: u64) -> Result<(), PartnerError> {
        self.status = self.status.transition(to)?;
        if to == PartnerStatus::Active && self.activated_at.is_none() {
            self.activated_at = Some(position);
        }
        Ok(())
    }

    /// The most specific approved declaration containing the request: deepest purpose, then
    /// deepest data; ties go to the first listed.
    pub fn declaration_for(
        &self,
        purpose: &str,
        data: &str,
        channel: Option<&str>,
    ) -> Option<&Declaration> {
        let mut best: Option<((u8, u8), &Declaration)> = None;
        for d in &self.declarations {
            if d.status != DeclarationStatus::Approved {
                continue;
            }
            if let Some(fit) = d.fit(purpose, data, channel)
                && best.is_none_or(|(b, _)| fit > b)
            {
                best = Some((fit, d));
            }
        }
        best.map(|(_, d)| d)
    }
}

/// Who may admit partners and declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernanceMode {
    /// The orchestrator approves every partner and every declaration.
    Centralized,
    /// Self-enrolment is active at once; declarations inside the orchestrator's allow-list
    /// are approved at once, the rest wait.
    Facilitated,
    /// Self-enrolment and declarations are active at once; customer consent is still needed.
    SelfOrganized,
}

/// How a partner or a declaration came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The orchestrator entered it: that is an approval in every mode.
    Orchestrator,
    /// The partner enrolled itself or declared on its own.
    SelfService,
}

/// The ecosystem's governance: the mode and, for `Facilitated`, the allow-list of
/// declarations that need no approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Governance {
    /// The mode.
    pub mode: GovernanceMode,
    /// Declarations a self-service partner may make without approval (`Facilitated` only).
    /// A declaration is inside the list when an entry with the same legal basis contains
    /// its purpose, every data category and every channel.
    #[serde(default)]
    pub allow_list: Vec<Declaration>,
}

impl Governance {
    /// The status a newly enrolled partner starts in.
    pub fn initial_status(&self, origin: Origin) -> PartnerStatus {
        match (origin, self.mode) {
            (Origin::Orchestrator, _) => PartnerStatus::Active,
            (Origin::SelfService, GovernanceMode::Centralized) => PartnerStatus::Applied,
            (Origin::SelfService, _) => PartnerStatus::Active,
        }
    }

    /// The status a new declaration starts in.
    pub fn declaration_status(
        &self,
        declaration: &Declaration,
        origin: Origin,
    ) -> DeclarationStatus {
        let approved = match (origin, self.mode) {
            (Origin::Orchestrator, _) | (_, GovernanceMode::SelfOrganized) => true,
            (Origin::SelfService, GovernanceMode::Centralized) => false,
            (Origin::SelfService, GovernanceMode::Facilitated) => self
                .allow_list
                .iter()
                .any(|allowed| allows(allowed, declaration)),
        };
        if approved {
            DeclarationStatus::Approved
        } else {
            DeclarationStatus::Pending
        }
    }
}

fn allows(allowed: &Declaration, d: &Declaration) -> bool {
    allowed.legal_basis == d.legal_basis
        && allowed.purpose.contains(&d.purpose)
        && d.data
            .iter()
            .all(|x| allowed.data.iter().any(|a| a.contains(x)))
        && d.channels.iter().all(|c| allowed.channels.contains(c))
}

/// Errors about partners.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartnerError {
    /// A status change the lifecycle does not allow.
    #[error("a partner cannot go from {from:?} to {to:?}")]
    IllegalTransition {
        /// Current status.
        from: PartnerStatus,
        /// Requested status.
        to: PartnerStatus,
    },
    /// A role name that does not exist.
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    /// A declaration that does not fit the catalog.
    #[error("invalid declaration: {0}")]
    InvalidDeclaration(String),
    /// No partner with that ID.
    #[error("unknown partner {0}")]
    UnknownPartner(PartnerId),
    /// A partner with that ID already exists.
    #[error("partner {0} already exists")]
    DuplicatePartner(PartnerId),
    /// No declaration at that index.
    #[error("partner has no declaration #{0}")]
    UnknownDeclaration(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use PartnerStatus::*;

    #[test]
    fn only_legal_transitions() {
        let all = [Applied, Active, Suspended, Offboarded];
        let legal = [
            (Applied, Active),
            (Active, Suspended),
            (Suspended, Active),
            (Applied, Offboarded),
            (Active, Offboarded),
            (Suspended, Offboarded),
        ];
        for from in all {
            for to in all {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.transition(to).is_ok(), expected, "{from:?} -> {to:?}");
            }
        }
        assert_eq!(
            Offboarded.transition(Active),
            Err(PartnerError::IllegalTransition {
                from: Offboarded,
                to: Active
            })
        );
    }

    fn decl(purpose: &str, data: &[&str], channels: &[&str], basis: LegalBasis) -> Declaration {
        Declaration {
            purpose: purpose.parse().unwrap(),
            data: data.iter().map(|d| d.parse().unwrap()).collect(),
            channels: channels.iter().map(|c| c.parse().unwrap()).collect(),
            legal_basis: basis,
            notice: String::new(),
            status: DeclarationStatus::Approved,
        }
    }

    #[test]
    fn governance_modes() {
        let offers = decl(
            "marketing.offers",
            &["contact.email"],
            &["email"],
            LegalBasis::Consent,
        );
        let wide = decl(
            "marketing",
            &["contact"],
            &["email", "sms"],
            LegalBasis::Consent,
        );
        let other = decl(
            "analytics",
            &["behavior"],
            &[],
            LegalBasis::LegitimateInterest,
        );
        let central = Governance {
            mode: GovernanceMode::Centralized,
            allow_list: vec![],
        };
        assert_eq!(central.initial_status(Origin::SelfService), Applied);
        assert_eq!(central.initial_status(Origin::Orchestrator), Active);
        assert_eq!(
            central.declaration_status(&offers, Origin::SelfService),
            DeclarationStatus::Pending
        );
        let facilitated = Governance {
            mode: GovernanceMode::Facilitated,
            allow_list: vec![wide],
        };
        assert_eq!(facilitated.initial_status(Origin::SelfService), Active);
        assert_eq!(
            facilitated.declaration_status(&offers, Origin::SelfService),
            DeclarationStatus::Approved
        );
        assert_eq!(
            facilitated.declaration_status(&other, Origin::SelfService),
            DeclarationStatus::Pending
        );
        let open = Governance {
            mode: GovernanceMode::SelfOrganized,
            allow_list: vec![],
        };
        assert_eq!(open.initial_status(Origin::SelfService), Active);
        assert_eq!(
            open.declaration_status(&other, Origin::SelfService),
            DeclarationStatus::Approved
        );
    }

    #[test]
    fn most_specific_declaration_wins_ties_to_the_first() {
        let mut p = Partner::new(
            PartnerId::from_parts(time::macros::datetime!(2026-01-01 0:00 UTC), [0; 10]),
            "airline",
            vec![Role::Realizer],
        );
        p.declarations = vec![
            decl("marketing", &["contact"], &["email"], LegalBasis::Consent),
            decl(
                "marketing.offers",
                &["contact"],
                &["email"],
                LegalBasis::LegitimateInterest,
            ),
            decl(
                "marketing.offers",
                &["contact"],
                &["email"],
                LegalBasis::Contract,
            ),
        ];
        let d = p
            .declaration_for("marketing.offers", "contact.email", Some("email"))
            .unwrap();
        assert_eq!(d.legal_basis, LegalBasis::LegitimateInterest);
        assert!(
            p.declaration_for("marketing.offers", "contact.email", Some("sms"))
                .is_none()
        );
        assert!(
            p.declaration_for("analytics", "contact.email", None)
                .is_none()
        );
    }
}
