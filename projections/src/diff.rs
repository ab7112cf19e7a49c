//! What changed in governance between two states: policies, roles (permissions and
//! members), documents and recovery trustees. This is what a community looks at before
//! voting on a rollback (`ostrom diff A B`).
//!
//! Read model, version 1. Inputs: two `GovernanceState`s of the same community (usually
//! the same log replayed to two seqs). Output: changes in a stable order (policies by id,
//! then roles, documents by name, then trustees), so the same two states always give the
//! same listing.

use std::collections::BTreeSet;
use std::fmt;

use crate::state::{GovernanceState, EVERYONE};

/// One difference between two governance states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    PolicyAdded {
        name: String,
    },
    PolicyRemoved {
        name: String,
    },
    PolicyActivated {
        name: String,
        active: bool,
    },
    PolicyChanged {
        name: String,
        from: String,
        to: String,
        what: Vec<&'static str>,
    },
    RoleAdded {
        name: String,
    },
    RoleRemoved {
        name: String,
    },
    RolePermissions {
        name: String,
        which: &'static str,
        from: Vec<String>,
        to: Vec<String>,
    },
    RoleMembers {
        name: String,
        added: Vec<String>,
        removed: Vec<String>,
    },
    DocumentAdded {
        name: String,
    },
    DocumentRemoved {
        name: String,
    },
    DocumentEdited {
        name: String,
    },
    Trustees {
        from: (Vec<String>, u64),
        to: (Vec<String>, u64),
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::PolicyAdded { name } => write!(f, "+ policy {name:?}"),
            Change::PolicyRemoved { name } => write!(f, "- policy {name:?}"),
            Change::PolicyActivated { name, active } => {
                write!(
                    f,
                    "~ policy {name:?}: {}",
                    if *active {
                        "recovered (active)"
                    } else {
                        "removed (inactive)"
                    }
                )
            }
            Change::PolicyChanged {
                name,
                from,
                to,
                what,
            } => {
                write!(
                    f,
                    "~ policy {name:?}: version {from} -> {to} ({})",
                    what.join(", ")
                )
            }
            Change::RoleAdded { name } => write!(f, "+ role {name:?}"),
            Change::RoleRemoved { name } => write!(f, "- role {name:?}"),
            Change::RolePermissions {
                name,
                which,
                from,
                to,
            } => {
                write!(
                    f,
                    "~ role {name:?}: {which} [{}] -> [{}]",
                    from.join(","),
                    to.join(",")
                )
            }
            Change::RoleMembers {
                name,
                added,
                removed,
            } => {
                write!(f, "~ role {name:?}:")?;
                if !added.is_empty() {
                    write!(f, " + {}", added.join(", "))?;
                }
                if !removed.is_empty() {
                    write!(f, " - {}", removed.join(", "))?;
                }
                Ok(())
            }
            Change::DocumentAdded { name } => write!(f, "+ document {name:?}"),
            Change::DocumentRemoved { name } => write!(f, "- document {name:?}"),
            Change::DocumentEdited { name } => write!(f, "~ document {name:?}: text changed"),
            Change::Trustees { from, to } => write!(
                f,
                "~ recovery: {} of [{}] -> {} of [{}]",
                from.1,
                from.0.join(", "),
                to.1,
                to.0.join(", ")
            ),
        }
    }
}

/// Everything in governance that differs from `before` to `after`.
pub fn diff(before: &GovernanceState, after: &GovernanceState) -> Vec<Change> {
    let mut changes = Vec::new();
    let ids: BTreeSet<_> = before
        .policies
        .keys()
        .chain(after.policies.keys())
        .copied()
        .collect();
    for id in ids {
        match (
            before.policies.get(&id).filter(|p| p.active),
            after.policies.get(&id).filter(|p| p.active),
        ) {
            (None, Some(policy)) if before.policies.contains_key(&id) => {
                changes.push(Change::PolicyActivated {
                    name: policy.spec.name.clone(),
                    active: true,
                })
            }
            (None, Some(policy)) => changes.push(Change::PolicyAdded {
                name: policy.spec.name.clone(),
            }),
            (Some(policy), None) if after.policies.contains_key(&id) => {
                changes.push(Change::PolicyActivated {
                    name: policy.spec.name.clone(),
                    active: false,
                })
            }
            (Some(policy), None) => changes.push(Change::PolicyRemoved {
                name: policy.spec.name.clone(),
            }),
            (Some(old), Some(new)) if old.version != new.version => {
                let (a, b) = (&old.spec, &new.spec);
                let what: Vec<&'static str> = [
                    (a.name != b.name, "name"),
                    (a.kind != b.kind, "kind"),
                    (a.source != b.source, "source"),
                    (a.action_types != b.action_types, "action types"),
                    (a.priority != b.priority, "priority"),
                    (a.description != b.description, "description"),
                ]
                .into_iter()
                .filter_map(|(changed, what)| changed.then_some(what))
                .collect();
                changes.push(Change::PolicyChanged {
                    name: b.name.clone(),
                    from: old.version.short(),
                    to: new.version.short(),
                    what,
                });
            }
            _ => {}
        }
    }
    let names: BTreeSet<&String> = before.roles.keys().chain(after.roles.keys()).collect();
    for name in names {
        let (old, new) = (
            before.roles.get(name).filter(|role| role.active),
            after.roles.get(name).filter(|role| role.active),
        );
        match (old, new) {
            (None, Some(_)) => changes.push(Change::RoleAdded { name: name.clone() }),
            (Some(_), None) => changes.push(Change::RoleRemoved { name: name.clone() }),
            (Some(old), Some(new)) => {
                for (which, from, to) in [
                    ("view", &old.permissions.view, &new.permissions.view),
                    (
                        "propose",
                        &old.permissions.propose,
                        &new.permissions.propose,
                    ),
                    (
                        "execute",
                        &old.permissions.execute,
                        &new.permissions.execute,
                    ),
                ] {
                    if from != to {
                        changes.push(Change::RolePermissions {
                            name: name.clone(),
                            which,
                            from: from.clone(),
                            to: to.clone(),
                        });
                    }
                }
                if name != EVERYONE && old.members != new.members {
                    changes.push(Change::RoleMembers {
                        name: name.clone(),
                        added: new.members.difference(&old.members).cloned().collect(),
                        removed: old.members.difference(&new.members).cloned().collect(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    let documents: BTreeSet<&String> = before
        .documents
        .keys()
        .chain(after.documents.keys())
        .collect();
    for name in documents {
        let (old, new) = (
            before
                .documents
                .get(name)
                .filter(|document| document.active),
            after.documents.get(name).filter(|document| document.active),
        );
        match (old, new) {
            (None, Some(_)) => changes.push(Change::DocumentAdded { name: name.clone() }),
            (Some(_), None) => changes.push(Change::DocumentRemoved { name: name.clone() }),
            (Some(old), Some(new)) if old.text != new.text => {
                changes.push(Change::DocumentEdited { name: name.clone() })
            }
            _ => {}
        }
    }
    if before.recovery != after.recovery {
        changes.push(Change::Trustees {
            from: (before.recovery.trustees.clone(), before.recovery.threshold),
            to: (after.recovery.trustees.clone(), after.recovery.threshold),
        });
    }
    changes
}
