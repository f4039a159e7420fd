//! A state on disk: `DIR/manifest.json` (canonical JSON, [`super::manifest`]) plus
//! `DIR/blobs/<content-id-hex>.safetensors`, one content-addressed blob per model, Fisher or
//! Gram file; and `DIR/side/`, the base's config and tokenizer files (when the base has any),
//! copied into directory outputs.
//!
//! Every write goes to a temporary file that is renamed into place, under `DIR/.lock` (created
//! with `create_new`, removed when the operation ends), so a reader never sees a half-written
//! manifest or blob and two writers never interleave. Blobs are immutable and named by their
//! content id; a blob is checked against its name whenever it is copied or resolved, so a
//! missing or corrupt blob is an error naming the file and the contribution.
//!
//! Every operation takes the directory's path and returns a [`Result`] with a message fit for
//! users, so the CLI (`crdt-merge model state ...`) can call them directly.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::contribution::{contribution_id, hex, ContributionId};
use crate::error::{ModelError, Result};
use crate::io::{Metadata, ModelFiles, OutputTensor, OutputWriter};
use crate::merge::{merge_models, MergeReport, MergeRequest, ModelSpec, Progress, Setting};
use crate::params::ParamValue;
use crate::state::manifest::Manifest;
use crate::state::orset::Entry;
use crate::state::MergeState;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The blob directory's name.
pub const BLOBS: &str = "blobs";
/// The lock file's name.
pub const LOCK: &str = ".lock";
/// The directory holding the base's side files (config, tokenizer), copied into directory
/// outputs so `AutoModel.from_pretrained(OUT)` works. Not part of the state or its hash: they
/// come with the base, whose content id is.
pub const SIDE: &str = "side";

/// Bytes copied per read when a model is stored as a blob (bounded memory for any model size).
const COPY_CHUNK_BYTES: usize = 8 << 20;

/// A state directory, opened and validated.
#[derive(Clone, Debug)]
pub struct StateDir {
    path: PathBuf,
    state: MergeState,
}

/// What [`StateDir::merge`] did.
#[derive(Clone, Debug)]
pub struct MergeOutcome {
    /// Blobs copied in (content ids).
    pub copied: Vec<ContributionId>,
    /// The state hash after the merge.
    pub state_hash: String,
}

/// The lock on a state directory, released on drop.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn acquire(dir: &Path) -> Result<Lock> {
        let path = dir.join(LOCK);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                // The holder's pid, for whoever finds a stale lock.
                let _ = writeln!(f, "{}", std::process::id());
                Ok(Lock { path })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(ModelError::invalid(format!(
                    "state directory {} is locked: {} exists (another crdt-merge is changing \
                     it; if none is running, delete the lock file)",
                    dir.display(),
                    path.display()
                )))
            }
            Err(e) => Err(ModelError::io(&path, e)),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| ModelError::io(&tmp, e))?;
        f.sync_all().map_err(|e| ModelError::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An opened input model with its content id.
struct Prepared {
    model: ModelFiles,
    id: ContributionId,
}

fn prepare(path: &Path) -> Result<Prepared> {
    let model = ModelFiles::open(path)?;
    let id = contribution_id(&model)?;
    Ok(Prepared { model, id })
}

impl StateDir {
    /// `DIR/manifest.json`.
    pub fn manifest_path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST)
    }

    /// `DIR/blobs/<hex>.safetensors`.
    pub fn blob_path(dir: &Path, id: &ContributionId) -> PathBuf {
        dir.join(BLOBS).join(format!("{}.safetensors", hex(id)))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state.
    pub fn state(&self) -> &MergeState {
        &self.state
    }

    /// Creates a state in `dir` (missing, or an empty directory; a non-empty one is refused):
    /// checks strategy and parameters, stores the base model (if any) as a blob and writes the
    /// manifest.
    pub fn init(
        dir: &Path,
        strategy: &str,
        base: Option<&Path>,
        params: &[(String, ParamValue)],
        seed: u64,
    ) -> Result<StateDir> {
        // Strategy and parameters first: a typo should not cost a pass over the base.
        MergeState::new(strategy, params, seed, base.map(|_| [0; 32]))?;
        let created = match fs::metadata(dir) {
            Ok(m) if !m.is_dir() => {
                return Err(ModelError::invalid(format!(
                    "cannot create a state at {}: it exists and is not a directory",
                    dir.display()
                )))
            }
            Ok(_) => {
                let mut entries = fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))?;
                if entries.next().is_some() {
                    return Err(ModelError::invalid(format!(
                        "refusing to create a state in {}: the directory is not empty (state \
                         init needs a missing or empty directory)",
                        dir.display()
                    )));
                }
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
                true
            }
            Err(e) => return Err(ModelError::io(dir, e)),
        };
        let result = (|| {
            let _lock = Lock::acquire(dir)?;
            let blobs = dir.join(BLOBS);
            fs::create_dir(&blobs).map_err(|e| ModelError::io(&blobs, e))?;
            let base_id = match base {
                Some(path) => {
                    let p = prepare(path)?;
                    store_blob(dir, &p)?;
                    store_side_files(dir, &p.model)?;
                    Some(p.id)
                }
                None => None,
            };
            let state = MergeState::new(strategy, params, seed, base_id)?;
            write_atomic(&Self::manifest_path(dir), &Manifest::encode(&state))?;
            Ok(StateDir {
                path: dir.to_path_buf(),
                state,
            })
        })();
        if result.is_err() {
            // Leave the directory as it was found, so `init` can simply be run again.
            let _ = fs::remove_dir_all(dir.join(BLOBS));
            let _ = fs::remove_dir_all(dir.join(SIDE));
            let _ = fs::remove_file(Self::manifest_path(dir));
            if created {
                let _ = fs::remove_dir(dir);
            }
        }
        result
    }

    /// Opens and validates the state in `dir`.
    pub fn open(dir: &Path) -> Result<StateDir> {
        let path = Self::manifest_path(dir);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelError::invalid(format!(
                    "{} is not a model state: {} is missing (create one with `state init`)",
                    dir.display(),
                    path.display()
                )))
            }
            Err(e) => return Err(ModelError::io(&path, e)),
        };
        let state = Manifest::parse_at(&bytes, &path)?;
        Ok(StateDir {
            path: dir.to_path_buf(),
            state,
        })
    }

    /// Adds the model at `model` under `label`: computes its content id, stores it (and the
    /// Fisher / Gram files, if given) as blobs and records the entry. Returns the entry.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        dir: &Path,
        model: &Path,
        label: &str,
        weight: f64,
        version: u64,
        fisher: Option<&Path>,
        gram: Option<&Path>,
    ) -> Result<Entry> {
        crate::state::orset::validate_label(label)?;
        let _lock = Lock::acquire(dir)?;
        let mut me = StateDir::open(dir)?;
        let model = prepare(model)?;
        let fisher = fisher.map(prepare).transpose()?;
        let gram = gram.map(prepare).transpose()?;
        let entry = Entry {
            label: label.to_string(),
            content: model.id,
            version,
            weight,
            fisher: fisher.as_ref().map(|p| p.id),
            gram: gram.as_ref().map(|p| p.id),
        };
        // Refused adds (a tombstoned tag, a bad weight) fail before any blob is written.
        me.state.add(entry.clone())?;
        store_blob(dir, &model)?;
        for p in fisher.iter().chain(gram.iter()) {
            store_blob(dir, p)?;
        }
        write_atomic(&Self::manifest_path(dir), &Manifest::encode(&me.state))?;
        Ok(entry)
    }

    /// Tombstones every entry labelled `label`; returns how many.
    pub fn remove(dir: &Path, label: &str) -> Result<usize> {
        let _lock = Lock::acquire(dir)?;
        let mut me = StateDir::open(dir)?;
        let n = me
            .state
            .remove(label)
            .map_err(|e| ModelError::invalid(format!("{}: {e}", dir.display())))?;
        write_atomic(&Self::manifest_path(dir), &Manifest::encode(&me.state))?;
        Ok(n)
    }

    /// Merges the states in `others` into `dir`: the union of their sets, with every blob the
    /// result references and `dir` lacks copied in (each checked against its name). States with
    /// another strategy, parameter value, seed or base are refused, naming the field and the
    /// directory, before anything is written.
    pub fn merge(dir: &Path, others: &[PathBuf]) -> Result<MergeOutcome> {
        let _lock = Lock::acquire(dir)?;
        let mut me = StateDir::open(dir)?;
        let mut opened = Vec::with_capacity(others.len());
        for other in others {
            let o = StateDir::open(other)?;
            me.state.merge(&o.state).map_err(|e| {
                ModelError::invalid(format!("{} into {}: {e}", other.display(), dir.display()))
            })?;
            opened.push(o);
        }
        let mut copied = Vec::new();
        for (id, owner) in referenced(&me.state, false) {
            if Self::blob_path(dir, &id).exists() {
                continue;
            }
            // The first other state that references the blob must have it; a local blob that
            // was already missing is left for `resolve` to report.
            let Some(source) = opened.iter().find(|o| {
                referenced(&o.state, false)
                    .iter()
                    .any(|(other_id, _)| *other_id == id)
            }) else {
                continue;
            };
            copy_blob(&source.path, dir, &id, &owner)?;
            copied.push(id);
        }
        if !dir.join(SIDE).exists() {
            if let Some(o) = opened.iter().find(|o| o.path.join(SIDE).is_dir()) {
                copy_side_dir(&o.path.join(SIDE), &dir.join(SIDE))?;
            }
        }
        write_atomic(&Self::manifest_path(dir), &Manifest::encode(&me.state))?;
        Ok(MergeOutcome {
            copied,
            state_hash: me.state.state_hash(),
        })
    }

    /// Checks every blob a resolve reads (the base and each live contribution's model, Fisher
    /// and Gram blobs) against its name.
    pub fn verify(&self) -> Result<()> {
        for (id, owner) in referenced(&self.state, true) {
            verify_blob(&Self::blob_path(&self.path, &id), &id, &owner)?;
        }
        Ok(())
    }

    /// The merge request a resolve runs: the live contributions (sorted by content id) with
    /// their blobs, weights and ids, the base blob, the strategy, every parameter and the seed.
    pub fn request(&self, output: &Path) -> Result<MergeRequest> {
        let state = &self.state;
        let live = state.live();
        if live.is_empty() {
            return Err(ModelError::invalid(format!(
                "state {} has no live contributions to resolve (add some with `state add`)",
                self.path.display()
            )));
        }
        state
            .check_distinct_content()
            .map_err(|e| ModelError::invalid(format!("{}: {e}", self.path.display())))?;
        let mut req = MergeRequest::new(state.strategy(), output);
        req.params = state
            .params()
            .values
            .iter()
            .map(|(k, v)| (k.clone(), Setting::Value(v.clone())))
            .collect();
        req.seed = state.seed();
        let side = self.path.join(SIDE);
        if !crate::io::is_file_output(output) && side.is_dir() {
            req.side_files_from = Some(side);
        }
        req.base = state.base().map(|id| ModelSpec {
            label: "base".to_string(),
            path: Self::blob_path(&self.path, id),
            id: Some(*id),
            ..ModelSpec::default()
        });
        req.models = live
            .iter()
            .map(|e| ModelSpec {
                label: e.label.clone(),
                path: Self::blob_path(&self.path, &e.content),
                weight: Some(Setting::Value(ParamValue::Num(e.weight))),
                params: Vec::new(),
                fisher: e.fisher.map(|f| Self::blob_path(&self.path, &f)),
                gram: e.gram.map(|g| Self::blob_path(&self.path, &g)),
                id: Some(e.content),
            })
            .collect();
        Ok(req)
    }

    /// Resolves the state in `dir` into `output` (a `.safetensors` file or a directory), after
    /// checking every blob it reads.
    pub fn resolve(dir: &Path, output: &Path, progress: &dyn Progress) -> Result<MergeReport> {
        let req = StateDir::resolve_request(dir, output)?;
        merge_models(&req, progress)
    }

    /// The checked request [`StateDir::resolve`] runs (state opened, every blob it reads
    /// verified), for callers that set output options (`dtype`, `shard_size`,
    /// `allow_nonfinite` ...) before calling [`merge_models`]. The tensors depend on the state
    /// alone as long as those options are the same.
    pub fn resolve_request(dir: &Path, output: &Path) -> Result<MergeRequest> {
        let me = StateDir::open(dir)?;
        let req = me.request(output)?;
        me.verify()?;
        Ok(req)
    }

    /// The state hash of `dir` (64 hex characters).
    pub fn hash(dir: &Path) -> Result<String> {
        Ok(StateDir::open(dir)?.state.state_hash())
    }

    /// A human summary of `dir`: strategy, parameters, seed, base, live contributions (label,
    /// version, weight, id), tombstone count and state hash.
    pub fn show(dir: &Path) -> Result<String> {
        let me = StateDir::open(dir)?;
        Ok(format!("state: {}\n{}", dir.display(), me.state.summary()))
    }
}

/// Every blob the state references, with who references it (for messages): the base, then each
/// entry's model, Fisher and Gram blobs; `live_only` keeps the live winners' blobs only.
fn referenced(state: &MergeState, live_only: bool) -> Vec<(ContributionId, String)> {
    let mut out = Vec::new();
    if let Some(b) = state.base() {
        out.push((*b, "the base model".to_string()));
    }
    let entries: Vec<&Entry> = if live_only {
        state.live()
    } else {
        state.set().entries().values().collect()
    };
    for e in entries {
        out.push((e.content, format!("contribution `{}`", e.label)));
        if let Some(f) = e.fisher {
            out.push((f, format!("the Fisher diagonals of `{}`", e.label)));
        }
        if let Some(g) = e.gram {
            out.push((g, format!("the Gram matrices of `{}`", e.label)));
        }
    }
    out
}

/// Checks that the blob at `path` exists and holds content `id`.
fn verify_blob(path: &Path, id: &ContributionId, owner: &str) -> Result<()> {
    if !path.is_file() {
        return Err(ModelError::format(
            path,
            format!(
                "blob of {owner} is missing (the state references content {}; `state merge` \
                 from a state that has it)",
                hex(id)
            ),
        ));
    }
    let model = ModelFiles::open(path)
        .map_err(|e| ModelError::format(path, format!("blob of {owner} cannot be read: {e}")))?;
    let actual = contribution_id(&model)
        .map_err(|e| ModelError::format(path, format!("blob of {owner} cannot be read: {e}")))?;
    if actual != *id {
        return Err(ModelError::format(
            path,
            format!(
                "blob of {owner} is corrupt: its content id is {}, expected {} (its name)",
                hex(&actual),
                hex(id)
            ),
        ));
    }
    Ok(())
}

/// Copies blob `id` from state `from` into state `to`: to a temporary name, checked, renamed.
fn copy_blob(from: &Path, to: &Path, id: &ContributionId, owner: &str) -> Result<()> {
    let src = StateDir::blob_path(from, id);
    verify_exists(&src, id, owner)?;
    let dest = StateDir::blob_path(to, id);
    // The temporary name keeps the `.safetensors` extension so it opens as a model.
    let tmp = to.join(BLOBS).join(format!(".tmp-{}.safetensors", hex(id)));
    let result = (|| {
        fs::copy(&src, &tmp).map_err(|e| ModelError::io(&src, e))?;
        verify_blob(&tmp, id, owner).map_err(|e| {
            ModelError::format(&src, format!("copying it into {}: {e}", to.display()))
        })?;
        fs::rename(&tmp, &dest).map_err(|e| ModelError::io(&dest, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn verify_exists(path: &Path, id: &ContributionId, owner: &str) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(ModelError::format(
            path,
            format!(
                "blob of {owner} is missing (the state references content {})",
                hex(id)
            ),
        ))
    }
}

/// Stores a model as blob `DIR/blobs/<id>.safetensors` unless it is there: every tensor copied
/// in bounded chunks through the output writer (fixed header, atomic rename).
fn store_blob(dir: &Path, p: &Prepared) -> Result<()> {
    let dest = StateDir::blob_path(dir, &p.id);
    if dest.exists() {
        // Content-addressed: an existing blob of that name is the same content (checked on
        // every resolve and copy).
        return Ok(());
    }
    let tensors: Vec<OutputTensor> = p
        .model
        .tensors()
        .values()
        .map(|t| OutputTensor {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
        })
        .collect();
    let mut metadata = Metadata::new();
    metadata.insert("format".into(), "pt".into());
    // A single-file output: the shard size only matters for directory outputs.
    let writer = OutputWriter::create(&dest, tensors, metadata, u64::MAX)?;
    let mut buf = Vec::new();
    for t in p.model.tensors().values() {
        let size = t.dtype.size().max(1);
        let step = (COPY_CHUNK_BYTES / size).max(1);
        let numel = t.numel();
        let mut offset = 0;
        while offset < numel {
            let count = step.min(numel - offset);
            buf.clear();
            p.model.read_raw(&t.name, offset, count, &mut buf)?;
            writer.write(&t.name, offset, &buf)?;
            offset += count;
        }
    }
    writer.finish()?;
    Ok(())
}

/// Copies the side files of the base model (those of [`crate::io::SIDE_FILES`] next to it) into
/// `DIR/side`, when there are any.
fn store_side_files(dir: &Path, model: &ModelFiles) -> Result<()> {
    let Some(from) = model.dir() else {
        return Ok(());
    };
    let present = crate::io::SIDE_FILES
        .iter()
        .any(|name| from.join(name).is_file());
    if !present {
        return Ok(());
    }
    let side = dir.join(SIDE);
    fs::create_dir(&side).map_err(|e| ModelError::io(&side, e))?;
    crate::io::copy_side_files(from, &side)?;
    Ok(())
}

/// Copies another state's side directory: into a temporary directory, renamed into place.
fn copy_side_dir(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_file_name(format!(".{SIDE}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| {
        fs::create_dir(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
        for name in crate::io::SIDE_FILES {
            let src = from.join(name);
            if src.is_file() {
                fs::copy(&src, tmp.join(name)).map_err(|e| ModelError::io(&src, e))?;
            }
        }
        fs::rename(&tmp, to).map_err(|e| ModelError::io(to, e))
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}
