//! What each constitution action type takes, as data: the parameter names, whether each is
//! required, what kind of value it is and a line of help. The dashboard generates its
//! proposal forms from this table, so a form always asks for exactly what
//! [`ConstitutionAction::parse`](crate::action::ConstitutionAction::parse) accepts (a test
//! checks the two against each other in both directions).

/// The kind of value a parameter takes, which decides the form control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// The name of a policy, role, document or member.
    Name,
    /// Names, comma-separated.
    Names,
    /// One line of text.
    Text,
    /// Several lines of text.
    LongText,
    /// A policy's Rhai source.
    Source,
    /// Action types, comma-separated; `*` is every type.
    ActionTypes,
    /// A whole number.
    Integer,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// An action id (the seq of its proposal).
    Action,
    /// An ed25519 public key, as hex.
    Key,
}

/// One parameter of an action type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub help: &'static str,
}

const fn required(name: &'static str, kind: ParamKind, help: &'static str) -> Param {
    Param {
        name,
        kind,
        required: true,
        help,
    }
}

const fn optional(name: &'static str, kind: ParamKind, help: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        help,
    }
}

use ParamKind::*;

const POLICY_KINDS: ParamKind = Choice(&["platform", "constitution", "trigger"]);

/// Every constitution action type with its parameters, in the order of spec/actions.md;
/// each type's parameters in the order a form shows them.
pub static ACTION_PARAMETERS: &[(&str, &[Param])] = &[
    (
        "add_policy",
        &[
            required("name", Name, "a name no other policy has"),
            required("kind", POLICY_KINDS, "which actions it governs"),
            optional(
                "action_types",
                ActionTypes,
                "the action types it governs (empty: all of its kind)",
            ),
            optional("priority", Integer, "higher is tried first (default 0)"),
            optional("description", Text, "one line for members"),
            required("source", Source, "the policy's Rhai code"),
        ],
    ),
    (
        "change_policy",
        &[
            required("policy", Name, "the policy to change"),
            optional("name", Name, "a new name"),
            optional("kind", POLICY_KINDS, "a new kind"),
            optional("action_types", ActionTypes, "new action types"),
            optional("priority", Integer, "a new priority"),
            optional("description", Text, "a new description"),
            optional("source", Source, "new code"),
        ],
    ),
    (
        "remove_policy",
        &[required("policy", Name, "the policy to deactivate")],
    ),
    (
        "recover_policy",
        &[required("policy", Name, "the policy to reactivate")],
    ),
    (
        "add_role",
        &[
            required("role", Name, "a name no other role has"),
            optional("description", Text, "one line for members"),
            optional("view", ActionTypes, "action types its members may view"),
            optional(
                "propose",
                ActionTypes,
                "action types its members may propose",
            ),
            optional(
                "execute",
                ActionTypes,
                "action types its members may execute without a vote",
            ),
        ],
    ),
    (
        "edit_role",
        &[
            required("role", Name, "the role to change"),
            optional("name", Name, "a new name"),
            optional("description", Text, "a new description"),
            optional("view", ActionTypes, "replaces what it may view"),
            optional("propose", ActionTypes, "replaces what it may propose"),
            optional("execute", ActionTypes, "replaces what it may execute"),
        ],
    ),
    (
        "delete_role",
        &[required("role", Name, "the role to remove")],
    ),
    (
        "grant_role",
        &[
            required("role", Name, "the role"),
            required("members", Names, "members to add to it"),
        ],
    ),
    (
        "revoke_role",
        &[
            required("role", Name, "the role"),
            required("members", Names, "members to remove from it"),
        ],
    ),
    (
        "set_role_members",
        &[
            required("role", Name, "the role"),
            required("members", Names, "exactly its members afterwards"),
        ],
    ),
    (
        "add_document",
        &[
            required("name", Name, "a name no other document has"),
            required("text", LongText, "the document"),
        ],
    ),
    (
        "edit_document",
        &[
            required("document", Name, "the document to change"),
            optional("name", Name, "a new name"),
            optional("text", LongText, "the new text"),
        ],
    ),
    (
        "delete_document",
        &[required("document", Name, "the document to deactivate")],
    ),
    (
        "recover_document",
        &[required("document", Name, "the document to reactivate")],
    ),
    (
        "add_member",
        &[
            required("member", Name, "the new member's name"),
            optional("key", Key, "their ed25519 public key, if they hold one"),
        ],
    ),
    (
        "remove_member",
        &[required("member", Name, "the member to remove")],
    ),
    (
        "set_recovery",
        &[
            required(
                "trustees",
                Names,
                "members who may co-sign a governance restart",
            ),
            required("threshold", Integer, "how many of them must sign"),
        ],
    ),
    (
        "add_integration",
        &[required(
            "platform",
            Name,
            "the platform (slack, discord, ...)",
        )],
    ),
    (
        "remove_integration",
        &[required("platform", Name, "the platform to disconnect")],
    ),
    (
        "revert_action",
        &[required("action", Action, "the passed action to undo")],
    ),
    (
        "rollback_governance",
        &[
            optional(
                "before",
                Action,
                "restore governance as it was just before this action executed",
            ),
            optional("to_seq", Integer, "or: as it was just before this seq"),
        ],
    ),
];

/// The parameters of a constitution action type; `None` for platform actions (free-form
/// parameters) and bundles (`election`, `combination`).
pub fn parameters(action_type: &str) -> Option<&'static [Param]> {
    ACTION_PARAMETERS
        .iter()
        .find(|(name, _)| *name == action_type)
        .map(|(_, params)| *params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{ConstitutionAction, CONSTITUTION_ACTION_TYPES};
    use crate::value::{Params, Value};

    #[test]
    fn every_constitution_action_type_is_described() {
        for action_type in CONSTITUTION_ACTION_TYPES {
            assert!(parameters(action_type).is_some(), "{action_type}");
        }
        assert!(parameters("slack.post_message").is_none());
        assert!(parameters("election").is_none());
    }

    #[test]
    fn the_table_names_exactly_the_parameters_parse_accepts() {
        // Given each action type with one described parameter set (to any value) at a time,
        // when parsed, then the parser never calls it unknown; and a parameter outside the
        // table is refused as unknown (add_integration takes platform settings as well).
        for action_type in CONSTITUTION_ACTION_TYPES {
            let described = parameters(action_type).unwrap();
            for param in described {
                let mut params = Params::new();
                params.insert(param.name.to_owned(), Value::Str("x".into()));
                if let Err(error) = ConstitutionAction::parse(action_type, &params, &|_| None) {
                    assert!(
                        !error.message.starts_with("unknown parameter"),
                        "{action_type}.{}: {error}",
                        param.name
                    );
                }
            }
            if *action_type == "add_integration" {
                continue;
            }
            let mut params = Params::new();
            params.insert("not_a_parameter".into(), Value::Str("x".into()));
            let error = ConstitutionAction::parse(action_type, &params, &|_| None).unwrap_err();
            assert!(
                error.message.starts_with("unknown parameter"),
                "{action_type}: {error}"
            );
            for name in error.message["unknown parameter (expected one of: ".len()..]
                .trim_end_matches(')')
                .split(", ")
            {
                assert!(
                    described.iter().any(|param| param.name == name),
                    "{action_type} accepts {name}, which the table does not describe"
                );
            }
        }
    }
}
