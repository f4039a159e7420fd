//! The digest scalars of the catalogue, and the per-row update of the digest aggregates.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, BinaryArray};
use arrow_schema::DataType;

use super::fingerprint::{id, Fingerprint};
use super::row_id::{metadata_names, RowIds};
use crate::catalogue::binaries;
use crate::error::{Error, ErrorKind, Result};

/// The names of the digest scalars.
pub const SCALARS: &[&str] = &[
    "crdt_row_id",
    "crdt_content_id",
    "crdt_fingerprint",
    "crdt_fingerprint_add",
    "crdt_fingerprint_sub",
    "crdt_sync_key",
];

/// Arities each digest scalar takes.
pub fn arities(name: &str) -> &'static [usize] {
    match name {
        "crdt_content_id" => &[2, 3],
        "crdt_fingerprint" => &[1],
        _ => &[2],
    }
}

/// A state argument: NULL is the empty set, 40 bytes a state.
fn state_at(name: &str, arg: &str, a: &BinaryArray, i: usize) -> Result<Fingerprint> {
    if a.is_null(i) {
        Ok(Fingerprint::EMPTY)
    } else {
        Fingerprint::from_bytes(name, arg, a.value(i))
    }
}

/// Evaluates digest scalar `name` over `n` rows.
///
/// # Errors
/// Wrong arity, a row that is not a struct, ids or states of the wrong length.
pub fn invoke(name: &'static str, args: &[ArrayRef], n: usize) -> Result<ArrayRef> {
    if !arities(name).contains(&args.len()) {
        return Err(Error::new(
            name,
            ErrorKind::Arity {
                expected: arities(name)
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
                found: args.len(),
            },
        ));
    }
    Ok(match name {
        "crdt_row_id" | "crdt_content_id" => {
            let meta = if name == "crdt_content_id" {
                Some(metadata_names(name, args.get(2))?)
            } else {
                None
            };
            let mut ids = RowIds::new(name, &args[0], &args[1], meta.as_deref())?;
            let out: BinaryArray = (0..n).map(|i| ids.id(i)).collect();
            Arc::new(out)
        }
        "crdt_fingerprint" => {
            let s = binaries(name, "state", &args[0])?;
            let out = (0..n)
                .map(|i| state_at(name, "state", &s, i).map(|f| Some(f.finish())))
                .collect::<Result<Vec<_>>>()?;
            Arc::new(out.into_iter().collect::<BinaryArray>())
        }
        "crdt_fingerprint_add" | "crdt_fingerprint_sub" => {
            let s = binaries(name, "state", &args[0])?;
            let x = binaries(name, "id", &args[1])?;
            let out = (0..n)
                .map(|i| {
                    let mut f = state_at(name, "state", &s, i)?;
                    if x.is_valid(i) {
                        let b = x.value(i);
                        // An id (32 bytes) or a whole state (40 bytes): one function keeps
                        // a stored state up to date row by row or partition by partition.
                        let other = if b.len() == super::fingerprint::STATE_LEN {
                            Fingerprint::from_bytes(name, "id", b)?
                        } else {
                            let mut one = Fingerprint::EMPTY;
                            one.add_id(&id(name, "id", b)?);
                            one
                        };
                        if name == "crdt_fingerprint_add" {
                            f.add(&other);
                        } else {
                            if other.count > f.count {
                                return Err(Error::invalid(
                                    name,
                                    "id",
                                    "ids that the state holds",
                                    format!(
                                        "more ids taken out ({}) than the state holds ({})",
                                        other.count, f.count
                                    ),
                                ));
                            }
                            f.sub(&other);
                        }
                    }
                    Ok(Some(f.to_bytes()))
                })
                .collect::<Result<Vec<_>>>()?;
            Arc::new(out.into_iter().collect::<BinaryArray>())
        }
        "crdt_sync_key" => {
            let x = binaries(name, "id", &args[1])?;
            let ts = sync_clocks(&args[0])?;
            let out = (0..n)
                .map(|i| {
                    if x.is_null(i) {
                        return Ok(None);
                    }
                    let idb = id(name, "id", x.value(i))?;
                    let mut k = [0u8; 40];
                    k[..8].copy_from_slice(&ts(i).to_be_bytes());
                    k[8..].copy_from_slice(&idb);
                    Ok(Some(k))
                })
                .collect::<Result<Vec<_>>>()?;
            Arc::new(out.into_iter().collect::<BinaryArray>())
        }
        other => {
            return Err(Error::internal(
                other,
                "digest scalar without an implementation",
            ))
        }
    })
}

/// negentropy's u64 timestamp of a row clock: an integer (an HLC) as is (negative as 0), a
/// float by its order-preserving bits, a decimal, date or timestamp 0; NULL is 0; text, bytes
/// and other non-clocks are an error. `u64::MAX` is negentropy's
/// infinity, so the greatest clock maps one below it.
pub fn sync_clocks(a: &ArrayRef) -> Result<Box<dyn Fn(usize) -> u64 + '_>> {
    macro_rules! signed {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            Box::new(move |i| {
                if p.is_null(i) {
                    0
                } else {
                    u64::try_from(i64::from(p.value(i))).unwrap_or(0)
                }
            })
        }};
    }
    macro_rules! unsigned {
        ($t:ty) => {{
            let p = a.as_primitive::<$t>();
            Box::new(move |i| {
                if p.is_null(i) {
                    0
                } else {
                    u64::from(p.value(i)).min(u64::MAX - 1)
                }
            })
        }};
    }
    Ok(match a.data_type() {
        DataType::Int8 => signed!(Int8Type),
        DataType::Int16 => signed!(Int16Type),
        DataType::Int32 => signed!(Int32Type),
        DataType::Int64 => signed!(Int64Type),
        DataType::UInt8 => unsigned!(UInt8Type),
        DataType::UInt16 => unsigned!(UInt16Type),
        DataType::UInt32 => unsigned!(UInt32Type),
        DataType::UInt64 => unsigned!(UInt64Type),
        DataType::Float32 | DataType::Float64 => {
            let f = arrow_cast::cast(a, &DataType::Float64)?;
            let f = f.as_primitive::<Float64Type>().clone();
            Box::new(move |i| {
                if f.is_null(i) {
                    0
                } else {
                    float_key(f.value(i))
                }
            })
        }
        // Other clocks (decimals, dates, timestamps) and NULL sort as 0 (negentropy then orders
        // by id alone); values that are no clock at all are an error.
        DataType::Null
        | DataType::Decimal128(_, _)
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _) => Box::new(|_| 0),
        other => {
            return Err(Error::type_mismatch(
                "crdt_sync_key",
                "ts",
                "a clock: a number, decimal, date, timestamp or HLC (BIGINT)",
                other,
            ))
        }
    })
}

/// Order-preserving u64 of a double (−0 as +0, one NaN, greatest).
pub fn float_key(x: f64) -> u64 {
    let b = crate::value::canonical_f64(x).to_bits();
    let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    k.min(u64::MAX - 1)
}

/// Which digest an aggregate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    /// `crdt_fingerprint_agg(id)` → 16 bytes.
    Fingerprint,
    /// `crdt_fingerprint_state_agg(id)` → the 40-byte state.
    FingerprintState,
    /// `crdt_table_digest(key, row)` → 16 bytes.
    TableDigest,
}

impl DigestKind {
    /// The aggregate's SQL name.
    pub fn aggregate_name(self) -> &'static str {
        match self {
            DigestKind::Fingerprint => "crdt_fingerprint_agg",
            DigestKind::FingerprintState => "crdt_fingerprint_state_agg",
            DigestKind::TableDigest => "crdt_table_digest",
        }
    }

    /// The kind for an aggregate name.
    pub fn parse(name: &str) -> Option<DigestKind> {
        [
            DigestKind::Fingerprint,
            DigestKind::FingerprintState,
            DigestKind::TableDigest,
        ]
        .into_iter()
        .find(|k| k.aggregate_name() == name)
    }

    /// Checks the argument types at planning time.
    ///
    /// # Errors
    /// Wrong arity or an id that is not bytes.
    pub fn check(self, arg_types: &[DataType]) -> Result<()> {
        let name = self.aggregate_name();
        let want = if self == DigestKind::TableDigest {
            2
        } else {
            1
        };
        if arg_types.len() != want {
            return Err(Error::new(
                name,
                ErrorKind::Arity {
                    expected: if want == 2 { "2 (key, row)" } else { "1 (id)" }.into(),
                    found: arg_types.len(),
                },
            ));
        }
        if self != DigestKind::TableDigest
            && !matches!(
                arg_types[0],
                DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(32)
                    | DataType::Null
            )
        {
            return Err(Error::type_mismatch(
                name,
                "id",
                "a 32-byte row id (BLOB/BYTEA)",
                &arg_types[0],
            ));
        }
        Ok(())
    }

    /// Adds the ids of `n` rows through `add(row, id)`.
    ///
    /// # Errors
    /// Ids of the wrong length, a row that is not a struct.
    pub fn update_with(
        self,
        args: &[ArrayRef],
        n: usize,
        mut add: impl FnMut(usize, &[u8; 32]),
    ) -> Result<()> {
        let name = self.aggregate_name();
        match self {
            DigestKind::TableDigest => {
                let mut ids = RowIds::new(name, &args[0], &args[1], None)?;
                for i in 0..n {
                    if let Some(x) = ids.id(i) {
                        add(i, &x);
                    }
                }
            }
            _ => {
                if args[0].data_type() == &DataType::FixedSizeBinary(32) {
                    let a = args[0].as_fixed_size_binary();
                    for i in 0..n {
                        if a.is_valid(i) {
                            add(i, &id(name, "id", a.value(i))?);
                        }
                    }
                } else {
                    let a = binaries(name, "id", &args[0])?;
                    for i in 0..n {
                        if a.is_valid(i) {
                            add(i, &id(name, "id", a.value(i))?);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The result of a finished state.
    pub fn finish(self, f: &Fingerprint) -> Vec<u8> {
        match self {
            DigestKind::FingerprintState => f.to_bytes().to_vec(),
            _ => f.finish().to_vec(),
        }
    }
}
