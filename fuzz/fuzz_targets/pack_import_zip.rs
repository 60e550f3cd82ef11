//! The pack importer's zip reader: any bytes are refused cleanly or staged, and nothing is
//! ever written outside the staging directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let home = tempfile::tempdir().expect("temp home");
    let source = home.path().join("input.zip");
    std::fs::write(&source, data).expect("write input");
    let importer = rumid::import::Importer::new(home.path());
    let result = importer.import(&source);
    let staging = home.path().join("user_data/pack_staging");
    for f in files_under(home.path()) {
        assert!(f == source || f.starts_with(&staging), "written outside staging: {}", f.display());
        assert!(!std::fs::symlink_metadata(&f).unwrap().file_type().is_symlink());
    }
    if result.is_err() {
        // A refused import leaves nothing staged.
        assert!(files_under(&staging).is_empty());
    }
});
