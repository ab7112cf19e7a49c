//! Scenario files (`ostrom test`): policy tests run through the real engine and reducer
//! on a fresh in-memory community, as ../shared/spec/scenario.md specifies.
//!
//! A scenario founds a community (a starter kit, members, roles, policies), then runs its
//! steps in order on a virtual clock: before each step the clock advances to the step's
//! `at` and every check due by then runs (the same timers and sweep as the server);
//! proposals, votes and recoveries are signed by the members' keys and go through the same
//! verifier, engine and reducer as everywhere else. Nothing is shortcut.
//!
//! Two things exist only here: platform actions are executed by a stand-in platform that
//! accepts every action (there is no Slack in a test), and a scenario's `[[http]]` table
//! serves canned responses to the policies' external calls (each listed host counts as
//! allowlisted).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ostrom_projections::state::Execution;
use ostrom_projections::GovernanceState;
use ostrom_schemas::action::{
    ActionSpec, Permissions, PlatformAction, PolicyKind, PolicySpec, RoleSpec,
};
use ostrom_schemas::entry::{community_id, sign_statement};
use ostrom_schemas::statement::{
    Cosignature, Founding, MemberSpec, Recovery, RecoveryMessage, RecoveryPlan, Statement,
};
use ostrom_schemas::verify::{
    check_statement, recovery_digest, CheckedStatement, Refusal, Sealable,
};
use ostrom_schemas::{ActionId, Params, SigningKey, StatementBody, Value, VoteValue};
use serde::Deserialize;

use crate::engine::{Engine, HttpSource, Platforms};
use crate::fixtures::seeded_key;
use crate::keys;
use crate::kits;
use crate::ledger::{Ledger, LedgerError};
use crate::policy::{Http, HttpRequest, HttpResponse, Runtime};
use crate::store::memory::MemoryStore;

/// The instant a scenario's clock starts at (2026-01-01T00:00:00Z): offsets are added to it.
pub const SCENARIO_EPOCH_MS: u64 = 1_767_225_600_000;
/// Steps in one scenario at most.
pub const SCENARIO_STEPS_MAX: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    kit: Option<String>,
    members: Vec<String>,
    trustees: Option<Vec<String>>,
    threshold: Option<u64>,
    #[serde(default)]
    roles: BTreeMap<String, RoleDef>,
    #[serde(default)]
    policies: Vec<PolicyDef>,
    #[serde(default)]
    http: Vec<CannedHttp>,
    #[serde(default)]
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleDef {
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    view: Vec<String>,
    #[serde(default)]
    propose: Vec<String>,
    #[serde(default)]
    execute: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDef {
    name: String,
    kind: String,
    action_types: Option<Vec<String>>,
    priority: Option<i64>,
    #[serde(default)]
    description: String,
    file: Option<String>,
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CannedHttp {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default = "default_status")]
    status: u16,
    body: toml::Value,
}

fn default_method() -> String {
    "GET".into()
}

fn default_status() -> u16 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at: Option<String>,
    propose: Option<ProposeStep>,
    vote: Option<VoteStep>,
    withdraw: Option<WithdrawStep>,
    recover: Option<RecoverStep>,
    expect: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposeStep {
    id: String,
    by: String,
    #[serde(rename = "type")]
    action_type: String,
    #[serde(default)]
    params: toml::Table,
    not_before: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteStep {
    id: Option<String>,
    on: String,
    by: String,
    value: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawStep {
    id: Option<String>,
    on: String,
    by: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverStep {
    id: Option<String>,
    #[serde(default)]
    signers: Vec<String>,
    restart: Option<String>,
    rollback_before: Option<String>,
    /// Submit again, unchanged, the recovery of an earlier step with this label (a replay,
    /// which the verifier must refuse).
    replay: Option<String>,
}

/// The verdict on one scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed {
        name: String,
    },
    Failed {
        name: String,
        message: String,
    },
    /// The file could not be read or parsed (line and column in the message).
    Unreadable {
        path: PathBuf,
        message: String,
    },
}

impl Verdict {
    /// The line `ostrom test` prints.
    pub fn line(&self) -> String {
        match self {
            Verdict::Passed { name } => format!("ok {name}"),
            Verdict::Failed { name, message } => format!("FAILED {name}: {message}"),
            Verdict::Unreadable { path, message } => {
                format!("FAILED {}: {message}", path.display())
            }
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }
}

/// Run one scenario file.
pub fn run_file(path: &Path, runtime: &Arc<Runtime>) -> Verdict {
    let unreadable = |message: String| Verdict::Unreadable {
        path: path.to_owned(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => return unreadable(format!("cannot read: {error}")),
    };
    let file: File = match toml::from_str(&text) {
        Ok(file) => file,
        Err(error) => {
            let place = error
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            let message = error.message().trim().replace('\n', "; ");
            return unreadable(format!("{place}{message}"));
        }
    };
    let name = file.name.clone();
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();
    let verified = |run: Run| run.verify_by_reexecution(runtime);
    match Run::new(file, base, runtime.clone())
        .and_then(|mut run| run.steps().map(|()| run))
        .and_then(verified)
    {
        Ok(()) => Verdict::Passed { name },
        Err(message) => Verdict::Failed { name, message },
    }
}

/// A platform stand-in that executes and undoes every action and remembers them.
#[derive(Default)]
struct AcceptingPlatform {
    executed: Mutex<Vec<PlatformAction>>,
    reverted: Mutex<Vec<ActionId>>,
}

impl Platforms for AcceptingPlatform {
    fn execute(&self, action: &PlatformAction) -> Option<Result<Value, String>> {
        self.executed
            .lock()
            .expect("not poisoned")
            .push(action.clone());
        Some(Ok(Value::Map(BTreeMap::from([(
            "ok".to_owned(),
            Value::Bool(true),
        )]))))
    }

    fn revert(&self, target: ActionId, _action: &PlatformAction) -> Option<Result<Value, String>> {
        self.reverted.lock().expect("not poisoned").push(target);
        Some(Ok(Value::Map(BTreeMap::from([(
            "undone".to_owned(),
            Value::Bool(true),
        )]))))
    }
}

/// Canned responses for policies' external calls, matched by method and URL.
struct CannedResponses {
    responses: Vec<(String, String, HttpResponse)>,
}

impl Http for CannedResponses {
    fn call(&self, request: &HttpRequest) -> Result<HttpResponse, String> {
        self.responses
            .iter()
            .find(|(method, url, _)| {
                method.eq_ignore_ascii_case(&request.method) && *url == request.url
            })
            .map(|(_, _, response)| HttpResponse {
                status: response.status,
                body: response.body.clone(),
            })
            .ok_or_else(|| {
                format!(
                    "{} {} is not allowlisted for this scenario",
                    request.method, request.url
                )
            })
    }
}

struct Run {
    file: File,
    base: PathBuf,
    ledger: Ledger,
    engine: Engine,
    keys: BTreeMap<String, SigningKey>,
    labels: BTreeMap<String, ActionId>,
    refusals: BTreeMap<String, Refusal>,
    expected_refusals: BTreeSet<String>,
    /// Recoveries submitted by labelled steps, for `replay`.
    recoveries: BTreeMap<String, Recovery>,
    now: u64,
}

fn to_value(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(text) => Value::Str(text.clone()),
        toml::Value::Integer(number) => Value::Int(*number),
        toml::Value::Boolean(flag) => Value::Bool(*flag),
        toml::Value::Float(_) => return Err("fractional numbers are not allowed".into()),
        toml::Value::Datetime(datetime) => Value::Str(datetime.to_string()),
        toml::Value::Array(items) => {
            Value::List(items.iter().map(to_value).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(table) => Value::Map(
            table
                .iter()
                .map(|(key, value)| Ok((key.clone(), to_value(value)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// `"2d1m"`, `"90s"`, `"0s"`, `"1h30m"`: a sum of numbers with units ms, s, m, h, d.
pub fn parse_offset(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty time".into());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{text:?}: expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let (unit_ms, length) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with('d') {
            (86_400_000, 1)
        } else {
            return Err(format!("{text:?}: expected a unit (ms, s, m, h or d)"));
        };
        rest = &rest[length..];
        total = number
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("{text:?}: too long"))?;
    }
    Ok(total)
}

impl Run {
    fn new(file: File, base: PathBuf, runtime: Arc<Runtime>) -> Result<Run, String> {
        if file.members.is_empty() {
            return Err("setup: a scenario needs at least one member".into());
        }
        if file.steps.len() > SCENARIO_STEPS_MAX {
            return Err(format!("setup: more than {SCENARIO_STEPS_MAX} steps"));
        }
        let kit_name = file.kit.clone().unwrap_or_else(|| "testing".to_owned());
        let kit =
            kits::kit(&kit_name, &file.members[0]).map_err(|error| format!("setup: {error}"))?;
        let mut roles = kit.roles;
        for (name, role) in &file.roles {
            let spec = RoleSpec {
                name: name.clone(),
                description: role.description.clone(),
                permissions: Permissions {
                    view: role.view.clone(),
                    propose: role.propose.clone(),
                    execute: role.execute.clone(),
                },
                members: role.members.clone(),
            };
            match roles.iter_mut().find(|existing| existing.name == *name) {
                Some(existing) => *existing = spec,
                None => roles.push(spec),
            }
        }
        let mut policies = kit.policies;
        for policy in &file.policies {
            let source = match (&policy.source, &policy.file) {
                (Some(source), None) => source.clone(),
                (None, Some(file)) => {
                    std::fs::read_to_string(base.join(file)).map_err(|error| {
                        format!(
                            "setup: policy {:?}: cannot read {file}: {error}",
                            policy.name
                        )
                    })?
                }
                _ => {
                    return Err(format!(
                        "setup: policy {:?} needs exactly one of source or file",
                        policy.name
                    ))
                }
            };
            runtime.compile(&source).map_err(|error| {
                format!(
                    "setup: policy {:?} does not compile: line {}, column {}: {}",
                    policy.name, error.line, error.column, error.message
                )
            })?;
            policies.push(PolicySpec {
                name: policy.name.clone(),
                kind: PolicyKind::parse(&policy.kind).map_err(|error| format!("setup: {error}"))?,
                source,
                action_types: policy.action_types.clone().unwrap_or_default(),
                priority: policy.priority.unwrap_or(0),
                description: policy.description.clone(),
            });
        }
        let keys: BTreeMap<String, SigningKey> = file
            .members
            .iter()
            .enumerate()
            .map(|(index, name)| (name.clone(), seeded_key(0x5ce7a210, index as u64)))
            .collect();
        let sequencer = seeded_key(0x5ce7a210, u64::MAX);
        let sequencer_public = keys::public(&sequencer);
        let trustees = file.trustees.clone().unwrap_or_default();
        let threshold = file.threshold.unwrap_or(if trustees.is_empty() {
            0
        } else {
            trustees.len() as u64 / 2 + 1
        });
        let founding = Founding {
            name: file.name.clone(),
            sequencer: sequencer_public,
            kit: kit_name,
            members: file
                .members
                .iter()
                .map(|name| MemberSpec {
                    name: name.clone(),
                    key: Some(keys::public(&keys[name])),
                })
                .collect(),
            roles,
            policies,
            documents: Vec::new(),
            trustees,
            threshold,
        };
        let community = community_id(&file.name, &sequencer_public);
        let signed = sign_statement(
            Statement {
                community,
                counter: 1,
                member: file.members[0].clone(),
                evidence: None,
                body: StatementBody::CommunityFounded(founding),
            },
            &sequencer,
        );
        let ledger = Ledger::found(
            Arc::new(MemoryStore::new()),
            signed,
            sequencer,
            SCENARIO_EPOCH_MS,
        )
        .map_err(|error| format!("setup: {error}"))?;
        let responses = file
            .http
            .iter()
            .map(|canned| {
                Ok((
                    canned.method.clone(),
                    canned.url.clone(),
                    HttpResponse {
                        status: canned.status,
                        body: to_value(&canned.body)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|error| format!("setup: [[http]]: {error}"))?;
        let engine = Engine::new(
            runtime,
            Arc::new(AcceptingPlatform::default()),
            HttpSource::Fixed(Arc::new(CannedResponses { responses })),
        );
        let expected_refusals = file
            .steps
            .iter()
            .filter_map(|step| step.expect.as_ref())
            .filter_map(|expect| {
                expect
                    .get("refused")
                    .and_then(|label| label.as_str())
                    .map(str::to_owned)
            })
            .collect();
        Ok(Run {
            file,
            base,
            ledger,
            engine,
            keys,
            labels: BTreeMap::new(),
            refusals: BTreeMap::new(),
            expected_refusals,
            recoveries: BTreeMap::new(),
            now: SCENARIO_EPOCH_MS,
        })
    }

    fn state(&self) -> &GovernanceState {
        self.ledger.state()
    }

    /// Every scenario's log must also pass `verify`: replayed from genesis, with every
    /// recorded evaluation re-executed to identical effects (the recorded HTTP answers
    /// stand in for the canned ones).
    fn verify_by_reexecution(self, runtime: &Arc<Runtime>) -> Result<(), String> {
        let mut audit = crate::engine::reexecute::Audit::new(runtime.clone());
        let mut state = GovernanceState::default();
        crate::ledger::replay_inspecting(
            &**self.ledger.store(),
            self.ledger.community(),
            &mut state,
            u64::MAX,
            &indicatif::ProgressBar::hidden(),
            &mut |state, entry| audit.inspect(state, entry),
        )
        .map_err(|error| format!("verify: {error}"))?;
        if state.state_hash() != self.state().state_hash() {
            return Err("verify: the replayed state differs from the live one".into());
        }
        Ok(())
    }

    fn steps(&mut self) -> Result<(), String> {
        let steps = std::mem::take(&mut self.file.steps);
        for (index, step) in steps.iter().enumerate() {
            let number = index + 1;
            self.step(step)
                .map_err(|message| format!("step {number}: {message}"))?;
        }
        let unexpected: Vec<String> = self
            .refusals
            .iter()
            .filter(|(label, _)| !self.expected_refusals.contains(*label))
            .map(|(label, refusal)| {
                format!("{label} was refused [{}]: {}", refusal.code, refusal.reason)
            })
            .collect();
        if !unexpected.is_empty() {
            return Err(format!("unexpected refusal: {}", unexpected.join("; ")));
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        if let Some(at) = &step.at {
            let at = SCENARIO_EPOCH_MS + parse_offset(at)?;
            if at < self.now {
                return Err(format!(
                    "`at` goes back in time ({} before the previous step)",
                    step.at.as_deref().unwrap_or("")
                ));
            }
            self.now = at;
        }
        // Every check that is due by now runs first, exactly as the server's sweep does.
        self.append(Vec::new())?;
        let verbs = [
            step.propose.is_some(),
            step.vote.is_some(),
            step.withdraw.is_some(),
            step.recover.is_some(),
            step.expect.is_some(),
        ];
        if verbs.iter().filter(|verb| **verb).count() != 1 {
            return Err(
                "a step has exactly one of propose, vote, withdraw, recover, expect".into(),
            );
        }
        if let Some(propose) = &step.propose {
            return self.propose(propose);
        }
        if let Some(vote) = &step.vote {
            let action = self.label(&vote.on)?;
            let by = self.resolve_member(&vote.by, action)?;
            let value = match &vote.value {
                toml::Value::String(text) if text == "yes" => VoteValue::Yes,
                toml::Value::String(text) if text == "no" => VoteValue::No,
                toml::Value::String(text) => VoteValue::Choice(text.clone()),
                toml::Value::Integer(index) if *index >= 0 => VoteValue::Option(*index as u64),
                toml::Value::Array(items) => VoteValue::Ranking(
                    items
                        .iter()
                        .map(|item| {
                            item.as_integer()
                                .filter(|index| *index >= 0)
                                .map(|index| index as u64)
                        })
                        .collect::<Option<Vec<u64>>>()
                        .ok_or("a ranking is an array of option indices")?,
                ),
                other => return Err(format!("a vote value cannot be {other}")),
            };
            return self.submit(
                &by,
                StatementBody::VoteCast { action, value },
                vote.id.as_deref(),
            );
        }
        if let Some(withdraw) = &step.withdraw {
            let action = self.label(&withdraw.on)?;
            let by = self.resolve_member(&withdraw.by, action)?;
            return self.submit(
                &by,
                StatementBody::VoteWithdrawn { action },
                withdraw.id.as_deref(),
            );
        }
        if let Some(recover) = &step.recover {
            return self.recover(recover);
        }
        if let Some(expect) = &step.expect {
            return self.expect(expect);
        }
        Ok(())
    }

    fn append(
        &mut self,
        items: Vec<Sealable>,
    ) -> Result<Vec<Result<ostrom_schemas::VerifiedEntry, Refusal>>, String> {
        self.ledger
            .append_with(items, self.now, &mut self.engine, true)
            .map_err(|error: LedgerError| format!("the ledger failed: {error}"))
    }

    fn label(&self, label: &str) -> Result<ActionId, String> {
        self.labels
            .get(label)
            .copied()
            .ok_or_else(|| match self.refusals.get(label) {
                Some(refusal) => {
                    format!("{label} was refused [{}]: {}", refusal.code, refusal.reason)
                }
                None => format!("no proposal labelled {label:?}"),
            })
    }

    /// A member name, or `data:KEY[I]`: the I-th member listed under KEY in the action's data.
    fn resolve_member(&self, by: &str, action: ActionId) -> Result<String, String> {
        let Some(reference) = by.strip_prefix("data:") else {
            return Ok(by.to_owned());
        };
        let (key, index) = reference
            .strip_suffix(']')
            .and_then(|rest| rest.split_once('['))
            .ok_or_else(|| format!("{by:?}: expected data:KEY[INDEX]"))?;
        let index: usize = index
            .parse()
            .map_err(|_| format!("{by:?}: the index is not a number"))?;
        let data = &self.state().actions[&action].data;
        let list = data
            .get(key)
            .and_then(Value::as_list)
            .ok_or_else(|| format!("{by:?}: the action's data has no list {key:?}"))?;
        list.get(index)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{by:?}: the list {key:?} has no member at {index}"))
    }

    /// A statement by `member`: signed with their own key when they hold one (founding
    /// members); a member without a key (added later by `add_member`) speaks through the
    /// server, which vouches for them as it does for members signed in by token; someone
    /// who is not a member signs with a key of their own, which the verifier refuses.
    fn statement(&self, member: &str, body: StatementBody) -> Result<CheckedStatement, Refusal> {
        let state = self.state();
        let key = match (self.keys.get(member), state.members.get(member)) {
            (Some(key), _) => key.clone(),
            (None, Some(found)) if found.key.is_none() => {
                return Ok(self
                    .ledger
                    .vouch(member, body)
                    .expect("a scenario's ledger holds the sequencer key"));
            }
            _ => SigningKey::from_bytes(
                &ostrom_schemas::Hash::tagged("ostrom/scenario-outsider/v1", &[member.as_bytes()])
                    .0,
            ),
        };
        check_statement(self.ledger.sign(member, &key, body))
    }

    fn submit(
        &mut self,
        member: &str,
        body: StatementBody,
        label: Option<&str>,
    ) -> Result<(), String> {
        let verdict = match self.statement(member, body) {
            Ok(checked) => self
                .append(vec![Sealable::Statement(checked)])?
                .pop()
                .expect("one result"),
            Err(refusal) => Err(refusal),
        };
        match (verdict, label) {
            (Ok(_), _) => Ok(()),
            (Err(refusal), Some(label)) => {
                self.refusals.insert(label.to_owned(), refusal);
                Ok(())
            }
            (Err(refusal), None) => Err(format!("refused [{}]: {}", refusal.code, refusal.reason)),
        }
    }

    fn propose(&mut self, step: &ProposeStep) -> Result<(), String> {
        let mut params: Params = step
            .params
            .iter()
            .map(|(key, value)| Ok((key.clone(), to_value(value)?)))
            .collect::<Result<_, String>>()?;
        // `file` names a policy source beside the scenario (add_policy, change_policy).
        if let Some(Value::Str(file)) = params.remove("file") {
            let source = std::fs::read_to_string(self.base.join(&file))
                .map_err(|error| format!("cannot read {file}: {error}"))?;
            params.insert("source".into(), Value::Str(source));
        }
        let labels = self.labels.clone();
        let resolve = move |reference: &str| labels.get(reference).copied();
        let parsed = ActionSpec::parse(&step.action_type, &params, &resolve);
        let not_before_ms = step
            .not_before
            .as_deref()
            .map(parse_offset)
            .transpose()?
            .map(|offset| SCENARIO_EPOCH_MS + offset);
        let action = match parsed {
            Ok(action) => action,
            Err(error) => {
                self.refusals.insert(
                    step.id.clone(),
                    Refusal::new("bad_param", error.to_string()),
                );
                return Ok(());
            }
        };
        let checked = self
            .statement(
                &step.by,
                StatementBody::ActionProposed {
                    action,
                    not_before_ms,
                },
            )
            .map_err(|refusal| refusal.reason)?;
        match self
            .append(vec![Sealable::Statement(checked)])?
            .pop()
            .expect("one result")
        {
            Ok(entry) => {
                self.labels
                    .insert(step.id.clone(), ActionId(entry.entry().seq));
            }
            Err(refusal) => {
                self.refusals.insert(step.id.clone(), refusal);
            }
        }
        Ok(())
    }

    fn recover(&mut self, step: &RecoverStep) -> Result<(), String> {
        if let Some(label) = &step.replay {
            if step.restart.is_some() || step.rollback_before.is_some() || !step.signers.is_empty()
            {
                return Err("a replayed recover takes only id and replay".into());
            }
            let recovery = self
                .recoveries
                .get(label)
                .cloned()
                .ok_or_else(|| format!("no recover step labelled {label:?}"))?;
            let author = recovery
                .cosignatures
                .first()
                .map(|cosignature| cosignature.trustee.clone())
                .ok_or("the replayed recovery has no co-signers")?;
            return self.submit(
                &author,
                StatementBody::RecoveryInvoked(recovery),
                step.id.as_deref(),
            );
        }
        let state = self.state();
        let community = state.community_id().expect("founded");
        let plan = match (&step.restart, &step.rollback_before) {
            (Some(kit), None) => {
                let founder = state.member_names().into_iter().next().unwrap_or_default();
                let kit = kits::kit(kit, &founder)?;
                RecoveryPlan::Restart {
                    kit: kit.name,
                    roles: kit.roles,
                    policies: kit.policies,
                }
            }
            (None, Some(label)) => {
                let action = self.label(label)?;
                let seq = match &state.actions[&action].execution {
                    Execution::Executed { seq, .. } => *seq,
                    _ => action.0,
                };
                RecoveryPlan::RollbackToSeq { seq }
            }
            _ => {
                return Err(
                    "recover needs exactly one of restart, rollback_before or replay".into(),
                )
            }
        };
        let head_seq = state.position.next_seq - 1;
        let head = state.position.head;
        let digest = recovery_digest(&RecoveryMessage {
            community: &community,
            head_seq,
            head: &head,
            plan: &plan,
        });
        let cosignatures = step
            .signers
            .iter()
            .map(|signer| {
                use ed25519_dalek::Signer;
                let key = self
                    .keys
                    .get(signer)
                    .cloned()
                    .unwrap_or_else(|| seeded_key(1, 1));
                Cosignature {
                    trustee: signer.clone(),
                    key: keys::public(&key),
                    sig: ostrom_schemas::Signature(key.sign(digest.as_bytes()).to_bytes()),
                }
            })
            .collect();
        let author = step
            .signers
            .first()
            .cloned()
            .ok_or("recover needs at least one signer")?;
        let recovery = Recovery {
            plan,
            head_seq,
            head,
            cosignatures,
        };
        if let Some(label) = &step.id {
            self.recoveries.insert(label.clone(), recovery.clone());
        }
        self.submit(
            &author,
            StatementBody::RecoveryInvoked(recovery),
            step.id.as_deref(),
        )
    }

    fn expect(&self, expect: &toml::Table) -> Result<(), String> {
        let state = self.state();
        let text = |key: &str| expect.get(key).and_then(toml::Value::as_str);
        let names = |key: &str| -> Result<BTreeSet<String>, String> {
            expect
                .get(key)
                .and_then(toml::Value::as_array)
                .ok_or_else(|| format!("`{key}` must be a list of names"))?
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("`{key}` must be a list of names"))
                })
                .collect()
        };
        let show = |set: &BTreeSet<String>| {
            format!("[{}]", set.iter().cloned().collect::<Vec<_>>().join(", "))
        };
        if let Some(label) = text("refused") {
            let refusal = self
                .refusals
                .get(label)
                .ok_or_else(|| format!("expected {label} to be refused, but it was accepted"))?;
            if let Some(code) = text("code") {
                if refusal.code != code {
                    return Err(format!(
                        "expected {label} refused with code {code}, got {} ({})",
                        refusal.code, refusal.reason
                    ));
                }
            }
            return Ok(());
        }
        if let Some(label) = text("proposal") {
            let id = self.label(label)?;
            let action = &state.actions[&id];
            if let Some(status) = text("status") {
                if action.status.as_str() != status {
                    return Err(format!(
                        "expected {label} {status}, got {}{}",
                        action.status.as_str(),
                        action
                            .reason
                            .as_ref()
                            .map(|reason| format!(" ({reason})"))
                            .unwrap_or_default()
                    ));
                }
            }
            if let Some(executed) = expect.get("executed").and_then(toml::Value::as_bool) {
                let actual = matches!(action.execution, Execution::Executed { .. });
                if actual != executed {
                    return Err(format!(
                        "expected {label} executed = {executed}, got {actual} ({:?})",
                        action.execution
                    ));
                }
            }
            if let Some(policy) = text("policy") {
                let actual = action
                    .governing
                    .and_then(|(id, _)| state.policies.get(&id))
                    .map(|policy| policy.spec.name.clone())
                    .unwrap_or_else(|| "(none)".into());
                if actual != policy {
                    return Err(format!(
                        "expected {label} governed by {policy:?}, got {actual:?}"
                    ));
                }
            }
            if let Some(needle) = text("reason_contains") {
                let mut reasons: Vec<String> = action.reason.iter().cloned().collect();
                if let Execution::Failed { reason, .. } = &action.execution {
                    reasons.push(reason.clone());
                }
                if !reasons.iter().any(|reason| reason.contains(needle)) {
                    return Err(format!(
                        "expected {label}'s reason to contain {needle:?}, got {reasons:?}"
                    ));
                }
            }
            return Ok(());
        }
        if let Some(role) = text("role") {
            let live = state.roles.get(role).filter(|found| found.active);
            if let Some(exists) = expect.get("exists").and_then(toml::Value::as_bool) {
                if live.is_some() != exists {
                    return Err(format!(
                        "expected role {role:?} exists = {exists}, got {}",
                        live.is_some()
                    ));
                }
                return Ok(());
            }
            let found = live.ok_or_else(|| format!("no role {role:?}"))?;
            if expect.contains_key("execute") {
                let expected = names("execute")?;
                let actual: BTreeSet<String> = found.permissions.execute.iter().cloned().collect();
                if actual != expected {
                    return Err(format!(
                        "expected role {role} to execute {}, got {}",
                        show(&expected),
                        show(&actual)
                    ));
                }
                if !expect.contains_key("members") {
                    return Ok(());
                }
            }
            let expected = names("members")?;
            let actual: BTreeSet<String> = if role == ostrom_projections::state::EVERYONE {
                state.member_names().into_iter().collect()
            } else {
                found
                    .members
                    .iter()
                    .filter(|name| state.is_member(name))
                    .cloned()
                    .collect()
            };
            if actual != expected {
                return Err(format!(
                    "expected role {role} to have {}, got {}",
                    show(&expected),
                    show(&actual)
                ));
            }
            return Ok(());
        }
        if let Some(name) = text("policy") {
            let policy = state.policy_by_name(name);
            let active = policy.is_some_and(|policy| policy.active);
            if let Some(expected) = expect.get("active").and_then(toml::Value::as_bool) {
                if active != expected {
                    return Err(format!(
                        "expected policy {name:?} active = {expected}, got {active}"
                    ));
                }
            }
            if let Some(needle) = text("source_contains") {
                let source = policy
                    .map(|policy| policy.spec.source.as_str())
                    .unwrap_or("");
                if !source.contains(needle) {
                    return Err(format!(
                        "expected policy {name:?}'s source to contain {needle:?}"
                    ));
                }
            }
            return Ok(());
        }
        if let Some(name) = text("document") {
            let document = state.documents.get(name).filter(|document| document.active);
            if let Some(exists) = expect.get("exists").and_then(toml::Value::as_bool) {
                if document.is_some() != exists {
                    return Err(format!(
                        "expected document {name:?} exists = {exists}, got {}",
                        document.is_some()
                    ));
                }
            }
            if let Some(expected) = text("text") {
                let actual = document.map(|document| document.text.as_str());
                if actual != Some(expected) {
                    return Err(format!(
                        "expected document {name:?} to read {expected:?}, got {actual:?}"
                    ));
                }
            }
            return Ok(());
        }
        if expect.contains_key("notified") {
            let label = text("on").ok_or("`notified` needs `on`")?;
            let expected = names("notified")?;
            let actual = &state.actions[&self.label(label)?].notified;
            if *actual != expected {
                return Err(format!(
                    "expected {} notified on {label}, got {}",
                    show(&expected),
                    show(actual)
                ));
            }
            return Ok(());
        }
        if let Some(label) = text("data") {
            let key = text("key").ok_or("`data` needs `key`")?;
            let data = &state.actions[&self.label(label)?].data;
            let value = data
                .get(key)
                .ok_or_else(|| format!("{label}'s data has no {key:?}"))?;
            if let Some(length) = expect.get("len").and_then(toml::Value::as_integer) {
                let actual = match value {
                    Value::List(items) => items.len(),
                    Value::Map(map) => map.len(),
                    Value::Str(text) => text.chars().count(),
                    other => {
                        return Err(format!("{label}'s {key:?} is {other}, which has no length"))
                    }
                };
                if actual as i64 != length {
                    return Err(format!(
                        "expected {label}'s {key:?} to have length {length}, got {actual}"
                    ));
                }
            }
            if let Some(expected) = expect.get("equals") {
                let expected = to_value(expected)?;
                if *value != expected {
                    return Err(format!(
                        "expected {label}'s {key:?} = {expected}, got {value}"
                    ));
                }
            }
            return Ok(());
        }
        if expect.contains_key("trustees") {
            let expected = names("trustees")?;
            let actual: BTreeSet<String> = state.recovery.trustees.iter().cloned().collect();
            let threshold = expect
                .get("threshold")
                .and_then(toml::Value::as_integer)
                .ok_or("`trustees` needs `threshold`")?;
            if actual != expected || state.recovery.threshold as i64 != threshold {
                return Err(format!(
                    "expected trustees {} with threshold {threshold}, got {} with threshold {}",
                    show(&expected),
                    show(&actual),
                    state.recovery.threshold
                ));
            }
            return Ok(());
        }
        if let Some(platform) = text("integration") {
            let expected = expect
                .get("connected")
                .and_then(toml::Value::as_bool)
                .ok_or("`integration` needs `connected`")?;
            let actual = state.integrations.contains_key(platform);
            if actual != expected {
                return Err(format!(
                    "expected integration {platform:?} connected = {expected}, got {actual}"
                ));
            }
            return Ok(());
        }
        if let Some(label) = text("reverted") {
            let by = self.label(text("by").ok_or("`reverted` needs `by`")?)?;
            let target = self.label(label)?;
            let actual = state.actions[&target].reverted_by;
            if actual != Some(by) {
                return Err(format!(
                    "expected {label} reverted by action {by}, got {actual:?}"
                ));
            }
            // The audit trail is the log: an `ActionReverted` record must link the two.
            let linked = self
                .ledger
                .store()
                .read_from(self.ledger.community(), by.0)
                .map_err(|error| error.to_string())?
                .filter_map(|item| item.ok())
                .filter_map(|(_, bytes)| ostrom_schemas::Entry::decode(&bytes).ok())
                .any(|entry| {
                    entry.record()
                        == Some(&ostrom_schemas::Record::ActionReverted { action: target, by })
                });
            if !linked {
                return Err(format!(
                    "the log holds no ActionReverted record linking {label} to action {by}"
                ));
            }
            return Ok(());
        }
        if expect.contains_key("members") {
            let expected = names("members")?;
            let actual: BTreeSet<String> = state.member_names().into_iter().collect();
            if actual != expected {
                return Err(format!(
                    "expected members {}, got {}",
                    show(&expected),
                    show(&actual)
                ));
            }
            return Ok(());
        }
        Err(format!("unknown expectation {expect}"))
    }
}
