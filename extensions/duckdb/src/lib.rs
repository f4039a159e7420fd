//! # crdt_merge for DuckDB
//!
//! A loadable DuckDB extension built against DuckDB's stable C API (`v1.2.0`, ABI `C_STRUCT`)
//! with `libduckdb-sys` alone: DuckDB itself is never compiled, and one file loads in every
//! DuckDB from 1.3 to 2.0 on `linux_amd64`. `scripts/build-duckdb.sh` builds it in release mode
//! and appends DuckDB's metadata footer, writing `build/crdt_merge.duckdb_extension`.
//!
//! ```sql
//! LOAD 'build/crdt_merge.duckdb_extension';   -- allow_unsigned_extensions must be on
//! SELECT id, crdt_lww(name, _ts) AS name, crdt_max(score) AS score, max(_ts) AS _ts
//! FROM (FROM a UNION ALL BY NAME FROM b) GROUP BY id;
//! SELECT * FROM crdt_mergeql('MERGE a, b ON id STRATEGY score=''max''');
//! ```
//!
//! What it registers, all by iterating the kernel's catalogue
//! ([`crdt_merge_kernel::catalogue::CATALOGUE`]):
//!
//! * every aggregate as an aggregate function set with update, combine, finalize and destroy
//!   (so DuckDB aggregates in parallel), one overload per value type ([`plan`]);
//! * every scalar (pairwise `_join`s, state functions, clocks, `crdt_version()`), with DuckDB's
//!   special NULL handling where the catalogue says NULL is bottom;
//! * the table-level merge: scalars `crdt_merge_sql(...)` / `crdt_mergeql_sql(query)` that render a
//!   merge to SQL, and table macros `crdt_merge(...)` / `crdt_mergeql(query)` that run it
//!   ([`merge_sql`]).
//!
//! The adapter only converts and registers: DuckDB vectors become Arrow arrays ([`vector`]), one
//! kernel entry point runs, the result is written back. Errors from the kernel reach DuckDB
//! verbatim; a panic is caught in every callback and reported as an internal error.

// The C API is foreign code: this crate is the one place the workspace allows `unsafe`, and each
// block states why it is sound.
#![allow(unsafe_code)]

pub mod functions;
pub mod merge_sql;
pub mod plan;
pub mod types;
pub mod vector;

use std::ffi::{c_char, CStr};

use libduckdb_sys as ffi;

/// Minimum DuckDB C API version the extension asks for; it must equal the footer's version field.
pub const C_API_VERSION: &str = "v1.2.0";

/// Names registered in addition to the catalogue's (the table-level merge).
pub const EXTRA_FUNCTIONS: &[&str] = &[
    "crdt_merge",
    "crdt_merge_sql",
    "crdt_mergeql",
    "crdt_mergeql_sql",
];

/// Runs one SQL statement on `con`.
///
/// # Safety
/// `con` must be a live connection.
pub unsafe fn execute(con: ffi::duckdb_connection, sql: &str) -> Result<(), String> {
    let c = functions::c_message(sql);
    let mut result: ffi::duckdb_result = std::mem::zeroed();
    // SAFETY: `con` is live; `result` is destroyed whatever the outcome.
    let state = ffi::duckdb_query(con, c.as_ptr(), &mut result);
    let out = if state == ffi::duckdb_state_DuckDBSuccess {
        Ok(())
    } else {
        let e = ffi::duckdb_result_error(&mut result);
        Err(if e.is_null() {
            "unknown error".to_string()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        })
    };
    ffi::duckdb_destroy_result(&mut result);
    out
}

unsafe fn init(
    info: ffi::duckdb_extension_info,
    access: *const ffi::duckdb_extension_access,
) -> Result<bool, String> {
    // SAFETY: DuckDB calls the entry point with a live `info` and function table.
    if !ffi::duckdb_rs_extension_api_init(info, access, C_API_VERSION).map_err(str::to_string)? {
        return Ok(false);
    }
    let access = access
        .as_ref()
        .ok_or_else(|| "no extension access table".to_string())?;
    let get_database = access
        .get_database
        .ok_or_else(|| "no get_database in the extension access table".to_string())?;
    let db = get_database(info);
    if db.is_null() {
        return Err("DuckDB handed over no database".into());
    }
    let mut con: ffi::duckdb_connection = std::ptr::null_mut();
    if ffi::duckdb_connect(*db, &mut con) != ffi::duckdb_state_DuckDBSuccess {
        return Err("cannot connect to the database".into());
    }
    let r = functions::register_catalogue(con)
        .and_then(|()| merge_sql::register(con))
        .and_then(|()| merge_sql::install_macros(con));
    ffi::duckdb_disconnect(&mut con);
    r.map(|()| true)
}

/// The entry point DuckDB looks up for a file named `crdt_merge.duckdb_extension`.
///
/// # Safety
/// Called by DuckDB's extension loader with its own `info` and `access` handles.
#[no_mangle]
pub unsafe extern "C" fn crdt_merge_init_c_api(
    info: ffi::duckdb_extension_info,
    access: *const ffi::duckdb_extension_access,
) -> bool {
    let mut outcome = Ok(false);
    let caught = functions::guard(|| {
        // SAFETY: forwarded from DuckDB's call.
        outcome = unsafe { init(info, access) };
        Ok(())
    });
    let outcome = caught.and(outcome);
    match outcome {
        Ok(loaded) => loaded,
        Err(msg) => {
            let m = functions::c_message(&format!("crdt_merge: {msg}"));
            // SAFETY: `access` is DuckDB's table; set_error copies the message.
            if let Some(set_error) = access.as_ref().and_then(|a| a.set_error) {
                set_error(info, m.as_ptr() as *const c_char);
            }
            false
        }
    }
}
