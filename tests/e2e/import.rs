//! Pack import (folder, zip, rumipack) into staging and apply into `ecosystem/`, with the
//! archive attacks an importer must refuse.

use std::io::Write;
use std::path::{Path, PathBuf};

use rumi_tests::{Rumid, TestHome};
use serde_json::json;
use zip::write::SimpleFileOptions;

/// Writes a zip with the given entries: `(name, content)`; `None` content is a directory.
fn zip_file(path: &Path, entries: &[(&str, Option<&[u8]>)]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        match content {
            None => w.add_directory(*name, opts).unwrap(),
            Some(bytes) => {
                w.start_file(*name, opts).unwrap();
                w.write_all(bytes).unwrap();
            }
        }
    }
    w.finish().unwrap();
}

fn manifest(id: &str, identity: &str) -> Vec<u8> {
    format!(r#"{{"pack_id":"{id}","pack_identity":"{identity}","version":"2.0.0"}}"#).into_bytes()
}

/// Files of the home outside staging, so a refused import can be shown to have written nothing.
fn staging_entries(home: &TestHome) -> Vec<String> {
    std::fs::read_dir(home.path().join("user_data/pack_staging"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn packs_import_into_staging_and_apply_atomically_with_a_backup() {
    let home = TestHome::new();
    home.add_pack("hello");
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/hello/approve", None).status, 200);
    let src = tempfile::tempdir().unwrap();

    // A new pack from a folder: staged, then installed, pending approval.
    let folder = src.path().join("fresh");
    std::fs::create_dir_all(folder.join("backend/blocks")).unwrap();
    std::fs::write(folder.join("ecosystem.json"), manifest("fresh", "tests/fresh")).unwrap();
    std::fs::write(folder.join("backend/blocks/main.py"), "def run():\n    return 1\n").unwrap();
    let r = rumid.post("/api/packs/import", Some(&json!({"path": folder})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["pack_id"], "fresh");
    assert_eq!(r.body["data"]["input_type"], "folder");
    let staging_id = r.body["data"]["staging_id"].as_str().unwrap().to_owned();
    assert_eq!(rumid.get("/api/packs/staging").body["data"]["count"], 1);
    assert_eq!(
        rumid.get("/api/packs/fresh/status").status,
        404,
        "import installs nothing"
    );
    let r = rumid.post("/api/packs/apply", Some(&json!({"staging_id": staging_id})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["applied"]["replaced"], false);
    assert_eq!(rumid.pack_state("fresh"), "pending");
    assert_eq!(rumid.get("/api/packs/staging").body["data"]["count"], 0);

    // An update of an approved pack from a .rumipack: backed up, swapped, needs approval again.
    let update = src.path().join("hello-2.rumipack");
    zip_file(
        &update,
        &[
            ("hello/", None),
            ("hello/ecosystem.json", Some(&manifest("hello", "tests/hello"))),
            ("hello/backend/blocks/main.py", Some(b"def run():\n    return 'v2'\n")),
        ],
    );
    let r = rumid.post("/api/packs/import", Some(&json!({"path": update})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["input_type"], "rumipack");
    let id = r.body["data"]["staging_id"].as_str().unwrap().to_owned();
    let r = rumid.post("/api/packs/apply", Some(&json!({"staging_id": id, "mode": "replace"})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["applied"]["replaced"], true);
    assert_eq!(r.body["data"]["pack"]["status"], "modified", "{:?}", r.body);
    let backup = home.path().join(r.body["data"]["applied"]["backup"].as_str().unwrap());
    assert!(
        std::fs::read_to_string(backup.join("backend/blocks/main.py"))
            .unwrap()
            .contains("'pack': 'hello'"),
        "the previous version is in the backup"
    );
    let live = home.path().join("ecosystem/hello/backend/blocks/main.py");
    assert!(std::fs::read_to_string(&live).unwrap().contains("v2"));
    assert_eq!(rumid.post("/api/packs/hello/approve", None).status, 200);
    assert_eq!(home.audit_actions("system", "pack_apply_completed").len(), 2);

    // Same id, another identity: refused, and the installed pack is untouched.
    let other = src.path().join("impostor.zip");
    zip_file(
        &other,
        &[
            ("hello/ecosystem.json", Some(&manifest("hello", "evil/hello"))),
            ("hello/backend/blocks/main.py", Some(b"def run():\n    return 'evil'\n")),
        ],
    );
    let r = rumid.post("/api/packs/import", Some(&json!({"path": other})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.body["data"]["staging_id"].as_str().unwrap().to_owned();
    let r = rumid.post("/api/packs/apply", Some(&json!({"staging_id": id})));
    assert_eq!((r.status, r.code()), (409, "RUMI-PACK-012"), "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("pack_identity mismatch"));
    assert!(std::fs::read_to_string(&live).unwrap().contains("v2"));
    assert_eq!(rumid.pack_state("hello"), "approved");
    assert_eq!(home.audit_actions("system", "pack_apply_failed").len(), 1);
    // The refused import stays staged until discarded.
    let r = rumid.delete(&format!("/api/packs/staging/{id}"));
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Unknown and malformed staging ids, a wrong mode.
    let r = rumid.post("/api/packs/apply", Some(&json!({"staging_id": "0123456789abcdef"})));
    assert_eq!((r.status, r.code()), (404, "RUMI-PACK-011"));
    let r = rumid.post("/api/packs/apply", Some(&json!({"staging_id": "../../ecosystem"})));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));
    let r = rumid.post("/api/packs/apply", Some(&json!({"staging_id": id, "mode": "merge"})));
    assert_eq!(r.status, 400);
}

#[test]
fn hostile_archives_and_folders_are_refused_and_leave_nothing_behind() {
    let home = TestHome::new();
    let rumid = Rumid::start(&home);
    let src = tempfile::tempdir().unwrap();
    let ok_manifest = manifest("p", "tests/p");
    let zip_at = |name: &str, entries: &[(&str, Option<&[u8]>)]| -> PathBuf {
        let path = src.path().join(name);
        zip_file(&path, entries);
        path
    };
    let refused = |path: &Path, status: u16, code: &str| {
        let r = rumid.post("/api/packs/import", Some(&json!({"path": path})));
        assert_eq!((r.status, r.code()), (status, code), "{}: {:?}", path.display(), r.body);
        assert!(r.body["suggestion"].as_str().is_some_and(|s| !s.is_empty()));
    };

    // Zip slip, absolute names, two top-level directories, a file at the top.
    let slip = zip_at(
        "slip.zip",
        &[
            ("p/ecosystem.json", Some(&ok_manifest)),
            ("p/../../escaped.py", Some(b"x")),
        ],
    );
    refused(&slip, 400, "RUMI-VAL-003");
    refused(
        &zip_at("abs.zip", &[("/tmp/rumi-abs.py", Some(b"x"))]),
        400,
        "RUMI-VAL-003",
    );
    refused(
        &zip_at(
            "two.zip",
            &[("p/ecosystem.json", Some(&ok_manifest)), ("q/x.py", Some(b"x"))],
        ),
        400,
        "RUMI-VAL-002",
    );
    refused(
        &zip_at("flat.zip", &[("ecosystem.json", Some(&ok_manifest))]),
        400,
        "RUMI-VAL-002",
    );
    refused(&zip_at("empty.zip", &[]), 400, "RUMI-VAL-001");
    // A symlink entry.
    let link = src.path().join("link.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&link).unwrap());
        let opts = SimpleFileOptions::default();
        w.start_file("p/ecosystem.json", opts).unwrap();
        w.write_all(&ok_manifest).unwrap();
        w.add_symlink("p/passwd", "/etc/passwd", opts).unwrap();
        w.finish().unwrap();
    }
    refused(&link, 400, "RUMI-VAL-004");
    // A compression bomb (150 MiB of zeros in a few hundred kB) and too many files.
    let zeros = vec![0u8; 150 * 1024 * 1024];
    refused(
        &zip_at(
            "bomb.zip",
            &[("p/ecosystem.json", Some(&ok_manifest)), ("p/zeros.bin", Some(&zeros))],
        ),
        413,
        "RUMI-PACK-010",
    );
    drop(zeros);
    let many: Vec<(String, Vec<u8>)> = (0..2001).map(|i| (format!("p/f{i}.txt"), vec![b'x'])).collect();
    let many_refs: Vec<(&str, Option<&[u8]>)> = many.iter().map(|(n, c)| (n.as_str(), Some(c.as_slice()))).collect();
    refused(&zip_at("many.zip", &many_refs), 413, "RUMI-PACK-010");
    // Not a zip at all, a bad manifest, a reserved id.
    let garbage = src.path().join("garbage.zip");
    std::fs::write(&garbage, b"not a zip").unwrap();
    refused(&garbage, 400, "RUMI-VAL-002");
    refused(
        &zip_at("nomanifest.zip", &[("p/main.py", Some(b"x"))]),
        400,
        "RUMI-PACK-002",
    );
    refused(
        &zip_at("mismatch.zip", &[("p/ecosystem.json", Some(&manifest("q", "tests/q")))]),
        400,
        "RUMI-PACK-003",
    );
    refused(
        &zip_at(
            "reserved.zip",
            &[("local_pack/ecosystem.json", Some(&manifest("local_pack", "x/y")))],
        ),
        400,
        "RUMI-PACK-001",
    );

    // Folders: a symlink inside, a FIFO inside; the path itself a symlink.
    let folder = src.path().join("p");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("ecosystem.json"), &ok_manifest).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", folder.join("passwd")).unwrap();
    refused(&folder, 400, "RUMI-VAL-004");
    std::fs::remove_file(folder.join("passwd")).unwrap();
    nix::unistd::mkfifo(&folder.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    refused(&folder, 400, "RUMI-VAL-002");
    std::fs::remove_file(folder.join("pipe")).unwrap();
    let linked = src.path().join("linked");
    std::os::unix::fs::symlink(&folder, &linked).unwrap();
    refused(&linked, 400, "RUMI-VAL-004");

    // Paths: relative, missing, an unsupported file type.
    let r = rumid.post("/api/packs/import", Some(&json!({"path": "relative/p"})));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));
    refused(&src.path().join("missing.zip"), 404, "RUMI-VAL-006");
    let tar = src.path().join("p.tar");
    std::fs::write(&tar, b"x").unwrap();
    refused(&tar, 400, "RUMI-VAL-002");

    // Nothing was written anywhere: no staging, no escaped file, no pack.
    assert!(staging_entries(&home).is_empty(), "{:?}", staging_entries(&home));
    assert!(!home.path().join("escaped.py").exists());
    assert!(!home.path().join("user_data/escaped.py").exists());
    assert!(!Path::new("/tmp/rumi-abs.py").exists());
    assert_eq!(rumid.get("/api/packs").body["data"]["count"], 0);
    // The attacks are security events.
    let security = home.audit_actions("security", "pack_import_refused");
    assert!(security.len() >= 7, "{security:?}");
    // And the clean folder imports.
    let r = rumid.post("/api/packs/import", Some(&json!({"path": folder})));
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[test]
fn rumi_ctl_imports_and_applies() {
    let home = TestHome::new();
    let _rumid = Rumid::start(&home);
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("cli");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("ecosystem.json"), manifest("cli", "tests/cli")).unwrap();
    let out = home.ctl(&["--json", "packs", "import", folder.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let staged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = staged["staging_id"].as_str().unwrap();
    let out = home.ctl(&["packs", "staging"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(id));
    let out = home.ctl(&["packs", "apply", id], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("cli: installed"), "{text}");
    let out = home.ctl(&["packs", "apply", id], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUMI-PACK-011"));
}

/// Sets the uncompressed size recorded for `name` in a zip's local and central headers.
fn lie_about_size(path: &Path, name: &str, size: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let (mut local, mut central) = (0, 0);
    let mut i = 0;
    while i + 46 < bytes.len() {
        let local_header = &bytes[i..i + 4] == b"PK\x03\x04";
        let sig = &bytes[i..i + 4];
        let (name_at, size_at, len_at) = if local_header {
            (i + 30, i + 22, i + 26)
        } else if sig == b"PK\x01\x02" {
            (i + 46, i + 24, i + 28)
        } else {
            i += 1;
            continue;
        };
        let len = u16::from_le_bytes([bytes[len_at], bytes[len_at + 1]]) as usize;
        if bytes.get(name_at..name_at + len) == Some(name.as_bytes()) {
            bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            if local_header {
                local += 1;
            } else {
                central += 1;
            }
        }
        i += 4;
    }
    assert_eq!((local, central), (1, 1), "both headers of {name} patched");
    std::fs::write(path, bytes).unwrap();
}

/// Archives that are malformed rather than hostile still get a 4xx naming the problem, and a
/// second entry of one name (which the archive's index would silently keep instead of the
/// first) is refused as an attack. Nothing is staged.
#[test]
fn duplicate_entries_and_inconsistent_archives_are_refused_with_a_4xx() {
    let home = TestHome::new();
    let rumid = Rumid::start(&home);
    let src = tempfile::tempdir().unwrap();
    let ok_manifest = manifest("p", "tests/p");
    let import = |path: &Path| rumid.post("/api/packs/import", Some(&json!({"path": path})));

    // Two entries named p/a.py: written as a.py and b.py, then renamed in the headers
    // (writers refuse duplicates, attackers do not use writers).
    let dup = src.path().join("dup.zip");
    zip_file(
        &dup,
        &[
            ("p/ecosystem.json", Some(&ok_manifest)),
            ("p/a.py", Some(b"print('reviewed')")),
            ("p/b.py", Some(b"print('installed')")),
        ],
    );
    let mut bytes = std::fs::read(&dup).unwrap();
    let mut i = 0;
    while i + 6 <= bytes.len() {
        if &bytes[i..i + 6] == b"p/b.py" {
            bytes[i + 2] = b'a';
        }
        i += 1;
    }
    std::fs::write(&dup, &bytes).unwrap();
    let r = import(&dup);
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-003"), "{:?}", r.body);
    assert!(
        r.body.to_string().contains("two entries of the same name"),
        "{:?}",
        r.body
    );

    // A file, then a directory of the same name (and a file below it).
    let both = src.path().join("both.zip");
    zip_file(
        &both,
        &[
            ("p/ecosystem.json", Some(&ok_manifest)),
            ("p/lib", Some(b"a file")),
            ("p/lib/", None),
        ],
    );
    let r = import(&both);
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"), "{:?}", r.body);
    assert!(
        r.body.to_string().contains("both a file and a directory"),
        "{:?}",
        r.body
    );
    let below = src.path().join("below.zip");
    zip_file(
        &below,
        &[
            ("p/ecosystem.json", Some(&ok_manifest)),
            ("p/lib", Some(b"a file")),
            ("p/lib/x.py", Some(b"x = 1")),
        ],
    );
    let r = import(&below);
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"), "{:?}", r.body);

    // Sizes that lie: the data is longer or shorter than the headers say.
    for (name, size) in [("short.zip", 3u32), ("long.zip", 1_000_000)] {
        let path = src.path().join(name);
        zip_file(
            &path,
            &[
                ("p/ecosystem.json", Some(&ok_manifest)),
                ("p/data.txt", Some(b"forty-two bytes of data, more or less....")),
            ],
        );
        lie_about_size(&path, "p/data.txt", size);
        let r = import(&path);
        assert!(
            (400..500).contains(&r.status),
            "{name}: a size that lies is the archive's fault: {:?}",
            r.body
        );
    }
    assert!(staging_entries(&home).is_empty(), "{:?}", staging_entries(&home));
    assert!(!home.audit_actions("security", "pack_import_refused").is_empty());
}
