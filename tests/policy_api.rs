//! The policy API of spec/policy-api.md, given / when / then: a real community founded
//! through the ledger, proposals and votes appended as signed statements, and a policy
//! evaluated against `ledger.state()`; each test asserts the `Effects` an engine would
//! record (outcome, data writes, notifications, follow-ups, external calls, log lines,
//! faults, and when to look again).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use ostrom::fixtures::{self, Founded};
use ostrom::ledger::Ledger;
use ostrom::policy::{
    Http, Input, LiveHttp, NoHttp, RecordedHttp, Runtime, Steps, HTTP_FAILED_STATUS,
};
use ostrom::store::memory::MemoryStore;
use ostrom_projections::state::{Action, Policy};
use ostrom_schemas::record::{DataWrite, Effects, HttpExchange, Notification, Outcome};
use ostrom_schemas::{ActionId, ActionSpec, Params, StatementBody, Value, VoteValue};

const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;
const ALL_STEPS: Steps = Steps {
    initialize: true,
    notify: true,
};

struct Given {
    ledger: Ledger,
    founded: Founded,
    at_ms: u64,
    runtime: Runtime,
}

/// Five members under the moderators kit: alice (the founder) is a moderator.
fn given() -> Given {
    let names: Vec<String> = ["alice", "bob", "carol", "dave", "erin"]
        .iter()
        .map(|name| name.to_string())
        .collect();
    let (ledger, founded) = fixtures::found(
        Arc::new(MemoryStore::new()),
        "policy-api",
        "moderators",
        &names,
        11,
        1_000,
    )
    .expect("founded");
    Given {
        ledger,
        founded,
        at_ms: 1_000,
        runtime: Runtime::new(),
    }
}

fn params(pairs: &[(&str, Value)]) -> Params {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

fn text(value: &str) -> Value {
    Value::from(value)
}

impl Given {
    fn submit(&mut self, member: &str, body: StatementBody) -> u64 {
        let key = self.founded.members[member].clone();
        let signed = self.ledger.sign(member, &key, body);
        self.at_ms += 10;
        self.ledger
            .submit(signed, self.at_ms)
            .expect("accepted")
            .entry()
            .seq
    }

    fn propose(&mut self, member: &str, action_type: &str, params: Params) -> ActionId {
        let action = ActionSpec::parse(action_type, &params, &|_| None).expect("valid action");
        ActionId(self.submit(
            member,
            StatementBody::ActionProposed {
                action,
                not_before_ms: None,
            },
        ))
    }

    fn post(&mut self, member: &str, message: &str) -> ActionId {
        self.propose(
            member,
            "slack.post_message",
            params(&[("text", text(message))]),
        )
    }

    fn vote(&mut self, member: &str, action: ActionId, value: VoteValue) {
        self.submit(member, StatementBody::VoteCast { action, value });
    }

    fn action(&self, id: ActionId) -> &Action {
        &self.ledger.state().actions[&id]
    }

    /// The community's constitution policy (any real policy: its id, name, version).
    fn policy(&self) -> &Policy {
        self.ledger
            .state()
            .policies
            .values()
            .find(|policy| policy.spec.name.contains("constitution"))
            .expect("a kit policy")
    }

    fn run_with(
        &self,
        source: &str,
        action: &Action,
        policy: &Policy,
        now_ms: u64,
        steps: Steps,
        http: &dyn Http,
    ) -> Effects {
        let compiled = self.runtime.compile(source).expect("compiles");
        let input = Input {
            state: self.ledger.state(),
            action,
            policy,
            now_ms,
            http,
        };
        self.runtime.run(&compiled, &input, steps)
    }

    fn run(&self, source: &str, action: ActionId, now_ms: u64) -> Effects {
        self.run_with(
            source,
            self.action(action),
            self.policy(),
            now_ms,
            ALL_STEPS,
            &NoHttp,
        )
    }
}

/// A policy governing everything, with `body` appended.
fn policy(body: &str) -> String {
    format!("fn filter(action, policy) {{ true }}\n{body}")
}

#[test]
fn votes_are_counted_with_and_without_member_filters() {
    // Given yes from alice, bob and dave, no from carol, and dave changing to no
    let mut given = given();
    let action = given.post("erin", "hello");
    given.vote("alice", action, VoteValue::Yes);
    given.vote("bob", action, VoteValue::Yes);
    given.vote("carol", action, VoteValue::No);
    given.vote("dave", action, VoteValue::Yes);
    given.vote("dave", action, VoteValue::No);
    // When a policy counts them in every way the API offers
    let source = policy(
        r#"
fn check(action, policy) {
    let p = action.proposal;
    log(`yes ${p.yes_votes().len()} no ${p.no_votes().len()} all ${p.votes().len()}`);
    log(`jury yes ${p.yes_votes(["alice", "carol", "erin"]).len()} no ${p.no_votes([member("carol"), "dave"]).len()}`);
    log(`nobody ${p.yes_votes(()).len()} ${p.yes_votes([]).len()}`);
    log(`history ${p.votes_history().len()} voters ${p.voters().map(|m| m.name)}`);
    let first = p.votes()[0];
    log(`${first.member.name} ${first.value} ${type_of(first.at)}`);
    if p.yes_votes().len() >= 2 { PASSED } else { FAILED }
}
"#,
    );
    let effects = given.run(&source, action, given.at_ms);
    // Then current votes count once per member, filters keep only the named members
    assert_eq!(effects.error, None);
    assert_eq!(
        effects.log,
        [
            "yes 2 no 2 all 4",
            "jury yes 1 no 2",
            "nobody 0 0",
            r#"history 5 voters ["alice", "bob", "carol", "dave"]"#,
            "alice yes i64",
        ]
    );
    assert_eq!(effects.outcome, Some(Outcome::Passed));
    assert_eq!(effects.ran, ["check"]);
}

#[test]
fn the_action_the_policy_and_members_are_readable() {
    // Given a proposal by bob
    let mut given = given();
    let action = given.post("bob", "hello world");
    // When a policy reads the action, the policy and the directory
    let source = policy(
        r#"
fn check(action, policy) {
    log(`${action.id} ${action.action_type} ${action.kind} ${action.initiator.name} ${action.params.text}`);
    log(`${action.proposal.status} ${action.proposal.proposed_at} ${action.options.len()}`);
    log(`${policy.id} ${policy.name} ${policy.version.len()}`);
    log(`${members().len()} ${role_members("moderators")} ${member("alice").has_role("moderators")} ${action.initiator.has_role("moderators")}`);
    log(`${member("alice").roles()} ${member("nobody") == ()} ${action.initiator == "bob"}`);
}
"#,
    );
    let effects = given.run(&source, action, given.at_ms);
    // Then every property answers from the ledger's state
    let policy = given.policy();
    let proposed_at = given.action(action).proposed_at_ms;
    assert_eq!(effects.error, None);
    assert_eq!(
        effects.log,
        [
            format!("{} slack.post_message platform bob hello world", action.0),
            format!("proposed {proposed_at} 0"),
            format!("{} {} 64", policy.id.0, policy.spec.name),
            r#"5 ["alice"] true false"#.to_owned(),
            r#"["everyone", "moderators"] true true"#.to_owned(),
        ]
    );
    // And check returning nothing leaves the proposal open, with no timer
    assert_eq!(effects.outcome, Some(Outcome::Proposed));
    assert_eq!(effects.next_check_at_ms, None);
}

#[test]
fn data_writes_are_visible_across_one_session_and_recorded_in_order() {
    // Given an action whose data already holds a round number
    let mut given = given();
    let id = given.post("alice", "hi");
    let mut action = given.action(id).clone();
    action.data.insert("round".into(), Value::Int(4));
    let mut governing = given.policy().clone();
    governing.data.insert("seen".into(), Value::Int(10));
    // When initialize writes, and check reads and writes on top of it
    let source = policy(
        r#"
fn initialize(action, policy) {
    action.data.set("round", action.data.get("round") + 1);
    action.data.set("jury", [member("bob"), "carol"]);
    action.data.set("scratch", #{ a: [1, true, ()] });
    action.data.remove("scratch");
    policy.data.set("seen", policy.data.get("seen") + 1);
}
fn check(action, policy) {
    log(`${action.data.get("round")} ${action.data.has("scratch")} ${action.data.get("missing") == ()} ${policy.data.get("seen")}`);
    log(`${policy_data(policy.name).seen} ${policy_data("no such policy") == ()}`);
    action.data.set("checked", true);
}
"#,
    );
    let effects = given.run_with(
        &source,
        &action,
        &governing,
        given.at_ms,
        ALL_STEPS,
        &NoHttp,
    );
    // Then check saw initialize's writes, and every write is recorded in order
    assert_eq!(effects.error, None);
    assert_eq!(effects.ran, ["initialize", "check"]);
    assert_eq!(effects.log, ["5 false true 11", "11 true"]);
    let set = |key: &str, value: Value| DataWrite::Set {
        key: key.into(),
        value,
    };
    assert_eq!(
        effects.action_data,
        [
            set("round", Value::Int(5)),
            set("jury", Value::List(vec![text("bob"), text("carol")])),
            set(
                "scratch",
                Value::Map(BTreeMap::from([(
                    "a".into(),
                    Value::List(vec![Value::Int(1), Value::Bool(true), Value::Null])
                )]))
            ),
            DataWrite::Remove {
                key: "scratch".into()
            },
            set("checked", Value::Bool(true)),
        ]
    );
    assert_eq!(effects.policy_data, [set("seen", Value::Int(11))]);
    // And without the initialize step, only check runs, on the stored data
    let effects = given.run_with(
        &source,
        &action,
        &governing,
        given.at_ms,
        Steps {
            initialize: false,
            notify: true,
        },
        &NoHttp,
    );
    assert_eq!(effects.ran, ["check"]);
    assert_eq!(effects.log[0], "4 false true 10");
}

#[test]
fn what_cannot_be_stored_is_a_fault_and_earlier_effects_are_kept() {
    // Given an initialize that writes and logs, then a check storing a vote
    let mut given = given();
    let action = given.post("alice", "hi");
    given.vote("bob", action, VoteValue::Yes);
    let source = policy(
        r#"
fn initialize(action, policy) {
    action.data.set("step", 1);
    log("initialized");
}
fn check(action, policy) {
    action.data.set("vote", action.proposal.votes()[0]);
}
fn fail(action, policy) { log("fail must not run after a fault"); }
"#,
    );
    // When it runs
    let effects = given.run(&source, action, given.at_ms);
    // Then the fault is in check at the write, the action fails closed, and what was
    // recorded before the fault stays
    let fault = effects.error.clone().expect("a fault");
    assert_eq!((fault.function.as_str(), fault.line), ("check", 8));
    assert!(fault.message.contains("Vote cannot be stored"), "{fault:?}");
    assert_eq!(effects.outcome, Some(Outcome::Failed));
    assert_eq!(effects.reason, Some(fault.message));
    assert!(!effects.execute);
    assert_eq!(effects.ran, ["initialize", "check"]);
    assert_eq!(effects.log, ["initialized"]);
    assert_eq!(
        effects.action_data,
        [DataWrite::Set {
            key: "step".into(),
            value: Value::Int(1)
        }]
    );
}

#[test]
fn random_draws_are_the_same_for_the_same_proposal_and_differ_between_proposals() {
    // Given four proposals and a jury policy
    let mut given = given();
    let actions: Vec<ActionId> = (0..4)
        .map(|index| given.post("alice", &format!("p{index}")))
        .collect();
    let source = policy(
        r#"
fn initialize(action, policy) {
    action.data.set("jury", random_sample(members(), 3));
    action.data.set("order", random_shuffle([1, 2, 3, 4, 5]));
    action.data.set("die", random_int(1, 6));
}
fn check(action, policy) { PROPOSED }
"#,
    );
    let draws = |given: &Given, action: ActionId| -> Vec<DataWrite> {
        given.run(&source, action, given.at_ms).action_data
    };
    // When the same proposal is evaluated twice, then it draws the same values
    let first = draws(&given, actions[0]);
    assert_eq!(first, draws(&given, actions[0]));
    // And the draws are well formed: 3 distinct members, a permutation, a die roll
    let DataWrite::Set {
        value: Value::List(jury),
        ..
    } = &first[0]
    else {
        panic!("a jury: {first:?}")
    };
    assert_eq!(jury.len(), 3);
    let distinct: std::collections::BTreeSet<&Value> = jury.iter().collect();
    assert_eq!(distinct.len(), 3);
    let DataWrite::Set {
        value: Value::List(order),
        ..
    } = &first[1]
    else {
        panic!("an order: {first:?}")
    };
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=5).map(Value::Int).collect::<Vec<_>>());
    let DataWrite::Set {
        value: Value::Int(die),
        ..
    } = &first[2]
    else {
        panic!("a die roll: {first:?}")
    };
    assert!((1..=6).contains(die));
    // And other proposals draw other juries
    let juries: Vec<DataWrite> = actions
        .iter()
        .map(|action| draws(&given, *action)[0].clone())
        .collect();
    assert!(juries.iter().any(|jury| *jury != juries[0]), "{juries:?}");
    // And drawing more than there is, is a fault
    let effects = given.run(
        &policy("fn check(action, policy) { random_sample(members(), 6); }"),
        actions[0],
        given.at_ms,
    );
    assert!(effects
        .error
        .expect("a fault")
        .message
        .contains("cannot draw 6"));
}

#[test]
fn notify_runs_once_on_proposed_and_records_current_members() {
    // Given a policy whose notify calls the API notify, as in the spec's example
    let mut given = given();
    let action = given.post("alice", "hi");
    let source = policy(
        r#"
fn check(action, policy) { PROPOSED }
fn notify(action, policy) {
    notify(["carol", member("bob"), "ghost", "carol"], "please vote");
    notify(role_members("moderators"), `on ${action.id}`);
}
"#,
    );
    // When it is evaluated with the notify step
    let effects = given.run(&source, action, given.at_ms);
    // Then both notifications are recorded with current members only, in order
    assert_eq!(effects.error, None);
    assert_eq!(effects.ran, ["check", "notify"]);
    assert_eq!(
        effects.notifications,
        [
            Notification {
                members: vec!["carol".into(), "bob".into()],
                text: "please vote".into(),
            },
            Notification {
                members: vec!["alice".into()],
                text: format!("on {}", action.0),
            },
        ]
    );
    // And without the notify step (already notified), notify does not run
    let effects = given.run_with(
        &source,
        given.action(action),
        given.policy(),
        given.at_ms,
        Steps {
            initialize: true,
            notify: false,
        },
        &NoHttp,
    );
    assert_eq!(effects.ran, ["check"]);
    assert!(effects.notifications.is_empty());
}

#[test]
fn propose_records_a_follow_up_and_a_bad_one_is_a_fault() {
    // Given a check that proposes a platform action and a role grant
    let mut given = given();
    let action = given.post("alice", "hi");
    let source = policy(
        r#"
fn check(action, policy) {
    propose("slack.post_message", #{ text: "the vote is open" });
    propose("grant_role", #{ role: "moderators", members: [action.initiator] });
}
"#,
    );
    // When it runs
    let effects = given.run(&source, action, given.at_ms);
    // Then both follow-ups are recorded as parsed actions
    assert_eq!(effects.error, None);
    let expected: Vec<ActionSpec> = vec![
        ActionSpec::parse(
            "slack.post_message",
            &params(&[("text", text("the vote is open"))]),
            &|_| None,
        )
        .expect("valid"),
        ActionSpec::parse(
            "grant_role",
            &params(&[
                ("role", text("moderators")),
                ("members", Value::List(vec![text("alice")])),
            ]),
            &|_| None,
        )
        .expect("valid"),
    ];
    assert_eq!(effects.follow_ups, expected);
    // Given a follow-up missing a required parameter, then it is a fault naming it
    let effects = given.run(
        &policy("fn check(action, policy) {\n  propose(\"grant_role\", #{ role: \"x\" });\n}"),
        action,
        given.at_ms,
    );
    let fault = effects.error.expect("a fault");
    assert!(fault.message.contains("\"members\""), "{fault:?}");
    assert_eq!(fault.line, 3);
    assert!(effects.follow_ups.is_empty());
}

#[test]
fn pass_executes_only_when_it_calls_execute() {
    let mut given = given();
    let action = given.post("alice", "hi");
    // Given a pass that does not call execute: a dry run
    let dry = policy(
        "fn check(action, policy) { PASSED }\nfn pass(action, policy) { log(\"would pass\"); }",
    );
    let effects = given.run(&dry, action, given.at_ms);
    assert_eq!(effects.outcome, Some(Outcome::Passed));
    assert_eq!(effects.ran, ["check", "pass"]);
    assert!(!effects.execute);
    // Given a pass that calls execute
    let real = policy(
        "fn check(action, policy) { \"passed\" }\nfn pass(action, policy) { action.execute(); }",
    );
    let effects = given.run(&real, action, given.at_ms);
    assert!(effects.execute);
    assert_eq!(effects.execute_option, None);
    // Given no pass at all, then the action executes
    let effects = given.run(
        &policy("fn check(action, policy) { PASSED }"),
        action,
        given.at_ms,
    );
    assert_eq!(
        (effects.ran.as_slice(), effects.execute),
        (&["check".to_owned()][..], true)
    );
    // Given execute called from check, then it is a fault, not an execution
    let effects = given.run(
        &policy("fn check(action, policy) {\n  action.execute();\n  PASSED\n}"),
        action,
        given.at_ms,
    );
    assert!(!effects.execute);
    assert!(effects
        .error
        .expect("a fault")
        .message
        .contains("only be called in pass"));
    // Given a check answering FAILED, then fail runs and nothing executes
    let effects = given.run(
        &policy("fn check(action, policy) { FAILED }\nfn fail(action, policy) { log(\"failed\"); }\nfn pass(action, policy) { action.execute(); }"),
        action,
        given.at_ms,
    );
    assert_eq!(effects.ran, ["check", "fail"]);
    assert_eq!(
        (effects.outcome, effects.execute),
        (Some(Outcome::Failed), false)
    );
    // Given a check answering something else, then it is a fault at check's definition
    let effects = given.run(
        &policy("\nfn check(action, policy) { 42 }"),
        action,
        given.at_ms,
    );
    let fault = effects.error.expect("a fault");
    assert!(fault.message.contains("not a i64 (42)"), "{fault:?}");
    assert_eq!((fault.line, fault.column), (3, 4));
}

#[test]
fn an_election_executes_the_most_voted_option_with_ties_to_the_lowest() {
    // Given an election of three posts with votes 0:1, 1:2, 2:2
    let mut given = given();
    let option = |message: &str| {
        Value::Map(BTreeMap::from([
            ("type".to_owned(), text("slack.post_message")),
            (
                "params".to_owned(),
                Value::Map(params(&[("text", text(message))])),
            ),
        ]))
    };
    let election = given.propose(
        "alice",
        "election",
        params(&[(
            "options",
            Value::List(vec![option("a"), option("b"), option("c")]),
        )]),
    );
    given.vote("alice", election, VoteValue::Option(1));
    given.vote("bob", election, VoteValue::Option(2));
    given.vote("carol", election, VoteValue::Option(2));
    given.vote("dave", election, VoteValue::Option(1));
    given.vote("erin", election, VoteValue::Option(0));
    let source = policy(
        r#"
fn check(action, policy) {
    log(`${action.options.len()} ${action.options[2].action_type} ${action.options[2].params.text}`);
    log(`${action.proposal.choice_votes(1).len()} ${action.proposal.choice_votes(2).len()} ${action.proposal.choice_votes("x").len()}`);
    PASSED
}
fn pass(action, policy) { action.execute(); }
"#,
    );
    // When it passes and pass calls execute()
    let effects = given.run(&source, election, given.at_ms);
    // Then options 1 and 2 tie and the lower one executes
    assert_eq!(effects.error, None);
    assert_eq!(effects.log, ["3 slack.post_message c", "2 2 0"]);
    assert_eq!((effects.execute, effects.execute_option), (true, Some(1)));
    // And without pass it is the same choice
    let effects = given.run(
        &policy("fn check(action, policy) { PASSED }"),
        election,
        given.at_ms,
    );
    assert_eq!((effects.execute, effects.execute_option), (true, Some(1)));
    // And when erin moves to option 2, option 2 wins
    given.vote("erin", election, VoteValue::Option(2));
    let effects = given.run(&source, election, given.at_ms);
    assert_eq!(effects.execute_option, Some(2));
    // And execute_option picks any valid option, and refuses one that does not exist
    let chosen = policy("fn check(action, policy) { PASSED }\nfn pass(action, policy) { action.execute_option(0); }");
    assert_eq!(
        given.run(&chosen, election, given.at_ms).execute_option,
        Some(0)
    );
    let missing = policy("fn check(action, policy) { PASSED }\nfn pass(action, policy) { action.execute_option(3); }");
    let effects = given.run(&missing, election, given.at_ms);
    assert!(!effects.execute);
    assert!(effects
        .error
        .expect("a fault")
        .message
        .contains("option 3 does not exist"));
}

#[test]
fn the_next_check_is_exactly_when_a_time_comparison_flips() {
    // Given a proposal one day old
    let mut given = given();
    let action = given.post("alice", "hi");
    let proposed = given.action(action).proposed_at_ms;
    let now = proposed + DAY_MS;
    let next = |given: &Given, condition: &str| -> Option<u64> {
        let source = policy(&format!(
            "fn check(action, policy) {{\n    if {condition} {{ return FAILED; }}\n    PROPOSED\n}}"
        ));
        let effects = given.run(&source, action, now);
        assert_eq!(effects.error, None, "{condition}");
        assert_eq!(effects.outcome, Some(Outcome::Proposed), "{condition}");
        effects.next_check_at_ms
    };
    // When check compares elapsed time against a deadline, in each way of writing it,
    // then the next check is the first millisecond the comparison answers differently
    assert_eq!(
        next(&given, "action.proposal.elapsed() > days(3)"),
        Some(proposed + 3 * DAY_MS + 1)
    );
    assert_eq!(
        next(&given, "days(2) < action.proposal.elapsed()"),
        Some(proposed + 2 * DAY_MS + 1)
    );
    assert_eq!(
        next(
            &given,
            "now() - action.proposal.proposed_at >= days(1) + hours(1)"
        ),
        Some(proposed + DAY_MS + HOUR_MS)
    );
    assert_eq!(
        next(
            &given,
            "now() >= action.proposal.proposed_at + days(5) || action.proposal.elapsed() > days(4)"
        ),
        Some(proposed + 4 * DAY_MS + 1)
    );
    assert_eq!(
        next(&given, &format!("{} - now() <= 0", proposed + 2 * DAY_MS)),
        Some(proposed + 2 * DAY_MS)
    );
    // And a comparison already settled for good asks for nothing
    assert_eq!(next(&given, "action.proposal.elapsed() < 0"), None);
    // And no clock at all asks for nothing
    assert_eq!(next(&given, "false"), None);
    // When check does arithmetic the tracker cannot follow, then it looks again within
    // the recheck interval (or earlier, at an exact flip it did see)
    assert_eq!(
        next(&given, "action.proposal.elapsed() / hours(1) > 72"),
        Some(now + 60_000)
    );
    assert_eq!(
        next(
            &given,
            "`${now()}` == \"0\" || action.proposal.elapsed() > hours(24)"
        ),
        Some(now + 1)
    );
    // When the outcome is decided, then there is nothing to look at again
    let effects = given.run(
        &policy("fn check(action, policy) { if action.proposal.elapsed() > hours(1) { PASSED } }"),
        action,
        now,
    );
    assert_eq!(
        (effects.outcome, effects.next_check_at_ms),
        (Some(Outcome::Passed), None)
    );
    // When a clock value is stored, it is stored as an integer
    let effects = given.run(
        &policy("fn check(action, policy) { action.data.set(\"at\", now() + 5); }"),
        action,
        now,
    );
    assert_eq!(
        effects.action_data,
        [DataWrite::Set {
            key: "at".into(),
            value: Value::Int((now + 5) as i64)
        }]
    );
    assert_eq!(effects.next_check_at_ms, Some(now + 60_000));
}

/// A loopback server answering one request with `body` as JSON; the join handle yields
/// the request it received.
fn serve_once(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let host = listener.local_addr().expect("bound").to_string();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("one connection");
        let mut reader = BufReader::new(stream);
        let mut request = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a request line");
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().expect("a length");
            }
            request.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut content = vec![0; length];
        reader.read_exact(&mut content).expect("the body");
        request.push_str(&String::from_utf8_lossy(&content));
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        reader
            .get_mut()
            .write_all(response.as_bytes())
            .expect("answered");
        request
    });
    (host, server)
}

#[test]
fn external_calls_reach_allowlisted_hosts_are_recorded_and_replay() {
    // Given a loopback server answering JSON, and a policy that posts to it
    let mut given = given();
    let action = given.post("alice", "hi");
    let (host, server) = serve_once(r#"{"approved": true, "score": 7}"#);
    let source = policy(&format!(
        r#"
fn check(action, policy) {{
    let answer = http_post("http://{host}/score", #{{ action: action.id }});
    log(`${{answer.status}} ${{answer.body.score}}`);
    if answer.body.approved {{ PASSED }}
}}
"#
    ));
    // When it runs with that host allowed
    let live = LiveHttp::new(vec![host.clone()]);
    let effects = given.run_with(
        &source,
        given.action(action),
        given.policy(),
        given.at_ms,
        ALL_STEPS,
        &live,
    );
    // Then the policy saw the parsed answer, and the exchange is recorded
    assert_eq!(effects.error, None);
    assert_eq!(effects.log, ["200 7"]);
    assert_eq!(effects.outcome, Some(Outcome::Passed));
    let exchange = HttpExchange {
        method: "POST".into(),
        url: format!("http://{host}/score"),
        request_body: Value::Map(BTreeMap::from([(
            "action".into(),
            Value::Int(action.0 as i64),
        )])),
        status: 200,
        response: Value::Map(BTreeMap::from([
            ("approved".into(), Value::Bool(true)),
            ("score".into(), Value::Int(7)),
        ])),
    };
    assert_eq!(effects.http, [exchange]);
    let request = server.join().expect("served");
    assert!(request.starts_with("POST /score HTTP/1.1"), "{request}");
    assert!(
        request.ends_with(&format!(r#"{{"action":{}}}"#, action.0)),
        "{request}"
    );
    // When the evaluation is re-run against the recorded exchange, then the effects are
    // identical and the network is not touched (the server has stopped)
    let replay = RecordedHttp::new(effects.http.clone());
    let again = given.run_with(
        &source,
        given.action(action),
        given.policy(),
        given.at_ms,
        ALL_STEPS,
        &replay,
    );
    assert_eq!(again, effects);
    // When the replay is asked for a call that was not recorded, then it is a fault
    let replay = RecordedHttp::new(Vec::new());
    let effects = given.run_with(
        &source,
        given.action(action),
        given.policy(),
        given.at_ms,
        ALL_STEPS,
        &replay,
    );
    assert!(effects
        .error
        .expect("a fault")
        .message
        .contains("was not recorded"));
}

#[test]
fn calls_to_hosts_not_allowed_fail_closed_and_are_recorded_as_failures() {
    let mut given = given();
    let action = given.post("alice", "hi");
    let source =
        policy("fn check(action, policy) {\n    http_get(\"http://127.0.0.1:9/\");\n    PASSED\n}");
    // Given an allowlist without that host
    let live = LiveHttp::new(vec!["api.example.com".into(), "127.0.0.1:8".into()]);
    // When the policy calls it
    let effects = given.run_with(
        &source,
        given.action(action),
        given.policy(),
        given.at_ms,
        ALL_STEPS,
        &live,
    );
    // Then it is a fault at the call, and the failed exchange is recorded for replay
    let fault = effects.error.clone().expect("a fault");
    assert!(
        fault.message.contains("not in this community's allowlist"),
        "{fault:?}"
    );
    assert_eq!((fault.function.as_str(), fault.line), ("check", 3));
    assert_eq!(effects.http.len(), 1);
    assert_eq!(effects.http[0].status, HTTP_FAILED_STATUS);
    // And the replay of that record gives the same fault
    let replay = RecordedHttp::new(effects.http.clone());
    let again = given.run_with(
        &source,
        given.action(action),
        given.policy(),
        given.at_ms,
        ALL_STEPS,
        &replay,
    );
    assert_eq!(again, effects);
    // Given a community that allows no external calls, then it is a fault too
    let effects = given.run(&source, action, given.at_ms);
    assert!(effects
        .error
        .expect("a fault")
        .message
        .contains("allows no external calls"));
}

#[test]
fn filter_answers_a_boolean_and_may_not_call_out() {
    let mut given = given();
    let action = given.post("alice", "hi");
    let input = Input {
        state: given.ledger.state(),
        action: given.action(action),
        policy: given.policy(),
        now_ms: given.at_ms,
        http: &NoHttp,
    };
    let filter = |source: &str| {
        let compiled = given.runtime.compile(source).expect("compiles");
        given.runtime.filter(&compiled, &input)
    };
    let check = "\nfn check(action, policy) { PASSED }";
    // Given filters on the action's type, then they answer for this action
    assert_eq!(
        filter(&format!(
            "fn filter(action, policy) {{ action.action_type == \"slack.post_message\" }}{check}"
        )),
        Ok(true)
    );
    assert_eq!(
        filter(&format!(
            "fn filter(action, policy) {{ action.kind == \"constitution\" }}{check}"
        )),
        Ok(false)
    );
    // Given a filter answering something else, then it is a fault in filter
    let fault =
        filter(&format!("fn filter(action, policy) {{ \"yes\" }}{check}")).expect_err("a fault");
    assert_eq!(
        (fault.function.as_str(), fault.line, fault.column),
        ("filter", 1, 4)
    );
    assert!(fault.message.contains("true or false"), "{fault:?}");
    // Given a filter that calls out, then it is refused: filter decides from the ledger
    let fault = filter(&format!(
        "fn filter(action, policy) {{ http_get(\"http://127.0.0.1:9/\").status == 200 }}{check}"
    ))
    .expect_err("a fault");
    assert!(fault.message.contains("not allowed in filter"), "{fault:?}");
}
