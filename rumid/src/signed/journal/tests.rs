use super::*;

const KEY: [u8; 32] = [3; 32];

fn ledger(lines: &[(&str, Latest)], base: u64) -> Ledger {
    let mut l = Ledger::default();
    l.raise_tail(base);
    for (file, latest) in lines {
        l.apply(file, *latest);
    }
    l
}

fn refused(kind: RefusalKind, generation: u64, journal_generation: u64) -> Verdict {
    Verdict::Refused(Refusal {
        kind,
        generation,
        journal_generation,
    })
}

#[test]
fn generations_are_compared_with_the_journals_latest_line() {
    use RefusalKind::*;
    let l = ledger(
        &[("a", Latest::Put(5)), ("b", Latest::Deleted(7)), ("c", Latest::Put(9))],
        0,
    );
    assert_eq!(l.tail(), 9);
    let table: &[(&str, u64, bool, Verdict)] = &[
        ("a", 5, false, Verdict::Current),
        ("a", 5, true, Verdict::Current),
        ("a", 3, false, refused(RolledBack, 3, 5)),
        ("a", 0, true, refused(RolledBack, 0, 5)),
        // Another file's generation, or a line that is gone.
        ("a", 6, false, refused(NotInJournal, 6, 5)),
        ("a", 9, true, refused(NotInJournal, 9, 5)),
        // One past the tail: the write a crash interrupted, only at start.
        ("a", 10, true, Verdict::Ahead),
        ("a", 10, false, refused(JournalBehind, 10, 9)),
        ("a", 11, true, refused(JournalBehind, 11, 9)),
        ("b", 7, false, refused(Deleted, 7, 7)),
        ("b", 2, true, refused(Deleted, 2, 7)),
        ("b", 8, true, refused(NotInJournal, 8, 7)),
        ("b", 10, true, Verdict::Ahead),
        ("new", 0, true, refused(NotInJournal, 0, 9)),
        ("new", 10, true, Verdict::Ahead),
        ("new", 12, false, refused(JournalBehind, 12, 9)),
    ];
    for (file, g, at_start, want) in table {
        assert_eq!(
            l.verdict(file, *g, *at_start),
            *want,
            "{file} at {g} (start: {at_start})"
        );
    }
}

#[test]
fn a_files_latest_is_its_highest_generation_whatever_the_order() {
    let l = ledger(
        &[
            ("a", Latest::Put(5)),
            ("a", Latest::Put(3)),
            ("b", Latest::Deleted(6)),
            ("b", Latest::Put(4)),
            ("c", Latest::Put(2)),
            ("c", Latest::Deleted(8)),
        ],
        1,
    );
    assert_eq!(l.latest("a"), Some(Latest::Put(5)));
    assert_eq!(l.latest("b"), Some(Latest::Deleted(6)));
    assert_eq!(l.latest("c"), Some(Latest::Deleted(8)));
    assert_eq!(l.tail(), 8);
    assert_eq!(ledger(&[], 40).tail(), 40);
}

#[test]
fn compaction_keeps_every_files_latest_line_and_the_tail() {
    let mut l = ledger(&[("a", Latest::Put(1)), ("b", Latest::Put(2))], 0);
    for g in 3..50 {
        l.apply("a", Latest::Put(g));
    }
    l.apply("b", Latest::Deleted(50));
    l.apply("c", Latest::Put(51));
    let (bytes, _) = render(&l.compacted(l.tail()), &KEY);
    assert_eq!(
        bytes.iter().filter(|b| **b == b'\n').count(),
        4,
        "a base line and one per file"
    );
    let back = parse(&bytes, &KEY).unwrap();
    assert_eq!(back.ledger, l);
    assert!(!back.torn_tail);
}

fn journal_bytes() -> Vec<u8> {
    let lines = [
        Line {
            op: Op::Base,
            file: String::new(),
            generation: 4,
            of: None,
        },
        Line {
            op: Op::Put,
            file: "a".into(),
            generation: 5,
            of: None,
        },
        Line {
            op: Op::Put,
            file: "b".into(),
            generation: 6,
            of: None,
        },
        Line {
            op: Op::Delete,
            file: "a".into(),
            generation: 7,
            of: Some(5),
        },
    ];
    render(&lines, &KEY).0
}

fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

#[test]
fn a_torn_last_line_is_dropped_and_any_other_damage_refused() {
    let bytes = journal_bytes();
    let whole = parse(&bytes, &KEY).unwrap();
    assert_eq!(whole.ledger.latest("a"), Some(Latest::Deleted(7)));
    // A crash in the middle of an append: the unfinished line is dropped.
    let torn = parse(&bytes[..bytes.len() - 20], &KEY).unwrap();
    assert!(torn.torn_tail);
    assert_eq!(torn.ledger.latest("a"), Some(Latest::Put(5)));
    assert_eq!(torn.ledger.tail(), 6);

    let lines = lines_of(&bytes);
    let without = |i: usize| -> Vec<u8> {
        let mut l = lines.clone();
        l.remove(i);
        l.concat()
    };
    let swapped = {
        let mut l = lines.clone();
        l.swap(1, 2);
        l.concat()
    };
    let edited = String::from_utf8(bytes.clone())
        .unwrap()
        .replacen("\"gen\":5", "\"gen\":9", 1)
        .into_bytes();
    let cases: Vec<(&str, Vec<u8>, usize)> = vec![
        ("a middle line removed", without(1), 2),
        ("the base line removed", without(0), 1),
        ("two lines swapped", swapped, 2),
        ("a generation edited", edited, 2),
        ("empty", Vec::new(), 1),
        (
            "a line of garbage",
            [&lines[0][..], b"{not json\n", &lines[1][..]].concat(),
            2,
        ),
    ];
    for (what, bytes, line) in cases {
        match parse(&bytes, &KEY) {
            Err((n, _)) => assert_eq!(n, line, "{what}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
    assert!(parse(&bytes, &[4; 32]).is_err(), "another key");
}

#[test]
fn a_rotated_journal_reads_under_the_new_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generations.jsonl");
    std::fs::write(&path, journal_bytes()).unwrap();
    let new = [9; 32];
    assert!(resign(&path, &KEY, &new).unwrap());
    let bytes = std::fs::read(&path).unwrap();
    let parsed = parse(&bytes, &new).unwrap();
    assert_eq!(parsed.ledger, parse(&journal_bytes(), &KEY).unwrap().ledger);
    assert!(parse(&bytes, &KEY).is_err());
    // Resumed: already under the new key, rewritten the same.
    assert!(resign(&path, &KEY, &new).unwrap());
    assert_eq!(
        parse(&std::fs::read(&path).unwrap(), &new).unwrap().ledger,
        parsed.ledger
    );
    // Under neither key: left alone.
    assert!(!resign(&path, &[1; 32], &[2; 32]).unwrap());
}

// === the journal on disk ===

fn settings(home: &Path) -> PathBuf {
    let dir = home.join("user_data/settings");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a signed file with `generation` (none: a file from before generations).
fn write_signed(path: &Path, value: u64, generation: Option<u64>) {
    let mut obj = Map::new();
    obj.insert("value".into(), json!(value));
    if let Some(g) = generation {
        obj.insert(GENERATION_FIELD.into(), json!(g));
    }
    sign(&mut obj, &KEY);
    std::fs::write(path, super::super::to_file_bytes(&obj)).unwrap();
}

fn put(journal: &Journal, path: &Path, value: u64) -> u64 {
    let mut got = 0;
    journal
        .put(path, |g| {
            got = g;
            write_signed(path, value, Some(g));
            Ok(())
        })
        .unwrap();
    got
}

fn generation_of(path: &Path) -> u64 {
    let obj = super::super::read_verified(path, &KEY).unwrap();
    generation_value(&obj).unwrap()
}

fn drop_last_line(home: &Path) {
    let path = home.join(JOURNAL_FILE);
    let bytes = std::fs::read(&path).unwrap();
    let mut lines = lines_of(&bytes);
    lines.pop();
    std::fs::write(&path, lines.concat()).unwrap();
}

#[test]
fn old_copies_and_deleted_files_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let a = settings(home.path()).join("a.json");
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert!(opened.created);
    let first = put(&journal, &a, 1);
    let old = std::fs::read(&a).unwrap();
    let second = put(&journal, &a, 2);
    assert!(second > first);
    journal.check(&a, second).unwrap();
    std::fs::write(&a, &old).unwrap();
    let refusal = journal.check(&a, generation_of(&a)).unwrap_err();
    assert_eq!(
        refusal,
        Refusal {
            kind: RefusalKind::RolledBack,
            generation: first,
            journal_generation: second
        }
    );
    assert!(refusal.to_string().contains(&format!("{first}")) && refusal.to_string().contains(&format!("{second}")));
    journal.delete(&a, || std::fs::remove_file(&a)).unwrap();
    std::fs::write(&a, &old).unwrap();
    assert_eq!(journal.check(&a, first).unwrap_err().kind, RefusalKind::Deleted);
    drop(journal);
    // The same after a restart (and a compaction).
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert_eq!(opened, Opened::default());
    assert_eq!(journal.check(&a, first).unwrap_err().kind, RefusalKind::Deleted);
}

#[test]
fn a_write_whose_line_a_crash_lost_is_accepted_and_recorded_at_start() {
    let home = tempfile::tempdir().unwrap();
    let dir = settings(home.path());
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    put(&journal, &a, 1);
    put(&journal, &b, 1);
    let latest = put(&journal, &a, 2);
    drop(journal);
    drop_last_line(home.path());
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert_eq!(opened.repaired, vec![("user_data/settings/a.json".to_owned(), latest)]);
    journal.check(&a, latest).unwrap();
    journal.check(&b, generation_of(&b)).unwrap();
    let next = put(&journal, &b, 2);
    assert!(next > latest, "no generation handed out twice");
    drop(journal);
    // Recorded: nothing to repair at the next start.
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert!(opened.repaired.is_empty());
    journal.check(&a, latest).unwrap();
    journal.check(&b, next).unwrap();
}

#[test]
fn a_journal_that_lost_more_than_one_line_stops_the_start() {
    let home = tempfile::tempdir().unwrap();
    let dir = settings(home.path());
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    put(&journal, &a, 1);
    put(&journal, &b, 1);
    put(&journal, &a, 2);
    drop(journal);
    drop_last_line(home.path());
    drop_last_line(home.path());
    match Journal::open(home.path(), KEY) {
        Err(e @ JournalError::Behind { files: 2, .. }) => {
            assert_eq!(e.error_type(), "generation_journal_rolled_back");
            assert!(e.to_string().contains("--adopt-signed-state"), "{e}");
        }
        other => panic!("journal behind: {:?}", other.map(|(_, o)| o)),
    }
}

#[test]
fn an_older_journal_put_back_with_an_older_file_is_refused_at_start() {
    // The attack: keep the journal and a grant file from when the grant was wide, let the
    // operator narrow it and decide other things, then put both back.
    let home = tempfile::tempdir().unwrap();
    let dir = settings(home.path());
    let (grant, other) = (dir.join("grant.json"), dir.join("other.json"));
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    put(&journal, &grant, 1);
    let (old_grant, old_journal) = (
        std::fs::read(&grant).unwrap(),
        std::fs::read(home.path().join(JOURNAL_FILE)).unwrap(),
    );
    put(&journal, &grant, 2);
    put(&journal, &other, 1);
    drop(journal);
    std::fs::write(&grant, &old_grant).unwrap();
    std::fs::write(home.path().join(JOURNAL_FILE), &old_journal).unwrap();
    assert!(matches!(
        Journal::open(home.path(), KEY),
        Err(JournalError::Behind { .. })
    ));
    // The old file alone, with the current journal: refused like any old copy.
    let home = tempfile::tempdir().unwrap();
    let grant = settings(home.path()).join("grant.json");
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    let first = put(&journal, &grant, 1);
    let old = std::fs::read(&grant).unwrap();
    let second = put(&journal, &grant, 2);
    drop(journal);
    std::fs::write(&grant, &old).unwrap();
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert!(opened.repaired.is_empty());
    let r = journal.check(&grant, first).unwrap_err();
    assert_eq!((r.kind, r.journal_generation), (RefusalKind::RolledBack, second));
}

#[test]
fn a_journal_replaced_while_running_is_written_again_from_memory() {
    let home = tempfile::tempdir().unwrap();
    let dir = settings(home.path());
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let hook_seen = seen.clone();
    journal.on_tamper(Box::new(move |f| hook_seen.lock().unwrap().push(f.to_owned())));
    put(&journal, &a, 1);
    let old_journal = std::fs::read(home.path().join(JOURNAL_FILE)).unwrap();
    let ga = put(&journal, &a, 2);
    // Put back by rename (a new file at the path) while the daemon runs.
    let tmp = dir.join("old.jsonl");
    std::fs::write(&tmp, &old_journal).unwrap();
    std::fs::rename(&tmp, home.path().join(JOURNAL_FILE)).unwrap();
    let gb = put(&journal, &b, 1);
    assert_eq!(*seen.lock().unwrap(), vec![JOURNAL_FILE.to_owned()]);
    drop(journal);
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert!(opened.repaired.is_empty());
    journal.check(&a, ga).unwrap();
    journal.check(&b, gb).unwrap();
}

#[test]
fn a_write_that_failed_after_its_rename_is_recorded() {
    let home = tempfile::tempdir().unwrap();
    let a = settings(home.path()).join("a.json");
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    put(&journal, &a, 1);
    let mut got = 0;
    let res = journal.put(&a, |g| {
        got = g;
        write_signed(&a, 2, Some(g));
        Err(std::io::Error::other("fsync of the directory failed"))
    });
    assert!(res.is_err());
    journal.check(&a, got).unwrap();
    // A write that failed before its rename records nothing.
    let res = journal.put(&a, |_| Err(std::io::Error::other("disk full")));
    assert!(res.is_err());
    journal.check(&a, got).unwrap();
}

#[test]
fn a_missing_or_damaged_journal_stops_the_start_until_adopted() {
    let home = tempfile::tempdir().unwrap();
    let dir = settings(home.path());
    // Files from before generations and no journal: adopted as they are.
    write_signed(&dir.join("old.json"), 1, None);
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert!(opened.created);
    journal.check(&dir.join("old.json"), 0).unwrap();
    let a = dir.join("a.json");
    let g = put(&journal, &a, 1);
    drop(journal);

    let path = home.path().join(JOURNAL_FILE);
    let saved = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    match Journal::open(home.path(), KEY) {
        Err(JournalError::Missing { files, .. }) => assert_eq!(files, 1),
        other => panic!("missing journal: {:?}", other.map(|(_, o)| o)),
    }
    let mut lines = lines_of(&saved);
    lines.remove(1);
    std::fs::write(&path, lines.concat()).unwrap();
    match Journal::open(home.path(), KEY) {
        Err(JournalError::Damaged { line, .. }) => assert_eq!(line, 2),
        other => panic!("damaged journal: {:?}", other.map(|(_, o)| o)),
    }
    // The operator's way out: the files as they are.
    assert_eq!(Journal::adopt(home.path(), KEY).unwrap(), 2);
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    journal.check(&a, g).unwrap();
    journal.check(&dir.join("old.json"), 0).unwrap();
}

#[test]
fn a_deletion_a_crash_interrupted_is_finished_at_start() {
    let home = tempfile::tempdir().unwrap();
    let a = settings(home.path()).join("a.json");
    let (journal, _) = Journal::open(home.path(), KEY).unwrap();
    let g = put(&journal, &a, 1);
    journal.delete(&a, || Ok(())).unwrap();
    drop(journal);
    assert!(a.exists());
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert_eq!(opened.finished_deletion.as_deref(), Some("user_data/settings/a.json"));
    assert!(!a.exists());
    assert_eq!(journal.check(&a, g).unwrap_err().kind, RefusalKind::Deleted);
}

#[test]
fn the_journal_is_compacted_while_running_once_it_is_long() {
    let home = tempfile::tempdir().unwrap();
    let dir = settings(home.path());
    let (mut journal, _) = Journal::open(home.path(), KEY).unwrap();
    journal.compact_min_lines = 8;
    let files: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("{i}.json"))).collect();
    let mut last = 0;
    for round in 0..20 {
        for f in &files {
            last = put(&journal, f, round);
        }
    }
    let lines = std::fs::read(home.path().join(JOURNAL_FILE))
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    assert!(lines <= 9, "{lines} lines");
    drop(journal);
    let (journal, opened) = Journal::open(home.path(), KEY).unwrap();
    assert!(opened.repaired.is_empty());
    journal.check(&files[1], last).unwrap();
    journal.check(&files[0], last - 1).unwrap();
}
