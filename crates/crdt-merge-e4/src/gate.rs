//! Trust gates: merges over what a [`TrustState`] admits, and nothing else.
//!
//! - [`table`]: the kernel's table merge over the rows of the admitted table deltas of one
//!   context. The result is a pure function of the state's sets (the kernel merge is a
//!   semilattice join and the inputs go in delta-id order), so a new conviction retracts the
//!   author's rows simply by recomputing. Trust never enters the LWW order or a tie-break.
//! - [`model_contributions`] and [`model_state`]: one contribution per admitted author per
//!   round, as the signed (contribution id, weight) pairs, and a model `MergeState` filtered
//!   to exactly those; [`model_robust`] applies a rule of `crdt_merge_model::robust` to the
//!   admitted contributions' vectors.
//!
//! Every gate returns a [`Receipt`]: the state root, the admitted-set root, the convicted set
//! and the result's hash.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StructArray};
use crdt_merge_kernel::digest::{Fingerprint, RowIds};
use crdt_merge_kernel::mergeql::{MergeSpec, Source};
use crdt_merge_kernel::table::{self, MergeOutput, PlanChoice, Replica};
#[cfg(feature = "model")]
use crdt_merge_model::robust::{self, RobustOutcome, RobustRule};
#[cfg(feature = "model")]
use crdt_merge_model::state::{Entry, MergeState};

use crate::codec::hex;
use crate::delta::{DeltaId, Kind, SignedDelta};
use crate::error::{Result, TrustError};
use crate::hash::{contexts, merkle_root, Context};
use crate::pki::RegisterLevel;
use crate::sig::KeyId;
use crate::state::{Admission, TrustState};
use crate::table::{DecodedTable, TablePayload};

/// What a gate did, for a third party to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The context.
    pub ctx: Context,
    /// The trust state's root.
    pub state_root: [u8; 32],
    /// Merkle root over the admitted delta ids (ascending).
    pub admitted_root: [u8; 32],
    /// How many deltas were admitted.
    pub admitted: usize,
    /// Convicted authors (ascending).
    pub convicted: Vec<KeyId>,
    /// The result's hash: for tables the 16-byte `crdt_table_digest` of the merged rows on
    /// the key (what `crdt-merge digest` prints), for models a blake3 of the aggregate.
    pub result: Vec<u8>,
    /// For robust rules: whether n ≥ the rule's bound for its f.
    pub population_bound_met: Option<bool>,
}

impl Receipt {
    fn new(state: &TrustState, ctx: Context, admitted: &[DeltaId], result: Vec<u8>) -> Receipt {
        Receipt {
            ctx,
            state_root: state.root(),
            admitted_root: merkle_root(admitted.iter().map(|d| d.0.as_slice())),
            admitted: admitted.len(),
            convicted: state.convicted(),
            result,
            population_bound_met: None,
        }
    }

    /// The receipt's own hash (over every field).
    pub fn hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key(contexts::RECEIPT);
        h.update(&self.ctx.0);
        h.update(&self.state_root);
        h.update(&self.admitted_root);
        h.update(&(self.admitted as u64).to_be_bytes());
        h.update(&(self.convicted.len() as u64).to_be_bytes());
        for k in &self.convicted {
            h.update(&k.0);
        }
        h.update(&(self.result.len() as u64).to_be_bytes());
        h.update(&self.result);
        h.update(&[match self.population_bound_met {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        }]);
        *h.finalize().as_bytes()
    }

    /// `key value` lines.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "receipt {}\ncontext {}\nstate_root {}\nadmitted {} (root {})\nconvicted {}\nresult {}\n",
            hex(&self.hash()),
            self.ctx.hex(),
            hex(&self.state_root),
            self.admitted,
            hex(&self.admitted_root),
            self.convicted.len(),
            hex(&self.result)
        );
        for k in &self.convicted {
            out.push_str(&format!("convicted {k}\n"));
        }
        if let Some(b) = self.population_bound_met {
            out.push_str(&format!("population_bound_met {b}\n"));
        }
        out
    }
}

/// A refused delta and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The delta.
    pub id: DeltaId,
    /// Its author.
    pub author: KeyId,
    /// Its sequence number.
    pub seq: u64,
    /// Why.
    pub why: Admission,
}

fn refusals(state: &TrustState, ctx: Context, kind: Kind) -> Vec<Refusal> {
    state
        .refused(ctx, kind)
        .into_iter()
        .map(|(d, why)| Refusal {
            id: d.id(),
            author: d.header().author,
            seq: d.header().seq,
            why,
        })
        .collect()
}

/// A gated table merge.
#[derive(Debug)]
pub struct TableGateOutput {
    /// The kernel's merge of the admitted rows.
    pub merge: MergeOutput,
    /// Admitted delta ids (ascending).
    pub admitted: Vec<DeltaId>,
    /// Deltas of the context left out, with the reason.
    pub refused: Vec<Refusal>,
    /// The receipt.
    pub receipt: Receipt,
}

/// The spec a table payload implies: its key columns, LWW on its clock column.
pub fn default_spec(p: &TablePayload) -> MergeSpec {
    MergeSpec::new(
        [Source::table("e4")],
        p.columns[..p.n_key].iter().map(|c| c.0.clone()),
    )
    .with_clock(p.columns[p.clock_col].0.clone())
}

fn payload_of(d: &SignedDelta) -> Result<TablePayload> {
    TablePayload::decode(d.payload.as_deref().unwrap_or_default())
}

/// Merges the rows of the admitted table deltas of `ctx` under `spec` (`None`: the payloads'
/// key and clock, LWW elsewhere).
///
/// # Errors
/// No admitted delta in the context, admitted deltas with different schemas (the two named),
/// or the kernel's errors for the spec.
pub fn table(
    state: &TrustState,
    ctx: Context,
    spec: Option<&MergeSpec>,
) -> Result<TableGateOutput> {
    let admitted = state.admitted(ctx, Kind::TableDelta);
    let Some(first) = admitted.first() else {
        return Err(TrustError::Refused(format!(
            "no admitted table delta in context {} ({} refused)",
            &ctx.hex()[..16],
            state.refused(ctx, Kind::TableDelta).len()
        )));
    };
    for d in &admitted {
        if d.header().schema != first.header().schema {
            return Err(TrustError::Refused(format!(
                "admitted deltas {} and {} have different table schemas",
                &first.id().hex()[..16],
                &d.id().hex()[..16]
            )));
        }
    }
    // The rows `insert_deltas` decoded, else a decode here (on all cores for large inputs).
    let bytes: usize = admitted
        .iter()
        .map(|d| d.payload.as_ref().map_or(0, Vec::len))
        .sum();
    let decoded = crate::par::map(&admitted, bytes >= 1 << 22, |d| {
        match state.decoded_table(&d.id()) {
            Some(t) => Ok(t.clone()),
            None => DecodedTable::of(payload_of(d)?).map(Arc::new),
        }
    });
    let decoded: Vec<Arc<DecodedTable>> = decoded.into_iter().collect::<Result<_>>()?;
    let replicas: Vec<Replica> = admitted
        .iter()
        .zip(&decoded)
        .map(|(d, t)| Replica {
            name: format!("{}#{}", &d.header().author.hex()[..16], d.header().seq),
            batches: vec![t.batch.clone()],
        })
        .collect();
    let p0 = &decoded[0].schema;
    let owned;
    let spec = match spec {
        Some(s) => s,
        None => {
            owned = default_spec(p0);
            &owned
        }
    };
    let merge = table::merge(&replicas, spec, PlanChoice::Grouped)?;
    let digest = table_digest(&merge.batch, &spec.key)?;
    let ids: Vec<DeltaId> = admitted.iter().map(|d| d.id()).collect();
    let receipt = Receipt::new(state, ctx, &ids, digest.to_vec());
    Ok(TableGateOutput {
        merge,
        admitted: ids,
        refused: refusals(state, ctx, Kind::TableDelta),
        receipt,
    })
}

/// The order-free digest of a batch on its key columns (`crdt_table_digest`'s bytes).
///
/// # Errors
/// A key column missing, or a type without a canonical form.
pub fn table_digest(batch: &RecordBatch, key: &[String]) -> Result<[u8; 16]> {
    let schema = batch.schema();
    let mut kf = Vec::new();
    let mut kc: Vec<ArrayRef> = Vec::new();
    for k in key {
        let i = schema
            .index_of(k)
            .map_err(|_| TrustError::Invalid(format!("key column `{k}` is not in the result")))?;
        kf.push(schema.field(i).clone());
        kc.push(batch.column(i).clone());
    }
    // One key column is the key itself (as `crdt_table_digest(id, t)`), several a tuple.
    let key_arr: ArrayRef = if kc.len() == 1 {
        kc.remove(0)
    } else {
        Arc::new(
            StructArray::try_new(kf.into(), kc, None)
                .map_err(|e| TrustError::Invalid(e.to_string()))?,
        )
    };
    let row_arr: ArrayRef = Arc::new(StructArray::from(batch.clone()));
    let mut ids = RowIds::new("crdt_table_digest", &key_arr, &row_arr, None)?;
    let mut f = Fingerprint::EMPTY;
    for i in 0..batch.num_rows() {
        if let Some(id) = ids.id(i) {
            f.add_id(&id);
        }
    }
    Ok(f.finish())
}

/// One admitted contribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    /// The signed delta's id.
    pub id: DeltaId,
    /// Its author.
    pub author: KeyId,
    /// The model crate's contribution id (the signed payload hash).
    pub content: [u8; 32],
    /// The signed weight.
    pub weight: f64,
    /// Whether the author is registered on probation.
    pub probation: bool,
}

/// Contributions of one round.
#[derive(Clone, Debug)]
pub struct ModelGateOutput {
    /// One per admitted author, in delta-id order.
    pub admitted: Vec<Admitted>,
    /// Contributions of the context left out, with the reason.
    pub refused: Vec<Refusal>,
    /// The receipt (its result: blake3 over the admitted (content, weight) pairs, or the
    /// aggregate for [`model_robust`]).
    pub receipt: Receipt,
}

/// The admitted contributions of `ctx` at `round`: one per author (its smallest delta id;
/// an author with two different contributions for one round is convicted, so has none).
pub fn model_contributions(state: &TrustState, ctx: Context, round: u64) -> ModelGateOutput {
    let mut per_author: BTreeMap<KeyId, &SignedDelta> = BTreeMap::new();
    for d in state.admitted(ctx, Kind::Contribution) {
        if d.header().round.is_some_and(|r| r.round == round) {
            per_author.entry(d.header().author).or_insert(d);
        }
    }
    let mut admitted: Vec<Admitted> = per_author
        .values()
        .map(|d| Admitted {
            id: d.id(),
            author: d.header().author,
            content: d.header().payload,
            weight: d.header().round.map_or(0.0, |r| r.weight),
            probation: state
                .pki()
                .identities()
                .get(&d.header().author)
                .is_some_and(|i| i.level == RegisterLevel::Probation),
        })
        .collect();
    admitted.sort_by_key(|a| a.id);
    let mut h = blake3::Hasher::new_derive_key(contexts::RECEIPT);
    for a in &admitted {
        h.update(&a.content);
        h.update(&a.weight.to_bits().to_be_bytes());
    }
    let ids: Vec<DeltaId> = admitted.iter().map(|a| a.id).collect();
    let receipt = Receipt::new(state, ctx, &ids, h.finalize().as_bytes().to_vec());
    ModelGateOutput {
        admitted,
        refused: refusals(state, ctx, Kind::Contribution),
        receipt,
    }
}

/// Weights after the policy's probation cap: when identities on probation carry more than
/// `cap` of the total, their weights are scaled down so they carry exactly `cap` (all of it
/// when no trusted weight exists and `cap` = 1; none when `cap` = 0).
pub fn capped_weights(admitted: &[Admitted], cap: f64) -> Vec<f64> {
    let (p, t): (f64, f64) = admitted.iter().fold((0.0, 0.0), |(p, t), a| {
        if a.probation {
            (p + a.weight, t)
        } else {
            (p, t + a.weight)
        }
    });
    let total = p + t;
    if p == 0.0 || total == 0.0 || p <= cap * total {
        return admitted.iter().map(|a| a.weight).collect();
    }
    // p' / (p' + t) = cap  ⇒  p' = cap·t / (1 − cap).
    let scale = if cap >= 1.0 {
        1.0
    } else {
        (cap * t / (1.0 - cap)) / p
    };
    admitted
        .iter()
        .map(|a| {
            if a.probation {
                a.weight * scale
            } else {
                a.weight
            }
        })
        .collect()
}

#[cfg(feature = "model")]
/// `state_model` filtered to the admitted contributions of `ctx` at `round`: a live entry is
/// kept when its content id and weight are what an admitted author signed (weights after the
/// probation cap). Unsigned, forged or convicted entries are dropped.
///
/// # Errors
/// The model crate's refusal to rebuild the state.
pub fn model_state(
    state: &TrustState,
    ctx: Context,
    round: u64,
    model: &MergeState,
) -> Result<(MergeState, ModelGateOutput)> {
    let out = model_contributions(state, ctx, round);
    let weights = capped_weights(&out.admitted, state.policy().probation_weight_cap);
    let params: Vec<(String, crdt_merge_model::params::ParamValue)> = model
        .params()
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut gated = MergeState::new(
        model.strategy(),
        &params,
        model.seed(),
        model.base().copied(),
    )?;
    for e in model.live() {
        let hit = out
            .admitted
            .iter()
            .zip(&weights)
            .find(|(a, _)| a.content == e.content && a.weight.to_bits() == e.weight.to_bits());
        if let Some((_, w)) = hit {
            gated.add(Entry {
                weight: *w,
                ..e.clone()
            })?;
        }
    }
    Ok((gated, out))
}

#[cfg(feature = "model")]
/// Applies a robust rule to the admitted contributions of `ctx` at `round`, whose vectors
/// `vectors` gives by contribution id (in delta-id order, so the result is a pure function of
/// the state). `f` is the number of Byzantine contributions the caller assumes.
///
/// # Errors
/// An admitted contribution without a vector, or the rule's errors.
pub fn model_robust(
    state: &TrustState,
    ctx: Context,
    round: u64,
    rule: RobustRule,
    f: usize,
    vectors: &BTreeMap<[u8; 32], Vec<f64>>,
) -> Result<(RobustOutcome, ModelGateOutput)> {
    let mut out = model_contributions(state, ctx, round);
    let mut inputs: Vec<&[f64]> = Vec::with_capacity(out.admitted.len());
    for a in &out.admitted {
        let v = vectors.get(&a.content).ok_or_else(|| {
            TrustError::Invalid(format!(
                "admitted contribution {} of {} has no tensor data",
                hex(&a.content),
                a.author
            ))
        })?;
        inputs.push(v);
    }
    let r = robust::aggregate(rule, &inputs)?;
    let mut h = blake3::Hasher::new_derive_key(contexts::RECEIPT);
    for x in &r.values {
        h.update(&x.to_bits().to_be_bytes());
    }
    out.receipt.result = h.finalize().as_bytes().to_vec();
    out.receipt.population_bound_met = Some(rule.population_bound_met(inputs.len(), f));
    Ok((r, out))
}
