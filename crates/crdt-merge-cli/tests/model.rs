//! `crdt-merge model ...` end to end: merges on real safetensors files, every bad-input case
//! (non-zero exit, no panic, stderr names the file or tensor), and the examples of
//! `docs/model.md`.

use std::path::Path;

use assert_cmd::Command;
use tempfile::TempDir;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = Command::cargo_bin("crdt-merge")
        .expect("the crdt-merge binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run crdt-merge");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A failing run: exit 2 or 3, one `crdt-merge: error:` line naming every `needle`, no panic.
fn fails(r: &Run, needles: &[&str]) {
    assert!(r.code == 2 || r.code == 3, "exit {}: {}", r.code, r.stderr);
    assert!(r.stderr.starts_with("crdt-merge: error:"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("internal error"),
        "{}",
        r.stderr
    );
    for n in needles {
        assert!(r.stderr.contains(n), "stderr lacks `{n}`: {}", r.stderr);
    }
}

/// One tensor: name, safetensors dtype, shape, little-endian bytes.
type T<'a> = (&'a str, &'a str, Vec<usize>, Vec<u8>);

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes a safetensors file by hand (independent of the crate under test).
fn write_st(path: &Path, tensors: &[T<'_>]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let begin = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    let mut h = serde_json::Value::Object(header).to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

/// base, a, b: two tensors each (`w` [2,2], `b` [3]), plus an integer tensor `ids` everywhere.
fn models() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ids = (
        "ids",
        "I64",
        vec![2],
        [7i64, 9].iter().flat_map(|x| x.to_le_bytes()).collect(),
    );
    write_st(
        &dir.path().join("base.safetensors"),
        &[
            ("w", "F32", vec![2, 2], f32s(&[0.0, 0.0, 0.0, 0.0])),
            ("b", "F32", vec![3], f32s(&[1.0, 1.0, 1.0])),
            ids.clone(),
        ],
    );
    write_st(
        &dir.path().join("a.safetensors"),
        &[
            ("w", "F32", vec![2, 2], f32s(&[1.0, 2.0, 3.0, 4.0])),
            ("b", "F32", vec![3], f32s(&[2.0, 0.0, 1.0])),
            ids.clone(),
        ],
    );
    write_st(
        &dir.path().join("b.safetensors"),
        &[
            ("w", "F32", vec![2, 2], f32s(&[3.0, 2.0, 1.0, 0.0])),
            ("b", "F32", vec![3], f32s(&[0.0, 2.0, 1.0])),
            ids,
        ],
    );
    // Two rank-1 LoRA adapters of one 2 × 2 module (docs/model.md's LoRA example), and a
    // base for them.
    write_st(
        &dir.path().join("lora_base.safetensors"),
        &[
            (
                "layer.q_proj.weight",
                "F32",
                vec![2, 2],
                f32s(&[1.0, 1.0, 1.0, 1.0]),
            ),
            ("norm", "F32", vec![2], f32s(&[1.0, 1.0])),
        ],
    );
    let m = "base_model.model.layer.q_proj";
    for (name, a, b, alpha) in [
        ("lora1", [1.0f32, 0.0], [1.0f32, 2.0], 2),
        ("lora2", [0.0, 1.0], [1.0, 1.0], 1),
    ] {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        write_st(
            &d.join("adapter_model.safetensors"),
            &[
                (&format!("{m}.lora_A.weight"), "F32", vec![1, 2], f32s(&a)),
                (&format!("{m}.lora_B.weight"), "F32", vec![2, 1], f32s(&b)),
            ],
        );
        std::fs::write(
            d.join("adapter_config.json"),
            format!(
                "{{\"peft_type\": \"LORA\", \"r\": 1, \"lora_alpha\": {alpha}, \
                 \"target_modules\": [\"q_proj\"], \"base_model_name_or_path\": \"tiny\"}}"
            ),
        )
        .unwrap();
    }
    dir
}

fn read_f32(path: &Path, tensor: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(tensor).unwrap();
    t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn linear_merge_weights_and_order_free_bytes() {
    let dir = models();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "b.safetensors",
            "-s",
            "linear",
            "-w",
            "a.safetensors=1",
            "-w",
            "b.safetensors=3",
            "-o",
            "ab.safetensors",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        read_f32(&dir.path().join("ab.safetensors"), "w"),
        vec![2.5, 2.0, 1.5, 1.0]
    );
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "b.safetensors",
            "a.safetensors",
            "-s",
            "linear",
            "-w",
            "b.safetensors=3",
            "-w",
            "a.safetensors=1",
            "-q",
            "-o",
            "ba.safetensors",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "-q prints nothing: {}", r.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("ab.safetensors")).unwrap(),
        std::fs::read(dir.path().join("ba.safetensors")).unwrap()
    );
}

#[test]
fn directory_output_shards_and_copies_side_files() {
    let dir = models();
    std::fs::create_dir(dir.path().join("basedir")).unwrap();
    std::fs::copy(
        dir.path().join("base.safetensors"),
        dir.path().join("basedir/model.safetensors"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("basedir/config.json"),
        "{\"model_type\": \"llama\"}",
    )
    .unwrap();
    std::fs::write(dir.path().join("basedir/tokenizer.json"), "{}").unwrap();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "b.safetensors",
            "--base",
            "basedir",
            "-s",
            "task_arithmetic",
            "-w",
            "a.safetensors=1",
            "-w",
            "b.safetensors=1",
            "--shard-size",
            "20",
            "-q",
            "-o",
            "out",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.path().join("out");
    assert!(out.join("model.safetensors.index.json").exists());
    assert!(out.join("config.json").exists() && out.join("tokenizer.json").exists());
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("model.safetensors.index.json")).unwrap(),
    )
    .unwrap();
    let map = index["weight_map"].as_object().unwrap();
    assert_eq!(map.len(), 3);
    let w_file = map["w"].as_str().unwrap();
    // task arithmetic: base + Σ wᵢ(θᵢ − base) = a + b here.
    assert_eq!(read_f32(&out.join(w_file), "w"), vec![4.0, 4.0, 4.0, 4.0]);
}

#[test]
fn strategies_lists_every_name() {
    let dir = models();
    let r = run(dir.path(), &["model", "strategies", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names: Vec<String> = r
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for n in ["linear", "ties", "dare_ties", "weight_average"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
}

#[test]
fn bad_input_unknown_strategy_lists_valid_ones() {
    let dir = models();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "-s",
            "avg",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["avg", "linear"]);
}

#[test]
fn bad_input_unknown_parameter_lists_valid_ones() {
    let dir = models();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "b.safetensors",
            "-s",
            "linear",
            "-w",
            "a.safetensors=1",
            "-w",
            "b.safetensors=1",
            "-p",
            "densty=0.5",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["densty", "normalize"]);
}

#[test]
fn bad_input_missing_base_and_missing_weight() {
    let dir = models();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "b.safetensors",
            "-s",
            "task_arithmetic",
            "-w",
            "a.safetensors=1",
            "-w",
            "b.safetensors=1",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["task_arithmetic", "base"]);
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "b.safetensors",
            "-s",
            "linear",
            "-w",
            "a.safetensors=1",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["b.safetensors", "weight"]);
    assert!(!dir.path().join("o.safetensors").exists());
}

#[test]
fn bad_input_shape_mismatch_names_tensor_and_files() {
    let dir = models();
    write_st(
        &dir.path().join("c.safetensors"),
        &[
            ("w", "F32", vec![4], f32s(&[1.0; 4])),
            ("b", "F32", vec![3], f32s(&[0.0; 3])),
        ],
    );
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "c.safetensors",
            "-s",
            "weight_average",
            "--missing",
            "present",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["`w`", "c.safetensors", "[4]"]);
}

#[test]
fn bad_input_missing_tensor_and_mixed_types() {
    let dir = models();
    write_st(
        &dir.path().join("c.safetensors"),
        &[("w", "F32", vec![2, 2], f32s(&[1.0; 4]))],
    );
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "c.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["`b`", "c.safetensors", "--missing present"]);
    let half: Vec<u8> = [0x3c00u16; 4]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    write_st(
        &dir.path().join("h.safetensors"),
        &[("w", "F16", vec![2, 2], half.clone())],
    );
    write_st(
        &dir.path().join("g.safetensors"),
        &[("w", "F32", vec![2, 2], f32s(&[1.0; 4]))],
    );
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "g.safetensors",
            "h.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["mixed float types", "--dtype"]);
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "g.safetensors",
            "h.safetensors",
            "-s",
            "weight_average",
            "--dtype",
            "float16",
            "-q",
            "-o",
            "o.safetensors",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn bad_input_nonfinite_names_file_tensor_and_index() {
    let dir = models();
    write_st(
        &dir.path().join("n.safetensors"),
        &[("w", "F32", vec![2, 2], f32s(&[1.0, f32::NAN, 0.0, 0.0]))],
    );
    write_st(
        &dir.path().join("g.safetensors"),
        &[("w", "F32", vec![2, 2], f32s(&[1.0; 4]))],
    );
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "g.safetensors",
            "n.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(
        &r,
        &["n.safetensors", "`w`", "element 1", "--allow-nonfinite"],
    );
    assert!(
        !dir.path().join("o.safetensors").exists(),
        "no partial output"
    );
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "g.safetensors",
            "n.safetensors",
            "-s",
            "weight_average",
            "--allow-nonfinite",
            "-q",
            "-o",
            "o.safetensors",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn bad_input_pickles_and_lying_files() {
    let dir = models();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"PK\x03\x04").unwrap();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "pytorch_model.bin",
            "a.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["pytorch_model.bin", "safetensors"]);
    // Truncated: header length says 1000 bytes, file has 20.
    let mut t = 1000u64.to_le_bytes().to_vec();
    t.extend_from_slice(b"{\"w\": {}}   ");
    std::fs::write(dir.path().join("t.safetensors"), t).unwrap();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "t.safetensors",
            "a.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["t.safetensors"]);
    // Lying offsets: the tensor claims bytes past the end of the file.
    let h = br#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let mut l = (h.len() as u64).to_le_bytes().to_vec();
    l.extend_from_slice(h);
    l.extend_from_slice(&[0u8; 8]);
    std::fs::write(dir.path().join("l.safetensors"), l).unwrap();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "l.safetensors",
            "a.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["l.safetensors"]);
    // An index naming a shard that is not there.
    std::fs::create_dir(dir.path().join("sharded")).unwrap();
    std::fs::write(
        dir.path().join("sharded/model.safetensors.index.json"),
        r#"{"metadata": {}, "weight_map": {"w": "model-00001-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "sharded",
            "a.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["model-00001-of-00002.safetensors"]);
}

#[test]
fn bad_input_non_float_tensors_must_match() {
    let dir = models();
    write_st(
        &dir.path().join("c.safetensors"),
        &[
            ("w", "F32", vec![2, 2], f32s(&[1.0; 4])),
            ("b", "F32", vec![3], f32s(&[0.0; 3])),
            (
                "ids",
                "I64",
                vec![2],
                [7i64, 8].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        ],
    );
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "a.safetensors",
            "c.safetensors",
            "-s",
            "weight_average",
            "-o",
            "o.safetensors",
        ],
    );
    fails(&r, &["`ids`", "c.safetensors"]);
}

#[test]
fn mergekit_yaml_config_runs() {
    let dir = models();
    std::fs::write(
        dir.path().join("merge.yml"),
        "merge_method: task_arithmetic\nbase_model: base.safetensors\nmodels:\n  - model: a.safetensors\n    parameters:\n      weight: 1.0\n  - model: b.safetensors\n    parameters:\n      weight: [0, 1]\nparameters:\n  lambda: 0.5\ndtype: float32\n",
    )
    .unwrap();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "--config",
            "merge.yml",
            "-q",
            "-o",
            "y.safetensors",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // `w` has no layer index: mergekit puts it at t = 0, so b's weight is 0; λ = 0.5.
    assert_eq!(
        read_f32(&dir.path().join("y.safetensors"), "w"),
        vec![0.5, 1.0, 1.5, 2.0]
    );
    std::fs::write(
        dir.path().join("bad.yml"),
        "merge_method: linear\nmodels: [a.safetensors]\nslices: []\nfoo: 1\n",
    )
    .unwrap();
    let r = run(
        dir.path(),
        &[
            "model",
            "merge",
            "--config",
            "bad.yml",
            "-o",
            "y2.safetensors",
        ],
    );
    fails(&r, &["bad.yml", "`foo`"]);
}

/// Every ```console block of docs/model.md, run in a directory holding `models()`.
#[test]
fn docs_model_examples_run() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/model.md");
    let text = std::fs::read_to_string(&doc).expect("docs/model.md");
    let dir = models();
    let mut in_block = false;
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = line.trim() == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push((cmd.to_string(), Vec::new()));
        } else if let Some(last) = steps.last_mut() {
            last.1.push(line.to_string());
        }
    }
    assert!(steps.len() >= 4, "too few examples in docs/model.md");
    for (cmd, want) in steps {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(
            words[0], "crdt-merge",
            "docs/model.md: unsupported command `{cmd}`"
        );
        let r = run(dir.path(), &words[1..]);
        let have = if r.code == 0 {
            r.stdout
        } else {
            format!("{}[exit {}]\n", r.stderr, r.code)
        };
        let have: Vec<&str> = have.lines().map(str::trim_end).collect();
        let want: Vec<&str> = want.iter().map(|l| l.trim_end()).collect();
        assert_eq!(have, want, "docs/model.md: `{cmd}`");
    }
}

#[test]
fn bad_input_states_corrupt_blob_mismatched_states_and_non_empty_dirs() {
    let dir = models();
    let p = dir.path();
    let ok = |args: &[&str]| {
        let r = run(p, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.stdout
    };
    ok(&["model", "state", "init", "s1", "--strategy", "linear"]);
    ok(&[
        "model",
        "state",
        "add",
        "s1",
        "a.safetensors",
        "--id",
        "team-a",
    ]);
    // A flipped byte in a blob is found before any tensor is merged.
    let blob = std::fs::read_dir(p.join("s1/blobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let r = run(
        p,
        &["model", "state", "resolve", "s1", "-o", "o.safetensors"],
    );
    fails(&r, &[blob.file_name().unwrap().to_str().unwrap(), "team-a"]);
    // States with different strategies (or parameters) refuse to merge, naming the field.
    ok(&[
        "model",
        "state",
        "init",
        "s2",
        "--strategy",
        "linear",
        "--param",
        "normalize=false",
    ]);
    let r = run(p, &["model", "state", "merge", "s2", "s1"]);
    fails(&r, &["normalize"]);
    // init refuses a non-empty directory; unknown strategies and parameters are named.
    let r = run(p, &["model", "state", "init", "s1", "--strategy", "linear"]);
    fails(&r, &["s1"]);
    let r = run(
        p,
        &[
            "model",
            "state",
            "init",
            "s3",
            "--strategy",
            "ties",
            "--param",
            "fitness_fn=x",
        ],
    );
    fails(&r, &["fitness_fn"]);
    // Removing an unknown label and re-adding removed content at the same version are errors.
    let r = run(p, &["model", "state", "remove", "s2", "nobody"]);
    fails(&r, &["nobody"]);
    ok(&[
        "model",
        "state",
        "add",
        "s2",
        "b.safetensors",
        "--id",
        "team-b",
    ]);
    ok(&["model", "state", "remove", "s2", "team-b"]);
    let r = run(
        p,
        &[
            "model",
            "state",
            "add",
            "s2",
            "b.safetensors",
            "--id",
            "team-b",
        ],
    );
    fails(&r, &["higher version"]);
    ok(&[
        "model",
        "state",
        "add",
        "s2",
        "b.safetensors",
        "--id",
        "team-b",
        "--version",
        "2",
    ]);
    let shown = ok(&["model", "state", "show", "s2"]);
    assert!(shown.contains("team-b"), "{shown}");
}
