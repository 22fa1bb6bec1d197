-- SIEM sinks: sealed configuration, delivery cursor and status per sink.
CREATE TABLE siem_sinks (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    sealed_config BLOB NOT NULL,
    data_key_version INTEGER NOT NULL,
    -- Number of events delivered = the next seq to send. Only moves forward.
    cursor INTEGER NOT NULL CHECK (cursor >= 0),
    paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at INTEGER,
    last_delivered_at INTEGER,
    next_attempt_at INTEGER,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
) STRICT;

CREATE TRIGGER siem_sinks_cursor_forward BEFORE UPDATE OF cursor ON siem_sinks
WHEN NEW.cursor < OLD.cursor
BEGIN
    SELECT RAISE(ABORT, 'a SIEM cursor only moves forward');
END;
