//! Registration of the catalogue's aggregates and scalars, and their C callbacks.
//!
//! Every callback converts DuckDB vectors to Arrow arrays, calls one kernel entry point and
//! converts back. Each body runs inside [`guard`]: a kernel error or a panic becomes a DuckDB
//! error with the kernel's message, never an unwind into DuckDB.
//!
//! Aggregate states live inline in DuckDB's state memory: DuckDB allocates [`STATE_SIZE`] bytes per
//! group (a [`State`], 40 bytes, plus alignment slack), `init` writes `State::Empty`, `update`
//! and `combine` join into it (the source of a combine is left intact: window frames reuse it),
//! `finalize` reads it and `destroy` drops it. DuckDB moves states with `memcpy` when it
//! reorganises its hash table, which is sound for Rust values (they are never self-referential).
//! DuckDB therefore runs the aggregates with parallel partial aggregation and its partitioned
//! hash aggregate. LWW, Max and Min over scalars keep their winner inline (text up to 24 bytes
//! included: the kernel's slim cells), so those states own no heap memory; longer text, general
//! cells, sets and counters live on the Rust heap, outside DuckDB's buffer manager.
//! Max and min over numbers, dates and timestamps keep a 16-byte `FixedCell` instead
//! ([`Aggregate::fixed_width`]), with no destroy callback, and reduce an ungrouped batch in one
//! typed pass.

use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use crdt_merge_kernel::catalogue::{self, invoke_scalar, Arg, ArgType, FunctionKind, NullHandling};
use crdt_merge_kernel::strategy::{
    Aggregate, FixedCell, FixedStatesByRow, State, StatesByRow, StrategyKind,
};
use libduckdb_sys as ffi;

use crate::plan::{Overload, Param, Planned};
use crate::types::{self, LogicalType};
use crate::vector;

/// Runs `f`, turning a panic into an error message.
pub fn guard<F: FnOnce() -> Result<(), String>>(f: F) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!(
                "crdt_merge: internal error (please report): {what}"
            ))
        }
    }
}

/// A kernel error as DuckDB users read it: DuckDB's type names.
pub fn host_error(e: crdt_merge_kernel::Error) -> String {
    e.with_type_names(types::sql_name).to_string()
}

/// A C string for an error message (interior NULs replaced).
pub fn c_message(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

/// Reads every column of `chunk` as Arrow arrays (with the chunk's row count).
///
/// # Safety
/// `chunk` must be a live data chunk handed to a callback.
pub unsafe fn read_chunk(
    chunk: ffi::duckdb_data_chunk,
    function: &str,
) -> Result<(Vec<ArrayRef>, usize), String> {
    // SAFETY: per the contract.
    let cols = ffi::duckdb_data_chunk_get_column_count(chunk);
    let kinds = catalogue_args(function, cols as usize);
    let kinds = kinds.as_deref();
    // SAFETY: per the contract; vectors and their types belong to the chunk.
    let n = ffi::duckdb_data_chunk_get_size(chunk) as usize;
    let mut arrays = Vec::with_capacity(cols as usize);
    for c in 0..cols {
        let v = ffi::duckdb_data_chunk_get_vector(chunk, c);
        let lt = LogicalType(ffi::duckdb_vector_get_column_type(v));
        let id = ffi::duckdb_get_type_id(lt.0);
        if let Some(arg) = kinds.and_then(|k| k.get(c as usize)) {
            // TIME and ENUM travel as integers (their order) and UUID as a 128-bit value, but
            // none is an integer or a clock: DuckDB passes them to an `ANY` parameter
            // unchanged, so refuse them here.
            let refused = matches!(
                id,
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIME
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_ENUM
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_UUID
            );
            let expected = match arg.ty {
                ArgType::Integer => Some("an integer"),
                ArgType::Clock => {
                    Some("a clock (a number, DECIMAL, DATE, TIMESTAMP or HLC BIGINT)")
                }
                _ => None,
            };
            if let (true, Some(expected)) = (refused, expected) {
                return Err(format!(
                    "{function}: argument `{}`: expected type {expected}, found {}",
                    arg.name,
                    types::type_id_name(id)
                ));
            }
        }
        let dt = types::to_arrow(lt.0).map_err(|t| {
            // The pick and key functions run inside crdt_merge(...), where the user never
            // wrote their names.
            let hint = if function.ends_with("_pick") || function.ends_with("_key") {
                " (crdt_merge(...) calls it to merge an LWW, max or min column, which cannot have this type: cast the column, for example to VARCHAR)"
            } else {
                ""
            };
            let hint = if hint.is_empty() {
                format!(
                    " (cast it first, for example to VARCHAR{})",
                    if t.starts_with("VARINT") {
                        ", or to HUGEINT below 2^127"
                    } else {
                        ""
                    }
                )
            } else {
                hint.to_string()
            };
            format!(
                "{function}: argument {}: expected a BOOLEAN, integer, float, DECIMAL, VARCHAR, BLOB, DATE, TIME, TIMESTAMP, INTERVAL, UUID, ENUM, LIST, ARRAY, MAP or STRUCT value, found {t}{hint}",
                c + 1
            )
        })?;
        arrays.push(
            vector::read(v, &dt, n).map_err(|e| format!("{function}: argument {}: {e}", c + 1))?,
        );
    }
    Ok((arrays, n))
}

/// The catalogue's arguments of `function` called with `n` arguments: its own signature, or
/// for the pick and key functions that of the `_join` or aggregate whose arguments they take.
fn catalogue_args(function: &str, n: usize) -> Option<Vec<Arg>> {
    let def = catalogue::lookup(function).or_else(|| {
        StrategyKind::ALL.into_iter().find_map(|k| {
            let (pick, key) = k.pick_and_key_names()?;
            if function == pick {
                k.join_name().and_then(catalogue::lookup)
            } else if function == key {
                catalogue::lookup(k.aggregate_name())
            } else {
                None
            }
        })
    })?;
    def.signatures
        .iter()
        .find(|s| s.args.len() == n)
        .map(|s| s.args.to_vec())
}

/// Makes `array` exactly `want` (the declared DuckDB type) before writing it.
fn conform(function: &str, array: ArrayRef, want: &DataType) -> Result<ArrayRef, String> {
    let want = &types::kernel_type(want);
    if array.data_type() == want {
        return Ok(array);
    }
    arrow_cast::cast(&array, want).map_err(|e| {
        format!(
            "{function}: internal error (please report): result type {} where {} was registered: {e}",
            array.data_type(),
            want
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Aggregates

struct AggInfo {
    name: &'static str,
    /// Built from the overload's template types: serves combine and finalize, and update when
    /// the batch has exactly these types.
    template: Aggregate,
    returns: DataType,
}

/// Bytes DuckDB reserves per group: one [`State`] plus slack to align it.
pub const STATE_SIZE: usize = std::mem::size_of::<State>() + std::mem::align_of::<State>() - 1;

/// The [`State`] inside a DuckDB state slot (aligned within the slot; DuckDB aligns slots to
/// 8 bytes, which makes the offset 0).
#[inline]
fn slot(p: ffi::duckdb_aggregate_state) -> *mut State {
    let raw = p as *mut u8;
    raw.wrapping_add(raw.align_offset(std::mem::align_of::<State>())) as *mut State
}

/// States of one update call: DuckDB's per-row state pointers.
struct DuckStates {
    slots: *mut ffi::duckdb_aggregate_state,
}

impl StatesByRow for DuckStates {
    #[inline]
    fn state(&mut self, row: usize) -> &mut State {
        // SAFETY: DuckDB hands one initialised slot per row for the duration of `update`, and
        // the kernel holds one `&mut` at a time.
        unsafe { &mut *slot(*self.slots.add(row)) }
    }
}

unsafe extern "C" fn agg_state_size(_info: ffi::duckdb_function_info) -> ffi::idx_t {
    STATE_SIZE as ffi::idx_t
}

unsafe extern "C" fn agg_init(
    _info: ffi::duckdb_function_info,
    state: ffi::duckdb_aggregate_state,
) {
    // SAFETY: DuckDB hands `STATE_SIZE` writable, uninitialised bytes.
    slot(state).write(State::Empty);
}

unsafe fn agg_info<'a>(info: ffi::duckdb_function_info) -> Result<&'a AggInfo, String> {
    // SAFETY: the extra info was set at registration to a leaked-until-destroy `AggInfo`.
    let p = ffi::duckdb_aggregate_function_get_extra_info(info) as *const AggInfo;
    p.as_ref()
        .ok_or_else(|| "crdt_merge: aggregate without its function info".to_string())
}

unsafe fn agg_fail(info: ffi::duckdb_function_info, r: Result<(), String>) {
    if let Err(msg) = r {
        let m = c_message(&msg);
        // SAFETY: `info` is the live function info of this callback; DuckDB copies the message.
        ffi::duckdb_aggregate_function_set_error(info, m.as_ptr());
    }
}

unsafe extern "C" fn agg_update(
    info: ffi::duckdb_function_info,
    chunk: ffi::duckdb_data_chunk,
    states: *mut ffi::duckdb_aggregate_state,
) {
    let r = guard(|| {
        // SAFETY: DuckDB passes a live chunk and one state slot per row of it.
        unsafe {
            let ai = agg_info(info)?;
            let (args, _rows) = read_chunk(chunk, ai.name)?;
            let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
            let built;
            let agg = if types.as_slice() == ai.template.arg_types() {
                &ai.template
            } else {
                built = Aggregate::new(ai.name, &types).map_err(host_error)?;
                &built
            };
            agg.update(&args, &mut DuckStates { slots: states })
                .map_err(host_error)
        }
    });
    // SAFETY: `info` is live for this callback.
    agg_fail(info, r);
}

unsafe extern "C" fn agg_combine(
    info: ffi::duckdb_function_info,
    source: *mut ffi::duckdb_aggregate_state,
    target: *mut ffi::duckdb_aggregate_state,
    count: ffi::idx_t,
) {
    let r = guard(|| {
        // SAFETY: DuckDB passes `count` source and target slots, initialised by `agg_init`.
        unsafe {
            let ai = agg_info(info)?;
            for i in 0..count as usize {
                let src = &*slot(*source.add(i));
                let dst = &mut *slot(*target.add(i));
                ai.template.combine(dst, src).map_err(host_error)?;
            }
            Ok(())
        }
    });
    // SAFETY: `info` is live for this callback.
    agg_fail(info, r);
}

/// Writes finished values into rows `offset..` of a finalize call's result vector, in the
/// overload's return type.
///
/// # Safety
/// `result` must be the live result vector of the finalize call, with room for those rows.
unsafe fn write_finished(
    ai: &AggInfo,
    out: ArrayRef,
    result: ffi::duckdb_vector,
    offset: ffi::idx_t,
) -> Result<(), String> {
    let out = conform(ai.name, out, &ai.returns)?;
    vector::write(result, out.as_ref(), offset as usize).map_err(|e| format!("{}: {e}", ai.name))
}

unsafe extern "C" fn agg_finalize(
    info: ffi::duckdb_function_info,
    source: *mut ffi::duckdb_aggregate_state,
    result: ffi::duckdb_vector,
    count: ffi::idx_t,
    offset: ffi::idx_t,
) {
    let r = guard(|| {
        // SAFETY: DuckDB passes `count` initialised slots and a result vector with room for
        // rows `offset..offset + count` of the registered return type.
        unsafe {
            let ai = agg_info(info)?;
            // Settled in place (a sketch's pending updates), so `finish` copies nothing.
            for i in 0..count as usize {
                ai.template.settle(&mut *slot(*source.add(i)));
            }
            let states: Vec<&State> = (0..count as usize)
                .map(|i| &*slot(*source.add(i)))
                .collect();
            let out = ai.template.finish(&states).map_err(host_error)?;
            write_finished(ai, out, result, offset)
        }
    });
    // SAFETY: `info` is live for this callback.
    agg_fail(info, r);
}

unsafe extern "C" fn agg_destroy(states: *mut ffi::duckdb_aggregate_state, count: ffi::idx_t) {
    let _ = guard(|| {
        // SAFETY: each slot holds an initialised State, dropped once and reset to Empty (which
        // owns nothing) so a repeated destroy is harmless.
        unsafe {
            for i in 0..count as usize {
                let s = slot(*states.add(i));
                std::ptr::drop_in_place(s);
                s.write(State::Empty);
            }
        }
        Ok(())
    });
}

// Fixed-width states (`Aggregate::fixed_width`: max and min over numbers, dates and timestamps):
// a `FixedCell` (16 bytes, no heap) per slot, read and written unaligned, and no destroy
// callback, so DuckDB's hash table rows are narrower and it skips the destroy pass.

/// Bytes DuckDB reserves per group of a fixed-width aggregate.
const FIXED_SIZE: usize = std::mem::size_of::<FixedCell>();

/// States of one fixed-width update call: DuckDB's per-row state pointers and their count.
struct DuckFixed {
    slots: *mut ffi::duckdb_aggregate_state,
    rows: usize,
}

impl FixedStatesByRow for DuckFixed {
    #[inline]
    fn get(&self, row: usize) -> FixedCell {
        // SAFETY: DuckDB hands one slot of FIXED_SIZE bytes per row, written by `fixed_init`.
        unsafe { (*self.slots.add(row) as *const FixedCell).read_unaligned() }
    }

    #[inline]
    fn set(&mut self, row: usize, cell: FixedCell) {
        // SAFETY: as `get`; the slot is writable for the duration of `update`.
        unsafe { (*self.slots.add(row) as *mut FixedCell).write_unaligned(cell) }
    }

    fn single(&self) -> bool {
        // An ungrouped aggregate passes one state for every row.
        // SAFETY: `rows` slots are readable.
        let slots = unsafe { std::slice::from_raw_parts(self.slots, self.rows) };
        slots.iter().all(|&p| p == slots[0])
    }
}

unsafe extern "C" fn fixed_state_size(_info: ffi::duckdb_function_info) -> ffi::idx_t {
    FIXED_SIZE as ffi::idx_t
}

unsafe extern "C" fn fixed_init(
    _info: ffi::duckdb_function_info,
    state: ffi::duckdb_aggregate_state,
) {
    // SAFETY: DuckDB hands `FIXED_SIZE` writable bytes.
    (state as *mut FixedCell).write_unaligned(FixedCell::Null);
}

unsafe extern "C" fn fixed_update(
    info: ffi::duckdb_function_info,
    chunk: ffi::duckdb_data_chunk,
    states: *mut ffi::duckdb_aggregate_state,
) {
    let r = guard(|| {
        // SAFETY: DuckDB passes a live chunk and one state slot per row of it.
        unsafe {
            let ai = agg_info(info)?;
            let (args, rows) = read_chunk(chunk, ai.name)?;
            ai.template
                .update_fixed(
                    &args,
                    &mut DuckFixed {
                        slots: states,
                        rows,
                    },
                )
                .map_err(host_error)
        }
    });
    // SAFETY: `info` is live for this callback.
    agg_fail(info, r);
}

unsafe extern "C" fn fixed_combine(
    info: ffi::duckdb_function_info,
    source: *mut ffi::duckdb_aggregate_state,
    target: *mut ffi::duckdb_aggregate_state,
    count: ffi::idx_t,
) {
    let r = guard(|| {
        // SAFETY: DuckDB passes `count` source and target slots, initialised by `fixed_init`.
        unsafe {
            let ai = agg_info(info)?;
            for i in 0..count as usize {
                let src = (*source.add(i) as *const FixedCell).read_unaligned();
                let dst = *target.add(i) as *mut FixedCell;
                let mut cell = dst.read_unaligned();
                ai.template.combine_fixed(&mut cell, &src);
                dst.write_unaligned(cell);
            }
            Ok(())
        }
    });
    // SAFETY: `info` is live for this callback.
    agg_fail(info, r);
}

unsafe extern "C" fn fixed_finalize(
    info: ffi::duckdb_function_info,
    source: *mut ffi::duckdb_aggregate_state,
    result: ffi::duckdb_vector,
    count: ffi::idx_t,
    offset: ffi::idx_t,
) {
    let r = guard(|| {
        // SAFETY: as `agg_finalize`, with fixed-width slots.
        unsafe {
            let ai = agg_info(info)?;
            let cells: Vec<FixedCell> = (0..count as usize)
                .map(|i| (*source.add(i) as *const FixedCell).read_unaligned())
                .collect();
            let out = ai.template.finish_fixed(&cells).map_err(host_error)?;
            write_finished(ai, out, result, offset)
        }
    });
    // SAFETY: `info` is live for this callback.
    agg_fail(info, r);
}

unsafe extern "C" fn drop_agg_info(p: *mut c_void) {
    if !p.is_null() {
        // SAFETY: `p` came from Box::into_raw(Box<AggInfo>) and DuckDB frees it once.
        drop(Box::from_raw(p as *mut AggInfo));
    }
}

fn add_params(
    overload: &Overload,
    mut add: impl FnMut(ffi::duckdb_logical_type),
) -> Result<(), String> {
    for p in &overload.params {
        let lt = match p {
            Param::Any => types::any(),
            Param::Type(dt) => types::from_arrow(dt)?,
            Param::Varint(list) => types::varint(*list),
        };
        add(lt.0);
    }
    Ok(())
}

/// Registers one aggregate function set.
///
/// # Safety
/// `con` must be a live connection.
unsafe fn register_aggregate(con: ffi::duckdb_connection, f: &Planned) -> Result<(), String> {
    // SAFETY: every handle created here is destroyed here; DuckDB copies what it registers.
    let name = c_message(f.def.name);
    let mut set = ffi::duckdb_create_aggregate_function_set(name.as_ptr());
    let mut result = Ok(());
    for o in &f.overloads {
        let template = match Aggregate::new(f.def.name, &o.template) {
            Ok(a) => a,
            Err(e) => {
                result = Err(e.to_string());
                break;
            }
        };
        let mut af = ffi::duckdb_create_aggregate_function();
        ffi::duckdb_aggregate_function_set_name(af, name.as_ptr());
        add_params(o, |lt| ffi::duckdb_aggregate_function_add_parameter(af, lt))?;
        let ret = types::from_arrow(&o.returns)?;
        ffi::duckdb_aggregate_function_set_return_type(af, ret.0);
        if template.fixed_width() {
            ffi::duckdb_aggregate_function_set_functions(
                af,
                Some(fixed_state_size),
                Some(fixed_init),
                Some(fixed_update),
                Some(fixed_combine),
                Some(fixed_finalize),
            );
        } else {
            ffi::duckdb_aggregate_function_set_functions(
                af,
                Some(agg_state_size),
                Some(agg_init),
                Some(agg_update),
                Some(agg_combine),
                Some(agg_finalize),
            );
            ffi::duckdb_aggregate_function_set_destructor(af, Some(agg_destroy));
        }
        if f.def.nulls == NullHandling::Bottom {
            ffi::duckdb_aggregate_function_set_special_handling(af);
        }
        let info = Box::new(AggInfo {
            name: f.def.name,
            template,
            returns: o.returns.clone(),
        });
        ffi::duckdb_aggregate_function_set_extra_info(
            af,
            Box::into_raw(info) as *mut c_void,
            Some(drop_agg_info),
        );
        let added = ffi::duckdb_add_aggregate_function_to_set(set, af);
        ffi::duckdb_destroy_aggregate_function(&mut af);
        if added != ffi::duckdb_state_DuckDBSuccess {
            result = Err(format!("cannot add an overload of {}", f.def.name));
            break;
        }
    }
    if result.is_ok()
        && ffi::duckdb_register_aggregate_function_set(con, set) != ffi::duckdb_state_DuckDBSuccess
    {
        result = Err(format!("cannot register aggregate {}", f.def.name));
    }
    ffi::duckdb_destroy_aggregate_function_set(&mut set);
    result
}

// ---------------------------------------------------------------------------------------------
// Scalars

/// The computation behind a registered scalar.
pub type ScalarFn = fn(&str, &[ArrayRef], usize) -> Result<ArrayRef, String>;

struct ScalarInfo {
    name: &'static str,
    run: ScalarFn,
    returns: DataType,
}

unsafe extern "C" fn scalar_call(
    info: ffi::duckdb_function_info,
    chunk: ffi::duckdb_data_chunk,
    output: ffi::duckdb_vector,
) {
    let r = guard(|| {
        // SAFETY: DuckDB passes a live chunk and an output vector of the registered type with
        // room for the chunk's rows; the extra info is a live `ScalarInfo`.
        unsafe {
            let si = (ffi::duckdb_scalar_function_get_extra_info(info) as *const ScalarInfo)
                .as_ref()
                .ok_or_else(|| "crdt_merge: scalar without its function info".to_string())?;
            let (args, n) = read_chunk(chunk, si.name)?;
            let out = (si.run)(si.name, &args, n)?;
            if out.len() != n {
                return Err(format!(
                    "{}: internal error (please report): {} result rows for {n} input rows",
                    si.name,
                    out.len()
                ));
            }
            let out = conform(si.name, out, &si.returns)?;
            vector::write(output, out.as_ref(), 0).map_err(|e| format!("{}: {e}", si.name))
        }
    });
    if let Err(msg) = r {
        let m = c_message(&msg);
        // SAFETY: `info` is live for this callback; DuckDB copies the message.
        ffi::duckdb_scalar_function_set_error(info, m.as_ptr());
    }
}

unsafe extern "C" fn drop_scalar_info(p: *mut c_void) {
    if !p.is_null() {
        // SAFETY: `p` came from Box::into_raw(Box<ScalarInfo>) and DuckDB frees it once.
        drop(Box::from_raw(p as *mut ScalarInfo));
    }
}

/// One scalar overload to register: parameter types, return type, computation.
pub struct ScalarOverload {
    /// DuckDB parameters.
    pub params: Vec<Param>,
    /// Declared return type.
    pub returns: DataType,
    /// The computation.
    pub run: ScalarFn,
}

/// Registers a scalar function set.
///
/// # Safety
/// `con` must be a live connection.
pub unsafe fn register_scalar(
    con: ffi::duckdb_connection,
    name: &'static str,
    overloads: &[ScalarOverload],
    nulls_are_bottom: bool,
    volatile: bool,
) -> Result<(), String> {
    // SAFETY: every handle created here is destroyed here; DuckDB copies what it registers.
    let cname = c_message(name);
    let mut set = ffi::duckdb_create_scalar_function_set(cname.as_ptr());
    let mut result = Ok(());
    for o in overloads {
        let mut sf = ffi::duckdb_create_scalar_function();
        ffi::duckdb_scalar_function_set_name(sf, cname.as_ptr());
        let ov = Overload {
            params: o.params.clone(),
            template: Vec::new(),
            returns: o.returns.clone(),
        };
        add_params(&ov, |lt| ffi::duckdb_scalar_function_add_parameter(sf, lt))?;
        let ret = types::from_arrow(&o.returns)?;
        ffi::duckdb_scalar_function_set_return_type(sf, ret.0);
        ffi::duckdb_scalar_function_set_function(sf, Some(scalar_call));
        if nulls_are_bottom {
            ffi::duckdb_scalar_function_set_special_handling(sf);
        }
        if volatile {
            ffi::duckdb_scalar_function_set_volatile(sf);
        }
        let info = Box::new(ScalarInfo {
            name,
            run: o.run,
            returns: o.returns.clone(),
        });
        ffi::duckdb_scalar_function_set_extra_info(
            sf,
            Box::into_raw(info) as *mut c_void,
            Some(drop_scalar_info),
        );
        let added = ffi::duckdb_add_scalar_function_to_set(set, sf);
        ffi::duckdb_destroy_scalar_function(&mut sf);
        if added != ffi::duckdb_state_DuckDBSuccess {
            result = Err(format!("cannot add an overload of {name}"));
            break;
        }
    }
    if result.is_ok()
        && ffi::duckdb_register_scalar_function_set(con, set) != ffi::duckdb_state_DuckDBSuccess
    {
        result = Err(format!("cannot register scalar {name}"));
    }
    ffi::duckdb_destroy_scalar_function_set(&mut set);
    result
}

fn catalogue_scalar(name: &str, args: &[ArrayRef], n: usize) -> Result<ArrayRef, String> {
    invoke_scalar(name, args, n).map_err(host_error)
}

/// Registers every catalogue function.
///
/// # Safety
/// `con` must be a live connection.
pub unsafe fn register_catalogue(con: ffi::duckdb_connection) -> Result<(), String> {
    for f in crate::plan::plan() {
        match f.def.kind {
            FunctionKind::Aggregate => register_aggregate(con, &f)?,
            FunctionKind::Scalar => {
                let overloads: Vec<ScalarOverload> = f
                    .overloads
                    .iter()
                    .map(|o| ScalarOverload {
                        params: o.params.clone(),
                        returns: o.returns.clone(),
                        run: catalogue_scalar,
                    })
                    .collect();
                register_scalar(
                    con,
                    f.def.name,
                    &overloads,
                    f.def.nulls == NullHandling::Bottom,
                    false,
                )?
            }
        }
    }
    Ok(())
}
