//! How a failed command ends: its exit code and its message (text on stderr, or with
//! `--json` an error object on stdout).
//!
//! The exit codes are part of the CLI's contract (scripts test them) and are listed in
//! `docs/operator-guide.md`; never renumber one.

use serde_json::{Value, json};

use crate::client::{ApiError, NoToken, Unreachable};
use crate::output::{self, errln};

/// A failed command's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else: the API refused (400, 403, 422, 5xx…), a check found errors, health is
    /// not UP, a local file could not be written.
    Failure,
    /// The command line is wrong (clap's code).
    Usage,
    /// rumid could not be reached: not running, a stale address, no answer in time.
    Unreachable,
    /// The token was refused (401), or no token could be derived from the home.
    Unauthorized,
    /// The API answered 404: no such pack, grant, flow, candidate….
    NotFound,
    /// The API answered 409: the request conflicts with the current state.
    Conflict,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Unreachable => 3,
            Self::Unauthorized => 4,
            Self::NotFound => 5,
            Self::Conflict => 6,
        }
    }

    /// The `kind` of a JSON error.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Usage => "usage",
            Self::Unreachable => "unreachable",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
        }
    }
}

/// A failure the command's own output already shows (a check that found errors, health not
/// UP): with `--json` that output is the answer, so no error object follows it on stdout.
#[derive(Debug)]
pub struct Reported(pub String);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

/// Fails with a [`Reported`] message.
pub fn reported<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(Reported(message.into()).into())
}

/// A command line that is valid for clap but not usable here (`rumi-ctl setup` with no
/// command and no terminal to show the menu on): exit 2, as clap's own refusals.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The request conflicts with what is running (`setup run` while a rumid serves the home):
/// exit 6, as the API's 409.
#[derive(Debug)]
pub struct Conflict {
    pub message: String,
    pub suggestion: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Conflict {}

/// The exit code of a failed command.
pub fn classify(err: &anyhow::Error) -> Exit {
    if err.downcast_ref::<Usage>().is_some() {
        return Exit::Usage;
    }
    if err.downcast_ref::<Conflict>().is_some() {
        return Exit::Conflict;
    }
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return match api.status {
            401 => Exit::Unauthorized,
            404 => Exit::NotFound,
            409 => Exit::Conflict,
            _ => Exit::Failure,
        };
    }
    if err.downcast_ref::<Unreachable>().is_some() {
        return Exit::Unreachable;
    }
    if err.downcast_ref::<NoToken>().is_some() {
        return Exit::Unauthorized;
    }
    Exit::Failure
}

/// The error chain as one line, each cause once: many errors print their source in their
/// own message too, which made `…: No such file or directory (os error 2): No such file or
/// directory (os error 2)`.
pub fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The JSON error printed on stdout with `--json`: the API's own envelope when it answered
/// (with `kind`, `status` and `exit_code` added), else one of the same shape.
pub fn to_json(err: &anyhow::Error) -> Value {
    let exit = classify(err);
    if let Some(api) = err.downcast_ref::<ApiError>() {
        let mut body = api.body.clone();
        if let Some(e) = body
            .as_object_mut()
            .filter(|e| e.get("error").is_some_and(Value::is_string))
        {
            e.insert("kind".into(), json!(exit.kind()));
            e.insert("status".into(), json!(api.status));
            e.insert("exit_code".into(), json!(exit.code()));
            return body;
        }
    }
    let suggestion = err
        .downcast_ref::<Unreachable>()
        .map(|u| u.suggestion.clone())
        .or_else(|| err.downcast_ref::<Conflict>().map(|c| c.suggestion.clone()))
        .unwrap_or_default();
    error_json(exit, &message(err), &suggestion)
}

/// An error object of rumi-ctl's own (not answered by the API).
pub fn error_json(exit: Exit, message: &str, suggestion: &str) -> Value {
    json!({
        "success": false,
        "error": message,
        "error_code": null,
        "suggestion": suggestion,
        "kind": exit.kind(),
        "status": null,
        "exit_code": exit.code(),
    })
}

/// Tells the operator why the command failed, and returns its exit code.
pub fn report(err: &anyhow::Error, as_json: bool) -> Exit {
    let exit = classify(err);
    if as_json && err.downcast_ref::<Reported>().is_some() {
        return exit;
    }
    if as_json {
        // Nothing more can be said if stdout is gone too.
        let _ = output::json(&to_json(err));
        return exit;
    }
    if let Some(api) = err.downcast_ref::<ApiError>() {
        errln!("rumi-ctl: {} {} (HTTP {})", api.code, api.message, api.status);
        if !api.suggestion.is_empty() {
            errln!("  suggestion: {}", api.suggestion);
        }
        return exit;
    }
    errln!("rumi-ctl: {}", message(err));
    if let Some(u) = err.downcast_ref::<Unreachable>() {
        errln!("  suggestion: {}", u.suggestion);
    }
    if let Some(c) = err.downcast_ref::<Conflict>() {
        errln!("  suggestion: {}", c.suggestion);
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> anyhow::Error {
        ApiError {
            status,
            code: "RUMI-X-001".into(),
            message: "m".into(),
            suggestion: String::new(),
            body: json!({"success": false, "error": "m", "error_code": "RUMI-X-001"}),
        }
        .into()
    }

    fn unreachable() -> anyhow::Error {
        Unreachable {
            base: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
            suggestion: "start rumid".into(),
        }
        .into()
    }

    #[test]
    fn each_failure_has_its_own_exit_code() {
        let cases: Vec<(anyhow::Error, Exit, u8)> = vec![
            (api(400), Exit::Failure, 1),
            (api(403), Exit::Failure, 1),
            (api(422), Exit::Failure, 1),
            (api(500), Exit::Failure, 1),
            (api(503), Exit::Failure, 1),
            (api(401), Exit::Unauthorized, 4),
            (api(404), Exit::NotFound, 5),
            (api(409), Exit::Conflict, 6),
            (unreachable(), Exit::Unreachable, 3),
            (
                NoToken {
                    message: "no token".into(),
                }
                .into(),
                Exit::Unauthorized,
                4,
            ),
            (anyhow::anyhow!("1 error(s) found"), Exit::Failure, 1),
            // Context on top does not hide what happened.
            (api(404).context("while approving"), Exit::NotFound, 5),
        ];
        for (err, exit, code) in cases {
            assert_eq!(classify(&err), exit, "{err:#}");
            assert_eq!(exit.code(), code);
        }
        assert_eq!(Exit::Usage.code(), 2, "clap's usage code");
    }

    #[derive(Debug)]
    struct Echo(std::io::Error);

    impl std::fmt::Display for Echo {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read key file /k: {}", self.0)
        }
    }

    impl std::error::Error for Echo {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn messages_say_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let err = anyhow::Error::new(Echo(io)).context("no token");
        assert_eq!(
            message(&err),
            "no token: cannot read key file /k: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn json_errors_keep_the_api_envelope_and_add_the_exit_code() {
        let v = to_json(&api(404));
        assert_eq!(v["success"], false);
        assert_eq!(v["error_code"], "RUMI-X-001");
        assert_eq!(v["error"], "m");
        assert_eq!(v["kind"], "not_found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["exit_code"], 5);
        let v = to_json(&unreachable());
        assert_eq!(v["kind"], "unreachable");
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["error_code"], Value::Null);
        assert_eq!(v["suggestion"], "start rumid");
        assert!(v["error"].as_str().unwrap().contains("connection refused"));
    }
}
