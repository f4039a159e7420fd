//! Property tests: random specs print to MergeQL and parse back equal, render in every dialect,
//! and the parser never panics on arbitrary or truncated input.

use crdt_merge_kernel::mergeql::{parse, render_sql, ColumnRule, Dialect, MergeSpec, Source};
use crdt_merge_kernel::strategy::StrategyKind;
use crdt_merge_kernel::ErrorKind;
use proptest::prelude::*;
use proptest::sample::Index;

/// Column and table names: plain ones, ones needing quotes, reserved words, unicode.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,6}",
        2 => "[A-Za-z ][A-Za-z0-9 \"'.,()=]{0,6}",
        1 => prop::sample::select(vec![
            "limit", "Limit", "where", "on", "merge", "clock", "tombstone", "order", "select",
            "_deleted", "_ts", "user", "é", "Ünïcode", "a\"b", "--", "x y",
        ])
        .prop_map(String::from),
    ]
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        3 => prop::collection::vec(name(), 1..=2).prop_map(Source::Table),
        1 => "[a-z0-9/._' -]{1,12}".prop_map(Source::File),
    ]
}

fn text_arg() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,5}",
        "[ -~]{1,5}",
        prop::sample::select(vec![",", " | ", ";", "\"", "(", ")", "' '", " x "])
            .prop_map(String::from),
    ]
}

fn filter() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        1 => prop::sample::select(vec![
            "x > 1",
            "name = 'no limit; here'",
            "(a OR b) AND c IN (SELECT y FROM t LIMIT 1)",
            "\"Limit\" = 'it''s'",
            "delimited_limit IS NOT NULL",
        ])
        .prop_map(|s| Some(s.to_string())),
        1 => ("[a-z]{1,5}", "[a-z ;()]{0,6}").prop_map(|(c, v)| Some(format!("{c} = '{v}'"))),
    ]
}

#[derive(Debug, Clone)]
struct RuleSeed {
    kind: StrategyKind,
    levels: Vec<String>,
    sep: Option<String>,
    cell_clock: Option<Index>,
}

fn rule_seed() -> impl Strategy<Value = RuleSeed> {
    (
        prop::sample::select(StrategyKind::ALL.to_vec()),
        prop::collection::btree_set(text_arg(), 1..4),
        prop::option::of(text_arg()),
        prop::option::of(any::<Index>()),
    )
        .prop_map(|(kind, levels, sep, cell_clock)| RuleSeed {
            kind,
            levels: levels.into_iter().collect(),
            sep,
            cell_clock,
        })
}

/// A valid random spec: distinct names are dealt out to roles.
fn spec() -> impl Strategy<Value = MergeSpec> {
    (
        prop::collection::btree_set(name(), 10..16),
        prop::collection::vec(source(), 1..4),
        1usize..=3,
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::collection::vec(rule_seed(), 0..5),
        any::<bool>(),
        filter(),
        prop::option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_map(
            |(
                names,
                sources,
                nkeys,
                custom_clock,
                tombstone,
                rules,
                provenance,
                filter,
                limit,
                with_replica,
            )| {
                let names: Vec<String> = names.into_iter().collect();
                let mut it = names.into_iter();
                let key: Vec<String> = it.by_ref().take(nkeys).collect();
                let mut spec = MergeSpec::new(sources, key);
                let clock = it.next().unwrap();
                if custom_clock {
                    spec.clock = clock;
                }
                let replica = it.next().unwrap();
                if with_replica {
                    spec.replica = Some(replica);
                }
                let tomb = it.next().unwrap();
                spec.tombstone = match tombstone {
                    None => None,
                    Some(true) => Some("_deleted".to_string()),
                    Some(false) => Some(tomb),
                };
                if spec.tombstone.as_deref() == Some("_deleted")
                    && (spec.key.iter().any(|k| k == "_deleted") || spec.clock == "_deleted")
                {
                    spec.tombstone = None;
                }
                let cell_clocks: Vec<String> = it.by_ref().take(2).collect();
                for (seed, column) in rules.into_iter().zip(it) {
                    if spec.tombstone.as_deref() == Some(column.as_str()) || spec.clock == column {
                        continue;
                    }
                    let mut rule = ColumnRule::new(column, seed.kind);
                    match seed.kind {
                        StrategyKind::Priority => rule.levels = seed.levels,
                        StrategyKind::Union | StrategyKind::Concat => rule.sep = seed.sep,
                        StrategyKind::Lww | StrategyKind::LwwNullable | StrategyKind::Longest => {
                            rule.clock = seed.cell_clock.map(|i| cell_clocks[i.index(2)].clone())
                        }
                        _ => {}
                    }
                    spec.rules.push(rule);
                }
                spec.provenance = provenance;
                spec.filter = filter;
                spec.limit = limit;
                spec
            },
        )
        .prop_filter("a default name collided with a dealt one", |s| {
            s.validate().is_ok()
        })
}

/// Every column the spec names, plus one unnamed data column.
fn all_columns(spec: &MergeSpec) -> Vec<String> {
    let mut cols: Vec<String> = spec.key.clone();
    let mut add = |c: &str| {
        if !cols.iter().any(|x| x == c) {
            cols.push(c.to_string());
        }
    };
    add(&spec.clock);
    spec.replica.iter().for_each(|r| add(r));
    spec.tombstone.iter().for_each(|t| add(t));
    for r in &spec.rules {
        add(&r.column);
        r.clock.iter().for_each(|c| add(c));
    }
    add("unnamed data");
    cols
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn to_mergeql_parses_back_to_the_same_spec(spec in spec()) {
        let text = spec.to_mergeql();
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(&back, &spec, "{}", text);
        prop_assert_eq!(back.to_mergeql(), text);
    }

    #[test]
    fn every_valid_spec_renders_in_every_dialect(spec in spec(), drop in any::<Vec<Index>>()) {
        // The first source has every column; later ones may lack any non-key column.
        let all = all_columns(&spec);
        let mut columns = vec![all.clone()];
        for _ in 1..spec.sources.len() {
            let mut c = all.clone();
            for i in &drop {
                let j = i.index(c.len());
                if !spec.key.contains(&c[j]) {
                    c.remove(j);
                }
            }
            columns.push(c);
        }
        let has_file = spec.sources.iter().any(|s| matches!(s, Source::File(_)));
        for d in Dialect::ALL {
            let result = render_sql(&spec, d, &columns);
            if d == Dialect::Postgres && has_file {
                prop_assert!(result.is_err());
                continue;
            }
            let sql = result.map_err(|e| TestCaseError::fail(format!("{}: {e}", d.name())))?;
            // The parsed-back spec renders identically.
            let back = parse(&spec.to_mergeql()).unwrap();
            prop_assert_eq!(render_sql(&back, d, &columns).unwrap(), sql.clone());
            prop_assert!(sql.contains("\nGROUP BY "));
            prop_assert_eq!(sql.matches("\n  UNION ALL\n").count(), spec.sources.len() - 1);
            for r in &spec.rules {
                let f = match r.strategy {
                    StrategyKind::GCounter | StrategyKind::PNCounter => "crdt_state_merge_agg",
                    k => k.aggregate_name(),
                };
                prop_assert!(sql.contains(f), "{} missing in {}", f, sql);
            }
        }
    }

    #[test]
    fn parse_never_panics_and_positions_are_in_range(text in "\\PC{0,60}") {
        if let Err(e) = parse(&text) {
            if let ErrorKind::Syntax { position, .. } = e.kind {
                prop_assert!(position <= text.chars().count());
            }
        }
    }

    #[test]
    fn truncated_queries_fail_cleanly(spec in spec(), cut in any::<Index>()) {
        let text = spec.to_mergeql();
        let chars: Vec<char> = text.chars().collect();
        let n = cut.index(chars.len() + 1);
        let prefix: String = chars[..n].iter().collect();
        match parse(&prefix) {
            Ok(s) => prop_assert!(s.validate().is_ok()),
            Err(e) => {
                if let ErrorKind::Syntax { position, .. } = e.kind {
                    prop_assert!(position <= n);
                }
            }
        }
    }
}
