//! Policies: the hardened Rhai runtime and the policy API (DESIGN.md §4,
//! ../shared/spec/policy-api.md).
//!
//! What flows in: a policy's source (compiled and checked once per version into an
//! immutable, shared [`Compiled`]), and for each evaluation an [`Input`]: the state, the
//! action, the governing policy, the evaluation time from the log and an [`Http`]. What
//! comes out: `filter`'s answer, or the [`Effects`] of one lifecycle session (the outcome,
//! data writes, notifications, follow-ups, external calls, log lines, a fault, and when
//! to look again). The engine writes those effects into the log; replay applies them and
//! never re-runs a script; `verify` re-runs the script with [`RecordedHttp`] and compares.
//!
//! What is deliberately absent from a policy's world: the wall clock (only
//! `Input::now_ms`), ambient randomness (only a ChaCha20 stream seeded from the proposal
//! and the policy version), the network (only through the engine's `Http`), files,
//! modules, `eval`, output, floats. One `Runtime` (one `rhai::Engine`) serves every
//! evaluation; each evaluation's state lives in its own session.
//!
//! Codemap: [`limits`] names every bound; `api` builds the engine and registers the API;
//! `session` is one evaluation's state; `clock` tracks time; `convert` maps `Value` and
//! `Dynamic`; `http` holds the external-call clients; `source` finds definitions in source.

mod api;
mod budget;
mod clock;
mod convert;
mod http;
pub mod limits;
mod session;
mod source;

use std::collections::BTreeSet;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, ParseError, Position, Scope, AST};

use ostrom_projections::state::{Action, Policy};
use ostrom_projections::GovernanceState;
use ostrom_schemas::limits::POLICY_SOURCE_BYTES_MAX;
use ostrom_schemas::record::{Effects, Outcome, PolicyFault};

pub use self::http::{
    Http, HttpRequest, HttpResponse, LiveHttp, NoHttp, RecordedHttp, HTTP_FAILED_STATUS,
};
pub use self::session::{Directory, RANDOM_DOMAIN};

use self::api::{ActionHandle, PolicyHandle};
use self::limits::*;
use self::session::{Copies, HttpCall, Session, SessionHandle, Stage};

/// The lifecycle functions, in the order a session may call them after `filter`.
pub const LIFECYCLE_FUNCTIONS: [&str; 6] =
    ["filter", "initialize", "check", "notify", "pass", "fail"];

/// Was this fault caused by the CPU-time backstop (`limits::POLICY_CPU_TIME_MAX_MS`)?
/// Every other fault recurs identically when the evaluation is re-run; this one may not,
/// since it depends on the speed of the machine.
pub fn is_time_limit(fault: &PolicyFault) -> bool {
    fault.message.starts_with(budget::TIME_LIMIT_MESSAGE)
}

/// What the policy's own `notify(action, policy)` is renamed to before compiling, so that
/// inside it a call `notify(members, text)` reaches the API (see `source`). Authors
/// cannot define a function with this name.
const NOTIFY_RENAMED: &str = "ostrom_lifecycle_notify";

/// A policy that cannot be compiled or is not a valid policy; `line` and `column` are
/// 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for CompileError {}

/// Where the `notify` definition was renamed: columns after it on its line are shifted.
#[derive(Clone, Copy, Debug)]
struct Rename {
    line: u32,
    column: u32,
}

/// A compiled, checked policy version: immutable, shared by every evaluation.
#[derive(Clone, Debug)]
pub struct Compiled {
    ast: Arc<AST>,
    /// Every function the source defines, by the name the author wrote.
    functions: BTreeSet<String>,
    /// Where each lifecycle function is defined (line, column), for faults that are not
    /// at a line of their own (a `check` returning a number).
    locations: Vec<(String, u32, u32)>,
    rename: Option<Rename>,
    /// The source mentions `http_`: an evaluation needs the thread for external calls.
    uses_http: bool,
    /// The source mentions `policy_data`: an evaluation copies other policies' data.
    uses_policy_data: bool,
    /// The source mentions `votes_history`: an evaluation copies the proposal's whole vote
    /// history (otherwise only the current votes, so a check does not grow with how often
    /// members changed their minds).
    uses_vote_history: bool,
}

impl Compiled {
    /// Does the policy define `function` (a lifecycle function or a helper)?
    pub fn defines(&self, function: &str) -> bool {
        self.functions.contains(function)
    }

    fn location(&self, function: &str) -> (u32, u32) {
        self.locations
            .iter()
            .find(|(name, _, _)| name == function)
            .map_or((1, 1), |(_, line, column)| (*line, *column))
    }
}

/// What one evaluation reads, and its only clock and network.
pub struct Input<'a> {
    pub state: &'a GovernanceState,
    pub action: &'a Action,
    pub policy: &'a Policy,
    /// The evaluation time, from the log: the only clock a policy sees.
    pub now_ms: u64,
    pub http: &'a dyn Http,
}

/// Which optional steps of the lifecycle this evaluation includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// Run `initialize` (if defined) before `check`: the policy starts governing.
    pub initialize: bool,
    /// Run `notify` (if defined) when `check` answers PROPOSED: not notified yet.
    pub notify: bool,
}

/// The hardened engine, built once; `Send + Sync`, shared by every evaluation.
pub struct Runtime {
    engine: Engine,
    /// Stops at the first operation: run over a policy's top-level statements, it says
    /// whether there are any, and where the first one is.
    statement_finder: Engine,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        let mut statement_finder = Engine::new_raw();
        statement_finder.on_progress(|_| Some(Dynamic::UNIT));
        Runtime {
            engine: api::build_engine(),
            statement_finder,
        }
    }

    /// Compile and check a policy. Refused, with a line and column: a parse error, any
    /// statement outside functions, a missing `filter` or `check`, or a lifecycle function
    /// that does not take exactly `(action, policy)`. Helpers of any other name are fine.
    pub fn compile(&self, source: &str) -> Result<Compiled, CompileError> {
        if source.len() > POLICY_SOURCE_BYTES_MAX {
            return Err(CompileError {
                message: format!("the policy is longer than {POLICY_SOURCE_BYTES_MAX} bytes"),
                line: 1,
                column: 1,
            });
        }
        let scope = constants();
        let ast = self
            .engine
            .compile_with_scope(&scope, source)
            .map_err(|error| parse_error(&error))?;
        self.refuse_statements(&ast)?;

        let definitions = source::definitions(source);
        let located = |name: &str, parameters: Option<usize>| -> (u32, u32) {
            definitions
                .iter()
                .find(|definition| {
                    definition.name == name
                        && parameters.is_none_or(|count| definition.parameters == count)
                })
                .map_or((1, 1), |definition| (definition.line, definition.column))
        };
        let mut functions = BTreeSet::new();
        for function in ast.iter_functions() {
            let (name, parameters) = (function.name, function.params.len());
            if name == NOTIFY_RENAMED {
                let (line, column) = located(name, None);
                return Err(CompileError {
                    message: format!("the name {NOTIFY_RENAMED} is reserved"),
                    line,
                    column,
                });
            }
            if LIFECYCLE_FUNCTIONS.contains(&name) && parameters != 2 {
                let (line, column) = located(name, Some(parameters));
                return Err(CompileError {
                    message: format!(
                        "fn {name} must take exactly two parameters, (action, policy), not {parameters}"
                    ),
                    line,
                    column,
                });
            }
            functions.insert(name.to_owned());
        }
        for required in ["filter", "check"] {
            if !functions.contains(required) {
                return Err(CompileError {
                    message: format!("a policy must define fn {required}(action, policy)"),
                    line: 1,
                    column: 1,
                });
            }
        }
        let locations = LIFECYCLE_FUNCTIONS
            .iter()
            .filter(|name| functions.contains(**name))
            .map(|name| {
                let (line, column) = located(name, Some(2));
                (name.to_string(), line, column)
            })
            .collect();

        let (ast, rename) = if functions.contains("notify") {
            self.rename_notify(source, &definitions, &functions)?
        } else {
            (ast, None)
        };
        Ok(Compiled {
            ast: Arc::new(ast),
            functions,
            locations,
            rename,
            uses_http: source.contains("http_"),
            uses_policy_data: source.contains("policy_data"),
            uses_vote_history: source.contains("votes_history"),
        })
    }

    fn refuse_statements(&self, ast: &AST) -> Result<(), CompileError> {
        let statements = ast.clone_statements_only();
        match self.statement_finder.run_ast(&statements) {
            Ok(()) => Ok(()),
            Err(error) => {
                let (line, column) = position(error.position()).unwrap_or((1, 1));
                Err(CompileError {
                    message: "statements outside functions are not allowed: a policy only defines functions".to_owned(),
                    line,
                    column,
                })
            }
        }
    }

    /// Recompile with the lifecycle `notify` renamed (see `source` for why), and check
    /// that exactly that definition changed.
    fn rename_notify(
        &self,
        source: &str,
        definitions: &[source::Definition],
        functions: &BTreeSet<String>,
    ) -> Result<(AST, Option<Rename>), CompileError> {
        let notify = definitions
            .iter()
            .find(|definition| definition.name == "notify" && definition.parameters == 2);
        let failure = |line, column| {
            CompileError {
            message: "fn notify(action, policy) could not be prepared: write it as `fn notify(action, policy) { ... }`".to_owned(),
            line,
            column,
        }
        };
        let Some(notify) = notify else {
            return Err(failure(1, 1));
        };
        let mut renamed = String::with_capacity(source.len() + NOTIFY_RENAMED.len());
        renamed.push_str(&source[..notify.offset]);
        renamed.push_str(NOTIFY_RENAMED);
        renamed.push_str(&source[notify.offset + "notify".len()..]);
        let ast = self
            .engine
            .compile_with_scope(&constants(), &renamed)
            .map_err(|_| failure(notify.line, notify.column))?;
        let expected: BTreeSet<String> = functions
            .iter()
            .map(|name| {
                if name == "notify" {
                    NOTIFY_RENAMED.to_owned()
                } else {
                    name.clone()
                }
            })
            .collect();
        let actual: BTreeSet<String> = ast.iter_functions().map(|f| f.name.to_owned()).collect();
        if actual != expected {
            return Err(failure(notify.line, notify.column));
        }
        Ok((
            ast,
            Some(Rename {
                line: notify.line,
                column: notify.column,
            }),
        ))
    }

    /// Run `filter(action, policy)` alone; whatever it writes is discarded, and it may not
    /// make external calls. Anything but a boolean is a fault.
    pub fn filter(&self, compiled: &Compiled, input: &Input) -> Result<bool, PolicyFault> {
        self.filter_in(compiled, input, Arc::new(Directory::of(input.state)))
    }

    /// [`filter`](Self::filter) with members and roles already gathered from `input.state`
    /// (the engine shares one [`Directory`] while they do not change).
    pub fn filter_in(
        &self,
        compiled: &Compiled,
        input: &Input,
        directory: Arc<Directory>,
    ) -> Result<bool, PolicyFault> {
        let handle = SessionHandle(Arc::new(Mutex::new(Session::new(
            input.state,
            input.action,
            input.policy,
            input.now_ms,
            Copies {
                other_policies: compiled.uses_policy_data,
                vote_history: compiled.uses_vote_history,
            },
            directory,
        ))));
        let _deadline = budget::Deadline::start();
        let answer = self.call(compiled, &handle, Stage::Filter)?;
        answer.as_bool().map_err(|_| {
            let (line, column) = compiled.location("filter");
            PolicyFault {
                function: "filter".to_owned(),
                message: format!(
                    "filter must return true or false, not {}",
                    describe_value(&answer)
                ),
                line,
                column,
            }
        })
    }

    /// The lifecycle after `filter`, in one session whose data writes are visible to the
    /// functions after them: `initialize` (if `steps.initialize` and defined), `check`,
    /// then on PROPOSED `notify` (if `steps.notify` and defined), on PASSED `pass` (the
    /// action executes only if it calls `action.execute()`; without `pass` it executes),
    /// on FAILED `fail`. A fault stops the session: the outcome is FAILED, nothing
    /// executes, and the effects recorded before the fault are kept.
    pub fn run(&self, compiled: &Compiled, input: &Input, steps: Steps) -> Effects {
        self.run_in(compiled, input, steps, Arc::new(Directory::of(input.state)))
    }

    /// [`run`](Self::run) with members and roles already gathered from `input.state`.
    pub fn run_in(
        &self,
        compiled: &Compiled,
        input: &Input,
        steps: Steps,
        directory: Arc<Directory>,
    ) -> Effects {
        std::thread::scope(|scope| {
            let handle = SessionHandle(Arc::new(Mutex::new(Session::new(
                input.state,
                input.action,
                input.policy,
                input.now_ms,
                Copies {
                    other_policies: compiled.uses_policy_data,
                    vote_history: compiled.uses_vote_history,
                },
                directory,
            ))));
            if compiled.uses_http {
                // The session must be 'static; the input's Http is borrowed. A scoped
                // thread holds the borrow and makes the calls the session asks for; it
                // ends when the session drops its end of the channel.
                let (sender, receiver) = mpsc::channel::<HttpCall>();
                let http = input.http;
                scope.spawn(move || {
                    for (request, reply) in receiver {
                        let _ = reply.send(http.call(&request));
                    }
                });
                handle.lock().http_channel = Some(sender);
            }
            let deadline = budget::Deadline::start();
            let effects = self.lifecycle(compiled, &handle, input, steps);
            drop(deadline);
            handle.lock().http_channel = None;
            effects
        })
    }

    fn lifecycle(
        &self,
        compiled: &Compiled,
        handle: &SessionHandle,
        input: &Input,
        steps: Steps,
    ) -> Effects {
        let mut ran: Vec<String> = Vec::new();
        let mut step = |stage: Stage| -> Result<Dynamic, PolicyFault> {
            ran.push(stage.name().to_owned());
            self.call(compiled, handle, stage)
        };
        let result = (|| -> Result<Outcome, PolicyFault> {
            if steps.initialize && compiled.defines("initialize") {
                let _ = step(Stage::Initialize)?;
            }
            let answer = step(Stage::Check)?;
            let outcome = outcome(&answer).ok_or_else(|| {
                let (line, column) = compiled.location("check");
                PolicyFault {
                    function: "check".to_owned(),
                    message: format!(
                        "check must return PASSED, FAILED or PROPOSED (or nothing), not {}",
                        describe_value(&answer)
                    ),
                    line,
                    column,
                }
            })?;
            match outcome {
                Outcome::Proposed if steps.notify && compiled.defines("notify") => {
                    let _ = step(Stage::Notify)?;
                }
                Outcome::Passed if compiled.defines("pass") => {
                    let _ = step(Stage::Pass)?;
                }
                Outcome::Failed if compiled.defines("fail") => {
                    let _ = step(Stage::Fail)?;
                }
                _ => {}
            }
            Ok(outcome)
        })();

        let mut session = handle.lock();
        let mut effects = Effects {
            ran,
            action_data: std::mem::take(&mut session.action_data.writes),
            policy_data: std::mem::take(&mut session.policy_data.writes),
            notifications: std::mem::take(&mut session.notifications),
            follow_ups: std::mem::take(&mut session.follow_ups),
            http: std::mem::take(&mut session.http),
            log: std::mem::take(&mut session.log),
            ..Effects::default()
        };
        match result {
            Ok(outcome) => {
                effects.outcome = Some(outcome);
                match outcome {
                    Outcome::Passed if compiled.defines("pass") => {
                        effects.execute = session.execute.is_some();
                        effects.execute_option = session.execute.flatten();
                    }
                    Outcome::Passed => {
                        effects.execute = true;
                        effects.execute_option = session
                            .action
                            .is_election
                            .then(|| session.action.most_voted_option());
                    }
                    Outcome::Proposed => {
                        effects.next_check_at_ms = session.tracker.next_check_at_ms(input.now_ms);
                    }
                    Outcome::Failed => {}
                }
            }
            Err(fault) => {
                effects.outcome = Some(Outcome::Failed);
                effects.reason = Some(fault.message.clone());
                effects.error = Some(fault);
            }
        }
        effects
    }

    /// Call one lifecycle function with `(action, policy)` in the session `handle`.
    fn call(
        &self,
        compiled: &Compiled,
        handle: &SessionHandle,
        stage: Stage,
    ) -> Result<Dynamic, PolicyFault> {
        handle.lock().stage = stage;
        let name = match (stage, compiled.rename) {
            (Stage::Notify, Some(_)) => NOTIFY_RENAMED,
            _ => stage.name(),
        };
        let options = CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(true)
            .with_tag(handle.clone());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.engine.call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &compiled.ast,
                name,
                (Dynamic::from(ActionHandle), Dynamic::from(PolicyHandle)),
            )
        }));
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(fault(stage.name(), &error, compiled)),
            Err(_) => {
                // A bug in the script engine must not take the ledger down with it; the
                // action fails closed like on any other fault.
                let (line, column) = compiled.location(stage.name());
                Err(PolicyFault {
                    function: stage.name().to_owned(),
                    message: "the script engine failed on this policy (an internal error)"
                        .to_owned(),
                    line,
                    column,
                })
            }
        }
    }
}

/// The outcome constants, as the compile-time scope that strict variables mode checks
/// names against (at run time they come from a global module).
fn constants() -> Scope<'static> {
    let mut scope = Scope::new();
    for (name, value) in api::OUTCOME_CONSTANTS {
        scope.push_constant(name, value);
    }
    scope
}

fn outcome(answer: &Dynamic) -> Option<Outcome> {
    if answer.is_unit() {
        return Some(Outcome::Proposed);
    }
    match answer.clone().into_string().ok()?.as_str() {
        "passed" => Some(Outcome::Passed),
        "failed" => Some(Outcome::Failed),
        "proposed" => Some(Outcome::Proposed),
        _ => None,
    }
}

fn describe_value(value: &Dynamic) -> String {
    if value.is_string() {
        format!("the string {:?}", value.to_string())
    } else if value.is_unit() {
        "nothing".to_owned()
    } else {
        format!("a {} ({value})", api::type_name(value))
    }
}

fn position(position: Position) -> Option<(u32, u32)> {
    let line = u32::try_from(position.line()?).ok()?;
    let column = position
        .position()
        .and_then(|column| u32::try_from(column).ok())
        .unwrap_or(1);
    Some((line, column))
}

fn parse_error(error: &ParseError) -> CompileError {
    let (line, column) = position(error.1).unwrap_or((1, 1));
    CompileError {
        message: error.0.to_string(),
        line,
        column,
    }
}

/// A runtime error as the audit trail records it: the lifecycle function, the innermost
/// error's message and its position in the author's source.
fn fault(function: &str, error: &EvalAltResult, compiled: &Compiled) -> PolicyFault {
    let mut innermost = error;
    let mut at = error.position();
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, call_site) = innermost {
        if !call_site.is_none() {
            at = *call_site;
        }
        innermost = inner;
    }
    if !innermost.position().is_none() {
        at = innermost.position();
    }
    let message = match innermost {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "the policy ran more than {POLICY_OPERATIONS_MAX} operations (POLICY_OPERATIONS_MAX)"
        ),
        EvalAltResult::ErrorStackOverflow(_) => format!(
            "function calls nest deeper than {POLICY_CALL_LEVELS_MAX} (POLICY_CALL_LEVELS_MAX)"
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => format!(
            "{what} is over the policy limits: strings {POLICY_STRING_BYTES_MAX} bytes, arrays {POLICY_ARRAY_ITEMS_MAX} items, maps {POLICY_MAP_ITEMS_MAX} entries"
        ),
        EvalAltResult::ErrorTerminated(..) => format!(
            "{} ({POLICY_CPU_TIME_MAX_MS} ms, POLICY_CPU_TIME_MAX_MS)",
            budget::TIME_LIMIT_MESSAGE
        ),
        EvalAltResult::ErrorTooManyVariables(_) => format!(
            "more than {POLICY_VARIABLES_MAX} variables (POLICY_VARIABLES_MAX)"
        ),
        other => {
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            match text.strip_suffix(&suffix) {
                Some(stripped) if !other.position().is_none() => stripped.to_owned(),
                _ => text,
            }
        }
    }
    .replace(NOTIFY_RENAMED, "notify");
    let (line, column) = match position(at) {
        Some((line, column)) => match compiled.rename {
            Some(rename) if line == rename.line && column > rename.column => {
                let shift = (NOTIFY_RENAMED.len() - "notify".len()) as u32;
                (line, column.saturating_sub(shift).max(rename.column))
            }
            _ => (line, column),
        },
        None => compiled.location(function),
    };
    PolicyFault {
        function: function.to_owned(),
        message,
        line,
        column,
    }
}
