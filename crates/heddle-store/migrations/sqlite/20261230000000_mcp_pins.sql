-- Approved definitions of upstream MCP servers' tools: the gateway re-exposes a tool only
-- while the server lists it with the fingerprint approved here. See `src/mcp_pins.rs`.
CREATE TABLE mcp_tool_pins (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    environment TEXT NOT NULL CHECK (environment IN ('dev', 'staging', 'prod')),
    server TEXT NOT NULL,
    tool TEXT NOT NULL,
    -- SHA-256 of the canonical pinned fields, lowercase hex.
    fingerprint TEXT NOT NULL CHECK (length(fingerprint) = 64),
    definition TEXT NOT NULL CHECK (json_valid(definition)),
    approved_by TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, environment, server, tool)
) STRICT;
