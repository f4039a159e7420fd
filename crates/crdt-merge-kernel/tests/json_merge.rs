//! `crdt_json_merge`: commutative, associative and idempotent on canonical text for random
//! documents (proptest), and NULL is its identity.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, StringArray};
use crdt_merge_kernel::catalogue::invoke_scalar;
use crdt_merge_kernel::json_merge::{canonical, merge, normalise};
use proptest::prelude::*;
use serde_json::Value as Json;

fn doc() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-5i64..5).prop_map(Json::from),
        prop_oneof![Just(1.0f64), Just(-0.5), Just(2.5)].prop_map(Json::from),
        "[ab]{0,2}".prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map("[xyz]", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

fn j(a: &Json, b: &Json) -> String {
    canonical(&merge(a, b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn laws(a in doc(), b in doc(), c in doc()) {
        prop_assert_eq!(j(&a, &b), j(&b, &a));
        prop_assert_eq!(canonical(&merge(&merge(&a, &b), &c)), canonical(&merge(&a, &merge(&b, &c))));
        prop_assert_eq!(j(&a, &a), canonical(&normalise(&a)));
        prop_assert_eq!(j(&a, &Json::Null), canonical(&normalise(&a)));
    }
}

#[test]
fn sql_scalar_treats_null_as_identity_and_names_bad_json() {
    let a: ArrayRef = Arc::new(StringArray::from(vec![Some(r#"{"b":[2,1]}"#), None, None]));
    let b: ArrayRef = Arc::new(StringArray::from(vec![
        Some(r#"{"a":1}"#),
        Some("[1,1]"),
        None,
    ]));
    let out = invoke_scalar("crdt_json_merge", &[a, b], 3).unwrap();
    let s = out.as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(s.value(0), r#"{"a":1,"b":[1,2]}"#);
    assert_eq!(s.value(1), "[1]");
    assert!(s.is_null(2));
    let bad: ArrayRef = Arc::new(StringArray::from(vec!["{oops"]));
    let ok: ArrayRef = Arc::new(StringArray::from(vec!["1"]));
    let e = invoke_scalar("crdt_json_merge", &[ok, bad], 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("crdt_json_merge") && e.contains("`b`") && e.contains("line 1"),
        "{e}"
    );
}
