//! Policy slicing: for each (action, resource kind) the subset of policies whose scope can
//! match it. Cedar evaluates every policy of the set it is given, and building each policy's
//! condition costs about a microsecond, so evaluating the handful of candidates instead of
//! all of them is what keeps a decision within budget.
//!
//! Slicing never changes a decision: a left-out policy's scope cannot match the request, so it
//! could neither permit nor forbid nor error. When a slice is missing, the full set is used.

use std::collections::HashSet;

use cedar_policy::{
    ActionConstraint, EntityTypeName, EntityUid, Policy, PolicySet, ResourceConstraint, Schema,
};
use heddle_types::{Action, Resource};

use crate::entities::EntityCatalog;

const RESOURCE_KINDS: usize = 6;

const fn resource_kind_index(resource: &Resource) -> usize {
    match resource {
        Resource::Tenant(_) => 0,
        Resource::User { .. } => 1,
        Resource::ApiKey { .. } => 2,
        Resource::Secret { .. } => 3,
        Resource::Capability(_) => 4,
        Resource::Route { .. } => 5,
    }
}

/// What a slice is keyed by, resolved to Cedar names once.
#[derive(Debug, Clone)]
pub(crate) struct SliceKeys {
    /// Per action (indexed like `Action::ALL`): the action and its ancestor action groups.
    actions: Vec<HashSet<EntityUid>>,
    /// Indexed like `resource_kind_index`.
    resource_types: Vec<EntityTypeName>,
}

impl SliceKeys {
    pub(crate) fn new(catalog: &EntityCatalog, schema: &Schema) -> Result<Self, String> {
        let action_entities = schema
            .action_entities()
            .map_err(|error| format!("schema actions: {error}"))?;
        let mut actions = Vec::with_capacity(Action::ALL.len());
        for action in Action::ALL {
            let uid = catalog
                .action_uid(action)
                .ok_or_else(|| format!("action `{action}` has no cedar entity"))?;
            let mut uids: HashSet<EntityUid> = action_entities
                .ancestors(uid)
                .map(|ancestors| ancestors.cloned().collect())
                .unwrap_or_default();
            uids.insert(uid.clone());
            actions.push(uids);
        }
        Ok(Self {
            actions,
            resource_types: catalog.resource_type_names().to_vec(),
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PolicyIndex {
    all: PolicySet,
    /// Indexed by `action index * RESOURCE_KINDS + resource kind index`.
    slices: Vec<PolicySet>,
}

impl PolicyIndex {
    pub(crate) fn new(all: PolicySet, keys: &SliceKeys) -> Result<Self, String> {
        let mut slices = Vec::with_capacity(keys.actions.len() * RESOURCE_KINDS);
        for action_uids in &keys.actions {
            for resource_type in &keys.resource_types {
                let mut slice = PolicySet::new();
                for policy in all.policies() {
                    if may_match(policy, action_uids, resource_type) {
                        slice
                            .add(policy.clone())
                            .map_err(|error| format!("policy `{}`: {error}", policy.id()))?;
                    }
                }
                slices.push(slice);
            }
        }
        Ok(Self { all, slices })
    }

    pub(crate) fn all(&self) -> &PolicySet {
        &self.all
    }

    /// The policies that can apply to `action` on `resource`.
    pub(crate) fn slice(&self, action: Action, resource: &Resource) -> &PolicySet {
        Action::ALL
            .iter()
            .position(|candidate| *candidate == action)
            .and_then(|index| {
                self.slices
                    .get(index * RESOURCE_KINDS + resource_kind_index(resource))
            })
            .unwrap_or(&self.all)
    }
}

/// Whether the policy's action and resource scope could match. Conservative: anything not
/// ruled out by the scope is kept.
fn may_match(
    policy: &Policy,
    action_uids: &HashSet<EntityUid>,
    resource_type: &EntityTypeName,
) -> bool {
    let action_matches = match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => action_uids.contains(&uid),
        ActionConstraint::In(uids) => uids.iter().any(|uid| action_uids.contains(uid)),
    };
    let resource_matches = match policy.resource_constraint() {
        ResourceConstraint::Any | ResourceConstraint::In(_) => true,
        ResourceConstraint::Eq(uid) => uid.type_name() == resource_type,
        ResourceConstraint::Is(type_name) | ResourceConstraint::IsIn(type_name, _) => {
            &type_name == resource_type
        }
    };
    action_matches && resource_matches
}
