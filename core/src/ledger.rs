//! The ledger: append-only, hash-chained streams of entries, one per customer and one for the
//! ecosystem, folded into state.
//!
//! `hash = SHA-256(RFC 8785 canonical JSON of the entry without its hash)`, written as 64
//! lowercase hex digits; `prev_hash` is the previous entry's hash (64 zeros for seq 1). A
//! verifier outside the project can recompute it from the JSON alone.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::catalog::CatalogSpec;
use crate::consent::{Choice, ChoiceKey, ConsentState, StateError};
use crate::id::{CustomerId, EcosystemId, PartnerId, SectorId};
use crate::partner::{Declaration, Governance, Origin, PartnerStatus, Role};

/// A SHA-256 entry hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EntryHash(pub [u8; 32]);

impl EntryHash {
    /// The hash of "no previous entry".
    pub const ZERO: EntryHash = EntryHash([0; 32]);

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        let digits = self.hex_digits();
        digits.iter().map(|&d| char::from(d)).collect()
    }

    /// The 64 lowercase hex digits, without an allocation.
    fn hex_digits(&self) -> [u8; 64] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        out
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({})", self.to_hex())
    }
}

impl FromStr for EntryHash {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, LedgerError> {
        let bad = || LedgerError::Malformed("a hash is 64 lowercase hex digits".into());
        if s.len() != 64 {
            return Err(bad());
        }
        // Each byte's value as a lowercase hex digit, or 0xff: one lookup per digit, and one
        // test for the whole hash (every entry read carries two).
        const DIGIT: [u8; 256] = {
            let mut table = [0xff; 256];
            let mut i = 0;
            while i < 10 {
                table[b'0' as usize + i] = i as u8;
                i += 1;
            }
            let mut i = 0;
            while i < 6 {
                table[b'a' as usize + i] = 10 + i as u8;
                i += 1;
            }
            table
        };
        let mut out = [0u8; 32];
        let mut invalid = 0u8;
        for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let (hi, lo) = (DIGIT[usize::from(pair[0])], DIGIT[usize::from(pair[1])]);
            invalid |= hi | lo;
            *o = (hi << 4) | (lo & 15);
        }
        if invalid & 0xf0 != 0 {
            return Err(bad());
        }
        Ok(EntryHash(out))
    }
}

impl Serialize for EntryHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let digits = self.hex_digits();
        // Hex digits are ASCII, so this never fails.
        let text = std::str::from_utf8(&digits).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for EntryHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::parse(deserializer, str::parse)
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The customer, in a session of their own.
    Customer,
    /// A partner, at its own touchpoint.
    Partner {
        /// Which partner.
        partner: PartnerId,
    },
    /// The orchestrator's staff or automation.
    Orchestrator,
}

/// A change to a customer's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerChange {
    /// The customer exists (always seq 1).
    Registered,
    /// A choice at a key (replacing any earlier one there).
    ChoiceSet {
        /// Where.
        key: ChoiceKey,
        /// What.
        choice: Choice,
    },
    /// The choice at a key is removed.
    ChoiceCleared {
        /// Where.
        key: ChoiceKey,
    },
    /// An identifier was linked; the ledger keeps only a keyed digest of it.
    IdentifierLinked {
        /// Kind of identifier (`email`, `phone`, `federated`, `partner_account`).
        kind: String,
        /// Keyed digest of the normalised identifier.
        digest: String,
    },
    /// An identifier was unlinked.
    IdentifierUnlinked {
        /// Keyed digest of the normalised identifier.
        digest: String,
    },
    /// Two customers were found to be one; written to both streams.
    Merged {
        /// The customer that remains.
        survivor: CustomerId,
        /// The customer folded into it.
        absorbed: CustomerId,
    },
    /// The customer was erased; the pseudonymous ledger stays as proof.
    Erased,
    /// A contract relationship with a partner began.
    RelationshipStarted {
        /// The partner.
        partner: PartnerId,
    },
    /// A contract relationship with a partner ended.
    RelationshipEnded {
        /// The partner.
        partner: PartnerId,
    },
}

// Decoding: both enums are internally tagged (`{"type": "choice_set", …}`), and decoding
// them is most of the work of reading a stream, so they decode through `crate::tagged`,
// which skips serde's buffering when the tag comes first. The mirrors below are their
// externally tagged form, which that decoder hands the variant's fields to; `remote` makes
// the compiler check each mirror against its enum.

/// [`Actor`], externally tagged.
#[derive(Deserialize)]
#[serde(remote = "Actor", rename_all = "snake_case", deny_unknown_fields)]
enum ActorVariants {
    Customer,
    Partner { partner: PartnerId },
    Orchestrator,
}

impl<'de> crate::tagged::Tagged<'de> for Actor {
    const TAG: &'static str = "kind";
    const EXPECTING: &'static str = "an actor";

    fn externally_tagged<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ActorVariants::deserialize(deserializer)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::tagged::deserialize(deserializer)
    }
}

/// [`CustomerChange`], externally tagged.
#[derive(Deserialize)]
#[serde(
    remote = "CustomerChange",
    rename_all = "snake_case",
    deny_unknown_fields
)]
enum CustomerChangeVariants {
    Registered,
    ChoiceSet {
        key: ChoiceKey,
        choice: Choice,
    },
    ChoiceCleared {
        key: ChoiceKey,
    },
    IdentifierLinked {
        kind: String,
        digest: String,
    },
    IdentifierUnlinked {
        digest: String,
    },
    Merged {
        survivor: CustomerId,
        absorbed: CustomerId,
    },
    Erased,
    RelationshipStarted {
        partner: PartnerId,
    },
    RelationshipEnded {
        partner: PartnerId,
    },
}

impl<'de> crate::tagged::Tagged<'de> for CustomerChange {
    const TAG: &'static str = "type";
    const EXPECTING: &'static str = "a customer change";

    fn externally_tagged<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CustomerChangeVariants::deserialize(deserializer)
    }
}

impl<'de> Deserialize<'de> for CustomerChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::tagged::deserialize(deserializer)
    }
}

/// A change to the ecosystem's stream: catalog, governance and partners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EcosystemChange {
    /// The catalog is (re)placed.
    CatalogSet {
        /// The new catalog.
        catalog: CatalogSpec,
    },
    /// The governance mode and allow-list are set.
    GovernanceSet {
        /// The new governance.
        governance: Governance,
    },
    /// A partner enrolled; its starting status follows from the governance and the origin.
    PartnerEnrolled {
        /// Its ID.
        partner: PartnerId,
        /// Display name.
        name: String,
        /// Roles.
        roles: Vec<Role>,
        /// Pseudonym sector (default: the partner ID).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sector: Option<SectorId>,
        /// Who enrolled it.
        origin: Origin,
    },
    /// A partner changed status.
    PartnerStatusChanged {
        /// The partner.
        partner: PartnerId,
        /// The new status.
        to: PartnerStatus,
    },
    /// A partner declared a use; approved at once or pending, per the governance.
    DeclarationAdded {
        /// The partner.
        partner: PartnerId,
        /// The declaration (its `status` is decided by the fold, not taken from here).
        declaration: Declaration,
        /// Who declared it.
        origin: Origin,
    },
    /// The orchestrator approved a pending declaration.
    DeclarationApproved {
        /// The partner.
        partner: PartnerId,
        /// Index into the partner's declarations.
        index: usize,
    },
}

/// One ledger entry of stream `S` with change type `C`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry<S, C> {
    /// The stream (customer or ecosystem) the entry belongs to.
    pub stream: S,
    /// Position in the stream, from 1, without gaps.
    pub seq: u64,
    /// When it was recorded (UTC, microsecond precision).
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// Who made the change.
    pub actor: Actor,
    /// The change.
    pub change: C,
    /// The previous entry's hash (zeros for seq 1).
    pub prev_hash: EntryHash,
    /// SHA-256 of the canonical JSON of all the fields above.
    pub hash: EntryHash,
}

/// An entry of a customer's stream.
pub type CustomerEntry = Entry<CustomerId, CustomerChange>;
/// An entry of the ecosystem's stream.
pub type EcosystemEntry = Entry<EcosystemId, EcosystemChange>;

/// An entry without its hash: what the hash is taken over. The fields are declared in
/// RFC 8785 order (by name), so the canonical writer need not reorder them; the order here
/// cannot change the bytes, only how much work they take.
#[derive(Serialize)]
struct Unsealed<'a, S, C> {
    actor: &'a Actor,
    change: &'a C,
    prev_hash: &'a EntryHash,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
    seq: u64,
    stream: &'a S,
}

/// Normalises a time for the ledger: UTC, cut to whole microseconds (what SQL stores keep).
pub fn ledger_time(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.replace_nanosecond(micros).unwrap_or(t)
}

impl<S: Serialize + Clone + PartialEq, C: Serialize> Entry<S, C> {
    /// A new entry after `prev` (or the first one when `prev` is `None`), hashed.
    pub fn next(
        stream: S,
        prev: Option<(u64, EntryHash)>,
        recorded_at: OffsetDateTime,
        actor: Actor,
        change: C,
    ) -> Result<Self, LedgerError> {
        let (seq, prev_hash) = match prev {
            None => (1, EntryHash::ZERO),
            Some((seq, hash)) => (
                seq.checked_add(1)
                    .ok_or(LedgerError::Malformed("seq overflow".into()))?,
                hash,
            ),
        };
        let recorded_at = ledger_time(recorded_at);
        let mut entry = Self {
            stream,
            seq,
            recorded_at,
            actor,
            change,
            prev_hash,
            hash: EntryHash::ZERO,
        };
        entry.hash = entry.compute_hash()?;
        Ok(entry)
    }

    /// The canonical bytes the hash is taken over: RFC 8785 JSON of the entry without `hash`.
    /// An entry holding an integer beyond 2^53 (e.g. an `ecosystem_position`) has none: it is
    /// [`LedgerError::Malformed`] to build, and [`ChainProblem::Edited`] to verify.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        let body = Unsealed {
            actor: &self.actor,
            change: &self.change,
            prev_hash: &self.prev_hash,
            recorded_at: self.recorded_at,
            seq: self.seq,
            stream: &self.stream,
        };
        crate::canonical::to_vec_exact(&body).ok_or_else(|| {
            LedgerError::Malformed(
                "an entry holds only strings, booleans, objects, arrays and integers of at most \
                 2^53 in magnitude (RFC 8785 writes larger ones as doubles, which merge \
                 neighbouring values)"
                    .into(),
            )
        })
    }

    /// Recomputes the hash from the other fields.
    pub fn compute_hash(&self) -> Result<EntryHash, LedgerError> {
        Ok(sha256(&self.canonical_bytes()?))
    }
}

fn sha256(bytes: &[u8]) -> EntryHash {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    EntryHash(out)
}

/// What [`Entry::canonical_bytes`] writes, read back: an entry without its hash.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<S, C> {
    actor: Actor,
    change: C,
    prev_hash: EntryHash,
    #[serde(with = "time::serde::rfc3339")]
    recorded_at: OffsetDateTime,
    seq: u64,
    stream: S,
}

/// An entry as a store read it back, and whether its hash is already known to be the hash
/// of its fields.
///
/// A store that keeps each entry as the bytes its hash was taken over
/// ([`Entry::canonical_bytes`]) reads it with [`Stored::open`], which checks SHA-256 of those
/// bytes against the hash: a match proves the fields are the hashed ones (the bytes decode to
/// exactly one entry, whose canonical bytes they are), as recomputing the hash would, without
/// encoding anything again. A store that keeps entries as values hands them over with
/// [`Stored::unchecked`], and the reader recomputes each hash
/// ([`verify_stored_from`]). Either way the reader still checks every link, seq and stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<E> {
    entry: E,
    hash_checked: bool,
}

impl<E> Stored<E> {
    /// An entry whose hash the reader must recompute.
    pub fn unchecked(entry: E) -> Self {
        Self {
            entry,
            hash_checked: false,
        }
    }

    /// Entries whose hashes the reader must recompute.
    pub fn all_unchecked(entries: Vec<E>) -> Vec<Self> {
        entries.into_iter().map(Self::unchecked).collect()
    }

    /// The entry.
    pub fn entry(&self) -> &E {
        &self.entry
    }

    /// The entry, without the note.
    pub fn into_entry(self) -> E {
        self.entry
    }

    /// Whether [`Stored::open`] found SHA-256 of the entry's bytes to be its hash.
    pub fn hash_checked(&self) -> bool {
        self.hash_checked
    }
}

impl<S: DeserializeOwned, C: DeserializeOwned> Stored<Entry<S, C>> {
    /// Reads an entry from the bytes its hash was taken over ([`Entry::canonical_bytes`]) and
    /// the hash stored beside them. When SHA-256 of `bytes` is `hash`, the entry is marked
    /// checked; when it is not (the bytes or the hash were edited), the entry is returned
    /// unchecked, so that the reader's verification reports the edit at its seq, as it would
    /// for a store that keeps values. Bytes that are not an entry are
    /// [`LedgerError::Malformed`].
    pub fn open(bytes: &[u8], hash: EntryHash) -> Result<Self, LedgerError> {
        // One UTF-8 check of the whole text is cheaper than serde_json's check of each string.
        let text = std::str::from_utf8(bytes)
            .map_err(|e| LedgerError::Malformed(format!("not a ledger entry: {e}")))?;
        let body: Body<S, C> = serde_json::from_str(text)
            .map_err(|e| LedgerError::Malformed(format!("not a ledger entry: {e}")))?;
        Ok(Self {
            entry: Entry {
                stream: body.stream,
                seq: body.seq,
                recorded_at: body.recorded_at,
                actor: body.actor,
                change: body.change,
                prev_hash: body.prev_hash,
                hash,
            },
            hash_checked: sha256(bytes) == hash,
        })
    }
}

/// What is wrong with a chain, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainProblem {
    /// The entry's fields do not hash to its `hash` (it was edited).
    Edited,
    /// The entry's `prev_hash` is not the previous entry's hash (something before it was
    /// dropped, edited or reordered).
    BrokenLink,
    /// The entry's seq is not the next one (an entry was dropped, reordered or appended out
    /// of order).
    OutOfOrder,
    /// The entry belongs to another stream.
    WrongStream,
}

/// A chain that does not verify: the first seq position at which it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ledger chain breaks at seq {seq}: {problem:?}")]
pub struct ChainError {
    /// The position (1-based) at which the chain first breaks.
    pub seq: u64,
    /// What is wrong there.
    pub problem: ChainProblem,
}

/// Verifies a whole stream from seq 1: every entry hashes to its `hash`, links to the one
/// before, belongs to the same stream and comes in order. Reports the first break.
pub fn verify<S, C>(entries: &[Entry<S, C>]) -> Result<(), ChainError>
where
    S: Serialize + Clone + PartialEq,
    C: Serialize,
{
    verify_from(entries, None)
}

/// Verifies a stream segment that continues after `(seq, hash)` (or from the start).
pub fn verify_from<S, C>(
    entries: &[Entry<S, C>],
    after: Option<(u64, EntryHash)>,
) -> Result<(), ChainError>
where
    S: Serialize + Clone + PartialEq,
    C: Serialize,
{
    verify_chain(entries.iter().map(|e| (e, false)), after)
}

/// [`verify_from`] for entries a store read back: the hash of an entry [`Stored::open`]
/// checked is not recomputed; everything else is checked as for any entry.
pub fn verify_stored_from<S, C>(
    entries: &[Stored<Entry<S, C>>],
    after: Option<(u64, EntryHash)>,
) -> Result<(), ChainError>
where
    S: Serialize + Clone + PartialEq,
    C: Serialize,
{
    verify_chain(entries.iter().map(|e| (&e.entry, e.hash_checked)), after)
}

/// Verifies entries, each with whether its hash is already known to be its fields' hash.
fn verify_chain<'a, S, C>(
    entries: impl Iterator<Item = (&'a Entry<S, C>, bool)>,
    after: Option<(u64, EntryHash)>,
) -> Result<(), ChainError>
where
    S: Serialize + Clone + PartialEq + 'a,
    C: Serialize + 'a,
{
    let (mut seq, mut prev) = after.unwrap_or((0, EntryHash::ZERO));
    let mut first: Option<&S> = None;
    for (entry, hash_checked) in entries {
        let stream = *first.get_or_insert(&entry.stream);
        let expected = seq + 1;
        let at = |problem| ChainError {
            seq: expected,
            problem,
        };
        if entry.stream != *stream {
            return Err(at(ChainProblem::WrongStream));
        }
        if entry.seq != expected {
            return Err(at(ChainProblem::OutOfOrder));
        }
        if !hash_checked && entry.compute_hash().ok() != Some(entry.hash) {
            return Err(at(ChainProblem::Edited));
        }
        if entry.prev_hash != prev {
            return Err(at(ChainProblem::BrokenLink));
        }
        seq = expected;
        prev = entry.hash;
    }
    Ok(())
}

/// Errors of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The entry does not continue the state's chain.
    #[error("entry does not continue the chain: {0}")]
    Chain(#[from] ChainError),
    /// The change is not valid in the current state.
    #[error(transparent)]
    State(#[from] StateError),
    /// A stream's first entry must register it.
    #[error("a customer stream must start with `registered`")]
    NotRegistered,
    /// The entry is for another customer than the state.
    #[error("entry is for another customer")]
    WrongCustomer,
    /// An ecosystem change is not valid in the current ecosystem state.
    #[error("invalid ecosystem change: {0}")]
    Ecosystem(String),
    /// Text or bytes that do not form an entry.
    #[error("malformed ledger data: {0}")]
    Malformed(String),
}

fn check_link<S, C>(
    entry: &Entry<S, C>,
    seq: u64,
    head: Option<EntryHash>,
) -> Result<(), ChainError> {
    let expected = seq + 1;
    if entry.seq != expected {
        return Err(ChainError {
            seq: expected,
            problem: ChainProblem::OutOfOrder,
        });
    }
    if entry.prev_hash != head.unwrap_or(EntryHash::ZERO) {
        return Err(ChainError {
            seq: expected,
            problem: ChainProblem::BrokenLink,
        });
    }
    Ok(())
}

impl ConsentState {
    /// Folds one entry into the state. The entry must continue the chain (next seq, linked to
    /// the head) and be valid in the state; on error the state is unchanged. The entry's own
    /// hash is trusted here: run [`verify`] on streams from untrusted sources.
    pub fn apply(&mut self, entry: &CustomerEntry) -> Result<(), LedgerError> {
        check_link(entry, self.seq(), self.head)?;
        match self.customer() {
            None if entry.change != CustomerChange::Registered => {
                return Err(LedgerError::NotRegistered);
            }
            Some(c) if c != entry.stream => return Err(LedgerError::WrongCustomer),
            _ => {}
        }
        // `record` checks everything before it changes anything, so an error leaves the
        // state as it was.
        self.record(entry.seq, entry.recorded_at, &entry.change)?;
        self.set_customer(entry.stream);
        self.head = Some(entry.hash);
        Ok(())
    }

    /// Replays a whole stream into a fresh state (deterministic).
    pub fn replay<'a>(
        entries: impl IntoIterator<Item = &'a CustomerEntry>,
    ) -> Result<Self, LedgerError> {
        let mut state = ConsentState::new();
        for e in entries {
            state.apply(e)?;
        }
        Ok(state)
    }

    /// The chain head to append after: `(seq, hash)` of the last entry, if any.
    pub fn head(&self) -> Option<(u64, EntryHash)> {
        self.head.map(|h| (self.seq(), h))
    }
}

#[cfg(test)]
mod tests {
    use super::{Actor, ChainError, ChainProblem, CustomerChange, CustomerEntry, EntryHash};
    use super::{LedgerError, verify};
    use crate::{Choice, ChoiceKey, CustomerId};

    fn choice_at(position: u64) -> Result<CustomerEntry, LedgerError> {
        let mut choice = Choice::grant("v1");
        choice.ecosystem_position = Some(position);
        let customer: CustomerId = "cus_01jdqz8xk2f8v9g7r6t5y4w3e2".parse().unwrap();
        let key = ChoiceKey {
            scope: "ecosystem".parse().unwrap(),
            purpose: "marketing".parse().unwrap(),
            data: "*".parse().unwrap(),
            channel: "email".parse().unwrap(),
        };
        let at = time::macros::datetime!(2026-03-01 12:00 UTC);
        CustomerEntry::next(
            customer,
            None,
            at,
            Actor::Customer,
            CustomerChange::ChoiceSet { key, choice },
        )
    }

    /// Fuzz finding F1: beyond 2^53, RFC 8785's doubles merge neighbouring integers, so an
    /// edit between them would keep the hash. Such entries cannot be built, and a stored one
    /// does not verify.
    #[test]
    fn integers_beyond_2_pow_53_are_refused() {
        let exact = choice_at(1 << 53).unwrap();
        assert_eq!(verify(std::slice::from_ref(&exact)), Ok(()));
        assert!(matches!(
            choice_at((1 << 53) + 1),
            Err(LedgerError::Malformed(_))
        ));
        assert!(matches!(
            choice_at(u64::MAX),
            Err(LedgerError::Malformed(_))
        ));
        // The stored entry edited to a neighbour that rounds to the same double.
        let mut json = serde_json::to_value(&exact).unwrap();
        let position = &mut json["change"]["choice"]["ecosystem_position"];
        assert_eq!(*position, serde_json::json!(1u64 << 53));
        *position = serde_json::json!((1u64 << 53) + 1);
        let edited: CustomerEntry = serde_json::from_value(json).unwrap();
        assert_eq!(
            verify(&[edited]),
            Err(ChainError {
                seq: 1,
                problem: ChainProblem::Edited
            })
        );
    }

    #[test]
    fn hashes_parse_from_lowercase_hex_only() {
        let hash = EntryHash(std::array::from_fn(|i| (i as u8).wrapping_mul(37)));
        assert_eq!(hash.to_hex().parse::<EntryHash>(), Ok(hash));
        assert_eq!(serde_json::to_string(&hash).unwrap(), format!("\"{hash}\""));
        let good = hash.to_hex();
        for at in [0, 1, 31, 62, 63] {
            for bad in ['g', 'A', 'F', '/', ':', '`', ' ', 'é'] {
                let mut text: Vec<char> = good.chars().collect();
                text[at] = bad;
                let text: String = text.into_iter().collect();
                assert!(text.parse::<EntryHash>().is_err(), "{text}");
            }
        }
        assert!(good[..62].parse::<EntryHash>().is_err());
        assert!(format!("{good}0").parse::<EntryHash>().is_err());
    }
}
