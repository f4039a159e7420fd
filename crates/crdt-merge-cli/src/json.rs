//! `crdt-merge json merge A B` and `crdt-merge json merge-lines A B --key K`: the lawful deep
//! merge of `crdt_json_merge` (objects key by key, arrays as sets, scalar conflicts to the
//! greater value), on files.

use std::collections::BTreeMap;

use clap::Subcommand;
use crdt_merge_kernel::json_merge::{canonical, merge, normalise, parse};
use serde_json::Value as Json;

use crate::{CliError, Result};

/// `crdt-merge json ...`.
#[derive(clap::Args, Debug)]
pub struct JsonArgs {
    #[command(subcommand)]
    command: JsonCommand,
}

#[derive(Subcommand, Debug)]
enum JsonCommand {
    /// Merge JSON documents (one per file), in any order: one canonical document out.
    Merge {
        /// Files, each holding one JSON document.
        #[arg(required = true, num_args = 1..)]
        files: Vec<String>,
    },
    /// Merge JSON-lines files by a key field: documents with equal keys are merged.
    MergeLines {
        /// JSON-lines files.
        #[arg(required = true, num_args = 1..)]
        files: Vec<String>,
        /// The key field of every document.
        #[arg(long, short = 'k')]
        key: String,
        /// Output file; standard output when absent.
        #[arg(long, short = 'o')]
        output: Option<String>,
    },
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("cannot read '{path}': {e}")))
}

/// Runs `crdt-merge json`.
pub fn run(a: JsonArgs) -> Result<()> {
    match a.command {
        JsonCommand::Merge { files } => {
            let mut acc = Json::Null;
            for f in &files {
                let doc = parse("crdt-merge json merge", f, &read(f)?)
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                acc = merge(&acc, &doc);
            }
            println!("{}", canonical(&normalise(&acc)));
            Ok(())
        }
        JsonCommand::MergeLines { files, key, output } => {
            let mut by_key: BTreeMap<String, Json> = BTreeMap::new();
            for f in &files {
                for (n, line) in read(f)?.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let doc = parse(
                        "crdt-merge json merge-lines",
                        &format!("{f}:{}", n + 1),
                        line,
                    )
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                    let k = doc.get(&key).filter(|v| !v.is_null()).ok_or_else(|| {
                        CliError::Usage(format!(
                            "'{f}' line {}: the document has no key field '{key}'",
                            n + 1
                        ))
                    })?;
                    let k = canonical(k);
                    let merged = match by_key.get(&k) {
                        Some(prev) => merge(prev, &doc),
                        None => normalise(&doc),
                    };
                    by_key.insert(k, merged);
                }
            }
            let mut out = String::new();
            for v in by_key.values() {
                out.push_str(&canonical(v));
                out.push('\n');
            }
            match output {
                Some(p) => std::fs::write(&p, out)
                    .map_err(|e| CliError::Run(format!("cannot write '{p}': {e}")))?,
                None => print!("{out}"),
            }
            Ok(())
        }
    }
}
