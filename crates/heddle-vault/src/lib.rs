//! Heddle's vault: envelope encryption under a master key.
//!
//! The master key (KEK) wraps one data key per tenant and scope (`tenant`, or
//! `subject:<id>` for a data subject); data keys seal payloads with AES-256-GCM and
//! associated data that binds each ciphertext to its tenant, scope, key version and purpose,
//! so a ciphertext moved to another row or tenant fails to open. Destroying a scope's data key
//! (crypto-shredding) makes everything sealed under it unreadable for good.
//!
//! Invariants: plaintext keys exist only in memory, zeroized on drop, `Debug` redacted; the
//! store only ever sees wrapped or sealed bytes; errors never contain key material.

mod master;
mod signing;

use std::sync::Arc;

use heddle_crypto::{CryptoError, DataKey, MasterKey, SecretBytes};
use heddle_store::{SharedStore, StoreError, StoredDataKey};
use heddle_types::{Clock, TenantId};

pub use master::{MasterKeyLoadError, MasterKeySource, load_master_key};
pub use signing::CheckpointSigner;

/// The scope of a tenant's own data key.
pub const TENANT_SCOPE: &str = "tenant";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "the data key for tenant `{tenant_id}` scope `{scope}` was destroyed; data sealed under it cannot be read"
    )]
    Shredded { tenant_id: TenantId, scope: String },
    #[error(
        "data key version {version} of tenant `{tenant_id}` is wrapped by master key `{master_key_id}`, \
         which this process does not have; configure it as the current or previous master key"
    )]
    UnknownMasterKey {
        tenant_id: TenantId,
        version: u32,
        master_key_id: String,
    },
    #[error("sealed data does not open: wrong key, wrong context, or altered ciphertext")]
    Unsealable,
    #[error("cryptography error: {0}")]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The vault service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: SharedStore,
    current: MasterKey,
    /// Keys from before a rotation, still accepted for unwrapping until rewrapped.
    previous: Vec<MasterKey>,
    clock: Arc<dyn Clock>,
}

/// A payload sealed under a tenant data key, with the version needed to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub data_key_version: u32,
    pub ciphertext: Vec<u8>,
}

impl Vault {
    pub fn new(
        store: SharedStore,
        current: MasterKey,
        previous: Vec<MasterKey>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                current,
                previous,
                clock,
            }),
        }
    }

    /// Which master key new data keys are wrapped with.
    pub fn master_key_id(&self) -> String {
        self.inner.current.key_id()
    }

    /// Seals `plaintext` under the scope's current data key (made on first use). `purpose`
    /// and `context` go into the associated data: the same bytes must be given to open it.
    pub async fn seal(
        &self,
        tenant_id: TenantId,
        scope: &str,
        purpose: &str,
        context: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, VaultError> {
        let (version, key) = self.current_data_key(tenant_id, scope).await?;
        let aad = payload_aad(tenant_id, scope, version, purpose, context);
        Ok(Sealed {
            data_key_version: version,
            ciphertext: key.encrypt(plaintext, &aad)?,
        })
    }

    /// Opens what [`Vault::seal`] sealed, given the same tenant, scope, purpose and context.
    pub async fn open(
        &self,
        tenant_id: TenantId,
        scope: &str,
        purpose: &str,
        context: &str,
        sealed: &Sealed,
    ) -> Result<SecretBytes, VaultError> {
        let stored = self
            .inner
            .store
            .get_data_key(tenant_id, scope, sealed.data_key_version)
            .await?
            .ok_or_else(|| VaultError::Shredded {
                tenant_id,
                scope: scope.to_owned(),
            })?;
        let key = self.unwrap(&stored)?;
        let aad = payload_aad(tenant_id, scope, sealed.data_key_version, purpose, context);
        key.decrypt(&sealed.ciphertext, &aad)
            .map_err(|_| VaultError::Unsealable)
    }

    /// A handle on one scope's data keys for a short unit of work (one agent turn): each key
    /// version is looked up and unwrapped once, however many payloads are sealed or opened.
    /// Keep it no longer than that work — a scope shredded meanwhile stays usable through
    /// this handle until it is dropped.
    pub fn scope_keys(&self, tenant_id: TenantId, scope: &str) -> ScopeKeys {
        ScopeKeys {
            vault: self.clone(),
            tenant_id,
            scope: scope.to_owned(),
            keys: std::sync::Mutex::new(std::collections::HashMap::new()),
            current: std::sync::Mutex::new(None),
        }
    }

    /// Crypto-shredding: destroys every version of a scope's data key.
    pub async fn destroy_scope(
        &self,
        tenant_id: TenantId,
        scope: &str,
        audit: heddle_store::NewAuditEvent,
    ) -> Result<u64, VaultError> {
        Ok(self
            .inner
            .store
            .destroy_data_keys(tenant_id, scope, self.inner.clock.now(), audit)
            .await?)
    }

    /// Re-wraps every live data key under the current master key (after the operator made a
    /// new key current and kept the old one as previous). Returns how many were re-wrapped.
    pub async fn rewrap_all(&self) -> Result<u64, VaultError> {
        let current_id = self.inner.current.key_id();
        let mut rewrapped = Vec::new();
        for stored in self.inner.store.list_live_data_keys().await? {
            if stored.master_key_id == current_id {
                continue;
            }
            let key = self.unwrap(&stored)?;
            let aad = data_key_aad(stored.tenant_id, &stored.scope, stored.version);
            rewrapped.push(StoredDataKey {
                wrapped: Some(self.inner.current.wrap(&key, &aad)?),
                master_key_id: current_id.clone(),
                ..stored
            });
        }
        Ok(self.inner.store.rewrap_data_keys(rewrapped).await?)
    }

    /// The scope's newest data key, creating version 1 if there is none. Two processes
    /// racing to create it: the loser reads the winner's key.
    async fn current_data_key(
        &self,
        tenant_id: TenantId,
        scope: &str,
    ) -> Result<(u32, DataKey), VaultError> {
        let store = &self.inner.store;
        if let Some(stored) = store.current_data_key(tenant_id, scope).await? {
            return Ok((stored.version, self.unwrap(&stored)?));
        }
        let key = DataKey::generate()?;
        let version = 1;
        let inserted = store
            .insert_data_key(StoredDataKey {
                tenant_id,
                scope: scope.to_owned(),
                version,
                wrapped: Some(
                    self.inner
                        .current
                        .wrap(&key, &data_key_aad(tenant_id, scope, version))?,
                ),
                master_key_id: self.inner.current.key_id(),
                created_at: self.inner.clock.now(),
                destroyed_at: None,
            })
            .await;
        match inserted {
            Ok(()) => Ok((version, key)),
            Err(StoreError::Conflict { .. }) => {
                let stored = store
                    .current_data_key(tenant_id, scope)
                    .await?
                    .ok_or_else(|| VaultError::Shredded {
                        tenant_id,
                        scope: scope.to_owned(),
                    })?;
                Ok((stored.version, self.unwrap(&stored)?))
            }
            Err(other) => Err(other.into()),
        }
    }

    fn unwrap(&self, stored: &StoredDataKey) -> Result<DataKey, VaultError> {
        let wrapped = stored
            .wrapped
            .as_deref()
            .ok_or_else(|| VaultError::Shredded {
                tenant_id: stored.tenant_id,
                scope: stored.scope.clone(),
            })?;
        let master = std::iter::once(&self.inner.current)
            .chain(&self.inner.previous)
            .find(|key| key.key_id() == stored.master_key_id)
            .ok_or_else(|| VaultError::UnknownMasterKey {
                tenant_id: stored.tenant_id,
                version: stored.version,
                master_key_id: stored.master_key_id.clone(),
            })?;
        let aad = data_key_aad(stored.tenant_id, &stored.scope, stored.version);
        master
            .unwrap(wrapped, &aad)
            .map_err(|_| VaultError::Unsealable)
    }
}

/// Binds a wrapped data key to its tenant, scope and version.
fn data_key_aad(tenant_id: TenantId, scope: &str, version: u32) -> Vec<u8> {
    format!("heddle-data-key/v1\n{tenant_id}\n{scope}\n{version}").into_bytes()
}

/// Binds a sealed payload to its tenant, scope, key version, purpose and context (e.g. the
/// secret id and version), so it cannot be moved to another row or tenant.
fn payload_aad(
    tenant_id: TenantId,
    scope: &str,
    version: u32,
    purpose: &str,
    context: &str,
) -> Vec<u8> {
    format!("heddle-sealed/v1\n{tenant_id}\n{scope}\n{version}\n{purpose}\n{context}").into_bytes()
}

/// See [`Vault::scope_keys`].
pub struct ScopeKeys {
    vault: Vault,
    tenant_id: TenantId,
    scope: String,
    keys: std::sync::Mutex<std::collections::HashMap<u32, Arc<DataKey>>>,
    /// The version new payloads are sealed under, once known.
    current: std::sync::Mutex<Option<u32>>,
}

impl std::fmt::Debug for ScopeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeKeys")
            .field("tenant_id", &self.tenant_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ScopeKeys {
    fn cached(&self, version: u32) -> Option<Arc<DataKey>> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&version)
            .cloned()
    }

    fn remember(&self, version: u32, key: DataKey) -> Arc<DataKey> {
        let key = Arc::new(key);
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(version, Arc::clone(&key));
        key
    }

    /// [`Vault::seal`] under this scope.
    pub async fn seal(
        &self,
        purpose: &str,
        context: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, VaultError> {
        let known = *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (version, key) = match known.and_then(|v| self.cached(v).map(|k| (v, k))) {
            Some(found) => found,
            None => {
                let (version, key) = self
                    .vault
                    .current_data_key(self.tenant_id, &self.scope)
                    .await?;
                *self
                    .current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(version);
                (version, self.remember(version, key))
            }
        };
        let aad = payload_aad(self.tenant_id, &self.scope, version, purpose, context);
        Ok(Sealed {
            data_key_version: version,
            ciphertext: key.encrypt(plaintext, &aad)?,
        })
    }

    /// [`Vault::open`] under this scope.
    pub async fn open(
        &self,
        purpose: &str,
        context: &str,
        sealed: &Sealed,
    ) -> Result<SecretBytes, VaultError> {
        let version = sealed.data_key_version;
        let key = match self.cached(version) {
            Some(key) => key,
            None => {
                let stored = self
                    .vault
                    .inner
                    .store
                    .get_data_key(self.tenant_id, &self.scope, version)
                    .await?
                    .ok_or_else(|| VaultError::Shredded {
                        tenant_id: self.tenant_id,
                        scope: self.scope.clone(),
                    })?;
                self.remember(version, self.vault.unwrap(&stored)?)
            }
        };
        let aad = payload_aad(self.tenant_id, &self.scope, version, purpose, context);
        key.decrypt(&sealed.ciphertext, &aad)
            .map_err(|_| VaultError::Unsealable)
    }
}
