//! The vault against a real (SQLite) store: sealing, context binding, shredding, master-key
//! rotation and checkpoint signing keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking; helpers share that contract"
)]

use std::sync::Arc;

use heddle_crypto::{ExposeSecret, MasterKey};
use heddle_store::{NewAuditEvent, SharedStore};
use heddle_types::{SystemClock, TenantId};
use heddle_vault::{TENANT_SCOPE, Vault, VaultError};

struct Fixture {
    store: SharedStore,
    tenant: TenantId,
    other: TenantId,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("v.db").display());
    let store = heddle_store::connect(&url).await.unwrap();
    let mut ids = Vec::new();
    for slug in ["acme", "globex"] {
        let id = TenantId::new();
        store
            .create_tenant(
                heddle_store::NewTenant {
                    id,
                    slug: slug.to_owned(),
                    name: slug.to_owned(),
                    operator: false,
                    created_at: time::OffsetDateTime::now_utc(),
                },
                audit(id),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    Fixture {
        store,
        tenant: ids[0],
        other: ids[1],
        _dir: dir,
    }
}

fn audit(tenant_id: TenantId) -> NewAuditEvent {
    NewAuditEvent {
        tenant_id,
        canonical: b"{}".to_vec(),
        occurred_at: time::OffsetDateTime::now_utc(),
        action: "test".to_owned(),
        actor_kind: "system".to_owned(),
        actor_id: None,
        outcome: "success".to_owned(),
    }
}

fn vault(store: &SharedStore, current: &MasterKey, previous: &[&MasterKey]) -> Vault {
    let copy = |key: &MasterKey| MasterKey::from_encoded(&key.to_encoded()).unwrap();
    Vault::new(
        store.clone(),
        copy(current),
        previous.iter().map(|key| copy(key)).collect(),
        Arc::new(SystemClock),
    )
}

#[tokio::test]
async fn sealed_data_opens_only_in_its_own_context() {
    let f = fixture().await;
    let kek = MasterKey::generate().unwrap();
    let vault = vault(&f.store, &kek, &[]);
    let sealed = vault
        .seal(
            f.tenant,
            TENANT_SCOPE,
            "secret",
            "sec-1:v1",
            b"canary-value",
        )
        .await
        .unwrap();
    assert!(
        !sealed
            .ciphertext
            .windows(b"canary-value".len())
            .any(|w| w == b"canary-value")
    );
    let opened = vault
        .open(f.tenant, TENANT_SCOPE, "secret", "sec-1:v1", &sealed)
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), b"canary-value");
    // Moved to another row, another purpose or another tenant: it does not open.
    for (tenant, purpose, context) in [
        (f.tenant, "secret", "sec-2:v1"),
        (f.tenant, "audit-payload", "sec-1:v1"),
        (f.other, "secret", "sec-1:v1"),
    ] {
        assert!(
            vault
                .open(tenant, TENANT_SCOPE, purpose, context, &sealed)
                .await
                .is_err(),
            "{tenant} {purpose} {context}"
        );
    }
}

#[tokio::test]
async fn one_data_key_per_tenant_even_when_processes_race() {
    let f = fixture().await;
    let kek = MasterKey::generate().unwrap();
    let first = vault(&f.store, &kek, &[]);
    let second = vault(&f.store, &kek, &[]);
    let (a, b) = tokio::join!(
        first.seal(f.tenant, TENANT_SCOPE, "p", "c", b"one"),
        second.seal(f.tenant, TENANT_SCOPE, "p", "c", b"two"),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.data_key_version, 1);
    assert_eq!(b.data_key_version, 1);
    // Each process can open what the other sealed: they share the one key.
    assert_eq!(
        second
            .open(f.tenant, TENANT_SCOPE, "p", "c", &a)
            .await
            .unwrap()
            .expose_secret(),
        b"one"
    );
    assert_eq!(
        first
            .open(f.tenant, TENANT_SCOPE, "p", "c", &b)
            .await
            .unwrap()
            .expose_secret(),
        b"two"
    );
}

#[tokio::test]
async fn shredding_makes_sealed_data_unreadable_for_good() {
    let f = fixture().await;
    let kek = MasterKey::generate().unwrap();
    let vault = vault(&f.store, &kek, &[]);
    let subject = "subject:contact-42";
    let sealed = vault
        .seal(f.tenant, subject, "p", "c", b"personal")
        .await
        .unwrap();
    let kept = vault
        .seal(f.tenant, TENANT_SCOPE, "p", "c", b"other data")
        .await
        .unwrap();
    assert_eq!(
        vault
            .destroy_scope(f.tenant, subject, audit(f.tenant))
            .await
            .unwrap(),
        1
    );
    let err = vault
        .open(f.tenant, subject, "p", "c", &sealed)
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Shredded { .. }), "{err}");
    // Other scopes are untouched.
    assert!(
        vault
            .open(f.tenant, TENANT_SCOPE, "p", "c", &kept)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn master_key_rotation_rewraps_and_then_the_old_key_is_refused() {
    let f = fixture().await;
    let old = MasterKey::generate().unwrap();
    let new = MasterKey::generate().unwrap();
    let before = vault(&f.store, &old, &[]);
    let sealed = before
        .seal(f.tenant, TENANT_SCOPE, "p", "c", b"keep me")
        .await
        .unwrap();
    before
        .seal(f.other, TENANT_SCOPE, "p", "c", b"x")
        .await
        .unwrap();

    // During rotation: new key current, old one still accepted.
    let rotating = vault(&f.store, &new, &[&old]);
    assert_eq!(rotating.rewrap_all().await.unwrap(), 2);
    assert_eq!(rotating.rewrap_all().await.unwrap(), 0, "idempotent");

    // After: only the new key; data still opens.
    let after = vault(&f.store, &new, &[]);
    let opened = after
        .open(f.tenant, TENANT_SCOPE, "p", "c", &sealed)
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), b"keep me");
    // The old key alone no longer opens anything.
    let stale = vault(&f.store, &old, &[]);
    let err = stale
        .open(f.tenant, TENANT_SCOPE, "p", "c", &sealed)
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::UnknownMasterKey { .. }), "{err}");
    assert!(!err.to_string().contains(&*old.to_encoded()));
}

#[tokio::test]
async fn checkpoint_signer_is_made_once_and_sealed() {
    let f = fixture().await;
    let kek = MasterKey::generate().unwrap();
    let vault = vault(&f.store, &kek, &[]);
    let first = vault.checkpoint_signer(f.tenant).await.unwrap();
    let again = vault.checkpoint_signer(f.tenant).await.unwrap();
    assert_eq!(first.key.public_key(), again.key.public_key());
    let public = vault.checkpoint_public_keys(f.tenant).await.unwrap();
    assert_eq!(public, vec![first.key.public_key()]);
    let signature = again.key.sign(b"checkpoint");
    assert!(public[0].verify(b"checkpoint", &signature));
    // Shredding the tenant key retires signing but keeps verification possible.
    vault
        .destroy_scope(f.tenant, TENANT_SCOPE, audit(f.tenant))
        .await
        .unwrap();
    assert!(vault.checkpoint_signer(f.tenant).await.is_err());
    let public = vault.checkpoint_public_keys(f.tenant).await.unwrap();
    assert!(public[0].verify(b"checkpoint", &signature));
}

#[tokio::test]
async fn a_scope_handle_seals_and_opens_like_the_vault_and_honours_earlier_shredding() {
    let f = fixture().await;
    let kek = MasterKey::generate().unwrap();
    let vault = vault(&f.store, &kek, &[]);
    let scope = "session:s-1";
    let keys = vault.scope_keys(f.tenant, scope);
    let first = keys.seal("p", "c-1", b"one").await.unwrap();
    let second = keys.seal("p", "c-2", b"two").await.unwrap();
    assert_eq!(first.data_key_version, second.data_key_version);
    // Interchangeable with the vault's own calls, in both directions.
    let opened = vault
        .open(f.tenant, scope, "p", "c-1", &first)
        .await
        .unwrap();
    assert_eq!(opened.expose_secret(), b"one");
    let by_vault = vault
        .seal(f.tenant, scope, "p", "c-3", b"three")
        .await
        .unwrap();
    assert_eq!(
        keys.open("p", "c-3", &by_vault)
            .await
            .unwrap()
            .expose_secret(),
        b"three"
    );
    // The context still binds.
    assert!(keys.open("p", "c-2", &first).await.is_err());
    assert!(keys.open("other", "c-1", &first).await.is_err());
    // Another tenant's handle on the same scope name does not open it.
    let theirs = vault.scope_keys(f.other, scope);
    assert!(theirs.open("p", "c-1", &first).await.is_err());

    // Shredded before a handle exists: nothing opens through a new handle.
    vault
        .destroy_scope(f.tenant, scope, audit(f.tenant))
        .await
        .unwrap();
    let fresh = vault.scope_keys(f.tenant, scope);
    let err = fresh.open("p", "c-2", &second).await.unwrap_err();
    assert!(matches!(err, VaultError::Shredded { .. }), "{err}");
}
