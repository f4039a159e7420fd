//! The sketch imports: postgresql-hll bytes and Apache DataSketches HLL bytes. Any input must
//! give a state or an error; a state must export and re-import to itself.
#![no_main]

use crdt_merge_kernel::sketch::{datasketches, pg_hll};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = pg_hll::from_pg_hll(data) {
        let b = pg_hll::to_pg_hll(&h).expect("pg_hll family exports");
        assert_eq!(pg_hll::from_pg_hll(&b).expect("re-import"), h);
    }
    if let Ok(h) = datasketches::from_datasketches(data) {
        let b = datasketches::to_datasketches(&h).expect("murmur3 family exports");
        assert_eq!(datasketches::from_datasketches(&b).expect("re-import"), h);
    }
});
