//! The flow and modifier loaders: any text is either a flow/modifier or a clean error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rumid::flow::model::Source;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = std::path::PathBuf::from("fuzz.flow.yaml");
    if let Ok(flow) = rumid::flow::loader::parse_flow_text(text, Source::Shared, path.clone()) {
        // A loaded flow has an id and steps whose phases it lists.
        assert!(!flow.flow_id.is_empty());
        for s in &flow.steps {
            assert!(flow.phases.contains(&s.phase));
        }
    }
    let _ = rumid::flow::modifier::parse_text(text, &path);
});
