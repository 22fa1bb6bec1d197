-- SIEM sinks: sealed configuration, delivery cursor and status per sink.
CREATE TABLE siem_sinks (
    id UUID NOT NULL PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    sealed_config BYTEA NOT NULL,
    data_key_version INTEGER NOT NULL,
    -- Number of events delivered = the next seq to send. Only moves forward.
    cursor BIGINT NOT NULL CHECK (cursor >= 0),
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at TIMESTAMPTZ,
    last_delivered_at TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ,
    lease_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE FUNCTION siem_sinks_cursor_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cursor < OLD.cursor THEN
        RAISE EXCEPTION 'a SIEM cursor only moves forward'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER siem_sinks_cursor_forward BEFORE UPDATE ON siem_sinks
    FOR EACH ROW EXECUTE FUNCTION siem_sinks_cursor_forward();
