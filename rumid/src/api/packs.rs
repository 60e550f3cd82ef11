//! `/api/packs…`: list, pending, status, scan, approve, reject, uninstall.

use axum::extract::{Path, State};
use axum::response::Response;
use rumi_common::ids::PackId;
use serde::Deserialize;
use serde_json::json;

use super::envelope::{envelope_raw, ok_bytes};
use super::{AppJson, AppState, blocking, ok};
use crate::audit::{AuditEvent, Category, Severity};
use crate::error::Error;

fn pack_id(raw: &str) -> Result<PackId, Error> {
    Ok(PackId::parse(raw)?)
}

/// The hot path: the response is rendered once per snapshot and shared afterwards.
#[utoipa::path(get, path = "/api/packs", tag = "packs", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PackListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>) -> Response {
    let snap = state.packs.snapshot();
    ok_bytes(snap.rendered.get_or_init(|| envelope_raw(&snap.list_json)).clone())
}

#[utoipa::path(get, path = "/api/packs/pending", tag = "packs", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PendingPacksAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn pending(State(state): State<AppState>) -> Response {
    let snap = state.packs.snapshot();
    let packs: Vec<_> = snap.packs.iter().filter(|p| p.status.is_pending()).collect();
    ok(json!({"packs": packs, "count": packs.len()}))
}

#[utoipa::path(get, path = "/api/packs/{pack_id}/status", tag = "packs", params(("pack_id" = String, Path, description = "pack id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PackStatusAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn status(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    Ok(ok(blocking(move || packs.status(&id)).await?))
}

#[utoipa::path(post, path = "/api/packs/scan", tag = "packs", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::ScanReportAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn scan(State(state): State<AppState>) -> Result<Response, Error> {
    let packs = state.packs.clone();
    Ok(ok(blocking(move || Ok(packs.scan())).await?))
}

#[utoipa::path(post, path = "/api/packs/{pack_id}/approve", tag = "packs", params(("pack_id" = String, Path, description = "pack id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PackStatusAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn approve(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    let approved = blocking(move || packs.approve(&id)).await?;
    // Load the pack's flows before answering, so that a `flows run` right after the
    // approval finds them (the background reload on the policy change follows anyway).
    let engine = state.flows.clone();
    blocking(move || Ok(engine.reload())).await?;
    Ok(ok(approved))
}

/// Body of `POST /api/packs/{id}/reject`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub reason: String,
}

#[utoipa::path(post, path = "/api/packs/{pack_id}/reject", tag = "packs", params(("pack_id" = String, Path, description = "pack id")), request_body = RejectBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PackStatusAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn reject(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    AppJson(body): AppJson<RejectBody>,
) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    Ok(ok(blocking(move || packs.reject(&id, &body.reason)).await?))
}

#[utoipa::path(delete, path = "/api/packs/{pack_id}", tag = "packs", params(("pack_id" = String, Path, description = "pack id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::UninstalledAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn uninstall(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    let home = state.config.home.clone();
    let backup = blocking(move || packs.uninstall(&id).map(|b| (id, b))).await?;
    let shown = backup.1.strip_prefix(&home).unwrap_or(&backup.1).display().to_string();
    Ok(ok(json!({"pack_id": backup.0, "uninstalled": true, "backup": shown})))
}

/// Body of `POST /api/packs/import`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    pub path: String,
    #[serde(default)]
    pub notes: Option<String>,
}

/// `POST /api/packs/import`: a folder, `.zip` or `.rumipack` into staging.
#[utoipa::path(post, path = "/api/packs/import", tag = "packs", request_body = ImportBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::StagedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn import(State(state): State<AppState>, AppJson(body): AppJson<ImportBody>) -> Result<Response, Error> {
    if body.path.trim().is_empty() {
        return Err(Error::EmptyValue { field: "path" });
    }
    let importer = crate::import::Importer::new(&state.config.home);
    let source = std::path::PathBuf::from(&body.path);
    let result = blocking(move || Ok(importer.import(&source))).await?;
    match result {
        Ok(staged) => {
            state
                .audit
                .record(
                    AuditEvent::new(Category::System, "pack_import_completed")
                        .in_request()
                        .owner_pack(&staged.pack_id)
                        .detail("staging_id", staged.staging_id.clone())
                        .detail("input_type", staged.input_type.clone())
                        .detail("files", staged.files)
                        .detail("bytes", staged.bytes)
                        .detail("notes", body.notes.unwrap_or_default()),
                )
                .await;
            Ok(ok(staged))
        }
        Err(e) => {
            let err = Error::from(e);
            let mut ev = AuditEvent::new(Category::System, "pack_import_failed")
                .in_request()
                .failed(Severity::Warning, err.code().as_str(), err.to_string());
            ev = ev.detail("path", body.path.clone());
            state.audit.record(ev).await;
            if let Error::Import(ie) = &err
                && ie.is_security()
            {
                state
                    .audit
                    .record(
                        AuditEvent::new(Category::Security, "pack_import_refused")
                            .in_request()
                            .failed(Severity::Warning, err.code().as_str(), err.to_string())
                            .detail("path", body.path),
                    )
                    .await;
            }
            Err(err)
        }
    }
}

/// `GET /api/packs/staging`: staged imports, newest first.
#[utoipa::path(get, path = "/api/packs/staging", tag = "packs", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::StagedListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn staging(State(state): State<AppState>) -> Result<Response, Error> {
    let importer = crate::import::Importer::new(&state.config.home);
    let list = blocking(move || Ok(importer.list())).await?;
    Ok(ok(json!({"staged": list, "count": list.len()})))
}

/// `DELETE /api/packs/staging/{staging_id}`.
#[utoipa::path(delete, path = "/api/packs/staging/{staging_id}", tag = "packs", params(("staging_id" = String, Path, description = "staging id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::DiscardedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn discard(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let importer = crate::import::Importer::new(&state.config.home);
    let shown = id.clone();
    blocking(move || importer.discard(&id).map_err(Error::from)).await?;
    Ok(ok(json!({"staging_id": shown, "discarded": true})))
}

/// Body of `POST /api/packs/apply`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    pub staging_id: String,
    #[serde(default)]
    pub mode: Option<String>,
}

/// `POST /api/packs/apply`: installs a staged pack (backup, atomic swap); it then needs
/// approval again if anything changed.
#[utoipa::path(post, path = "/api/packs/apply", tag = "packs", request_body = ApplyBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::ApplyAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn apply(State(state): State<AppState>, AppJson(body): AppJson<ApplyBody>) -> Result<Response, Error> {
    if body.mode.as_deref().is_some_and(|m| m != "replace") {
        return Err(Error::Invalid {
            field: "mode",
            reason: "the only mode is \"replace\"".into(),
        });
    }
    let applied = apply_staged(&state, &body.staging_id).await?;
    Ok(ok(applied))
}

/// Applies a staged import, audits it and rescans; shared with the `pack.update` privilege.
///
/// # Errors
/// The apply's error (audited as `pack_apply_failed`).
pub async fn apply_staged(state: &AppState, staging_id: &str) -> Result<serde_json::Value, Error> {
    state
        .audit
        .record(
            AuditEvent::new(Category::System, "pack_apply_started")
                .in_request()
                .detail("staging_id", staging_id),
        )
        .await;
    let importer = crate::import::Importer::new(&state.config.home);
    let packs = state.packs.clone();
    let id = staging_id.to_owned();
    let result = blocking(move || {
        let applied = importer.apply(&id)?;
        packs.scan();
        let pack = PackId::parse(&applied.pack_id)?;
        let status = packs.status(&pack)?;
        Ok((applied, status))
    })
    .await;
    match result {
        Ok((applied, status)) => {
            state
                .audit
                .record(
                    AuditEvent::new(Category::System, "pack_apply_completed")
                        .in_request()
                        .owner_pack(&applied.pack_id)
                        .detail("staging_id", applied.staging_id.clone())
                        .detail("replaced", applied.replaced)
                        .detail("backup", applied.backup.clone().unwrap_or_default()),
                )
                .await;
            Ok(json!({"applied": applied, "pack": status}))
        }
        Err(e) => {
            state
                .audit
                .record(
                    AuditEvent::new(Category::System, "pack_apply_failed")
                        .in_request()
                        .failed(Severity::Warning, e.code().as_str(), e.to_string())
                        .detail("staging_id", staging_id),
                )
                .await;
            Err(e)
        }
    }
}
