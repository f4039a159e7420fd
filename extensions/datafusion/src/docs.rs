//! Function documentation generated from the kernel catalogue.

use crdt_merge_kernel::catalogue::{FunctionDef, NullHandling};
use datafusion::logical_expr::{DocSection, Documentation};

/// The documentation section every crdt-merge function is listed under.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "CRDT merge functions",
    description: Some(
        "Conflict-free merge strategies, state types and clocks from the crdt-merge kernel.",
    ),
};

/// `name(a, b [, c])` for each overload, joined by ` or `.
pub fn syntax(def: &FunctionDef) -> String {
    def.signatures
        .iter()
        .map(|s| {
            let args: Vec<&str> = s.args.iter().map(|a| a.name).collect();
            format!("{}({})", def.name, args.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// DataFusion documentation for one catalogue entry: its description, syntax, arguments and
/// the catalogue's example query with its result.
pub fn documentation(def: &FunctionDef) -> Documentation {
    let nulls = match def.nulls {
        NullHandling::Bottom => "NULL inputs are bottom (ignored).",
        NullHandling::Strict => "Any NULL argument gives NULL.",
    };
    let mut b = Documentation::builder(DOC_SECTION, format!("{} {nulls}", def.doc), syntax(def))
        .with_sql_example(format!(
            "```sql\n> {};\n{}\n```",
            def.example, def.example_result
        ));
    let mut seen: Vec<&str> = Vec::new();
    for sig in def.signatures {
        for arg in sig.args {
            if seen.contains(&arg.name) {
                continue;
            }
            seen.push(arg.name);
            let what = format!(
                "{:?}{}",
                arg.ty,
                if arg.constant {
                    " (must be the same on every row)"
                } else {
                    ""
                }
            );
            b = b.with_argument(arg.name, what);
        }
    }
    b.build()
}
