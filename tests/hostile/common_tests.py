"""Assertions shared by the engine modules."""
import catalogue
import harness

FUNCTIONS = [f.name for f in catalogue.load()]


def assert_function_clean(rows: list[dict], fn: str) -> None:
    mine = [r for r in rows if r["fn"] == fn]
    assert mine, f"no cases were generated for {fn}"
    fails = [r for r in mine if r["verdict"] == "fail"]
    assert not fails, f"{fn}: " + harness.summarize(mine)


def host_functions(cases: list[dict]) -> list[str]:
    return sorted({c["fn"] for c in cases})
