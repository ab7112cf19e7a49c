//! One evaluation's private state: what the policy may read, what it has written, and the
//! bounded effects it has recorded so far.
//!
//! The Rhai engine is shared by every evaluation; a session is not. Each call into the
//! script carries an `Arc<Mutex<Session>>` as its tag, and every API function reaches the
//! session through it. Native functions must be `'static`, so the session owns copies of
//! the parts of the input a policy can read (the action, the policy, members and roles,
//! and other policies' data only when the source mentions `policy_data`) rather than
//! borrowing them. External calls go through a channel to a thread that borrows the
//! input's `Http` for the duration of the evaluation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use ostrom_projections::state::{Action, Policy, VoteEvent};
use ostrom_projections::GovernanceState;
use ostrom_schemas::action::ActionSpec;
use ostrom_schemas::record::{DataWrite, HttpExchange, Notification};
use ostrom_schemas::{Hash, Params, Value, VoteValue};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rhai::ImmutableString;

use super::clock::Tracker;
use super::http::{HttpRequest, HttpResponse};
use super::limits::*;

/// Domain tag of the seed of a policy evaluation's random stream.
pub const RANDOM_DOMAIN: &str = "ostrom/policy-random/v1";

/// The lifecycle function running now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Filter,
    Initialize,
    Check,
    Notify,
    Pass,
    Fail,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Filter => "filter",
            Stage::Initialize => "initialize",
            Stage::Check => "check",
            Stage::Notify => "notify",
            Stage::Pass => "pass",
            Stage::Fail => "fail",
        }
    }
}

/// A request to the thread that makes external calls, with where to send the answer.
pub type HttpCall = (HttpRequest, mpsc::Sender<Result<HttpResponse, String>>);

/// Members and roles as of the evaluation. Shared (`Arc`) between the evaluations of one
/// engine while no entry changes members or roles, since building it costs a pass over the
/// members; names are Rhai's shared strings, so `members()` hands them out without copying.
pub struct Directory {
    /// Active members.
    pub members: BTreeSet<ImmutableString>,
    /// Active roles and their explicit members (`everyone` holds every member).
    pub roles: BTreeMap<String, BTreeSet<String>>,
}

impl Directory {
    pub fn of(state: &GovernanceState) -> Directory {
        Directory {
            members: state
                .members
                .iter()
                .filter(|(_, member)| member.active)
                .map(|(name, _)| ImmutableString::from(name.as_str()))
                .collect(),
            roles: state
                .roles
                .iter()
                .filter(|(_, role)| role.active)
                .map(|(name, role)| (name.clone(), role.members.clone()))
                .collect(),
        }
    }

    pub fn is_member(&self, name: &str) -> bool {
        self.members.contains(name)
    }

    pub fn has_role(&self, member: &str, role: &str) -> bool {
        self.is_member(member)
            && self.roles.get(role).is_some_and(|members| {
                role == ostrom_projections::state::EVERYONE || members.contains(member)
            })
    }

    pub fn roles_of(&self, member: &str) -> Vec<String> {
        if !self.is_member(member) {
            return Vec::new();
        }
        self.roles
            .keys()
            .filter(|role| self.has_role(member, role))
            .cloned()
            .collect()
    }

    pub fn role_members(&self, role: &str) -> Vec<ImmutableString> {
        match self.roles.get(role) {
            Some(_) if role == ostrom_projections::state::EVERYONE => {
                self.members.iter().cloned().collect()
            }
            Some(members) => members
                .iter()
                .filter_map(|name| self.members.get(name.as_str()).cloned())
                .collect(),
            None => Vec::new(),
        }
    }
}

/// The governed action, as the policy reads it.
pub struct ActionView {
    pub id: u64,
    pub action_type: String,
    pub kind: &'static str,
    pub initiator: String,
    pub params: Params,
    /// An election's options: (action type, params).
    pub options: Vec<(String, Params)>,
    pub is_election: bool,
    pub status: &'static str,
    pub proposed_at_ms: i64,
    /// Current votes, ordered by member. Names are Rhai's shared strings, copied once here
    /// so that the script values built from them (`yes_votes()`, ...) share them. (Looking
    /// them up in the directory's shared names instead cost more than the copy: the
    /// comparisons touch every voter's name anyway.)
    pub votes: Vec<(ImmutableString, VoteValue, i64)>,
    pub history: Vec<VoteEvent>,
}

/// What an evaluation copies from the state beyond what every policy reads: only what the
/// policy's source can ask for.
#[derive(Clone, Copy, Debug)]
pub struct Copies {
    /// Every other policy's data (`policies.get(name).data`).
    pub other_policies: bool,
    /// The proposal's whole vote history (`votes_history()`).
    pub vote_history: bool,
}

impl ActionView {
    fn of(action: &Action, with_history: bool) -> ActionView {
        let options = match &action.spec {
            ActionSpec::Election { options } => options
                .iter()
                .map(|option| (option.action_type().to_owned(), option.params()))
                .collect(),
            _ => Vec::new(),
        };
        ActionView {
            id: action.id.0,
            action_type: action.spec.action_type().to_owned(),
            kind: action.kind.as_str(),
            initiator: action.initiator.clone(),
            params: action.spec.params(),
            options,
            is_election: matches!(action.spec, ActionSpec::Election { .. }),
            status: action.status.as_str(),
            proposed_at_ms: clamp_ms(action.proposed_at_ms),
            votes: action
                .votes
                .iter()
                .map(|(member, vote)| {
                    (
                        ImmutableString::from(member.as_str()),
                        vote.value.clone(),
                        clamp_ms(vote.at_ms),
                    )
                })
                .collect(),
            history: if with_history {
                action.vote_history.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// The election option with the most current votes for it; ties go to the lowest index.
    pub fn most_voted_option(&self) -> u64 {
        let mut counts = vec![0u64; self.options.len()];
        for (_, value, _) in &self.votes {
            if let VoteValue::Option(index) = value {
                if let Some(count) = usize::try_from(*index)
                    .ok()
                    .and_then(|index| counts.get_mut(index))
                {
                    *count += 1;
                }
            }
        }
        let mut best = 0usize;
        for (index, count) in counts.iter().enumerate() {
            if *count > counts[best] {
                best = index;
            }
        }
        best as u64
    }
}

/// Milliseconds as the script's integers; the log never holds times beyond `i64::MAX`.
pub fn clamp_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// What the governing policy is, as the policy reads it.
pub struct PolicyView {
    pub id: u64,
    pub name: String,
    pub version: String,
}

/// A data store seen through the writes of this evaluation.
pub struct Store {
    pub current: BTreeMap<String, Value>,
    pub writes: Vec<DataWrite>,
}

pub struct Session {
    pub stage: Stage,
    pub now_ms: i64,
    pub action: ActionView,
    pub policy: PolicyView,
    pub action_data: Store,
    pub policy_data: Store,
    pub directory: Arc<Directory>,
    /// Other policies' data by name (only when the source mentions `policy_data`).
    pub other_policies: BTreeMap<String, BTreeMap<String, Value>>,
    pub notifications: Vec<Notification>,
    pub follow_ups: Vec<ActionSpec>,
    pub http: Vec<HttpExchange>,
    pub http_channel: Option<mpsc::Sender<HttpCall>>,
    pub log: Vec<String>,
    /// `Some(option)` once `pass` called `action.execute()` / `execute_option(i)`.
    pub execute: Option<Option<u64>>,
    pub tracker: Tracker,
    effects_bytes: usize,
    rng: ChaCha20Rng,
}

/// What the script's tag carries.
#[derive(Clone)]
pub struct SessionHandle(pub Arc<Mutex<Session>>);

impl SessionHandle {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic inside the engine while the session was locked is already reported as
        // a fault of its own; the session's data is still coherent enough to finish.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The seed of an evaluation's random stream: the action's proposing entry and the
/// policy's version, so a replay or an audit draws exactly the same values.
pub fn random_seed(proposal_hash: &Hash, policy_version: &Hash) -> [u8; 32] {
    Hash::tagged(RANDOM_DOMAIN, &[&proposal_hash.0, &policy_version.0]).0
}

impl Session {
    pub fn new(
        state: &GovernanceState,
        action: &Action,
        policy: &Policy,
        now_ms: u64,
        copies: Copies,
        directory: Arc<Directory>,
    ) -> Session {
        let other_policies = if copies.other_policies {
            let mut by_name = BTreeMap::new();
            // Ids ascend, so the first policy with a name wins, as in `policy_by_name`.
            for other in state.policies.values() {
                by_name
                    .entry(other.spec.name.clone())
                    .or_insert_with(|| other.data.clone());
            }
            by_name
        } else {
            BTreeMap::new()
        };
        Session {
            stage: Stage::Filter,
            now_ms: clamp_ms(now_ms),
            action: ActionView::of(action, copies.vote_history),
            policy: PolicyView {
                id: policy.id.0,
                name: policy.spec.name.clone(),
                version: policy.version.to_hex(),
            },
            action_data: Store {
                current: action.data.clone(),
                writes: Vec::new(),
            },
            policy_data: Store {
                current: policy.data.clone(),
                writes: Vec::new(),
            },
            directory,
            other_policies,
            notifications: Vec::new(),
            follow_ups: Vec::new(),
            http: Vec::new(),
            http_channel: None,
            log: Vec::new(),
            execute: None,
            tracker: Tracker::default(),
            effects_bytes: 0,
            rng: ChaCha20Rng::from_seed(random_seed(&action.proposal_hash, &policy.version)),
        }
    }

    /// Count `item` against the evaluation's effects budget.
    pub fn charge<T: serde::Serialize>(&mut self, item: &T) -> Result<(), String> {
        let bytes = postcard::to_stdvec(item)
            .map(|bytes| bytes.len())
            .unwrap_or(usize::MAX);
        self.effects_bytes = self.effects_bytes.saturating_add(bytes);
        if self.effects_bytes > POLICY_EFFECTS_BYTES_MAX {
            return Err(format!(
                "this evaluation recorded more than {POLICY_EFFECTS_BYTES_MAX} bytes of effects"
            ));
        }
        Ok(())
    }

    pub fn write(&mut self, policy_store: bool, write: DataWrite) -> Result<(), String> {
        let writes = self.action_data.writes.len() + self.policy_data.writes.len();
        if writes >= POLICY_DATA_WRITES_MAX {
            return Err(format!(
                "more than {POLICY_DATA_WRITES_MAX} data writes in one evaluation"
            ));
        }
        self.charge(&write)?;
        let store = if policy_store {
            &mut self.policy_data
        } else {
            &mut self.action_data
        };
        match &write {
            DataWrite::Set { key, value } => {
                store.current.insert(key.clone(), value.clone());
            }
            DataWrite::Remove { key } => {
                store.current.remove(key);
            }
        }
        store.writes.push(write);
        Ok(())
    }

    /// The clock is read where it matters only in `check`: its answer is what a timer
    /// re-asks.
    pub fn tracking_time(&self) -> bool {
        self.stage == Stage::Check
    }

    pub fn mark_opaque(&mut self) {
        if self.tracking_time() {
            self.tracker.opaque = true;
        }
    }

    /// A uniform integer in `0..bound` (bound > 0), by rejection so that no value is more
    /// likely than another. Written out rather than taken from `rand` so that a
    /// dependency upgrade can never change what a replay draws.
    pub fn uniform_below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        // 2^64 mod bound values at the top would be over-represented; draw again there.
        let rejected = (u64::MAX % bound).wrapping_add(1) % bound;
        loop {
            let draw = self.rng.next_u64();
            if rejected == 0 || draw <= u64::MAX - rejected {
                return draw % bound;
            }
        }
    }

    /// A uniform integer in `low..=high`.
    pub fn uniform_between(&mut self, low: i64, high: i64) -> i64 {
        let span = (i128::from(high) - i128::from(low) + 1) as u128;
        let offset = if span > u128::from(u64::MAX) {
            self.rng.next_u64()
        } else {
            self.uniform_below(span as u64)
        };
        (i128::from(low) + i128::from(offset)) as i64
    }

    /// Fisher–Yates: the first `count` items of `items` become a uniform sample, in draw
    /// order.
    pub fn shuffle_prefix<T>(&mut self, items: &mut [T], count: usize) {
        let length = items.len();
        for index in 0..count.min(length) {
            let pick = index + self.uniform_below((length - index) as u64) as usize;
            items.swap(index, pick);
        }
    }

    pub fn call_http(&mut self, request: HttpRequest) -> Result<HttpResponse, String> {
        if self.stage == Stage::Filter {
            return Err(
                "external calls are not allowed in filter: it must decide from the ledger alone"
                    .to_owned(),
            );
        }
        if self.http.len() >= POLICY_HTTP_CALLS_MAX {
            return Err(format!(
                "more than {POLICY_HTTP_CALLS_MAX} external calls in one evaluation"
            ));
        }
        let channel = self.http_channel.as_ref().ok_or_else(|| {
            "external calls must be written as http_get(...) or http_post(...) in the policy source"
                .to_owned()
        })?;
        let (reply, answer) = mpsc::channel();
        let started = std::time::Instant::now();
        channel
            .send((request.clone(), reply))
            .map_err(|_| "the external call could not be made".to_owned())?;
        let result = answer
            .recv()
            .unwrap_or_else(|_| Err("the external call could not be made".to_owned()));
        super::budget::extend(started.elapsed());
        let exchange = match &result {
            Ok(response) => HttpExchange {
                method: request.method,
                url: request.url,
                request_body: request.body,
                status: response.status,
                response: response.body.clone(),
            },
            Err(error) => HttpExchange {
                method: request.method,
                url: request.url,
                request_body: request.body,
                status: super::http::HTTP_FAILED_STATUS,
                response: Value::Str(error.clone()),
            },
        };
        self.charge(&exchange)?;
        self.http.push(exchange);
        result
    }
}
