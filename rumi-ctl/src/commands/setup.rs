//! `rumi-ctl setup check`: read-only checks of a home and this machine, each with its fix.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// One finding.
pub struct Finding {
    pub check: &'static str,
    /// `ok`, `warning` or `error`.
    pub level: &'static str,
    pub message: String,
    pub fix: String,
}

impl Finding {
    fn new(check: &'static str, level: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            level,
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"check": self.check, "level": self.level, "message": self.message, "fix": self.fix})
    }
}

/// A key file must be a regular file (not a symlink) readable by its owner only.
fn key_file(check: &'static str, path: &Path, required: bool) -> Finding {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Err(_) if required => Finding::new(
            check,
            "warning",
            format!("{shown} does not exist yet"),
            "start rumid once with this home; it creates the key (mode 0600)",
        ),
        Err(_) => Finding::new(
            check,
            "ok",
            format!("{shown} not created yet (created when first needed)"),
            "",
        ),
        Ok(m) if !m.file_type().is_file() => Finding::new(
            check,
            "error",
            format!("{shown} is not a regular file"),
            format!("replace it with the real key file (a symlink or special file is refused): {shown}"),
        ),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Finding::new(
            check,
            "error",
            format!(
                "{shown} has mode {:o}; others can read the key",
                m.permissions().mode() & 0o777
            ),
            format!("chmod 600 {shown}"),
        ),
        Ok(m) => Finding::new(check, "ok", format!("{shown} is mode 0600, owner uid {}", m.uid()), ""),
    }
}

/// Whether `program --version` runs (found on PATH and executable).
fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn docker(socket: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{socket}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs every check against `home`, with the engine at `socket` and the runtime image `image`.
pub fn check(home: &Path, socket: &str, image: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if home.is_dir() {
        out.push(Finding::new("home", "ok", format!("{} exists", home.display()), ""));
    } else {
        out.push(Finding::new(
            "home",
            "error",
            format!("{} is not a directory", home.display()),
            format!(
                "mkdir -p {0} (or start `rumid --home {0}`, which creates it)",
                home.display()
            ),
        ));
        return out;
    }
    let missing: Vec<&str> = ["flows", "ecosystem", "user_data"]
        .into_iter()
        .filter(|d| !home.join(d).is_dir())
        .collect();
    out.push(if missing.is_empty() {
        Finding::new("layout", "ok", "flows/, ecosystem/ and user_data/ exist", "")
    } else {
        Finding::new(
            "layout",
            "warning",
            format!("missing: {}", missing.join(", ")),
            "start rumid once with this home; it creates the layout",
        )
    });
    let settings = home.join("user_data/settings");
    out.push(key_file("hmac_key", &settings.join(".hmac_key"), true));
    out.push(key_file("secrets_key", &settings.join(".secrets_key"), false));
    out.push(if on_path("python3") {
        Finding::new(
            "python",
            "ok",
            "python3 is on PATH (permissive mode and capability handlers)",
            "",
        )
    } else {
        Finding::new(
            "python",
            "error",
            "python3 is not on PATH",
            "install python3 (apt-get install -y python3); rumi-capd runs capability handlers with it",
        )
    });
    if !on_path("docker") {
        out.push(Finding::new(
            "docker",
            "warning",
            "the docker client is not installed; the engine was not checked",
            "apt-get install -y docker.io (strict mode needs the engine)",
        ));
    } else if let Some(version) = docker(socket, &["version", "--format", "{{.Server.Version}}"]) {
        out.push(Finding::new(
            "docker",
            "ok",
            format!("engine {version} at {socket}"),
            "",
        ));
        out.push(
            if docker(socket, &["image", "inspect", "--format", "{{.Id}}", image]).is_some() {
                Finding::new("runtime_image", "ok", format!("{image} is present"), "")
            } else {
                Finding::new(
                    "runtime_image",
                    "error",
                    format!("{image} is not in the engine"),
                    "rumi-ctl image build (or set RUMI_RUNTIME_IMAGE to an image the engine has)",
                )
            },
        );
    } else {
        out.push(Finding::new(
            "docker",
            "warning",
            format!("no Docker engine answers at {socket}; strict mode will refuse to run pack code"),
            "systemctl start docker (or set RUMI_DOCKER_SOCKET); use --permissive only for development",
        ));
    }
    out
}
