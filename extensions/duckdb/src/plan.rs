//! Which DuckDB overloads each catalogue function gets.
//!
//! DuckDB aggregates have no bind callback, so every overload has a fixed return type. The plan
//! is computed from the kernel's catalogue alone (no DuckDB needed, so it is unit-tested):
//!
//! * the argument a signature's return type follows (`SameAs(i)`), and its partner on the other
//!   side of a pairwise `_join`, get one overload per concrete type in [`value_types`] (lists
//!   get one per list type); `LevelsOf(i)` follows as a list of that type;
//! * `Text` arguments are `VARCHAR`, `Bytes` arguments `BLOB`;
//! * every other argument (clocks, replicas, counts, integers) is DuckDB's `ANY`: DuckDB passes
//!   its type through unchanged and the kernel checks it, with its own error message, when the
//!   function first sees a batch;
//! * the return type of each overload is the kernel's ([`crdt_merge_kernel::strategy::Aggregate::return_type`],
//!   [`crdt_merge_kernel::catalogue::scalar_return_type`]); a type combination the kernel
//!   refuses (for example `crdt_longest` over BOOLEAN) is not registered.

use std::sync::Arc;

use arrow_schema::{DataType, Field, TimeUnit};
use crdt_merge_kernel::catalogue::{
    aggregate, functions, scalar_return_type, ArgType, FunctionDef, FunctionKind, ReturnType,
    Signature,
};
use crdt_merge_kernel::strategy::pairwise;

/// A parameter of one DuckDB overload.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// DuckDB's `ANY`: the argument arrives in its own type.
    Any,
    /// A concrete type (DuckDB casts implicitly where it can).
    Type(DataType),
    /// DuckDB's VARINT (BIGNUM), or a list of it when `true`: registered only so that DuckDB
    /// does not cast it to DOUBLE (rounding it) to reach the DOUBLE overload; every call with
    /// one is an error that says to cast it ([`crate::functions::read_chunk`]).
    Varint(bool),
}

/// One DuckDB overload of a catalogue function.
#[derive(Debug, Clone)]
pub struct Overload {
    /// DuckDB parameter types.
    pub params: Vec<Param>,
    /// Arrow argument types that stand for this overload when building kernel objects for
    /// combine and finalize (`ANY` replaced by a representative type the kernel accepts).
    pub template: Vec<DataType>,
    /// Return type.
    pub returns: DataType,
}

/// A catalogue function with its DuckDB overloads.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The catalogue entry.
    pub def: &'static FunctionDef,
    /// Overloads, at least one.
    pub overloads: Vec<Overload>,
}

/// Decimal type registered for decimal values (DuckDB casts narrower decimals up to it).
pub const DECIMAL: DataType = DataType::Decimal128(38, 10);

/// Scalar value types with their own overloads (lists of each are added by [`value_types`]).
pub fn scalar_types() -> Vec<DataType> {
    vec![
        DataType::Boolean,
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::UInt8,
        DataType::UInt16,
        DataType::UInt32,
        DataType::UInt64,
        DataType::Float32,
        DataType::Float64,
        DECIMAL,
        crate::types::HUGEINT,
        crate::types::UHUGEINT,
        DataType::Utf8,
        DataType::Binary,
        DataType::Date32,
        DataType::Timestamp(TimeUnit::Second, None),
        DataType::Timestamp(TimeUnit::Millisecond, None),
        DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        DataType::Timestamp(TimeUnit::Microsecond, Some(crate::types::UTC.into())),
    ]
}

/// `LIST(t)` as DuckDB and the kernel build it.
pub fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

fn list_types() -> Vec<DataType> {
    scalar_types().into_iter().map(list_of).collect()
}

/// Every value type with an overload: the scalar types and lists of them.
pub fn value_types() -> Vec<DataType> {
    let mut v = scalar_types();
    v.extend(list_types());
    v
}

fn representative(ty: ArgType) -> DataType {
    match ty {
        ArgType::Value | ArgType::Text => DataType::Utf8,
        ArgType::Clock | ArgType::Integer => DataType::Int64,
        ArgType::List | ArgType::LevelsOf(_) => list_of(DataType::Utf8),
        ArgType::Bytes => DataType::Binary,
        ArgType::Float => DataType::Float64,
    }
}

fn fixed(ty: ArgType) -> Option<DataType> {
    match ty {
        ArgType::Text => Some(DataType::Utf8),
        ArgType::Bytes => Some(DataType::Binary),
        _ => None,
    }
}

/// The arguments that take the type variable of `sig` (the one its result follows).
fn typed_args(def: &FunctionDef, sig: &Signature) -> Vec<usize> {
    let ReturnType::SameAs(i) = sig.returns else {
        return Vec::new();
    };
    let mut args = vec![i];
    if def.kind == FunctionKind::Scalar && def.name.ends_with("_join") {
        if let Ok(shape) = pairwise::shape(def.name, sig.args.len()) {
            if i < shape.per_side {
                args.push(i + shape.per_side);
            }
        }
    }
    args
}

fn overloads(def: &'static FunctionDef, sig: &Signature) -> Vec<Overload> {
    let typed = typed_args(def, sig);
    let variable = typed.first().map(|&i| sig.args[i].ty);
    let choices: Vec<Option<DataType>> = match variable {
        None => vec![None],
        Some(ArgType::List) => list_types().into_iter().map(Some).collect(),
        Some(ArgType::Value) => value_types().into_iter().map(Some).collect(),
        Some(other) => vec![Some(representative(other))],
    };
    let mut out = Vec::new();
    for t in choices {
        let mut params = Vec::with_capacity(sig.args.len());
        let mut template = Vec::with_capacity(sig.args.len());
        for (j, arg) in sig.args.iter().enumerate() {
            let concrete = match (&t, arg.ty) {
                (Some(t), _) if typed.contains(&j) => Some(t.clone()),
                (Some(t), ArgType::LevelsOf(k)) if typed.first() == Some(&k) => {
                    Some(list_of(t.clone()))
                }
                _ => fixed(arg.ty),
            };
            match concrete {
                Some(dt) => {
                    template.push(crate::types::kernel_type(&dt));
                    params.push(Param::Type(dt));
                }
                None => {
                    template.push(representative(arg.ty));
                    params.push(Param::Any);
                }
            }
        }
        let returns = match def.kind {
            FunctionKind::Aggregate => {
                aggregate(def.name, &template).map(|a| a.return_type().clone())
            }
            FunctionKind::Scalar => scalar_return_type(def.name, &template),
        };
        // The result is registered in the planned type (UHUGEINT stays UHUGEINT).
        let returns = returns.map(|r| match &t {
            Some(t) if crate::types::kernel_type(t) != *t && r == crate::types::kernel_type(t) => {
                t.clone()
            }
            _ => r,
        });
        if let Ok(returns) = returns {
            out.push(Overload {
                params,
                template,
                returns,
            });
        }
    }
    // The VARINT refusals, shaped as the VARCHAR overload (and its list).
    if matches!(variable, Some(ArgType::Value | ArgType::List)) {
        let mut refused = Vec::new();
        for o in &out {
            let list = match o.params.get(typed[0]) {
                Some(Param::Type(DataType::Utf8)) => false,
                Some(Param::Type(t)) if *t == list_of(DataType::Utf8) => true,
                _ => continue,
            };
            let mut r = o.clone();
            for &i in &typed {
                r.params[i] = Param::Varint(list);
            }
            for (j, arg) in sig.args.iter().enumerate() {
                if matches!(arg.ty, ArgType::LevelsOf(k) if typed.first() == Some(&k)) {
                    r.params[j] = Param::Varint(true);
                }
            }
            refused.push(r);
        }
        out.extend(refused);
    }
    out
}

/// The overloads of every catalogue function (the kernel's, then E4's), in catalogue order.
pub fn plan() -> Vec<Planned> {
    crdt_merge_e4::sql::register();
    functions()
        .into_iter()
        .map(|def| Planned {
            def,
            overloads: def
                .signatures
                .iter()
                .flat_map(|s| overloads(def, s))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_function_has_overloads() {
        let p = plan();
        assert_eq!(p.len(), functions().len());
        for f in &p {
            assert!(!f.overloads.is_empty(), "{} has no overload", f.def.name);
        }
        let names: Vec<&str> = p.iter().map(|f| f.def.name).collect();
        let want: Vec<&str> = functions().iter().map(|f| f.name).collect();
        assert!(want.contains(&"crdt_verify"), "E4's functions are planned");
        assert_eq!(names, want);
    }

    /// The overload of function `name` that `which` selects.
    fn overload<'p>(
        p: &'p [Planned],
        name: &str,
        which: impl Fn(&Overload) -> bool,
    ) -> &'p Overload {
        let f = p
            .iter()
            .find(|f| f.def.name == name)
            .expect("planned function");
        f.overloads.iter().find(|o| which(o)).expect("overload")
    }

    #[test]
    fn return_type_follows_the_value_and_clocks_are_any() {
        let p = plan();
        let o = overload(&p, "crdt_lww", |o| {
            o.params[0] == Param::Type(DataType::Utf8) && o.params.len() == 3
        });
        assert_eq!(o.params[1], Param::Any);
        assert_eq!(o.params[2], Param::Any);
        assert_eq!(o.returns, DataType::Utf8);
        let o = overload(&p, "crdt_lww_join", |o| {
            o.params.len() == 4 && o.params[0] == Param::Type(DataType::Int64)
        });
        assert_eq!(o.params[2], Param::Type(DataType::Int64));
        assert_eq!(o.returns, DataType::Int64);
    }

    #[test]
    fn uhugeint_is_registered_as_itself_and_computed_as_hugeint() {
        use crate::types::{HUGEINT, UHUGEINT};
        let p = plan();
        let o = overload(&p, "crdt_max", |o| o.params[0] == Param::Type(UHUGEINT));
        assert_eq!(o.template[0], HUGEINT);
        assert_eq!(o.returns, UHUGEINT);
        let union = p.iter().find(|f| f.def.name == "crdt_union").unwrap();
        assert!(union
            .overloads
            .iter()
            .any(|o| o.params[0] == Param::Type(list_of(UHUGEINT))
                && o.template[0] == list_of(HUGEINT)
                && o.returns == list_of(UHUGEINT)));
    }

    #[test]
    fn varint_has_refusing_overloads() {
        let p = plan();
        let o = overload(&p, "crdt_max", |o| o.params[0] == Param::Varint(false));
        assert_eq!(o.params.len(), 1);
        let o = overload(&p, "crdt_lww_join", |o| o.params[0] == Param::Varint(false));
        assert_eq!(o.params[2], Param::Varint(false));
        assert_eq!(o.params[1], Param::Any);
        overload(&p, "crdt_union", |o| o.params[0] == Param::Varint(true));
        let o = overload(&p, "crdt_priority", |o| o.params[0] == Param::Varint(false));
        assert_eq!(o.params[1], Param::Varint(true));
    }

    #[test]
    fn kernel_refusals_are_not_registered() {
        let p = plan();
        let longest = p.iter().find(|f| f.def.name == "crdt_longest").unwrap();
        assert!(longest
            .overloads
            .iter()
            .all(|o| o.params[0] != Param::Type(DataType::Boolean)));
        let prio = p.iter().find(|f| f.def.name == "crdt_priority").unwrap();
        assert!(prio.overloads.iter().any(|o| o.params
            == vec![
                Param::Type(DataType::Utf8),
                Param::Type(list_of(DataType::Utf8))
            ]));
    }
}
