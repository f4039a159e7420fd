# Sourced by every project script: one shared cargo target dir outside the clone, kept between
# runs (recipes.md §6). It is cleaned only when the disk runs low (under 12 GB free), never
# merely because it is large: a full workspace build with DataFusion and pgrx is 30+ GB, and
# wiping it costs every later run a cold build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crdt-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$CARGO_TARGET_DIR"
free_gb=$(df -P -BG "$CARGO_TARGET_DIR" 2>/dev/null | awk 'NR==2 {gsub("G","",$4); print $4}')
if [ -n "${free_gb:-}" ] && [ "$free_gb" -lt 12 ] 2>/dev/null; then
  echo "env: only ${free_gb} GB free; cleaning $CARGO_TARGET_DIR" >&2
  rm -rf "$CARGO_TARGET_DIR" && mkdir -p "$CARGO_TARGET_DIR"
fi
