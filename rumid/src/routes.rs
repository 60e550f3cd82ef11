//! Pack routes: HTTP endpoints that approved packs declare in `routes.json`
//! (`{"routes": [{"method", "path", "flow_id", "description", "input_mapping"}]}`, at the pack
//! root or in `backend/`), each running one of the pack's own flows.
//!
//! # Security
//! - Routes load only for approved packs and need the API token like every endpoint.
//! - A route may only run a flow of its own pack (`flow_id` equal to the pack id or starting
//!   with `<pack_id>.`); anything else is refused at load ("flow scope violation").
//! - A pack routes under its own prefix `/<pack_id>/`, or under `/api/` as the original's
//!   guides write it (`/api/weather/{city}`, DECISIONS 20) when the path cannot match a
//!   built-in endpoint: paths are compared after normalising case, duplicate slashes and dot
//!   segments, and a `{param}` segment matches anything, so `/API//packs/x`, `/api/x/../packs`
//!   and `/api/{any}/x` are all refused. `/api/<other_pack_id>/…` belongs to that pack.
//! - Two packs claiming routes that can match one request (same method, every segment equal
//!   or a parameter) are both refused with a diagnostic: neither silently wins.
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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Route {
    #[schema(value_type = String)]
    pub pack_id: PackId,
    pub method: String,
    pub path: String,
    pub flow_id: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub input_mapping: Map<String, Value>,
    #[serde(skip)]
    segments: Vec<String>,
    /// The routes.json it came from, as diagnostics show it.
    #[serde(skip)]
    source: String,
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

/// A declared or requested path in canonical form: a leading slash, no trailing or duplicate
/// slashes, `.` segments dropped and `..` segments resolved (never above the root).
fn normalize(path: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    for seg in path.trim().split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("/{}", segs.join("/"))
}

/// Whether a segment is a `{param}` template.
fn is_param(seg: &str) -> bool {
    seg.len() > 2 && seg.starts_with('{') && seg.ends_with('}')
}

/// Whether a route with these segments could answer a request under a built-in prefix
/// (case-insensitively; a parameter matches any segment).
fn reserved(segments: &[String]) -> bool {
    RESERVED_PREFIXES.iter().any(|p| {
        let prefix: Vec<&str> = p.split('/').skip(1).collect();
        segments.len() >= prefix.len()
            && prefix
                .iter()
                .zip(segments)
                .all(|(b, s)| is_param(s) || s.eq_ignore_ascii_case(b))
    })
}

/// Whether two routes' segments can match one request path.
fn overlap(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| is_param(x) || is_param(y) || x.eq_ignore_ascii_case(y))
}

/// Why `pack` may not route `segments`, if it may not: a route lives under `/<pack_id>/`, or
/// under `/api/` where it cannot reach a built-in endpoint or another approved pack's
/// `/api/<pack_id>/` namespace.
fn refusal(pack: &PackId, segments: &[String], others: &[&PackId]) -> Option<String> {
    let first = segments.first().map(String::as_str);
    if first == Some(pack.as_str()) {
        return None;
    }
    if !first.is_some_and(|f| f.eq_ignore_ascii_case("api")) || segments.len() < 2 {
        return Some(format!(
            "routes of pack {pack} must start with /{pack}/ or /api/; refused"
        ));
    }
    if reserved(segments) {
        return Some("can match a built-in endpoint; refused".into());
    }
    let second = &segments[1];
    if let Some(owner) = others.iter().find(|o| second.eq_ignore_ascii_case(o.as_str())) {
        return Some(format!("/api/{owner}/ belongs to pack {owner}; refused"));
    }
    None
}

impl RouteTable {
    /// Loads the routes of approved packs, from their approved snapshots: a `routes.json`
    /// that is a symlink (into `/data`, say) is refused, never followed.
    pub fn load(home: &Path, approved: &[std::sync::Arc<crate::approval::snapshot::PackSnapshot>]) -> Self {
        let mut t = Self::default();
        let others = |pack: &PackId| -> Vec<PackId> {
            approved
                .iter()
                .map(|s| s.pack().clone())
                .filter(|p| p != pack)
                .collect()
        };
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
                let segments: Vec<String> = path.split('/').skip(1).map(str::to_owned).collect();
                if let Some(why) = refusal(pack, &segments, &others(pack).iter().collect::<Vec<_>>()) {
                    diag(format!("{method} {path}: {why}"));
                    continue;
                }
                if flow_id != pack.as_str() && !flow_id.starts_with(&format!("{pack}.")) {
                    diag(format!(
                        "{method} {path}: flow scope violation: {flow_id:?} is not a flow of pack {pack}"
                    ));
                    continue;
                }
                if t.routes
                    .iter()
                    .any(|x| x.pack_id == *pack && x.method == method && overlap(&x.segments, &segments))
                {
                    diag(format!(
                        "{method} {path}: routed twice by pack {pack}; the first is kept"
                    ));
                    continue;
                }
                t.routes.push(Route {
                    pack_id: pack.clone(),
                    segments,
                    source: shown.clone(),
                    method,
                    path,
                    flow_id: flow_id.to_owned(),
                    description: r["description"].as_str().map(str::to_owned),
                    input_mapping: r["input_mapping"].as_object().cloned().unwrap_or_default(),
                });
            }
        }
        t.refuse_contested();
        t
    }

    /// Refuses every route that another pack's route could answer too (same method,
    /// overlapping segments): both packs' routes go, each with a diagnostic naming the other.
    fn refuse_contested(&mut self) {
        let contested: Vec<(usize, PackId)> = self
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                self.routes
                    .iter()
                    .find(|o| o.pack_id != r.pack_id && o.method == r.method && overlap(&o.segments, &r.segments))
                    .map(|o| (i, o.pack_id.clone()))
            })
            .collect();
        for (i, other) in contested.iter().rev() {
            let r = self.routes.remove(*i);
            self.diagnostics.push(Diagnostic {
                path: r.source,
                level: "error",
                message: format!(
                    "{} {}: also claimed by pack {other}; both packs' routes are refused",
                    r.method, r.path
                ),
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        normalize(path).split('/').skip(1).map(str::to_owned).collect()
    }

    fn route(pack: &str, method: &str, path: &str) -> Route {
        Route {
            pack_id: PackId::parse(pack).unwrap(),
            method: method.into(),
            path: normalize(path),
            flow_id: pack.into(),
            description: None,
            input_mapping: Map::new(),
            segments: segs(path),
            source: String::new(),
        }
    }

    #[test]
    fn paths_normalise_slashes_and_dot_segments() {
        assert_eq!(normalize("api//weather/./x/"), "/api/weather/x");
        assert_eq!(normalize("/api/x/../packs"), "/api/packs");
        assert_eq!(normalize("/../../etc"), "/etc");
        assert_eq!(normalize(""), "/");
    }

    #[test]
    fn a_route_that_can_reach_a_built_in_is_refused_whatever_its_spelling() {
        let me = PackId::parse("weather").unwrap();
        let other = PackId::parse("maps").unwrap();
        let others = [&other];
        for ok in ["/api/weather/{city}", "/weather/now", "/api/forecast/{day}/hourly"] {
            assert_eq!(refusal(&me, &segs(ok), &others), None, "{ok}");
        }
        for bad in [
            "/API/Packs/x",
            "/api//packs/x",
            "/api/x/../packs/y",
            "/api/{any}/x",
            "/{any}/packs",
            "/api/health",
            "/Metrics",
            "/api",
            "/elsewhere/x",
            "/maps/x",
            "/api/maps/tiles",
            "/api/MAPS/tiles",
        ] {
            assert!(refusal(&me, &segs(bad), &others).is_some(), "{bad} must be refused");
        }
    }

    #[test]
    fn routes_overlap_when_some_request_matches_both() {
        assert!(overlap(&segs("/api/weather/{city}"), &segs("/api/weather/{town}")));
        assert!(overlap(&segs("/api/weather/london"), &segs("/api/Weather/{city}")));
        assert!(!overlap(
            &segs("/api/weather/{city}"),
            &segs("/api/weather/{city}/hourly")
        ));
        assert!(!overlap(&segs("/api/weather/london"), &segs("/api/weather/paris")));
    }

    #[test]
    fn contested_routes_are_refused_for_both_packs_and_exact_paths_match_first() {
        let mut t = RouteTable {
            routes: vec![
                route("a", "GET", "/api/weather/{city}"),
                route("b", "GET", "/api/weather/london"),
                route("b", "POST", "/api/weather/{city}"),
                route("a", "GET", "/a/{x}"),
                route("a", "GET", "/a/fixed"),
            ],
            diagnostics: Vec::new(),
        };
        t.refuse_contested();
        let left: Vec<(&str, &str)> = t.routes.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
        assert_eq!(
            left,
            [("POST", "/api/weather/{city}"), ("GET", "/a/{x}"), ("GET", "/a/fixed")]
        );
        assert_eq!(t.diagnostics.len(), 2, "{:?}", t.diagnostics);
        assert!(t.diagnostics.iter().all(|d| d.message.contains("both packs")));
        let (r, params) = t.find("GET", "/a/fixed").unwrap().unwrap();
        assert_eq!((r.path.as_str(), params.len()), ("/a/fixed", 0));
        let (r, params) = t.find("GET", "//a/other/").unwrap().unwrap();
        assert_eq!((r.path.as_str(), &params["x"]), ("/a/{x}", &json!("other")));
        assert_eq!(t.find("GET", "/a/%2e%2e").unwrap_err(), UnsafeParam);
        assert!(t.find("DELETE", "/a/fixed").unwrap().is_none());
    }
}
