//! The pack-socket frame decoder (4-byte big-endian length + JSON object): any bytes give
//! a JSON object or a clean error, never more than the limit read into memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

const MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        let mut reader = data;
        // Read frames until the input ends or one is refused.
        for _ in 0..16 {
            match rumi_common::framing::read_frame(&mut reader, MAX).await {
                Ok(obj) => {
                    // What was decoded encodes again into a frame that decodes to an object
                    // with the same keys (numbers may differ in the last bit).
                    let bytes = rumi_common::framing::encode(&serde_json_value(obj.clone()));
                    let mut again = bytes.as_slice();
                    let back = rumi_common::framing::read_frame(&mut again, usize::MAX).await.expect("re-decode");
                    assert!(back.keys().eq(obj.keys()));
                }
                Err(_) => break,
            }
        }
    });
});

fn serde_json_value(m: serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
    serde_json::Value::Object(m)
}
