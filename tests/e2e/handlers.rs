//! Capability handlers: scan → approve (trust + copy) → grant → run; tampering, TOCTOU,
//! the reject/block/unblock cycle.

use std::fs;
use std::path::Path;

use rumi_tests::{Rumid, TestHome, frame_call, wait_socket};
use serde_json::{Value, json};

const HANDLER: &str = r#"
import time

def execute(context, args):
    if args.get("sleep"):
        time.sleep(args["sleep"])
    if args.get("fail"):
        raise RuntimeError("boom")
    return {"echo": args, "principal": context["principal_id"], "config": context["grant_config"]}
"#;

fn write_handler(pack_dir: &Path, slug: &str, manifest: Value, code: &str) {
    let dir = pack_dir.join("share/capability_handlers").join(slug);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("handler.json"), manifest.to_string()).unwrap();
    fs::write(dir.join("handler.py"), code).unwrap();
}

fn encode(key: &str) -> String {
    key.replace(':', "%3A")
}

fn call(socket: &Path, permission: &str, args: Value) -> Value {
    frame_call(socket, &json!({"permission_id": permission, "args": args})).unwrap()
}

#[test]
fn approved_handlers_run_only_while_their_installed_copy_is_trusted() {
    let home = TestHome::new();
    home.add_pack("alpha");
    home.add_pack("tools");
    let tools = home.path().join("ecosystem/tools");
    write_handler(
        &tools,
        "echo_v1",
        json!({"handler_id": "tools.echo", "permission_id": "echo.run", "description": "echoes"}),
        HANDLER,
    );
    write_handler(
        &tools,
        "evil",
        json!({"handler_id": "tools.evil", "permission_id": "secrets.get"}),
        HANDLER,
    );
    write_handler(
        &tools,
        "escape",
        json!({"handler_id": "tools.esc", "permission_id": "x.y", "entrypoint": "../../x.py:run"}),
        HANDLER,
    );
    let rumid = Rumid::start(&home);

    let r = rumid.post("/api/capability/candidates/scan", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let data = &r.body["data"];
    assert_eq!(data["new_candidates"], 1, "{data}");
    assert_eq!(data["invalid"].as_array().unwrap().len(), 2, "{data}");
    let key = data["candidates"][0]["candidate_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tools:echo_v1:tools.echo:"));
    // The guide's flat candidate.
    let sha = key.rsplit(':').next().unwrap();
    assert_eq!(
        data["candidates"][0],
        json!({"candidate_key": key, "pack_id": "tools", "slug": "echo_v1", "handler_id": "tools.echo",
               "permission_id": "echo.run", "sha256": sha, "status": "pending",
               "description": "echoes", "risk": null}),
    );
    let summary: Value =
        serde_json::from_slice(&fs::read(home.path().join("user_data/pending/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["capability"]["pending_count"], 1);
    assert_eq!(
        rumid.get("/api/capability/requests?status=pending").body["data"]["count"],
        1
    );

    let r = rumid.post(
        &format!("/api/capability/requests/{}/approve", encode(&key)),
        Some(&json!({"notes": "reviewed"})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["status"], "installed");
    let installed = home.path().join("user_data/capabilities/handlers/echo_v1/handler.py");
    assert!(installed.is_file());

    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    rumid.grant_capability("alpha", "echo.run", json!({"limit": 3}));
    let sock = rumid.capability_socket(&home, "alpha");
    wait_socket(&sock).unwrap();
    let r = call(&sock, "echo.run", json!({"x": 1}));
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["output"]["principal"], "alpha");
    assert_eq!(r["output"]["echo"], json!({"x": 1}));
    assert_eq!(r["output"]["config"], json!({"limit": 3}));
    let r = call(&sock, "echo.run", json!({"fail": true}));
    assert_eq!(r["error_type"], "handler_error");
    let r = call(&sock, "echo.run", json!({"sleep": 3, "timeout_seconds": 0.5}));
    assert_eq!(r["error_type"], "timeout", "{r}");

    // Editing the source changes nothing that runs; editing the installed copy stops it.
    fs::write(
        tools.join("share/capability_handlers/echo_v1/handler.py"),
        "def execute(c, a):\n    return 'evil'\n",
    )
    .unwrap();
    assert_eq!(call(&sock, "echo.run", json!({}))["success"], true);
    fs::write(&installed, "def execute(c, a):\n    return 'tampered'\n").unwrap();
    let r = call(&sock, "echo.run", json!({}));
    assert_eq!(
        (r["error"].clone(), r["error_type"].clone()),
        (json!("Permission denied"), json!("trust_denied"))
    );

    // The edited source is a new candidate; approving it would need a fresh slug (the old
    // one is installed with different content, so nothing is overwritten).
    let r = rumid.post("/api/capability/candidates/scan", None);
    let new_key = r.body["data"]["candidates"][0]["candidate_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_key, key);
    let r = rumid.post(&format!("/api/capability/requests/{}/approve", encode(&new_key)), None);
    assert_eq!((r.status, r.code()), (409, "RUMI-CAP-003"), "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("nothing was overwritten"));
    let failed = rumid.get("/api/capability/requests?status=failed");
    assert_eq!(failed.body["data"]["count"], 1);
}

#[test]
fn candidates_change_after_scan_fail_approval_and_three_rejections_block() {
    let home = TestHome::new();
    home.add_pack("tools");
    let tools = home.path().join("ecosystem/tools");
    write_handler(
        &tools,
        "a",
        json!({"handler_id": "t.a", "permission_id": "a.run"}),
        HANDLER,
    );
    let rumid = Rumid::start(&home);
    let r = rumid.post("/api/capability/candidates/scan", None);
    let key = r.body["data"]["candidates"][0]["candidate_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // TOCTOU: the file changes between scan and approval.
    fs::write(
        tools.join("share/capability_handlers/a/handler.py"),
        "def execute(c, a):\n    return 1\n",
    )
    .unwrap();
    let r = rumid.post(&format!("/api/capability/requests/{}/approve", encode(&key)), None);
    assert_eq!((r.status, r.code()), (409, "RUMI-CAP-003"));
    assert!(
        r.body["error"].as_str().unwrap().contains("SHA-256 mismatch"),
        "{:?}",
        r.body
    );
    assert!(!home.path().join("user_data/capabilities/handlers/a").exists());

    // A new candidate for the new content; reject it three times.
    let r = rumid.post("/api/capability/candidates/scan", None);
    let key2 = r.body["data"]["candidates"][0]["candidate_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let reject = |k: &str| {
        rumid.post(
            &format!("/api/capability/requests/{}/reject", encode(k)),
            Some(&json!({"reason": "no"})),
        )
    };
    assert_eq!(reject(&key2).body["data"]["status"], "rejected");
    // Rejected with a cooldown: a scan does not re-pend it, and it cannot be re-rejected twice into blocked without review.
    let r = rumid.post("/api/capability/candidates/scan", None);
    assert_eq!(r.body["data"]["new_candidates"], 0);
    assert_eq!(reject(&key2).body["data"]["reject_count"], 2);
    let third = reject(&key2);
    assert_eq!(third.body["data"]["status"], "blocked");
    assert_eq!(rumid.get("/api/capability/blocked").body["data"]["count"], 1);
    let r = rumid.post(&format!("/api/capability/requests/{}/approve", encode(&key2)), None);
    assert_eq!(
        (r.status, r.code()),
        (409, "RUMI-CAP-002"),
        "a blocked candidate cannot be approved"
    );
    let r = rumid.post(
        &format!("/api/capability/blocked/{}/unblock", encode(&key2)),
        Some(&json!({"reason": "re-review"})),
    );
    assert_eq!(r.body["data"]["status"], "rejected");
    assert!(r.body["data"]["cooldown_until"].is_string());
    let r = rumid.post("/api/capability/requests/nope/approve", None);
    assert_eq!((r.status, r.code()), (404, "RUMI-CAP-001"), "the guide's CAP category");
    assert!(
        r.body["suggestion"].as_str().unwrap().contains("capability scan"),
        "{:?}",
        r.body
    );
    let events = home.audit_actions("security", "capability_handler_blocked");
    assert_eq!(events.len(), 1);
}

#[test]
fn every_scaffold_template_validates_and_runs_once_approved() {
    let home = TestHome::new();
    for t in ["minimal", "capability", "flow", "full"] {
        let out = home.ctl(&["scaffold", &format!("s_{t}"), "--template", t], &[]);
        assert!(out.status.success(), "{t}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let eco = home.path().join("ecosystem");
    assert!(eco.join("s_full/backend/lib/install.py").is_file());
    assert!(!eco.join("s_minimal/backend/flows").exists());
    // An existing pack is never overwritten; a bad id is refused before anything is written.
    fs::write(eco.join("s_minimal/backend/blocks/run.py"), "# mine\n").unwrap();
    let out = home.ctl(&["scaffold", "s_minimal", "--template", "full"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        fs::read_to_string(eco.join("s_minimal/backend/blocks/run.py")).unwrap(),
        "# mine\n"
    );
    assert!(!home.ctl(&["scaffold", "../escape"], &[]).status.success());
    assert!(!home.path().join("escape").exists());

    let out = home.rumid_once(&["--validate"], &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("2 flow(s) valid") && text.contains("4 pack(s), 0 error(s), 0 warning(s)"),
        "{text}"
    );

    let rumid = Rumid::start(&home);
    for t in ["minimal", "capability", "flow", "full"] {
        assert_eq!(
            rumid.post(&format!("/api/packs/s_{t}/approve"), None).status,
            200,
            "{t}"
        );
    }
    rumid.post("/api/flows/reload", None);
    for pack in ["s_flow", "s_full"] {
        let r = rumid.run_flow(&format!("{pack}.hello"), json!({"name": "Rumi"}), 60.0);
        assert_eq!(r.status, 200, "{pack}: {:?}", r.body);
        assert_eq!(
            r.body["result"]["greeting"],
            json!({"message": "Hello, Rumi!", "pack": pack})
        );
        // Without a name the template greets the world, as the guide's hello does.
        let r = rumid.run_flow(&format!("{pack}.hello"), json!({}), 60.0);
        assert_eq!(
            r.body["result"]["greeting"]["message"], "Hello, World!",
            "{pack}: {:?}",
            r.body
        );
    }

    let r = rumid.post("/api/capability/candidates/scan", None);
    assert_eq!(r.body["data"]["new_candidates"], 2, "{:?}", r.body);
    let keys: Vec<String> = r.body["data"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["candidate_key"].as_str().unwrap().to_owned())
        .collect();
    // Each template's handler has a slug of its own pack's, so both can be approved.
    for pack in ["s_capability", "s_full"] {
        let key = keys
            .iter()
            .find(|k| k.starts_with(&format!("{pack}:{pack}_echo:{pack}.echo:")))
            .unwrap_or_else(|| panic!("{pack}'s handler is a candidate: {keys:?}"));
        let r = rumid.post(&format!("/api/capability/requests/{}/approve", encode(key)), None);
        assert_eq!(r.status, 200, "{pack}: {:?}", r.body);
    }
    rumid.grant_capability("s_minimal", "s_full.echo", json!({"max_length": 5}));
    let sock = rumid.capability_socket(&home, "s_minimal");
    wait_socket(&sock).unwrap();
    let r = call(&sock, "s_full.echo", json!({"text": "hello world"}));
    assert_eq!(r["output"], json!({"text": "hello", "caller": "s_minimal"}), "{r}");
}

#[test]
fn handlers_get_the_calls_request_id_and_documented_function_steps_reach_them() {
    use sha2::Digest;
    const RID: &str =
        "def execute(context, args):\n    return {\"request_id\": context[\"request_id\"], \"args\": args}\n";
    let home = TestHome::new();
    home.add_pack("alpha");
    home.add_pack("tools");
    write_handler(
        &home.path().join("ecosystem/tools"),
        "rid",
        json!({"handler_id": "tools.rid", "permission_id": "rid.show"}),
        RID,
    );
    // The guides' form: `function` on the step, `input` its arguments, no owner_pack.
    home.write(
        "ecosystem/alpha/backend/flows/rid.flow.yaml",
        "flow_id: alpha.rid\noutputs: {shown: object}\nsteps:\n  - {id: ask, type: function, function: rid.show, input: {n: \"$ctx.n\"}, output: shown}\n",
    );
    let rumid = Rumid::start(&home);
    let key = format!("tools:rid:tools.rid:{}", hex::encode(sha2::Sha256::digest(RID)));
    assert_eq!(rumid.post("/api/capability/candidates/scan", None).status, 200);
    let r = rumid.post(&format!("/api/capability/requests/{}/approve", encode(&key)), None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    rumid.grant_capability("alpha", "rid.show", json!({}));
    let sock = rumid.capability_socket(&home, "alpha");
    wait_socket(&sock).unwrap();

    let r = frame_call(
        &sock,
        &json!({"permission_id": "rid.show", "args": {}, "request_id": "req-42"}),
    )
    .unwrap();
    assert_eq!(r["output"]["request_id"], "req-42", "{r}");
    // A call that names none still gets one.
    let r = call(&sock, "rid.show", json!({}));
    assert!(
        r["output"]["request_id"].as_str().is_some_and(|id| id.len() == 32),
        "{r}"
    );

    rumid.post("/api/flows/reload", None);
    let r = rumid.run_flow("alpha.rid", json!({"n": 3}), 30.0);
    assert_eq!(r.status, 200, "{:?}\n{}", r.body, rumid.log_text());
    assert_eq!(
        Rumid::flow_result(&r.body)["shown"],
        json!({"request_id": "flow:alpha.rid:ask", "args": {"n": 3}})
    );
}
