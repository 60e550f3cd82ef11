//! Applying modifiers: where each action puts its step, and what is skipped and said.

use std::path::{Path, PathBuf};

use super::*;
use crate::flow::loader::parse_flow_text;
use crate::flow::model::{Action, Source};

const BASE: &str = "flow_id: base\nphases: [one, two]\nsteps:\n  - {id: a, phase: one, type: set, input: {key: a, value: 1}, priority: 1}\n  - {id: b, phase: one, type: set, input: {key: b, value: 1}, priority: 2}\n  - {id: c, phase: two, type: set, input: {key: c, value: 1}}\n";

fn flows(source: Source) -> BTreeMap<String, Flow> {
    let f = parse_flow_text(BASE, source, PathBuf::from("base.flow.yaml")).unwrap();
    BTreeMap::from([(f.flow_id.clone(), f)])
}

fn modifier(text: &str, owner: Option<&str>) -> Modifier {
    let mut m = parse_text(text, Path::new("m.modifier.yaml")).unwrap();
    m.owner = owner.map(|o| PackId::parse(o).unwrap());
    m
}

/// A modifier of `base` with `action` on `target` (if any) adding step `new`.
fn text(id: &str, action: &str, phase: &str, target: Option<&str>) -> String {
    let target = target.map(|t| format!("target_step_id: {t}\n")).unwrap_or_default();
    format!(
        "modifier_id: {id}\ntarget_flow_id: base\nphase: {phase}\naction: {action}\n{target}step: {{id: new_{id}, type: set, input: {{key: x, value: 2}}}}\n"
    )
}

fn apply_all(set: &mut BTreeMap<String, Flow>, mods: &[Modifier]) -> (Vec<Applied>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let applied = apply(set, mods, None, &Available::default(), &mut diags);
    (applied, diags)
}

fn ids(set: &BTreeMap<String, Flow>) -> Vec<String> {
    set["base"].steps.iter().map(|s| s.id.clone()).collect()
}

#[test]
fn each_action_puts_its_step_where_it_says() {
    let cases = [
        (
            text("m", "inject_before", "one", Some("b")),
            vec!["a", "new_m", "b", "c"],
        ),
        (
            text("m", "inject_after", "one", Some("a")),
            vec!["a", "new_m", "b", "c"],
        ),
        (
            text("m", "inject_before", "one", Some("__first__")),
            vec!["new_m", "a", "b", "c"],
        ),
        (
            text("m", "inject_after", "one", Some("__last__")),
            vec!["a", "b", "new_m", "c"],
        ),
        (text("m", "append", "one", None), vec!["a", "b", "new_m", "c"]),
        (text("m", "append", "two", None), vec!["a", "b", "c", "new_m"]),
        (text("m", "replace", "one", Some("b")), vec!["a", "new_m", "c"]),
        (
            "modifier_id: m\ntarget_flow_id: base\nphase: one\naction: remove\ntarget_step_id: b\n".to_owned(),
            vec!["a", "c"],
        ),
    ];
    for (t, want) in cases {
        let mut set = flows(Source::Official);
        let (applied, diags) = apply_all(&mut set, &[modifier(&t, None)]);
        assert!(diags.is_empty(), "{t}: {diags:?}");
        assert_eq!(ids(&set), want, "{t}");
        assert_eq!(applied.len(), 1, "{t}");
    }
}

#[test]
fn an_inserted_step_is_parsed_into_the_typed_model_of_its_flow() {
    let mut set = flows(Source::Pack(PackId::parse("base").unwrap()));
    let m = "modifier_id: m\ntarget_flow_id: base\nphase: two\naction: append\nstep: {id: f, type: function, function: store.get, input: {store_id: s, key: k}, output: got}\n";
    let (applied, diags) = apply_all(&mut set, &[modifier(m, Some("base"))]);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(applied[0].step_id.as_deref(), Some("f"));
    let step = set["base"].steps.last().unwrap();
    assert_eq!(step.phase, "two", "the modifier's phase");
    let Action::Function(call) = &step.action else {
        panic!("{step:?}")
    };
    assert_eq!(
        (call.owner_pack.as_str(), call.function.as_str()),
        ("base", "store.get"),
        "no owner_pack: the pack whose flow it joins"
    );
}

#[test]
fn what_cannot_apply_is_skipped_and_said() {
    let cases = [
        // A pack may modify only its own flows.
        (
            modifier(&text("m", "append", "one", None), Some("other")),
            "may only modify its own flows",
        ),
        (
            modifier(&text("m", "append", "three", None), None),
            "phase \"three\" is not in flow",
        ),
        (
            modifier(&text("m", "inject_after", "one", Some("zz")), None),
            "step \"zz\" not found",
        ),
        (
            modifier(
                "modifier_id: m\ntarget_flow_id: base\nphase: one\naction: append\nstep: {id: a, type: set, input: {key: a, value: 0}}\n",
                None,
            ),
            "step id \"a\" already exists",
        ),
        (
            modifier(
                "modifier_id: m\ntarget_flow_id: base\nphase: one\naction: append\nstep: {id: n, type: teleport}\n",
                None,
            ),
            "unknown type \"teleport\"",
        ),
        (
            modifier(
                "modifier_id: m\ntarget_flow_id: base\nphase: one\naction: append\nrequires: {interfaces: [ctx.get]}\nstep: {id: n, type: set, input: {key: a, value: 0}}\n",
                None,
            ),
            "requires not met (kernel:ctx.get)",
        ),
    ];
    for (m, said) in cases {
        let mut set = flows(Source::Official);
        let (applied, diags) = apply_all(&mut set, std::slice::from_ref(&m));
        assert!(applied.is_empty(), "{}", m.modifier_id);
        assert_eq!(ids(&set), ["a", "b", "c"], "the flow is unchanged");
        assert!(diags.len() == 1 && diags[0].message.contains(said), "{said}: {diags:?}");
    }
}

#[test]
fn removes_apply_before_inserts_and_a_step_removed_cannot_be_targeted() {
    let mut set = flows(Source::Official);
    let remove = modifier(
        "modifier_id: z_remove\ntarget_flow_id: base\nphase: one\naction: remove\ntarget_step_id: b\npriority: 900\n",
        None,
    );
    let inject = modifier(&text("a_inject", "inject_after", "one", Some("b")), None);
    let (applied, diags) = apply_all(&mut set, &[inject, remove]);
    assert_eq!(ids(&set), ["a", "c"]);
    assert_eq!(applied.len(), 1);
    assert!(diags[0].message.contains("severe conflict"), "{diags:?}");
}

#[test]
fn a_glob_target_modifies_every_matching_flow() {
    let mut set = flows(Source::Official);
    let other = parse_flow_text(
        &BASE.replace("flow_id: base", "flow_id: based"),
        Source::Official,
        PathBuf::from("based.flow.yaml"),
    )
    .unwrap();
    set.insert("based".into(), other);
    let m = modifier(
        &text("m", "append", "one", None).replace("target_flow_id: base", "target_flow_id: 'base*'"),
        None,
    );
    let (applied, _) = apply_all(&mut set, &[m]);
    assert_eq!(applied.len(), 2);
    assert!(set.values().all(|f| f.steps.iter().any(|s| s.id == "new_m")));
}
