//! `token_bytes`: token bytes from the partner side (attacker-controlled) into the verifier.
//!
//! Two modes, picked by the first byte of the input:
//!
//! - **raw** (first byte even): the rest goes into `Verifier::check` for a few uses and into
//!   `UnverifiedToken::from_bytes` → `verify`. Never a panic, never an `Allow`: the bytes are
//!   not signed by the verifier's key (the fixture token's exact bytes are the only
//!   exception, and are checked like the mutation mode does).
//! - **mutation** (first byte odd): a real token — the fixture token issued with a fixed
//!   `RootKey`, the same narrowed by `token::attenuate`, or the fixture claims signed by an
//!   untrusted key — gets arbitrary byte flips, sets, insertions, deletions, truncations and
//!   splices (from another real token). Any `Allow` must come from the unmodified token, and
//!   the unmodified token's answers must be the ones its claims imply.
//!
//! Both modes also check that a second `check` of the same bytes (the cached path) answers
//! as the first did.
//!
//! Finding F2 (see fuzz/README.md), fixed: the protobuf container tolerates some byte edits
//! that leave every signed part intact, so a modified byte string used to verify as the same
//! token. Only a token's canonical encoding is accepted now, so any modified byte string that
//! verifies, or is allowed, is a failure.

#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tessera_core::token::{
    Denial, Narrowing, RevocationSet, TokenDecision, UnverifiedToken, Use, Verifier,
};
use tessera_fuzz::{
    T0, TOKEN_EXPIRES, claims, fixed_rng, foreign_root_key, issued_token, key_set, make_use,
    other_partner, stat, stats_tick, token_partner,
};
use time::Duration;

struct Fixture {
    /// The fixture token, its narrowed form, and the fixture claims under a foreign key.
    tokens: [Vec<u8>; 3],
    revocation_ids: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let issued = issued_token();
        let narrowing = Narrowing {
            channels: Some(["email".to_string(), String::new()].into_iter().collect()),
            until: Some(T0 + Duration::minutes(30)),
            ..Narrowing::default()
        };
        let narrowed = tessera_core::token::attenuate(&issued.bytes, &narrowing, &fixed_rng(0x43))
            .expect("the fixture token attenuates");
        let foreign = tessera_core::token::issue(&foreign_root_key(), &claims(), &fixed_rng(0x44))
            .expect("the foreign token issues");
        Fixture {
            tokens: [issued.bytes.clone(), narrowed, foreign.bytes],
            revocation_ids: issued.revocation_ids,
        }
    })
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawUse {
    purpose: u8,
    data: u8,
    channel: u8,
    operation: u8,
    /// Seconds after T0 (the fixture expires at T0 + 1 h).
    seconds: u16,
}

impl RawUse {
    fn to_use(self) -> Use {
        make_use(
            self.purpose,
            self.data,
            self.channel,
            self.operation,
            i64::from(self.seconds),
        )
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum ByteEdit {
    Flip(u16, u8),
    Set(u16, u8),
    Insert(u16, Vec<u8>),
    Delete(u16, u8),
    Truncate(u16),
    /// Trailing bytes.
    Append(Vec<u8>),
    /// Copy `len` bytes of real token `from` starting at `src` over (or into) position `at`.
    Splice {
        from: u8,
        src: u16,
        len: u8,
        at: u16,
        overwrite: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Mutation {
    token: u8,
    edits: Vec<ByteEdit>,
    uses: Vec<RawUse>,
    /// Revoke the token's authority revocation id.
    revoke: bool,
    /// Check as the other partner (a confused deputy).
    other_partner: bool,
}

fn apply(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    let len = bytes.len();
    let at = |i: u16| if len == 0 { 0 } else { usize::from(i) % len };
    match edit {
        ByteEdit::Flip(i, m) => {
            if len > 0 {
                bytes[at(*i)] ^= m | 1;
            }
        }
        ByteEdit::Set(i, b) => {
            if len > 0 {
                bytes[at(*i)] = *b;
            }
        }
        ByteEdit::Insert(i, extra) => {
            let i = usize::from(*i) % (len + 1);
            let extra = &extra[..extra.len().min(32)];
            bytes.splice(i..i, extra.iter().copied());
        }
        ByteEdit::Delete(i, n) => {
            if len > 0 {
                let i = at(*i);
                let end = (i + usize::from(*n).max(1)).min(len);
                bytes.drain(i..end);
            }
        }
        ByteEdit::Truncate(n) => bytes.truncate(usize::from(*n) % (len + 1)),
        ByteEdit::Append(extra) => bytes.extend(extra.iter().take(16)),
        ByteEdit::Splice {
            from,
            src,
            len: n,
            at: i,
            overwrite,
        } => {
            let source = &fixture().tokens[usize::from(*from) % 3];
            let s = usize::from(*src) % source.len();
            let piece = &source[s..(s + usize::from(*n)).min(source.len())];
            let i = usize::from(*i) % (len + 1);
            if *overwrite {
                let end = (i + piece.len()).min(len);
                bytes.splice(i..end, piece.iter().copied());
            } else {
                bytes.splice(i..i, piece.iter().copied());
            }
        }
    }
}

/// What the unmodified fixture tokens must answer, from their claims alone.
fn expected(token: usize, u: &Use, revoked: bool, me_is_partner: bool) -> TokenDecision {
    let c = claims();
    if token == 2 {
        return TokenDecision::Deny(Denial::BadSignature);
    }
    if !me_is_partner {
        return TokenDecision::Deny(Denial::WrongPartner);
    }
    if revoked {
        return TokenDecision::Deny(Denial::Revoked);
    }
    if u.at.unix_timestamp() > TOKEN_EXPIRES.unix_timestamp() {
        return TokenDecision::Deny(Denial::Expired);
    }
    if token == 1 {
        // The narrowing: channel email or none, until T0 + 30 min.
        if u.at.unix_timestamp() > (T0 + Duration::minutes(30)).unix_timestamp() {
            return TokenDecision::Deny(Denial::Expired);
        }
        if !matches!(u.channel.as_ref().map(|c| c.as_str()), None | Some("email")) {
            return TokenDecision::Deny(Denial::Narrowed);
        }
    }
    let granted = c
        .grants
        .iter()
        .any(|g| g.purpose == u.purpose && g.data == u.data && g.channel == u.channel);
    if granted {
        TokenDecision::Allow {
            subject: c.subject.clone(),
            consent_version: c.consent_version,
        }
    } else {
        TokenDecision::Deny(Denial::NotGranted)
    }
}

/// Checks the bytes for each use (twice: first sight, then the cached path) and returns the
/// answers.
fn answers(
    verifier: &Verifier,
    bytes: &[u8],
    uses: &[Use],
    revoked: &RevocationSet,
) -> Vec<TokenDecision> {
    uses.iter()
        .map(|u| {
            let first = verifier.check(bytes, u, revoked);
            let again = verifier.check(bytes, u, revoked);
            assert_eq!(first, again, "the cached path answers differently");
            first
        })
        .collect()
}

fn raw(bytes: &[u8], uses: &[Use]) {
    let verifier =
        Verifier::with_capacity(tessera_fuzz::ecosystem_id(), token_partner(), key_set(), 4);
    let none = RevocationSet::new();
    let got = answers(&verifier, bytes, uses, &none);
    let unverified = UnverifiedToken::from_bytes(bytes);
    let verified = unverified.map(|t| t.verify(&key_set()));
    if let Ok(Ok(t)) = &verified {
        let _ = t.claims();
    }
    let genuine = fixture().tokens[..2].iter().position(|t| t == bytes);
    for (u, d) in uses.iter().zip(&got) {
        match genuine {
            Some(k) => assert_eq!(*d, expected(k, u, false, true), "fixture token {k}"),
            None => assert!(!d.allowed(), "arbitrary bytes were allowed: {d:?}"),
        }
    }
}

fn mutation(m: &Mutation) {
    let f = fixture();
    let token = usize::from(m.token) % 3;
    let original = &f.tokens[token];
    let mut bytes = original.clone();
    for e in m.edits.iter().take(6) {
        apply(&mut bytes, e);
    }
    let uses: Vec<Use> = m.uses.iter().take(4).map(|u| u.to_use()).collect();
    let mut revoked = RevocationSet::new();
    if m.revoke {
        revoked.insert(&f.revocation_ids[0], 1);
    }
    let me = if m.other_partner {
        other_partner()
    } else {
        token_partner()
    };
    let verifier = Verifier::with_capacity(tessera_fuzz::ecosystem_id(), me, key_set(), 4);
    let got = answers(&verifier, &bytes, &uses, &revoked);
    let unchanged = bytes == *original;
    stat(|| format!("token{token} unchanged:{unchanged}"));
    // A splice can also give exactly another fixture token.
    if let Some(k) = f.tokens.iter().position(|t| *t == bytes) {
        for (u, d) in uses.iter().zip(&got) {
            assert_eq!(
                *d,
                expected(k, u, m.revoke, !m.other_partner),
                "fixture token {k} (from token {token}) for {u:?}"
            );
        }
        return;
    }
    for d in &got {
        assert!(!d.allowed(), "modified token {token} was allowed: {d:?}");
    }
    assert!(
        UnverifiedToken::from_bytes(&bytes)
            .and_then(|t| t.verify(&key_set()))
            .is_err(),
        "modified bytes of token {token} verify"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // Two uses from the first 12 bytes, the token from the rest.
        let (head, token) = rest.split_at(rest.len().min(12));
        let mut u = Unstructured::new(head);
        let uses: Vec<Use> = (0..2)
            .map(|_| RawUse::arbitrary(&mut u).map(RawUse::to_use))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|_| vec![make_use(0, 0, 0, 0, 60)]);
        raw(token, &uses);
    } else if let Ok(m) = Mutation::arbitrary_take_rest(Unstructured::new(rest)) {
        mutation(&m);
    }
    stats_tick();
});
