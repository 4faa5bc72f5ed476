//! A naive reference implementation of the consent decision rule.
//!
//! It is written from the text of DESIGN.md ("Consent", normative) and deliberately shares
//! nothing with the fast code in `tessera_core::consent`: it keeps every recorded change in a
//! plain `Vec`, folds the ones recorded at or before `t` into a plain map on every decision,
//! works on names as strings, and scans every choice, every declaration and every catalog
//! entry. It is slow on purpose; the property tests and the fuzz target check the fast
//! `tessera_core::decide` against it.
//!
//! This file is also included by the fuzz target with
//! `#[path = "../../core/tests/it/naive.rs"] mod naive;`, so it names only `std`,
//! `tessera_core` and `time` (whose `OffsetDateTime` every caller of `decide` needs anyway).

use std::collections::{BTreeMap, BTreeSet};

use tessera_core::consent::Verdict;
use tessera_core::partner::DeclarationStatus;
use tessera_core::{
    Choice, ChoiceKey, CustomerChange, CustomerId, Declaration, Directory, LegalBasis, Partner,
    PartnerId, PartnerStatus, Pattern, Reason, Request, Scope,
};
use time::OffsetDateTime;

/// Everything a customer's stream recorded, in seq order, exactly as it was given.
#[derive(Debug, Clone, Default)]
pub struct NaiveState {
    /// The customer the stream belongs to, if known (only `Merged` needs it).
    customer: Option<CustomerId>,
    /// `(seq, recorded at, change)`, seqs strictly increasing.
    entries: Vec<(u64, OffsetDateTime, CustomerChange)>,
}

/// Why the naive model refuses to record a change (mirrors the ledger's rules: seqs go up,
/// nothing follows an erasure or a merge away, `Registered` comes first and once, only what
/// is there can be removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected(pub &'static str);

/// What the naive model decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaiveDecision {
    /// Why (the rule that applied).
    pub reason: Reason,
    /// Whether the use is allowed (computed here, not through `Reason::allows`).
    pub allowed: bool,
    /// The key and the seq of the winning choice (rules 4 and 5 only).
    pub winner: Option<(ChoiceKey, u64)>,
}

impl NaiveDecision {
    /// The seq of the winning choice, if a choice decided.
    pub fn winning_seq(&self) -> Option<u64> {
        self.winner.as_ref().map(|(_, s)| *s)
    }
}

/// The state as of `t`: the fold of every entry recorded at or before `t`, in seq order.
#[derive(Debug, Default)]
pub struct Folded {
    /// Whether a `Registered` entry is in the fold.
    pub registered: bool,
    /// Whether the customer is erased in the fold.
    pub erased: bool,
    /// Whether the customer was merged into another one in the fold.
    pub merged_away: bool,
    /// The latest choice at every key (cleared keys removed), with the seq that wrote it.
    pub choices: BTreeMap<ChoiceKey, (u64, Choice)>,
    /// Partners with an active contract relationship.
    pub relationships: BTreeSet<PartnerId>,
}

impl NaiveState {
    /// An empty stream of an unnamed customer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty stream that belongs to `customer` (so that `Merged { absorbed: customer }`
    /// merges it away).
    pub fn for_customer(customer: CustomerId) -> Self {
        Self {
            customer: Some(customer),
            entries: Vec::new(),
        }
    }

    /// The last recorded seq (0 for none).
    pub fn seq(&self) -> u64 {
        self.entries.last().map_or(0, |(s, _, _)| *s)
    }

    /// Records `change`, written at `at` with `seq`, or says why it cannot be recorded (in
    /// which case nothing changes).
    pub fn record(
        &mut self,
        seq: u64,
        at: OffsetDateTime,
        change: CustomerChange,
    ) -> Result<(), Rejected> {
        if seq <= self.seq() {
            return Err(Rejected("seq does not increase"));
        }
        // Whatever the times say, after an erasure or a merge away the stream is closed.
        for (_, _, c) in &self.entries {
            match c {
                CustomerChange::Erased => return Err(Rejected("erased")),
                CustomerChange::Merged { absorbed, .. } if Some(*absorbed) == self.customer => {
                    return Err(Rejected("merged away"));
                }
                _ => {}
            }
        }
        match &change {
            CustomerChange::Registered if !self.entries.is_empty() => {
                return Err(Rejected("registered twice or late"));
            }
            CustomerChange::IdentifierUnlinked { digest } => {
                let mut linked = false;
                for (_, _, c) in &self.entries {
                    match c {
                        CustomerChange::IdentifierLinked { digest: d, .. } if d == digest => {
                            linked = true;
                        }
                        CustomerChange::IdentifierUnlinked { digest: d } if d == digest => {
                            linked = false;
                        }
                        _ => {}
                    }
                }
                if !linked {
                    return Err(Rejected("identifier not linked"));
                }
            }
            CustomerChange::RelationshipEnded { partner } => {
                let mut active = false;
                for (_, _, c) in &self.entries {
                    match c {
                        CustomerChange::RelationshipStarted { partner: p } if p == partner => {
                            active = true;
                        }
                        CustomerChange::RelationshipEnded { partner: p } if p == partner => {
                            active = false;
                        }
                        _ => {}
                    }
                }
                if !active {
                    return Err(Rejected("no active relationship"));
                }
            }
            _ => {}
        }
        self.entries.push((seq, at, change));
        Ok(())
    }

    /// The state as of `t`: folds, in seq order, every entry recorded at or before `t`.
    pub fn fold_at(&self, t: OffsetDateTime) -> Folded {
        let mut entries: Vec<&(u64, OffsetDateTime, CustomerChange)> =
            self.entries.iter().filter(|(_, at, _)| *at <= t).collect();
        entries.sort_by_key(|(seq, _, _)| *seq);
        let mut f = Folded::default();
        for (seq, _, change) in entries {
            match change {
                CustomerChange::Registered => f.registered = true,
                CustomerChange::ChoiceSet { key, choice } => {
                    f.choices.insert(key.clone(), (*seq, choice.clone()));
                }
                CustomerChange::ChoiceCleared { key } => {
                    f.choices.remove(key);
                }
                CustomerChange::Erased => f.erased = true,
                CustomerChange::Merged { absorbed, .. } => {
                    if Some(*absorbed) == self.customer {
                        f.merged_away = true;
                    }
                }
                CustomerChange::RelationshipStarted { partner } => {
                    f.relationships.insert(*partner);
                }
                CustomerChange::RelationshipEnded { partner } => {
                    f.relationships.remove(partner);
                }
                CustomerChange::IdentifierLinked { .. }
                | CustomerChange::IdentifierUnlinked { .. } => {}
            }
        }
        f
    }

    /// Whether the stream holds a `Registered` entry at all.
    fn ever_registered(&self) -> bool {
        self.entries
            .iter()
            .any(|(_, _, c)| *c == CustomerChange::Registered)
    }
}

/// `outer` equals `inner` or is a dotted ancestor of it (`a` ⊃ `a.b`, but not `ab`).
fn ancestor_or_equal(outer: &str, inner: &str) -> bool {
    inner == outer || inner.starts_with(&format!("{outer}."))
}

/// Number of dotted segments.
fn segments(name: &str) -> u8 {
    name.split('.').count() as u8
}

fn pattern_depth(text: &str) -> u8 {
    if text == "*" { 0 } else { segments(text) }
}

fn pattern_covers(pattern: &str, value: &str) -> bool {
    pattern == "*" || ancestor_or_equal(pattern, value)
}

/// Checks the request against the catalog and the directory, scanning the lists: catalog
/// names in the order of the request (purpose, data, channel), then the purpose's channel
/// requirement, then the partner.
fn validate<'d>(directory: &'d Directory, request: &Request) -> Result<&'d Partner, &'static str> {
    let spec = directory.catalog().spec();
    let purpose = request.purpose.as_str();
    let requires = spec
        .purposes
        .iter()
        .find(|p| p.id.as_str() == purpose)
        .map(|p| p.requires_channel)
        .ok_or("unknown_purpose")?;
    if !spec
        .data
        .iter()
        .any(|d| d.as_str() == request.data.as_str())
    {
        return Err("unknown_data");
    }
    if let Some(c) = &request.channel
        && !spec.channels.iter().any(|k| k.as_str() == c.as_str())
    {
        return Err("unknown_channel");
    }
    match (requires, request.channel.is_some()) {
        (true, false) => return Err("channel_required"),
        (false, true) => return Err("unexpected_channel"),
        _ => {}
    }
    directory
        .partners()
        .find(|p| p.id == request.partner)
        .ok_or("unknown_partner")
}

/// Rule 3: the most specific approved declaration containing the request (deepest purpose,
/// then deepest matching data; ties go to the first listed).
fn the_declaration<'p>(partner: &'p Partner, request: &Request) -> Option<&'p Declaration> {
    let mut best: Option<(u8, u8, &Declaration)> = None;
    for d in &partner.declarations {
        if d.status != DeclarationStatus::Approved {
            continue;
        }
        if !ancestor_or_equal(d.purpose.as_str(), request.purpose.as_str()) {
            continue;
        }
        let mut data_depth = None;
        for dd in &d.data {
            if ancestor_or_equal(dd.as_str(), request.data.as_str()) {
                let depth = segments(dd.as_str());
                if data_depth.is_none_or(|b| depth > b) {
                    data_depth = Some(depth);
                }
            }
        }
        let Some(data_depth) = data_depth else {
            continue;
        };
        if let Some(c) = &request.channel
            && !d.channels.iter().any(|dc| dc.as_str() == c.as_str())
        {
            continue;
        }
        let purpose_depth = segments(d.purpose.as_str());
        let better = match best {
            None => true,
            Some((bp, bd, _)) => (purpose_depth, data_depth) > (bp, bd),
        };
        if better {
            best = Some((purpose_depth, data_depth, d));
        }
    }
    best.map(|(_, _, d)| d)
}

fn scope_contains(scope: &Scope, partner: &Partner) -> bool {
    match scope {
        Scope::Ecosystem => true,
        Scope::Role(r) => partner.roles.contains(r),
        Scope::Partner(id) => *id == partner.id,
    }
}

fn is_broad(scope: &Scope) -> bool {
    matches!(scope, Scope::Ecosystem | Scope::Role(_))
}

/// Whether `choice` at `key` covers the request of `partner` at `t` (rule 4's conditions).
pub fn covers(
    key: &ChoiceKey,
    choice: &Choice,
    partner: &Partner,
    request: &Request,
    t: OffsetDateTime,
) -> bool {
    if !scope_contains(&key.scope, partner) {
        return false;
    }
    if !pattern_covers(&key.purpose.to_string(), request.purpose.as_str()) {
        return false;
    }
    if !pattern_covers(&key.data.to_string(), request.data.as_str()) {
        return false;
    }
    let channel_ok = match (&key.channel, &request.channel) {
        (Pattern::Any, _) => true,
        (Pattern::Is(c), Some(rc)) => c.as_str() == rc.as_str(),
        (Pattern::Is(_), None) => false,
    };
    if !channel_ok {
        return false;
    }
    if let Some(e) = choice.expires_at
        && t >= e
    {
        return false;
    }
    let grant = matches!(choice.verdict, Verdict::Grant { .. });
    if grant && is_broad(&key.scope) {
        // The disclosed-partners rule: a broad grant reaches only the partners active when
        // it was made. A broad refusal reaches everyone.
        match (partner.activated_at, choice.ecosystem_position) {
            (Some(a), Some(p)) if a <= p => {}
            _ => return false,
        }
    }
    true
}

/// (scope rank, purpose depth, data depth, channel given), compared lexicographically.
pub type Specificity = (u8, u8, u8, u8);

/// The specificity of a key: (scope rank, purpose depth, data depth, channel given).
pub fn specificity(key: &ChoiceKey) -> Specificity {
    let scope = match key.scope {
        Scope::Ecosystem => 0,
        Scope::Role(_) => 1,
        Scope::Partner(_) => 2,
    };
    let channel = u8::from(key.channel.to_string() != "*");
    (
        scope,
        pattern_depth(&key.purpose.to_string()),
        pattern_depth(&key.data.to_string()),
        channel,
    )
}

/// The naive decision rule: may `request.partner` make this use at `t`? Errors are the
/// stable codes of `RequestError` (`unknown_purpose`, …).
pub fn naive_decide(
    state: &NaiveState,
    directory: &Directory,
    request: &Request,
    t: OffsetDateTime,
) -> Result<NaiveDecision, &'static str> {
    let partner = validate(directory, request)?;
    let because = |reason: Reason| NaiveDecision {
        reason,
        allowed: matches!(reason, Reason::Granted | Reason::LegalBasis(_)),
        winner: None,
    };
    let folded = state.fold_at(t);
    // Rule 1: erased or merged away at or before t, or registered only after t.
    if folded.erased || folded.merged_away || (state.ever_registered() && !folded.registered) {
        return Ok(because(Reason::UnknownCustomer));
    }
    // Rule 2.
    if partner.status != PartnerStatus::Active {
        return Ok(because(Reason::PartnerInactive));
    }
    // Rule 3.
    let Some(declaration) = the_declaration(partner, request) else {
        return Ok(because(Reason::NotDeclared));
    };
    // Rule 4: scan every choice; the most specific covering one wins, at equal specificity
    // a refusal, then the later seq.
    let mut best: Option<(Specificity, bool, u64, &ChoiceKey)> = None;
    for (key, (seq, choice)) in &folded.choices {
        if !covers(key, choice, partner, request, t) {
            continue;
        }
        let refuse = matches!(choice.verdict, Verdict::Refuse);
        let candidate = (specificity(key), refuse, *seq, key);
        let better = match &best {
            None => true,
            Some((s, r, q, _)) => (candidate.0, candidate.1, candidate.2) > (*s, *r, *q),
        };
        if better {
            best = Some(candidate);
        }
    }
    // Rule 5.
    if let Some((_, refuse, seq, key)) = best {
        return Ok(NaiveDecision {
            reason: if refuse {
                Reason::Refused
            } else {
                Reason::Granted
            },
            allowed: !refuse,
            winner: Some((key.clone(), seq)),
        });
    }
    // Rule 6.
    let reason = match declaration.legal_basis {
        LegalBasis::Contract if folded.relationships.contains(&partner.id) => {
            Reason::LegalBasis(LegalBasis::Contract)
        }
        LegalBasis::LegitimateInterest => Reason::LegalBasis(LegalBasis::LegitimateInterest),
        LegalBasis::Contract | LegalBasis::Consent => Reason::NoConsent,
    };
    Ok(because(reason))
}
