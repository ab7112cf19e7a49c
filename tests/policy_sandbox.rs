//! The policy sandbox, given / when / then: hostile and broken scripts are refused when
//! compiled or stopped at a limit when run, and every stop is a `PolicyFault` naming the
//! function and the line, so the action fails closed and the audit trail says why.
//!
//! No test asserts a duration: limits are counted in operations and sizes, which is what
//! keeps a fault reproducible by `verify`. The suite running quickly is the evidence that
//! each stop comes well within a second of CPU.

use std::sync::Arc;

use ostrom::fixtures;
use ostrom::ledger::Ledger;
use ostrom::policy::{CompileError, Input, NoHttp, Runtime, Steps};
use ostrom::store::memory::MemoryStore;
use ostrom_schemas::record::{Effects, Outcome, PolicyFault};
use ostrom_schemas::{ActionId, ActionSpec, Params, StatementBody, Value};

struct Given {
    ledger: Ledger,
    action: ActionId,
    runtime: Runtime,
}

/// A community of three with one open platform proposal.
fn given() -> Given {
    let names: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| name.to_string())
        .collect();
    let (mut ledger, founded) = fixtures::found(
        Arc::new(MemoryStore::new()),
        "sandbox",
        "testing",
        &names,
        7,
        1_000,
    )
    .expect("founded");
    let params = Params::from([("text".to_owned(), Value::from("hello"))]);
    let action = ActionSpec::parse("slack.post_message", &params, &|_| None).expect("valid");
    let key = founded.members["alice"].clone();
    let signed = ledger.sign(
        "alice",
        &key,
        StatementBody::ActionProposed {
            action,
            not_before_ms: None,
        },
    );
    let seq = ledger.submit(signed, 2_000).expect("accepted").entry().seq;
    Given {
        ledger,
        action: ActionId(seq),
        runtime: Runtime::new(),
    }
}

impl Given {
    fn compile(&self, source: &str) -> Result<ostrom::policy::Compiled, CompileError> {
        self.runtime.compile(source)
    }

    fn run(&self, source: &str) -> Effects {
        let compiled = self.compile(source).expect("compiles");
        let state = self.ledger.state();
        let policy = state.policies.values().next().expect("a kit policy");
        let input = Input {
            state,
            action: &state.actions[&self.action],
            policy,
            now_ms: 3_000,
            http: &NoHttp,
        };
        self.runtime.run(
            &compiled,
            &input,
            Steps {
                initialize: true,
                notify: true,
            },
        )
    }

    /// Run `source` and return its fault, checking that a fault fails the action closed.
    fn fault(&self, source: &str) -> PolicyFault {
        let effects = self.run(source);
        assert_eq!(effects.outcome, Some(Outcome::Failed), "{effects:?}");
        assert!(!effects.execute);
        let fault = effects.error.expect("a fault");
        assert_eq!(effects.reason.as_deref(), Some(fault.message.as_str()));
        fault
    }
}

const FILTER: &str = "fn filter(action, policy) { true }\n";

#[test]
fn an_infinite_loop_stops_at_the_operation_limit() {
    // Given a check that never returns
    let given = given();
    let source = format!("{FILTER}fn check(action, policy) {{\n    loop {{ }}\n}}\n");
    // When it runs
    let fault = given.fault(&source);
    // Then the operation limit stops it, in check. Rhai drops the position of limit
    // errors on the way out of a function, so the fault names check's definition.
    assert_eq!(fault.function, "check");
    assert!(fault.message.contains("POLICY_OPERATIONS_MAX"), "{fault:?}");
    assert_eq!((fault.line, fault.column), (2, 4));
}

#[test]
fn deep_recursion_stops_at_the_call_depth_limit() {
    // Given a helper that recurses without end
    let given = given();
    let source = format!(
        "{FILTER}fn down(n) {{\n    down(n + 1)\n}}\nfn check(action, policy) {{ down(0) }}\n"
    );
    // When check calls it
    let fault = given.fault(&source);
    // Then the call depth limit stops it, reported in check (defined on line 5)
    assert_eq!(fault.function, "check");
    assert!(
        fault.message.contains("POLICY_CALL_LEVELS_MAX"),
        "{fault:?}"
    );
    assert_eq!((fault.line, fault.column), (5, 4));
}

#[test]
fn a_hundred_megabyte_string_is_refused() {
    // Given a string that doubles for ever
    let given = given();
    let source = format!(
        "{FILTER}fn check(action, policy) {{\n    let s = \"x\";\n    loop {{ s += s; }}\n}}\n"
    );
    // When it runs
    let fault = given.fault(&source);
    // Then the string size limit stops it long before 100 MB
    assert!(fault.message.contains("Length of string"), "{fault:?}");
    assert_eq!((fault.function.as_str(), fault.line), ("check", 2));
}

#[test]
fn a_huge_array_is_refused() {
    // Given an array padded to a hundred million items, and one that doubles
    let given = given();
    let padded = format!(
        "{FILTER}fn check(action, policy) {{\n    let a = [];\n    a.pad(100000000, 0);\n}}\n"
    );
    let doubled = format!(
        "{FILTER}fn check(action, policy) {{\n    let a = [1];\n    loop {{ a += a; }}\n}}\n"
    );
    for source in [padded, doubled] {
        // When they run
        let fault = given.fault(&source);
        // Then the array size limit stops both
        assert!(fault.message.contains("Size of array"), "{fault:?}");
        assert_eq!(fault.line, 2);
    }
}

#[test]
fn a_huge_map_is_refused() {
    // Given a map that grows by one key per iteration and is used as it grows
    let given = given();
    let source = format!(
        "{FILTER}fn check(action, policy) {{\n    let m = #{{}};\n    for i in 0..1000000 {{\n        m[`k${{i}}`] = i;\n        if i % 1000 == 0 && m.len() > 20000 {{ return PASSED; }}\n    }}\n}}\n"
    );
    // When it runs
    let fault = given.fault(&source);
    // Then the map size limit stops it before it ever reaches 20,000 keys
    assert!(fault.message.contains("Size of object map"), "{fault:?}");
    assert_eq!(fault.line, 2);
}

#[test]
fn eval_and_import_are_refused_when_compiled() {
    let given = given();
    // Given a policy that evaluates code from a string
    let source = format!("{FILTER}fn check(action, policy) {{\n    eval(\"1 + 1\")\n}}\n");
    // When it is compiled, then it is refused at the eval
    let error = given.compile(&source).expect_err("eval is disabled");
    assert_eq!((error.line, error.column), (3, 5), "{error}");
    // Given a policy that imports a module
    let source = format!("{FILTER}fn check(action, policy) {{\n    import \"fs\" as fs;\n}}\n");
    let error = given.compile(&source).expect_err("modules are absent");
    assert_eq!(error.line, 3, "{error}");
}

#[test]
fn eval_reached_through_a_function_pointer_is_a_fault() {
    // Given a policy that tries to reach eval by name at run time
    let given = given();
    let source = format!(
        "{FILTER}fn check(action, policy) {{\n    let f = Fn(\"ev\" + \"al\");\n    f.call(\"PASSED\")\n}}\n"
    );
    // When it runs, then it is a fault in check: eval is not even a name to point at
    let fault = given.fault(&source);
    assert_eq!(fault.function, "check");
    assert!(
        fault.message.contains("'eval' is a reserved keyword"),
        "{fault:?}"
    );
    assert_eq!(fault.line, 2);
}

#[test]
fn no_clock_no_sleep_no_output_no_file_access() {
    // Given policies that reach for the world outside
    let given = given();
    for (call, line) in [
        ("timestamp()", 3),
        ("sleep(1000)", 3),
        ("open_file(\"/etc/passwd\")", 3),
        ("exit()", 3),
        ("parse_json(\"{}\")", 3),
    ] {
        let source = format!("{FILTER}fn check(action, policy) {{\n    {call}\n}}\n");
        // When they run, then the function does not exist: a fault at that line
        let fault = given.fault(&source);
        assert!(fault.message.contains("not found"), "{call}: {fault:?}");
        assert_eq!(fault.line, line, "{call}");
    }
    // print and debug exist and say nothing (the check still decides)
    let source = format!("{FILTER}fn check(action, policy) {{ print(\"x\"); debug(1); PASSED }}\n");
    assert_eq!(given.run(&source).outcome, Some(Outcome::Passed));
}

#[test]
fn a_throw_is_a_fault_with_the_thrown_text() {
    // Given a check that throws
    let given = given();
    let source = format!(
        "{FILTER}fn check(action, policy) {{\n  if true {{ throw \"quorum unknown\"; }}\n}}\n"
    );
    // When it runs, then the fault carries the text, the function and the position
    let fault = given.fault(&source);
    assert_eq!(
        fault,
        PolicyFault {
            function: "check".into(),
            message: "quorum unknown".into(),
            line: 3,
            column: 13,
        }
    );
}

#[test]
fn compile_errors_report_line_and_column() {
    // Given a policy with a syntax error on line 3
    let given = given();
    let source = format!("{FILTER}fn check(action, policy) {{\n    let x = ;\n}}\n");
    // When it is compiled, then the error names line 3 and a column on it
    let error = given.compile(&source).expect_err("a syntax error");
    assert_eq!(error.line, 3, "{error}");
    assert!(error.column >= 5, "{error}");
    assert!(error.to_string().starts_with("line 3, column"), "{error}");
    // And an undefined variable is caught when compiled, not when run
    let source = format!("{FILTER}fn check(action, policy) {{\n    quorom > 1\n}}\n");
    let error = given.compile(&source).expect_err("strict variables");
    assert_eq!((error.line, error.column), (3, 5), "{error}");
}

#[test]
fn top_level_statements_are_refused() {
    let given = given();
    // Given statements before, between and after the functions
    for (source, line) in [
        (
            format!("let quorum = 3;\n{FILTER}fn check(action, policy) {{ PASSED }}\n"),
            1,
        ),
        (
            format!("{FILTER}print(\"hi\");\nfn check(action, policy) {{ PASSED }}\n"),
            2,
        ),
        (
            format!("{FILTER}fn check(action, policy) {{ PASSED }}\nPASSED\n"),
            3,
        ),
        (
            format!("{FILTER}fn check(action, policy) {{ PASSED }}\nconst X = 1;\n"),
            3,
        ),
    ] {
        // When compiled, then refused at the first statement
        let error = given.compile(&source).expect_err("top-level statement");
        assert_eq!(error.line, line, "{error}");
        assert!(error.message.contains("outside functions"), "{error}");
    }
    // Comments and blank lines are not statements
    let source =
        format!("// a policy\n\n{FILTER}/* done */ fn check(action, policy) {{ PASSED }}\n");
    given.compile(&source).expect("only functions");
}

#[test]
fn a_policy_without_filter_or_check_is_refused_at_line_one() {
    let given = given();
    // Given policies each missing one required function
    for (source, missing) in [
        ("fn check(action, policy) { PASSED }", "filter"),
        (
            "fn filter(action, policy) { true }\nfn pass(action, policy) { }",
            "check",
        ),
    ] {
        // When compiled, then refused at line 1, column 1, naming the function
        let error = given.compile(source).expect_err("missing function");
        assert_eq!((error.line, error.column), (1, 1));
        assert!(error.message.contains(missing), "{error}");
    }
}

#[test]
fn lifecycle_functions_take_action_and_policy_and_helpers_are_free() {
    let given = given();
    // Given a check with one parameter on line 3
    let source = format!("{FILTER}\nfn check(action) {{ PASSED }}\n");
    // When compiled, then refused at its name
    let error = given.compile(&source).expect_err("wrong arity");
    assert_eq!((error.line, error.column), (3, 4), "{error}");
    assert!(error.message.contains("two parameters"), "{error}");
    // Given helpers of any name and arity, then the policy compiles and knows them
    let source = format!(
        "{FILTER}fn quorum() {{ 2 }}\nfn majority(a, b, c) {{ a + b + c }}\nfn check(action, policy) {{ if quorum() > 1 {{ PASSED }} }}\n"
    );
    let compiled = given.compile(&source).expect("helpers are allowed");
    assert!(compiled.defines("quorum") && compiled.defines("majority"));
    assert!(compiled.defines("check") && !compiled.defines("notify"));
}

#[test]
fn a_fault_in_notify_is_reported_at_the_authors_column() {
    // Given a one-line notify that throws after the renamed definition
    let given = given();
    let source = format!(
        "{FILTER}fn check(action, policy) {{ PROPOSED }}\nfn notify(action, policy) {{ throw \"no\" }}\n"
    );
    // When it runs, then the fault is in notify, at the column the author sees
    let fault = given.fault(&source);
    assert_eq!(fault.function, "notify");
    assert_eq!((fault.line, fault.column), (3, 29), "{fault:?}");
}

#[test]
fn work_that_counts_few_operations_but_costs_much_time_hits_the_backstop() {
    // Given a loop that asks a 50,000-item array its length: each call counts as a few
    // operations, but Rhai re-measures the whole array after every method call on it
    let given = given();
    let source = format!(
        "{FILTER}fn check(action, policy) {{\n    let a = [];\n    a.pad(50000, 0);\n    loop {{ a.len(); }}\n}}\n"
    );
    // When it runs, then the CPU-time backstop stops it, and says so
    let fault = given.fault(&source);
    assert!(ostrom::policy::is_time_limit(&fault), "{fault:?}");
    assert_eq!(fault.function, "check");
    assert!(!ostrom::policy::is_time_limit(&given.fault(&format!(
        "{FILTER}fn check(action, policy) {{ loop {{ }} }}\n"
    ))));
}

#[test]
fn the_runtime_is_shared_across_threads() {
    // Given one runtime and one compiled policy
    fn shared<T: Send + Sync>() {}
    shared::<Runtime>();
    shared::<ostrom::policy::Compiled>();
    let given = given();
    let compiled = Arc::new(
        given
            .compile(&format!("{FILTER}fn check(action, policy) {{ let n = 0; for i in 0..1000 {{ n += i; }} if n == 499500 {{ PASSED }} }}\n"))
            .expect("compiles"),
    );
    // When four threads evaluate it at once, then each gets the same answer
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let compiled = compiled.clone();
            let given = &given;
            scope.spawn(move || {
                let state = given.ledger.state();
                let input = Input {
                    state,
                    action: &state.actions[&given.action],
                    policy: state.policies.values().next().expect("policy"),
                    now_ms: 3_000,
                    http: &NoHttp,
                };
                let effects = given.runtime.run(
                    &compiled,
                    &input,
                    Steps {
                        initialize: false,
                        notify: false,
                    },
                );
                assert_eq!(effects.outcome, Some(Outcome::Passed));
            });
        }
    });
}
