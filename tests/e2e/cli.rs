//! `rumi-ctl` against a real rumid.

use rumi_tests::{Rumid, TestHome};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ctl_drives_the_approval_life_cycle() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);

    let out = home.ctl(&["token"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), rumid.token);

    let out = home.ctl(&["packs", "list"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.starts_with("PACK"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("alpha") && l.contains("installed")),
        "{text}"
    );

    let out = home.ctl(&["packs", "approve", "alpha"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "alpha: approved");
    let out = home.ctl(&["packs", "reject", "beta", "--reason", "not reviewed"], &[]);
    assert!(out.status.success());
    assert_eq!(rumid.pack_state("beta"), "blocked");

    let out = home.ctl(&["--json", "packs", "pending"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["count"], 0);

    let out = home.ctl(&["--json", "packs", "status", "alpha"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "approved");

    // Errors show the code and the suggestion, and exit 1.
    let out = home.ctl(&["packs", "approve", "missing"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUMI-PACK-005") && err.contains("suggestion:"), "{err}");

    // A wrong RUMI_TOKEN is refused.
    let out = home.ctl(&["packs", "list"], &[("RUMI_TOKEN", "nope")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUMI-AUTH-001"));

    let out = home.ctl(&["packs", "uninstall", "beta"], &[]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("user_data/backups/packs/beta-"));

    let out = home.ctl(&["health"], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("status: UP"));
}
