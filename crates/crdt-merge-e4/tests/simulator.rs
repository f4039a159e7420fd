//! The Byzantine simulator over n ∈ {4, 16, 64} and f ∈ {0, 1, ⌊(n−1)/3⌋, n−2}, 100 seeds
//! each, every seed mixing strategies at random: P1–P5 must hold in every run. Larger sweeps
//! (1,000 seeds, n = 256) run in `make bench-trust`.

use crdt_merge_e4::simulate::{run, Config, Report};

const SEEDS: u64 = 100;

fn grid() -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for n in [4usize, 16, 64] {
        let mut fs = vec![0, 1, (n - 1) / 3, n - 2];
        fs.sort_unstable();
        fs.dedup();
        for f in fs {
            out.push((n, f));
        }
    }
    out
}

fn percentile(v: &mut [usize], p: f64) -> usize {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn every_property_holds_in_every_run() {
    let configs: Vec<(usize, usize, u64)> = grid()
        .into_iter()
        .flat_map(|(n, f)| (0..SEEDS).map(move |s| (n, f, s)))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let reports: Vec<((usize, usize, u64), Report)> = std::thread::scope(|scope| {
        // Round-robin, so the costly n = 64 runs spread over the threads.
        let configs = &configs;
        let chunks: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    configs
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .map(|&(n, f, s)| ((n, f, s), run(Config::new(n, f, s))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks
            .into_iter()
            .flat_map(|h| h.join().expect("simulation thread"))
            .collect()
    });
    let mut failures = Vec::new();
    for ((n, f, s), r) in &reports {
        if !r.ok() {
            failures.push(format!("n={n} f={f} seed={s}: {}", r.describe()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} runs failed, replay with `crdt-merge trust simulate --n N --f F --seed S`:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The detection-round table (printed with --nocapture; `make bench-trust` writes it).
    eprintln!("n f runs guilty refused median_D p99_D max_D log2n");
    for (n, f) in grid() {
        let rs: Vec<&Report> = reports
            .iter()
            .filter(|((rn, rf, _), _)| *rn == n && *rf == f)
            .map(|(_, r)| r)
            .collect();
        let mut d: Vec<usize> = rs
            .iter()
            .flat_map(|r| r.detection.iter().copied())
            .collect();
        let guilty: usize = rs.iter().map(|r| r.guilty).sum();
        let refused: usize = rs.iter().map(|r| r.refused).sum();
        if f > 0 {
            assert!(
                guilty > 0,
                "n={n} f={f}: no run had a guilty peer to detect"
            );
        }
        eprintln!(
            "{n} {f} {} {guilty} {refused} {} {} {} {:.1}",
            rs.len(),
            percentile(&mut d, 0.5),
            percentile(&mut d, 0.99),
            d.iter().max().copied().unwrap_or(0),
            (n as f64).log2()
        );
    }
}

#[test]
fn a_run_replays_from_its_seed() {
    let a = run(Config::new(16, 5, 42));
    let b = run(Config::new(16, 5, 42));
    assert_eq!(a, b);
    assert!(a.ok(), "{}", a.describe());
}
