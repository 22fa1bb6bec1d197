-- What the OpenAI-compatible gateway needs: API keys pinned to one route and budget
-- counters with their reservations (its executions are sessions of channel `gateway`). See
-- `src/gateway.rs`.

-- A pinned key may use only this route of this environment; both set or both NULL.
ALTER TABLE api_keys ADD COLUMN route_environment text;
ALTER TABLE api_keys ADD COLUMN route_name text;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_route_check
    CHECK ((route_name IS NULL) = (route_environment IS NULL)
           AND (route_environment IS NULL OR route_environment IN ('dev', 'staging', 'prod'))
           AND (route_name IS NULL OR length(route_name) BETWEEN 1 AND 64));

-- Spending per scope (`route/<environment>/<name>`) and window (its start): settled usage
-- plus the reservations still open. A reservation is added by a conditional upsert that
-- refuses to cross the limit (the conflicting row is locked while the condition is checked),
-- so concurrent requests in any number of processes cannot overspend together.
CREATE TABLE budget_counters (
    tenant_id uuid NOT NULL,
    scope text NOT NULL,
    window_start timestamptz NOT NULL,
    tokens bigint NOT NULL,
    cost_micros bigint NOT NULL,
    CONSTRAINT budget_counters_pkey PRIMARY KEY (tenant_id, scope, window_start),
    CONSTRAINT budget_counters_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT budget_counters_tokens_check CHECK (tokens >= 0),
    CONSTRAINT budget_counters_cost_micros_check CHECK (cost_micros >= 0)
);

-- One open reservation per request between its upstream call and its settlement. One whose
-- process died is released when it expires (by the next reservation in its window).
CREATE TABLE budget_reservations (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    scope text NOT NULL,
    window_start timestamptz NOT NULL,
    tokens bigint NOT NULL,
    cost_micros bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT budget_reservations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT budget_reservations_counter_fkey FOREIGN KEY (tenant_id, scope, window_start)
        REFERENCES budget_counters (tenant_id, scope, window_start),
    CONSTRAINT budget_reservations_tokens_check CHECK (tokens >= 0),
    CONSTRAINT budget_reservations_cost_micros_check CHECK (cost_micros >= 0)
);

CREATE INDEX budget_reservations_by_expiry
    ON budget_reservations (tenant_id, scope, window_start, expires_at);
