//! `crdt-merge digest` and `crdt-merge sync` on real DuckDB files (made with the Python `duckdb`
//! package that also serves as the CLI's DuckDB: `CRDT_MERGE_PYTHON`, default the project's
//! `.venv`) and Parquet: digests agree across sources and with the SQL aggregate, a sync ships
//! only the differing rows, leaves both sides with the CRDT join, and a re-run or a duplicated
//! run changes nothing; bad input is an error that writes nothing.
//!
//! Skipped, loudly, when no Python with `duckdb` is found (`scripts/test-datafusion.sh` sets
//! one up, so CI always runs them).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("CRDT_MERGE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    let ok = std::process::Command::new(&p)
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(p)
    } else {
        eprintln!("SKIPPED: no python with duckdb (set CRDT_MERGE_PYTHON)");
        None
    }
}

fn py(python: &Path, dir: &Path, script: &str) -> String {
    let out = std::process::Command::new(python)
        .current_dir(dir)
        .args(["-c", script])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn run(python: &Path, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("crdt-merge")
        .expect("binary")
        .current_dir(dir)
        .env("CRDT_MERGE_PYTHON", python)
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(python: &Path, dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(python, dir, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// Two replicas of `people`: 2,000 common rows; a newer write on each side, a row only in each.
const MAKE: &str = r#"
import duckdb
for name in ("a", "b"):
    con = duckdb.connect(name + ".duckdb")
    con.execute("CREATE TABLE people(id INTEGER, name TEXT, score BIGINT, _ts BIGINT)")
    con.execute("INSERT INTO people SELECT i, 'p' || i, i % 100, 1 FROM range(2000) r(i)")
    con.close()
a = duckdb.connect("a.duckdb")
a.execute("UPDATE people SET name = 'newer in a', _ts = 5 WHERE id = 7")
a.execute("UPDATE people SET name = 'older in a', _ts = 2 WHERE id = 8")
a.execute("INSERT INTO people VALUES (5000, 'only a', 1, 3)")
a.close()
b = duckdb.connect("b.duckdb")
b.execute("UPDATE people SET name = 'newer in b', _ts = 4 WHERE id = 8")
b.execute("UPDATE people SET name = 'older in b', _ts = 2 WHERE id = 7")
b.execute("INSERT INTO people VALUES (6000, 'only b', 1, 3)")
b.close()
"#;

const READ: &str = r#"
import duckdb, sys
for name in ("a", "b"):
    con = duckdb.connect(name + ".duckdb", read_only=True)
    print(con.execute("SELECT count(*), string_agg(id || ':' || name, ',' ORDER BY id) FILTER (WHERE id IN (7, 8, 5000, 6000)) FROM people").fetchone())
"#;

fn digest_line(python: &Path, dir: &Path, args: &[&str]) -> String {
    let out = ok(python, dir, args);
    assert!(out.starts_with("rows="), "{out}");
    out.trim().to_string()
}

#[test]
fn duckdb_to_duckdb_ships_only_the_differences_and_converges() {
    let Some(p) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    py(&p, d.path(), MAKE);
    let da = digest_line(
        &p,
        d.path(),
        &["digest", "a.duckdb", "--table", "people", "--key", "id"],
    );
    let db = digest_line(
        &p,
        d.path(),
        &["digest", "b.duckdb", "--table", "people", "--key", "id"],
    );
    assert_ne!(da, db);
    assert!(da.starts_with("rows=2001 "), "{da}");
    // A dry run reports and writes nothing.
    let dry = ok(
        &p,
        d.path(),
        &[
            "sync",
            "a.duckdb",
            "b.duckdb",
            "--table",
            "people",
            "--key",
            "id",
            "--dry-run",
        ],
    );
    assert!(
        dry.contains("rows_to_dst=3") && dry.contains("rows_to_src=3"),
        "{dry}"
    );
    assert_eq!(
        da,
        digest_line(
            &p,
            d.path(),
            &["digest", "a.duckdb", "--table", "people", "--key", "id"]
        )
    );
    let out = ok(
        &p,
        d.path(),
        &[
            "sync", "a.duckdb", "b.duckdb", "--table", "people", "--key", "id", "--verify",
        ],
    );
    assert!(out.contains("rows_to_dst=3 rows_to_src=3"), "{out}");
    assert!(out.contains("verify: equal rows=2002"), "{out}");
    let rounds: usize = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rounds="))
        .and_then(|r| r.parse().ok())
        .unwrap();
    assert!(rounds <= 4, "{out}");
    // Both hold the join: LWW by _ts per key, the rows of both.
    let both = py(&p, d.path(), READ);
    let want = "(2002, '7:newer in a,8:newer in b,5000:only a,6000:only b')";
    assert_eq!(both, format!("{want}\n{want}"));
    // A re-run: one round, nothing written.
    let again = ok(
        &p,
        d.path(),
        &[
            "sync", "a.duckdb", "b.duckdb", "--table", "people", "--key", "id",
        ],
    );
    assert!(again.starts_with("in sync: rounds=1 rows=2002"), "{again}");
}

#[test]
fn push_then_both_is_the_same_join_and_parquet_sides_work() {
    let Some(p) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    py(&p, d.path(), MAKE);
    // B as a Parquet directory of two files, and the same rows as one Parquet file.
    py(
        &p,
        d.path(),
        r#"
import duckdb, os
os.mkdir("bdir")
con = duckdb.connect("b.duckdb", read_only=True)
con.execute("COPY (SELECT * FROM people WHERE id < 1000) TO 'bdir/one.parquet' (FORMAT parquet)")
con.execute("COPY (SELECT * FROM people WHERE id >= 1000) TO 'bdir/two.parquet' (FORMAT parquet)")
con.execute("COPY (SELECT * FROM people ORDER BY name) TO 'b.parquet' (FORMAT parquet)")
"#,
    );
    let from_db = digest_line(
        &p,
        d.path(),
        &["digest", "b.duckdb", "--table", "people", "--key", "id"],
    );
    let from_dir = digest_line(&p, d.path(), &["digest", "bdir", "--key", "id"]);
    let from_file = digest_line(&p, d.path(), &["digest", "b.parquet", "--key", "id"]);
    assert_eq!(from_db, from_dir);
    assert_eq!(from_db, from_file);
    // The SQL aggregate in DataFusion gives the same digest.
    let sql = ok(&p, d.path(), &["sql", "--format", "csv",
        "SELECT encode(crdt_table_digest(id, named_struct('id', id, 'name', name, 'score', score, '_ts', _ts)), 'hex') AS d FROM 'b.parquet'"]);
    let hex = from_db.split("digest=").nth(1).unwrap();
    assert!(sql.contains(hex), "{sql} vs {from_db}");
    // Push only: DST (the directory) gets the join, SRC is untouched.
    let before_a = digest_line(
        &p,
        d.path(),
        &["digest", "a.duckdb", "--table", "people", "--key", "id"],
    );
    let out = ok(
        &p,
        d.path(),
        &[
            "sync",
            "a.duckdb",
            "bdir",
            "--table",
            "people",
            "--key",
            "id",
            "--direction",
            "push",
        ],
    );
    assert!(out.contains("rows_to_dst=3"), "{out}");
    assert_eq!(
        before_a,
        digest_line(
            &p,
            d.path(),
            &["digest", "a.duckdb", "--table", "people", "--key", "id"]
        )
    );
    let files: Vec<_> = std::fs::read_dir(d.path().join("bdir")).unwrap().collect();
    assert_eq!(
        files.len(),
        1,
        "the directory holds one file after the rewrite"
    );
    // Then both ways with the single file: everyone ends on the same digest.
    ok(
        &p,
        d.path(),
        &[
            "sync",
            "a.duckdb",
            "b.parquet",
            "--table",
            "people",
            "--key",
            "id",
            "--verify",
        ],
    );
    let fa = digest_line(
        &p,
        d.path(),
        &["digest", "a.duckdb", "--table", "people", "--key", "id"],
    );
    let fdir = digest_line(&p, d.path(), &["digest", "bdir", "--key", "id"]);
    let ffile = digest_line(&p, d.path(), &["digest", "b.parquet", "--key", "id"]);
    assert_eq!(fa, ffile);
    // bdir got A's rows joined with B's before A had B's: the join is the same rows.
    assert_eq!(fa, fdir);
    // Content digests ignore the clocks.
    let c1 = digest_line(
        &p,
        d.path(),
        &[
            "digest",
            "a.duckdb",
            "--table",
            "people",
            "--key",
            "id",
            "--content",
        ],
    );
    assert_ne!(c1, fa);
}

#[test]
fn a_strategy_spec_is_the_join_used() {
    let Some(p) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    py(&p, d.path(), MAKE);
    py(
        &p,
        d.path(),
        r#"
import duckdb
a = duckdb.connect("a.duckdb"); a.execute("UPDATE people SET score = 999, _ts = 0 WHERE id = 1"); a.close()
"#,
    );
    ok(
        &p,
        d.path(),
        &[
            "sync",
            "a.duckdb",
            "b.duckdb",
            "--table",
            "people",
            "--key",
            "id",
            "--spec",
            "score='max'",
            "--verify",
        ],
    );
    let s = py(
        &p,
        d.path(),
        r#"
import duckdb
for n in ("a", "b"):
    print(duckdb.connect(n + ".duckdb", read_only=True).execute("SELECT score FROM people WHERE id = 1").fetchone()[0])
"#,
    );
    assert_eq!(s, "999\n999", "max wins whatever the clock");
}

#[test]
fn bad_input_is_an_error_and_writes_nothing() {
    let Some(p) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    py(&p, d.path(), MAKE);
    py(
        &p,
        d.path(),
        r#"
import duckdb
c = duckdb.connect("c.duckdb")
c.execute("CREATE TABLE people(id INTEGER, name TEXT, score BIGINT, _ts BIGINT, extra TEXT)")
c.execute("INSERT INTO people VALUES (1, 'x', 1, 9, 'e')")
"#,
    );
    let before = digest_line(
        &p,
        d.path(),
        &["digest", "a.duckdb", "--table", "people", "--key", "id"],
    );
    let (code, _, err) = run(
        &p,
        d.path(),
        &[
            "sync", "a.duckdb", "c.duckdb", "--table", "people", "--key", "id",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'extra'") && err.contains("c.duckdb"), "{err}");
    assert_eq!(
        before,
        digest_line(
            &p,
            d.path(),
            &["digest", "a.duckdb", "--table", "people", "--key", "id"]
        )
    );
    let (code, _, err) = run(
        &p,
        d.path(),
        &["digest", "a.duckdb", "--table", "nope", "--key", "id"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = run(&p, d.path(), &["digest", "a.duckdb", "--key", "id"]);
    assert_eq!(code, 2);
    assert!(err.contains("--table"), "{err}");
    let (code, _, err) = run(
        &p,
        d.path(),
        &[
            "digest", "a.duckdb", "--table", "people", "--key", "missing",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("missing"), "{err}");
    let (code, _, err) = run(
        &p,
        d.path(),
        &[
            "sync",
            "a.duckdb",
            "none.duckdb",
            "--table",
            "people",
            "--key",
            "id",
        ],
    );
    assert_eq!(code, 3, "{err}");
}

/// The ```console block of docs/sync.md, run in a fresh directory; `HEX` and `N` in the doc
/// stand for any hex digest and any number.
#[test]
fn docs_sync_example_runs() {
    let Some(p) = python() else { return };
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sync.md");
    let text = std::fs::read_to_string(doc).unwrap();
    let block = text
        .split("```console\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a console block");
    let d = tempfile::tempdir().unwrap();
    let mut expected: Vec<String> = Vec::new();
    let mut command: Option<String> = None;
    let check = |cmd: &str, want: &[String]| {
        let args = split_args(
            cmd.strip_prefix("crdt-merge ")
                .expect("a crdt-merge command"),
        );
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = ok(&p, d.path(), &refs);
        let got: Vec<String> = got.lines().map(normalise).collect();
        let want: Vec<String> = want.iter().map(|l| normalise(l)).collect();
        assert_eq!(got, want, "docs/sync.md: {cmd}");
    };
    for line in block.lines() {
        if let Some(c) = line.strip_prefix("$ ") {
            if let Some(prev) = command.take() {
                check(&prev, &expected);
            }
            expected.clear();
            command = Some(c.to_string());
        } else {
            expected.push(line.to_string());
        }
    }
    if let Some(prev) = command {
        check(&prev, &expected);
    }
}

/// Numbers and hex digests replaced by placeholders (`digest=HEX`, `sent=N`).
fn normalise(line: &str) -> String {
    line.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some(("digest", _)) => "digest=HEX".to_string(),
            Some((k, _)) if matches!(k, "sent" | "received" | "ms") => format!("{k}=N"),
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits a command line on spaces, keeping "double-quoted" words whole.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn diff_reports_added_removed_and_changed_columns() {
    let Some(p) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    py(&p, d.path(), MAKE);
    let (code, out, err) = run(
        &p,
        d.path(),
        &[
            "diff", "a.duckdb", "b.duckdb", "--table", "people", "--key", "id",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0],
        r#"{"change":"modified","changes":{"_ts":{"new":2,"old":5},"name":{"new":"older in b","old":"newer in a"}},"key":7}"#
    );
    assert!(
        lines[2].starts_with(r#"{"change":"removed","key":5000,"#),
        "{out}"
    );
    assert!(
        lines[3].starts_with(r#"{"change":"added","key":6000,"#),
        "{out}"
    );
    assert!(
        err.contains("+1 added, -1 removed, ~2 modified, =1998 unchanged"),
        "{err}"
    );
    // Against a Parquet copy whose id is BIGINT: widths are not changes.
    py(&p, d.path(), "import duckdb; duckdb.connect('a.duckdb', read_only=True).execute(\"COPY (SELECT id::BIGINT AS id, name, score, _ts FROM people) TO 'a.parquet' (FORMAT parquet)\")");
    let (code, out, err) = run(
        &p,
        d.path(),
        &[
            "diff",
            "a.duckdb",
            "a.parquet",
            "--table",
            "people",
            "--key",
            "id",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("+0 added, -0 removed, ~0 modified, =2001 unchanged"),
        "{err}"
    );
}
