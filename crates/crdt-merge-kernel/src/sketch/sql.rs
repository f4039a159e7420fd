//! The sketch scalars of the catalogue: counts, membership, estimates, similarity, bands.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt64Builder};
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array};

use super::hash::Items;
use super::Sketch;
use crate::catalogue::{binaries, integers};
use crate::error::{Error, Result};
use crate::state::AnyState;
use crate::wire;

/// The names of the sketch scalars.
pub const SCALARS: &[&str] = &[
    "crdt_hll_count",
    "crdt_theta_count",
    "crdt_theta_union",
    "crdt_theta_intersect",
    "crdt_bloom_contains",
    "crdt_cms_estimate",
    "crdt_jaccard",
    "crdt_minhash_bands",
    "crdt_hll_to_pg_hll",
    "crdt_hll_from_pg_hll",
    "crdt_hll_to_datasketches",
    "crdt_hll_from_datasketches",
];

/// Decodes a sketch of type `want` (or any sketch when `None`) for function `name`.
fn sketch(name: &'static str, arg: &str, bytes: &[u8], want: Option<&str>) -> Result<Sketch> {
    let state = wire::decode(bytes).map_err(|mut e| {
        if let crate::ErrorKind::Decode { reason, .. } = &mut e.kind {
            *reason = format!("argument `{arg}`: {reason}");
        }
        e.in_function(name)
    })?;
    match state {
        AnyState::Sketch(s) if want.is_none_or(|w| w == s.type_name()) => Ok(s),
        other => Err(Error::type_mismatch(
            name,
            arg,
            format!("{} state bytes", want.unwrap_or("sketch")),
            other.type_name(),
        )),
    }
}

/// Evaluates sketch scalar `name`.
///
/// # Errors
/// Bad bytes, a state of another type, mismatched parameters, bad band sizes.
pub fn invoke(name: &'static str, args: &[ArrayRef], n: usize) -> Result<ArrayRef> {
    let arg0 = if matches!(
        name,
        "crdt_theta_union" | "crdt_theta_intersect" | "crdt_jaccard"
    ) {
        "a"
    } else {
        "state"
    };
    let s0 = binaries(name, arg0, &args[0])?;
    Ok(match name {
        "crdt_hll_count" | "crdt_theta_count" => {
            let want = if name == "crdt_hll_count" {
                "hll"
            } else {
                "theta"
            };
            let out: Int64Array = (0..n)
                .map(|i| {
                    s0.is_valid(i)
                        .then(|| {
                            sketch(name, arg0, s0.value(i), Some(want)).map(|s| match s {
                                Sketch::Hll(h) => h.count(),
                                Sketch::Theta(t) => t.estimate().round() as i64,
                                _ => 0,
                            })
                        })
                        .transpose()
                })
                .collect::<Result<_>>()?;
            Arc::new(out)
        }
        "crdt_theta_union" | "crdt_theta_intersect" | "crdt_jaccard" => {
            let s1 = binaries(name, "b", &args[1])?;
            let want = if name == "crdt_jaccard" {
                "minhash"
            } else {
                "theta"
            };
            let mut joined: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
            let mut sims: Vec<Option<f64>> = Vec::with_capacity(n);
            for i in 0..n {
                let a = s0
                    .is_valid(i)
                    .then(|| sketch(name, "a", s0.value(i), Some(want)))
                    .transpose()?;
                let b = s1
                    .is_valid(i)
                    .then(|| sketch(name, "b", s1.value(i), Some(want)))
                    .transpose()?;
                match name {
                    "crdt_theta_union" => joined.push(match (a, b) {
                        (None, None) => None,
                        (Some(mut x), Some(y)) => {
                            x.join(&y, name)?;
                            Some(wire::encode(&AnyState::Sketch(x)))
                        }
                        (Some(x), None) | (None, Some(x)) => {
                            Some(wire::encode(&AnyState::Sketch(x)))
                        }
                    }),
                    "crdt_theta_intersect" => joined.push(match (a, b) {
                        (Some(Sketch::Theta(x)), Some(Sketch::Theta(y))) => Some(wire::encode(
                            &AnyState::Sketch(Sketch::Theta(x.intersect(&y))),
                        )),
                        _ => None,
                    }),
                    _ => sims.push(match (a, b) {
                        (Some(Sketch::MinHash(x)), Some(Sketch::MinHash(y))) => {
                            Some(x.jaccard(&y, name)?)
                        }
                        _ => None,
                    }),
                }
            }
            if name == "crdt_jaccard" {
                Arc::new(Float64Array::from(sims))
            } else {
                Arc::new(BinaryArray::from_iter(joined))
            }
        }
        "crdt_bloom_contains" | "crdt_cms_estimate" => {
            let items = Items::new(name, "value", &args[1])?;
            let want = if name == "crdt_bloom_contains" {
                "bloom"
            } else {
                "cms"
            };
            let mut buf = Vec::new();
            let mut hits: Vec<Option<bool>> = Vec::with_capacity(n);
            let mut counts: Vec<Option<i64>> = Vec::with_capacity(n);
            // One decode per distinct state bytes in a run (a constant state is the usual call).
            let mut last: Option<(usize, Sketch)> = None;
            for i in 0..n {
                if s0.is_null(i) || items.is_null(i) {
                    hits.push(None);
                    counts.push(None);
                    continue;
                }
                let reuse = matches!(&last, Some((j, _)) if s0.value(*j) == s0.value(i));
                if !reuse {
                    last = Some((i, sketch(name, "state", s0.value(i), Some(want))?));
                }
                match last.as_ref().map(|l| &l.1) {
                    Some(Sketch::Bloom(b)) => {
                        hits.push(Some(Sketch::bloom_contains(b, &items, i, &mut buf)?))
                    }
                    Some(Sketch::Cms(c)) => counts.push(Some(
                        i64::try_from(Sketch::cms_estimate(c, &items, i, &mut buf)?)
                            .unwrap_or(i64::MAX),
                    )),
                    _ => return Err(Error::internal(name, "sketch of another type")),
                }
            }
            if name == "crdt_bloom_contains" {
                Arc::new(BooleanArray::from(hits))
            } else {
                Arc::new(Int64Array::from(counts))
            }
        }
        "crdt_minhash_bands" => {
            let (b, r) = (
                integers(name, "b", &args[1])?,
                integers(name, "r", &args[2])?,
            );
            let mut out = ListBuilder::new(UInt64Builder::new());
            for i in 0..n {
                if s0.is_null(i) || b.is_null(i) || r.is_null(i) {
                    out.append(false);
                    continue;
                }
                let Sketch::MinHash(m) = sketch(name, "state", s0.value(i), Some("minhash"))?
                else {
                    return Err(Error::internal(name, "sketch of another type"));
                };
                for h in m.bands(b.value(i), r.value(i), name)? {
                    out.values().append_value(h);
                }
                out.append(true);
            }
            Arc::new(out.finish())
        }
        "crdt_hll_to_pg_hll" | "crdt_hll_to_datasketches" => {
            let out: Vec<Option<Vec<u8>>> = (0..n)
                .map(|i| {
                    s0.is_valid(i)
                        .then(|| match sketch(name, "state", s0.value(i), Some("hll"))? {
                            Sketch::Hll(h) if name == "crdt_hll_to_pg_hll" => {
                                super::pg_hll::to_pg_hll(&h)
                            }
                            Sketch::Hll(h) => super::datasketches::to_datasketches(&h),
                            _ => Err(Error::internal(name, "sketch of another type")),
                        })
                        .transpose()
                })
                .collect::<Result<_>>()?;
            Arc::new(BinaryArray::from_iter(out))
        }
        "crdt_hll_from_pg_hll" | "crdt_hll_from_datasketches" => {
            let out: Vec<Option<Vec<u8>>> = (0..n)
                .map(|i| {
                    s0.is_valid(i)
                        .then(|| {
                            if name == "crdt_hll_from_pg_hll" {
                                super::pg_hll::from_pg_hll(s0.value(i))
                            } else {
                                super::datasketches::from_datasketches(s0.value(i))
                            }
                            .map(|h| wire::encode(&AnyState::Sketch(Sketch::Hll(h))))
                        })
                        .transpose()
                })
                .collect::<Result<_>>()?;
            Arc::new(BinaryArray::from_iter(out))
        }
        other => return Err(Error::internal(other, "not a sketch scalar")),
    })
}
