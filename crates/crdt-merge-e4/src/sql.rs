//! SQL functions E4 contributes to the catalogue (the kernel cannot depend on this crate; hosts
//! call [`register`] before registering the catalogue's functions):
//!
//! - `crdt_verify(delta, pki [, context])` → BOOLEAN: whether the signed delta verifies under
//!   the key the PKI gives its author for its sequence number, the number is not revoked, the
//!   delta breaks no deterministic rule and (with `context`) was signed for that context;
//!   malformed bytes are an error naming the byte offset;
//! - `crdt_verified_payload(delta, pki [, context])` → BLOB: the payload of a delta that verifies (NULL
//!   when it travelled without one); an error when it does not verify;
//! - `crdt_delta_rows(delta, pki [, context])` → TEXT: the rows of a verified table delta as a JSON array
//!   of objects (binary cells as `\x`-hex text), for `jsonb_populate_recordset` in Postgres or
//!   `from_json` / `read_json` in DuckDB; an error when it does not verify;
//! - `crdt_signed_payload(delta)` → BLOB: the payload, **not verified** (for inspection).
//!
//! Each checks one delta: its author's chain and convictions need the whole set (`crdt-merge
//! trust merge`). Without `context` a delta signed for another dataset verifies: pass it.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, StringArray};
use arrow_schema::DataType;
use crdt_merge_kernel::catalogue::{
    register_extension, Arg, ArgType, Extension, FunctionDef, FunctionKind, NullHandling,
    ReturnType, Signature, Volatility,
};
use crdt_merge_kernel::{Error, Result};

use crate::codec::hex;
use crate::delta::{Kind, SignedDelta};
use crate::hash::Context;
use crate::pki::Pki;
use crate::table::{Cell, TablePayload};

const DELTA_PKI: &[Arg] = &[
    Arg {
        name: "delta",
        ty: ArgType::Bytes,
        constant: false,
    },
    Arg {
        name: "pki",
        ty: ArgType::Bytes,
        constant: false,
    },
];

const DELTA_PKI_CONTEXT: &[Arg] = &[
    Arg {
        name: "delta",
        ty: ArgType::Bytes,
        constant: false,
    },
    Arg {
        name: "pki",
        ty: ArgType::Bytes,
        constant: false,
    },
    Arg {
        name: "context",
        ty: ArgType::Text,
        constant: false,
    },
];

const DELTA: &[Arg] = &[Arg {
    name: "delta",
    ty: ArgType::Bytes,
    constant: false,
}];

const fn def(
    name: &'static str,
    signatures: &'static [Signature],
    doc: &'static str,
    example: &'static str,
) -> FunctionDef {
    FunctionDef {
        name,
        kind: FunctionKind::Scalar,
        signatures,
        nulls: NullHandling::Strict,
        volatility: Volatility::Immutable,
        doc,
        example,
        example_result: "true",
    }
}

/// E4's SQL functions, in documentation order.
pub static FUNCTIONS: &[FunctionDef] = &[
    def(
        "crdt_verify",
        &[
            Signature {
                args: DELTA_PKI,
                returns: ReturnType::Bool,
            },
            Signature {
                args: DELTA_PKI_CONTEXT,
                returns: ReturnType::Bool,
            },
        ],
        "Whether a signed E4 delta verifies under the PKI (its author's key for its sequence number, not revoked, no broken rule) and, given a context, was signed for it; malformed bytes are an error with the byte offset.",
        "SELECT crdt_verify(NULL, NULL) IS NULL",
    ),
    def(
        "crdt_verified_payload",
        &[
            Signature {
                args: DELTA_PKI,
                returns: ReturnType::Bytes,
            },
            Signature {
                args: DELTA_PKI_CONTEXT,
                returns: ReturnType::Bytes,
            },
        ],
        "The payload of a signed delta that verifies (and, given a context, was signed for it; NULL when it carries none); an error when it does not verify.",
        "SELECT crdt_verified_payload(NULL, NULL) IS NULL",
    ),
    def(
        "crdt_delta_rows",
        &[
            Signature {
                args: DELTA_PKI,
                returns: ReturnType::Text,
            },
            Signature {
                args: DELTA_PKI_CONTEXT,
                returns: ReturnType::Text,
            },
        ],
        "The rows of a verified signed table delta (and, given a context, signed for it) as a JSON array of objects (binary as \\x-hex text); an error when it does not verify.",
        "SELECT crdt_delta_rows(NULL, NULL) IS NULL",
    ),
    def(
        "crdt_signed_payload",
        &[Signature {
            args: DELTA,
            returns: ReturnType::Bytes,
        }],
        "The payload of a signed delta, NOT verified (inspection only: use crdt_verified_payload to admit data).",
        "SELECT crdt_signed_payload(NULL) IS NULL",
    ),
];

/// The catalogue extension.
pub static EXTENSION: Extension = Extension {
    name: "crdt-merge-e4",
    functions: FUNCTIONS,
    invoke,
};

/// Registers E4's functions with the kernel catalogue (idempotent).
pub fn register() {
    register_extension(&EXTENSION).expect("E4's function names are not the kernel's");
}

fn bytes(name: &str, arg: &str, a: &ArrayRef) -> Result<BinaryArray> {
    match a.data_type() {
        DataType::Binary => Ok(a.as_binary::<i32>().clone()),
        DataType::Null | DataType::LargeBinary | DataType::BinaryView => {
            Ok(arrow_cast::cast(a, &DataType::Binary)
                .map_err(|e| Error::internal(name, e.to_string()))?
                .as_binary::<i32>()
                .clone())
        }
        dt => Err(Error::type_mismatch(name, arg, "bytes (BLOB / BYTEA)", dt)),
    }
}

/// A text argument as Utf8. Only text types (and NULL) are accepted: arrow would cast a list or a
/// number to its printed form, which would turn a wrong argument into a context nobody signed for.
fn text(name: &str, arg: &str, a: &ArrayRef) -> Result<ArrayRef> {
    let is_text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    match a.data_type() {
        DataType::Utf8 => return Ok(a.clone()),
        DataType::Null => {}
        t if is_text(t) => {}
        DataType::Dictionary(_, v) if is_text(v) => {}
        dt => return Err(Error::type_mismatch(name, arg, "text", dt)),
    }
    arrow_cast::cast(a, &DataType::Utf8).map_err(|e| Error::internal(name, e.to_string()))
}

fn decode_err(name: &str, arg: &str, e: crate::TrustError) -> Error {
    match e {
        crate::TrustError::Decode {
            offset,
            reason,
            what,
        } => Error::decode(name, offset, format!("argument `{arg}` ({what}): {reason}")),
        e => Error::invalid(name, arg, "E4 bytes", e.to_string()),
    }
}

/// Decoded PKIs of one batch (most calls pass one PKI for every row).
struct Pkis {
    last: Option<(Vec<u8>, Pki)>,
}

impl Pkis {
    fn get(&mut self, name: &str, b: &[u8]) -> Result<&Pki> {
        if self
            .last
            .as_ref()
            .is_none_or(|(have, _)| have.as_slice() != b)
        {
            let p = Pki::decode(b).map_err(|e| decode_err(name, "pki", e))?;
            self.last = Some((b.to_vec(), p));
        }
        Ok(&self.last.as_ref().expect("set").1)
    }
}

/// Why a well-formed delta does not verify (for `ctx` when given), or `None` when it does.
fn refusal(d: &SignedDelta, pki: &Pki, ctx: Option<(&str, Context)>) -> Option<String> {
    let h = d.header();
    if let Some((name, c)) = ctx {
        if h.ctx != c {
            return Some(format!(
                "delta {} was signed for another context ({}…), not '{name}' ({}…)",
                &d.id().hex()[..16],
                &h.ctx.hex()[..16],
                &c.hex()[..16]
            ));
        }
    }
    if !d.signed.verify(pki) {
        return Some(format!(
            "no key the PKI gives author {} at seq {} signed delta {}",
            h.author,
            h.seq,
            &d.id().hex()[..16]
        ));
    }
    if pki.revoked(&h.author, h.seq) {
        return Some(format!("author {} is revoked from seq {}", h.author, h.seq));
    }
    let broken = d.broken_rules();
    if !broken.is_empty() {
        return Some(format!("delta {} breaks {broken:?}", &d.id().hex()[..16]));
    }
    None
}

fn json_rows(p: &TablePayload) -> String {
    let mut out = String::from("[");
    for (i, row) in p.rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        for (j, ((name, _), cell)) in p.columns.iter().zip(row).enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(&json_string(name));
            out.push(':');
            match cell {
                Cell::Null => out.push_str("null"),
                Cell::Int(v) => out.push_str(&v.to_string()),
                Cell::Float(v) if v.is_finite() => out.push_str(&format!("{v:?}")),
                // JSON has no NaN or infinity: strings, as Postgres' float input reads them.
                Cell::Float(v) => out.push_str(&json_string(&format!("{v}"))),
                Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Cell::Str(s) => out.push_str(&json_string(s)),
                Cell::Bytes(b) => out.push_str(&json_string(&format!("\\x{}", hex(b)))),
            }
        }
        out.push('}');
    }
    out.push(']');
    out
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn invoke(name: &str, args: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
    let delta = bytes(name, "delta", &args[0])?;
    let decode = |i: usize| -> Result<SignedDelta> {
        SignedDelta::decode(delta.value(i)).map_err(|e| decode_err(name, "delta", e))
    };
    if name == "crdt_signed_payload" {
        let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(num_rows);
        for i in 0..num_rows {
            out.push(if delta.is_valid(i) {
                decode(i)?.payload
            } else {
                None
            });
        }
        return Ok(Arc::new(BinaryArray::from_iter(out)));
    }
    let pki_arr = bytes(name, "pki", &args[1])?;
    let ctx_arr = match args.get(2) {
        None => None,
        Some(a) => Some(text(name, "context", a)?),
    };
    let ctx_arr = ctx_arr.as_ref().map(|a| a.as_string::<i32>());
    let mut pkis = Pkis { last: None };
    let mut verified = |i: usize| -> Result<Option<std::result::Result<SignedDelta, String>>> {
        if !delta.is_valid(i) || !pki_arr.is_valid(i) || ctx_arr.is_some_and(|c| c.is_null(i)) {
            return Ok(None);
        }
        let ctx = match ctx_arr {
            None => None,
            Some(c) => {
                let text = c.value(i);
                let ctx = Context::new(text).map_err(|e| {
                    Error::invalid(name, "context", "a context name", e.to_string())
                })?;
                Some((text, ctx))
            }
        };
        let d = decode(i)?;
        let pki = pkis.get(name, pki_arr.value(i))?;
        Ok(Some(match refusal(&d, pki, ctx) {
            None => Ok(d),
            Some(why) => Err(why),
        }))
    };
    let refused = |why: String| Error::invalid(name, "delta", "a delta that verifies", why);
    match name {
        "crdt_verify" => {
            let mut out = Vec::with_capacity(num_rows);
            for i in 0..num_rows {
                out.push(verified(i)?.map(|r| r.is_ok()));
            }
            Ok(Arc::new(BooleanArray::from(out)))
        }
        "crdt_verified_payload" => {
            let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(num_rows);
            for i in 0..num_rows {
                out.push(match verified(i)? {
                    None => None,
                    Some(Ok(d)) => d.payload,
                    Some(Err(why)) => return Err(refused(why)),
                });
            }
            Ok(Arc::new(BinaryArray::from_iter(out)))
        }
        "crdt_delta_rows" => {
            let mut out: Vec<Option<String>> = Vec::with_capacity(num_rows);
            for i in 0..num_rows {
                out.push(match verified(i)? {
                    None => None,
                    Some(Err(why)) => return Err(refused(why)),
                    Some(Ok(d)) => {
                        if d.header().kind != Kind::TableDelta {
                            return Err(Error::invalid(
                                name,
                                "delta",
                                "a table delta",
                                format!("a {:?}", d.header().kind),
                            ));
                        }
                        let Some(p) = &d.payload else {
                            return Err(Error::invalid(
                                name,
                                "delta",
                                "a delta with its payload",
                                "a header without payload bytes",
                            ));
                        };
                        let p =
                            TablePayload::decode(p).map_err(|e| decode_err(name, "delta", e))?;
                        Some(json_rows(&p))
                    }
                });
            }
            Ok(Arc::new(StringArray::from(out)))
        }
        other => Err(Error::internal(
            other,
            "E4 scalar without an implementation",
        )),
    }
}
