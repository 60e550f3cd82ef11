//! The JSON envelope, the JSON extractor that answers in it, and the body-size guard.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{AppState, current_request_id};
use crate::error::Error;

/// `{"success": true, "data": data}` with status 200.
pub fn ok<T: Serialize>(data: T) -> Response {
    axum::Json(json!({ "success": true, "data": data })).into_response()
}

/// The success envelope around an already-serialised `data` value.
pub fn envelope_raw(data_json: &[u8]) -> bytes::Bytes {
    let mut body = Vec::with_capacity(data_json.len() + 32);
    body.extend_from_slice(br#"{"success":true,"data":"#);
    body.extend_from_slice(data_json);
    body.push(b'}');
    body.into()
}

/// 200 with a pre-rendered JSON body.
pub fn ok_bytes(body: bytes::Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The error envelope (DECISIONS 19): `{"success": false, "error": "<message>", "error_code":
/// "RUMI-<CAT>-<NNN>", "suggestion", "request_id"}`. 5xx responses carry a generic message; the
/// detail is logged with the request id.
pub fn error_response(err: &Error) -> Response {
    let (status, body) = error_body(err);
    (status, axum::Json(Value::Object(body))).into_response()
}

/// The status and the fields of the error envelope, for answers that add their own fields
/// beside them (the flow run adds `flow_id` and `status_code`).
pub fn error_body(err: &Error) -> (StatusCode, Map<String, Value>) {
    let request_id = current_request_id();
    let message = if err.is_internal() {
        tracing::error!(request_id = request_id.as_deref().unwrap_or("-"), error = %err, code = %err.code(), "request failed");
        "internal error; the log has the detail under this request id".to_owned()
    } else {
        err.to_string()
    };
    let mut body = Map::new();
    body.insert("success".into(), Value::Bool(false));
    body.insert("error".into(), Value::String(message));
    body.insert("error_code".into(), json!(err.code()));
    body.insert("suggestion".into(), json!(err.suggestion()));
    body.insert("request_id".into(), json!(request_id));
    (err.status(), body)
}

/// `axum::Json`, but malformed or oversized bodies answer with the RUMI envelope.
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::ContentType),
            Err(JsonRejection::BytesRejection(r)) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::BodyTooLarge)
            }
            Err(e) => Err(Error::MalformedJson { detail: e.body_text() }),
        }
    }
}

/// Refuses bodies whose declared length exceeds `RUMI_MAX_REQUEST_BODY_BYTES` before any
/// byte is read. Chunked bodies are bounded by `DefaultBodyLimit` in the extractors.
pub async fn limit_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.config.max_request_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error_response(&Error::BodyTooLarge);
    }
    next.run(req).await
}
