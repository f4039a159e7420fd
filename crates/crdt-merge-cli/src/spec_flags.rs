//! The merge-spec flags `crdt-merge sync` and `crdt-merge verify` share (`--key`, `--spec`,
//! `--strategy`, `--ts`, `--replica`, `--tombstone`), turned into a [`MergeSpec`] the way
//! `crdt-merge merge` turns its own ([`crate::with_rule_flags`]).

use crdt_merge_kernel::mergeql::{self, MergeSpec, Source};

use crate::{quote_ident, with_rule_flags, CliError, Result};

/// How rows merge: the key, the clock and the column strategies.
#[derive(clap::Args, Debug)]
pub struct SpecFlags {
    /// Key column(s); repeat the flag or separate with commas.
    #[arg(long, short = 'k', required = true, value_delimiter = ',')]
    pub key: Vec<String>,
    /// The body of a MergeQL STRATEGY clause: "score='max', tags='union'".
    #[arg(long)]
    pub spec: Option<String>,
    /// A column's strategy, COLUMN=STRATEGY, as `crdt-merge merge` takes it; repeatable.
    #[arg(long, short = 's')]
    pub strategy: Vec<String>,
    /// The row clock column.
    #[arg(long, default_value = mergeql::DEFAULT_CLOCK)]
    pub ts: String,
    /// A replica id column (breaks clock ties).
    #[arg(long)]
    pub replica: Option<String>,
    /// Enable tombstones, in this column (default `_deleted`).
    #[arg(long, num_args = 0..=1, default_missing_value = mergeql::DEFAULT_TOMBSTONE)]
    pub tombstone: Option<String>,
}

impl SpecFlags {
    /// The spec for `sources`.
    pub fn to_spec(&self, sources: Vec<Source>) -> Result<MergeSpec> {
        let mut spec = MergeSpec::new(
            sources,
            self.key
                .iter()
                .map(|k| k.trim().to_string())
                .collect::<Vec<_>>(),
        )
        .with_clock(self.ts.clone());
        if let Some(body) = &self.spec {
            // The body of a STRATEGY clause, parsed by the MergeQL parser itself.
            let keys: Vec<String> = self.key.iter().map(|k| quote_ident(k.trim())).collect();
            let q = format!("MERGE 'a', 'b' ON {} STRATEGY {body}", keys.join(", "));
            let parsed = mergeql::parse(&q).map_err(|e| CliError::Usage(format!("--spec: {e}")))?;
            for r in parsed.rules {
                spec = spec.with_rule(r);
            }
        }
        with_rule_flags(spec, &self.strategy, &self.replica, &self.tombstone)
    }
}
