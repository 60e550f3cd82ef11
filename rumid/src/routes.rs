//! Pack routes: HTTP endpoints that approved packs declare in `routes.json`
//! (`{"routes": [{"method", "path", "flow_id", "description", "input_mapping"}]}`, at the pack
//! root or in `backend/`), each running one of the pack's own flows.
//!
//! # Security
//! - Routes load only for approved packs and need the API token like every endpoint.
//! - A route may only run a flow of its own pack (`flow_id` equal to the pack id or starting
//!   with `<pack_id>.`); anything else is refused at load ("flow scope violation").
//! - Each pack routes only under its own prefix `/<pack_id>/`, so no pack can squat another
//!   pack's paths; built-in endpoints always win (a route under a built-in prefix is refused
//!   and reported).
//! - Path parameters are URL-decoded and refused if they contain NUL or `..`.
//! - `_headers` never includes `Authorization` or `Cookie`.

use std::path::Path;

use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::flow::loader::Diagnostic;

/// Paths owned by Rumi itself; pack routes under them are refused.
pub const RESERVED_PREFIXES: &[&str] = &[
    "/health",
    "/metrics",
    "/console",
    "/api/health",
    "/api/packs",
    "/api/network",
    "/api/capability",
    "/api/secrets",
    "/api/stores",
    "/api/flows",
    "/api/docker",
    "/api/containers",
    "/api/routes",
    "/api/audit",
    "/api/pip",
    "/api/units",
    "/api/privileges",
    "/api/openapi.json",
];
/// Largest routes.json read.
const MAX_ROUTES_FILE: u64 = 256 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub pack_id: PackId,
    pub method: String,
    pub path: String,
    pub flow_id: String,
    pub description: Option<String>,
    pub input_mapping: Map<String, Value>,
    #[serde(skip)]
    segments: Vec<String>,
}

/// A matched route and its decoded path parameters.
pub type Match<'a> = (&'a Route, Map<String, Value>);

/// A path parameter that decodes to something unsafe (NUL, `..`, invalid UTF-8, empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsafeParam;

#[derive(Debug, Default, Serialize)]
pub struct RouteTable {
    pub routes: Vec<Route>,
    pub diagnostics: Vec<Diagnostic>,
}

fn normalize(path: &str) -> String {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

fn reserved(path: &str) -> bool {
    RESERVED_PREFIXES
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

impl RouteTable {
    /// Loads the routes of approved packs, from their approved snapshots: a `routes.json`
    /// that is a symlink (into `/data`, say) is refused, never followed.
    pub fn load(home: &Path, approved: &[std::sync::Arc<crate::approval::snapshot::PackSnapshot>]) -> Self {
        let mut t = Self::default();
        for snap in approved {
            let pack = snap.pack();
            let Some(rel) = ["routes.json", "backend/routes.json"]
                .into_iter()
                .find(|r| snap.hashes().contains_key(*r))
            else {
                continue;
            };
            let file = snap.dir().join(rel);
            let shown = file.strip_prefix(home).unwrap_or(&file).display().to_string();
            let mut diag = |message: String| {
                t.diagnostics.push(Diagnostic {
                    path: shown.clone(),
                    level: "error",
                    message,
                })
            };
            let bytes = match snap.read(rel, MAX_ROUTES_FILE) {
                Ok(b) => b,
                Err(crate::approval::snapshot::ReadError::TooLarge { .. }) => {
                    diag("routes.json is larger than 256 KiB".into());
                    continue;
                }
                Err(e) => {
                    diag(format!("routes.json refused: {e}"));
                    continue;
                }
            };
            let doc: Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) => {
                    diag("routes.json is not valid JSON".into());
                    continue;
                }
            };
            for r in doc["routes"].as_array().into_iter().flatten() {
                let (Some(path), Some(flow_id)) = (r["path"].as_str(), r["flow_id"].as_str()) else {
                    diag("a route without path or flow_id is skipped".into());
                    continue;
                };
                let path = normalize(path);
                let method = r["method"].as_str().unwrap_or("GET").to_ascii_uppercase();
                if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
                    diag(format!("{method} {path}: unsupported method"));
                    continue;
                }
                let own = format!("/{pack}");
                if path != own && !path.starts_with(&format!("{own}/")) {
                    diag(format!(
                        "{method} {path}: routes of pack {pack} must start with {own}/; refused"
                    ));
                    continue;
                }
                if reserved(&path) {
                    diag(format!("{method} {path}: conflicts with a built-in endpoint; refused"));
                    continue;
                }
                if flow_id != pack.as_str() && !flow_id.starts_with(&format!("{pack}.")) {
                    diag(format!(
                        "{method} {path}: flow scope violation: {flow_id:?} is not a flow of pack {pack}"
                    ));
                    continue;
                }
                if let Some(other) = t.routes.iter().find(|x| x.method == method && x.path == path) {
                    diag(format!(
                        "{method} {path}: already routed by pack {}; refused",
                        other.pack_id
                    ));
                    continue;
                }
                t.routes.push(Route {
                    pack_id: pack.clone(),
                    segments: path.split('/').skip(1).map(str::to_owned).collect(),
                    method,
                    path,
                    flow_id: flow_id.to_owned(),
                    description: r["description"].as_str().map(str::to_owned),
                    input_mapping: r["input_mapping"].as_object().cloned().unwrap_or_default(),
                });
            }
        }
        t
    }

    /// Finds the route for a request: exact paths first, then templates.
    ///
    /// # Errors
    /// [`UnsafeParam`] when a path parameter is unsafe (NUL or `..` after decoding).
    pub fn find(&self, method: &str, path: &str) -> Result<Option<Match<'_>>, UnsafeParam> {
        let path = normalize(path);
        if let Some(r) = self.routes.iter().find(|r| r.method == method && r.path == path) {
            return Ok(Some((r, Map::new())));
        }
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        for r in self
            .routes
            .iter()
            .filter(|r| r.method == method && r.path.contains('{'))
        {
            if r.segments.len() != parts.len() {
                continue;
            }
            let mut params = Map::new();
            let mut ok = true;
            for (seg, part) in r.segments.iter().zip(&parts) {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    let decoded = percent_decode(part).ok_or(UnsafeParam)?;
                    if decoded.contains('\0') || decoded.contains("..") || decoded.is_empty() {
                        return Err(UnsafeParam);
                    }
                    params.insert(name.to_owned(), Value::String(decoded));
                } else if seg != part {
                    ok = false;
                    break;
                }
            }
            if ok {
                return Ok(Some((r, params)));
            }
        }
        Ok(None)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Builds a route's flow inputs from the request (DECISIONS.md #12).
pub fn inputs(
    route: &Route,
    params: &Map<String, Value>,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
) -> Value {
    let mut m = Map::new();
    if let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) {
        m.extend(b);
    }
    if method == "GET"
        && let Some(q) = query
    {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if let (Some(k), Some(v)) = (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            ) {
                m.insert(k, Value::String(v));
            }
        }
    }
    m.extend(params.clone());
    m.insert("_path_params".into(), Value::Object(params.clone()));
    m.insert("_method".into(), json!(method));
    m.insert("_path".into(), json!(path));
    m.insert("_raw_body".into(), json!(String::from_utf8_lossy(body)));
    let hs: Map<String, Value> = headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "authorization" | "cookie" | "proxy-authorization"))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    m.insert("_headers".into(), Value::Object(hs));
    for (to, from) in &route.input_mapping {
        if let Some(p) = from.as_str().and_then(|f| f.strip_prefix("path."))
            && let Some(v) = params.get(p)
        {
            m.insert(to.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// Keeps the routes table next to the flows.
pub type Shared = arc_swap::ArcSwap<RouteTable>;

/// Loaded routes, for `GET /api/routes`.
pub fn listing(t: &RouteTable) -> Value {
    json!({"routes": t.routes, "count": t.routes.len(), "diagnostics": t.diagnostics})
}
