"""The harness itself: a child that dies, hangs or runs out of memory is named by its call, and
the calls after it still run."""
import harness


def test_harness_names_the_call_that_killed_or_hung_a_child(monkeypatch):
    monkeypatch.setattr(harness, "CASE_TIMEOUT_S", 2.0)
    monkeypatch.setattr(harness, "WORKERS", 1)
    acts = ["ok", "error", "abort", "ok", "hang", "ok", "alloc", "ok"]
    cases = [{"id": f"{i}:{a}", "fn": "crdt_selftest", "sql": a, "oracle": "any"} for i, a in enumerate(acts)]
    out = harness.run_in_children("selftest", cases)
    verdicts = {r["id"]: (r["verdict"], r["reason"]) for r in harness.judge_all(cases, out)}
    assert verdicts["0:ok"] == ("pass", "")
    assert verdicts["1:error"] == ("pass", "")
    assert verdicts["2:abort"][0] == "fail" and "SIGABRT" in verdicts["2:abort"][1], verdicts
    assert "reproduces alone" in verdicts["2:abort"][1], verdicts
    assert verdicts["3:ok"] == ("pass", "")
    assert verdicts["4:hang"][0] == "fail" and "hang" in verdicts["4:hang"][1], verdicts
    assert verdicts["5:ok"] == ("pass", "")
    assert verdicts["6:alloc"][0] == "fail" and "MemoryError" in verdicts["6:alloc"][1], verdicts
    assert verdicts["7:ok"] == ("pass", "")


def test_judge_rules():
    j = harness.judge
    assert j({"oracle": "refuse", "why": "w"}, {"status": "ok", "alive": True})[0] == "fail"
    assert j({"oracle": "nonnull"}, {"status": "ok", "null": True, "alive": True})[0] == "fail"
    assert j({"oracle": "equal"}, {"status": "ok", "eq": False, "alive": True})[0] == "fail"
    assert j({"oracle": "any"}, {"status": "error", "msg": "INTERNAL Error: crdt_x", "alive": True})[0] == "fail"
    assert j({"oracle": "any"}, {"status": "error", "msg": "Binder Error: no such column", "alive": True})[0] == "fail"
    assert j({"oracle": "any"}, {"status": "error", "msg": "crdt_x: panicked at src/a.rs", "alive": True})[0] == "fail"
    assert j({"oracle": "answer"}, {"status": "error", "msg": "crdt_x: nope", "alive": True})[0] == "fail"
    assert j({"oracle": "refuse"}, {"status": "error", "msg": "crdt_x: nope", "alive": True}) == ("pass", "")
    assert j({"oracle": "any"}, {"status": "error", "msg": "crdt_x: nope", "alive": False})[0] == "fail"
