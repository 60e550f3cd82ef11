//! Decides, when the tests are built, which environment-dependent tests cannot run here, so
//! that they show as `ignored` in the test summary instead of passing without doing anything.
//!
//! `rumi_no_browser`: the console test needs `node`, Debian's `/usr/bin/chromium` and `npm ci`
//! in `tests/console/` (playwright-core). With `RUMI_TEST_REQUIRE_BROWSER=1` (CI) the cfg is
//! never set: the test then runs and fails on what is missing.

#![allow(clippy::disallowed_methods)] // a build script reads its own environment

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rumi_no_browser)");
    println!("cargo::rerun-if-env-changed=RUMI_TEST_REQUIRE_BROWSER");
    println!("cargo::rerun-if-env-changed=PATH");
    // Directories, so that installing Chromium or running `npm ci` rebuilds the tests (a
    // missing file would make cargo rerun this script on every build).
    println!("cargo::rerun-if-changed=console");
    if Path::new("/usr/bin").is_dir() {
        println!("cargo::rerun-if-changed=/usr/bin");
    }
    let required = std::env::var("RUMI_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let node = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("node").is_file()));
    let browser =
        node && Path::new("/usr/bin/chromium").is_file() && Path::new("console/node_modules/playwright-core").is_dir();
    if !browser && !required {
        println!("cargo::rustc-cfg=rumi_no_browser");
    }
}
