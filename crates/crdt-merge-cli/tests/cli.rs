//! The `crdt-merge` binary on real files: CSV, Parquet and JSON lines, the seed demo, errors
//! and their exit codes, and every example in `docs/cli.md`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

const A_CSV: &str = "id,name,score,_ts\n1,Alice,80,1000.0\n2,Charlie,70,1000.0\n";
const B_CSV: &str = "id,name,score,_ts\n1,Bob,90,2000.0\n3,Diana,85,1000.0\n";
const SEED_MERGED_CSV: &str =
    "id,name,score,_ts\n1,Bob,90,2000.0\n2,Charlie,70,1000.0\n3,Diana,85,1000.0\n";

fn bin() -> Command {
    Command::cargo_bin("crdt-merge").expect("the crdt-merge binary")
}

/// A temporary directory holding the seed demo's a.csv and b.csv.
fn seed_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.csv"), A_CSV).expect("a.csv");
    std::fs::write(dir.path().join("b.csv"), B_CSV).expect("b.csv");
    // The replicas of docs/cli.md's `crdt-merge verify` counterexample.
    std::fs::write(dir.path().join("x.csv"), "id,a,_ts\n1,x,1\n").expect("x.csv");
    std::fs::write(dir.path().join("y.csv"), "id,a,_ts\n1,,3\n").expect("y.csv");
    std::fs::write(dir.path().join("z.csv"), "id,a,_ts\n1,z,2\n").expect("z.csv");
    // The dict form of docs/cli.md's `crdt-merge wire` example.
    std::fs::write(
        dir.path().join("counter.json"),
        "{\"type\": \"g_counter\", \"counts\": {\"n1\": 5, \"n2\": 3}}\n",
    )
    .expect("counter.json");
    // The JSON documents of docs/cli.md's `crdt-merge json` example.
    std::fs::write(
        dir.path().join("p1.json"),
        "{\"name\": \"Alice\", \"tags\": [\"b\"], \"visits\": 3}\n",
    )
    .expect("p1.json");
    std::fs::write(
        dir.path().join("p2.json"),
        "{\"tags\": [\"a\", \"b\"], \"visits\": 7, \"name\": \"Alice\"}\n",
    )
    .expect("p2.json");
    dir
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = bin()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run crdt-merge");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn seed_demo_merge_to_csv() {
    let dir = seed_dir();
    let r = run(
        dir.path(),
        &[
            "merge",
            "a.csv",
            "b.csv",
            "--key",
            "id",
            "--strategy",
            "score=max",
            "-o",
            "out.csv",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(read(dir.path(), "out.csv"), SEED_MERGED_CSV);
    assert!(
        r.stderr
            .contains("2 inputs, 4 rows in, 3 rows out, 2 conflicting cells"),
        "{}",
        r.stderr
    );
}

#[test]
fn merge_through_parquet_and_json_lines() {
    let dir = seed_dir();
    let p = dir.path();
    let r = run(
        p,
        &[
            "merge",
            "a.csv",
            "b.csv",
            "-k",
            "id",
            "-s",
            "score=max",
            "-o",
            "ab.parquet",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(
        p.join("c.jsonl"),
        "{\"id\": 2, \"name\": \"Carl\", \"score\": 75, \"_ts\": 3000.0}\n\
         {\"id\": 4, \"name\": \"Eve\", \"score\": 60, \"_ts\": 500.0}\n",
    )
    .expect("c.jsonl");
    let r = run(
        p,
        &[
            "merge",
            "ab.parquet",
            "c.jsonl",
            "-k",
            "id",
            "-s",
            "score=max",
            "-o",
            "abc.json",
            "-q",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let json = read(p, "abc.json");
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 4, "{json}");
    assert!(lines[1].contains("\"name\":\"Carl\""), "{json}");
    assert!(lines[1].contains("\"score\":75"), "{json}");
    assert!(lines[3].contains("\"name\":\"Eve\""), "{json}");
    // The Parquet file reads back as the seed's merged table.
    let r = run(
        p,
        &[
            "sql",
            "SELECT * FROM 'ab.parquet' ORDER BY id",
            "--format",
            "csv",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, SEED_MERGED_CSV);
}

#[test]
fn merge_to_stdout_with_provenance() {
    let dir = seed_dir();
    let r = run(
        dir.path(),
        &[
            "merge",
            "a.csv",
            "b.csv",
            "--key",
            "id",
            "--provenance",
            "--format",
            "csv",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut lines = r.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("id,name,score,_ts,name__source,score__source,__conflicts")
    );
    assert_eq!(lines.next(), Some("1,Bob,90,2000.0,b.csv,b.csv,2"));
}

#[test]
fn query_runs_mergeql_on_files() {
    let dir = seed_dir();
    let r = run(
        dir.path(),
        &[
            "query",
            "MERGE 'a.csv', 'b.csv' ON id STRATEGY score='max'",
            "--format",
            "csv",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, SEED_MERGED_CSV);
    let r = run(
        dir.path(),
        &[
            "query",
            "MERGE 'a.csv', 'b.csv' ON id STRATEGY score='min' LIMIT 1",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("| 1  | Bob  | 80    | 2000.0 |"),
        "{}",
        r.stdout
    );
}

#[test]
fn sql_inline_and_from_a_file() {
    let dir = seed_dir();
    let r = run(
        dir.path(),
        &["sql", "SELECT crdt_hlc(1, 2) AS h", "--format", "csv"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "h\n65538\n");
    std::fs::write(
        dir.path().join("q.sql"),
        "CREATE TABLE u AS SELECT * FROM 'a.csv' UNION ALL SELECT * FROM 'b.csv';\n\
         SELECT id, crdt_lww(name, _ts) AS name FROM u GROUP BY id ORDER BY id;\n",
    )
    .expect("q.sql");
    let r = run(dir.path(), &["sql", "-f", "q.sql", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "{\"id\":1,\"name\":\"Bob\"}\n{\"id\":2,\"name\":\"Charlie\"}\n{\"id\":3,\"name\":\"Diana\"}\n"
    );
    let r = run(
        dir.path(),
        &["sql", "SELECT crdt_version() IS NOT NULL AS ok"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("| true |"), "{}", r.stdout);
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden")
        .join(name)
}

#[test]
fn inspect_frames_from_file_and_stdin() {
    let dir = seed_dir();
    let path = golden("g_counter.crdt");
    let r = run(dir.path(), &["inspect", path.to_str().expect("path")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["type"], "g_counter");
    assert_eq!(v["state"]["type"], "g_counter");
    let bytes = std::fs::read(&path).expect("golden");
    assert_eq!(v["bytes"], bytes.len());
    // Hex text on standard input, as SQL prints bytes.
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = bin()
        .args(["inspect", "-"])
        .write_stdin(format!("\\x{hex}\n"))
        .output()
        .expect("run");
    assert!(out.status.success());
    let w: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(w, v);
    // Garbage: one line, exit 2.
    std::fs::write(dir.path().join("junk.bin"), b"hello").expect("junk");
    let r = run(dir.path(), &["inspect", "junk.bin"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

fn assert_one_line_error(r: &Run, code: i32, needle: &str) {
    assert_eq!(r.code, code, "stderr: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("crdt-merge: error: "), "{}", r.stderr);
    assert!(
        r.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "{needle} not in {}",
        r.stderr
    );
}

#[test]
fn errors_are_one_line_with_exit_codes() {
    let dir = seed_dir();
    let p = dir.path();
    assert_one_line_error(
        &run(p, &["merge", "a.csv", "missing.csv", "--key", "id"]),
        3,
        "missing.csv",
    );
    assert_one_line_error(
        &run(
            p,
            &[
                "merge",
                "a.csv",
                "b.csv",
                "--key",
                "id",
                "--strategy",
                "score=maximum",
            ],
        ),
        2,
        "unknown strategy",
    );
    assert_one_line_error(
        &run(p, &["query", "MERGE 'a.csv' 'b.csv' ON id"]),
        2,
        "syntax error",
    );
    assert_one_line_error(
        &run(p, &["query", "MERGE 'a.csv', 'nope.csv' ON id"]),
        3,
        "nope.csv",
    );
    assert_one_line_error(
        &run(p, &["merge", "a.csv", "b.csv", "--key", "nokey"]),
        2,
        "nokey",
    );
    assert_one_line_error(&run(p, &["sql", "SELEC 1"]), 2, "SELEC");
    assert_one_line_error(
        &run(
            p,
            &[
                "sql",
                "SELECT crdt_hlc(CAST(281474976710656 AS BIGINT), 0) AS h",
            ],
        ),
        1,
        "crdt_hlc",
    );
    assert_one_line_error(&run(p, &["inspect", "nothing.bin"]), 3, "nothing.bin");
}

/// Splits a command line the way a POSIX shell would for the quoting the docs use.
fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                any = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '"' => {
                any = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                if !matches!(e, '"' | '\\' | '$' | '`') {
                                    cur.push('\\');
                                }
                                cur.push(e);
                            }
                        }
                        _ => cur.push(d),
                    }
                }
            }
            c if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every ```console block of docs/cli.md: `$ crdt-merge ...` and `$ cat FILE` lines, each
/// followed by its expected standard output, run in one directory holding the seed files.
#[test]
fn docs_cli_examples_run() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    let text = std::fs::read_to_string(&doc).expect("docs/cli.md");
    let dir = seed_dir();
    let mut in_block = false;
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = line.trim() == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push((cmd.to_string(), Vec::new()));
        } else if let Some(last) = steps.last_mut() {
            last.1.push(line.to_string());
        }
    }
    assert!(steps.len() >= 5, "too few examples in docs/cli.md");
    for (cmd, want) in steps {
        let words = shell_words(&cmd);
        let have = match words.first().map(String::as_str) {
            Some("cat") => read(dir.path(), &words[1]),
            Some("crdt-merge") => {
                let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
                let r = run(dir.path(), &args);
                let shown = if r.code == 0 {
                    r.stdout
                } else {
                    format!("{}[exit {}]\n", r.stderr, r.code)
                };
                shown
            }
            _ => panic!("docs/cli.md: unsupported command `{cmd}`"),
        };
        let have: Vec<&str> = have.lines().map(str::trim_end).collect();
        let want: Vec<&str> = want.iter().map(|l| l.trim_end()).collect();
        assert_eq!(have, want, "docs/cli.md: `{cmd}`");
    }
}

/// `crdt-merge clock`: merging clocks in any order and with repetition gives one clock, a DVV's
/// dot advances and folds, the frames are the kernel's (tag 0x40 / 0x41), and bad input is an
/// error naming the file (exit 3) or the argument (exit 2), never a panic.
#[test]
fn clock_commands_merge_in_any_order_and_refuse_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ok = |args: &[&str]| {
        let r = run(d, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    ok(&[
        "clock",
        "create",
        "vectorclock",
        "--node",
        "a",
        "--counter",
        "2",
        "-o",
        "a.clock",
    ]);
    ok(&[
        "clock",
        "create",
        "vectorclock",
        "--node",
        "b",
        "--counter",
        "5",
        "-o",
        "b.clock",
    ]);
    ok(&[
        "clock",
        "create",
        "vectorclock",
        "--node",
        "c",
        "-o",
        "c.clock",
    ]);
    let bytes = std::fs::read(d.join("a.clock")).expect("a.clock");
    assert_eq!(&bytes[..4], b"CRDT");
    assert_eq!(bytes[6], 0x40, "a vector clock frame");
    let want = "{\"clocks\":{\"a\":2,\"b\":5,\"c\":1},\"type\":\"vector_clock\"}\n";
    for order in [
        ["a.clock", "b.clock", "c.clock"],
        ["c.clock", "a.clock", "b.clock"],
        ["b.clock", "b.clock", "c.clock"],
    ] {
        let mut args = vec!["clock", "merge"];
        args.extend(order);
        args.extend(["a.clock"]);
        assert_eq!(ok(&args), want, "{order:?}");
    }
    ok(&["clock", "merge", "a.clock", "b.clock", "-o", "ab.clock"]);
    assert_eq!(ok(&["clock", "compare", "ab.clock", "a.clock"]), "after\n");
    assert_eq!(ok(&["clock", "compare", "a.clock", "a.clock"]), "equal\n");
    assert_eq!(
        ok(&["clock", "compare", "a.clock", "c.clock"]),
        "concurrent\n"
    );

    ok(&["clock", "create", "dvv", "--node", "a", "-o", "d1.clock"]);
    assert_eq!(std::fs::read(d.join("d1.clock")).expect("d1")[6], 0x41);
    ok(&[
        "clock",
        "increment",
        "d1.clock",
        "--node",
        "b",
        "-o",
        "d2.clock",
    ]);
    assert_eq!(
        ok(&["clock", "compare", "d2.clock", "d1.clock"]),
        "concurrent\n",
        "advancing another node moves the dot"
    );
    let merged = ok(&["clock", "merge", "d1.clock", "d2.clock"]);
    assert_eq!(
        merged,
        "{\"base\":{\"clocks\":{\"a\":1,\"b\":1},\"type\":\"vector_clock\"},\"type\":\"dotted_version_vector\"}\n"
    );

    // Bad input.
    std::fs::write(d.join("junk.clock"), b"not a frame").expect("junk");
    let r = run(d, &["clock", "merge", "a.clock", "junk.clock"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("junk.clock") && r.stderr.contains("bad magic"),
        "{}",
        r.stderr
    );
    let r = run(d, &["clock", "compare", "a.clock", "d1.clock"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("vector_clock") && r.stderr.contains("dotted_version_vector"),
        "{}",
        r.stderr
    );
    let r = run(d, &["clock", "merge", "a.clock", "d1.clock"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("d1.clock"), "{}", r.stderr);
    let counter = run(d, &["sketch", "merge", "a.clock", "-o", "x.state"]);
    assert_eq!(counter.code, 0, "a clock is a state: {}", counter.stderr);
    std::fs::write(
        d.join("g.state"),
        crdt_merge_kernel::wire::encode(&crdt_merge_kernel::state::AnyState::GCounter(
            Default::default(),
        )),
    )
    .expect("g.state");
    let r = run(d, &["clock", "increment", "g.state", "--node", "a"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("expected a clock"), "{}", r.stderr);
    let r = run(d, &["clock", "create", "vectorclock", "--node", ""]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--node"), "{}", r.stderr);
    let r = run(d, &["clock", "create", "lamport", "--node", "a"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

/// `crdt-merge delta`: a delta computed between versions applies to the old one to give the new
/// one (CSV and Parquet), deltas apply and compose in any order with the same bytes, a delta
/// applied twice changes nothing, and bad input names the file.
#[test]
fn delta_compute_apply_compose_are_joins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let write = |name: &str, text: &str| std::fs::write(d.join(name), text).expect(name);
    write("v1.csv", "id,name,score,_ts\n1,a,1,1\n2,b,2,1\n3,c,3,1\n");
    write("v2.csv", "id,name,score,_ts\n1,a,1,1\n2,B,20,2\n4,d,4,2\n");
    write(
        "v3.csv",
        "id,name,score,_ts\n2,B,20,2\n3,C,30,3\n4,d,40,3\n5,e,5,3\n",
    );
    write("dup.csv", "id,name,score,_ts\n1,a,1,1\n1,b,2,1\n");
    let ok = |args: &[&str]| {
        let r = run(d, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    let body = |name: &str| {
        read(d, name)
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    ok(&[
        "delta", "compute", "v1.csv", "v2.csv", "--key", "id", "-o", "d12.csv", "-q",
    ]);
    ok(&[
        "delta",
        "compute",
        "v2.csv",
        "v3.csv",
        "--key",
        "id",
        "-o",
        "d23.parquet",
        "-q",
    ]);
    let r = run(
        d,
        &[
            "delta", "compute", "v1.csv", "v2.csv", "--key", "id", "-o", "x.csv",
        ],
    );
    assert!(
        r.stderr
            .contains("+1 added, ~1 modified, -1 removed, =1 unchanged"),
        "{}",
        r.stderr
    );
    assert_eq!(
        read(d, "d12.csv"),
        "id,name,score,_ts,_deleted\n2,B,20,2,false\n3,,,2,true\n4,d,4,2,false\n"
    );
    let live = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["delta", "apply"];
        a.extend(args);
        a.extend(["--key", "id", "--live", "--format", "csv", "-q"]);
        ok(&a).lines().skip(1).map(str::to_string).collect()
    };
    assert_eq!(live(&["v1.csv", "d12.csv"]), body("v2.csv"));
    assert_eq!(live(&["v1.csv", "d12.csv", "d23.parquet"]), body("v3.csv"));
    assert_eq!(live(&["v1.csv", "d23.parquet", "d12.csv"]), body("v3.csv"));
    // Twice, or with the composed delta as well: nothing changes.
    assert_eq!(live(&["v1.csv", "d12.csv", "d12.csv"]), body("v2.csv"));
    let c1 = ok(&[
        "delta",
        "compose",
        "d12.csv",
        "d23.parquet",
        "--key",
        "id",
        "--format",
        "csv",
        "-q",
    ]);
    let c2 = ok(&[
        "delta",
        "compose",
        "d23.parquet",
        "d12.csv",
        "--key",
        "id",
        "--format",
        "csv",
        "-q",
    ]);
    assert_eq!(c1, c2, "compose is commutative");
    ok(&[
        "delta",
        "compose",
        "d12.csv",
        "d23.parquet",
        "--key",
        "id",
        "-o",
        "d13.csv",
        "-q",
    ]);
    assert_eq!(live(&["v1.csv", "d13.csv"]), body("v3.csv"));
    assert_eq!(
        live(&["v1.csv", "d13.csv", "d23.parquet", "d12.csv"]),
        body("v3.csv")
    );
    // Key 3 was deleted at clock 2 and written again at 3: the later write wins.
    assert!(body("v3.csv").contains(&"3,C,30,3".to_string()));
    // Bad input: two rows with one key, a missing key column, an unknown subcommand argument.
    let r = run(d, &["delta", "compute", "dup.csv", "v2.csv", "--key", "id"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("'dup.csv' (OLD)") && r.stderr.contains("one row per key"),
        "{}",
        r.stderr
    );
    let r = run(
        d,
        &["delta", "compute", "v1.csv", "v2.csv", "--key", "nope"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("`nope`"), "{}", r.stderr);
    let r = run(
        d,
        &[
            "delta",
            "compute",
            "v1.csv",
            "v2.csv",
            "--key",
            "id",
            "--delete-clock",
            "later",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("delete_clock"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// `crdt-merge gossip`: merging stores in any order gives one store, a sync leaves both files
/// equal and a second sync ships nothing, and bad input is a one-line error naming the file or
/// the argument.
#[test]
fn gossip_commands_converge_and_refuse_bad_input() {
    let dir = seed_dir();
    let d = dir.path();
    let ok = |args: &[&str]| {
        let r = run(d, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    for (f, n, v) in [("a.g", "n1", "1"), ("b.g", "n2", "2"), ("c.g", "n3", "3")] {
        ok(&["gossip", "init", f]);
        ok(&["gossip", "update", f, "k", v, "--node", n]);
        ok(&[
            "gossip",
            "update",
            f,
            &format!("own-{n}"),
            "true",
            "--node",
            n,
        ]);
    }
    let m1 = ok(&["gossip", "merge", "a.g", "b.g", "c.g"]);
    let m2 = ok(&["gossip", "merge", "c.g", "a.g", "b.g", "a.g"]);
    assert_eq!(m1, m2);
    ok(&["gossip", "merge", "a.g", "b.g", "c.g", "-o", "all.g"]);
    assert_eq!(ok(&["gossip", "get", "all.g", "k"]), "[1,2,3]\n");
    ok(&["gossip", "sync", "a.g", "b.g"]);
    ok(&["gossip", "sync", "b.g", "c.g"]);
    ok(&["gossip", "sync", "a.g", "b.g"]);
    let digest = ok(&["gossip", "digest", "all.g"]);
    for f in ["a.g", "b.g", "c.g"] {
        assert_eq!(ok(&["gossip", "digest", f]), digest, "{f}");
    }
    assert!(ok(&["gossip", "sync", "a.g", "c.g"]).starts_with("keys: 0 sent, 0 received"));
    // A write after seeing all three supersedes them.
    ok(&["gossip", "update", "a.g", "k", "\"last\"", "--node", "n2"]);
    ok(&["gossip", "sync", "c.g", "a.g"]);
    assert_eq!(ok(&["gossip", "get", "c.g", "k"]), "[\"last\"]\n");
    let bad = |args: &[&str], code: i32, needle: &str| {
        let r = run(d, args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    };
    bad(
        &["gossip", "update", "a.g", "k", "not json", "--node", "n1"],
        2,
        "expected JSON",
    );
    bad(
        &["gossip", "update", "a.g", "k", "1", "--node", ""],
        2,
        "--node",
    );
    bad(&["gossip", "get", "a.csv", "k"], 3, "a.csv");
    bad(&["gossip", "get", "missing.g", "k"], 3, "missing.g");
    ok(&[
        "clock",
        "create",
        "vectorclock",
        "--node",
        "n1",
        "-o",
        "v.clock",
    ]);
    bad(
        &["gossip", "get", "v.clock", "k"],
        3,
        "expected a gossip_state, found a vector_clock",
    );
}

/// `crdt-merge wire`: serialize and deserialize round-trip every state type's dict form, the
/// compressed frame is smaller and decodes to the same state, and bad input names the file or
/// the type.
#[test]
fn wire_commands_round_trip_and_refuse_bad_input() {
    let dir = seed_dir();
    let d = dir.path();
    let ok = |args: &[&str]| {
        let r = run(d, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    let cases = [
        ("g_counter", r#"{"counts":{"a":1,"b":300}}"#),
        (
            "pncounter",
            r#"{"pos":{"counts":{"a":4}},"neg":{"counts":{"a":1}}}"#,
        ),
        (
            "lww_register",
            r#"{"value":"v","timestamp":2.5,"node_id":"n1"}"#,
        ),
        ("vector_clock", r#"{"clocks":{"a":3,"b":1}}"#),
        ("dvv", r#"{"base":{"clocks":{"a":1}},"dot":["b",2]}"#),
    ];
    for (kind, dict) in cases {
        std::fs::write(d.join("s.json"), dict).expect("s.json");
        ok(&[
            "wire",
            "serialize",
            "s.json",
            "--type",
            kind,
            "-o",
            "s.crdt",
        ]);
        let json = ok(&["wire", "deserialize", "s.crdt"]);
        // Our canonical JSON is a dict form too: serializing it again gives the same bytes.
        std::fs::write(d.join("t.json"), &json).expect("t.json");
        ok(&[
            "wire",
            "serialize",
            "t.json",
            "--type",
            kind,
            "-o",
            "t.crdt",
        ]);
        assert_eq!(
            std::fs::read(d.join("s.crdt")).unwrap(),
            std::fs::read(d.join("t.crdt")).unwrap(),
            "{kind}"
        );
    }
    let counts: Vec<String> = (0..300)
        .map(|i| format!("\"replica-{i:03}\": {i}"))
        .collect();
    std::fs::write(
        d.join("big.json"),
        format!("{{\"counts\": {{{}}}}}", counts.join(", ")),
    )
    .unwrap();
    ok(&[
        "wire",
        "serialize",
        "big.json",
        "--type",
        "gcounter",
        "-o",
        "plain.crdt",
    ]);
    ok(&[
        "wire",
        "serialize",
        "big.json",
        "--type",
        "gcounter",
        "--compress",
        "-o",
        "z.crdt",
    ]);
    let size = ok(&["wire", "size", "z.crdt"]);
    assert!(size.contains("\"compressed\":true"), "{size}");
    assert!(
        std::fs::metadata(d.join("z.crdt")).unwrap().len()
            < std::fs::metadata(d.join("plain.crdt")).unwrap().len()
    );
    assert_eq!(
        ok(&["wire", "deserialize", "z.crdt"]),
        ok(&["wire", "deserialize", "plain.crdt"])
    );
    let bad = |args: &[&str], code: i32, needle: &str| {
        let r = run(d, args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    };
    bad(
        &["wire", "serialize", "counter.json", "--type", "nope"],
        2,
        "expected one of g_counter",
    );
    bad(
        &["wire", "serialize", "a.csv", "--type", "gcounter"],
        3,
        "a.csv: not JSON",
    );
    std::fs::write(d.join("neg.json"), r#"{"counts":{"a":-1}}"#).unwrap();
    bad(
        &["wire", "serialize", "neg.json", "--type", "gcounter"],
        3,
        "negative count",
    );
    bad(&["wire", "size", "a.csv"], 3, "not a wire frame");
    bad(&["wire", "deserialize", "missing.crdt"], 3, "missing.crdt");
}

/// `crdt-merge merge --stream`: sorted inputs give the same bytes as the whole merge (across
/// chunk boundaries, with a column only one input has), and an unsorted input is an error
/// naming the file and the row.
#[test]
fn stream_merge_equals_the_whole_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut a = String::from("id,name,score,_ts\n");
    let mut b = String::from("id,name,tag,_ts\n");
    for i in 0..20_000u64 {
        if i % 2 == 0 {
            a.push_str(&format!("{i},a{},{},{}\n", i % 7, i % 100, (i * 7) % 13));
        }
        if i % 3 == 0 && i < 12_000 {
            b.push_str(&format!("{i},b{},t{},{}\n", i % 5, i % 3, (i * 5) % 13));
        }
    }
    std::fs::write(d.join("a.csv"), a).unwrap();
    std::fs::write(d.join("b.csv"), b).unwrap();
    std::fs::write(
        d.join("u.csv"),
        "id,name,score,_ts\n1,x,1,1\n3,y,1,1\n2,z,1,1\n",
    )
    .unwrap();
    let ok = |args: &[&str]| {
        let r = run(d, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    };
    ok(&[
        "merge",
        "a.csv",
        "b.csv",
        "--key",
        "id",
        "-s",
        "score=max",
        "-o",
        "whole.csv",
        "-q",
    ]);
    ok(&[
        "merge",
        "a.csv",
        "b.csv",
        "--key",
        "id",
        "-s",
        "score=max",
        "--stream",
        "-o",
        "s.csv",
        "-q",
    ]);
    assert_eq!(read(d, "whole.csv"), read(d, "s.csv"));
    let r = run(
        d,
        &[
            "merge", "a.csv", "u.csv", "--key", "id", "--stream", "-o", "x.csv",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("'u.csv' is not sorted by id (row 3"),
        "{}",
        r.stderr
    );
}
