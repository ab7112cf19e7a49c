//! Constitution actions, executed by the reducer.
//!
//! Each action has a precondition (`check`) and an effect (`execute`). The engine calls
//! `check` to decide between `ActionExecuted` and `ActionExecutionFailed`; admission calls
//! it again so that a log can never carry an execution the reducer cannot apply; `execute`
//! then asserts what `check` promised. Every change appends a version to the object's
//! history with the seq it took effect at.

use std::collections::BTreeSet;

use ostrom_schemas::action::{
    ActionId, ActionSpec, ConstitutionAction, PlainAction, PolicyId, RollbackTarget,
};

use crate::state::{
    policy_version_hash, Document, DocumentVersion, GovernanceState, Member, Policy, PolicyVersion,
    Recovery, Role, RoleVersion, EVERYONE,
};

/// Where a change comes from: the seq it takes effect at and the action that made it.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    pub seq: u64,
    pub by: Option<ActionId>,
}

impl GovernanceState {
    fn active_policy(&self, name: &str) -> Result<&Policy, String> {
        self.policies
            .values()
            .find(|policy| policy.spec.name == name)
            .ok_or_else(|| format!("no policy named {name:?}"))
    }

    fn policy_id(&self, name: &str) -> Option<PolicyId> {
        self.policies
            .values()
            .find(|policy| policy.spec.name == name)
            .map(|policy| policy.id)
    }

    fn live_role(&self, name: &str) -> Result<&Role, String> {
        match self.roles.get(name) {
            Some(role) if role.active => Ok(role),
            _ => Err(format!("no role named {name:?}")),
        }
    }

    fn live_document(&self, name: &str) -> Result<&Document, String> {
        match self.documents.get(name) {
            Some(document) => Ok(document),
            None => Err(format!("no document named {name:?}")),
        }
    }

    fn all_members(&self, names: &[String]) -> Result<(), String> {
        match names.iter().find(|name| !self.is_member(name)) {
            Some(name) => Err(format!("{name} is not a member")),
            None => Ok(()),
        }
    }

    /// Whether `action` can be executed now, and why not.
    pub fn check_constitution(&self, action: &ConstitutionAction) -> Result<(), String> {
        use ConstitutionAction::*;
        match action {
            AddPolicy(spec) => {
                if self.policy_id(&spec.name).is_some() {
                    return Err(format!("a policy named {:?} exists", spec.name));
                }
                Ok(())
            }
            ChangePolicy { policy, name, .. } => {
                self.active_policy(policy)?;
                if let Some(name) = name {
                    if name != policy && self.policy_id(name).is_some() {
                        return Err(format!("a policy named {name:?} exists"));
                    }
                }
                Ok(())
            }
            RemovePolicy { policy } => match self.active_policy(policy)? {
                found if !found.active => Err(format!("policy {policy:?} is already removed")),
                _ => Ok(()),
            },
            RecoverPolicy { policy } => match self.active_policy(policy)? {
                found if found.active => Err(format!("policy {policy:?} is active")),
                _ => Ok(()),
            },
            AddRole { role, .. } => match self.roles.get(role) {
                Some(found) if found.active => Err(format!("a role named {role:?} exists")),
                _ => Ok(()),
            },
            EditRole { role, name, .. } => {
                self.live_role(role)?;
                if let Some(name) = name {
                    if role == EVERYONE && name != EVERYONE {
                        return Err("the base role everyone cannot be renamed".into());
                    }
                    if name != role && self.roles.contains_key(name) {
                        return Err(format!("a role named {name:?} exists"));
                    }
                }
                Ok(())
            }
            DeleteRole { role } => {
                if role == EVERYONE {
                    return Err("the base role everyone cannot be deleted".into());
                }
                self.live_role(role).map(|_| ())
            }
            GrantRole { role, members } | SetRoleMembers { role, members } => {
                if role == EVERYONE {
                    return Err("everyone holds every member; its members cannot be set".into());
                }
                self.live_role(role)?;
                self.all_members(members)
            }
            RevokeRole { role, .. } => {
                if role == EVERYONE {
                    return Err("members cannot be revoked from everyone".into());
                }
                self.live_role(role).map(|_| ())
            }
            AddDocument { name, .. } => match self.documents.get(name) {
                Some(_) => Err(format!("a document named {name:?} exists")),
                None => Ok(()),
            },
            EditDocument { document, name, .. } => {
                let found = self.live_document(document)?;
                if !found.active {
                    return Err(format!("document {document:?} is deleted"));
                }
                if let Some(name) = name {
                    if name != document && self.documents.contains_key(name) {
                        return Err(format!("a document named {name:?} exists"));
                    }
                }
                Ok(())
            }
            DeleteDocument { document } => match self.live_document(document)? {
                found if !found.active => Err(format!("document {document:?} is already deleted")),
                _ => Ok(()),
            },
            RecoverDocument { document } => match self.live_document(document)? {
                found if found.active => Err(format!("document {document:?} is not deleted")),
                _ => Ok(()),
            },
            AddMember { member, key } => {
                if self.is_member(member) {
                    return Err(format!("{member} is already a member"));
                }
                if let Some(key) = key {
                    if self
                        .key_owners
                        .get(key)
                        .is_some_and(|owner| owner != member)
                    {
                        return Err("that key is bound to another member".into());
                    }
                }
                if self.members.len() >= ostrom_schemas::limits::MEMBERS_MAX {
                    return Err("the community is at its member limit".into());
                }
                Ok(())
            }
            RemoveMember { member } => {
                if !self.is_member(member) {
                    return Err(format!("{member} is not a member"));
                }
                Ok(())
            }
            SetRecovery {
                trustees,
                threshold,
            } => {
                self.all_members(trustees)?;
                if *threshold < 1 || *threshold as usize > trustees.len() {
                    return Err("threshold must be between 1 and the number of trustees".into());
                }
                Ok(())
            }
            AddIntegration { platform, .. } => match self.integrations.contains_key(platform) {
                true => Err(format!("{platform} is already connected")),
                false => Ok(()),
            },
            RemoveIntegration { platform } => match self.integrations.contains_key(platform) {
                true => Ok(()),
                false => Err(format!("{platform} is not connected")),
            },
            RevertAction { action } => self.check_revert(*action),
            RollbackGovernance { target } => self.rollback_seq(target).map(|_| ()),
        }
    }

    /// Apply a constitution action that `check_constitution` accepted.
    pub fn execute_constitution(&mut self, action: &ConstitutionAction, origin: Origin) {
        use ConstitutionAction::*;
        if let Err(reason) = self.check_constitution(action) {
            panic!("executing an action that does not apply: {reason}");
        }
        match action {
            AddPolicy(spec) => {
                let id = PolicyId(self.next_policy_id);
                self.next_policy_id += 1;
                self.insert_policy(id, spec.clone(), origin);
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
                let id = self.policy_id(policy).expect("checked");
                let mut spec = self.policies[&id].spec.clone();
                if let Some(name) = name {
                    spec.name = name.clone();
                }
                if let Some(kind) = kind {
                    spec.kind = *kind;
                }
                if let Some(source) = source {
                    spec.source = source.clone();
                }
                if let Some(types) = action_types {
                    spec.action_types = types.clone();
                }
                if let Some(priority) = priority {
                    spec.priority = *priority;
                }
                if let Some(description) = description {
                    spec.description = description.clone();
                }
                let active = self.policies[&id].active;
                self.set_policy(id, spec, active, origin);
            }
            RemovePolicy { policy } | RecoverPolicy { policy } => {
                let id = self.policy_id(policy).expect("checked");
                let spec = self.policies[&id].spec.clone();
                self.set_policy(id, spec, matches!(action, RecoverPolicy { .. }), origin);
            }
            AddRole {
                role,
                description,
                permissions,
            } => {
                let versions = self
                    .roles
                    .remove(role)
                    .map(|old| old.versions)
                    .unwrap_or_default();
                let mut fresh = Role {
                    description: description.clone(),
                    permissions: permissions.clone(),
                    members: BTreeSet::new(),
                    active: true,
                    versions,
                };
                push_role_version(&mut fresh, role, origin);
                self.roles.insert(role.clone(), fresh);
            }
            EditRole {
                role,
                name,
                description,
                view,
                propose,
                execute,
            } => {
                let mut found = self.roles.remove(role).expect("checked");
                if let Some(description) = description {
                    found.description = description.clone();
                }
                let permissions = &mut found.permissions;
                for (slot, value) in [
                    (&mut permissions.view, view),
                    (&mut permissions.propose, propose),
                    (&mut permissions.execute, execute),
                ] {
                    if let Some(value) = value {
                        *slot = value.clone();
                    }
                }
                let name = name.clone().unwrap_or_else(|| role.clone());
                push_role_version(&mut found, &name, origin);
                self.roles.insert(name, found);
            }
            DeleteRole { role } => self.update_role(role, origin, |found| found.active = false),
            GrantRole { role, members } => self.update_role(role, origin, |found| {
                found.members.extend(members.iter().cloned());
            }),
            RevokeRole { role, members } => self.update_role(role, origin, |found| {
                for member in members {
                    found.members.remove(member);
                }
            }),
            SetRoleMembers { role, members } => self.update_role(role, origin, |found| {
                found.members = members.iter().cloned().collect();
            }),
            AddDocument { name, text } => {
                let mut document = Document {
                    text: text.clone(),
                    active: true,
                    versions: Vec::new(),
                };
                push_document_version(&mut document, name, origin);
                self.documents.insert(name.clone(), document);
            }
            EditDocument {
                document,
                name,
                text,
            } => {
                let mut found = self.documents.remove(document).expect("checked");
                if let Some(text) = text {
                    found.text = text.clone();
                }
                let name = name.clone().unwrap_or_else(|| document.clone());
                push_document_version(&mut found, &name, origin);
                self.documents.insert(name, found);
            }
            DeleteDocument { document } | RecoverDocument { document } => {
                let mut found = self.documents.remove(document).expect("checked");
                found.active = matches!(action, RecoverDocument { .. });
                push_document_version(&mut found, document, origin);
                self.documents.insert(document.clone(), found);
            }
            AddMember { member, key } => self.join(member, *key, origin.seq),
            RemoveMember { member } => self.leave(member),
            SetRecovery {
                trustees,
                threshold,
            } => {
                self.recovery = Recovery {
                    trustees: trustees.clone(),
                    threshold: *threshold,
                };
                self.recovery_history
                    .push((origin.seq, self.recovery.clone()));
            }
            AddIntegration { platform, settings } => {
                self.integrations.insert(platform.clone(), settings.clone());
            }
            RemoveIntegration { platform } => {
                self.integrations.remove(platform);
            }
            RevertAction { action } => self.revert(*action, origin),
            RollbackGovernance { target } => {
                let seq = self.rollback_seq(target).expect("checked");
                self.rollback_to(seq, origin);
            }
        }
    }

    pub(crate) fn insert_policy(
        &mut self,
        id: PolicyId,
        spec: ostrom_schemas::PolicySpec,
        origin: Origin,
    ) {
        let version = policy_version_hash(&spec);
        let policy = Policy {
            id,
            spec: spec.clone(),
            version,
            active: true,
            data: Default::default(),
            versions: vec![PolicyVersion {
                seq: origin.seq,
                by: origin.by,
                spec,
                version,
                active: true,
            }],
        };
        self.policies.insert(id, policy);
    }

    fn set_policy(
        &mut self,
        id: PolicyId,
        spec: ostrom_schemas::PolicySpec,
        active: bool,
        origin: Origin,
    ) {
        let policy = self.policies.get_mut(&id).expect("policy exists");
        policy.version = policy_version_hash(&spec);
        policy.spec = spec.clone();
        policy.active = active;
        policy.versions.push(PolicyVersion {
            seq: origin.seq,
            by: origin.by,
            spec,
            version: policy.version,
            active,
        });
    }

    fn update_role(&mut self, role: &str, origin: Origin, change: impl FnOnce(&mut Role)) {
        let found = self.roles.get_mut(role).expect("checked");
        change(found);
        push_role_version(found, role, origin);
    }

    pub(crate) fn join(&mut self, member: &str, key: Option<ostrom_schemas::PublicKey>, seq: u64) {
        let entry = self.members.entry(member.to_owned()).or_insert(Member {
            key: None,
            joined_seq: seq,
            active: true,
        });
        entry.active = true;
        entry.joined_seq = seq;
        if let Some(key) = key {
            if let Some(old) = entry.key.replace(key) {
                self.key_owners.remove(&old);
            }
            self.key_owners.insert(key, member.to_owned());
        }
    }

    pub(crate) fn leave(&mut self, member: &str) {
        if let Some(found) = self.members.get_mut(member) {
            found.active = false;
        }
    }

    // ---- revert and rollback -------------------------------------------------------------

    fn check_revert(&self, target: ActionId) -> Result<(), String> {
        let action = self
            .actions
            .get(&target)
            .ok_or_else(|| format!("no action {target}"))?;
        if !matches!(action.execution, crate::state::Execution::Executed { .. }) {
            return Err(format!("action {target} was not executed"));
        }
        if action.reverted_by.is_some() {
            return Err(format!("action {target} is already reverted"));
        }
        Ok(())
    }

    /// Undo a passed action: governance objects it changed go back to their version just
    /// before it executed (a later change to the same object is kept only where the action
    /// did not touch it). Platform actions are undone by their integration; the reducer
    /// only marks them.
    fn revert(&mut self, target: ActionId, origin: Origin) {
        let (executed_seq, option) = match self.actions[&target].execution {
            crate::state::Execution::Executed { seq, option } => (seq, option),
            _ => unreachable!("checked"),
        };
        self.restore_objects_changed_at(executed_seq, origin);
        // Members and integrations keep no version history, so what the action did to them
        // is read from the action itself.
        let spec = self.actions[&target].spec.clone();
        for part in executed_constitution(&spec, option) {
            match part {
                ConstitutionAction::RemoveMember { member } => {
                    if let Some(found) = self.members.get_mut(member) {
                        found.active = true;
                    }
                }
                ConstitutionAction::AddIntegration { platform, .. }
                | ConstitutionAction::RemoveIntegration { platform } => {
                    match self.integration_before(platform, executed_seq) {
                        Some(settings) => {
                            self.integrations.insert(platform.clone(), settings);
                        }
                        None => {
                            self.integrations.remove(platform);
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(action) = self.actions.get_mut(&target) {
            action.reverted_by = origin.by;
        }
    }

    /// A platform's integration settings as the last executed action before `seq` left
    /// them (none: not connected).
    fn integration_before(&self, platform: &str, seq: u64) -> Option<ostrom_schemas::Params> {
        let mut latest: Option<(u64, Option<ostrom_schemas::Params>)> = None;
        for action in self.actions.values() {
            let crate::state::Execution::Executed {
                seq: executed,
                option,
            } = action.execution
            else {
                continue;
            };
            if executed >= seq || latest.as_ref().is_some_and(|(at, _)| *at > executed) {
                continue;
            }
            for part in executed_constitution(&action.spec, option) {
                match part {
                    ConstitutionAction::AddIntegration {
                        platform: named,
                        settings,
                    } if named == platform => latest = Some((executed, Some(settings.clone()))),
                    ConstitutionAction::RemoveIntegration { platform: named }
                        if named == platform =>
                    {
                        latest = Some((executed, None))
                    }
                    _ => {}
                }
            }
        }
        latest.and_then(|(_, settings)| settings)
    }

    fn rollback_seq(&self, target: &RollbackTarget) -> Result<u64, String> {
        match target {
            RollbackTarget::ToSeq(seq) => {
                if *seq >= self.position.next_seq {
                    return Err(format!("seq {seq} is not in the log yet"));
                }
                if *seq == 0 {
                    return Err("cannot roll back to before the community was founded".into());
                }
                Ok(*seq)
            }
            RollbackTarget::Before(action) => {
                match self.actions.get(action).map(|found| &found.execution) {
                    Some(crate::state::Execution::Executed { seq, .. }) => Ok(*seq),
                    Some(_) => Err(format!("action {action} was never executed")),
                    None => Err(format!("no action {action}")),
                }
            }
        }
    }

    /// Governance objects changed exactly at `seq` go back to their version before it.
    fn restore_objects_changed_at(&mut self, seq: u64, origin: Origin) {
        let policy_ids: Vec<PolicyId> = self
            .policies
            .values()
            .filter(|policy| policy.versions.iter().any(|version| version.seq == seq))
            .map(|policy| policy.id)
            .collect();
        for id in policy_ids {
            self.restore_policy(id, seq, origin);
        }
        let roles: Vec<String> = self
            .roles
            .iter()
            .filter(|(_, role)| role.versions.iter().any(|version| version.seq == seq))
            .map(|(name, _)| name.clone())
            .collect();
        for name in roles {
            self.restore_role(&name, seq, origin);
        }
        let documents: Vec<String> = self
            .documents
            .iter()
            .filter(|(_, document)| document.versions.iter().any(|version| version.seq == seq))
            .map(|(name, _)| name.clone())
            .collect();
        for name in documents {
            self.restore_document(&name, seq, origin);
        }
        if self.recovery_history.iter().any(|(at, _)| *at == seq) {
            self.restore_recovery(seq, origin);
        }
        let members: Vec<String> = self
            .members
            .iter()
            .filter(|(_, member)| member.joined_seq == seq)
            .map(|(name, _)| name.clone())
            .collect();
        for name in members {
            self.leave(&name);
        }
    }

    /// Policies, roles, documents, permissions and trustees as they were just before `seq`.
    pub fn rollback_to(&mut self, seq: u64, origin: Origin) {
        let ids: Vec<PolicyId> = self.policies.keys().copied().collect();
        for id in ids {
            self.restore_policy(id, seq, origin);
        }
        let roles: Vec<String> = self.roles.keys().cloned().collect();
        for name in roles {
            self.restore_role(&name, seq, origin);
        }
        let documents: Vec<String> = self.documents.keys().cloned().collect();
        for name in documents {
            self.restore_document(&name, seq, origin);
        }
        self.restore_recovery(seq, origin);
    }

    fn restore_policy(&mut self, id: PolicyId, before: u64, origin: Origin) {
        let policy = &self.policies[&id];
        let previous = policy
            .versions
            .iter()
            .rev()
            .find(|version| version.seq < before)
            .cloned();
        match previous {
            Some(version)
                if version.version == policy.version && version.active == policy.active => {}
            Some(version) => self.set_policy(id, version.spec, version.active, origin),
            None if policy.active => {
                let spec = policy.spec.clone();
                self.set_policy(id, spec, false, origin);
            }
            None => {}
        }
    }

    fn restore_role(&mut self, name: &str, before: u64, origin: Origin) {
        let role = &self.roles[name];
        let previous = role
            .versions
            .iter()
            .rev()
            .find(|version| version.seq < before)
            .cloned();
        let mut role = self.roles.remove(name).expect("listed");
        match previous {
            Some(version) => {
                if version.description == role.description
                    && version.permissions == role.permissions
                    && version.members == role.members
                    && version.active == role.active
                    && version.name == name
                {
                    self.roles.insert(name.to_owned(), role);
                    return;
                }
                role.description = version.description;
                role.permissions = version.permissions;
                role.members = version.members;
                role.active = version.active;
                push_role_version(&mut role, &version.name, origin);
                self.roles.insert(version.name, role);
            }
            None => {
                if role.active {
                    role.active = false;
                    push_role_version(&mut role, name, origin);
                }
                self.roles.insert(name.to_owned(), role);
            }
        }
    }

    fn restore_document(&mut self, name: &str, before: u64, origin: Origin) {
        let mut document = self.documents.remove(name).expect("listed");
        let previous = document
            .versions
            .iter()
            .rev()
            .find(|version| version.seq < before)
            .cloned();
        match previous {
            Some(version) => {
                if version.text == document.text
                    && version.active == document.active
                    && version.name == name
                {
                    self.documents.insert(name.to_owned(), document);
                    return;
                }
                document.text = version.text;
                document.active = version.active;
                push_document_version(&mut document, &version.name, origin);
                self.documents.insert(version.name, document);
            }
            None => {
                if document.active {
                    document.active = false;
                    push_document_version(&mut document, name, origin);
                }
                self.documents.insert(name.to_owned(), document);
            }
        }
    }

    fn restore_recovery(&mut self, before: u64, origin: Origin) {
        let previous = self
            .recovery_history
            .iter()
            .rev()
            .find(|(seq, _)| *seq < before)
            .map(|(_, recovery)| recovery.clone())
            .unwrap_or_default();
        if previous != self.recovery {
            self.recovery = previous;
            self.recovery_history
                .push((origin.seq, self.recovery.clone()));
        }
    }

    /// Replace policies and roles with a starter kit's (a governance restart). Members and
    /// documents stay; every old policy is deactivated and kept in history.
    pub fn restart(
        &mut self,
        roles: &[ostrom_schemas::RoleSpec],
        policies: &[ostrom_schemas::PolicySpec],
        origin: Origin,
    ) {
        let ids: Vec<PolicyId> = self.policies.keys().copied().collect();
        for id in ids {
            if self.policies[&id].active {
                let spec = self.policies[&id].spec.clone();
                self.set_policy(id, spec, false, origin);
            }
        }
        for spec in policies {
            match self.policy_id(&spec.name) {
                Some(id) => self.set_policy(id, spec.clone(), true, origin),
                None => {
                    let id = PolicyId(self.next_policy_id);
                    self.next_policy_id += 1;
                    self.insert_policy(id, spec.clone(), origin);
                }
            }
        }
        let names: Vec<String> = self.roles.keys().cloned().collect();
        for name in names {
            if !roles.iter().any(|spec| spec.name == name) && self.roles[&name].active {
                self.update_role(&name, origin, |found| found.active = false);
            }
        }
        for spec in roles {
            self.install_role(spec, origin);
        }
    }

    pub(crate) fn install_role(&mut self, spec: &ostrom_schemas::RoleSpec, origin: Origin) {
        let versions = self
            .roles
            .remove(&spec.name)
            .map(|old| old.versions)
            .unwrap_or_default();
        let mut role = Role {
            description: spec.description.clone(),
            permissions: spec.permissions.clone(),
            members: spec.members.iter().cloned().collect(),
            active: true,
            versions,
        };
        push_role_version(&mut role, &spec.name, origin);
        self.roles.insert(spec.name.clone(), role);
    }
}

fn push_role_version(role: &mut Role, name: &str, origin: Origin) {
    role.versions.push(RoleVersion {
        seq: origin.seq,
        by: origin.by,
        name: name.to_owned(),
        description: role.description.clone(),
        permissions: role.permissions.clone(),
        members: role.members.clone(),
        active: role.active,
    });
}

fn push_document_version(document: &mut Document, name: &str, origin: Origin) {
    document.versions.push(DocumentVersion {
        seq: origin.seq,
        by: origin.by,
        name: name.to_owned(),
        text: document.text.clone(),
        active: document.active,
    });
}

/// The constitution actions an executed action consisted of: itself, an election's executed
/// option, or every part of a combination.
fn executed_constitution(spec: &ActionSpec, option: Option<u64>) -> Vec<&ConstitutionAction> {
    fn plain(action: &PlainAction) -> Option<&ConstitutionAction> {
        match action {
            PlainAction::Constitution(constitution) => Some(constitution),
            PlainAction::Platform(_) => None,
        }
    }
    match spec {
        ActionSpec::Constitution(constitution) => vec![constitution],
        ActionSpec::Platform(_) => Vec::new(),
        // As the engine executes it: no option recorded means the first.
        ActionSpec::Election { options } => options
            .get(option.unwrap_or(0) as usize)
            .and_then(plain)
            .into_iter()
            .collect(),
        ActionSpec::Combination { actions } => actions.iter().filter_map(plain).collect(),
    }
}
