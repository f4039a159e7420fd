//! Aggregates: `internal` transition state, with combine, serial and deserial functions so
//! Postgres can run them as partial aggregates in parallel workers.
//!
//! The state is a Rust box ([`AggState`]) holding the kernel's [`Aggregate`] and [`State`], plus
//! up to [`BATCH`] buffered rows: the transition function only converts datums to kernel
//! values; every [`BATCH`] rows (and before combine, serialise and finish) the buffer goes to the
//! kernel as one Arrow batch. The box is freed by a reset callback on the memory context it
//! belongs to, so states never outlive their aggregate context and never leak.
//!
//! Serialised form (`bytea`, exchanged between workers and the leader):
//! `[1][name length u8][name][argument count u8][argument type oids, u32 LE each][kernel state]`,
//! the last part being [`Aggregate::encode_state`]. Decoding checks every length and reports
//! malformed bytes as an ERROR.

use std::ffi::c_void;

use crdt_merge_kernel::catalogue::lookup;
use crdt_merge_kernel::strategy::{Aggregate, Single, State};
use crdt_merge_kernel::value::Value;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo, Oid};
use pgrx::prelude::*;

use crate::convert::{self, PgType};
use crate::error::{invalid, OrRaise};

/// Rows buffered before they are handed to the kernel as one batch.
pub const BATCH: usize = 512;
const SERIAL_VERSION: u8 = 1;

/// One group's transition state.
#[derive(Clone)]
pub struct AggState {
    agg: Aggregate,
    types: Vec<PgType>,
    state: State,
    pending: Vec<Vec<Value>>,
    pending_rows: usize,
}

fn argument_names(name: &str, nargs: usize) -> Vec<&'static str> {
    lookup(name)
        .and_then(|f| f.signatures.iter().find(|s| s.args.len() == nargs))
        .map(|s| s.args.iter().map(|a| a.name).collect())
        .unwrap_or_else(|| vec!["argument"; nargs])
}

impl AggState {
    fn new(name: &str, oids: &[Oid]) -> AggState {
        let names = argument_names(name, oids.len());
        let types: Vec<PgType> = oids
            .iter()
            .zip(&names)
            .map(|(oid, arg)| convert::resolve(name, arg, *oid))
            .collect();
        let dts: Vec<_> = types.iter().map(|t| t.dt.clone()).collect();
        let agg = Aggregate::new(name, &dts).or_raise();
        AggState {
            state: agg.new_state(),
            agg,
            pending: vec![Vec::with_capacity(BATCH); types.len()],
            types,
            pending_rows: 0,
        }
    }

    fn flush(&mut self) {
        if self.pending_rows == 0 {
            return;
        }
        let arrays: Vec<_> = self
            .pending
            .iter()
            .zip(&self.types)
            .map(|(values, ty)| Value::to_array(values, &ty.dt).or_raise())
            .collect();
        for column in &mut self.pending {
            column.clear();
        }
        self.pending_rows = 0;
        self.agg
            .update(&arrays, &mut Single(&mut self.state))
            .or_raise();
    }

    fn serialise(&mut self) -> Vec<u8> {
        self.flush();
        let name = self.agg.name().as_bytes();
        let mut out = vec![SERIAL_VERSION, name.len() as u8];
        out.extend_from_slice(name);
        out.push(self.types.len() as u8);
        for t in &self.types {
            out.extend_from_slice(&t.oid.to_u32().to_le_bytes());
        }
        out.extend(self.agg.encode_state(&self.state));
        out
    }

    fn deserialise(bytes: &[u8]) -> AggState {
        let bad = |what: &str, at: usize| -> ! {
            invalid(format!(
                "crdt_merge: argument `state`: expected a serialised aggregate state, found \
                 {what} at byte offset {at}"
            ))
        };
        let mut at = 0usize;
        let mut take = |n: usize| -> &[u8] {
            if bytes.len() < at + n {
                bad("truncated bytes", at);
            }
            let s = &bytes[at..at + n];
            at += n;
            s
        };
        if take(1)[0] != SERIAL_VERSION {
            bad("an unknown format version", 0);
        }
        let len = take(1)[0] as usize;
        let name = std::str::from_utf8(take(len))
            .unwrap_or_else(|_| bad("a non-UTF-8 name", 2))
            .to_string();
        if lookup(&name).is_none() {
            bad("an unknown aggregate name", 2);
        }
        let nargs = take(1)[0] as usize;
        let mut oids = Vec::with_capacity(nargs);
        for _ in 0..nargs {
            let b = take(4);
            oids.push(Oid::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        }
        let rest_at = at;
        let mut st = AggState::new(&name, &oids);
        st.state = st.agg.decode_state(&bytes[rest_at..]).or_raise();
        st
    }
}

/// Frees a boxed [`AggState`] when its memory context is reset or deleted.
unsafe extern "C-unwind" fn drop_state(arg: *mut c_void) {
    // SAFETY: `arg` is the pointer `Box::into_raw` produced in `install`, registered exactly
    // once, and Postgres calls each reset callback once.
    unsafe { drop(Box::from_raw(arg as *mut AggState)) };
}

/// Moves `state` into a box owned by `context` and returns the pointer.
///
/// # Safety
/// `context` must be a valid memory context that outlives every use of the pointer.
unsafe fn install(context: pg_sys::MemoryContext, state: AggState) -> *mut AggState {
    let raw = Box::into_raw(Box::new(state));
    // SAFETY: the callback record is allocated in `context` itself, so it lives exactly as long
    // as the registration; the callback frees `raw` when the context goes away.
    unsafe {
        let cb = pg_sys::MemoryContextAlloc(
            context,
            std::mem::size_of::<pg_sys::MemoryContextCallback>(),
        ) as *mut pg_sys::MemoryContextCallback;
        (*cb).func = Some(drop_state);
        (*cb).arg = raw as *mut c_void;
        (*cb).next = std::ptr::null_mut();
        pg_sys::MemoryContextRegisterResetCallback(context, cb);
    }
    raw
}

/// The aggregate memory context, or an ERROR when called outside an aggregate.
unsafe fn agg_context(fcinfo: FunctionCallInfo, function: &str) -> pg_sys::MemoryContext {
    let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
    // SAFETY: fcinfo comes from the function manager.
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) } == 0 || ctx.is_null() {
        invalid(format!(
            "{function}: this is an aggregate support function; call the aggregate instead"
        ));
    }
    ctx
}

unsafe fn arg(fcinfo: FunctionCallInfo, i: usize) -> (Datum, bool) {
    // SAFETY: i < nargs, checked by the callers.
    unsafe {
        let a = *(*fcinfo).args.as_ptr().add(i);
        (a.value, a.isnull)
    }
}

unsafe fn state_arg(fcinfo: FunctionCallInfo, i: usize) -> *mut AggState {
    // SAFETY: internal arguments of our support functions are always AggState pointers made by
    // `install` (Postgres only lets SQL pass `internal` values produced by other functions, and
    // each of ours checks it runs inside an aggregate).
    let (d, isnull) = unsafe { arg(fcinfo, i) };
    if isnull {
        std::ptr::null_mut()
    } else {
        d.cast_mut_ptr::<AggState>()
    }
}

/// Transition function of aggregate `name`: `(internal, args...) -> internal`.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo`.
pub unsafe fn transition(fcinfo: FunctionCallInfo, name: &'static str) -> Datum {
    // SAFETY: fcinfo is valid for the duration of the call (function manager contract).
    unsafe {
        let ctx = agg_context(fcinfo, name);
        let nargs = ((*fcinfo).nargs as usize).saturating_sub(1);
        let mut st = state_arg(fcinfo, 0);
        if st.is_null() {
            let oids: Vec<Oid> = (0..nargs)
                .map(|i| pg_sys::get_fn_expr_argtype((*fcinfo).flinfo, (i + 1) as _))
                .collect();
            st = install(ctx, AggState::new(name, &oids));
        }
        let s = &mut *st;
        let names = argument_names(name, nargs);
        for i in 0..nargs {
            let (d, isnull) = arg(fcinfo, i + 1);
            if matches!(s.types[i].kind, convert::Kind::Record(None)) && !isnull {
                // An anonymous record (ROW(...)): every value carries the same registered row
                // type, so the first one fixes the argument's type.
                s.types[i] = convert::resolve_record_datum(name, names[i], s.types[i].oid, d);
            }
            let v = convert::to_value(name, names[i], d, isnull, &s.types[i]);
            s.pending[i].push(v);
        }
        s.pending_rows += 1;
        if s.pending_rows >= BATCH {
            s.flush();
        }
        Datum::from(st)
    }
}

/// `_crdt_combine(internal, internal) -> internal`: joins the second state into the first.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo`.
pub unsafe fn combine(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: see `transition`.
    unsafe {
        let ctx = agg_context(fcinfo, "crdt_merge combine");
        let a = state_arg(fcinfo, 0);
        let b = state_arg(fcinfo, 1);
        if b.is_null() {
            return if a.is_null() {
                (*fcinfo).isnull = true;
                Datum::from(0usize)
            } else {
                Datum::from(a)
            };
        }
        let from = &mut *b;
        from.flush();
        if a.is_null() {
            // The result must live in the aggregate context; `b` may not.
            return Datum::from(install(ctx, from.clone()));
        }
        let into = &mut *a;
        into.flush();
        into.agg.combine(&mut into.state, &from.state).or_raise();
        Datum::from(a)
    }
}

/// `_crdt_serial(internal) -> bytea`.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo`.
pub unsafe fn serial(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: see `transition`; the function is STRICT, so the state is not NULL.
    unsafe {
        agg_context(fcinfo, "crdt_merge serial");
        let st = state_arg(fcinfo, 0);
        if st.is_null() {
            (*fcinfo).isnull = true;
            return Datum::from(0usize);
        }
        let bytes = (*st).serialise();
        bytes.as_slice().into_datum().unwrap_or(Datum::from(0usize))
    }
}

/// `_crdt_deserial(bytea, internal) -> internal`.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo`.
pub unsafe fn deserial(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: see `transition`; the function is STRICT, so the bytea is not NULL.
    unsafe {
        agg_context(fcinfo, "crdt_merge deserial");
        let (d, isnull) = arg(fcinfo, 0);
        if isnull {
            (*fcinfo).isnull = true;
            return Datum::from(0usize);
        }
        let bytes = <&[u8]>::from_datum(d, false).unwrap_or_default();
        let st = AggState::deserialise(bytes);
        Datum::from(install(pg_sys::CurrentMemoryContext, st))
    }
}

/// What a final function returns.
#[derive(Clone, Copy)]
pub enum Output {
    /// The type of the first argument (polymorphic results).
    SameAsFirst,
    /// A digest's bytes; with no rows, the empty set's (so two empty tables compare equal).
    Digest(crdt_merge_kernel::digest::DigestKind),
    /// `text`.
    Text,
    /// `bytea`.
    Bytea,
}

/// Final functions: `(internal [, extra args]) -> result`.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo`.
pub unsafe fn finish(fcinfo: FunctionCallInfo, output: Output) -> Datum {
    // SAFETY: see `transition`.
    unsafe {
        agg_context(fcinfo, "crdt_merge final");
        let st = state_arg(fcinfo, 0);
        if st.is_null() {
            if let Output::Digest(k) = output {
                let empty = k.finish(&crdt_merge_kernel::digest::Fingerprint::EMPTY);
                return empty.as_slice().into_datum().unwrap_or(Datum::from(0usize));
            }
            (*fcinfo).isnull = true;
            return Datum::from(0usize);
        }
        let s = &mut *st;
        s.flush();
        let array = s.agg.finish(&[&s.state]).or_raise();
        let value = Value::from_array(array.as_ref(), 0).or_raise();
        let ty = match output {
            Output::SameAsFirst => s.types[0].clone(),
            Output::Text => PgType::text(),
            Output::Bytea | Output::Digest(_) => PgType::bytea(),
        };
        match convert::from_value(s.agg.name(), &value, &ty) {
            Some(d) => d,
            None => {
                (*fcinfo).isnull = true;
                Datum::from(0usize)
            }
        }
    }
}
