//! One [`ScalarUDFImpl`] per catalogue scalar, all through [`invoke_scalar`].

use std::hash::{Hash, Hasher};

use crdt_merge_kernel::catalogue::{
    invoke_scalar, scalar_return_type, FunctionDef, FunctionKind, NullHandling,
};
use crdt_merge_kernel::strategy::pairwise;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

use crate::error::{exec_error, plan_error};
use crate::volatility;

/// A crdt-merge scalar function (for example `crdt_lww_join` or `crdt_hlc`), described by its
/// catalogue entry.
#[derive(Debug)]
pub struct CrdtScalar {
    def: &'static FunctionDef,
    signature: Signature,
    doc: Documentation,
}

impl CrdtScalar {
    /// The function for catalogue entry `def`, or `None` when `def` is not a scalar.
    pub fn new(def: &'static FunctionDef) -> Option<Self> {
        (def.kind == FunctionKind::Scalar).then(|| CrdtScalar {
            def,
            signature: Signature::user_defined(volatility(def.volatility)),
            doc: crate::docs::documentation(def),
        })
    }

    /// The catalogue entry.
    pub fn def(&self) -> &'static FunctionDef {
        self.def
    }
}

impl PartialEq for CrdtScalar {
    fn eq(&self, other: &Self) -> bool {
        self.def.name == other.def.name
    }
}

impl Eq for CrdtScalar {}

impl Hash for CrdtScalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.def.name.hash(state);
    }
}

/// Whether two types differ only in width or encoding (so a common type exists without
/// turning text into numbers): both numeric, both text, both binary, both temporal, or lists of
/// such.
fn same_family(a: &DataType, b: &DataType) -> bool {
    use DataType::*;
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let binary = |t: &DataType| matches!(t, Binary | LargeBinary | BinaryView);
    let temporal = |t: &DataType| t.is_temporal();
    let item = |t: &DataType| match t {
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => {
            Some(f.data_type().clone())
        }
        _ => None,
    };
    if a.is_numeric() && b.is_numeric() {
        return true;
    }
    if (text(a) && text(b)) || (binary(a) && binary(b)) || (temporal(a) && temporal(b)) {
        return true;
    }
    match (item(a), item(b)) {
        (Some(x), Some(y)) => x == y || x == Null || y == Null || same_family(&x, &y),
        _ => false,
    }
}

/// Argument types for scalar `name`: the two sides of a `_join` function are brought to one
/// type with DataFusion's comparison coercion (the kernel wants both sides alike), then the
/// kernel checks them.
pub(crate) fn coerce_scalar(name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    let mut types = arg_types.to_vec();
    if name.ends_with("_join") {
        if let Ok(shape) = pairwise::shape(name, types.len()) {
            for i in 0..shape.per_side {
                let j = shape.per_side + i;
                let (l, r) = (&types[i], &types[j]);
                if l != r && same_family(l, r) {
                    if let Some(t) = comparison_coercion(l, r) {
                        types[i] = t.clone();
                        types[j] = t;
                    }
                }
            }
        }
    }
    scalar_return_type(name, &types).map_err(plan_error)?;
    Ok(types)
}

impl ScalarUDFImpl for CrdtScalar {
    fn name(&self) -> &str {
        self.def.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        scalar_return_type(self.def.name, arg_types).map_err(plan_error)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_scalar(self.def.name, arg_types)
    }

    fn is_strict(&self) -> bool {
        self.def.nulls == NullHandling::Strict
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // All-constant arguments are evaluated once, as one row.
        let constant = !args.args.is_empty()
            && args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if constant { 1 } else { args.number_rows };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = invoke_scalar(self.def.name, &arrays, rows).map_err(exec_error)?;
        let want = args.return_field.data_type();
        let out = if out.data_type() == want {
            out
        } else {
            cast(&out, want)?
        };
        if constant {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}
