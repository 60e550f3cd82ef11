//! Log lines in the operations guide's formats:
//!
//! ```text
//! {"timestamp": "2026-02-24T12:00:00.000000Z", "level": "INFO", "module": "rumid.flow", "message": "flows loaded", "correlation_id": "req-…", …}
//! 2026-02-24T12:00:00.000000Z [INFO] rumid.flow - flows loaded flows=3 (correlation_id=req-…)
//! ```
//!
//! `module` is the event's target with `::` written `.`; `correlation_id` is the `request_id`
//! of the request the event belongs to (a field of the event or of a span it is in), absent
//! outside requests. Levels are named as the guide names them (`WARNING`, not `WARN`). The
//! event's other fields follow (in JSON, with their types); the fields of the spans it is in
//! are under `span` (JSON, with the innermost span's `name`) or appended as `key=value` (text).

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::{LogFormat, QueuedStderr};
use tracing_subscriber::fmt::MakeWriter;

/// The field that names a request; shown as `correlation_id`.
const REQUEST_FIELD: &str = "request_id";

/// Fields of an event or span, keeping their JSON types.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    map: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.map.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

/// The guide's name of a level.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// A value as text shows it: strings bare, others as JSON. A string with a control character
/// (a newline in a pack's route path, say) is written JSON-quoted, so that nothing a pack
/// controls can end the line and forge another.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().any(char::is_control) => v.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The layer writing every event as one line through the stderr queue.
pub struct LineLayer {
    format: LogFormat,
}

impl LineLayer {
    pub fn new(format: LogFormat) -> Self {
        Self { format }
    }

    /// One event as a line (with its newline).
    fn render(&self, event: &Event<'_>, spans: Vec<(&'static str, Map<String, Value>)>) -> Vec<u8> {
        let mut own = Fields::default();
        event.record(&mut own);
        let meta = event.metadata();
        let module = meta.target().replace("::", ".");
        let mut span_fields = Map::new();
        for (_, f) in &spans {
            span_fields.extend(f.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let correlation = own
            .map
            .remove(REQUEST_FIELD)
            .or_else(|| span_fields.remove(REQUEST_FIELD))
            .map(|v| plain(&v));
        let message = own.message.unwrap_or_default();
        let timestamp = crate::time::now_rfc3339();
        let mut line = match self.format {
            LogFormat::Json => {
                // The guide's fields first, in its order, then the event's, then `span`.
                let mut fields: Vec<(String, Value)> = vec![
                    ("timestamp".into(), Value::String(timestamp)),
                    ("level".into(), Value::String(level_name(meta.level()).into())),
                    ("module".into(), Value::String(module)),
                    ("message".into(), Value::String(message)),
                ];
                if let Some(c) = correlation {
                    fields.push(("correlation_id".into(), Value::String(c)));
                }
                for (k, v) in own.map {
                    if !fields.iter().any(|(name, _)| *name == k) {
                        fields.push((k, v));
                    }
                }
                if let Some((name, _)) = spans.last() {
                    span_fields.insert("name".into(), Value::String((*name).to_owned()));
                    fields.push(("span".into(), Value::Object(span_fields)));
                }
                let mut out = Vec::with_capacity(256);
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut out, k);
                    out.push(b':');
                    let _ = serde_json::to_writer(&mut out, v);
                }
                out.push(b'}');
                out
            }
            LogFormat::Text => {
                let message = plain(&Value::String(message));
                let mut s = format!("{timestamp} [{}] {module} - {message}", level_name(meta.level()));
                for (k, v) in own.map.iter().chain(span_fields.iter()) {
                    s.push_str(&format!(" {k}={}", plain(v)));
                }
                if let Some(c) = correlation {
                    s.push_str(&format!(" (correlation_id={c})"));
                }
                s.into_bytes()
            }
        };
        line.push(b'\n');
        line
    }
}

impl<S> tracing_subscriber::Layer<S> for LineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let spans: Vec<(&'static str, Map<String, Value>)> = ctx
            .event_scope(event)
            .into_iter()
            .flat_map(|scope| scope.from_root())
            .map(|span| {
                let fields = span
                    .extensions()
                    .get::<Fields>()
                    .map(|f| f.map.clone())
                    .unwrap_or_default();
                (span.name(), fields)
            })
            .collect();
        let line = self.render(event, spans);
        let mut w = QueuedStderr.make_writer();
        let _ = std::io::Write::write_all(&mut w, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// Renders the events `f` emits, with the layer's own rendering.
    fn lines(format: LogFormat, f: impl FnOnce()) -> Vec<String> {
        struct Capture(LineLayer, Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
            fn on_new_span(&self, a: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
                self.0.on_new_span(a, id, ctx);
            }
            fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
                let spans = ctx
                    .event_scope(event)
                    .into_iter()
                    .flat_map(|s| s.from_root())
                    .map(|s| {
                        (
                            s.name(),
                            s.extensions()
                                .get::<Fields>()
                                .map(|f| f.map.clone())
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                let line = self.0.render(event, spans);
                self.1.lock().unwrap().push(String::from_utf8(line).unwrap());
            }
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Capture(LineLayer::new(format), out.clone()));
        tracing::subscriber::with_default(sub, f);
        Arc::try_unwrap(out).unwrap().into_inner().unwrap()
    }

    #[test]
    fn json_lines_have_the_guides_fields() {
        let got = lines(LogFormat::Json, || {
            let span = tracing::info_span!("http_request", request_id = "req-123", method = "GET");
            let _g = span.enter();
            tracing::warn!(target: "rumid::flow", flows = 3, "flows loaded");
        });
        assert!(
            got[0].starts_with(r#"{"timestamp":"#)
                && got[0].contains(r#""module":"rumid.flow","message":"flows loaded","correlation_id":"req-123""#),
            "the guide's order: {}",
            got[0]
        );
        let v: Value = serde_json::from_str(got[0].trim_end()).unwrap();
        assert_eq!(v["level"], "WARNING");
        assert_eq!(v["module"], "rumid.flow");
        assert_eq!(v["message"], "flows loaded");
        assert_eq!(v["correlation_id"], "req-123");
        assert_eq!(v["flows"], 3, "fields keep their types");
        assert_eq!(v["span"]["method"], "GET");
        assert_eq!(v["span"]["name"], "http_request");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(got[0].ends_with('\n'));
    }

    #[test]
    fn text_lines_read_like_the_guides_example() {
        let got = lines(LogFormat::Text, || {
            let span = tracing::info_span!("http_request", request_id = "req-123");
            let _g = span.enter();
            tracing::info!(target: "rumi::kernel::core", "Flow loaded");
        });
        let line = got[0].trim_end();
        let (ts, rest) = line.split_once(' ').unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == "2026-02-24T12:00:00.000000Z".len(),
            "{line}"
        );
        assert_eq!(rest, "[INFO] rumi.kernel.core - Flow loaded (correlation_id=req-123)");
        // A value a pack controls cannot end the line and forge another.
        let forged = lines(LogFormat::Text, || {
            tracing::warn!(target: "rumid", path = "/p\n2026-01-01T00:00:00.000000Z [INFO] rumid - approved", "route refused");
        });
        assert_eq!(forged[0].matches('\n').count(), 1, "{}", forged[0]);
        assert!(forged[0].contains(r#"path="/p\n2026"#), "{}", forged[0]);
        let outside = lines(
            LogFormat::Text,
            || tracing::error!(target: "rumid", code = 7, "stopped"),
        );
        assert!(
            outside[0].trim_end().ends_with("[ERROR] rumid - stopped code=7"),
            "{}",
            outside[0]
        );
    }
}
