//! Procedures: no-code policy templates (`ostrom policy new --procedure NAME --param k=v`).
//!
//! A procedure turns a few string parameters into the Rhai source of an ordinary policy,
//! written against exactly the script API of spec/policy-api.md, so the common decision
//! rules (majority, board, jury, election...) need no code. The output is just a policy: it
//! is proposed, compiled, pinned and audited like any hand-written one, and nothing in the
//! engine knows procedures exist.
//!
//! Parameters are parsed before anything is generated (unknown, missing or bad values are
//! refused with the parameter's name), and they reach the source only as integer literals,
//! `days(..) + hours(..) + minutes(..)` sums, or role names checked to be safe inside a Rhai
//! string literal. Templates are filled in one pass, so a value can never be re-read as a
//! placeholder.

use std::collections::BTreeMap;

use ostrom_schemas::action::check_name;
use ostrom_schemas::limits::MEMBERS_MAX;

/// A procedure, as listed by `--help` and the dashboard.
pub struct Procedure {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamDoc],
}

/// One parameter of a procedure; `default: None` means the parameter is required.
pub struct ParamDoc {
    pub name: &'static str,
    pub doc: &'static str,
    pub default: Option<&'static str>,
}

/// The base role that holds every member (spec/actions.md): the default electorate.
const EVERYONE: &str = "everyone";

/// Longest deadline or window a procedure accepts: a proposal left open longer than a year
/// is more likely a typo than a rule.
pub const DEADLINE_MINUTES_MAX: u64 = 366 * 24 * 60;
/// Largest count parameter (quorum, required yes votes, minimum yes votes).
pub const COUNT_MAX: u64 = MEMBERS_MAX as u64;
/// Largest random jury.
pub const JURY_SIZE_MAX: u64 = 100;
/// Largest voice-credit budget of the quadratic procedure; keeps `votes * votes` far from
/// overflowing a 64-bit integer in the script.
pub const QUADRATIC_BUDGET_MAX: u64 = 1_000_000;
/// Longest delegation chain the liquid procedure follows. The check settles delegations in
/// one round per link, each round over every delegating member, so this bounds its cost at
/// depth x delegators steps (inside the runtime's operation limit for large communities).
pub const DELEGATION_DEPTH_MAX: u64 = 32;

const _: () = assert!(QUADRATIC_BUDGET_MAX < i64::MAX as u64 / QUADRATIC_BUDGET_MAX);
const _: () = assert!(JURY_SIZE_MAX <= COUNT_MAX);
const _: () = assert!(DEADLINE_MINUTES_MAX < i64::MAX as u64 / 60_000);

const ROLE_ELECTORATE: ParamDoc = ParamDoc {
    name: "role",
    doc: "only holders of this role vote (everyone: all members)",
    default: Some(EVERYONE),
};

const fn deadline(default: &'static str) -> ParamDoc {
    ParamDoc {
        name: "deadline",
        doc: "how long the vote stays open, like 3d, 12h, 90m or 1d12h",
        default: Some(default),
    }
}

/// Every procedure, in the order `--help` lists them.
pub const PROCEDURES: &[Procedure] = &[
    Procedure {
        name: "majority",
        summary: "passes with yes votes from more than half of the eligible voters; fails on a majority of no or at the deadline",
        params: &[
            ROLE_ELECTORATE,
            ParamDoc {
                name: "quorum",
                doc: "minimum number of votes cast (yes or no) before it can pass",
                default: Some("0"),
            },
            deadline("3d"),
        ],
    },
    Procedure {
        name: "supermajority",
        summary: "passes at the deadline when yes is at least threshold_percent of the votes cast (decided early once certain)",
        params: &[
            ParamDoc {
                name: "threshold_percent",
                doc: "share of the votes cast that must be yes, 50 to 100",
                default: Some("67"),
            },
            ROLE_ELECTORATE,
            ParamDoc {
                name: "quorum",
                doc: "minimum number of votes cast, at least 1",
                default: Some("1"),
            },
            deadline("3d"),
        ],
    },
    Procedure {
        name: "board",
        summary: "holders of a role vote; `required` yes votes pass, fails once that is out of reach or at the deadline",
        params: &[
            ParamDoc {
                name: "role",
                doc: "the board: holders of this role vote",
                default: None,
            },
            ParamDoc {
                name: "required",
                doc: "yes votes needed: a number, or majority (more than half of the board)",
                default: Some("majority"),
            },
            deadline("3d"),
        ],
    },
    Procedure {
        name: "benevolent_dictator",
        summary: "a yes from a holder of the role passes, a no from one fails",
        params: &[ParamDoc {
            name: "role",
            doc: "the role whose holders decide alone",
            default: Some("dictator"),
        }],
    },
    Procedure {
        name: "random_jury",
        summary: "a jury drawn at random decides: `required` yes votes pass; fails once out of reach or at the deadline",
        params: &[
            ParamDoc {
                name: "size",
                doc: "jurors drawn (fewer if the pool is smaller)",
                default: Some("3"),
            },
            ParamDoc {
                name: "required",
                doc: "yes votes from jurors needed: a number up to size, or majority (of the jury)",
                default: Some("majority"),
            },
            deadline("2d"),
            ParamDoc {
                name: "role",
                doc: "draw jurors from holders of this role (everyone: all members)",
                default: Some(EVERYONE),
            },
        ],
    },
    Procedure {
        name: "consensus",
        summary: "passes when the objection window ends with at least min_yes yes votes and no objection; any no fails",
        params: &[
            ParamDoc {
                name: "min_yes",
                doc: "yes votes needed when the window ends",
                default: Some("2"),
            },
            ParamDoc {
                name: "objection_window",
                doc: "how long objections are heard, like 2d or 36h",
                default: Some("2d"),
            },
            ROLE_ELECTORATE,
        ],
    },
    Procedure {
        name: "ranked_choice",
        summary: "election: members rank the options; instant runoff at the deadline executes the winner",
        params: &[
            deadline("3d"),
            ParamDoc {
                name: "quorum",
                doc: "minimum number of ballots, at least 1",
                default: Some("1"),
            },
        ],
    },
    Procedure {
        name: "approval",
        summary: "election: members approve any number of options; the most approved option wins at the deadline",
        params: &[
            deadline("3d"),
            ParamDoc {
                name: "quorum",
                doc: "minimum number of ballots, at least 1",
                default: Some("1"),
            },
        ],
    },
    Procedure {
        name: "quadratic",
        summary: "voters spend voice credits: the choice yes:N or no:N casts N votes for N*N credits from a budget kept across proposals",
        params: &[
            ParamDoc {
                name: "budget",
                doc: "voice credits each member holds for all proposals this policy decides",
                default: Some("100"),
            },
            deadline("3d"),
            ParamDoc {
                name: "quorum",
                doc: "minimum number of counted voters, at least 1",
                default: Some("1"),
            },
            ROLE_ELECTORATE,
        ],
    },
    Procedure {
        name: "liquid_delegation",
        summary: "members vote or delegate with the choice delegate:NAME; a majority of all members, delegations included, decides",
        params: &[
            deadline("3d"),
            ParamDoc {
                name: "depth",
                doc: "longest delegation chain followed; longer chains and cycles count as abstentions",
                default: Some("8"),
            },
        ],
    },
];

/// Generate the Rhai source for a procedure from string parameters (as the CLI passes them).
/// Unknown procedure, unknown parameter, missing required parameter or a bad value
/// (not a number, out of range, empty role name...) -> Err(message naming the parameter).
pub fn generate(procedure: &str, params: &BTreeMap<String, String>) -> Result<String, String> {
    let found = PROCEDURES
        .iter()
        .find(|candidate| candidate.name == procedure)
        .ok_or_else(|| {
            let names: Vec<&str> = PROCEDURES.iter().map(|known| known.name).collect();
            format!(
                "unknown procedure {procedure:?} (one of: {})",
                names.join(", ")
            )
        })?;
    let args = Args::new(found, params)?;
    let source = match found.name {
        "majority" => majority(&args)?,
        "supermajority" => supermajority(&args)?,
        "board" => board(&args)?,
        "benevolent_dictator" => benevolent_dictator(&args)?,
        "random_jury" => random_jury(&args)?,
        "consensus" => consensus(&args)?,
        "ranked_choice" => ranked_choice(&args)?,
        "approval" => approval(&args)?,
        "quadratic" => quadratic(&args)?,
        "liquid_delegation" => liquid_delegation(&args)?,
        other => unreachable!("procedure {other} is listed but has no generator"),
    };
    assert!(source.contains("fn filter(action, policy)"));
    assert!(source.contains("fn check(action, policy)"));
    Ok(source)
}

/// The parameters given for one procedure, checked against its `ParamDoc`s.
struct Args<'a> {
    procedure: &'static Procedure,
    given: &'a BTreeMap<String, String>,
}

impl<'a> Args<'a> {
    fn new(
        procedure: &'static Procedure,
        given: &'a BTreeMap<String, String>,
    ) -> Result<Self, String> {
        for key in given.keys() {
            if !procedure.params.iter().any(|param| param.name == key) {
                let names: Vec<&str> = procedure.params.iter().map(|param| param.name).collect();
                return Err(format!(
                    "{}: unknown parameter {key:?} (parameters: {})",
                    procedure.name,
                    names.join(", ")
                ));
            }
        }
        Ok(Args { procedure, given })
    }

    fn error(&self, param: &str, problem: impl std::fmt::Display) -> String {
        format!("{}: parameter {param}: {problem}", self.procedure.name)
    }

    /// The given value, else the default; a required parameter without a value is an error.
    fn value(&self, name: &str) -> Result<&str, String> {
        let doc = self
            .procedure
            .params
            .iter()
            .find(|param| param.name == name)
            .unwrap_or_else(|| panic!("{} reads undeclared parameter {name}", self.procedure.name));
        match (self.given.get(name), doc.default) {
            (Some(value), _) => Ok(value),
            (None, Some(default)) => Ok(default),
            (None, None) => Err(self.error(name, format_args!("required ({})", doc.doc))),
        }
    }

    fn count(&self, name: &str, min: u64, max: u64) -> Result<u64, String> {
        let text = self.value(name)?.trim();
        let count = parse_count(text)
            .ok_or_else(|| self.error(name, format_args!("{text:?} is not a whole number")))?;
        if count < min || count > max {
            return Err(self.error(name, format_args!("{count} is not between {min} and {max}")));
        }
        Ok(count)
    }

    /// A count, or `majority` (returned as `None`).
    fn count_or_majority(&self, name: &str, max: u64) -> Result<Option<u64>, String> {
        if self.value(name)?.trim() == "majority" {
            return Ok(None);
        }
        self.count(name, 1, max)
            .map(Some)
            .map_err(|error| format!("{error} (or write majority)"))
    }

    fn duration(&self, name: &str) -> Result<Duration, String> {
        let text = self.value(name)?.trim();
        Duration::parse(text).map_err(|problem| self.error(name, problem))
    }

    fn role(&self, name: &str) -> Result<Role, String> {
        Role::parse(self.value(name)?).map_err(|problem| self.error(name, problem))
    }
}

/// Digits only: no sign, no separators, at most 18 of them (fits a u64 and an i64).
fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A duration in whole minutes, written `2d`, `12h`, `90m` or a sum like `1d12h30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Duration {
    minutes: u64,
}

impl Duration {
    fn parse(text: &str) -> Result<Duration, String> {
        let bad = || {
            format!("{text:?} is not a duration: write whole numbers followed by d, h or m, largest unit first, like 3d, 12h, 90m or 1d12h")
        };
        if text.is_empty() {
            return Err(bad());
        }
        // Units strictly in the order d, h, m, each at most once: `1h1d` or `1d1d` is a
        // typo, not a sum.
        let units = [('d', 24 * 60), ('h', 60), ('m', 1)];
        let mut next_unit = 0;
        let mut minutes: u64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                return Err(bad());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = rest[digits..].chars().next().ok_or_else(bad)?;
            let position = units[next_unit..]
                .iter()
                .position(|(letter, _)| *letter == unit)
                .ok_or_else(bad)?;
            next_unit += position + 1;
            let (_, unit_minutes) = units[next_unit - 1];
            // At most 9 digits times a day in minutes, summed three times: no overflow.
            minutes += number * unit_minutes;
            rest = &rest[digits + unit.len_utf8()..];
        }
        if minutes == 0 {
            return Err(format!("{text:?} is zero: a deadline must be at least 1m"));
        }
        if minutes > DEADLINE_MINUTES_MAX {
            return Err(format!(
                "{text:?} is longer than {} days",
                DEADLINE_MINUTES_MAX / (24 * 60)
            ));
        }
        Ok(Duration { minutes })
    }

    fn parts(self) -> [(u64, &'static str, &'static str); 3] {
        [
            (self.minutes / (24 * 60), "days", "day"),
            (self.minutes / 60 % 24, "hours", "hour"),
            (self.minutes % 60, "minutes", "minute"),
        ]
    }

    /// The Rhai expression, through `days`/`hours`/`minutes` so the runtime sees the
    /// deadline in the policy's own terms: `days(1) + hours(12)`.
    fn rhai(self) -> String {
        let terms: Vec<String> = self
            .parts()
            .iter()
            .filter(|(count, ..)| *count > 0)
            .map(|(count, function, _)| format!("{function}({count})"))
            .collect();
        terms.join(" + ")
    }

    /// For people: `1 day 12 hours`.
    fn words(self) -> String {
        let words: Vec<String> = self
            .parts()
            .iter()
            .filter(|(count, ..)| *count > 0)
            .map(|(count, plural, singular)| {
                format!("{count} {}", if *count == 1 { singular } else { plural })
            })
            .collect();
        words.join(" ")
    }
}

/// A role name that is safe to write inside a Rhai string literal.
struct Role(String);

impl Role {
    fn parse(name: &str) -> Result<Role, String> {
        check_name("role", name).map_err(|error| format!("{name:?} {}", error.message))?;
        // Refused rather than escaped: a role name with a quote or backslash is almost
        // surely a mistake, and refusing keeps the generated source obviously inert.
        if name.contains(['"', '\\']) {
            return Err(format!(
                "{name:?} must not contain quotes or backslashes (it is written into the policy's source)"
            ));
        }
        Ok(Role(name.to_owned()))
    }

    fn is_everyone(&self) -> bool {
        self.0 == EVERYONE
    }

    /// The Rhai expression for the role's current members.
    fn members(&self) -> String {
        if self.is_everyone() {
            "members()".to_owned()
        } else {
            format!("role_members(\"{}\")", self.0)
        }
    }

    /// For people, inside a Rhai string literal.
    fn words(&self) -> String {
        if self.is_everyone() {
            "the members".to_owned()
        } else {
            format!("the holders of the role {}", self.0)
        }
    }
}

/// Fill `$NAME$` placeholders in one pass: substituted text is never scanned again.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template.trim_start();
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('$').expect("a template placeholder is closed");
        let key = &after[..end];
        let (_, value) = values
            .iter()
            .find(|(name, _)| *name == key)
            .unwrap_or_else(|| panic!("template placeholder ${key}$ has no value"));
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The header comment: which procedure, with which parameters, so the dashboard and the
/// audit trail show where a policy came from.
fn header(args: &Args<'_>) -> Result<String, String> {
    let mut listed = Vec::new();
    for param in args.procedure.params {
        listed.push(format!(
            "{} = {}",
            param.name,
            args.value(param.name)?.trim()
        ));
    }
    let mut summary = args.procedure.summary.chars();
    let first = summary.next().map(|first| first.to_ascii_uppercase());
    Ok(format!(
        "// Generated by the ostrom procedure \"{}\" ({}).\n// {}{}.",
        args.procedure.name,
        listed.join(", "),
        first.into_iter().collect::<String>(),
        summary.as_str()
    ))
}

const MAJORITY: &str = r#"
$HEADER$

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn check(action, policy) {
    let voters = $VOTERS$;
    let majority = voters.len() / 2 + 1;
    let yes = action.proposal.yes_votes(voters).len();
    let no = action.proposal.no_votes(voters).len();
    if yes >= majority && yes + no >= $QUORUM$ { return PASSED; }
    // With a majority against, yes can no longer reach one.
    if no >= majority { return FAILED; }
    if action.proposal.elapsed() >= $DEADLINE$ { return FAILED; }
    PROPOSED
}

fn notify(action, policy) {
    notify($VOTERS$, "Please vote yes or no: this passes with yes votes from more than half of $WHO$$QUORUM_WORDS$ within $DEADLINE_WORDS$");
}
"#;

fn majority(args: &Args<'_>) -> Result<String, String> {
    let role = args.role("role")?;
    let quorum = args.count("quorum", 0, COUNT_MAX)?;
    let deadline = args.duration("deadline")?;
    let quorum_words = match quorum {
        0 => String::new(),
        count => format!(" (at least {count} votes cast)"),
    };
    Ok(fill(
        MAJORITY,
        &[
            ("HEADER", header(args)?),
            ("VOTERS", role.members()),
            ("WHO", role.words()),
            ("QUORUM", quorum.to_string()),
            ("QUORUM_WORDS", quorum_words),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

const SUPERMAJORITY: &str = r#"
$HEADER$

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn check(action, policy) {
    let voters = $VOTERS$;
    let eligible = voters.len();
    let yes = action.proposal.yes_votes(voters).len();
    let no = action.proposal.no_votes(voters).len();
    let cast = yes + no;
    // Decided early once no further vote could change the outcome: even if every other
    // eligible voter voted no, yes would still be $PERCENT$% of the votes...
    if cast >= $QUORUM$ && yes * 100 >= $PERCENT$ * eligible { return PASSED; }
    // ...or even if every other eligible voter voted yes, it would fall short.
    if (eligible - no) * 100 < $PERCENT$ * eligible { return FAILED; }
    if action.proposal.elapsed() >= $DEADLINE$ {
        if cast >= $QUORUM$ && yes * 100 >= $PERCENT$ * cast { return PASSED; }
        return FAILED;
    }
    PROPOSED
}

fn notify(action, policy) {
    notify($VOTERS$, "Please vote yes or no: this passes if at least $PERCENT$% of the votes cast by $WHO$ are yes (at least $QUORUM$ votes) when the vote closes in $DEADLINE_WORDS$");
}
"#;

fn supermajority(args: &Args<'_>) -> Result<String, String> {
    let percent = args.count("threshold_percent", 50, 100)?;
    let role = args.role("role")?;
    let quorum = args.count("quorum", 1, COUNT_MAX)?;
    let deadline = args.duration("deadline")?;
    Ok(fill(
        SUPERMAJORITY,
        &[
            ("HEADER", header(args)?),
            ("VOTERS", role.members()),
            ("WHO", role.words()),
            ("PERCENT", percent.to_string()),
            ("QUORUM", quorum.to_string()),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

const BOARD: &str = r#"
$HEADER$

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn check(action, policy) {
    let board = $BOARD$;
    let required = $REQUIRED$;
    let yes = action.proposal.yes_votes(board).len();
    let no = action.proposal.no_votes(board).len();
    if yes >= required { return PASSED; }
    // Once too many board members voted no for the rest to reach `required` (or the
    // board is smaller than `required`), it cannot pass.
    if board.len() - no < required { return FAILED; }
    if action.proposal.elapsed() >= $DEADLINE$ { return FAILED; }
    PROPOSED
}

fn notify(action, policy) {
    notify($BOARD$, "Board vote: this passes with $REQUIRED_WORDS$ $WHO$ within $DEADLINE_WORDS$");
}
"#;

fn board(args: &Args<'_>) -> Result<String, String> {
    let role = args.role("role")?;
    let required = args.count_or_majority("required", COUNT_MAX)?;
    let deadline = args.duration("deadline")?;
    let (required, required_words) = match required {
        Some(count) => (count.to_string(), format!("{count} yes votes from")),
        None => (
            "board.len() / 2 + 1".to_owned(),
            "yes votes from a majority of".to_owned(),
        ),
    };
    Ok(fill(
        BOARD,
        &[
            ("HEADER", header(args)?),
            ("BOARD", role.members()),
            ("WHO", role.words()),
            ("REQUIRED", required),
            ("REQUIRED_WORDS", required_words),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

const BENEVOLENT_DICTATOR: &str = r#"
$HEADER$

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn check(action, policy) {
    let deciders = $DECIDERS$;
    // A no is looked at first: if two holders disagree, the action fails closed.
    if action.proposal.no_votes(deciders).len() > 0 { return FAILED; }
    if action.proposal.yes_votes(deciders).len() > 0 { return PASSED; }
    PROPOSED
}

fn notify(action, policy) {
    notify($DECIDERS$, "A proposal is waiting for your decision: your yes passes it, your no fails it");
}
"#;

fn benevolent_dictator(args: &Args<'_>) -> Result<String, String> {
    let role = args.role("role")?;
    Ok(fill(
        BENEVOLENT_DICTATOR,
        &[("HEADER", header(args)?), ("DECIDERS", role.members())],
    ))
}

const RANDOM_JURY: &str = r#"
$HEADER$

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn initialize(action, policy) {
    let pool = $POOL$;
    let size = if pool.len() < $SIZE$ { pool.len() } else { $SIZE$ };
    // Drawn once, seeded from the proposal: every replay and audit draws the same jury.
    action.data.set("jury", random_sample(pool, size));
}

fn check(action, policy) {
    let jury = action.data.get("jury");
    let required = $REQUIRED$;
    let yes = action.proposal.yes_votes(jury).len();
    let no = action.proposal.no_votes(jury).len();
    if yes >= required { return PASSED; }
    // Once too many jurors voted no for the rest to reach `required`, it cannot pass.
    if jury.len() - no < required { return FAILED; }
    if action.proposal.elapsed() >= $DEADLINE$ { return FAILED; }
    PROPOSED
}

fn notify(action, policy) {
    notify(action.data.get("jury"), "You were drawn for a jury: please deliberate, then vote. This passes with $REQUIRED_WORDS$ within $DEADLINE_WORDS$");
}
"#;

fn random_jury(args: &Args<'_>) -> Result<String, String> {
    let size = args.count("size", 1, JURY_SIZE_MAX)?;
    let required = args.count_or_majority("required", size)?;
    let deadline = args.duration("deadline")?;
    let role = args.role("role")?;
    let (required, required_words) = match required {
        Some(count) => (
            count.to_string(),
            format!("{count} yes votes from the jury"),
        ),
        // Of the jury actually drawn, which is smaller than `size` in a small pool.
        None => (
            "jury.len() / 2 + 1".to_owned(),
            "yes votes from a majority of the jury".to_owned(),
        ),
    };
    Ok(fill(
        RANDOM_JURY,
        &[
            ("HEADER", header(args)?),
            ("POOL", role.members()),
            ("SIZE", size.to_string()),
            ("REQUIRED", required),
            ("REQUIRED_WORDS", required_words),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

const CONSENSUS: &str = r#"
$HEADER$

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn check(action, policy) {
    let voters = $VOTERS$;
    // Any objection blocks, at any time.
    if action.proposal.no_votes(voters).len() > 0 { return FAILED; }
    if action.proposal.elapsed() >= $WINDOW$ {
        if action.proposal.yes_votes(voters).len() >= $MIN_YES$ { return PASSED; }
        return FAILED;
    }
    PROPOSED
}

fn notify(action, policy) {
    notify($VOTERS$, "Consensus: vote no to object. This passes after $WINDOW_WORDS$ if nobody among $WHO$ objects and at least $MIN_YES$ vote yes");
}
"#;

fn consensus(args: &Args<'_>) -> Result<String, String> {
    let min_yes = args.count("min_yes", 0, COUNT_MAX)?;
    let window = args.duration("objection_window")?;
    let role = args.role("role")?;
    Ok(fill(
        CONSENSUS,
        &[
            ("HEADER", header(args)?),
            ("VOTERS", role.members()),
            ("WHO", role.words()),
            ("MIN_YES", min_yes.to_string()),
            ("WINDOW", window.rhai()),
            ("WINDOW_WORDS", window.words()),
        ],
    ))
}

const RANKED_CHOICE: &str = r#"
$HEADER$

fn filter(action, policy) {
    action.action_type == "election"
}

fn check(action, policy) {
    if action.proposal.elapsed() < $DEADLINE$ { return PROPOSED; }
    let ballots = action.proposal.ranked_votes();
    if ballots.len() < $QUORUM$ { return FAILED; }
    let winner = runoff_winner(ballots, action.options.len());
    if winner < 0 { return FAILED; }
    action.data.set("winner", winner);
    PASSED
}

// Instant runoff: each ballot counts for its highest-ranked option still standing; an
// option with more than half of the counted ballots wins, otherwise the option with the
// fewest is eliminated and the ballots are counted again. Ties favour the lowest index: the
// highest index among the fewest is eliminated first, and the lowest index among the most
// wins when one option is left or a round ties. At most one round per option. Returns -1
// when no ballot ranks any option still standing.
fn runoff_winner(ballots, option_count) {
    let eliminated = [];
    for index in 0..option_count { eliminated.push(false); }
    for round in 0..option_count {
        let counts = tally(ballots, eliminated);
        let counted = 0;
        let standing = 0;
        let most = -1;
        let fewest = -1;
        for index in 0..option_count {
            if eliminated[index] { continue; }
            counted += counts[index];
            standing += 1;
            if most < 0 { most = index; }
            if counts[index] > counts[most] { most = index; }
            if fewest < 0 { fewest = index; }
            if counts[index] <= counts[fewest] { fewest = index; }
        }
        if counted == 0 { return -1; }
        if standing == 1 { return most; }
        if counts[most] * 2 > counted { return most; }
        eliminated[fewest] = true;
    }
    -1
}

// Ballots per option, each ballot counted for its highest-ranked option still standing.
fn tally(ballots, eliminated) {
    let counts = [];
    for index in 0..eliminated.len() { counts.push(0); }
    for ballot in ballots {
        let choice = first_standing(ballot, eliminated);
        if choice >= 0 { counts[choice] += 1; }
    }
    counts
}

// Rankings only hold valid, distinct option indices: votes that do not are refused.
fn first_standing(ballot, eliminated) {
    for choice in ballot {
        if !eliminated[choice] { return choice; }
    }
    -1
}

fn notify(action, policy) {
    notify(members(), "Ranked-choice election: vote with a ranking of the options, most preferred first. It closes in $DEADLINE_WORDS$ and the instant-runoff winner is executed");
}

fn pass(action, policy) {
    action.execute_option(action.data.get("winner"));
}
"#;

fn ranked_choice(args: &Args<'_>) -> Result<String, String> {
    let deadline = args.duration("deadline")?;
    let quorum = args.count("quorum", 1, COUNT_MAX)?;
    Ok(fill(
        RANKED_CHOICE,
        &[
            ("HEADER", header(args)?),
            ("QUORUM", quorum.to_string()),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

const APPROVAL: &str = r#"
$HEADER$
// A ballot is either one option (an option vote) or a list of options (a ranking vote whose
// order is ignored): every option listed is approved.

fn filter(action, policy) {
    action.action_type == "election"
}

fn check(action, policy) {
    if action.proposal.elapsed() < $DEADLINE$ { return PROPOSED; }
    let option_count = action.options.len();
    let approvals = [];
    let ballots = 0;
    for index in 0..option_count {
        let single = action.proposal.choice_votes(index).len();
        approvals.push(single);
        ballots += single;
    }
    // A ranking lists valid options, each at most once: votes that do not are refused.
    for list in action.proposal.ranked_votes() {
        ballots += 1;
        for index in list { approvals[index] += 1; }
    }
    if ballots < $QUORUM$ { return FAILED; }
    if option_count == 0 { return FAILED; }
    let winner = 0;
    for index in 1..option_count {
        if approvals[index] > approvals[winner] { winner = index; }
    }
    if approvals[winner] == 0 { return FAILED; }
    action.data.set("approvals", approvals);
    action.data.set("winner", winner);
    PASSED
}

fn notify(action, policy) {
    notify(members(), "Approval election: vote for one option, or a list of every option you approve. The most approved option wins in $DEADLINE_WORDS$");
}

fn pass(action, policy) {
    action.execute_option(action.data.get("winner"));
}
"#;

fn approval(args: &Args<'_>) -> Result<String, String> {
    let deadline = args.duration("deadline")?;
    let quorum = args.count("quorum", 1, COUNT_MAX)?;
    Ok(fill(
        APPROVAL,
        &[
            ("HEADER", header(args)?),
            ("QUORUM", quorum.to_string()),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

const QUADRATIC: &str = r#"
$HEADER$
// Each member holds $BUDGET$ voice credits for every proposal this policy decides; what
// each has spent is kept in policy.data under "spent" (member name -> credits). A plain yes
// or no is one vote for one credit; the choice "yes:N" or "no:N" is N votes for N*N
// credits. Credits are charged when a proposal is decided; a vote its voter can no longer
// afford is not counted (and logged). Passes when yes outweighs no at the deadline.

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn check(action, policy) {
    if action.proposal.elapsed() < $DEADLINE$ { return PROPOSED; }
    let eligible = #{};
    for member in $VOTERS$ { eligible[name_of(member)] = true; }
    // One map, written once: the policy's data stays one key however many members vote.
    let spent = policy.data.get("spent");
    if spent == () { spent = #{}; }
    let yes = 0;
    let no = 0;
    let counted = 0;
    for ballot in ballots(action.proposal) {
        let name = ballot[0];
        let votes = ballot[2];
        if !(name in eligible) { continue; }
        let used = spent.get(name);
        if used == () { used = 0; }
        let cost = votes * votes;
        if used + cost > $BUDGET$ {
            log("over budget, not counted: " + name);
            continue;
        }
        spent[name] = used + cost;
        counted += 1;
        if ballot[1] == "yes" { yes += votes; } else { no += votes; }
    }
    policy.data.set("spent", spent);
    action.data.set("yes_votes", yes);
    action.data.set("no_votes", no);
    if counted < $QUORUM$ { return FAILED; }
    if yes > no { return PASSED; }
    FAILED
}

// Every current vote as [name, "yes" or "no", votes]; malformed choices are left out.
fn ballots(proposal) {
    let ballots = [];
    for vote in proposal.yes_votes() {
        let name = name_of(vote.member);
        ballots.push([name, "yes", 1]);
    }
    for vote in proposal.no_votes() {
        let name = name_of(vote.member);
        ballots.push([name, "no", 1]);
    }
    for vote in proposal.votes() {
        let ballot = parse_choice(vote.value);
        if ballot.len() == 0 { continue; }
        ballot.insert(0, name_of(vote.member));
        ballots.push(ballot);
    }
    ballots
}

// "yes:N" or "no:N" as ["yes" or "no", N]; anything else as [].
fn parse_choice(value) {
    if type_of(value) != "string" { return []; }
    let side = "yes";
    let count = "";
    if value.starts_with("yes:") {
        count = value.sub_string(4);
    } else if value.starts_with("no:") {
        side = "no";
        count = value.sub_string(3);
    } else {
        return [];
    }
    let votes = whole_number(count);
    if votes == 0 { return []; }
    [side, votes]
}

// A whole number from 1 to 999999999, else 0.
fn whole_number(text) {
    if text.len() == 0 { return 0; }
    if text.len() > 9 { return 0; }
    let number = 0;
    for character in text.chars() {
        let digit = "0123456789".index_of(character);
        if digit < 0 { return 0; }
        number = number * 10 + digit;
    }
    number
}

// A vote's member may be given as a member or as its name.
fn name_of(member) {
    if type_of(member) == "string" { member } else { member.name }
}

fn notify(action, policy) {
    notify($VOTERS$, "Quadratic vote: vote yes or no for one credit, or the choice yes:N or no:N for N votes at N*N credits (you hold $BUDGET$ credits across all such votes). Closes in $DEADLINE_WORDS$");
}
"#;

fn quadratic(args: &Args<'_>) -> Result<String, String> {
    let budget = args.count("budget", 1, QUADRATIC_BUDGET_MAX)?;
    let deadline = args.duration("deadline")?;
    let quorum = args.count("quorum", 1, COUNT_MAX)?;
    let role = args.role("role")?;
    Ok(fill(
        QUADRATIC,
        &[
            ("HEADER", header(args)?),
            ("VOTERS", role.members()),
            ("BUDGET", budget.to_string()),
            ("QUORUM", quorum.to_string()),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

const LIQUID_DELEGATION: &str = r#"
$HEADER$
// A member votes yes or no, or delegates with the choice "delegate:NAME". A delegating
// member counts as whatever their delegate counts as, followed through at most $DEPTH$
// delegations; a longer chain, a cycle or a delegate who has not voted counts as an
// abstention. A member's own latest vote replaces their delegation.

fn filter(action, policy) {
    // A yes/no vote cannot pick among an election's options.
    action.action_type != "election"
}

fn check(action, policy) {
    // Each member's side: "yes" or "no" from their own vote first.
    let side = #{};
    for vote in action.proposal.yes_votes() { side[name_of(vote.member)] = "yes"; }
    for vote in action.proposal.no_votes() { side[name_of(vote.member)] = "no"; }
    let delegate_of = delegations(action.proposal);
    // Round k settles the members whose chain is k delegations long; a cycle never settles.
    // Each round reads only the sides settled before it, so no chain longer than $DEPTH$
    // delegations is followed.
    for round in 0..$DEPTH$ { side += settle(side, delegate_of); }
    let everyone = members();
    let yes = 0;
    let no = 0;
    for member in everyone {
        let choice = side.get(name_of(member));
        if choice == "yes" { yes += 1; }
        if choice == "no" { no += 1; }
    }
    action.data.set("yes_votes", yes);
    action.data.set("no_votes", no);
    let majority = everyone.len() / 2 + 1;
    if yes >= majority { return PASSED; }
    if no >= majority { return FAILED; }
    if action.proposal.elapsed() >= $DEADLINE$ { return FAILED; }
    PROPOSED
}

// The members without a side whose delegate has one, with that side.
fn settle(side, delegate_of) {
    let settled = #{};
    for name in delegate_of.keys() {
        if name in side { continue; }
        let delegate = delegate_of[name];
        if delegate in side { settled[name] = side[delegate]; }
    }
    settled
}

// Member name -> delegate name, from the choice votes "delegate:NAME".
fn delegations(proposal) {
    let delegate_of = #{};
    for vote in proposal.votes() {
        let value = vote.value;
        if type_of(value) != "string" { continue; }
        if !value.starts_with("delegate:") { continue; }
        let delegate = value.sub_string(9);
        delegate.trim();
        delegate_of[name_of(vote.member)] = delegate;
    }
    delegate_of
}

// A vote's member may be given as a member or as its name.
fn name_of(member) {
    if type_of(member) == "string" { member } else { member.name }
}

fn notify(action, policy) {
    notify(members(), "Vote yes or no, or delegate your vote with the choice delegate:NAME. This passes with more than half of the members, delegations included, within $DEADLINE_WORDS$");
}
"#;

fn liquid_delegation(args: &Args<'_>) -> Result<String, String> {
    let deadline = args.duration("deadline")?;
    let depth = args.count("depth", 1, DELEGATION_DEPTH_MAX)?;
    Ok(fill(
        LIQUID_DELEGATION,
        &[
            ("HEADER", header(args)?),
            ("DEPTH", depth.to_string()),
            ("DEADLINE", deadline.rhai()),
            ("DEADLINE_WORDS", deadline.words()),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_minutes_and_render_back() {
        for (text, minutes, rhai) in [
            ("2d", 2 * 24 * 60, "days(2)"),
            ("12h", 12 * 60, "hours(12)"),
            ("90m", 90, "hours(1) + minutes(30)"),
            ("1d12h", 36 * 60, "days(1) + hours(12)"),
            ("1d0h5m", 24 * 60 + 5, "days(1) + minutes(5)"),
        ] {
            let duration = Duration::parse(text).unwrap();
            assert_eq!(duration.minutes, minutes, "{text}");
            assert_eq!(duration.rhai(), rhai, "{text}");
        }
        assert_eq!(Duration::parse("1d1m").unwrap().words(), "1 day 1 minute");
    }

    #[test]
    fn bad_durations_are_refused() {
        for text in [
            "",
            "d",
            "3",
            "3x",
            "1h1d",
            "1d1d",
            "-1d",
            "1.5d",
            "0m",
            "0d0h",
            "367d",
            "1d 2h",
            "9999999999m",
            "3D",
        ] {
            assert!(Duration::parse(text).is_err(), "{text:?} should be refused");
        }
        assert!(Duration::parse("366d").is_ok());
    }

    #[test]
    fn fill_does_not_rescan_substituted_text() {
        let filled = fill(
            "a $X$ b $Y$",
            &[("X", "$Y$".to_owned()), ("Y", "y".to_owned())],
        );
        assert_eq!(filled, "a $Y$ b y");
    }

    #[test]
    fn counts_are_digits_only() {
        assert_eq!(parse_count("42"), Some(42));
        for text in [
            "",
            "+1",
            "-1",
            "1_000",
            "0x10",
            "1e3",
            " 1",
            "1234567890123456789",
        ] {
            assert_eq!(parse_count(text), None, "{text:?}");
        }
    }
}
