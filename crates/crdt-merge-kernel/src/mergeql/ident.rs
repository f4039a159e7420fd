//! Identifier and literal quoting shared by the MergeQL printer and the SQL renderer.

/// Words MergeQL reserves: written unquoted they are keywords, never names.
pub(crate) const MERGEQL_KEYWORDS: [&str; 9] = [
    "merge",
    "on",
    "clock",
    "replica",
    "tombstone",
    "provenance",
    "strategy",
    "where",
    "limit",
];

/// SQL words that cannot (in at least one of DuckDB, DataFusion or Postgres) be used as a bare
/// column or table name. Quoting a word that did not need it is harmless, so the list errs on the
/// side of quoting.
const SQL_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "binary",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "filter",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "only",
    "or",
    "order",
    "outer",
    "over",
    "overlaps",
    "placing",
    "primary",
    "qualify",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "window",
    "with",
];

/// True for a name that needs no quotes: ASCII `[a-z_][a-z0-9_]*` and not a reserved word of SQL
/// or MergeQL. Such a name reads the same in MergeQL and in every dialect.
pub(crate) fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !MERGEQL_KEYWORDS.contains(&name)
        && SQL_RESERVED.binary_search(&name).is_err()
}

/// Writes `name` as an identifier: bare when [`is_plain`], otherwise in double quotes with inner
/// double quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    if is_plain(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Writes `text` as a single-quoted SQL string literal with inner quotes doubled.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_list_is_sorted_for_binary_search() {
        let mut sorted = SQL_RESERVED.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, SQL_RESERVED);
    }

    #[test]
    fn plain_names_stay_bare_and_others_are_quoted() {
        assert_eq!(quote_ident("score"), "score");
        assert_eq!(quote_ident("_ts"), "_ts");
        assert_eq!(quote_ident("c2"), "c2");
        assert_eq!(quote_ident("Score"), "\"Score\"");
        assert_eq!(quote_ident("2c"), "\"2c\"");
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("limit"), "\"limit\"");
        assert_eq!(quote_ident("tombstone"), "\"tombstone\"");
        assert_eq!(quote_ident("a b"), "\"a b\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("café"), "\"café\"");
    }

    #[test]
    fn literals_double_inner_quotes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(""), "''");
        assert_eq!(quote_literal("a\\b"), "'a\\b'");
    }
}
