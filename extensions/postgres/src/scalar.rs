//! Scalars: each call converts its arguments to one-row Arrow arrays, calls
//! [`invoke_scalar`], and converts the one-row result back to the declared result type.

use crdt_merge_kernel::catalogue::{invoke_scalar, lookup};
use crdt_merge_kernel::value::Value;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};

use crate::convert;
use crate::error::OrRaise;

/// Runs catalogue scalar `name` on one row.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo`.
pub unsafe fn call(fcinfo: FunctionCallInfo, name: &'static str) -> Datum {
    // E4's functions are catalogue extensions: registered once per backend, on first use.
    crdt_merge_e4::sql::register();
    // SAFETY: fcinfo is valid for the duration of the call (function manager contract); argument
    // i < nargs is read from its args array.
    unsafe {
        let nargs = (*fcinfo).nargs as usize;
        let names: Vec<&str> = lookup(name)
            .and_then(|f| f.signatures.iter().find(|s| s.args.len() == nargs))
            .map(|s| s.args.iter().map(|a| a.name).collect())
            .unwrap_or_else(|| vec!["argument"; nargs]);
        let mut arrays = Vec::with_capacity(nargs);
        for (i, arg_name) in names.iter().enumerate() {
            let oid = pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, i as _);
            let a = *(*fcinfo).args.as_ptr().add(i);
            let mut ty = convert::resolve(name, arg_name, oid);
            if matches!(ty.kind, convert::Kind::Record(None)) && !a.isnull {
                ty = convert::resolve_record_datum(name, arg_name, oid, a.value);
            }
            let v = convert::to_value(name, arg_name, a.value, a.isnull, &ty);
            arrays.push(Value::to_array(&[v], &ty.dt).or_raise());
        }
        let out = invoke_scalar(name, &arrays, 1).or_raise();
        let value = Value::from_array(out.as_ref(), 0).or_raise();
        let ret = convert::resolve(
            name,
            "result",
            pg_sys::get_fn_expr_rettype((*fcinfo).flinfo),
        );
        match convert::from_value(name, &value, &ret) {
            Some(d) => d,
            None => {
                (*fcinfo).isnull = true;
                Datum::from(0usize)
            }
        }
    }
}
