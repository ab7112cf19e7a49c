//! Policy engine benchmark (issue 3), in one run:
//!
//! 1. **checks/s**: the `democracy` kit's constitution policy re-checked on proposals with
//!    50 members and 50 votes each (what every vote triggers), on one core.
//! 2. **sweep cost**: 100,000 open proposals of which 1% can change by now (their policy
//!    reads the clock and its deadline passed); one periodic sweep (`Engine::tick`) against
//!    the cost of re-checking every open proposal, which is what a sweep without timers
//!    would do.
//!
//! Run: `cargo bench --bench policy`.

use std::sync::Arc;
use std::time::Instant;

use ostrom::engine::{Engine, HttpSource, NoPlatforms};
use ostrom::fixtures;
use ostrom::ledger::{Ledger, NoReactor};
use ostrom::policy::{Input, NoHttp, Runtime, Steps};
use ostrom::store::memory::MemoryStore;
use ostrom::store::LogStore;
use ostrom_schemas::verify::{check_statement, Sealable};
use ostrom_schemas::{ActionId, ActionSpec, Params, StatementBody, Value, VoteValue};

const MEMBERS: usize = 50;
const CHECK_PROPOSALS: usize = 200;
const CHECKS: usize = 50_000;
const OPEN_PROPOSALS: usize = 100_000;
const CHANGEABLE_PERCENT: usize = 1;
const START_MS: u64 = 1_767_225_600_000;
const DAY_MS: u64 = 86_400_000;

fn document(index: usize) -> ActionSpec {
    let params = Params::from([
        ("name".to_owned(), Value::from(format!("doc-{index}"))),
        ("text".to_owned(), Value::from("t")),
    ]);
    ActionSpec::parse("add_document", &params, &|_| None).expect("valid")
}

fn propose(
    ledger: &mut Ledger,
    founded: &fixtures::Founded,
    member: &str,
    action: ActionSpec,
    not_before_ms: Option<u64>,
) -> Sealable {
    let signed = ledger.sign(
        member,
        &founded.members[member],
        StatementBody::ActionProposed {
            action,
            not_before_ms,
        },
    );
    Sealable::Statement(check_statement(signed).expect("signed"))
}

fn checks_per_second(runtime: &Arc<Runtime>) {
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(MEMBERS);
    let (mut ledger, founded) =
        fixtures::found(store, "checks", "democracy", &names, 1, START_MS).expect("founded");
    // Proposals with 50 votes each: 20 yes, 20 no, 10 other choices, so none is decided.
    for index in 0..CHECK_PROPOSALS {
        let item = propose(&mut ledger, &founded, &names[0], document(index), None);
        ledger
            .append_with(vec![item], START_MS, &mut NoReactor, false)
            .expect("appended");
        let action = ActionId(ledger.state().position.next_seq - 1);
        let mut votes = Vec::new();
        for (voter, name) in names.iter().enumerate() {
            let value = match voter % 5 {
                0 | 1 => VoteValue::Yes,
                2 | 3 => VoteValue::No,
                _ => VoteValue::Choice("abstain".into()),
            };
            let signed = ledger.sign(
                name,
                &founded.members[name],
                StatementBody::VoteCast { action, value },
            );
            votes.push(Sealable::Statement(
                check_statement(signed).expect("signed"),
            ));
        }
        ledger
            .append_with(votes, START_MS, &mut NoReactor, false)
            .expect("appended");
    }
    let state = ledger.state();
    let policy = state
        .policy_by_name("Majority vote")
        .expect("the kit's policy");
    let compiled = runtime.compile(&policy.spec.source).expect("compiles");
    let ids: Vec<ActionId> = state.open.iter().copied().collect();
    let started = Instant::now();
    let mut proposed = 0;
    for index in 0..CHECKS {
        let action = &state.actions[&ids[index % ids.len()]];
        let input = Input {
            state,
            action,
            policy,
            now_ms: START_MS + 1_000,
            http: &NoHttp,
        };
        let effects = runtime.run(
            &compiled,
            &input,
            Steps {
                initialize: false,
                notify: false,
            },
        );
        if effects.outcome == Some(ostrom_schemas::record::Outcome::Proposed) {
            proposed += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(
        proposed, CHECKS,
        "every check should leave its proposal open"
    );
    println!(
        "checks: {CHECKS} democracy-kit checks ({MEMBERS} members, {MEMBERS} votes per proposal) in {elapsed:.2} s = {:.0} checks/s on one core ({:.1} µs per check)",
        CHECKS as f64 / elapsed,
        elapsed * 1e6 / CHECKS as f64
    );
}

fn sweep_cost(runtime: &Arc<Runtime>) {
    // Open proposals under the democracy kit: each reads the clock ("fail after 3 days"), so
    // each has a timer. 1% were proposed 3 days before the sweep; their timers are due.
    let store: Arc<dyn LogStore> = Arc::new(MemoryStore::new());
    let names = fixtures::member_names(MEMBERS);
    let (mut ledger, founded) =
        fixtures::found(store, "sweep", "democracy", &names, 2, START_MS).expect("founded");
    let mut engine = Engine::new(
        runtime.clone(),
        Arc::new(NoPlatforms),
        HttpSource::Fixed(Arc::new(NoHttp)),
    );
    let changeable = OPEN_PROPOSALS * CHANGEABLE_PERCENT / 100;
    let started = Instant::now();
    let mut counters = vec![0u64; MEMBERS];
    counters[0] = 1; // the founding statement used the founder's first counter
    for chunk_start in (0..OPEN_PROPOSALS).step_by(1_000) {
        let early = chunk_start < changeable;
        let at = if early {
            START_MS
        } else {
            START_MS + 2 * DAY_MS
        };
        let items: Vec<Sealable> = (chunk_start..chunk_start + 1_000)
            .map(|index| {
                let member = index % MEMBERS;
                counters[member] += 1;
                let body = StatementBody::ActionProposed {
                    action: document(index),
                    not_before_ms: None,
                };
                Sealable::Statement(
                    check_statement(founded.sign(&names[member], counters[member], body))
                        .expect("signed"),
                )
            })
            .collect();
        ledger
            .append_with(items, at, &mut engine, false)
            .expect("appended");
    }
    eprintln!(
        "built {} open proposals in {:.1} s",
        ledger.state().open.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(ledger.state().open.len(), OPEN_PROPOSALS);
    assert_eq!(engine.timers(), OPEN_PROPOSALS);

    // The sweep: 3 days after the first proposals.
    let sweep_at = START_MS + 3 * DAY_MS + 1_000;
    let started = Instant::now();
    ledger
        .append_with(Vec::new(), sweep_at, &mut engine, true)
        .expect("swept");
    let sweep = started.elapsed().as_secs_f64();
    let failed = ledger
        .state()
        .actions
        .values()
        .filter(|action| action.status == ostrom_projections::Status::Failed)
        .count();
    assert_eq!(
        failed, changeable,
        "exactly the changeable proposals were decided"
    );

    // What a sweep without timers would do: check every open proposal.
    let state = ledger.state();
    let policy = state
        .policy_by_name("Majority vote")
        .expect("the kit's policy");
    let compiled = runtime.compile(&policy.spec.source).expect("compiles");
    let started = Instant::now();
    for action in state.open_actions() {
        let input = Input {
            state,
            action,
            policy,
            now_ms: sweep_at,
            http: &NoHttp,
        };
        std::hint::black_box(runtime.run(
            &compiled,
            &input,
            Steps {
                initialize: false,
                notify: false,
            },
        ));
    }
    let all = started.elapsed().as_secs_f64() * OPEN_PROPOSALS as f64 / state.open.len() as f64;
    println!(
        "sweep: {OPEN_PROPOSALS} open proposals, {changeable} changeable: one sweep {:.1} ms vs {:.1} ms to check all open = {:.2}% (target < 5%)",
        sweep * 1e3,
        all * 1e3,
        100.0 * sweep / all
    );
}

fn main() {
    let runtime = Arc::new(Runtime::new());
    println!("ostrom policy benchmark");
    checks_per_second(&runtime);
    sweep_cost(&runtime);
}
