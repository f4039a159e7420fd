//! The SQL function surface, declared once.
//!
//! Every host (DuckDB, DataFusion, Postgres, Polars) registers its functions by iterating
//! [`CATALOGUE`], and `docs/sql-functions.md` is generated from it ([`render_markdown`]); a test
//! fails when the committed page drifts. Scalars run through [`invoke_scalar`], aggregates
//! through [`crate::strategy::Aggregate`].

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, BinaryArray, Int64Array, StringArray};
use arrow_schema::DataType;

use crate::error::{Error, ErrorKind, Result};
use crate::strategy::{pairwise, Aggregate};

/// Aggregate or scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// An aggregate: runs through [`Aggregate`].
    Aggregate,
    /// A scalar: runs through [`invoke_scalar`].
    Scalar,
}

/// What an argument accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// Any orderable value: integers, floats, decimals, text, binary, boolean, date, timestamp,
    /// list, struct.
    Value,
    /// A clock: number, decimal, date, timestamp or packed HLC (BIGINT).
    Clock,
    /// Text.
    Text,
    /// A list of orderable values.
    List,
    /// A list whose elements have the type of argument 0 (priority levels).
    LevelsOf(usize),
    /// State bytes.
    Bytes,
    /// An integer.
    Integer,
    /// A number (integer, float or decimal).
    Float,
}

impl ArgType {
    fn describe(self) -> &'static str {
        match self {
            ArgType::Value => "any",
            ArgType::Clock => "clock",
            ArgType::Text => "text",
            ArgType::List => "list",
            ArgType::LevelsOf(_) => "list",
            ArgType::Bytes => "bytes",
            ArgType::Integer => "bigint",
            ArgType::Float => "double",
        }
    }
}

/// What a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnType {
    /// The type of argument `n`.
    SameAs(usize),
    /// Text.
    Text,
    /// State bytes.
    Bytes,
    /// BIGINT.
    Int64,
    /// BOOLEAN.
    Bool,
    /// DOUBLE.
    Float64,
    /// A list of UBIGINT.
    UInt64List,
}

impl ReturnType {
    fn describe(self, args: &[Arg]) -> String {
        match self {
            ReturnType::SameAs(i) => format!("type of `{}`", args[i].name),
            ReturnType::Text => "text".into(),
            ReturnType::Bytes => "bytes".into(),
            ReturnType::Int64 => "bigint".into(),
            ReturnType::Bool => "boolean".into(),
            ReturnType::Float64 => "double".into(),
            ReturnType::UInt64List => "list of ubigint".into(),
        }
    }
}

/// One argument.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    /// Name used in docs and error messages.
    pub name: &'static str,
    /// What it accepts.
    pub ty: ArgType,
    /// Must be the same on every row (priority levels, separators).
    pub constant: bool,
}

/// One overload.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    /// Arguments in order.
    pub args: &'static [Arg],
    /// Result.
    pub returns: ReturnType,
}

/// How NULL arguments are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullHandling {
    /// NULL is bottom: ignored by aggregates, the identity of pairwise joins.
    Bottom,
    /// Any NULL argument gives NULL (SQL STRICT).
    Strict,
}

/// Whether the result depends only on the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    /// Same arguments, same result, forever.
    Immutable,
    /// Same within one query or build (crdt_version).
    Stable,
}

/// One SQL function.
#[derive(Debug, Clone, Copy)]
pub struct FunctionDef {
    /// SQL name.
    pub name: &'static str,
    /// Aggregate or scalar.
    pub kind: FunctionKind,
    /// Overloads.
    pub signatures: &'static [Signature],
    /// NULL behaviour.
    pub nulls: NullHandling,
    /// Volatility.
    pub volatility: Volatility,
    /// One-line description.
    pub doc: &'static str,
    /// An example query in the SQL subset every engine shares.
    pub example: &'static str,
    /// The example's single-row result, rendered as the `sql/` corpus renders values.
    pub example_result: &'static str,
}

const fn a(name: &'static str, ty: ArgType) -> Arg {
    Arg {
        name,
        ty,
        constant: false,
    }
}

const fn c(name: &'static str, ty: ArgType) -> Arg {
    Arg {
        name,
        ty,
        constant: true,
    }
}

const fn sig(args: &'static [Arg], returns: ReturnType) -> Signature {
    Signature { args, returns }
}

use ArgType::*;
use FunctionKind::{Aggregate as Agg, Scalar};
use NullHandling::{Bottom, Strict};
use ReturnType::{Bytes as RBytes, Int64 as RInt, SameAs, Text as RText};

const LWW_SIGS: &[Signature] = &[
    sig(&[a("value", Value), a("ts", Clock)], SameAs(0)),
    sig(
        &[a("value", Value), a("ts", Clock), a("replica", Value)],
        SameAs(0),
    ),
];
const LWW_JOIN_SIGS: &[Signature] = &[
    sig(
        &[
            a("v1", Value),
            a("ts1", Clock),
            a("v2", Value),
            a("ts2", Clock),
        ],
        SameAs(0),
    ),
    sig(
        &[
            a("v1", Value),
            a("ts1", Clock),
            a("r1", Value),
            a("v2", Value),
            a("ts2", Clock),
            a("r2", Value),
        ],
        SameAs(0),
    ),
];

/// Every SQL function, in documentation order.
pub static CATALOGUE: &[FunctionDef] = &[
    FunctionDef {
        name: "crdt_lww",
        kind: Agg,
        signatures: LWW_SIGS,
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Last writer wins: the value of the greatest (ts, replica, value); a NULL value never overwrites, a NULL ts is lowest.",
        example: "SELECT crdt_lww(v, ts) FROM (VALUES ('a', 1), ('b', 2), (NULL, 3)) AS t(v, ts)",
        example_result: "b",
    },
    FunctionDef {
        name: "crdt_lww_nullable",
        kind: Agg,
        signatures: LWW_SIGS,
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Last writer wins where NULL is a written value, for users who clear fields.",
        example: "SELECT crdt_lww_nullable(v, ts) FROM (VALUES ('a', 1), ('b', 2), (NULL, 3)) AS t(v, ts)",
        example_result: "NULL",
    },
    FunctionDef {
        name: "crdt_max",
        kind: Agg,
        signatures: &[sig(&[a("value", Value)], SameAs(0))],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Greatest value in the canonical order (NaN greatest, text by UTF-8 bytes).",
        example: "SELECT crdt_max(v) FROM (VALUES (3), (NULL), (7)) AS t(v)",
        example_result: "7",
    },
    FunctionDef {
        name: "crdt_min",
        kind: Agg,
        signatures: &[sig(&[a("value", Value)], SameAs(0))],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Least value in the canonical order.",
        example: "SELECT crdt_min(v) FROM (VALUES (3), (NULL), (7)) AS t(v)",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_priority",
        kind: Agg,
        signatures: &[sig(
            &[a("value", Value), c("levels", LevelsOf(0))],
            SameAs(0),
        )],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Highest-ranked value; `levels` lists ranks low to high (the last wins), values not listed rank below all; ties by value.",
        example: "SELECT crdt_priority(v, ARRAY['draft', 'review', 'final']) FROM (VALUES ('review'), ('draft'), ('zzz')) AS t(v)",
        example_result: "review",
    },
    FunctionDef {
        name: "crdt_longest",
        kind: Agg,
        signatures: LWW_SIGS,
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Longest value (code points for text, elements for lists, bytes for binary), then (ts, replica, value).",
        example: "SELECT crdt_longest(v, ts) FROM (VALUES ('abc', 1), ('ab', 2)) AS t(v, ts)",
        example_result: "abc",
    },
    FunctionDef {
        name: "crdt_union",
        kind: Agg,
        signatures: &[
            sig(&[a("list", List)], SameAs(0)),
            sig(&[a("value", Text), c("sep", Text)], RText),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Set union of list elements (sorted, deduplicated, NULL elements dropped), or of the trimmed parts of `sep`-delimited text.",
        example: "SELECT crdt_union(v, ',') FROM (VALUES ('b, a'), ('c,a')) AS t(v)",
        example_result: "a,b,c",
    },
    FunctionDef {
        name: "crdt_concat",
        kind: Agg,
        signatures: &[
            sig(&[a("value", Text)], RText),
            sig(&[a("value", Text), c("sep", Text)], RText),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Union of delimited text parts, rejoined sorted with `sep` (default ' | '); deduplicated so it stays idempotent.",
        example: "SELECT crdt_concat(v) FROM (VALUES ('x | y'), ('y'), ('w')) AS t(v)",
        example_result: "w | x | y",
    },
    FunctionDef {
        name: "crdt_gcounter",
        kind: Agg,
        signatures: &[sig(&[a("replica", Value), a("count", Integer)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Grow-only counter state from (replica, cumulative count) rows; keeps each replica's maximum.",
        example: "SELECT crdt_counter_value(crdt_gcounter(r, n)) FROM (VALUES ('a', 3), ('a', 5), ('b', 2)) AS t(r, n)",
        example_result: "7",
    },
    FunctionDef {
        name: "crdt_pncounter",
        kind: Agg,
        signatures: &[sig(
            &[a("replica", Value), a("inc", Integer), a("dec", Integer)],
            RBytes,
        )],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Positive-negative counter state from (replica, cumulative increments, cumulative decrements) rows.",
        example: "SELECT crdt_counter_value(crdt_pncounter(r, i, d)) FROM (VALUES ('a', 5, 1), ('b', 2, 0), ('a', 4, 2)) AS t(r, i, d)",
        example_result: "5",
    },
    FunctionDef {
        name: "crdt_state_merge_agg",
        kind: Agg,
        signatures: &[sig(&[a("state", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Join of state bytes of one state type (counters, registers, sets, maps, clocks).",
        example: "SELECT crdt_counter_value(crdt_state_merge_agg(s)) FROM (SELECT crdt_gcounter(r, n) AS s FROM (VALUES ('a', 3), ('b', 4)) AS t(r, n) GROUP BY r) AS u",
        example_result: "7",
    },
    FunctionDef {
        name: "crdt_lww_join",
        kind: Scalar,
        signatures: LWW_JOIN_SIGS,
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise LWW: crdt_lww over the two cells (v1, ts1 [, r1]) and (v2, ts2 [, r2]).",
        example: "SELECT crdt_lww_join('a', 1, 'b', 2)",
        example_result: "b",
    },
    FunctionDef {
        name: "crdt_lww_nullable_join",
        kind: Scalar,
        signatures: LWW_JOIN_SIGS,
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise LWW where NULL is a written value.",
        example: "SELECT crdt_lww_nullable_join('a', 1, CAST(NULL AS VARCHAR), 2)",
        example_result: "NULL",
    },
    FunctionDef {
        name: "crdt_max_join",
        kind: Scalar,
        signatures: &[sig(&[a("a", Value), a("b", Value)], SameAs(0))],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise max in the canonical order; NULL is bottom.",
        example: "SELECT crdt_max_join(3, 7)",
        example_result: "7",
    },
    FunctionDef {
        name: "crdt_min_join",
        kind: Scalar,
        signatures: &[sig(&[a("a", Value), a("b", Value)], SameAs(0))],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise min in the canonical order; NULL is bottom.",
        example: "SELECT crdt_min_join(3, 7)",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_priority_join",
        kind: Scalar,
        signatures: &[sig(
            &[a("a", Value), a("b", Value), c("levels", LevelsOf(0))],
            SameAs(0),
        )],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise priority: the higher-ranked of a and b.",
        example: "SELECT crdt_priority_join('final', 'draft', ARRAY['draft', 'review', 'final'])",
        example_result: "final",
    },
    FunctionDef {
        name: "crdt_longest_join",
        kind: Scalar,
        signatures: LWW_JOIN_SIGS,
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise longest, ties by (ts, replica, value).",
        example: "SELECT crdt_longest_join('abc', 1, 'ab', 2)",
        example_result: "abc",
    },
    FunctionDef {
        name: "crdt_union_join",
        kind: Scalar,
        signatures: &[
            sig(&[a("list1", List), a("list2", List)], SameAs(0)),
            sig(&[a("text1", Text), a("text2", Text), c("sep", Text)], RText),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise set union of two lists, or of two delimited texts.",
        example: "SELECT crdt_union_join('b,a', 'c', ',')",
        example_result: "a,b,c",
    },
    FunctionDef {
        name: "crdt_concat_join",
        kind: Scalar,
        signatures: &[
            sig(&[a("text1", Text), a("text2", Text)], RText),
            sig(&[a("text1", Text), a("text2", Text), c("sep", Text)], RText),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Pairwise concat: union of the parts of two delimited texts.",
        example: "SELECT crdt_concat_join('y | x', 'x')",
        example_result: "x | y",
    },
    FunctionDef {
        name: "crdt_state_merge",
        kind: Scalar,
        signatures: &[sig(&[a("a", Bytes), a("b", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Join of two states of one type; NULL is bottom (crdt_state_merge(NULL, x) = x).",
        example: "SELECT crdt_counter_value(crdt_state_merge((SELECT crdt_gcounter('a', 3)), (SELECT crdt_gcounter('b', 4))))",
        example_result: "7",
    },
    FunctionDef {
        name: "crdt_counter_value",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RInt)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Value of a G-Counter or PN-Counter state as BIGINT (overflow is an error).",
        example: "SELECT crdt_counter_value((SELECT crdt_gcounter('a', 3)))",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_typeof",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RText)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "State type name of state bytes (g_counter, pn_counter, lww_register, or_set, lww_map, ...).",
        example: "SELECT crdt_typeof((SELECT crdt_gcounter('a', 3)))",
        example_result: "g_counter",
    },
    FunctionDef {
        name: "crdt_to_json",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RText)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "State bytes as canonical JSON (keys sorted).",
        example: "SELECT crdt_to_json((SELECT crdt_gcounter('a', 3)))",
        example_result: "{\"counts\":{\"a\":3},\"type\":\"g_counter\"}",
    },
    FunctionDef {
        name: "crdt_hll_agg",
        kind: Agg,
        signatures: &[
            sig(&[a("value", Value)], RBytes),
            sig(&[a("value", Value), c("precision", Integer)], RBytes),
            sig(
                &[a("value", Value), c("precision", Integer), c("family", Text)],
                RBytes,
            ),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "HyperLogLog state (wire tag 0x30) of the distinct values; precision 4..18 (default 14, 0.81% error); family 'murmur3' (default, DataSketches' hash), 'pg_hll' or 'upstream'.",
        example: "SELECT crdt_hll_count(crdt_hll_agg(v)) FROM (VALUES (1), (2), (2), (3)) AS t(v)",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_hll_count",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RInt)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Estimated number of distinct values in an HLL state.",
        example: "SELECT crdt_hll_count(crdt_state_merge((SELECT crdt_hll_agg(v) FROM (VALUES ('a'), ('b')) AS t(v)), (SELECT crdt_hll_agg(v) FROM (VALUES ('b'), ('c')) AS t(v))))",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_hll_to_pg_hll",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RBytes)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "An HLL state of family 'pg_hll' as postgresql-hll bytes (cast to hll in Postgres; hash values there with hll_hash_bigint / hll_hash_text).",
        example: "SELECT crdt_hll_count(crdt_hll_from_pg_hll(crdt_hll_to_pg_hll((SELECT crdt_hll_agg(v, 11, 'pg_hll') FROM (VALUES (1), (2)) AS t(v)))))",
        example_result: "2",
    },
    FunctionDef {
        name: "crdt_hll_from_pg_hll",
        kind: Scalar,
        signatures: &[sig(&[a("bytes", Bytes)], RBytes)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "postgresql-hll bytes (register width 5, log2m 4..18) as an HLL state of family 'pg_hll'.",
        example: "SELECT crdt_hll_count(crdt_hll_from_pg_hll(crdt_hll_to_pg_hll((SELECT crdt_hll_agg(v, 11, 'pg_hll') FROM (VALUES (1), (2), (3)) AS t(v)))))",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_hll_to_datasketches",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RBytes)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "An HLL state of family 'murmur3' as Apache DataSketches HLL_8 bytes (Spark hll_sketch_*, Druid, the DuckDB and Postgres datasketches extensions).",
        example: "SELECT crdt_hll_count(crdt_hll_from_datasketches(crdt_hll_to_datasketches((SELECT crdt_hll_agg(v) FROM (VALUES (1), (2)) AS t(v)))))",
        example_result: "2",
    },
    FunctionDef {
        name: "crdt_hll_from_datasketches",
        kind: Scalar,
        signatures: &[sig(&[a("bytes", Bytes)], RBytes)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Apache DataSketches HLL bytes (any mode and type, lgK 4..18) as an HLL state of family 'murmur3'.",
        example: "SELECT crdt_hll_count(crdt_hll_from_datasketches(crdt_hll_to_datasketches((SELECT crdt_hll_agg(v, 10) FROM (VALUES ('a'), ('b'), ('c')) AS t(v)))))",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_theta_agg",
        kind: Agg,
        signatures: &[
            sig(&[a("value", Value)], RBytes),
            sig(&[a("value", Value), c("lg_k", Integer)], RBytes),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Theta (KMV) state (wire tag 0x62) keeping the 2^lg_k smallest hashes (lg_k 5..26, default 12, 1.6% error); unions and intersections.",
        example: "SELECT crdt_theta_count(crdt_theta_agg(v)) FROM (VALUES (1), (2), (2), (3)) AS t(v)",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_theta_count",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RInt)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Estimated number of distinct values in a Theta state.",
        example: "SELECT crdt_theta_count((SELECT crdt_theta_agg(v) FROM (VALUES ('x'), ('y')) AS t(v)))",
        example_result: "2",
    },
    FunctionDef {
        name: "crdt_theta_union",
        kind: Scalar,
        signatures: &[sig(&[a("a", Bytes), a("b", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Union of two Theta states (their join; NULL is bottom).",
        example: "SELECT crdt_theta_count(crdt_theta_union((SELECT crdt_theta_agg(v) FROM (VALUES (1), (2)) AS t(v)), (SELECT crdt_theta_agg(v) FROM (VALUES (2), (3)) AS t(v))))",
        example_result: "3",
    },
    FunctionDef {
        name: "crdt_theta_intersect",
        kind: Scalar,
        signatures: &[sig(&[a("a", Bytes), a("b", Bytes)], RBytes)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Intersection of two Theta states, as a Theta state (count it with crdt_theta_count).",
        example: "SELECT crdt_theta_count(crdt_theta_intersect((SELECT crdt_theta_agg(v) FROM (VALUES (1), (2)) AS t(v)), (SELECT crdt_theta_agg(v) FROM (VALUES (2), (3)) AS t(v))))",
        example_result: "1",
    },
    FunctionDef {
        name: "crdt_bloom_agg",
        kind: Agg,
        signatures: &[
            sig(&[a("value", Value)], RBytes),
            sig(
                &[a("value", Value), c("capacity", Integer), c("fp_rate", Float)],
                RBytes,
            ),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Bloom filter state (wire tag 0x31) sized for capacity items (default 10000) at fp_rate (default 0.01); merges by OR.",
        example: "SELECT crdt_bloom_contains(crdt_bloom_agg(v), 'b') FROM (VALUES ('a'), ('b')) AS t(v)",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_bloom_contains",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes), a("value", Value)], ReturnType::Bool)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Whether a Bloom state may contain value (false: certainly not).",
        example: "SELECT crdt_bloom_contains((SELECT crdt_bloom_agg(v) FROM (VALUES (1), (2)) AS t(v)), 3)",
        example_result: "false",
    },
    FunctionDef {
        name: "crdt_cms_agg",
        kind: Agg,
        signatures: &[
            sig(&[a("value", Value), a("replica", Value)], RBytes),
            sig(
                &[a("value", Value), a("replica", Value), a("count", Integer)],
                RBytes,
            ),
            sig(
                &[
                    a("value", Value),
                    a("replica", Value),
                    a("count", Integer),
                    c("width", Integer),
                    c("depth", Integer),
                ],
                RBytes,
            ),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Count-Min state (wire tag 0x32) with one sketch per replica (a G-Counter of sketches: merging never double counts or undercounts); count default 1, width 2000, depth 7.",
        example: "SELECT crdt_cms_estimate(crdt_cms_agg(v, r), 'x') FROM (VALUES ('x', 'a'), ('x', 'b'), ('y', 'a')) AS t(v, r)",
        example_result: "2",
    },
    FunctionDef {
        name: "crdt_cms_estimate",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes), a("value", Value)], RInt)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Estimated count of value in a Count-Min state (never below the true count).",
        example: "SELECT crdt_cms_estimate((SELECT crdt_cms_agg(v, 'r1', n) FROM (VALUES ('x', 5), ('y', 2)) AS t(v, n)), 'x')",
        example_result: "5",
    },
    FunctionDef {
        name: "crdt_minhash_agg",
        kind: Agg,
        signatures: &[
            sig(&[a("value", Value)], RBytes),
            sig(&[a("value", Value), c("num_perm", Integer)], RBytes),
            sig(
                &[a("value", Value), c("num_perm", Integer), c("seed", Integer)],
                RBytes,
            ),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "MinHash signature (wire tag 0x61) bit-identical to Python datasketch's default scheme; num_perm default 128, seed default 1.",
        example: "SELECT crdt_jaccard(crdt_minhash_agg(v), crdt_minhash_agg(v)) FROM (VALUES ('a'), ('b')) AS t(v)",
        example_result: "1.0",
    },
    FunctionDef {
        name: "crdt_jaccard",
        kind: Scalar,
        signatures: &[sig(&[a("a", Bytes), a("b", Bytes)], ReturnType::Float64)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Estimated Jaccard similarity of two MinHash states (the fraction of equal slots).",
        example: "SELECT crdt_jaccard((SELECT crdt_minhash_agg(v, 4) FROM (VALUES ('a'), ('b')) AS t(v)), (SELECT crdt_minhash_agg(v, 4) FROM (VALUES ('b'), ('a')) AS t(v)))",
        example_result: "1.0",
    },
    FunctionDef {
        name: "crdt_minhash_bands",
        kind: Scalar,
        signatures: &[sig(
            &[a("state", Bytes), a("b", Integer), a("r", Integer)],
            ReturnType::UInt64List,
        )],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "LSH band hashes of a MinHash state: b bands of r slots (b*r <= num_perm); equal band hashes mean equal slots.",
        example: "SELECT crdt_minhash_bands((SELECT crdt_minhash_agg(v) FROM (VALUES ('a')) AS t(v)), 16, 8) IS NOT NULL",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_row_id",
        kind: Scalar,
        signatures: &[sig(&[a("key", Value), a("row", Value)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "32-byte id of a row: blake3 (context 'crdt-merge row v1') of the key and the row's fields sorted by name, with their CRDT metadata; the same bytes in every engine (integer widths, text and binary types alike). NULL row → NULL.",
        example: "SELECT crdt_row_id(1, ROW(1, 'a')) <> crdt_row_id(2, ROW(1, 'a'))",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_content_id",
        kind: Scalar,
        signatures: &[
            sig(&[a("key", Value), a("row", Value)], RBytes),
            sig(&[a("key", Value), a("row", Value), c("metadata", List)], RBytes),
        ],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Like crdt_row_id (context 'crdt-merge content v1') without the CRDT metadata fields: those named in metadata, by default _ts and _deleted.",
        example: "SELECT crdt_content_id(1, ROW(1, 'a')) <> crdt_row_id(1, ROW(1, 'a'))",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_fingerprint_agg",
        kind: Agg,
        signatures: &[sig(&[a("id", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "16-byte negentropy v1 fingerprint of a set of 32-byte ids (sum mod 2^256 and count, SHA-256): independent of order and partitioning; no rows → the empty set's fingerprint.",
        example: "SELECT (SELECT crdt_fingerprint_agg(crdt_row_id(k, ROW(k))) FROM (VALUES (1), (2)) AS t(k)) = (SELECT crdt_fingerprint_agg(crdt_row_id(k, ROW(k))) FROM (VALUES (2), (1)) AS t(k))",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_fingerprint_state_agg",
        kind: Agg,
        signatures: &[sig(&[a("id", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "The 40-byte fingerprint state (sum, count) of a set of ids, kept up to date with crdt_fingerprint_add / crdt_fingerprint_sub and read with crdt_fingerprint.",
        example: "SELECT crdt_fingerprint(crdt_fingerprint_state_agg(crdt_row_id(k, ROW(k)))) = crdt_fingerprint_agg(crdt_row_id(k, ROW(k))) FROM (VALUES (1), (2)) AS t(k)",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_table_digest",
        kind: Agg,
        signatures: &[sig(&[a("key", Value), a("row", Value)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "16-byte digest of a table: crdt_fingerprint_agg(crdt_row_id(key, row)). Equal digests ⇔ the same rows, whatever the order, partitioning or engine.",
        example: "SELECT crdt_table_digest(k, ROW(k)) = crdt_fingerprint_agg(crdt_row_id(k, ROW(k))) FROM (VALUES (1), (2)) AS t(k)",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_fingerprint",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "The 16-byte fingerprint of a 40-byte fingerprint state (NULL: the empty set).",
        example: "SELECT crdt_fingerprint(NULL) = (SELECT crdt_fingerprint_agg(crdt_row_id(k, ROW(k))) FROM (VALUES (1)) AS t(k) WHERE k > 1)",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_fingerprint_add",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes), a("id", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Adds a 32-byte id, or a whole 40-byte state, to a fingerprint state (NULL state: empty; NULL id: no change).",
        example: "SELECT crdt_fingerprint(crdt_fingerprint_add(NULL, crdt_row_id(1, ROW(1)))) = (SELECT crdt_fingerprint_agg(crdt_row_id(1, ROW(1))))",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_fingerprint_sub",
        kind: Scalar,
        signatures: &[sig(&[a("state", Bytes), a("id", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Takes a 32-byte id, or a 40-byte state, out of a fingerprint state (the inverse of crdt_fingerprint_add; a delete in a digest side table).",
        example: "SELECT crdt_fingerprint_sub(crdt_fingerprint_add(NULL, crdt_row_id(1, ROW(1))), crdt_row_id(1, ROW(1))) = crdt_fingerprint_add(NULL, NULL)",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_sync_key",
        kind: Scalar,
        signatures: &[sig(&[a("ts", Clock), a("id", Bytes)], RBytes)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "40-byte range key (negentropy's order): the clock as a big-endian u64 (an integer or HLC as is, a double by its order-preserving bits, other types and NULL as 0), then the id.",
        example: "SELECT crdt_sync_key(1, crdt_row_id(1, ROW(1))) < crdt_sync_key(2, crdt_row_id(0, ROW(0)))",
        example_result: "true",
    },
    FunctionDef {
        name: "crdt_json_merge",
        kind: Scalar,
        signatures: &[sig(&[a("a", Text), a("b", Text)], RText)],
        nulls: Bottom,
        volatility: Volatility::Immutable,
        doc: "Lawful deep merge of two JSON documents (text): objects key by key, arrays as sets, scalar conflicts to the greater value, kinds ordered null < boolean < number < string < array < object; canonical JSON out (sorted keys). NULL is the identity.",
        example: "SELECT crdt_json_merge('{\"a\": 1, \"t\": [\"x\"]}', '{\"b\": 2, \"t\": [\"y\", \"x\"]}')",
        example_result: "{\"a\":1,\"b\":2,\"t\":[\"x\",\"y\"]}",
    },
    FunctionDef {
        name: "crdt_hlc",
        kind: Scalar,
        signatures: &[sig(&[a("ms", Integer), a("counter", Integer)], RInt)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Packs a hybrid logical clock: ms (< 2^47, so the packed BIGINT stays positive) in the high 48 bits, counter (<= 65535) in the low 16.",
        example: "SELECT crdt_hlc(1, 2)",
        example_result: "65538",
    },
    FunctionDef {
        name: "crdt_hlc_ms",
        kind: Scalar,
        signatures: &[sig(&[a("h", Integer)], RInt)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Milliseconds of a packed clock.",
        example: "SELECT crdt_hlc_ms(65538)",
        example_result: "1",
    },
    FunctionDef {
        name: "crdt_hlc_counter",
        kind: Scalar,
        signatures: &[sig(&[a("h", Integer)], RInt)],
        nulls: Strict,
        volatility: Volatility::Immutable,
        doc: "Counter of a packed clock.",
        example: "SELECT crdt_hlc_counter(65538)",
        example_result: "2",
    },
    FunctionDef {
        name: "crdt_version",
        kind: Scalar,
        signatures: &[sig(&[], RText)],
        nulls: Strict,
        volatility: Volatility::Stable,
        doc: "Version of the crdt-merge kernel.",
        example: "SELECT crdt_version() IS NOT NULL",
        example_result: "true",
    },
];

/// Catalogue entries a companion crate contributes (the kernel cannot depend on it): scalars
/// declared with the kernel's types and evaluated by the crate's `invoke`. A host registers
/// each extension it links ([`register_extension`]) before iterating [`functions`], so the
/// extension's functions get the same types, NULL handling and errors as the kernel's.
#[derive(Debug)]
pub struct Extension {
    /// The contributing crate (for error messages).
    pub name: &'static str,
    /// Its functions (scalars only).
    pub functions: &'static [FunctionDef],
    /// Evaluates one of them over `args` (arrays of `num_rows` rows).
    pub invoke: fn(&str, &[ArrayRef], usize) -> Result<ArrayRef>,
}

static EXTENSIONS: std::sync::RwLock<Vec<&'static Extension>> = std::sync::RwLock::new(Vec::new());

/// Registers `ext` (again: a no-op).
///
/// # Errors
/// An aggregate among its functions, or a name the kernel or another extension already uses.
pub fn register_extension(ext: &'static Extension) -> Result<()> {
    // Hosts call this on every use; the common case takes only the read lock.
    if EXTENSIONS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|e| std::ptr::eq(*e, ext))
    {
        return Ok(());
    }
    let mut all = EXTENSIONS.write().unwrap_or_else(|e| e.into_inner());
    if all.iter().any(|e| std::ptr::eq(*e, ext)) {
        return Ok(());
    }
    for f in ext.functions {
        if f.kind != FunctionKind::Scalar {
            return Err(Error::internal(
                f.name,
                "extensions contribute scalars only",
            ));
        }
        let taken = CATALOGUE.iter().any(|k| k.name == f.name)
            || all
                .iter()
                .any(|e| e.functions.iter().any(|g| g.name == f.name));
        if taken {
            return Err(Error::internal(
                f.name,
                format!("{}: the name is already in the catalogue", ext.name),
            ));
        }
    }
    all.push(ext);
    Ok(())
}

/// The registered extensions, in registration order.
pub fn extensions() -> Vec<&'static Extension> {
    EXTENSIONS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Every function a host registers: [`CATALOGUE`], then each registered extension's.
pub fn functions() -> Vec<&'static FunctionDef> {
    let mut out: Vec<&'static FunctionDef> = CATALOGUE.iter().collect();
    for e in extensions() {
        out.extend(e.functions.iter());
    }
    out
}

fn extension_of(name: &str) -> Option<&'static Extension> {
    extensions()
        .into_iter()
        .find(|e| e.functions.iter().any(|f| f.name == name))
}

/// Looks a function up by SQL name (the kernel's, then registered extensions').
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    CATALOGUE
        .iter()
        .find(|f| f.name == name)
        .or_else(|| extension_of(name).and_then(|e| e.functions.iter().find(|f| f.name == name)))
}

fn scalar_def(name: &str) -> Result<&'static FunctionDef> {
    lookup(name)
        .filter(|f| f.kind == FunctionKind::Scalar)
        .ok_or_else(|| Error::invalid(name, "function", "a crdt_* scalar from the catalogue", name))
}

fn arity(name: &str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::new(
            name,
            ErrorKind::Arity {
                expected: expected.to_string(),
                found,
            },
        ))
    }
}

/// Return type of scalar `name` for `arg_types`.
///
/// # Errors
/// Unknown function, wrong arity or argument types.
pub fn scalar_return_type(name: &str, arg_types: &[DataType]) -> Result<DataType> {
    let def = scalar_def(name)?;
    if name.ends_with("_join") {
        return pairwise::return_type(name, arg_types);
    }
    let sig = match def
        .signatures
        .iter()
        .find(|s| s.args.len() == arg_types.len())
    {
        Some(s) => s,
        None => {
            arity(name, def.signatures[0].args.len(), arg_types.len())?;
            &def.signatures[0]
        }
    };
    for (arg, dt) in sig.args.iter().zip(arg_types) {
        let ok = dt == &DataType::Null
            || match arg.ty {
                Bytes => matches!(
                    dt,
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                ),
                Integer => dt.is_integer(),
                Float => dt.is_numeric(),
                _ => true,
            };
        if !ok {
            return Err(Error::type_mismatch(name, arg.name, arg.ty.describe(), dt));
        }
    }
    Ok(match sig.returns {
        RBytes => DataType::Binary,
        RInt => DataType::Int64,
        RText => DataType::Utf8,
        ReturnType::Bool => DataType::Boolean,
        ReturnType::Float64 => DataType::Float64,
        ReturnType::UInt64List => DataType::List(Arc::new(arrow_schema::Field::new(
            "item",
            DataType::UInt64,
            true,
        ))),
        SameAs(i) => arg_types[i].clone(),
    })
}

/// Argument `arg` of `name` as state bytes (BLOB/BYTEA of any Arrow binary layout, or NULLs).
pub(crate) fn binaries(name: &str, arg: &str, a: &ArrayRef) -> Result<BinaryArray> {
    match a.data_type() {
        DataType::Binary => Ok(a.as_binary::<i32>().clone()),
        DataType::Null | DataType::LargeBinary | DataType::BinaryView => {
            Ok(arrow_cast::cast(a, &DataType::Binary)?
                .as_binary::<i32>()
                .clone())
        }
        dt => Err(Error::type_mismatch(name, arg, "state bytes", dt)),
    }
}

/// Argument `arg` of `name` as BIGINTs; an integer that does not fit is an error, never NULL.
pub(crate) fn integers(name: &str, arg: &str, a: &ArrayRef) -> Result<Int64Array> {
    if !(a.data_type().is_integer() || a.data_type() == &DataType::Null) {
        return Err(Error::type_mismatch(name, arg, "an integer", a.data_type()));
    }
    let c = arrow_cast::cast_with_options(
        a,
        &DataType::Int64,
        &arrow_cast::CastOptions {
            safe: false,
            ..Default::default()
        },
    )
    .map_err(|_| Error::invalid(name, arg, "a value that fits BIGINT", "a larger integer"))?;
    Ok(c.as_primitive::<Int64Type>().clone())
}

/// Evaluates scalar `name` over `args` (arrays of `num_rows` rows each).
///
/// # Errors
/// The function's caller errors (bad types, bad bytes, out-of-range clocks, ...).
pub fn invoke_scalar(name: &str, args: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
    let def = scalar_def(name)?;
    if let Some(ext) = extension_of(name) {
        let n = def.signatures.iter().map(|s| s.args.len());
        if !def.signatures.iter().any(|s| s.args.len() == args.len()) {
            let expected: Vec<String> = n.map(|k| k.to_string()).collect();
            return Err(Error::new(
                name,
                ErrorKind::Arity {
                    expected: expected.join(" or "),
                    found: args.len(),
                },
            ));
        }
        return (ext.invoke)(name, args, num_rows);
    }
    if name.ends_with("_join") {
        return pairwise::join(name, args);
    }
    if let Some(&d) = crate::digest::sql::SCALARS.iter().find(|&&s| s == name) {
        return crate::digest::sql::invoke(d, args, num_rows);
    }
    arity(name, def.signatures[0].args.len(), args.len())?;
    if name == "crdt_json_merge" {
        return crate::json_merge::invoke(args, num_rows);
    }
    if let Some(&sk) = crate::sketch::sql::SCALARS.iter().find(|&&s| s == name) {
        return crate::sketch::sql::invoke(sk, args, num_rows);
    }
    let out: ArrayRef = match name {
        "crdt_version" => Arc::new(StringArray::from(vec![crate::VERSION; num_rows])),
        "crdt_state_merge" => {
            let (x, y) = (
                binaries(name, "a", &args[0])?,
                binaries(name, "b", &args[1])?,
            );
            let mut out = Vec::with_capacity(num_rows);
            for i in 0..num_rows {
                out.push(match (x.is_valid(i), y.is_valid(i)) {
                    (false, false) => None,
                    (true, false) => {
                        Some(crate::strategy::merge_state_bytes(x.value(i), x.value(i))?)
                    }
                    (false, true) => {
                        Some(crate::strategy::merge_state_bytes(y.value(i), y.value(i))?)
                    }
                    (true, true) => {
                        Some(crate::strategy::merge_state_bytes(x.value(i), y.value(i))?)
                    }
                });
            }
            Arc::new(BinaryArray::from_iter(out))
        }
        "crdt_counter_value" | "crdt_typeof" | "crdt_to_json" => {
            let x = binaries(name, "state", &args[0])?;
            match name {
                "crdt_counter_value" => Arc::new(
                    (0..num_rows)
                        .map(|i| {
                            x.is_valid(i)
                                .then(|| crate::strategy::counter_value(x.value(i)))
                                .transpose()
                        })
                        .collect::<Result<Int64Array>>()?,
                ),
                "crdt_typeof" => Arc::new(
                    (0..num_rows)
                        .map(|i| {
                            x.is_valid(i)
                                .then(|| crate::strategy::state_type_name(x.value(i)))
                                .transpose()
                        })
                        .collect::<Result<StringArray>>()?,
                ),
                _ => Arc::new(
                    (0..num_rows)
                        .map(|i| {
                            x.is_valid(i)
                                .then(|| crate::strategy::state_to_json(x.value(i)))
                                .transpose()
                        })
                        .collect::<Result<StringArray>>()?,
                ),
            }
        }
        "crdt_hlc" => {
            let (m, c) = (
                integers(name, "ms", &args[0])?,
                integers(name, "counter", &args[1])?,
            );
            Arc::new(
                m.iter()
                    .zip(c.iter())
                    .map(|(m, c)| match (m, c) {
                        (Some(m), Some(c)) => crate::hlc::pack(m, c).map(Some),
                        _ => Ok(None),
                    })
                    .collect::<Result<Int64Array>>()?,
            )
        }
        "crdt_hlc_ms" | "crdt_hlc_counter" => {
            let h = integers(name, "h", &args[0])?;
            Arc::new(
                h.iter()
                    .map(|h| {
                        h.map(|h| {
                            if name == "crdt_hlc_ms" {
                                crate::hlc::ms(h)
                            } else {
                                crate::hlc::counter(h)
                            }
                        })
                        .transpose()
                    })
                    .collect::<Result<Int64Array>>()?,
            )
        }
        other => {
            return Err(Error::internal(
                other,
                "catalogue scalar without an implementation",
            ))
        }
    };
    Ok(out)
}

/// Configures aggregate `name` for `arg_types` (a shorthand for [`Aggregate::new`]).
///
/// # Errors
/// See [`Aggregate::new`].
pub fn aggregate(name: &str, arg_types: &[DataType]) -> Result<Aggregate> {
    Aggregate::new(name, arg_types)
}

/// `docs/sql-functions.md`, generated from the catalogue.
pub fn render_markdown() -> String {
    let mut s = String::from(
        "# SQL functions\n\n\
         <!-- Generated from crates/crdt-merge-kernel/src/catalogue.rs by \
         `UPDATE_DOCS=1 cargo test -p crdt-merge-kernel catalogue`; do not edit. -->\n\n\
         The same names, signatures and answers in DuckDB, DataFusion and Postgres (and the \
         same rules in Polars). Argument kinds: `any` is any orderable type (integers, floats, \
         decimals, text, binary, boolean, date, timestamp, list, struct); `clock` is a number, \
         decimal, date, timestamp or packed HLC; `const` arguments must be the same on every \
         row.\n\n\
         ",
    );
    let all: Vec<&FunctionDef> = CATALOGUE.iter().collect();
    s.push_str(&render_functions(&all));
    s
}

/// The marker before a companion crate's section of `docs/sql-functions.md` (the kernel's part
/// is everything before the first one).
pub const EXTENSION_DOCS_MARKER: &str = "\n<!-- extension ";

/// The function table and the examples of `functions` (a section of `docs/sql-functions.md`).
pub fn render_functions(functions: &[&FunctionDef]) -> String {
    let mut s = String::from(
        "| function | kind | signatures | NULL | description |\n|---|---|---|---|---|\n",
    );
    for f in functions {
        let sigs: Vec<String> = f
            .signatures
            .iter()
            .map(|sg| {
                let args: Vec<String> = sg
                    .args
                    .iter()
                    .map(|a| {
                        format!(
                            "{}{} {}",
                            if a.constant { "const " } else { "" },
                            a.name,
                            a.ty.describe()
                        )
                    })
                    .collect();
                format!(
                    "`{}({})` → {}",
                    f.name,
                    args.join(", "),
                    sg.returns.describe(sg.args)
                )
            })
            .collect();
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            f.name,
            match f.kind {
                FunctionKind::Aggregate => "aggregate",
                FunctionKind::Scalar => "scalar",
            },
            sigs.join("<br>"),
            match f.nulls {
                Bottom => "bottom",
                Strict => "strict",
            },
            f.doc.replace('|', "\\|")
        ));
    }
    s.push_str("\n## Examples\n\nEach example runs in every engine's test suite.\n\n");
    for f in functions {
        s.push_str(&format!(
            "### `{}`\n\n```sql\n{};\n-- {}\n```\n\n",
            f.name, f.example, f.example_result
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|f| f.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(names.iter().all(|n| n.starts_with("crdt_")));
    }

    #[test]
    fn every_strategy_has_its_aggregate_and_join() {
        for k in crate::strategy::StrategyKind::ALL {
            assert!(lookup(k.aggregate_name()).is_some(), "{k}");
            if let Some(j) = k.join_name() {
                assert!(lookup(j).is_some(), "{j}");
            }
        }
    }

    #[test]
    fn docs_page_matches_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/sql-functions.md");
        let want = render_markdown();
        let have = std::fs::read_to_string(path).unwrap_or_default();
        // Companion crates' sections follow the kernel's (each checked by its crate).
        let (ours, theirs) = match have.find(EXTENSION_DOCS_MARKER) {
            Some(i) => have.split_at(i),
            None => (have.as_str(), ""),
        };
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, format!("{want}{theirs}")).expect("write docs/sql-functions.md");
        }
        assert!(
            ours == want,
            "docs/sql-functions.md is out of date: run `UPDATE_DOCS=1 cargo test -p crdt-merge-kernel catalogue`"
        );
    }
}
