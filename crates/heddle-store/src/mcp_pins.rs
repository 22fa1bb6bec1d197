//! Approved definitions of upstream MCP servers' tools (see `heddle-mcp-pins`): per tenant,
//! environment, server and tool, the fingerprint an admin approved and the definition they
//! saw. Approving and revoking are state changes with their audit event in the same
//! transaction.

use async_trait::async_trait;
use heddle_types::{Environment, TenantId};
use sqlx::types::JsonValue;
use time::OffsetDateTime;

use crate::{NewAuditEvent, StoreResult};

/// One approved tool definition.
#[derive(Debug, Clone, PartialEq)]
pub struct McpToolPin {
    pub tenant_id: TenantId,
    pub environment: Environment,
    pub server: String,
    pub tool: String,
    /// SHA-256 of the canonical pinned fields, 64 lowercase hex characters.
    pub fingerprint: String,
    pub definition: JsonValue,
    /// Who approved it, as the audit log names actors (`user:<id>`, `api_key:<id>`).
    pub approved_by: String,
    pub approved_at: OffsetDateTime,
}

#[async_trait]
pub trait McpPinStore: Send + Sync + std::fmt::Debug {
    /// The server's pins in the environment, by tool name.
    async fn list_mcp_pins(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
    ) -> StoreResult<Vec<McpToolPin>>;

    /// Approves `pin`, replacing an earlier pin of the same tool. Fails with
    /// [`crate::StoreError::NotFound`] when the tenant does not exist.
    async fn put_mcp_pin(&self, pin: McpToolPin, audit: NewAuditEvent) -> StoreResult<()>;

    /// Revokes the tool's pin; `false` (and no audit event) when there was none.
    async fn delete_mcp_pin(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
        tool: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<bool>;
}
