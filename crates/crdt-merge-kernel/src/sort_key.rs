//! Byte strings that sort like cells: the canonical value order ([`crate::order`]) as
//! memcomparable keys.
//!
//! `key(a) < key(b)` (unsigned bytes, a proper prefix first) exactly when `a < b` in
//! [`Value`]'s order, so a host can let its own `arg_max(value, key)` pick the winning cell
//! of a selecting strategy and keep the value in the host's own type, including types no
//! overload of the strategy's aggregate can return (DuckDB's STRUCTs, lists of lists,
//! DECIMALs of any scale). The cell keys of [`strategy_key`] follow each strategy's order
//! (LWW: clock, replica, value), as the aggregates do.
//!
//! Layout: NULL is `0x00`; any other value is its variant rank (`0x01`..) and a payload that
//! ends itself: fixed-width big-endian numbers with the sign bit flipped, floats in their
//! canonical class (one NaN, greatest; -0.0 as +0.0), text and bytes with `0x00` escaped as
//! `0x00 0xFF` and ended by `0x00 0x00`, a list as `0x01 <item>` per element then `0x00`, a
//! struct as its fields in order.
//!
//! Values equal in the canonical order but stored differently (`-0.0` and `+0.0`, NaN payloads,
//! also inside lists and structs) get one more, final tie-break: their stored bits
//! ([`Representation`]), so which one a merge returns never depends on the order inputs arrive
//! in. The greater bits win, for Min too, which makes `+0.0` win over `-0.0` everywhere, as the
//! aggregates' canonical `+0.0`.

use arrow_array::{Array, ArrayRef, BinaryArray};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::DataType;

use crate::error::{Error, Result};
use crate::order::Column;
use crate::strategy::{Aggregate, StrategyKind};
use crate::value::{canonical_f64, Value};

fn flip_i64(x: i64) -> [u8; 8] {
    ((x as u64) ^ (1 << 63)).to_be_bytes()
}

fn float_bits(x: f64) -> [u8; 8] {
    let b = canonical_f64(x).to_bits();
    // Negative floats reverse their order as integers; positive ones only need the sign set.
    let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    k.to_be_bytes()
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    for &x in b {
        out.push(x);
        if x == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Appends the key of `v` to `out`.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    if v.is_null() {
        out.push(0);
        return;
    }
    out.push(v.rank());
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Int(i) => out.extend_from_slice(&flip_i64(*i)),
        Value::UInt(u) => out.extend_from_slice(&u.to_be_bytes()),
        Value::Float(f) => out.extend_from_slice(&float_bits(*f)),
        Value::Decimal(d) => out.extend_from_slice(&((*d as u128) ^ (1 << 127)).to_be_bytes()),
        Value::Str(s) => bytes(s.as_bytes(), out),
        Value::Bin(b) => bytes(b, out),
        Value::List(items) => {
            for item in items {
                out.push(1);
                encode(item, out);
            }
            out.push(0);
        }
        Value::Struct(fields) => fields.iter().for_each(|f| encode(f, out)),
    }
}

impl Column {
    /// Appends the key of row `i` (as [`encode`] of [`Column::get`], without allocating for
    /// flat types).
    pub fn write_key(&self, i: usize, out: &mut Vec<u8>) -> Result<()> {
        if self.is_null(i) {
            out.push(0);
            return Ok(());
        }
        match self {
            Column::Int(a) => {
                out.push(Value::Int(0).rank());
                out.extend_from_slice(&flip_i64(a.value(i)));
            }
            Column::Float(a) => {
                out.push(Value::Float(0.0).rank());
                out.extend_from_slice(&float_bits(a.value(i)));
            }
            Column::Str(_) | Column::LargeStr(_) | Column::StrView(_) => {
                out.push(Value::Str(String::new()).rank());
                bytes(self.str_at(i).unwrap_or_default().as_bytes(), out);
            }
            _ => encode(&self.get(i)?, out),
        }
        Ok(())
    }
}

/// True when values of `dt` can be equal in the canonical order yet stored differently (they
/// hold floats: `-0.0` and `+0.0`, NaN payloads).
pub fn has_float(dt: &DataType) -> bool {
    use DataType::*;
    match dt {
        Float16 | Float32 | Float64 => true,
        List(f)
        | LargeList(f)
        | FixedSizeList(f, _)
        | ListView(f)
        | LargeListView(f)
        | Map(f, _) => has_float(f.data_type()),
        Struct(fields) => fields.iter().any(|f| has_float(f.data_type())),
        _ => false,
    }
}

/// The stored bits of values, as byte strings in Arrow's row order (floats by IEEE total
/// order), for the last tie-break between values the canonical order calls equal. `None` for
/// types where canonical equality is identity (see [`has_float`]).
pub struct Representation(Option<Rows>);

impl Representation {
    /// Rows of `arrays` (one type), in one encoding so that they compare with each other;
    /// with `descending`, greater bits give lesser rows.
    ///
    /// # Errors
    /// A type Arrow's row format cannot encode.
    pub fn of(arrays: &[&ArrayRef], descending: bool) -> Result<Representation> {
        let Some(first) = arrays.first() else {
            return Ok(Representation(None));
        };
        if !has_float(first.data_type()) {
            return Ok(Representation(None));
        }
        let options = arrow_schema::SortOptions {
            descending,
            nulls_first: true,
        };
        let field = SortField::new_with_options(first.data_type().clone(), options);
        let conv = RowConverter::new(vec![field])?;
        let mut rows = conv.empty_rows(0, 0);
        for a in arrays {
            conv.append(&mut rows, &[(*a).clone()])?;
        }
        Ok(Representation(Some(rows)))
    }

    /// Row `i` (counted over all arrays given to [`Representation::of`], in order), empty when
    /// there is nothing to break ties on.
    pub fn bytes(&self, i: usize) -> &[u8] {
        self.0.as_ref().map_or(&[], |r| r.row(i).data())
    }
}

/// The key of each row's cell under `name` ([`StrategyKind::pick_and_key_names`]), one of
/// `crdt_lww_key(value, ts [, replica])`, `crdt_lww_nullable_key(...)`, `crdt_max_key(value)`
/// and `crdt_min_key(value)`, which take the arguments of the strategy's aggregate: greater
/// keys are greater cells in that strategy's order, so the strategy's aggregate is the value
/// of the row with the greatest key (`crdt_min_key`: the least). NULL where the aggregate
/// skips the row (a NULL value, except for LWW-nullable, where NULL is a written value).
///
/// # Errors
/// An unknown name, a wrong argument count, and the aggregate's own type errors, naming
/// `name`.
pub fn strategy_key(name: &str, args: &[ArrayRef]) -> Result<BinaryArray> {
    let kind = StrategyKind::ALL
        .into_iter()
        .find(|k| k.pick_and_key_names().is_some_and(|(_, key)| key == name))
        .ok_or_else(|| {
            Error::invalid(
                name,
                "function",
                "crdt_<lww|lww_nullable|max|min>_key",
                name,
            )
        })?;
    let run = || -> Result<BinaryArray> {
        let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
        Aggregate::new(kind.aggregate_name(), &types)?;
        let cols: Vec<Column> = args
            .iter()
            .zip(["value", "ts", "replica"])
            .map(|(a, arg)| Column::new(kind.aggregate_name(), arg, a))
            .collect::<Result<_>>()?;
        let n = args.first().map_or(0, |a| a.len());
        // The cell order: (ts, replica, value) for LWW, the value alone for Max and Min.
        let order: Vec<&Column> = match cols.as_slice() {
            [v, rest @ ..] => rest.iter().chain(std::iter::once(v)).collect(),
            [] => Vec::new(),
        };
        let skips_null = kind != StrategyKind::LwwNullable;
        // `arg_min` takes the least key: descending bits, so the greater bits win there too.
        let repr = Representation::of(
            &args[..1].iter().collect::<Vec<_>>(),
            kind == StrategyKind::Min,
        )?;
        let mut key = Vec::new();
        let mut out = arrow_array::builder::BinaryBuilder::with_capacity(n, n * 16);
        for i in 0..n {
            if skips_null && cols[0].is_null(i) {
                out.append_null();
                continue;
            }
            key.clear();
            for c in &order {
                c.write_key(i, &mut key)?;
            }
            key.extend_from_slice(repr.bytes(i));
            out.append_value(&key);
        }
        Ok(out.finish())
    };
    run().map_err(|e| e.in_function(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    #[test]
    fn keys_sort_like_values() {
        let s = |x: &str| Value::Str(x.into());
        let l = |x: Vec<Value>| Value::List(x);
        let ordered = [
            Value::Null,
            Value::Int(i64::MIN),
            Value::Int(-1),
            Value::Int(0),
            Value::Int(i64::MAX),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(-1.5),
            Value::Float(0.0),
            Value::Float(2.0),
            Value::Float(f64::NAN),
            s(""),
            s("\0"),
            s("\0\0"),
            s("a"),
            s("a\0"),
            s("ab"),
            l(vec![]),
            l(vec![Value::Null]),
            l(vec![s("")]),
            l(vec![s(""), Value::Null]),
            l(vec![s("a")]),
        ];
        for (i, a) in ordered.iter().enumerate() {
            for b in &ordered[i + 1..] {
                assert_eq!(a.cmp(b), std::cmp::Ordering::Less, "{a:?} < {b:?}");
                assert!(key(a) < key(b), "key({a:?}) < key({b:?})");
            }
        }
        assert_eq!(key(&Value::Float(-0.0)), key(&Value::Float(0.0)));
    }

    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Int),
            (-3i64..3).prop_map(Value::Int),
        ]
    }

    /// Values of one shape per case (a column has one type): text, floats, decimals, lists
    /// of lists, structs of a list and a float.
    fn same_shape() -> impl Strategy<Value = Vec<Value>> {
        let text = prop_oneof![Just(Value::Null), "[a\\x00b]{0,3}".prop_map(Value::Str)];
        let float = prop_oneof![
            Just(Value::Null),
            any::<f64>().prop_map(Value::Float),
            prop::sample::select(vec![0.0, -0.0, f64::NAN, -f64::NAN, f64::INFINITY, -1.0])
                .prop_map(Value::Float),
        ];
        let dec = prop_oneof![
            Just(Value::Null),
            any::<i128>().prop_map(Value::Decimal),
            (-3i128..3).prop_map(Value::Decimal)
        ];
        let lists = prop_oneof![
            Just(Value::Null),
            prop::collection::vec(
                prop_oneof![
                    Just(Value::Null),
                    prop::collection::vec(leaf(), 0..3).prop_map(Value::List)
                ],
                0..3
            )
            .prop_map(Value::List)
        ];
        let structs = (
            prop_oneof![
                Just(Value::Null),
                prop::collection::vec(text.clone(), 0..3).prop_map(Value::List)
            ],
            float.clone(),
        )
            .prop_map(|(a, b)| Value::Struct(vec![a, b]));
        prop_oneof![
            prop::collection::vec(text, 2..6),
            prop::collection::vec(float, 2..6),
            prop::collection::vec(dec, 2..6),
            prop::collection::vec(lists, 2..6),
            prop::collection::vec(prop_oneof![Just(Value::Null), structs], 2..6),
        ]
    }

    proptest! {
        #[test]
        fn key_order_is_value_order(vs in same_shape()) {
            for a in &vs {
                for b in &vs {
                    prop_assert_eq!(key(a).cmp(&key(b)), a.cmp(b), "{:?} vs {:?}", a, b);
                }
            }
        }
    }
}
