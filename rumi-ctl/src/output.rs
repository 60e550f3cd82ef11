//! Tables for people, JSON for scripts.

use serde_json::Value;

use crate::client::ApiError;

/// Prints rows as an aligned table with a header.
#[allow(clippy::print_stdout)]
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints a value as pretty JSON.
#[allow(clippy::print_stdout)]
pub fn json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A string field or "-".
pub fn field(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

#[allow(clippy::print_stderr, clippy::print_stdout)]
pub fn print_api_error(e: &ApiError, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(&e.body).unwrap_or_default());
        return;
    }
    eprintln!("error: {} {} (HTTP {})", e.code, e.message, e.status);
    if !e.suggestion.is_empty() {
        eprintln!("  suggestion: {}", e.suggestion);
    }
}
