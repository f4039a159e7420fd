//! # crdtmerge (native part)
//!
//! The Python package `crdtmerge` over `crdt-merge-model`. This crate only converts: each
//! function calls one model-crate function on paths (merge states are the CLI's state
//! directories, models and adapters are safetensors files the Python side writes from numpy
//! arrays), releases the GIL while it works, and turns the crate's errors into Python
//! exceptions carrying its message (`ValueError` for bad input, `OSError` for files).

mod agent;

use std::path::{Path, PathBuf};

use crdt_merge_model::lora::{self, Adapter, LoraMethod, MergeOptions};
use crdt_merge_model::merge::NoProgress;
use crdt_merge_model::params::ParamValue;
use crdt_merge_model::state::StateDir;
use crdt_merge_model::ModelError;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

fn err(e: ModelError) -> PyErr {
    match e {
        ModelError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Keyword parameters (JSON from Python) as the crate's values: numbers, booleans, text and
/// lists of them.
fn params(json: &str) -> PyResult<Vec<(String, ParamValue)>> {
    fn value(name: &str, v: &serde_json::Value) -> PyResult<ParamValue> {
        Ok(match v {
            serde_json::Value::Bool(b) => ParamValue::Bool(*b),
            serde_json::Value::Number(n) => ParamValue::Num(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => ParamValue::Text(s.clone()),
            serde_json::Value::Array(a) => ParamValue::List(
                a.iter()
                    .map(|x| value(name, x))
                    .collect::<PyResult<Vec<_>>>()?,
            ),
            other => {
                return Err(PyValueError::new_err(format!(
                "parameter `{name}`: expected a number, a boolean, text or a list, found {other}"
            )))
            }
        })
    }
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| PyValueError::new_err(format!("parameters: {e}")))?;
    parsed
        .iter()
        .map(|(k, v)| Ok((k.clone(), value(k, v)?)))
        .collect()
}

/// Creates a state directory (`crdt-merge model state init`).
#[pyfunction]
#[pyo3(signature = (dir, strategy, base, params_json, seed))]
fn state_init(
    py: Python<'_>,
    dir: PathBuf,
    strategy: &str,
    base: Option<PathBuf>,
    params_json: &str,
    seed: u64,
) -> PyResult<()> {
    let p = params(params_json)?;
    py.detach(|| StateDir::init(&dir, strategy, base.as_deref(), &p, seed).map(|_| ()))
        .map_err(err)
}

/// Adds a model file under `label`; returns its content id (hex).
#[pyfunction]
fn state_add(
    py: Python<'_>,
    dir: PathBuf,
    model: PathBuf,
    label: &str,
    weight: f64,
    version: u64,
) -> PyResult<String> {
    py.detach(|| StateDir::add(&dir, &model, label, weight, version, None, None))
        .map(|e| crdt_merge_model::contribution::hex(&e.content))
        .map_err(err)
}

/// Tombstones every entry labelled `label`; returns how many.
#[pyfunction]
fn state_remove(py: Python<'_>, dir: PathBuf, label: &str) -> PyResult<usize> {
    py.detach(|| StateDir::remove(&dir, label)).map_err(err)
}

/// Merges other state directories into `dir` (set union).
#[pyfunction]
fn state_merge(py: Python<'_>, dir: PathBuf, others: Vec<PathBuf>) -> PyResult<()> {
    py.detach(|| StateDir::merge(&dir, &others).map(|_| ()))
        .map_err(err)
}

/// Resolves the state into a safetensors file.
#[pyfunction]
fn state_resolve(py: Python<'_>, dir: PathBuf, output: PathBuf) -> PyResult<()> {
    py.detach(|| StateDir::resolve(&dir, &output, &NoProgress).map(|_| ()))
        .map_err(err)
}

/// The state hash (64 hex characters).
#[pyfunction]
fn state_hash(dir: PathBuf) -> PyResult<String> {
    StateDir::hash(&dir).map_err(err)
}

/// The live contributions: (label, content id hex, weight, version), by content id.
#[pyfunction]
fn state_live(dir: PathBuf) -> PyResult<Vec<(String, String, f64, u64)>> {
    let s = StateDir::open(&dir).map_err(err)?;
    Ok(s.state()
        .live()
        .into_iter()
        .map(|e| {
            (
                e.label.clone(),
                crdt_merge_model::contribution::hex(&e.content),
                e.weight,
                e.version,
            )
        })
        .collect())
}

/// The state's strategy name.
#[pyfunction]
fn state_strategy(dir: PathBuf) -> PyResult<String> {
    Ok(StateDir::open(&dir)
        .map_err(err)?
        .state()
        .strategy()
        .to_string())
}

/// Merges LoRA adapter directories into `output` (an adapter directory).
#[pyfunction]
#[pyo3(signature = (adapters, weights, method, rank, params_json, seed, output))]
#[allow(clippy::too_many_arguments)]
fn lora_merge(
    py: Python<'_>,
    adapters: Vec<PathBuf>,
    weights: Vec<f64>,
    method: &str,
    rank: Option<usize>,
    params_json: &str,
    seed: u64,
    output: PathBuf,
) -> PyResult<()> {
    if weights.len() != adapters.len() {
        return Err(PyValueError::new_err(format!(
            "lora merge: {} adapters but {} weights",
            adapters.len(),
            weights.len()
        )));
    }
    let method = LoraMethod::parse(method).map_err(err)?;
    let options = MergeOptions {
        params: params(params_json)?,
        seed,
    };
    py.detach(|| {
        let loaded = adapters
            .iter()
            .zip(&weights)
            .map(|(a, w)| Adapter::load(a).map(|x| (x, *w)))
            .collect::<Result<Vec<_>, _>>()?;
        let merged = lora::merge_with(&loaded, method, rank, &options)?;
        lora::write(&merged, method, &output)
    })
    .map_err(err)
}

/// Adds an adapter's update to a base model (`crdt-merge model lora apply`).
#[pyfunction]
fn lora_apply(
    py: Python<'_>,
    base: PathBuf,
    adapter: PathBuf,
    weight: f64,
    output: PathBuf,
) -> PyResult<()> {
    py.detach(|| {
        let a = Adapter::load(Path::new(&adapter))?;
        lora::apply(&base, &a, weight, &output, u64::MAX).map(|_| ())
    })
    .map_err(err)
}

/// The content id (hex) of a safetensors model: what a contribution is keyed by.
#[pyfunction]
fn content_id(py: Python<'_>, model: PathBuf) -> PyResult<String> {
    py.detach(|| {
        let files = crdt_merge_model::io::ModelFiles::open(&model)?;
        crdt_merge_model::contribution_id(&files)
    })
    .map(|id| crdt_merge_model::contribution::hex(&id))
    .map_err(err)
}

/// The names of every strategy, in the CLI's order.
#[pyfunction]
fn strategies() -> Vec<&'static str> {
    crdt_merge_model::strategy::registry()
        .iter()
        .map(|s| s.name)
        .collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(state_init, m)?)?;
    m.add_function(wrap_pyfunction!(state_add, m)?)?;
    m.add_function(wrap_pyfunction!(state_remove, m)?)?;
    m.add_function(wrap_pyfunction!(state_merge, m)?)?;
    m.add_function(wrap_pyfunction!(state_resolve, m)?)?;
    m.add_function(wrap_pyfunction!(state_hash, m)?)?;
    m.add_function(wrap_pyfunction!(state_live, m)?)?;
    m.add_function(wrap_pyfunction!(state_strategy, m)?)?;
    m.add_function(wrap_pyfunction!(lora_merge, m)?)?;
    m.add_function(wrap_pyfunction!(lora_apply, m)?)?;
    m.add_function(wrap_pyfunction!(strategies, m)?)?;
    m.add_function(wrap_pyfunction!(content_id, m)?)?;
    m.add_class::<agent::AgentState>()?;
    Ok(())
}
