//! The properties of the `model_safetensors_header` and `model_index` fuzz targets
//! (`fuzz/fuzz_targets/model_*.rs`), checked on a few hundred seeded random and mutated inputs so
//! they hold in CI without nightly or cargo-fuzz: every input gives Ok or Err (a panic fails the
//! test), accepted headers describe tensors inside the data section and re-encode to the same
//! tensors, accepted indexes name only files inside the model directory, and errors name the file.

use std::path::{Component, Path};

use crdt_merge_model::dtype::DType;
use crdt_merge_model::io::header::{self, Layout};
use crdt_merge_model::io::{parse_index, Metadata, ModelFiles};

/// Inputs per test: a few hundred by default, `IO_FUZZ_ITERS=N` for a longer local run.
fn iters() -> usize {
    std::env::var("IO_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The header target's checks; returns whether the input parsed.
fn check_header(data: &[u8]) -> bool {
    let path = Path::new("fuzz.safetensors");
    let h = match header::parse(data, data.len() as u64, path) {
        Ok(h) => h,
        Err(e) => {
            assert!(e.to_string().contains("fuzz.safetensors"), "{e}");
            return false;
        }
    };
    assert_eq!(h.data_start + h.data_len, data.len() as u64);
    let mut total = 0u64;
    for t in h.tensors.values() {
        let numel: u64 = t.shape.iter().map(|&d| d as u64).product();
        assert!(t.begin <= t.end && t.end <= h.data_len);
        assert_eq!(t.end - t.begin, numel * t.dtype.size() as u64);
        total += t.end - t.begin;
    }
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
    true
}

/// The index target's checks; returns whether the input parsed.
fn check_index(data: &[u8]) -> bool {
    match parse_index(data, Path::new("model.safetensors.index.json")) {
        Ok(index) => {
            for file in index.weight_map.values() {
                assert!(!file.is_empty());
                assert!(Path::new(file)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))));
            }
            true
        }
        Err(e) => {
            assert!(
                e.to_string().contains("model.safetensors.index.json"),
                "{e}"
            );
            false
        }
    }
}

/// A valid file with a few random tensors.
fn valid_file(rng: &mut Rng) -> Vec<u8> {
    let names: Vec<String> = (0..1 + rng.below(4)).map(|i| format!("t{i}.w")).collect();
    let shapes: Vec<Vec<usize>> = names
        .iter()
        .map(|_| (0..rng.below(3)).map(|_| rng.below(4)).collect())
        .collect();
    let dtypes: Vec<DType> = names
        .iter()
        .map(|_| DType::ALL[rng.below(DType::ALL.len())])
        .collect();
    let layout: Vec<Layout<'_>> = names
        .iter()
        .zip(&shapes)
        .zip(&dtypes)
        .map(|((name, shape), &dtype)| Layout { name, dtype, shape })
        .collect();
    let mut md = Metadata::new();
    if rng.below(2) == 0 {
        md.insert("format".into(), "pt".into());
    }
    let (mut bytes, offsets) = header::encode(&layout, &md).unwrap();
    let data = offsets.last().map_or(0, |o| o.1) as usize;
    bytes.extend((0..data).map(|_| rng.next() as u8));
    bytes
}

/// Mutations that target the checks: flipped bytes, truncation, a lying length, digits changed.
fn mutate(rng: &mut Rng, mut v: Vec<u8>) -> Vec<u8> {
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        1 => v.truncate(rng.below(v.len() + 1)),
        2 => {
            let n = match rng.below(4) {
                0 => 0,
                1 => rng.next(),
                2 => (v.len() as u64)
                    .wrapping_add(rng.below(16) as u64)
                    .wrapping_sub(16),
                _ => 100 * 1024 * 1024 + 1,
            };
            v[..8].copy_from_slice(&n.to_le_bytes());
        }
        3 => {
            // Replace a digit run in the JSON with something hostile.
            let digits: Vec<usize> = (8..v.len()).filter(|&i| v[i].is_ascii_digit()).collect();
            if let Some(&i) = digits.get(rng.below(digits.len())) {
                let repl: &[u8] = match rng.below(5) {
                    0 => b"18446744073709551615",
                    1 => b"-1",
                    2 => b"1.5",
                    3 => b"99999999999999999999999",
                    _ => b"\"3\"",
                };
                v.splice(i..i + 1, repl.iter().copied());
                // Keep the length prefix consistent so the JSON is what gets tested.
                let n = u64::from_le_bytes(v[..8].try_into().unwrap())
                    .wrapping_add(repl.len() as u64 - 1);
                v[..8].copy_from_slice(&n.to_le_bytes());
            }
        }
        4 => {
            let i = 8 + rng.below(v.len().saturating_sub(8));
            v.insert(i.min(v.len()), b"{}[],:\"0 "[rng.below(9)]);
        }
        _ => {
            let extra = rng.below(64);
            v.extend((0..extra).map(|_| rng.next() as u8));
        }
    }
    v
}

#[test]
fn header_parser_holds_its_properties_on_seeded_inputs() {
    let mut rng = Rng(15);
    let (mut ok, mut err) = (0, 0);
    let dir = tempfile::tempdir().unwrap();
    for i in 0..iters() {
        let input = match i % 3 {
            0 => {
                let n = rng.below(64);
                let mut v: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                if n >= 8 && rng.below(2) == 0 {
                    // A plausible length so the JSON parser sees the random bytes.
                    v[..8].copy_from_slice(&((n - 8) as u64).to_le_bytes());
                }
                v
            }
            1 => valid_file(&mut rng),
            _ => {
                let v = valid_file(&mut rng);
                mutate(&mut rng, v)
            }
        };
        if check_header(&input) {
            ok += 1;
        } else {
            err += 1;
        }
        // The file path (`header::read` through `ModelFiles::open`) agrees with the pure parser.
        if i % 5 == 0 {
            let p = dir.path().join("fuzz.safetensors");
            std::fs::write(&p, &input).unwrap();
            let pure = header::parse(&input, input.len() as u64, &p).map(|h| h.tensors.len());
            let opened = ModelFiles::open(&p).map(|m| m.tensors().len());
            match (pure, opened) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                // Pickle magic with an absurd length gets the conversion hint instead.
                (Err(a), Err(b)) if b.to_string().contains("pickle") => {
                    assert!(a.to_string().contains("header length"), "{a}")
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("parse {a:?} but open {b:?}"),
            }
        }
    }
    // Both outcomes are exercised.
    assert!(ok > 150 && err > 150, "ok {ok}, err {err}");
}

#[test]
fn index_parser_holds_its_properties_on_seeded_inputs() {
    let mut rng = Rng(16);
    let valid = br#"{"metadata": {"total_size": 1234}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "sub/x.safetensors"}}"#;
    let hostile: [&[u8]; 8] = [
        b"\"../x\"",
        b"\"/etc/passwd\"",
        b"\"\"",
        b"7",
        b"null",
        b"[]",
        b"{}",
        b"\"a/../../b\"",
    ];
    let (mut ok, mut err) = (0, 0);
    for i in 0..iters() {
        let mut v = valid.to_vec();
        match i % 4 {
            0 => v = (0..rng.below(80)).map(|_| rng.next() as u8).collect(),
            1 => {
                // Replace a quoted value with a hostile one.
                let quotes: Vec<usize> = (0..v.len()).filter(|&j| v[j] == b'"').collect();
                let k = rng.below(quotes.len() / 2) * 2;
                let (a, b) = (quotes[k], quotes[k + 1]);
                let h = hostile[rng.below(hostile.len())];
                v.splice(a..=b, h.iter().copied());
            }
            2 => v.truncate(rng.below(v.len() + 1)),
            _ => {
                for _ in 0..1 + rng.below(3) {
                    let j = rng.below(v.len());
                    v[j] = b"{}[],:\"0 x.-/"[rng.below(13)];
                }
            }
        }
        if check_index(&v) {
            ok += 1;
        } else {
            err += 1;
        }
    }
    assert!(check_index(valid));
    assert!(ok > 50 && err > 300, "ok {ok}, err {err}");
}
