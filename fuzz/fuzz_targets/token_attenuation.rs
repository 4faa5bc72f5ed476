//! `token_attenuation`: attenuation can only narrow.
//!
//! A valid token is issued (fixed keys, fixed claims with several grants), then 1–4
//! attenuation blocks are appended, each one of:
//!
//! - Tessera's own narrowing, by `token::attenuate`, with arbitrary fields (channels are
//!   free text in a `Narrowing`, so they can be anything);
//! - a datalog block from generated source text: facts (`grant`, `partner`, `subject`,
//!   `purpose`, `time`, … with arbitrary values), rules, checks (`check if`, `check all`,
//!   `reject if`) with arbitrary predicates and expressions, `trusting` scopes, and an
//!   arbitrary context — none, free text, or a forged `tessera/narrowing/1 {…}` that need not
//!   match the block's checks (inputs whose source does not parse are skipped);
//! - a *mirror* block: checks of exactly the shapes Tessera writes, over arbitrary values,
//!   with the context of an arbitrary narrowing (sometimes the matching one, which makes a
//!   known-shape token, sometimes another);
//! - a third-party block (the same generated datalog, signed by an external key).
//!
//! Then for a batch of arbitrary uses (and sometimes a revoked block id):
//!
//! 1. the attenuated token never allows a use that the unattenuated token denies;
//! 2. the answer on the cached path (a second `check` of the same bytes) equals the
//!    first-sight answer;
//! 3. the verifier's answer equals what biscuit's own authorizer says of the same token with
//!    the policy the verifier documents (SECURITY.md), so the known-shape fast path decides
//!    as the signed datalog does. Answers cut off by the run limits are not compared.
//!
//! No panic anywhere.

#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;
use std::time::{Duration as StdDuration, SystemTime};

use arbitrary::Arbitrary;
use biscuit_auth::builder::{Algorithm, Term};
use biscuit_auth::{
    AuthorizerBuilder, Biscuit, BlockBuilder, KeyPair, PrivateKey, UnverifiedBiscuit,
};
use libfuzzer_sys::fuzz_target;
use tessera_core::token::{
    Denial, Narrowing, Operation, RUN_LIMITS, RevocationSet, TokenDecision, Use, Verifier,
};
use tessera_fuzz::{
    CHANNELS, DATA, OPERATIONS, PURPOSES, T0, cap, ecosystem_id, fixed_rng, issued_token, key_set,
    make_use, root_key, stat, stats_tick, token_partner,
};
use time::Duration;

// ---------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------

struct Fixture {
    token: Vec<u8>,
    root_public: biscuit_auth::PublicKey,
    external: PrivateKey,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = root_key();
        Fixture {
            token: issued_token().bytes,
            root_public: biscuit_auth::PublicKey::from_bytes(
                &root.public_bytes(),
                Algorithm::Ed25519,
            )
            .expect("a valid public key"),
            external: PrivateKey::from_bytes(&[0x33; 32], Algorithm::Ed25519)
                .expect("a valid seed"),
        }
    })
}

fn keypair(i: u8) -> KeyPair {
    let seed = [0x50 ^ i; 32];
    KeyPair::from(&PrivateKey::from_bytes(&seed, Algorithm::Ed25519).expect("a valid seed"))
}

// ---------------------------------------------------------------------------------------
// Generated values
// ---------------------------------------------------------------------------------------

/// A string: one of the names the token and the uses talk about, or anything.
#[derive(Arbitrary, Debug, Clone)]
enum RawStr {
    Purpose(u8),
    Data(u8),
    Channel(u8),
    Operation(u8),
    Partner(bool),
    Ecosystem,
    Empty,
    Any(String),
}

impl RawStr {
    fn text(&self) -> String {
        let pick = |names: &[&str], i: u8| names[usize::from(i) % names.len()].to_string();
        match self {
            RawStr::Purpose(i) => pick(&PURPOSES, *i),
            RawStr::Data(i) => pick(&DATA, *i),
            RawStr::Channel(i) => CHANNELS[usize::from(*i) % CHANNELS.len()]
                .unwrap_or("")
                .to_string(),
            RawStr::Operation(i) => pick(&OPERATIONS, *i),
            RawStr::Partner(mine) => {
                if *mine {
                    token_partner().to_string()
                } else {
                    tessera_fuzz::other_partner().to_string()
                }
            }
            RawStr::Ecosystem => ecosystem_id().to_string(),
            RawStr::Empty => String::new(),
            RawStr::Any(s) => s.clone(),
        }
    }
}

/// A term in generated source. Strings, dates and sets go in as parameters, so that any
/// text can be a value without escaping.
#[derive(Arbitrary, Debug, Clone)]
enum RawTerm {
    Var(u8),
    Str(RawStr),
    Int(i64),
    /// Seconds after T0.
    Date(i32),
    Bool(bool),
    Set(Vec<RawStr>),
}

const VARS: [&str; 5] = ["p", "d", "c", "t", "x"];
const PREDICATES: [&str; 12] = [
    "grant",
    "partner",
    "subject",
    "purpose",
    "data",
    "channel",
    "operation",
    "time",
    "ecosystem",
    "consent_version",
    "allowed",
    "x",
];

#[derive(Arbitrary, Debug, Clone)]
struct RawPred {
    name: u8,
    terms: Vec<RawTerm>,
}

#[derive(Arbitrary, Debug, Clone)]
enum RawExpr {
    True,
    False,
    Cmp(u8, RawTerm, RawTerm),
    Contains(RawTerm, RawTerm),
    StartsWith(RawTerm, RawTerm),
    Not(Box<RawExpr>),
    And(Box<RawExpr>, Box<RawExpr>),
    Or(Box<RawExpr>, Box<RawExpr>),
    Length(RawTerm, i64),
}

#[derive(Arbitrary, Debug, Clone)]
enum RawScope {
    Authority,
    Previous,
    /// The root key, or the external key of the third-party blocks.
    Key(bool),
}

#[derive(Arbitrary, Debug, Clone)]
struct RawBody {
    preds: Vec<RawPred>,
    exprs: Vec<RawExpr>,
    scopes: Vec<RawScope>,
}

#[derive(Arbitrary, Debug, Clone)]
enum RawItem {
    Fact(RawPred),
    Rule(RawPred, RawBody),
    Check(u8, Vec<RawBody>),
}

#[derive(Arbitrary, Debug, Clone)]
enum RawContext {
    None,
    Text(String),
    /// `tessera/narrowing/1` and the JSON of a narrowing (not necessarily the block's).
    Narrowing(RawNarrowing),
    /// The prefix and any text after it.
    Forged(String),
}

#[derive(Arbitrary, Debug, Clone)]
struct RawNarrowing {
    purposes: Option<Vec<u8>>,
    data: Option<Vec<u8>>,
    channels: Option<Vec<RawStr>>,
    operations: Option<Vec<u8>>,
    /// Seconds after T0.
    until: Option<i32>,
}

impl RawNarrowing {
    fn narrowing(&self) -> Narrowing {
        fn pick<'a>(names: &[&'a str], i: &u8) -> &'a str {
            names[usize::from(*i) % names.len()]
        }
        Narrowing {
            purposes: self.purposes.as_ref().map(|v| {
                v.iter()
                    .take(4)
                    .map(|i| pick(&PURPOSES, i).parse().expect("valid"))
                    .collect()
            }),
            data: self.data.as_ref().map(|v| {
                v.iter()
                    .take(4)
                    .map(|i| pick(&DATA, i).parse().expect("valid"))
                    .collect()
            }),
            channels: self
                .channels
                .as_ref()
                .map(|v| v.iter().take(4).map(RawStr::text).collect()),
            operations: self.operations.as_ref().map(|v| {
                v.iter()
                    .take(3)
                    .map(|i| Operation::new(pick(&OPERATIONS, i)).expect("valid"))
                    .collect()
            }),
            until: self.until.map(|s| T0 + Duration::seconds(i64::from(s))),
        }
    }
}

/// The checks Tessera writes, each over any set of values.
#[derive(Arbitrary, Debug, Clone)]
struct RawMirror {
    purposes: Option<Vec<RawStr>>,
    data: Option<Vec<RawStr>>,
    channels: Option<Vec<RawStr>>,
    operations: Option<Vec<RawStr>>,
    until: Option<i32>,
}

#[derive(Arbitrary, Debug, Clone)]
enum RawBlock {
    Narrowing(RawNarrowing),
    Datalog(Vec<RawItem>, RawContext),
    Mirror(RawMirror, RawContext),
    ThirdParty(Vec<RawItem>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct RawUse {
    purpose: u8,
    data: u8,
    channel: u8,
    operation: u8,
    /// Seconds after T0 (the token expires at T0 + 1 h).
    seconds: u16,
}

#[derive(Arbitrary, Debug)]
struct Input {
    blocks: Vec<RawBlock>,
    uses: Vec<RawUse>,
    /// Revoke the revocation id of this block of the attenuated token (0: the authority).
    revoke: Option<u8>,
}

// ---------------------------------------------------------------------------------------
// Source generation
// ---------------------------------------------------------------------------------------

/// Generated source text and its parameters.
#[derive(Default)]
struct Source {
    text: String,
    params: HashMap<String, Term>,
    scope_params: HashMap<String, biscuit_auth::PublicKey>,
}

impl Source {
    fn param(&mut self, term: Term) -> String {
        let name = format!("v{}", self.params.len());
        self.params.insert(name.clone(), term);
        format!("{{{name}}}")
    }

    fn term(&mut self, t: &RawTerm) -> String {
        match t {
            RawTerm::Var(v) => format!("${}", VARS[usize::from(*v) % VARS.len()]),
            RawTerm::Str(s) => self.param(Term::Str(s.text())),
            RawTerm::Int(i) => i.to_string(),
            RawTerm::Date(s) => {
                let t = T0 + Duration::seconds(i64::from(*s));
                self.param(Term::Date(t.unix_timestamp().max(0) as u64))
            }
            RawTerm::Bool(b) => b.to_string(),
            RawTerm::Set(items) => {
                let set: BTreeSet<Term> =
                    items.iter().take(4).map(|s| Term::Str(s.text())).collect();
                self.param(Term::Set(set))
            }
        }
    }

    fn pred(&mut self, p: &RawPred) -> String {
        let name = PREDICATES[usize::from(p.name) % PREDICATES.len()];
        let terms: Vec<String> = p.terms.iter().take(3).map(|t| self.term(t)).collect();
        format!("{name}({})", terms.join(", "))
    }

    fn expr(&mut self, e: &RawExpr, depth: u8) -> String {
        if depth > 3 {
            return "true".into();
        }
        match e {
            RawExpr::True => "true".into(),
            RawExpr::False => "false".into(),
            RawExpr::Cmp(op, a, b) => {
                let op = ["==", "!=", "<", "<=", ">", ">="][usize::from(*op) % 6];
                format!("{} {op} {}", self.term(a), self.term(b))
            }
            RawExpr::Contains(a, b) => format!("{}.contains({})", self.term(a), self.term(b)),
            RawExpr::StartsWith(a, b) => {
                format!("{}.starts_with({})", self.term(a), self.term(b))
            }
            RawExpr::Not(a) => format!("!({})", self.expr(a, depth + 1)),
            RawExpr::And(a, b) => format!(
                "({}) && ({})",
                self.expr(a, depth + 1),
                self.expr(b, depth + 1)
            ),
            RawExpr::Or(a, b) => format!(
                "({}) || ({})",
                self.expr(a, depth + 1),
                self.expr(b, depth + 1)
            ),
            RawExpr::Length(a, n) => format!("{}.length() > {n}", self.term(a)),
        }
    }

    fn scope(&mut self, s: &RawScope) -> String {
        match s {
            RawScope::Authority => "authority".into(),
            RawScope::Previous => "previous".into(),
            RawScope::Key(root) => {
                let name = format!("k{}", self.scope_params.len());
                let key = if *root {
                    fixture().root_public
                } else {
                    fixture().external.public()
                };
                self.scope_params.insert(name.clone(), key);
                format!("{{{name}}}")
            }
        }
    }

    fn body(&mut self, b: &RawBody) -> String {
        let mut parts: Vec<String> = b.preds.iter().take(3).map(|p| self.pred(p)).collect();
        parts.extend(b.exprs.iter().take(2).map(|e| self.expr(e, 0)));
        if parts.is_empty() {
            parts.push("true".into());
        }
        let mut out = parts.join(", ");
        if !b.scopes.is_empty() {
            let scopes: Vec<String> = b.scopes.iter().take(2).map(|s| self.scope(s)).collect();
            out.push_str(&format!(" trusting {}", scopes.join(", ")));
        }
        out
    }

    fn item(&mut self, item: &RawItem) {
        let line = match item {
            RawItem::Fact(p) => self.pred(p),
            RawItem::Rule(head, body) => format!("{} <- {}", self.pred(head), self.body(body)),
            RawItem::Check(kind, bodies) => {
                let kind = ["check if", "check all", "reject if"][usize::from(*kind) % 3];
                let bodies: Vec<String> = if bodies.is_empty() {
                    vec!["true".into()]
                } else {
                    bodies.iter().take(2).map(|b| self.body(b)).collect()
                };
                format!("{kind} {}", bodies.join(" or "))
            }
        };
        self.text.push_str(&line);
        self.text.push_str(";\n");
    }
}

fn context(c: &RawContext) -> Option<String> {
    match c {
        RawContext::None => None,
        RawContext::Text(s) => Some(s.clone()),
        RawContext::Narrowing(n) => Some(format!(
            "tessera/narrowing/1 {}",
            serde_json::to_string(&n.narrowing()).expect("a narrowing serializes")
        )),
        RawContext::Forged(s) => Some(format!("tessera/narrowing/1 {s}")),
    }
}

fn datalog_block(items: &[RawItem]) -> Option<BlockBuilder> {
    let mut src = Source::default();
    for item in items.iter().take(5) {
        src.item(item);
    }
    BlockBuilder::new()
        .code_with_params(&src.text, src.params, src.scope_params)
        .ok()
}

/// The checks Tessera writes for a narrowing, over arbitrary values.
fn mirror_block(m: &RawMirror) -> Option<BlockBuilder> {
    let set = |v: &Vec<RawStr>| Term::Set(v.iter().take(4).map(|s| Term::Str(s.text())).collect());
    let mut block = BlockBuilder::new();
    let add = |block: BlockBuilder, code: &str, term: Term| {
        block
            .code_with_params(
                code,
                HashMap::from([("v".to_string(), term)]),
                HashMap::new(),
            )
            .ok()
    };
    if let Some(p) = &m.purposes {
        block = add(block, "check if purpose($p), {v}.contains($p);", set(p))?;
    }
    if let Some(d) = &m.data {
        block = add(block, "check if data($d), {v}.contains($d);", set(d))?;
    }
    if let Some(c) = &m.channels {
        block = add(block, "check if channel($c), {v}.contains($c);", set(c))?;
    }
    if let Some(o) = &m.operations {
        block = add(block, "check if operation($o), {v}.contains($o);", set(o))?;
    }
    if let Some(s) = m.until {
        let t = tessera_core::token::token_time(T0 + Duration::seconds(i64::from(s)));
        block = add(
            block,
            "check if time($t), $t <= {v};",
            Term::Date(t.unix_timestamp().max(0) as u64),
        )?;
    }
    Some(block)
}

/// Appends one block; `None` when the block cannot be made (empty narrowing, source that
/// does not parse, a token the library refuses to extend).
fn append(token: &[u8], block: &RawBlock, i: u8) -> Option<Vec<u8>> {
    let with_context = |b: BlockBuilder, c: &RawContext| match context(c) {
        Some(text) => b.context(text),
        None => b,
    };
    let unverified = || UnverifiedBiscuit::from(token).ok();
    match block {
        RawBlock::Narrowing(n) => {
            tessera_core::token::attenuate(token, &n.narrowing(), &fixed_rng(0x60 ^ i)).ok()
        }
        RawBlock::Datalog(items, c) => {
            let b = with_context(datalog_block(items)?, c);
            unverified()?
                .append_with_keypair(&keypair(i), b)
                .ok()?
                .to_vec()
                .ok()
        }
        RawBlock::Mirror(m, c) => {
            let b = with_context(mirror_block(m)?, c);
            unverified()?
                .append_with_keypair(&keypair(i), b)
                .ok()?
                .to_vec()
                .ok()
        }
        RawBlock::ThirdParty(items) => {
            let t = unverified()?;
            let request = t.third_party_request().ok()?;
            let signed = request
                .create_block(&fixture().external, datalog_block(items)?)
                .ok()?
                .serialize()
                .ok()?;
            t.append_third_party_with_keypair(&signed, keypair(i))
                .ok()?
                .to_vec()
                .ok()
        }
    }
}

// ---------------------------------------------------------------------------------------
// The oracle: biscuit's authorizer with the policy SECURITY.md documents
// ---------------------------------------------------------------------------------------

/// What biscuit's authorizer answers for the use (`None`: cut off by the run limits, or the
/// token does not verify).
fn datalog_allows(token: &[u8], u: &Use) -> Option<bool> {
    let biscuit = Biscuit::from(token, fixture().root_public).ok()?;
    let channel = u.channel.as_ref().map_or("", |c| c.as_str());
    let at = SystemTime::UNIX_EPOCH + StdDuration::from_secs(u.at.unix_timestamp().max(0) as u64);
    let params = HashMap::from([
        ("time".to_string(), Term::from(at)),
        ("purpose".to_string(), Term::Str(u.purpose.to_string())),
        ("data".to_string(), Term::Str(u.data.to_string())),
        ("channel".to_string(), Term::Str(channel.into())),
        (
            "operation".to_string(),
            Term::Str(u.operation.as_str().into()),
        ),
        ("me".to_string(), Term::Str(token_partner().to_string())),
        ("eco".to_string(), Term::Str(ecosystem_id().to_string())),
    ]);
    let code = "time({time}); purpose({purpose}); data({data}); channel({channel}); operation({operation});
        allow if partner({me}), ecosystem({eco}), grant($p, $d, $c), purpose($p), data($d), channel($c);
        deny if true;";
    let mut authorizer = AuthorizerBuilder::new()
        .code_with_params(code, params, HashMap::new())
        .ok()?
        .set_limits(RUN_LIMITS)
        .build(&biscuit)
        .ok()?;
    match authorizer.authorize() {
        Ok(_) => Some(true),
        Err(biscuit_auth::error::Token::RunLimit(_)) => None,
        Err(_) => Some(false),
    }
}

// ---------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------

fn run(input: &Input) {
    let f = fixture();
    let mut token = f.token.clone();
    let mut appended = 0u8;
    for (i, block) in input.blocks.iter().take(4).enumerate() {
        if let Some(next) = append(&token, block, i as u8) {
            token = next;
            appended += 1;
        }
    }
    if appended == 0 {
        return;
    }
    let base_verifier = Verifier::with_capacity(ecosystem_id(), token_partner(), key_set(), 4);
    let verifier = Verifier::with_capacity(ecosystem_id(), token_partner(), key_set(), 4);
    let Ok(verified) = verifier.verify(&token) else {
        panic!("an attenuated token of a genuine token verifies");
    };
    let known_shape = verified.is_known_shape();
    let mut revoked = RevocationSet::new();
    if let Some(b) = input.revoke {
        let ids = verified.revocation_ids();
        revoked.insert(&ids[usize::from(b) % ids.len()], 1);
    }
    let revoked_any = !revoked.is_empty();
    for raw in cap(input.uses.clone(), 6) {
        let u = make_use(
            raw.purpose,
            raw.data,
            raw.channel,
            raw.operation,
            i64::from(raw.seconds % 7200),
        );
        let base = base_verifier.check(&f.token, &u, &revoked);
        stat(|| format!("known_shape:{known_shape} blocks:{appended}"));
        let first = verifier.check(&token, &u, &revoked);
        stat(|| match &first {
            TokenDecision::Allow { .. } => "allow".to_string(),
            TokenDecision::Deny(d) => format!("deny:{d:?}"),
        });
        let again = verifier.check(&token, &u, &revoked);
        assert_eq!(
            first, again,
            "the cached path answers differently for {u:?}"
        );

        // 1. Attenuation only narrows.
        if let TokenDecision::Allow { .. } = &first {
            assert_eq!(
                first, base,
                "the attenuated token allows {u:?} but the unattenuated one answers {base:?}"
            );
        }

        // 3. The verifier decides as biscuit's authorizer does.
        if first == TokenDecision::Deny(Denial::LimitExceeded) {
            continue;
        }
        let Some(datalog) = datalog_allows(&token, &u) else {
            continue;
        };
        let datalog = datalog && !revoked_any_of(&revoked, verified.revocation_ids());
        assert_eq!(
            first.allowed(),
            datalog,
            "verifier says {first:?}, biscuit's authorizer says allowed={datalog} for {u:?} \
             (known shape: {known_shape}, revoked: {revoked_any})"
        );
    }
}

fn revoked_any_of(revoked: &RevocationSet, ids: &[String]) -> bool {
    revoked.any_revoked(ids)
}

fuzz_target!(|input: Input| {
    run(&input);
    stats_tick();
});
