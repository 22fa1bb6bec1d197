-- Which way a session is used: a conversation with the agent's model (`conversation`),
-- direct tool calls of an MCP client (`mcp`), where no model runs and a held call's result
-- settles its own turn instead of resuming a model loop, or one request through a gateway
-- route (`gateway`, whose `agent` column holds the route's name). See `src/sessions.rs`.
ALTER TABLE sessions ADD COLUMN channel text NOT NULL DEFAULT 'conversation'
    CONSTRAINT sessions_channel_check CHECK (channel IN ('conversation', 'mcp', 'gateway'));
