//! Procedures (src/procedures.rs): every template generates with its defaults and with
//! explicit parameters, bad parameters are refused by name, and every generated source is
//! Rhai that compiles with only function definitions at the top level.
//!
//! The decision rules themselves run here against `sim`, a small stand-in for the policy
//! API of spec/policy-api.md (members and roles, votes and time, data stores, notify,
//! execute), so each rule is checked on given votes and times without the engine. The
//! stand-in is deliberately literal about the spec; where the engine's own runtime differs,
//! the engine's scenario tests are the authority.

use std::collections::{BTreeMap, BTreeSet};

use ostrom::procedures::{generate, PROCEDURES};

use sim::{Community, Executed, Sim, Value, DAY, HOUR};

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn source(procedure: &str, pairs: &[(&str, &str)]) -> String {
    generate(procedure, &params(pairs))
        .unwrap_or_else(|error| panic!("{procedure} {pairs:?}: {error}"))
}

/// The parameters each procedure needs when every default is taken.
fn required(procedure: &str) -> &'static [(&'static str, &'static str)] {
    match procedure {
        "board" => &[("role", "council")],
        _ => &[],
    }
}

/// A value for every parameter, different from its default.
fn explicit(procedure: &str) -> Vec<(&'static str, &'static str)> {
    match procedure {
        "majority" => vec![("role", "council"), ("quorum", "3"), ("deadline", "1d12h")],
        "supermajority" => vec![
            ("threshold_percent", "75"),
            ("role", "council"),
            ("quorum", "4"),
            ("deadline", "90m"),
        ],
        "board" => vec![
            ("role", "board of trustees"),
            ("required", "2"),
            ("deadline", "12h"),
        ],
        "benevolent_dictator" => vec![("role", "BDFL")],
        "random_jury" => vec![
            ("size", "5"),
            ("required", "3"),
            ("deadline", "3d"),
            ("role", "jurors"),
        ],
        "consensus" => vec![
            ("min_yes", "3"),
            ("objection_window", "36h"),
            ("role", "council"),
        ],
        "ranked_choice" => vec![("deadline", "5d"), ("quorum", "10")],
        "approval" => vec![("deadline", "4d"), ("quorum", "2")],
        "quadratic" => vec![
            ("budget", "25"),
            ("deadline", "2d"),
            ("quorum", "3"),
            ("role", "citizens"),
        ],
        "liquid_delegation" => vec![("deadline", "7d"), ("depth", "3")],
        other => panic!("no explicit parameters written for {other}"),
    }
}

fn every_generated_source() -> Vec<(String, String)> {
    let mut sources = Vec::new();
    for procedure in PROCEDURES {
        let name = procedure.name;
        sources.push((format!("{name} (defaults)"), source(name, required(name))));
        sources.push((format!("{name} (explicit)"), source(name, &explicit(name))));
    }
    sources
}

#[test]
fn every_procedure_is_listed_with_documented_parameters() {
    let names: Vec<&str> = PROCEDURES.iter().map(|procedure| procedure.name).collect();
    assert_eq!(
        names,
        [
            "majority",
            "supermajority",
            "board",
            "benevolent_dictator",
            "random_jury",
            "consensus",
            "ranked_choice",
            "approval",
            "quadratic",
            "liquid_delegation"
        ]
    );
    for procedure in PROCEDURES {
        assert!(!procedure.summary.is_empty(), "{}", procedure.name);
        let mut seen = BTreeSet::new();
        for param in procedure.params {
            assert!(!param.doc.is_empty(), "{}.{}", procedure.name, param.name);
            assert!(
                seen.insert(param.name),
                "{} lists {} twice",
                procedure.name,
                param.name
            );
        }
    }
}

#[test]
fn every_procedure_generates_with_defaults_and_with_explicit_parameters() {
    for procedure in PROCEDURES {
        let name = procedure.name;
        let defaults = source(name, required(name));
        let given = explicit(name);
        let chosen = source(name, &given);
        assert_ne!(
            defaults, chosen,
            "{name}: explicit parameters changed nothing"
        );
        // Every explicit value shows in the header comment, so the source says how it was made.
        for (key, value) in &given {
            assert!(
                chosen.contains(&format!("{key} = {value}")),
                "{name}: header lacks {key} = {value}:\n{chosen}"
            );
        }
        // Every parameter was given, so every default was overridden.
        assert_eq!(given.len(), procedure.params.len(), "{name}");
    }
}

#[test]
fn generated_sources_define_filter_and_check_and_inline_parameters() {
    for (label, source) in every_generated_source() {
        assert!(source.contains("fn filter(action, policy)"), "{label}");
        assert!(source.contains("fn check(action, policy)"), "{label}");
        assert!(
            !source.contains('$'),
            "{label}: a placeholder was left:\n{source}"
        );
        assert!(
            source.starts_with("// Generated by the ostrom procedure"),
            "{label}"
        );
    }
    let majority = source("majority", &explicit("majority"));
    assert!(majority.contains("role_members(\"council\")"), "{majority}");
    assert!(majority.contains("yes + no >= 3"), "{majority}");
    assert!(
        majority.contains("elapsed() >= days(1) + hours(12)"),
        "{majority}"
    );
    let defaults = source("majority", &[]);
    assert!(defaults.contains("let voters = members();"), "{defaults}");
    assert!(defaults.contains("elapsed() >= days(3)"), "{defaults}");
    let jury = source("random_jury", &[]);
    assert!(jury.contains("random_sample(pool, size)"), "{jury}");
    assert!(jury.contains("action.data.set(\"jury\""), "{jury}");
}

/// Compiled with a bare Rhai engine of the same build as the runtime's: syntax only (no
/// API is registered), and running the AST must execute nothing, which is how a top-level
/// statement shows (function definitions cost no operations).
///
/// The expression depths are the strictest Rhai ships (its debug-build defaults, 16 inside
/// functions). Rhai counts every operator and call level, so a generated source that nests
/// freely can fail under a runtime's limits; the templates split deep loops into helper
/// functions to stay under these.
#[test]
fn generated_sources_compile_with_only_function_definitions_at_top_level() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let operations = Arc::new(AtomicU64::new(0));
    let mut engine = rhai::Engine::new_raw();
    engine.set_max_expr_depths(32, 16);
    let counter = operations.clone();
    engine.on_progress(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
        None
    });
    for (label, source) in every_generated_source() {
        let ast = engine
            .compile(&source)
            .unwrap_or_else(|error| panic!("{label} does not compile: {error}\n{source}"));
        let functions: BTreeSet<String> = ast
            .iter_functions()
            .filter(|function| function.params == ["action", "policy"])
            .map(|function| function.name.to_owned())
            .collect();
        assert!(
            functions.contains("filter") && functions.contains("check"),
            "{label}"
        );
        operations.store(0, Ordering::Relaxed);
        engine.run_ast(&ast).expect("running definitions only");
        assert_eq!(
            operations.load(Ordering::Relaxed),
            0,
            "{label} has top-level statements"
        );
    }
}

/// Through the policy runtime itself: the checks every proposed policy goes through
/// (syntax under the runtime's limits, no top-level statement, `filter` and `check` with
/// the lifecycle signature).
#[test]
fn generated_sources_compile_in_the_policy_runtime() {
    let runtime = ostrom::policy::Runtime::new();
    for (label, source) in every_generated_source() {
        if let Err(error) = runtime.compile(&source) {
            panic!("{label} is refused by the runtime: {error}\n{source}");
        }
    }
}

#[test]
fn bad_parameters_are_refused_naming_the_parameter() {
    // (procedure, parameters, the parameter the refusal must name)
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );
    let cases: &[Case] = &[
        ("majority", &[("quorum", "many")], "quorum"),
        ("majority", &[("quorum", "-1")], "quorum"),
        ("majority", &[("quorum", "1e3")], "quorum"),
        ("majority", &[("deadline", "3 days")], "deadline"),
        ("majority", &[("deadline", "0m")], "deadline"),
        ("majority", &[("deadline", "400d")], "deadline"),
        ("majority", &[("deadline", "2h1d")], "deadline"),
        ("majority", &[("role", "")], "role"),
        ("majority", &[("role", " council")], "role"),
        ("majority", &[("role", "council\"); members(\"")], "role"),
        ("majority", &[("role", "a\\b")], "role"),
        ("majority", &[("role", "two\nlines")], "role"),
        ("majority", &[("role", "a,b")], "role"),
        (
            "supermajority",
            &[("threshold_percent", "49")],
            "threshold_percent",
        ),
        (
            "supermajority",
            &[("threshold_percent", "101")],
            "threshold_percent",
        ),
        ("supermajority", &[("quorum", "0")], "quorum"),
        ("board", &[], "role"),
        (
            "board",
            &[("role", "council"), ("required", "0")],
            "required",
        ),
        (
            "board",
            &[("role", "council"), ("required", "most")],
            "required",
        ),
        ("random_jury", &[("size", "0")], "size"),
        ("random_jury", &[("size", "1000")], "size"),
        (
            "random_jury",
            &[("size", "3"), ("required", "4")],
            "required",
        ),
        (
            "consensus",
            &[("objection_window", "forever")],
            "objection_window",
        ),
        ("consensus", &[("min_yes", "two")], "min_yes"),
        ("ranked_choice", &[("quorum", "0")], "quorum"),
        ("approval", &[("deadline", "")], "deadline"),
        ("quadratic", &[("budget", "0")], "budget"),
        ("quadratic", &[("budget", "99999999")], "budget"),
        ("liquid_delegation", &[("depth", "0")], "depth"),
        ("liquid_delegation", &[("depth", "33")], "depth"),
        (
            "majority",
            &[("threshold_percent", "60")],
            "threshold_percent",
        ),
        ("benevolent_dictator", &[("deadline", "1d")], "deadline"),
    ];
    for (procedure, pairs, param) in cases {
        let error = generate(procedure, &params(pairs))
            .expect_err(&format!("{procedure} {pairs:?} should be refused"));
        assert!(
            error.contains(param) && error.contains(procedure),
            "{procedure} {pairs:?}: {error:?} should name {procedure} and {param}"
        );
    }
    let error = generate("sortition", &params(&[])).expect_err("unknown procedure");
    assert!(
        error.contains("sortition") && error.contains("majority"),
        "{error}"
    );
    let error = generate("majority", &params(&[("quorom", "3")])).expect_err("a typo");
    assert!(
        error.contains("quorom") && error.contains("quorum"),
        "{error}"
    );
}

#[test]
fn everyone_means_all_members_and_other_roles_are_quoted() {
    let everyone = source("consensus", &[("role", "everyone")]);
    assert!(everyone.contains("let voters = members();"), "{everyone}");
    let named = source("consensus", &[("role", "Core team (2024)")]);
    assert!(
        named.contains("role_members(\"Core team (2024)\")"),
        "{named}"
    );
}

// ---------------------------------------------------------------------------------------
// Decision rules, run against the stand-in API.

fn yes() -> Value {
    Value::Yes
}

fn no() -> Value {
    Value::No
}

fn choice(text: &str) -> Value {
    Value::Choice(text.to_owned())
}

fn five() -> Community {
    Community::new(&[
        ("alice", &["council"]),
        ("bob", &["council"]),
        ("carol", &["council"]),
        ("dave", &[]),
        ("erin", &[]),
    ])
}

#[test]
fn majority_passes_on_more_than_half_and_fails_on_a_majority_of_no_or_the_deadline() {
    let policy = source("majority", &[]);
    let mut passing = Sim::propose(&policy, &five(), "add_document", 0);
    assert_eq!(passing.notified(), five().names());
    passing.vote(HOUR, "alice", yes());
    passing.vote(HOUR, "bob", yes());
    assert_eq!(passing.status(), "proposed", "2 of 5 is not more than half");
    passing.vote(HOUR, "carol", yes());
    assert_eq!(passing.status(), "passed");
    assert_eq!(passing.executed(), Some(Executed::Action));

    let mut failing = Sim::propose(&policy, &five(), "add_document", 0);
    for member in ["alice", "dave", "erin"] {
        failing.vote(HOUR, member, no());
    }
    assert_eq!(failing.status(), "failed");
    assert_eq!(failing.executed(), None);

    let mut expiring = Sim::propose(&policy, &five(), "add_document", 0);
    expiring.vote(HOUR, "alice", yes());
    expiring.advance(3 * DAY - 1);
    assert_eq!(expiring.status(), "proposed");
    expiring.advance(3 * DAY);
    assert_eq!(expiring.status(), "failed");

    assert!(
        !Sim::filters(&policy, "election"),
        "a yes/no rule does not govern elections"
    );
}

#[test]
fn majority_counts_only_the_role_and_waits_for_the_quorum() {
    let policy = source("majority", &[("role", "council"), ("quorum", "3")]);
    let mut sim = Sim::propose(&policy, &five(), "add_document", 0);
    assert_eq!(sim.notified(), set(&["alice", "bob", "carol"]));
    sim.vote(HOUR, "dave", yes());
    sim.vote(HOUR, "erin", yes());
    sim.vote(HOUR, "alice", yes());
    sim.vote(HOUR, "bob", yes());
    assert_eq!(
        sim.status(),
        "proposed",
        "2 of 3 council members, but only 2 votes cast"
    );
    sim.vote(HOUR, "carol", no());
    assert_eq!(sim.status(), "passed");
}

#[test]
fn supermajority_decides_on_the_share_of_votes_cast() {
    let policy = source("supermajority", &[("quorum", "2")]);
    let mut turnout = Sim::propose(&policy, &five(), "add_document", 0);
    turnout.vote(HOUR, "alice", yes());
    turnout.vote(HOUR, "bob", yes());
    turnout.vote(HOUR, "carol", no());
    assert_eq!(
        turnout.status(),
        "proposed",
        "4 yes of 5 still possible, 2 of 5 not yet 67%"
    );
    turnout.advance(3 * DAY);
    assert_eq!(
        turnout.status(),
        "failed",
        "2 of 3 votes cast is 66%, under 67%"
    );

    let policy = source(
        "supermajority",
        &[("threshold_percent", "66"), ("quorum", "2")],
    );
    let mut lower = Sim::propose(&policy, &five(), "add_document", 0);
    lower.vote(HOUR, "alice", yes());
    lower.vote(HOUR, "bob", yes());
    lower.vote(HOUR, "carol", no());
    lower.advance(3 * DAY);
    assert_eq!(lower.status(), "passed", "2 of 3 votes cast is 66.7%");

    let mut early = Sim::propose(&policy, &five(), "add_document", 0);
    for member in ["alice", "bob", "carol", "dave"] {
        early.vote(HOUR, member, yes());
    }
    assert_eq!(
        early.status(),
        "passed",
        "4 of 5 is 80% even if the last votes no"
    );

    let mut blocked = Sim::propose(&policy, &five(), "add_document", 0);
    blocked.vote(HOUR, "alice", no());
    blocked.vote(HOUR, "bob", no());
    assert_eq!(blocked.status(), "failed", "at most 3 yes of 5 is 60%");

    let mut quorum = Sim::propose(&policy, &five(), "add_document", 0);
    quorum.vote(HOUR, "alice", yes());
    quorum.advance(3 * DAY);
    assert_eq!(
        quorum.status(),
        "failed",
        "one vote is under the quorum of 2"
    );
}

#[test]
fn board_needs_its_required_yes_votes_and_fails_once_out_of_reach() {
    let policy = source("board", &[("role", "council")]);
    let mut sim = Sim::propose(&policy, &five(), "grant_role", 0);
    sim.vote(HOUR, "dave", yes());
    sim.vote(HOUR, "alice", yes());
    assert_eq!(sim.status(), "proposed", "dave is not on the board");
    sim.vote(HOUR, "bob", yes());
    assert_eq!(sim.status(), "passed");

    let mut sim = Sim::propose(&policy, &five(), "grant_role", 0);
    sim.vote(HOUR, "alice", no());
    assert_eq!(sim.status(), "proposed");
    sim.vote(HOUR, "bob", no());
    assert_eq!(sim.status(), "failed", "only carol is left: 1 < 2");

    let unanimous = source("board", &[("role", "council"), ("required", "3")]);
    let mut sim = Sim::propose(&unanimous, &five(), "grant_role", 0);
    sim.vote(HOUR, "carol", no());
    assert_eq!(sim.status(), "failed");

    let empty = source("board", &[("role", "nobody")]);
    let sim = Sim::propose(&empty, &five(), "grant_role", 0);
    assert_eq!(
        sim.status(),
        "failed",
        "an empty board fails closed at once"
    );
}

#[test]
fn benevolent_dictator_decides_alone() {
    let community = Community::new(&[("alice", &["dictator"]), ("bob", &[]), ("carol", &[])]);
    let policy = source("benevolent_dictator", &[]);
    let mut sim = Sim::propose(&policy, &community, "slack.pin_message", 0);
    assert_eq!(sim.notified(), set(&["alice"]));
    sim.vote(HOUR, "bob", yes());
    sim.vote(HOUR, "carol", yes());
    assert_eq!(sim.status(), "proposed");
    sim.vote(HOUR, "alice", yes());
    assert_eq!(sim.status(), "passed");

    let mut sim = Sim::propose(&policy, &community, "slack.pin_message", 0);
    sim.vote(HOUR, "alice", no());
    assert_eq!(sim.status(), "failed");
}

#[test]
fn random_jury_is_drawn_stored_notified_and_decides() {
    let community = Community::new(&[
        ("alice", &[]),
        ("bob", &[]),
        ("carol", &[]),
        ("dave", &[]),
        ("erin", &[]),
        ("frank", &[]),
    ]);
    let policy = source("random_jury", &[]);
    let mut sim = Sim::propose(&policy, &community, "slack.rename_conversation", 0);
    let jury = sim.names("jury");
    assert_eq!(jury.len(), 3);
    assert_eq!(sim.notified(), jury.iter().cloned().collect());
    let outsiders: Vec<String> = community
        .names()
        .into_iter()
        .filter(|name| !jury.contains(name))
        .collect();
    for outsider in &outsiders {
        sim.vote(HOUR, outsider, yes());
    }
    assert_eq!(sim.status(), "proposed", "only jurors count");
    sim.vote(HOUR, &jury[0], yes());
    sim.vote(HOUR, &jury[1], yes());
    assert_eq!(sim.status(), "passed");

    let mut sim = Sim::propose(&policy, &community, "slack.rename_conversation", 0);
    let jury = sim.names("jury");
    sim.vote(HOUR, &jury[0], no());
    sim.vote(HOUR, &jury[1], no());
    assert_eq!(sim.status(), "failed");

    let mut sim = Sim::propose(&policy, &community, "slack.rename_conversation", 0);
    let jury = sim.names("jury");
    sim.vote(HOUR, &jury[0], yes());
    sim.advance(2 * DAY);
    assert_eq!(sim.status(), "failed");

    let small = Community::new(&[("alice", &[]), ("bob", &[])]);
    let sim = Sim::propose(&policy, &small, "slack.rename_conversation", 0);
    assert_eq!(
        sim.names("jury").len(),
        2,
        "a jury is never larger than its pool"
    );
}

#[test]
fn consensus_passes_after_the_window_without_objection() {
    let policy = source("consensus", &[]);
    let mut sim = Sim::propose(&policy, &five(), "add_document", 0);
    sim.vote(HOUR, "alice", yes());
    sim.vote(HOUR, "bob", yes());
    sim.advance(2 * DAY - 1);
    assert_eq!(sim.status(), "proposed");
    sim.advance(2 * DAY);
    assert_eq!(sim.status(), "passed");

    let mut sim = Sim::propose(&policy, &five(), "add_document", 0);
    sim.vote(HOUR, "alice", yes());
    sim.vote(HOUR, "bob", yes());
    sim.vote(DAY, "erin", no());
    assert_eq!(sim.status(), "failed", "one objection blocks");

    let mut sim = Sim::propose(&policy, &five(), "add_document", 0);
    sim.vote(HOUR, "alice", yes());
    sim.advance(2 * DAY);
    assert_eq!(sim.status(), "failed", "one yes is under min_yes = 2");
}

/// A plurality count would pick option 0; the runoff moves option 2's ballots to option 1.
#[test]
fn ranked_choice_runs_an_instant_runoff_at_the_deadline() {
    let community = Community::numbered(9);
    let policy = source("ranked_choice", &[]);
    let mut sim = Sim::propose(&policy, &community, "election", 3);
    let ballots: [&[i64]; 9] = [
        &[0, 1],
        &[0],
        &[0, 2],
        &[0],
        &[1, 2],
        &[1],
        &[1, 0],
        &[2, 1],
        &[2, 1, 0],
    ];
    for (index, ballot) in ballots.iter().enumerate() {
        sim.vote(HOUR, &format!("m{index}"), Value::Ranking(ballot.to_vec()));
    }
    sim.advance(3 * DAY - 1);
    assert_eq!(sim.status(), "proposed");
    sim.advance(3 * DAY);
    assert_eq!(sim.status(), "passed");
    assert_eq!(sim.executed(), Some(Executed::Option(1)));

    // Ties go to the lowest index.
    let mut tie = Sim::propose(&policy, &community, "election", 3);
    tie.vote(HOUR, "m0", Value::Ranking(vec![2]));
    tie.vote(HOUR, "m1", Value::Ranking(vec![1]));
    tie.advance(3 * DAY);
    assert_eq!(tie.executed(), Some(Executed::Option(1)));

    let mut empty = Sim::propose(&policy, &community, "election", 3);
    empty.advance(3 * DAY);
    assert_eq!(empty.status(), "failed", "no ballots, no winner");

    assert!(!Sim::filters(&policy, "add_document"), "only elections");
}

#[test]
fn approval_counts_every_approved_option() {
    let community = Community::numbered(5);
    let policy = source("approval", &[]);
    let mut sim = Sim::propose(&policy, &community, "election", 3);
    sim.vote(HOUR, "m0", Value::Option(0));
    sim.vote(HOUR, "m1", Value::Option(0));
    sim.vote(HOUR, "m2", Value::Ranking(vec![1, 2]));
    sim.vote(HOUR, "m3", Value::Ranking(vec![2, 1]));
    sim.vote(HOUR, "m4", Value::Ranking(vec![2]));
    sim.advance(3 * DAY);
    assert_eq!(sim.status(), "passed");
    assert_eq!(
        sim.executed(),
        Some(Executed::Option(2)),
        "approvals 2, 2, 3"
    );

    let mut tie = Sim::propose(&policy, &community, "election", 3);
    tie.vote(HOUR, "m0", Value::Option(2));
    tie.vote(HOUR, "m1", Value::Ranking(vec![1, 2]));
    tie.vote(HOUR, "m2", Value::Option(1));
    tie.advance(3 * DAY);
    assert_eq!(
        tie.executed(),
        Some(Executed::Option(1)),
        "2 each: the lowest index"
    );
}

#[test]
fn quadratic_votes_cost_their_square_from_a_budget_kept_across_proposals() {
    let community = Community::new(&[("alice", &[]), ("bob", &[]), ("carol", &[])]);
    let policy = source("quadratic", &[("budget", "9")]);
    let mut first = Sim::propose(&policy, &community, "add_document", 0);
    first.vote(HOUR, "alice", choice("yes:3"));
    first.vote(HOUR, "bob", choice("no:2"));
    first.vote(HOUR, "carol", no());
    first.advance(3 * DAY);
    assert_eq!(
        first.status(),
        "failed",
        "3 votes for, 2 + 1 against: a tie fails"
    );

    // Alice spent all 9 credits; bob spent 4 and can afford 2 more votes (4 credits).
    let mut second = Sim::propose_with(&policy, &community, "add_document", 0, first.policy_data());
    second.vote(HOUR, "alice", choice("no:1"));
    second.vote(HOUR, "bob", choice("yes:2"));
    second.vote(HOUR, "carol", choice("no:x"));
    second.advance(3 * DAY);
    assert_eq!(
        second.status(),
        "passed",
        "alice and carol's votes are not counted"
    );
    assert_eq!(second.data("yes_votes").as_int().unwrap(), 2);
    assert_eq!(second.data("no_votes").as_int().unwrap(), 0);

    let mut third = Sim::propose_with(&policy, &community, "add_document", 0, second.policy_data());
    third.vote(HOUR, "bob", choice("yes:2"));
    third.vote(HOUR, "carol", no());
    third.advance(3 * DAY);
    assert_eq!(
        third.status(),
        "failed",
        "bob has 1 credit left, not 4; carol's no counts"
    );
}

#[test]
fn liquid_delegation_follows_chains_and_ignores_cycles() {
    let policy = source("liquid_delegation", &[]);
    let mut sim = Sim::propose(&policy, &five(), "add_document", 0);
    sim.vote(HOUR, "alice", yes());
    sim.vote(HOUR, "bob", choice("delegate:alice"));
    assert_eq!(sim.status(), "proposed", "2 of 5");
    sim.vote(HOUR, "dave", choice("delegate:erin"));
    sim.vote(HOUR, "erin", choice("delegate:dave"));
    assert_eq!(sim.status(), "proposed", "a cycle counts for nobody");
    sim.vote(HOUR, "carol", choice("delegate:bob"));
    assert_eq!(sim.status(), "passed", "carol -> bob -> alice: 3 of 5");

    let shallow = source("liquid_delegation", &[("depth", "1")]);
    let mut sim = Sim::propose(&shallow, &five(), "add_document", 0);
    sim.vote(HOUR, "alice", yes());
    sim.vote(HOUR, "bob", choice("delegate:alice"));
    sim.vote(HOUR, "carol", choice("delegate:bob"));
    assert_eq!(sim.status(), "proposed", "carol's chain is 2 long");
    assert_eq!(sim.data("yes_votes").as_int().unwrap(), 2);

    let mut sim = Sim::propose(&policy, &five(), "add_document", 0);
    sim.vote(HOUR, "alice", no());
    sim.vote(HOUR, "bob", choice("delegate:alice"));
    sim.vote(HOUR, "carol", choice("delegate:alice"));
    assert_eq!(sim.status(), "failed");

    let mut sim = Sim::propose(&policy, &five(), "add_document", 0);
    sim.vote(HOUR, "bob", choice("delegate:alice"));
    sim.vote(HOUR, "bob", yes());
    sim.advance(3 * DAY);
    assert_eq!(
        sim.status(),
        "failed",
        "a member's own latest vote replaces the delegation"
    );
    assert_eq!(sim.data("yes_votes").as_int().unwrap(), 1);
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// A stand-in for the policy API, enough to run one policy over one proposal.
mod sim {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex, MutexGuard};

    use rhai::{Array, CallFnOptions, Dynamic, Engine, ImmutableString, Map, Scope, AST};

    pub const HOUR: i64 = 3_600_000;
    pub const DAY: i64 = 24 * HOUR;

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Value {
        Yes,
        No,
        Option(i64),
        Choice(String),
        Ranking(Vec<i64>),
    }

    impl Value {
        fn script(&self) -> Dynamic {
            match self {
                Value::Yes => "yes".into(),
                Value::No => "no".into(),
                Value::Option(index) => (*index).into(),
                Value::Choice(text) => text.clone().into(),
                Value::Ranking(ranking) => {
                    let items: Array = ranking.iter().map(|index| (*index).into()).collect();
                    items.into()
                }
            }
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Executed {
        Action,
        Option(i64),
    }

    pub struct Community {
        members: Vec<(String, Vec<String>)>,
    }

    impl Community {
        pub fn new(members: &[(&str, &[&str])]) -> Community {
            let members = members
                .iter()
                .map(|(name, roles)| {
                    let roles = roles.iter().map(|role| (*role).to_owned()).collect();
                    ((*name).to_owned(), roles)
                })
                .collect();
            Community { members }
        }

        /// Members m0, m1, ...
        pub fn numbered(count: usize) -> Community {
            let members = (0..count)
                .map(|index| (format!("m{index}"), Vec::new()))
                .collect();
            Community { members }
        }

        pub fn names(&self) -> BTreeSet<String> {
            self.members.iter().map(|(name, _)| name.clone()).collect()
        }
    }

    struct State {
        members: Vec<(String, Vec<String>)>,
        action_type: String,
        option_count: i64,
        now_ms: i64,
        proposed_at_ms: i64,
        /// Every vote in order; the current vote of a member is its latest.
        votes: Vec<(String, Value, i64)>,
        action_data: Map,
        policy_data: Map,
        notified: BTreeSet<String>,
        executed: Option<Executed>,
        draws: u64,
    }

    impl State {
        fn shared(
            members: Vec<(String, Vec<String>)>,
            action_type: &str,
            option_count: i64,
            policy_data: Map,
        ) -> Shared {
            Arc::new(Mutex::new(State {
                members,
                action_type: action_type.to_owned(),
                option_count,
                now_ms: 0,
                proposed_at_ms: 0,
                votes: Vec::new(),
                action_data: Map::new(),
                policy_data,
                notified: BTreeSet::new(),
                executed: None,
                draws: 0,
            }))
        }

        fn member(&self, name: &str) -> Member {
            let roles = self
                .members
                .iter()
                .find(|(member, _)| member == name)
                .map(|(_, roles)| roles.clone())
                .unwrap_or_default();
            Member {
                name: name.into(),
                roles,
            }
        }

        fn current_votes(&self) -> Vec<(String, Value, i64)> {
            let mut current: Vec<(String, Value, i64)> = Vec::new();
            for (member, value, at) in &self.votes {
                current.retain(|(earlier, ..)| earlier != member);
                current.push((member.clone(), value.clone(), *at));
            }
            current
        }

        fn votes_where(&self, keep: impl Fn(&Value) -> bool, among: Option<&Array>) -> Array {
            let among: Option<BTreeSet<String>> =
                among.map(|array| array.iter().map(name_of).collect());
            self.current_votes()
                .into_iter()
                .filter(|(member, value, _)| {
                    keep(value) && among.as_ref().is_none_or(|among| among.contains(member))
                })
                .map(|(member, value, at)| {
                    Dynamic::from(Vote {
                        member: self.member(&member),
                        value: value.script(),
                        at,
                    })
                })
                .collect()
        }

        /// `action.execute()` on an election: the option with the most current votes,
        /// ties to the lowest index.
        fn most_voted_option(&self) -> i64 {
            let mut best = (0, 0);
            for index in 0..self.option_count {
                let votes = self
                    .current_votes()
                    .iter()
                    .filter(|(_, value, _)| *value == Value::Option(index))
                    .count();
                if votes > best.1 {
                    best = (index, votes);
                }
            }
            best.0
        }
    }

    type Shared = Arc<Mutex<State>>;

    fn lock(shared: &Shared) -> MutexGuard<'_, State> {
        shared
            .lock()
            .expect("the stand-in never panics while holding its lock")
    }

    fn name_of(item: &Dynamic) -> String {
        match item.clone().try_cast::<Member>() {
            Some(member) => member.name.to_string(),
            None => item.to_string(),
        }
    }

    /// Stored values are plain data: a member is stored as its name.
    fn plain(value: Dynamic) -> Dynamic {
        if value.is::<Member>() {
            return name_of(&value).into();
        }
        if value.is_array() {
            let items: Array = value.cast::<Array>().into_iter().map(plain).collect();
            return items.into();
        }
        value
    }

    #[derive(Clone)]
    struct Action(Shared);
    #[derive(Clone)]
    struct Proposal(Shared);
    #[derive(Clone)]
    struct Policy(Shared);
    #[derive(Clone)]
    struct Store(Shared, bool);
    #[derive(Clone)]
    struct Member {
        name: ImmutableString,
        roles: Vec<String>,
    }
    #[derive(Clone)]
    struct Vote {
        member: Member,
        value: Dynamic,
        at: i64,
    }

    impl Store {
        fn with<T>(&self, use_map: impl FnOnce(&mut Map) -> T) -> T {
            let mut state = lock(&self.0);
            let map = if self.1 {
                &mut state.policy_data
            } else {
                &mut state.action_data
            };
            use_map(map)
        }
    }

    pub struct Sim {
        engine: Engine,
        ast: AST,
        state: Shared,
        status: String,
    }

    impl Sim {
        pub fn propose(
            source: &str,
            community: &Community,
            action_type: &str,
            options: i64,
        ) -> Sim {
            Sim::propose_with(source, community, action_type, options, Map::new())
        }

        /// With the policy data left by an earlier proposal under the same policy.
        pub fn propose_with(
            source: &str,
            community: &Community,
            action_type: &str,
            options: i64,
            policy_data: Map,
        ) -> Sim {
            let state = State::shared(community.members.clone(), action_type, options, policy_data);
            let engine = engine(&state);
            // In Rhai a script function shadows a native one of the same name and arity,
            // so the policy's `notify(action, policy)` would swallow the API's
            // `notify(members, text)`. The stand-in renames the policy's; the runtime
            // must solve the same clash its own way.
            let source = source.replace(
                "fn notify(action, policy)",
                "fn notify_hook(action, policy)",
            );
            let ast = engine.compile(&source).expect("the policy compiles");
            let mut sim = Sim {
                engine,
                ast,
                state,
                status: "proposed".to_owned(),
            };
            assert!(sim.call("filter").as_bool().expect("filter returns a bool"));
            if sim.defines("initialize") {
                sim.hook("initialize");
            }
            sim.check();
            if sim.status == "proposed" && sim.defines("notify_hook") {
                sim.hook("notify_hook");
            }
            sim
        }

        /// Whether the policy's `filter` takes an action of this type.
        pub fn filters(source: &str, action_type: &str) -> bool {
            let state = State::shared(Vec::new(), action_type, 0, Map::new());
            let engine = engine(&state);
            let sim = Sim {
                ast: engine.compile(source).expect("the policy compiles"),
                engine,
                state,
                status: "proposed".to_owned(),
            };
            sim.call("filter").as_bool().expect("filter returns a bool")
        }

        pub fn vote(&mut self, at_ms: i64, member: &str, value: Value) {
            self.set_time(at_ms);
            lock(&self.state)
                .votes
                .push((member.to_owned(), value, at_ms));
            self.check();
        }

        pub fn advance(&mut self, at_ms: i64) {
            self.set_time(at_ms);
            self.check();
        }

        pub fn status(&self) -> &str {
            &self.status
        }

        pub fn executed(&self) -> Option<Executed> {
            lock(&self.state).executed.clone()
        }

        pub fn notified(&self) -> BTreeSet<String> {
            lock(&self.state).notified.clone()
        }

        pub fn data(&self, key: &str) -> Dynamic {
            lock(&self.state)
                .action_data
                .get(key)
                .cloned()
                .unwrap_or(Dynamic::UNIT)
        }

        /// A list of names in the action's data.
        pub fn names(&self, key: &str) -> Vec<String> {
            let list = self.data(key).into_array().expect("a list");
            list.iter().map(|item| item.to_string()).collect()
        }

        pub fn policy_data(&self) -> Map {
            lock(&self.state).policy_data.clone()
        }

        fn set_time(&mut self, at_ms: i64) {
            let mut state = lock(&self.state);
            assert!(at_ms >= state.now_ms, "time never goes back");
            state.now_ms = at_ms;
        }

        fn defines(&self, function: &str) -> bool {
            self.ast
                .iter_functions()
                .any(|defined| defined.name == function && defined.params.len() == 2)
        }

        fn call(&self, function: &str) -> Dynamic {
            let arguments = (
                Dynamic::from(Action(self.state.clone())),
                Dynamic::from(Policy(self.state.clone())),
            );
            self.engine
                .call_fn_with_options(
                    CallFnOptions::new().eval_ast(false),
                    &mut Scope::new(),
                    &self.ast,
                    function,
                    arguments,
                )
                .unwrap_or_else(|error| panic!("{function}: {error}"))
        }

        /// `initialize`, `notify`, `pass` and `fail`: what they return is ignored (spec).
        fn hook(&self, function: &str) {
            let _ignored = self.call(function);
        }

        fn check(&mut self) {
            if self.status != "proposed" {
                return;
            }
            let outcome = self.call("check");
            let outcome = if outcome.is_unit() {
                "proposed".to_owned()
            } else {
                outcome.to_string()
            };
            assert!(
                ["passed", "failed", "proposed"].contains(&outcome.as_str()),
                "{outcome}"
            );
            self.status = outcome;
            if self.status == "passed" {
                if self.defines("pass") {
                    self.hook("pass");
                } else {
                    let mut state = lock(&self.state);
                    state.executed = Some(if state.option_count > 0 {
                        Executed::Option(state.most_voted_option())
                    } else {
                        Executed::Action
                    });
                }
            } else if self.status == "failed" && self.defines("fail") {
                self.hook("fail");
            }
        }
    }

    #[allow(deprecated)] // `on_var` is marked volatile, not deprecated
    fn engine(state: &Shared) -> Engine {
        let mut engine = Engine::new();
        engine.set_max_operations(1_000_000);
        engine.on_var(|name, _, _| {
            Ok(match name {
                "PASSED" => Some("passed".into()),
                "FAILED" => Some("failed".into()),
                "PROPOSED" => Some("proposed".into()),
                _ => None,
            })
        });
        engine
            .register_type_with_name::<Action>("Action")
            .register_get("action_type", |action: &mut Action| -> ImmutableString {
                lock(&action.0).action_type.as_str().into()
            })
            .register_get("options", |action: &mut Action| -> Array {
                let count = lock(&action.0).option_count;
                (0..count).map(|_| Dynamic::from(Map::new())).collect()
            })
            .register_get("data", |action: &mut Action| Store(action.0.clone(), false))
            .register_get("proposal", |action: &mut Action| Proposal(action.0.clone()))
            .register_fn("execute", |action: &mut Action| {
                let mut state = lock(&action.0);
                state.executed = Some(if state.option_count > 0 {
                    Executed::Option(state.most_voted_option())
                } else {
                    Executed::Action
                });
            })
            .register_fn("execute_option", |action: &mut Action, index: i64| {
                let mut state = lock(&action.0);
                assert!(
                    (0..state.option_count).contains(&index),
                    "no option {index}"
                );
                state.executed = Some(Executed::Option(index));
            });
        engine
            .register_type_with_name::<Policy>("Policy")
            .register_get("data", |policy: &mut Policy| Store(policy.0.clone(), true));
        engine
            .register_type_with_name::<Store>("Store")
            .register_fn("get", |store: &mut Store, key: ImmutableString| {
                store.with(|map| map.get(key.as_str()).cloned().unwrap_or(Dynamic::UNIT))
            })
            .register_fn(
                "set",
                |store: &mut Store, key: ImmutableString, value: Dynamic| {
                    store.with(|map| map.insert(key.as_str().into(), plain(value)));
                },
            )
            .register_fn("has", |store: &mut Store, key: ImmutableString| {
                store.with(|map| map.contains_key(key.as_str()))
            });
        engine
            .register_type_with_name::<Member>("Member")
            .register_get("name", |member: &mut Member| member.name.clone())
            .register_fn("has_role", |member: &mut Member, role: ImmutableString| {
                member.roles.iter().any(|held| held == role.as_str())
            });
        engine
            .register_type_with_name::<Vote>("Vote")
            .register_get("member", |vote: &mut Vote| vote.member.clone())
            .register_get("value", |vote: &mut Vote| vote.value.clone())
            .register_get("at", |vote: &mut Vote| vote.at);
        engine
            .register_type_with_name::<Proposal>("Proposal")
            .register_fn("elapsed", |proposal: &mut Proposal| {
                let state = lock(&proposal.0);
                state.now_ms - state.proposed_at_ms
            })
            .register_fn("votes", |proposal: &mut Proposal| {
                lock(&proposal.0).votes_where(|_| true, None)
            })
            .register_fn("yes_votes", |proposal: &mut Proposal| {
                lock(&proposal.0).votes_where(|value| *value == Value::Yes, None)
            })
            .register_fn("yes_votes", |proposal: &mut Proposal, among: Array| {
                lock(&proposal.0).votes_where(|value| *value == Value::Yes, Some(&among))
            })
            .register_fn("no_votes", |proposal: &mut Proposal| {
                lock(&proposal.0).votes_where(|value| *value == Value::No, None)
            })
            .register_fn("no_votes", |proposal: &mut Proposal, among: Array| {
                lock(&proposal.0).votes_where(|value| *value == Value::No, Some(&among))
            })
            .register_fn("choice_votes", |proposal: &mut Proposal, index: i64| {
                lock(&proposal.0).votes_where(|value| *value == Value::Option(index), None)
            })
            .register_fn("ranked_votes", |proposal: &mut Proposal| -> Array {
                lock(&proposal.0)
                    .current_votes()
                    .into_iter()
                    .filter(|(_, value, _)| matches!(value, Value::Ranking(_)))
                    .map(|(_, value, _)| value.script())
                    .collect()
            });
        let shared = state.clone();
        engine.register_fn("members", move || -> Array {
            let state = lock(&shared);
            state
                .members
                .iter()
                .map(|(name, _)| Dynamic::from(state.member(name)))
                .collect()
        });
        let shared = state.clone();
        engine.register_fn("role_members", move |role: ImmutableString| -> Array {
            let state = lock(&shared);
            state
                .members
                .iter()
                .filter(|(_, roles)| roles.iter().any(|held| held == role.as_str()))
                .map(|(name, _)| Dynamic::from(state.member(name)))
                .collect()
        });
        let shared = state.clone();
        engine.register_fn("notify", move |members: Array, _text: ImmutableString| {
            lock(&shared).notified.extend(members.iter().map(name_of));
        });
        let shared = state.clone();
        engine.register_fn("random_sample", move |items: Array, count: i64| -> Array {
            // A fixed xorshift stream: deterministic, like the runtime's seeded one.
            let mut state = lock(&shared);
            state.draws += 1;
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ state.draws;
            let mut items = items;
            for index in (1..items.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                items.swap(index, (seed % (index as u64 + 1)) as usize);
            }
            items.truncate(count.max(0) as usize);
            items
        });
        engine
            .register_fn("minutes", |count: i64| count * 60_000)
            .register_fn("hours", |count: i64| count * HOUR)
            .register_fn("days", |count: i64| count * DAY)
            .register_fn("log", |_text: ImmutableString| {});
        engine
    }
}
