//! The policy engine's rules, given / when / then, through the ledger and reducer: hostile
//! policies are contained and fail only their own actions; proposals are re-governed when
//! their policy changes; bypasses and refusals reach the audit trail; and a randomised run
//! replays to the same state hash, seed after seed.

use std::sync::Arc;

use ostrom::engine::{Engine, HttpSource, NoPlatforms};
use ostrom::fixtures::{self, Founded};
use ostrom::ledger::{replay_from_store, Ledger};
use ostrom::policy::{NoHttp, Runtime};
use ostrom::store::memory::MemoryStore;
use ostrom::store::LogStore;
use ostrom_projections::state::Execution;
use ostrom_projections::{GovernanceState, Status};
use ostrom_schemas::record::{Phase, Record};
use ostrom_schemas::verify::{check_statement, Refusal, Sealable};
use ostrom_schemas::{ActionId, ActionSpec, Entry, Params, StatementBody, Value, VoteValue};

const DAY_MS: u64 = 86_400_000;

struct Community {
    store: Arc<dyn LogStore>,
    ledger: Ledger,
    engine: Engine,
    founded: Founded,
    names: Vec<String>,
    now: u64,
}

fn community(kit: &str, members: usize, seed: u64) -> Community {
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(members);
    let (ledger, founded) =
        fixtures::found(store.clone(), "engine", kit, &names, seed, 1_000_000).expect("founded");
    let mut engine = Engine::new(
        Arc::new(Runtime::new()),
        Arc::new(NoPlatforms),
        HttpSource::Fixed(Arc::new(NoHttp)),
    );
    engine.resume(ledger.state());
    Community {
        store,
        ledger,
        engine,
        founded,
        names,
        now: 1_000_000,
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), Value::from(*value)))
        .collect()
}

impl Community {
    fn state(&self) -> &GovernanceState {
        self.ledger.state()
    }

    fn submit(&mut self, member: &str, body: StatementBody) -> Result<u64, Refusal> {
        let key = self.founded.members[member].clone();
        let signed = self.ledger.sign(member, &key, body);
        let checked = check_statement(signed)?;
        self.now += 1;
        let mut results = self
            .ledger
            .append_with(
                vec![Sealable::Statement(checked)],
                self.now,
                &mut self.engine,
                true,
            )
            .expect("the store accepts");
        results
            .pop()
            .expect("one result")
            .map(|entry| entry.entry().seq)
    }

    fn propose(
        &mut self,
        member: &str,
        action_type: &str,
        pairs: &[(&str, &str)],
    ) -> Result<ActionId, Refusal> {
        let action =
            ActionSpec::parse(action_type, &params(pairs), &|_| None).expect("valid action");
        self.submit(
            member,
            StatementBody::ActionProposed {
                action,
                not_before_ms: None,
            },
        )
        .map(ActionId)
    }

    fn vote(&mut self, member: &str, action: ActionId, value: VoteValue) {
        self.submit(member, StatementBody::VoteCast { action, value })
            .expect("vote accepted");
    }

    fn advance(&mut self, by_ms: u64) {
        self.now += by_ms;
        self.ledger
            .append_with(Vec::new(), self.now, &mut self.engine, true)
            .expect("the store accepts");
    }

    fn records(&self) -> Vec<Entry> {
        self.store
            .read_range(self.founded.community, 0, u64::MAX)
            .expect("readable")
            .iter()
            .map(|bytes| Entry::decode(bytes).expect("decodes"))
            .collect()
    }

    /// Add a policy through governance (the testing kit passes constitution actions at once).
    fn add_policy(&mut self, name: &str, kind: &str, types: &str, priority: &str, source: &str) {
        let mut pairs = vec![
            ("name", name),
            ("kind", kind),
            ("source", source),
            ("priority", priority),
        ];
        if !types.is_empty() {
            pairs.push(("action_types", types));
        }
        let id = self
            .propose("member-0", "add_policy", &pairs)
            .expect("proposal accepted");
        assert_eq!(
            self.state().actions[&id].status,
            Status::Passed,
            "{:?}",
            self.state().actions[&id].reason
        );
    }
}

const HOSTILE: &[(&str, &str)] = &[
    ("an infinite loop", "fn filter(a, p) { true }\nfn check(a, p) { loop { } }"),
    ("deep recursion", "fn filter(a, p) { true }\nfn down(n) { down(n + 1) }\nfn check(a, p) { down(0) }"),
    ("a 100 MB string", "fn filter(a, p) { true }\nfn check(a, p) { let s = \"xxxxxxxxxx\"; while s.len() < 100000000 { s += s; } PASSED }"),
    ("a huge array", "fn filter(a, p) { true }\nfn check(a, p) { let v = []; loop { v.push(1); } }"),
];

#[test]
fn hostile_policies_fail_their_own_actions_and_the_engine_goes_on() {
    for (what, source) in HOSTILE {
        // Given a hostile policy governing slack.post_message, above the kit's all-pass policy
        let mut community = community("testing", 3, 1);
        community.add_policy("hostile", "platform", "slack.post_message", "10", source);
        // When a message is proposed under it
        let hostile = community
            .propose("member-1", "slack.post_message", &[("text", "hi")])
            .expect("accepted");
        // Then the action fails closed with the fault recorded
        let action = &community.state().actions[&hostile];
        assert_eq!(action.status, Status::Failed, "{what}");
        let fault = action
            .evaluations
            .last()
            .and_then(|summary| summary.error.clone())
            .unwrap_or_else(|| panic!("{what}: no fault recorded"));
        assert_eq!(fault.function, "check", "{what}");
        assert!(fault.line >= 1, "{what}");
        // And other proposals are still decided
        let other = community
            .propose("member-2", "slack.rename_conversation", &[("name", "x")])
            .expect("accepted");
        assert_eq!(
            community.state().actions[&other].status,
            Status::Passed,
            "{what}"
        );
    }
}

#[test]
fn a_policy_that_does_not_compile_is_refused_at_propose_time_and_audited() {
    let mut community = community("testing", 2, 2);
    let before = community.state().position.next_seq;
    let refusal = community
        .propose(
            "member-1",
            "add_policy",
            &[
                ("name", "broken"),
                ("kind", "platform"),
                (
                    "source",
                    "fn filter(a, p) { true\nfn check(a, p) { PASSED }",
                ),
            ],
        )
        .expect_err("refused");
    assert_eq!(refusal.code, "compile_error");
    assert!(refusal.reason.contains("line"), "{}", refusal.reason);
    // The refusal is in the audit trail, and nothing else was appended.
    let records = community.records();
    assert_eq!(records.len() as u64, before + 1);
    assert!(
        matches!(records.last().and_then(Entry::record), Some(Record::Refused { code, .. }) if code == "compile_error")
    );
}

#[test]
fn a_member_with_execute_permission_bypasses_policies_and_it_is_recorded() {
    // Given the dictator kit, whose founder holds execute on everything
    let mut community = community("dictator", 3, 3);
    // When the dictator proposes, and someone else proposes
    let bypassed = community
        .propose(
            "member-0",
            "add_document",
            &[("name", "rules"), ("text", "mine")],
        )
        .expect("accepted");
    let governed = community
        .propose(
            "member-1",
            "add_document",
            &[("name", "wish"), ("text", "ours")],
        )
        .expect("accepted");
    // Then the dictator's action passed with no governing policy and a recorded bypass
    let action = &community.state().actions[&bypassed];
    assert_eq!(action.status, Status::Passed);
    assert!(action.governing.is_none());
    assert!(matches!(action.execution, Execution::Executed { .. }));
    assert!(community.records().iter().any(|entry| matches!(entry.record(), Some(Record::ExecutedByPermission { action, .. }) if *action == bypassed)));
    // And the other waits for the dictator's vote
    assert_eq!(
        community.state().actions[&governed].status,
        Status::Proposed
    );
    community.vote("member-0", governed, VoteValue::Yes);
    assert_eq!(community.state().actions[&governed].status, Status::Passed);
}

#[test]
fn a_proposal_is_re_governed_when_its_policy_changes_and_keeps_its_votes() {
    // Given the democracy kit with 5 members, and a proposal with 2 yes votes (not enough)
    let mut community = community("democracy", 5, 4);
    let doc = community
        .propose("member-1", "add_document", &[("name", "a"), ("text", "b")])
        .expect("accepted");
    community.vote("member-1", doc, VoteValue::Yes);
    community.vote("member-2", doc, VoteValue::Yes);
    let old_version = community.state().actions[&doc]
        .governing
        .expect("governed")
        .1;
    // When a change to the majority policy (needing 2 yes now) passes by a majority
    let change = community
        .propose("member-0", "change_policy", &[("policy", "Majority vote"), ("source", "fn filter(a, p) { true }\nfn check(a, p) { if a.proposal.yes_votes().len() >= 2 { PASSED } else { PROPOSED } }")])
        .expect("accepted");
    for member in ["member-0", "member-1", "member-2"] {
        community.vote(member, change, VoteValue::Yes);
    }
    assert_eq!(community.state().actions[&change].status, Status::Passed);
    // Then the pending proposal was re-governed under the new version with its votes kept, and passed
    let action = &community.state().actions[&doc];
    assert_eq!(action.votes.len(), 2);
    assert_ne!(action.governing.expect("governed").1, old_version);
    assert!(action
        .evaluations
        .iter()
        .any(|summary| summary.phase == Phase::Regovern));
    assert_eq!(action.status, Status::Passed);
}

#[test]
fn time_based_rules_fire_from_timers_and_only_changeable_proposals_have_one() {
    // Given the democracy kit: constitution actions fail after 3 days, platform actions pass at once
    let mut community = community("democracy", 5, 5);
    let doc = community
        .propose("member-1", "add_document", &[("name", "a"), ("text", "b")])
        .expect("accepted");
    let message = community
        .propose("member-1", "slack.post_message", &[("text", "hi")])
        .expect("accepted");
    assert_eq!(community.state().actions[&message].status, Status::Passed);
    // Then only the time-dependent proposal holds a timer, at 3 days
    assert_eq!(community.engine.timers(), 1);
    // When 3 days pass without a majority
    community.advance(3 * DAY_MS - 10);
    assert_eq!(community.state().actions[&doc].status, Status::Proposed);
    community.advance(20);
    // Then the proposal failed, decided by a timer evaluation
    let action = &community.state().actions[&doc];
    assert_eq!(action.status, Status::Failed);
    assert_eq!(
        action.evaluations.last().map(|summary| summary.phase),
        Some(Phase::Timer)
    );
    assert_eq!(community.engine.timers(), 0);
}

#[test]
fn members_without_propose_permission_are_refused_and_audited() {
    let mut community = community("testing", 3, 6);
    let edit = community
        .propose(
            "member-0",
            "edit_role",
            &[("role", "everyone"), ("propose", "add_document")],
        )
        .expect("accepted");
    assert_eq!(community.state().actions[&edit].status, Status::Passed);
    let refusal = community
        .propose(
            "member-1",
            "grant_role",
            &[("role", "everyone"), ("members", "member-2")],
        )
        .expect_err("refused");
    assert_eq!(refusal.code, "not_permitted");
    assert!(
        matches!(community.records().last().and_then(Entry::record), Some(Record::Refused { member, .. }) if member == "member-1")
    );
}

/// A tiny deterministic generator for the randomised run (seeded, replayable).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn randomised_run(seed: u64) -> (Community, usize) {
    let mut community = community("jury", 9, seed);
    let mut rng = SplitMix(seed);
    let mut open: Vec<ActionId> = Vec::new();
    let mut steps = 0;
    for round in 0..150 {
        let member = community.names[rng.below(9) as usize].clone();
        match rng.below(10) {
            0..=2 => {
                let name = format!("doc-{round}");
                if let Ok(id) =
                    community.propose(&member, "add_document", &[("name", &name), ("text", "t")])
                {
                    open.push(id);
                }
            }
            3 => {
                let options = serde_json::json!([
                    { "type": "set_role_members", "params": { "role": "everyone", "members": [] } },
                    { "type": "add_document", "params": { "name": format!("elected-{round}"), "text": "x" } }
                ]);
                let mut pairs = Params::new();
                pairs.insert(
                    "options".into(),
                    serde_json::from_value(options).expect("value"),
                );
                let action = ActionSpec::parse("election", &pairs, &|_| None).expect("valid");
                if let Ok(seq) = community.submit(
                    &member,
                    StatementBody::ActionProposed {
                        action,
                        not_before_ms: None,
                    },
                ) {
                    open.push(ActionId(seq));
                }
            }
            4 => {
                let source = format!(
                    "fn filter(a, p) {{ a.action_type == \"add_document\" }}\nfn initialize(a, p) {{ a.data.set(\"jury\", random_sample(members(), 3)); }}\nfn check(a, p) {{ if a.proposal.yes_votes(a.data.get(\"jury\")).len() >= {} {{ return PASSED; }} if a.proposal.elapsed() > hours({}) {{ return FAILED; }} PROPOSED }}",
                    1 + rng.below(2),
                    1 + rng.below(48)
                );
                let name = format!("policy-{round}");
                let _ = community.propose(
                    &member,
                    "add_policy",
                    &[
                        ("name", &name),
                        ("kind", "constitution"),
                        ("action_types", "add_document"),
                        ("source", &source),
                        ("priority", "1"),
                    ],
                );
            }
            5..=8 if !open.is_empty() => {
                let action = open[rng.below(open.len() as u64) as usize];
                let value = match rng.below(3) {
                    0 => VoteValue::Yes,
                    1 => VoteValue::No,
                    _ => VoteValue::Option(rng.below(2)),
                };
                let key = community.founded.members[&member].clone();
                let signed =
                    community
                        .ledger
                        .sign(&member, &key, StatementBody::VoteCast { action, value });
                if let Ok(checked) = check_statement(signed) {
                    community.now += 1;
                    let _ = community.ledger.append_with(
                        vec![Sealable::Statement(checked)],
                        community.now,
                        &mut community.engine,
                        true,
                    );
                }
            }
            _ => community.advance(rng.below(12 * 3_600_000)),
        }
        steps += 1;
    }
    (community, steps)
}

#[test]
fn randomised_runs_replay_to_the_same_state_hash() {
    for seed in [1, 2, 3, 4] {
        // Given a randomised run of proposals, votes, policy changes, elections and time
        let (community, steps) = randomised_run(seed);
        assert_eq!(steps, 150);
        let live = community.state().state_hash();
        let decided = community
            .state()
            .actions
            .values()
            .filter(|action| action.status != Status::Proposed)
            .count();
        assert!(
            decided > 5,
            "seed {seed}: the run decided only {decided} actions"
        );
        // When its log is replayed twice from genesis, verifying every entry
        let replay = || {
            let mut state = GovernanceState::default();
            replay_from_store(
                &*community.store,
                community.founded.community,
                &mut state,
                &indicatif::ProgressBar::hidden(),
            )
            .unwrap_or_else(|bad| panic!("seed {seed}: {bad}"));
            state.state_hash()
        };
        // Then both replays give the live state's hash
        assert_eq!(replay(), live, "seed {seed}: first replay diverged");
        assert_eq!(replay(), live, "seed {seed}: second replay diverged");
    }
}

// Regression: the jury kit drew `random_sample(members(), 3)`, which fails in a community
// of fewer than three members, so every constitution action failed closed there.
#[test]
fn the_jury_kit_works_in_a_community_smaller_than_its_jury() {
    let mut community = community("jury", 2, 7);
    let doc = community
        .propose("member-0", "add_document", &[("name", "a"), ("text", "b")])
        .expect("accepted");
    assert_eq!(
        community.state().actions[&doc].status,
        Status::Proposed,
        "{:?}",
        community.state().actions[&doc].reason
    );
    community.vote("member-0", doc, VoteValue::Yes);
    community.vote("member-1", doc, VoteValue::Yes);
    assert_eq!(community.state().actions[&doc].status, Status::Passed);
}

#[test]
fn trigger_follow_ups_arrive_and_chains_of_them_are_bounded() {
    // Given a trigger that answers every message with a follow-up message
    let mut community = community("testing", 2, 8);
    community.add_policy(
        "echo",
        "trigger",
        "slack.post_message",
        "0",
        "fn filter(a, p) { true }\nfn check(a, p) { propose(\"slack.post_message\", #{ text: \"echo\" }); PASSED }",
    );
    // When one message is proposed
    let first = community
        .propose("member-1", "slack.post_message", &[("text", "hi")])
        .expect("accepted");
    // Then each follow-up arrives (is governed and passes), and the chain stops at its depth bound
    let follow_ups: Vec<_> = community
        .state()
        .actions
        .values()
        .filter(|action| action.proposed_by_policy.is_some())
        .collect();
    assert_eq!(
        follow_ups.len(),
        ostrom::engine::FOLLOW_UP_DEPTH_MAX as usize
    );
    assert!(
        follow_ups
            .iter()
            .all(|action| action.status == Status::Passed),
        "every follow-up was decided"
    );
    assert_eq!(community.state().actions[&first].status, Status::Passed);

    // Given a trigger that answers every message with eight (exponential within the depth bound)
    let mut community = community_with_fanout();
    let before = community.state().actions.len();
    community
        .propose("member-1", "slack.post_message", &[("text", "hi")])
        .expect("accepted");
    // Then one entry causes at most FOLLOW_UPS_PER_ENTRY_MAX follow-ups
    let created = community.state().actions.len() - before - 1;
    assert_eq!(created, ostrom::engine::FOLLOW_UPS_PER_ENTRY_MAX);
}

fn community_with_fanout() -> Community {
    let mut community = community("testing", 2, 9);
    community.add_policy(
        "fanout",
        "trigger",
        "slack.post_message",
        "0",
        "fn filter(a, p) { true }\nfn check(a, p) { for i in 0..8 { propose(\"slack.post_message\", #{ text: `echo ${i}` }); } PASSED }",
    );
    community
}

#[test]
fn randomised_runs_verify_by_re_execution() {
    for seed in [1, 2, 3, 4, 5, 6, 7, 8] {
        // Given a randomised run: random juries, elections, policies added while proposals
        // are open (so they are re-governed), timers
        let (community, _) = randomised_run(seed);
        let evaluations = community
            .store
            .read_range(community.founded.community, 0, u64::MAX)
            .expect("read")
            .iter()
            .filter(|bytes| {
                matches!(
                    ostrom_schemas::Entry::decode(bytes).map(|entry| entry.body),
                    Ok(ostrom_schemas::Body::Record(
                        ostrom_schemas::Record::Evaluated(_)
                    ))
                )
            })
            .count() as u64;
        // When its log is verified with every evaluation re-executed
        let mut audit =
            ostrom::engine::reexecute::Audit::new(Arc::new(ostrom::policy::Runtime::new()));
        let mut state = GovernanceState::default();
        ostrom::ledger::replay_inspecting(
            &*community.store,
            community.founded.community,
            &mut state,
            u64::MAX,
            &indicatif::ProgressBar::hidden(),
            &mut |state, entry| audit.inspect(state, entry),
        )
        .unwrap_or_else(|bad| panic!("seed {seed}: {bad}"));
        // Then every evaluation reproduced its recorded effects
        assert_eq!(audit.reexecuted, evaluations, "seed {seed}");
        assert_eq!(state.state_hash(), community.state().state_hash());
    }
}
