//! Mergeable sketches: HyperLogLog, Theta, Bloom, Count-Min (per replica) and MinHash.
//!
//! Each is a join-semilattice like the [`crate::state`] types: built per partition by an
//! aggregate (`crdt_hll_agg`, ...), merged in any order by `crdt_state_merge` /
//! `crdt_state_merge_agg`, queried by scalars (`crdt_hll_count`, ...). Equal sketches have
//! identical bytes. What each hashes and how: [`hash`].
//!
//! | sketch | type name | wire tag | join |
//! |---|---|---|---|
//! | [`Hll`] | `hll` | 0x30 | register max, folding to the smaller precision |
//! | [`Bloom`] | `bloom` | 0x31 | bitwise OR (same shape) |
//! | [`Cms`] | `cms` | 0x32 | per replica, cell-wise max; estimates sum the replicas |
//! | [`MinHash`] | `minhash` | 0x61 | slot-wise min (same num_perm and seed) |
//! | [`Theta`] | `theta` | 0x62 | union of hashes below the smaller θ, trimmed to k |

pub mod bloom;
pub mod cms;
pub mod datasketches;
pub mod dedup;
pub mod hash;
pub mod hll;
pub mod minhash;
pub mod pg_hll;
pub mod sql;
pub mod theta;

pub use bloom::Bloom;
pub use cms::Cms;
pub use hash::Family;
pub use hll::Hll;
pub use minhash::MinHash;
pub use theta::Theta;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::error::{Error, Result};
use hash::{murmur3_x64_128, upstream_hash64, Items, MURMUR3_SEED};

/// Any sketch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Sketch {
    /// HyperLogLog.
    Hll(Hll),
    /// Bloom filter.
    Bloom(Bloom),
    /// Count-Min per replica.
    Cms(Cms),
    /// MinHash signature.
    MinHash(MinHash),
    /// Theta sketch.
    Theta(Theta),
}

impl Sketch {
    /// Type name (`hll`, `bloom`, `cms`, `minhash`, `theta`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Sketch::Hll(_) => "hll",
            Sketch::Bloom(_) => "bloom",
            Sketch::Cms(_) => "cms",
            Sketch::MinHash(_) => "minhash",
            Sketch::Theta(_) => "theta",
        }
    }

    /// `self ← self ⊔ other`.
    ///
    /// # Errors
    /// Different kinds, families or parameters, naming both.
    pub fn join(&mut self, other: &Sketch, function: &str) -> Result<()> {
        match (self, other) {
            (Sketch::Hll(a), Sketch::Hll(b)) => a.join(b, function),
            (Sketch::Bloom(a), Sketch::Bloom(b)) => a.join(b, function),
            (Sketch::Cms(a), Sketch::Cms(b)) => a.join(b, function),
            (Sketch::MinHash(a), Sketch::MinHash(b)) => a.join(b, function),
            (Sketch::Theta(a), Sketch::Theta(b)) => {
                a.join(b);
                Ok(())
            }
            (a, b) => Err(Error::type_mismatch(
                function,
                "state",
                format!("a {} state (the type of the first state)", a.type_name()),
                b.type_name(),
            )),
        }
    }

    /// Brings a sketch built by an aggregate to its canonical form (Theta's pending hashes,
    /// HLL's buffered register updates).
    pub fn settle(&mut self) {
        match self {
            Sketch::Theta(t) => t.settle(),
            Sketch::Hll(h) => h.settle(),
            _ => {}
        }
    }

    /// Whether the sketch is in its canonical form already ([`Sketch::settle`] would change
    /// nothing).
    pub fn is_settled(&self) -> bool {
        match self {
            Sketch::Theta(t) => t.is_settled(),
            Sketch::Hll(h) => h.is_settled(),
            _ => true,
        }
    }

    /// The sketch as JSON (documented per type in `docs/sketches.md`).
    pub fn to_json(&self) -> Json {
        match self {
            Sketch::Hll(h) => json!({
                "type": "hll",
                "precision": h.precision(),
                "family": h.family().name(),
                "registers": h.registers(),
                "estimate": h.estimate(),
            }),
            Sketch::Bloom(b) => json!({
                "type": "bloom",
                "capacity": b.capacity(),
                "fp_rate": b.fp_rate(),
                "size": b.size(),
                "num_hashes": b.num_hashes(),
                "family": b.family().name(),
                "bits": b.bits(),
                "count": b.estimated_count(),
            }),
            Sketch::Cms(c) => {
                let replicas: serde_json::Map<String, Json> = c
                    .replicas()
                    .iter()
                    .map(|(r, t)| {
                        (
                            r.clone(),
                            json!({"table": rows(&t.cells, c.width()), "total": t.total}),
                        )
                    })
                    .collect();
                let sum = c.summed();
                json!({
                    "type": "cms",
                    "width": c.width(),
                    "depth": c.depth(),
                    "family": c.family().name(),
                    "table": rows(&sum.cells, c.width()),
                    "total": sum.total,
                    "replicas": replicas,
                })
            }
            Sketch::MinHash(m) => json!({
                "type": "minhash",
                "num_perm": m.num_perm(),
                "seed": m.seed(),
                "hashvalues": m.hashvalues(),
            }),
            Sketch::Theta(t) => json!({
                "type": "theta",
                "lg_k": t.lg_k(),
                "theta": t.theta(),
                "hashes": t.hashes(),
                "estimate": t.estimate(),
            }),
        }
    }
}

fn rows(cells: &[u64], width: u32) -> Vec<&[u64]> {
    cells.chunks(width.max(1) as usize).collect()
}

/// Hashes of one item for a sketch: murmur3 (h1, h2), or the family's pair.
#[inline]
fn pair(
    family: Family,
    items: &Items<'_>,
    row: usize,
    bytes: &[u8],
    seeds: (u32, u32),
) -> Result<(u64, u64)> {
    Ok(match family {
        Family::Murmur3 | Family::Sha1 => murmur3_x64_128(bytes, MURMUR3_SEED),
        Family::PgHll => (murmur3_x64_128(bytes, 0).0, 0),
        Family::Upstream => {
            let r = items.repr(row)?;
            (upstream_hash64(&r, seeds.0), upstream_hash64(&r, seeds.1))
        }
    })
}

impl Sketch {
    /// Adds row `row` of `items` (not NULL); `replica` and `count` for Count-Min.
    ///
    /// # Errors
    /// A value the family cannot hash.
    #[inline]
    pub fn add(
        &mut self,
        items: &Items<'_>,
        row: usize,
        buf: &mut Vec<u8>,
        replica: &str,
        count: u64,
    ) -> Result<()> {
        let bytes = items.bytes(row, buf)?;
        match self {
            Sketch::Hll(h) => {
                let f = h.family();
                let (a, b) = if f == Family::Upstream {
                    (upstream_hash64(&items.repr(row)?, 0), 0)
                } else {
                    pair(f, items, row, bytes, (0, 0))?
                };
                h.add_hash(a, b);
            }
            Sketch::Bloom(bl) => {
                let (a, b) = pair(bl.family(), items, row, bytes, (0, 42))?;
                bl.add_hash(a, b);
            }
            Sketch::Cms(c) => {
                let (a, b) = pair(c.family(), items, row, bytes, (0, 7))?;
                c.add_hash(replica, a, b, count);
            }
            Sketch::MinHash(m) => m.add_hash(minhash::item_hash(bytes)),
            Sketch::Theta(t) => t.add_hash(murmur3_x64_128(bytes, MURMUR3_SEED).0),
        }
        Ok(())
    }

    /// The seed of the MurmurHash3 pair this sketch's family hashes rows with, when it uses one
    /// (`murmur3`: 9001, `pg_hll`: 0); `None` for the per-row families (`upstream`, MinHash).
    pub fn batch_seed(&self) -> Option<u64> {
        let f = match self {
            Sketch::Hll(h) => h.family(),
            Sketch::Bloom(b) => b.family(),
            Sketch::Cms(c) => c.family(),
            Sketch::Theta(_) => Family::Murmur3,
            Sketch::MinHash(_) => return None,
        };
        match f {
            Family::Murmur3 => Some(MURMUR3_SEED),
            Family::PgHll => Some(0),
            _ => None,
        }
    }

    /// Adds one row by its precomputed MurmurHash3 pair ([`Sketch::batch_seed`]).
    #[inline]
    pub fn add_pair(&mut self, (h1, h2): (u64, u64), replica: &str, count: u64) {
        match self {
            Sketch::Hll(h) => h.add_hash(h1, h2),
            Sketch::Bloom(b) => b.add_hash(h1, h2),
            Sketch::Cms(c) => c.add_hash(replica, h1, h2, count),
            Sketch::Theta(t) => t.add_hash(h1),
            Sketch::MinHash(_) => {}
        }
    }

    /// Whether a Bloom filter may contain row `row` of `items`.
    ///
    /// # Errors
    /// A value the family cannot hash.
    pub fn bloom_contains(
        bl: &Bloom,
        items: &Items<'_>,
        row: usize,
        buf: &mut Vec<u8>,
    ) -> Result<bool> {
        let bytes = items.bytes(row, buf)?;
        let (a, b) = pair(bl.family(), items, row, bytes, (0, 42))?;
        Ok(bl.contains_hash(a, b))
    }

    /// The Count-Min estimate of row `row` of `items`.
    ///
    /// # Errors
    /// A value the family cannot hash.
    pub fn cms_estimate(c: &Cms, items: &Items<'_>, row: usize, buf: &mut Vec<u8>) -> Result<u64> {
        let bytes = items.bytes(row, buf)?;
        let (a, b) = pair(c.family(), items, row, bytes, (0, 7))?;
        Ok(c.estimate_hash(a, b))
    }
}
