//! Verification by re-execution: `verify` re-runs every recorded evaluation against the
//! state just before it. A decision whose outcome was changed and re-sealed with the real
//! sequencer key (so the chain and every signature hold) is caught at its seq, with the
//! policy and the difference named.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ostrom::engine::reexecute::{Audit, REEXECUTION_MISMATCH};
use ostrom::engine::{Engine, HttpSource, NoPlatforms};
use ostrom::fixtures::{self, Founded};
use ostrom::ledger::{self, Ledger, LedgerError};
use ostrom::policy::{NoHttp, Runtime};
use ostrom::store::memory::MemoryStore;
use ostrom::store::sled_store::SledStore;
use ostrom::store::LogStore;
use ostrom_projections::GovernanceState;
use ostrom_schemas::record::Outcome;
use ostrom_schemas::verify::{check_statement, Sealable};
use ostrom_schemas::{
    ActionId, ActionSpec, Body, CommunityId, Entry, Params, Record, StatementBody, Value, VoteValue,
};

/// A democracy community of five: alice's `add_role` passes with three yes votes, bob's
/// `add_document` stays open with one no. Returns the store, community and keys.
fn democracy_log() -> (Arc<dyn LogStore>, Founded, u64) {
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(5);
    let (mut ledger, founded) =
        fixtures::found(store.clone(), "audited", "democracy", &names, 11, 1_000).expect("founded");
    let mut engine = Engine::new(
        Arc::new(Runtime::new()),
        Arc::new(NoPlatforms),
        HttpSource::Fixed(Arc::new(NoHttp)),
    );
    let mut counters = std::collections::BTreeMap::new();
    let mut submit = |ledger: &mut Ledger, member: &str, body: StatementBody, at: u64| -> u64 {
        let counter = counters.entry(member.to_owned()).or_insert(0);
        *counter += 1;
        let signed = founded.sign(member, *counter, body);
        let checked = check_statement(signed).expect("well signed");
        ledger
            .append_with(vec![Sealable::Statement(checked)], at, &mut engine, true)
            .expect("durable")
            .remove(0)
            .expect("accepted")
            .entry()
            .seq
    };
    let propose = |action_type: &str, params: &[(&str, &str)]| StatementBody::ActionProposed {
        action: ActionSpec::parse(
            action_type,
            &params
                .iter()
                .map(|(key, value)| (key.to_string(), Value::from(*value)))
                .collect::<Params>(),
            &|_| None,
        )
        .expect("valid"),
        not_before_ms: None,
    };
    let role = ActionId(submit(
        &mut ledger,
        &names[0],
        propose("add_role", &[("role", "stewards")]),
        2_000,
    ));
    let document = ActionId(submit(
        &mut ledger,
        &names[1],
        propose("add_document", &[("name", "charter"), ("text", "be kind")]),
        3_000,
    ));
    for (index, member) in names[1..4].iter().enumerate() {
        let vote = StatementBody::VoteCast {
            action: role,
            value: VoteValue::Yes,
        };
        submit(&mut ledger, member, vote, 4_000 + index as u64);
    }
    let vote = StatementBody::VoteCast {
        action: document,
        value: VoteValue::No,
    };
    submit(&mut ledger, &names[4], vote, 5_000);
    assert_eq!(
        ledger.state().actions[&role].status.as_str(),
        "passed",
        "three of five said yes"
    );
    let decision = entries(&*store, founded.community)
        .iter()
        .find(|entry| {
            matches!(&entry.body, Body::Record(Record::Evaluated(evaluation))
                if evaluation.action == role && evaluation.effects.outcome == Some(Outcome::Passed))
        })
        .expect("the decision")
        .seq;
    (store, founded, decision)
}

fn entries(store: &dyn LogStore, community: CommunityId) -> Vec<Entry> {
    store
        .read_range(community, 0, u64::MAX)
        .expect("read")
        .iter()
        .map(|bytes| Entry::decode(bytes).expect("decodes"))
        .collect()
}

fn verify(
    store: &dyn LogStore,
    community: CommunityId,
    audit: &mut Audit,
) -> Result<(), LedgerError> {
    ledger::replay_inspecting(
        store,
        community,
        &mut GovernanceState::default(),
        u64::MAX,
        &indicatif::ProgressBar::hidden(),
        &mut |state, entry| audit.inspect(state, entry),
    )
}

/// The log with the decision's outcome changed to `failed`, cut right after it, and
/// re-sealed with the real sequencer key.
fn forged(store: &dyn LogStore, founded: &Founded, decision: u64) -> Vec<Vec<u8>> {
    let mut log = entries(store, founded.community);
    log.truncate(decision as usize + 1);
    let Body::Record(Record::Evaluated(evaluation)) = &mut log[decision as usize].body else {
        panic!("the decision is an evaluation");
    };
    evaluation.effects.outcome = Some(Outcome::Failed);
    evaluation.effects.execute = false;
    fixtures::reseal(log, decision as usize, &founded.sequencer)
}

#[test]
fn given_an_honest_log_when_verified_then_every_evaluation_reexecutes_identically() {
    // Given a log the engine wrote
    let (store, founded, _) = democracy_log();
    let evaluations = entries(&*store, founded.community)
        .iter()
        .filter(|entry| matches!(entry.body, Body::Record(Record::Evaluated(_))))
        .count() as u64;
    // Two arrivals and the decision; votes that changed nothing were not recorded.
    assert_eq!(evaluations, 3);
    // When it is verified with re-execution
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    verify(&*store, founded.community, &mut audit).expect("verifies");
    // Then every evaluation was re-run, and none was waved through
    assert_eq!(audit.reexecuted, evaluations);
    assert_eq!(audit.time_limits_accepted, 0);
}

#[test]
fn given_a_changed_outcome_resealed_with_the_real_key_when_verified_then_it_fails_at_that_seq() {
    // Given a log whose decision was changed from passed to failed and re-sealed
    let (store, founded, decision) = democracy_log();
    let bytes = forged(&*store, &founded, decision);
    let tampered: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    tampered
        .create_community(founded.community, "audited")
        .expect("created");
    tampered
        .append(founded.community, 0, bytes.clone())
        .expect("appended");
    // When it is replayed without re-execution, chain and signatures hold
    let mut state = GovernanceState::default();
    ledger::replay_from_store(
        &*tampered,
        founded.community,
        &mut state,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("the forgery is well signed and chained");
    // Then verification by re-execution fails at the decision, naming policy and difference
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    let Err(LedgerError::Invalid(bad)) = verify(&*tampered, founded.community, &mut audit) else {
        panic!("the forged outcome must be caught");
    };
    assert_eq!(bad.seq, decision);
    assert_eq!(bad.code, REEXECUTION_MISMATCH);
    assert!(bad.reason.contains("\"Majority vote\""), "{}", bad.reason);
    assert!(
        bad.reason
            .contains("outcome: recorded Some(Failed), re-executed Some(Passed)"),
        "{}",
        bad.reason
    );

    // And `ostrom verify` on a data directory holding the forged log says the same
    let dir = tempfile::tempdir().expect("temporary directory");
    write_store(dir.path(), founded.community, bytes);
    let output = Command::new(env!("CARGO_BIN_EXE_ostrom"))
        .arg("--data")
        .arg(dir.path())
        .arg("verify")
        .env_remove("OSTROM_COMMUNITY")
        .output()
        .expect("ostrom runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.starts_with(&format!(
            "error[{REEXECUTION_MISMATCH}]: verification failed at entry {decision}:"
        )),
        "{stderr}"
    );
}

#[test]
fn given_a_changed_notification_when_verified_then_the_difference_is_named() {
    // Given a log whose first evaluation's notification was rewritten and re-sealed
    let (store, founded, _) = democracy_log();
    let mut log = entries(&*store, founded.community);
    let (index, _) = log
        .iter()
        .enumerate()
        .find(|(_, entry)| {
            matches!(&entry.body, Body::Record(Record::Evaluated(evaluation))
                if !evaluation.effects.notifications.is_empty())
        })
        .expect("the majority policy notifies members of a new proposal");
    let Body::Record(Record::Evaluated(evaluation)) = &mut log[index].body else {
        unreachable!()
    };
    evaluation.effects.notifications[0].text = "nothing to see here".into();
    log.truncate(index + 1);
    let tampered: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    tampered
        .create_community(founded.community, "audited")
        .expect("created");
    tampered
        .append(
            founded.community,
            0,
            fixtures::reseal(log, index, &founded.sequencer),
        )
        .expect("appended");
    // When verified, then it fails there, naming the notifications
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    let Err(LedgerError::Invalid(bad)) = verify(&*tampered, founded.community, &mut audit) else {
        panic!("the rewritten notification must be caught");
    };
    assert_eq!((bad.seq, bad.code), (index as u64, REEXECUTION_MISMATCH));
    assert!(
        bad.reason.contains("notifications: recorded"),
        "{}",
        bad.reason
    );
}

fn write_store(data: &Path, community: CommunityId, bytes: Vec<Vec<u8>>) {
    let store = SledStore::open(data.join("store")).expect("opens");
    store
        .create_community(community, "audited")
        .expect("created");
    store.append(community, 0, bytes).expect("appended");
}

#[test]
fn given_a_forged_cpu_time_fault_when_verified_then_a_policy_that_finishes_at_once_exposes_it() {
    // Given a log whose decision was rewritten as "stopped by the CPU-time backstop", the
    // one kind of fault re-execution cannot always reproduce, and re-sealed
    let (store, founded, decision) = democracy_log();
    let mut log = entries(&*store, founded.community);
    log.truncate(decision as usize + 1);
    let Body::Record(Record::Evaluated(evaluation)) = &mut log[decision as usize].body else {
        panic!("the decision is an evaluation");
    };
    evaluation.effects.outcome = Some(Outcome::Failed);
    evaluation.effects.execute = false;
    evaluation.effects.error = Some(ostrom_schemas::record::PolicyFault {
        function: "check".into(),
        message: "the policy used more than its CPU time (500 ms)".into(),
        line: 1,
        column: 1,
    });
    assert!(ostrom::policy::is_time_limit(
        evaluation.effects.error.as_ref().expect("set")
    ));
    let tampered: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    tampered
        .create_community(founded.community, "audited")
        .expect("created");
    tampered
        .append(
            founded.community,
            0,
            fixtures::reseal(log, decision as usize, &founded.sequencer),
        )
        .expect("appended");
    // When verified, then the claim is refused: the majority vote re-runs in microseconds
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    let Err(LedgerError::Invalid(bad)) = verify(&*tampered, founded.community, &mut audit) else {
        panic!("a forged time-limit fault must be caught");
    };
    assert_eq!((bad.seq, bad.code), (decision, REEXECUTION_MISMATCH));
    assert!(
        bad.reason
            .contains("recorded as stopped by the CPU-time backstop"),
        "{}",
        bad.reason
    );
    assert_eq!(audit.time_limits_accepted, 0);
}

#[test]
fn given_a_genuine_cpu_time_fault_when_verified_then_it_is_accepted_as_recorded() {
    // Given a policy whose check costs few operations but much time (Rhai re-measures a big
    // array on every method call), so the CPU-time backstop stops it
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(2);
    let (mut ledger, founded) =
        fixtures::found(store.clone(), "slow", "testing", &names, 12, 1_000).expect("founded");
    let mut engine = Engine::new(
        Arc::new(Runtime::new()),
        Arc::new(NoPlatforms),
        HttpSource::Fixed(Arc::new(NoHttp)),
    );
    let source = "fn filter(action, policy) { true }\n\
                  fn check(action, policy) { let a = []; a.pad(50000, 0); loop { a.len(); } }";
    let add = Params::from([
        ("name".to_owned(), Value::from("Slow")),
        ("kind".to_owned(), Value::from("platform")),
        ("priority".to_owned(), Value::from("5")),
        ("source".to_owned(), Value::from(source)),
    ]);
    let post = Params::from([("text".to_owned(), Value::from("hi"))]);
    for (counter, (action_type, params)) in [("add_policy", add), ("slack.post_message", post)]
        .into_iter()
        .enumerate()
    {
        let body = StatementBody::ActionProposed {
            action: ActionSpec::parse(action_type, &params, &|_| None).expect("valid"),
            not_before_ms: None,
        };
        let checked =
            check_statement(founded.sign(&names[0], counter as u64 + 1, body)).expect("signed");
        ledger
            .append_with(vec![Sealable::Statement(checked)], 2_000, &mut engine, true)
            .expect("durable")
            .remove(0)
            .expect("accepted");
    }
    let stopped = entries(&*store, founded.community)
        .iter()
        .filter(|entry| {
            matches!(&entry.body, Body::Record(Record::Evaluated(evaluation))
                if evaluation.effects.error.as_ref().is_some_and(ostrom::policy::is_time_limit))
        })
        .count();
    assert_eq!(
        stopped, 1,
        "the post's evaluation was stopped by the backstop"
    );
    let evaluations = entries(&*store, founded.community)
        .iter()
        .filter(|entry| matches!(entry.body, Body::Record(Record::Evaluated(_))))
        .count() as u64;
    // When the log is verified with re-execution, then the re-run hits the backstop again:
    // the fault is reproduced (or, on a slower or faster machine, accepted as recorded)
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    verify(&*store, founded.community, &mut audit).expect("verifies");
    assert_eq!(audit.reexecuted + audit.time_limits_accepted, evaluations);
}

/// The testing kit with one platform policy that asks `url` for a score; a post is then
/// proposed. Returns the store, keys and the seq of the post's evaluation.
fn scored_post(http: HttpSource) -> (Arc<dyn LogStore>, Founded, u64) {
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(2);
    let (mut ledger, founded) =
        fixtures::found(store.clone(), "scored", "testing", &names, 13, 1_000).expect("founded");
    let mut engine = Engine::new(Arc::new(Runtime::new()), Arc::new(NoPlatforms), http);
    let source = "fn filter(action, policy) { true }\n\
                  fn check(action, policy) {\n\
                      let answer = http_get(\"https://scores.example.org/v1\");\n\
                      if answer.status == 200 && answer.body.score < 80 { PASSED } else { FAILED }\n\
                  }";
    let add = Params::from([
        ("name".to_owned(), Value::from("Scored")),
        ("kind".to_owned(), Value::from("platform")),
        ("priority".to_owned(), Value::from("5")),
        ("source".to_owned(), Value::from(source)),
    ]);
    let post = Params::from([("text".to_owned(), Value::from("hi"))]);
    let mut last = 0;
    for (counter, (action_type, params)) in [("add_policy", add), ("slack.post_message", post)]
        .into_iter()
        .enumerate()
    {
        let body = StatementBody::ActionProposed {
            action: ActionSpec::parse(action_type, &params, &|_| None).expect("valid"),
            not_before_ms: None,
        };
        let checked =
            check_statement(founded.sign(&names[0], counter as u64 + 1, body)).expect("signed");
        last = ledger
            .append_with(vec![Sealable::Statement(checked)], 2_000, &mut engine, true)
            .expect("durable")
            .remove(0)
            .expect("accepted")
            .entry()
            .seq;
    }
    let evaluation = last + 1;
    assert!(matches!(
        &entries(&*store, founded.community)[evaluation as usize].body,
        Body::Record(Record::Evaluated(evaluation)) if evaluation.effects.http.len() == 1
    ));
    (store, founded, evaluation)
}

/// Serves one score to every call.
struct Score(i64);

impl ostrom::policy::Http for Score {
    fn call(
        &self,
        _request: &ostrom::policy::HttpRequest,
    ) -> Result<ostrom::policy::HttpResponse, String> {
        Ok(ostrom::policy::HttpResponse {
            status: 200,
            body: Value::Map(std::collections::BTreeMap::from([(
                "score".to_owned(),
                Value::Int(self.0),
            )])),
        })
    }
}

#[test]
fn given_recorded_external_answers_when_verified_then_they_stand_in_for_the_network() {
    // Given a post scored by an external API, and one whose call failed (no allowlist)
    for http in [
        HttpSource::Fixed(Arc::new(Score(12))),
        HttpSource::Fixed(Arc::new(NoHttp)),
    ] {
        let (store, founded, evaluation) = scored_post(http);
        // When verified with re-execution (which has no network at all), then it verifies
        let mut audit = Audit::new(Arc::new(Runtime::new()));
        verify(&*store, founded.community, &mut audit).expect("verifies");
        assert!(audit.reexecuted >= 2);
        // And when the recorded answer is changed and re-sealed, the policy decides
        // differently on it, and verification names the evaluation
        let mut log = entries(&*store, founded.community);
        log.truncate(evaluation as usize + 1);
        let Body::Record(Record::Evaluated(recorded)) = &mut log[evaluation as usize].body else {
            unreachable!()
        };
        recorded.effects.http[0].status = 200;
        recorded.effects.http[0].response = Value::Map(std::collections::BTreeMap::from([(
            "score".to_owned(),
            Value::Int(95),
        )]));
        let tampered: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
        tampered
            .create_community(founded.community, "scored")
            .expect("created");
        tampered
            .append(
                founded.community,
                0,
                fixtures::reseal(log, evaluation as usize, &founded.sequencer),
            )
            .expect("appended");
        let mut audit = Audit::new(Arc::new(Runtime::new()));
        let Err(LedgerError::Invalid(bad)) = verify(&*tampered, founded.community, &mut audit)
        else {
            panic!("a changed external answer must be caught");
        };
        assert_eq!((bad.seq, bad.code), (evaluation, REEXECUTION_MISMATCH));
        assert!(bad.reason.contains("\"Scored\""), "{}", bad.reason);
    }
}
