//! Tests of the real `heddle` binary: fresh start, bootstrap, SIGTERM, config check, the
//! admin and keys commands, and two servers sharing one PostgreSQL database.

mod harness;

mod commands;
mod postgres;
mod serve;
