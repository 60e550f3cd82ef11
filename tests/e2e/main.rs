//! End-to-end tests: the real `rumid` and `rumi-ctl` binaries on temp homes.
// This whole crate is tests; the lint is meant for unit tests inside library modules.
#![allow(clippy::tests_outside_test_module)]

mod api_errors;
mod approval;
mod auth;
mod build_location;
mod capd;
mod cli;
mod cli_audit;
mod cli_completions;
mod cli_setup;
mod cli_ux;
mod compat_original_packs;
mod concurrency;
mod config;
mod console;
mod egress;
mod external;
mod flows;
mod handlers;
mod import;
mod metrics;
mod openapi;
mod pip;
mod privileges;
mod readme;
mod sandbox;
mod security_hostile_core;
mod security_hostile_engine;
mod security_hostile_helpers;
mod security_hostile_instance;
mod security_sandbox_backends;
mod security_ssrf;
mod security_tamper;
mod socket_access;
mod units;
