//! `crdt-merge sketch build|merge|query` and `crdt-merge dedup` on real files: STATE files hold
//! the SQL aggregate's bytes, merging is order-free, queries answer, dedup keeps the smallest
//! key of each cluster whatever the row order.

use std::path::Path;

use assert_cmd::Command;

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("crdt-merge")
        .expect("binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(dir, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn csv(dir: &Path, name: &str, header: &str, rows: impl Iterator<Item = String>) {
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(&r);
        s.push('\n');
    }
    std::fs::write(dir.join(name), s).unwrap();
}

#[test]
fn build_merge_query_every_kind() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    csv(
        p,
        "a.csv",
        "id,user,site",
        (0..3000).map(|i| format!("{i},u{},a", i % 1000)),
    );
    csv(
        p,
        "b.csv",
        "id,user,site",
        (0..3000).map(|i| format!("{i},u{},b", 500 + i % 1000)),
    );
    for kind in ["hll", "theta", "bloom", "cms", "minhash"] {
        for f in ["a", "b"] {
            ok(
                p,
                &[
                    "sketch",
                    "build",
                    &format!("{f}.csv"),
                    "--column",
                    "user",
                    "--kind",
                    kind,
                    "--replica",
                    "site",
                    "-o",
                    &format!("{f}.{kind}"),
                ],
            );
        }
        ok(
            p,
            &[
                "sketch",
                "merge",
                &format!("a.{kind}"),
                &format!("b.{kind}"),
                "-o",
                &format!("ab.{kind}"),
            ],
        );
        ok(
            p,
            &[
                "sketch",
                "merge",
                &format!("b.{kind}"),
                &format!("ab.{kind}"),
                &format!("a.{kind}"),
                "-o",
                &format!("ba.{kind}"),
            ],
        );
        assert_eq!(
            std::fs::read(p.join(format!("ab.{kind}"))).unwrap(),
            std::fs::read(p.join(format!("ba.{kind}"))).unwrap(),
            "{kind}"
        );
    }
    for kind in ["hll", "theta"] {
        let n: f64 = ok(p, &["sketch", "query", &format!("ab.{kind}"), "--count"])
            .trim()
            .parse()
            .unwrap();
        assert!((n - 1500.0).abs() < 60.0, "{kind}: {n}");
    }
    assert_eq!(
        ok(p, &["sketch", "query", "ab.bloom", "--contains", "u1400"]).trim(),
        "true"
    );
    assert_eq!(
        ok(p, &["sketch", "query", "a.bloom", "--contains", "u1400"]).trim(),
        "false"
    );
    // u600 appears 3 times in a.csv and 3 times in b.csv (two replicas): 6, never fewer.
    let est: i64 = ok(p, &["sketch", "query", "ab.cms", "--estimate", "u600"])
        .trim()
        .parse()
        .unwrap();
    assert!(est >= 6, "{est}");
    let j: f64 = ok(
        p,
        &["sketch", "query", "a.minhash", "--jaccard", "b.minhash"],
    )
    .trim()
    .parse()
    .unwrap();
    assert!((j - 1.0 / 3.0).abs() < 0.15, "{j}");
}

#[test]
fn a_state_file_holds_the_sql_aggregates_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    csv(
        p,
        "t.csv",
        "v",
        ["alpha", "beta"].iter().map(|s| s.to_string()),
    );
    ok(
        p,
        &[
            "sketch",
            "build",
            "t.csv",
            "--column",
            "v",
            "--kind",
            "minhash",
            "--num-perm",
            "4",
            "-o",
            "t.mh",
        ],
    );
    let json = ok(p, &["inspect", "t.mh"]);
    // datasketch's MinHash(num_perm=4, seed=1) of b"alpha", b"beta".
    assert!(
        json.contains("1140239787") && json.contains("982958409"),
        "{json}"
    );
    let sql = ok(
        p,
        &[
            "sql",
            "SELECT crdt_hll_count(crdt_hll_agg(v)) AS n FROM 't.csv'",
            "--format",
            "csv",
        ],
    );
    assert!(sql.contains('2'), "{sql}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    csv(p, "t.csv", "v", (0..10).map(|i| i.to_string()));
    let (code, _, err) = run(
        p,
        &[
            "sketch",
            "build",
            "t.csv",
            "--column",
            "v",
            "--kind",
            "hll",
            "--precision",
            "40",
            "-o",
            "x",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("crdt_hll_agg") && err.contains("precision"),
        "{err}"
    );
    ok(
        p,
        &[
            "sketch", "build", "t.csv", "--column", "v", "--kind", "hll", "-o", "h",
        ],
    );
    ok(
        p,
        &[
            "sketch", "build", "t.csv", "--column", "v", "--kind", "bloom", "-o", "b",
        ],
    );
    let (code, _, err) = run(p, &["sketch", "merge", "h", "b", "-o", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("hll") && err.contains("bloom"), "{err}");
    let (code, _, err) = run(p, &["sketch", "query", "h", "--contains", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("crdt_bloom_contains"), "{err}");
}

#[test]
fn dedup_keeps_the_smallest_key_in_any_row_order() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let rows = [
        "3,The Quick Brown Fox jumps over the lazy dog,NY",
        "1,the quick brown fox  jumps over the lazy dog,NY",
        "2,Something else entirely different here,LA",
        "4,the quick brown fox jumps over the lazy dog!,NY",
    ];
    csv(
        p,
        "a.csv",
        "id,text,city",
        rows.iter().map(|s| s.to_string()),
    );
    csv(
        p,
        "b.csv",
        "id,text,city",
        rows.iter().rev().map(|s| s.to_string()),
    );
    ok(p, &["dedup", "a.csv", "--key", "id", "-o", "ea.csv"]);
    let exact = std::fs::read_to_string(p.join("ea.csv")).unwrap();
    assert_eq!(exact.lines().count(), 4, "{exact}"); // header + 1, 2, 4: only 3 equals 1 exactly
    assert!(!exact.contains("The Quick"), "{exact}");
    for f in ["a", "b"] {
        ok(
            p,
            &[
                "dedup",
                &format!("{f}.csv"),
                "--key",
                "id",
                "--method",
                "minhash",
                "--threshold",
                "0.7",
                "-o",
                &format!("m{f}.csv"),
            ],
        );
    }
    let ma = std::fs::read_to_string(p.join("ma.csv")).unwrap();
    assert_eq!(ma, std::fs::read_to_string(p.join("mb.csv")).unwrap());
    let ids: Vec<&str> = ma
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2"], "{ma}");
}
