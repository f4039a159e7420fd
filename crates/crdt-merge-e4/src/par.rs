//! A parallel map over a slice (the gate's per-delta work: payload hashes, signature checks,
//! payload scans) on rayon's pool, so `RAYON_NUM_THREADS` bounds it like the kernel's merge.
//! Results come back in input order, so nothing computed from them depends on the thread count.

use rayon::prelude::*;

/// `f` over `items`, in parallel when `worth_it` (the caller knows whether the work outweighs
/// handing it to the pool: the simulator delivers a few small deltas at a time, a table gate
/// hundreds of large ones), results in input order.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    worth_it: bool,
    f: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    if worth_it {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}
