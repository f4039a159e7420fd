//! `crdt-merge verify A B ... --key K [--spec ...]`: checks that a merge spec is lawful on the
//! user's own replicas, through materialised intermediate results (what happens when merged
//! tables are merged again, by other replicas, in other orders):
//!
//! * commutativity: `merge(X, Y) = merge(Y, X)`;
//! * associativity: `merge(merge(X, Y), Z) = merge(X, merge(Y, Z))`;
//! * idempotence: `merge(X, X) = merge(X)`;
//!
//! for the inputs as given and for `--trials` random regroupings of all their rows into three
//! replicas (seeded, so a run can be repeated). Results compare by table digest. When a law
//! fails, the rows of one key that break it are shrunk to a minimal set (rows are removed while
//! the law still fails) and printed with both results on standard error; the exit code is 1.
//!
//! The usual finding: a spec whose cells are last-writer-wins on the row clock alone is not
//! associative once merged rows are merged again (the merged row carries one clock for cells
//! that came from different writes); `--cell-clocks` in `crdt-merge merge` keeps each cell's
//! clock and makes it lawful.

use std::sync::Arc;

use crdt_merge_kernel::digest::canonical::{Encoder, Fields};
use crdt_merge_kernel::digest::{Fingerprint, RowIds};
use crdt_merge_kernel::mergeql::{MergeSpec, Source as SpecSource};
use crdt_merge_kernel::table::{self, PlanChoice, Replica};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StructArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take_record_batch};

use crate::digest::{key_array, Source};
use crate::spec_flags::SpecFlags;
use crate::{kernel_error, CliError, Result};

/// `crdt-merge verify ...`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Replicas: DuckDB files (with --table), Parquet, CSV or JSON-lines files; one or more.
    #[arg(required = true, num_args = 1..)]
    inputs: Vec<String>,
    /// The table (DuckDB files).
    #[arg(long, short = 't')]
    table: Option<String>,
    /// How rows merge.
    #[command(flatten)]
    merge: SpecFlags,
    /// Keep each last-writer-wins cell's clock (`<col>__ts`) in merged results and read it
    /// back, as `crdt-merge merge --cell-clocks` does.
    #[arg(long)]
    cell_clocks: bool,
    /// Random regroupings to try.
    #[arg(long, default_value_t = 50)]
    trials: usize,
    /// Seed of the regroupings.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn spec(a: &VerifyArgs) -> Result<MergeSpec> {
    let spec = a
        .merge
        .to_spec(a.inputs.iter().map(SpecSource::file).collect())?;
    Ok(if a.cell_clocks {
        spec.with_cell_clocks()
    } else {
        spec
    })
}

struct Ctx<'a> {
    spec: &'a MergeSpec,
    key: &'a [String],
}

impl Ctx<'_> {
    fn merge(&self, parts: &[&RecordBatch]) -> Result<RecordBatch> {
        let replicas: Vec<Replica> = parts
            .iter()
            .enumerate()
            .map(|(i, b)| Replica {
                name: format!("r{i}"),
                batches: vec![(*b).clone()],
            })
            .collect();
        Ok(table::merge(&replicas, self.spec, PlanChoice::Grouped)
            .map_err(kernel_error)?
            .batch)
    }

    fn digest(&self, b: &RecordBatch) -> Result<[u8; 16]> {
        let k = key_array(b, self.key, "merged")?;
        let row: ArrayRef = Arc::new(StructArray::from(b.clone()));
        let mut ids = RowIds::new("crdt-merge verify", &k, &row, None).map_err(kernel_error)?;
        let mut f = Fingerprint::EMPTY;
        for i in 0..b.num_rows() {
            if let Some(id) = ids.id(i) {
                f.add_id(&id);
            }
        }
        Ok(f.finish())
    }

    /// The first law that fails on (x, y, z), with its two results.
    fn check(
        &self,
        x: &RecordBatch,
        y: &RecordBatch,
        z: &RecordBatch,
    ) -> Result<Option<(&'static str, RecordBatch, RecordBatch)>> {
        let xy = self.merge(&[x, y])?;
        let yx = self.merge(&[y, x])?;
        if self.digest(&xy)? != self.digest(&yx)? {
            return Ok(Some(("commutativity: merge(X, Y) ≠ merge(Y, X)", xy, yx)));
        }
        let left = self.merge(&[&xy, z])?;
        let yz = self.merge(&[y, z])?;
        let right = self.merge(&[x, &yz])?;
        if self.digest(&left)? != self.digest(&right)? {
            return Ok(Some((
                "associativity: merge(merge(X, Y), Z) ≠ merge(X, merge(Y, Z))",
                left,
                right,
            )));
        }
        let xx = self.merge(&[x, x])?;
        let x1 = self.merge(&[x])?;
        if self.digest(&xx)? != self.digest(&x1)? {
            return Ok(Some(("idempotence: merge(X, X) ≠ merge(X)", xx, x1)));
        }
        Ok(None)
    }
}

/// xorshift64*: a small seeded generator (the regroupings must repeat under one seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn pick(b: &RecordBatch, idx: &[u32]) -> Result<RecordBatch> {
    take_record_batch(b, &UInt32Array::from(idx.to_vec())).map_err(|e| CliError::Run(e.to_string()))
}

fn rows_json(b: &RecordBatch) -> String {
    let mut buf = Vec::new();
    {
        use datafusion::arrow::json::writer::{LineDelimited, WriterBuilder};
        let mut w = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(&mut buf);
        let _ = w.write(b);
        let _ = w.finish();
    }
    String::from_utf8_lossy(&buf).trim_end().to_string()
}

/// Runs `crdt-merge verify`.
pub async fn run(a: VerifyArgs) -> Result<()> {
    let spec = spec(&a)?;
    let cx = Ctx {
        spec: &spec,
        key: &a.merge.key,
    };
    let mut inputs = Vec::new();
    for p in &a.inputs {
        let (schema, batches) = Source::of(p, a.table.as_deref())?.batches().await?;
        inputs.push(concat_batches(&schema, &batches).map_err(|e| CliError::Run(e.to_string()))?);
    }
    let widened = inputs;
    let all = {
        let refs: Vec<&RecordBatch> = widened.iter().collect();
        concat_all(&refs)?
    };
    let n = all.num_rows() as u32;
    let empty = pick(&all, &[])?;
    let mut rng = Rng(a.seed.max(1));
    let mut failure = None;
    // The inputs as given first, then random regroupings into three replicas.
    let given: Vec<&RecordBatch> = widened.iter().collect();
    let (x0, y0, z0) = match given.len() {
        1 => (given[0].clone(), empty.clone(), empty.clone()),
        2 => (given[0].clone(), given[1].clone(), empty.clone()),
        _ => (given[0].clone(), given[1].clone(), concat_all(&given[2..])?),
    };
    if let Some(f) = cx.check(&x0, &y0, &z0)? {
        failure = Some((f, [x0, y0, z0]));
    }
    let mut tried = 1;
    while failure.is_none() && tried <= a.trials {
        let mut groups: [Vec<u32>; 3] = Default::default();
        for i in 0..n {
            groups[(rng.next() % 3) as usize].push(i);
        }
        let g: Vec<RecordBatch> = groups
            .iter()
            .map(|ix| pick(&all, ix))
            .collect::<Result<_>>()?;
        if let Some(f) = cx.check(&g[0], &g[1], &g[2])? {
            failure = Some((f, [g[0].clone(), g[1].clone(), g[2].clone()]));
        }
        tried += 1;
    }
    let Some((_, parts)) = failure else {
        println!(
            "laws hold: commutativity, associativity, idempotence over {} groupings ({} rows, seed {})",
            tried,
            n,
            a.seed
        );
        return Ok(());
    };
    // Shrink: keep one key's rows, then drop rows while the law still fails.
    let mut parts: Vec<RecordBatch> = parts.to_vec();
    let keys_of = |b: &RecordBatch| -> Result<Vec<Vec<u8>>> {
        let k = key_array(b, &a.merge.key, "replica")?;
        let e = Encoder::new("crdt-merge verify", "key", k.as_ref(), Fields::Positional)
            .map_err(kernel_error)?;
        Ok((0..b.num_rows())
            .map(|i| {
                let mut v = Vec::new();
                e.encode(i, &mut v);
                v
            })
            .collect())
    };
    let mut all_keys: Vec<Vec<u8>> = parts
        .iter()
        .map(&keys_of)
        .collect::<Result<Vec<_>>>()?
        .concat();
    all_keys.sort();
    all_keys.dedup();
    for k in &all_keys {
        let only: Vec<RecordBatch> = parts
            .iter()
            .map(|p| {
                let ks = keys_of(p)?;
                let ix: Vec<u32> = (0..p.num_rows() as u32)
                    .filter(|&i| &ks[i as usize] == k)
                    .collect();
                pick(p, &ix)
            })
            .collect::<Result<_>>()?;
        if cx.check(&only[0], &only[1], &only[2])?.is_some() {
            parts = only;
            break;
        }
    }
    loop {
        let mut shrunk = false;
        'outer: for p in 0..3 {
            for r in 0..parts[p].num_rows() as u32 {
                let mut trial = parts.clone();
                let ix: Vec<u32> = (0..parts[p].num_rows() as u32)
                    .filter(|&i| i != r)
                    .collect();
                trial[p] = pick(&parts[p], &ix)?;
                if cx.check(&trial[0], &trial[1], &trial[2])?.is_some() {
                    parts = trial;
                    shrunk = true;
                    break 'outer;
                }
            }
        }
        if !shrunk {
            break;
        }
    }
    let Some((law, l, r)) = cx.check(&parts[0], &parts[1], &parts[2])? else {
        return Err(CliError::Run(
            "verify: internal error: the counterexample vanished".into(),
        ));
    };
    let mut msg = format!("law fails: {law}\n");
    for (name, p) in ["X", "Y", "Z"].iter().zip(&parts) {
        msg.push_str(&format!("{name} = {}\n", rows_json(p).replace('\n', " ")));
    }
    msg.push_str(&format!(
        "left  = {}\nright = {}",
        rows_json(&l).replace('\n', " "),
        rows_json(&r).replace('\n', " ")
    ));
    // On standard error, with the error line: a failing check's whole report.
    eprintln!("{msg}");
    Err(CliError::Run(format!("{law} (counterexample above)")))
}

fn concat_all(parts: &[&RecordBatch]) -> Result<RecordBatch> {
    // Inputs may differ in column order or width: the same columns by name are required, cast
    // to the first input's types.
    let first = parts[0].schema();
    let mut aligned = Vec::with_capacity(parts.len());
    for p in parts {
        let mut cols = Vec::with_capacity(first.fields().len());
        for f in first.fields() {
            let i = p.schema().index_of(f.name()).map_err(|_| {
                CliError::Usage(format!(
                    "verify: every input needs the column '{}' (inputs must have the same columns)",
                    f.name()
                ))
            })?;
            let c = p.column(i);
            cols.push(if c.data_type() == f.data_type() {
                c.clone()
            } else {
                datafusion::arrow::compute::cast(c, f.data_type())
                    .map_err(|e| CliError::Usage(format!("verify: column '{}': {e}", f.name())))?
            });
        }
        aligned.push(
            RecordBatch::try_new(first.clone(), cols).map_err(|e| CliError::Run(e.to_string()))?,
        );
    }
    concat_batches(&first, &aligned).map_err(|e| CliError::Run(e.to_string()))
}
