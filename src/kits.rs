//! Starter kits: the roles and policies a community is founded with (`ostrom init --kit`).
//!
//! A kit is materialised into the genesis entry (and into a recovery restart), so a log
//! never depends on this file: changing a kit here changes new communities only.

use ostrom_schemas::action::{check_name, Permissions, PolicyKind, PolicySpec, RoleSpec};
use ostrom_schemas::entry::{community_id, sign_statement};
use ostrom_schemas::statement::{Founding, MemberSpec, Statement};
use ostrom_schemas::{Signed, SigningKey, StatementBody};

use ostrom_projections::state::EVERYONE;

/// The kit `ostrom init` uses when none is named.
pub const DEFAULT_KIT: &str = "democracy";

/// Every kit, with a one-line description.
pub const KITS: &[(&str, &str)] = &[
    ("testing", "every action passes at once (for trying things out)"),
    ("dictator", "one member (the founder) decides everything"),
    ("moderators", "platform actions pass; a moderator's yes passes constitution actions"),
    ("democracy", "constitution actions pass with yes votes from more than half of the members; fail on a majority of no or after 3 days"),
    ("jury", "constitution actions go to 3 random members: 2 yes pass, otherwise fail after 2 days"),
    ("consensus", "constitution actions pass after 2 days with at least 2 yes and no objection; any no fails"),
];

/// A kit's roles and policies; `founder` receives the kit's privileged role, if any.
pub struct Kit {
    pub name: String,
    pub roles: Vec<RoleSpec>,
    pub policies: Vec<PolicySpec>,
}

fn all() -> Vec<String> {
    vec!["*".to_owned()]
}

fn everyone() -> RoleSpec {
    RoleSpec {
        name: EVERYONE.to_owned(),
        description: "Every member of the community".to_owned(),
        permissions: Permissions {
            view: all(),
            propose: all(),
            execute: Vec::new(),
        },
        members: Vec::new(),
    }
}

fn policy(name: &str, kind: PolicyKind, description: &str, source: &str) -> PolicySpec {
    PolicySpec {
        name: name.to_owned(),
        kind,
        source: source.trim_start().to_owned(),
        action_types: Vec::new(),
        priority: 0,
        description: description.to_owned(),
    }
}

const ALL_PASS: &str = r#"
fn filter(action, policy) { true }

fn check(action, policy) { PASSED }
"#;

/// Passes on a yes from a holder of `ROLE`, fails on a no from one.
const ROLE_APPROVES: &str = r#"
fn filter(action, policy) { true }

fn check(action, policy) {
    let approvers = role_members("ROLE");
    if action.proposal.yes_votes(approvers).len() > 0 { return PASSED; }
    if action.proposal.no_votes(approvers).len() > 0 { return FAILED; }
    PROPOSED
}

fn notify(action, policy) {
    notify(role_members("ROLE"), "A proposal is waiting for your approval");
}
"#;

const MAJORITY: &str = r#"
fn filter(action, policy) { true }

fn check(action, policy) {
    let half = members().len() / 2;
    if action.proposal.yes_votes().len() > half { return PASSED; }
    if action.proposal.no_votes().len() > half { return FAILED; }
    if action.proposal.elapsed() > days(3) { return FAILED; }
    PROPOSED
}

fn notify(action, policy) {
    notify(members(), "A constitution change is up for a vote: more than half of the members must vote yes within 3 days");
}
"#;

const JURY: &str = r#"
fn filter(action, policy) { true }

fn initialize(action, policy) {
    let pool = members();
    let size = if pool.len() < 3 { pool.len() } else { 3 };
    action.data.set("jury", random_sample(pool, size));
}

fn check(action, policy) {
    let jury = action.data.get("jury");
    if action.proposal.yes_votes(jury).len() >= 2 { return PASSED; }
    if action.proposal.no_votes(jury).len() >= 2 { return FAILED; }
    if action.proposal.elapsed() > days(2) { return FAILED; }
    PROPOSED
}

fn notify(action, policy) {
    notify(action.data.get("jury"), "You were drawn for a jury: two yes votes within 2 days pass this proposal");
}
"#;

const CONSENSUS: &str = r#"
fn filter(action, policy) { true }

fn check(action, policy) {
    if action.proposal.no_votes().len() > 0 { return FAILED; }
    if action.proposal.elapsed() >= days(2) {
        if action.proposal.yes_votes().len() >= 2 { return PASSED; }
        return FAILED;
    }
    PROPOSED
}

fn notify(action, policy) {
    notify(members(), "Consensus: this passes after 2 days if at least 2 agree and nobody objects");
}
"#;

/// The signed genesis statement of a community: `members` (name and public key; the first
/// is the founder) under kit `kit_name`, signed by the founding `sequencer` key.
pub fn founding_statement(
    name: &str,
    kit_name: &str,
    members: Vec<MemberSpec>,
    trustees: Vec<String>,
    threshold: u64,
    sequencer: &SigningKey,
) -> Result<Signed, String> {
    let founder = members
        .first()
        .ok_or("a community needs at least one member")?
        .name
        .clone();
    let kit = kit(kit_name, &founder)?;
    let sequencer_public = crate::keys::public(sequencer);
    let founding = Founding {
        name: name.to_owned(),
        sequencer: sequencer_public,
        kit: kit.name,
        members,
        roles: kit.roles,
        policies: kit.policies,
        documents: Vec::new(),
        trustees,
        threshold,
    };
    let statement = Statement {
        community: community_id(name, &sequencer_public),
        counter: 1,
        member: founder,
        evidence: None,
        body: StatementBody::CommunityFounded(founding),
    };
    Ok(sign_statement(statement, sequencer))
}

/// The kit named `name`, with `founder` in its privileged role.
pub fn kit(name: &str, founder: &str) -> Result<Kit, String> {
    let platform_all_pass = || {
        policy(
            "All platform actions pass",
            PolicyKind::Platform,
            "Platform actions pass at once",
            ALL_PASS,
        )
    };
    let privileged = |role: &str, description: &str, execute: Vec<String>| RoleSpec {
        name: role.to_owned(),
        description: description.to_owned(),
        permissions: Permissions {
            view: all(),
            propose: all(),
            execute,
        },
        members: vec![founder.to_owned()],
    };
    let (roles, policies) = match name {
        "testing" => (
            vec![everyone()],
            vec![
                platform_all_pass(),
                policy(
                    "All constitution actions pass",
                    PolicyKind::Constitution,
                    "Constitution actions pass at once",
                    ALL_PASS,
                ),
            ],
        ),
        "dictator" => {
            let source = ROLE_APPROVES.replace("ROLE", "dictator");
            (
                vec![
                    everyone(),
                    privileged("dictator", "Decides everything; acts without a vote", all()),
                ],
                vec![
                    policy(
                        "Dictator approves platform actions",
                        PolicyKind::Platform,
                        "The dictator's yes passes, no fails",
                        &source,
                    ),
                    policy(
                        "Dictator approves constitution actions",
                        PolicyKind::Constitution,
                        "The dictator's yes passes, no fails",
                        &source,
                    ),
                ],
            )
        }
        "moderators" => (
            vec![
                everyone(),
                privileged("moderators", "Approve constitution changes", Vec::new()),
            ],
            vec![
                platform_all_pass(),
                policy(
                    "Moderators approve constitution actions",
                    PolicyKind::Constitution,
                    "A moderator's yes passes, a no fails",
                    &ROLE_APPROVES.replace("ROLE", "moderators"),
                ),
            ],
        ),
        "democracy" => (
            vec![everyone()],
            vec![
                platform_all_pass(),
                policy(
                    "Majority vote",
                    PolicyKind::Constitution,
                    "More than half of the members vote yes within 3 days",
                    MAJORITY,
                ),
            ],
        ),
        "jury" => (
            vec![everyone()],
            vec![
                platform_all_pass(),
                policy(
                    "Random jury",
                    PolicyKind::Constitution,
                    "3 random members; 2 yes votes within 2 days",
                    JURY,
                ),
            ],
        ),
        "consensus" => (
            vec![everyone()],
            vec![
                platform_all_pass(),
                policy(
                    "Consensus",
                    PolicyKind::Constitution,
                    "No objection within 2 days and at least 2 in favour",
                    CONSENSUS,
                ),
            ],
        ),
        other => {
            let names: Vec<&str> = KITS.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "unknown kit {other:?} (one of: {})",
                names.join(", ")
            ));
        }
    };
    Ok(Kit {
        name: name.to_owned(),
        roles,
        policies,
    })
}

/// Check what founding a community needs (the CLI's `init` and the API's founding share
/// it): plain names, no member twice, trustees among the members, a threshold between 1
/// and the trustees, a known kit. Returns the threshold (a majority of trustees unless
/// given).
pub fn check_founding(
    name: &str,
    kit_name: &str,
    members: &[String],
    trustees: &[String],
    threshold: Option<u64>,
) -> Result<u64, String> {
    check_name("name", name).map_err(|error| error.to_string())?;
    let founder = members
        .first()
        .ok_or_else(|| "a community needs at least one member".to_owned())?;
    for member in members {
        check_name("member", member).map_err(|error| error.to_string())?;
    }
    let mut unique = members.to_vec();
    unique.sort();
    unique.dedup();
    if unique.len() != members.len() {
        return Err("a member is listed twice".into());
    }
    if let Some(trustee) = trustees.iter().find(|trustee| !members.contains(trustee)) {
        return Err(format!("trustee {trustee} is not a founding member"));
    }
    if trustees.len() > ostrom_schemas::limits::TRUSTEES_MAX {
        return Err(format!(
            "at most {} trustees",
            ostrom_schemas::limits::TRUSTEES_MAX
        ));
    }
    let threshold = threshold.unwrap_or(if trustees.is_empty() {
        0
    } else {
        trustees.len() as u64 / 2 + 1
    });
    if !trustees.is_empty() && (threshold < 1 || threshold > trustees.len() as u64) {
        return Err("the threshold must be between 1 and the number of trustees".into());
    }
    if trustees.is_empty() && threshold != 0 {
        return Err("a threshold needs trustees".into());
    }
    kit(kit_name, founder)?;
    Ok(threshold)
}
