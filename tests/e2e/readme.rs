//! The README's walk from a fresh clone to the operations guide's hello flow, run as written.
//!
//! The test reads the README's `sh` blocks marked `<!-- readme-test: NAME -->` and runs them
//! with bash in a scratch copy of the checkout (the example home and the SDK, plus the binaries
//! under `target/release/`, where the build command puts them), so nothing is written into
//! this checkout and rumid finds the SDK the way it does in a clone. Two commands are not run
//! because their result is provided: the build (the binaries of this build are copied to where
//! it writes them) and the image build of strict mode (the test needs the image to exist, as
//! CI builds it first). The environment adds only what keeps parallel instances on one machine
//! apart: a free port for the `8765` of the commands, socket paths inside the scratch copy and
//! a pack uid range of its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rumi_tests::{Rumid, docker_or_skip, eventually, patience};
use serde_json::{Value, json};

/// The README's marked `sh` blocks, by name.
fn readme_block(name: &str) -> String {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let marker = format!("<!-- readme-test: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"))
        .1;
    let body = after
        .trim_start()
        .strip_prefix("```sh\n")
        .unwrap_or_else(|| panic!("{marker} is not followed by a ```sh block"));
    body[..body.find("```").expect("the block ends")].to_owned()
}

/// A scratch copy of what a clone holds and the build leaves, with rumid running in it.
struct Clone {
    dir: tempfile::TempDir,
    port: u16,
    daemon: Option<Child>,
}

impl Clone {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("rumi-rd-").tempdir_in("/tmp").unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for rel in ["examples/home/ecosystem", "examples/home/flows", "packaging/sdk/python"] {
            copy_tree(&repo.join(rel), &dir.path().join(rel));
        }
        let release = dir.path().join("target/release");
        fs::create_dir_all(&release).unwrap();
        for b in ["rumid", "rumi-egressd", "rumi-capd", "rumi-ctl"] {
            let from = rumi_tests::bin(b);
            if fs::hard_link(&from, release.join(b)).is_err() {
                fs::copy(&from, release.join(b)).unwrap();
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        Self {
            dir,
            port,
            daemon: None,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// bash running `script` in the checkout, with the environment a shell there would have
    /// plus the port and socket paths of this instance.
    fn bash(&self, script: &str) -> Command {
        let run = self.path().join("run");
        let mut cmd = Command::new("bash");
        cmd.env_clear()
            .current_dir(self.path())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.path())
            .env("RUMI_API_PORT", self.port.to_string())
            .env("RUMI_EGRESS_SOCK_DIR", run.join("egress"))
            .env("RUMI_EGRESSD_SOCKET", run.join("egressd.sock"))
            .env("RUMI_CAPABILITY_SOCK_DIR", run.join("cap"))
            .env("RUMI_CAPD_SOCKET", run.join("capd.sock"))
            // Pack uids of their own: other tests look for leftover processes of the default
            // range's first uid.
            .env("RUMI_PACK_UID_RANGE", "220000-220999")
            .args(["-euo", "pipefail", "-c"])
            .arg(script.replace("8765", &self.port.to_string()));
        cmd
    }

    /// Starts the daemon block (one command) and waits until rumid serves, as a reader waits
    /// for its banner.
    fn start(&mut self, block: &str) {
        assert_eq!(block.trim().lines().count(), 1, "one command: {block}");
        use std::os::unix::process::CommandExt;
        let log = fs::File::create(self.path().join("rumid.log")).unwrap();
        let child = self
            .bash(block.trim())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        let addr = self.path().join("examples/home/user_data/run/api.addr");
        eventually("rumid to serve", patience(), || {
            fs::read_to_string(&addr).ok().filter(|s| s.ends_with('\n'))
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", self.log()));
    }

    fn log(&self) -> String {
        fs::read_to_string(self.path().join("rumid.log")).unwrap_or_default()
    }

    /// Runs the client block; returns the standard output of each of its commands.
    fn client(&self, block: &str) -> Vec<String> {
        // A marker before every command of the block (a DEBUG trap is not inherited by
        // command substitutions), so each command's output can be told apart.
        let script = format!("trap 'echo \"{SEP}\"' DEBUG\n{block}");
        let out = self.bash(&script).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "the README's commands failed ({}):\n{stdout}\n{}\nrumid log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        stdout.split(SEP).skip(1).map(|s| s.trim().to_owned()).collect()
    }
}

const SEP: &str = "<<<readme-command>>>";

impl Drop for Clone {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGTERM);
            let deadline = std::time::Instant::now() + patience();
            while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- rumid log ----\n{}", self.log());
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The outputs of the client block: `packs approve`, `flows run`, the token, curl.
fn assert_greeted(outputs: &[String]) {
    assert_eq!(outputs.len(), 4, "one output per command: {outputs:?}");
    let greeting = json!({"message": "Hello, World!"});
    let ctl: Value = serde_json::from_str(&outputs[1]).unwrap_or_else(|e| panic!("{e}: {}", outputs[1]));
    assert_eq!(ctl, json!({"greeting": greeting}), "rumi-ctl flows run");
    let api: Value = serde_json::from_str(&outputs[3]).unwrap_or_else(|e| panic!("{e}: {}", outputs[3]));
    // The answer's envelope is not asserted here, only the guide's result in it.
    assert_eq!(Rumid::flow_result(&api)["greeting"], greeting, "curl: {api}");
}

#[test]
fn the_readme_reaches_the_guides_hello_flow_in_permissive_mode() {
    assert!(readme_block("build").contains("cargo build --release --workspace --bins"));
    let mut clone = Clone::new();
    clone.start(&readme_block("permissive-daemon"));
    assert_greeted(&clone.client(&readme_block("client")));
}

#[test]
fn the_readme_reaches_the_guides_hello_flow_in_strict_mode() {
    if !docker_or_skip("the_readme_reaches_the_guides_hello_flow_in_strict_mode") {
        return;
    }
    let setup = readme_block("strict-setup");
    assert!(setup.contains("rumi-ctl image build"), "{setup}");
    let image = Command::new("docker")
        .args(["image", "inspect", "rumi-runtime:bookworm"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(image, "build the runtime image first: {setup}");
    let mut clone = Clone::new();
    clone.start(&readme_block("strict-daemon"));
    assert_greeted(&clone.client(&readme_block("client")));
    let calls = fs::read_dir(clone.path().join("examples/home/user_data/audit"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python_file_call_"))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(
        calls.lines().count() == 2 && calls.lines().all(|l| l.contains(r#""execution_mode":"container""#)),
        "both runs in containers: {calls}"
    );
}
