//! The requirements.lock parser: every accepted pin is exactly NAME==VERSION with no
//! whitespace, URL, path or option in it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match rumid::pip::parse_lock(&text) {
        Ok(pins) => {
            assert!(!pins.is_empty());
            for pin in pins {
                let (name, version) = pin.split_once("==").expect("a pin has ==");
                assert!(!name.is_empty() && !version.is_empty());
                assert!(!pin.contains(char::is_whitespace), "{pin:?}");
                assert!(!pin.starts_with('-') && !pin.contains('/') && !pin.contains('@'), "{pin:?}");
                assert!(!pin.to_ascii_lowercase().contains("git+"));
            }
        }
        Err(p) => assert!(p.line <= text.lines().count()),
    }
});
