//! Configuration versions as the runtime uses them: a stored snapshot read back into a
//! [`ConfigSet`] once and kept, since a version never changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use heddle_agents::ConfigSet;
use heddle_store::SharedStore;
use heddle_types::{Environment, TenantId};

use crate::{RuntimeError, RuntimeResult};

/// Versions are immutable, so entries never go stale; the cap only bounds memory.
const MAX_CACHED: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct ConfigCache {
    sets: Mutex<HashMap<(TenantId, Environment, i64), Arc<ConfigSet>>>,
}

impl ConfigCache {
    /// One version (the latest when `version` is `None`) and its number.
    pub(crate) async fn load(
        &self,
        store: &SharedStore,
        tenant_id: TenantId,
        environment: Environment,
        version: Option<i64>,
    ) -> RuntimeResult<(i64, Arc<ConfigSet>)> {
        if let Some(version) = version
            && let Some(set) = self.cached(tenant_id, environment, version)
        {
            return Ok((version, set));
        }
        let snapshot = store
            .get_config_snapshot(tenant_id, environment, version)
            .await?
            .ok_or_else(|| match version {
                None => RuntimeError::Refused(format!(
                    "no agent configuration is applied to `{environment}`; apply one with \
                     `heddle apply -f DIR --env {environment}`"
                )),
                Some(version) => RuntimeError::NotFound {
                    entity: "configuration version",
                    id: format!("{environment}/{version}"),
                },
            })?;
        if let Some(set) = self.cached(tenant_id, environment, snapshot.version) {
            return Ok((snapshot.version, set));
        }
        let set = ConfigSet::from_canonical(snapshot.documents, &snapshot.content_hash).map_err(
            |reason| {
                RuntimeError::Unavailable(format!(
                    "configuration version {environment}/{} cannot be used: {reason}",
                    snapshot.version
                ))
            },
        )?;
        let set = Arc::new(set);
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        if sets.len() >= MAX_CACHED {
            sets.clear();
        }
        sets.insert((tenant_id, environment, snapshot.version), Arc::clone(&set));
        Ok((snapshot.version, set))
    }

    fn cached(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        version: i64,
    ) -> Option<Arc<ConfigSet>> {
        self.sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant_id, environment, version))
            .cloned()
    }
}
