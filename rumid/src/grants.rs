//! Grants owned by rumid and enforced by the helpers. Each grant is an HMAC-signed file
//! under `user_data/settings/grants/`; a file that fails verification grants nothing.

pub mod capability;
pub mod network;
pub mod stores;
