//! `crdt-merge clock create|increment|merge|compare`: the Python library's `clock` commands over
//! the kernel's vector clocks and dotted version vectors. A clock file holds one wire frame (tag
//! 0x40 or 0x41, JSON payload, readable by crdt-merge 0.11.0); without `-o` a command prints the
//! clock as JSON.

use clap::{Subcommand, ValueEnum};
use crdt_merge_kernel::state::{AnyState, DottedVersionVector, VectorClock};
use crdt_merge_kernel::wire;

use crate::{CliError, Result};

/// `crdt-merge clock ...`.
#[derive(clap::Args, Debug)]
pub struct ClockArgs {
    #[command(subcommand)]
    command: ClockCommand,
}

#[derive(Subcommand, Debug)]
enum ClockCommand {
    /// A new clock with one node's counter (1 unless --counter says otherwise).
    Create(CreateArgs),
    /// Advance one node: a vector clock's counter + 1, a dotted version vector's dot.
    Increment(IncrementArgs),
    /// Join clocks (the per-node maximum; any order and repetition give the same clock).
    Merge(MergeArgs),
    /// Print how A relates to B: before, after, equal or concurrent.
    Compare(CompareArgs),
}

/// The clock kinds, with the Python library's names.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// A vector clock (wire tag 0x40).
    Vectorclock,
    /// A dotted version vector (wire tag 0x41).
    Dvv,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// Which clock.
    kind: Kind,
    /// The node that ticks.
    #[arg(long)]
    node: String,
    /// Its counter (a vector clock's entry; a dotted version vector's dot).
    #[arg(long, default_value_t = 1)]
    counter: u64,
    /// Output clock file (one wire frame); without it the clock is printed as JSON.
    #[arg(long, short = 'o')]
    output: Option<String>,
}

#[derive(clap::Args, Debug)]
struct IncrementArgs {
    /// Clock file.
    clock: String,
    /// The node that ticks.
    #[arg(long)]
    node: String,
    /// Output clock file; without it the clock is printed as JSON.
    #[arg(long, short = 'o')]
    output: Option<String>,
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// Clock files, one or more, of one kind.
    #[arg(required = true, num_args = 1..)]
    clocks: Vec<String>,
    /// Output clock file; without it the clock is printed as JSON.
    #[arg(long, short = 'o')]
    output: Option<String>,
}

#[derive(clap::Args, Debug)]
struct CompareArgs {
    /// First clock file.
    a: String,
    /// Second clock file, of the same kind.
    b: String,
}

/// Reads a clock file: one wire frame holding a vector clock or a dotted version vector.
fn read_clock(path: &str) -> Result<AnyState> {
    let bytes =
        std::fs::read(path).map_err(|e| CliError::Input(format!("cannot read '{path}': {e}")))?;
    let state = wire::decode(&bytes).map_err(|e| CliError::Input(format!("{path}: {e}")))?;
    match state {
        AnyState::VectorClock(_) | AnyState::DottedVersionVector(_) => Ok(state),
        other => Err(CliError::Input(format!(
            "{path}: expected a clock (vector_clock or dotted_version_vector), found a {} state",
            other.type_name()
        ))),
    }
}

/// Writes `state` to `output` as a frame, or prints it as JSON.
fn emit(state: &AnyState, output: Option<&str>) -> Result<()> {
    match output {
        Some(path) => std::fs::write(path, wire::encode(state))
            .map_err(|e| CliError::Run(format!("cannot write '{path}': {e}"))),
        None => {
            println!("{}", state.to_json());
            Ok(())
        }
    }
}

/// Runs `crdt-merge clock`.
pub fn run(a: ClockArgs) -> Result<()> {
    match a.command {
        ClockCommand::Create(c) => {
            if c.node.is_empty() {
                return Err(CliError::Usage(
                    "clock create: --node: expected a node name, found an empty one".into(),
                ));
            }
            let state = match c.kind {
                Kind::Vectorclock => {
                    let mut v = VectorClock::new();
                    v.observe(&c.node, c.counter);
                    AnyState::VectorClock(v)
                }
                Kind::Dvv => AnyState::DottedVersionVector(DottedVersionVector::from_parts(
                    VectorClock::new(),
                    (c.counter > 0).then(|| (c.node.clone(), c.counter)),
                )),
            };
            emit(&state, c.output.as_deref())
        }
        ClockCommand::Increment(i) => {
            let state = match read_clock(&i.clock)? {
                AnyState::VectorClock(mut v) => {
                    v.increment(&i.node);
                    AnyState::VectorClock(v)
                }
                AnyState::DottedVersionVector(mut d) => {
                    d.advance(&i.node);
                    AnyState::DottedVersionVector(d)
                }
                other => other,
            };
            emit(&state, i.output.as_deref())
        }
        ClockCommand::Merge(m) => {
            let mut acc: Option<AnyState> = None;
            for p in &m.clocks {
                let s = read_clock(p)?;
                acc = Some(match acc {
                    None => s,
                    Some(cur) => cur
                        .join(&s)
                        .map_err(|e| CliError::Usage(format!("{p}: {e}")))?,
                });
            }
            let merged = acc.ok_or_else(|| CliError::Usage("clock merge: no clocks".into()))?;
            emit(&merged, m.output.as_deref())
        }
        ClockCommand::Compare(c) => {
            let ordering = match (read_clock(&c.a)?, read_clock(&c.b)?) {
                (AnyState::VectorClock(a), AnyState::VectorClock(b)) => a.compare(&b),
                (AnyState::DottedVersionVector(a), AnyState::DottedVersionVector(b)) => {
                    a.compare(&b)
                }
                (a, b) => {
                    return Err(CliError::Usage(format!(
                        "clock compare: {} is a {} and {} a {}: compare clocks of one kind",
                        c.a,
                        a.type_name(),
                        c.b,
                        b.type_name()
                    )))
                }
            };
            println!("{}", ordering.as_str());
            Ok(())
        }
    }
}
