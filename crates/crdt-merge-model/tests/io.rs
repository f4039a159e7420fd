//! Safetensors I/O: round trips, cross-checks with the `safetensors` crate, determinism, sharding,
//! lying headers, refusals, concurrent reads and the contribution id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crdt_merge_model::contribution::{contribution_id, hex};
use crdt_merge_model::dtype::{narrow, widen, DType};
use crdt_merge_model::io::{
    copy_side_files, write_safetensors, Metadata, ModelFiles, OutputTensor, OutputWriter,
};
use safetensors::tensor::TensorView;

type T = (String, DType, Vec<usize>, Vec<u8>);

fn floats(dtype: DType, values: &[f64]) -> Vec<u8> {
    let mut out = Vec::new();
    narrow(dtype, values, &mut out);
    out
}

fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 8.0
        })
        .collect()
}

/// A model with every kind of tensor (all computable float types, raw types, a scalar, an empty
/// tensor).
fn model() -> Vec<T> {
    let mut v: Vec<T> = Vec::new();
    for (i, d) in [DType::F16, DType::BF16, DType::F32, DType::F64]
        .into_iter()
        .enumerate()
    {
        v.push((
            format!("w.{}", d.safetensors_name()),
            d,
            vec![3, 5],
            floats(d, &values(15, i as u64 + 1)),
        ));
    }
    let i64s: Vec<u8> = [-3i64, 0, 7, i64::MAX]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    v.push(("ids".into(), DType::I64, vec![2, 2], i64s));
    v.push((
        "bytes".into(),
        DType::U8,
        vec![5],
        vec![0, 1, 128, 254, 255],
    ));
    v.push(("mask".into(), DType::Bool, vec![3], vec![1, 0, 1]));
    v.push(("fp8".into(), DType::F8E4M3, vec![2], vec![0x38, 0xb8]));
    v.push((
        "scalar".into(),
        DType::F32,
        vec![],
        floats(DType::F32, &[1.25]),
    ));
    v.push(("empty".into(), DType::BF16, vec![0, 4], vec![]));
    v
}

fn md(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn err_text<X: std::fmt::Debug>(r: crdt_merge_model::Result<X>) -> String {
    r.expect_err("expected an error").to_string()
}

fn decl(tensors: &[T]) -> Vec<OutputTensor> {
    tensors
        .iter()
        .map(|(n, d, s, _)| OutputTensor {
            name: n.clone(),
            dtype: *d,
            shape: s.clone(),
        })
        .collect()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_every_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let tensors = model();
    let written = write_safetensors(&path, &tensors, Metadata::new()).unwrap();
    assert_eq!(written, path);
    let m = ModelFiles::open(&path).unwrap();
    assert_eq!(m.tensors().len(), tensors.len());
    assert_eq!(m.files(), std::slice::from_ref(&path));
    assert_eq!(m.dir(), Some(dir.path()));
    assert_eq!(m.metadata(), &md(&[("format", "pt")]));
    for (name, dtype, shape, bytes) in &tensors {
        let t = &m.tensors()[name];
        assert_eq!((t.dtype, &t.shape), (*dtype, shape), "{name}");
        let mut raw = vec![9u8]; // read_raw appends
        m.read_raw(name, 0, t.numel(), &mut raw).unwrap();
        assert_eq!(&raw[1..], &bytes[..], "{name}");
        if dtype.is_computable() {
            let mut want = vec![0.0; t.numel()];
            widen(*dtype, bytes, &mut want);
            let mut got = vec![f64::NAN; t.numel()];
            m.read_f64(name, 0, &mut got).unwrap();
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}"
            );
            if t.numel() < 10 {
                continue;
            }
            // A middle slice.
            let mut part = vec![0.0; 4];
            m.read_f64(name, 6, &mut part).unwrap();
            assert_eq!(part, want[6..10], "{name}");
        }
    }
    // Raw slices.
    let mut raw = Vec::new();
    m.read_raw("ids", 1, 2, &mut raw).unwrap();
    assert_eq!(
        raw,
        [0i64, 7]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>()
    );
    // Bounds and dtype errors name the tensor.
    let e = err_text(m.read_raw("ids", 3, 2, &mut raw));
    assert!(
        e.contains("`ids`") && e.contains("3..5") && e.contains("has 4"),
        "{e}"
    );
    let e = err_text(m.read_raw("ids", usize::MAX, 2, &mut raw));
    assert!(e.contains("`ids`"), "{e}");
    let e = err_text(m.read_f64("ids", 0, &mut [0.0; 4]));
    assert!(
        e.contains("`ids`") && e.contains("I64") && e.contains("not a float"),
        "{e}"
    );
    let e = err_text(m.read_f64("w.F32", 10, &mut [0.0; 6]));
    assert!(e.contains("`w.F32`") && e.contains("10..16"), "{e}");
    let e = err_text(m.read_f64("nope", 0, &mut [0.0; 1]));
    assert!(e.contains("`nope`") && e.contains("m.safetensors"), "{e}");
}

#[test]
fn our_files_deserialize_with_the_safetensors_crate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let tensors = model();
    write_safetensors(&path, &tensors, md(&[("strategy", "linear"), ("a", "b")])).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), tensors.len());
    for (name, dtype, shape, data) in &tensors {
        let v = st.tensor(name).unwrap();
        assert_eq!(format!("{:?}", v.dtype()), dtype.safetensors_name());
        assert_eq!(v.shape(), &shape[..]);
        assert_eq!(v.data(), &data[..]);
    }
    let (n, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!((8 + n) % 8, 0, "data section is 8-aligned");
    let m = meta.metadata().clone().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m["format"], "pt");
    assert_eq!(m["strategy"], "linear");
    // The header is sorted, compact, and laid out in name order.
    let json = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(json.starts_with(r#"{"__metadata__":{"a":"b","format":"pt","strategy":"linear"},"bytes":{"data_offsets":[0,5],"dtype":"U8","shape":[5]},"empty":"#), "{json}");
    assert!(!json.trim_end().contains(' '), "compact JSON: {json}");
}

#[test]
fn files_of_the_safetensors_crate_read_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.safetensors");
    let tensors = model();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            let dt: safetensors::Dtype =
                serde_json::from_value(serde_json::json!(d.safetensors_name())).unwrap();
            (n.clone(), TensorView::new(dt, s.clone(), b).unwrap())
        })
        .collect();
    let meta: HashMap<String, String> = [("k".to_string(), "v".to_string())].into();
    let bytes = safetensors::serialize(views, Some(meta)).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let m = ModelFiles::open(&path).unwrap();
    assert_eq!(m.metadata(), &md(&[("k", "v")]));
    for (name, dtype, shape, data) in &tensors {
        let t = &m.tensors()[name];
        assert_eq!((t.dtype, &t.shape), (*dtype, shape));
        let mut raw = Vec::new();
        m.read_raw(name, 0, t.numel(), &mut raw).unwrap();
        assert_eq!(&raw, data, "{name}");
    }
}

#[test]
fn python_fixture_reads_and_has_the_independent_contribution_id() {
    // Generated by tests/fixtures/io/gen_io_fixtures.py (the reference `safetensors` package and
    // the `blake3` package, no Rust involved).
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/io");
    let m = ModelFiles::open(&fx.join("tiny_model.safetensors")).unwrap();
    assert_eq!(m.tensors().len(), 11);
    assert_eq!(m.metadata()["source"], "gen_io_fixtures.py");
    let mut s = [0.0];
    m.read_f64("scalar", 0, &mut s).unwrap();
    assert_eq!(s, [2.5]);
    let mut raw = Vec::new();
    m.read_raw("bytes", 0, 6, &mut raw).unwrap();
    assert_eq!(raw, (250..=255).collect::<Vec<u8>>());
    raw.clear();
    m.read_raw("counts", 0, 3, &mut raw).unwrap();
    assert_eq!(
        raw,
        [1i32, -2, 3]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>()
    );
    assert_eq!(m.tensors()["empty"].shape, vec![0, 3]);
    assert_eq!(m.tensors()["position_ids"].dtype, DType::I64);
    let want = std::fs::read_to_string(fx.join("tiny_model.contribution.txt")).unwrap();
    let id = contribution_id(&m).unwrap();
    assert_eq!(hex(&id), want.trim());

    // The id depends on content only: the same tensors in our layout give the same id.
    let dir = tempfile::tempdir().unwrap();
    let mut copy = Vec::new();
    for (name, t) in m.tensors() {
        let mut b = Vec::new();
        m.read_raw(name, 0, t.numel(), &mut b).unwrap();
        copy.push((name.clone(), t.dtype, t.shape.clone(), b));
    }
    copy.reverse();
    let p = write_safetensors(&dir.path().join("c.safetensors"), &copy, md(&[("x", "y")])).unwrap();
    assert_eq!(contribution_id(&ModelFiles::open(&p).unwrap()).unwrap(), id);
    // And changes with any byte.
    copy[0].3[0] ^= 1;
    let p = write_safetensors(&dir.path().join("d.safetensors"), &copy, Metadata::new()).unwrap();
    assert_ne!(contribution_id(&ModelFiles::open(&p).unwrap()).unwrap(), id);
}

#[test]
fn contribution_id_streams_large_tensors_identically() {
    // 9 MiB of f32: more than one 8 MiB read. The expected id hashes the whole buffer at once.
    let n = (9 << 20) / 4;
    let bytes: Vec<u8> = (0..n as u32)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = write_safetensors(
        &dir.path().join("big.safetensors"),
        &[("big".into(), DType::F32, vec![n], bytes.clone())],
        Metadata::new(),
    )
    .unwrap();
    let mut h = blake3::Hasher::new_derive_key("crdt-merge-model v1 contribution");
    h.update(&3u64.to_le_bytes());
    h.update(b"big");
    h.update(&3u64.to_le_bytes());
    h.update(b"F32");
    h.update(&1u64.to_le_bytes());
    h.update(&(n as u64).to_le_bytes());
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(&bytes);
    let m = ModelFiles::open(&p).unwrap();
    assert_eq!(contribution_id(&m).unwrap(), *h.finalize().as_bytes());
}

#[test]
fn equal_inputs_give_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = model();
    let a = write_safetensors(
        &dir.path().join("a.safetensors"),
        &tensors,
        md(&[("s", "t")]),
    )
    .unwrap();
    let mut rev = tensors.clone();
    rev.reverse();
    let b = write_safetensors(&dir.path().join("b.safetensors"), &rev, md(&[("s", "t")])).unwrap();
    // Through the streaming writer, from 4 threads, chunks in reverse order.
    let c = dir.path().join("c.safetensors");
    let w =
        OutputWriter::create(&c, decl(&rev), md(&[("s", "t"), ("format", "pt")]), 1 << 30).unwrap();
    std::thread::scope(|s| {
        for k in 0..4 {
            let (w, tensors) = (&w, &tensors);
            s.spawn(move || {
                for (i, (name, dtype, _, bytes)) in tensors.iter().enumerate().rev() {
                    if i % 4 != k {
                        continue;
                    }
                    let size = dtype.size();
                    let elems = bytes.len() / size;
                    for e in (0..elems).rev() {
                        w.write(name, e, &bytes[e * size..(e + 1) * size]).unwrap();
                    }
                }
            });
        }
    });
    let out = w.finish().unwrap();
    assert_eq!(out, vec![c.clone()]);
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert!(dir_names(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
}

#[test]
fn format_metadata_is_added_only_when_absent() {
    let dir = tempfile::tempdir().unwrap();
    let t = vec![("x".to_string(), DType::U8, vec![1], vec![7])];
    let p = write_safetensors(
        &dir.path().join("a.safetensors"),
        &t,
        md(&[("format", "mlx")]),
    )
    .unwrap();
    assert_eq!(ModelFiles::open(&p).unwrap().metadata()["format"], "mlx");
    // A path without the extension still gets one file.
    let p = write_safetensors(&dir.path().join("blob"), &t, Metadata::new()).unwrap();
    assert!(p.is_file());
    assert_eq!(ModelFiles::open(&p).unwrap().metadata()["format"], "pt");
    let e = err_text(write_safetensors(
        &dir.path().join("bad.safetensors"),
        &[("x".to_string(), DType::F32, vec![2], vec![0; 4])],
        Metadata::new(),
    ));
    assert!(e.contains("`x`") && e.contains("needs 8"), "{e}");
    let e = err_text(write_safetensors(
        &dir.path().join("dup.safetensors"),
        &[t[0].clone(), t[0].clone()],
        Metadata::new(),
    ));
    assert!(e.contains("`x`") && e.contains("twice"), "{e}");
    assert!(!dir.path().join("dup.safetensors").exists());
    assert!(dir_names(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
}

/// 4 tensors of 100 bytes (U8) and one of 350, sharded at 250 bytes.
fn shard_model() -> Vec<T> {
    let mut v: Vec<T> = ["a", "b", "c", "e"]
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), DType::U8, vec![10, 10], vec![i as u8; 100]))
        .collect();
    v.push(("d.big".into(), DType::F16, vec![175], vec![3; 350]));
    v
}

fn write_dir(out: &Path, tensors: &[T], shard: u64) -> Vec<PathBuf> {
    let w = OutputWriter::create(out, decl(tensors), md(&[("m", "1")]), shard).unwrap();
    for (n, _, _, b) in tensors {
        w.write(n, 0, b).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn sharding_index_and_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let tensors = shard_model();
    let files = write_dir(&out, &tensors, 250);
    // Greedy in name order: [a, b] (200), [c] (c + d.big = 450 > 250), [d.big] alone (350 > 250),
    // [e].
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "model-00001-of-00004.safetensors",
            "model-00002-of-00004.safetensors",
            "model-00003-of-00004.safetensors",
            "model-00004-of-00004.safetensors",
            "model.safetensors.index.json"
        ]
    );
    assert!(files.iter().all(|p| p.parent() == Some(out.as_path())));
    assert_eq!(dir_names(&out), {
        let mut n = names.clone();
        n.sort();
        n
    });
    let index = std::fs::read_to_string(out.join("model.safetensors.index.json")).unwrap();
    assert_eq!(
        index,
        r#"{
  "metadata": {
    "total_size": 750
  },
  "weight_map": {
    "a": "model-00001-of-00004.safetensors",
    "b": "model-00001-of-00004.safetensors",
    "c": "model-00002-of-00004.safetensors",
    "d.big": "model-00003-of-00004.safetensors",
    "e": "model-00004-of-00004.safetensors"
  }
}
"#
    );
    for (k, want) in [
        (0, vec!["a", "b"]),
        (1, vec!["c"]),
        (2, vec!["d.big"]),
        (3, vec!["e"]),
    ] {
        let bytes = std::fs::read(&files[k]).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut got = st.names();
        got.sort();
        assert_eq!(got, want);
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        assert_eq!(meta.len(), 2);
        assert_eq!((meta["m"].as_str(), meta["format"].as_str()), ("1", "pt"));
    }
    let m = ModelFiles::open(&out).unwrap();
    assert_eq!(m.files().len(), 4);
    assert_eq!(m.dir(), Some(out.as_path()));
    for (n, _, _, b) in &tensors {
        let mut raw = Vec::new();
        m.read_raw(n, 0, m.tensors()[n].numel(), &mut raw).unwrap();
        assert_eq!(&raw, b, "{n}");
    }
    // Same inputs, same bytes.
    let again = write_dir(&dir.path().join("again"), &tensors, 250);
    for (x, y) in files.iter().zip(&again) {
        assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
    }

    // Rewriting the directory unsharded replaces the shards and the index.
    let files = write_dir(&out, &tensors, 5_000_000_000);
    assert_eq!(files, vec![out.join("model.safetensors")]);
    assert_eq!(dir_names(&out), ["model.safetensors"]);
    // And sharded again removes the single file (a loader would prefer it).
    std::fs::write(out.join("config.json"), "{}").unwrap();
    write_dir(&out, &tensors, 400);
    assert_eq!(
        dir_names(&out),
        [
            "config.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors",
            "model.safetensors.index.json"
        ]
    );
    assert_eq!(ModelFiles::open(&out).unwrap().tensors().len(), 5);
}

#[test]
fn incomplete_or_dropped_writers_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let tensors = shard_model();
    let w = OutputWriter::create(&out, decl(&tensors), Metadata::new(), 250).unwrap();
    assert_eq!(dir_names(&out).len(), 4, "temp files exist while writing");
    assert!(dir_names(&out)
        .iter()
        .all(|n| n.starts_with('.') && n.ends_with(".tmp")));
    for (n, _, _, b) in &tensors {
        if n == "c" {
            // The same half twice: as many bytes as the tensor, half of it missing.
            w.write(n, 0, &b[..50]).unwrap();
            w.write(n, 0, &b[..50]).unwrap();
        } else {
            w.write(n, 0, b).unwrap();
        }
    }
    let e = err_text(w.write("nope", 0, &[1]));
    assert!(e.contains("`nope`") && e.contains("not declared"), "{e}");
    let e = err_text(w.write("d.big", 0, &[1, 2, 3]));
    assert!(e.contains("`d.big`") && e.contains("whole number"), "{e}");
    let e = err_text(w.write("d.big", 174, &[1, 2, 3, 4]));
    assert!(
        e.contains("`d.big`") && e.contains("174..176") && e.contains("175"),
        "{e}"
    );
    let e = err_text(w.finish());
    assert!(
        e.contains("`c`") && e.contains("50 of its 100 bytes"),
        "{e}"
    );
    assert!(dir_names(&out).is_empty(), "{:?}", dir_names(&out));

    let w = OutputWriter::create(&out, decl(&tensors), Metadata::new(), 1 << 20).unwrap();
    assert_eq!(dir_names(&out), [".model.safetensors.tmp"]);
    drop(w);
    assert!(dir_names(&out).is_empty());

    fn assert_sync<S: Sync>() {}
    assert_sync::<OutputWriter>();
    let is_dir = dir.path().join("d.safetensors");
    std::fs::create_dir(&is_dir).unwrap();
    let e = err_text(OutputWriter::create(
        &is_dir,
        decl(&tensors),
        Metadata::new(),
        9,
    ));
    assert!(
        e.contains("d.safetensors") && e.contains("existing directory"),
        "{e}"
    );
    std::fs::remove_dir(&is_dir).unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let e = err_text(OutputWriter::create(
        &file,
        decl(&tensors),
        Metadata::new(),
        9,
    ));
    assert!(e.contains("plain") && e.contains("existing file"), "{e}");
    std::fs::remove_file(&file).unwrap();
    let e = err_text(OutputWriter::create(
        &out,
        decl(&tensors),
        Metadata::new(),
        0,
    ));
    assert!(e.contains("shard size"), "{e}");
    let mut dup = decl(&tensors);
    dup.push(dup[0].clone());
    let e = err_text(OutputWriter::create(
        &dir.path().join("x.safetensors"),
        dup,
        Metadata::new(),
        9,
    ));
    assert!(e.contains("`a`") && e.contains("twice"), "{e}");
    assert!(dir_names(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
}

#[test]
fn reads_from_four_threads_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let mut tensors = shard_model();
    tensors.push((
        "f".into(),
        DType::F32,
        vec![4096],
        floats(DType::F32, &values(4096, 9)),
    ));
    write_dir(&out, &tensors, 300);
    let m = ModelFiles::open(&out).unwrap();
    fn assert_sync<S: Sync>(_: &S) {}
    assert_sync(&m);
    std::thread::scope(|s| {
        for k in 0..4usize {
            let (m, tensors) = (&m, &tensors);
            s.spawn(move || {
                for round in 0..20 {
                    for (n, d, _, b) in tensors {
                        let numel = b.len() / d.size();
                        let step = 1 + (k + round) % 7;
                        let mut raw = Vec::new();
                        let mut at = 0;
                        while at < numel {
                            let c = step.min(numel - at);
                            m.read_raw(n, at, c, &mut raw).unwrap();
                            at += c;
                        }
                        assert_eq!(&raw, b);
                    }
                    let mut f = vec![0.0; 4096];
                    m.read_f64("f", 0, &mut f).unwrap();
                    assert_eq!(floats(DType::F32, &f), tensors.last().unwrap().3);
                }
            });
        }
    });
}

// ---- lying and truncated files -------------------------------------------------------------

fn raw_file(dir: &Path, name: &str, json: &str, data: usize) -> PathBuf {
    let mut v = (json.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v.resize(v.len() + data, 0);
    let p = dir.join(name);
    std::fs::write(&p, v).unwrap();
    p
}

#[test]
fn lying_headers_are_errors_naming_the_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let cases: Vec<(&str, PathBuf, Vec<&str>)> = vec![
        (
            "empty",
            {
                let p = d.join("empty.safetensors");
                std::fs::write(&p, b"").unwrap();
                p
            },
            vec!["0 bytes", "too short"],
        ),
        (
            "len0",
            {
                let p = d.join("len0.safetensors");
                std::fs::write(&p, [0u8; 16]).unwrap();
                p
            },
            vec!["header length is 0"],
        ),
        (
            "huge",
            {
                let p = d.join("huge.safetensors");
                let mut v = (200u64 << 20).to_le_bytes().to_vec();
                v.extend_from_slice(b"{}");
                std::fs::write(&p, v).unwrap();
                p
            },
            vec!["209715200", "limit"],
        ),
        (
            "beyond",
            {
                let p = d.join("beyond.safetensors");
                let mut v = 1000u64.to_le_bytes().to_vec();
                v.extend_from_slice(b"{}");
                std::fs::write(&p, v).unwrap();
                p
            },
            vec!["1000", "beyond the end of the file", "10 bytes"],
        ),
        (
            "array",
            raw_file(d, "array.safetensors", "[1,2]", 0),
            vec!["not a JSON object"],
        ),
        (
            "badjson",
            raw_file(d, "badjson.safetensors", "{\"a\":", 0),
            vec!["not a valid JSON"],
        ),
        (
            "notutf8",
            {
                let p = d.join("notutf8.safetensors");
                let mut v = 4u64.to_le_bytes().to_vec();
                v.extend_from_slice(b"{\xff}x");
                std::fs::write(&p, v).unwrap();
                p
            },
            vec!["not a valid JSON"],
        ),
        (
            "entry",
            raw_file(d, "entry.safetensors", r#"{"a":[1]}"#, 0),
            vec!["`a`", "an array", "expected an object"],
        ),
        (
            "nodtype",
            raw_file(
                d,
                "nodtype.safetensors",
                r#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "no `dtype`"],
        ),
        (
            "noshape",
            raw_file(
                d,
                "noshape.safetensors",
                r#"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "no `shape`"],
        ),
        (
            "nooffsets",
            raw_file(
                d,
                "nooffsets.safetensors",
                r#"{"a":{"dtype":"F32","shape":[2]}}"#,
                8,
            ),
            vec!["`a`", "no `data_offsets`"],
        ),
        (
            "dtype",
            raw_file(
                d,
                "dtype.safetensors",
                r#"{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "unknown dtype `F33`", "BF16"],
        ),
        (
            "dtypenum",
            raw_file(
                d,
                "dtypenum.safetensors",
                r#"{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "`dtype` is a number"],
        ),
        (
            "shapefloat",
            raw_file(
                d,
                "shapefloat.safetensors",
                r#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "`shape` holds 2.0", "non-negative integers"],
        ),
        (
            "shapeneg",
            raw_file(
                d,
                "shapeneg.safetensors",
                r#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "holds -2"],
        ),
        (
            "shapestr",
            raw_file(
                d,
                "shapestr.safetensors",
                r#"{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "`shape` is a string"],
        ),
        (
            "overflow",
            raw_file(
                d,
                "overflow.safetensors",
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "overflow"],
        ),
        (
            "overflow2",
            raw_file(
                d,
                "overflow2.safetensors",
                r#"{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}"#,
                8,
            ),
            vec!["`a`", "overflows"],
        ),
        (
            "offsets3",
            raw_file(
                d,
                "offsets3.safetensors",
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}"#,
                8,
            ),
            vec!["`a`", "expected [begin, end]"],
        ),
        (
            "offsetsneg",
            raw_file(
                d,
                "offsetsneg.safetensors",
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#,
                8,
            ),
            vec!["`a`", "two non-negative integers"],
        ),
        (
            "reversed",
            raw_file(
                d,
                "reversed.safetensors",
                r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
                8,
            ),
            vec!["`a`", "[8, 0]", "begins after it ends"],
        ),
        (
            "truncated",
            raw_file(d, "truncated.safetensors", ok, 7),
            vec!["`a`", "end beyond the data section (7 bytes"],
        ),
        (
            "size",
            raw_file(
                d,
                "size.safetensors",
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                12,
            ),
            vec!["`a`", "span 8 bytes", "needs 12"],
        ),
        (
            "overlap",
            raw_file(
                d,
                "overlap.safetensors",
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                12,
            ),
            vec!["`a` [0, 8]", "`b` [4, 12]", "overlap"],
        ),
        (
            "dup",
            raw_file(
                d,
                "dup.safetensors",
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                16,
            ),
            vec!["`a` appears twice"],
        ),
        (
            "meta",
            raw_file(d, "meta.safetensors", r#"{"__metadata__":["x"]}"#, 0),
            vec!["`__metadata__` is an array", "map of strings"],
        ),
        (
            "metaval",
            raw_file(
                d,
                "metaval.safetensors",
                r#"{"__metadata__":{"format":"pt","n":1}}"#,
                0,
            ),
            vec!["`__metadata__` entry `n` is a number", "expected a string"],
        ),
    ];
    for (label, path, wants) in cases {
        let e = err_text(ModelFiles::open(&path));
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            e.contains(&file),
            "{label}: error does not name the file: {e}"
        );
        for w in wants {
            assert!(e.contains(w), "{label}: `{w}` not in: {e}");
        }
    }
    // Holes between tensors and empty tensors anywhere are fine.
    let p = raw_file(
        d,
        "holes.safetensors",
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},"c":{"dtype":"U8","shape":[1],"data_offsets":[10,11]}}"#,
        12,
    );
    assert_eq!(ModelFiles::open(&p).unwrap().tensors().len(), 3);
    // Whitespace padding (ours and the reference writer's) is fine too.
    let p = raw_file(d, "pad.safetensors", &format!("{ok}      "), 8);
    assert_eq!(ModelFiles::open(&p).unwrap().tensors()["a"].len, 8);
}

#[test]
fn a_file_truncated_after_open_is_an_error_naming_tensor_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.safetensors");
    write_safetensors(&p, &model(), Metadata::new()).unwrap();
    let m = ModelFiles::open(&p).unwrap();
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 30)
        .unwrap();
    let e = err_text(m.read_f64("w.F64", 0, &mut [0.0; 15]));
    assert!(e.contains("`w.F64`") && e.contains("t.safetensors"), "{e}");
    let mut out = vec![1u8];
    let e = err_text(m.read_raw("w.F64", 0, 15, &mut out));
    assert!(e.contains("`w.F64`"), "{e}");
    assert_eq!(out, [1], "a failed read appends nothing");
}

#[test]
fn pickles_are_refused_with_a_conversion_hint() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["pytorch_model.bin", "model.pt", "model.pth", "x.ckpt"] {
        let p = dir.path().join(name);
        std::fs::write(&p, b"\x80\x02}q\x00.").unwrap();
        let e = err_text(ModelFiles::open(&p));
        assert!(e.contains(name) && e.contains("safetensors"), "{e}");
        assert!(
            e.contains("save_file") && e.contains("safe_serialization=True"),
            "{e}"
        );
    }
    // A directory holding only pickles.
    let only = dir.path().join("hf");
    std::fs::create_dir(&only).unwrap();
    std::fs::write(only.join("pytorch_model-00001-of-00002.bin"), b"PK\x03\x04").unwrap();
    std::fs::write(only.join("config.json"), b"{}").unwrap();
    let e = err_text(ModelFiles::open(&only));
    assert!(
        e.contains("pytorch_model-00001-of-00002.bin") && e.contains("save_file"),
        "{e}"
    );
    // A torch zip renamed to .safetensors.
    let p = dir.path().join("renamed.safetensors");
    std::fs::write(&p, b"PK\x03\x04\x14\x00\x00\x00\x08\x00").unwrap();
    let e = err_text(ModelFiles::open(&p));
    assert!(
        e.contains("renamed.safetensors") && e.contains("pickle"),
        "{e}"
    );
    // An empty directory and a missing path.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = err_text(ModelFiles::open(&empty));
    assert!(e.contains("empty") && e.contains("holds no model"), "{e}");
    let missing = dir.path().join("no-such-model");
    let e = err_text(ModelFiles::open(&missing));
    assert!(e.contains("no-such-model"), "{e}");
}

#[test]
fn sharded_directories_with_lying_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = shard_model();
    let fresh = |name: &str| {
        let out = dir.path().join(name);
        write_dir(&out, &tensors, 250);
        out
    };
    let set_index = |out: &Path, f: &dyn Fn(&mut serde_json::Value)| {
        let p = out.join("model.safetensors.index.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    };

    let out = fresh("missing");
    std::fs::remove_file(out.join("model-00002-of-00004.safetensors")).unwrap();
    let e = err_text(ModelFiles::open(&out));
    assert!(
        e.contains("model.safetensors.index.json")
            && e.contains("model-00002-of-00004.safetensors")
            && e.contains("does not exist")
            && e.contains("`c`"),
        "{e}"
    );

    let out = fresh("listed");
    set_index(&out, &|v| {
        v["weight_map"]["ghost"] = "model-00001-of-00004.safetensors".into();
    });
    let e = err_text(ModelFiles::open(&out));
    assert!(
        e.contains("model-00001-of-00004.safetensors")
            && e.contains("`ghost` is listed")
            && e.contains("not in it"),
        "{e}"
    );

    let out = fresh("unlisted");
    set_index(&out, &|v| {
        v["weight_map"].as_object_mut().unwrap().remove("b");
    });
    let e = err_text(ModelFiles::open(&out));
    assert!(
        e.contains("model-00001-of-00004.safetensors")
            && e.contains("`b`")
            && e.contains("does not list"),
        "{e}"
    );

    let out = fresh("moved");
    set_index(&out, &|v| {
        v["weight_map"]["b"] = "model-00002-of-00004.safetensors".into();
    });
    let e = err_text(ModelFiles::open(&out));
    assert!(
        e.contains("`b`") && e.contains("places in model-00002-of-00004"),
        "{e}"
    );

    let out = fresh("total");
    set_index(&out, &|v| v["metadata"]["total_size"] = 751.into());
    let e = err_text(ModelFiles::open(&out));
    assert!(
        e.contains("index.json") && e.contains("751") && e.contains("750"),
        "{e}"
    );

    let out = fresh("no-total");
    set_index(&out, &|v| {
        v.as_object_mut().unwrap().remove("metadata");
    });
    assert_eq!(ModelFiles::open(&out).unwrap().tensors().len(), 5);

    let out = fresh("escape");
    set_index(&out, &|v| {
        v["weight_map"]["a"] = "../missing/model.safetensors".into()
    });
    let e = err_text(ModelFiles::open(&out));
    assert!(
        e.contains("index.json") && e.contains("inside the model directory"),
        "{e}"
    );

    let out = fresh("huge");
    std::fs::OpenOptions::new()
        .write(true)
        .open(out.join("model.safetensors.index.json"))
        .unwrap()
        .set_len((100 << 20) + 1)
        .unwrap();
    let e = err_text(ModelFiles::open(&out));
    assert!(e.contains("index.json") && e.contains("limit"), "{e}");

    let out = fresh("garbage");
    std::fs::write(
        out.join("model.safetensors.index.json"),
        b"{\"weight_map\": [",
    )
    .unwrap();
    let e = err_text(ModelFiles::open(&out));
    assert!(
        e.contains("index.json") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn directories_without_index() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("loose");
    std::fs::create_dir(&d).unwrap();
    let one = |name: &str, t: &str| {
        write_safetensors(
            &d.join(name),
            &[(t.to_string(), DType::U8, vec![2], vec![1, 2])],
            md(&[("file", name)]),
        )
        .unwrap()
    };
    one("b.safetensors", "y");
    one("a.safetensors", "x");
    std::fs::write(d.join("notes.txt"), "hi").unwrap();
    let m = ModelFiles::open(&d).unwrap();
    assert_eq!(
        m.files(),
        &[d.join("a.safetensors"), d.join("b.safetensors")]
    );
    assert_eq!(
        m.metadata()["file"],
        "a.safetensors",
        "the first file's metadata"
    );
    assert_eq!(m.tensors()["y"].file, 1);
    one("c.safetensors", "x");
    let e = err_text(ModelFiles::open(&d));
    assert!(
        e.contains("`x`") && e.contains("a.safetensors") && e.contains("c.safetensors"),
        "{e}"
    );
    // model.safetensors wins over the loose files.
    one("model.safetensors", "only");
    let m = ModelFiles::open(&d).unwrap();
    assert_eq!(m.tensors().keys().collect::<Vec<_>>(), ["only"]);
}

#[test]
fn side_files_are_copied_when_present() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (dir.path().join("from"), dir.path().join("to"));
    std::fs::create_dir_all(&from).unwrap();
    std::fs::create_dir_all(&to).unwrap();
    std::fs::write(from.join("config.json"), "{\"a\":1}").unwrap();
    std::fs::write(from.join("tokenizer.json"), "{}").unwrap();
    std::fs::write(from.join("other.txt"), "x").unwrap();
    // `to` is created when missing.
    std::fs::remove_dir(&to).unwrap();
    let copied = copy_side_files(&from, &to).unwrap();
    assert_eq!(copied, ["config.json", "tokenizer.json"]);
    assert_eq!(dir_names(&to), ["config.json", "tokenizer.json"]);
    assert_eq!(
        std::fs::read_to_string(to.join("config.json")).unwrap(),
        "{\"a\":1}"
    );
}
