//! Table merge: N replicas (Arrow record batches) and a [`MergeSpec`] → merged rows ordered by
//! key.
//!
//! Replicas are combined by column name; a column missing from a replica is bottom there, and
//! types widen per [`widen`]. Two plans, identical results:
//!
//! * **join**: two inputs whose keys are unique within each — align rows by key, then one
//!   pairwise `_join` per column (the cheaper plan);
//! * **grouped**: anything else (more inputs, duplicate keys) — one [`Columnar`] accumulator per
//!   column over every row.
//!
//! The pairwise joins are defined as the aggregates over two rows, so the plans cannot disagree
//! (a property test checks it anyway). NULL keys are an error naming the key column. The
//! spec's `WHERE` is raw SQL and is applied by the host engine before calling this.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use hashbrown::HashMap;

use crate::catalogue::invoke_scalar;
use crate::error::{Error, Result};
use crate::mergeql::{ColumnRule, MergeSpec, CONFLICTS_COLUMN, PROVENANCE_SUFFIX};
use crate::order::Column;
use crate::strategy::{Aggregate, Columnar, StrategyKind};

const F: &str = "crdt_merge";

/// One replica: a name (used for provenance when there is no replica column) and its rows.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Name reported by provenance.
    pub name: String,
    /// Rows; every batch has one schema.
    pub batches: Vec<RecordBatch>,
}

/// Which plan a merge used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Key join + pairwise joins (two inputs, unique keys in each).
    Join,
    /// GROUP BY key over all rows.
    Grouped,
}

/// Plan choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlanChoice {
    /// Join when it applies, grouped otherwise.
    #[default]
    Auto,
    /// Always grouped.
    Grouped,
    /// Join; an error when it does not apply.
    Join,
}

/// What a merge did.
#[derive(Debug, Clone)]
pub struct MergeOutput {
    /// Merged rows ordered by key.
    pub batch: RecordBatch,
    /// The plan used.
    pub plan: Plan,
    /// Input rows.
    pub rows_in: usize,
    /// Cells where two or more distinct non-NULL values met, per column, in output order.
    pub conflicts: Vec<(String, u64)>,
}

/// The wider of two column types, per the schema-evolution rules: int8 < int16 < int32 < int64,
/// float32 < float64, any integer with a float → float64, decimals to the larger precision and
/// scale, date < timestamp, timestamp units to the finest, text and binary variants one type.
///
/// # Errors
/// Any other pair (a zoned and an unzoned timestamp included), naming the column and both types.
pub fn widen(column: &str, a: &DataType, b: &DataType) -> Result<DataType> {
    use DataType::*;
    if a == b {
        return Ok(a.clone());
    }
    let int_rank = |t: &DataType| match t {
        Int8 => Some((1, true)),
        Int16 => Some((2, true)),
        Int32 => Some((3, true)),
        Int64 => Some((4, true)),
        UInt8 => Some((1, false)),
        UInt16 => Some((2, false)),
        UInt32 => Some((3, false)),
        UInt64 => Some((4, false)),
        _ => None,
    };
    let unit_rank = |u: &TimeUnit| match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    };
    let out = match (a, b) {
        (Null, t) | (t, Null) => Some(t.clone()),
        (x, y) if int_rank(x).is_some() && int_rank(y).is_some() => {
            let (rx, sx) = int_rank(x).unwrap_or((4, true));
            let (ry, sy) = int_rank(y).unwrap_or((4, true));
            Some(if sx == sy {
                if rx >= ry {
                    x.clone()
                } else {
                    y.clone()
                }
            } else {
                Int64
            })
        }
        (Float32 | Float64, Float32 | Float64) => Some(Float64),
        (x, Float32 | Float64) | (Float32 | Float64, x) if int_rank(x).is_some() => Some(Float64),
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let s = (*s1).max(*s2);
            let int_digits = (*p1 as i16 - *s1 as i16).max(*p2 as i16 - *s2 as i16);
            let p = (int_digits + s as i16).clamp(1, 38) as u8;
            Some(Decimal128(p, s))
        }
        (Date32 | Date64, Date32 | Date64) => Some(Date64),
        (Date32 | Date64, Timestamp(u, tz)) | (Timestamp(u, tz), Date32 | Date64) => {
            Some(Timestamp(*u, tz.clone()))
        }
        (Timestamp(u1, z1), Timestamp(u2, z2)) if z1.is_some() == z2.is_some() => Some(Timestamp(
            if unit_rank(u1) >= unit_rank(u2) {
                *u1
            } else {
                *u2
            },
            z1.clone(),
        )),
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => Some(LargeUtf8),
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => Some(LargeBinary),
        (List(f1) | LargeList(f1), List(f2) | LargeList(f2)) => {
            let inner = widen(column, f1.data_type(), f2.data_type())?;
            Some(List(Arc::new(Field::new("item", inner, true))))
        }
        _ => None,
    };
    out.ok_or_else(|| {
        Error::type_mismatch(
            F,
            column,
            format!("a type compatible with {a}"),
            format!("{b} in another replica"),
        )
    })
}

/// The unified schema of all replicas, columns in order of first appearance.
fn unify(replicas: &[Replica]) -> Result<SchemaRef> {
    let mut fields: Vec<(String, DataType)> = Vec::new();
    for r in replicas {
        let Some(first) = r.batches.first() else {
            continue;
        };
        for f in first.schema().fields() {
            match fields.iter_mut().find(|(n, _)| n == f.name()) {
                Some((n, t)) => *t = widen(n, t, f.data_type())?,
                None => fields.push((f.name().clone(), f.data_type().clone())),
            }
        }
    }
    Ok(Arc::new(Schema::new(
        fields
            .into_iter()
            .map(|(n, t)| Field::new(n, t, true))
            .collect::<Vec<_>>(),
    )))
}

/// One input batch, cast to the unified schema, with its source name.
struct Input {
    batch: RecordBatch,
    source: String,
}

fn conform(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => Ok(arrow_cast::cast(c, f.data_type())?),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// How one output column is computed: an aggregate over argument columns, constants appended.
struct OutCol {
    name: String,
    agg: Aggregate,
    join: &'static str,
    /// Argument column names (per side), then constants.
    args: Vec<String>,
    consts: Vec<ArrayRef>,
    /// Replace NULL by false in the first argument (tombstones).
    coalesce_false: bool,
    /// Set the first argument to NULL where this column is NULL (a per-cell clock follows
    /// the cells of its column that count).
    mask_by: Option<String>,
    /// Conflicts and provenance apply to this column.
    data: bool,
    strategy: Option<StrategyKind>,
}

fn field_type(schema: &SchemaRef, name: &str) -> Result<DataType> {
    schema
        .field_with_name(name)
        .map(|f| f.data_type().clone())
        .map_err(|_| {
            Error::invalid(
                F,
                name,
                "a column present in at least one replica",
                "no such column",
            )
        })
}

fn constant(a: &ArrayRef, n: usize) -> Result<ArrayRef> {
    Ok(arrow_select::take::take(
        a.as_ref(),
        &UInt32Array::from(vec![0u32; n]),
        None,
    )?)
}

/// A per-cell replica column of a [`MergeSpec::cell_clocks`] merge: (data column, its replica
/// column, its clock column, lww_nullable).
type CellReplica = (String, String, String, bool);
type CellReplicas = [CellReplica];

fn plan_columns(
    spec: &MergeSpec,
    schema: &SchemaRef,
    cell_replicas: &CellReplicas,
) -> Result<Vec<OutCol>> {
    let mut out = Vec::new();
    let cell_clocks: Vec<&str> = spec
        .rules
        .iter()
        .filter_map(|r| r.clock.as_deref())
        .collect();
    // The replica that breaks clock ties for data column `column`: its own cell replica when
    // it keeps one, else the row's.
    let replica_for = |column: &str| -> Option<String> {
        cell_replicas
            .iter()
            .find(|(c, ..)| c == column)
            .map(|(_, r, ..)| r.clone())
            .or_else(|| spec.replica.clone())
    };
    for f in schema.fields() {
        let name = f.name();
        let dt = f.data_type();
        if spec.key.iter().any(|k| k == name) {
            continue;
        }
        let with_replica = |mut v: Vec<String>| {
            v.extend(replica_for(name));
            v
        };
        // `name` as the value of an lww over `args` (`name` first), where only the cells
        // `mask_by` has count: how a clock or replica follows its column's winning cell.
        let winner_of = |args: Vec<String>, mask_by: Option<String>| -> Result<OutCol> {
            let types: Vec<DataType> = args
                .iter()
                .map(|a| field_type(schema, a))
                .collect::<Result<_>>()?;
            Ok(OutCol {
                name: name.clone(),
                agg: Aggregate::new("crdt_lww", &types)?,
                join: "crdt_lww_join",
                args,
                consts: vec![],
                coalesce_false: false,
                mask_by,
                data: false,
                strategy: None,
            })
        };
        // A cell replica leaves as the replica of its column's winning cell.
        if let Some((column, _, ts, nullable)) = cell_replicas.iter().find(|(_, r, ..)| r == name) {
            let args = vec![name.clone(), ts.clone(), name.clone()];
            out.push(winner_of(args, (!nullable).then(|| column.clone()))?);
            continue;
        }
        let max = |c: &str| -> Result<OutCol> {
            Ok(OutCol {
                name: c.to_string(),
                agg: Aggregate::new("crdt_max", &[field_type(schema, c)?])?,
                join: "crdt_max_join",
                args: vec![c.to_string()],
                consts: vec![],
                coalesce_false: false,
                mask_by: None,
                data: false,
                strategy: None,
            })
        };
        // A per-cell clock leaves as the clock of its column's winning cell, so the output is
        // itself a replica that merges exactly again (with max, a newer NULL cell's clock
        // would be paired with an older value).
        let owner = spec
            .rules
            .iter()
            .find(|r| r.clock.as_deref() == Some(name.as_str()));
        if let Some(rule) = owner.filter(|r| r.strategy == StrategyKind::Lww) {
            let mut args = vec![name.clone(), name.clone()];
            args.extend(replica_for(&rule.column));
            out.push(winner_of(args, Some(rule.column.clone()))?);
            continue;
        }
        if name == &spec.clock || cell_clocks.contains(&name.as_str()) {
            out.push(max(name)?);
            continue;
        }
        let need_clock = |clock: &str| -> Result<DataType> {
            field_type(schema, clock).map_err(|_| {
                Error::invalid(
                    F,
                    "clock",
                    format!("a clock column `{clock}` in the replicas (set the row clock or a per-column clock)"),
                    format!("no column `{clock}`"),
                )
            })
        };
        if spec.replica.as_deref() == Some(name) {
            let ts = need_clock(&spec.clock)?;
            out.push(OutCol {
                name: name.clone(),
                agg: Aggregate::new("crdt_lww", &[dt.clone(), ts, dt.clone()])?,
                join: "crdt_lww_join",
                args: vec![name.clone(), spec.clock.clone(), name.clone()],
                consts: vec![],
                coalesce_false: false,
                mask_by: None,
                data: false,
                strategy: None,
            });
            continue;
        }
        if spec.tombstone.as_deref() == Some(name) {
            if dt != &DataType::Boolean && dt != &DataType::Null {
                return Err(Error::type_mismatch(
                    F,
                    name.as_str(),
                    "a boolean tombstone",
                    dt,
                ));
            }
            let ts = need_clock(&spec.clock)?;
            out.push(OutCol {
                name: name.clone(),
                agg: Aggregate::new("crdt_lww_nullable", &[DataType::Boolean, ts])?,
                join: "crdt_lww_nullable_join",
                args: vec![name.clone(), spec.clock.clone()],
                consts: vec![],
                coalesce_false: true,
                mask_by: None,
                data: false,
                strategy: None,
            });
            continue;
        }
        let rule = spec.rule(name);
        let k = rule.map_or(StrategyKind::Lww, |r| r.strategy);
        let clock = rule
            .and_then(|r| r.clock.clone())
            .unwrap_or_else(|| spec.clock.clone());
        let (agg_args, consts): (Vec<String>, Vec<ArrayRef>) = match k {
            StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest => {
                need_clock(&clock)?;
                (with_replica(vec![name.clone(), clock.clone()]), vec![])
            }
            StrategyKind::Max | StrategyKind::Min => (vec![name.clone()], vec![]),
            StrategyKind::Priority => {
                let levels: ArrayRef = Arc::new(StringArray::from(
                    rule.map(|r| r.levels.clone()).unwrap_or_default(),
                ));
                let levels = arrow_cast::cast(&levels, dt).map_err(|_| {
                    Error::invalid(
                        F,
                        "levels",
                        format!("levels readable as {dt}"),
                        "levels of another type",
                    )
                })?;
                let offsets = arrow_buffer::OffsetBuffer::from_lengths([levels.len()]);
                let list: ArrayRef = Arc::new(arrow_array::ListArray::try_new(
                    Arc::new(Field::new("item", dt.clone(), true)),
                    offsets,
                    levels,
                    None,
                )?);
                (vec![name.clone()], vec![list])
            }
            StrategyKind::Union | StrategyKind::Concat => {
                let text = matches!(
                    dt,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                );
                let sep = rule.and_then(|r| r.sep.clone());
                match (k, text, sep) {
                    (StrategyKind::Union, true, sep) => (
                        vec![name.clone()],
                        vec![Arc::new(StringArray::from(vec![sep.unwrap_or(",".into())]))
                            as ArrayRef],
                    ),
                    (_, _, Some(sep)) => (
                        vec![name.clone()],
                        vec![Arc::new(StringArray::from(vec![sep])) as ArrayRef],
                    ),
                    _ => (vec![name.clone()], vec![]),
                }
            }
            StrategyKind::GCounter | StrategyKind::PNCounter => {
                out.push(OutCol {
                    name: name.clone(),
                    agg: Aggregate::new("crdt_state_merge_agg", std::slice::from_ref(dt))?,
                    join: "crdt_state_merge",
                    args: vec![name.clone()],
                    consts: vec![],
                    coalesce_false: false,
                    mask_by: None,
                    data: true,
                    strategy: Some(k),
                });
                continue;
            }
        };
        let mut types: Vec<DataType> = agg_args
            .iter()
            .map(|a| field_type(schema, a))
            .collect::<Result<_>>()?;
        types.extend(consts.iter().map(|c| c.data_type().clone()));
        let agg = Aggregate::new(k.aggregate_name(), &types).map_err(|e| {
            Error::new(
                F,
                crate::ErrorKind::InvalidArgument {
                    argument: name.clone(),
                    expected: format!("a column the `{}` strategy accepts", k.name()),
                    found: e.kind.to_string(),
                },
            )
        })?;
        out.push(OutCol {
            name: name.clone(),
            agg,
            join: k.join_name().unwrap_or("crdt_state_merge"),
            args: agg_args,
            consts,
            coalesce_false: false,
            mask_by: None,
            data: true,
            strategy: Some(k),
        });
    }
    Ok(out)
}

fn coalesce_false(a: &ArrayRef) -> ArrayRef {
    match a.as_boolean_opt() {
        Some(b) => Arc::new(BooleanArray::from_iter(
            b.iter().map(|x| Some(x.unwrap_or(false))),
        )),
        None => Arc::new(BooleanArray::from(vec![false; a.len()])),
    }
}

fn args_of(c: &OutCol, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    let n = batch.num_rows();
    let mut v: Vec<ArrayRef> = Vec::with_capacity(c.args.len() + c.consts.len());
    for (i, a) in c.args.iter().enumerate() {
        let col = batch
            .column_by_name(a)
            .cloned()
            .ok_or_else(|| Error::internal(F, format!("column {a} vanished")))?;
        let col = match (&c.mask_by, i) {
            (Some(m), 0) => {
                let by = batch
                    .column_by_name(m)
                    .ok_or_else(|| Error::internal(F, format!("column {m} vanished")))?;
                let drop = BooleanArray::from_iter((0..n).map(|r| Some(by.is_null(r))));
                arrow_select::nullif::nullif(&col, &drop)?
            }
            _ => col,
        };
        v.push(if i == 0 && c.coalesce_false {
            coalesce_false(&col)
        } else {
            col
        });
    }
    for k in &c.consts {
        v.push(constant(k, n)?);
    }
    Ok(v)
}

/// Assigns dense group ids to key tuples, in first-seen order.
struct Grouper {
    converter: RowConverter,
    /// One integer key column: hashed directly.
    ints: Option<HashMap<i64, u32>>,
    bytes: HashMap<Box<[u8]>, u32>,
    /// (input index, row) of each group's first row, for gathering the keys.
    first: Vec<(usize, usize)>,
}

fn canonical_key(a: &ArrayRef) -> Result<ArrayRef> {
    // ±0 and NaNs must group together, as the canonical order says they are equal.
    match a.data_type() {
        DataType::Float64 | DataType::Float32 => crate::value::canonical_float_array(a.clone()),
        _ => Ok(a.clone()),
    }
}

impl Grouper {
    fn new(types: &[DataType]) -> Result<Self> {
        let int_key = matches!(
            types,
            [DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64]
        );
        Ok(Grouper {
            converter: RowConverter::new(
                types.iter().map(|t| SortField::new(t.clone())).collect(),
            )?,
            ints: int_key.then(HashMap::new),
            bytes: HashMap::new(),
            first: Vec::new(),
        })
    }

    fn id(&mut self, found: Option<u32>, input: usize, row: usize) -> (u32, bool) {
        match found {
            Some(id) => (id, false),
            None => {
                let id = self.first.len() as u32;
                self.first.push((input, row));
                (id, true)
            }
        }
    }

    /// Group ids of `keys`' rows.
    fn ids(&mut self, input: usize, keys: &[ArrayRef]) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(keys.first().map_or(0, |k| k.len()));
        if let Some(mut ints) = self.ints.take() {
            let k = arrow_cast::cast(&keys[0], &DataType::Int64)?;
            for (row, v) in k
                .as_primitive::<arrow_array::types::Int64Type>()
                .values()
                .iter()
                .enumerate()
            {
                let found = ints.get(v).copied();
                let (id, new) = self.id(found, input, row);
                if new {
                    ints.insert(*v, id);
                }
                out.push(id as usize);
            }
            self.ints = Some(ints);
            return Ok(out);
        }
        let keys: Vec<ArrayRef> = keys.iter().map(canonical_key).collect::<Result<_>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        for (row, r) in rows.iter().enumerate() {
            let found = self.bytes.get(r.as_ref()).copied();
            let (id, new) = self.id(found, input, row);
            if new {
                self.bytes.insert(r.as_ref().into(), id);
            }
            out.push(id as usize);
        }
        Ok(out)
    }
}

/// Merges `replicas` under `spec` with the plan `choice` allows.
///
/// # Errors
/// NULL keys, missing key or clock columns, incompatible types, a strategy that does not fit
/// its column, a `WHERE` (hosts apply filters), and the strategies' own errors.
pub fn merge(replicas: &[Replica], spec: &MergeSpec, choice: PlanChoice) -> Result<MergeOutput> {
    if spec.cell_clocks {
        let (replicas, spec, cell_replicas) = with_cell_clocks(replicas, spec)?;
        return merge_planned(&replicas, &spec, choice, &cell_replicas);
    }
    merge_planned(replicas, spec, choice, &[])
}

/// A [`MergeSpec::cell_clocks`] merge as a merge with explicit per-cell clocks: every kept
/// column `c` gets the clock column `c__ts` (and replica `c__replica`), filled from the row
/// clock (replica) in the inputs that lack it, since each of their cells was written at its
/// row's clock.
fn with_cell_clocks(
    replicas: &[Replica],
    spec: &MergeSpec,
) -> Result<(Vec<Replica>, MergeSpec, Vec<CellReplica>)> {
    let schema = unify(replicas)?;
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let kept = spec.cell_clock_columns(&names);
    let mut plain = spec.clone();
    plain.cell_clocks = false;
    for k in &kept {
        match plain.rules.iter_mut().find(|r| r.column == k.column) {
            Some(rule) => rule.clock = Some(k.ts.clone()),
            None => plain.rules.push(
                ColumnRule::new(k.column.clone(), StrategyKind::Lww).with_clock(k.ts.clone()),
            ),
        }
    }
    let fill = |batch: &RecordBatch| -> Result<RecordBatch> {
        let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        let mut add = |name: &str, from: Option<&str>| {
            if batch.column_by_name(name).is_some() {
                return;
            }
            if let Some(col) = from.and_then(|f| batch.column_by_name(f)) {
                fields.push(Arc::new(Field::new(name, col.data_type().clone(), true)));
                columns.push(col.clone());
            }
        };
        for k in &kept {
            add(&k.ts, Some(&spec.clock));
            if let Some(r) = &k.replica {
                add(r, spec.replica.as_deref());
            }
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    };
    let replicas = replicas
        .iter()
        .map(|r| {
            Ok(Replica {
                name: r.name.clone(),
                batches: r.batches.iter().map(fill).collect::<Result<_>>()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let cell_replicas = kept
        .iter()
        .filter_map(|k| {
            let r = k.replica.clone()?;
            Some((k.column.clone(), r, k.ts.clone(), k.nullable))
        })
        .collect();
    Ok((replicas, plain, cell_replicas))
}

fn merge_planned(
    replicas: &[Replica],
    spec: &MergeSpec,
    choice: PlanChoice,
    cell_replicas: &CellReplicas,
) -> Result<MergeOutput> {
    if spec.filter.is_some() {
        return Err(Error::invalid(
            F,
            "WHERE",
            "filters applied by the host engine before the merge",
            "a WHERE clause",
        ));
    }
    if spec.key.is_empty() {
        return Err(Error::invalid(F, "key", "at least one key column", "none"));
    }
    let schema = unify(replicas)?;
    let key_types: Vec<DataType> = spec
        .key
        .iter()
        .map(|k| field_type(&schema, k))
        .collect::<Result<_>>()?;
    let cols = plan_columns(spec, &schema, cell_replicas)?;
    // Conform inputs, check NULL keys, assign groups.
    let mut inputs: Vec<Input> = Vec::new();
    let mut replica_of: Vec<usize> = Vec::new();
    for (ri, r) in replicas.iter().enumerate() {
        for b in &r.batches {
            let batch = conform(&schema, b)?;
            for k in &spec.key {
                if batch.column_by_name(k).is_some_and(|c| c.null_count() > 0) {
                    return Err(Error::invalid(
                        F,
                        k.as_str(),
                        "a key without NULLs (NULL never equals itself, so it cannot be merged)",
                        format!("NULL in replica `{}`", r.name),
                    ));
                }
            }
            inputs.push(Input {
                batch,
                source: r.name.clone(),
            });
            replica_of.push(ri);
        }
    }
    let rows_in: usize = inputs.iter().map(|i| i.batch.num_rows()).sum();
    let mut grouper = Grouper::new(&key_types)?;
    let mut group_ids: Vec<Vec<usize>> = Vec::with_capacity(inputs.len());
    // A key repeating inside one replica rules out the join plan: remember the last replica
    // that touched each group.
    let mut owner: Vec<u32> = Vec::new();
    let mut dups = false;
    for (i, inp) in inputs.iter().enumerate() {
        let keys: Vec<ArrayRef> = spec
            .key
            .iter()
            .map(|k| {
                inp.batch
                    .column_by_name(k)
                    .cloned()
                    .ok_or_else(|| Error::internal(F, format!("key {k} vanished")))
            })
            .collect::<Result<_>>()?;
        let ids = grouper.ids(i, &keys)?;
        let r = replica_of[i] as u32;
        owner.resize(grouper.first.len(), u32::MAX);
        for &g in &ids {
            dups |= owner[g] == r;
            owner[g] = r;
        }
        group_ids.push(ids);
    }
    let groups = grouper.first.len();
    let live_replicas = replicas.iter().filter(|r| !r.batches.is_empty()).count();
    let join_ok = live_replicas <= 2 && !dups;
    let plan = match choice {
        PlanChoice::Grouped => Plan::Grouped,
        PlanChoice::Auto if join_ok => Plan::Join,
        PlanChoice::Auto => Plan::Grouped,
        PlanChoice::Join if join_ok => Plan::Join,
        PlanChoice::Join => {
            return Err(Error::invalid(
                F,
                "plan",
                "two replicas with unique keys for the join plan",
                "more replicas or duplicate keys",
            ))
        }
    };

    let mut out_cols: Vec<(String, ArrayRef)> = Vec::new();
    // Keys: the first row of each group.
    let first_idx: Vec<(usize, usize)> = grouper.first.clone();
    for k in &spec.key {
        let arrays: Vec<ArrayRef> = inputs
            .iter()
            .map(|i| {
                i.batch
                    .column_by_name(k)
                    .cloned()
                    .unwrap_or_else(|| new_null_array(&DataType::Null, 0))
            })
            .collect();
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        out_cols.push((
            k.clone(),
            arrow_select::interleave::interleave(&refs, &first_idx)?,
        ));
    }
    let mut conflicts = Vec::new();
    let sources: Vec<ArrayRef> = inputs
        .iter()
        .map(|i| {
            Arc::new(StringArray::from(vec![
                i.source.as_str();
                i.batch.num_rows()
            ])) as ArrayRef
        })
        .collect();
    let mut conflict_rows = vec![0u64; groups];
    for c in &cols {
        let merged = match plan {
            Plan::Grouped => {
                let mut acc = Columnar::new(c.agg.clone());
                for (i, inp) in inputs.iter().enumerate() {
                    acc.update(&args_of(c, &inp.batch)?, &group_ids[i], groups)?;
                }
                acc.finish()?
            }
            Plan::Join => join_plan(c, &inputs, &replica_of, &group_ids, groups)?,
        };
        out_cols.push((c.name.clone(), merged.clone()));
        if spec.provenance && c.data {
            // A conflict: two or more distinct non-NULL values met, i.e. min ≠ max.
            let dt = c.agg.arg_types()[0].clone();
            let mut lo = Columnar::new(Aggregate::new("crdt_min", std::slice::from_ref(&dt))?);
            let mut hi = Columnar::new(Aggregate::new("crdt_max", &[dt])?);
            for (i, inp) in inputs.iter().enumerate() {
                let v = args_of(c, &inp.batch)?.remove(0);
                lo.update(std::slice::from_ref(&v), &group_ids[i], groups)?;
                hi.update(&[v], &group_ids[i], groups)?;
            }
            let (lo, hi) = (lo.finish()?, hi.finish()?);
            let (lc, hc) = (Column::new(F, &c.name, &lo)?, Column::new(F, &c.name, &hi)?);
            let mut n = 0u64;
            for g in 0..groups {
                if !lc.is_null(g) && lc.cmp_rows(g, &hc, g)? != Ordering::Equal {
                    n += 1;
                    conflict_rows[g] += 1;
                }
            }
            conflicts.push((c.name.clone(), n));
            if matches!(
                c.strategy,
                Some(StrategyKind::Lww | StrategyKind::LwwNullable)
            ) {
                // Winner's replica: LWW over (source or replica id, ts, value-as-replica), so the
                // order is the column's own (ts, replica, value) and ties go to the greatest id.
                let prov = provenance(c, spec, &inputs, &sources, &group_ids, groups)?;
                out_cols.push((format!("{}{}", c.name, PROVENANCE_SUFFIX), prov));
            }
        }
    }
    if spec.provenance {
        out_cols.push((
            CONFLICTS_COLUMN.to_string(),
            Arc::new(UInt64Array::from(conflict_rows)),
        ));
    }
    // Order by key in the canonical order.
    let key_cols: Vec<Column> = out_cols[..spec.key.len()]
        .iter()
        .map(|(n, a)| Column::new(F, n, a))
        .collect::<Result<_>>()?;
    let mut perm: Vec<u32> = (0..groups as u32).collect();
    let mut err = None;
    if let [Column::Int(k)] = key_cols.as_slice() {
        let v = k.values();
        perm.sort_unstable_by_key(|&g| v[g as usize]);
    } else {
        perm.sort_unstable_by(|&x, &y| {
            for k in &key_cols {
                match k.cmp_rows(x as usize, k, y as usize) {
                    Ok(Ordering::Equal) => continue,
                    Ok(o) => return o,
                    Err(e) => {
                        err = Some(e);
                        return Ordering::Equal;
                    }
                }
            }
            Ordering::Equal
        });
    }
    if let Some(e) = err {
        return Err(e);
    }
    if let Some(l) = spec.limit {
        perm.truncate(l.min(perm.len() as u64) as usize);
    }
    let perm = UInt32Array::from(perm);
    let fields: Vec<Field> = out_cols
        .iter()
        .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
        .collect();
    let arrays: Vec<ArrayRef> = out_cols
        .iter()
        .map(|(_, a)| arrow_select::take::take(a.as_ref(), &perm, None))
        .collect::<std::result::Result<_, _>>()?;
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    Ok(MergeOutput {
        batch,
        plan,
        rows_in,
        conflicts,
    })
}

/// The join plan over two replicas whose rows the caller has already aligned by key (for
/// example with its engine's full outer join): row `i` of `left` and of `right` hold the same
/// key's row in each replica, or NULL in every column where that replica lacks the key (NULL is
/// bottom, exactly what [`merge`]'s own join plan pads with). Key columns may be left out; they
/// are not merged. Returns the merged non-key columns, named and ordered as [`merge`] outputs
/// them, row `i` for key `i`: no reordering and no `LIMIT`, which stay with the caller.
///
/// Keys must be unique within each replica (the caller checks; a key repeated inside a replica
/// needs the grouped plan). Types widen per [`widen`] across the two sides.
///
/// # Errors
/// Provenance, `WHERE` or `LIMIT` in the spec (they need [`merge`]), sides of different lengths,
/// and everything [`merge`] rejects for these columns.
pub fn merge_aligned(
    left: &RecordBatch,
    right: &RecordBatch,
    spec: &MergeSpec,
) -> Result<RecordBatch> {
    for (set, what) in [
        (spec.provenance, "PROVENANCE"),
        (spec.filter.is_some(), "WHERE"),
        (spec.limit.is_some(), "LIMIT"),
        (spec.cell_clocks, "cell clocks"),
    ] {
        if set {
            return Err(Error::invalid(
                F,
                "spec",
                "a spec without PROVENANCE, WHERE, LIMIT or cell clocks for an aligned merge (use merge)",
                what,
            ));
        }
    }
    if left.num_rows() != right.num_rows() {
        return Err(Error::invalid(
            F,
            "right",
            format!("{} rows, aligned with `left`", left.num_rows()),
            format!("{} rows", right.num_rows()),
        ));
    }
    let sides = [
        Replica {
            name: "left".into(),
            batches: vec![left.clone()],
        },
        Replica {
            name: "right".into(),
            batches: vec![right.clone()],
        },
    ];
    let schema = unify(&sides)?;
    let cols = plan_columns(spec, &schema, &[])?;
    let (l, r) = (conform(&schema, left)?, conform(&schema, right)?);
    let n = l.num_rows();
    let mut fields = Vec::with_capacity(cols.len());
    let mut arrays = Vec::with_capacity(cols.len());
    for c in &cols {
        let mut all = args_of(c, &l)?;
        all.truncate(c.args.len());
        all.extend(args_of(c, &r)?.into_iter().take(c.args.len()));
        for k in &c.consts {
            all.push(constant(k, n)?);
        }
        let merged = invoke_scalar(c.join, &all, n)?;
        fields.push(Field::new(&c.name, merged.data_type().clone(), true));
        arrays.push(merged);
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(n)),
    )?)
}

fn provenance(
    c: &OutCol,
    spec: &MergeSpec,
    inputs: &[Input],
    sources: &[ArrayRef],
    group_ids: &[Vec<usize>],
    groups: usize,
) -> Result<ArrayRef> {
    let mut acc: Option<Columnar> = None;
    for (i, inp) in inputs.iter().enumerate() {
        let args = args_of(c, &inp.batch)?;
        let value = &args[0];
        let id = match &spec.replica {
            Some(r) => arrow_cast::cast(
                inp.batch
                    .column_by_name(r)
                    .ok_or_else(|| Error::internal(F, "replica column vanished"))?,
                &DataType::Utf8,
            )?,
            None => sources[i].clone(),
        };
        // The source only where the value counts (a NULL value never wins in LWW).
        let keep: BooleanArray = if c.strategy == Some(StrategyKind::LwwNullable) {
            BooleanArray::from(vec![true; value.len()])
        } else {
            BooleanArray::from_iter((0..value.len()).map(|r| Some(value.is_valid(r))))
        };
        let id = arrow_select::zip::zip(
            &keep,
            &id,
            &arrow_array::Scalar::new(new_null_array(&DataType::Utf8, 1)),
        )?;
        // (ts, replica) of the column; the value takes the replica slot when there is none so
        // the value tie-break comes before the id.
        let mut a = vec![id, args[1].clone()];
        a.push(if spec.replica.is_some() {
            args[2].clone()
        } else {
            value.clone()
        });
        let acc = match &mut acc {
            Some(x) => x,
            None => {
                let types: Vec<DataType> = a.iter().map(|x| x.data_type().clone()).collect();
                acc.insert(Columnar::new(Aggregate::new("crdt_lww", &types)?))
            }
        };
        acc.update(&a, &group_ids[i], groups)?;
    }
    match acc {
        Some(a) => a.finish(),
        None => Ok(new_null_array(&DataType::Utf8, groups)),
    }
}

fn join_plan(
    c: &OutCol,
    inputs: &[Input],
    replica_of: &[usize],
    group_ids: &[Vec<usize>],
    groups: usize,
) -> Result<ArrayRef> {
    // Each side's rows, aligned to groups; a side without the key contributes NULLs (bottom).
    let first_replica = replica_of.first().copied().unwrap_or(0);
    let mut side_args: Vec<Vec<ArrayRef>> = Vec::new();
    for side in [true, false] {
        let mut idx: Vec<Option<(usize, usize)>> = vec![None; groups];
        let mut arrays: Vec<Vec<ArrayRef>> = Vec::new();
        for (i, inp) in inputs.iter().enumerate() {
            if (replica_of[i] == first_replica) != side {
                continue;
            }
            let b = arrays.len();
            arrays.push(args_of(c, &inp.batch)?[..c.args.len()].to_vec());
            for (row, &g) in group_ids[i].iter().enumerate() {
                idx[g] = Some((b, row));
            }
        }
        let n_args = c.args.len();
        let mut cols = Vec::with_capacity(n_args);
        for a in 0..n_args {
            let dt = c.agg.arg_types()[a].clone();
            let null = new_null_array(&dt, 1);
            let mut refs: Vec<&dyn Array> = arrays.iter().map(|x| x[a].as_ref()).collect();
            let null_at = refs.len();
            refs.push(null.as_ref());
            let ix: Vec<(usize, usize)> = idx.iter().map(|x| x.unwrap_or((null_at, 0))).collect();
            cols.push(arrow_select::interleave::interleave(&refs, &ix)?);
        }
        side_args.push(cols);
    }
    let mut all = side_args[0].clone();
    all.extend(side_args[1].iter().cloned());
    for k in &c.consts {
        all.push(constant(k, groups)?);
    }
    invoke_scalar(c.join, &all, groups)
}
