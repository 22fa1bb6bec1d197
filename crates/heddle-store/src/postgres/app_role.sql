-- Grants for `heddle_app`, the role `heddle serve` connects as. Run them as the role that owns
-- the schema and ran `heddle migrate`; `heddle_app` must own nothing there and must not be a
-- superuser, or it could disable the audit triggers.
GRANT USAGE ON SCHEMA public TO heddle_app;
-- Start-up checks that migrations are current with `CREATE TABLE IF NOT EXISTS`, which needs
-- CREATE on the schema; it lets the role add objects, not alter or drop the owner's tables.
GRANT CREATE ON SCHEMA public TO heddle_app;
GRANT SELECT ON _sqlx_migrations TO heddle_app;

-- Identity: ordinary reads and writes (bootstrap's table lock needs UPDATE on tenants).
GRANT SELECT, INSERT, UPDATE ON tenants, users, api_keys, access_tokens TO heddle_app;
GRANT SELECT, INSERT, DELETE ON tenant_policies TO heddle_app;

-- Audit log: leaves and checkpoints are insert-only.
GRANT SELECT, INSERT ON audit_leaves, audit_checkpoints TO heddle_app;
-- Event payloads are deleted by retention (the trigger allows it below the watermark only);
-- outbox rows are deleted when they are sequenced.
GRANT SELECT, INSERT, DELETE ON audit_events, audit_outbox TO heddle_app;
-- Heads advance and watermarks rise (the triggers refuse any other change); appenders lock
-- the head with SELECT … FOR UPDATE, which needs UPDATE.
GRANT SELECT, INSERT, UPDATE ON audit_heads, audit_retention TO heddle_app;

-- Vault: data keys are added, re-wrapped on master-key rotation and destroyed (the trigger
-- refuses restoring one); signing keys are added and never changed.
GRANT SELECT, INSERT, UPDATE ON vault_data_keys TO heddle_app;
GRANT SELECT, INSERT ON audit_signing_keys TO heddle_app;

-- Secrets: created, rotated and soft-deleted (the value is forgotten, the row kept).
GRANT SELECT, INSERT, UPDATE ON secrets TO heddle_app;

-- SIEM sinks: configured, advanced and removed by the application.
GRANT SELECT, INSERT, UPDATE, DELETE ON siem_sinks TO heddle_app;

-- Records: imported, queried and written by the application; the record org is replaced
-- by version.
GRANT SELECT, INSERT, UPDATE, DELETE ON records TO heddle_app;
GRANT SELECT, INSERT, UPDATE ON record_orgs TO heddle_app;

-- Agent configuration snapshots: immutable history, so insert and read only.
GRANT SELECT, INSERT ON config_snapshots TO heddle_app;

-- Sessions, turns and execution steps: turns change status; steps are only appended.
GRANT SELECT, INSERT, UPDATE ON sessions TO heddle_app;
GRANT SELECT, INSERT, UPDATE ON turns TO heddle_app;
GRANT SELECT, INSERT ON execution_steps TO heddle_app;

-- Customer verification challenges: created, counted and closed, never deleted.
GRANT SELECT, INSERT, UPDATE ON verification_challenges TO heddle_app;

-- Pending actions (human in the loop): created, decided, claimed and finished, never deleted.
GRANT SELECT, INSERT, UPDATE ON pending_actions TO heddle_app;
-- Effects applied under an idempotency key: append-only (the triggers refuse the rest).
GRANT SELECT, INSERT ON action_effects TO heddle_app;

-- Drift baselines: replaced by version as answers arrive, never deleted.
GRANT SELECT, INSERT, UPDATE ON drift_baselines TO heddle_app;

-- MCP tool pins: approved (upserted) and revoked by admins.
GRANT SELECT, INSERT, UPDATE, DELETE ON mcp_tool_pins TO heddle_app;
-- Gateway budgets: counters move both ways as requests reserve and settle; reservations are
-- added and removed when settled or expired.
GRANT SELECT, INSERT, UPDATE ON budget_counters TO heddle_app;
GRANT SELECT, INSERT, DELETE ON budget_reservations TO heddle_app;
