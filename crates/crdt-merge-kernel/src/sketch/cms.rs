//! Count-Min as a CRDT: a G-Counter of sketches.
//!
//! Each replica adds only to its own `depth × width` table, with non-negative counts, so its
//! cells only grow; the join keeps, per replica, the cell-wise maximum (as a G-Counter keeps
//! each replica's maximum), and an estimate sums the replicas' tables before taking the
//! minimum over rows. Re-merging a state never double counts, and the estimate never falls
//! below the true count of the union of the replicas' streams. (The Python library merges by
//! cell-wise max of one table: idempotent, but 100 + 50 disjoint adds merge to 100.)
//!
//! Cell `i` of an item is `(h1 + i·h2) mod width` in exact arithmetic, h1 and h2 as for
//! [`super::bloom`] (`upstream`: seeds 0 and 7).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::hash::Family;
use crate::error::{Error, Result};

/// Default width.
pub const DEFAULT_WIDTH: i64 = 2000;
/// Default depth.
pub const DEFAULT_DEPTH: i64 = 7;
/// Most cells per replica (2^24), against denial of service.
pub const MAX_CELLS: u64 = 1 << 24;
/// The replica an upstream frame (one table, no replicas) decodes as.
pub const UPSTREAM_REPLICA: &str = "_upstream";

/// One replica's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// `depth × width` cells, row-major.
    pub cells: Vec<u64>,
    /// Sum of the counts added.
    pub total: u64,
}

/// A Count-Min sketch per replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cms {
    width: u32,
    depth: u32,
    family: Family,
    replicas: BTreeMap<String, Table>,
}

impl Cms {
    /// An empty sketch.
    ///
    /// # Errors
    /// Width or depth below 1, more than [`MAX_CELLS`] cells, or a family other than
    /// `murmur3` and `upstream`.
    pub fn new(function: &str, width: i64, depth: i64, family: Family) -> Result<Cms> {
        if width < 1 || depth < 1 || (width as u64).saturating_mul(depth as u64) > MAX_CELLS {
            return Err(Error::invalid(
                function,
                if width < 1 { "width" } else { "depth" },
                format!("a positive width and depth with width × depth ≤ {MAX_CELLS}"),
                format!("width {width}, depth {depth}"),
            ));
        }
        if !matches!(family, Family::Murmur3 | Family::Upstream) {
            return Err(Error::invalid(
                function,
                "family",
                "'murmur3' or 'upstream'",
                format!("'{}'", family.name()),
            ));
        }
        Ok(Cms {
            width: width as u32,
            depth: depth as u32,
            family,
            replicas: BTreeMap::new(),
        })
    }

    /// Width.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Depth.
    pub fn depth(&self) -> u32 {
        self.depth
    }
    /// Hash family.
    pub fn family(&self) -> Family {
        self.family
    }
    /// Tables per replica.
    pub fn replicas(&self) -> &BTreeMap<String, Table> {
        &self.replicas
    }

    /// Inserts a replica's table (decoded frames); cells must be `depth × width`.
    pub(crate) fn insert(&mut self, replica: String, table: Table) {
        self.replicas.insert(replica, table);
    }

    fn cell(&self, row: u32, h1: u64, h2: u64) -> usize {
        // (h1 + row·h2) mod w in exact arithmetic, without 128-bit division.
        let w = u64::from(self.width);
        let col = (h1 % w + u64::from(row) * (h2 % w) % w) % w;
        row as usize * self.width as usize + col as usize
    }

    /// Adds `count` of an item (by its two hashes) to `replica`'s table.
    pub fn add_hash(&mut self, replica: &str, h1: u64, h2: u64, count: u64) {
        let (w, depth) = (u64::from(self.width), self.depth);
        let n = self.width as usize * depth as usize;
        let t = match self.replicas.get_mut(replica) {
            Some(t) => t,
            None => self
                .replicas
                .entry(replica.to_string())
                .or_insert_with(|| Table {
                    cells: vec![0; n],
                    total: 0,
                }),
        };
        let (a, step) = (h1 % w, h2 % w);
        let mut col = a;
        for row in 0..depth as usize {
            let c = &mut t.cells[row * w as usize + col as usize];
            *c = c.saturating_add(count);
            col = (col + step) % w;
        }
        t.total = t.total.saturating_add(count);
    }

    /// The estimated count of an item: min over rows of the replicas' summed cells.
    pub fn estimate_hash(&self, h1: u64, h2: u64) -> u64 {
        (0..self.depth)
            .map(|r| {
                let c = self.cell(r, h1, h2);
                self.replicas
                    .values()
                    .fold(0u64, |s, t| s.saturating_add(t.cells[c]))
            })
            .min()
            .unwrap_or(0)
    }

    /// The replicas' tables summed cell by cell, and their totals summed.
    pub fn summed(&self) -> Table {
        let mut out = Table {
            cells: vec![0; self.width as usize * self.depth as usize],
            total: 0,
        };
        for t in self.replicas.values() {
            for (a, b) in out.cells.iter_mut().zip(&t.cells) {
                *a = a.saturating_add(*b);
            }
            out.total = out.total.saturating_add(t.total);
        }
        out
    }

    fn shape(&self) -> String {
        format!(
            "width {}, depth {}, family '{}'",
            self.width,
            self.depth,
            self.family.name()
        )
    }

    fn check_shape(&self, other: &Cms, function: &str) -> Result<()> {
        if (self.width, self.depth, self.family) != (other.width, other.depth, other.family) {
            return Err(Error::invalid(
                function,
                "state",
                format!(
                    "a Count-Min sketch of the first state's shape ({})",
                    self.shape()
                ),
                other.shape(),
            ));
        }
        Ok(())
    }

    /// `self ← self ⊔ other`: per replica, the cell-wise maximum.
    ///
    /// # Errors
    /// Different widths, depths or families, naming both.
    pub fn join(&mut self, other: &Cms, function: &str) -> Result<()> {
        self.merge_with(other, function, u64::max)
    }

    /// Adds `other`'s counts to ours (the partial states of one aggregation, which see each row
    /// exactly once); not a join.
    ///
    /// # Errors
    /// Different shapes.
    pub fn absorb(&mut self, other: &Cms, function: &str) -> Result<()> {
        self.merge_with(other, function, u64::saturating_add)
    }

    /// Per replica, cells and totals combined by `f`; replicas only in `other` are copied.
    fn merge_with(&mut self, other: &Cms, function: &str, f: fn(u64, u64) -> u64) -> Result<()> {
        self.check_shape(other, function)?;
        for (r, t) in &other.replicas {
            match self.replicas.get_mut(r) {
                None => {
                    self.replicas.insert(r.clone(), t.clone());
                }
                Some(mine) => {
                    for (a, b) in mine.cells.iter_mut().zip(&t.cells) {
                        *a = f(*a, *b);
                    }
                    mine.total = f(mine.total, t.total);
                }
            }
        }
        Ok(())
    }
}

/// Checks a decoded table's size.
pub(crate) fn check_table(function: &str, width: u32, depth: u32, t: &Table) -> Result<()> {
    let n = width as usize * depth as usize;
    if t.cells.len() != n {
        return Err(Error::invalid(
            function,
            "state",
            format!("a {depth} × {width} table"),
            format!("{} cells", t.cells.len()),
        ));
    }
    Ok(())
}
