//! Actions: what members propose and policies decide.
//!
//! Constitution actions are typed (the reducer executes them, so the log carries exactly
//! what will be executed); platform actions are namespaced types with free-form parameters
//! that an integration executes. Every action can be built from, and shown as, the
//! `type` + `params` form of ../shared/spec/actions.md, which the CLI, the API, scenario
//! files and policies (`action.params`) all share.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bytes::PublicKey;
use crate::limits;
use crate::value::{Params, Value};

/// An action's id: the seq of the entry that proposed it. Unique within a community and
/// known the moment the proposal is appended.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct ActionId(pub u64);

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A policy's id: assigned in creation order, never reused.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct PolicyId(pub u64);

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    Platform,
    Constitution,
    Trigger,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Platform => "platform",
            PolicyKind::Constitution => "constitution",
            PolicyKind::Trigger => "trigger",
        }
    }

    pub fn parse(text: &str) -> Result<Self, ParamError> {
        match text {
            "platform" => Ok(PolicyKind::Platform),
            "constitution" => Ok(PolicyKind::Constitution),
            "trigger" => Ok(PolicyKind::Trigger),
            other => Err(ParamError::new(
                "kind",
                format!("unknown policy kind {other:?} (platform, constitution or trigger)"),
            )),
        }
    }
}

/// A policy as written: what `add_policy` carries and what a starter kit installs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicySpec {
    pub name: String,
    pub kind: PolicyKind,
    pub source: String,
    /// Action types this policy is for; empty = a base policy for its kind.
    pub action_types: Vec<String>,
    pub priority: i64,
    pub description: String,
}

/// A role as written: what `add_role` carries and what a starter kit installs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleSpec {
    pub name: String,
    pub description: String,
    pub permissions: Permissions,
    pub members: Vec<String>,
}

/// Per action type: may see, may propose, may execute without a policy. `"*"` = every type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Permissions {
    pub view: Vec<String>,
    pub propose: Vec<String>,
    pub execute: Vec<String>,
}

impl Permissions {
    pub fn allows(list: &[String], action_type: &str) -> bool {
        list.iter().any(|item| item == "*" || item == action_type)
    }
}

/// What a member proposes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionSpec {
    Constitution(ConstitutionAction),
    Platform(PlatformAction),
    /// Pick one of several actions by vote.
    Election {
        options: Vec<PlainAction>,
    },
    /// All of these actions, or none.
    Combination {
        actions: Vec<PlainAction>,
    },
}

/// An action that is not a bundle: what elections and combinations are made of. Bundles
/// do not nest, which keeps every decoded action's depth bounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlainAction {
    Constitution(ConstitutionAction),
    Platform(PlatformAction),
}

impl PlainAction {
    pub fn action_type(&self) -> &str {
        match self {
            PlainAction::Constitution(action) => action.action_type(),
            PlainAction::Platform(action) => &action.action_type,
        }
    }

    pub fn kind(&self) -> PolicyKind {
        match self {
            PlainAction::Constitution(_) => PolicyKind::Constitution,
            PlainAction::Platform(_) => PolicyKind::Platform,
        }
    }

    pub fn params(&self) -> Params {
        match self {
            PlainAction::Constitution(action) => action.params(),
            PlainAction::Platform(action) => action.params.clone(),
        }
    }

    /// The same action as an `ActionSpec`.
    pub fn to_spec(&self) -> ActionSpec {
        match self {
            PlainAction::Constitution(action) => ActionSpec::Constitution(action.clone()),
            PlainAction::Platform(action) => ActionSpec::Platform(action.clone()),
        }
    }
}

/// Domain tag of a policy's content hash (its "version").
pub const POLICY_VERSION_DOMAIN: &str = "ostrom/policy/v1";

/// The content hash of a policy: what a proposal is pinned to.
pub fn policy_version_hash(spec: &PolicySpec) -> crate::Hash {
    let bytes = postcard::to_stdvec(spec).expect("policy specs always encode");
    crate::Hash::tagged(POLICY_VERSION_DOMAIN, &[&bytes])
}

/// A namespaced action an integration executes, e.g. `slack.rename_conversation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformAction {
    pub action_type: String,
    pub params: Params,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RollbackTarget {
    /// The governance state just before this action executed.
    Before(ActionId),
    /// The governance state just before this seq.
    ToSeq(u64),
}

/// Constitution actions, executed by the reducer. One variant per row of spec/actions.md.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConstitutionAction {
    AddPolicy(PolicySpec),
    ChangePolicy {
        policy: String,
        name: Option<String>,
        kind: Option<PolicyKind>,
        source: Option<String>,
        action_types: Option<Vec<String>>,
        priority: Option<i64>,
        description: Option<String>,
    },
    RemovePolicy {
        policy: String,
    },
    RecoverPolicy {
        policy: String,
    },
    AddRole {
        role: String,
        description: String,
        permissions: Permissions,
    },
    EditRole {
        role: String,
        name: Option<String>,
        description: Option<String>,
        view: Option<Vec<String>>,
        propose: Option<Vec<String>>,
        execute: Option<Vec<String>>,
    },
    DeleteRole {
        role: String,
    },
    GrantRole {
        role: String,
        members: Vec<String>,
    },
    RevokeRole {
        role: String,
        members: Vec<String>,
    },
    SetRoleMembers {
        role: String,
        members: Vec<String>,
    },
    AddDocument {
        name: String,
        text: String,
    },
    EditDocument {
        document: String,
        name: Option<String>,
        text: Option<String>,
    },
    DeleteDocument {
        document: String,
    },
    RecoverDocument {
        document: String,
    },
    AddMember {
        member: String,
        key: Option<PublicKey>,
    },
    RemoveMember {
        member: String,
    },
    SetRecovery {
        trustees: Vec<String>,
        threshold: u64,
    },
    AddIntegration {
        platform: String,
        settings: Params,
    },
    RemoveIntegration {
        platform: String,
    },
    RevertAction {
        action: ActionId,
    },
    RollbackGovernance {
        target: RollbackTarget,
    },
}

/// Every constitution action type, in the order of spec/actions.md.
pub const CONSTITUTION_ACTION_TYPES: &[&str] = &[
    "add_policy",
    "change_policy",
    "remove_policy",
    "recover_policy",
    "add_role",
    "edit_role",
    "delete_role",
    "grant_role",
    "revoke_role",
    "set_role_members",
    "add_document",
    "edit_document",
    "delete_document",
    "recover_document",
    "add_member",
    "remove_member",
    "set_recovery",
    "add_integration",
    "remove_integration",
    "revert_action",
    "rollback_governance",
];

/// A parameter that could not be read, with the parameter's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("parameter {param:?}: {message}")]
pub struct ParamError {
    pub param: String,
    pub message: String,
}

impl ParamError {
    pub fn new(param: &str, message: impl Into<String>) -> Self {
        ParamError {
            param: param.to_owned(),
            message: message.into(),
        }
    }
}

/// How a reference to an action is resolved while parsing (`revert_action`'s `action`):
/// ids are numbers; scenario files also use labels, which the caller maps to ids.
pub type ActionResolver<'a> = &'a dyn Fn(&str) -> Option<ActionId>;

impl ActionSpec {
    /// The action's type name as in spec/actions.md (`add_policy`, `slack.post_message`,
    /// `election`, ...).
    pub fn action_type(&self) -> &str {
        match self {
            ActionSpec::Constitution(action) => action.action_type(),
            ActionSpec::Platform(action) => &action.action_type,
            ActionSpec::Election { .. } => "election",
            ActionSpec::Combination { .. } => "combination",
        }
    }

    /// `constitution`, `platform`, or for bundles the kind of their members (constitution
    /// if any member is one, since a bundle is governed by its most sensitive part).
    pub fn kind(&self) -> PolicyKind {
        match self {
            ActionSpec::Constitution(_) => PolicyKind::Constitution,
            ActionSpec::Platform(_) => PolicyKind::Platform,
            ActionSpec::Election { options: members }
            | ActionSpec::Combination { actions: members } => {
                if members
                    .iter()
                    .any(|member| member.kind() == PolicyKind::Constitution)
                {
                    PolicyKind::Constitution
                } else {
                    PolicyKind::Platform
                }
            }
        }
    }

    /// Parse the shared `type` + `params` form. `resolve` maps an action reference (a label
    /// or a number) to an id.
    pub fn parse(
        action_type: &str,
        params: &Params,
        resolve: ActionResolver<'_>,
    ) -> Result<ActionSpec, ParamError> {
        check_action_type(action_type)?;
        match action_type {
            "election" => {
                let options = parse_bundle(params, "options", resolve)?;
                Ok(ActionSpec::Election { options })
            }
            "combination" => {
                let actions = parse_bundle(params, "actions", resolve)?;
                Ok(ActionSpec::Combination { actions })
            }
            _ if action_type.contains('.') => Ok(ActionSpec::Platform(PlatformAction {
                action_type: action_type.to_owned(),
                params: params.clone(),
            })),
            _ => ConstitutionAction::parse(action_type, params, resolve)
                .map(ActionSpec::Constitution),
        }
    }

    /// The `params` form, as policies see it in `action.params`.
    pub fn params(&self) -> Params {
        match self {
            ActionSpec::Constitution(action) => action.params(),
            ActionSpec::Platform(action) => action.params.clone(),
            ActionSpec::Election { options } => {
                Params::from([("options".to_owned(), bundle_value(options))])
            }
            ActionSpec::Combination { actions } => {
                Params::from([("actions".to_owned(), bundle_value(actions))])
            }
        }
    }
}

fn bundle_value(members: &[PlainAction]) -> Value {
    Value::List(
        members
            .iter()
            .map(|member| {
                Value::Map(BTreeMap::from([
                    ("type".to_owned(), Value::from(member.action_type())),
                    ("params".to_owned(), Value::Map(member.params())),
                ]))
            })
            .collect(),
    )
}

fn parse_bundle(
    params: &Params,
    key: &str,
    resolve: ActionResolver<'_>,
) -> Result<Vec<PlainAction>, ParamError> {
    let items = params
        .get(key)
        .and_then(Value::as_list)
        .ok_or_else(|| ParamError::new(key, "required: a list of { type, params }"))?;
    if items.is_empty() || items.len() > limits::BUNDLE_ACTIONS_MAX {
        return Err(ParamError::new(
            key,
            format!("between 1 and {} actions", limits::BUNDLE_ACTIONS_MAX),
        ));
    }
    items
        .iter()
        .map(|item| {
            let map = item
                .as_map()
                .ok_or_else(|| ParamError::new(key, "each entry is a map { type, params }"))?;
            let action_type = map
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| ParamError::new(key, "each entry needs a string `type`"))?;
            let empty = Params::new();
            let inner = match map.get("params") {
                None => &empty,
                Some(Value::Map(inner)) => inner,
                Some(_) => return Err(ParamError::new(key, "`params` must be a map")),
            };
            match ActionSpec::parse(action_type, inner, resolve)? {
                ActionSpec::Constitution(action) => Ok(PlainAction::Constitution(action)),
                ActionSpec::Platform(action) => Ok(PlainAction::Platform(action)),
                _ => Err(ParamError::new(key, "bundles cannot contain bundles")),
            }
        })
        .collect()
}

/// Action type names: lowercase words, digits and `_`, optionally namespaced with `.`.
pub fn check_action_type(action_type: &str) -> Result<(), ParamError> {
    let valid = !action_type.is_empty()
        && action_type.len() <= limits::NAME_BYTES_MAX
        && action_type.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(ParamError::new(
            "type",
            format!(
                "invalid action type {action_type:?} (lowercase words, `_`, namespaced with `.`)"
            ),
        ))
    }
}

/// Names of members, roles, policies and documents: non-empty, bounded, printable, and no
/// `,` (lists on the command line are comma-separated).
pub fn check_name(param: &str, name: &str) -> Result<(), ParamError> {
    if name.trim().is_empty() {
        return Err(ParamError::new(param, "must not be empty"));
    }
    if name.len() > limits::NAME_BYTES_MAX {
        return Err(ParamError::new(
            param,
            format!("longer than {} bytes", limits::NAME_BYTES_MAX),
        ));
    }
    if name.chars().any(|c| c.is_control() || c == ',') || name.trim() != name {
        return Err(ParamError::new(
            param,
            "must not contain commas or control characters, or start or end with spaces",
        ));
    }
    Ok(())
}

struct Reader<'a> {
    params: &'a Params,
}

impl<'a> Reader<'a> {
    fn value(&self, key: &str) -> Option<&'a Value> {
        self.params.get(key).filter(|value| **value != Value::Null)
    }

    fn string(&self, key: &str) -> Result<String, ParamError> {
        self.optional_string(key)?
            .ok_or_else(|| ParamError::new(key, "required"))
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, ParamError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Str(text)) => {
                if text.len() > limits::TEXT_BYTES_MAX {
                    return Err(ParamError::new(
                        key,
                        format!("longer than {} bytes", limits::TEXT_BYTES_MAX),
                    ));
                }
                Ok(Some(text.clone()))
            }
            Some(Value::Int(number)) => Ok(Some(number.to_string())),
            Some(_) => Err(ParamError::new(key, "must be a string")),
        }
    }

    fn name(&self, key: &str) -> Result<String, ParamError> {
        let name = self.string(key)?;
        check_name(key, &name)?;
        Ok(name)
    }

    fn optional_name(&self, key: &str) -> Result<Option<String>, ParamError> {
        let name = self.optional_string(key)?;
        if let Some(name) = &name {
            check_name(key, name)?;
        }
        Ok(name)
    }

    fn optional_int(&self, key: &str) -> Result<Option<i64>, ParamError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Int(number)) => Ok(Some(*number)),
            Some(Value::Str(text)) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ParamError::new(key, format!("{text:?} is not an integer"))),
            Some(_) => Err(ParamError::new(key, "must be an integer")),
        }
    }

    /// A list: a real list, or a comma-separated string (the CLI's form).
    fn optional_list(&self, key: &str) -> Result<Option<Vec<String>>, ParamError> {
        let items: Vec<String> = match self.value(key) {
            None => return Ok(None),
            Some(Value::Str(text)) => text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect(),
            Some(Value::List(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Str(text) => Ok(text.clone()),
                    _ => Err(ParamError::new(key, "must be a list of strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ParamError::new(key, "must be a list of strings")),
        };
        if items.len() > limits::LIST_ITEMS_MAX {
            return Err(ParamError::new(
                key,
                format!("more than {} items", limits::LIST_ITEMS_MAX),
            ));
        }
        Ok(Some(items))
    }

    fn list(&self, key: &str) -> Result<Vec<String>, ParamError> {
        self.optional_list(key)?
            .ok_or_else(|| ParamError::new(key, "required"))
    }

    fn names(&self, key: &str) -> Result<Vec<String>, ParamError> {
        let names = self.list(key)?;
        for name in &names {
            check_name(key, name)?;
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != names.len() {
            return Err(ParamError::new(key, "lists a name twice"));
        }
        Ok(names)
    }

    fn action_types(&self, key: &str) -> Result<Option<Vec<String>>, ParamError> {
        let types = self.optional_list(key)?;
        if let Some(types) = &types {
            for action_type in types {
                if action_type != "*" {
                    check_action_type(action_type)
                        .map_err(|error| ParamError::new(key, error.message))?;
                }
            }
        }
        Ok(types)
    }

    fn action(&self, key: &str, resolve: ActionResolver<'_>) -> Result<ActionId, ParamError> {
        let reference = self.string(key)?;
        if let Some(id) = resolve(&reference) {
            return Ok(id);
        }
        reference
            .parse()
            .map(ActionId)
            .map_err(|_| ParamError::new(key, format!("{reference:?} is not an action id")))
    }

    fn only(&self, allowed: &[&str]) -> Result<(), ParamError> {
        match self
            .params
            .keys()
            .find(|key| !allowed.contains(&key.as_str()))
        {
            Some(key) => Err(ParamError::new(
                key,
                format!(
                    "unknown parameter (expected one of: {})",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }
}

impl ConstitutionAction {
    pub fn action_type(&self) -> &'static str {
        use ConstitutionAction::*;
        match self {
            AddPolicy(_) => "add_policy",
            ChangePolicy { .. } => "change_policy",
            RemovePolicy { .. } => "remove_policy",
            RecoverPolicy { .. } => "recover_policy",
            AddRole { .. } => "add_role",
            EditRole { .. } => "edit_role",
            DeleteRole { .. } => "delete_role",
            GrantRole { .. } => "grant_role",
            RevokeRole { .. } => "revoke_role",
            SetRoleMembers { .. } => "set_role_members",
            AddDocument { .. } => "add_document",
            EditDocument { .. } => "edit_document",
            DeleteDocument { .. } => "delete_document",
            RecoverDocument { .. } => "recover_document",
            AddMember { .. } => "add_member",
            RemoveMember { .. } => "remove_member",
            SetRecovery { .. } => "set_recovery",
            AddIntegration { .. } => "add_integration",
            RemoveIntegration { .. } => "remove_integration",
            RevertAction { .. } => "revert_action",
            RollbackGovernance { .. } => "rollback_governance",
        }
    }

    pub fn parse(
        action_type: &str,
        params: &Params,
        resolve: ActionResolver<'_>,
    ) -> Result<Self, ParamError> {
        use ConstitutionAction::*;
        let r = Reader { params };
        let action = match action_type {
            "add_policy" => {
                r.only(&["name", "kind", "source", "action_types", "priority", "description"])?;
                AddPolicy(PolicySpec {
                    name: r.name("name")?,
                    kind: PolicyKind::parse(&r.string("kind")?)?,
                    source: policy_source(&r, "source")?.ok_or_else(|| ParamError::new("source", "required"))?,
                    action_types: r.action_types("action_types")?.unwrap_or_default(),
                    priority: r.optional_int("priority")?.unwrap_or(0),
                    description: r.optional_string("description")?.unwrap_or_default(),
                })
            }
            "change_policy" => {
                r.only(&["policy", "name", "kind", "source", "action_types", "priority", "description"])?;
                ChangePolicy {
                    policy: r.name("policy")?,
                    name: r.optional_name("name")?,
                    kind: r.optional_string("kind")?.map(|kind| PolicyKind::parse(&kind)).transpose()?,
                    source: policy_source(&r, "source")?,
                    action_types: r.action_types("action_types")?,
                    priority: r.optional_int("priority")?,
                    description: r.optional_string("description")?,
                }
            }
            "remove_policy" | "recover_policy" => {
                r.only(&["policy"])?;
                let policy = r.name("policy")?;
                if action_type == "remove_policy" {
                    RemovePolicy { policy }
                } else {
                    RecoverPolicy { policy }
                }
            }
            "add_role" => {
                r.only(&["role", "description", "view", "propose", "execute"])?;
                AddRole {
                    role: r.name("role")?,
                    description: r.optional_string("description")?.unwrap_or_default(),
                    permissions: Permissions {
                        view: r.action_types("view")?.unwrap_or_default(),
                        propose: r.action_types("propose")?.unwrap_or_default(),
                        execute: r.action_types("execute")?.unwrap_or_default(),
                    },
                }
            }
            "edit_role" => {
                r.only(&["role", "name", "description", "view", "propose", "execute"])?;
                EditRole {
                    role: r.name("role")?,
                    name: r.optional_name("name")?,
                    description: r.optional_string("description")?,
                    view: r.action_types("view")?,
                    propose: r.action_types("propose")?,
                    execute: r.action_types("execute")?,
                }
            }
            "delete_role" => {
                r.only(&["role"])?;
                DeleteRole { role: r.name("role")? }
            }
            "grant_role" | "revoke_role" | "set_role_members" => {
                r.only(&["role", "members"])?;
                let role = r.name("role")?;
                let members = r.names("members")?;
                match action_type {
                    "grant_role" => GrantRole { role, members },
                    "revoke_role" => RevokeRole { role, members },
                    _ => SetRoleMembers { role, members },
                }
            }
            "add_document" => {
                r.only(&["name", "text"])?;
                AddDocument {
                    name: r.name("name")?,
                    text: r.string("text")?,
                }
            }
            "edit_document" => {
                r.only(&["document", "name", "text"])?;
                EditDocument {
                    document: r.name("document")?,
                    name: r.optional_name("name")?,
                    text: r.optional_string("text")?,
                }
            }
            "delete_document" | "recover_document" => {
                r.only(&["document"])?;
                let document = r.name("document")?;
                if action_type == "delete_document" {
                    DeleteDocument { document }
                } else {
                    RecoverDocument { document }
                }
            }
            "add_member" => {
                r.only(&["member", "key"])?;
                AddMember {
                    member: r.name("member")?,
                    key: r
                        .optional_string("key")?
                        .map(|key| PublicKey::from_hex(&key).map_err(|error| ParamError::new("key", error)))
                        .transpose()?,
                }
            }
            "remove_member" => {
                r.only(&["member"])?;
                RemoveMember { member: r.name("member")? }
            }
            "set_recovery" => {
                r.only(&["trustees", "threshold"])?;
                let trustees = r.names("trustees")?;
                let threshold = r
                    .optional_int("threshold")?
                    .ok_or_else(|| ParamError::new("threshold", "required"))?;
                if threshold < 1 || threshold as usize > trustees.len() {
                    return Err(ParamError::new(
                        "threshold",
                        format!("must be between 1 and the number of trustees ({})", trustees.len()),
                    ));
                }
                SetRecovery {
                    trustees,
                    threshold: threshold as u64,
                }
            }
            "add_integration" => {
                let platform = r.name("platform")?;
                let mut settings = params.clone();
                settings.remove("platform");
                AddIntegration { platform, settings }
            }
            "remove_integration" => {
                r.only(&["platform"])?;
                RemoveIntegration {
                    platform: r.name("platform")?,
                }
            }
            "revert_action" => {
                r.only(&["action"])?;
                RevertAction {
                    action: r.action("action", resolve)?,
                }
            }
            "rollback_governance" => {
                r.only(&["before", "to_seq"])?;
                let target = match (r.value("before"), r.optional_int("to_seq")?) {
                    (Some(_), None) => RollbackTarget::Before(r.action("before", resolve)?),
                    (None, Some(seq)) if seq >= 0 => RollbackTarget::ToSeq(seq as u64),
                    (None, Some(_)) => return Err(ParamError::new("to_seq", "must not be negative")),
                    _ => return Err(ParamError::new("before", "exactly one of `before` or `to_seq` is required")),
                };
                RollbackGovernance { target }
            }
            other => {
                return Err(ParamError::new(
                    "type",
                    format!(
                        "unknown action type {other:?}: constitution actions are {}; platform actions are namespaced (slack.post_message)",
                        CONSTITUTION_ACTION_TYPES.join(", ")
                    ),
                ))
            }
        };
        Ok(action)
    }

    /// The `params` form of this action (the inverse of `parse`, up to list syntax).
    pub fn params(&self) -> Params {
        use ConstitutionAction::*;
        let mut params = Params::new();
        let mut put = |key: &str, value: Value| {
            params.insert(key.to_owned(), value);
        };
        let list = |items: &[String]| {
            Value::List(
                items
                    .iter()
                    .map(|item| Value::from(item.as_str()))
                    .collect(),
            )
        };
        match self {
            AddPolicy(spec) => {
                put("name", spec.name.as_str().into());
                put("kind", spec.kind.as_str().into());
                put("source", spec.source.as_str().into());
                put("action_types", list(&spec.action_types));
                put("priority", spec.priority.into());
                put("description", spec.description.as_str().into());
            }
            ChangePolicy {
                policy,
                name,
                kind,
                source,
                action_types,
                priority,
                description,
            } => {
                put("policy", policy.as_str().into());
                if let Some(name) = name {
                    put("name", name.as_str().into());
                }
                if let Some(kind) = kind {
                    put("kind", kind.as_str().into());
                }
                if let Some(source) = source {
                    put("source", source.as_str().into());
                }
                if let Some(types) = action_types {
                    put("action_types", list(types));
                }
                if let Some(priority) = priority {
                    put("priority", (*priority).into());
                }
                if let Some(description) = description {
                    put("description", description.as_str().into());
                }
            }
            RemovePolicy { policy } | RecoverPolicy { policy } => {
                put("policy", policy.as_str().into())
            }
            AddRole {
                role,
                description,
                permissions,
            } => {
                put("role", role.as_str().into());
                put("description", description.as_str().into());
                put("view", list(&permissions.view));
                put("propose", list(&permissions.propose));
                put("execute", list(&permissions.execute));
            }
            EditRole {
                role,
                name,
                description,
                view,
                propose,
                execute,
            } => {
                put("role", role.as_str().into());
                if let Some(name) = name {
                    put("name", name.as_str().into());
                }
                if let Some(description) = description {
                    put("description", description.as_str().into());
                }
                for (key, value) in [("view", view), ("propose", propose), ("execute", execute)] {
                    if let Some(value) = value {
                        put(key, list(value));
                    }
                }
            }
            DeleteRole { role } => put("role", role.as_str().into()),
            GrantRole { role, members }
            | RevokeRole { role, members }
            | SetRoleMembers { role, members } => {
                put("role", role.as_str().into());
                put("members", list(members));
            }
            AddDocument { name, text } => {
                put("name", name.as_str().into());
                put("text", text.as_str().into());
            }
            EditDocument {
                document,
                name,
                text,
            } => {
                put("document", document.as_str().into());
                if let Some(name) = name {
                    put("name", name.as_str().into());
                }
                if let Some(text) = text {
                    put("text", text.as_str().into());
                }
            }
            DeleteDocument { document } | RecoverDocument { document } => {
                put("document", document.as_str().into())
            }
            AddMember { member, key } => {
                put("member", member.as_str().into());
                if let Some(key) = key {
                    put("key", key.to_hex().into());
                }
            }
            RemoveMember { member } => put("member", member.as_str().into()),
            SetRecovery {
                trustees,
                threshold,
            } => {
                put("trustees", list(trustees));
                put("threshold", (*threshold as i64).into());
            }
            AddIntegration { platform, settings } => {
                for (key, value) in settings {
                    put(key, value.clone());
                }
                put("platform", platform.as_str().into());
            }
            RemoveIntegration { platform } => put("platform", platform.as_str().into()),
            RevertAction { action } => put("action", Value::Int(action.0 as i64)),
            RollbackGovernance { target } => match target {
                RollbackTarget::Before(action) => put("before", Value::Int(action.0 as i64)),
                RollbackTarget::ToSeq(seq) => put("to_seq", Value::Int(*seq as i64)),
            },
        }
        params
    }
}

/// `source` may be given inline; scenario files and the CLI read files before this point.
fn policy_source(r: &Reader<'_>, key: &str) -> Result<Option<String>, ParamError> {
    let source = r.optional_string(key)?;
    if let Some(source) = &source {
        if source.len() > limits::POLICY_SOURCE_BYTES_MAX {
            return Err(ParamError::new(
                key,
                format!(
                    "policy source longer than {} bytes",
                    limits::POLICY_SOURCE_BYTES_MAX
                ),
            ));
        }
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_labels(_: &str) -> Option<ActionId> {
        None
    }

    #[test]
    fn every_constitution_action_round_trips_through_params() {
        let cases: Vec<(&str, Vec<(&str, Value)>)> = vec![
            (
                "add_policy",
                vec![
                    ("name", "p".into()),
                    ("kind", "constitution".into()),
                    ("source", "fn filter(a,p){true}".into()),
                ],
            ),
            (
                "change_policy",
                vec![("policy", "p".into()), ("priority", 3.into())],
            ),
            ("remove_policy", vec![("policy", "p".into())]),
            (
                "add_role",
                vec![
                    ("role", "mods".into()),
                    ("execute", "slack.pin_message".into()),
                ],
            ),
            (
                "grant_role",
                vec![("role", "mods".into()), ("members", "alice,bob".into())],
            ),
            (
                "set_recovery",
                vec![("trustees", "a,b,c".into()), ("threshold", "2".into())],
            ),
            ("revert_action", vec![("action", "12".into())]),
            ("rollback_governance", vec![("to_seq", 4.into())]),
        ];
        for (action_type, params) in cases {
            let params: Params = params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let action = ActionSpec::parse(action_type, &params, &no_labels).unwrap();
            assert_eq!(action.action_type(), action_type);
            let again = ActionSpec::parse(action_type, &action.params(), &no_labels).unwrap();
            assert_eq!(again, action, "{action_type}");
        }
    }

    #[test]
    fn bad_parameters_name_the_parameter() {
        let params = Params::from([("role".to_owned(), Value::from("mods"))]);
        let error = ActionSpec::parse("grant_role", &params, &no_labels).unwrap_err();
        assert_eq!(error.param, "members");
        let error = ActionSpec::parse("grant_rol", &params, &no_labels).unwrap_err();
        assert_eq!(error.param, "type");
        let params = Params::from([
            ("role".to_owned(), Value::from("mods")),
            ("colour".to_owned(), Value::from("red")),
        ]);
        let error = ActionSpec::parse("delete_role", &params, &no_labels).unwrap_err();
        assert_eq!(error.param, "colour");
    }
}
