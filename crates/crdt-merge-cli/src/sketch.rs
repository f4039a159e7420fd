//! `crdt-merge sketch build|merge|query` and `crdt-merge dedup`: the Python library's
//! `probabilistic` and `dedup` surface. Building runs the SQL aggregate (`crdt_hll_agg`, ...)
//! over the file in DataFusion, so a STATE file holds exactly the bytes the SQL function
//! returns in every engine; merging and querying are the kernel's.

use std::sync::Arc;

use clap::{Subcommand, ValueEnum};
use crdt_merge_kernel::catalogue::invoke_scalar;
use crdt_merge_kernel::sketch::dedup::{self, Method};
use crdt_merge_kernel::value::Value;
use crdt_merge_kernel::wire;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, BooleanBuilder, Float64Array, Int64Array,
    StringArray,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::Sink;
use crate::{check_file, context, df_error, kernel_error, CliError, Result};

/// `crdt-merge sketch ...`.
#[derive(clap::Args, Debug)]
pub struct SketchArgs {
    #[command(subcommand)]
    command: SketchCommand,
}

#[derive(Subcommand, Debug)]
enum SketchCommand {
    /// Build a sketch of one column of a file (CSV, Parquet or JSON lines).
    Build(BuildArgs),
    /// Merge sketch states (any order, any repetition: the same answer).
    Merge(MergeArgs),
    /// Ask a sketch state a question.
    Query(QueryArgs),
}

/// The sketch kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Hll,
    Theta,
    Bloom,
    Cms,
    Minhash,
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// Input file.
    file: String,
    /// Column whose values are sketched.
    #[arg(long, short = 'c')]
    column: String,
    /// Which sketch.
    #[arg(long)]
    kind: Kind,
    /// Count-Min: the column naming the replica that counted each row (default: the file name,
    /// one replica).
    #[arg(long)]
    replica: Option<String>,
    /// Count-Min: a column of counts (default 1 per row).
    #[arg(long)]
    count: Option<String>,
    /// HLL precision, 4..18.
    #[arg(long, default_value_t = 14)]
    precision: i64,
    /// HLL hash family: murmur3, pg_hll or upstream.
    #[arg(long, default_value = "murmur3")]
    family: String,
    /// Theta: lg of the nominal size, 5..26.
    #[arg(long, default_value_t = 12)]
    lg_k: i64,
    /// Bloom capacity.
    #[arg(long, default_value_t = 10_000)]
    capacity: i64,
    /// Bloom false-positive rate.
    #[arg(long, default_value_t = 0.01)]
    fp_rate: f64,
    /// Count-Min width.
    #[arg(long, default_value_t = 2000)]
    width: i64,
    /// Count-Min depth.
    #[arg(long, default_value_t = 7)]
    depth: i64,
    /// MinHash permutations.
    #[arg(long, default_value_t = 128)]
    num_perm: i64,
    /// MinHash seed.
    #[arg(long, default_value_t = 1)]
    seed: i64,
    /// Output STATE file.
    #[arg(long, short = 'o', required = true)]
    output: String,
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// State files, one or more.
    #[arg(required = true, num_args = 1..)]
    states: Vec<String>,
    /// Output STATE file.
    #[arg(long, short = 'o', required = true)]
    output: String,
}

/// How a value given on the command line is typed (it hashes as that type).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ValueType {
    /// An integer when it parses as one, else text.
    Auto,
    Int,
    Float,
    Text,
}

#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("question")
        .required(true)
        .args(["count", "contains", "estimate", "jaccard"])
))]
struct QueryArgs {
    /// State file.
    state: String,
    /// HLL or Theta: the estimated number of distinct values.
    #[arg(long)]
    count: bool,
    /// Bloom: whether V may be in the set.
    #[arg(long, value_name = "V")]
    contains: Option<String>,
    /// Count-Min: the estimated count of V.
    #[arg(long, value_name = "V")]
    estimate: Option<String>,
    /// MinHash: the estimated Jaccard similarity with the state in OTHER.
    #[arg(long, value_name = "OTHER")]
    jaccard: Option<String>,
    /// The type of V: values hash by type, so an integer column needs an integer.
    #[arg(long = "as", value_enum, default_value_t = ValueType::Auto)]
    value_type: ValueType,
}

/// `crdt-merge dedup`.
#[derive(clap::Args, Debug)]
pub struct DedupArgs {
    /// Input file.
    pub(crate) file: String,
    /// Key column: each cluster of duplicates keeps its row with the smallest key.
    #[arg(long, short = 'k', required = true)]
    key: String,
    /// Columns compared (default: every other column), joined with " | ".
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
    /// exact (equal normalised text) or minhash (similar text).
    #[arg(long, value_enum, default_value_t = DedupMethod::Exact)]
    method: DedupMethod,
    /// minhash: the Jaccard similarity of character 3-grams at which rows are duplicates.
    #[arg(long, default_value_t = 0.8)]
    threshold: f64,
    /// minhash: permutations.
    #[arg(long, default_value_t = 128)]
    num_perm: i64,
    /// Output file (.csv, .parquet, .jsonl).
    #[arg(long, short = 'o', required = true)]
    output: String,
    /// No summary on standard error.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DedupMethod {
    Exact,
    Minhash,
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn read_state(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError::Input(format!("cannot read '{path}': {e}")))
}

fn write_state(path: &str, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| CliError::Run(format!("cannot write '{path}': {e}")))
}

/// Runs `crdt-merge sketch`.
pub async fn run(a: SketchArgs) -> Result<()> {
    match a.command {
        SketchCommand::Build(b) => build(b).await,
        SketchCommand::Merge(m) => {
            let mut acc: Option<Vec<u8>> = None;
            for p in &m.states {
                let s = read_state(p)?;
                let next = match &acc {
                    None => wire::merge_bytes(&s, &s),
                    Some(cur) => wire::merge_bytes(cur, &s),
                }
                .map_err(|e| CliError::Usage(format!("{p}: {e}")))?;
                acc = Some(next);
            }
            write_state(&m.output, &acc.unwrap_or_default())?;
            eprintln!(
                "crdt-merge: merged {} states into {}",
                m.states.len(),
                m.output
            );
            Ok(())
        }
        SketchCommand::Query(q) => query(q),
    }
}

async fn build(b: BuildArgs) -> Result<()> {
    check_file(&b.file)?;
    let ctx = context(false)?;
    crdt_merge_datafusion::register_file(&ctx, "input", &b.file)
        .await
        .map_err(df_error)?;
    let col = ident(&b.column);
    let call = match b.kind {
        Kind::Hll => format!(
            "crdt_hll_agg({col}, {}, {})",
            b.precision,
            literal(&b.family)
        ),
        Kind::Theta => format!("crdt_theta_agg({col}, {})", b.lg_k),
        Kind::Bloom => format!(
            "crdt_bloom_agg({col}, {}, CAST({} AS DOUBLE))",
            b.capacity,
            literal(&b.fp_rate.to_string())
        ),
        Kind::Cms => format!(
            "crdt_cms_agg({col}, {}, {}, {}, {})",
            b.replica
                .as_deref()
                .map(ident)
                .unwrap_or_else(|| literal(&b.file)),
            b.count.as_deref().map(ident).unwrap_or_else(|| "1".into()),
            b.width,
            b.depth
        ),
        Kind::Minhash => format!("crdt_minhash_agg({col}, {}, {})", b.num_perm, b.seed),
    };
    let df = ctx
        .sql(&format!("SELECT {call} AS s, count({col}) AS n FROM input"))
        .await
        .map_err(df_error)?;
    let batches = df.collect().await.map_err(df_error)?;
    let batch = batches
        .first()
        .ok_or_else(|| CliError::Run("the aggregate returned no row".into()))?;
    let s = batch.column(0);
    let s = datafusion::arrow::compute::cast(s, &DataType::Binary)
        .map_err(|e| CliError::Run(e.to_string()))?;
    let s = s.as_any().downcast_ref::<BinaryArray>().expect("binary");
    if s.is_null(0) {
        return Err(CliError::Usage(format!(
            "column '{}' of '{}' has no non-NULL values: nothing to sketch",
            b.column, b.file
        )));
    }
    write_state(&b.output, s.value(0))?;
    let n = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .map_or(0, |a| a.value(0));
    eprintln!(
        "crdt-merge: {} sketch of {n} values of '{}' written to {} ({} bytes)",
        wire::typeof_bytes(s.value(0)).unwrap_or("?"),
        b.column,
        b.output,
        s.value(0).len()
    );
    Ok(())
}

fn typed_value(v: &str, t: ValueType) -> Result<ArrayRef> {
    Ok(match t {
        ValueType::Int => Arc::new(Int64Array::from(vec![v
            .trim()
            .parse::<i64>()
            .map_err(|_| CliError::Usage(format!("--as int: '{v}' is not an integer")))?])),
        ValueType::Float => Arc::new(Float64Array::from(vec![v
            .trim()
            .parse::<f64>()
            .map_err(|_| CliError::Usage(format!("--as float: '{v}' is not a number")))?])),
        ValueType::Text => Arc::new(StringArray::from(vec![v])),
        ValueType::Auto => match v.parse::<i64>() {
            Ok(i) => Arc::new(Int64Array::from(vec![i])),
            Err(_) => Arc::new(StringArray::from(vec![v])),
        },
    })
}

fn query(q: QueryArgs) -> Result<()> {
    let state = read_state(&q.state)?;
    let blob = |b: &[u8]| -> ArrayRef { Arc::new(BinaryArray::from(vec![b])) };
    let (name, args): (&str, Vec<ArrayRef>) = if q.count {
        let kind = wire::typeof_bytes(&state).map_err(kernel_error)?;
        let f = if kind == "theta" {
            "crdt_theta_count"
        } else {
            "crdt_hll_count"
        };
        (f, vec![blob(&state)])
    } else if let Some(v) = &q.contains {
        (
            "crdt_bloom_contains",
            vec![blob(&state), typed_value(v, q.value_type)?],
        )
    } else if let Some(v) = &q.estimate {
        (
            "crdt_cms_estimate",
            vec![blob(&state), typed_value(v, q.value_type)?],
        )
    } else if let Some(o) = &q.jaccard {
        ("crdt_jaccard", vec![blob(&state), blob(&read_state(o)?)])
    } else {
        return Err(CliError::Usage(
            "say what to ask: --count, --contains, --estimate or --jaccard".into(),
        ));
    };
    let out = invoke_scalar(name, &args, 1).map_err(kernel_error)?;
    let v = Value::from_array(out.as_ref(), 0).map_err(kernel_error)?;
    println!(
        "{}",
        match v {
            Value::Float(f) => format!("{f}"),
            other => other.to_text(),
        }
    );
    Ok(())
}

/// Runs `crdt-merge dedup`.
pub async fn run_dedup(a: DedupArgs) -> Result<()> {
    check_file(&a.file)?;
    let ctx = context(false)?;
    crdt_merge_datafusion::register_file(&ctx, "input", &a.file)
        .await
        .map_err(df_error)?;
    let df = ctx.table("input").await.map_err(df_error)?;
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await.map_err(df_error)?;
    let batch = concat_batches(&Arc::new(schema.clone()), &batches)
        .map_err(|e| CliError::Run(e.to_string()))?;
    let key_idx = schema.index_of(&a.key).map_err(|_| {
        CliError::Usage(format!(
            "--key: '{}' is not a column of '{}'",
            a.key, a.file
        ))
    })?;
    let columns: Vec<usize> = if a.columns.is_empty() {
        (0..schema.fields().len())
            .filter(|&i| i != key_idx)
            .collect()
    } else {
        a.columns
            .iter()
            .map(|c| {
                schema.index_of(c.trim()).map_err(|_| {
                    CliError::Usage(format!("--columns: '{c}' is not a column of '{}'", a.file))
                })
            })
            .collect::<Result<_>>()?
    };
    let n = batch.num_rows();
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("dedup {bar:30} {pos}/{len} rows")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let opts = FormatOptions::default().with_null("");
    let fmts: Vec<ArrayFormatter> = columns
        .iter()
        .map(|&c| ArrayFormatter::try_new(batch.column(c).as_ref(), &opts))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| CliError::Run(e.to_string()))?;
    let keys: Vec<Value> = (0..n)
        .map(|i| Value::from_array(batch.column(key_idx).as_ref(), i))
        .collect::<crdt_merge_kernel::Result<_>>()
        .map_err(kernel_error)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| keys[x].cmp(&keys[y]).then(x.cmp(&y)));
    let mut rank = vec![0usize; n];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    let rows: Vec<(usize, String)> = (0..n)
        .map(|i| {
            bar.inc(1);
            let text = fmts
                .iter()
                .map(|f| f.value(i).to_string())
                .collect::<Vec<_>>()
                .join(" | ");
            (rank[i], text)
        })
        .collect();
    bar.finish_and_clear();
    let method = match a.method {
        DedupMethod::Exact => Method::Exact,
        DedupMethod::Minhash => Method::MinHash {
            threshold: a.threshold,
            num_perm: a.num_perm,
            k: 3,
        },
    };
    let keep = dedup::keep(&rows, method).map_err(kernel_error)?;
    // Kept rows in key order: the same output whatever the input order.
    let mut mask = BooleanBuilder::with_capacity(n);
    keep.iter().for_each(|&k| mask.append_value(k));
    let mask: BooleanArray = mask.finish();
    let kept = filter_record_batch(&batch, &mask).map_err(|e| CliError::Run(e.to_string()))?;
    let kept_order: Vec<usize> = order.iter().copied().filter(|&i| keep[i]).collect();
    let mut pos = vec![0u32; n];
    let mut j = 0u32;
    for i in 0..n {
        if keep[i] {
            pos[i] = j;
            j += 1;
        }
    }
    let idx = datafusion::arrow::array::UInt32Array::from(
        kept_order.iter().map(|&i| pos[i]).collect::<Vec<_>>(),
    );
    let sorted = datafusion::arrow::compute::take_record_batch(&kept, &idx)
        .map_err(|e| CliError::Run(e.to_string()))?;
    let mut sink = Sink::file(&a.output)?;
    sink.write(&sorted)?;
    sink.finish_with_schema(&sorted.schema())?;
    if !a.quiet {
        eprintln!(
            "crdt-merge: {n} rows in, {} kept, {} duplicates removed, written to {}",
            sorted.num_rows(),
            n - sorted.num_rows(),
            a.output
        );
    }
    Ok(())
}
