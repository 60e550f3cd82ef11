//! The flow schema's pure parts: parsing each step type, order, `outputs` typing.

use std::collections::BTreeMap;

use super::*;
use serde_json::json;

fn parse(doc: Value) -> Result<Flow, ParseError> {
    Flow::parse(&doc, Source::Official, PathBuf::from("t.flow.yaml"))
}

fn parse_as(doc: Value, source: Source) -> Result<Flow, ParseError> {
    Flow::parse(&doc, source, PathBuf::from("t.flow.yaml"))
}

fn pack(id: &str) -> Source {
    Source::Pack(PackId::parse(id).unwrap())
}

fn ids(flow: &Flow) -> Vec<&str> {
    flow.steps.iter().map(|s| s.id.as_str()).collect()
}

fn set(id: &str, extra: Value) -> Value {
    let mut step = json!({"id": id, "type": "set", "input": {"key": id, "value": 1}});
    if let (Value::Object(s), Value::Object(e)) = (&mut step, extra) {
        s.extend(e);
    }
    step
}

#[test]
fn steps_run_by_phase_then_priority_then_id() {
    let flow = parse(json!({
        "flow_id": "f",
        "phases": ["prepare", "work"],
        "steps": [
            set("z", json!({"phase": "work"})),
            set("b", json!({"phase": "work", "priority": 10})),
            set("a", json!({"phase": "work", "priority": 10})),
            set("late_prep", json!({"phase": "prepare", "priority": 500})),
            set("default_phase", json!({})),
        ],
    }))
    .unwrap();
    assert_eq!(ids(&flow), ["default_phase", "late_prep", "a", "b", "z"]);
    assert_eq!(flow.steps[0].phase, "prepare", "a step without phase is in the first");
    assert_eq!(flow.steps[4].priority, DEFAULT_PRIORITY);
}

#[test]
fn depends_on_moves_a_step_after_the_steps_it_names_within_its_phase() {
    let flow = parse(json!({
        "flow_id": "f",
        "phases": ["one", "two"],
        "steps": [
            set("a", json!({"phase": "one", "depends_on": ["c"]})),
            set("b", json!({"phase": "one", "depends_on": ["a"]})),
            set("c", json!({"phase": "one"})),
            // An id of another phase, or of no step at all, does not change the order.
            set("d", json!({"phase": "one", "depends_on": ["x", "missing"]})),
            set("x", json!({"phase": "two"})),
        ],
    }))
    .unwrap();
    assert_eq!(ids(&flow), ["c", "a", "b", "d", "x"]);
    assert_eq!(flow.steps[3].depends_on, ["x", "missing"], "kept for the run's check");
}

#[test]
fn a_depends_on_cycle_keeps_the_plain_order() {
    let flow = parse(json!({
        "flow_id": "f",
        "steps": [
            set("b", json!({"depends_on": ["a"]})),
            set("a", json!({"depends_on": ["b"]})),
            set("c", json!({"priority": 1})),
        ],
    }))
    .unwrap();
    assert_eq!(ids(&flow), ["c", "a", "b"]);
}

#[test]
fn each_step_type_parses_into_its_own_variant_once() {
    let flow = parse(json!({
        "flow_id": "f",
        "steps": [
            {"id": "s1", "type": "set", "input": {"key": "k", "value": "${ctx.x}"}, "priority": 1},
            {"id": "s2", "type": "if", "input": {"condition": "$ctx.n > 1"}, "output": "big", "priority": 2},
            {"id": "s3", "type": "handler", "input": {"handler": "kernel:ctx.set", "args": {"key": "a", "value": 2}}, "priority": 3},
            {"id": "s4", "type": "handler", "input": {"handler": "kernel:teleport"}, "priority": 4},
            {"id": "s5", "type": "flow", "flow": "child", "args": {"x": 1}, "priority": 5},
            {"id": "s6", "type": "python_file_call", "owner_pack": "p", "file": "b.py", "input": {"q": 1},
             "timeout_seconds": 5000, "principal_id": "other", "priority": 6},
            {"id": "s7", "type": "function", "function": "store.get", "owner_pack": "p",
             "input": {"store_id": "s", "key": "k"}, "timeout_seconds": 2, "priority": 7},
            {"id": "s8", "type": "function", "owner_pack": "p",
             "input": {"function": "secrets.get", "args": {"key": "K"}}, "priority": 8},
        ],
    }))
    .unwrap();
    let actions: Vec<&Action> = flow.steps.iter().map(|s| &s.action).collect();
    assert_eq!(
        actions,
        [
            &Action::Set {
                key: Some("k".into()),
                value: json!("${ctx.x}"),
            },
            &Action::If {
                condition: "$ctx.n > 1".into(),
            },
            &Action::Handler {
                handler: Handler::CtxSet,
                args: json!({"key": "a", "value": 2}),
            },
            &Action::Handler {
                handler: Handler::Unknown("kernel:teleport".into()),
                args: Value::Null,
            },
            &Action::Flow {
                flow: "child".into(),
                args: json!({"x": 1}),
            },
            &Action::PythonFileCall(BlockCall {
                owner_pack: "p".into(),
                file: "b.py".into(),
                input: json!({"q": 1}),
                timeout: Some(Duration::from_secs(600)),
                principal_id: Some("other".into()),
            }),
            &Action::Function(FunctionCall {
                owner_pack: "p".into(),
                function: "store.get".into(),
                args: json!({"store_id": "s", "key": "k"}),
                timeout: Some(Duration::from_secs(2)),
            }),
            &Action::Function(FunctionCall {
                owner_pack: "p".into(),
                function: "secrets.get".into(),
                args: json!({"key": "K"}),
                timeout: None,
            }),
        ]
    );
    let kinds: Vec<&str> = flow.steps.iter().map(Step::kind).collect();
    assert_eq!(
        kinds,
        [
            "set",
            "if",
            "handler",
            "handler",
            "flow",
            "python_file_call",
            "function",
            "function"
        ]
    );
    let owners: Vec<Option<&str>> = flow.steps.iter().map(Step::owner).collect();
    assert_eq!(owners, [None, None, None, None, None, Some("p"), Some("p"), Some("p")]);
}

#[test]
fn a_documented_function_step_runs_as_the_pack_whose_flow_it_is_in() {
    let doc = json!({
        "flow_id": "weather.get",
        "steps": [{"id": "cached", "type": "function", "function": "store.get",
                   "input": {"store_id": "cache", "key": "k"}, "output": "cached", "vocab_normalize": true}],
    });
    let flow = parse_as(doc.clone(), pack("weather")).unwrap();
    assert_eq!(flow.steps[0].owner(), Some("weather"));
    // An operator's flow has no pack to default to.
    assert_eq!(
        parse(doc).unwrap_err(),
        ParseError::MissingField {
            kind: "function",
            step: "cached".into(),
            needs: "owner_pack (the pack it is called as) in an operator's flow",
        }
    );
}

#[test]
fn timeouts_that_are_not_positive_numbers_leave_the_default() {
    for bad in [json!(0), json!(-3), json!("sixty"), Value::Null] {
        let flow = parse(json!({"flow_id": "f", "steps": [
            {"id": "b", "type": "python_file_call", "owner_pack": "p", "file": "b.py", "timeout_seconds": bad}
        ]}))
        .unwrap();
        let Action::PythonFileCall(call) = &flow.steps[0].action else {
            panic!()
        };
        assert_eq!(call.timeout, None, "{bad}");
    }
}

#[test]
fn each_bad_document_is_refused_by_its_rule() {
    let step = |s: Value| json!({"flow_id": "f", "steps": [s]});
    let missing = |kind: &'static str, needs: &'static str| ParseError::MissingField {
        kind,
        step: "x".into(),
        needs,
    };
    let cases = [
        (json!([1]), ParseError::NotAMapping),
        (json!({"steps": []}), ParseError::NoFlowId),
        (json!({"flow_id": "a b"}), ParseError::BadFlowId("a b".into())),
        (json!({"flow_id": "f", "phases": []}), ParseError::BadPhases),
        (json!({"flow_id": "f", "phases": [1]}), ParseError::BadPhases),
        (
            json!({"flow_id": "f", "defaults": {"on_missing_step": "maybe"}}),
            ParseError::BadOnMissingStep("maybe".into()),
        ),
        (
            json!({"flow_id": "f", "outputs": ["greeting"]}),
            ParseError::NotADeclaration("outputs"),
        ),
        (
            json!({"flow_id": "f", "inputs": "name"}),
            ParseError::NotADeclaration("inputs"),
        ),
        (json!({"flow_id": "f", "steps": {}}), ParseError::StepsNotAList),
        (step(json!("x")), ParseError::StepNotAMapping(0)),
        (step(json!({"type": "set"})), ParseError::NoStepId(0)),
        (
            json!({"flow_id": "f", "steps": [set("x", json!({})), set("x", json!({}))]}),
            ParseError::DuplicateStep("x".into()),
        ),
        (
            step(set("x", json!({"phase": "later"}))),
            ParseError::UnknownPhase {
                step: "x".into(),
                phase: "later".into(),
            },
        ),
        (step(json!({"id": "x"})), ParseError::NoStepType("x".into())),
        (
            step(json!({"id": "x", "type": "teleport"})),
            ParseError::UnknownStepType {
                step: "x".into(),
                kind: "teleport".into(),
            },
        ),
        (
            step(set("x", json!({"on_error": {"action": "retry"}}))),
            ParseError::BadOnError {
                step: "x".into(),
                action: "retry".into(),
            },
        ),
        (
            step(json!({"id": "x", "type": "set", "input": {"value": 1}})),
            missing("set", "input.key or output"),
        ),
        (
            step(json!({"id": "x", "type": "if", "input": {"condition": true}})),
            missing("if", "input.condition (a string)"),
        ),
        (
            step(json!({"id": "x", "type": "handler", "input": {}})),
            missing("handler", "input.handler"),
        ),
        (
            step(json!({"id": "x", "type": "flow"})),
            missing("flow", "`flow: <flow_id>`"),
        ),
        (
            step(json!({"id": "x", "type": "python_file_call", "file": "b.py"})),
            missing("python_file_call", "owner_pack and file"),
        ),
        (
            step(json!({"id": "x", "type": "function", "owner_pack": "p", "input": {}})),
            missing("function", "function (or input.function)"),
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(parse(doc.clone()).unwrap_err(), want, "{doc}");
    }
    assert!(matches!(
        parse(json!({"flow_id": "f", "schedule": {"interval": 1}})),
        Err(ParseError::Schedule(_))
    ));
}

#[test]
fn outputs_are_declarations_unless_they_hold_a_reference() {
    let flow = parse(json!({
        "flow_id": "f",
        "outputs": {
            "greeting": "object",
            "name": "string",
            "count": "integer",
            "anything": null,
            "odd": "dict",
            "city": "${ctx.city}",
            "summary": {"text": "$ctx.text", "fixed": 1},
            "constant": 5,
        },
    }))
    .unwrap();
    let outputs: BTreeMap<&str, &Output> = flow.outputs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(outputs["greeting"], &Output::Declared(ValueType::Object));
    assert_eq!(outputs["name"], &Output::Declared(ValueType::String));
    assert_eq!(outputs["count"], &Output::Declared(ValueType::Integer));
    assert_eq!(outputs["anything"], &Output::Declared(ValueType::Any));
    assert_eq!(outputs["odd"], &Output::Declared(ValueType::Unknown("dict".into())));
    assert_eq!(outputs["city"], &Output::Expression(json!("${ctx.city}")));
    assert_eq!(
        outputs["summary"],
        &Output::Expression(json!({"text": "$ctx.text", "fixed": 1}))
    );
    assert_eq!(outputs["constant"], &Output::Expression(json!(5)));
}

#[test]
fn each_type_admits_only_its_values() {
    let values = [
        json!(null),
        json!(true),
        json!(3),
        json!(3.0),
        json!(2.5),
        json!("s"),
        json!([1]),
        json!({"a": 1}),
    ];
    let table: [(ValueType, [bool; 8]); 7] = [
        (
            ValueType::String,
            [false, false, false, false, false, true, false, false],
        ),
        (ValueType::Number, [false, false, true, true, true, false, false, false]),
        (
            ValueType::Integer,
            [false, false, true, true, false, false, false, false],
        ),
        (
            ValueType::Boolean,
            [false, true, false, false, false, false, false, false],
        ),
        (
            ValueType::Object,
            [false, false, false, false, false, false, false, true],
        ),
        (
            ValueType::Array,
            [false, false, false, false, false, false, true, false],
        ),
        (ValueType::Any, [true; 8]),
    ];
    for (ty, expected) in table {
        let got: Vec<bool> = values.iter().map(|v| ty.admits(v)).collect();
        assert_eq!(got, expected, "{}", ty.word());
        assert_eq!(ValueType::parse(Some(ty.word())), ty);
    }
    assert!(
        ValueType::Unknown("dict".into()).admits(&json!(1)),
        "an unknown word is not checked"
    );
}

#[test]
fn output_warnings_name_each_step_whose_result_cannot_match() {
    let flow = parse(json!({
        "flow_id": "f",
        "inputs": {"name": "string", "n": "integer"},
        "outputs": {
            "greeting": "object",
            "flag": "string",
            "label": "string",
            "made": "object",
            "name": "string",
            "n": "string",
            "odd": "dict",
            "via": "${ctx.x}",
        },
        "steps": [
            {"id": "literal", "type": "set", "input": {"key": "greeting", "value": "hello"}},
            {"id": "maybe", "type": "set", "input": {"key": "greeting", "value": "$ctx.inputs.g"}},
            {"id": "check", "type": "if", "input": {"condition": "$ctx.n > 1"}, "output": "flag"},
            {"id": "text", "type": "set", "input": {"key": "label", "value": "n=${ctx.n}"}},
            {"id": "block", "type": "python_file_call", "owner_pack": "p", "file": "b.py", "output": "made"},
            {"id": "handler", "type": "handler", "output": "made",
             "input": {"handler": "kernel:ctx.set", "args": {"value": [1]}}},
        ],
    }))
    .unwrap();
    assert_eq!(
        flow.output_warnings(),
        [
            "outputs.flag is declared string but step \"check\" stores boolean there",
            "outputs.greeting is declared object but step \"literal\" stores string there",
            "outputs.made is declared object but step \"handler\" stores array there",
            "outputs.n is declared string but inputs.n is declared integer",
            "outputs.odd: \"dict\" is not a type (string, number, integer, boolean, object, array, any); not checked",
        ]
    );
    let fine = parse(json!({
        "flow_id": "f",
        "outputs": {"greeting": "object", "label": "string"},
        "steps": [
            {"id": "greet", "type": "python_file_call", "owner_pack": "p", "file": "b.py", "output": "greeting"},
            {"id": "label", "type": "set", "input": {"key": "label", "value": "n=${ctx.n}"}},
        ],
    }))
    .unwrap();
    assert_eq!(fine.output_warnings(), Vec::<String>::new());
}

#[test]
fn cron_patterns_that_never_match_are_refused() {
    for never in [
        "0 0 30 2 *",
        "0 0 31 4,6,9,11 *",
        "*/5 * 30-31 2 *",
        "0 0 31W 4 *",
        "0 0 30W 2 *",
    ] {
        let err = parse_schedule(&json!({"cron": never})).unwrap_err();
        assert!(err.contains("no day that exists"), "{never}: {err}");
    }
    for ok in [
        "* * * * *",
        "0 0 29 2 *",
        "0 0 31 * *",
        "0 0 30 2 1",
        "0 0 L 2 *",
        "5 20 * * *",
    ] {
        assert_eq!(
            parse_schedule(&json!({"cron": ok})).unwrap(),
            Schedule::Cron(ok.into()),
            "{ok}"
        );
    }
    assert!(parse_schedule(&json!({"cron": "0 0 * * * *"})).is_err(), "six fields");
    assert!(parse_schedule(&json!({"interval": 9})).is_err());
}
