"""Shared helpers for the polars_crdt tests (run by scripts/test-polars.sh)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
