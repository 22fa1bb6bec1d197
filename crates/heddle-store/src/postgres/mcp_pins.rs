//! MCP tool pins on PostgreSQL.

use async_trait::async_trait;
use heddle_types::{Environment, TenantId};
use sqlx::Row;
use sqlx::types::{Json, JsonValue};

use super::PgStore;
use super::audit::insert_outbox_event;
use crate::db_error::{is_foreign_key_violation, not_found};
use crate::mcp_pins::{McpPinStore, McpToolPin};
use crate::{NewAuditEvent, StoreError, StoreResult};

#[async_trait]
impl McpPinStore for PgStore {
    async fn list_mcp_pins(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
    ) -> StoreResult<Vec<McpToolPin>> {
        let rows = sqlx::query(
            "SELECT tool, fingerprint, definition, approved_by, approved_at FROM mcp_tool_pins \
             WHERE tenant_id = $1 AND environment = $2 AND server = $3 ORDER BY tool",
        )
        .bind(tenant_id.as_uuid())
        .bind(environment.as_str())
        .bind(server)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let Json(definition): Json<JsonValue> = row.try_get("definition")?;
                Ok(McpToolPin {
                    tenant_id,
                    environment,
                    server: server.to_owned(),
                    tool: row.try_get("tool")?,
                    fingerprint: row.try_get("fingerprint")?,
                    definition,
                    approved_by: row.try_get("approved_by")?,
                    approved_at: row.try_get("approved_at")?,
                })
            })
            .collect()
    }

    async fn put_mcp_pin(&self, pin: McpToolPin, audit: NewAuditEvent) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let written = sqlx::query(
            "INSERT INTO mcp_tool_pins (tenant_id, environment, server, tool, fingerprint, \
             definition, approved_by, approved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, environment, server, tool) DO UPDATE SET \
             fingerprint = excluded.fingerprint, definition = excluded.definition, \
             approved_by = excluded.approved_by, approved_at = excluded.approved_at",
        )
        .bind(pin.tenant_id.as_uuid())
        .bind(pin.environment.as_str())
        .bind(&pin.server)
        .bind(&pin.tool)
        .bind(&pin.fingerprint)
        .bind(Json(&pin.definition))
        .bind(&pin.approved_by)
        .bind(pin.approved_at)
        .execute(&mut *tx)
        .await;
        if let Err(err) = written {
            tx.rollback().await?;
            return Err(if is_foreign_key_violation(&err) {
                not_found("tenant", pin.tenant_id)
            } else {
                StoreError::from(err)
            });
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_mcp_pin(
        &self,
        tenant_id: TenantId,
        environment: Environment,
        server: &str,
        tool: &str,
        audit: NewAuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM mcp_tool_pins WHERE tenant_id = $1 AND environment = $2 \
             AND server = $3 AND tool = $4",
        )
        .bind(tenant_id.as_uuid())
        .bind(environment.as_str())
        .bind(server)
        .bind(tool)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_outbox_event(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
