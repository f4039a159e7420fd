//! `crdtmerge._native.AgentState`: the kernel's `AgentState` for Python. Values cross as the
//! wire codec's types (None, bool, int, float, str, bytes, list, tuple, dict, set/frozenset of
//! scalars); anything else is a `TypeError` naming the argument.

use std::collections::{BTreeMap, BTreeSet};

use crdt_merge_kernel::state::{AgentState as Inner, AnyState, Datum, Timestamp};
use crdt_merge_kernel::wire;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple,
};

fn kerr(e: crdt_merge_kernel::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A Python value as a datum.
pub fn to_datum(what: &str, v: &Bound<'_, PyAny>) -> PyResult<Datum> {
    if v.is_none() {
        return Ok(Datum::None);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Datum::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Datum::Int(i));
        }
        if let Ok(u) = v.extract::<u64>() {
            return Ok(Datum::from_u64(u));
        }
        return Err(PyValueError::new_err(format!(
            "{what}: an integer outside 64 bits"
        )));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Datum::Float(f.value()));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Datum::Str(v.extract::<String>()?));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Datum::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(l) = v.cast::<PyList>() {
        return l
            .iter()
            .map(|x| to_datum(what, &x))
            .collect::<PyResult<_>>()
            .map(Datum::List);
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        return t
            .iter()
            .map(|x| to_datum(what, &x))
            .collect::<PyResult<_>>()
            .map(Datum::List);
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut m = BTreeMap::new();
        for (k, x) in d.iter() {
            let k = to_datum(what, &k)?;
            if !k.is_hashable() {
                return Err(PyTypeError::new_err(format!(
                    "{what}: a dict key must be a scalar"
                )));
            }
            m.insert(k, to_datum(what, &x)?);
        }
        return Ok(Datum::Dict(m));
    }
    let items: Option<Vec<Bound<'_, PyAny>>> = if let Ok(s) = v.cast::<PySet>() {
        Some(s.iter().collect())
    } else if let Ok(s) = v.cast::<PyFrozenSet>() {
        Some(s.iter().collect())
    } else {
        None
    };
    if let Some(items) = items {
        let mut out = BTreeSet::new();
        for x in items {
            out.insert(to_datum(what, &x)?);
        }
        return Ok(Datum::Set(out));
    }
    Err(PyTypeError::new_err(format!(
        "{what}: expected None, bool, int, float, str, bytes, list, tuple, dict or set, found {}",
        v.get_type().name()?
    )))
}

/// A datum as a Python value.
pub fn from_datum<'py>(py: Python<'py>, d: &Datum) -> PyResult<Bound<'py, PyAny>> {
    Ok(match d {
        Datum::None => py.None().into_bound(py),
        Datum::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Datum::Int(i) => i.into_pyobject(py)?.into_any(),
        Datum::UInt(u) => u.into_pyobject(py)?.into_any(),
        Datum::Float(f) => PyFloat::new(py, *f).into_any(),
        Datum::Str(s) => PyString::new(py, s).into_any(),
        Datum::Bytes(b) => PyBytes::new(py, b).into_any(),
        Datum::List(l) => {
            let items = l
                .iter()
                .map(|x| from_datum(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Datum::Set(s) => {
            let items = s
                .iter()
                .map(|x| from_datum(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PySet::new(py, &items)?.into_any()
        }
        Datum::Dict(m) => {
            let out = PyDict::new(py);
            for (k, v) in m {
                out.set_item(from_datum(py, k)?, from_datum(py, v)?)?;
            }
            out.into_any()
        }
    })
}

fn ts_of(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Timestamp>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(
            "timestamp: expected a number, found bool",
        ));
    }
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Some(Timestamp::from(i)));
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(Some(Timestamp::from(f)));
    }
    Err(PyTypeError::new_err("timestamp: expected an int or float"))
}

fn ts_py<'py>(py: Python<'py>, t: Timestamp) -> PyResult<Bound<'py, PyAny>> {
    from_datum(py, &t.to_datum())
}

/// An agent's memory: facts, tags, counters and a bounded message set, merged as a CRDT.
#[pyclass(module = "crdtmerge._native", name = "AgentState")]
pub struct AgentState {
    inner: Inner,
}

#[pymethods]
impl AgentState {
    #[new]
    #[pyo3(signature = (agent_id, max_messages=10000))]
    fn new(agent_id: &str, max_messages: u64) -> PyResult<Self> {
        Ok(AgentState {
            inner: Inner::new(agent_id, max_messages).map_err(kerr)?,
        })
    }

    /// The merged agent ids, sorted.
    #[getter]
    fn agent_ids(&self) -> Vec<String> {
        self.inner.agent_ids().iter().cloned().collect()
    }

    /// `"+"`-joined ids (the Python crdt-merge's merged `agent_id`).
    #[getter]
    fn agent_id(&self) -> String {
        self.agent_ids().join("+")
    }

    #[getter]
    fn max_messages(&self) -> u64 {
        self.inner.max_messages()
    }

    /// Writes a fact; returns the timestamp used (an HLC when none was given).
    #[pyo3(signature = (key, value, confidence=1.0, timestamp=None, agent=None))]
    fn add_fact<'py>(
        &mut self,
        py: Python<'py>,
        key: &str,
        value: &Bound<'py, PyAny>,
        confidence: f64,
        timestamp: Option<&Bound<'py, PyAny>>,
        agent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = to_datum("add_fact: value", value)?;
        let t = self
            .inner
            .add_fact(key, v, confidence, ts_of(timestamp)?, agent)
            .map_err(kerr)?;
        ts_py(py, t)
    }

    /// The fact under `key` as a dict (value, confidence, timestamp, source_agent), or None.
    fn get_fact<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner.fact(key).map(|f| fact_dict(py, f)).transpose()
    }

    /// Every fact, as {key: fact dict}.
    fn list_facts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (k, f) in self.inner.facts() {
            out.set_item(k, fact_dict(py, f)?)?;
        }
        Ok(out)
    }

    fn add_tag(&mut self, tag: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner
            .add_tag(to_datum("add_tag: tag", tag)?)
            .map_err(kerr)
    }

    fn remove_tag(&mut self, tag: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.remove_tag(&to_datum("remove_tag: tag", tag)?))
    }

    /// The live tags, sorted.
    #[getter]
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.inner.tags().map(|t| from_datum(py, t)).collect()
    }

    #[pyo3(signature = (name, amount=1))]
    fn increment(&mut self, name: &str, amount: i64) -> PyResult<()> {
        if amount < 0 {
            return Err(PyValueError::new_err(
                "increment: amount must be >= 0 (use decrement)",
            ));
        }
        self.inner.increment(name, amount).map_err(kerr)
    }

    #[pyo3(signature = (name, amount=1))]
    fn decrement(&mut self, name: &str, amount: i64) -> PyResult<()> {
        if amount < 0 {
            return Err(PyValueError::new_err("decrement: amount must be >= 0"));
        }
        self.inner.increment(name, -amount).map_err(kerr)
    }

    fn get_counter(&self, name: &str) -> PyResult<i128> {
        Ok(self.inner.counter(name))
    }

    /// Adds a message; returns its id (hex).
    #[pyo3(signature = (content, role="user", timestamp=None, metadata=None))]
    fn add_message(
        &mut self,
        content: &str,
        role: &str,
        timestamp: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let meta = match metadata {
            Some(m) => to_datum("add_message: metadata", m)?,
            None => Datum::None,
        };
        let id = self
            .inner
            .add_message(content, role, ts_of(timestamp)?, meta)
            .map_err(kerr)?;
        Ok(id.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The messages, oldest first (or the newest `n`), as dicts.
    #[pyo3(signature = (n=None))]
    fn get_messages<'py>(
        &self,
        py: Python<'py>,
        n: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let all: Vec<_> = self.inner.messages().collect();
        let skip = n.map_or(0, |n| all.len().saturating_sub(n));
        all[skip..]
            .iter()
            .map(|m| {
                let d = PyDict::new(py);
                d.set_item("content", &m.content)?;
                d.set_item("role", &m.role)?;
                d.set_item("agent_id", &m.agent)?;
                d.set_item("timestamp", ts_py(py, m.ts)?)?;
                d.set_item("metadata", from_datum(py, &m.metadata)?)?;
                d.set_item(
                    "id",
                    m.id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                )?;
                Ok(d)
            })
            .collect()
    }

    /// The join of this state and `other` (a new state; neither is changed).
    fn merge(&self, other: &AgentState) -> AgentState {
        let mut out = self.inner.clone();
        out.join(&other.inner);
        AgentState { inner: out }
    }

    /// The state as one wire frame (tag 0x68).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &wire::encode(&AnyState::Agent(self.inner.clone())))
    }

    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<AgentState> {
        match wire::decode(data).map_err(kerr)? {
            AnyState::Agent(inner) => Ok(AgentState { inner }),
            other => Err(PyValueError::new_err(format!(
                "AgentState.from_bytes: expected an agent_state frame, found a {} state",
                other.type_name()
            ))),
        }
    }

    /// Canonical JSON text.
    fn to_json(&self) -> String {
        self.inner.to_json().to_string()
    }

    fn __eq__(&self, other: &AgentState) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        format!(
            "AgentState({:?}, facts={}, messages={})",
            self.agent_id(),
            self.inner.facts().len(),
            self.inner.messages().count()
        )
    }
}

fn fact_dict<'py>(
    py: Python<'py>,
    f: &crdt_merge_kernel::state::Fact,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("value", from_datum(py, &f.value)?)?;
    d.set_item("confidence", f.confidence)?;
    d.set_item("timestamp", ts_py(py, f.ts)?)?;
    d.set_item("source_agent", &f.agent)?;
    Ok(d)
}
