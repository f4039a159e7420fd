//! DuckDB database files, opened through DuckDB's own library, loaded at run time.
//!
//! Debian ships no libduckdb, and compiling DuckDB's C++ into this binary (the `duckdb` crate's
//! `bundled` feature) would add a long cold build to every CI run; so the CLI uses whichever
//! DuckDB the user already has (docs/sync.md): `CRDT_MERGE_LIBDUCKDB` names a `libduckdb.so`
//! (or the `_duckdb*.so` of a Python `duckdb` package), otherwise the Python `duckdb` package
//! of `CRDT_MERGE_PYTHON` (default `python3`) is used. The Python module exports DuckDB's whole
//! C API; it refers to libpython's symbols, so libpython is loaded first (globally) without
//! starting an interpreter. Any DuckDB from 1.3.2 to 2.0.1 reads files of the same versions.
//!
//! Rows cross as Arrow through the C data interface (`duckdb_query_arrow`), so the kernel sees
//! them exactly as DataFusion's readers would.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, RecordBatch, StructArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use libloading::os::unix::{Library, Symbol, RTLD_GLOBAL, RTLD_LOCAL, RTLD_NOW};

use crate::{CliError, Result};

type State = i32;
type OpenExt =
    unsafe extern "C" fn(*const c_char, *mut *mut c_void, *mut c_void, *mut *mut c_char) -> State;
type CreateConfig = unsafe extern "C" fn(*mut *mut c_void) -> State;
type SetConfig = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> State;
type DestroyConfig = unsafe extern "C" fn(*mut *mut c_void);
type Connect = unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> State;
type QueryArrow = unsafe extern "C" fn(*mut c_void, *const c_char, *mut *mut c_void) -> State;
type ArrowOut = unsafe extern "C" fn(*mut c_void, *mut *mut c_void) -> State;
type ArrowError = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type DestroyArrow = unsafe extern "C" fn(*mut *mut c_void);
type Disconnect = unsafe extern "C" fn(*mut *mut c_void);
type Close = unsafe extern "C" fn(*mut *mut c_void);
type Free = unsafe extern "C" fn(*mut c_void);

/// The DuckDB library and where it came from.
struct Loaded {
    lib: Library,
    // Kept loaded for as long as `lib` (its symbols resolve against it).
    _python: Option<Library>,
    path: PathBuf,
}

fn find_library() -> Result<(PathBuf, Option<PathBuf>)> {
    if let Some(p) = std::env::var_os("CRDT_MERGE_LIBDUCKDB") {
        let p = PathBuf::from(p);
        let py = std::env::var_os("CRDT_MERGE_LIBPYTHON").map(PathBuf::from);
        return Ok((p, py));
    }
    let python = std::env::var("CRDT_MERGE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = "import os, sysconfig, _duckdb\n\
                 print(_duckdb.__file__)\n\
                 print(os.path.join(sysconfig.get_config_var('LIBDIR') or '', \
                 sysconfig.get_config_var('LDLIBRARY') or ''))";
    let out = std::process::Command::new(&python)
        .args(["-c", probe])
        .output()
        .map_err(|e| {
            CliError::Input(format!(
                "cannot open DuckDB files: no DuckDB library found ({python}: {e}); install the \
                 Python package (pip install duckdb, 1.3.2 to 2.0.1), set CRDT_MERGE_PYTHON to a \
                 python that has it, or set CRDT_MERGE_LIBDUCKDB=/path/to/libduckdb.so"
            ))
        })?;
    if !out.status.success() {
        return Err(CliError::Input(format!(
            "cannot open DuckDB files: {python} has no duckdb package; pip install duckdb \
             (1.3.2 to 2.0.1), set CRDT_MERGE_PYTHON, or set CRDT_MERGE_LIBDUCKDB=/path/to/libduckdb.so"
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let lib = lines.next().unwrap_or_default().trim().to_string();
    let py = lines.next().map(|l| PathBuf::from(l.trim()));
    Ok((PathBuf::from(lib), py))
}

fn load() -> Result<Loaded> {
    let (path, libpython) = find_library()?;
    let is_python_module = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("_duckdb"));
    // SAFETY: loading shared libraries runs their initialisers; libpython's and DuckDB's only
    // set up static state (no interpreter is started, no Python code runs).
    let python = if is_python_module {
        let lp = libpython.filter(|p| p.is_file()).ok_or_else(|| {
            CliError::Input(format!(
                "cannot open DuckDB files through {}: libpython not found; set \
                 CRDT_MERGE_LIBPYTHON or CRDT_MERGE_LIBDUCKDB=/path/to/libduckdb.so",
                path.display()
            ))
        })?;
        Some(
            unsafe { Library::open(Some(&lp), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| {
                CliError::Input(format!("cannot load libpython {}: {e}", lp.display()))
            })?,
        )
    } else {
        None
    };
    let lib = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| CliError::Input(format!("cannot load DuckDB from {}: {e}", path.display())))?;
    Ok(Loaded {
        lib,
        _python: python,
        path,
    })
}

/// An open DuckDB database and one connection to it.
pub struct DuckDb {
    loaded: Loaded,
    db: *mut c_void,
    con: *mut c_void,
    file: String,
}

impl DuckDb {
    fn sym<T>(&self, name: &str) -> Result<Symbol<T>> {
        // SAFETY: each caller names a DuckDB C API function with the matching signature `T`.
        unsafe { self.loaded.lib.get::<T>(name.as_bytes()) }.map_err(|e| {
            CliError::Input(format!(
                "{} is not a DuckDB library with the C API ({name}: {e})",
                self.loaded.path.display()
            ))
        })
    }

    /// Opens `file` (created when missing and `read_only` is false).
    pub fn open(file: &Path, read_only: bool) -> Result<DuckDb> {
        if read_only && !file.exists() {
            return Err(CliError::Input(format!(
                "cannot read '{}': no such file",
                file.display()
            )));
        }
        let loaded = load()?;
        let mut me = DuckDb {
            loaded,
            db: std::ptr::null_mut(),
            con: std::ptr::null_mut(),
            file: file.display().to_string(),
        };
        let cpath = CString::new(file.to_string_lossy().as_bytes())
            .map_err(|_| CliError::Usage(format!("'{}': a path without NUL bytes", me.file)))?;
        let create: Symbol<CreateConfig> = me.sym("duckdb_create_config")?;
        let set: Symbol<SetConfig> = me.sym("duckdb_set_config")?;
        let destroy: Symbol<DestroyConfig> = me.sym("duckdb_destroy_config")?;
        let open: Symbol<OpenExt> = me.sym("duckdb_open_ext")?;
        let free: Symbol<Free> = me.sym("duckdb_free")?;
        let connect: Symbol<Connect> = me.sym("duckdb_connect")?;
        // SAFETY: the C API's documented calling sequence; every out-pointer is ours, the config
        // is destroyed once, an error string is freed with duckdb_free.
        unsafe {
            let mut cfg: *mut c_void = std::ptr::null_mut();
            if create(&mut cfg) != 0 {
                return Err(CliError::Run("duckdb_create_config failed".into()));
            }
            let mode = if read_only {
                c"READ_ONLY"
            } else {
                c"READ_WRITE"
            };
            set(cfg, c"access_mode".as_ptr(), mode.as_ptr());
            let mut err: *mut c_char = std::ptr::null_mut();
            let rc = open(cpath.as_ptr(), &mut me.db, cfg, &mut err);
            destroy(&mut cfg);
            if rc != 0 {
                let msg = if err.is_null() {
                    "unknown error".to_string()
                } else {
                    let m = CStr::from_ptr(err).to_string_lossy().into_owned();
                    free(err as *mut c_void);
                    m
                };
                return Err(CliError::Input(format!(
                    "cannot open DuckDB file '{}': {msg}",
                    me.file
                )));
            }
            if connect(me.db, &mut me.con) != 0 {
                return Err(CliError::Run(format!("cannot connect to '{}'", me.file)));
            }
        }
        Ok(me)
    }

    /// Runs `sql` and returns its rows as Arrow batches (a statement gives none).
    pub fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let csql = CString::new(sql).map_err(|_| CliError::Usage("SQL with a NUL byte".into()))?;
        let query: Symbol<QueryArrow> = self.sym("duckdb_query_arrow")?;
        let schema_of: Symbol<ArrowOut> = self.sym("duckdb_query_arrow_schema")?;
        let next: Symbol<ArrowOut> = self.sym("duckdb_query_arrow_array")?;
        let error: Symbol<ArrowError> = self.sym("duckdb_query_arrow_error")?;
        let destroy: Symbol<DestroyArrow> = self.sym("duckdb_destroy_arrow")?;
        // SAFETY: the deprecated-but-present Arrow query API: DuckDB writes an ArrowSchema and,
        // per chunk, an ArrowArray into the structs we pass; an untouched array (release NULL)
        // means the result is exhausted. The result is destroyed once on every path.
        unsafe {
            let mut res: *mut c_void = std::ptr::null_mut();
            let rc = query(self.con, csql.as_ptr(), &mut res);
            let fail = |res: *mut c_void| -> CliError {
                let p = error(res);
                let m = if p.is_null() {
                    "unknown error".to_string()
                } else {
                    CStr::from_ptr(p).to_string_lossy().into_owned()
                };
                CliError::Run(format!("DuckDB '{}': {m}", self.file))
            };
            if rc != 0 {
                let e = fail(res);
                destroy(&mut res);
                return Err(e);
            }
            let mut schema = FFI_ArrowSchema::empty();
            let mut sp = &mut schema as *mut FFI_ArrowSchema as *mut c_void;
            if schema_of(res, &mut sp) != 0 {
                let e = fail(res);
                destroy(&mut res);
                return Err(e);
            }
            let arrow_schema = datafusion::arrow::datatypes::Schema::try_from(&schema)
                .map_err(|e| CliError::Run(format!("DuckDB '{}': {e}", self.file)))?;
            let arrow_schema = std::sync::Arc::new(arrow_schema);
            let mut batches = Vec::new();
            loop {
                let mut array = FFI_ArrowArray::empty();
                let mut ap = &mut array as *mut FFI_ArrowArray as *mut c_void;
                if next(res, &mut ap) != 0 {
                    let e = fail(res);
                    destroy(&mut res);
                    return Err(e);
                }
                if array.is_released() {
                    break;
                }
                let data = from_ffi(array, &schema)
                    .map_err(|e| CliError::Run(format!("DuckDB '{}': {e}", self.file)))?;
                let s = StructArray::from(data);
                if s.is_empty() {
                    continue;
                }
                let b = RecordBatch::from(s)
                    .with_schema(arrow_schema.clone())
                    .map_err(|e| CliError::Run(format!("DuckDB '{}': {e}", self.file)))?;
                batches.push(b);
            }
            destroy(&mut res);
            Ok((arrow_schema, batches))
        }
    }

    /// Registers an Arrow stream as the view `name` (consumed by the first scan of it).
    pub fn arrow_scan(
        &self,
        name: &str,
        stream: &mut datafusion::arrow::ffi_stream::FFI_ArrowArrayStream,
    ) -> Result<()> {
        type ArrowScan = unsafe extern "C" fn(*mut c_void, *const c_char, *mut c_void) -> State;
        let scan: Symbol<ArrowScan> = self.sym("duckdb_arrow_scan")?;
        let cname = CString::new(name).map_err(|_| CliError::Usage("a NUL in a name".into()))?;
        // SAFETY: the stream outlives every scan of the view (the caller drops the view before
        // the stream); DuckDB reads it through its callbacks and marks it released when done.
        let rc = unsafe {
            scan(
                self.con,
                cname.as_ptr(),
                stream as *mut datafusion::arrow::ffi_stream::FFI_ArrowArrayStream as *mut c_void,
            )
        };
        if rc != 0 {
            return Err(CliError::Run(format!(
                "DuckDB '{}': cannot scan the incoming rows",
                self.file
            )));
        }
        Ok(())
    }

    /// Runs statements, discarding any rows.
    pub fn execute(&self, sql: &str) -> Result<()> {
        self.query(sql).map(|_| ())
    }
}

impl Drop for DuckDb {
    fn drop(&mut self) {
        // SAFETY: the connection and database were opened by us and are closed once.
        unsafe {
            if let Ok(d) = self.sym::<Disconnect>("duckdb_disconnect") {
                if !self.con.is_null() {
                    d(&mut self.con);
                }
            }
            if let Ok(c) = self.sym::<Close>("duckdb_close") {
                if !self.db.is_null() {
                    c(&mut self.db);
                }
            }
        }
    }
}

/// Whether `path` is a DuckDB database file (by name, or by the `DUCK` magic at byte 8).
pub fn is_duckdb_file(path: &Path) -> bool {
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "duckdb" | "ddb" | "db"));
    if by_name {
        return true;
    }
    let mut head = [0u8; 12];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head[8..12] == b"DUCK"
}
