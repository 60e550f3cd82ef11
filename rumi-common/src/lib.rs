//! Mechanism shared by the Rumi binaries (`rumid`, `rumi-ctl`, and later the helpers).
//!
//! This crate holds no policy: it never decides whether something is allowed. It offers
//! the stable error-code catalogue ([`code`]), validated identifiers ([`ids`]), typed
//! environment parsing ([`env`]), crash-safe file writes ([`fs`]), the tracing setup
//! ([`telemetry`]) and the derivation of the API token from the HMAC key ([`token`]).
#![forbid(unsafe_code)]

pub mod acl;
pub mod code;
pub mod control_key;
pub mod domain;
pub mod env;
pub mod framing;
pub mod fs;
#[cfg(feature = "helper")]
pub mod helper;
pub mod ids;
pub mod limits;
pub mod notify;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod token;
pub mod uds;
