//! Secrets: credentials Heddle keeps for agents and connectors, sealed in the vault.
//!
//! A value is sealed under the tenant's data key with associated data naming the secret id and
//! version (`<id>:v<version>`), so a ciphertext moved to another row, another version or
//! another tenant does not open. After creation the API only ever shows metadata and a masked
//! form; plaintext exists in memory only inside a [`SecretString`] for the one call that needs
//! it. Audit events say who created, rotated or deleted which secret — never its value.
//!
//! Access is environment-scoped: the Cedar `Secret` resource carries its environment, and the
//! base policies keep builders out of `prod` (see `heddle-policy`).

use std::fmt;

use heddle_crypto::{CryptoError, ExposeSecret, SecretBytes, SecretString};
use heddle_store::{NewSecret, SealedSecret, SecretFilter, SecretRotation, StoreError};
use heddle_types::{
    Action, Environment, Page, PageRequest, Resource, Secret, SecretId, SecretKind, TenantId,
};
use heddle_vault::{Sealed, TENANT_SCOPE, VaultError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::{Operation, details};
use crate::{Actor, Caller, Identity, IdentityError, IdentityResult};

/// The vault purpose every secret value is sealed for.
const SEAL_PURPOSE: &str = "secret";
/// Longest secret name, in characters.
pub const MAX_SECRET_NAME_LEN: usize = 128;
/// Longest secret string (key, client secret, refresh token, password, custom value), in bytes.
pub const MAX_SECRET_VALUE_BYTES: usize = 16 * 1024;
/// Longest non-secret field (client id, user name, host, database), in characters.
pub const MAX_SECRET_FIELD_LEN: usize = 256;
/// Below this many characters not even the last four are shown: they would be too much of it.
const MIN_LEN_TO_SHOW_TAIL: usize = 12;

/// A secret's value, by kind. Every secret string is a [`SecretString`]; the other fields
/// (client id, user name, host, database) are not secret and appear in the masked form.
///
/// The serde form is the sealed plaintext (`{"api_key":{"key":"…"}}`): externally tagged, so
/// reading it back needs no intermediate copy, and strict about unknown fields.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretValue {
    ApiKey {
        key: SecretString,
    },
    OauthClient {
        client_id: String,
        client_secret: SecretString,
        #[serde(default)]
        refresh_token: Option<SecretString>,
    },
    DatabaseCredential {
        username: String,
        password: SecretString,
        #[serde(default)]
        host: Option<String>,
        #[serde(default)]
        database: Option<String>,
    },
    Custom {
        value: SecretString,
    },
}

/// The same shape as [`SecretValue`] borrowing its strings, for sealing: `SecretString` is
/// deliberately not `Serialize`.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum SealedForm<'a> {
    ApiKey {
        key: &'a str,
    },
    OauthClient {
        client_id: &'a str,
        client_secret: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh_token: Option<&'a str>,
    },
    DatabaseCredential {
        username: &'a str,
        password: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        database: Option<&'a str>,
    },
    Custom {
        value: &'a str,
    },
}

const REDACTED: &str = "[redacted]";

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted_if = |present: bool| present.then_some(REDACTED);
        match self {
            SecretValue::ApiKey { .. } => f.debug_struct("ApiKey").field("key", &REDACTED).finish(),
            SecretValue::OauthClient {
                client_id,
                refresh_token,
                ..
            } => f
                .debug_struct("OauthClient")
                .field("client_id", client_id)
                .field("client_secret", &REDACTED)
                .field("refresh_token", &redacted_if(refresh_token.is_some()))
                .finish(),
            SecretValue::DatabaseCredential {
                username,
                host,
                database,
                ..
            } => f
                .debug_struct("DatabaseCredential")
                .field("username", username)
                .field("password", &REDACTED)
                .field("host", host)
                .field("database", database)
                .finish(),
            SecretValue::Custom { .. } => {
                f.debug_struct("Custom").field("value", &REDACTED).finish()
            }
        }
    }
}

impl SecretValue {
    pub fn kind(&self) -> SecretKind {
        match self {
            SecretValue::ApiKey { .. } => SecretKind::ApiKey,
            SecretValue::OauthClient { .. } => SecretKind::OauthClient,
            SecretValue::DatabaseCredential { .. } => SecretKind::DatabaseCredential,
            SecretValue::Custom { .. } => SecretKind::Custom,
        }
    }

    /// The main secret string of the value: what the masked form shows the end of.
    pub fn primary(&self) -> &SecretString {
        match self {
            SecretValue::ApiKey { key } => key,
            SecretValue::OauthClient { client_secret, .. } => client_secret,
            SecretValue::DatabaseCredential { password, .. } => password,
            SecretValue::Custom { value } => value,
        }
    }

    /// Checks every field. Messages never contain a secret string, only what is wrong with it.
    fn validate(&self) -> IdentityResult<()> {
        match self {
            SecretValue::ApiKey { key } => secret_field("secret/key", key),
            SecretValue::OauthClient {
                client_id,
                client_secret,
                refresh_token,
            } => {
                plain_field("secret/client_id", client_id)?;
                secret_field("secret/client_secret", client_secret)?;
                if let Some(token) = refresh_token {
                    secret_field("secret/refresh_token", token)?;
                }
                Ok(())
            }
            SecretValue::DatabaseCredential {
                username,
                password,
                host,
                database,
            } => {
                plain_field("secret/username", username)?;
                secret_field("secret/password", password)?;
                if let Some(host) = host {
                    plain_field("secret/host", host)?;
                    if host.chars().any(char::is_whitespace) {
                        return Err(IdentityError::invalid(
                            "secret/host",
                            "must not contain spaces",
                        ));
                    }
                }
                if let Some(database) = database {
                    plain_field("secret/database", database)?;
                }
                Ok(())
            }
            SecretValue::Custom { value } => secret_field("secret/value", value),
        }
    }

    /// The display form: at most the last four characters of the main secret, plus the
    /// fields that are not secret.
    fn masked(&self) -> String {
        let tail = masked_tail(self.primary());
        match self {
            SecretValue::ApiKey { .. } | SecretValue::Custom { .. } => tail,
            SecretValue::OauthClient { client_id, .. } => {
                format!("client_id={}, client_secret={tail}", shown(client_id))
            }
            SecretValue::DatabaseCredential { username, host, .. } => match host {
                Some(host) => format!(
                    "username={}, host={}, password={tail}",
                    shown(username),
                    shown(host)
                ),
                None => format!("username={}, password={tail}", shown(username)),
            },
        }
    }

    /// The plaintext to seal, built straight into a buffer that is zeroized on drop. The
    /// capacity covers the worst case (every byte escaped as `\uXXXX`), so the buffer never
    /// reallocates and leaves no copy behind.
    fn to_sealed_json(&self) -> IdentityResult<SecretBytes> {
        let form = match self {
            SecretValue::ApiKey { key } => SealedForm::ApiKey {
                key: key.expose_secret(),
            },
            SecretValue::OauthClient {
                client_id,
                client_secret,
                refresh_token,
            } => SealedForm::OauthClient {
                client_id,
                client_secret: client_secret.expose_secret(),
                refresh_token: refresh_token.as_ref().map(ExposeSecret::expose_secret),
            },
            SecretValue::DatabaseCredential {
                username,
                password,
                host,
                database,
            } => SealedForm::DatabaseCredential {
                username,
                password: password.expose_secret(),
                host: host.as_deref(),
                database: database.as_deref(),
            },
            SecretValue::Custom { value } => SealedForm::Custom {
                value: value.expose_secret(),
            },
        };
        let text_len: usize = match &form {
            SealedForm::ApiKey { key } => key.len(),
            SealedForm::OauthClient {
                client_id,
                client_secret,
                refresh_token,
            } => client_id.len() + client_secret.len() + refresh_token.map_or(0, str::len),
            SealedForm::DatabaseCredential {
                username,
                password,
                host,
                database,
            } => {
                username.len()
                    + password.len()
                    + host.map_or(0, str::len)
                    + database.map_or(0, str::len)
            }
            SealedForm::Custom { value } => value.len(),
        };
        let mut buffer = Vec::with_capacity(text_len * 6 + 256);
        let written = serde_json::to_writer(&mut buffer, &form);
        // Wrapped before the error check, so the buffer is zeroized on every path.
        let buffer = SecretBytes::from(buffer);
        written.map_err(|_| CryptoError::EncryptionFailed {
            reason: "the secret value could not be encoded".to_owned(),
        })?;
        Ok(buffer)
    }

    /// Reads back what [`SecretValue::to_sealed_json`] wrote. The parser's message could
    /// quote the input, so it is not passed on.
    fn from_sealed_json(id: SecretId, plaintext: &[u8]) -> IdentityResult<Self> {
        serde_json::from_slice(plaintext).map_err(|_| {
            IdentityError::Store(StoreError::Corrupt(format!(
                "secret `{id}` holds a value that does not parse"
            )))
        })
    }
}

/// A secret string: present, not just whitespace, bounded.
fn secret_field(field: &'static str, value: &SecretString) -> IdentityResult<()> {
    let value = value.expose_secret();
    if value.trim().is_empty() {
        return Err(IdentityError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_SECRET_VALUE_BYTES {
        return Err(IdentityError::invalid(field, "must be at most 16 KiB"));
    }
    Ok(())
}

/// A non-secret field: present, bounded, no control characters.
fn plain_field(field: &'static str, value: &str) -> IdentityResult<()> {
    if value.trim().is_empty() {
        return Err(IdentityError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_SECRET_FIELD_LEN {
        return Err(IdentityError::invalid(
            field,
            "must be at most 256 characters",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// `…` and the last four characters when the secret is long enough to spare them and they
/// are printable; otherwise `…` alone.
fn masked_tail(secret: &SecretString) -> String {
    let secret = secret.expose_secret();
    let count = secret.chars().count();
    if count < MIN_LEN_TO_SHOW_TAIL {
        return "…".to_owned();
    }
    let tail = secret.chars().skip(count - 4);
    if tail.clone().any(|c| c.is_control() || c.is_whitespace()) {
        return "…".to_owned();
    }
    std::iter::once('…').chain(tail).collect()
}

/// A non-secret field as the masked form shows it: at most 64 characters.
fn shown(field: &str) -> String {
    let mut shown: String = field.chars().take(64).collect();
    if field.chars().nth(64).is_some() {
        shown.push('…');
    }
    shown
}

/// Secret names: 1–128 ASCII letters, digits, `.`, `_`, `-` or `/`, starting with a letter or
/// digit. The input is not quoted back: a value pasted into the wrong field stays private.
pub fn validate_secret_name(raw: &str) -> IdentityResult<String> {
    let ok_chars = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
    let ok_start = raw
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_chars && ok_start && raw.len() <= MAX_SECRET_NAME_LEN {
        Ok(raw.to_owned())
    } else {
        Err(IdentityError::invalid(
            "name",
            "must be 1–128 ASCII letters, digits, `.`, `_`, `-` or `/`, starting with a \
             letter or digit",
        ))
    }
}

/// A new secret.
#[derive(Debug)]
pub struct CreateSecret {
    pub tenant_id: TenantId,
    pub environment: Environment,
    pub name: String,
    pub value: SecretValue,
}

/// The associated data context of a sealed value: the secret and the version it belongs to.
fn seal_context(id: SecretId, version: u32) -> String {
    format!("{id}:v{version}")
}

fn secret_resource(secret: &Secret) -> Resource {
    Resource::Secret {
        id: secret.id,
        tenant_id: secret.tenant_id,
        environment: secret.environment,
    }
}

/// The audit details of a change: which secret, never its value (nor its masked form).
fn secret_details(
    secret_name: &str,
    kind: SecretKind,
    environment: Environment,
    version: u32,
) -> serde_json::Map<String, Value> {
    details([
        ("name", Value::from(secret_name)),
        ("kind", Value::from(kind.as_str())),
        ("environment", Value::from(environment.as_str())),
        ("version", Value::from(version)),
    ])
}

/// The vault's errors in the service's terms. None carries key material or plaintext.
fn vault_error(error: VaultError) -> IdentityError {
    match error {
        VaultError::Store(error) => error.into(),
        VaultError::Crypto(error) => IdentityError::Crypto(error),
        VaultError::Unsealable => IdentityError::Crypto(CryptoError::DecryptionFailed),
        shredded @ VaultError::Shredded { .. } => IdentityError::Refused(shredded.to_string()),
        unknown @ VaultError::UnknownMasterKey { .. } => {
            IdentityError::Crypto(CryptoError::InvalidKey {
                kind: "master key",
                reason: unknown.to_string(),
            })
        }
    }
}

impl Identity {
    pub async fn create_secret(
        &self,
        caller: &Caller,
        request: CreateSecret,
    ) -> IdentityResult<Secret> {
        let id = SecretId::new();
        let mut operation = Operation::new(request.tenant_id, "secret.create").on("secret", id);
        operation.environment = Some(request.environment.as_str());
        let result = self
            .create_secret_checked(caller, &operation, id, request)
            .await;
        self.finish(caller, operation, result).await
    }

    async fn create_secret_checked(
        &self,
        caller: &Caller,
        operation: &Operation,
        id: SecretId,
        request: CreateSecret,
    ) -> IdentityResult<Secret> {
        let tenant_id = request.tenant_id;
        // The new secret itself is the resource: its environment decides.
        self.authorize(
            &caller.actor,
            Action::ManageSecrets,
            Resource::Secret {
                id,
                tenant_id,
                environment: request.environment,
            },
        )
        .await?;
        let name = validate_secret_name(&request.name)?;
        request.value.validate()?;
        let kind = request.value.kind();
        let masked = request.value.masked();
        let sealed = self.seal_value(tenant_id, id, 1, &request.value).await?;
        let created_by = match &caller.actor {
            Actor::Principal(principal) => principal.user_id(),
            Actor::LocalOperator => None,
        };
        let event = self.change_event(
            caller,
            operation,
            secret_details(&name, kind, request.environment, 1),
        );
        Ok(self
            .inner
            .store
            .create_secret(
                NewSecret {
                    id,
                    tenant_id,
                    environment: request.environment,
                    name,
                    kind,
                    sealed,
                    masked,
                    created_by,
                    created_at: self.now(),
                },
                event,
            )
            .await?)
    }

    /// The secrets the caller may see, metadata only. Builders do not see `prod` ones: the
    /// page may hold fewer items than asked; follow `next_cursor` for the rest.
    pub async fn list_secrets(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        filter: SecretFilter,
        page: PageRequest,
    ) -> IdentityResult<Page<Secret>> {
        let authorized = self
            .authorize(
                &caller.actor,
                Action::ViewSecrets,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, Operation::new(tenant_id, "secret.list"), authorized)
            .await?;
        let listed = self
            .inner
            .store
            .list_secrets(tenant_id, filter, page)
            .await?;
        let mut items = Vec::with_capacity(listed.items.len());
        for secret in listed.items {
            if self
                .actor_is_allowed(&caller.actor, Action::ViewSecrets, secret_resource(&secret))
                .await?
            {
                items.push(secret);
            }
        }
        Ok(Page {
            items,
            next_cursor: listed.next_cursor,
        })
    }

    /// One secret's metadata and masked form.
    pub async fn get_secret(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: SecretId,
    ) -> IdentityResult<Secret> {
        let mut operation = Operation::new(tenant_id, "secret.read").on("secret", id);
        let gate = self
            .authorize(
                &caller.actor,
                Action::ViewSecrets,
                Resource::Tenant(tenant_id),
            )
            .await;
        self.finish_read(caller, operation.clone(), gate).await?;
        let secret = self.inner.store.get_secret(tenant_id, id).await?;
        operation.environment = Some(secret.environment.as_str());
        let authorized = self
            .authorize(&caller.actor, Action::ViewSecrets, secret_resource(&secret))
            .await;
        self.finish_read(caller, operation, authorized).await?;
        Ok(secret)
    }

    /// Replaces a secret's value with a new one of the same kind; the version goes up by one
    /// and the old ciphertext is overwritten.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: SecretId,
        value: SecretValue,
    ) -> IdentityResult<Secret> {
        let mut operation = Operation::new(tenant_id, "secret.rotate").on("secret", id);
        let result = self
            .rotate_secret_checked(caller, &mut operation, tenant_id, id, value)
            .await;
        self.finish(caller, operation, result).await
    }

    async fn rotate_secret_checked(
        &self,
        caller: &Caller,
        operation: &mut Operation,
        tenant_id: TenantId,
        id: SecretId,
        value: SecretValue,
    ) -> IdentityResult<Secret> {
        let current = self
            .load_for_change(caller, operation, tenant_id, id)
            .await?;
        if value.kind() != current.kind {
            return Err(IdentityError::invalid(
                "secret/kind",
                format!(
                    "must stay `{}`; create a new secret for another kind",
                    current.kind
                ),
            ));
        }
        value.validate()?;
        let version = current.version.checked_add(1).ok_or_else(|| {
            IdentityError::Refused(format!("secret `{id}` cannot be rotated any further"))
        })?;
        let sealed = self.seal_value(tenant_id, id, version, &value).await?;
        let event = self.change_event(
            caller,
            operation,
            secret_details(&current.name, current.kind, current.environment, version),
        );
        let rotation = SecretRotation {
            version,
            sealed,
            masked: value.masked(),
            at: self.now(),
        };
        match self
            .inner
            .store
            .rotate_secret(tenant_id, id, rotation, event)
            .await
        {
            Ok(secret) => Ok(secret),
            Err(StoreError::Conflict { .. }) => Err(IdentityError::Refused(format!(
                "secret `{id}` was rotated by another request at the same time; read it and \
                 try again"
            ))),
            Err(other) => Err(other.into()),
        }
    }

    /// Deletes a secret: its ciphertext is erased at once, its metadata kept as history.
    pub async fn delete_secret(
        &self,
        caller: &Caller,
        tenant_id: TenantId,
        id: SecretId,
    ) -> IdentityResult<Secret> {
        let mut operation = Operation::new(tenant_id, "secret.delete").on("secret", id);
        let result = async {
            let current = self
                .load_for_change(caller, &mut operation, tenant_id, id)
                .await?;
            let event = self.change_event(
                caller,
                &operation,
                secret_details(
                    &current.name,
                    current.kind,
                    current.environment,
                    current.version,
                ),
            );
            Ok(self
                .inner
                .store
                .delete_secret(tenant_id, id, self.now(), event)
                .await?)
        }
        .await;
        self.finish(caller, operation, result).await
    }

    /// Opens a secret's current value, for the runtime at the moment it injects a credential.
    /// The caller must have authorized that use; this function is never reachable over HTTP.
    /// The value lives in [`SecretString`]s; drop it as soon as the call is done.
    pub async fn reveal_secret(
        &self,
        tenant_id: TenantId,
        id: SecretId,
    ) -> IdentityResult<SecretValue> {
        let (secret, sealed) = self.inner.store.get_sealed_secret(tenant_id, id).await?;
        let plaintext = self
            .inner
            .vault
            .open(
                tenant_id,
                TENANT_SCOPE,
                SEAL_PURPOSE,
                &seal_context(id, secret.version),
                &Sealed {
                    data_key_version: sealed.data_key_version,
                    ciphertext: sealed.ciphertext,
                },
            )
            .await
            .map_err(vault_error)?;
        let value = SecretValue::from_sealed_json(id, plaintext.expose_secret())?;
        if value.kind() != secret.kind {
            return Err(IdentityError::Store(StoreError::Corrupt(format!(
                "secret `{id}` is a `{}` but holds a `{}` value",
                secret.kind,
                value.kind()
            ))));
        }
        Ok(value)
    }

    /// The gate and the load shared by rotate and delete: the caller must manage secrets in
    /// the tenant at all, then this secret in its environment.
    async fn load_for_change(
        &self,
        caller: &Caller,
        operation: &mut Operation,
        tenant_id: TenantId,
        id: SecretId,
    ) -> IdentityResult<Secret> {
        self.authorize(
            &caller.actor,
            Action::ManageSecrets,
            Resource::Tenant(tenant_id),
        )
        .await?;
        let current = self.inner.store.get_secret(tenant_id, id).await?;
        operation.environment = Some(current.environment.as_str());
        self.authorize(
            &caller.actor,
            Action::ManageSecrets,
            secret_resource(&current),
        )
        .await?;
        Ok(current)
    }

    async fn seal_value(
        &self,
        tenant_id: TenantId,
        id: SecretId,
        version: u32,
        value: &SecretValue,
    ) -> IdentityResult<SealedSecret> {
        let plaintext = value.to_sealed_json()?;
        let sealed = self
            .inner
            .vault
            .seal(
                tenant_id,
                TENANT_SCOPE,
                SEAL_PURPOSE,
                &seal_context(id, version),
                plaintext.expose_secret(),
            )
            .await
            .map_err(vault_error)?;
        Ok(SealedSecret {
            data_key_version: sealed.data_key_version,
            ciphertext: sealed.ciphertext,
        })
    }

    /// Whether the actor may, as a yes/no (for filtering lists).
    async fn actor_is_allowed(
        &self,
        actor: &Actor,
        action: Action,
        resource: Resource,
    ) -> IdentityResult<bool> {
        match actor {
            Actor::LocalOperator => Ok(true),
            Actor::Principal(principal) => self.is_allowed(principal, action, resource).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    fn values() -> [SecretValue; 4] {
        [
            SecretValue::ApiKey {
                key: secret("sk-live-0123456789abcd"),
            },
            SecretValue::OauthClient {
                client_id: "my-app".to_owned(),
                client_secret: secret("client-secret-98765wxyz"),
                refresh_token: Some(secret("refresh-token-55555")),
            },
            SecretValue::DatabaseCredential {
                username: "orders".to_owned(),
                password: secret("pa\"ss\\word\u{1}-with-escapes-q1w2"),
                host: Some("db.internal:5432".to_owned()),
                database: Some("orders".to_owned()),
            },
            SecretValue::Custom {
                value: secret("-----BEGIN KEY-----\nMIIB\n-----END KEY-----"),
            },
        ]
    }

    #[test]
    fn sealed_json_round_trips_every_kind() {
        for value in values() {
            let json = value.to_sealed_json().unwrap();
            let back =
                SecretValue::from_sealed_json(SecretId::new(), json.expose_secret()).unwrap();
            assert_eq!(back.kind(), value.kind());
            assert_eq!(
                back.primary().expose_secret(),
                value.primary().expose_secret()
            );
            assert_eq!(format!("{back:?}"), format!("{value:?}"));
        }
    }

    #[test]
    fn sealed_json_refuses_unknown_fields_without_quoting_the_input() {
        let id = SecretId::new();
        let err = SecretValue::from_sealed_json(
            id,
            br#"{"api_key":{"key":"sk-canary-123","extra":"sk-canary-456"}}"#,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
        let err = SecretValue::from_sealed_json(id, br#"{"api_key":"sk-canary-123"}"#).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
    }

    #[test]
    fn debug_never_shows_a_secret_string() {
        for value in values() {
            let debug = format!("{value:?}");
            assert!(debug.contains("[redacted]"), "{debug}");
            for needle in ["0123456789", "98765", "55555", "with-escapes", "MIIB"] {
                assert!(!debug.contains(needle), "{debug}");
            }
        }
        let request = CreateSecret {
            tenant_id: TenantId::new(),
            environment: Environment::Dev,
            name: "x".to_owned(),
            value: values().into_iter().next().unwrap(),
        };
        assert!(!format!("{request:?}").contains("0123456789"));
    }

    #[test]
    fn masked_forms_show_at_most_four_characters_of_the_secret() {
        let masked: Vec<String> = values().iter().map(SecretValue::masked).collect();
        assert_eq!(
            masked,
            [
                "…abcd",
                "client_id=my-app, client_secret=…wxyz",
                "username=orders, host=db.internal:5432, password=…q1w2",
                // The tail of a multi-line value is printable here, so it is shown.
                "…----",
            ]
        );
        // Short secrets show nothing of themselves; non-printable tails neither.
        assert_eq!(masked_tail(&secret("hunter2")), "…");
        assert_eq!(masked_tail(&secret("abcdefghijk")), "…");
        assert_eq!(masked_tail(&secret("abcdefghijkl")), "…ijkl");
        assert_eq!(masked_tail(&secret("abcdefghijk\n")), "…");
        assert_eq!(masked_tail(&secret("ääääääääääääöööö")), "…öööö");
    }

    #[test]
    fn values_are_validated_without_quoting_them() {
        let cases = [
            (SecretValue::ApiKey { key: secret("   ") }, "secret/key"),
            (
                SecretValue::Custom {
                    value: secret(&"x".repeat(MAX_SECRET_VALUE_BYTES + 1)),
                },
                "secret/value",
            ),
            (
                SecretValue::OauthClient {
                    client_id: String::new(),
                    client_secret: secret("s3cr3t-canary"),
                    refresh_token: None,
                },
                "secret/client_id",
            ),
            (
                SecretValue::OauthClient {
                    client_id: "app".to_owned(),
                    client_secret: secret("s3cr3t-canary"),
                    refresh_token: Some(secret("")),
                },
                "secret/refresh_token",
            ),
            (
                SecretValue::DatabaseCredential {
                    username: "u".to_owned(),
                    password: secret("s3cr3t-canary"),
                    host: Some("db host".to_owned()),
                    database: None,
                },
                "secret/host",
            ),
            (
                SecretValue::DatabaseCredential {
                    username: "u\u{7}".to_owned(),
                    password: secret("s3cr3t-canary"),
                    host: None,
                    database: None,
                },
                "secret/username",
            ),
        ];
        for (value, field) in cases {
            match value.validate() {
                Err(IdentityError::Invalid {
                    field: got,
                    message,
                }) => {
                    assert_eq!(got, field);
                    assert!(!message.contains("canary"), "{message}");
                }
                other => panic!("{field}: expected invalid, got {other:?}"),
            }
        }
        for value in values() {
            value.validate().unwrap();
        }
    }

    #[test]
    fn names_follow_their_shape() {
        for good in [
            "openai",
            "OPENAI_API_KEY",
            "salesforce/prod-client",
            "a",
            "db.orders-2",
        ] {
            assert_eq!(validate_secret_name(good).unwrap(), good);
        }
        for bad in [
            "",
            "-x",
            "_x",
            "a b",
            "ä",
            "x\n",
            &"a".repeat(129),
            "sk-canary 123",
        ] {
            let err = validate_secret_name(bad).unwrap_err();
            assert!(!err.to_string().contains("canary"), "{err}");
        }
    }
}
