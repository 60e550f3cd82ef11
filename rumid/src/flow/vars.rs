//! Variable references in flow inputs (DECISIONS.md #1): `${ctx.a.b}`, `$ctx.a.b` and
//! `$flow.a.b` all read the flow context; a missing reference is `null`. `$env.X` is not
//! supported: it would leak rumid's environment into pack inputs (`--validate` reports it).
//!
//! A string that is exactly one reference takes the referenced value with its type;
//! references inside longer text are replaced by the value's text (`null` → empty).

use serde_json::{Map, Value};

/// Deepest nesting resolved.
const MAX_DEPTH: usize = 20;

/// Looks up `a.b.c` in the context.
pub fn lookup<'a>(ctx: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = ctx.get(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get(p)?,
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

/// Finds the next reference in `s` from byte `from`: (start, end, path).
fn next_ref(s: &str, from: usize) -> Option<(usize, usize, String)> {
    let mut i = from;
    while let Some(off) = s[i..].find('$') {
        let start = i + off;
        let rest = &s[start..];
        for (prefix, braced) in [("${ctx.", true), ("${flow.", true), ("$ctx.", false), ("$flow.", false)] {
            if let Some(body) = rest.strip_prefix(prefix) {
                let len = body.find(|c: char| !is_path_char(c)).unwrap_or(body.len());
                let path = body[..len].trim_end_matches('.').to_owned();
                if path.is_empty() {
                    continue;
                }
                if braced {
                    if body[len..].starts_with('}') {
                        return Some((start, start + prefix.len() + len + 1, path));
                    }
                    continue;
                }
                return Some((start, start + prefix.len() + path.len(), path));
            }
        }
        i = start + 1;
    }
    None
}

fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Resolves every reference in `value` against `ctx`.
pub fn resolve(value: &Value, ctx: &Map<String, Value>) -> Value {
    resolve_depth(value, ctx, 0)
}

fn resolve_depth(value: &Value, ctx: &Map<String, Value>, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    match value {
        Value::String(s) => {
            let Some((start, end, path)) = next_ref(s, 0) else {
                return value.clone();
            };
            if start == 0 && end == s.len() {
                return lookup(ctx, &path).cloned().unwrap_or(Value::Null);
            }
            let mut out = String::new();
            let mut pos = 0;
            let mut next = Some((start, end, path));
            while let Some((a, b, p)) = next {
                out.push_str(&s[pos..a]);
                out.push_str(&to_text(lookup(ctx, &p).unwrap_or(&Value::Null)));
                pos = b;
                next = next_ref(s, pos);
            }
            out.push_str(&s[pos..]);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve_depth(v, ctx, depth + 1)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve_depth(v, ctx, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `value` (anywhere inside) uses `$env.`.
pub fn uses_env(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("$env.") || s.contains("${env."),
        Value::Array(a) => a.iter().any(uses_env),
        Value::Object(m) => m.values().any(uses_env),
        _ => false,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn literal(s: &str, ctx: &Map<String, Value>) -> Value {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "none" | "null" => return Value::Null,
        _ => {}
    }
    if let Ok(n) = t.parse::<f64>() {
        return serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number);
    }
    if t.starts_with('$') {
        return resolve(&Value::String(t.to_owned()), ctx);
    }
    Value::String(t.trim_matches(|c| c == '"' || c == '\'').to_owned())
}

/// Evaluates a `when` condition: `<lhs> OP <rhs>` (OP one of `== != >= <= > <`, with spaces
/// around it) or the truthiness of one value.
pub fn condition(expr: &str, ctx: &Map<String, Value>) -> bool {
    for op in [" == ", " != ", " >= ", " <= ", " > ", " < "] {
        if let Some((l, r)) = expr.split_once(op) {
            let (lv, rv) = (literal(l, ctx), literal(r, ctx));
            let num = |v: &Value| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            return match op.trim() {
                "==" => lv == rv || (num(&lv).is_some() && num(&lv) == num(&rv)),
                "!=" => !(lv == rv || (num(&lv).is_some() && num(&lv) == num(&rv))),
                o => match (num(&lv), num(&rv)) {
                    (Some(a), Some(b)) => match o {
                        ">=" => a >= b,
                        "<=" => a <= b,
                        ">" => a > b,
                        _ => a < b,
                    },
                    _ => false,
                },
            };
        }
    }
    truthy(&literal(expr, ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Map<String, Value> {
        json!({"a": {"b": 2, "s": "x"}, "n": null, "list": [10, 20], "flag": true})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn all_three_forms_resolve_and_missing_is_null() {
        let c = ctx();
        assert_eq!(resolve(&json!("${ctx.a.b}"), &c), json!(2));
        assert_eq!(resolve(&json!("$ctx.a.b"), &c), json!(2));
        assert_eq!(resolve(&json!("$flow.a"), &c), json!({"b": 2, "s": "x"}));
        assert_eq!(resolve(&json!("$ctx.missing.x"), &c), Value::Null);
        assert_eq!(resolve(&json!("${ctx.list.1}"), &c), json!(20));
        assert_eq!(resolve(&json!("v=${ctx.a.b}, s=$ctx.a.s."), &c), json!("v=2, s=x."));
        assert_eq!(resolve(&json!({"k": ["$ctx.a.s"]}), &c), json!({"k": ["x"]}));
        assert_eq!(resolve(&json!("$env.HOME"), &c), json!("$env.HOME"), "no $env");
        assert!(uses_env(&json!({"x": "${env.SECRET}"})));
        assert_eq!(resolve(&json!("cost: $5"), &c), json!("cost: $5"));
    }

    #[test]
    fn conditions_compare_and_test_truth() {
        let c = ctx();
        assert!(condition("$ctx.a.b == 2", &c));
        assert!(condition("$ctx.a.b > 1", &c));
        assert!(!condition("$ctx.a.b < 1", &c));
        assert!(condition("$ctx.a.s == 'x'", &c));
        assert!(condition("$ctx.n == none", &c));
        assert!(!condition("$ctx.n > 1", &c));
        assert!(condition("$ctx.flag", &c));
        assert!(!condition("$ctx.missing", &c));
        assert!(condition("$ctx.a.s != y", &c));
    }
}
