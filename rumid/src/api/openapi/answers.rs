//! The typed answers of the API for the OpenAPI document: one success envelope per shape of
//! `data`, and schema-only structs for the answers that handlers build with `json!`. Answers
//! built from real response structs (PackStatus, NetworkGrant, CandidateItem…) use those
//! structs' own `ToSchema`, derived where they are defined.
//!
//! These structs are never built: they only describe. A field is required exactly when the
//! handler always sends it, and nullable (`Option`) when it may be null or absent, because
//! schemathesis checks live answers against them (`scripts/check-openapi`). Unknown fields are
//! allowed, so adding a field to an answer does not break a client.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::ToSchema;

use crate::approval::discovery::Invalid;
use crate::approval::{PackStatus, PackSummary, ScanReport};
use crate::audit::AuditStatus;
use crate::flow::loader::Diagnostic;
use crate::grants::capability::PrincipalGrants;
use crate::grants::network::NetworkGrant;
use crate::grants::stores::Share;
use crate::handlers::Item as CandidateItem;
use crate::handlers::Source as HandlerSource;
use crate::import::{Applied, Staged};
use crate::pip::Item as PipItem;
use crate::routes::Route;
use crate::supervisor::{AuditStreamStatus, HelperStatus};
use crate::units::Unit;

/// `{"success": true, "data": <Data>}` wrappers, one per `data` schema.
macro_rules! envelopes {
    ($($name:ident($data:ident);)*) => {$(
        #[doc = concat!("`{\"success\": true, \"data\": ", stringify!($data), "}`.")]
        #[derive(ToSchema)]
        pub struct $name {
            /// Always true.
            success: bool,
            data: $data,
        }
    )*};
}

envelopes! {
    PackListAnswer(PackList);
    PendingPacksAnswer(PendingPacks);
    PackStatusAnswer(PackStatus);
    ScanReportAnswer(ScanReport);
    UninstalledAnswer(Uninstalled);
    StagedAnswer(Staged);
    StagedListAnswer(StagedList);
    DiscardedAnswer(Discarded);
    ApplyAnswer(ApplyResult);
    FlowListAnswer(FlowList);
    FlowReloadAnswer(FlowReload);
    DockerStatusAnswer(DockerStatus);
    ContainerListAnswer(ContainerList);
    ContainersRemovedAnswer(ContainersRemoved);
    StartCheckAnswer(StartCheck);
    RouteListAnswer(RouteList);
    DiagnosticsAnswer(Diagnostics);
    AuditRecentAnswer(AuditRecent);
    NetworkGrantListAnswer(NetworkGrantList);
    NetworkGrantAnswer(NetworkGrant);
    NetworkCheckAnswer(NetworkCheck);
    SecretListAnswer(SecretList);
    SecretSetAnswer(SecretSet);
    SecretDeletedAnswer(SecretDeleted);
    StoreListAnswer(StoreList);
    StoreCreatedAnswer(StoreCreated);
    SharedStoreListAnswer(SharedStoreList);
    ShareAnswer(Share);
    GrantListAnswer(GrantList);
    PrincipalGrantsAnswer(PrincipalGrants);
    BatchReportAnswer(BatchReport);
    CandidateScanAnswer(CandidateScan);
    CandidateListAnswer(CandidateList);
    CandidateItemAnswer(CandidateItem);
    HandlerSourceAnswer(HandlerSource);
    PipScanAnswer(PipScan);
    PipListAnswer(PipList);
    PipItemAnswer(PipItem);
    PrivilegeListAnswer(PrivilegeList);
    PrivilegeGrantedAnswer(PrivilegeGranted);
    PrivilegeRevokedAnswer(PrivilegeRevoked);
    PrivilegeExecutedAnswer(PrivilegeExecuted);
    UnitListAnswer(UnitList);
    UnitAnswer(Unit);
    UnitExecutedAnswer(UnitExecuted);
}

// === packs ===

/// `GET /api/packs`.
#[derive(ToSchema)]
pub struct PackList {
    packs: Vec<PackSummary>,
    count: usize,
    invalid: Vec<Invalid>,
}

/// `GET /api/packs/pending`.
#[derive(ToSchema)]
pub struct PendingPacks {
    packs: Vec<PackSummary>,
    count: usize,
}

/// `DELETE /api/packs/{pack_id}`.
#[derive(ToSchema)]
pub struct Uninstalled {
    pack_id: String,
    uninstalled: bool,
    /// The backup directory, relative to the home.
    backup: String,
}

/// `GET /api/packs/staging`.
#[derive(ToSchema)]
pub struct StagedList {
    staged: Vec<Staged>,
    count: usize,
}

/// `DELETE /api/packs/staging/{staging_id}`.
#[derive(ToSchema)]
pub struct Discarded {
    staging_id: String,
    discarded: bool,
}

/// `POST /api/packs/apply`.
#[derive(ToSchema)]
pub struct ApplyResult {
    applied: Applied,
    pack: PackStatus,
}

// === flows, routes, containers ===

/// `GET /api/flows`.
#[derive(ToSchema)]
pub struct FlowList {
    flows: Vec<FlowInfo>,
    count: usize,
    diagnostics: Vec<Diagnostic>,
}

/// One loaded flow.
#[derive(ToSchema)]
pub struct FlowInfo {
    flow_id: String,
    source: FlowSource,
    phases: Vec<String>,
    /// Steps once modifiers are applied.
    steps: usize,
    schedule: Option<FlowSchedule>,
}

/// `{"kind": "official" | "shared"}` or `{"kind": "pack", "pack_id"}`.
#[derive(ToSchema)]
pub struct FlowSource {
    kind: String,
    pack_id: Option<String>,
}

/// `{"interval": seconds}` or `{"cron": "<5 fields>"}`.
#[derive(ToSchema)]
pub struct FlowSchedule {
    interval: Option<u64>,
    cron: Option<String>,
}

/// `POST /api/flows/reload`.
#[derive(ToSchema)]
pub struct FlowReload {
    /// Flows loaded now.
    flows: usize,
    diagnostics: Vec<Diagnostic>,
}

/// `GET /api/routes` and `POST /api/routes/reload`.
#[derive(ToSchema)]
pub struct RouteList {
    routes: Vec<Route>,
    count: usize,
    diagnostics: Vec<Diagnostic>,
}

/// `GET /api/docker/status`.
#[derive(ToSchema)]
pub struct DockerStatus {
    available: bool,
    /// The engine's version, or why it does not answer.
    detail: String,
    image: String,
    runtime: Option<String>,
    security_mode: String,
    blocks_run_in: String,
    execution_mode: String,
}

/// `GET /api/containers`.
#[derive(ToSchema)]
pub struct ContainerList {
    containers: Vec<ContainerInfo>,
    count: usize,
    /// Null when blocks do not run in Docker.
    spares: Option<SparesInfo>,
}

/// One container of this instance.
#[derive(ToSchema)]
pub struct ContainerInfo {
    id: Option<String>,
    name: Option<String>,
    pack_id: Option<String>,
    #[schema(rename = "type")]
    kind: Option<String>,
    /// Docker's state.
    state: Option<String>,
    spare: bool,
}

/// The pristine spare pool.
#[derive(ToSchema)]
pub struct SparesInfo {
    per_pack: usize,
    total_limit: usize,
    ttl_seconds: u64,
    waiting: usize,
    starting: usize,
    /// Packs whose next spare is put off until the CPU has room for it.
    deferred: usize,
    claims: u64,
    misses: u64,
}

/// `DELETE /api/containers/{pack_id}` and `POST …/stop`.
#[derive(ToSchema)]
pub struct ContainersRemoved {
    pack_id: String,
    removed: usize,
}

/// `POST /api/containers/{pack_id}/start`.
#[derive(ToSchema)]
pub struct StartCheck {
    pack_id: String,
    ok: bool,
    /// `<error_type>: <message>` when not ok.
    error: Option<String>,
    duration_ms: f64,
}

// === health, audit ===

/// `GET /health` (not enveloped).
#[derive(ToSchema)]
pub struct HealthPublic {
    /// `UP`, `DEGRADED` or `DOWN`.
    status: String,
    timestamp: String,
}

/// `GET /api/health` (and the `system.diagnostics` privilege).
#[derive(ToSchema)]
pub struct Diagnostics {
    status: String,
    timestamp: String,
    probes: BTreeMap<String, ProbeResult>,
    version: String,
    security_mode: String,
    packs: PackCounts,
    helpers: BTreeMap<String, HelperInfo>,
    policy_version: u64,
    audit: AuditStatus,
    api: ApiCounters,
    logging: LoggingCounters,
    sandbox: SandboxInfo,
}

/// One probe.
#[derive(ToSchema)]
pub struct ProbeResult {
    status: String,
    duration_ms: f64,
    /// Present when the probe is not `UP` or verbose output was asked for.
    message: Option<String>,
}

#[derive(ToSchema)]
pub struct PackCounts {
    total: usize,
    /// `pending` and `modified`.
    pending: usize,
}

/// A helper daemon as supervised, with its audit stream (serialised as health builds it).
#[derive(ToSchema, serde::Serialize)]
pub struct HelperInfo {
    #[serde(flatten)]
    status: HelperStatus,
    audit: AuditStreamStatus,
}

#[derive(ToSchema)]
pub struct ApiCounters {
    unauthenticated_connections: u64,
    connections_evicted: u64,
    header_timeouts: u64,
}

#[derive(ToSchema)]
pub struct LoggingCounters {
    dropped_lines: u64,
}

#[derive(ToSchema)]
pub struct SandboxInfo {
    backend: String,
    execution_mode: String,
    isolated: bool,
    pack_uid_on_host: bool,
}

/// `GET /api/audit/recent`.
#[derive(ToSchema)]
pub struct AuditRecent {
    /// Audit lines as written, newest first.
    events: Vec<BTreeMap<String, Value>>,
    count: usize,
}

// === network, secrets, stores ===

/// `GET /api/network/list`.
#[derive(ToSchema)]
pub struct NetworkGrantList {
    grants: Vec<NetworkGrant>,
    count: usize,
}

/// `POST /api/network/check`.
#[derive(ToSchema)]
pub struct NetworkCheck {
    pack_id: String,
    /// Normalised.
    domain: String,
    port: u16,
    allowed: bool,
    reason: String,
}

/// `GET /api/secrets`.
#[derive(ToSchema)]
pub struct SecretList {
    count: usize,
    keys: Vec<SecretMeta>,
}

/// A secret's metadata; never its value.
#[derive(ToSchema)]
pub struct SecretMeta {
    key: String,
    /// The fixed mask `********` while the key holds a value, else null.
    value: Option<String>,
    exists: bool,
    deleted: bool,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
}

/// `POST /api/secrets/set`.
#[derive(ToSchema)]
pub struct SecretSet {
    key: String,
    created: bool,
}

/// `POST /api/secrets/delete`.
#[derive(ToSchema)]
pub struct SecretDeleted {
    key: String,
    deleted: bool,
}

/// `GET /api/stores`.
#[derive(ToSchema)]
pub struct StoreList {
    count: usize,
    stores: Vec<StoreInfo>,
}

#[derive(ToSchema)]
pub struct StoreInfo {
    store_id: String,
    /// `""` for a store without an owner.
    owner_pack: String,
    created_at: String,
    keys: u64,
}

/// `POST /api/stores/create`.
#[derive(ToSchema)]
pub struct StoreCreated {
    store_id: String,
    owner_pack: String,
    created_at: String,
}

/// `GET /api/stores/shared`.
#[derive(ToSchema)]
pub struct SharedStoreList {
    count: usize,
    shared_stores: Vec<SharedStore>,
}

/// One store that was ever shared.
#[derive(ToSchema)]
pub struct SharedStore {
    store_id: String,
    owner_pack: String,
    shared_with: Vec<String>,
    /// `approved` while `shared_with` is not empty, else `revoked`.
    status: String,
    approved_at: Option<String>,
    targets: Vec<Share>,
}

// === capability ===

/// `GET /api/capability/grants`.
#[derive(ToSchema)]
pub struct GrantList {
    grants: Vec<PrincipalGrants>,
    count: usize,
}

/// `POST /api/capability/grants/batch`.
#[derive(ToSchema)]
pub struct BatchReport {
    total: usize,
    succeeded: usize,
    failed: usize,
    results: Vec<BatchResult>,
}

#[derive(ToSchema)]
pub struct BatchResult {
    principal_id: String,
    permission_id: String,
    success: bool,
    /// Only when it failed.
    error: Option<String>,
    error_code: Option<String>,
}

/// `POST /api/capability/candidates/scan`.
#[derive(ToSchema)]
pub struct CandidateScan {
    scanned: usize,
    new_candidates: usize,
    candidates: Vec<FlatCandidate>,
    invalid: Vec<InvalidHandler>,
}

/// A candidate as the operations guide lists it after a scan.
#[derive(ToSchema)]
pub struct FlatCandidate {
    candidate_key: String,
    pack_id: String,
    slug: String,
    handler_id: String,
    permission_id: String,
    sha256: String,
    status: String,
    description: Option<String>,
    risk: Option<String>,
}

#[derive(ToSchema)]
pub struct InvalidHandler {
    pack_id: String,
    slug: String,
    error: String,
}

/// `GET /api/capability/requests` and `/blocked`.
#[derive(ToSchema)]
pub struct CandidateList {
    items: Vec<CandidateItem>,
    count: usize,
}

// === pip ===

/// `POST /api/pip/candidates/scan`.
#[derive(ToSchema)]
pub struct PipScan {
    scanned: usize,
    new_candidates: usize,
    candidates: Vec<PipItem>,
    invalid: Vec<PipInvalid>,
}

/// A lock file that could not be read or parsed.
#[derive(ToSchema)]
pub struct PipInvalid {
    pack_id: String,
    error: String,
    file: Option<String>,
    line: Option<u64>,
}

/// `GET /api/pip/requests` and `/blocked`.
#[derive(ToSchema)]
pub struct PipList {
    items: Vec<PipItem>,
    count: usize,
}

// === privileges, units ===

/// `GET /api/privileges`.
#[derive(ToSchema)]
pub struct PrivilegeList {
    privileges: Vec<PrivilegeInfo>,
    count: usize,
}

#[derive(ToSchema)]
pub struct PrivilegeInfo {
    privilege_id: String,
    description: String,
    granted_packs: Vec<String>,
}

#[derive(ToSchema)]
pub struct PrivilegeGranted {
    pack_id: String,
    privilege_id: String,
    granted_at: String,
}

#[derive(ToSchema)]
pub struct PrivilegeRevoked {
    pack_id: String,
    privilege_id: String,
    /// False when it was not held.
    revoked: bool,
}

#[derive(ToSchema)]
pub struct PrivilegeExecuted {
    pack_id: String,
    privilege_id: String,
    /// The action's result (docs/api.md).
    result: Value,
    executed_at: String,
}

/// `GET /api/units`.
#[derive(ToSchema)]
pub struct UnitList {
    units: Vec<Unit>,
    count: usize,
}

/// `POST /api/units/execute`.
#[derive(ToSchema)]
pub struct UnitExecuted {
    success: bool,
    /// What the unit's `run` returned.
    output: Value,
    unit_id: String,
}
