//! E4's SQL functions through the kernel catalogue (as every host calls them), the golden
//! fixtures the DuckDB and Postgres tests read (`tests/golden/e4/`, deterministic: Ed25519
//! signatures are; `UPDATE_GOLDEN=1` rewrites them), and E4's section of
//! `docs/sql-functions.md` (`UPDATE_DOCS=1` rewrites it).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray};
use crdt_merge_e4::table::{Cell, ColType, TablePayload};
use crdt_merge_e4::*;
use crdt_merge_kernel::catalogue::{self, invoke_scalar};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/e4")
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(Alg::Ed25519, &[seed; 32]).unwrap()
}

fn table_delta(k: &SigningKey, seq: u64, prev: [u8; 32], rows: Vec<Vec<Cell>>) -> SignedDelta {
    let p = TablePayload::new(
        vec![
            ("id".into(), ColType::Int64),
            ("_ts".into(), ColType::Int64),
            ("name".into(), ColType::Utf8),
            ("score".into(), ColType::Float64),
            ("tag".into(), ColType::Binary),
        ],
        1,
        1,
        rows,
    )
    .unwrap();
    SignedDelta::sign_table(k, Context::new("orders/2026-12").unwrap(), seq, prev, &p).unwrap()
}

/// The fixtures by file name.
fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let admin = key(1);
    let (alice, mallory, stranger) = (key(2), key(3), key(4));
    let genesis = Genesis::new(1, vec![admin.public().clone()]).unwrap();
    let mut pki = Pki::new(genesis.clone());
    for k in [&alice, &mallory] {
        pki.insert(
            SignedKeyEvent::sign(
                &genesis,
                KeyEventBody::Register {
                    key: k.public().clone(),
                    level: RegisterLevel::Trusted,
                },
                &[&admin],
            )
            .unwrap(),
        )
        .unwrap();
    }
    pki.insert(
        SignedKeyEvent::sign(
            &genesis,
            KeyEventBody::Revoke {
                identity: mallory.id(),
                from_seq: 1,
            },
            &[&admin],
        )
        .unwrap(),
    )
    .unwrap();
    let rows = vec![
        vec![
            Cell::Int(1),
            Cell::Int(10),
            Cell::Str("apple \"red\"".into()),
            Cell::Float(0.5),
            Cell::Bytes(vec![0, 255]),
        ],
        vec![
            Cell::Int(2),
            Cell::Int(11),
            Cell::Str("pear".into()),
            Cell::Null,
            Cell::Null,
        ],
    ];
    let good = table_delta(&alice, 1, [0; 32], rows.clone());
    let mut forged = good.clone();
    forged.signed.sig[10] ^= 1;
    let revoked = table_delta(&mallory, 1, [0; 32], rows.clone());
    let unknown = table_delta(&stranger, 1, [0; 32], rows);
    let header_only = SignedDelta {
        signed: good.signed.clone(),
        payload: None,
    };
    vec![
        ("pki.bin", pki.encode()),
        ("good.delta", good.encode()),
        ("forged.delta", forged.encode()),
        ("revoked.delta", revoked.encode()),
        ("unknown.delta", unknown.encode()),
        ("header_only.delta", header_only.encode()),
    ]
}

#[test]
fn golden_fixtures_are_current() {
    let dir = golden_dir();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in fixtures() {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &bytes).unwrap();
        }
        let have = std::fs::read(&path).unwrap_or_default();
        assert!(
            have == bytes,
            "tests/golden/e4/{name} is out of date: run `UPDATE_GOLDEN=1 cargo test -p crdt-merge-e4 --test sql`"
        );
    }
}

fn blob(b: &[u8]) -> ArrayRef {
    Arc::new(BinaryArray::from_iter_values([b]))
}

fn call(name: &str, args: &[&[u8]]) -> crdt_merge_kernel::Result<ArrayRef> {
    crdt_merge_e4::sql::register();
    let arrays: Vec<ArrayRef> = args.iter().map(|b| blob(b)).collect();
    invoke_scalar(name, &arrays, 1)
}

#[test]
fn the_functions_verify_refuse_and_decode() {
    let f: std::collections::BTreeMap<&str, Vec<u8>> = fixtures().into_iter().collect();
    let pki = &f["pki.bin"];
    let verify = |d: &str| {
        call("crdt_verify", &[&f[d], pki])
            .unwrap()
            .as_boolean()
            .value(0)
    };
    assert!(verify("good.delta"));
    assert!(verify("header_only.delta"));
    for bad in ["forged.delta", "revoked.delta", "unknown.delta"] {
        assert!(!verify(bad), "{bad}");
    }
    // Malformed bytes are an error naming the function, the argument and the offset.
    let e = call("crdt_verify", &[b"CME4\x01\x01junk", pki])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("crdt_verify") && e.contains("byte offset") && e.contains("delta"),
        "{e}"
    );
    let e = call("crdt_verify", &[&f["good.delta"], b"nope"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("pki"), "{e}");
    // Payloads: verified, or an error; unverified on request.
    let p = call("crdt_verified_payload", &[&f["good.delta"], pki]).unwrap();
    assert!(TablePayload::decode(p.as_binary::<i32>().value(0)).is_ok());
    let e = call("crdt_verified_payload", &[&f["forged.delta"], pki])
        .unwrap_err()
        .to_string();
    assert!(e.contains("verif"), "{e}");
    let p = call("crdt_verified_payload", &[&f["header_only.delta"], pki]).unwrap();
    assert!(p.is_null(0));
    let p = call("crdt_signed_payload", &[&f["forged.delta"]]).unwrap();
    assert!(p.is_valid(0));
    // Rows as JSON.
    let rows = call("crdt_delta_rows", &[&f["good.delta"], pki]).unwrap();
    assert_eq!(
        rows.as_string::<i32>().value(0),
        r#"[{"id":1,"_ts":10,"name":"apple \"red\"","score":0.5,"tag":"\\x00ff"},{"id":2,"_ts":11,"name":"pear","score":null,"tag":null}]"#
    );
    assert!(call("crdt_delta_rows", &[&f["revoked.delta"], pki]).is_err());
    // Arity through the catalogue.
    assert!(call("crdt_verify", &[&f["good.delta"]]).is_err());
}

fn call_ctx(
    name: &str,
    delta: &[u8],
    pki: &[u8],
    ctx: &str,
) -> crdt_merge_kernel::Result<ArrayRef> {
    crdt_merge_e4::sql::register();
    let arrays: Vec<ArrayRef> = vec![
        blob(delta),
        blob(pki),
        Arc::new(arrow_array::StringArray::from(vec![ctx])),
    ];
    invoke_scalar(name, &arrays, 1)
}

#[test]
fn the_context_argument_refuses_a_delta_signed_for_another_dataset() {
    let f: std::collections::BTreeMap<&str, Vec<u8>> = fixtures().into_iter().collect();
    let (good, pki) = (&f["good.delta"], &f["pki.bin"]);
    let verify = |ctx: &str| {
        call_ctx("crdt_verify", good, pki, ctx)
            .unwrap()
            .as_boolean()
            .value(0)
    };
    assert!(verify("orders/2026-12"));
    assert!(!verify("orders/2026-11"), "a replay into another context");
    let e = call_ctx("crdt_verified_payload", good, pki, "orders/2026-11")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("crdt_verified_payload") && e.contains("orders/2026-11"),
        "{e}"
    );
    assert!(call_ctx("crdt_delta_rows", good, pki, "orders/2026-12").is_ok());
    assert!(call_ctx("crdt_delta_rows", good, pki, "orders/2026-11").is_err());
    // The empty context is refused by name.
    let e = call_ctx("crdt_verify", good, pki, "")
        .unwrap_err()
        .to_string();
    assert!(e.contains("context") && e.contains("empty"), "{e}");
    // A context that is not text (a list, a number) is a type error naming the argument, not
    // its printed form taken as a context.
    crdt_merge_e4::sql::register();
    let list: ArrayRef = Arc::new(arrow_array::ListArray::from_iter_primitive::<
        arrow_array::types::Int32Type,
        _,
        _,
    >(vec![Some(vec![None::<i32>])]));
    let number: ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![7]));
    for wrong in [list, number] {
        let e = invoke_scalar("crdt_verify", &[blob(good), blob(pki), wrong], 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("crdt_verify") && e.contains("context") && e.contains("text"),
            "{e}"
        );
    }
}

#[test]
fn registration_is_idempotent_and_listed() {
    crdt_merge_e4::sql::register();
    crdt_merge_e4::sql::register();
    let names: Vec<&str> = catalogue::functions().iter().map(|f| f.name).collect();
    for f in crdt_merge_e4::sql::FUNCTIONS {
        assert_eq!(
            names.iter().filter(|n| **n == f.name).count(),
            1,
            "{}",
            f.name
        );
        assert!(catalogue::lookup(f.name).is_some());
    }
}

#[test]
fn docs_section_matches() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/sql-functions.md");
    let have = std::fs::read_to_string(&path).unwrap();
    let defs: Vec<&catalogue::FunctionDef> = crdt_merge_e4::sql::FUNCTIONS.iter().collect();
    let section = format!(
        "{}crdt-merge-e4: generated by `UPDATE_DOCS=1 cargo test -p crdt-merge-e4 --test sql`; do not edit -->\n\n\
         ## E4 trust functions (`crates/crdt-merge-e4`)\n\n\
         Registered by DuckDB, DataFusion and Postgres after the kernel's. See docs/trust.md.\n\n{}",
        catalogue::EXTENSION_DOCS_MARKER,
        catalogue::render_functions(&defs)
    );
    let start = have.find(&section[..30]);
    let kernel_part = match start {
        Some(i) => &have[..i],
        None => have.as_str(),
    };
    let want = format!("{kernel_part}{section}");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap();
    assert!(
        have == want,
        "docs/sql-functions.md's E4 section is out of date: run `UPDATE_DOCS=1 cargo test -p crdt-merge-e4 --test sql`"
    );
}
