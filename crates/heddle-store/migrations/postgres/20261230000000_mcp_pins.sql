-- Approved definitions of upstream MCP servers' tools: the gateway re-exposes a tool only
-- while the server lists it with the fingerprint approved here. See `src/mcp_pins.rs`.
CREATE TABLE mcp_tool_pins (
    tenant_id uuid NOT NULL,
    environment text NOT NULL,
    server text NOT NULL,
    tool text NOT NULL,
    -- SHA-256 of the canonical pinned fields, lowercase hex.
    fingerprint text NOT NULL,
    definition jsonb NOT NULL,
    approved_by text NOT NULL,
    approved_at timestamptz NOT NULL,
    CONSTRAINT mcp_tool_pins_pkey PRIMARY KEY (tenant_id, environment, server, tool),
    CONSTRAINT mcp_tool_pins_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT mcp_tool_pins_environment_check
        CHECK (environment IN ('dev', 'staging', 'prod')),
    CONSTRAINT mcp_tool_pins_fingerprint_check CHECK (length(fingerprint) = 64)
);
