//! Variable references in flow inputs (DECISIONS.md #1): `${ctx.a.b}`, `$ctx.a.b` and
//! `$flow.a.b` all read the flow context; a missing reference is `null`. `$env.X` is not
//! supported: it would leak rumid's environment into pack inputs (`--validate` reports it).
//!
//! A string that is exactly one reference takes the referenced value with its type;
//! references inside longer text are replaced by the value's text (`null` → empty).
//!
//! Every value resolved here is charged to a [`Budget`] as it is built (references copied
//! only once they are paid for), so no flow can build a value larger than its run's context
//! allows, however often it repeats a reference.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::context::{Budget, TooLarge};

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

/// The path of `s` when `s` is exactly one reference.
fn exact_ref(s: &str) -> Option<String> {
    next_ref(s, 0).and_then(|(start, end, path)| (start == 0 && end == s.len()).then_some(path))
}

/// Resolves every reference in `value` against `ctx`, charging what it builds to `budget`.
/// The result is built as a value of the context (level 1 of [`super::context::MAX_VALUE_DEPTH`]).
///
/// # Errors
/// [`TooLarge`] as soon as the value would not fit; nothing more is built then.
pub fn resolve(value: &Value, ctx: &Map<String, Value>, budget: &mut Budget) -> Result<Value, TooLarge> {
    resolve_at(value, ctx, budget, 1)
}

fn resolve_at(value: &Value, ctx: &Map<String, Value>, budget: &mut Budget, depth: usize) -> Result<Value, TooLarge> {
    match value {
        Value::String(s) => {
            let Some(first) = next_ref(s, 0) else {
                budget.node(depth)?;
                budget.charge(s.len())?;
                return Ok(value.clone());
            };
            if first.0 == 0 && first.1 == s.len() {
                return match lookup(ctx, &first.2) {
                    Some(v) => budget.copy(v, depth),
                    None => budget.node(depth).map(|()| Value::Null),
                };
            }
            budget.node(depth)?;
            let mut out = String::new();
            let mut pos = 0;
            let mut next = Some(first);
            while let Some((a, b, p)) = next {
                budget.charge(a - pos)?;
                out.push_str(&s[pos..a]);
                budget.append_text(lookup(ctx, &p).unwrap_or(&Value::Null), &mut out)?;
                pos = b;
                next = next_ref(s, pos);
            }
            budget.charge(s.len() - pos)?;
            out.push_str(&s[pos..]);
            Ok(Value::String(out))
        }
        Value::Array(items) => {
            budget.node(depth)?;
            items
                .iter()
                .map(|v| resolve_at(v, ctx, budget, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Value::Object(m) => {
            budget.node(depth)?;
            m.iter()
                .map(|(k, v)| {
                    budget.key(k)?;
                    Ok((k.clone(), resolve_at(v, ctx, budget, depth + 1)?))
                })
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object)
        }
        other => budget.node(depth).map(|()| other.clone()),
    }
}

/// Whether `value` (anywhere inside) holds a variable reference that [`resolve`] replaces.
pub fn has_reference(value: &Value) -> bool {
    match value {
        Value::String(s) => next_ref(s, 0).is_some(),
        Value::Array(a) => a.iter().any(has_reference),
        Value::Object(m) => m.values().any(has_reference),
        _ => false,
    }
}

/// Whether `s` is exactly one reference (its resolved value keeps the referenced type).
pub fn is_exact_reference(s: &str) -> bool {
    exact_ref(s).is_some()
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

fn literal<'a>(s: &str, ctx: &'a Map<String, Value>, budget: &mut Budget) -> Result<Cow<'a, Value>, TooLarge> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "true" => return Ok(Cow::Owned(Value::Bool(true))),
        "false" => return Ok(Cow::Owned(Value::Bool(false))),
        "none" | "null" => return Ok(Cow::Owned(Value::Null)),
        _ => {}
    }
    if let Ok(n) = t.parse::<f64>() {
        return Ok(Cow::Owned(
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
        ));
    }
    if t.starts_with('$') {
        // One reference is compared where it lies, never copied.
        if let Some(path) = exact_ref(t) {
            return Ok(lookup(ctx, &path).map_or(Cow::Owned(Value::Null), Cow::Borrowed));
        }
        return resolve(&Value::String(t.to_owned()), ctx, budget).map(Cow::Owned);
    }
    Ok(Cow::Owned(Value::String(
        t.trim_matches(|c| c == '"' || c == '\'').to_owned(),
    )))
}

/// Evaluates a `when` condition: `<lhs> OP <rhs>` (OP one of `== != >= <= > <`, with spaces
/// around it) or the truthiness of one value.
///
/// # Errors
/// [`TooLarge`] when a side is text with references that would not fit `budget`.
pub fn condition(expr: &str, ctx: &Map<String, Value>, budget: &mut Budget) -> Result<bool, TooLarge> {
    for op in [" == ", " != ", " >= ", " <= ", " > ", " < "] {
        if let Some((l, r)) = expr.split_once(op) {
            let (lv, rv) = (literal(l, ctx, budget)?, literal(r, ctx, budget)?);
            let (lv, rv) = (lv.as_ref(), rv.as_ref());
            let num = |v: &Value| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            return Ok(match op.trim() {
                "==" => lv == rv || (num(lv).is_some() && num(lv) == num(rv)),
                "!=" => !(lv == rv || (num(lv).is_some() && num(lv) == num(rv))),
                o => match (num(lv), num(rv)) {
                    (Some(a), Some(b)) => match o {
                        ">=" => a >= b,
                        "<=" => a <= b,
                        ">" => a > b,
                        _ => a < b,
                    },
                    _ => false,
                },
            });
        }
    }
    Ok(truthy(literal(expr, ctx, budget)?.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::context::{Context, MAX_VALUE_DEPTH};
    use serde_json::json;

    fn ctx() -> Map<String, Value> {
        json!({"a": {"b": 2, "s": "x"}, "n": null, "list": [10, 20], "flag": true})
            .as_object()
            .unwrap()
            .clone()
    }

    fn roomy() -> Budget {
        Budget::new(1 << 20, 1 << 20)
    }

    fn r(v: &Value, c: &Map<String, Value>) -> Value {
        resolve(v, c, &mut roomy()).unwrap()
    }

    fn cond(e: &str, c: &Map<String, Value>) -> bool {
        condition(e, c, &mut roomy()).unwrap()
    }

    #[test]
    fn all_three_forms_resolve_and_missing_is_null() {
        let c = ctx();
        assert_eq!(r(&json!("${ctx.a.b}"), &c), json!(2));
        assert_eq!(r(&json!("$ctx.a.b"), &c), json!(2));
        assert_eq!(r(&json!("$flow.a"), &c), json!({"b": 2, "s": "x"}));
        assert_eq!(r(&json!("$ctx.missing.x"), &c), Value::Null);
        assert_eq!(r(&json!("${ctx.list.1}"), &c), json!(20));
        assert_eq!(r(&json!("v=${ctx.a.b}, s=$ctx.a.s."), &c), json!("v=2, s=x."));
        assert_eq!(r(&json!("o=$ctx.a"), &c), json!(r#"o={"b":2,"s":"x"}"#));
        assert_eq!(r(&json!({"k": ["$ctx.a.s"]}), &c), json!({"k": ["x"]}));
        assert_eq!(r(&json!("$env.HOME"), &c), json!("$env.HOME"), "no $env");
        assert!(uses_env(&json!({"x": "${env.SECRET}"})));
        assert_eq!(r(&json!("cost: $5"), &c), json!("cost: $5"));
    }

    #[test]
    fn conditions_compare_and_test_truth() {
        let c = ctx();
        assert!(cond("$ctx.a.b == 2", &c));
        assert!(cond("$ctx.a.b > 1", &c));
        assert!(!cond("$ctx.a.b < 1", &c));
        assert!(cond("$ctx.a.s == 'x'", &c));
        assert!(cond("$ctx.n == none", &c));
        assert!(!cond("$ctx.n > 1", &c));
        assert!(cond("$ctx.flag", &c));
        assert!(!cond("$ctx.missing", &c));
        assert!(cond("$ctx.a.s != y", &c));
        // A reference is compared in place: a value larger than the budget still compares.
        let big = json!({"v": "x".repeat(10_000)});
        let big = big.as_object().unwrap();
        assert!(condition("$ctx.v", big, &mut Budget::new(100, 100)).unwrap());
        assert!(condition("$ctx.v$ctx.v == b", big, &mut Budget::new(100, 100)).is_err());
    }

    /// The reproduced bomb: each `set` repeats the previous value four times. The bound stops
    /// it at the step that would pass it, with at most the bound built.
    #[test]
    fn repeating_a_reference_stops_at_the_bound() {
        let limit = 4 << 20;
        let mut ctx = Context::new(limit);
        ctx.insert("v".into(), json!("x".repeat(250))).unwrap();
        let quad = json!("${ctx.v}${ctx.v}${ctx.v}${ctx.v}");
        let mut steps = 0;
        let err = loop {
            match resolve(&quad, ctx.map(), &mut ctx.budget()) {
                Ok(v) => {
                    ctx.insert("v".into(), v).unwrap();
                    steps += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(err, TooLarge::Bytes { limit });
        assert_eq!(
            steps, 6,
            "250 * 4^6 bytes fit in 4 MiB next to the previous value, 4^7 do not"
        );
        assert!(ctx.bytes() <= limit);
        // The same with structure instead of text: [v, v, v, v].
        let mut ctx = Context::new(limit);
        ctx.insert("v".into(), json!("x".repeat(250))).unwrap();
        let list = json!(["$ctx.v", "$ctx.v", "$ctx.v", "$ctx.v"]);
        while let Ok(v) = resolve(&list, ctx.map(), &mut ctx.budget()) {
            ctx.insert("v".into(), v).unwrap();
        }
        assert!(ctx.bytes() <= limit);
    }

    #[test]
    fn nesting_a_value_in_itself_stops_at_the_depth_bound() {
        let mut ctx = Context::new(1 << 20);
        ctx.insert("v".into(), json!(0)).unwrap();
        let wrap = json!({"inner": ["$ctx.v"]});
        let mut levels = 1;
        while let Ok(v) = resolve(&wrap, ctx.map(), &mut ctx.budget()) {
            ctx.insert("v".into(), v).unwrap();
            levels += 2;
        }
        assert_eq!(resolve(&wrap, ctx.map(), &mut ctx.budget()), Err(TooLarge::Depth));
        assert!(levels <= MAX_VALUE_DEPTH, "{levels}");
    }
}
