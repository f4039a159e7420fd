//! The SQL examples of `docs/datafusion.md`: each ```sql block runs in one shared context, in
//! order; a block followed by a ```text block must print exactly that table.

use std::path::Path;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;

#[tokio::test]
async fn docs_datafusion_sql_examples_run() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/datafusion.md");
    let text = std::fs::read_to_string(&path).expect("docs/datafusion.md");
    // (language, body) of every fenced block.
    let mut blocks: Vec<(String, String)> = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            match open.take() {
                Some(b) => blocks.push(b),
                None => open = Some((rest.trim().to_string(), String::new())),
            }
            continue;
        }
        if let Some((_, body)) = open.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let ctx = SessionContext::new();
    crdt_merge_datafusion::register_all(&ctx).expect("register");
    let mut checked = 0;
    for (i, (lang, body)) in blocks.iter().enumerate() {
        if lang != "sql" {
            continue;
        }
        let mut last = None;
        for stmt in body.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
            let stmt = stmt.trim_end_matches(';');
            let batches = ctx
                .sql(stmt)
                .await
                .unwrap_or_else(|e| panic!("{stmt}: {e}"))
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{stmt}: {e}"));
            last = Some(batches);
        }
        if let (Some((next_lang, want)), Some(batches)) = (blocks.get(i + 1), last) {
            if next_lang == "text" {
                let have = pretty_format_batches(&batches).expect("format").to_string();
                assert_eq!(
                    have.trim_end(),
                    want.trim_end(),
                    "docs/datafusion.md block {i}"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3,
        "only {checked} checked examples in docs/datafusion.md"
    );
}
