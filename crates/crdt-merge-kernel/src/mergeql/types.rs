//! Type checks of a table merge's sources, for hosts that know their sources' Arrow types
//! (DataFusion, the command line): design §2, "values of different types are not compared".
//!
//! An engine's `UNION ALL` would otherwise coerce a column that is an integer in one source and
//! text in another to text, and `max` would then compare `'9'` above `'10'` without a word.

use arrow_schema::DataType;

use super::spec::MergeSpec;
use crate::error::{Error, Result};

const FUNCTION: &str = "crdt_merge";

/// Which values compare with which: a source's column may differ from another's in width
/// (Int32 and Int64, Float64 and Int64: the union widens them, and numbers keep their order),
/// not in kind. `None` for NULL-typed columns (a CSV column with no values), which fit anything.
fn kind(dt: &DataType) -> Option<&'static str> {
    use DataType::*;
    Some(match dt {
        Null => return None,
        Boolean => "boolean",
        Int8
        | Int16
        | Int32
        | Int64
        | UInt8
        | UInt16
        | UInt32
        | UInt64
        | Float16
        | Float32
        | Float64
        | Decimal32(_, _)
        | Decimal64(_, _)
        | Decimal128(_, _)
        | Decimal256(_, _) => "number",
        Utf8 | LargeUtf8 | Utf8View => "text",
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "binary",
        Date32 | Date64 | Timestamp(_, _) => "date/timestamp",
        Time32(_) | Time64(_) => "time",
        Duration(_) => "duration",
        Interval(_) => "interval",
        List(_) | LargeList(_) | ListView(_) | LargeListView(_) | FixedSizeList(_, _) => "list",
        Struct(_) => "struct",
        Map(_, _) => "map",
        Dictionary(_, value) => return kind(value),
        _ => "other",
    })
}

/// The column of `columns` named `name`: exactly, or else the one that matches ignoring ASCII
/// case (as [`render_sql`](super::render_sql) resolves names).
fn resolve<'a>(columns: &'a [(String, DataType)], name: &str) -> Option<&'a (String, DataType)> {
    columns.iter().find(|(c, _)| c == name).or_else(|| {
        let mut folded = columns.iter().filter(|(c, _)| c.eq_ignore_ascii_case(name));
        match (folded.next(), folded.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    })
}

/// Checks the types of `spec`'s sources, given each source's columns (name and Arrow type, in
/// the order of `spec.sources`):
///
/// * a column is one kind of value in every source that has it (number, text, boolean,
///   date/timestamp, ...; widths may differ, and a NULL-typed column fits any), since values of
///   different types are not compared;
/// * the tombstone column, when there is one, is boolean.
///
/// # Errors
/// [`crate::ErrorKind::InvalidArgument`] naming the column, the kinds and the sources, for
/// example ``crdt_merge: argument `score`: expected one type of value in every source (values
/// of different types are not compared), found Int64 in 'a.csv' but Utf8 in 'b.csv'``.
///
/// # Example
/// ```
/// use arrow_schema::DataType;
/// use crdt_merge_kernel::mergeql::{check_source_types, parse};
///
/// let spec = parse("MERGE a, b ON id STRATEGY score='max'").unwrap();
/// let a = vec![("id".to_string(), DataType::Int64), ("score".to_string(), DataType::Int64)];
/// let b = vec![("id".to_string(), DataType::Int32), ("score".to_string(), DataType::Utf8)];
/// assert!(check_source_types(&spec, &[a.clone(), a.clone()]).is_ok());
/// let e = check_source_types(&spec, &[a, b]).unwrap_err();
/// assert!(e.to_string().contains("argument `score`"));
/// ```
pub fn check_source_types(spec: &MergeSpec, sources: &[Vec<(String, DataType)>]) -> Result<()> {
    let name = |i: usize| {
        spec.sources
            .get(i)
            .map(|s| s.to_mergeql())
            .unwrap_or_else(|| format!("source {}", i + 1))
    };
    if let Some(t) = &spec.tombstone {
        for (i, cols) in sources.iter().enumerate() {
            if let Some((c, dt)) = resolve(cols, t) {
                if !matches!(dt, DataType::Boolean | DataType::Null) {
                    return Err(Error::invalid(
                        FUNCTION,
                        c.as_str(),
                        "a boolean tombstone column (true marks a deleted row)",
                        format!("{dt} in {}", name(i)),
                    ));
                }
            }
        }
    }
    // The first source (by order) that types each column, and how.
    let mut first: Vec<(&str, &DataType, &'static str, usize)> = Vec::new();
    for (i, cols) in sources.iter().enumerate() {
        for (c, dt) in cols {
            let Some(k) = kind(dt) else { continue };
            match first.iter().find(|(f, ..)| f == c) {
                None => first.push((c, dt, k, i)),
                Some((_, fdt, fk, fi)) if *fk != k => {
                    return Err(Error::invalid(
                        FUNCTION,
                        c.as_str(),
                        "one type of value in every source (values of different types are not \
                         compared)",
                        format!("{fdt} in {} but {dt} in {}", name(*fi), name(i)),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mergeql::parse;

    fn cols(c: &[(&str, DataType)]) -> Vec<(String, DataType)> {
        c.iter().map(|(n, t)| (n.to_string(), t.clone())).collect()
    }

    /// Finding 12 (issue 14): `score` read as an integer in one file and as text in another
    /// (one `n/a`) was merged as text, so `max` put 9 above 10.
    #[test]
    fn finding_12_mixed_types_across_sources_are_an_error() {
        let spec = parse("MERGE 'a.csv', 'b.csv' ON id STRATEGY score='max'").unwrap();
        let a = cols(&[("id", DataType::Int64), ("score", DataType::Int64)]);
        let b = cols(&[("id", DataType::Int64), ("score", DataType::Utf8)]);
        let e = check_source_types(&spec, &[a.clone(), b]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "crdt_merge: argument `score`: expected one type of value in every source (values of \
             different types are not compared), found Int64 in 'a.csv' but Utf8 in 'b.csv'"
        );
        // Widths may differ; NULL-typed columns fit anything.
        let b = cols(&[("id", DataType::Int32), ("score", DataType::Float64)]);
        let c = cols(&[("id", DataType::Int64), ("score", DataType::Null)]);
        assert!(check_source_types(&spec, &[a.clone(), b]).is_ok());
        assert!(check_source_types(&spec, &[a, c]).is_ok());
    }

    /// Finding 10 (issue 14): a non-boolean tombstone gave the engine's raw COALESCE type error.
    #[test]
    fn finding_10_tombstone_must_be_boolean() {
        let spec = parse("MERGE 'a.csv', 'b.csv' ON id TOMBSTONE").unwrap();
        let a = cols(&[("id", DataType::Int64), ("_Deleted", DataType::Int64)]);
        let b = cols(&[("id", DataType::Int64), ("_deleted", DataType::Boolean)]);
        let e = check_source_types(&spec, &[b.clone(), a]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "crdt_merge: argument `_Deleted`: expected a boolean tombstone column (true marks a \
             deleted row), found Int64 in 'b.csv'"
        );
        let none = cols(&[("id", DataType::Int64), ("_deleted", DataType::Null)]);
        assert!(check_source_types(&spec, &[b, none]).is_ok());
    }
}
