//! Peak memory of a real merge: two generated sharded models of 512 MiB each (f32, eight 64 MiB
//! tensors, 128 MiB shards) merged with `linear` into a sharded directory, in a child process
//! whose peak resident set (VmHWM) must stay under 384 MiB, whatever the model size: tensors are
//! read by positioned reads in chunks and written in place, never held whole.

use std::path::Path;
use std::process::Command;

use crdt_merge_model::io::{OutputTensor, OutputWriter};
use crdt_merge_model::merge::{merge_models, MergeRequest, ModelSpec, NoProgress, Setting};
use crdt_merge_model::params::ParamValue;
use crdt_merge_model::DType;

const TENSORS: usize = 8;
const ELEMS: usize = 16 << 20; // 64 MiB of f32
const SHARD: u64 = 128 << 20;

/// Writes a model of TENSORS f32 tensors of pseudo-random values, chunk by chunk.
fn generate(dir: &Path, seed: u64) {
    let tensors: Vec<OutputTensor> = (0..TENSORS)
        .map(|i| OutputTensor { name: format!("model.layers.{i}.mlp.weight"), dtype: DType::F32, shape: vec![4096, ELEMS / 4096] })
        .collect();
    let w = OutputWriter::create(dir, tensors, Default::default(), SHARD).expect("create model");
    let mut x = seed | 1;
    let chunk = 1 << 20;
    for i in 0..TENSORS {
        let name = format!("model.layers.{i}.mlp.weight");
        let mut bytes = Vec::with_capacity(chunk * 4);
        for start in (0..ELEMS).step_by(chunk) {
            bytes.clear();
            for _ in 0..chunk {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            w.write(&name, start, &bytes).expect("write chunk");
        }
    }
    w.finish().expect("finish model");
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// The child: merges the models named by the environment and prints its peak RSS.
#[test]
fn child_merge_for_peak_memory() {
    let Ok(root) = std::env::var("CRDT_MODEL_MEMORY_CHILD") else { return };
    let root = Path::new(&root);
    let mut request = MergeRequest::new("linear", root.join("out"));
    request.shard_size = SHARD;
    for m in ["a", "b"] {
        request.models.push(ModelSpec {
            label: m.to_string(),
            path: root.join(m),
            weight: Some(Setting::Value(ParamValue::Num(1.0))),
            ..ModelSpec::default()
        });
    }
    merge_models(&request, &NoProgress).expect("merge");
    println!("VMHWM_KIB={}", vm_hwm_kib());
}

#[test]
fn merging_two_512_mib_models_stays_under_384_mib() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("a"), 1);
    generate(&dir.path().join("b"), 2);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_merge_for_peak_memory", "--nocapture", "--test-threads", "1"])
        .env("CRDT_MODEL_MEMORY_CHILD", dir.path())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let kib: u64 = stdout
        .lines()
        .find_map(|l| l.split("VMHWM_KIB=").nth(1))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VMHWM line in: {stdout}"));
    let shards: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
    assert!(shards.len() >= 5, "4 shards and an index expected, got {}", shards.len());
    println!("peak RSS of the merge: {} MiB", kib / 1024);
    assert!(kib < 384 * 1024, "peak RSS {} MiB is over 384 MiB", kib / 1024);
}
