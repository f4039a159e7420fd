# Sourced by every project script: one shared cargo target dir outside the clone, kept between
# runs (recipes.md §6), pruned when it grows past ~30 GB.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crdt-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$CARGO_TARGET_DIR"
if [ "$(du -s -BG "$CARGO_TARGET_DIR" 2>/dev/null | cut -f1 | tr -dc 0-9)" -gt 30 ] 2>/dev/null; then
  echo "env: $CARGO_TARGET_DIR is over 30 GB, cleaning it" >&2
  rm -rf "$CARGO_TARGET_DIR" && mkdir -p "$CARGO_TARGET_DIR"
fi
