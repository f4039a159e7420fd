//! The shared conformance corpus (`sql/*.slt`, conventions in `sql/README.md`) on DataFusion,
//! once on one partition and once on four partitions with small batches, so that aggregation
//! runs as partial states combined across partitions.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{SessionConfig, SessionContext};

const ENGINE: &str = "datafusion";

/// Records known to fail for a reason outside this crate: (file, text in the record's SQL,
/// reason). Strict: a listed record that passes fails the run, so the list cannot go stale.
const KNOWN_FAILURES: &[(&str, &str, &str)] = &[];

#[derive(Debug)]
enum Expect {
    StatementOk,
    Error(String),
    Rows { sort: bool, lines: Vec<String> },
}

#[derive(Debug)]
struct Record {
    line: usize,
    sql: String,
    expect: Expect,
}

fn parse(text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut skip = false;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        if let Some(e) = l.strip_prefix("onlyif ") {
            skip |= e.trim() != ENGINE;
            i += 1;
            continue;
        }
        if let Some(e) = l.strip_prefix("skipif ") {
            skip |= e.trim() == ENGINE;
            i += 1;
            continue;
        }
        let header = l;
        let header_line = i + 1;
        let start = i + 1;
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim_end() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let mut result = Vec::new();
        if i < lines.len() && lines[i].trim_end() == "----" {
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                result.push(lines[i].to_string());
                i += 1;
            }
        }
        let words: Vec<&str> = header.split_whitespace().collect();
        let error_text = |prefix: &str| header[prefix.len()..].trim().to_string();
        let expect = match words.as_slice() {
            ["statement", "ok"] => Expect::StatementOk,
            ["statement", "error", ..] => Expect::Error(error_text("statement error")),
            ["query", "error", ..] => Expect::Error(error_text("query error")),
            ["query", rest @ ..] => Expect::Rows {
                sort: rest.contains(&"rowsort"),
                lines: result,
            },
            _ => panic!("line {start}: unknown record `{header}`"),
        };
        if !skip {
            out.push(Record {
                line: header_line,
                sql: sql.join("\n"),
                expect,
            });
        }
        skip = false;
    }
    out
}

/// Python's `repr` of a float: shortest round trip, fixed notation for exponents in -4..16.
fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return "0.0".into();
    }
    let e = format!("{x:e}");
    let (mant, exp) = e.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("exponent");
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let p = exp as usize + 1;
            let int = if digits.len() >= p {
                digits[..p].to_string()
            } else {
                format!("{digits}{}", "0".repeat(p - digits.len()))
            };
            let frac = if digits.len() > p { &digits[p..] } else { "0" };
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let m = mant.trim_start_matches('-');
        format!(
            "{sign}{m}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

fn value(a: &ArrayRef, i: usize, nested: bool) -> String {
    if a.is_null(i) {
        return "NULL".into();
    }
    match a.data_type() {
        DataType::Float64 => py_float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => py_float(
            a.as_primitive::<Float32Type>()
                .value(i)
                .to_string()
                .parse()
                .expect("f32 text"),
        ),
        DataType::Float16 => py_float(a.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = match a.data_type() {
                DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
                DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
                _ => a.as_string_view().value(i).to_string(),
            };
            if s.is_empty() {
                "(empty)".into()
            } else {
                s
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let b: &[u8] = match a.data_type() {
                DataType::Binary => a.as_binary::<i32>().value(i),
                DataType::LargeBinary => a.as_binary::<i64>().value(i),
                _ => a.as_binary_view().value(i),
            };
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("\\x{hex}")
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
            let items: ArrayRef = match a.data_type() {
                DataType::List(_) => a.as_list::<i32>().value(i),
                DataType::LargeList(_) => a.as_list::<i64>().value(i),
                _ => a.as_fixed_size_list().value(i),
            };
            let parts: Vec<String> = (0..items.len()).map(|j| value(&items, j, true)).collect();
            format!("[{}]", parts.join(", "))
        }
        _ => {
            let _ = nested;
            let opts = FormatOptions::default();
            ArrayFormatter::try_new(a.as_ref(), &opts)
                .map(|f| f.value(i).to_string())
                .unwrap_or_else(|e| format!("<{e}>"))
        }
    }
}

fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cols: Vec<String> = b.columns().iter().map(|c| value(c, r, false)).collect();
            out.push(cols.join(" "));
        }
    }
    out
}

fn context(partitions: usize, skip_partial: bool) -> SessionContext {
    let mut config = SessionConfig::new().with_target_partitions(partitions);
    if partitions > 1 {
        // Small batches so round-robin repartitioning spreads every group over partitions.
        config = config.with_batch_size(7);
    }
    if skip_partial {
        // Partial aggregation gives up at once and converts every row to a state
        // (GroupsAccumulator::convert_to_state).
        let opts = &mut config.options_mut().execution;
        opts.skip_partial_aggregation_probe_rows_threshold = 0;
        opts.skip_partial_aggregation_probe_ratio_threshold = 0.0;
    }
    let ctx = SessionContext::new_with_config(config);
    crdt_merge_datafusion::register_all(&ctx).expect("register");
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let df = ctx.sql(sql).await.map_err(|e| e.to_string())?;
    df.collect().await.map_err(|e| e.to_string())
}

/// Runs one file; returns (passed, failures).
async fn run_file(path: &Path, partitions: usize, skip_partial: bool) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).expect("read slt");
    let ctx = context(partitions, skip_partial);
    let mut passed = 0;
    let mut failures = Vec::new();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    for rec in parse(&text) {
        let got = run(&ctx, &rec.sql).await;
        let problem = match (&rec.expect, got) {
            (Expect::StatementOk, Ok(_)) => None,
            (Expect::StatementOk, Err(e)) => Some(format!("unexpected error: {e}")),
            (Expect::Error(want), Err(e)) => (!e.to_lowercase().contains(&want.to_lowercase()))
                .then(|| format!("error `{e}` does not contain `{want}`")),
            (Expect::Error(want), Ok(_)) => Some(format!("expected an error containing `{want}`")),
            (Expect::Rows { .. }, Err(e)) => Some(format!("unexpected error: {e}")),
            (Expect::Rows { sort, lines: want }, Ok(batches)) => {
                let mut have = lines(&batches);
                let mut want = want.clone();
                if *sort {
                    have.sort();
                    want.sort();
                }
                (have != want).then(|| {
                    format!(
                        "result differs\n--- expected\n{}\n--- actual\n{}",
                        want.join("\n"),
                        have.join("\n")
                    )
                })
            }
        };
        let known = KNOWN_FAILURES
            .iter()
            .find(|(f, sql, _)| *f == name && rec.sql.contains(sql));
        match (problem, known) {
            (None, None) => passed += 1,
            (Some(p), Some((_, _, why))) => {
                eprintln!("{name}:{}: known failure ({why}): {p}", rec.line);
            }
            (None, Some(_)) => failures.push(format!(
                "{name}:{} passes now: remove it from KNOWN_FAILURES",
                rec.line
            )),
            (Some(p), None) => failures.push(format!(
                "{name}:{} ({partitions} partitions)\n{}\n{p}",
                rec.line, rec.sql
            )),
        }
    }
    (passed, failures)
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sql/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    files
}

async fn run_corpus(partitions: usize, skip_partial: bool) {
    let only = std::env::var("SLT_FILE").ok();
    let mut total_passed = 0;
    let mut all_failures = Vec::new();
    for f in corpus() {
        if let Some(o) = &only {
            if !f.to_string_lossy().contains(o.as_str()) {
                continue;
            }
        }
        let (p, fails) = run_file(&f, partitions, skip_partial).await;
        eprintln!(
            "{}: {} passed, {} failed ({partitions} partitions)",
            f.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            p,
            fails.len()
        );
        total_passed += p;
        all_failures.extend(fails);
    }
    eprintln!(
        "corpus, {partitions} partitions: {total_passed} records passed, {} failed",
        all_failures.len()
    );
    assert!(
        all_failures.is_empty(),
        "{} corpus records failed:\n\n{}",
        all_failures.len(),
        all_failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_one_partition() {
    run_corpus(1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corpus_four_partitions() {
    run_corpus(4, false).await;
}

/// Four partitions where the partial phase converts rows straight to states.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corpus_four_partitions_skipping_partial_aggregation() {
    run_corpus(4, true).await;
}

/// The four-partition run really aggregates in two phases over repartitioned input.
#[tokio::test]
async fn four_partitions_plan_is_partial_then_final() {
    let ctx = context(4, false);
    run(
        &ctx,
        "CREATE TABLE t AS SELECT i % 10 AS k, i AS v FROM generate_series(1, 1000) AS g(i)",
    )
    .await
    .expect("create");
    let plan = run(&ctx, "EXPLAIN SELECT k, crdt_max(v) AS m FROM t GROUP BY k")
        .await
        .expect("explain");
    let text = lines(&plan).join("\n");
    assert!(text.contains("mode=Partial"), "{text}");
    assert!(text.contains("RepartitionExec"), "{text}");
}

#[test]
fn python_float_repr() {
    for (x, s) in [
        (3.0, "3.0"),
        (1.5, "1.5"),
        (-0.0, "0.0"),
        (0.1, "0.1"),
        (1e16, "1e+16"),
        (1.5e-5, "1.5e-05"),
        (0.0001, "0.0001"),
        (123456789012345.0, "123456789012345.0"),
        (-2.5e20, "-2.5e+20"),
    ] {
        assert_eq!(py_float(x), s);
    }
}
