//! Command-line access to the wire format, for the Python interop tests and for regenerating the
//! golden files.
//!
//! ```text
//! wire_tool decode FILE            print the state's canonical JSON
//! wire_tool decode-batch FILE      print a JSON array of the batch's states
//! wire_tool reencode IN OUT        decode IN, write its canonical encoding to OUT
//! wire_tool merge A B              print the JSON of the join of two states
//! wire_tool samples DIR            write the sample states as DIR/NAME.crdt + DIR/NAME.json
//! wire_tool golden DIR             write the samples and DIR/README.md (also lists any other
//!                                  .crdt files already in DIR, such as Python-written ones)
//! wire_tool sketch KIND OUT V...   build a sketch of the text values V (KIND: hll, hll-upstream,
//!                                  bloom, cms, minhash) as the SQL aggregate does; write it to OUT
//! wire_tool scalar NAME IN OUT     apply a one-argument bytes scalar (crdt_hll_to_datasketches,
//!                                  ...) to the bytes in IN; write the result to OUT
//! ```
//! Errors go to stderr with exit status 2.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use crdt_merge_kernel::state::{
    AgentState, AnyState, Datum, DottedVersionVector, GCounter, GossipState, LwwMap, LwwRegister,
    OrSet, PNCounter, Timestamp, VectorClock,
};
use crdt_merge_kernel::wire;

/// A named sample state; `python` says whether the Python library can read it.
struct Sample {
    name: &'static str,
    about: &'static str,
    python: bool,
    state: AnyState,
}

fn gc(pairs: &[(&str, u64)]) -> GCounter {
    let mut g = GCounter::new();
    for (r, c) in pairs {
        g.observe(r, *c);
    }
    g
}

fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    let mut push = |name, about, python, state: AnyState| {
        out.push(Sample {
            name,
            about,
            python,
            state,
        })
    };
    push(
        "g_counter_empty",
        "G-Counter with no counts",
        true,
        GCounter::new().into(),
    );
    push(
        "g_counter",
        "G-Counter, three replicas (int8, int64 and non-ASCII id)",
        true,
        gc(&[("n1", 5), ("n2", 300), ("é-node", 70_000)]).into(),
    );
    push(
        "g_counter_i64_max",
        "G-Counter holding i64::MAX (largest count Python can read)",
        true,
        gc(&[("a", i64::MAX as u64)]).into(),
    );
    push(
        "g_counter_u64",
        "G-Counter with a count above i64::MAX (value tag 0x0B; Python cannot read it)",
        false,
        gc(&[("a", u64::MAX), ("b", 1)]).into(),
    );
    let mut pn = PNCounter::new();
    pn.observe("a", Some(10), Some(4));
    pn.observe("b", Some(3), None);
    pn.observe("c", None, Some(20));
    push("pn_counter", "PN-Counter, value -11", true, pn.into());
    push(
        "pn_counter_empty",
        "PN-Counter, zero",
        true,
        PNCounter::new().into(),
    );
    push(
        "lww_register_empty",
        "LWW-Register bottom",
        true,
        LwwRegister::new().into(),
    );
    push(
        "lww_register",
        "LWW-Register, text value, float timestamp",
        true,
        LwwRegister::with(Datum::str("hello"), 1_700_000_000.25, "node-a").into(),
    );
    let nested = {
        let mut d = BTreeMap::new();
        d.insert(
            Datum::str("list"),
            Datum::List(vec![Datum::Int(1), Datum::None, Datum::Bool(true)]),
        );
        d.insert(Datum::str("bytes"), Datum::Bytes(vec![0, 1, 0xfe]));
        d.insert(Datum::str("float"), Datum::Float(-2.5));
        d.insert(
            Datum::str("set"),
            Datum::Set(BTreeSet::from([
                Datum::Int(3),
                Datum::Int(1),
                Datum::Int(200),
            ])),
        );
        d.insert(
            Datum::str("int_keys"),
            Datum::Dict(BTreeMap::from([
                (Datum::Int(2), Datum::str("two")),
                (Datum::Int(-1), Datum::str("minus one")),
            ])),
        );
        Datum::Dict(d)
    };
    push(
        "lww_register_nested",
        "LWW-Register, nested value, integer (millisecond) timestamp",
        true,
        LwwRegister::with(nested, 1_700_000_000_123i64, "n2").into(),
    );
    let mut s = OrSet::new();
    for (e, r) in [
        (Datum::str("apple"), "r1"),
        (Datum::Int(42), "r1"),
        (Datum::Float(1.5), "r2"),
        (Datum::Bool(true), "r2"),
        (Datum::str("apple"), "r2"),
    ] {
        s.add(e, r).expect("scalar element");
    }
    push(
        "or_set",
        "OR-Set, mixed element types, no removes",
        true,
        s.clone().into(),
    );
    s.add(Datum::str("gone"), "r1").expect("scalar element");
    s.remove(&Datum::str("gone"));
    s.remove(&Datum::Int(42));
    s.add(Datum::Int(42), "r3").expect("scalar element");
    push(
        "or_set_tombstones",
        "OR-Set after removes (tombstones) and a re-add",
        true,
        s.into(),
    );
    push("or_set_empty", "OR-Set, empty", true, OrSet::new().into());
    let mut m = LwwMap::new();
    m.set("name", Datum::str("Ada"), 10.0, "a");
    m.set("city", Datum::str("London"), 11.0, "b");
    m.delete("city", 12.0);
    m.set("age", Datum::Int(36), 5.0, "a");
    m.delete("age", 4.0);
    m.set("tie", Datum::Int(1), 7.0, "a");
    m.delete("tie", 7.0);
    push(
        "lww_map",
        "LWW-Map: live key, deleted key, key written after its delete, delete on an equal clock",
        true,
        m.into(),
    );
    push(
        "lww_map_empty",
        "LWW-Map, empty",
        true,
        LwwMap::new().into(),
    );
    push(
        "vector_clock",
        "Vector clock, three nodes",
        true,
        VectorClock::from_counts([("b", 2), ("a", 1), ("ü\"q", 70_000)]).into(),
    );
    push(
        "vector_clock_empty",
        "Vector clock, empty",
        true,
        VectorClock::new().into(),
    );
    push(
        "dotted_version_vector",
        "DVV with a dot",
        true,
        DottedVersionVector::from_parts(
            VectorClock::from_counts([("a", 3), ("b", 1)]),
            Some(("b".into(), 2)),
        )
        .into(),
    );
    push(
        "dotted_version_vector_no_dot",
        "DVV without a dot",
        true,
        DottedVersionVector::from_parts(VectorClock::from_counts([("a", 1)]), None).into(),
    );
    // n1 writes k="zzz" and j=5; n2 (a copy) overwrites k with "aaa"; their join.
    let mut g = GossipState::new();
    g.write("n1", "k", Datum::str("zzz"));
    let mut h = g.clone();
    h.write("n2", "k", Datum::str("aaa"));
    g.write("n1", "j", Datum::Int(5));
    g.join(&h);
    let mut agent = AgentState::new("planner", 2).expect("an agent");
    agent
        .add_fact(
            "goal",
            Datum::str("ship"),
            0.75,
            Some(Timestamp::from(1)),
            None,
        )
        .expect("a fact");
    agent.add_tag(Datum::str("release")).expect("a tag");
    agent.increment("commits", 3).expect("a count");
    for t in 1..=3 {
        agent
            .add_message(
                &format!("m{t}"),
                "assistant",
                Some(Timestamp::from(t)),
                Datum::None,
            )
            .expect("a message");
    }
    push(
        "agent_state",
        "Agent state: a fact, a tag, a counter and the newest 2 of 3 messages",
        false,
        agent.into(),
    );
    push(
        "gossip_state",
        "Gossip store: a newer write beside a stale greater one, and a second key",
        false,
        g.into(),
    );
    out
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: &[String]) -> Result<(), String> {
    let s = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or("missing argument (see the file's docs)")
    };
    match s(0)? {
        "decode" => {
            let state = wire::decode(&read(s(1)?)?).map_err(|e| e.to_string())?;
            println!("{}", state.to_json());
        }
        "decode-batch" => {
            let states = wire::decode_batch(&read(s(1)?)?, &wire::DecodeOptions::default())
                .map_err(|e| e.to_string())?;
            let all: Vec<_> = states.iter().map(AnyState::to_json).collect();
            println!("{}", serde_json::Value::Array(all));
        }
        "reencode" => {
            let state = wire::decode(&read(s(1)?)?).map_err(|e| e.to_string())?;
            write(Path::new(s(2)?), &wire::encode(&state))?;
        }
        "merge" => {
            let m = wire::merge_bytes(&read(s(1)?)?, &read(s(2)?)?).map_err(|e| e.to_string())?;
            println!("{}", wire::to_json_bytes(&m).map_err(|e| e.to_string())?);
        }
        "samples" => {
            let dir = Path::new(s(1)?);
            for sample in samples() {
                write(
                    &dir.join(format!("{}.crdt", sample.name)),
                    &wire::encode(&sample.state),
                )?;
                write(
                    &dir.join(format!("{}.json", sample.name)),
                    sample.state.to_json().to_string().as_bytes(),
                )?;
                if !sample.python {
                    write(&dir.join(format!("{}.rust-only", sample.name)), b"")?;
                }
            }
        }
        "golden" => golden(Path::new(s(1)?))?,
        "scalar" => {
            let name = s(1)?;
            let input: arrow_array::ArrayRef = std::sync::Arc::new(arrow_array::BinaryArray::from(
                vec![read(s(2)?)?.as_slice()],
            ));
            let out = crdt_merge_kernel::catalogue::invoke_scalar(name, &[input], 1)
                .map_err(|e| e.to_string())?;
            let b = out
                .as_any()
                .downcast_ref::<arrow_array::BinaryArray>()
                .ok_or("not a bytes scalar")?;
            write(Path::new(s(3)?), b.value(0))?;
        }
        "sketch" => {
            use std::sync::Arc;
            let values: Vec<&str> = args[3.min(args.len())..]
                .iter()
                .map(String::as_str)
                .collect();
            let n = values.len();
            let v: arrow_array::ArrayRef = Arc::new(arrow_array::StringArray::from(values));
            let int = |x: i64| -> arrow_array::ArrayRef {
                Arc::new(arrow_array::Int64Array::from(vec![x; n]))
            };
            let text = |x: &str| -> arrow_array::ArrayRef {
                Arc::new(arrow_array::StringArray::from(vec![x; n]))
            };
            let (name, cols) = match s(1)? {
                "hll" => ("crdt_hll_agg", vec![v]),
                "hll-upstream" => ("crdt_hll_agg", vec![v, int(14), text("upstream")]),
                "bloom" => (
                    "crdt_bloom_agg",
                    vec![
                        v,
                        int(100),
                        Arc::new(arrow_array::Float64Array::from(vec![0.01; n])) as _,
                    ],
                ),
                "cms" => ("crdt_cms_agg", vec![v.clone(), v, int(1), int(50), int(3)]),
                "minhash" => ("crdt_minhash_agg", vec![v]),
                other => return Err(format!("unknown sketch kind {other:?}")),
            };
            let types: Vec<_> = cols.iter().map(|c| c.data_type().clone()).collect();
            let agg =
                crdt_merge_kernel::catalogue::aggregate(name, &types).map_err(|e| e.to_string())?;
            let mut st = agg.new_state();
            agg.update(&cols, &mut crdt_merge_kernel::strategy::Single(&mut st))
                .map_err(|e| e.to_string())?;
            let out = agg.finish(&[&st]).map_err(|e| e.to_string())?;
            let b = out
                .as_any()
                .downcast_ref::<arrow_array::BinaryArray>()
                .ok_or("not bytes")?;
            write(Path::new(s(2)?), b.value(0))?;
        }
        other => return Err(format!("unknown command {other:?}")),
    }
    Ok(())
}

/// Writes the samples and a README listing every `.crdt` file in `dir` with its decoded JSON.
fn golden(dir: &Path) -> Result<(), String> {
    let mut about = BTreeMap::new();
    for sample in samples() {
        write(
            &dir.join(format!("{}.crdt", sample.name)),
            &wire::encode(&sample.state),
        )?;
        let note = if sample.python {
            ""
        } else {
            " Not readable by the Python library."
        };
        about.insert(
            format!("{}.crdt", sample.name),
            format!("{}.{note}", sample.about),
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".crdt"))
        .collect();
    names.sort();
    let mut md = String::from(GOLDEN_INTRO);
    for name in names {
        let bytes = read(&dir.join(&name).to_string_lossy())?;
        let state = wire::decode(&bytes).map_err(|e| format!("{name}: {e}"))?;
        let what = about.get(&name).cloned().unwrap_or_else(|| {
            "Written by the Python library crdt-merge 0.11.0 (see tests/interop/make_python_golden.py); \
             decoded, not byte-compared."
                .to_owned()
        });
        md.push_str(&format!(
            "\n### {name}\n\n{what} {} bytes, type `{}`.\n\n```json\n{}\n```\n",
            bytes.len(),
            state.type_name(),
            state.to_json()
        ));
    }
    write(&dir.join("README.md"), md.as_bytes())
}

const GOLDEN_INTRO: &str = "# Golden wire files

Each `.crdt` file is one wire frame (see `docs/wire-format.md`). The `wire_golden` test decodes
every file, checks that its canonical JSON (`crdt_to_json`) is the one listed here, and, for files
we write (all but `python_*`), that re-encoding gives the identical bytes. `python_*` files were
written by the Python library crdt-merge 0.11.0 (insertion order, zlib, `element_types`): they
must decode to the listed state, but our canonical bytes differ.

`crashers/` holds inputs found by `scripts/fuzz.sh`; the `wire_crashers` test replays them.

Regenerate (only when the format changes on purpose):
`cargo run -p crdt-merge-kernel --example wire_tool -- golden tests/golden`.

## Files
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wire_tool: {e}");
            ExitCode::from(2)
        }
    }
}
