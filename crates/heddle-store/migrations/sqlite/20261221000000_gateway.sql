-- What the OpenAI-compatible gateway needs: API keys pinned to one route and budget
-- counters with their reservations (its executions are sessions of channel `gateway`). See
-- `src/gateway.rs`.

-- A pinned key may use only this route of this environment; both set or both NULL.
ALTER TABLE api_keys ADD COLUMN route_environment TEXT
    CHECK (route_environment IS NULL OR route_environment IN ('dev', 'staging', 'prod'));
ALTER TABLE api_keys ADD COLUMN route_name TEXT
    CHECK ((route_name IS NULL) = (route_environment IS NULL)
           AND (route_name IS NULL OR length(route_name) BETWEEN 1 AND 64));

-- Spending per scope (`route/<environment>/<name>`) and window (its start): settled usage
-- plus the reservations still open. A reservation is added by a conditional upsert that
-- refuses to cross the limit, so concurrent requests in any number of processes cannot
-- overspend together.
CREATE TABLE budget_counters (
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    scope TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    tokens INTEGER NOT NULL CHECK (tokens >= 0),
    cost_micros INTEGER NOT NULL CHECK (cost_micros >= 0),
    PRIMARY KEY (tenant_id, scope, window_start)
) STRICT;

-- One open reservation per request between its upstream call and its settlement. One whose
-- process died is released when it expires (by the next reservation in its window).
CREATE TABLE budget_reservations (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    scope TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    tokens INTEGER NOT NULL CHECK (tokens >= 0),
    cost_micros INTEGER NOT NULL CHECK (cost_micros >= 0),
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, scope, window_start)
        REFERENCES budget_counters (tenant_id, scope, window_start)
) STRICT;

CREATE INDEX budget_reservations_by_expiry
    ON budget_reservations (tenant_id, scope, window_start, expires_at);
