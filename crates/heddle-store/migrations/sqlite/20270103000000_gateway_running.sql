-- Running turns by start time: the gateway's sweep finds executions whose close never came
-- (their process stopped) without scanning every turn.
CREATE INDEX turns_running_by_start ON turns (started_at) WHERE status = 'running';
