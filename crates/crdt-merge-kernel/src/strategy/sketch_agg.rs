//! The sketch aggregates (`crdt_hll_agg`, `crdt_theta_agg`, `crdt_bloom_agg`, `crdt_cms_agg`,
//! `crdt_minhash_agg`): argument checks, constant parameters, and the per-row update.

// Casts that fail on overflow instead of giving NULL (a silently skipped row).
const STRICT: arrow_cast::CastOptions<'static> = arrow_cast::CastOptions {
    safe: false,
    format_options: arrow_cast::display::FormatOptions::new(),
};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use super::aggregate::{State, StatesByRow};
use crate::error::{Error, ErrorKind, Result};
use crate::order::Column;
use crate::sketch::hash::Items;
use crate::sketch::{
    bloom, cms, hll, minhash, theta, Bloom, Cms, Family, Hll, MinHash, Sketch, Theta,
};

/// Which sketch an aggregate builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SketchKind {
    /// `crdt_hll_agg(value [, precision [, family]])`.
    Hll,
    /// `crdt_theta_agg(value [, lg_k])`.
    Theta,
    /// `crdt_bloom_agg(value [, capacity, fp_rate])`.
    Bloom,
    /// `crdt_cms_agg(value, replica [, count [, width, depth]])`.
    Cms,
    /// `crdt_minhash_agg(value [, num_perm [, seed]])`.
    MinHash,
}

impl SketchKind {
    /// The aggregate's SQL name.
    pub fn aggregate_name(self) -> &'static str {
        match self {
            SketchKind::Hll => "crdt_hll_agg",
            SketchKind::Theta => "crdt_theta_agg",
            SketchKind::Bloom => "crdt_bloom_agg",
            SketchKind::Cms => "crdt_cms_agg",
            SketchKind::MinHash => "crdt_minhash_agg",
        }
    }

    /// The kind for an aggregate name.
    pub fn parse(name: &str) -> Option<SketchKind> {
        [
            SketchKind::Hll,
            SketchKind::Theta,
            SketchKind::Bloom,
            SketchKind::Cms,
            SketchKind::MinHash,
        ]
        .into_iter()
        .find(|k| k.aggregate_name() == name)
    }

    /// Parameter names after `value` (and `replica`, `count` for Count-Min), in order.
    fn params(self) -> &'static [&'static str] {
        match self {
            SketchKind::Hll => &["precision", "family"],
            SketchKind::Theta => &["lg_k"],
            SketchKind::Bloom => &["capacity", "fp_rate"],
            SketchKind::Cms => &["width", "depth"],
            SketchKind::MinHash => &["num_perm", "seed"],
        }
    }

    /// Checks the argument types; `Ok(())` or the caller error.
    pub(crate) fn check(self, name: &str, arg_types: &[DataType]) -> Result<()> {
        let arity = |ok: &[usize], expected: &str| -> Result<()> {
            if ok.contains(&arg_types.len()) {
                Ok(())
            } else {
                Err(Error::new(
                    name,
                    ErrorKind::Arity {
                        expected: expected.into(),
                        found: arg_types.len(),
                    },
                ))
            }
        };
        match self {
            SketchKind::Hll => arity(&[1, 2, 3], "1 to 3 (value [, precision [, family]])")?,
            SketchKind::Theta => arity(&[1, 2], "1 or 2 (value [, lg_k])")?,
            SketchKind::Bloom => arity(&[1, 3], "1 or 3 (value [, capacity, fp_rate])")?,
            SketchKind::Cms => arity(
                &[2, 3, 5],
                "2, 3 or 5 (value, replica [, count [, width, depth]])",
            )?,
            SketchKind::MinHash => arity(&[1, 2, 3], "1 to 3 (value [, num_perm [, seed]])")?,
        }
        let dummy: ArrayRef = arrow_array::new_null_array(&arg_types[0], 0);
        Items::new(leak(name), "value", &dummy)?;
        let first_param = if self == SketchKind::Cms { 3 } else { 1 };
        if self == SketchKind::Cms {
            if !crate::value::is_supported(&arg_types[1]) {
                return Err(Error::type_mismatch(
                    name,
                    "replica",
                    "a replica id (any orderable value)",
                    &arg_types[1],
                ));
            }
            if let Some(t) = arg_types.get(2) {
                if !(t.is_integer() || t == &DataType::Null) {
                    return Err(Error::type_mismatch(name, "count", "an integer count", t));
                }
            }
        }
        for (i, dt) in arg_types.iter().enumerate().skip(first_param) {
            let pname = self.params()[i - first_param];
            let ok = match pname {
                "family" => matches!(
                    dt,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
                ),
                "fp_rate" => {
                    dt.is_numeric() || matches!(dt, DataType::Decimal128(_, _) | DataType::Null)
                }
                _ => dt.is_integer() || dt == &DataType::Null,
            };
            if !ok {
                let want = match pname {
                    "family" => "text",
                    "fp_rate" => "a number",
                    _ => "an integer",
                };
                return Err(Error::type_mismatch(name, pname, want, dt));
            }
        }
        Ok(())
    }
}

// Catalogue names are 'static already; this only avoids threading lifetimes through Items.
fn leak(name: &str) -> &'static str {
    crate::catalogue::lookup(name).map_or("crdt_sketch", |f| f.name)
}

/// A constant parameter: the value of every row (all equal, none NULL).
enum Param {
    Int(i64),
    Float(f64),
    Text(String),
}

fn constant(name: &'static str, arg: &'static str, a: &ArrayRef) -> Result<Param> {
    let not_null = || Error::invalid(name, arg, "a constant, not NULL", "NULL");
    let varying = || {
        Error::invalid(
            name,
            arg,
            "the same value on every row (a constant)",
            "varying values",
        )
    };
    if a.null_count() > 0 {
        return Err(not_null());
    }
    match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let c = Column::new(name, arg, a)?;
            let first = c.str_at(0).unwrap_or_default().to_string();
            if (1..a.len()).any(|i| c.str_at(i) != Some(first.as_str())) {
                return Err(varying());
            }
            Ok(Param::Text(first))
        }
        dt if dt.is_integer() => {
            let c = arrow_cast::cast_with_options(a, &DataType::Int64, &STRICT).map_err(|_| {
                Error::invalid(name, arg, "a value that fits BIGINT", "a larger integer")
            })?;
            let c = c.as_primitive::<Int64Type>();
            let first = c.value(0);
            if c.values().iter().any(|&v| v != first) {
                return Err(varying());
            }
            Ok(Param::Int(first))
        }
        DataType::Null => Err(not_null()),
        _ => {
            let c = arrow_cast::cast(a, &DataType::Float64)?;
            let c = c.as_primitive::<Float64Type>();
            let first = c.value(0);
            if c.values().iter().any(|&v| v.to_bits() != first.to_bits()) {
                return Err(varying());
            }
            Ok(Param::Float(first))
        }
    }
}

impl Param {
    fn int(&self) -> i64 {
        match self {
            Param::Int(i) => *i,
            Param::Float(f) => *f as i64,
            Param::Text(_) => 0,
        }
    }
    fn float(&self) -> f64 {
        match self {
            Param::Int(i) => *i as f64,
            Param::Float(f) => *f,
            Param::Text(_) => f64::NAN,
        }
    }
}

/// The empty sketch the batch's parameters describe.
fn template(kind: SketchKind, name: &'static str, args: &[ArrayRef]) -> Result<Sketch> {
    let first = if kind == SketchKind::Cms { 3 } else { 1 };
    let p: Vec<Param> = args
        .iter()
        .enumerate()
        .skip(first)
        .map(|(i, a)| constant(name, kind.params()[i - first], a))
        .collect::<Result<_>>()?;
    let int = |i: usize, default: i64| p.get(i).map_or(default, Param::int);
    Ok(match kind {
        SketchKind::Hll => {
            let family = match p.get(1) {
                None => Family::Murmur3,
                Some(Param::Text(t)) => Family::parse(t).ok_or_else(|| {
                    Error::invalid(
                        name,
                        "family",
                        "'murmur3', 'pg_hll' or 'upstream'",
                        format!("{t:?}"),
                    )
                })?,
                Some(_) => Family::Murmur3,
            };
            Sketch::Hll(Hll::new(
                name,
                int(0, i64::from(hll::DEFAULT_PRECISION)),
                family,
            )?)
        }
        SketchKind::Theta => Sketch::Theta(Theta::new(name, int(0, theta::DEFAULT_LG_K))?),
        SketchKind::Bloom => Sketch::Bloom(Bloom::new(
            name,
            int(0, bloom::DEFAULT_CAPACITY),
            p.get(1).map_or(bloom::DEFAULT_FP_RATE, Param::float),
            Family::Murmur3,
        )?),
        SketchKind::Cms => Sketch::Cms(Cms::new(
            name,
            int(0, cms::DEFAULT_WIDTH),
            int(1, cms::DEFAULT_DEPTH),
            Family::Murmur3,
        )?),
        SketchKind::MinHash => Sketch::MinHash(MinHash::new(
            name,
            int(0, minhash::DEFAULT_NUM_PERM),
            int(1, minhash::DEFAULT_SEED),
        )?),
    })
}

/// The error for a group whose rows were built with different sketch parameters.
fn varying_params(name: &'static str, kind: SketchKind) -> Error {
    Error::invalid(
        name,
        kind.params()[0],
        "the same parameters on every row of a group",
        "parameters that differ between batches",
    )
}

/// Whether two sketches were built with the same parameters (so one row may update either).
#[inline]
fn same_params(a: &Sketch, b: &Sketch) -> bool {
    match (a, b) {
        (Sketch::Hll(x), Sketch::Hll(y)) => {
            (x.precision(), x.family()) == (y.precision(), y.family())
        }
        (Sketch::Theta(x), Sketch::Theta(y)) => x.lg_k() == y.lg_k(),
        (Sketch::Bloom(x), Sketch::Bloom(y)) => {
            (x.size(), x.num_hashes(), x.capacity()) == (y.size(), y.num_hashes(), y.capacity())
                && x.fp_rate().to_bits() == y.fp_rate().to_bits()
        }
        (Sketch::Cms(x), Sketch::Cms(y)) => (x.width(), x.depth()) == (y.width(), y.depth()),
        (Sketch::MinHash(x), Sketch::MinHash(y)) => {
            (x.num_perm(), x.seed()) == (y.num_perm(), y.seed())
        }
        _ => false,
    }
}

/// Feeds `n` rows into their states.
pub(crate) fn update<S: StatesByRow + ?Sized>(
    kind: SketchKind,
    name: &'static str,
    args: &[ArrayRef],
    n: usize,
    states: &mut S,
) -> Result<()> {
    let items = Items::new(name, "value", &args[0])?;
    let template = template(kind, name, args)?;
    let replica = if kind == SketchKind::Cms {
        Some(Column::new(name, "replica", &args[1])?)
    } else {
        None
    };
    let counts = match (kind, args.get(2)) {
        (SketchKind::Cms, Some(a)) => Some(
            arrow_cast::cast_with_options(a, &DataType::Int64, &STRICT).map_err(|_| {
                Error::invalid(
                    name,
                    "count",
                    "a value that fits BIGINT",
                    "a larger integer",
                )
            })?,
        ),
        _ => None,
    };
    let counts = counts.as_ref().map(|c| c.as_primitive::<Int64Type>());
    let seed = template.batch_seed();
    let mut pairs = Vec::new();
    if let Some(seed) = seed {
        items.murmur_all(seed, &mut pairs)?;
    }
    if replica.is_none() && seed.is_some() && matches!(template, Sketch::Hll(_) | Sketch::Theta(_))
    {
        return update_runs(name, kind, &template, &args[0], &pairs, n, states);
    }
    let mut buf = Vec::new();
    let mut id = String::new();
    for row in 0..n {
        if items.is_null(row) {
            continue;
        }
        let mut count = 1u64;
        if let Some(r) = &replica {
            if r.is_null(row) {
                continue;
            }
            // Replica ids repeat in runs: read text in place, convert other types per row.
            match r.str_at(row) {
                Some(t) if t == id => {}
                Some(t) => {
                    id.clear();
                    id.push_str(t);
                }
                None => id = r.get(row)?.to_text(),
            }
            if let Some(c) = counts {
                if c.is_null(row) {
                    continue;
                }
                let v = c.value(row);
                if v < 0 {
                    return Err(Error::invalid(
                        name,
                        "count",
                        "a non-negative count",
                        v.to_string(),
                    ));
                }
                count = v as u64;
            }
        }
        let st = states.state(row);
        if let State::Empty = st {
            *st = State::Sketch(Box::new(template.clone()));
        }
        match st {
            State::Sketch(s) => {
                if !same_params(s, &template) {
                    return Err(varying_params(name, kind));
                }
                if seed.is_some() {
                    s.add_pair(pairs[row], &id, count);
                } else {
                    s.add(&items, row, &mut buf, &id, count)?;
                }
            }
            _ => return Err(Error::internal(name, "state of another aggregate")),
        }
    }
    Ok(())
}

/// HLL and Theta over precomputed hashes: rows that map to the same state (all of them when
/// ungrouped; runs of a group) are added in one loop, with the state found and checked once.
fn update_runs<S: StatesByRow + ?Sized>(
    name: &'static str,
    kind: SketchKind,
    template: &Sketch,
    values: &ArrayRef,
    pairs: &[(u64, u64)],
    n: usize,
    states: &mut S,
) -> Result<()> {
    let nulls = values.logical_nulls();
    let valid = |r: usize| nulls.as_ref().is_none_or(|b| b.is_valid(r));
    let grouped = n > 1 && !std::ptr::eq(states.state(0), states.state(n - 1));
    if let (true, Sketch::Hll(_)) = (grouped, template) {
        return update_hll_grouped(name, kind, template, &valid, pairs, n, states);
    }
    let mut row = 0;
    while row < n {
        if !valid(row) {
            row += 1;
            continue;
        }
        let here: *const State = states.state(row);
        let mut end = row + 1;
        while end < n && std::ptr::eq(states.state(end) as *const State, here) {
            end += 1;
        }
        let st = states.state(row);
        if let State::Empty = st {
            *st = State::Sketch(Box::new(template.clone()));
        }
        let State::Sketch(s) = st else {
            return Err(Error::internal(name, "state of another aggregate"));
        };
        if !same_params(s, template) {
            return Err(varying_params(name, kind));
        }
        let run = (row..end).filter(|&r| valid(r)).map(|r| pairs[r]);
        match &mut **s {
            // Without NULLs a run is a slice: the register loop then has no validity test.
            Sketch::Hll(h) if nulls.is_none() => h.add_pairs(pairs[row..end].iter().copied()),
            Sketch::Hll(h) => h.add_pairs(run),
            Sketch::Theta(t) => run.for_each(|(h1, _)| t.add_hash(h1)),
            _ => return Err(Error::internal(name, "run update of another sketch")),
        }
        row = end;
    }
    Ok(())
}

/// A grouped HLL batch, row by row: the rows of many groups interleave, so runs are short.
/// Large sketches buffer each row's register update ([`Hll::add_buffered`]), since a direct
/// write into one of many 16 KiB register arrays would miss the cache almost every time.
fn update_hll_grouped<S: StatesByRow + ?Sized>(
    name: &'static str,
    kind: SketchKind,
    template: &Sketch,
    valid: &dyn Fn(usize) -> bool,
    pairs: &[(u64, u64)],
    n: usize,
    states: &mut S,
) -> Result<()> {
    // The parameters are checked when the row's state differs from the previous row's.
    let mut checked: *const State = std::ptr::null();
    for (row, &pair) in pairs.iter().enumerate().take(n) {
        if !valid(row) {
            continue;
        }
        let st = states.state(row);
        if let State::Empty = st {
            *st = State::Sketch(Box::new(template.clone()));
        }
        let here: *const State = st;
        let State::Sketch(s) = st else {
            return Err(Error::internal(name, "state of another aggregate"));
        };
        if !std::ptr::eq(here, checked) {
            if !same_params(s, template) {
                return Err(varying_params(name, kind));
            }
            checked = here;
        }
        match &mut **s {
            Sketch::Hll(h) => h.add_buffered(pair),
            _ => return Err(Error::internal(name, "grouped update of another sketch")),
        }
    }
    Ok(())
}

/// `into ← into ⊔ from` for the partial states of one aggregation (Count-Min adds: each row
/// reached exactly one partial state).
pub(crate) fn combine(name: &str, into: &mut Sketch, from: &Sketch) -> Result<()> {
    match (into, from) {
        (Sketch::Cms(a), Sketch::Cms(b)) => a.absorb(b, name),
        (a, b) => a.join(b, name),
    }
}
