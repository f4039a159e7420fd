//! Shape and length helpers shared by mergekit's methods.

use crate::error::Result;
use crate::strategy::TensorJob;

/// The common length of the job's inputs (base and every model), or an error naming the tensor
/// and the model whose length differs; the driver checks shapes already, this keeps a strategy
/// from indexing out of range when called directly.
pub(super) fn common_len(job: &TensorJob<'_>) -> Result<usize> {
    let n = job.len();
    if let Some(b) = job.base {
        if b.len() != n {
            return Err(job.error(format!("the base has {} elements, the models {n}", b.len())));
        }
    }
    for m in job.models {
        if m.data.len() != n {
            return Err(job.error(format!(
                "model `{}` has {} elements, expected {n}",
                m.label,
                m.data.len()
            )));
        }
    }
    Ok(n)
}

/// Like [`common_len`], and also checks that the data is the whole tensor (methods of
/// [`crate::strategy::Kind::Tensor`] need every element at once).
/// The one non-base model's data, for strategies that take a base and exactly one other model.
pub(super) fn only_model<'a>(job: &TensorJob<'a>) -> Result<&'a [f64]> {
    match job.models {
        [m] => Ok(m.data),
        _ => Err(job.error(format!(
            "needs a base and exactly one other model, got {} other models",
            job.models.len()
        ))),
    }
}

pub(super) fn whole_len(job: &TensorJob<'_>) -> Result<usize> {
    let n = common_len(job)?;
    let expected: usize = job.shape.iter().product();
    if n != expected || job.offset != 0 {
        return Err(job.error(format!(
            "expected the whole tensor of {expected} elements (shape {:?}), got {n} at offset {}",
            job.shape, job.offset
        )));
    }
    Ok(n)
}

/// The vectors of a tensor along one axis: element (o, j, k) of `outer × len × inner` is at
/// flat index `(o·len + j)·inner + k`, j running along the axis.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lines {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
}

impl Lines {
    /// Lines along `axis` of `shape` (a 0-D tensor is one line of one element).
    pub fn along(shape: &[usize], axis: usize) -> Lines {
        if shape.is_empty() {
            return Lines {
                outer: 1,
                len: 1,
                inner: 1,
            };
        }
        let axis = axis.min(shape.len() - 1);
        Lines {
            outer: shape[..axis].iter().product(),
            len: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        }
    }

    /// Lines along the last axis (torch's `dim=-1`).
    pub fn last(shape: &[usize]) -> Lines {
        Lines::along(shape, shape.len().saturating_sub(1))
    }

    /// The whole tensor as one line.
    pub fn whole(n: usize) -> Lines {
        Lines {
            outer: 1,
            len: n,
            inner: 1,
        }
    }

    /// Number of lines.
    pub fn count(&self) -> usize {
        self.outer * self.inner
    }

    /// The flat indices of line `l` (0 ≤ l < count), in axis order.
    pub fn indices(&self, l: usize) -> impl Iterator<Item = usize> + '_ {
        let (o, k) = (l / self.inner.max(1), l % self.inner.max(1));
        (0..self.len).map(move |j| (o * self.len + j) * self.inner + k)
    }
}

/// Gathers line `l` of `x`.
pub(super) fn gather(x: &[f64], lines: &Lines, l: usize) -> Vec<f64> {
    lines.indices(l).map(|i| x[i]).collect()
}

/// Scatters `values` into line `l` of `out`.
pub(super) fn scatter(out: &mut [f64], lines: &Lines, l: usize, values: &[f64]) {
    for (i, v) in lines.indices(l).zip(values) {
        out[i] = *v;
    }
}

/// `a − b` element by element.
pub(super) fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// A non-negative integer parameter (mergekit's `int` parameters), or an error naming it.
pub(super) fn count_param(job: &TensorJob<'_>, name: &str) -> Result<usize> {
    let v = job.params.num(name)?;
    if v < 0.0 || v.fract() != 0.0 || v > 1e9 {
        return Err(crate::error::ModelError::param(
            job.strategy,
            name,
            format!("expected a non-negative integer, got {v}"),
        ));
    }
    Ok(v as usize)
}
