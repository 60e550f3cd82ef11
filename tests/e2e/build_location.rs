//! The suite does not depend on where the build directory is: with `CARGO_TARGET_DIR` outside
//! the checkout, rumid's own SDK fallback (`<binary>/../../packaging/sdk/python`) finds
//! nothing, and the harness must hand it the checkout's SDK.

use std::fs;

use rumi_tests::{Rumid, TestHome};
use serde_json::json;

#[test]
fn blocks_run_when_the_binaries_live_outside_the_checkout() {
    let elsewhere = tempfile::Builder::new()
        .prefix("rumi-target-")
        .tempdir_in("/tmp")
        .unwrap();
    let bin = elsewhere.path().join("debug");
    fs::create_dir(&bin).unwrap();
    for b in ["rumid", "rumi-egressd", "rumi-capd"] {
        let from = rumi_tests::bin(b);
        if fs::hard_link(&from, bin.join(b)).is_err() {
            fs::copy(&from, bin.join(b)).unwrap();
        }
    }
    assert!(!bin.join("../../packaging/sdk/python").exists());

    let home = TestHome::example();
    let rumid = Rumid::builder(&home).bin_dir(&bin).spawn().unwrap();
    assert_eq!(rumid.post("/api/packs/hello/approve", None).status, 200);
    let r = rumid.run_flow("hello", json!({"name": "World"}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        Rumid::flow_result(&r.body)["greeting"],
        json!({"message": "Hello, World!"}),
        "{:?}",
        r.body
    );
    assert!(!rumid.log_text().contains("SDK was not found"), "{}", rumid.log_text());
}
