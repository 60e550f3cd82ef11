//! `/api/packs…`: list, pending, status, scan, approve, reject, uninstall.

use axum::extract::{Path, State};
use axum::response::Response;
use rumi_common::ids::PackId;
use serde::Deserialize;
use serde_json::json;

use super::envelope::{envelope_raw, ok_bytes};
use super::{AppJson, AppState, blocking, ok};
use crate::error::Error;

fn pack_id(raw: &str) -> Result<PackId, Error> {
    Ok(PackId::parse(raw)?)
}

/// The hot path: the response is rendered once per snapshot and shared afterwards.
pub async fn list(State(state): State<AppState>) -> Response {
    let snap = state.packs.snapshot();
    ok_bytes(snap.rendered.get_or_init(|| envelope_raw(&snap.list_json)).clone())
}

pub async fn pending(State(state): State<AppState>) -> Response {
    let snap = state.packs.snapshot();
    let packs: Vec<_> = snap.packs.iter().filter(|p| p.status.is_pending()).collect();
    ok(json!({"packs": packs, "count": packs.len()}))
}

pub async fn status(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    Ok(ok(blocking(move || packs.status(&id)).await?))
}

pub async fn scan(State(state): State<AppState>) -> Result<Response, Error> {
    let packs = state.packs.clone();
    Ok(ok(blocking(move || Ok(packs.scan())).await?))
}

pub async fn approve(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    Ok(ok(blocking(move || packs.approve(&id)).await?))
}

/// Body of `POST /api/packs/{id}/reject`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub reason: String,
}

pub async fn reject(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    AppJson(body): AppJson<RejectBody>,
) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    Ok(ok(blocking(move || packs.reject(&id, &body.reason)).await?))
}

pub async fn uninstall(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let id = pack_id(&raw)?;
    let packs = state.packs.clone();
    let home = state.config.home.clone();
    let backup = blocking(move || packs.uninstall(&id).map(|b| (id, b))).await?;
    let shown = backup.1.strip_prefix(&home).unwrap_or(&backup.1).display().to_string();
    Ok(ok(json!({"pack_id": backup.0, "uninstalled": true, "backup": shown})))
}
