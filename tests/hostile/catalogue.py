"""The catalogue of SQL functions, read from docs/sql-functions.md.

Neither the kernel nor the CLI prints the catalogue in a machine-readable form, so the suite parses
the generated page. That page is written by `render_markdown()` in
crates/crdt-merge-kernel/src/catalogue.rs and a kernel test fails when it drifts from the
catalogue, so it is the catalogue. The parser is strict: a row it cannot read is an error, never
a silently skipped function.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sql-functions.md"

# The argument kinds render_markdown() writes (ArgType::describe).
KINDS = {"any", "clock", "text", "list", "bytes", "bigint", "double"}


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str  # one of KINDS
    const: bool


@dataclass(frozen=True)
class Signature:
    args: tuple[Arg, ...]
    returns: str


@dataclass(frozen=True)
class Function:
    name: str
    kind: str  # "aggregate" | "scalar"
    signatures: tuple[Signature, ...]
    nulls: str  # "bottom" | "strict"

    @property
    def aggregate(self) -> bool:
        return self.kind == "aggregate"


_SIG = re.compile(r"^`(crdt_[a-z0-9_]+)\((.*)\)` → (.+)$")
_ARG = re.compile(r"^(const )?([a-z][a-z0-9_]*) ([a-z]+)$")


def _parse_sig(fname: str, text: str) -> Signature:
    m = _SIG.match(text.strip())
    if not m or m.group(1) != fname:
        raise ValueError(f"docs/sql-functions.md: cannot read signature {text!r} of {fname}")
    args = []
    if m.group(2).strip():
        for part in m.group(2).split(","):
            am = _ARG.match(part.strip())
            if not am or am.group(3) not in KINDS:
                raise ValueError(f"docs/sql-functions.md: cannot read argument {part!r} of {fname}")
            args.append(Arg(am.group(2), am.group(3), bool(am.group(1))))
    return Signature(tuple(args), m.group(3).strip())


def load(path: Path = DOC) -> list[Function]:
    out = []
    in_table = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("| function | kind |"):
            in_table = True
            continue
        if not in_table:
            continue
        if line.startswith("|---"):
            continue
        if not line.startswith("|"):
            # A table ends; companion crates' sections (E4) have tables of their own.
            in_table = False
            continue
        # Cells are separated by " | "; the description may hold an escaped "\|".
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) != 5:
            raise ValueError(f"docs/sql-functions.md: cannot read table row {line!r}")
        name_cell, kind, sigs, nulls, _doc = cells
        nm = re.fullmatch(r"`(crdt_[a-z0-9_]+)`", name_cell)
        if not nm or kind not in ("aggregate", "scalar") or nulls not in ("bottom", "strict"):
            raise ValueError(f"docs/sql-functions.md: cannot read table row {line!r}")
        name = nm.group(1)
        signatures = tuple(_parse_sig(name, s) for s in sigs.split("<br>"))
        out.append(Function(name, kind, signatures, nulls))
    if len(out) < 20:
        raise ValueError(f"docs/sql-functions.md: only {len(out)} functions read; has the format changed?")
    return out


if __name__ == "__main__":
    for f in load():
        for s in f.signatures:
            print(f.kind, f.nulls, f.name, [(a.name, a.kind, a.const) for a in s.args], s.returns)
