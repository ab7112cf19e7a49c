//! The hardened Rhai engine and the policy API registered into it (spec/policy-api.md).
//!
//! The engine is built once from `Engine::new_raw()` with only the packages a policy needs
//! (arithmetic, logic, strings, arrays, maps, iteration, function pointers): no time, no
//! floats, no `eval`, no modules, no file or system access, no `sleep`, no output. Every
//! object a script sees (`action`, `policy`, a proposal, a data store) is a stateless
//! handle; what it reads and writes lives in the evaluation's session, reached through the
//! call's tag, so one engine serves every evaluation at once.

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicStringPackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Module, NativeCallContext,
    OptimizationLevel, INT,
};

use ostrom_schemas::action::ActionSpec;
use ostrom_schemas::limits::TEXT_BYTES_MAX;
use ostrom_schemas::record::{DataWrite, Notification};
use ostrom_schemas::{Params, Value, VoteValue};

use super::clock::{Clock, Comparison};
use super::convert::{member_names, params_to_map, to_dynamic, to_value};
use super::http::HttpRequest;
use super::limits::*;
use super::session::{Session, SessionHandle, Stage};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The `action` argument of every lifecycle function.
#[derive(Clone, Copy, Debug)]
pub struct ActionHandle;

/// The `policy` argument of every lifecycle function.
#[derive(Clone, Copy, Debug)]
pub struct PolicyHandle;

/// `action.proposal`.
#[derive(Clone, Copy, Debug)]
pub struct ProposalHandle;

/// `action.data` or `policy.data`.
#[derive(Clone, Copy, Debug)]
pub struct DataHandle {
    policy: bool,
}

/// A member, by name; roles are looked up in the evaluation's directory.
#[derive(Clone, Debug)]
pub struct MemberValue {
    pub name: ImmutableString,
}

/// One vote (or, in `votes_history()`, a withdrawal: `value` is unit).
#[derive(Clone, Debug)]
pub struct VoteRecord {
    member: ImmutableString,
    value: Option<VoteValue>,
    at_ms: i64,
}

/// The constants `PASSED`, `FAILED`, `PROPOSED`.
pub const OUTCOME_CONSTANTS: [(&str, &str); 3] = [
    ("PASSED", "passed"),
    ("FAILED", "failed"),
    ("PROPOSED", "proposed"),
];

pub fn build_engine() -> Engine {
    let mut engine = Engine::new_raw();
    // Deliberately not LanguageCorePackage: it holds `sleep`, `exit` and `parse_json`.
    engine.register_global_module(ArithmeticPackage::new().as_shared_module());
    engine.register_global_module(LogicPackage::new().as_shared_module());
    engine.register_global_module(BasicStringPackage::new().as_shared_module());
    engine.register_global_module(MoreStringPackage::new().as_shared_module());
    engine.register_global_module(BasicArrayPackage::new().as_shared_module());
    engine.register_global_module(BasicMapPackage::new().as_shared_module());
    engine.register_global_module(BasicIteratorPackage::new().as_shared_module());
    engine.register_global_module(BasicFnPackage::new().as_shared_module());
    let mut constants = Module::new();
    for (name, value) in OUTCOME_CONSTANTS {
        constants.set_var(name, ImmutableString::from(value));
    }
    engine.register_global_module(constants.into());

    engine.disable_symbol("eval");
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    // What the author wrote is what runs: positions stay exact and no statement is
    // folded away before the top-level check sees it.
    engine.set_optimization_level(OptimizationLevel::None);
    engine.set_strict_variables(true);
    engine.set_max_operations(POLICY_OPERATIONS_MAX);
    engine.on_progress(|operations| super::budget::expired(operations).then_some(Dynamic::UNIT));
    engine.set_max_call_levels(POLICY_CALL_LEVELS_MAX);
    engine.set_max_expr_depths(POLICY_EXPR_DEPTH_MAX, POLICY_EXPR_DEPTH_MAX);
    engine.set_max_string_size(POLICY_STRING_BYTES_MAX);
    engine.set_max_array_size(POLICY_ARRAY_ITEMS_MAX);
    engine.set_max_map_size(POLICY_MAP_ITEMS_MAX);
    engine.set_max_variables(POLICY_VARIABLES_MAX);
    engine.set_max_functions(POLICY_FUNCTIONS_MAX);

    register_types(&mut engine);
    register_action(&mut engine);
    register_proposal(&mut engine);
    register_data(&mut engine);
    register_members(&mut engine);
    register_time(&mut engine);
    register_effects(&mut engine);
    engine
}

/// The name a policy author knows a value's type by (`type_of`), for error messages.
pub fn type_name(value: &Dynamic) -> &'static str {
    if value.is::<ActionHandle>() {
        "Action"
    } else if value.is::<PolicyHandle>() {
        "Policy"
    } else if value.is::<ProposalHandle>() {
        "Proposal"
    } else if value.is::<DataHandle>() {
        "DataStore"
    } else if value.is::<MemberValue>() {
        "Member"
    } else if value.is::<VoteRecord>() {
        "Vote"
    } else if value.is::<Clock>() {
        "Clock"
    } else {
        value.type_name()
    }
}

/// Run `body` with the evaluation's session. The tag is borrowed in place: cloning it would
/// box a copy of the handle on every API call.
fn with<T>(
    context: &NativeCallContext,
    body: impl FnOnce(&mut Session) -> std::result::Result<T, String>,
) -> Result<T> {
    let handle = context
        .tag()
        .and_then(|tag| tag.read_lock::<SessionHandle>())
        .ok_or("the policy API is only available while a policy is evaluated")?;
    let mut guard = handle.lock();
    body(&mut guard).map_err(Into::into)
}

fn text(value: &str) -> Dynamic {
    Dynamic::from(ImmutableString::from(value))
}

fn member(name: &str) -> Dynamic {
    Dynamic::from(MemberValue { name: name.into() })
}

/// A member whose name is already a shared string: no copy.
fn shared_member(name: &ImmutableString) -> Dynamic {
    Dynamic::from(MemberValue { name: name.clone() })
}

fn int(value: u64) -> INT {
    INT::try_from(value).unwrap_or(INT::MAX)
}

fn register_types(engine: &mut Engine) {
    engine.register_type_with_name::<ActionHandle>("Action");
    engine.register_type_with_name::<PolicyHandle>("Policy");
    engine.register_type_with_name::<ProposalHandle>("Proposal");
    engine.register_type_with_name::<DataHandle>("DataStore");
    engine.register_type_with_name::<MemberValue>("Member");
    engine.register_type_with_name::<VoteRecord>("Vote");
    engine.register_type_with_name::<Clock>("Clock");
    engine.register_fn("to_string", |_: &mut ActionHandle| "action".to_owned());
    engine.register_fn("to_string", |_: &mut PolicyHandle| "policy".to_owned());
    engine.register_fn("to_string", |_: &mut ProposalHandle| "proposal".to_owned());
    engine.register_fn("to_string", |_: &mut DataHandle| "data store".to_owned());
}

fn register_action(engine: &mut Engine) {
    engine.register_get("id", |context: NativeCallContext, _: &mut ActionHandle| {
        with(&context, |session| Ok(int(session.action.id)))
    });
    engine.register_get(
        "action_type",
        |context: NativeCallContext, _: &mut ActionHandle| {
            with(&context, |session| Ok(text(&session.action.action_type)))
        },
    );
    engine.register_get(
        "kind",
        |context: NativeCallContext, _: &mut ActionHandle| {
            with(&context, |session| Ok(text(session.action.kind)))
        },
    );
    engine.register_get(
        "initiator",
        |context: NativeCallContext, _: &mut ActionHandle| {
            with(&context, |session| Ok(member(&session.action.initiator)))
        },
    );
    engine.register_get(
        "params",
        |context: NativeCallContext, _: &mut ActionHandle| {
            with(&context, |session| {
                Ok(params_to_map(&session.action.params))
            })
        },
    );
    engine.register_get(
        "options",
        |context: NativeCallContext, _: &mut ActionHandle| {
            with(&context, |session| {
                Ok(session
                    .action
                    .options
                    .iter()
                    .map(|(action_type, params)| {
                        let mut option = Map::new();
                        option.insert("action_type".into(), text(action_type));
                        option.insert("params".into(), Dynamic::from_map(params_to_map(params)));
                        Dynamic::from_map(option)
                    })
                    .collect::<Array>())
            })
        },
    );
    engine.register_get("data", |_: &mut ActionHandle| DataHandle { policy: false });
    engine.register_get("proposal", |_: &mut ActionHandle| ProposalHandle);
    engine.register_fn("execute", |context: NativeCallContext, _: ActionHandle| {
        with(&context, |session| {
            only_in_pass(session, "execute()")?;
            let option = session
                .action
                .is_election
                .then(|| session.action.most_voted_option());
            session.execute = Some(option);
            Ok(())
        })
    });
    engine.register_fn(
        "execute_option",
        |context: NativeCallContext, _: ActionHandle, index: INT| {
            with(&context, |session| {
                only_in_pass(session, "execute_option(i)")?;
                if !session.action.is_election {
                    return Err("execute_option(i) is for elections; use execute()".to_owned());
                }
                let count = session.action.options.len();
                let option = u64::try_from(index)
                    .ok()
                    .filter(|option| (*option as usize) < count)
                    .ok_or_else(|| {
                        format!(
                            "option {index} does not exist: this election has options 0 to {}",
                            count - 1
                        )
                    })?;
                session.execute = Some(Some(option));
                Ok(())
            })
        },
    );

    engine.register_get("id", |context: NativeCallContext, _: &mut PolicyHandle| {
        with(&context, |session| Ok(int(session.policy.id)))
    });
    engine.register_get(
        "name",
        |context: NativeCallContext, _: &mut PolicyHandle| {
            with(&context, |session| Ok(text(&session.policy.name)))
        },
    );
    engine.register_get(
        "version",
        |context: NativeCallContext, _: &mut PolicyHandle| {
            with(&context, |session| Ok(text(&session.policy.version)))
        },
    );
    engine.register_get("data", |_: &mut PolicyHandle| DataHandle { policy: true });
}

fn only_in_pass(session: &Session, what: &str) -> std::result::Result<(), String> {
    if session.stage == Stage::Pass {
        Ok(())
    } else {
        Err(format!(
            "{what} can only be called in pass, not in {}",
            session.stage.name()
        ))
    }
}

fn vote_value(value: &VoteValue) -> Dynamic {
    match value {
        VoteValue::Yes => text("yes"),
        VoteValue::No => text("no"),
        VoteValue::Option(index) => Dynamic::from(int(*index)),
        VoteValue::Choice(choice) => text(choice),
        VoteValue::Ranking(ranking) => Dynamic::from_array(
            ranking
                .iter()
                .map(|index| Dynamic::from(int(*index)))
                .collect(),
        ),
    }
}

/// Current votes passing `keep`, as script values.
fn current_votes(session: &Session, keep: impl Fn(&str, &VoteValue) -> bool) -> Array {
    session
        .action
        .votes
        .iter()
        .filter(|(name, value, _)| keep(name, value))
        .map(|(name, value, at_ms)| {
            Dynamic::from(VoteRecord {
                member: name.clone(),
                value: Some(value.clone()),
                at_ms: *at_ms,
            })
        })
        .collect()
}

/// `yes_votes(members)` / `no_votes(members)`: unit or an empty array means nobody.
fn votes_by(
    session: &Session,
    wanted: &VoteValue,
    members: &Dynamic,
) -> std::result::Result<Array, String> {
    let names: std::collections::BTreeSet<String> = member_names(members)?.into_iter().collect();
    Ok(current_votes(session, |name, value| {
        value == wanted && names.contains(name)
    }))
}

fn register_proposal(engine: &mut Engine) {
    engine.register_get(
        "status",
        |context: NativeCallContext, _: &mut ProposalHandle| {
            with(&context, |session| Ok(text(session.action.status)))
        },
    );
    engine.register_get(
        "proposed_at",
        |context: NativeCallContext, _: &mut ProposalHandle| {
            with(&context, |session| Ok(session.action.proposed_at_ms))
        },
    );
    engine.register_fn(
        "elapsed",
        |context: NativeCallContext, _: ProposalHandle| {
            with(&context, |session| {
                let proposed = session.action.proposed_at_ms;
                Clock::now(session.now_ms)
                    .plus(-proposed)
                    .ok_or_else(|| "elapsed() overflows".to_owned())
            })
        },
    );
    engine.register_fn("votes", |context: NativeCallContext, _: ProposalHandle| {
        with(&context, |session| Ok(current_votes(session, |_, _| true)))
    });
    engine.register_fn(
        "votes_history",
        |context: NativeCallContext, _: ProposalHandle| {
            with(&context, |session| {
                Ok(session
                    .action
                    .history
                    .iter()
                    .map(|event| {
                        Dynamic::from(VoteRecord {
                            member: event.member.as_str().into(),
                            value: event.value.clone(),
                            at_ms: super::session::clamp_ms(event.at_ms),
                        })
                    })
                    .collect::<Array>())
            })
        },
    );
    engine.register_fn(
        "yes_votes",
        |context: NativeCallContext, _: ProposalHandle| {
            with(&context, |session| {
                Ok(current_votes(session, |_, value| *value == VoteValue::Yes))
            })
        },
    );
    engine.register_fn(
        "no_votes",
        |context: NativeCallContext, _: ProposalHandle| {
            with(&context, |session| {
                Ok(current_votes(session, |_, value| *value == VoteValue::No))
            })
        },
    );
    engine.register_fn(
        "yes_votes",
        |context: NativeCallContext, _: ProposalHandle, members: Dynamic| {
            with(&context, |session| {
                votes_by(session, &VoteValue::Yes, &members)
            })
        },
    );
    engine.register_fn(
        "no_votes",
        |context: NativeCallContext, _: ProposalHandle, members: Dynamic| {
            with(&context, |session| {
                votes_by(session, &VoteValue::No, &members)
            })
        },
    );
    engine.register_fn(
        "choice_votes",
        |context: NativeCallContext, _: ProposalHandle, option: Dynamic| {
            with(&context, |session| {
                let option = option.flatten_clone();
                let wanted = if let Ok(index) = option.as_int() {
                    match u64::try_from(index) {
                        Ok(index) => VoteValue::Option(index),
                        Err(_) => return Ok(Array::new()),
                    }
                } else if option.is_string() {
                    VoteValue::Choice(option.into_string().unwrap_or_default())
                } else {
                    return Err(format!(
                        "choice_votes takes an option index or a choice name, not a {}",
                        type_name(&option)
                    ));
                };
                Ok(current_votes(session, |_, value| *value == wanted))
            })
        },
    );
    engine.register_fn(
        "ranked_votes",
        |context: NativeCallContext, _: ProposalHandle| {
            with(&context, |session| {
                Ok(current_votes(session, |_, value| {
                    matches!(value, VoteValue::Ranking(_))
                }))
            })
        },
    );
    engine.register_fn("voters", |context: NativeCallContext, _: ProposalHandle| {
        with(&context, |session| {
            Ok(session
                .action
                .votes
                .iter()
                .map(|(name, _, _)| shared_member(name))
                .collect::<Array>())
        })
    });

    engine.register_get("member", |vote: &mut VoteRecord| MemberValue {
        name: vote.member.clone(),
    });
    engine.register_get("value", |vote: &mut VoteRecord| {
        vote.value.as_ref().map_or(Dynamic::UNIT, vote_value)
    });
    engine.register_get("at", |vote: &mut VoteRecord| vote.at_ms);
    engine.register_fn("to_string", |vote: &mut VoteRecord| {
        let value = vote.value.as_ref().map_or("withdrawn".to_owned(), |value| {
            vote_value(value).to_string()
        });
        format!("{}: {value}", vote.member)
    });
}

fn check_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() || key.len() > POLICY_DATA_KEY_BYTES_MAX {
        return Err(format!(
            "data keys are 1 to {POLICY_DATA_KEY_BYTES_MAX} bytes long"
        ));
    }
    Ok(())
}

fn register_data(engine: &mut Engine) {
    engine.register_fn(
        "get",
        |context: NativeCallContext, store: DataHandle, key: &str| {
            with(&context, |session| {
                let current = if store.policy {
                    &session.policy_data.current
                } else {
                    &session.action_data.current
                };
                Ok(current.get(key).map_or(Dynamic::UNIT, to_dynamic))
            })
        },
    );
    engine.register_fn(
        "has",
        |context: NativeCallContext, store: DataHandle, key: &str| {
            with(&context, |session| {
                let current = if store.policy {
                    &session.policy_data.current
                } else {
                    &session.action_data.current
                };
                Ok(current.contains_key(key))
            })
        },
    );
    engine.register_fn(
        "set",
        |context: NativeCallContext, store: DataHandle, key: &str, value: Dynamic| {
            with(&context, |session| {
                check_key(key)?;
                let (value, had_clock) = to_value(&value)?;
                if had_clock {
                    session.mark_opaque();
                }
                session.write(
                    store.policy,
                    DataWrite::Set {
                        key: key.to_owned(),
                        value,
                    },
                )
            })
        },
    );
    engine.register_fn(
        "remove",
        |context: NativeCallContext, store: DataHandle, key: &str| {
            with(&context, |session| {
                check_key(key)?;
                session.write(
                    store.policy,
                    DataWrite::Remove {
                        key: key.to_owned(),
                    },
                )
            })
        },
    );
    engine.register_fn("policy_data", |context: NativeCallContext, name: &str| {
        with(&context, |session| {
            if name == session.policy.name {
                return Ok(Dynamic::from_map(params_to_map(
                    &session.policy_data.current,
                )));
            }
            Ok(session
                .other_policies
                .get(name)
                .map_or(Dynamic::UNIT, |data| Dynamic::from_map(params_to_map(data))))
        })
    });
}

fn register_members(engine: &mut Engine) {
    engine.register_fn("members", |context: NativeCallContext| {
        with(&context, |session| {
            Ok(session
                .directory
                .members
                .iter()
                .map(shared_member)
                .collect::<Array>())
        })
    });
    engine.register_fn("member", |context: NativeCallContext, name: &str| {
        with(&context, |session| {
            Ok(if session.directory.is_member(name) {
                member(name)
            } else {
                Dynamic::UNIT
            })
        })
    });
    engine.register_fn("role_members", |context: NativeCallContext, role: &str| {
        with(&context, |session| {
            Ok(session
                .directory
                .role_members(role)
                .iter()
                .map(shared_member)
                .collect::<Array>())
        })
    });
    engine.register_get("name", |member: &mut MemberValue| member.name.clone());
    engine.register_fn(
        "has_role",
        |context: NativeCallContext, member: &mut MemberValue, role: &str| {
            with(&context, |session| {
                Ok(session.directory.has_role(&member.name, role))
            })
        },
    );
    engine.register_fn(
        "roles",
        |context: NativeCallContext, member: &mut MemberValue| {
            with(&context, |session| {
                Ok(session
                    .directory
                    .roles_of(&member.name)
                    .iter()
                    .map(|role| text(role))
                    .collect::<Array>())
            })
        },
    );
    engine.register_fn("to_string", |member: &mut MemberValue| member.name.clone());
    // Inside arrays (which print their items' debug form) members look like names.
    engine.register_fn("to_debug", |member: &mut MemberValue| {
        format!("{:?}", member.name.as_str())
    });
    engine.register_fn("==", |a: MemberValue, b: MemberValue| a.name == b.name);
    engine.register_fn("!=", |a: MemberValue, b: MemberValue| a.name != b.name);
    engine.register_fn("==", |a: MemberValue, b: ImmutableString| a.name == b);
    engine.register_fn("!=", |a: MemberValue, b: ImmutableString| a.name != b);
    engine.register_fn("==", |a: ImmutableString, b: MemberValue| a == b.name);
    engine.register_fn("!=", |a: ImmutableString, b: MemberValue| a != b.name);
}

/// Record what a comparison of a clock means for the next check, and answer it.
fn compare(
    context: &NativeCallContext,
    clock: Clock,
    comparison: Comparison,
    threshold: INT,
) -> Result<bool> {
    with(context, |session| {
        let (holds, flip) = clock.compare(comparison, threshold, session.now_ms);
        if session.tracking_time() {
            if let Some(instant) = flip {
                session.tracker.flip_at(instant);
            }
        }
        Ok(holds)
    })
}

/// A clock value leaves what the tracker can follow; the plain integer goes on.
fn opaque(context: &NativeCallContext, value: INT) -> Result<INT> {
    with(context, |session| {
        session.mark_opaque();
        Ok(value)
    })
}

fn overflow() -> Box<EvalAltResult> {
    "arithmetic overflow on a time value".into()
}

fn duration(amount: INT, unit_ms: INT, unit: &str) -> Result<INT> {
    amount
        .checked_mul(unit_ms)
        .ok_or_else(|| format!("{unit}({amount}) overflows").into())
}

fn register_time(engine: &mut Engine) {
    engine.register_fn("now", |context: NativeCallContext| {
        with(&context, |session| Ok(Clock::now(session.now_ms)))
    });
    engine.register_fn("minutes", |amount: INT| duration(amount, 60_000, "minutes"));
    engine.register_fn("hours", |amount: INT| duration(amount, 3_600_000, "hours"));
    engine.register_fn("days", |amount: INT| duration(amount, 86_400_000, "days"));

    engine.register_fn("+", |clock: Clock, amount: INT| {
        clock.plus(amount).ok_or_else(overflow)
    });
    engine.register_fn("+", |amount: INT, clock: Clock| {
        clock.plus(amount).ok_or_else(overflow)
    });
    engine.register_fn("-", |clock: Clock, amount: INT| {
        amount
            .checked_neg()
            .and_then(|negated| clock.plus(negated))
            .ok_or_else(overflow)
    });
    engine.register_fn("-", |amount: INT, clock: Clock| {
        clock
            .negated()
            .and_then(|negated| negated.plus(amount))
            .ok_or_else(overflow)
    });
    engine.register_fn("-", |clock: Clock| clock.negated().ok_or_else(overflow));
    // Two clocks with the same slope differ by a constant: time cannot change it.
    engine.register_fn("-", |context: NativeCallContext, a: Clock, b: Clock| {
        let difference = a.value.checked_sub(b.value).ok_or_else(overflow)?;
        if a.slope == b.slope {
            Ok(difference)
        } else {
            opaque(&context, difference)
        }
    });
    engine.register_fn("+", |context: NativeCallContext, a: Clock, b: Clock| {
        let sum = a.value.checked_add(b.value).ok_or_else(overflow)?;
        if a.slope == -b.slope {
            Ok(sum)
        } else {
            opaque(&context, sum)
        }
    });
    type Arithmetic = fn(INT, INT) -> Option<INT>;
    let arithmetic: [(&str, Arithmetic); 3] = [
        ("*", INT::checked_mul),
        ("/", INT::checked_div),
        ("%", INT::checked_rem),
    ];
    for (operator, apply) in arithmetic {
        engine.register_fn(
            operator,
            move |context: NativeCallContext, clock: Clock, amount: INT| {
                let result = apply(clock.value, amount).ok_or_else(|| -> Box<EvalAltResult> {
                    "division by zero or overflow on a time value".into()
                })?;
                opaque(&context, result)
            },
        );
        engine.register_fn(
            operator,
            move |context: NativeCallContext, amount: INT, clock: Clock| {
                let result = apply(amount, clock.value).ok_or_else(|| -> Box<EvalAltResult> {
                    "division by zero or overflow on a time value".into()
                })?;
                opaque(&context, result)
            },
        );
    }
    let comparisons = [
        ("<", Comparison::Less),
        ("<=", Comparison::LessOrEqual),
        (">", Comparison::Greater),
        (">=", Comparison::GreaterOrEqual),
        ("==", Comparison::Equal),
        ("!=", Comparison::NotEqual),
    ];
    for (operator, comparison) in comparisons {
        engine.register_fn(
            operator,
            move |context: NativeCallContext, clock: Clock, threshold: INT| {
                compare(&context, clock, comparison, threshold)
            },
        );
        engine.register_fn(
            operator,
            move |context: NativeCallContext, threshold: INT, clock: Clock| {
                compare(&context, clock, comparison.swapped(), threshold)
            },
        );
        engine.register_fn(
            operator,
            move |context: NativeCallContext, a: Clock, b: Clock| {
                // a OP b  <=>  (a - b) OP 0, a clock of slope a.slope - b.slope.
                let ordering = a.value.cmp(&b.value);
                if a.slope == b.slope {
                    return Ok(comparison.holds(ordering));
                }
                with(&context, |session| {
                    session.mark_opaque();
                    Ok(comparison.holds(ordering))
                })
            },
        );
    }
    engine.register_fn("to_int", |context: NativeCallContext, clock: Clock| {
        opaque(&context, clock.value)
    });
    engine.register_fn(
        "to_string",
        |context: NativeCallContext, clock: &mut Clock| {
            opaque(&context, clock.value).map(|value| value.to_string())
        },
    );
    engine.register_fn(
        "to_debug",
        |context: NativeCallContext, clock: &mut Clock| {
            opaque(&context, clock.value).map(|value| value.to_string())
        },
    );
}

fn bounded_text(what: &str, text: &str) -> std::result::Result<(), String> {
    if text.len() > TEXT_BYTES_MAX {
        return Err(format!("{what} is longer than {TEXT_BYTES_MAX} bytes"));
    }
    Ok(())
}

fn register_effects(engine: &mut Engine) {
    engine.register_fn(
        "random_sample",
        |context: NativeCallContext, items: Array, count: INT| {
            with(&context, |session| {
                let count = usize::try_from(count)
                    .ok()
                    .filter(|count| *count <= items.len())
                    .ok_or_else(|| {
                        format!(
                            "random_sample cannot draw {count} items from {}",
                            items.len()
                        )
                    })?;
                let mut items = items;
                session.shuffle_prefix(&mut items, count);
                items.truncate(count);
                Ok(items)
            })
        },
    );
    engine.register_fn(
        "random_shuffle",
        |context: NativeCallContext, items: Array| {
            with(&context, |session| {
                let mut items = items;
                let length = items.len();
                session.shuffle_prefix(&mut items, length);
                Ok(items)
            })
        },
    );
    engine.register_fn(
        "random_int",
        |context: NativeCallContext, low: INT, high: INT| {
            with(&context, |session| {
                if low > high {
                    return Err(format!("random_int({low}, {high}): low is above high"));
                }
                Ok(session.uniform_between(low, high))
            })
        },
    );
    engine.register_fn(
        "notify",
        |context: NativeCallContext, members: Dynamic, message: &str| {
            with(&context, |session| {
                bounded_text("a notification", message)?;
                if session.notifications.len() >= POLICY_NOTIFICATIONS_MAX {
                    return Err(format!(
                        "more than {POLICY_NOTIFICATIONS_MAX} notifications in one evaluation"
                    ));
                }
                let mut recipients: Vec<String> = Vec::new();
                for name in member_names(&members)? {
                    // Someone who left since (a jury drawn last week) is skipped, not an
                    // error that would fail the whole action.
                    if session.directory.is_member(&name) && !recipients.contains(&name) {
                        recipients.push(name);
                    }
                }
                if recipients.is_empty() {
                    return Ok(());
                }
                let notification = Notification {
                    members: recipients,
                    text: message.to_owned(),
                };
                session.charge(&notification)?;
                session.notifications.push(notification);
                Ok(())
            })
        },
    );
    engine.register_fn(
        "propose",
        |context: NativeCallContext, action_type: &str, params: Map| {
            with(&context, |session| {
                propose(session, action_type, &Dynamic::from_map(params))
            })
        },
    );
    engine.register_fn(
        "propose",
        |context: NativeCallContext, action_type: &str| {
            with(&context, |session| {
                propose(session, action_type, &Dynamic::from_map(Map::new()))
            })
        },
    );
    engine.register_fn("http_get", |context: NativeCallContext, url: &str| {
        with(&context, |session| {
            http(
                session,
                HttpRequest {
                    method: "GET".to_owned(),
                    url: url.to_owned(),
                    body: Value::Null,
                },
            )
        })
    });
    engine.register_fn(
        "http_post",
        |context: NativeCallContext, url: &str, body: Dynamic| {
            with(&context, |session| {
                let (body, had_clock) = to_value(&body)?;
                if had_clock {
                    session.mark_opaque();
                }
                http(
                    session,
                    HttpRequest {
                        method: "POST".to_owned(),
                        url: url.to_owned(),
                        body,
                    },
                )
            })
        },
    );
    engine.register_fn("log", |context: NativeCallContext, line: Dynamic| {
        let line = line.flatten_clone();
        let line = if line.is_string() {
            line.into_string().unwrap_or_default()
        } else {
            let (value, had_clock) =
                to_value(&line).unwrap_or((Value::Str(line.to_string()), false));
            if had_clock {
                with(&context, |session| {
                    session.mark_opaque();
                    Ok(())
                })?;
            }
            value.to_string()
        };
        with(&context, |session| {
            bounded_text("a log line", &line)?;
            if session.log.len() >= POLICY_LOG_LINES_MAX {
                return Err(format!(
                    "more than {POLICY_LOG_LINES_MAX} log lines in one evaluation"
                ));
            }
            session.charge(&line)?;
            session.log.push(line);
            Ok(())
        })
    });
}

fn propose(
    session: &mut Session,
    action_type: &str,
    params: &Dynamic,
) -> std::result::Result<(), String> {
    if session.follow_ups.len() >= POLICY_FOLLOW_UPS_MAX {
        return Err(format!(
            "more than {POLICY_FOLLOW_UPS_MAX} proposals in one evaluation"
        ));
    }
    let (params, had_clock) = to_value(params)?;
    if had_clock {
        session.mark_opaque();
    }
    let params: Params = match params {
        Value::Map(map) => map,
        _ => return Err("propose takes a map of parameters".to_owned()),
    };
    let action = ActionSpec::parse(action_type, &params, &|_| None)
        .map_err(|error| format!("propose({action_type:?}): {error}"))?;
    session.charge(&action)?;
    session.follow_ups.push(action);
    Ok(())
}

fn http(session: &mut Session, request: HttpRequest) -> std::result::Result<Map, String> {
    let response = session.call_http(request)?;
    let mut answer = Map::new();
    answer.insert("status".into(), Dynamic::from(INT::from(response.status)));
    answer.insert("body".into(), to_dynamic(&response.body));
    Ok(answer)
}
