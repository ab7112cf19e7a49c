//! What each `ostrom` command does.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use ostrom_projections::GovernanceState;
use ostrom_schemas::action::ActionSpec;
use ostrom_schemas::entry::community_id;
use ostrom_schemas::statement::MemberSpec;
use ostrom_schemas::{ActionId, CommunityId, Entry, Params, StatementBody, Value, VoteValue};

use super::{describe, Cli, Command, PolicyCommand, RecoverCommand, TokenCommand};
use crate::clock;
use crate::engine::reexecute::Audit;
use crate::engine::{Engine, HttpSource, NoPlatforms};
use crate::export;
use crate::keys::{self, KeyDir};
use crate::kits;
use crate::ledger::{progress_bar, Ledger, LedgerError, VERIFY_CHUNK_ENTRIES};
use crate::policy::Runtime;
use crate::store::sled_store::SledStore;
use crate::store::{LogStore, StoreError};
use ostrom_schemas::verify::{Refusal, Sealable};

/// A command's failure: a stable code and a message for people.
#[derive(Debug)]
pub struct CliError {
    pub code: &'static str,
    pub message: String,
}

impl CliError {
    pub(super) fn new(code: &'static str, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl From<LedgerError> for CliError {
    fn from(error: LedgerError) -> Self {
        CliError::new(error.code(), error.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(error: StoreError) -> Self {
        LedgerError::Store(error).into()
    }
}

impl From<keys::KeyError> for CliError {
    fn from(error: keys::KeyError) -> Self {
        let code = match error {
            keys::KeyError::Missing(..) => "unknown_member",
            _ => "key_error",
        };
        CliError::new(code, error.to_string())
    }
}

impl From<export::ExportError> for CliError {
    fn from(error: export::ExportError) -> Self {
        let code = match error {
            export::ExportError::Io(_) => "io_error",
            _ => "invalid_export",
        };
        CliError::new(code, error.to_string())
    }
}

pub(super) type Result<T> = std::result::Result<T, CliError>;

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Kits => {
            for (name, description) in kits::KITS {
                println!("{name:<12} {description}");
            }
            Ok(())
        }
        Command::Verify {
            file: Some(file),
            heads,
        } => verify_export(&file, &heads),
        Command::Test { files } => run_scenarios(&files),
        // A trustee signs on their own machine: the file names the community, and only
        // their key is needed, not the log.
        Command::Recover {
            command: RecoverCommand::Sign { file, trustee },
        } => super::recover::sign(&cli.data, &file, &trustee),
        Command::Proof {
            command:
                super::ProofCommand::Check {
                    proof,
                    head,
                    old_head,
                },
        } => super::proof::check(&proof, &head, old_head.as_deref()),
        Command::Policy {
            command: PolicyCommand::Check { file },
        } => check_policy(&file),
        Command::Policy {
            command: PolicyCommand::Procedures,
        } => {
            for procedure in crate::procedures::PROCEDURES {
                println!("{:<20} {}", procedure.name, procedure.summary);
                for param in procedure.params {
                    let default = param
                        .default
                        .map(|default| format!(" (default {default})"))
                        .unwrap_or_default();
                    println!("    {:<18} {}{default}", param.name, param.doc);
                }
            }
            Ok(())
        }
        Command::Init {
            name,
            kit,
            members,
            trustees,
            threshold,
        } => init(&cli.data, &name, &kit, &members, &trustees, threshold),
        Command::Import { file } => import(&cli.data, &file),
        Command::Serve {
            listen,
            config,
            operator_token,
            log,
        } => serve(&cli.data, listen, config, operator_token, log),
        command => {
            let store = open_store(&cli.data)?;
            let community = resolve_community(&*store, cli.community.as_deref())?;
            let keys = KeyDir::new(&cli.data, community);
            let sequencer = if keys.has_sequencer() {
                Some(keys.sequencer()?)
            } else {
                None
            };
            let show_progress = std::io::stderr().is_terminal();
            match command {
                Command::Replay => replay(store, community, None),
                Command::Verify { file: None, heads } => {
                    replay(
                        store.clone(),
                        community,
                        Some(crate::merkle::HeadDir::new(&cli.data, community)),
                    )?;
                    check_given_heads(
                        store
                            .read_from(community, 0)?
                            .map(|item| item.map(|(_, bytes)| bytes).map_err(|e| e.to_string())),
                        community,
                        &heads,
                    )
                }
                Command::Log { from, limit, json } => log(&*store, community, from, limit, json),
                Command::Proof { command } => {
                    super::proof::run(&*store, community, &cli.data, &keys, command)
                }
                Command::State { json, at: Some(at) } => {
                    let state = state_at(&*store, community, at, &mut GovernanceState::default())?;
                    show_state(&state, json)
                }
                Command::Diff { from, to } => {
                    if from > to {
                        return Err(CliError::new(
                            "bad_param",
                            "diff FROM TO: FROM must not be after TO",
                        ));
                    }
                    let before =
                        state_at(&*store, community, from, &mut GovernanceState::default())?;
                    let after = state_at(&*store, community, to, &mut before.clone())?;
                    let changes = ostrom_projections::diff::diff(&before, &after);
                    if changes.is_empty() {
                        println!("no governance changes between seq {from} and seq {to}");
                    }
                    for change in changes {
                        println!("{change}");
                    }
                    Ok(())
                }
                Command::Export { out } => {
                    let ledger = Ledger::open(store, community, None, show_progress)?;
                    export_log(&ledger, &out)
                }
                Command::Token { command } => token(&cli.data, &*store, community, command),
                command => {
                    let checkpoints = sequencer
                        .clone()
                        .map(|key| (crate::merkle::HeadDir::new(&cli.data, community), key));
                    let ledger = Ledger::open(store, community, sequencer, show_progress)?;
                    let mut ledger = Session::new(ledger, checkpoints);
                    match command {
                        Command::Tick => {
                            let before = ledger.ledger.state().position.next_seq;
                            ledger.append(Vec::new(), true)?;
                            let after = ledger.ledger.state().position.next_seq;
                            println!("{} entries written by due checks", after - before);
                            Ok(())
                        }
                        Command::Policy {
                            command:
                                PolicyCommand::New {
                                    member,
                                    procedure,
                                    params,
                                    name,
                                    kind,
                                    action_types,
                                    priority,
                                    description,
                                    dry_run,
                                },
                        } => {
                            let mut values = std::collections::BTreeMap::new();
                            for param in &params {
                                let (key, value) = param.split_once('=').ok_or_else(|| {
                                    CliError::new(
                                        "bad_param",
                                        format!("--param {param:?} is not key=value"),
                                    )
                                })?;
                                values.insert(key.trim().to_owned(), value.to_owned());
                            }
                            let source = crate::procedures::generate(&procedure, &values)
                                .map_err(|message| CliError::new("bad_param", message))?;
                            if dry_run {
                                print!("{source}");
                                return Ok(());
                            }
                            let mut args = vec![
                                format!("name={name}"),
                                format!("kind={kind}"),
                                format!("priority={priority}"),
                                format!("description={description}"),
                            ];
                            if let Some(types) = action_types {
                                args.push(format!("action_types={types}"));
                            }
                            let mut parsed = parse_params(&args)?;
                            parsed.insert("source".into(), Value::Str(source));
                            let action = ActionSpec::parse("add_policy", &parsed, &|_| None)
                                .map_err(|error| CliError::new("bad_param", error.to_string()))?;
                            let seq = submit(
                                &mut ledger,
                                &keys,
                                &member,
                                StatementBody::ActionProposed {
                                    action,
                                    not_before_ms: None,
                                },
                            )?;
                            println!("{seq}");
                            Ok(())
                        }
                        Command::Propose {
                            member,
                            action_type,
                            params,
                            not_before,
                        } => propose(
                            &mut ledger,
                            &keys,
                            &member,
                            &action_type,
                            &params,
                            not_before.as_deref(),
                        ),
                        Command::Vote {
                            member,
                            action,
                            value,
                        } => {
                            let value = VoteValue::parse(&value)
                                .map_err(|message| CliError::new("invalid_vote", message))?;
                            let body = StatementBody::VoteCast {
                                action: ActionId(action),
                                value,
                            };
                            submit(&mut ledger, &keys, &member, body).map(|seq| println!("{seq}"))
                        }
                        Command::Withdraw { member, action } => {
                            let body = StatementBody::VoteWithdrawn {
                                action: ActionId(action),
                            };
                            submit(&mut ledger, &keys, &member, body).map(|seq| println!("{seq}"))
                        }
                        Command::State { json, .. } => show_state(ledger.state(), json),
                        Command::Recover {
                            command:
                                RecoverCommand::Prepare {
                                    plan,
                                    kit,
                                    founder,
                                    seq,
                                    out,
                                },
                        } => super::recover::prepare(
                            ledger.state(),
                            plan,
                            kit.as_deref(),
                            founder.as_deref(),
                            seq,
                            &out,
                        ),
                        Command::Recover {
                            command: RecoverCommand::Submit { file, member },
                        } => {
                            let file = super::recover::RecoveryFile::read(&file)?;
                            let member = member
                                .or_else(|| {
                                    file.recovery
                                        .cosignatures
                                        .first()
                                        .map(|cosignature| cosignature.trustee.clone())
                                })
                                .ok_or_else(|| {
                                    CliError::new(
                                        "bad_cosignature",
                                        "the recovery has no co-signatures; trustees sign it with `ostrom recover sign`",
                                    )
                                })?;
                            let body = StatementBody::RecoveryInvoked(file.recovery);
                            let seq = submit(&mut ledger, &keys, &member, body)?;
                            println!("{seq}");
                            Ok(())
                        }
                        _ => unreachable!("every command is handled above"),
                    }
                }
            }
        }
    }
}

fn serve(
    data: &Path,
    listen: Option<String>,
    config: Option<std::path::PathBuf>,
    operator_token: Option<String>,
    log: Option<String>,
) -> Result<()> {
    use crate::server::config::{Overrides, RawConfig};
    let bad_config =
        |error: crate::server::config::ConfigError| CliError::new("bad_config", error.to_string());
    let raw = match config {
        Some(path) => RawConfig::read(&path).map_err(bad_config)?,
        None => RawConfig::default(),
    };
    let config = raw
        .resolve(Overrides {
            listen,
            data: Some(data.to_path_buf()),
            operator_token,
            log,
        })
        .map_err(bad_config)?;
    crate::server::run(config).map_err(|error| CliError::new(error.code(), error.to_string()))
}

fn token(
    data: &Path,
    store: &dyn LogStore,
    community: CommunityId,
    command: TokenCommand,
) -> Result<()> {
    let tokens = crate::server::tokens::TokenStore::open(data)
        .map_err(|error| CliError::new(error.code(), error.to_string()))?;
    let token_error =
        |error: crate::server::tokens::TokenError| CliError::new(error.code(), error.to_string());
    match command {
        TokenCommand::Issue { member, label } => {
            // Membership is checked against the verified log, not assumed.
            let mut state = GovernanceState::default();
            crate::ledger::replay_from_store(
                store,
                community,
                &mut state,
                &indicatif::ProgressBar::hidden(),
            )?;
            if !state.is_member(&member) {
                return Err(CliError::new(
                    "unknown_member",
                    format!("{member} is not a member"),
                ));
            }
            let (token, record) = tokens
                .issue(community, &member, &label, clock::now_ms())
                .map_err(token_error)?;
            println!("{token}");
            eprintln!(
                "token {} for {member}; it is shown only this once",
                record.id
            );
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            match tokens.get(&id) {
                Some(record) if record.community == community => {}
                _ => return Err(CliError::new("unknown_token", format!("no token {id}"))),
            }
            tokens.revoke(&id).map_err(token_error)?;
            println!("revoked {id}");
            Ok(())
        }
        TokenCommand::List => {
            for record in tokens.list(community) {
                let state = if record.revoked { "revoked" } else { "active" };
                println!(
                    "{}  {:<20} {:<8} {}",
                    record.id, record.member, state, record.label
                );
            }
            Ok(())
        }
    }
}

fn store_path(data: &Path) -> std::path::PathBuf {
    data.join("store")
}

fn open_store(data: &Path) -> Result<Arc<dyn LogStore>> {
    let path = store_path(data);
    if !path.exists() {
        return Err(CliError::new(
            "no_data",
            format!(
                "{} holds no ostrom data; found a community with `ostrom init`",
                data.display()
            ),
        ));
    }
    SledStore::open(&path)
        .map(|store| Arc::new(store) as Arc<dyn LogStore>)
        .map_err(|error| in_use(data, error))
}

/// sled admits one process at a time; the likeliest holder is a running `ostrom serve`.
fn in_use(data: &Path, error: StoreError) -> CliError {
    let text = error.to_string();
    if text.contains("could not acquire lock") {
        CliError::new(
            "store_in_use",
            format!(
                "{} is in use by another process (a running `ostrom serve`?); stop it, or use \
                 its HTTP API (tokens: POST /api/v1/communities/{{id}}/tokens)",
                data.display()
            ),
        )
    } else {
        error.into()
    }
}

fn create_store(data: &Path) -> Result<Arc<dyn LogStore>> {
    std::fs::create_dir_all(data)
        .map_err(|error| CliError::new("io_error", format!("{}: {error}", data.display())))?;
    SledStore::open(store_path(data))
        .map(|store| Arc::new(store) as Arc<dyn LogStore>)
        .map_err(|error| in_use(data, error))
}

fn resolve_community(store: &dyn LogStore, wanted: Option<&str>) -> Result<CommunityId> {
    let communities = store.communities()?;
    match wanted {
        Some(wanted) => communities
            .iter()
            .find(|record| record.name == wanted || record.id.to_hex() == wanted)
            .map(|record| record.id)
            .ok_or_else(|| {
                CliError::new(
                    "unknown_community",
                    format!("no community named {wanted:?} here"),
                )
            }),
        None => match communities.as_slice() {
            [only] => Ok(only.id),
            [] => Err(CliError::new(
                "unknown_community",
                "no community here yet; found one with `ostrom init`",
            )),
            many => {
                let names: Vec<&str> = many.iter().map(|record| record.name.as_str()).collect();
                Err(CliError::new(
                    "ambiguous_community",
                    format!("this data directory holds several communities; pick one with --community ({})", names.join(", ")),
                ))
            }
        },
    }
}

fn init(
    data: &Path,
    name: &str,
    kit_name: &str,
    members: &[String],
    trustees: &[String],
    threshold: Option<u64>,
) -> Result<()> {
    let threshold = kits::check_founding(name, kit_name, members, trustees, threshold)
        .map_err(|message| CliError::new("bad_param", message))?;

    let store = create_store(data)?;
    if store
        .communities()?
        .iter()
        .any(|record| record.name == name)
    {
        return Err(CliError::new(
            "community_exists",
            format!("a community named {name:?} exists here"),
        ));
    }
    let sequencer = keys::generate();
    let sequencer_public = keys::public(&sequencer);
    let community = community_id(name, &sequencer_public);
    let key_dir = KeyDir::new(data, community);
    let mut member_specs = Vec::new();
    let mut member_keys = Vec::new();
    for member in members {
        let key = keys::generate();
        member_specs.push(MemberSpec {
            name: member.clone(),
            key: Some(keys::public(&key)),
        });
        member_keys.push((member, key));
    }
    let signed = kits::founding_statement(
        name,
        kit_name,
        member_specs,
        trustees.to_vec(),
        threshold,
        &sequencer,
    )
    .map_err(|message| CliError::new("bad_param", message))?;
    // Keys are written before the genesis entry: a community whose keys were lost could
    // never append again, while keys without a community are harmless.
    key_dir.save_sequencer(&sequencer)?;
    for (member, key) in &member_keys {
        key_dir.save_member(member, key)?;
    }
    Ledger::found(store, signed, sequencer, clock::now_ms())?;
    let tokens = crate::server::tokens::TokenStore::open(data)
        .map_err(|error| CliError::new(error.code(), error.to_string()))?;
    let (token, _) = tokens
        .issue(community, &members[0], "founder", clock::now_ms())
        .map_err(|error| CliError::new(error.code(), error.to_string()))?;
    println!("{community}");
    println!("{token}");
    eprintln!(
        "the second line is {}'s API token for `ostrom serve`; it is shown only this once",
        members[0]
    );
    eprintln!(
        "founded {name:?} with the {kit_name} kit and {} members; keys are in {}",
        members.len(),
        data.join("keys").join(community.to_hex()).display()
    );
    Ok(())
}

/// `key=value` arguments into parameters. Lists stay comma-separated strings (the action
/// parser splits them); `[`/`{` values are JSON; `@FILE` values are read from a file.
pub fn parse_params(args: &[String]) -> Result<Params> {
    let mut params = Params::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(CliError::new(
                "bad_param",
                format!("{arg:?} is not key=value"),
            ));
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(CliError::new(
                "bad_param",
                format!("{arg:?}: the key must be a word"),
            ));
        }
        let value = if let Some(path) = value.strip_prefix('@') {
            let text = std::fs::read_to_string(path).map_err(|error| {
                CliError::new("bad_param", format!("{key}: cannot read {path}: {error}"))
            })?;
            Value::Str(text)
        } else if value.starts_with('[') || value.starts_with('{') {
            serde_json::from_str(value).map_err(|error| {
                CliError::new("bad_param", format!("{key}: invalid JSON: {error}"))
            })?
        } else {
            Value::Str(value.to_owned())
        };
        if params.insert(key.to_owned(), value).is_some() {
            return Err(CliError::new("bad_param", format!("{key} is given twice")));
        }
    }
    Ok(params)
}

/// A ledger with the policy engine: what the write commands use.
struct Session {
    ledger: Ledger,
    engine: Engine,
    /// Where tree heads are saved every `merkle::CHECKPOINT_INTERVAL_ENTRIES` entries, and
    /// the sequencer key that signs them.
    checkpoints: Option<(crate::merkle::HeadDir, ostrom_schemas::SigningKey)>,
}

impl Session {
    fn new(
        ledger: Ledger,
        checkpoints: Option<(crate::merkle::HeadDir, ostrom_schemas::SigningKey)>,
    ) -> Session {
        let mut engine = Engine::new(
            Arc::new(Runtime::new()),
            Arc::new(NoPlatforms),
            HttpSource::Community,
        );
        engine.resume(ledger.state());
        Session {
            ledger,
            engine,
            checkpoints,
        }
    }

    fn state(&self) -> &GovernanceState {
        self.ledger.state()
    }

    /// Seal `items` with everything the engine decides, after running the checks that
    /// came due since the last command (when `tick`), and make it durable.
    fn append(
        &mut self,
        items: Vec<Sealable>,
        tick: bool,
    ) -> Result<Vec<std::result::Result<ostrom_schemas::VerifiedEntry, Refusal>>> {
        let verdicts = self
            .ledger
            .append_with(items, clock::now_ms(), &mut self.engine, tick)?;
        if let Some((heads, key)) = &self.checkpoints {
            // The entries are durable already; a head that cannot be written now is written
            // by the next command that appends, so this failure only warns.
            if let Err(error) = crate::merkle::save_due_heads(
                &**self.ledger.store(),
                self.ledger.community(),
                heads,
                key,
            ) {
                eprintln!("warning: tree head not saved: {error}");
            }
        }
        Ok(verdicts)
    }
}

fn submit(session: &mut Session, keys: &KeyDir, member: &str, body: StatementBody) -> Result<u64> {
    // A recovery names the log head it was prepared against: due checks written first
    // would move the head and make it stale, so they wait for the next command.
    let tick = !matches!(body, StatementBody::RecoveryInvoked(_));
    if !session.state().is_member(member) {
        return Err(CliError::new(
            "unknown_member",
            format!("{member} is not a member"),
        ));
    }
    if !session.ledger.can_append() {
        return Err(LedgerError::ReadOnly.into());
    }
    let key = keys.member(member)?;
    let signed = session.ledger.sign(member, &key, body);
    let checked = ostrom_schemas::verify::check_statement(signed)
        .map_err(|refusal| CliError::new(refusal.code, refusal.reason))?;
    let verdict = session
        .append(vec![Sealable::Statement(checked)], tick)?
        .pop()
        .expect("one result per item");
    let verified = verdict.map_err(|refusal| CliError::new(refusal.code, refusal.reason))?;
    Ok(verified.entry().seq)
}

fn propose(
    ledger: &mut Session,
    keys: &KeyDir,
    member: &str,
    action_type: &str,
    args: &[String],
    not_before: Option<&str>,
) -> Result<()> {
    let params = parse_params(args)?;
    let action = ActionSpec::parse(action_type, &params, &|_| None)
        .map_err(|error| CliError::new("bad_param", error.to_string()))?;
    let not_before_ms = not_before
        .map(|text| {
            humantime::parse_duration(text)
                .map(|delay| clock::now_ms() + delay.as_millis() as u64)
                .map_err(|error| {
                    CliError::new("bad_param", format!("--not-before {text:?}: {error}"))
                })
        })
        .transpose()?;
    let seq = submit(
        ledger,
        keys,
        member,
        StatementBody::ActionProposed {
            action,
            not_before_ms,
        },
    )?;
    println!("{seq}");
    Ok(())
}

/// Replay the whole log; `verify` (with the community's tree heads) also re-executes every
/// recorded evaluation and checks every saved tree head against the log.
fn replay(
    store: Arc<dyn LogStore>,
    community: CommunityId,
    verify: Option<crate::merkle::HeadDir>,
) -> Result<()> {
    let verify_only = verify.is_some();
    let total = store.len(community)?;
    let bar = if std::io::stderr().is_terminal() {
        progress_bar(
            total,
            if verify_only {
                "verifying"
            } else {
                "replaying"
            },
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut state = GovernanceState::default();
    let started = std::time::Instant::now();
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    let result = if verify_only {
        crate::ledger::replay_inspecting(
            &*store,
            community,
            &mut state,
            u64::MAX,
            &bar,
            &mut |state, entry| audit.inspect(state, entry),
        )
    } else {
        crate::ledger::replay_from_store(&*store, community, &mut state, &bar)
    };
    bar.finish_and_clear();
    match result {
        Ok(()) => {
            let seconds = started.elapsed().as_secs_f64();
            if let Some(heads) = verify {
                let checked = crate::merkle::check_saved_heads(&*store, community, &heads)
                    .map_err(|error| CliError::new(error.code, error.reason))?;
                println!(
                    "ok: {} entries verified (chain, signatures, members and keys); {} evaluations re-executed with identical effects{}; {checked} saved tree heads match the log",
                    state.position.next_seq,
                    audit.reexecuted,
                    if audit.time_limits_accepted > 0 {
                        format!(
                            " ({} stopped by the CPU-time backstop accepted as recorded)",
                            audit.time_limits_accepted
                        )
                    } else {
                        String::new()
                    }
                );
            } else {
                println!("{} entries", state.position.next_seq);
                println!("state hash {}", state.state_hash());
            }
            eprintln!(
                "{:.0} entries/s",
                state.position.next_seq as f64 / seconds.max(1e-9)
            );
            Ok(())
        }
        Err(LedgerError::Invalid(bad)) => Err(CliError::new(
            bad.code,
            format!("verification failed at entry {}: {}", bad.seq, bad.reason),
        )),
        Err(error) => Err(error.into()),
    }
}

fn log(
    store: &dyn LogStore,
    community: CommunityId,
    from: u64,
    limit: Option<u64>,
    json: bool,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let limit = limit.unwrap_or(u64::MAX);
    for (printed, item) in store.read_from(community, from)?.enumerate() {
        if printed as u64 >= limit {
            break;
        }
        let (seq, bytes) = item?;
        // `log` shows entries as stored; `verify` is what vouches for them.
        let entry = Entry::decode(&bytes).map_err(|error| {
            CliError::new(
                "store_corrupt",
                format!("entry {seq} does not decode: {error}"),
            )
        })?;
        let hash = ostrom_schemas::entry::hash_entry_bytes(&bytes);
        let written = if json {
            let line = serde_json::json!({ "seq": seq, "hash": hash, "entry": entry });
            writeln!(out, "{line}")
        } else {
            writeln!(
                out,
                "{seq:>7}  {}  {}  {}",
                describe::time(entry.at_ms),
                hash.short(),
                describe::entry(&entry)
            )
        };
        if written.is_err() {
            break; // a closed pipe (`ostrom log | head`) ends the listing quietly
        }
    }
    let _ = out.flush();
    Ok(())
}

fn show_state(state: &GovernanceState, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(state).expect("state always encodes")
        );
        return Ok(());
    }
    let community = state
        .community
        .as_ref()
        .expect("an opened community is founded");
    println!(
        "community {} ({}), kit {}",
        community.name, community.id, community.kit
    );
    println!(
        "log: {} entries, head {}, state hash {}",
        state.position.next_seq,
        state.position.head.short(),
        state.state_hash().short()
    );
    println!("\nmembers ({}):", state.member_names().len());
    for name in state.member_names() {
        println!("  {name:<20} roles: {}", state.roles_of(&name).join(", "));
    }
    println!("\nroles:");
    for (name, role) in state.roles.iter().filter(|(_, role)| role.active) {
        let permissions = &role.permissions;
        println!(
            "  {name:<20} members: {:<4} view: [{}] propose: [{}] execute: [{}]",
            state.role_members(name).len(),
            permissions.view.join(","),
            permissions.propose.join(","),
            permissions.execute.join(",")
        );
    }
    println!("\npolicies:");
    for policy in state.policies.values() {
        let types = if policy.spec.action_types.is_empty() {
            "base".to_owned()
        } else {
            policy.spec.action_types.join(",")
        };
        println!(
            "  #{:<3} {:<40} {:<12} {:<10} priority {:<3} {} version {} ({} versions)",
            policy.id.0,
            policy.spec.name,
            policy.spec.kind.as_str(),
            types,
            policy.spec.priority,
            if policy.active {
                "active  "
            } else {
                "inactive"
            },
            policy.version.short(),
            policy.versions.len()
        );
    }
    println!("\ndocuments:");
    for (name, document) in &state.documents {
        println!(
            "  {name:<30} {} ({} versions)",
            if document.active { "active" } else { "deleted" },
            document.versions.len()
        );
    }
    let open = state.open.len();
    println!("\nproposals: {} in all, {open} open", state.actions.len());
    for action in state.actions.values().rev().take(20) {
        println!(
            "  {:<7} {:<24} by {:<12} {:<8} {} votes",
            action.id.0,
            action.spec.action_type(),
            action.initiator,
            action.status.as_str(),
            action.votes.len()
        );
    }
    if state.actions.len() > 20 {
        println!(
            "  ... ({} older; `ostrom log` lists them all)",
            state.actions.len() - 20
        );
    }
    Ok(())
}

fn export_log(ledger: &Ledger, out: &Path) -> Result<()> {
    let state = ledger.state();
    let community = state
        .community
        .as_ref()
        .expect("an opened community is founded");
    let header = export::Header {
        format: export::FORMAT.into(),
        version: export::FORMAT_VERSION,
        community: community.id,
        name: community.name.clone(),
        entries: state.position.next_seq,
        head: state.position.head,
        encoding: export::ENCODING.into(),
    };
    let store = ledger.store();
    let mut failure = None;
    let entries = store
        .read_from(ledger.community(), 0)?
        .take(state.position.next_seq as usize)
        .map_while(|item| match item {
            Ok((_, bytes)) => Some(bytes),
            Err(error) => {
                failure = Some(error);
                None
            }
        });
    let written = export::write(out, &header, entries)?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    println!(
        "exported {written} entries of {} to {}",
        community.name,
        out.display()
    );
    Ok(())
}

fn verify_file(file: &Path) -> Result<(export::Header, GovernanceState)> {
    let show = std::io::stderr().is_terminal();
    let mut audit = Audit::new(Arc::new(Runtime::new()));
    export::verify_file_inspecting(file, show, &mut |state, entry| audit.inspect(state, entry))
        .map_err(|invalid| match invalid.seq {
            Some(seq) => CliError::new(
                invalid.code,
                format!("verification failed at entry {seq}: {}", invalid.reason),
            ),
            None => CliError::new(invalid.code, invalid.reason),
        })
}

fn verify_export(file: &Path, heads: &[std::path::PathBuf]) -> Result<()> {
    let (header, state) = verify_file(file)?;
    check_given_heads(
        export::Reader::open(file)?.map(|item| item.map_err(|error| error.to_string())),
        header.community,
        heads,
    )?;
    println!(
        "ok: {} entries of {} verified (chain, signatures, members and keys, evaluations re-executed); head {}, state hash {}",
        state.position.next_seq,
        header.name,
        state.position.head,
        state.state_hash()
    );
    Ok(())
}

fn import(data: &Path, file: &Path) -> Result<()> {
    // Verify first, then write: an import that fails leaves the store untouched.
    let (header, state) = verify_file(file)?;
    let store = create_store(data)?;
    if store
        .communities()?
        .iter()
        .any(|record| record.id == header.community || record.name == header.name)
    {
        return Err(CliError::new(
            "community_exists",
            format!("{} is already in this data directory", header.name),
        ));
    }
    store.create_community(header.community, &header.name)?;
    let mut next = 0u64;
    for chunk in export::Reader::open(file)?
        .collect::<std::result::Result<Vec<_>, _>>()?
        .chunks(VERIFY_CHUNK_ENTRIES)
    {
        next = store.append(header.community, next, chunk.to_vec())?;
    }
    println!(
        "imported {} entries of {} ({}); state hash {}",
        next,
        header.name,
        header.community,
        state.state_hash()
    );
    if !KeyDir::new(data, header.community).has_sequencer() {
        eprintln!(
            "note: this data directory holds no sequencer key for {}, so this copy is read-only",
            header.name
        );
    }
    Ok(())
}

fn run_scenarios(files: &[std::path::PathBuf]) -> Result<()> {
    let runtime = Arc::new(Runtime::new());
    let mut passed = 0;
    let mut failed = 0;
    for file in files {
        let verdict = crate::scenario::run_file(file, &runtime);
        println!("{}", verdict.line());
        if verdict.passed() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn check_policy(file: &Path) -> Result<()> {
    let source = std::fs::read_to_string(file)
        .map_err(|error| CliError::new("io_error", format!("{}: {error}", file.display())))?;
    Runtime::new().compile(&source).map_err(|error| {
        CliError::new(
            "compile_error",
            format!(
                "{}:{}:{}: {}",
                file.display(),
                error.line,
                error.column,
                error.message
            ),
        )
    })?;
    println!(
        "ok: {} compiles and defines filter and check",
        file.display()
    );
    Ok(())
}

/// Check tree heads an auditor saved against a log's entries (canonical bytes, in order):
/// each head's signature, and the root of the log's first `size` entries.
fn check_given_heads(
    entries: impl Iterator<Item = std::result::Result<Vec<u8>, String>>,
    community: CommunityId,
    paths: &[std::path::PathBuf],
) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut heads = paths
        .iter()
        .map(|path| {
            crate::merkle::read_head(path)
                .map_err(|error| CliError::new("bad_tree_head", error))
                .map(|head| (path, head))
        })
        .collect::<Result<Vec<_>>>()?;
    heads.sort_by_key(|(_, head)| head.size);
    let mut tree = crate::merkle::LogTree::default();
    let mut pending = heads.iter().peekable();
    for bytes in entries {
        let bytes = bytes.map_err(|error| CliError::new("store_error", error))?;
        tree.push(ostrom_schemas::entry::hash_entry_bytes(&bytes));
        while let Some((path, head)) = pending.next_if(|(_, head)| head.size == tree.len()) {
            crate::merkle::check_head_root(head, community, tree.root()).map_err(|error| {
                CliError::new(error.code, format!("{}: {}", path.display(), error.reason))
            })?;
        }
    }
    if let Some((path, head)) = pending.next() {
        return Err(CliError::new(
            "proof_mismatch",
            format!(
                "{}: the tree head covers {} entries but the log has only {}: entries were removed",
                path.display(),
                head.size,
                tree.len()
            ),
        ));
    }
    println!(
        "ok: the log begins with exactly the entries of {} saved tree head(s): it was only appended to",
        heads.len()
    );
    Ok(())
}

/// The state as of seq `at` (entries 0..=at), verified; `state` may already hold a prefix.
fn state_at(
    store: &dyn LogStore,
    community: CommunityId,
    at: u64,
    state: &mut GovernanceState,
) -> Result<GovernanceState> {
    let length = store.len(community)?;
    if at >= length {
        return Err(CliError::new(
            "bad_param",
            format!("seq {at} is not in the log (it has {length} entries)"),
        ));
    }
    let bar = if std::io::stderr().is_terminal() && at > VERIFY_CHUNK_ENTRIES as u64 {
        progress_bar(at + 1 - state.position.next_seq, "replaying")
    } else {
        indicatif::ProgressBar::hidden()
    };
    crate::ledger::replay_until(store, community, state, at + 1, &bar).map_err(
        |error| match error {
            LedgerError::Invalid(bad) => CliError::new(
                bad.code,
                format!("verification failed at entry {}: {}", bad.seq, bad.reason),
            ),
            other => other.into(),
        },
    )?;
    bar.finish_and_clear();
    Ok(state.clone())
}
