//! The decision-vector runner.
//!
//! Every `*.json` file in `testdata/decisions/` (except the catalogs the cases name) is one
//! case of the decision rule, in the format of `testdata/decisions/FORMAT.md`. The runner maps
//! each case onto the real API ([`Catalog`], [`Directory`], [`Partner`], [`ConsentState`],
//! [`decide`]) and compares the outcome with the case's `expect`.
//!
//! When the environment variable `TESSERA_DECISION_VECTORS` names a folder, every case there
//! runs as well, in addition to the project's own. Every mismatch is reported at once, each
//! naming its case file and case `name`; a case file that does not parse (unknown fields
//! included) is a failure, never skipped.
//!
//! The mapping: each partner label gets a deterministic [`PartnerId`] derived from the label,
//! so a request label that is not among the partners gets a fresh ID the directory does not
//! know (→ `unknown_partner`). Every choice is recorded with its own seq and time, even those
//! after the request (`decide` takes the state as of the request time). Relationships, then
//! the erasure, are recorded after the last choice seq, at the request time. A request whose
//! names do not even parse maps to the matching `unknown_*` error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ring::digest;
use serde::Deserialize;
use tessera_core::partner::DeclarationStatus;
use tessera_core::{
    Catalog, Channel, Choice, ChoiceKey, ConsentState, CustomerChange, DataCategory, Declaration,
    Directory, LegalBasis, Partner, PartnerId, PartnerStatus, Pattern, PurposeId, Request, Role,
    Scope, decide,
};
use time::OffsetDateTime;
use time::macros::datetime;

/// The environment variable naming an extra folder of decision vectors.
const EXTRA_VECTORS_ENV: &str = "TESSERA_DECISION_VECTORS";

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    catalog: String,
    #[serde(default)]
    customer: Option<CustomerSpec>,
    partners: Vec<PartnerSpec>,
    #[serde(default)]
    relationships: Vec<String>,
    choices: Vec<ChoiceSpec>,
    request: RequestSpec,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerSpec {
    #[serde(default)]
    erased: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerSpec {
    id: String,
    roles: Vec<Role>,
    status: PartnerStatus,
    #[serde(default)]
    activated_at: Option<u64>,
    declarations: Vec<DeclarationSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclarationSpec {
    purpose: PurposeId,
    data: Vec<DataCategory>,
    #[serde(default)]
    channels: Vec<Channel>,
    legal_basis: LegalBasis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DecisionSpec {
    Grant,
    Refuse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoiceSpec {
    seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    #[serde(default)]
    clear: bool,
    scope: String,
    purpose: Pattern<PurposeId>,
    data: Pattern<DataCategory>,
    channel: Pattern<Channel>,
    #[serde(default)]
    decision: Option<DecisionSpec>,
    #[serde(default)]
    ecosystem_position: Option<u64>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

/// The request keeps its names as text: a name that does not parse is an outcome
/// (`unknown_*`), not a malformed case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    partner: String,
    purpose: String,
    data: String,
    channel: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    allowed: Option<bool>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    winning_seq: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

/// What a case expects or what the code produced, in the vocabulary of the format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Decision {
        allowed: bool,
        reason: String,
        winning_seq: Option<u64>,
    },
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Decision {
                allowed,
                reason,
                winning_seq,
            } => {
                write!(f, "{{allowed: {allowed}, reason: {reason}")?;
                if let Some(seq) = winning_seq {
                    write!(f, ", winning_seq: {seq}")?;
                }
                f.write_str("}")
            }
            Outcome::Error(code) => write!(f, "{{error: {code}}}"),
        }
    }
}

impl Expect {
    fn outcome(&self) -> Result<Outcome, String> {
        match self {
            Expect {
                allowed: None,
                reason: None,
                winning_seq: None,
                error: Some(code),
            } => Ok(Outcome::Error(code.clone())),
            Expect {
                allowed: Some(allowed),
                reason: Some(reason),
                winning_seq,
                error: None,
            } => Ok(Outcome::Decision {
                allowed: *allowed,
                reason: reason.clone(),
                winning_seq: *winning_seq,
            }),
            _ => Err(
                "`expect` must be either {error} alone or {allowed, reason[, winning_seq]}".into(),
            ),
        }
    }
}

/// The deterministic partner ID of a label: a fixed time and the first ten bytes of the
/// SHA-256 of the label.
fn partner_id(label: &str) -> PartnerId {
    let d = digest::digest(&digest::SHA256, label.as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&d.as_ref()[..10]);
    PartnerId::from_parts(datetime!(2026-01-01 00:00 UTC), random)
}

fn parse_scope(text: &str, labels: &BTreeMap<&str, PartnerId>) -> Result<Scope, String> {
    if text == "ecosystem" {
        return Ok(Scope::Ecosystem);
    }
    match text.split_once(':') {
        Some(("role", role)) => role
            .parse()
            .map(Scope::Role)
            .map_err(|e| format!("scope `{text}`: {e}")),
        Some(("partner", label)) => labels
            .get(label)
            .map(|id| Scope::Partner(*id))
            .ok_or_else(|| format!("scope `{text}` names a partner label the case does not list")),
        _ => Err(format!(
            "`{text}` is not a scope (`ecosystem`, `role:<role>` or `partner:<label>`)"
        )),
    }
}

/// Builds the ecosystem and the customer state of a case and runs its request.
fn run_case(dir: &Path, case: &Case) -> Result<Outcome, String> {
    let catalog_path = dir.join(&case.catalog);
    let catalog_json = std::fs::read_to_string(&catalog_path)
        .map_err(|e| format!("cannot read catalog `{}`: {e}", case.catalog))?;
    let catalog = Catalog::from_json(&catalog_json)
        .map_err(|e| format!("catalog `{}` is invalid: {e}", case.catalog))?;

    let mut labels = BTreeMap::new();
    let mut directory = Directory::new(catalog.clone());
    for spec in &case.partners {
        let id = partner_id(&spec.id);
        if labels.insert(spec.id.as_str(), id).is_some() {
            return Err(format!("partner label `{}` is listed twice", spec.id));
        }
        let mut partner = Partner::new(id, spec.id.clone(), spec.roles.clone());
        partner.status = spec.status;
        partner.activated_at = spec.activated_at;
        for d in &spec.declarations {
            let declaration = Declaration {
                purpose: d.purpose.clone(),
                data: d.data.clone(),
                channels: d.channels.clone(),
                legal_basis: d.legal_basis,
                notice: String::new(),
                status: DeclarationStatus::Approved,
            };
            declaration
                .validate(&catalog)
                .map_err(|e| format!("partner `{}`: {e}", spec.id))?;
            partner.declarations.push(declaration);
        }
        directory
            .insert(partner)
            .map_err(|e| format!("partner `{}`: {e}", spec.id))?;
    }

    let mut state = ConsentState::new();
    let mut last_seq = 0;
    for c in &case.choices {
        let scope = parse_scope(&c.scope, &labels).map_err(|e| format!("choice {}: {e}", c.seq))?;
        let key = ChoiceKey {
            scope,
            purpose: c.purpose.clone(),
            data: c.data.clone(),
            channel: c.channel.clone(),
        };
        key.validate(&catalog, &directory)
            .map_err(|e| format!("choice {}: key {key}: {e}", c.seq))?;
        if c.ecosystem_position.is_some() && !scope.is_broad() {
            return Err(format!(
                "choice {}: ecosystem_position is for broad scopes only",
                c.seq
            ));
        }
        let change = match (c.clear, c.decision) {
            (true, None) if c.ecosystem_position.is_none() && c.expires_at.is_none() => {
                CustomerChange::ChoiceCleared { key }
            }
            (false, Some(decision)) => {
                let mut choice = match decision {
                    DecisionSpec::Grant => Choice::grant("decision-vectors"),
                    DecisionSpec::Refuse => Choice::refuse(),
                };
                choice.expires_at = c.expires_at;
                choice.ecosystem_position = c.ecosystem_position;
                CustomerChange::ChoiceSet { key, choice }
            }
            _ => {
                return Err(format!(
                    "choice {}: a choice has a `decision`; a clear has `\"clear\": true` and no \
                     decision, expiry or position",
                    c.seq
                ));
            }
        };
        state
            .record(c.seq, c.at, &change)
            .map_err(|e| format!("choice {}: {e}", c.seq))?;
        last_seq = c.seq;
    }

    let t = case.request.at;
    for label in &case.relationships {
        let partner = *labels.get(label.as_str()).ok_or_else(|| {
            format!("relationship with `{label}`, a label the case does not list")
        })?;
        last_seq += 1;
        state
            .record(
                last_seq,
                t,
                &CustomerChange::RelationshipStarted { partner },
            )
            .map_err(|e| format!("relationship with `{label}`: {e}"))?;
    }
    if case.customer.as_ref().is_some_and(|c| c.erased) {
        last_seq += 1;
        state
            .record(last_seq, t, &CustomerChange::Erased)
            .map_err(|e| format!("erasure: {e}"))?;
    }

    // A label that is not among the partners keeps its own fresh ID, unknown to the directory.
    let partner = partner_id(&case.request.partner);
    let request = match Request::new(
        partner,
        &case.request.purpose,
        &case.request.data,
        case.request.channel.as_deref(),
    ) {
        Ok(request) => request,
        Err(e) => return Ok(Outcome::Error(e.code().into())),
    };
    Ok(match decide(&state, &directory, &request, t) {
        Ok(decision) => Outcome::Decision {
            allowed: decision.allowed(),
            reason: decision.reason.code().into(),
            winning_seq: decision.winning_seq(),
        },
        Err(e) => Outcome::Error(e.code().into()),
    })
}

/// What running one folder found.
#[derive(Debug, Default)]
struct Report {
    /// Case files run (including those that failed to parse).
    cases: usize,
    /// One line per failure, naming the case file and, when it parsed, the case name.
    failures: Vec<String>,
}

/// Runs every case file of `dir`: every `*.json` except `catalog.json` and any other file a
/// case names as its catalog.
fn run_folder(dir: &Path) -> Report {
    let mut report = Report::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            report
                .failures
                .push(format!("{}: cannot read the folder: {e}", dir.display()));
            return report;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();

    let mut parsed = Vec::new();
    let mut catalogs = BTreeSet::from(["catalog.json".to_owned()]);
    for path in files {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Case>(&text).map_err(|e| e.to_string()));
        if let Ok(case) = &result {
            catalogs.insert(case.catalog.clone());
        }
        parsed.push((file, result));
    }

    for (file, result) in parsed {
        if catalogs.contains(&file) {
            continue;
        }
        report.cases += 1;
        let case = match result {
            Ok(case) => case,
            Err(e) => {
                report
                    .failures
                    .push(format!("{file}: not a valid case file: {e}"));
                continue;
            }
        };
        let expected = match case.expect.outcome() {
            Ok(expected) => expected,
            Err(e) => {
                report.failures.push(format!("{file} ({}): {e}", case.name));
                continue;
            }
        };
        match run_case(dir, &case) {
            Ok(got) if got == expected => {}
            Ok(got) => report.failures.push(format!(
                "{file} ({}): expected {expected}, got {got}",
                case.name
            )),
            Err(e) => report
                .failures
                .push(format!("{file} ({}): malformed case: {e}", case.name)),
        }
    }
    report
}

fn own_vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/decisions")
}

#[test]
fn decision_vectors() {
    let mut failures = Vec::new();
    let own = run_folder(&own_vectors());
    assert!(
        own.cases > 0,
        "no case files found in testdata/decisions: {:?}",
        own.failures
    );
    let mut total = own.cases;
    failures.extend(own.failures);

    if let Some(extra) = std::env::var_os(EXTRA_VECTORS_ENV).filter(|v| !v.is_empty()) {
        let extra = PathBuf::from(extra);
        let report = run_folder(&extra);
        if report.cases == 0 && report.failures.is_empty() {
            failures.push(format!(
                "{EXTRA_VECTORS_ENV}={}: no case files there",
                extra.display()
            ));
        }
        total += report.cases;
        failures.extend(
            report
                .failures
                .into_iter()
                .map(|f| format!("[{EXTRA_VECTORS_ENV}] {f}")),
        );
    }

    assert!(
        failures.is_empty(),
        "{} of {total} decision vectors failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Every reason and every error code of the format is expected by at least one of the
/// project's own vectors.
#[test]
fn own_vectors_expect_every_code() {
    let mut seen = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(own_vectors())
        .expect("testdata/decisions is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| n != "catalog.json")
        })
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a readable case file");
        let case: Case = serde_json::from_str(&text).expect("a valid case file");
        seen.insert(match case.expect.outcome().expect("a valid expectation") {
            Outcome::Decision { reason, .. } => reason,
            Outcome::Error(code) => code,
        });
    }
    let all = [
        "granted",
        "legal_basis",
        "refused",
        "no_consent",
        "not_declared",
        "partner_inactive",
        "unknown_customer",
        "unknown_purpose",
        "unknown_data",
        "unknown_channel",
        "channel_required",
        "unexpected_channel",
        "unknown_partner",
    ];
    let missing: Vec<_> = all.iter().filter(|c| !seen.contains(**c)).collect();
    assert!(missing.is_empty(), "no vector expects {missing:?}");
}

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tessera-{tag}-{}-{n}", std::process::id()));
        // A leftover of an earlier run with the same process id would mix in its files.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The runner is not allowed to pass silently: flipped expectations, a dropped
/// `winning_seq`, a wrong error code and a malformed case file must all be reported, each
/// naming its file and case, in one run.
#[test]
fn runner_reports_every_mismatch() {
    let own = own_vectors();
    let tmp = TempDir::new("vectors");
    std::fs::copy(own.join("catalog.json"), tmp.0.join("catalog.json")).expect("copy catalog");
    let load = |file: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(own.join(file)).expect("read a case");
        serde_json::from_str(&text).expect("parse a case")
    };
    let write = |file: &str, value: &serde_json::Value| {
        let text = serde_json::to_string_pretty(value).expect("encode a case");
        std::fs::write(tmp.0.join(file), text).expect("write a case");
    };

    // Unchanged: must pass.
    write("01-ok.json", &load("01-ecosystem-grant-allows.json"));
    // Flipped decision.
    let mut flipped = load("01-ecosystem-grant-allows.json");
    flipped["name"] = "flipped allow".into();
    flipped["expect"] =
        serde_json::json!({ "allowed": false, "reason": "refused", "winning_seq": 1 });
    write("02-flipped.json", &flipped);
    // `winning_seq` absent in the expectation but present in the decision.
    let mut no_seq = load("02-partner-refusal-beats-ecosystem-grant.json");
    no_seq["name"] = "missing winning seq".into();
    no_seq["expect"] = serde_json::json!({ "allowed": false, "reason": "refused" });
    write("03-no-seq.json", &no_seq);
    // Wrong error code.
    let mut wrong_error = load("07-unknown-purpose.json");
    wrong_error["name"] = "wrong error".into();
    wrong_error["expect"] = serde_json::json!({ "error": "unknown_data" });
    write("04-wrong-error.json", &wrong_error);
    // A decision where an error is due.
    let mut not_error = load("07-unknown-purpose.json");
    not_error["name"] = "decision instead of error".into();
    not_error["expect"] = serde_json::json!({ "allowed": false, "reason": "no_consent" });
    write("05-not-error.json", &not_error);
    // Malformed: an unknown field.
    let mut malformed = load("03-default-deny.json");
    malformed["name"] = "unknown field".into();
    malformed["surprise"] = true.into();
    write("06-malformed.json", &malformed);
    // A non-JSON file is ignored.
    std::fs::write(tmp.0.join("NOTES.md"), "not a case").expect("write notes");

    let report = run_folder(&tmp.0);
    assert_eq!(report.cases, 6, "{report:?}");
    assert_eq!(report.failures.len(), 5, "{report:?}");
    let expected = [
        ("02-flipped.json", "flipped allow"),
        ("03-no-seq.json", "missing winning seq"),
        ("04-wrong-error.json", "wrong error"),
        ("05-not-error.json", "decision instead of error"),
    ];
    for ((file, name), failure) in expected.iter().zip(&report.failures) {
        assert!(
            failure.contains(file) && failure.contains(name),
            "{failure:?} should name {file} and {name}"
        );
    }
    assert!(report.failures[4].contains("06-malformed.json"));
    assert!(report.failures[4].contains("surprise"));
    assert!(!report.failures.iter().any(|f| f.contains("01-ok.json")));
}

/// A folder that does not exist is a failure, not zero passing cases.
#[test]
fn missing_folder_is_a_failure() {
    let tmp = TempDir::new("vectors-missing");
    let report = run_folder(&tmp.0.join("nowhere"));
    assert_eq!(report.cases, 0);
    assert_eq!(report.failures.len(), 1, "{report:?}");
}
