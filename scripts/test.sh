#!/usr/bin/env bash
# Runs every check and test Heddle has: formatting, clippy, and all test suites (unit,
# storage conformance on SQLite and PostgreSQL, HTTP end-to-end, the real binary).
#
# PostgreSQL and Redis tests use HEDDLE_TEST_DATABASE_URL and HEDDLE_TEST_REDIS_URL, which
# default to the local services below. Set one to an empty string to skip those tests
# (outside CI only: with CI set, a missing service fails the run instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."

export HEDDLE_TEST_DATABASE_URL="${HEDDLE_TEST_DATABASE_URL-postgres://postgres@127.0.0.1:5432/test}"
export HEDDLE_TEST_REDIS_URL="${HEDDLE_TEST_REDIS_URL-redis://127.0.0.1:6379}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests (PostgreSQL: ${HEDDLE_TEST_DATABASE_URL:-skipped}, Redis: ${HEDDLE_TEST_REDIS_URL:-skipped})"
cargo nextest run --workspace --locked --profile ci
