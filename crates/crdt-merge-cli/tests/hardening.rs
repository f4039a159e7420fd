//! Regression tests for the command-line findings of issue 14 (a hostile-input probe): each test
//! is named after its finding.

use std::path::Path;

use assert_cmd::Command;

const A_CSV: &str = "id,name,score,_ts\n1,Alice,80,1000.0\n2,Charlie,70,1000.0\n";
const B_CSV: &str = "id,name,score,_ts\n1,Bob,90,2000.0\n3,Diana,85,1000.0\n";

struct Run {
    /// The exit code; `None` when a signal ended the process.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = Command::cargo_bin("crdt-merge")
        .expect("the crdt-merge binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run crdt-merge");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
}

/// An error: a non-zero exit code (not a signal) and one `crdt-merge: error:` line naming
/// every string of `names`.
fn assert_error(r: &Run, code: i32, names: &[&str]) {
    assert_eq!(
        r.code,
        Some(code),
        "stdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stderr.starts_with("crdt-merge: error: "),
        "stderr: {}",
        r.stderr
    );
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
    for n in names {
        assert!(r.stderr.contains(n), "{n} not in: {}", r.stderr);
    }
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(!r.stderr.contains("RUST_BACKTRACE"), "{}", r.stderr);
}

/// Finding 6: DataFusion's `max` combined a NaN row clock differently per partition, so three
/// files with `_ts` NaN, 1000 and 1500 gave 1000, 1500 or NaN across identical runs. The clock
/// now merges with `crdt_max` (NaN greatest, as the cells' clocks compare).
#[test]
fn finding_6_nan_row_clock_is_deterministic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(p, "n.csv", "id,v,_ts\n1,nan-row,NaN\n2,n2,1.0\n");
    write(p, "x.csv", "id,v,_ts\n1,thousand,1000.0\n2,x2,NaN\n");
    write(p, "y.csv", "id,v,_ts\n1,fifteen,1500.0\n2,y2,3.0\n");
    let orders: [[&str; 3]; 3] = [
        ["n.csv", "x.csv", "y.csv"],
        ["y.csv", "x.csv", "n.csv"],
        ["x.csv", "n.csv", "y.csv"],
    ];
    for _ in 0..4 {
        for files in &orders {
            let mut args = vec!["merge"];
            args.extend(files);
            args.extend(["--key", "id", "--format", "csv", "-q"]);
            let r = run(p, &args);
            assert_eq!(r.code, Some(0), "{}", r.stderr);
            assert_eq!(r.stdout, "id,v,_ts\n1,nan-row,NaN\n2,x2,NaN\n", "{files:?}");
        }
    }
}

/// Finding 7: `merge` with 350 or more columns, and `query ... PROVENANCE` with 500, overflowed
/// the stack (the conflict count was a chain of one `+` per column).
#[test]
fn finding_7_wide_merge_and_provenance_query_do_not_overflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let n = 600;
    let header: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let row = |v: usize| -> String {
        (0..n)
            .map(|i| (v * 1000 + i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    write(
        p,
        "a.csv",
        format!(
            "id,_ts,{}\n1,1.0,{}\n2,1.0,{}\n",
            header.join(","),
            row(1),
            row(2)
        ),
    );
    write(
        p,
        "b.csv",
        format!(
            "id,_ts,{}\n1,2.0,{}\n3,1.0,{}\n",
            header.join(","),
            row(3),
            row(4)
        ),
    );
    let r = run(
        p,
        &["merge", "a.csv", "b.csv", "--key", "id", "-o", "out.csv"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("2 inputs, 4 rows in, 3 rows out, 600 conflicting cells"),
        "{}",
        r.stderr
    );
    let out = std::fs::read_to_string(p.join("out.csv")).expect("out.csv");
    assert_eq!(out.lines().count(), 4);
    assert!(
        out.lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("1,2.0,3000,3001,"),
        "{out}"
    );
    let r = run(
        p,
        &[
            "query",
            "MERGE 'a.csv', 'b.csv' ON id PROVENANCE",
            "--format",
            "csv",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let header = r.stdout.lines().next().unwrap_or("");
    assert_eq!(header.split(',').count(), 2 + 2 * n + 1, "{header}");
    assert!(header.ends_with("c599__source,__conflicts"), "{header}");
    assert!(r
        .stdout
        .lines()
        .nth(1)
        .unwrap_or("")
        .ends_with(",b.csv,600"));
}

/// Finding 7: a 12-byte Parquet file `PAR1 ff ff ff ff PAR1` panicked inside the parquet
/// crate's metadata decoder (also through `crdt-merge sql`); it is an error naming the file.
#[test]
fn finding_7_corrupt_parquet_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(p, "a.csv", A_CSV);
    let mut bad = b"PAR1".to_vec();
    bad.extend([0xff; 4]);
    bad.extend(b"PAR1");
    write(p, "bad.parquet", &bad);
    for args in [
        &["merge", "a.csv", "bad.parquet", "--key", "id"][..],
        &["query", "MERGE 'bad.parquet', 'a.csv' ON id"][..],
        &["sql", "SELECT * FROM 'bad.parquet'"][..],
        &[
            "sql",
            "SELECT count(*) AS n FROM 'a.csv' UNION ALL SELECT count(*) FROM 'bad.parquet'",
        ][..],
    ] {
        let r = run(p, args);
        assert_error(&r, 3, &["'bad.parquet'", "not a valid Parquet file"]);
    }
    let r = run(
        p,
        &[
            "sql",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'bad.parquet'; SELECT * FROM t",
        ],
    );
    assert_error(&r, 3, &["'bad.parquet'", "not a valid Parquet file"]);
    // A folder is read by DataFusion itself; the parquet crate's panic there is caught at the
    // command boundary and reported as an error naming what was read.
    std::fs::create_dir(p.join("dir")).expect("dir");
    write(p, "dir/bad.parquet", &bad);
    let r = run(
        p,
        &[
            "sql",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'dir/'; SELECT * FROM t",
        ],
    );
    assert_error(&r, 1, &["internal error while reading 'dir/'"]);
}

/// Finding 10: a MergeQL LIMIT between 2^63 and 2^64 passed the parser and failed later with a
/// cast error.
#[test]
fn finding_10_limit_above_i64_max_is_a_syntax_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(p, "a.csv", A_CSV);
    write(p, "b.csv", B_CSV);
    let r = run(
        p,
        &[
            "query",
            "MERGE 'a.csv', 'b.csv' ON id LIMIT 9223372036854775808",
        ],
    );
    assert_error(
        &r,
        2,
        &["syntax error at position 35: expected a row count at most 9223372036854775807"],
    );
    let r = run(
        p,
        &[
            "query",
            "MERGE 'a.csv', 'b.csv' ON id LIMIT 9223372036854775807",
            "--format",
            "csv",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 4, "{}", r.stdout);
}

/// Finding 10: a non-boolean tombstone gave DataFusion's raw COALESCE type error.
#[test]
fn finding_10_tombstone_must_be_boolean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(p, "a.csv", "id,v,_ts,_deleted\n1,x,1.0,0\n");
    write(p, "b.csv", "id,v,_ts,_deleted\n1,y,2.0,1\n");
    let r = run(
        p,
        &["merge", "a.csv", "b.csv", "--key", "id", "--tombstone"],
    );
    assert_error(
        &r,
        2,
        &[
            "argument `_deleted`",
            "expected a boolean tombstone column",
            "Int64 in 'a.csv'",
        ],
    );
    assert!(!r.stderr.contains("coalesce"), "{}", r.stderr);
    // Booleans work.
    write(
        p,
        "a.csv",
        "id,v,_ts,_deleted\n1,x,1.0,false\n2,z,1.0,false\n",
    );
    write(p, "b.csv", "id,v,_ts,_deleted\n1,y,2.0,true\n");
    let r = run(
        p,
        &[
            "merge",
            "a.csv",
            "b.csv",
            "--key",
            "id",
            "--tombstone",
            "--format",
            "csv",
            "-q",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "id,v,_ts,_deleted\n1,y,2.0,true\n2,z,1.0,false\n");
}

/// Finding 10: clap's usage errors lacked the `crdt-merge: error:` prefix; help and version
/// still print as clap prints them.
#[test]
fn finding_10_usage_errors_have_the_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    for args in [
        &["merge", "a.csv"][..],
        &["merge", "a.csv", "b.csv"][..],
        &["merge", "a.csv", "b.csv", "--key"][..],
        &["merge", "a.csv", "b.csv", "--key", "id", "--bogus"][..],
        &["query"][..],
        &["sql", "SELECT 1", "--format", "xml"][..],
        &["frobnicate"][..],
    ] {
        let r = run(p, args);
        assert_error(&r, 2, &["see --help)"]);
        assert_eq!(r.stdout, "", "{args:?}");
    }
    let r = run(p, &["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("Usage: crdt-merge"), "{}", r.stdout);
    let r = run(p, &["--version"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.starts_with("crdt-merge "), "{}", r.stdout);
}

/// Finding 12: one text value (`n/a`) made a CSV column text, so `score=max` compared as text
/// (9 beat 10) without a word. A column that is a number in one input and text in another is
/// an error naming the column and both files.
#[test]
fn finding_12_mixed_types_across_files_are_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(p, "a.csv", "id,score,_ts\n1,9,1.0\n2,3,1.0\n");
    write(p, "b.csv", "id,score,_ts\n1,10,1.0\n2,n/a,1.0\n");
    let r = run(
        p,
        &[
            "merge",
            "a.csv",
            "b.csv",
            "--key",
            "id",
            "--strategy",
            "score=max",
        ],
    );
    assert_error(
        &r,
        2,
        &[
            "argument `score`",
            "one type of value in every source",
            "Int64 in 'a.csv' but Utf8 in 'b.csv'",
        ],
    );
    let r = run(
        p,
        &["query", "MERGE 'a.csv', 'b.csv' ON id STRATEGY score='max'"],
    );
    assert_error(&r, 2, &["argument `score`"]);
}

/// Finding 12: when every input reads a `max`/`min` column as text although most of its values
/// are numbers, the merge runs and warns, naming the file, the column and a non-number.
#[test]
fn finding_12_numbers_read_as_text_warn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(p, "a.csv", "id,score,_ts\n1,9,1.0\n2,n/a,1.0\n");
    write(p, "b.csv", "id,score,_ts\n1,10,1.0\n2,-,1.0\n");
    let r = run(
        p,
        &[
            "merge",
            "a.csv",
            "b.csv",
            "--key",
            "id",
            "--strategy",
            "score=max",
            "--format",
            "csv",
            "-q",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "id,score,_ts\n1,9,1.0\n2,n/a,1.0\n");
    let warnings: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{}", r.stderr);
    assert!(
        warnings[0].starts_with(
            "crdt-merge: warning: 'a.csv': column `score` is read as text because of values \
             such as 'n/a' (1 of 2 values are numbers), so `max` compares it as text"
        ),
        "{}",
        r.stderr
    );
    assert!(
        warnings[1].contains("'b.csv'") && warnings[1].contains("'-'"),
        "{}",
        r.stderr
    );
    // No warning for columns that are text throughout, or not ordered by value.
    write(p, "a.csv", "id,score,_ts\n1,x,1.0\n");
    write(p, "b.csv", "id,score,_ts\n1,y,1.0\n");
    let r = run(
        p,
        &[
            "merge",
            "a.csv",
            "b.csv",
            "--key",
            "id",
            "--strategy",
            "score=max",
            "-q",
        ],
    );
    assert_eq!((r.code, r.stderr.as_str()), (Some(0), ""));
}

/// Finding 12: NULL keys were merged into one row; they are refused, naming the key column, as
/// the kernel, DuckDB and Postgres do.
#[test]
fn finding_12_null_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    write(p, "a.csv", "id,v,_ts\n1,x,1.0\n,y,1.0\n");
    write(p, "b.csv", "id,v,_ts\n,z,2.0\n");
    let r = run(p, &["merge", "a.csv", "b.csv", "--key", "id"]);
    assert_error(
        &r,
        1,
        &["crdt_merge: argument `id`: expected a key without NULLs"],
    );
    let r = run(p, &["query", "MERGE 'a.csv', 'b.csv' ON id"]);
    assert_error(&r, 1, &["argument `id`: expected a key without NULLs"]);
}

/// Finding 13: `--format json` dropped NULL fields (an all-NULL row printed `{}`).
#[test]
fn finding_13_json_lines_write_explicit_nulls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let r = run(
        p,
        &[
            "sql",
            "SELECT CAST(NULL AS INT) AS a, CAST(NULL AS VARCHAR) AS b",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, "{\"a\":null,\"b\":null}\n");
    write(p, "a.csv", "id,name,score,_ts\n1,,80,1.0\n");
    write(p, "b.csv", "id,name,_ts\n2,Bo,1.0\n");
    let r = run(
        p,
        &[
            "merge", "a.csv", "b.csv", "--key", "id", "--format", "json", "-q",
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "{\"id\":1,\"name\":null,\"score\":80,\"_ts\":1.0}\n{\"id\":2,\"name\":\"Bo\",\"score\":null,\"_ts\":1.0}\n"
    );
    let r = run(
        p,
        &["query", "MERGE 'a.csv', 'b.csv' ON id", "-o", "out.json"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = std::fs::read_to_string(p.join("out.json")).expect("out.json");
    assert!(out.contains("\"score\":null"), "{out}");
}

/// Finding 14: re-merging merged outputs under a row clock with NULL cells depended on the
/// grouping; with `--cell-clocks` the outputs keep each cell's clock (`i__ts`) and
/// (a ⊔ b) ⊔ c = a ⊔ (b ⊔ c).
#[test]
fn finding_14_cell_clocks_make_re_merging_associative() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a.csv", "id,i,_ts\n1,0,2\n");
    write(d, "b.csv", "id,i,_ts\n1,,3\n");
    write(d, "c.csv", "id,i,_ts\n1,-1,2\n");
    let merge = |x: &str, y: &str, out: &str, cells: bool| {
        let mut args = vec!["merge", x, y, "-k", "id", "-o", out, "-q"];
        if cells {
            args.push("--cell-clocks");
        }
        let r = run(d, &args);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        std::fs::read_to_string(d.join(out)).unwrap()
    };
    for cells in [false, true] {
        merge("a.csv", "b.csv", "ab.csv", cells);
        let left = merge("ab.csv", "c.csv", "ab_c.csv", cells);
        merge("b.csv", "c.csv", "bc.csv", cells);
        let right = merge("a.csv", "bc.csv", "a_bc.csv", cells);
        if cells {
            assert_eq!(left, right);
            assert!(left.contains("i__ts"), "{left}");
            assert!(left.lines().nth(1).unwrap().starts_with("1,0,"), "{left}");
        } else {
            // The old behaviour, still what a plain merge writes.
            assert_ne!(left, right);
        }
    }
}
