//! Row ids and table digests: equal to negentropy's own fingerprint, independent of row order,
//! column order, partitioning and integer width (proptest); content ids leave out metadata;
//! add/sub keep a stored state exact; the golden ids every engine's corpus pins; and the errors
//! bad input gives.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray, StructArray};
use arrow_schema::{DataType, Field};
use crdt_merge_kernel::catalogue::{aggregate, invoke_scalar};
use crdt_merge_kernel::digest::Fingerprint;
use crdt_merge_kernel::strategy::{Single, State};
use negentropy::{Id, NegentropyStorageBase, NegentropyStorageVector};
use proptest::prelude::*;

fn row(fields: Vec<(&str, ArrayRef)>) -> ArrayRef {
    Arc::new(StructArray::from(
        fields
            .into_iter()
            .map(|(n, a)| (Arc::new(Field::new(n, a.data_type().clone(), true)), a))
            .collect::<Vec<_>>(),
    ))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bins(a: &ArrayRef) -> Vec<Vec<u8>> {
    let b = a.as_any().downcast_ref::<BinaryArray>().unwrap();
    (0..b.len()).map(|i| b.value(i).to_vec()).collect()
}

fn ids(key: ArrayRef, r: ArrayRef) -> Vec<Vec<u8>> {
    let n = key.len();
    bins(&invoke_scalar("crdt_row_id", &[key, r], n).unwrap())
}

/// The table of the sql/digests.slt golden case: (k, name, _ts).
fn golden_table(k: ArrayRef) -> (ArrayRef, ArrayRef) {
    let name: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![10, 20]));
    (k.clone(), row(vec![("k", k), ("name", name), ("_ts", ts)]))
}

#[test]
fn golden_ids_pin_the_format() {
    // The same ids are pinned in sql/digests.slt for DuckDB, DataFusion and Postgres.
    let (k, r) = golden_table(Arc::new(Int32Array::from(vec![1, 2])));
    let got: Vec<String> = ids(k, r).iter().map(|b| hex(b)).collect();
    assert_eq!(
        got,
        [
            "8aee7f33ee40c90e76bc98460167b32bd3df912e37608a356b1958c35fd35c76",
            "93153094ab5b155ff40a3567c4e55f8b70be2ba3058f4b10d321756595657e79"
        ],
        "row ids changed: update sql/digests.slt and docs/wire-format.md only with a new context"
    );
}

#[test]
fn integer_width_and_column_order_do_not_matter() {
    let (k32, r32) = golden_table(Arc::new(Int32Array::from(vec![1, 2])));
    let (k64, r64) = golden_table(Arc::new(Int64Array::from(vec![1, 2])));
    assert_eq!(ids(k32.clone(), r32.clone()), ids(k64, r64));
    let s = r32.as_any().downcast_ref::<StructArray>().unwrap();
    let reordered = row(vec![
        ("_ts", s.column(2).clone()),
        ("k", s.column(0).clone()),
        ("name", s.column(1).clone()),
    ]);
    assert_eq!(ids(k32.clone(), r32.clone()), ids(k32.clone(), reordered));
    // The key counts: the same row under another key has another id.
    let other: ArrayRef = Arc::new(Int32Array::from(vec![7, 8]));
    assert_ne!(ids(k32, r32.clone()), ids(other, r32));
}

#[test]
fn content_ids_leave_out_metadata() {
    let k: ArrayRef = Arc::new(Int64Array::from(vec![1, 1]));
    let name: ArrayRef = Arc::new(StringArray::from(vec!["a", "a"]));
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![10, 20]));
    let r = row(vec![("k", k.clone()), ("name", name), ("_ts", ts)]);
    let row_ids = ids(k.clone(), r.clone());
    assert_ne!(row_ids[0], row_ids[1], "row ids see the clock");
    let content = bins(&invoke_scalar("crdt_content_id", &[k.clone(), r.clone()], 2).unwrap());
    assert_eq!(content[0], content[1], "content ids do not");
    assert_ne!(content[0], row_ids[0], "contexts differ");
    // Naming the metadata: with none named, the clock counts again.
    let none: ArrayRef = Arc::new(arrow_array::ListArray::from_iter_primitive::<
        arrow_array::types::Int64Type,
        _,
        _,
    >(vec![Some(Vec::<Option<i64>>::new()); 2]));
    let err = invoke_scalar("crdt_content_id", &[k.clone(), r.clone(), none], 2);
    assert!(err.is_ok(), "an empty list is no metadata: {err:?}");
    let names: ArrayRef = Arc::new(arrow_array::ListArray::new(
        Arc::new(Field::new("item", DataType::Utf8, true)),
        arrow_buffer::OffsetBuffer::from_lengths([1, 1]),
        Arc::new(StringArray::from(vec!["name", "name"])),
        None,
    ));
    let c2 = bins(&invoke_scalar("crdt_content_id", &[k, r, names], 2).unwrap());
    assert_ne!(c2[0], c2[1], "only `name` left out: the clocks differ");
}

fn fingerprint_agg(name: &str, args: Vec<ArrayRef>) -> Vec<u8> {
    let types: Vec<DataType> = args.iter().map(|a| a.data_type().clone()).collect();
    let agg = aggregate(name, &types).unwrap();
    let mut st = agg.new_state();
    agg.update(&args, &mut Single(&mut st)).unwrap();
    bins(&agg.finish(&[&st]).unwrap())[0].clone()
}

fn random_ids(seed: u64, n: usize) -> Vec<[u8; 32]> {
    (0..n as u64)
        .map(|i| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&seed.to_le_bytes());
            b[8..].copy_from_slice(&i.to_le_bytes());
            *blake3::hash(&b).as_bytes()
        })
        .collect()
}

#[test]
fn fingerprints_equal_negentropys() {
    for n in [0usize, 1, 2, 31, 32, 1000] {
        let xs = random_ids(n as u64, n);
        let mut st = NegentropyStorageVector::with_capacity(n);
        for (i, x) in xs.iter().enumerate() {
            st.insert(i as u64, Id::from_byte_array(*x)).unwrap();
        }
        st.seal().unwrap();
        let want = st.fingerprint(0, n).unwrap().to_bytes();
        let arr: ArrayRef = Arc::new(BinaryArray::from_iter_values(xs.iter()));
        let got = fingerprint_agg("crdt_fingerprint_agg", vec![arr]);
        assert_eq!(got, want.to_vec(), "n = {n}");
    }
}

#[test]
fn no_rows_is_the_empty_set() {
    let arr: ArrayRef = Arc::new(BinaryArray::from_iter_values(Vec::<Vec<u8>>::new()));
    let got = fingerprint_agg("crdt_fingerprint_agg", vec![arr]);
    assert_eq!(got, Fingerprint::EMPTY.finish().to_vec());
    let agg = aggregate("crdt_table_digest", &[DataType::Int64, DataType::Utf8]).unwrap();
    let out = agg.finish(&[&State::Empty]).unwrap();
    assert_eq!(bins(&out)[0], Fingerprint::EMPTY.finish().to_vec());
}

#[test]
fn add_and_sub_keep_a_stored_state_exact() {
    let xs = random_ids(7, 10);
    let all: ArrayRef = Arc::new(BinaryArray::from_iter_values(xs.iter()));
    let state = fingerprint_agg("crdt_fingerprint_state_agg", vec![all.clone()]);
    assert_eq!(state.len(), 40);
    // Delete xs[3] and insert a new id, through the scalars.
    let st: ArrayRef = Arc::new(BinaryArray::from_iter_values([state.clone()]));
    let gone: ArrayRef = Arc::new(BinaryArray::from_iter_values([xs[3]]));
    let after_sub = invoke_scalar("crdt_fingerprint_sub", &[st, gone], 1).unwrap();
    let fresh = random_ids(99, 1)[0];
    let new: ArrayRef = Arc::new(BinaryArray::from_iter_values([fresh]));
    let after = invoke_scalar("crdt_fingerprint_add", &[after_sub, new], 1).unwrap();
    let digest = bins(&invoke_scalar("crdt_fingerprint", &[after], 1).unwrap())[0].clone();
    let mut want_ids: Vec<[u8; 32]> = xs.clone();
    want_ids.remove(3);
    want_ids.push(fresh);
    let want_arr: ArrayRef = Arc::new(BinaryArray::from_iter_values(want_ids.iter()));
    assert_eq!(
        digest,
        fingerprint_agg("crdt_fingerprint_agg", vec![want_arr])
    );
    // Taking out more than the state holds is an error, not a wrapped count.
    let empty: ArrayRef = Arc::new(BinaryArray::from(vec![None::<&[u8]>]));
    let one: ArrayRef = Arc::new(BinaryArray::from_iter_values([fresh]));
    let err = invoke_scalar("crdt_fingerprint_sub", &[empty, one], 1).unwrap_err();
    assert!(err.to_string().contains("crdt_fingerprint_sub"), "{err}");
}

#[test]
fn bad_input_names_function_and_argument() {
    let k: ArrayRef = Arc::new(Int64Array::from(vec![1]));
    let not_row: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
    let e = invoke_scalar("crdt_row_id", &[k.clone(), not_row], 1).unwrap_err();
    assert!(
        e.to_string().contains("crdt_row_id") && e.to_string().contains("row"),
        "{e}"
    );
    let short: ArrayRef = Arc::new(BinaryArray::from_iter_values([[1u8; 5]]));
    let agg = aggregate("crdt_fingerprint_agg", &[DataType::Binary]).unwrap();
    let mut st = agg.new_state();
    let e = agg
        .update(std::slice::from_ref(&short), &mut Single(&mut st))
        .unwrap_err();
    assert!(
        e.to_string().contains("crdt_fingerprint_agg") && e.to_string().contains("32-byte"),
        "{e}"
    );
    let e = invoke_scalar("crdt_sync_key", &[k, short], 1).unwrap_err();
    assert!(e.to_string().contains("crdt_sync_key"), "{e}");
    let e = aggregate("crdt_fingerprint_agg", &[DataType::Int64]).unwrap_err();
    assert!(e.to_string().contains("id"), "{e}");
}

#[test]
fn sync_keys_sort_like_negentropy_items() {
    let clocks: ArrayRef = Arc::new(Int64Array::from(vec![5, 300, 0, -4]));
    let id: ArrayRef = Arc::new(BinaryArray::from_iter_values(random_ids(1, 4)));
    let keys = bins(&invoke_scalar("crdt_sync_key", &[clocks, id], 4).unwrap());
    assert_eq!(&keys[1][..8], &300u64.to_be_bytes());
    assert_eq!(&keys[3][..8], &[0; 8], "negative clocks map to 0");
    assert!(keys[0] < keys[1]);
    let f: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![-1.5, -0.0, 0.0, 2.5]));
    let id: ArrayRef = Arc::new(BinaryArray::from_iter_values([[0u8; 32]; 4]));
    let keys = bins(&invoke_scalar("crdt_sync_key", &[f, id], 4).unwrap());
    assert!(keys[0] < keys[1] && keys[1] == keys[2] && keys[2] < keys[3]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A digest over any split of a table into partitions, combined in any order, equals the
    /// digest of the whole; row order does not matter.
    #[test]
    fn digest_is_order_and_partition_free(
        rows in prop::collection::vec((0i64..50, prop::option::of("[a-c]{0,3}"), 0i64..5), 0..40),
        cuts in prop::collection::vec(0usize..40, 0..4),
        perm_seed in any::<u64>(),
    ) {
        let build = |rs: &[(i64, Option<String>, i64)]| -> (ArrayRef, ArrayRef) {
            let k: ArrayRef = Arc::new(Int64Array::from(rs.iter().map(|r| r.0).collect::<Vec<_>>()));
            let v: ArrayRef = Arc::new(StringArray::from(rs.iter().map(|r| r.1.clone()).collect::<Vec<_>>()));
            let t: ArrayRef = Arc::new(Int64Array::from(rs.iter().map(|r| r.2).collect::<Vec<_>>()));
            (k.clone(), row(vec![("k", k), ("v", v), ("_ts", t)]))
        };
        let agg = aggregate("crdt_table_digest", &[DataType::Int64, DataType::Struct(Default::default())]).unwrap();
        let whole = {
            let (k, r) = build(&rows);
            let mut st = agg.new_state();
            agg.update(&[k, r], &mut Single(&mut st)).unwrap();
            bins(&agg.finish(&[&st]).unwrap())[0].clone()
        };
        // Shuffle deterministically, split at the cuts, combine the partials in reverse.
        let mut shuffled = rows.clone();
        let mut s = perm_seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s as usize) % (i + 1));
        }
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(shuffled.len())).collect();
        bounds.push(0);
        bounds.push(shuffled.len());
        bounds.sort_unstable();
        let mut parts = Vec::new();
        for w in bounds.windows(2) {
            let (k, r) = build(&shuffled[w[0]..w[1]]);
            let mut st = agg.new_state();
            agg.update(&[k, r], &mut Single(&mut st)).unwrap();
            parts.push(st);
        }
        let mut total = agg.new_state();
        for p in parts.iter().rev() {
            agg.combine(&mut total, p).unwrap();
        }
        prop_assert_eq!(bins(&agg.finish(&[&total]).unwrap())[0].clone(), whole);
    }
}
