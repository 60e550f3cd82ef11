//! The flow engine end to end (permissive mode: host Python, same engine as strict).

use rumi_tests::{Rumid, TestHome, patience};
use serde_json::{Value, json};

const GREET: &str = r#"
def run(input_data, context):
    return {"message": "Hello, %s!" % input_data.get("name"), "pack": context["owner_pack"]}
"#;

fn hello_pack(home: &TestHome) {
    home.add_pack("hello");
    home.write("ecosystem/hello/backend/blocks/greet.py", GREET);
    home.write(
        "ecosystem/hello/backend/flows/hello.flow.yaml",
        r#"
flow_id: hello.greet
phases: [main]
steps:
  - id: greet
    phase: main
    type: python_file_call
    owner_pack: hello
    file: greet.py
    input: {name: "${ctx.name}"}
    output: greeting
outputs:
  greeting: "$ctx.greeting"
"#,
    );
}

#[test]
fn a_pack_flow_runs_only_while_its_pack_is_approved() {
    let home = TestHome::new();
    hello_pack(&home);
    let rumid = Rumid::start(&home);
    assert_eq!(
        rumid.get("/api/flows").body["data"]["count"],
        0,
        "pack flows need approval"
    );
    let r = rumid.run_flow("hello.greet", json!({"name": "World"}), 30.0);
    assert_eq!((r.status, r.code()), (404, "RUMI-FLOW-001"));
    // The guide's failure answer, with Rumi's code and suggestion beside it.
    assert_eq!(r.body["success"], false);
    assert_eq!(r.body["error"], "Flow not found: hello.greet", "{}", r.body);
    assert_eq!(r.body["flow_id"], "hello.greet");
    assert_eq!(r.body["status_code"], 404);
    assert!(
        r.body["suggestion"].as_str().is_some_and(|s| !s.is_empty()),
        "{}",
        r.body
    );
    assert_eq!(r.body["request_id"].as_str(), r.request_id.as_deref(), "{}", r.body);

    assert_eq!(rumid.post("/api/packs/hello/approve", None).status, 200);
    rumid.wait_policy_applied();
    let flows = rumi_tests::eventually("flows reloaded", patience(), || {
        let f = rumid.get("/api/flows").body["data"].clone();
        (f["count"] == 1).then_some(f)
    })
    .unwrap();
    assert_eq!(flows["flows"][0]["source"], json!({"kind": "pack", "pack_id": "hello"}));
    let r = rumid.run_flow("hello.greet", json!({"name": "World"}), 30.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["result"]["greeting"],
        json!({"message": "Hello, World!", "pack": "hello"})
    );
    assert!(r.body["execution_time"].as_f64().unwrap() > 0.0);
    // The guide's success answer: exactly these fields at the top level.
    let mut keys: Vec<&str> = r.body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["execution_time", "flow_id", "result", "success"], "{}", r.body);
    assert_eq!(
        (r.body["success"].clone(), r.body["flow_id"].clone()),
        (json!(true), json!("hello.greet"))
    );
    let calls = home.audit_actions("python_file_call", "python_file_call");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["execution_mode"], "host_bwrap",
        "permissive runs are isolated by bubblewrap here"
    );
    assert_eq!(home.audit_actions("flow_execution", "flow_run").len(), 1);
    let metrics = rumid.metrics_text();
    for line in [
        r#"rumi_flow_execution_complete_total{flow_id="hello.greet"} 1"#,
        r#"rumi_flow_step_success_total{handler="python_file_call"} 1"#,
        "rumi_python_file_call_duration_seconds_count 1",
        "rumi_flows_registered 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }

    // Editing a block after approval: the edit never runs. Runs use the approved snapshot
    // until the change is detected; then the pack is `modified` and its runs are refused.
    home.write(
        "ecosystem/hello/backend/blocks/greet.py",
        "def run(i, c):\n    return 'tampered'\n",
    );
    let r = rumid.run_flow("hello.greet", json!({"name": "World"}), 30.0);
    assert_eq!(
        r.body["result"]["greeting"]["message"], "Hello, World!",
        "the approved copy runs, not the edit: {:?}",
        r.body
    );
    assert_eq!(rumid.pack_state("hello"), "modified");
    let r = rumid.run_flow("hello.greet", json!({"name": "World"}), 30.0);
    assert_ne!(r.status, 200, "{:?}", r.body);
    assert!(!r.body.to_string().contains("tampered"), "{:?}", r.body);
}

#[test]
fn steps_order_conditions_subflows_and_flow_control() {
    let home = TestHome::new();
    home.write(
        "flows/main.flow.yaml",
        r#"
flow_id: main
phases: [prepare, work]
steps:
  - {id: z_last, phase: work, type: set, input: {key: order, value: "${ctx.order}-z"}, priority: 100}
  - {id: a_first, phase: work, type: set, input: {key: order, value: "${ctx.order}-a"}, priority: 10}
  - {id: init, phase: prepare, type: set, input: {key: order, value: start}}
  - {id: big, phase: work, type: set, when: "$ctx.n > 5", input: {key: size, value: big}}
  - {id: small, phase: work, type: set, when: "$ctx.n <= 5", input: {key: size, value: small}}
  - {id: child, phase: work, type: flow, flow: child, args: {x: "$ctx.n"}, output: child_out, priority: 200}
  - {id: hidden, phase: work, type: set, input: {key: _internal, value: 1}}
"#,
    );
    home.write(
        "flows/child.flow.yaml",
        "flow_id: child\nsteps:\n  - {id: double, type: handler, input: {handler: 'kernel:ctx.get', args: {key: x}}, output: got}\n",
    );
    home.write(
        "flows/loop_a.flow.yaml",
        "flow_id: loop_a\nsteps:\n  - {id: s, type: flow, flow: loop_b}\n",
    );
    home.write(
        "flows/loop_b.flow.yaml",
        "flow_id: loop_b\nsteps:\n  - {id: s, type: flow, flow: loop_a}\n",
    );
    home.write(
        "flows/abort.flow.yaml",
        r#"
flow_id: abort
steps:
  - {id: a, type: set, input: {key: before, value: 1}}
  - {id: b, type: handler, input: {handler: 'kernel:flow.abort', args: {reason: enough}}}
  - {id: c, type: set, input: {key: after, value: 1}}
"#,
    );
    home.write(
        "flows/failing.flow.yaml",
        r#"
flow_id: failing
defaults: {fail_soft: true}
steps:
  - {id: bad, type: handler, input: {handler: 'kernel:does.not.exist'}}
  - {id: ok, type: set, input: {key: reached, value: true}}
  - {id: fatal, type: handler, input: {handler: 'kernel:nope'}, on_error: {action: abort}}
  - {id: never, type: set, input: {key: never, value: true}}
"#,
    );
    home.write(
        "flows/broken.flow.yaml",
        "flow_id: broken\nsteps: [ {id: x, type: teleport} ]\n",
    );
    home.write(
        "flows/leaky.flow.yaml",
        "flow_id: leaky\nsteps:\n  - {id: x, type: set, input: {key: k, value: '$env.HOME'}}\n",
    );
    let rumid = Rumid::start(&home);

    let list = rumid.get("/api/flows").body["data"].clone();
    let diags = list["diagnostics"].to_string();
    assert!(
        diags.contains("broken.flow.yaml") && diags.contains("teleport"),
        "{diags}"
    );
    assert!(diags.contains("leaky.flow.yaml") && diags.contains("$env"), "{diags}");
    assert_eq!(list["count"], 6, "the broken files are skipped, the rest load: {list}");

    let r = rumid.run_flow("main", json!({"n": 7}), 30.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let res = &r.body["result"];
    assert_eq!(res["order"], "start-a-z", "phase, then priority, then id");
    assert_eq!(res["size"], "big");
    assert_eq!(res["child_out"]["got"], 7);
    assert!(
        res.get("_internal").is_none(),
        "keys starting with _ never reach outputs"
    );
    assert_eq!(
        rumid.run_flow("main", json!({"n": 1}), 30.0).body["result"]["size"],
        "small"
    );

    let r = rumid.run_flow("loop_a", json!({}), 30.0);
    assert_eq!((r.status, r.code()), (500, "RUMI-FLOW-006"));
    assert!(r.body["error"].as_str().unwrap().contains("loop_a -> loop_b -> loop_a"));

    let r = rumid.run_flow("abort", json!({}), 30.0);
    assert_eq!(r.body["aborted"], true);
    assert_eq!(r.body["result"]["before"], 1);
    assert!(r.body["result"].get("after").is_none());

    let r = rumid.run_flow("failing", json!({}), 30.0);
    assert_eq!((r.status, r.code()), (500, "RUMI-FLOW-002"), "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("fatal"));

    // Bad requests.
    let r = rumid.post("/api/flows/main/run", Some(&json!({"inputs": [1], "timeout": 5})));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));
    let r = rumid.post("/api/flows/main/run", Some(&json!({"inputs": {}, "timeout": 601})));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));
    let r = rumid.request(
        "POST",
        "/api/flows/main/run",
        Some(&rumid.token.clone()),
        Some(b"{oops"),
        Some("application/json"),
    );
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-008"));
}

#[test]
fn timeouts_concurrency_limits_and_two_pack_flows() {
    let home = TestHome::new();
    home.add_pack("producer");
    home.add_pack("consumer");
    home.write(
        "ecosystem/producer/backend/blocks/make.py",
        "def run(data):\n    return {'items': [1, 2, 3], 'seed': data['seed']}\n",
    );
    home.write(
        "ecosystem/consumer/backend/blocks/sum.py",
        "import time\n\ndef run(data, context):\n    time.sleep(data.get('sleep', 0))\n    return {'total': sum(data['items']) * data['seed']}\n",
    );
    home.write(
        "flows/pipeline.flow.yaml",
        r#"
flow_id: pipeline
steps:
  - {id: make, type: python_file_call, owner_pack: producer, file: make.py, input: {seed: "$ctx.seed"}, output: made}
  - {id: sum, type: python_file_call, owner_pack: consumer, file: sum.py, principal_id: producer,
     input: {items: "$ctx.made.items", seed: "$ctx.made.seed", sleep: "$ctx.sleep"}, output: summed, timeout_seconds: 30}
outputs:
  total: "$ctx.summed.total"
"#,
    );
    home.write(
        "flows/escape.flow.yaml",
        "flow_id: escape\ndefaults: {fail_soft: false}\nsteps:\n  - {id: x, type: python_file_call, owner_pack: producer, file: ../consumer/backend/blocks/sum.py}\n",
    );
    let rumid = Rumid::builder(&home)
        .env("RUMI_MAX_CONCURRENT_FLOWS", "1")
        .spawn()
        .unwrap();
    for p in ["producer", "consumer"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    let r = rumid.run_flow("pipeline", json!({"seed": 2, "sleep": 0}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"], json!({"total": 12}));
    // principal_id in a step is overridden by the owner pack, and audited.
    let over = home.audit_actions("security", "principal_id_overridden");
    assert_eq!(over[0]["details"]["requested_principal"], "producer");
    assert_eq!(over[0]["details"]["effective_principal"], "consumer");

    let r = rumid.run_flow("escape", json!({}), 30.0);
    assert_eq!(r.status, 500);
    assert!(
        r.body["error"].as_str().unwrap().contains("path_rejected"),
        "{:?}",
        r.body
    );

    // 408: the whole flow's budget.
    let r = rumid.run_flow("pipeline", json!({"seed": 1, "sleep": 5}), 1.0);
    assert_eq!((r.status, r.code()), (408, "RUMI-FLOW-004"), "{:?}", r.body);

    // 429: one flow at a time here; two overlapping runs, one is refused.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let base = rumid.base.clone();
            let token = rumid.token.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut r = agent
                    .post(&format!("{base}/api/flows/pipeline/run"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .send_json(json!({"inputs": {"seed": 1, "sleep": 1.5}, "timeout": 30}))
                    .expect("request");
                let body: Value = r.body_mut().read_json().unwrap_or(Value::Null);
                (
                    r.status().as_u16(),
                    body["error_code"].as_str().unwrap_or("").to_owned(),
                )
            })
        })
        .collect();
    let mut results: Vec<(u16, String)> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    results.sort();
    assert_eq!(results, [(200, String::new()), (429, "RUMI-FLOW-005".to_owned())]);
}

#[test]
fn modifiers_change_flows_in_a_deterministic_order() {
    let home = TestHome::new();
    home.write(
        "flows/base.flow.yaml",
        r#"
flow_id: base
steps:
  - {id: a, type: set, input: {key: order, value: a}, priority: 1}
  - {id: b, type: set, input: {key: order, value: "${ctx.order}-b"}, priority: 2}
  - {id: c, type: set, input: {key: order, value: "${ctx.order}-c"}, priority: 3}
"#,
    );
    let m = "user_data/shared/flows/modifiers";
    home.write(&format!("{m}/1.modifier.yaml"), "modifier_id: m1_inject\ntarget_flow_id: base\nphase: main\naction: inject_before\ntarget_step_id: b\nstep: {id: x, type: set, input: {key: order, value: \"${ctx.order}-x\"}}\n");
    home.write(&format!("{m}/2.modifier.yaml"), "modifier_id: m2_append\ntarget_flow_id: 'ba*'\nphase: main\naction: append\nstep: {id: z, type: set, input: {key: order, value: \"${ctx.order}-z\"}}\n");
    home.write(&format!("{m}/3.modifier.yaml"), "modifier_id: m3_replace\ntarget_flow_id: base\nphase: main\naction: replace\ntarget_step_id: a\nstep: {id: a2, type: set, input: {key: order, value: A}}\n");
    home.write(
        &format!("{m}/4.modifier.yaml"),
        "modifier_id: m4_remove\ntarget_flow_id: base\nphase: main\naction: remove\ntarget_step_id: c\n",
    );
    home.write(&format!("{m}/5.modifier.yaml"), "modifier_id: m5_conflict\ntarget_flow_id: base\nphase: main\naction: inject_after\ntarget_step_id: c\nstep: {id: y, type: set, input: {key: y, value: 1}}\n");
    home.write(
        &format!("{m}/6.modifier.yaml"),
        "modifier_id: m6_bad\ntarget_flow_id: base\naction: explode\n",
    );
    let rumid = Rumid::start(&home);
    let r = rumid.run_flow("base", json!({}), 30.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"]["order"], "A-x-b-z");
    assert!(r.body["result"].get("y").is_none());
    let diags = rumid.get("/api/flows").body["data"]["diagnostics"].to_string();
    assert!(
        diags.contains("severe conflict") && diags.contains("m5_conflict"),
        "{diags}"
    );
    assert!(diags.contains("6.modifier.yaml"), "{diags}");
    let applied: Vec<String> = home
        .audit_actions("modifier_application", "modifier_applied")
        .iter()
        .map(|e| e["modifier_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        applied,
        ["m3_replace", "m4_remove", "m1_inject", "m2_append"],
        "replace/remove first, then by priority and id"
    );
}

#[test]
fn modifiers_apply_only_when_their_requirements_exist() {
    let home = TestHome::new();
    home.write(
        "flows/base.flow.yaml",
        "flow_id: base\nsteps:\n  - {id: a, type: set, input: {key: order, value: a}}\n",
    );
    let m = "user_data/shared/flows/modifiers";
    let append = |id: &str, requires: &str| {
        format!(
            "modifier_id: {id}\ntarget_flow_id: base\naction: append\nrequires: {requires}\nstep: {{id: {id}, type: set, input: {{key: order, value: \"${{ctx.order}}-{id}\"}}}}\n"
        )
    };
    home.write(
        &format!("{m}/1.modifier.yaml"),
        &append(
            "met",
            "{interfaces: [ctx.get, 'kernel:flow.abort'], capabilities: [store.get]}",
        ),
    );
    home.write(
        &format!("{m}/2.modifier.yaml"),
        &append("no_iface", "{interfaces: [ctx.get, telepathy.read]}"),
    );
    home.write(
        &format!("{m}/3.modifier.yaml"),
        &append("no_cap", "{capabilities: [weather.forecast]}"),
    );
    home.write(&format!("{m}/4.modifier.yaml"), &append("bad", "[ctx.get]"));
    let rumid = Rumid::start(&home);
    let r = rumid.run_flow("base", json!({}), 30.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"]["order"], "a-met");
    let diags = rumid.get("/api/flows").body["data"]["diagnostics"].to_string();
    assert!(
        diags.contains("no_iface: requires not met (kernel:telepathy.read)"),
        "{diags}"
    );
    assert!(diags.contains("no_cap: requires not met (weather.forecast)"), "{diags}");
    assert!(
        diags.contains("4.modifier.yaml") && diags.contains("requires must be a mapping"),
        "{diags}"
    );
    let applied: Vec<String> = home
        .audit_actions("modifier_application", "modifier_applied")
        .iter()
        .map(|e| e["modifier_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(applied, ["met"]);

    // Approving a handler for the missing permission reloads flows: the modifier now applies.
    home.add_pack("tools");
    home.write(
        "ecosystem/tools/share/capability_handlers/wf/handler.json",
        r#"{"handler_id": "tools.wf", "permission_id": "weather.forecast"}"#,
    );
    home.write(
        "ecosystem/tools/share/capability_handlers/wf/handler.py",
        "def execute(context, args):\n    return 'sunny'\n",
    );
    assert_eq!(rumid.post("/api/packs/scan", None).status, 200);
    let r = rumid.post("/api/capability/candidates/scan", None);
    let key = r.body["data"]["candidates"][0]["candidate_key"]
        .as_str()
        .unwrap_or_else(|| panic!("{:?}", r.body))
        .replace(':', "%3A");
    assert_eq!(
        rumid
            .post(&format!("/api/capability/requests/{key}/approve"), None)
            .status,
        200
    );
    rumi_tests::eventually("modifier applied after the handler approval", patience(), || {
        let r = rumid.run_flow("base", json!({}), 30.0);
        (r.body["result"]["order"] == "a-met-no_cap").then_some(())
    })
    .unwrap();
}

#[test]
fn interval_schedules_run_on_time_and_never_overlap() {
    let home = TestHome::new();
    home.add_pack("clock");
    home.write(
        "ecosystem/clock/backend/blocks/slow.py",
        "import time\n\ndef run():\n    time.sleep(12)\n    return 'tick'\n",
    );
    home.write(
        "flows/tick.flow.yaml",
        "flow_id: tick\nschedule: {interval: 10}\nsteps:\n  - {id: s, type: python_file_call, owner_pack: clock, file: slow.py, timeout_seconds: 30, output: out}\n",
    );
    home.write(
        "flows/badcron.flow.yaml",
        "flow_id: badcron\nschedule: {cron: 'every monday'}\nsteps: []\n",
    );
    home.write(
        "flows/tooquick.flow.yaml",
        "flow_id: tooquick\nschedule: {interval: 2}\nsteps: []\n",
    );
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/clock/approve", None).status, 200);
    let started = std::time::Instant::now();
    let diags = rumid.get("/api/flows").body["data"]["diagnostics"].to_string();
    assert!(diags.contains("badcron") && diags.contains("tooquick"), "{diags}");
    // The first run starts one interval after loading, i.e. at about 10 s; while it runs
    // (12 s) the next due time (20 s) is skipped.
    rumi_tests::eventually(
        "the overlapping run to be skipped",
        std::time::Duration::from_secs(40),
        || rumid.log_text().contains("scheduled run skipped").then_some(()),
    )
    .unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_secs(15),
        "skip observed after {elapsed:?}"
    );
    let runs = rumi_tests::eventually("the first scheduled run", std::time::Duration::from_secs(20), || {
        let r: Vec<Value> = home
            .audit_actions("flow_execution", "flow_run")
            .into_iter()
            .filter(|e| e["details"]["trigger"] == "schedule")
            .collect();
        (!r.is_empty()).then_some(r)
    })
    .unwrap();
    assert_eq!(runs.len(), 1, "exactly one run so far: {runs:?}");
    assert_eq!(runs[0]["success"], true);
}

#[test]
fn pack_routes_run_their_own_flows_and_never_shadow_built_ins() {
    let home = TestHome::new();
    home.add_pack("web");
    home.add_pack("copy");
    home.write(
        "ecosystem/web/backend/flows/web.flow.yaml",
        "flow_id: web.echo\nsteps:\n  - {id: s, type: set, input: {key: seen, value: {name: \"$ctx.name\", q: \"$ctx.q\", method: \"$ctx._method\", body: \"$ctx._raw_body\", ua: \"$ctx._headers.user-agent\", auth: \"$ctx._headers.authorization\", id: \"$ctx.user_id\"}}}\n",
    );
    home.write(
        "ecosystem/web/routes.json",
        r#"{"routes": [
            {"method": "GET", "path": "/web/hello/{name}", "flow_id": "web.echo", "input_mapping": {"user_id": "path.name"}},
            {"method": "POST", "path": "/web/echo", "flow_id": "web.echo"},
            {"method": "GET", "path": "/web", "flow_id": "web.echo"},
            {"method": "GET", "path": "/api/packs/web/evil", "flow_id": "web.echo"},
            {"method": "GET", "path": "/web/steal", "flow_id": "copy.secret"}
        ]}"#,
    );
    home.write(
        "ecosystem/copy/routes.json",
        r#"{"routes": [{"path": "/web/echo", "method": "POST", "flow_id": "copy.x"}]}"#,
    );
    let rumid = Rumid::start(&home);
    for p in ["web", "copy"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumid.wait_policy_applied();
    let routes = rumi_tests::eventually("routes loaded", patience(), || {
        let r = rumid.get("/api/routes").body["data"].clone();
        (r["count"] == 3).then_some(r)
    })
    .unwrap();
    let diags = routes["diagnostics"].to_string();
    assert!(
        diags.contains("/api/packs/web/evil: can match a built-in endpoint"),
        "{diags}"
    );
    assert!(diags.contains("flow scope violation"), "{diags}");
    assert!(diags.contains("routes of pack copy must start with /copy/"), "{diags}");
    let out = home.ctl(&["routes", "list"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("/web/hello/{name}"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("flow scope violation"));

    let r = rumid.get("/web/hello/Ada?q=search");
    assert_eq!(r.status, 200, "{:?}", r.body);
    let seen = &r.body["data"]["result"]["seen"];
    assert_eq!(seen["name"], "Ada");
    assert_eq!(seen["id"], "Ada", "input_mapping copies path params");
    assert_eq!(seen["q"], "search");
    assert_eq!(seen["method"], "GET");
    assert!(seen["auth"].is_null(), "the token never reaches pack code");
    let r = rumid.post("/web/echo", Some(&json!({"name": "posted"})));
    assert_eq!(r.body["data"]["result"]["seen"]["name"], "posted");
    assert_eq!(r.body["data"]["result"]["seen"]["body"], r#"{"name":"posted"}"#);

    let r = rumid.get("/web/hello/..%2F..%2Fetc");
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));
    let r = rumid.get("/web/nothing");
    assert_eq!((r.status, r.code()), (404, "RUMI-SYS-004"));
    let r = rumid.request("GET", "/web/hello/x", None, None, None);
    assert_eq!(r.status, 401, "pack routes need the token too");
    // The built-in endpoint still answers at its own path.
    assert_eq!(rumid.get("/api/packs/web/status").status, 200);
}

#[test]
fn the_shared_dictionary_resolves_targets_and_refuses_cycles() {
    let home = TestHome::new();
    home.write(
        "flows/base.flow.yaml",
        "flow_id: base\nsteps:\n  - {id: a, type: set, input: {key: v, value: original}}\n",
    );
    home.write(
        "flows/dict.flow.yaml",
        r#"
flow_id: dict
steps:
  - {id: p1, type: handler, input: {handler: 'kernel:shared_dict.propose', args: {token: chat, value: base}}, output: first}
  - {id: p2, type: handler, input: {handler: 'kernel:shared_dict.propose', args: {token: base, value: chat}}, output: cycle}
  - {id: p3, type: handler, input: {handler: 'kernel:shared_dict.propose', args: {token: chat, value: other}}, output: conflict}
  - {id: r, type: handler, input: {handler: 'kernel:shared_dict.resolve', args: {token: chat}}, output: resolved}
"#,
    );
    let rumid = Rumid::start(&home);
    let r = rumid.run_flow("dict", json!({}), 30.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let res = &r.body["result"];
    assert_eq!(res["first"]["result"], "added");
    assert_eq!(res["cycle"]["result"], "cycle_detected");
    assert_eq!(res["conflict"]["result"], "conflict");
    assert_eq!(res["resolved"], "base");
    let journal = std::fs::read_to_string(home.path().join("user_data/settings/shared_dict/journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 3);
    assert!(journal.contains("\"result\":\"cycle_detected\""));

    // A modifier naming "chat" reaches the flow the dictionary resolves it to.
    home.write(
        "user_data/shared/flows/modifiers/via_dict.modifier.yaml",
        "modifier_id: via_dict\ntarget_flow_id: chat\nresolve_target: true\nphase: main\naction: append\nstep: {id: z, type: set, input: {key: v, value: modified}}\n",
    );
    assert_eq!(rumid.post("/api/flows/reload", None).status, 200);
    assert_eq!(rumid.run_flow("base", json!({}), 30.0).body["result"]["v"], "modified");
}

#[test]
fn pack_modifiers_may_only_touch_their_own_flows() {
    let home = TestHome::new();
    home.write(
        "flows/official.flow.yaml",
        "flow_id: official\nsteps:\n  - {id: a, type: set, input: {key: v, value: safe}}\n",
    );
    home.add_pack("sneaky");
    home.write(
        "ecosystem/sneaky/backend/flows/own.flow.yaml",
        "flow_id: sneaky.own\nsteps:\n  - {id: a, type: set, input: {key: v, value: own}}\n",
    );
    home.write(
        "ecosystem/sneaky/backend/flows/modifiers/all.modifier.yaml",
        "modifier_id: everywhere\ntarget_flow_id: '*'\nphase: main\naction: append\nstep: {id: z, type: set, input: {key: v, value: hijacked}}\n",
    );
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/sneaky/approve", None).status, 200);
    rumid.wait_policy_applied();
    rumi_tests::eventually("pack flow loaded", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 2).then_some(())
    })
    .unwrap();
    assert_eq!(rumid.run_flow("official", json!({}), 30.0).body["result"]["v"], "safe");
    assert_eq!(
        rumid.run_flow("sneaky.own", json!({}), 30.0).body["result"]["v"],
        "hijacked"
    );
    let diags = rumid.get("/api/flows").body["data"]["diagnostics"].to_string();
    assert!(diags.contains("may only modify its own flows"), "{diags}");
}

#[test]
fn missing_steps_and_flows_skip_or_fail_as_configured() {
    let home = TestHome::new();
    home.write(
        "flows/lenient.flow.yaml",
        "flow_id: lenient\nsteps:\n  - {id: a, type: flow, flow: nowhere}\n  - {id: b, type: set, depends_on: [ghost], input: {key: b, value: 1}}\n  - {id: c, type: set, input: {key: c, value: 1}}\n",
    );
    home.write(
        "flows/strict.flow.yaml",
        "flow_id: strict\ndefaults: {on_missing_step: error}\nsteps:\n  - {id: a, type: flow, flow: nowhere}\n  - {id: c, type: set, input: {key: c, value: 1}}\n",
    );
    home.write(
        "flows/bad.flow.yaml",
        "flow_id: bad\ndefaults: {on_missing_step: maybe}\nsteps: []\n",
    );
    let rumid = Rumid::start(&home);
    let r = rumid.run_flow("lenient", json!({}), 30.0);
    assert_eq!(r.body["result"], json!({"c": 1}), "{:?}", r.body);
    let r = rumid.run_flow("strict", json!({}), 30.0);
    assert_eq!((r.status, r.code()), (500, "RUMI-FLOW-002"));
    assert!(r.body["error"].as_str().unwrap().contains("missing_step"));
    assert!(
        rumid.get("/api/flows").body["data"]["diagnostics"]
            .to_string()
            .contains("on_missing_step")
    );
}

#[test]
fn pack_flows_cannot_use_operator_handlers_or_foreign_flow_ids() {
    let home = TestHome::new();
    home.add_pack("p");
    home.write(
        "ecosystem/p/backend/flows/p.flow.yaml",
        "flow_id: p.main\ndefaults: {fail_soft: false}\nsteps:\n  - {id: x, type: handler, input: {handler: 'kernel:shared_dict.propose', args: {token: a, value: b}}}\n",
    );
    home.write(
        "ecosystem/p/backend/flows/squat.flow.yaml",
        "flow_id: hello.greet\nsteps: []\n",
    );
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/p/approve", None).status, 200);
    rumid.wait_policy_applied();
    let flows = rumi_tests::eventually("pack flow loaded", patience(), || {
        let f = rumid.get("/api/flows").body["data"].clone();
        (f["count"] == 1).then_some(f)
    })
    .unwrap();
    assert!(
        flows["diagnostics"].to_string().contains("must be named p or p.<name>"),
        "{flows}"
    );
    let r = rumid.run_flow("p.main", json!({}), 30.0);
    assert_eq!(r.status, 500);
    assert!(
        r.body["error"].as_str().unwrap().contains("handler_not_allowed"),
        "{:?}",
        r.body
    );
}

#[test]
fn operator_handlers_stay_refused_through_official_sub_flows() {
    let home = TestHome::new();
    home.write(
        "flows/dict_admin.flow.yaml",
        "flow_id: dict_admin\ndefaults: {fail_soft: false}\nsteps:\n  - {id: x, type: handler, input: {handler: 'kernel:shared_dict.propose', args: {token: \"$ctx.token\", value: \"$ctx.value\"}}, output: r}\n",
    );
    home.add_pack("p");
    home.write(
        "ecosystem/p/backend/flows/p.flow.yaml",
        "flow_id: p.sneak\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: flow, flow: dict_admin, args: {token: chat, value: evil}}\n",
    );
    let rumid = Rumid::start(&home);
    // The operator's flow may use it directly.
    let r = rumid.run_flow("dict_admin", json!({"token": "a", "value": "b"}), 30.0);
    assert_eq!(r.body["result"]["r"]["result"], "added", "{:?}", r.body);
    assert_eq!(rumid.post("/api/packs/p/approve", None).status, 200);
    rumid.wait_policy_applied();
    rumi_tests::eventually("pack flow loaded", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 2).then_some(())
    })
    .unwrap();
    let r = rumid.run_flow("p.sneak", json!({}), 30.0);
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(
        r.body["error"].as_str().unwrap().contains("handler_not_allowed"),
        "{:?}",
        r.body
    );
}

#[test]
fn function_steps_call_registered_functions_as_their_owner_pack_only() {
    let home = TestHome::new();
    home.add_pack("box");
    home.add_pack("other");
    home.write(
        "flows/notes.flow.yaml",
        r#"
flow_id: notes
defaults: {fail_soft: false}
steps:
  - id: put
    type: function
    priority: 10
    owner_pack: box
    input:
      function: store.set
      args: {store_id: box, key: greeting, value: "${ctx.inputs.text}"}
  - id: get
    type: function
    owner_pack: box
    input: {function: store.get, args: {store_id: box, key: greeting}}
    output: got
"#,
    );
    home.write(
        "flows/secret.flow.yaml",
        "flow_id: secret\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: function, owner_pack: box, input: {function: secrets.get, args: {key: TOKEN}}, output: v}\n",
    );
    home.write(
        "flows/missing.flow.yaml",
        "flow_id: missing\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: function, owner_pack: box, input: {function: no.such.function}}\n",
    );
    // A pack's own flow may not call functions as another pack.
    home.write(
        "ecosystem/box/backend/flows/borrow.flow.yaml",
        "flow_id: box.borrow\nsteps:\n  - {id: s, type: function, owner_pack: other, input: {function: store.get, args: {store_id: box, key: greeting}}}\n",
    );
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    let r = rumid.post(
        "/api/stores/create",
        Some(&json!({"store_id": "box", "owner_pack": "box"})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    rumid.grant_capability("box", "store.set", json!({"allowed_store_ids": ["box"]}));
    rumid.grant_capability("box", "store.get", json!({"allowed_store_ids": ["box"]}));
    let socket = rumid.capability_socket(&home, "box");
    rumi_tests::eventually("box's capability socket", patience(), || socket.exists().then_some(())).unwrap();

    let r = rumid.run_flow("notes", json!({"text": "hi from a flow"}), 30.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"]["got"]["value"], "hi from a flow", "{:?}", r.body);
    // rumi-capd checked and audited the calls as box (its audit lines arrive through the
    // helper's audit stream, shortly after the answer).
    let put = rumi_tests::eventually("store.set audited", patience(), || {
        home.audit_actions("permission", "permission_execute")
            .into_iter()
            .find(|c| c["details"]["request_id"] == "flow:notes:put")
    })
    .unwrap();
    assert_eq!(put["details"]["principal_id"], "box");
    assert_eq!(put["success"], true);

    // Without a grant the helper refuses, and the step fails with its error type.
    let r = rumid.run_flow("secret", json!({}), 30.0);
    assert_eq!(r.status, 500, "{:?}", r.body);
    let msg = r.body["error"].as_str().unwrap().to_owned();
    assert!(msg.contains("secrets.get"), "{msg}");
    let r = rumid.run_flow("missing", json!({}), 30.0);
    assert!(
        r.body["error"].as_str().unwrap().contains("handler_not_found"),
        "{:?}",
        r.body
    );

    // The borrowing pack flow never loaded; it is reported.
    let flows = rumid.get("/api/flows").body["data"].clone();
    assert!(
        flows["diagnostics"]
            .to_string()
            .contains("a flow of pack box may only run steps as box"),
        "{flows}"
    );
    assert_eq!(rumid.run_flow("box.borrow", json!({}), 30.0).status, 404);

    // A rejected owner runs nothing: refused before the helper is asked.
    assert_eq!(
        rumid
            .post("/api/packs/box/reject", Some(&json!({"reason": "t"})))
            .status,
        200
    );
    let before = home.audit_actions("permission", "permission_execute").len();
    let r = rumid.run_flow("notes", json!({"text": "again"}), 30.0);
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(
        r.body["error"].as_str().unwrap().contains("approval_rejected"),
        "{:?}",
        r.body
    );
    assert_eq!(home.audit_actions("permission", "permission_execute").len(), before);
}

#[test]
fn legacy_local_flows_load_only_while_the_virtual_local_pack_is_approved() {
    let home = TestHome::new();
    home.add_pack("box");
    home.write(
        "ecosystem/flows/legacy.flow.yaml",
        "flow_id: legacy_hello\nsteps:\n  - {id: s, type: set, input: {key: said, value: \"legacy ${ctx.inputs.name}\"}}\n",
    );
    home.write(
        "ecosystem/flows/stolen.flow.yaml",
        "flow_id: box.stolen\nsteps:\n  - {id: s, type: set, input: {key: x, value: 1}}\n",
    );
    // A pack directory may not take the virtual pack's id.
    home.write(
        "ecosystem/local_pack/ecosystem.json",
        r#"{"pack_id": "local_pack", "pack_identity": "evil/local"}"#,
    );

    // Off (the default): reported, never loaded, no virtual pack.
    {
        let rumid = Rumid::start(&home);
        let packs = rumid.get("/api/packs").body["data"].clone();
        let ids: Vec<&str> = packs["packs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pack_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["box"], "{packs}");
        assert!(packs["invalid"].to_string().contains("reserved"), "{packs}");
        let flows = rumid.get("/api/flows").body["data"].clone();
        assert!(
            flows["diagnostics"].to_string().contains("RUMI_LOCAL_PACK_MODE=off"),
            "{flows}"
        );
        assert_eq!(rumid.run_flow("legacy_hello", json!({}), 10.0).status, 404);
    }

    let rumid = Rumid::builder(&home)
        .env("RUMI_LOCAL_PACK_MODE", "require_approval")
        .spawn()
        .unwrap();
    // The directory is the virtual pack local_pack: pending like any pack, flows not loaded.
    let st = rumid.get("/api/packs/local_pack/status");
    assert_eq!(st.status, 200, "{:?}", st.body);
    assert_eq!(st.body["data"]["status"], "pending", "{:?}", st.body);
    assert_eq!(st.body["data"]["legacy"], true, "{:?}", st.body);
    assert_eq!(rumid.run_flow("legacy_hello", json!({}), 10.0).status, 404);

    // Approved: its flows load at the lowest priority, never in a pack's namespace.
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    assert_eq!(rumid.post("/api/packs/local_pack/approve", None).status, 200);
    let r = rumi_tests::eventually("legacy flow loaded", patience(), || {
        let r = rumid.run_flow("legacy_hello", json!({"name": "world"}), 10.0);
        (r.status == 200).then_some(r)
    })
    .unwrap();
    assert_eq!(r.body["result"]["said"], "legacy world", "{:?}", r.body);
    let flows = rumid.get("/api/flows").body["data"].clone();
    let diags = flows["diagnostics"].to_string();
    assert!(diags.contains("namespace of pack box"), "{diags}");
    assert!(diags.contains("DEPRECATED"), "{diags}");
    assert_eq!(rumid.run_flow("box.stolen", json!({}), 10.0).status, 404);

    // Edited after approval: modified, and its flows are gone until re-approved.
    home.write(
        "ecosystem/flows/legacy.flow.yaml",
        "flow_id: legacy_hello\nsteps:\n  - {id: s, type: set, input: {key: said, value: changed}}\n",
    );
    assert_eq!(rumid.pack_state("local_pack"), "modified");
    rumi_tests::eventually("legacy flow unloaded", patience(), || {
        (rumid.run_flow("legacy_hello", json!({}), 10.0).status == 404).then_some(())
    })
    .unwrap();
}

#[test]
fn guide_routes_under_api_are_served_unless_they_can_reach_a_built_in_or_are_contested() {
    let home = TestHome::new();
    for p in ["weather", "clash_a", "clash_b"] {
        home.add_pack(p);
        home.write(
            &format!("ecosystem/{p}/backend/flows/{p}.flow.yaml"),
            &format!("flow_id: {p}\nsteps:\n  - {{id: s, type: set, input: {{key: seen, value: {{pack: {p}, city: \"$ctx.city\"}}}}}}\n"),
        );
    }
    home.write(
        "ecosystem/weather/routes.json",
        r#"{"routes": [
            {"method": "GET", "path": "/api/weather/{city}", "flow_id": "weather"},
            {"method": "GET", "path": "/API//Packs/x", "flow_id": "weather"},
            {"method": "GET", "path": "/api/x/../flows/y", "flow_id": "weather"},
            {"method": "GET", "path": "/api/{any}/status", "flow_id": "weather"},
            {"method": "GET", "path": "/api/clash_a/mine", "flow_id": "weather"}
        ]}"#,
    );
    for p in ["clash_a", "clash_b"] {
        home.write(
            &format!("ecosystem/{p}/routes.json"),
            &format!(r#"{{"routes": [{{"method": "GET", "path": "/api/shared/{{x}}", "flow_id": "{p}"}}]}}"#),
        );
    }
    let rumid = Rumid::start(&home);
    for p in ["weather", "clash_a", "clash_b"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    let routes = rumid.get("/api/routes").body["data"].clone();
    let listed: Vec<&str> = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["/api/weather/{city}"], "{routes}");
    let diags = routes["diagnostics"].to_string();
    for refused in [
        "/API/Packs/x: can match a built-in endpoint",
        "/api/flows/y: can match a built-in endpoint",
        "/api/{any}/status: can match a built-in endpoint",
        "/api/clash_a/mine: /api/clash_a/ belongs to pack clash_a",
        "/api/shared/{x}: also claimed by pack clash_b; both packs' routes are refused",
        "/api/shared/{x}: also claimed by pack clash_a; both packs' routes are refused",
    ] {
        assert!(diags.contains(refused), "{refused} missing from {diags}");
    }

    // Served as declared, the path parameter at the top level of the inputs.
    let r = rumid.get("/api/weather/london");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["data"]["result"]["seen"],
        json!({"pack": "weather", "city": "london"})
    );
    // Neither contested route answers, and the built-ins are what they were.
    assert_eq!(rumid.get("/api/shared/x").status, 404);
    assert_eq!(rumid.get("/api/packs").body["data"]["count"], 3);
    assert_eq!(rumid.get("/api/flows").body["data"]["count"], 3);
    let r = rumid.get("/api/packs/weather/status");
    assert_eq!(r.body["data"]["status"], "approved", "{:?}", r.body);
}
