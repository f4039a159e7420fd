//! Strategy names, defined once for every host and for MergeQL.

use crate::error::{Error, ErrorKind, Result};

/// A merge strategy for one column. Every strategy is the join of a semilattice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StrategyKind {
    /// Last writer wins on (ts, replica, value); a NULL value never overwrites.
    Lww,
    /// Last writer wins on (ts, replica, value); a NULL value is a written value.
    LwwNullable,
    /// Greatest value in canonical order.
    Max,
    /// Least value in canonical order.
    Min,
    /// Greatest rank in a constant list of levels, then value.
    Priority,
    /// Longest value (code points, elements or bytes), then (ts, replica, value).
    Longest,
    /// Set union of list elements, or of the parts of delimited text.
    Union,
    /// Union of the parts of delimited text (default separator `" | "`).
    Concat,
    /// Grow-only counter: per-replica maximum of cumulative counts.
    GCounter,
    /// Positive-negative counter: two grow-only counters.
    PNCounter,
}

impl StrategyKind {
    /// Every strategy, in documentation order.
    pub const ALL: [StrategyKind; 10] = [
        StrategyKind::Lww,
        StrategyKind::LwwNullable,
        StrategyKind::Max,
        StrategyKind::Min,
        StrategyKind::Priority,
        StrategyKind::Longest,
        StrategyKind::Union,
        StrategyKind::Concat,
        StrategyKind::GCounter,
        StrategyKind::PNCounter,
    ];

    /// The strategy's name as users write it (MergeQL `STRATEGY col='name'`, dbt configs, CLI).
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Lww => "lww",
            StrategyKind::LwwNullable => "lww_nullable",
            StrategyKind::Max => "max",
            StrategyKind::Min => "min",
            StrategyKind::Priority => "priority",
            StrategyKind::Longest => "longest",
            StrategyKind::Union => "union",
            StrategyKind::Concat => "concat",
            StrategyKind::GCounter => "gcounter",
            StrategyKind::PNCounter => "pncounter",
        }
    }

    /// The SQL aggregate implementing the strategy (`crdt_<name>`).
    pub fn aggregate_name(self) -> &'static str {
        match self {
            StrategyKind::Lww => "crdt_lww",
            StrategyKind::LwwNullable => "crdt_lww_nullable",
            StrategyKind::Max => "crdt_max",
            StrategyKind::Min => "crdt_min",
            StrategyKind::Priority => "crdt_priority",
            StrategyKind::Longest => "crdt_longest",
            StrategyKind::Union => "crdt_union",
            StrategyKind::Concat => "crdt_concat",
            StrategyKind::GCounter => "crdt_gcounter",
            StrategyKind::PNCounter => "crdt_pncounter",
        }
    }

    /// The SQL pairwise scalar implementing the strategy (`crdt_<name>_join`), where one exists.
    /// Counters merge pairwise through `crdt_state_merge`.
    pub fn join_name(self) -> Option<&'static str> {
        Some(match self {
            StrategyKind::Lww => "crdt_lww_join",
            StrategyKind::LwwNullable => "crdt_lww_nullable_join",
            StrategyKind::Max => "crdt_max_join",
            StrategyKind::Min => "crdt_min_join",
            StrategyKind::Priority => "crdt_priority_join",
            StrategyKind::Longest => "crdt_longest_join",
            StrategyKind::Union => "crdt_union_join",
            StrategyKind::Concat => "crdt_concat_join",
            StrategyKind::GCounter | StrategyKind::PNCounter => return None,
        })
    }

    /// The pick function (`crdt_<name>_pick`, [`super::pairwise::pick`]) and the cell-key
    /// function (`crdt_<name>_key`, [`crate::sort_key::strategy_key`]) of the strategies whose
    /// cell order alone decides the winner (LWW, LWW-nullable, Max, Min), so that a host can
    /// move the value itself; `None` for the others.
    pub fn pick_and_key_names(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            StrategyKind::Lww => ("crdt_lww_pick", "crdt_lww_key"),
            StrategyKind::LwwNullable => ("crdt_lww_nullable_pick", "crdt_lww_nullable_key"),
            StrategyKind::Max => ("crdt_max_pick", "crdt_max_key"),
            StrategyKind::Min => ("crdt_min_pick", "crdt_min_key"),
            _ => return None,
        })
    }

    /// True for the strategies that pick one winning cell (LWW, LWW-nullable, Max, Min,
    /// Priority, Longest), where two distinct non-NULL values meeting is a conflict; false for
    /// the set and counter strategies, which keep every input.
    pub fn selects_one_cell(self) -> bool {
        matches!(
            self,
            StrategyKind::Lww
                | StrategyKind::LwwNullable
                | StrategyKind::Max
                | StrategyKind::Min
                | StrategyKind::Priority
                | StrategyKind::Longest
        )
    }

    /// Parses a user-facing strategy name. Accepts the Python library's spellings too
    /// (`LWW`, `MaxWins`, `MinWins`, `UnionSet`, `LongestWins`, `Priority`, `Concat`), case-insensitively.
    pub fn parse(name: &str) -> Result<Self> {
        let norm: String = name
            .trim()
            .chars()
            .filter(|c| *c != '_' && *c != '-' && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        Ok(match norm.as_str() {
            "lww" | "lastwriterwins" => StrategyKind::Lww,
            "lwwnullable" => StrategyKind::LwwNullable,
            "max" | "maxwins" => StrategyKind::Max,
            "min" | "minwins" => StrategyKind::Min,
            "priority" => StrategyKind::Priority,
            "longest" | "longestwins" => StrategyKind::Longest,
            "union" | "unionset" => StrategyKind::Union,
            "concat" => StrategyKind::Concat,
            "gcounter" => StrategyKind::GCounter,
            "pncounter" => StrategyKind::PNCounter,
            _ => {
                return Err(Error::new(
                    "strategy",
                    ErrorKind::UnknownStrategy {
                        name: name.to_string(),
                        valid: Self::ALL
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                ))
            }
        })
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_python_spellings_parse() {
        for k in StrategyKind::ALL {
            assert_eq!(StrategyKind::parse(k.name()).unwrap(), k);
        }
        assert_eq!(StrategyKind::parse("MaxWins").unwrap(), StrategyKind::Max);
        assert_eq!(
            StrategyKind::parse("UnionSet").unwrap(),
            StrategyKind::Union
        );
        let e = StrategyKind::parse("newest").unwrap_err();
        assert!(e
            .to_string()
            .contains("valid strategies are: lww, lww_nullable"));
    }
}
