//! The merge driver without the CLI around it, for `make bench-model` (a release build of this
//! crate takes seconds; the CLI's release build compiles DataFusion, about 22 minutes here).
//!
//! ```text
//! model_merge STRATEGY OUT [--base B] [--param K=V]... [--weight W]... MODEL...
//! ```
//! `--weight` values apply to the models in the order given. Prints wall seconds and peak RSS.

use std::path::PathBuf;
use std::time::Instant;

use crdt_merge_model::merge::{merge_models, MergeRequest, ModelSpec, NoProgress, Setting};
use crdt_merge_model::params::ParamValue;

fn main() {
    let mut args = std::env::args().skip(1);
    let strategy = args.next().expect("STRATEGY");
    let out = PathBuf::from(args.next().expect("OUT"));
    let mut request = MergeRequest::new(&strategy, &out);
    let mut weights = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--base" => {
                let b = args.next().expect("--base B");
                request.base = Some(ModelSpec {
                    label: b.clone(),
                    path: b.into(),
                    ..ModelSpec::default()
                });
            }
            "--param" => {
                let kv = args.next().expect("--param K=V");
                let (k, v) = kv.split_once('=').expect("K=V");
                request
                    .params
                    .push((k.to_string(), Setting::Value(ParamValue::parse(v))));
            }
            "--weight" => weights.push(
                args.next()
                    .expect("--weight W")
                    .parse::<f64>()
                    .expect("a number"),
            ),
            "--shard-size" => {
                request.shard_size =
                    crdt_merge_model::io::parse_size(&args.next().expect("SIZE")).expect("size")
            }
            m => request.models.push(ModelSpec {
                label: m.to_string(),
                path: m.into(),
                ..ModelSpec::default()
            }),
        }
    }
    for (m, w) in request.models.iter_mut().zip(weights) {
        m.weight = Some(Setting::Value(ParamValue::Num(w)));
    }
    let t = Instant::now();
    match merge_models(&request, &NoProgress) {
        Ok(report) => {
            let hwm = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
                })
                .unwrap_or_default();
            println!(
                "{{\"seconds\": {:.3}, \"tensors\": {}, \"bytes\": {}, \"vmhwm\": \"{hwm}\"}}",
                t.elapsed().as_secs_f64(),
                report.tensors,
                report.bytes
            );
        }
        Err(e) => {
            eprintln!("model_merge: error: {e}");
            std::process::exit(2);
        }
    }
}
