//! Robust aggregation rules over a multiset of update vectors: coordinate-wise median and
//! trimmed mean (Yin et al. 2018), Krum and Multi-Krum (Blanchard et al. 2017).
//!
//! Each is a pure function of the multiset once the caller gives the inputs in a canonical
//! order (the trust gate uses contribution-id order): sums run in a fixed order, Krum's ties
//! break on that order, and nothing depends on threads. Inputs must be finite: a NaN or an
//! infinity is refused with its position, never saturated. Whether the population bound the
//! rule needs holds is reported (`population_bound_met`), not claimed.

use crate::error::{ModelError, Result};

/// A rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RobustRule {
    /// Coordinate-wise median (the mean of the two middle values for even n); tolerates
    /// f < n/2 per coordinate.
    Median,
    /// Coordinate-wise mean after dropping the `trim` smallest and `trim` largest values;
    /// tolerates f ≤ trim.
    TrimmedMean {
        /// Values dropped at each end.
        trim: usize,
    },
    /// The input with the smallest sum of squared distances to its n − f − 2 nearest
    /// neighbours; needs n ≥ 2f + 3.
    Krum {
        /// Byzantine inputs the rule is sized for.
        f: usize,
    },
    /// The mean of the `m` inputs with the smallest Krum scores.
    MultiKrum {
        /// Byzantine inputs the rule is sized for.
        f: usize,
        /// How many inputs are averaged.
        m: usize,
    },
}

impl RobustRule {
    /// The name (`median`, `trimmed_mean`, `krum`, `multi_krum`).
    pub fn name(&self) -> &'static str {
        match self {
            RobustRule::Median => "median",
            RobustRule::TrimmedMean { .. } => "trimmed_mean",
            RobustRule::Krum { .. } => "krum",
            RobustRule::MultiKrum { .. } => "multi_krum",
        }
    }

    /// Whether `n` inputs with up to `f` Byzantine ones are within the rule's bound.
    pub fn population_bound_met(&self, n: usize, f: usize) -> bool {
        match self {
            RobustRule::Median => n > 2 * f,
            RobustRule::TrimmedMean { trim } => *trim >= f && n > 2 * trim,
            RobustRule::Krum { f: rf } | RobustRule::MultiKrum { f: rf, .. } => {
                *rf >= f && n >= 2 * rf + 3
            }
        }
    }
}

/// What a rule computed.
#[derive(Clone, Debug, PartialEq)]
pub struct RobustOutcome {
    /// The aggregate.
    pub values: Vec<f64>,
    /// For Krum / Multi-Krum: the positions of the selected inputs (ascending); empty otherwise.
    pub selected: Vec<usize>,
    /// Whether the population bound holds for the rule's own `f` (or `trim`).
    pub population_bound_met: bool,
}

fn check(inputs: &[&[f64]]) -> Result<usize> {
    let Some(first) = inputs.first() else {
        return Err(ModelError::invalid("robust aggregation of no inputs"));
    };
    let d = first.len();
    for (i, v) in inputs.iter().enumerate() {
        if v.len() != d {
            return Err(ModelError::invalid(format!(
                "robust aggregation: input {i} has {} values, input 0 has {d}",
                v.len()
            )));
        }
        if let Some(j) = v.iter().position(|x| !x.is_finite()) {
            return Err(ModelError::invalid(format!(
                "robust aggregation: input {i} has a non-finite value ({}) at position {j}",
                v[j]
            )));
        }
    }
    Ok(d)
}

/// Applies `rule` to `inputs` (given in canonical order).
///
/// # Errors
/// No inputs, inputs of different lengths, a non-finite value, or too few inputs for the rule
/// to be defined (trimmed mean: n > 2·trim; Krum: n − f − 2 ≥ 1; Multi-Krum: 1 ≤ m ≤ n).
pub fn aggregate(rule: RobustRule, inputs: &[&[f64]]) -> Result<RobustOutcome> {
    let d = check(inputs)?;
    let n = inputs.len();
    let mut col = vec![0.0f64; n];
    let per_coord = |f: &mut dyn FnMut(&mut [f64]) -> f64, col: &mut [f64]| -> Vec<f64> {
        (0..d)
            .map(|j| {
                for (c, v) in col.iter_mut().zip(inputs) {
                    *c = v[j];
                }
                col.sort_unstable_by(f64::total_cmp);
                f(col)
            })
            .collect()
    };
    match rule {
        RobustRule::Median => {
            let values = per_coord(
                &mut |c: &mut [f64]| {
                    if n % 2 == 1 {
                        c[n / 2]
                    } else {
                        // Halves first: no overflow for values near f64::MAX.
                        c[n / 2 - 1] * 0.5 + c[n / 2] * 0.5
                    }
                },
                &mut col,
            );
            Ok(RobustOutcome {
                values,
                selected: Vec::new(),
                population_bound_met: true,
            })
        }
        RobustRule::TrimmedMean { trim } => {
            if n <= 2 * trim {
                return Err(ModelError::invalid(format!(
                    "trimmed_mean: {n} inputs cannot lose {trim} at each end"
                )));
            }
            let keep = (n - 2 * trim) as f64;
            let values = per_coord(
                &mut |c: &mut [f64]| c[trim..n - trim].iter().sum::<f64>() / keep,
                &mut col,
            );
            Ok(RobustOutcome {
                values,
                selected: Vec::new(),
                population_bound_met: true,
            })
        }
        RobustRule::Krum { f } => {
            let sel = krum_select(inputs, f, 1)?;
            Ok(RobustOutcome {
                values: inputs[sel[0]].to_vec(),
                population_bound_met: n >= 2 * f + 3,
                selected: sel,
            })
        }
        RobustRule::MultiKrum { f, m } => {
            if m == 0 || m > n {
                return Err(ModelError::invalid(format!(
                    "multi_krum: m = {m} with {n} inputs (1 ≤ m ≤ n)"
                )));
            }
            let mut sel = krum_select(inputs, f, m)?;
            sel.sort_unstable();
            let mut values = vec![0.0; d];
            for &i in &sel {
                for (o, x) in values.iter_mut().zip(inputs[i]) {
                    *o += x;
                }
            }
            for o in values.iter_mut() {
                *o /= m as f64;
            }
            Ok(RobustOutcome {
                values,
                population_bound_met: n >= 2 * f + 3,
                selected: sel,
            })
        }
    }
}

/// Positions of the `m` smallest Krum scores (ties by position).
fn krum_select(inputs: &[&[f64]], f: usize, m: usize) -> Result<Vec<usize>> {
    let n = inputs.len();
    let Some(k) = n.checked_sub(f + 2).filter(|k| *k >= 1) else {
        return Err(ModelError::invalid(format!(
            "krum: {n} inputs with f = {f} leave no neighbours (needs n ≥ f + 3)"
        )));
    };
    let dist =
        |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum() };
    let mut d = vec![vec![0.0f64; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let v = dist(inputs[i], inputs[j]);
            d[i][j] = v;
            d[j][i] = v;
        }
    }
    let mut scores: Vec<(f64, usize)> = (0..n)
        .map(|i| {
            let mut row: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| d[i][j]).collect();
            row.sort_unstable_by(f64::total_cmp);
            (row[..k].iter().sum::<f64>(), i)
        })
        .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(scores[..m].iter().map(|s| s.1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_trimmed_mean_ignore_outliers() {
        let a = [1.0, 10.0];
        let b = [2.0, 20.0];
        let c = [3.0, 30.0];
        let evil = [1e9, -1e9];
        let v: Vec<&[f64]> = vec![&a, &b, &c, &evil];
        let m = aggregate(RobustRule::Median, &v).unwrap();
        assert_eq!(m.values, vec![2.5, 15.0]);
        let t = aggregate(RobustRule::TrimmedMean { trim: 1 }, &v).unwrap();
        assert_eq!(t.values, vec![2.5, 15.0]);
        assert!(aggregate(RobustRule::TrimmedMean { trim: 2 }, &v).is_err());
    }

    #[test]
    fn krum_picks_the_central_input_and_refuses_nan() {
        let xs: Vec<Vec<f64>> = vec![
            vec![0.0, 0.0],
            vec![0.1, 0.0],
            vec![0.0, 0.1],
            vec![0.05, 0.05],
            vec![100.0, 100.0],
        ];
        let v: Vec<&[f64]> = xs.iter().map(|x| x.as_slice()).collect();
        let k = aggregate(RobustRule::Krum { f: 1 }, &v).unwrap();
        assert_eq!(k.selected, vec![3]);
        assert!(k.population_bound_met);
        let mk = aggregate(RobustRule::MultiKrum { f: 1, m: 4 }, &v).unwrap();
        assert_eq!(mk.selected, vec![0, 1, 2, 3]);
        let bad = [f64::NAN, 0.0];
        let mut v2 = v.clone();
        v2.push(&bad);
        assert!(aggregate(RobustRule::Median, &v2)
            .unwrap_err()
            .to_string()
            .contains("input 5"));
    }

    #[test]
    fn results_do_not_depend_on_the_order_for_median_and_trimmed_mean() {
        let xs: Vec<Vec<f64>> = (0..7)
            .map(|i| vec![(i as f64 * 0.37).sin(), (i as f64).cos() * 1e-3])
            .collect();
        let fwd: Vec<&[f64]> = xs.iter().map(|x| x.as_slice()).collect();
        let rev: Vec<&[f64]> = xs.iter().rev().map(|x| x.as_slice()).collect();
        for rule in [RobustRule::Median, RobustRule::TrimmedMean { trim: 2 }] {
            let a = aggregate(rule, &fwd).unwrap().values;
            let b = aggregate(rule, &rev).unwrap().values;
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
