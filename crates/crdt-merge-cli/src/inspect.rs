//! `crdt-merge inspect`: state bytes (one wire frame, or a batch of frames) as JSON.

use std::io::Read;

use crdt_merge_kernel::wire::{self, DecodeOptions, HEADER_LEN, MAGIC};
use serde_json::{json, Value};

use crate::{CliError, Result};

/// Hex text (`\x4352...`, `0x4352...` or bare hex, whitespace ignored) as bytes, if it is hex.
fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(text).ok()?;
    let s: String = s.split_whitespace().collect();
    let s = s
        .strip_prefix("\\x")
        .or_else(|| s.strip_prefix("0x"))
        .unwrap_or(&s);
    if s.is_empty() || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// One frame's header fields and decoded state.
fn frame(bytes: &[u8]) -> Result<Value> {
    let state = wire::decode(bytes).map_err(|e| CliError::Usage(e.to_string()))?;
    let version = u16::from_be_bytes([bytes[4], bytes[5]]);
    let flags = bytes[7];
    let payload = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    Ok(json!({
        "type": state.type_name(),
        "type_tag": format!("0x{:02x}", bytes[6]),
        "version": version,
        "compressed": flags & wire::FLAG_ZLIB != 0,
        "bytes": bytes.len(),
        "header_bytes": HEADER_LEN,
        "payload_bytes": payload,
        "state": state.to_json(),
    }))
}

/// Decodes `input` (a path, or `-` for standard input) and prints it as pretty JSON.
pub fn run(input: &str) -> Result<()> {
    let mut raw = Vec::new();
    if input == "-" {
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(|e| CliError::Input(format!("cannot read standard input: {e}")))?;
    } else {
        raw = std::fs::read(input)
            .map_err(|e| CliError::Input(format!("cannot read '{input}': {e}")))?;
    }
    let bytes = if raw.starts_with(&MAGIC) {
        raw
    } else {
        from_hex(&raw).unwrap_or(raw)
    };
    let value = if bytes.starts_with(&MAGIC) {
        frame(&bytes)?
    } else {
        // A batch: u32 count, then per frame a u32 size and the frame.
        let states = wire::decode_batch(&bytes, &DecodeOptions::default()).map_err(|e| {
            CliError::Usage(format!(
                "not a crdt-merge state (no CRDT frame, and not a batch of frames): {e}"
            ))
        })?;
        let mut frames = Vec::new();
        let mut at = 4usize;
        for _ in &states {
            let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
                as usize;
            frames.push(frame(&bytes[at + 4..at + 4 + size])?);
            at += 4 + size;
        }
        json!({ "batch": states.len(), "bytes": bytes.len(), "frames": frames })
    };
    let text = serde_json::to_string_pretty(&value)
        .map_err(|e| CliError::Run(format!("cannot print JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
