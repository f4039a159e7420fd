//! `crdt-merge gossip init|update|delete|get|merge|digest|sync`: the Python library's gossip
//! commands over the kernel's lawful gossip store ([`GossipState`]: multi-value registers under
//! dots, so concurrent writes are kept and a newer write beats a stale one whatever their text).
//! A state file holds one wire frame (tag 0x60); the Python library's frames (tag 0x43) are
//! read too. `sync A B` is anti-entropy between two files: key digests are compared and only
//! the differing keys travel, each way.

use clap::Subcommand;
use crdt_merge_kernel::state::{anti_entropy, AnyState, Datum, GossipState};
use crdt_merge_kernel::wire;

use crate::{CliError, Result};

/// `crdt-merge gossip ...`.
#[derive(clap::Args, Debug)]
pub struct GossipArgs {
    #[command(subcommand)]
    command: GossipCommand,
}

#[derive(Subcommand, Debug)]
enum GossipCommand {
    /// Write an empty store to FILE.
    Init {
        /// The state file to create.
        file: String,
    },
    /// Write a value (JSON) under a key, as one node.
    Update {
        /// The state file (rewritten in place).
        file: String,
        /// The key.
        key: String,
        /// The value, as JSON (`'"text"'`, `5`, `{"a": 1}`).
        value: String,
        /// The writing node.
        #[arg(long)]
        node: String,
    },
    /// Delete a key, as one node (a tombstone: it travels like a write).
    Delete {
        /// The state file (rewritten in place).
        file: String,
        /// The key.
        key: String,
        /// The deleting node.
        #[arg(long)]
        node: String,
    },
    /// Print a key's live values as a JSON list (several while concurrent writes stand).
    Get {
        /// The state file.
        file: String,
        /// The key.
        key: String,
    },
    /// Join stores (any order, grouping and repetition give the same store).
    Merge {
        /// State files, one or more.
        #[arg(required = true, num_args = 1..)]
        files: Vec<String>,
        /// Output state file; without it the store is printed as JSON.
        #[arg(long, short = 'o')]
        output: Option<String>,
    },
    /// Print the store's digest (and, with --keys, each key's).
    Digest {
        /// The state file.
        file: String,
        /// One line per key: `KEY HEX`.
        #[arg(long)]
        keys: bool,
    },
    /// Anti-entropy between two state files: both end holding their join.
    Sync {
        /// One replica's state file.
        a: String,
        /// The other's.
        b: String,
    },
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a state file: one wire frame holding a gossip store (ours or the Python library's).
fn read(path: &str) -> Result<GossipState> {
    let bytes =
        std::fs::read(path).map_err(|e| CliError::Input(format!("cannot read '{path}': {e}")))?;
    match wire::decode(&bytes).map_err(|e| CliError::Input(format!("{path}: {e}")))? {
        AnyState::Gossip(g) => Ok(g),
        other => Err(CliError::Input(format!(
            "{path}: expected a gossip_state, found a {} state",
            other.type_name()
        ))),
    }
}

/// Writes a state file through a temporary file and a rename, so a crash leaves the old
/// state or the new one, never half of one.
fn write(path: &str, g: &GossipState) -> Result<()> {
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let bytes = wire::encode(&AnyState::Gossip(g.clone()));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::Run(format!("cannot write '{path}': {e}"))
        })
}

fn node(n: &str) -> Result<&str> {
    if n.is_empty() {
        return Err(CliError::Usage(
            "gossip: --node: expected a node name, found an empty one".into(),
        ));
    }
    Ok(n)
}

/// Runs `crdt-merge gossip`.
pub fn run(a: GossipArgs) -> Result<()> {
    match a.command {
        GossipCommand::Init { file } => write(&file, &GossipState::new()),
        GossipCommand::Update {
            file,
            key,
            value,
            node: n,
        } => {
            let v: serde_json::Value = serde_json::from_str(&value).map_err(|e| {
                CliError::Usage(format!(
                    "gossip update: VALUE: expected JSON (quote text as '\"text\"'), found \
                     `{value}`: {e}"
                ))
            })?;
            let mut g = read(&file)?;
            let (w, c) = g.write(node(&n)?, &key, Datum::from_json(&v));
            write(&file, &g)?;
            eprintln!("crdt-merge: {key} written at dot ({w}, {c})");
            Ok(())
        }
        GossipCommand::Delete { file, key, node: n } => {
            let mut g = read(&file)?;
            let (w, c) = g.delete(node(&n)?, &key);
            write(&file, &g)?;
            eprintln!("crdt-merge: {key} deleted at dot ({w}, {c})");
            Ok(())
        }
        GossipCommand::Get { file, key } => {
            let g = read(&file)?;
            let values: Vec<serde_json::Value> =
                g.get(&key).into_iter().map(Datum::to_json).collect();
            println!("{}", serde_json::Value::Array(values));
            Ok(())
        }
        GossipCommand::Merge { files, output } => {
            let mut acc = GossipState::new();
            for f in &files {
                acc.join(&read(f)?);
            }
            match output {
                Some(o) => write(&o, &acc),
                None => {
                    println!("{}", acc.to_json());
                    Ok(())
                }
            }
        }
        GossipCommand::Digest { file, keys } => {
            let g = read(&file)?;
            if keys {
                for (k, h) in g.key_digests() {
                    println!("{k} {}", hex(&h));
                }
            }
            println!("keys={} digest={}", g.entries().len(), hex(&g.digest()));
            Ok(())
        }
        GossipCommand::Sync { a, b } => {
            let (mut ga, mut gb) = (read(&a)?, read(&b)?);
            let d = anti_entropy(&ga.key_digests(), &gb.key_digests());
            let (to_b, to_a) = (ga.fragment(d.to_send()), gb.fragment(d.to_fetch()));
            // Bytes on the wire: the fragment's frame, or nothing when it holds no key.
            let size = |g: &GossipState| match g.entries().len() {
                0 => 0,
                _ => wire::encode(&AnyState::Gossip(g.clone())).len(),
            };
            let (bytes_ab, bytes_ba) = (size(&to_b), size(&to_a));
            ga.join(&to_a);
            gb.join(&to_b);
            if !d.is_empty() {
                write(&a, &ga)?;
                write(&b, &gb)?;
            }
            println!(
                "keys: {} sent, {} received ({} differed); bytes: {bytes_ab} to {b}, {bytes_ba} \
                 to {a}; digest={}",
                to_b.entries().len(),
                to_a.entries().len(),
                d.different.len(),
                hex(&ga.digest())
            );
            Ok(())
        }
    }
}
