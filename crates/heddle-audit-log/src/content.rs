//! Prompt and response text in audit events: never in clear. By default an event records a
//! digest of the text; a tenant can opt in to keeping the text itself, sealed under a vault
//! key of its own scope, so it can be read by auditors with access and destroyed on its own
//! schedule (crypto-shredding the scope) while the log keeps verifying.

use heddle_types::TenantId;
use heddle_vault::{Sealed, Vault};
use serde_json::{Value, json};

use crate::AuditLogError;

/// The vault purpose of sealed audit content.
pub const CONTENT_PURPOSE: &str = "audit-content";

/// How text appears in an audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentRecording {
    /// SHA-256 and length only (the default).
    Digest,
    /// Also the text, sealed under the vault key of `scope` (e.g. `tenant`, or
    /// `subject:<id>` so one person's content can be shredded alone).
    Sealed { scope: String },
}

/// The `details` value for a piece of text under `recording`.
pub async fn record_content(
    vault: &Vault,
    tenant_id: TenantId,
    text: &str,
    recording: &ContentRecording,
) -> Result<Value, AuditLogError> {
    let digest = heddle_crypto::hex_encode(heddle_crypto::sha256(text.as_bytes()));
    let chars = text.chars().count();
    match recording {
        ContentRecording::Digest => Ok(json!({"sha256": digest, "chars": chars})),
        ContentRecording::Sealed { scope } => {
            // The digest is the context: the ciphertext opens only as this event's content.
            let sealed = vault
                .seal(tenant_id, scope, CONTENT_PURPOSE, &digest, text.as_bytes())
                .await
                .map_err(|err| AuditLogError::Vault(err.to_string()))?;
            Ok(json!({
                "sha256": digest,
                "chars": chars,
                "sealed": {
                    "scope": scope,
                    "key_version": sealed.data_key_version,
                    "ciphertext": heddle_crypto::base64_encode(&sealed.ciphertext),
                }
            }))
        }
    }
}

/// Reads sealed content back (for an authorized auditor); `None` when the detail has no
/// sealed text. Fails once the scope's key was destroyed.
pub async fn open_content(
    vault: &Vault,
    tenant_id: TenantId,
    detail: &Value,
) -> Result<Option<String>, AuditLogError> {
    let (Some(digest), Some(sealed)) = (detail["sha256"].as_str(), detail.get("sealed")) else {
        return Ok(None);
    };
    let corrupt = || AuditLogError::Corrupt("sealed audit content is malformed".into());
    let scope = sealed["scope"].as_str().ok_or_else(corrupt)?;
    let version = sealed["key_version"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(corrupt)?;
    let ciphertext = sealed["ciphertext"]
        .as_str()
        .and_then(|text| heddle_crypto::base64_decode(text).ok())
        .ok_or_else(corrupt)?;
    let plaintext = vault
        .open(
            tenant_id,
            scope,
            CONTENT_PURPOSE,
            digest,
            &Sealed {
                data_key_version: version,
                ciphertext,
            },
        )
        .await
        .map_err(|err| AuditLogError::Vault(err.to_string()))?;
    let text = String::from_utf8(heddle_crypto::ExposeSecret::expose_secret(&plaintext).to_vec())
        .map_err(|_| corrupt())?;
    Ok(Some(text))
}
