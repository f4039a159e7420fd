//! Coefficient-search merges: `ada_merging`, `dam`, `evolutionary_merge`, `genetic_merge`. Each
//! ends in Σ cᵢθᵢ for a coefficient vector c found from the inputs; the searches use whole-vector
//! statistics only (n × n covariances), never per-element interpreter loops.

use super::common::{datas, normalised_weights, weighted_sum};
use crate::error::{ModelError, Result};
use crate::philox::{Purpose, Stream};
use crate::strategy::TensorJob;

fn whole(job: &TensorJob<'_>, name: &str, min: f64) -> Result<usize> {
    let v = job.params.num(name)?;
    if v < min || v.fract() != 0.0 || v > 1e7 {
        return Err(ModelError::param(
            job.strategy,
            name,
            format!("expected a whole number ≥ {min}, got {v}"),
        ));
    }
    Ok(v as usize)
}

/// One iteration of upstream's inverse-MSE update: c ← max(c + lr·(target − c), 0), normalised,
/// where target ∝ 1/(mean((Σcθ − θᵢ)²) + 1e-12).
fn inverse_mse_steps(job: &TensorJob<'_>, mut c: Vec<f64>, lr: f64, steps: usize) -> Vec<f64> {
    let d = job.len();
    let xs = datas(job);
    for _ in 0..steps {
        let merged = weighted_sum(d, &c, &xs);
        let mse: Vec<f64> = xs
            .iter()
            .map(|x| {
                let sq: Vec<f64> = merged
                    .iter()
                    .zip(x.iter())
                    .map(|(m, v)| (m - v) * (m - v))
                    .collect();
                crate::reduce::sum(&sq) / d as f64
            })
            .collect();
        if mse.iter().any(|v| *v > 0.0) {
            let inv: Vec<f64> = mse.iter().map(|v| 1.0 / (v + 1e-12)).collect();
            let total: f64 = inv.iter().sum();
            for (ci, iv) in c.iter_mut().zip(&inv) {
                *ci = (*ci + lr * (iv / total - *ci)).max(0.0);
            }
            let tc: f64 = c.iter().sum();
            if tc > 0.0 {
                c.iter_mut().for_each(|x| *x /= tc);
            }
        }
    }
    c
}

/// AdaMerging (upstream's data-free stand-in): c ∝ max entropy − entropy(|θᵢ|/Σ|θᵢ|) + 1e-6,
/// then `steps` inverse-MSE updates at `learning_rate`; Σ cᵢθᵢ.
pub(crate) fn ada_merging(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    job.params.text("granularity")?;
    let lr = job.params.num("learning_rate")?;
    let steps = whole(job, "steps", 0.0)?;
    let n = job.models.len();
    if n == 0 {
        return Err(job.error("needs at least one model"));
    }
    let ents: Vec<f64> = job
        .models
        .iter()
        .map(|m| {
            let abs: Vec<f64> = m.data.iter().map(|x| x.abs() + 1e-12).collect();
            let total = crate::reduce::sum(&abs);
            let terms: Vec<f64> = abs
                .iter()
                .map(|a| {
                    let p = a / total;
                    p * (p + 1e-12).ln()
                })
                .collect();
            -crate::reduce::sum(&terms)
        })
        .collect();
    let max_ent = ents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let c = if max_ent < 1e-12 {
        vec![1.0 / n as f64; n]
    } else {
        let inv: Vec<f64> = ents.iter().map(|e| max_ent - e + 1e-6).collect();
        let total: f64 = inv.iter().sum();
        inv.iter().map(|x| x / total).collect()
    };
    let c = inverse_mse_steps(job, c, lr, steps);
    Ok(weighted_sum(job.len(), &c, &datas(job)))
}

/// DAM (upstream's data-free form): c starts at the normalised weights (uniform by default),
/// then `steps` inverse-MSE updates; Σ cᵢθᵢ.
pub(crate) fn dam(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let lr = job.params.num("learning_rate")?;
    let steps = whole(job, "steps", 0.0)?;
    let c = normalised_weights(job)?;
    let c = inverse_mse_steps(job, c, lr, steps);
    Ok(weighted_sum(job.len(), &c, &datas(job)))
}

/// Sequential draws from one Philox stream keyed on (the sorted contribution ids, tensor, seed).
struct Draws {
    stream: Stream,
    next: u64,
}

impl Draws {
    fn new(job: &TensorJob<'_>, purpose: &'static str) -> Self {
        let mut ids: Vec<&[u8; 32]> = job.models.iter().map(|m| m.id).collect();
        ids.sort();
        let mut h = blake3::Hasher::new();
        for id in ids {
            h.update(id);
        }
        let key: [u8; 32] = *h.finalize().as_bytes();
        Draws {
            stream: Stream::for_mask(&key, job.name, job.seed, Purpose::Other(purpose)),
            next: 0,
        }
    }
    fn uniform(&mut self) -> f64 {
        let u = self.stream.uniform(self.next);
        self.next += 1;
        u
    }
    /// N(mu, sigma) by Box–Muller (one normal per pair of uniforms; 1 − u keeps the log finite).
    fn gauss(&mut self, mu: f64, sigma: f64) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        mu + sigma * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// A whole number in [0, n).
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }
}

/// The default fitness −var(Σ cᵢθᵢ) = −cᵀCc with C the inputs' population covariance, so each
/// evaluation is O(n²) instead of a pass over the tensor.
struct Fitness {
    cov: Vec<f64>,
    n: usize,
}

impl Fitness {
    fn new(job: &TensorJob<'_>) -> Self {
        let n = job.models.len();
        let d = job.len() as f64;
        let centred: Vec<Vec<f64>> = job
            .models
            .iter()
            .map(|m| {
                let mu = crate::reduce::sum(m.data) / d;
                m.data.iter().map(|x| x - mu).collect()
            })
            .collect();
        let mut cov = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = crate::reduce::dot(&centred[i], &centred[j]) / d;
                cov[i * n + j] = v;
                cov[j * n + i] = v;
            }
        }
        Fitness { cov, n }
    }
    fn of(&self, c: &[f64]) -> f64 {
        let mut acc = 0.0;
        for i in 0..self.n {
            for j in 0..self.n {
                acc += c[i] * self.cov[i * self.n + j] * c[j];
            }
        }
        -acc
    }
}

/// Clips at 0 and normalises to sum 1 (uniform when nothing is left).
fn simplex(mut c: Vec<f64>) -> Vec<f64> {
    c.iter_mut().for_each(|x| *x = x.max(0.0));
    let t: f64 = c.iter().sum();
    if t > 0.0 {
        c.iter_mut().for_each(|x| *x /= t);
        c
    } else {
        vec![1.0 / c.len() as f64; c.len()]
    }
}

/// Index order by fitness, best first (ties: the earlier individual, as Python's stable sort).
fn ranked(fit: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..fit.len()).collect();
    idx.sort_by(|&a, &b| fit[b].total_cmp(&fit[a]).then(a.cmp(&b)));
    idx
}

/// Evolutionary search over coefficient vectors (upstream's elitist scheme): individual 0
/// uniform, the rest N(1/n, 0.3) clipped and normalised; each generation keeps the best ever and
/// fills with elite (top half) children + N(0, 0.1) noise; Σ c_best θ.
pub(crate) fn evolutionary_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let pop_size = whole(job, "population_size", 1.0)?;
    let gens = whole(job, "generations", 0.0)?;
    let n = job.models.len();
    if n == 0 {
        return Err(job.error("needs at least one model"));
    }
    let fit = Fitness::new(job);
    let mut rng = Draws::new(job, "evolutionary");
    let mut pop: Vec<Vec<f64>> = (0..pop_size)
        .map(|_| simplex((0..n).map(|_| rng.gauss(1.0 / n as f64, 0.3)).collect()))
        .collect();
    pop[0] = vec![1.0 / n as f64; n];
    let mut best = pop[0].clone();
    let mut best_fit = f64::NEG_INFINITY;
    for _ in 0..gens {
        let fits: Vec<f64> = pop.iter().map(|c| fit.of(c)).collect();
        for (c, f) in pop.iter().zip(&fits) {
            if *f > best_fit {
                best_fit = *f;
                best = c.clone();
            }
        }
        let order = ranked(&fits);
        let elite: Vec<&Vec<f64>> = order[..(pop_size / 2).max(1)]
            .iter()
            .map(|&i| &pop[i])
            .collect();
        let mut next = vec![best.clone()];
        while next.len() < pop_size {
            let parent = elite[rng.below(elite.len())];
            let child = parent.iter().map(|c| c + rng.gauss(0.0, 0.1)).collect();
            next.push(simplex(child));
        }
        pop = next;
    }
    Ok(weighted_sum(job.len(), &best, &datas(job)))
}

/// Genetic search (upstream's scheme): uniform random initial coefficients (individual 0
/// uniform), tournaments of 3, uniform crossover, each gene mutated with probability
/// `mutation_rate` by N(0, mutation_rate), elitism; Σ c_best θ.
pub(crate) fn genetic_merge(job: &TensorJob<'_>) -> Result<Vec<f64>> {
    super::common::check(job)?;
    let pop_size = whole(job, "population_size", 1.0)?;
    let gens = whole(job, "generations", 0.0)?;
    let rate = super::sparse::num_in(job, "mutation_rate", 0.0, 1.0)?;
    let n = job.models.len();
    if n == 0 {
        return Err(job.error("needs at least one model"));
    }
    let fit = Fitness::new(job);
    let mut rng = Draws::new(job, "genetic");
    let mut pop: Vec<Vec<f64>> = (0..pop_size)
        .map(|_| simplex((0..n).map(|_| rng.uniform()).collect()))
        .collect();
    pop[0] = vec![1.0 / n as f64; n];
    let mut best = pop[0].clone();
    let mut best_fit = f64::NEG_INFINITY;
    for _ in 0..gens {
        let fits: Vec<f64> = pop.iter().map(|c| fit.of(c)).collect();
        for (c, f) in pop.iter().zip(&fits) {
            if *f > best_fit {
                best_fit = *f;
                best = c.clone();
            }
        }
        let mut next = vec![best.clone()];
        while next.len() < pop_size {
            let tournament = |rng: &mut Draws| {
                let picks: Vec<usize> = (0..3).map(|_| rng.below(pop_size)).collect();
                // max() keeps the first of equal fitness, as Python's max does.
                let mut b = picks[0];
                for &p in &picks[1..] {
                    if fits[p] > fits[b] {
                        b = p;
                    }
                }
                b
            };
            let p1 = tournament(&mut rng);
            let p2 = tournament(&mut rng);
            let mut child: Vec<f64> = (0..n)
                .map(|g| {
                    if rng.uniform() < 0.5 {
                        pop[p1][g]
                    } else {
                        pop[p2][g]
                    }
                })
                .collect();
            for c in child.iter_mut() {
                if rng.uniform() < rate {
                    *c = (*c + rng.gauss(0.0, rate)).max(0.0);
                }
            }
            next.push(simplex(child));
        }
        pop = next;
    }
    Ok(weighted_sum(job.len(), &best, &datas(job)))
}
