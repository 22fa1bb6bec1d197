//! The storage conformance suite: every test is written once against `dyn Store` and runs on
//! both engines, as `<module>::<test>::sqlite` and `<module>::<test>::postgres`.
//!
//! SQLite tests get a fresh temp-file database each. PostgreSQL tests read
//! `HEDDLE_TEST_DATABASE_URL` and get a fresh schema each (through `search_path`), so they run
//! in parallel, in one process or one process per test (nextest). Without the variable the
//! PostgreSQL tests are skipped, unless `CI` is set, where they fail.

// Marks the helpers as test code for clippy's `allow-unwrap-in-tests` and friends.
#![cfg(test)]

/// Generates a `sqlite` and a `postgres` test for each named `async fn(TestDb)` in scope.
macro_rules! conformance_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::harness::run_sqlite(super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::harness::run_postgres(super::$name).await;
            }
        }
    )+};
}

mod access_tokens;
mod api_keys;
mod audit;
mod concurrency;
mod config_snapshots;
mod drift;
mod engines;
mod fixtures;
mod gateway;
mod harness;
mod mcp_pins;
mod pending_actions;
mod policies;
mod record_orgs;
mod record_query;
mod record_writes;
mod records;
mod round_trips;
mod secrets;
mod sequencer;
mod sessions;
mod siem;
mod steps_of_kind;
mod tenants;
mod users;
mod vault;
mod verification;
