//! A family trip through a customer ecosystem: an airline, an airport parking operator, a
//! car-rental firm, a hotel and a messaging enabler around one traveller.
//!
//! The traveller decides once; every partner asks the same engine; the traveller withdraws
//! one choice and sees what changed; a capability token dies with the consent behind it;
//! and the ledger and a receipt are checked at the end.
//!
//! Run it with `cargo run --example journey` (on the in-memory store), or on PostgreSQL with
//! `cargo run --example journey -- --database-url postgres://…` (or `DATABASE_URL` set;
//! `scripts/with-postgres cargo run --example journey` starts a throwaway server). On
//! PostgreSQL the journey applies the store's migrations first, explicitly.

use std::error::Error;

use ring::rand::SystemRandom;
use tessera_core::partner::DeclarationStatus;
use tessera_core::token::{Narrowing, Operation, RevocationSet, TokenDecision, Use, Verifier};
use tessera_core::{
    Actor, Catalog, Choice, ChoiceKey, Decision, Declaration, Ecosystem, EcosystemConfig,
    EcosystemId, LegalBasis, Origin, PartnerId, PseudonymSecret, ReceiptSigner, Request, Role,
    Scope, Secrets, Store,
};
use tessera_store_memory::MemoryStore;
use tessera_store_postgres::PostgresStore;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The uses the partners ask about, as a traveller would say them.
const USES: [(&str, &str, &str, Option<&str>); 5] = [
    (
        "e-mail an offer",
        "marketing.offers",
        "contact.email",
        Some("email"),
    ),
    (
        "text a coupon",
        "marketing.offers",
        "contact.phone",
        Some("sms"),
    ),
    (
        "share the itinerary",
        "service.delivery",
        "travel.itinerary",
        None,
    ),
    (
        "personalise the stay",
        "personalization",
        "travel.preferences",
        None,
    ),
    ("study app usage", "analytics.usage", "behavior", None),
];

fn declaration(
    purpose: &str,
    data: &[&str],
    channels: &[&str],
    legal_basis: LegalBasis,
) -> Declaration {
    Declaration {
        purpose: purpose.parse().expect("catalog purpose"),
        data: data
            .iter()
            .map(|d| d.parse().expect("catalog data"))
            .collect(),
        channels: channels
            .iter()
            .map(|c| c.parse().expect("catalog channel"))
            .collect(),
        legal_basis,
        notice: format!("https://trip.example/notices/{purpose}"),
        status: DeclarationStatus::Pending,
    }
}

fn key(scope: Scope, purpose: &str, data: &str, channel: &str) -> ChoiceKey {
    ChoiceKey {
        scope,
        purpose: purpose.parse().expect("pattern"),
        data: data.parse().expect("pattern"),
        channel: channel.parse().expect("pattern"),
    }
}

fn explain(d: &Decision) -> String {
    let verdict = if d.allowed() { "yes" } else { "no " };
    let why = match (&d.reason, &d.winner) {
        (_, Some(w)) => format!("{} by choice #{} ({})", d.reason.code(), w.seq, w.key),
        (tessera_core::Reason::LegalBasis(basis), None) => {
            format!("legal basis: {}", basis.as_str())
        }
        (reason, None) => reason.code().to_string(),
    };
    format!("{verdict}  {why}")
}

/// A clock for the story: each step happens a little after the previous one.
struct StoryClock(OffsetDateTime);

impl StoryClock {
    fn tick(&mut self, minutes: i64) -> OffsetDateTime {
        self.0 += Duration::minutes(minutes);
        self.0
    }
}

/// The database URL from `--database-url URL` (or `--database-url=URL`), else from
/// `DATABASE_URL`; `None` for the in-memory store.
fn database_url() -> Result<Option<String>, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--database-url" => {
                url = Some(args.next().ok_or("--database-url needs a URL")?);
            }
            other => match other.strip_prefix("--database-url=") {
                Some(value) => url = Some(value.to_string()),
                None => {
                    return Err(format!(
                        "unknown argument {other:?}; usage: journey [--database-url URL]"
                    )
                    .into());
                }
            },
        }
    }
    Ok(url.or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty())))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    match database_url()? {
        None => journey(MemoryStore::new()).await,
        Some(url) => {
            let store = PostgresStore::connect(&url).await?;
            // Never silently: the journey asks for the schema, as a deployment would.
            store.migrate().await?;
            eprintln!("(the journey runs on PostgreSQL; the schema is up to date)");
            journey(store).await
        }
    }
}

/// The whole story, on any store.
async fn journey<S: Store>(store: S) -> Result<(), Box<dyn Error>> {
    let rng = SystemRandom::new();
    let mut clock = StoryClock(datetime!(2026-06-01 09:00 UTC));
    let now = clock.tick(0);

    println!("Tessera journey — one traveller, five partners, one place to decide\n");

    // The orchestrator opens the ecosystem on the store: in memory (the embedded default) or
    // PostgreSQL.
    let secrets = Secrets {
        pseudonyms: PseudonymSecret::generate(&rng)?,
        receipts: ReceiptSigner::generate(&rng)?,
        tokens: tessera_core::token::RootKey::generate(1, &rng)?,
    };
    let config = EcosystemConfig::new(
        EcosystemId::new("eco-family-trip")?,
        Catalog::default_travel(),
    );
    let eco = Ecosystem::open(store, config, secrets, now).await?;

    // Partners join; the orchestrator enrols them, which approves their declarations.
    let consent = LegalBasis::Consent;
    let partners: Vec<(&str, Role, Vec<Declaration>)> = vec![
        (
            "SkyWay Airlines",
            Role::Realizer,
            vec![
                declaration(
                    "marketing.offers",
                    &["contact.email", "contact.phone"],
                    &["email", "sms", "push"],
                    consent,
                ),
                declaration(
                    "service.delivery",
                    &["travel.itinerary", "contact.email"],
                    &[],
                    LegalBasis::Contract,
                ),
                declaration(
                    "analytics.usage",
                    &["behavior"],
                    &[],
                    LegalBasis::LegitimateInterest,
                ),
            ],
        ),
        (
            "ParkNGo Airport Parking",
            Role::Realizer,
            vec![
                declaration(
                    "marketing.offers",
                    &["contact.email", "contact.phone"],
                    &["email", "sms"],
                    consent,
                ),
                declaration(
                    "service.delivery",
                    &["travel.itinerary", "vehicle"],
                    &[],
                    LegalBasis::Contract,
                ),
            ],
        ),
        (
            "DriveNow Car Rental",
            Role::Realizer,
            vec![
                declaration("marketing.offers", &["contact.email"], &["email"], consent),
                declaration(
                    "service.delivery",
                    &["travel.itinerary", "identity.name"],
                    &[],
                    LegalBasis::Contract,
                ),
            ],
        ),
        (
            "Harbour Hotel",
            Role::Realizer,
            vec![
                declaration(
                    "marketing.offers",
                    &["contact.email", "contact.phone"],
                    &["email", "sms"],
                    consent,
                ),
                declaration("service.delivery", &["travel.itinerary"], &[], consent),
                declaration("personalization", &["travel.preferences"], &[], consent),
            ],
        ),
        (
            "PingMe Messaging",
            Role::Enabler,
            vec![declaration(
                "marketing.offers",
                &["contact.phone"],
                &["sms"],
                consent,
            )],
        ),
    ];
    let mut ids: Vec<(String, PartnerId)> = Vec::new();
    for (name, role, declarations) in partners {
        let p = eco
            .enrol_partner(
                name,
                vec![role],
                None,
                Origin::Orchestrator,
                clock.tick(1),
                &rng,
            )
            .await?;
        for d in declarations {
            eco.declare(p.id, d, Origin::Orchestrator, clock.tick(1))
                .await?;
        }
        println!("  partner joined: {name:<24} {}", p.id);
        ids.push((name.to_string(), p.id));
    }
    let id_of = |name: &str| {
        ids.iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|(_, id)| *id)
            .expect("partner")
    };
    let (airline, parking, rental, hotel) = (
        id_of("SkyWay"),
        id_of("ParkNGo"),
        id_of("DriveNow"),
        id_of("Harbour"),
    );

    let names = |text: String| {
        ids.iter().fold(text, |t, (name, id)| {
            t.replace(&format!("partner:{id}"), name)
        })
    };

    // The traveller registers once and books a flight and a car (contracts).
    let traveller = eco.register(clock.tick(5), &rng).await?;
    println!("\nThe traveller registers once: {traveller}");
    eco.start_relationship(traveller, airline, clock.tick(1))
        .await?;
    eco.start_relationship(traveller, rental, clock.tick(1))
        .await?;
    println!("  and books a flight (SkyWay) and a car (DriveNow).");

    // One place, one set of decisions.
    let email_offers = key(Scope::Ecosystem, "marketing", "*", "email");
    let decisions = [
        (
            "every partner may e-mail me offers",
            email_offers.clone(),
            Choice::grant("trip-notice-v3"),
        ),
        (
            "nobody may text me offers…",
            key(Scope::Ecosystem, "marketing", "*", "sms"),
            Choice::refuse(),
        ),
        (
            "…except the hotel",
            key(Scope::Partner(hotel), "marketing", "*", "sms"),
            Choice::grant("trip-notice-v3"),
        ),
        (
            "the parking operator may not market to me at all",
            key(Scope::Partner(parking), "marketing", "*", "*"),
            Choice::refuse(),
        ),
        (
            "partners may share my itinerary to serve me",
            key(Scope::Ecosystem, "service", "travel.itinerary", "*"),
            Choice::grant("trip-notice-v3"),
        ),
        (
            "no analytics on how I use the apps",
            key(Scope::Ecosystem, "analytics", "*", "*"),
            Choice::refuse(),
        ),
    ];
    println!("\nThe traveller decides once, in one place:");
    let mut last_receipt = None;
    for (words, key, choice) in decisions {
        let receipt = eco
            .set_choice(
                traveller,
                key.clone(),
                choice,
                Actor::Customer,
                clock.tick(1),
            )
            .await?;
        println!(
            "  #{:<2} {words:<50} [{}]",
            receipt.receipt.seq,
            names(key.to_string())
        );
        last_receipt = Some(receipt);
    }

    // Every partner asks the same engine.
    let table = |at: OffsetDateTime, print: bool| {
        let (eco, ids, names) = (&eco, &ids, &names);
        async move {
            let mut rows = Vec::new();
            for (name, id) in ids {
                for (words, purpose, data, channel) in USES {
                    let request = Request::new(*id, purpose, data, channel)?;
                    let d = eco.check(traveller, &request, at).await?;
                    if print {
                        println!("  {name:<24} {words:<22} {}", names(explain(&d)));
                    }
                    rows.push(d.allowed());
                }
            }
            Ok::<_, Box<dyn Error>>(rows)
        }
    };
    println!("\nEvery partner asks the same engine — may the partner …? (answer, and why)");
    let before = table(clock.tick(1), true).await?;

    // The hotel gets a capability token and hands a narrowed copy to its messaging enabler.
    let token = eco
        .issue_token(
            traveller,
            hotel,
            tessera_core::facade::DEFAULT_TOKEN_TTL,
            clock.tick(1),
            &rng,
        )
        .await?;
    println!(
        "\nThe hotel gets a capability token: {} bytes, {} grants, cut from consent version {}, valid until {}.",
        token.bytes.len(),
        token.claims.grants.len(),
        token.claims.consent_version,
        token
            .claims
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)?
    );
    let sms_only = Narrowing {
        channels: Some(["sms".to_string()].into_iter().collect()),
        operations: Some([Operation::new("send")?].into_iter().collect()),
        ..Narrowing::default()
    };
    let for_pingme = tessera_core::token::attenuate(&token.bytes, &sms_only, &rng)?;
    let verifier = Verifier::new(
        EcosystemId::new("eco-family-trip")?,
        hotel,
        eco.token_keys(),
    );
    let mut revoked = RevocationSet::new();
    let text = |at| -> Result<Use, Box<dyn Error>> {
        Ok(Use {
            purpose: "marketing.offers".parse()?,
            data: "contact.phone".parse()?,
            channel: Some("sms".parse()?),
            operation: Operation::new("send")?,
            at,
        })
    };
    let mail = Use {
        channel: Some("email".parse()?),
        data: "contact.email".parse()?,
        ..text(clock.tick(0))?
    };
    println!("  It narrows a copy to \"sms, send\" for PingMe, which verifies it offline:");
    println!(
        "    text a coupon:   {}",
        show(&verifier.check(&for_pingme, &text(clock.tick(0))?, &revoked))
    );
    println!(
        "    e-mail an offer: {}",
        show(&verifier.check(&for_pingme, &mail, &revoked))
    );

    // The traveller withdraws one choice.
    let withdrawal = eco
        .clear_choice(
            traveller,
            email_offers.clone(),
            Actor::Customer,
            clock.tick(2),
        )
        .await?;
    println!(
        "\nThe traveller withdraws choice [{email_offers}] (receipt #{}, {:?}).",
        withdrawal.receipt.seq, withdrawal.receipt.event_state
    );
    println!("What changed:");
    let after = table(clock.tick(1), false).await?;
    let mut changed = 0;
    let mut i = 0;
    for (name, _) in &ids {
        for (words, ..) in USES {
            if before[i] != after[i] {
                println!(
                    "  {name:<24} {words:<22} {} → {}",
                    yes(before[i]),
                    yes(after[i])
                );
                changed += 1;
            }
            i += 1;
        }
    }
    println!("  ({changed} answers changed; all others stayed as they were)");

    // The hotel lost a grant, so its tokens were revoked; the feed tells every verifier. The
    // hotel's verifier follows the hotel's entries (a database may hold earlier journeys').
    let mut cursor = 0;
    loop {
        let page = eco.revocations_since(cursor, 100).await?;
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
        for r in page.iter().filter(|r| r.partner == hotel) {
            revoked.insert(&r.revocation_id, r.cursor);
        }
    }
    println!(
        "\nThe hotel lost a grant (e-mail), so its live tokens were revoked: {} revocation id(s) on the feed.",
        revoked.len()
    );
    println!(
        "  PingMe's narrowed copy, even for texting: {}",
        show(&verifier.check(&for_pingme, &text(clock.tick(1))?, &revoked))
    );

    // Audit: the same engine answers for the past.
    let earlier = Request::new(airline, "marketing.offers", "contact.email", Some("email"))?;
    let then = eco
        .check_at(traveller, &earlier, before_withdrawal(&withdrawal))
        .await?;
    println!(
        "\nAudit: could SkyWay e-mail an offer just before the withdrawal? {}",
        explain(&then)
    );

    // Proof: the ledger verifies, and a receipt checks with the published key alone.
    let history = eco.history(traveller).await?;
    tessera_core::verify(&history)?;
    println!(
        "\nThe traveller's ledger: {} entries, hash chain verified (head {}…).",
        history.len(),
        &history.last().map(|e| e.hash.to_hex()).unwrap_or_default()[..16]
    );
    if let Some(receipt) = last_receipt {
        let body = eco.receipt_key().verify(&receipt)?;
        println!(
            "Receipt #{} ({:?} {} / {} / {}) verified with the ecosystem's public key {}.",
            body.seq,
            body.event_state,
            body.pii_controller,
            body.purpose,
            body.channel,
            body.key_id
        );
        let mut forged = receipt.clone();
        forged.receipt.event_state = tessera_core::receipt::EventState::Given;
        println!(
            "A receipt edited to say \"given\" is refused: {}",
            eco.receipt_key().verify(&forged).is_err()
        );
    }
    Ok(())
}

fn show(d: &TokenDecision) -> String {
    match d {
        TokenDecision::Allow {
            subject,
            consent_version,
        } => {
            format!(
                "allowed (customer seen as {}…, consent version {consent_version})",
                &subject.as_str()[..10]
            )
        }
        TokenDecision::Deny(why) => format!("denied ({why:?})"),
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn before_withdrawal(receipt: &tessera_core::SignedReceipt) -> OffsetDateTime {
    receipt.receipt.consent_timestamp - Duration::seconds(1)
}
