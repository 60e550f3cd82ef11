//! Who steps run as: a pack's code and steps run only as that pack.
//!
//! Two kinds of steps run as someone: a `python_file_call` runs its `owner_pack`'s code with
//! that pack's sockets and grants, and a `function` calls a capability through the owner's
//! socket. In a flow of pack `p` both must name `owner_pack: p`; otherwise any approved pack
//! could read another's secrets (`function` as the victim) or feed its own inputs to another
//! pack's code and grants. Official and shared flows, written by the operator, may name any
//! owner.
//!
//! The rule is checked in two places, with the one predicate of this module:
//!
//! - at every load, on the final flows, after every modifier applied
//!   ([`refuse_foreign_steps`]), whatever put the step there: the flow file, the pack's own
//!   modifier, a shared one. A pack flow with a foreign step does not load;
//! - at run time, on the call chain ([`allows`]): sub-flows are the other way a pack's run
//!   reaches steps it did not write (a pack flow calling an official flow, or another pack's,
//!   whose steps run as someone else). Every pack flow on the chain must be the owner's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rumi_common::ids::PackId;

use super::model::{Flow, Source, Step};

/// A pack flow refused because one of its steps runs as someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub flow_id: String,
    /// The flow's file.
    pub path: PathBuf,
    /// The pack whose flow it is.
    pub pack: PackId,
    pub step_id: String,
    /// The `owner_pack` the step names (empty when it names none).
    pub owner: String,
    /// The modifier that put the step into the flow, if one did.
    pub added_by: Option<String>,
}

/// The owner a step runs as, if it runs as someone (a `function` step of a pack's flow that
/// names none runs as that pack: [`super::model::FunctionCall::owner_pack`]).
pub fn step_owner(step: &Step) -> Option<&str> {
    step.owner()
}

/// Whether a step running as `owner` may run with `packs` on its call chain (the pack of
/// each pack flow on it, outermost first; operator flows contribute nothing).
///
/// # Security
/// The single statement of the rule: every pack on the chain must be the owner.
pub fn allows<'a>(mut packs: impl Iterator<Item = &'a PackId>, owner: &str) -> bool {
    packs.all(|p| p.as_str() == owner)
}

/// The first step of `flow` that runs as someone its source may not run as.
pub fn foreign_step(flow: &Flow) -> Option<&Step> {
    let Source::Pack(pack) = &flow.source else {
        return None;
    };
    flow.steps
        .iter()
        .find(|s| step_owner(s).is_some_and(|o| !allows(std::iter::once(pack), o)))
}

/// Removes every pack flow that has a step running as another owner, and says which.
/// `added_by` maps `(flow_id, step_id)` to the modifier that inserted or replaced the step.
pub fn refuse_foreign_steps(
    flows: &mut BTreeMap<String, Flow>,
    added_by: &BTreeMap<(String, String), String>,
) -> Vec<Refusal> {
    let refused: Vec<Refusal> = flows
        .values()
        .filter_map(|flow| {
            let step = foreign_step(flow)?;
            let Source::Pack(pack) = &flow.source else { return None };
            Some(Refusal {
                flow_id: flow.flow_id.clone(),
                path: flow.path.clone(),
                pack: pack.clone(),
                step_id: step.id.clone(),
                owner: step.owner().unwrap_or_default().to_owned(),
                added_by: added_by.get(&(flow.flow_id.clone(), step.id.clone())).cloned(),
            })
        })
        .collect();
    for r in &refused {
        flows.remove(&r.flow_id);
    }
    refused
}

impl Refusal {
    /// The diagnostic's text.
    pub fn message(&self) -> String {
        let by = self
            .added_by
            .as_ref()
            .map(|m| format!(" (put there by modifier {m})"))
            .unwrap_or_default();
        format!(
            "step {:?}{by} runs as {:?}, but a flow of pack {p} may only run steps as {p} (owner_pack); flow {:?} refused",
            self.step_id,
            self.owner,
            self.flow_id,
            p = self.pack
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::modifier;
    use std::path::Path;

    fn flow(text: &str, source: Source) -> Flow {
        crate::flow::loader::parse_flow_text(text, source, PathBuf::from("t.flow.yaml")).unwrap()
    }

    fn pack(id: &str) -> Source {
        Source::Pack(PackId::parse(id).unwrap())
    }

    /// Loads `flows` and applies `mods` (each `(owner, text)`; `None`: a shared modifier),
    /// then runs the ownership check, as a reload does.
    fn load(flows: &[(&str, Source)], mods: &[(Option<&str>, &str)]) -> (BTreeMap<String, Flow>, Vec<Refusal>) {
        let mut set: BTreeMap<String, Flow> = flows
            .iter()
            .map(|(t, s)| {
                let f = flow(t, s.clone());
                (f.flow_id.clone(), f)
            })
            .collect();
        let mods: Vec<modifier::Modifier> = mods
            .iter()
            .map(|(owner, text)| {
                let mut m = modifier::parse_text(text, Path::new("m.modifier.yaml")).unwrap();
                m.owner = owner.map(|o| PackId::parse(o).unwrap());
                m
            })
            .collect();
        let mut diags = Vec::new();
        let applied = modifier::apply(&mut set, &mods, None, &modifier::Available::default(), &mut diags);
        let added = modifier::added_steps(&applied);
        let refused = refuse_foreign_steps(&mut set, &added);
        (set, refused)
    }

    const EVIL: &str = "flow_id: evil.tick\nsteps:\n  - {id: a, type: set, input: {key: x, value: 1}}\n";
    const STEAL: &str = "modifier_id: steal\ntarget_flow_id: evil.tick\naction: inject_after\ntarget_step_id: a\nstep: {id: grab, type: function, owner_pack: victim, input: {function: secrets.get, args: {key: TOKEN}}, output: s}\n";

    #[test]
    fn a_step_injected_by_the_packs_own_modifier_is_checked_on_the_final_flow() {
        let (set, refused) = load(&[(EVIL, pack("evil"))], &[(Some("evil"), STEAL)]);
        assert!(!set.contains_key("evil.tick"), "the modified flow does not load");
        assert_eq!(
            refused,
            [Refusal {
                flow_id: "evil.tick".into(),
                path: PathBuf::from("t.flow.yaml"),
                pack: PackId::parse("evil").unwrap(),
                step_id: "grab".into(),
                owner: "victim".into(),
                added_by: Some("steal".into()),
            }]
        );
        assert!(
            refused[0].message().contains("modifier steal"),
            "{}",
            refused[0].message()
        );
    }

    #[test]
    fn every_way_of_naming_another_owner_is_refused() {
        let replace = STEAL
            .replace("inject_after", "replace")
            .replace("modifier_id: steal", "modifier_id: swap")
            .replace("id: grab, type: function", "id: a, type: python_file_call, file: b.py");
        let append = "modifier_id: tail\ntarget_flow_id: 'evil.*'\naction: append\nstep: {id: z, type: python_file_call, owner_pack: victim, file: b.py}\n";
        let none = STEAL.replace("owner_pack: victim, ", "");
        for (m, owner) in [(replace.as_str(), Some("evil")), (append, Some("evil")), (STEAL, None)] {
            let (set, refused) = load(&[(EVIL, pack("evil"))], &[(owner, m)]);
            assert!(set.is_empty() && refused.len() == 1, "{m}: {refused:?}");
            assert!(refused[0].added_by.is_some(), "{m}");
        }
        // A function step that names no owner_pack runs as the pack whose flow it is in:
        // evil's own modifier adds a step that runs as evil, never as anyone else.
        let (set, refused) = load(&[(EVIL, pack("evil"))], &[(Some("evil"), &none)]);
        assert!(refused.is_empty(), "{refused:?}");
        let grab = set["evil.tick"].steps.iter().find(|s| s.id == "grab").unwrap();
        assert_eq!(step_owner(grab), Some("evil"));
        // In an operator's flow there is no pack to default to: the step cannot be built.
        let ops = "flow_id: ops\nsteps:\n  - {id: a, type: set, input: {key: x, value: 1}}\n";
        let shared = none.replace("evil.tick", "ops");
        let (set, _) = load(&[(ops, Source::Official)], &[(None, &shared)]);
        assert!(set["ops"].steps.iter().all(|s| s.id != "grab"));
        // Written in the flow file: the same check, no modifier named.
        let file = "flow_id: evil.x\nsteps:\n  - {id: b, type: python_file_call, owner_pack: victim, file: b.py}\n";
        let (set, refused) = load(&[(file, pack("evil"))], &[]);
        assert!(set.is_empty());
        assert_eq!(refused[0].added_by, None);
    }

    #[test]
    fn own_steps_and_operator_flows_keep_loading() {
        let own = STEAL.replace("owner_pack: victim", "owner_pack: evil");
        let (set, refused) = load(&[(EVIL, pack("evil"))], &[(Some("evil"), &own)]);
        assert!(refused.is_empty() && set["evil.tick"].steps.len() == 2);
        let official =
            "flow_id: ops\nsteps:\n  - {id: b, type: function, owner_pack: victim, input: {function: secrets.get}}\n";
        let shared_to_official = STEAL
            .replace("evil.tick", "ops")
            .replace("target_step_id: a", "target_step_id: b");
        for source in [Source::Official, Source::Shared] {
            let (set, refused) = load(&[(official, source)], &[(None, &shared_to_official)]);
            assert!(refused.is_empty() && set["ops"].steps.len() == 2, "{refused:?}");
        }
    }

    #[test]
    fn the_call_chain_must_hold_only_the_owners_flows() {
        let (evil, victim) = (PackId::parse("evil").unwrap(), PackId::parse("victim").unwrap());
        assert!(allows([].iter(), "victim"), "an operator flow alone");
        assert!(allows([victim.clone()].iter(), "victim"));
        assert!(!allows([evil.clone()].iter(), "victim"));
        // evil → (official) → victim's flow: victim's steps do not run for evil.
        assert!(!allows([evil.clone(), victim.clone()].iter(), "victim"));
        assert!(!allows([victim, evil].iter(), "victim"));
        let step: Step = flow(
            "flow_id: f\nsteps:\n  - {id: s, type: set, owner_pack: victim, input: {key: k, value: 1}}\n",
            Source::Official,
        )
        .steps
        .remove(0);
        assert_eq!(step_owner(&step), None, "a set step runs as nobody");
    }
}
