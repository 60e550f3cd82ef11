//! Generated gRPC types and services of Rumi's control plane (`rumi/control/v1/control.proto`).
//!
//! rumid is the client; `rumi-egressd` and `rumi-capd` serve `Helper` on their control
//! sockets. No logic lives here.
#![forbid(unsafe_code)]
#![allow(clippy::doc_markdown, clippy::large_enum_variant, missing_docs)]

/// `rumi.control.v1`.
pub mod control {
    tonic::include_proto!("rumi.control.v1");
}
