//! Feeds arbitrary bytes to the safetensors header parser of crdt-merge-model as if they were a
//! whole file. Beyond "never panics" (and never allocating more than the bytes imply: the length
//! prefix is checked against the file length before anything is read), every header that parses
//! must describe tensors inside the data section, and re-encoding it with our deterministic writer
//! must parse back to the same tensors and metadata.
#![no_main]

use std::path::Path;

use crdt_merge_model::io::header::{self, Layout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    let Ok(h) = header::parse(data, data.len() as u64, path) else {
        return;
    };
    assert_eq!(h.data_start + h.data_len, data.len() as u64);
    let mut total = 0u64;
    for t in h.tensors.values() {
        let numel: u64 = t.shape.iter().map(|&d| d as u64).product();
        assert!(t.begin <= t.end && t.end <= h.data_len);
        assert_eq!(t.end - t.begin, numel * t.dtype.size() as u64);
        total += t.end - t.begin;
    }
    // Tensors do not overlap, so their bytes fit in the data section.
    assert!(total <= h.data_len);
    let layout: Vec<Layout<'_>> = h
        .tensors
        .iter()
        .map(|(name, t)| Layout {
            name,
            dtype: t.dtype,
            shape: &t.shape,
        })
        .collect();
    let (mut bytes, offsets) =
        header::encode(&layout, &h.metadata).expect("a parsed header encodes");
    assert_eq!(bytes.len() % 8, 0);
    bytes.resize(bytes.len() + total as usize, 0);
    let again = header::parse(&bytes, bytes.len() as u64, path).expect("our encoding parses");
    assert_eq!(again.metadata, h.metadata);
    assert_eq!(again.tensors.len(), h.tensors.len());
    for ((name, t), (b, e)) in h.tensors.iter().zip(offsets) {
        let u = &again.tensors[name];
        assert_eq!(
            (u.dtype, &u.shape, u.begin, u.end),
            (t.dtype, &t.shape, b, e)
        );
    }
});
