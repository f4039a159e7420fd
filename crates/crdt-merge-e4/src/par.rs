//! A parallel map over a slice on scoped threads (the gate's per-delta work: payload hashes,
//! signature checks, payload scans). Results come back in input order, so nothing computed
//! from them depends on the thread count.

/// `f` over `items` on up to `available_parallelism` threads when `worth_it` (the caller knows
/// whether the work outweighs starting threads: the simulator delivers a few small deltas at a
/// time, a table gate hundreds of large ones), results in input order.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    worth_it: bool,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 || !worth_it {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a parallel worker panicked"))
            .collect()
    })
}
