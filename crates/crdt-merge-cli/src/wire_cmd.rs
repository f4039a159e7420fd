//! `crdt-merge wire serialize|deserialize|inspect|size`: the Python library's `wire` commands.
//! `serialize` turns a state's dict form (JSON, as the Python library's `to_dict()` writes it)
//! into one wire frame, canonical or, with `--compress`, zlib-compressed where that is smaller;
//! `deserialize` prints a frame's state as canonical JSON; `inspect` is `crdt-merge inspect`;
//! `size` prints the header's figures without decoding the payload.

use clap::Subcommand;
use crdt_merge_kernel::wire;
use serde_json::json;

use crate::{CliError, Result};

/// `crdt-merge wire ...`.
#[derive(clap::Args, Debug)]
pub struct WireArgs {
    #[command(subcommand)]
    command: WireCommand,
}

#[derive(Subcommand, Debug)]
enum WireCommand {
    /// A JSON file holding a state's dict form, as one wire frame.
    Serialize {
        /// The JSON file.
        file: String,
        /// The state type (g_counter, pn_counter, lww_register, or_set, lww_map, vector_clock,
        /// dotted_version_vector, hll, bloom, cms, minhash, theta, gossip_state; the Python
        /// CLI's gcounter, ... spellings too).
        #[arg(long = "type", short = 't')]
        kind: String,
        /// Compress the payload (zlib) when that makes the frame smaller.
        #[arg(long)]
        compress: bool,
        /// Output file (default: FILE with the extension .crdt).
        #[arg(long, short = 'o')]
        output: Option<String>,
    },
    /// A wire frame's state as canonical JSON.
    Deserialize {
        /// The frame file.
        file: String,
        /// Write the JSON here instead of printing it.
        #[arg(long, short = 'o')]
        output: Option<String>,
    },
    /// Header fields and the decoded state (as `crdt-merge inspect`).
    Inspect {
        /// The frame file, or `-` for standard input.
        file: String,
    },
    /// Sizes from the header: total, header and payload bytes, compression, version, type.
    Size {
        /// The frame file.
        file: String,
    },
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError::Input(format!("cannot read '{path}': {e}")))
}

/// Runs `crdt-merge wire`.
pub fn run(a: WireArgs) -> Result<()> {
    match a.command {
        WireCommand::Serialize {
            file,
            kind,
            compress,
            output,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Input(format!("cannot read '{file}': {e}")))?;
            let dict: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Input(format!("{file}: not JSON: {e}")))?;
            let state = wire::from_dict(&kind, &dict).map_err(|e| match e.kind {
                crdt_merge_kernel::ErrorKind::InvalidArgument { .. } => {
                    CliError::Usage(format!("--type: {e}"))
                }
                _ => CliError::Input(format!("{file}: {e}")),
            })?;
            let bytes = if compress {
                wire::encode_compressed(&state)
            } else {
                wire::encode(&state)
            };
            let out = output.unwrap_or_else(|| {
                let p = std::path::Path::new(&file).with_extension("crdt");
                p.to_string_lossy().into_owned()
            });
            std::fs::write(&out, &bytes)
                .map_err(|e| CliError::Run(format!("cannot write '{out}': {e}")))?;
            eprintln!(
                "crdt-merge: {} written to {out} ({} bytes{})",
                state.type_name(),
                bytes.len(),
                if bytes[7] & wire::FLAG_ZLIB != 0 {
                    ", compressed"
                } else {
                    ""
                }
            );
            Ok(())
        }
        WireCommand::Deserialize { file, output } => {
            let bytes = read(&file)?;
            let state =
                wire::decode(&bytes).map_err(|e| CliError::Input(format!("{file}: {e}")))?;
            let text = state.to_json().to_string();
            match output {
                Some(o) => std::fs::write(&o, format!("{text}\n"))
                    .map_err(|e| CliError::Run(format!("cannot write '{o}': {e}"))),
                None => {
                    println!("{text}");
                    Ok(())
                }
            }
        }
        WireCommand::Inspect { file } => crate::inspect::run(&file),
        WireCommand::Size { file } => {
            let bytes = read(&file)?;
            if bytes.len() < wire::HEADER_LEN || !bytes.starts_with(&wire::MAGIC) {
                return Err(CliError::Input(format!(
                    "{file}: not a wire frame (a frame starts with the 12-byte header \"CRDT\"...)"
                )));
            }
            // The type is named by decoding (which also checks the frame); sizes come from
            // the header, as the Python library's `wire_size`.
            let state =
                wire::decode(&bytes).map_err(|e| CliError::Input(format!("{file}: {e}")))?;
            let payload = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            println!(
                "{}",
                json!({
                    "total_bytes": bytes.len(),
                    "header_bytes": wire::HEADER_LEN,
                    "payload_bytes": payload,
                    "compressed": bytes[7] & wire::FLAG_ZLIB != 0,
                    "protocol_version": u16::from_be_bytes([bytes[4], bytes[5]]),
                    "type_name": state.type_name(),
                })
            );
            Ok(())
        }
    }
}
