//! Each tenant's Ed25519 key for signing audit checkpoints, kept sealed in the vault.

use heddle_crypto::{ExposeSecret, PublicKey, SigningKey};
use heddle_store::StoredSigningKey;
use heddle_types::TenantId;

use crate::{Sealed, TENANT_SCOPE, Vault, VaultError};

const PURPOSE: &str = "audit-signing-key";

/// A tenant's signing key, unsealed for the length of one checkpoint.
#[derive(Debug)]
pub struct CheckpointSigner {
    pub key: SigningKey,
}

impl Vault {
    /// The tenant's checkpoint signing key, made and sealed on first use.
    pub async fn checkpoint_signer(
        &self,
        tenant_id: TenantId,
    ) -> Result<CheckpointSigner, VaultError> {
        let store = &self.inner.store;
        if let Some(stored) = store.current_signing_key(tenant_id).await? {
            let sealed = Sealed {
                data_key_version: stored.data_key_version,
                ciphertext: stored.sealed_private_key.clone().ok_or_else(|| {
                    VaultError::Shredded {
                        tenant_id,
                        scope: TENANT_SCOPE.to_owned(),
                    }
                })?,
            };
            let seed = self
                .open(tenant_id, TENANT_SCOPE, PURPOSE, &stored.key_id, &sealed)
                .await?;
            let key = SigningKey::from_seed(seed.expose_secret())?;
            return Ok(CheckpointSigner { key });
        }
        let key = SigningKey::generate()?;
        let public = key.public_key();
        let key_id = public.key_id();
        let sealed = self
            .seal(
                tenant_id,
                TENANT_SCOPE,
                PURPOSE,
                &key_id,
                key.to_bytes().as_slice(),
            )
            .await?;
        store
            .insert_signing_key(StoredSigningKey {
                tenant_id,
                key_id,
                public_key: public.as_bytes().to_vec(),
                sealed_private_key: Some(sealed.ciphertext),
                data_key_version: sealed.data_key_version,
                created_at: self.inner.clock.now(),
            })
            .await?;
        Ok(CheckpointSigner { key })
    }

    /// Every public key the tenant's checkpoints were ever signed with.
    pub async fn checkpoint_public_keys(
        &self,
        tenant_id: TenantId,
    ) -> Result<Vec<PublicKey>, VaultError> {
        let mut keys = Vec::new();
        for stored in self.inner.store.list_signing_keys(tenant_id).await? {
            keys.push(PublicKey::from_bytes(&stored.public_key)?);
        }
        Ok(keys)
    }
}
