//! `crdt-merge trust`: the example of docs/trust.md, tampered and forged deltas, revocation,
//! key file modes and the simulator command.

use std::path::Path;

use assert_cmd::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Out {
    let o = Command::cargo_bin("crdt-merge")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    o.stdout
}

/// Every run of 64 hex digits becomes `HEX` (key ids, delta ids, genesis ids are random).
fn normalise(line: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 64 {
            out.push_str("HEX");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in line.trim_end().chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn fixtures(dir: &Path) {
    std::fs::write(
        dir.join("alice.csv"),
        "id,name,_ts\n1,apple,10\n2,pear,11\n",
    )
    .unwrap();
    std::fs::write(dir.join("mallory-a.csv"), "id,name,_ts\n1,MALLORY,99\n").unwrap();
    std::fs::write(dir.join("mallory-b.csv"), "id,name,_ts\n2,MALLORY,99\n").unwrap();
    for (name, w) in [
        ("a", [1.0f32, 2.0, 3.0, 4.0]),
        ("b", [3.0, 2.0, 1.0, 0.0]),
        ("m", [1e3, -1e3, 1e3, -1e3]),
        ("m2", [-1e4, 1e4, -1e4, 1e4]),
    ] {
        write_st(&dir.join(format!("{name}.safetensors")), "w", &w);
    }
}

/// A one-tensor F32 safetensors file, written by hand (independent of the model crate).
fn write_st(path: &Path, name: &str, values: &[f32]) {
    let header = format!(
        r#"{{"{name}":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{}]}}}}"#,
        values.len(),
        4 * values.len()
    );
    let mut h = header.into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

/// Every ```console block of docs/trust.md, in order, in one directory: `$ crdt-merge ...`,
/// `$ cat FILE` and `$ rm FILE`, each followed by its expected output (`HEX` for any 64 hex
/// digits; `[exit N]` after standard error for a failing command).
#[test]
fn docs_trust_examples_run() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/trust.md");
    let text = std::fs::read_to_string(doc).unwrap();
    let d = tempfile::tempdir().unwrap();
    fixtures(d.path());
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = line.trim() == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(c) = line.strip_prefix("$ ") {
            steps.push((c.to_string(), Vec::new()));
        } else if let Some(last) = steps.last_mut() {
            last.1.push(line.to_string());
        }
    }
    assert!(steps.len() >= 12, "too few examples in docs/trust.md");
    for (cmd, want) in steps {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let have = match words[0] {
            "cat" => std::fs::read_to_string(d.path().join(words[1])).unwrap(),
            "rm" => {
                std::fs::remove_file(d.path().join(words[1])).unwrap();
                String::new()
            }
            "crdt-merge" => {
                let o = run(d.path(), &words[1..]);
                if o.code == 0 {
                    o.stdout
                } else {
                    format!("{}[exit {}]\n", o.stderr, o.code)
                }
            }
            c => panic!("docs/trust.md: unsupported command `{c}`"),
        };
        let have: Vec<String> = have.lines().map(normalise).collect();
        let want: Vec<String> = want.iter().map(|l| normalise(l)).collect();
        assert_eq!(have, want, "docs/trust.md: `{cmd}`");
    }
}

fn setup(d: &Path) {
    fixtures(d);
    for k in ["admin", "alice", "mallory"] {
        ok(d, &["trust", "keygen", "-o", &format!("{k}.key")]);
    }
    ok(
        d,
        &[
            "trust",
            "pki",
            "init",
            "--admin",
            "admin.key.pub",
            "-o",
            "team.pki",
        ],
    );
    for k in ["alice", "mallory"] {
        ok(
            d,
            &[
                "trust",
                "pki",
                "register",
                "team.pki",
                "--key",
                &format!("{k}.key.pub"),
                "--admin-key",
                "admin.key",
            ],
        );
    }
    ok(
        d,
        &[
            "trust",
            "sign",
            "alice.csv",
            "--key",
            "alice.key",
            "--context",
            "c",
            "--key-col",
            "id",
            "-o",
            "alice.delta",
        ],
    );
}

#[test]
fn secret_keys_are_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let id = ok(d.path(), &["trust", "keygen", "--alg", "hybrid", "-o", "k"]);
    assert_eq!(id.trim().len(), 64);
    let mode = std::fs::metadata(d.path().join("k"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(d.path().join("k.pub").is_file());
    let o = run(d.path(), &["trust", "keygen", "--alg", "rsa", "-o", "x"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--alg"), "{}", o.stderr);
}

#[test]
fn tampered_and_forged_deltas_are_rejected_and_the_merge_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p);
    let good = std::fs::read(p.join("alice.delta")).unwrap();
    // Flip one bit in each region: the magic and header, the signature, the payload.
    for at in [8, 40, 90, good.len() - 70, good.len() - 3] {
        let mut b = good.clone();
        b[at] ^= 0x01;
        std::fs::write(p.join("bad.delta"), &b).unwrap();
        let o = run(p, &["trust", "verify", "bad.delta", "--pki", "team.pki"]);
        assert_ne!(o.code, 0, "byte {at} accepted: {}", o.stdout);
    }
    // Wrong context.
    let o = run(
        p,
        &[
            "trust",
            "verify",
            "alice.delta",
            "--pki",
            "team.pki",
            "--context",
            "d",
        ],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    // A merge with a forged delta and a garbage file still merges Alice.
    let mut b = good.clone();
    let n = b.len();
    b[n - 70] ^= 0x01;
    std::fs::write(p.join("bad.delta"), &b).unwrap();
    std::fs::write(p.join("junk.delta"), b"not a delta").unwrap();
    let o = run(
        p,
        &[
            "trust",
            "merge",
            "alice.delta",
            "bad.delta",
            "junk.delta",
            "--pki",
            "team.pki",
            "--context",
            "c",
            "-o",
            "out.csv",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("dropped"), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(p.join("out.csv")).unwrap(),
        "id,name,_ts\n1,apple,10\n2,pear,11\n"
    );
    // The receipt's result is the table digest `crdt-merge digest` computes.
    let digest = ok(p, &["digest", "out.csv", "--key", "id"]);
    let hexd = digest.split("digest=").nth(1).unwrap().trim().to_string();
    assert!(
        o.stderr.contains(&format!("result {hexd}")),
        "{}\n{digest}",
        o.stderr
    );
}

#[test]
fn revocation_and_show() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p);
    let shown = ok(p, &["trust", "show", "alice.delta", "--pki", "team.pki"]);
    assert!(shown.contains("verifies true"), "{shown}");
    assert!(shown.contains("signed_bytes "), "{shown}");
    ok(
        p,
        &[
            "trust",
            "pki",
            "revoke",
            "team.pki",
            "--identity",
            "alice.key.pub",
            "--from-seq",
            "1",
            "--admin-key",
            "admin.key",
        ],
    );
    let o = run(p, &["trust", "verify", "alice.delta", "--pki", "team.pki"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("revoked"), "{}", o.stderr);
    let pki = ok(p, &["trust", "show", "team.pki"]);
    assert!(pki.contains("revoked from seq 1"), "{pki}");
    // A registration signed by a non-admin is refused.
    let o = run(
        p,
        &[
            "trust",
            "pki",
            "register",
            "team.pki",
            "--key",
            "mallory.key.pub",
            "--admin-key",
            "mallory.key",
        ],
    );
    assert_ne!(o.code, 0);
}

#[test]
fn simulate_reports_its_properties() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(
        d.path(),
        &[
            "trust", "simulate", "--n", "16", "--f", "5", "--seed", "3", "--seeds", "2",
        ],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines()
            .all(|l| l.contains("ok=true") && l.contains("honest_convicted=0")),
        "{out}"
    );
    let o = run(d.path(), &["trust", "simulate", "--n", "4", "--f", "3"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}

/// `trust sign FILE --contribution` for round 1 of context `fed`.
fn sign_contribution(p: &Path, file: &str, key: &str, weight: &str, out: &str) -> String {
    ok(
        p,
        &[
            "trust",
            "sign",
            file,
            "--contribution",
            "--round",
            "1",
            "--weight",
            weight,
            "--key",
            key,
            "--context",
            "fed",
            "-o",
            out,
        ],
    )
}

#[test]
fn the_model_gate_drops_equivocators_and_needs_every_admitted_model() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p);
    let sign = |file: &str, key: &str, weight: &str, out: &str| {
        sign_contribution(p, file, key, weight, out)
    };
    sign("a.safetensors", "alice.key", "1", "a.contrib");
    sign("m.safetensors", "mallory.key", "1", "m1.contrib");
    let merge = |deltas: &[&str], models: &[&str]| {
        let mut args = vec!["trust", "merge-model"];
        args.extend_from_slice(deltas);
        args.extend_from_slice(&[
            "--pki",
            "team.pki",
            "--context",
            "fed",
            "--strategy",
            "linear",
        ]);
        for m in models {
            args.extend_from_slice(&["--model", m]);
        }
        args.extend_from_slice(&["-q", "-o", "out.safetensors"]);
        run(p, &args)
    };
    // Mallory's one contribution is admitted: the gate says who, not what.
    let o = merge(
        &["a.contrib", "m1.contrib"],
        &["a.safetensors", "m.safetensors"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("2 contributions admitted"),
        "{}",
        o.stderr
    );
    // An admitted contribution whose model is not given is an error naming it.
    let o = merge(&["a.contrib", "m1.contrib"], &["a.safetensors"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.contains("has no model among --model"),
        "{}",
        o.stderr
    );
    // A second contribution for the round convicts Mallory; a model nobody signed is dropped.
    sign("m2.safetensors", "mallory.key", "9", "m2.contrib");
    let o = merge(
        &["a.contrib", "m1.contrib", "m2.contrib"],
        &[
            "a.safetensors",
            "m.safetensors",
            "m2.safetensors",
            "b.safetensors",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("author convicted"), "{}", o.stderr);
    assert!(
        o.stderr.contains("contribution equivocation"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("dropped model 'b.safetensors'"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("1 contributions admitted"),
        "{}",
        o.stderr
    );
    let same = std::fs::read(p.join("out.safetensors")).unwrap();
    ok(
        p,
        &[
            "model",
            "merge",
            "a.safetensors",
            "--strategy",
            "linear",
            "-w",
            "a.safetensors=1",
            "-q",
            "-o",
            "alone.safetensors",
        ],
    );
    let alone = std::fs::read(p.join("alone.safetensors")).unwrap();
    // Same tensors as Alice's model merged alone (metadata labels differ).
    let tail = |b: &[u8]| b[b.len() - 16..].to_vec();
    assert_eq!(tail(&same), tail(&alone));
}

#[test]
fn a_robust_rule_contains_a_validly_signed_poisoned_contribution() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p);
    ok(p, &["trust", "keygen", "-o", "bob.key"]);
    ok(
        p,
        &[
            "trust",
            "pki",
            "register",
            "team.pki",
            "--key",
            "bob.key.pub",
            "--admin-key",
            "admin.key",
        ],
    );
    for (file, key, out) in [
        ("a.safetensors", "alice.key", "a.contrib"),
        ("b.safetensors", "bob.key", "b.contrib"),
        ("m.safetensors", "mallory.key", "m.contrib"),
    ] {
        sign_contribution(p, file, key, "1", out);
    }
    let merge = |strategy: &str, extra: &[&str]| {
        let mut args = vec![
            "trust",
            "merge-model",
            "a.contrib",
            "b.contrib",
            "m.contrib",
            "--pki",
            "team.pki",
            "--context",
            "fed",
            "--model",
            "a.safetensors",
            "--model",
            "b.safetensors",
            "--model",
            "m.safetensors",
            "--strategy",
            strategy,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-q", "-o", "out.safetensors"]);
        let o = run(p, &args);
        assert_eq!(o.code, 0, "{strategy}: {}", o.stderr);
        assert!(
            o.stderr.contains("3 contributions admitted"),
            "{}",
            o.stderr
        );
        ok(p, &["model", "show", "out.safetensors", "--values"])
    };
    // Mallory is admitted (one valid contribution) and swamps the weighted mean ...
    assert!(merge("linear", &[]).contains("w  F32  [4]  334.66"));
    // ... but not the coordinate-wise median of (a, b, m) nor the mean trimmed by one.
    assert_eq!(merge("median", &[]).trim_end(), "w  F32  [4]  3 2 3 0");
    assert_eq!(
        merge("trimmed_mean", &["-p", "trim=1"]).trim_end(),
        "w  F32  [4]  3 2 3 0"
    );
}
