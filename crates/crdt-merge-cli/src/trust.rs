//! `crdt-merge trust ...`: keys, the PKI, signed deltas, trust-gated merges and the Byzantine
//! simulator, over `crdt-merge-e4` (docs/trust.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crdt_merge_e4::codec::hex;
use crdt_merge_e4::keyfile::{self, SeqFile};
use crdt_merge_e4::simulate;
use crdt_merge_e4::table::{Cell, ColType, TablePayload};
use crdt_merge_e4::wire::Object;
use crdt_merge_e4::{
    gate, Alg, Context, Evidence, Genesis, KeyEventBody, KeyId, Kind, Pki, RegisterLevel,
    RoundParams, SignedDelta, SignedKeyEvent, TrustError, TrustPolicy, TrustState,
};
use crdt_merge_kernel::mergeql;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::digest::Source;
use crate::output::{Format, Sink};
use crate::{with_rule_flags, CliError, Result};

/// `crdt-merge trust ...`.
#[derive(clap::Args, Debug)]
pub struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TrustCommand {
    /// Generate a signing key: KEY (mode 0600) and KEY.pub; prints the key id.
    Keygen {
        /// ed25519, ml-dsa-44, ml-dsa-65, ml-dsa-87 or hybrid (Ed25519 + ML-DSA-65).
        #[arg(long, default_value = "ed25519")]
        alg: String,
        /// The secret key file to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// The PKI: a genesis of k-of-n admin keys and admin-signed key events.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Sign a table delta (a CSV / Parquet / JSON-lines file) or a model contribution.
    Sign(SignArgs),
    /// Verify a signed delta against a PKI: prints `ok ...`, or fails naming what does not hold.
    Verify {
        /// The signed delta.
        delta: PathBuf,
        /// The PKI file.
        #[arg(long)]
        pki: PathBuf,
        /// The context the delta must be signed for.
        #[arg(long)]
        context: Option<String>,
    },
    /// Trust-gated merge of signed table deltas: forged, unsigned and convicted authors'
    /// deltas are dropped and reported; the rest merge with the CRDT join.
    Merge(MergeArgs),
    /// Trust-gated merge of signed model contributions: one contribution per admitted author
    /// for the round, matched to the model files by content id, weights after the probation
    /// cap, merged with a model strategy; prints the receipt.
    MergeModel(MergeModelArgs),
    /// Print a signed delta, PKI, evidence or trust state: fields, key id, signed bytes and
    /// signature in hex (enough for an independent check), or each identity's trust.
    Show {
        /// The file.
        file: PathBuf,
        /// The PKI (for a delta: also check the signature).
        #[arg(long)]
        pki: Option<PathBuf>,
    },
    /// Run the Byzantine simulator: prints its property counters and detection rounds.
    Simulate {
        /// Peers.
        #[arg(long, default_value_t = 16)]
        n: usize,
        /// Byzantine peers (at most n − 2).
        #[arg(long, default_value_t = 5)]
        f: usize,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many seeds from --seed.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
    },
}

#[derive(clap::Subcommand, Debug)]
enum PkiCommand {
    /// A new PKI whose genesis names the admin keys; every event needs --threshold of them.
    Init {
        /// Admin public keys (KEY.pub), one or more.
        #[arg(long, required = true, num_args = 1..)]
        admin: Vec<PathBuf>,
        /// Admin signatures every event needs.
        #[arg(long, default_value_t = 1)]
        threshold: u8,
        /// The PKI file to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Admit an identity (its first public key).
    Register {
        /// The PKI file (updated in place).
        pki: PathBuf,
        /// The identity's public key (KEY.pub).
        #[arg(long)]
        key: PathBuf,
        /// trusted or probation.
        #[arg(long, default_value = "trusted")]
        level: String,
        /// Admin secret keys (as many as the threshold).
        #[arg(long = "admin-key", required = true, num_args = 1..)]
        admin_key: Vec<PathBuf>,
    },
    /// From --from-seq on, the identity signs with a new key.
    Rotate {
        /// The PKI file (updated in place).
        pki: PathBuf,
        /// The identity: its key id (hex) or its first public key (KEY.pub).
        #[arg(long)]
        identity: String,
        /// The new public key.
        #[arg(long)]
        key: PathBuf,
        /// First sequence number signed by the new key (≥ 2).
        #[arg(long)]
        from_seq: u64,
        /// Admin secret keys.
        #[arg(long = "admin-key", required = true, num_args = 1..)]
        admin_key: Vec<PathBuf>,
    },
    /// Deltas of the identity at --from-seq or later are no longer admitted.
    Revoke {
        /// The PKI file (updated in place).
        pki: PathBuf,
        /// The identity: its key id (hex) or its first public key (KEY.pub).
        #[arg(long)]
        identity: String,
        /// First revoked sequence number (≥ 1).
        #[arg(long, default_value_t = 1)]
        from_seq: u64,
        /// Admin secret keys.
        #[arg(long = "admin-key", required = true, num_args = 1..)]
        admin_key: Vec<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct SignArgs {
    /// A table file (.csv, .parquet, .jsonl) or, with --contribution, a model (safetensors
    /// file or directory).
    file: String,
    /// The signing key.
    #[arg(long)]
    key: PathBuf,
    /// The context (dataset, table or study plus a run id).
    #[arg(long)]
    context: String,
    /// The signed delta to write.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Key column(s) of a table.
    #[arg(long, short = 'k', value_delimiter = ',')]
    key_col: Vec<String>,
    /// The clock column of a table (integers).
    #[arg(long, default_value = mergeql::DEFAULT_CLOCK)]
    ts: String,
    /// Sign a model contribution (its content id) instead of a table.
    #[arg(long)]
    contribution: bool,
    /// The contribution's round.
    #[arg(long, default_value_t = 0)]
    round: u64,
    /// The contribution's weight.
    #[arg(long, default_value_t = 1.0)]
    weight: f64,
    /// The sequence number (tests and replays; must be above the high-water mark in KEY.seq).
    #[arg(long)]
    seq: Option<u64>,
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// Signed deltas.
    #[arg(required = true, num_args = 1..)]
    deltas: Vec<PathBuf>,
    /// The PKI file.
    #[arg(long)]
    pki: PathBuf,
    /// The context to merge.
    #[arg(long)]
    context: String,
    /// A column's strategy, COLUMN=STRATEGY; repeatable (as `crdt-merge merge`).
    #[arg(long, short = 's')]
    strategy: Vec<String>,
    /// `prefix`: keep a convicted author's deltas below its first conflicting sequence number.
    #[arg(long, default_value = "exclude")]
    policy: String,
    /// Also write the trust state (deltas, PKI, policy) here.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Output file (.csv, .parquet, .jsonl); standard output as CSV when absent.
    #[arg(long, short = 'o')]
    output: Option<String>,
}

#[derive(clap::Args, Debug)]
struct MergeModelArgs {
    /// Signed contribution deltas (`trust sign MODEL --contribution`).
    #[arg(required = true, num_args = 1..)]
    deltas: Vec<PathBuf>,
    /// The PKI file.
    #[arg(long)]
    pki: PathBuf,
    /// The context to merge.
    #[arg(long)]
    context: String,
    /// The round to merge.
    #[arg(long, default_value_t = 1)]
    round: u64,
    /// The contributed models (`.safetensors` files or model directories), matched to the
    /// signed contributions by content id; repeatable.
    #[arg(long = "model", required = true, num_args = 1..)]
    models: Vec<PathBuf>,
    /// The base model (task-vector strategies).
    #[arg(long)]
    base: Option<PathBuf>,
    /// The model strategy (`crdt-merge model strategies`); weights are the signed ones.
    #[arg(long, short = 's')]
    strategy: String,
    /// A strategy parameter, K=V; repeatable.
    #[arg(long, short = 'p')]
    param: Vec<String>,
    /// Output type: float32, bfloat16, float16, float64.
    #[arg(long)]
    dtype: Option<String>,
    /// Seed of the random strategies.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `prefix`: keep a convicted author's deltas below its first conflicting sequence number.
    #[arg(long, default_value = "exclude")]
    policy: String,
    /// Also write the trust state here.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Output: a `.safetensors` file or a directory.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn e4(e: TrustError) -> CliError {
    match e {
        TrustError::Io { .. } | TrustError::KeyFile { .. } | TrustError::Decode { .. } => {
            CliError::Input(e.to_string())
        }
        TrustError::Invalid(_) => CliError::Usage(e.to_string()),
        _ => CliError::Run(e.to_string()),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| CliError::Input(format!("cannot read '{}': {e}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::Run(format!("cannot write '{}': {e}", path.display())))
}

fn read_pki(path: &Path) -> Result<Pki> {
    Pki::decode(&read(path)?).map_err(|e| CliError::Input(format!("'{}': {e}", path.display())))
}

fn context(name: &str) -> Result<Context> {
    Context::new(name).map_err(|e| CliError::Usage(format!("--context: {e}")))
}

/// Runs `crdt-merge trust`.
pub async fn run(a: TrustArgs) -> Result<()> {
    match a.command {
        TrustCommand::Keygen { alg, output } => {
            let alg = Alg::parse(&alg).map_err(|e| CliError::Usage(format!("--alg: {e}")))?;
            let key = crdt_merge_e4::SigningKey::generate(alg);
            keyfile::write_key_files(&output, &key).map_err(e4)?;
            println!("{}", key.id());
            Ok(())
        }
        TrustCommand::Pki { command } => pki(command),
        TrustCommand::Sign(s) => sign(s).await,
        TrustCommand::Verify {
            delta,
            pki,
            context: ctx,
        } => {
            let pki = read_pki(&pki)?;
            let d = read_delta(&delta)?;
            let h = d.header();
            if let Some(c) = ctx {
                if context(&c)? != h.ctx {
                    return Err(CliError::Run(format!(
                        "'{}' is signed for context {}, not for '{c}'",
                        delta.display(),
                        h.ctx.hex()
                    )));
                }
            }
            if !d.signed.verify(&pki) {
                return Err(CliError::Run(format!(
                    "'{}' does not verify: no key the PKI gives author {} at seq {} signed it",
                    delta.display(),
                    h.author,
                    h.seq
                )));
            }
            if pki.revoked(&h.author, h.seq) {
                return Err(CliError::Run(format!(
                    "'{}': author {} is revoked from seq {}",
                    delta.display(),
                    h.author,
                    h.seq
                )));
            }
            let broken = d.broken_rules();
            if !broken.is_empty() {
                return Err(CliError::Run(format!(
                    "'{}' is validly signed but breaks {:?}",
                    delta.display(),
                    broken
                )));
            }
            println!(
                "ok id={} author={} seq={} kind={:?}",
                d.id().hex(),
                h.author,
                h.seq,
                h.kind
            );
            Ok(())
        }
        TrustCommand::Merge(m) => merge(m).await,
        TrustCommand::MergeModel(m) => merge_model(m),
        TrustCommand::Show { file, pki } => show(&file, pki.as_deref()),
        TrustCommand::Simulate { n, f, seed, seeds } => {
            if n < 2 || f + 2 > n {
                return Err(CliError::Usage(format!(
                    "--f {f} with --n {n}: at least two honest peers are needed (f ≤ n − 2)"
                )));
            }
            let mut failed = 0;
            for s in seed..seed.saturating_add(seeds.max(1)) {
                let r = simulate::run(simulate::Config::new(n, f, s));
                println!("n={n} f={f} seed={s} ok={} {}", r.ok(), r.describe());
                failed += usize::from(!r.ok());
            }
            if failed > 0 {
                return Err(CliError::Run(format!("{failed} runs broke a property")));
            }
            Ok(())
        }
    }
}

fn admins(paths: &[PathBuf]) -> Result<Vec<crdt_merge_e4::SigningKey>> {
    paths
        .iter()
        .map(|p| keyfile::read_secret_key(p).map_err(e4))
        .collect()
}

fn identity(s: &str) -> Result<KeyId> {
    if let Some(b) = crdt_merge_e4::codec::parse_hex(s).filter(|b| b.len() == 32) {
        return Ok(KeyId(b.try_into().expect("32 bytes")));
    }
    let p = Path::new(s);
    if p.is_file() {
        return Ok(keyfile::read_public_key(p).map_err(e4)?.id());
    }
    Err(CliError::Usage(format!(
        "--identity '{s}' is neither a key id (64 hex digits) nor a public key file"
    )))
}

fn pki(c: PkiCommand) -> Result<()> {
    let event = |path: &Path, body: KeyEventBody, keys: &[PathBuf]| -> Result<()> {
        let mut pki = read_pki(path)?;
        let admins = admins(keys)?;
        let refs: Vec<&crdt_merge_e4::SigningKey> = admins.iter().collect();
        let ev = SignedKeyEvent::sign(pki.genesis(), body, &refs).map_err(e4)?;
        pki.insert(ev).map_err(e4)?;
        write(path, &pki.encode())
    };
    match c {
        PkiCommand::Init {
            admin,
            threshold,
            output,
        } => {
            let keys = admin
                .iter()
                .map(|p| keyfile::read_public_key(p).map_err(e4))
                .collect::<Result<Vec<_>>>()?;
            let g = Genesis::new(threshold, keys).map_err(e4)?;
            println!("genesis {}", hex(&g.id()));
            write(&output, &Pki::new(g).encode())
        }
        PkiCommand::Register {
            pki,
            key,
            level,
            admin_key,
        } => {
            let k = keyfile::read_public_key(&key).map_err(e4)?;
            let level = match level.as_str() {
                "trusted" => RegisterLevel::Trusted,
                "probation" => RegisterLevel::Probation,
                l => {
                    return Err(CliError::Usage(format!(
                        "--level '{l}': expected trusted or probation"
                    )))
                }
            };
            println!("{}", k.id());
            event(&pki, KeyEventBody::Register { key: k, level }, &admin_key)
        }
        PkiCommand::Rotate {
            pki,
            identity: who,
            key,
            from_seq,
            admin_key,
        } => {
            let body = KeyEventBody::Rotate {
                identity: identity(&who)?,
                from_seq,
                key: keyfile::read_public_key(&key).map_err(e4)?,
            };
            event(&pki, body, &admin_key)
        }
        PkiCommand::Revoke {
            pki,
            identity: who,
            from_seq,
            admin_key,
        } => {
            let body = KeyEventBody::Revoke {
                identity: identity(&who)?,
                from_seq,
            };
            event(&pki, body, &admin_key)
        }
    }
}

/// A table file as a canonical payload: key columns first, then the others in file order.
async fn table_payload(file: &str, key: &[String], ts: &str) -> Result<TablePayload> {
    if key.is_empty() {
        return Err(CliError::Usage(
            "trust sign: name the key column(s) with --key-col (or sign a model with \
             --contribution)"
                .into(),
        ));
    }
    let (schema, batches) = Source::of(file, None)?.batches().await?;
    let batch = concat_batches(&schema, &batches).map_err(|e| CliError::Run(e.to_string()))?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut order: Vec<usize> = Vec::new();
    for k in key {
        let i = names.iter().position(|n| n == k).ok_or_else(|| {
            CliError::Usage(format!(
                "'{file}' has no key column `{k}` (columns: {})",
                names.join(", ")
            ))
        })?;
        order.push(i);
    }
    for i in 0..names.len() {
        if !order.contains(&i) {
            order.push(i);
        }
    }
    let clock = order
        .iter()
        .position(|&i| names[i] == ts)
        .ok_or_else(|| CliError::Usage(format!("'{file}' has no clock column `{ts}` (--ts)")))?;
    let mut columns = Vec::new();
    let mut cells: Vec<Vec<Cell>> = vec![Vec::with_capacity(order.len()); batch.num_rows()];
    for &i in &order {
        let col = batch.column(i);
        let name = &names[i];
        let (t, arr) = match col.data_type() {
            d if d.is_integer() => (ColType::Int64, cast(col, &DataType::Int64)),
            d if d.is_floating() => (ColType::Float64, cast(col, &DataType::Float64)),
            DataType::Boolean => (ColType::Boolean, Ok(col.clone())),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                (ColType::Binary, cast(col, &DataType::Binary))
            }
            _ => (ColType::Utf8, cast(col, &DataType::Utf8)),
        };
        let arr = arr.map_err(|e| {
            CliError::Usage(format!("'{file}': column `{name}` cannot be signed: {e}"))
        })?;
        for (r, row) in cells.iter_mut().enumerate() {
            row.push(if arr.is_null(r) {
                Cell::Null
            } else {
                match t {
                    ColType::Int64 => Cell::Int(arr.as_primitive::<Int64Type>().value(r)),
                    ColType::Float64 => Cell::Float(arr.as_primitive::<Float64Type>().value(r)),
                    ColType::Boolean => Cell::Bool(arr.as_boolean().value(r)),
                    ColType::Binary => Cell::Bytes(arr.as_binary::<i32>().value(r).to_vec()),
                    ColType::Utf8 => Cell::Str(arr.as_string::<i32>().value(r).to_string()),
                }
            });
        }
        columns.push((name.clone(), t));
    }
    if columns[clock].1 != ColType::Int64 {
        return Err(CliError::Usage(format!(
            "'{file}': the clock column `{ts}` must hold integers"
        )));
    }
    TablePayload::new(columns, key.len(), clock, cells)
        .map_err(|e| CliError::Usage(format!("'{file}': {e}")))
}

async fn sign(s: SignArgs) -> Result<()> {
    let key = keyfile::read_secret_key(&s.key).map_err(e4)?;
    let ctx = context(&s.context)?;
    let seq_path = keyfile::seq_path(&s.key);
    // What to sign, read before a sequence number is reserved (a bad file costs none).
    enum What {
        Table(TablePayload),
        Contribution([u8; 32], RoundParams),
    }
    let what = if s.contribution {
        let files = crdt_merge_model::io::ModelFiles::open(Path::new(&s.file))
            .map_err(|e| CliError::Input(format!("'{}': {e}", s.file)))?;
        let id = crdt_merge_model::contribution_id(&files)
            .map_err(|e| CliError::Input(format!("'{}': {e}", s.file)))?;
        What::Contribution(
            id,
            RoundParams {
                round: s.round,
                rule: 0,
                f: 0,
                frac_bits: 0,
                weight: s.weight,
            },
        )
    } else {
        What::Table(table_payload(&s.file, &s.key_col, &s.ts).await?)
    };
    // The high-water mark is persisted before signing: a number is never signed twice.
    let seq = SeqFile::reserve(&seq_path, ctx, s.seq).map_err(e4)?;
    let prev = SeqFile::read(&seq_path)
        .map_err(e4)?
        .prev
        .get(&ctx)
        .filter(|(at, _)| *at + 1 == seq)
        .map(|(_, id)| *id);
    let prev = match (seq, prev) {
        (1, _) => [0; 32],
        (_, Some(p)) => p,
        (_, None) => {
            return Err(CliError::Usage(format!(
                "seq {seq}: {} does not record the id of this key's delta {} in this context, \
                 so the chain would break (sign in order, or start a new context)",
                seq_path.display(),
                seq - 1
            )))
        }
    };
    let d = match what {
        What::Table(p) => SignedDelta::sign_table(&key, ctx, seq, prev, &p),
        What::Contribution(id, round) => {
            SignedDelta::sign_contribution(&key, ctx, seq, prev, id, round)
        }
    }
    .map_err(e4)?;
    SeqFile::record(&seq_path, ctx, seq, d.id().0).map_err(e4)?;
    write(&s.output, &d.encode())?;
    println!("id={} author={} seq={seq}", d.id().hex(), key.id());
    Ok(())
}

fn read_delta(path: &Path) -> Result<SignedDelta> {
    SignedDelta::decode(&read(path)?)
        .map_err(|e| CliError::Input(format!("'{}': {e}", path.display())))
}

async fn merge(m: MergeArgs) -> Result<()> {
    let pki = read_pki(&m.pki)?;
    let ctx = context(&m.context)?;
    let (state, names) = gather(&m.deltas, pki, &m.policy)?;
    let mut spec: Option<crdt_merge_kernel::mergeql::MergeSpec> = None;
    if !m.strategy.is_empty() {
        let first = state
            .admitted(ctx, Kind::TableDelta)
            .first()
            .and_then(|d| TablePayload::decode(d.payload.as_deref().unwrap_or_default()).ok());
        if let Some(p) = first {
            let base = gate::default_spec(&p);
            spec = Some(with_rule_flags(base, &m.strategy, &None, &None)?);
        }
    }
    let out = gate::table(&state, ctx, spec.as_ref()).map_err(e4)?;
    for r in &out.refused {
        eprintln!(
            "crdt-merge: dropped '{}' (author {}, seq {}): {}",
            names.get(&r.id.0).cloned().unwrap_or_else(|| r.id.hex()),
            r.author,
            r.seq,
            r.why.describe()
        );
    }
    for e in state.evidence().values() {
        eprintln!("crdt-merge: evidence: {}", e.describe());
    }
    if let Some(p) = &m.state {
        write(p, &state.encode())?;
    }
    let mut sink = match &m.output {
        Some(p) => Sink::file(p)?,
        None => Sink::stdout(Format::Csv),
    };
    let batch: RecordBatch = out.merge.batch.clone();
    sink.write(&batch)?;
    sink.finish_with_schema(&batch.schema())?;
    eprint!("{}", out.receipt.describe());
    eprintln!(
        "crdt-merge: {} deltas admitted, {} dropped, {} rows out{}",
        out.admitted.len(),
        out.refused.len() + (m.deltas.len() - state.deltas().len()),
        batch.num_rows(),
        m.output
            .as_deref()
            .map(|o| format!(", written to {o}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// A trust state of the deltas at `paths` (unreadable, forged and unknown-author ones dropped
/// and reported), with file names by delta id.
fn gather(
    paths: &[PathBuf],
    pki: Pki,
    policy: &str,
) -> Result<(TrustState, BTreeMap<[u8; 32], String>)> {
    let mode = crdt_merge_e4::Mode::parse(policy).ok_or_else(|| {
        CliError::Usage(format!("--policy '{policy}': expected exclude or prefix"))
    })?;
    let mut state = TrustState::new(
        pki,
        TrustPolicy {
            mode,
            ..TrustPolicy::default()
        },
    );
    let mut names: BTreeMap<[u8; 32], String> = BTreeMap::new();
    let mut read = Vec::with_capacity(paths.len());
    for p in paths {
        match read_delta(p) {
            Ok(d) => {
                names.insert(d.id().0, p.display().to_string());
                read.push((p, d));
            }
            Err(e) => eprintln!("crdt-merge: dropped {}", e.message()),
        }
    }
    // One batch: signatures are checked on all cores and the evidence derived once.
    let (read_paths, deltas): (Vec<&PathBuf>, Vec<_>) = read.into_iter().unzip();
    for (p, r) in read_paths.into_iter().zip(state.insert_deltas(deltas)) {
        if let Err(e) = r {
            eprintln!(
                "crdt-merge: dropped '{}': forged or unknown author: {e}",
                p.display()
            );
        }
    }
    Ok((state, names))
}

fn merge_model(m: MergeModelArgs) -> Result<()> {
    use crdt_merge_model::merge::{MergeRequest, ModelSpec, Setting};
    use crdt_merge_model::params::ParamValue;
    let pki = read_pki(&m.pki)?;
    let ctx = context(&m.context)?;
    let (state, names) = gather(&m.deltas, pki, &m.policy)?;
    let out = gate::model_contributions(&state, ctx, m.round);
    for r in &out.refused {
        eprintln!(
            "crdt-merge: dropped '{}' (author {}, seq {}): {}",
            names.get(&r.id.0).cloned().unwrap_or_else(|| r.id.hex()),
            r.author,
            r.seq,
            r.why.describe()
        );
    }
    for e in state.evidence().values() {
        eprintln!("crdt-merge: evidence: {}", e.describe());
    }
    if out.admitted.is_empty() {
        return Err(CliError::Run(format!(
            "trust merge-model: no admitted contribution for round {} of context '{}'",
            m.round, m.context
        )));
    }
    // Content id → model file.
    let mut files: BTreeMap<[u8; 32], PathBuf> = BTreeMap::new();
    for path in &m.models {
        let f = crdt_merge_model::io::ModelFiles::open(path).map_err(crate::model::model_error)?;
        let id = crdt_merge_model::contribution_id(&f).map_err(crate::model::model_error)?;
        files.insert(id, path.clone());
    }
    let weights = gate::capped_weights(&out.admitted, state.policy().probation_weight_cap);
    let mut request = MergeRequest::new(&m.strategy, &m.output);
    for (a, w) in out.admitted.iter().zip(&weights) {
        let path = files.remove(&a.content).ok_or_else(|| {
            CliError::Input(format!(
                "trust merge-model: admitted contribution {} of author {} has no model among \
                 --model (give the file it was signed from)",
                hex(&a.content),
                a.author
            ))
        })?;
        request.models.push(ModelSpec {
            label: format!("{}", a.author),
            path,
            weight: Some(Setting::Value(ParamValue::Num(*w))),
            ..ModelSpec::default()
        });
    }
    for p in files.values() {
        eprintln!(
            "crdt-merge: dropped model '{}': no admitted contribution of round {} signs it",
            p.display(),
            m.round
        );
    }
    request.base = m.base.as_ref().map(|b| ModelSpec {
        label: b.display().to_string(),
        path: b.clone(),
        ..ModelSpec::default()
    });
    for p in &m.param {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| CliError::Usage(format!("--param `{p}`: expected NAME=VALUE")))?;
        if k == "weight" {
            return Err(CliError::Usage(
                "--param weight=...: the weights are the signed ones".into(),
            ));
        }
        request
            .params
            .push((k.to_string(), Setting::Value(ParamValue::parse(v))));
    }
    if let Some(d) = &m.dtype {
        request.dtype = Some(crate::model::parse_dtype(d)?);
    }
    request.seed = m.seed;
    let report = crate::model::merge_with_bar(&request, m.quiet)?;
    if let Some(p) = &m.state {
        write(p, &state.encode())?;
    }
    // The result: the merged model's content id (what `trust sign --contribution` would sign).
    let merged = crdt_merge_model::io::ModelFiles::open(&m.output)
        .and_then(|f| crdt_merge_model::contribution_id(&f))
        .map_err(crate::model::model_error)?;
    let mut receipt = out.receipt.clone();
    receipt.result = merged.to_vec();
    eprint!("{}", receipt.describe());
    eprintln!(
        "crdt-merge: {} contributions admitted, {} dropped, {} tensors merged with {} into {}",
        out.admitted.len(),
        out.refused.len() + (m.deltas.len() - state.deltas().len()),
        report.tensors,
        m.strategy,
        m.output.display()
    );
    Ok(())
}

fn show(file: &Path, pki: Option<&Path>) -> Result<()> {
    let bytes = read(file)?;
    let bad = |e: TrustError| CliError::Input(format!("'{}': {e}", file.display()));
    let object = if bytes.starts_with(b"CRDT") {
        Some(Object::State as u8)
    } else if bytes.starts_with(b"CME4") {
        bytes.get(5).copied()
    } else {
        None
    };
    match object {
        Some(o) if o == Object::Delta as u8 => {
            let d = SignedDelta::decode(&bytes).map_err(bad)?;
            let h = d.header();
            println!("signed delta {}", d.id().hex());
            println!("kind {:?}", h.kind);
            println!("context {}", h.ctx.hex());
            println!("author {}", h.author);
            println!("alg {}", h.alg.name());
            println!("seq {}", h.seq);
            println!("prev {}", hex(&h.prev));
            println!("hlc {}..{}", h.hlc_min, h.hlc_max);
            println!("schema {}", hex(&h.schema));
            println!(
                "payload {} ({} bytes{})",
                hex(&h.payload),
                h.payload_len,
                if d.payload.is_some() {
                    ""
                } else {
                    ", not included"
                }
            );
            if let Some(r) = &h.round {
                println!("round {} weight {}", r.round, r.weight);
            }
            println!(
                "signed_bytes {}",
                hex(&crdt_merge_e4::sig::signed_bytes(
                    h.alg,
                    h.kind.sign_kind(),
                    &h.encode()
                ))
            );
            println!("signature {}", hex(&d.signed.sig));
            if let Some(p) = pki {
                let pki = read_pki(p)?;
                println!("verifies {}", d.signed.verify(&pki));
            }
        }
        Some(o) if o == Object::Pki as u8 => {
            let p = Pki::decode(&bytes).map_err(bad)?;
            println!(
                "pki genesis {} threshold {}",
                hex(&p.genesis().id()),
                p.genesis().threshold
            );
            for a in &p.genesis().admins {
                println!("admin {}", a.id());
            }
            for (id, i) in p.identities() {
                println!(
                    "identity {id} {:?} keys {}{}",
                    i.level,
                    i.keys.len(),
                    i.revoked_from
                        .map(|s| format!(" revoked from seq {s}"))
                        .unwrap_or_default()
                );
            }
        }
        Some(o) if o == Object::Evidence as u8 => {
            let e = Evidence::decode(&bytes).map_err(bad)?;
            println!("{}", e.describe());
            if let Some(p) = pki {
                println!("verifies {}", e.verify(&read_pki(p)?).is_ok());
            }
        }
        Some(o) if o == Object::State as u8 => {
            let s = TrustState::decode(&bytes).map_err(bad)?;
            print!("{}", s.describe());
        }
        _ => {
            return Err(CliError::Input(format!(
                "'{}' is not an E4 object (a signed delta, PKI, evidence or trust state)",
                file.display()
            )))
        }
    }
    Ok(())
}
