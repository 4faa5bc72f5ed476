//! `ledger_verify`: the hash chain of customer ledgers.
//!
//! Two modes, picked by the first byte of the input:
//!
//! - **raw** (even first byte): the rest is tried as JSON `Vec<CustomerEntry>` and as a
//!   single `CustomerEntry`. Whatever parses goes through [`check_parsed`]: `verify` must not
//!   panic; if it passes, `ConsentState::replay` must succeed or return a typed error (and a
//!   successful replay ends at the chain's last seq and hash); re-serializing and
//!   re-parsing gives the same entries, which verify identically.
//! - **structured** (odd first byte): a valid chain is built with `Entry::next` from
//!   arbitrary changes, times and actors, then one arbitrary mutation is applied (an edited
//!   field with or without re-hashing, a dropped, swapped, duplicated or appended entry, a
//!   truncation, or byte edits of its JSON). `verify` must fail exactly when the JSON bytes
//!   of the chain changed, at the position and with the problem the mutation implies — except
//!   for the cases the design documents as undetectable by `verify` alone (only a known head
//!   catches them): truncating the tail, and editing and re-hashing the last entry. A
//!   correctly chained append is a valid longer chain and must verify.
//!
//! Finding F1 (see fuzz/README.md), fixed: RFC 8785 writes numbers as IEEE doubles, so two
//! `u64` values above 2^53 that round to the same double used to hash the same. Entries now
//! refuse integers beyond 2^53: `Entry::next` fails exactly for a position beyond it, such
//! entries are skipped here, and an edit to one is `Edited`.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tessera_core::ledger::{ChainError, ChainProblem};
use tessera_core::{
    Actor, Choice, ChoiceKey, ConsentState, CustomerChange, CustomerEntry, CustomerId, Entry,
    EntryHash, LegalBasis, PartnerId, Role, Scope, verify,
};
use tessera_fuzz::{T0, cap, stat, stats_tick};
use time::{Duration, OffsetDateTime, UtcOffset};

// ---------------------------------------------------------------------------------------
// Raw mode
// ---------------------------------------------------------------------------------------

/// The properties every parsed stream must have.
fn check_parsed(entries: &[CustomerEntry]) {
    let verdict = verify(entries);
    if verdict.is_ok() {
        match ConsentState::replay(entries) {
            Ok(state) => {
                // verify guarantees seqs 1..=n linked from zero, so the fold ends at the last.
                assert_eq!(state.seq(), entries.len() as u64, "replay ends elsewhere");
                assert_eq!(
                    state.head(),
                    entries.last().map(|e| (e.seq, e.hash)),
                    "replay head is not the chain's last entry"
                );
                // Deterministic.
                let again = ConsentState::replay(entries).expect("a second replay succeeds");
                assert_eq!(format!("{state:?}"), format!("{again:?}"), "replay differs");
            }
            Err(e) => {
                // A typed error: it must display without panicking.
                let _ = e.to_string();
            }
        }
    }
    let json = serde_json::to_vec(entries).expect("parsed entries serialize");
    let back: Vec<CustomerEntry> =
        serde_json::from_slice(&json).expect("serialized entries parse back");
    assert_eq!(
        back.as_slice(),
        entries,
        "JSON round-trip changes the entries"
    );
    assert_eq!(
        serde_json::to_vec(&back).expect("serialize"),
        json,
        "JSON round-trip is not stable"
    );
    assert_eq!(
        verify(&back),
        verdict,
        "re-parsed entries verify differently"
    );
}

fn raw(bytes: &[u8]) {
    if let Ok(entries) = serde_json::from_slice::<Vec<CustomerEntry>>(bytes) {
        check_parsed(&entries);
    }
    if let Ok(entry) = serde_json::from_slice::<CustomerEntry>(bytes) {
        check_parsed(std::slice::from_ref(&entry));
    }
}

// ---------------------------------------------------------------------------------------
// Structured mode: the input
// ---------------------------------------------------------------------------------------

fn customer_id() -> CustomerId {
    CustomerId::from_parts(T0, [0xC0; 10])
}

fn other_customer_id() -> CustomerId {
    CustomerId::from_parts(T0, [0xC1; 10])
}

fn partner_id(i: u8) -> PartnerId {
    PartnerId::from_parts(T0, [i % 3 + 1; 10])
}

const PURPOSES: [&str; 4] = ["*", "a", "a.b", "x"];
const DATA: [&str; 3] = ["*", "a", "email.x"];
const CHANNELS: [&str; 3] = ["*", "email", "sms"];

#[derive(Arbitrary, Debug, Clone)]
struct RawKey {
    scope: u8,
    purpose: u8,
    data: u8,
    channel: u8,
}

impl RawKey {
    fn key(&self) -> ChoiceKey {
        fn pick<'a>(names: &[&'a str], i: u8) -> &'a str {
            names[usize::from(i) % names.len()]
        }
        ChoiceKey {
            scope: match self.scope % 5 {
                0 => Scope::Ecosystem,
                1 => Scope::Role(Role::ALL[usize::from(self.scope / 5) % 3]),
                _ => Scope::Partner(partner_id(self.scope)),
            },
            purpose: pick(&PURPOSES, self.purpose).parse().expect("valid"),
            data: pick(&DATA, self.data).parse().expect("valid"),
            channel: pick(&CHANNELS, self.channel).parse().expect("valid"),
        }
    }
}

/// A time: `T0` plus signed seconds plus microseconds, in UTC or at an offset.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawTime {
    seconds: i32,
    micros: u32,
    /// Minutes of UTC offset (most inputs: UTC).
    offset: Option<i16>,
}

impl RawTime {
    fn at(self) -> OffsetDateTime {
        let t = T0
            + Duration::seconds(i64::from(self.seconds))
            + Duration::microseconds(i64::from(self.micros % 1_000_000));
        match self.offset {
            None => t,
            Some(m) => {
                let m = i32::from(m) % (24 * 60);
                match UtcOffset::from_whole_seconds(m * 60) {
                    Ok(o) => t.to_offset(o),
                    Err(_) => t,
                }
            }
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
struct RawChoice {
    grant: bool,
    basis: u8,
    notice: String,
    expires: Option<RawTime>,
    /// The full `u64` range: positions are numbers in the canonical JSON.
    position: Option<u64>,
}

impl RawChoice {
    fn choice(&self) -> Choice {
        let mut c = if self.grant {
            let mut c = Choice::grant(self.notice.clone());
            if let tessera_core::consent::Verdict::Grant { legal_basis, .. } = &mut c.verdict {
                *legal_basis = match self.basis % 3 {
                    0 => LegalBasis::Consent,
                    1 => LegalBasis::Contract,
                    _ => LegalBasis::LegitimateInterest,
                };
            }
            c
        } else {
            Choice::refuse()
        };
        c.expires_at = self.expires.map(RawTime::at);
        c.ecosystem_position = self.position;
        c
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum RawChange {
    Registered,
    ChoiceSet(RawKey, RawChoice),
    ChoiceCleared(RawKey),
    IdentifierLinked(String, String),
    IdentifierUnlinked(String),
    Merged(bool),
    Erased,
    RelationshipStarted(u8),
    RelationshipEnded(u8),
}

impl RawChange {
    fn change(&self) -> CustomerChange {
        match self {
            RawChange::Registered => CustomerChange::Registered,
            RawChange::ChoiceSet(k, c) => CustomerChange::ChoiceSet {
                key: k.key(),
                choice: c.choice(),
            },
            RawChange::ChoiceCleared(k) => CustomerChange::ChoiceCleared { key: k.key() },
            RawChange::IdentifierLinked(kind, digest) => CustomerChange::IdentifierLinked {
                kind: kind.clone(),
                digest: digest.clone(),
            },
            RawChange::IdentifierUnlinked(digest) => CustomerChange::IdentifierUnlinked {
                digest: digest.clone(),
            },
            RawChange::Merged(absorbed) => {
                if *absorbed {
                    CustomerChange::Merged {
                        survivor: other_customer_id(),
                        absorbed: customer_id(),
                    }
                } else {
                    CustomerChange::Merged {
                        survivor: customer_id(),
                        absorbed: other_customer_id(),
                    }
                }
            }
            RawChange::Erased => CustomerChange::Erased,
            RawChange::RelationshipStarted(p) => CustomerChange::RelationshipStarted {
                partner: partner_id(*p),
            },
            RawChange::RelationshipEnded(p) => CustomerChange::RelationshipEnded {
                partner: partner_id(*p),
            },
        }
    }
}

fn actor(i: u8) -> Actor {
    match i % 4 {
        0 => Actor::Customer,
        1 => Actor::Orchestrator,
        _ => Actor::Partner {
            partner: partner_id(i / 4),
        },
    }
}

/// An edit of one field of one entry.
#[derive(Arbitrary, Debug, Clone)]
enum Edit {
    Seq(u64),
    RecordedAt(RawTime),
    Actor(u8),
    Change(RawChange),
    /// The ecosystem position of the entry's choice (if it sets one).
    Position(Option<u64>),
    /// The same position, off by a few (if the choice has one).
    PositionStep(i8),
    /// The expiry of the entry's choice (if it sets one).
    Expiry(Option<RawTime>),
    /// The notice of the entry's grant (if it sets one).
    Notice(String),
    PrevHashBit(u8),
    HashBit(u8),
    Stream,
}

/// A byte edit of the chain's JSON text.
#[derive(Arbitrary, Debug, Clone)]
enum ByteEdit {
    Flip(u32, u8),
    Set(u32, u8),
    Insert(u32, u8),
    Delete(u32),
    /// A digit in place of another digit (keeps numbers numbers, hex hex).
    Digit(u32, u8),
}

#[derive(Arbitrary, Debug, Clone)]
enum Mutation {
    /// Edit a field of entry `at` and leave its hash as it was.
    Edit(u8, Edit),
    /// Edit a field of entry `at` and re-hash it.
    Reseal(u8, Edit),
    Drop(u8),
    Truncate(u8),
    Swap(u8),
    Duplicate(u8),
    /// Append the correctly chained next entry (a valid longer chain).
    AppendValid(RawChange, RawTime),
    /// Append entry n + 1 of another customer's chain.
    AppendForeign(RawChange),
    /// Edit the JSON text of the chain.
    Json(Vec<ByteEdit>),
}

#[derive(Arbitrary, Debug)]
struct Structured {
    entries: Vec<(RawChange, RawTime, u8)>,
    mutation: Mutation,
}

// ---------------------------------------------------------------------------------------
// Structured mode: the property
// ---------------------------------------------------------------------------------------

/// Integers beyond this are refused in entries (RFC 8785's doubles would merge them).
const MAX_EXACT: u64 = 1 << 53;

/// Whether a change carries an integer an entry refuses.
fn inexact(change: &CustomerChange) -> bool {
    matches!(change, CustomerChange::ChoiceSet { choice, .. }
        if choice.ecosystem_position.is_some_and(|p| p > MAX_EXACT))
}

/// The next entry, or `None` when `Entry::next` refuses it — which it must do exactly for a
/// change with an integer beyond 2^53.
fn next_entry(
    customer: CustomerId,
    prev: Option<(u64, tessera_core::ledger::EntryHash)>,
    at: time::OffsetDateTime,
    actor: Actor,
    change: CustomerChange,
) -> Option<CustomerEntry> {
    let refuse = inexact(&change);
    let got = Entry::next(customer, prev, at, actor, change);
    assert_eq!(got.is_err(), refuse, "Entry::next: {got:?}");
    got.ok()
}

fn build_chain(customer: CustomerId, raw: &[(RawChange, RawTime, u8)]) -> Vec<CustomerEntry> {
    let mut out: Vec<CustomerEntry> = Vec::new();
    for (change, t, a) in raw {
        let prev = out.last().map(|e| (e.seq, e.hash));
        out.extend(next_entry(
            customer,
            prev,
            t.at(),
            actor(*a),
            change.change(),
        ));
    }
    out
}

/// Re-hashes an entry; false if it cannot be hashed (a position or seq beyond 2^53).
fn reseal(e: &mut CustomerEntry) -> bool {
    match e.compute_hash() {
        Ok(hash) => {
            e.hash = hash;
            true
        }
        Err(_) => {
            assert!(
                inexact(&e.change) || e.seq > MAX_EXACT,
                "an entry fails to hash: {e:?}"
            );
            false
        }
    }
}

fn flip(hash: &mut EntryHash, bit: u8) {
    hash.0[usize::from(bit / 8)] ^= 1 << (bit % 8);
}

fn bytes_of(entries: &[CustomerEntry]) -> Vec<u8> {
    serde_json::to_vec(entries).expect("entries serialize")
}

fn apply_edit(e: &mut CustomerEntry, edit: &Edit) {
    match edit {
        Edit::Seq(s) => e.seq = *s,
        Edit::RecordedAt(t) => e.recorded_at = t.at(),
        Edit::Actor(a) => e.actor = actor(*a),
        Edit::Change(c) => e.change = c.change(),
        Edit::Position(p) => {
            if let CustomerChange::ChoiceSet { choice, .. } = &mut e.change {
                choice.ecosystem_position = *p;
            }
        }
        Edit::PositionStep(d) => {
            if let CustomerChange::ChoiceSet { choice, .. } = &mut e.change
                && let Some(p) = &mut choice.ecosystem_position
            {
                *p = p.wrapping_add_signed(i64::from(*d));
            }
        }
        Edit::Expiry(t) => {
            if let CustomerChange::ChoiceSet { choice, .. } = &mut e.change {
                choice.expires_at = t.map(RawTime::at);
            }
        }
        Edit::Notice(n) => {
            if let CustomerChange::ChoiceSet { choice, .. } = &mut e.change
                && let tessera_core::consent::Verdict::Grant { notice_version, .. } =
                    &mut choice.verdict
            {
                *notice_version = n.clone();
            }
        }
        Edit::PrevHashBit(b) => flip(&mut e.prev_hash, *b),
        Edit::HashBit(b) => flip(&mut e.hash, *b),
        Edit::Stream => e.stream = other_customer_id(),
    }
}

fn broken(seq: u64, problem: ChainProblem) -> Result<(), ChainError> {
    Err(ChainError { seq, problem })
}

fn structured(s: &Structured) {
    let customer = customer_id();
    let raw_entries = cap(s.entries.clone(), 12);
    let original = build_chain(customer, &raw_entries);
    assert_eq!(
        verify(&original),
        Ok(()),
        "a chain built with Entry::next verifies"
    );
    check_parsed(&original);
    let n = original.len();
    let last = n as u64;
    let original_bytes = bytes_of(&original);

    let mut m = original.clone();
    // The expected verdict when the bytes changed (None: the mutation needs no check here).
    let expected: Option<Result<(), ChainError>>;
    match &s.mutation {
        Mutation::Edit(at, edit) if n > 0 => {
            let k = usize::from(*at) % n;
            apply_edit(&mut m[k], edit);
            let pos = k as u64 + 1;
            expected = Some(match edit {
                Edit::Seq(_) => broken(pos, ChainProblem::OutOfOrder),
                Edit::Stream if k > 0 => broken(pos, ChainProblem::WrongStream),
                _ => broken(pos, ChainProblem::Edited),
            });
        }
        Mutation::Reseal(at, edit) if n > 0 => {
            let k = usize::from(*at) % n;
            apply_edit(&mut m[k], edit);
            let resealed = reseal(&mut m[k]);
            let pos = k as u64 + 1;
            let hash_changed = m[k].hash != original[k].hash;
            expected = Some(match edit {
                Edit::Seq(_) => broken(pos, ChainProblem::OutOfOrder),
                // A position beyond 2^53 cannot be hashed, so it stays an edit.
                _ if !resealed => broken(pos, ChainProblem::Edited),
                Edit::PrevHashBit(_) => broken(pos, ChainProblem::BrokenLink),
                // Resealing undoes a flipped hash.
                Edit::HashBit(_) => Ok(()),
                // The first entry names the stream: the others are of another stream now.
                Edit::Stream if k == 0 && n > 1 => broken(2, ChainProblem::WrongStream),
                Edit::Stream if k > 0 => broken(pos, ChainProblem::WrongStream),
                // Documented: editing and re-hashing the last entry is invisible to verify.
                _ if k + 1 == n => Ok(()),
                _ if hash_changed => broken(pos + 1, ChainProblem::BrokenLink),
                // The edit changed nothing the hash covers.
                _ => Ok(()),
            });
        }
        Mutation::Drop(at) if n > 0 => {
            let k = usize::from(*at) % n;
            m.remove(k);
            // Dropping the last entry is a truncation (documented).
            expected = Some(if k + 1 == n {
                Ok(())
            } else {
                broken(k as u64 + 1, ChainProblem::OutOfOrder)
            });
        }
        Mutation::Truncate(len) => {
            m.truncate(usize::from(*len) % (n + 1));
            expected = Some(Ok(()));
        }
        Mutation::Swap(at) if n >= 2 => {
            let j = usize::from(*at) % (n - 1);
            m.swap(j, j + 1);
            expected = Some(broken(j as u64 + 1, ChainProblem::OutOfOrder));
        }
        Mutation::Duplicate(at) if n > 0 => {
            let k = usize::from(*at) % n;
            m.insert(k + 1, m[k].clone());
            expected = Some(broken(k as u64 + 2, ChainProblem::OutOfOrder));
        }
        Mutation::AppendValid(change, t) => {
            let prev = m.last().map(|e| (e.seq, e.hash));
            let Some(next) = next_entry(customer, prev, t.at(), Actor::Customer, change.change())
            else {
                return;
            };
            m.push(next);
            expected = Some(Ok(()));
        }
        Mutation::AppendForeign(change) if n > 0 => {
            let mut foreign_raw = raw_entries.clone();
            foreign_raw.push((
                change.clone(),
                RawTime {
                    seconds: 0,
                    micros: 0,
                    offset: None,
                },
                0,
            ));
            let foreign = build_chain(other_customer_id(), &foreign_raw);
            // The same changes are refused in both chains; the appended one may be too.
            let Some(next) = foreign.get(n) else {
                return;
            };
            m.push(next.clone());
            expected = Some(broken(last + 1, ChainProblem::WrongStream));
        }
        Mutation::Json(edits) => {
            let mut text = original_bytes.clone();
            for e in edits.iter().take(4) {
                let len = text.len().max(1) as u32;
                match *e {
                    ByteEdit::Flip(i, b) => {
                        if let Some(x) = text.get_mut((i % len) as usize) {
                            *x ^= b;
                        }
                    }
                    ByteEdit::Set(i, b) => {
                        if let Some(x) = text.get_mut((i % len) as usize) {
                            *x = b;
                        }
                    }
                    ByteEdit::Insert(i, b) => {
                        let i = ((i % (len + 1)) as usize).min(text.len());
                        text.insert(i, b);
                    }
                    ByteEdit::Delete(i) => {
                        if !text.is_empty() {
                            text.remove((i % len) as usize);
                        }
                    }
                    ByteEdit::Digit(i, d) => {
                        if let Some(x) = text.get_mut((i % len) as usize)
                            && x.is_ascii_digit()
                        {
                            *x = b'0' + d % 10;
                        }
                    }
                }
            }
            raw(&text);
            let Ok(parsed) = serde_json::from_slice::<Vec<CustomerEntry>>(&text) else {
                return;
            };
            m = parsed;
            // Byte edits can do anything; the general rule below still holds.
            expected = None;
        }
        _ => return,
    }

    check_parsed(&m);
    let changed = bytes_of(&m) != original_bytes;
    let got = verify(&m);
    stat(|| {
        format!(
            "changed:{changed} verify:{}",
            match &got {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("{:?}", e.problem),
            }
        )
    });
    if !changed {
        assert_eq!(
            got,
            Ok(()),
            "unchanged chain fails to verify after {:?}",
            s.mutation
        );
        return;
    }
    let is_prefix = m.len() <= n && m[..] == original[..m.len()];
    match expected {
        Some(want) => {
            if got != want {
                panic!(
                    "verify gave {got:?}, expected {want:?} after {:?}\noriginal: {}\nmutated:  {}",
                    s.mutation,
                    String::from_utf8_lossy(&original_bytes),
                    String::from_utf8_lossy(&bytes_of(&m))
                );
            }
        }
        None => {
            // Byte edits: a changed chain verifies only if it is a prefix (truncation), or it
            // differs from the original in its last entry alone, re-hashed.
            if got.is_ok() && !is_prefix {
                let same_but_last = m.len() == n
                    && n > 0
                    && m[..n - 1] == original[..n - 1]
                    && m[n - 1].compute_hash().ok() == Some(m[n - 1].hash);
                assert!(
                    same_but_last,
                    "verify accepts edited JSON\noriginal: {}\nmutated:  {}",
                    String::from_utf8_lossy(&original_bytes),
                    String::from_utf8_lossy(&bytes_of(&m))
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        raw(rest);
    } else if let Ok(s) = Structured::arbitrary_take_rest(Unstructured::new(rest)) {
        structured(&s);
    }
    stats_tick();
});
