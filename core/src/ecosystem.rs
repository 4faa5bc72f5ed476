//! The ecosystem's own state: catalog, governance and partners, folded from the ecosystem
//! ledger. Its seq is the *ecosystem position* that broad choices record.

use crate::catalog::Catalog;
use crate::consent::Directory;
use crate::id::{EcosystemId, SectorId};
use crate::ledger::{
    ChainError, ChainProblem, EcosystemChange, EcosystemEntry, EntryHash, LedgerError,
};
use crate::partner::{DeclarationStatus, Governance, GovernanceMode, Partner, PartnerError};

/// The fold of the ecosystem ledger.
#[derive(Debug, Clone)]
pub struct EcosystemState {
    id: EcosystemId,
    directory: Directory,
    governance: Governance,
    seq: u64,
    head: Option<EntryHash>,
}

impl EcosystemState {
    /// The state before the first entry: the given catalog (replaced by a `catalog_set`
    /// entry), `Centralized` governance and no partners.
    pub fn new(id: EcosystemId, catalog: Catalog) -> Self {
        Self {
            id,
            directory: Directory::new(catalog),
            governance: Governance {
                mode: GovernanceMode::Centralized,
                allow_list: Vec::new(),
            },
            seq: 0,
            head: None,
        }
    }

    /// The ecosystem's ID.
    pub fn id(&self) -> &EcosystemId {
        &self.id
    }

    /// The catalog and partners, as the decision rule needs them.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The governance in force.
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// The ecosystem position: the seq of the last entry (0 for none).
    pub fn position(&self) -> u64 {
        self.seq
    }

    /// The chain head to append after.
    pub fn head(&self) -> Option<(u64, EntryHash)> {
        self.head.map(|h| (self.seq, h))
    }

    /// Folds one entry. The entry must continue the chain and be valid; on error nothing
    /// changes.
    pub fn apply(&mut self, entry: &EcosystemEntry) -> Result<(), LedgerError> {
        let expected = self.seq + 1;
        if entry.stream != self.id {
            return Err(ChainError {
                seq: expected,
                problem: ChainProblem::WrongStream,
            }
            .into());
        }
        if entry.seq != expected {
            return Err(ChainError {
                seq: expected,
                problem: ChainProblem::OutOfOrder,
            }
            .into());
        }
        if entry.prev_hash != self.head.unwrap_or(EntryHash::ZERO) {
            return Err(ChainError {
                seq: expected,
                problem: ChainProblem::BrokenLink,
            }
            .into());
        }
        self.change(entry.seq, &entry.change)?;
        self.seq = entry.seq;
        self.head = Some(entry.hash);
        Ok(())
    }

    /// Checks a change without applying it (what a facade does before it appends).
    pub fn check(&self, change: &EcosystemChange) -> Result<(), LedgerError> {
        self.clone().change(self.seq + 1, change)
    }

    fn change(&mut self, position: u64, change: &EcosystemChange) -> Result<(), LedgerError> {
        let partner_error = |e: PartnerError| LedgerError::Ecosystem(e.to_string());
        match change {
            EcosystemChange::CatalogSet { catalog } => {
                let catalog = Catalog::new(catalog.clone())
                    .map_err(|e| LedgerError::Ecosystem(e.to_string()))?;
                self.directory.set_catalog(catalog);
            }
            EcosystemChange::GovernanceSet { governance } => {
                for d in &governance.allow_list {
                    d.validate(self.directory.catalog())
                        .map_err(partner_error)?;
                }
                self.governance = governance.clone();
            }
            EcosystemChange::PartnerEnrolled {
                partner,
                name,
                roles,
                sector,
                origin,
            } => {
                if roles.is_empty() {
                    return Err(LedgerError::Ecosystem(
                        "a partner needs at least one role".into(),
                    ));
                }
                let mut p = Partner::new(*partner, name.clone(), roles.clone());
                if let Some(s) = sector {
                    p.sector = s.clone();
                } else {
                    p.sector = SectorId::of_partner(*partner);
                }
                let status = self.governance.initial_status(*origin);
                if status != p.status {
                    p.set_status(status, position).map_err(partner_error)?;
                }
                self.directory.insert(p).map_err(partner_error)?;
            }
            EcosystemChange::PartnerStatusChanged { partner, to } => {
                let mut p = self
                    .directory
                    .partner_mut(*partner)
                    .ok_or_else(|| partner_error(PartnerError::UnknownPartner(*partner)))?;
                p.set_status(*to, position).map_err(partner_error)?;
                p.version += 1;
            }
            EcosystemChange::DeclarationAdded {
                partner,
                declaration,
                origin,
            } => {
                declaration
                    .validate(self.directory.catalog())
                    .map_err(partner_error)?;
                let status = self.governance.declaration_status(declaration, *origin);
                let mut p = self
                    .directory
                    .partner_mut(*partner)
                    .ok_or_else(|| partner_error(PartnerError::UnknownPartner(*partner)))?;
                let mut d = declaration.clone();
                d.status = status;
                p.declarations.push(d);
                p.version += 1;
            }
            EcosystemChange::DeclarationApproved { partner, index } => {
                let mut p = self
                    .directory
                    .partner_mut(*partner)
                    .ok_or_else(|| partner_error(PartnerError::UnknownPartner(*partner)))?;
                let d = p
                    .declarations
                    .get_mut(*index)
                    .ok_or_else(|| partner_error(PartnerError::UnknownDeclaration(*index)))?;
                d.status = DeclarationStatus::Approved;
                p.version += 1;
            }
        }
        Ok(())
    }
}
