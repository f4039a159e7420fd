//! `crdt-merge sync SRC DST`: converge two replicas of a table (DuckDB files, Parquet files or
//! directories, in any pair) by shipping only the rows that differ.
//!
//! 1. Each side's rows become negentropy items: (the row clock as `crdt_sync_key` maps it, the
//!    row id). Equal table digests stop after one round.
//! 2. Range-based set reconciliation (`negentropy` 0.5.3, SRC as the client) finds the ids
//!    only one side holds, counting rounds and bytes each way.
//! 3. Those rows travel to the other side and are applied with the table's CRDT join
//!    ([`crdt_merge_kernel::table::merge`] under the merge spec), never by replacing: each side
//!    ends with `merge(SRC, DST)` for every key that differed, so a re-run, a duplicated batch
//!    or a re-run after a crash changes nothing more (the join is idempotent).
//! 4. DuckDB: one transaction per batch of keys (delete the keys' rows, insert their joined
//!    rows). Parquet: the joined table is written to a temporary file in the same directory,
//!    renamed into place, then the files it replaces are removed.
//!
//! Both sides are opened by this process; `--serve` / `tcp://` peers are not built yet.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crdt_merge_kernel::digest::canonical::{Encoder, Fields};
use crdt_merge_kernel::digest::{Fingerprint, RowIds};
use crdt_merge_kernel::mergeql::{MergeSpec, Source as SpecSource};
use crdt_merge_kernel::table::{self, PlanChoice, Replica};
use datafusion::arrow::array::{
    ArrayRef, RecordBatch, RecordBatchIterator, StructArray, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ffi_stream::FFI_ArrowArrayStream;
use negentropy::{Id, Negentropy, NegentropyStorageVector};

use crate::digest::{key_array, Source};
use crate::duckdb_file::DuckDb;
use crate::spec_flags::SpecFlags;
use crate::{kernel_error, quote_ident, CliError, Result};

/// Which sides are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    /// Both sides end with the join.
    Both,
    /// Only SRC is written (rows from DST).
    Pull,
    /// Only DST is written (rows from SRC).
    Push,
}

/// `crdt-merge sync ...`.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// One replica: a DuckDB database file, a Parquet file or a Parquet directory.
    src: String,
    /// The other replica.
    dst: String,
    /// The table (DuckDB files).
    #[arg(long, short = 't')]
    table: Option<String>,
    /// How rows merge.
    #[command(flatten)]
    merge: SpecFlags,
    /// Which sides are written.
    #[arg(long, value_enum, default_value_t = Direction::Both)]
    direction: Direction,
    /// Report what would travel; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Afterwards, check that the written sides' digests are equal.
    #[arg(long)]
    verify: bool,
    /// Rows per DuckDB transaction.
    #[arg(long, default_value_t = 10_000)]
    batch_rows: usize,
}

/// One side's rows with their ids and keys.
struct Rows {
    name: String,
    source: Source,
    schema: SchemaRef,
    batch: RecordBatch,
    ids: Vec<[u8; 32]>,
    keys: Vec<Vec<u8>>,
    digest: Fingerprint,
}

fn canonical_keys(batch: &RecordBatch, key: &[String], name: &str) -> Result<Vec<Vec<u8>>> {
    let k = key_array(batch, key, name)?;
    let enc = Encoder::new("crdt-merge sync", "key", k.as_ref(), Fields::Positional)
        .map_err(kernel_error)?;
    Ok((0..batch.num_rows())
        .map(|i| {
            let mut b = Vec::new();
            enc.encode(i, &mut b);
            b
        })
        .collect())
}

async fn load(name: &str, table: Option<&str>, key: &[String]) -> Result<Rows> {
    let source = Source::of(name, table)?;
    if let Source::Files(p) = &source {
        let path = Path::new(p);
        let parquet = path.is_dir()
            || path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        if !parquet {
            return Err(CliError::Usage(format!(
                "'{name}': sync writes DuckDB files and Parquet files or directories; convert \
                 this file first (crdt-merge sql \"COPY ...\")"
            )));
        }
    }
    let (schema, batches) = source.batches().await?;
    let batch = concat_batches(&schema, &batches).map_err(|e| CliError::Run(e.to_string()))?;
    let row: ArrayRef = Arc::new(StructArray::from(batch.clone()));
    let k = key_array(&batch, key, name)?;
    let mut ids = Vec::with_capacity(batch.num_rows());
    let mut digest = Fingerprint::EMPTY;
    {
        let mut r = RowIds::new("crdt-merge sync", &k, &row, None).map_err(kernel_error)?;
        for i in 0..batch.num_rows() {
            let id = r.id(i).unwrap_or([0; 32]);
            digest.add_id(&id);
            ids.push(id);
        }
    }
    let keys = canonical_keys(&batch, key, name)?;
    Ok(Rows {
        name: name.to_string(),
        source,
        schema,
        batch,
        ids,
        keys,
        digest,
    })
}

fn clocks(rows: &Rows, ts: &str) -> Result<Vec<u64>> {
    let Ok(i) = rows.schema.index_of(ts) else {
        return Ok(vec![0; rows.batch.num_rows()]);
    };
    let col = rows.batch.column(i).clone();
    let f = crdt_merge_kernel::digest::sql::sync_clocks(&col).map_err(kernel_error)?;
    Ok((0..rows.batch.num_rows()).map(f).collect())
}

fn storage(rows: &Rows, ts: &[u64]) -> Result<NegentropyStorageVector> {
    let mut s = NegentropyStorageVector::with_capacity(rows.ids.len());
    for (id, t) in rows.ids.iter().zip(ts) {
        s.insert(*t, Id::from_byte_array(*id))
            .map_err(|e| CliError::Run(format!("negentropy: {e}")))?;
    }
    s.seal()
        .map_err(|e| CliError::Run(format!("negentropy: {e}")))?;
    Ok(s)
}

/// What the reconciliation found and cost.
struct Reconciled {
    rounds: usize,
    sent: usize,
    received: usize,
    have: Vec<[u8; 32]>,
    need: Vec<[u8; 32]>,
}

fn reconcile(src: &NegentropyStorageVector, dst: &NegentropyStorageVector) -> Result<Reconciled> {
    let ne = |e: negentropy::Error| CliError::Run(format!("negentropy: {e}"));
    let mut client = Negentropy::borrowed(src, 0).map_err(ne)?;
    let mut server = Negentropy::borrowed(dst, 0).map_err(ne)?;
    let mut msg = client.initiate().map_err(ne)?;
    let (mut have, mut need) = (Vec::new(), Vec::new());
    let mut r = Reconciled {
        rounds: 0,
        sent: 0,
        received: 0,
        have: Vec::new(),
        need: Vec::new(),
    };
    loop {
        r.sent += msg.len();
        let reply = server.reconcile(&msg).map_err(ne)?;
        r.received += reply.len();
        r.rounds += 1;
        match client
            .reconcile_with_ids(&reply, &mut have, &mut need)
            .map_err(ne)?
        {
            Some(next) => msg = next,
            None => break,
        }
    }
    let uniq = |v: Vec<Id>| -> Vec<[u8; 32]> {
        let mut out: Vec<[u8; 32]> = v.iter().map(|i| *i.as_bytes()).collect();
        out.sort_unstable();
        out.dedup();
        out
    };
    r.have = uniq(have);
    r.need = uniq(need);
    Ok(r)
}

fn take(rows: &Rows, pick: &HashSet<[u8; 32]>) -> Result<RecordBatch> {
    let idx: Vec<u32> = (0..rows.ids.len() as u32)
        .filter(|&i| pick.contains(&rows.ids[i as usize]))
        .collect();
    take_record_batch(&rows.batch, &UInt32Array::from(idx))
        .map_err(|e| CliError::Run(e.to_string()))
}

fn join(spec: &MergeSpec, parts: Vec<(&str, RecordBatch)>) -> Result<RecordBatch> {
    let replicas: Vec<Replica> = parts
        .into_iter()
        .map(|(n, b)| Replica {
            name: n.to_string(),
            batches: vec![b],
        })
        .collect();
    Ok(table::merge(&replicas, spec, PlanChoice::Auto)
        .map_err(kernel_error)?
        .batch)
}

/// Writes the joined rows of the keys in `incoming` into `side`.
fn apply(side: &Rows, incoming: &RecordBatch, spec: &MergeSpec, a: &SyncArgs) -> Result<usize> {
    if incoming.num_rows() == 0 {
        return Ok(0);
    }
    match &side.source {
        Source::DuckDb(file, table) => {
            let keys: HashSet<Vec<u8>> = canonical_keys(incoming, &a.merge.key, &side.name)?
                .into_iter()
                .collect();
            let mine: HashSet<[u8; 32]> = side
                .keys
                .iter()
                .zip(&side.ids)
                .filter(|(k, _)| keys.contains(*k))
                .map(|(_, id)| *id)
                .collect();
            let current = take(side, &mine)?;
            let joined = join(
                spec,
                vec![(&side.name, current), ("incoming", incoming.clone())],
            )?;
            write_duckdb(Path::new(file), table, &joined, &a.merge.key, a.batch_rows)?;
            Ok(joined.num_rows())
        }
        Source::Files(path) => {
            let joined = join(
                spec,
                vec![
                    (&side.name, side.batch.clone()),
                    ("incoming", incoming.clone()),
                ],
            )?;
            write_parquet(Path::new(path), &joined)?;
            Ok(joined.num_rows())
        }
    }
}

fn write_duckdb(
    file: &Path,
    table: &str,
    rows: &RecordBatch,
    key: &[String],
    per: usize,
) -> Result<()> {
    let db = DuckDb::open(file, false)?;
    let t = quote_ident(table);
    let cols: Vec<String> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| quote_ident(f.name()))
        .collect();
    let on: Vec<String> = key
        .iter()
        .map(|k| format!("{t}.{q} = v.{q}", q = quote_ident(k)))
        .collect();
    let bar = progress(rows.num_rows() as u64);
    // The incoming rows are staged in an in-memory database attached for the run: an Arrow scan
    // is process-local and must never reach the file's catalog or its write-ahead log.
    let (_, home) = db.query("SELECT current_database()")?;
    let home = home
        .first()
        .and_then(|b| {
            datafusion::arrow::array::AsArray::as_string_opt::<i32>(b.column(0))
                .map(|a| a.value(0).to_string())
        })
        .ok_or_else(|| CliError::Run("cannot read the DuckDB database name".into()))?;
    db.execute("ATTACH IF NOT EXISTS ':memory:' AS __crdt_sync")?;
    let mut at = 0;
    while at < rows.num_rows() {
        let n = per.max(1).min(rows.num_rows() - at);
        let part = rows.slice(at, n);
        let reader = RecordBatchIterator::new(vec![Ok(part.clone())], part.schema());
        let mut stream = FFI_ArrowArrayStream::new(Box::new(reader));
        db.execute("USE __crdt_sync")?;
        db.arrow_scan("__crdt_sync_stream", &mut stream)?;
        db.execute(
            "CREATE OR REPLACE TABLE __crdt_sync.main.incoming AS SELECT * FROM __crdt_sync_stream",
        )?;
        db.execute("DROP VIEW IF EXISTS __crdt_sync_stream")?;
        db.execute(&format!("USE {}", quote_ident(&home)))?;
        // One transaction per batch: a crash leaves whole batches applied, which a re-run joins
        // again to the same rows.
        db.execute("BEGIN TRANSACTION")?;
        let body = || -> Result<()> {
            db.execute(&format!(
                "DELETE FROM {t} USING __crdt_sync.main.incoming v WHERE {}",
                on.join(" AND ")
            ))?;
            db.execute(&format!(
                "INSERT INTO {t} ({c}) SELECT {c} FROM __crdt_sync.main.incoming",
                c = cols.join(", ")
            ))?;
            Ok(())
        };
        match body() {
            Ok(()) => db.execute("COMMIT")?,
            Err(e) => {
                let _ = db.execute("ROLLBACK");
                return Err(e);
            }
        }
        at += n;
        bar.inc(n as u64);
    }
    db.execute("DETACH __crdt_sync")?;
    bar.finish_and_clear();
    Ok(())
}

fn write_parquet(path: &Path, rows: &RecordBatch) -> Result<()> {
    let (dir, target, replaced): (PathBuf, PathBuf, Vec<PathBuf>) = if path.is_dir() {
        let old: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| CliError::Input(format!("cannot read '{}': {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!("part-{nanos:x}-{}.parquet", std::process::id());
        (path.to_path_buf(), path.join(name), old)
    } else {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        (dir, path.to_path_buf(), Vec::new())
    };
    let tmp = dir.join(format!(".crdt-sync-{}.tmp", std::process::id()));
    let io = |e: std::io::Error| CliError::Run(format!("cannot write '{}': {e}", tmp.display()));
    {
        let f = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(f, rows.schema(), None)
            .map_err(|e| CliError::Run(e.to_string()))?;
        w.write(rows).map_err(|e| CliError::Run(e.to_string()))?;
        let f = w.into_inner().map_err(|e| CliError::Run(e.to_string()))?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &target).map_err(io)?;
    // After the rename: a crash here leaves old and new files side by side, whose rows join to
    // the same table (the new file already holds the join), so a re-run converges.
    for p in replaced.into_iter().filter(|p| p != &target) {
        std::fs::remove_file(&p)
            .map_err(|e| CliError::Run(format!("cannot remove '{}': {e}", p.display())))?;
    }
    Ok(())
}

/// A progress bar on a terminal (hidden otherwise).
fn progress(n: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("sync: applying {bar:30} {pos}/{len} rows")
    {
        bar.set_style(style);
    }
    bar
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn check_columns(a: &Rows, b: &Rows) -> Result<()> {
    let names = |r: &Rows| -> HashSet<String> {
        r.schema.fields().iter().map(|f| f.name().clone()).collect()
    };
    let (x, y) = (names(a), names(b));
    let mut only: Vec<(&String, &str)> = x
        .difference(&y)
        .map(|c| (c, a.name.as_str()))
        .chain(y.difference(&x).map(|c| (c, b.name.as_str())))
        .collect();
    only.sort();
    if let Some((c, side)) = only.first() {
        return Err(CliError::Usage(format!(
            "column '{c}' exists only in '{side}': both replicas need the same columns (nothing was written)"
        )));
    }
    Ok(())
}

/// Runs `crdt-merge sync`.
pub async fn run(a: SyncArgs) -> Result<()> {
    let started = Instant::now();
    let spec = a
        .merge
        .to_spec(vec![SpecSource::file(&a.src), SpecSource::file(&a.dst)])?;
    let src = load(&a.src, a.table.as_deref(), &a.merge.key).await?;
    let dst = load(&a.dst, a.table.as_deref(), &a.merge.key).await?;
    check_columns(&src, &dst)?;
    if src.digest == dst.digest {
        println!(
            "in sync: rounds=1 rows={} digest={} ms={}",
            src.ids.len(),
            hex(&src.digest.finish()),
            started.elapsed().as_millis()
        );
        return Ok(());
    }
    let (s_ts, d_ts) = (clocks(&src, &a.merge.ts)?, clocks(&dst, &a.merge.ts)?);
    let r = reconcile(&storage(&src, &s_ts)?, &storage(&dst, &d_ts)?)?;
    let have: HashSet<[u8; 32]> = r.have.iter().copied().collect();
    let need: HashSet<[u8; 32]> = r.need.iter().copied().collect();
    let to_dst = take(&src, &have)?;
    let to_src = take(&dst, &need)?;
    // negentropy's round trips; the digest comparison rides on the handshake (its 16 bytes each
    // way are counted in the bytes).
    let rounds = r.rounds;
    let (mut wrote_dst, mut wrote_src) = (0, 0);
    if !a.dry_run {
        if a.direction != Direction::Pull {
            wrote_dst = apply(&dst, &to_dst, &spec, &a)?;
        }
        if a.direction != Direction::Push {
            wrote_src = apply(&src, &to_src, &spec, &a)?;
        }
    }
    println!(
        "{}rounds={rounds} sent={} received={} rows_to_dst={} rows_to_src={} rows_written_dst={wrote_dst} rows_written_src={wrote_src} ms={}",
        if a.dry_run { "dry run: " } else { "" },
        r.sent + 16,
        r.received + 16,
        to_dst.num_rows(),
        to_src.num_rows(),
        started.elapsed().as_millis()
    );
    if a.verify && !a.dry_run {
        let s2 = load(&a.src, a.table.as_deref(), &a.merge.key).await?;
        let d2 = load(&a.dst, a.table.as_deref(), &a.merge.key).await?;
        if a.direction == Direction::Both && s2.digest != d2.digest {
            return Err(CliError::Run(format!(
                "verify: digests differ after sync ({} vs {})",
                hex(&s2.digest.finish()),
                hex(&d2.digest.finish())
            )));
        }
        println!(
            "verify: {} rows={} digest={}",
            if s2.digest == d2.digest {
                "equal"
            } else {
                "written side checked"
            },
            d2.ids.len(),
            hex(&d2.digest.finish())
        );
    }
    Ok(())
}
