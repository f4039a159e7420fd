"""crdtmerge.agentic: AgentState merges are joins (any order, grouping, repetition; at and over
the message cap), facts, tags, counters and messages behave as documented, bytes round-trip,
and bad input is a Python exception."""

import itertools
import random

import pytest

from crdtmerge.agentic import AgentState, SharedKnowledge


def agent(name, seed, cap=5):
    rng = random.Random(seed)
    a = AgentState(name, max_messages=cap)
    for i in range(8):
        a.add_fact(f"k{rng.randrange(4)}", rng.choice([1, "x", 2.5, None, [1, 2], {"a": 1}]),
                   confidence=rng.random(), timestamp=rng.randrange(10))
        a.add_message(f"{name}-{i}", role=rng.choice(["user", "assistant"]), timestamp=rng.randrange(20))
        if rng.random() < 0.5:
            a.add_tag(f"t{rng.randrange(3)}")
        if rng.random() < 0.3:
            a.remove_tag(f"t{rng.randrange(3)}")
        a.increment("seen", rng.randrange(3))
    return a


def test_merge_is_a_join_at_the_message_cap():
    agents = [agent(n, i, cap=3 + i) for i, n in enumerate("abc")]
    want = None
    for order in itertools.permutations(agents):
        got = SharedKnowledge.merge(*order).to_bytes()
        if want is None:
            want = got
        assert got == want
    a, b, c = agents
    assert a.merge(b).merge(c).to_bytes() == a.merge(b.merge(c)).to_bytes()
    assert a.merge(a).to_bytes() == a.to_bytes()
    merged = SharedKnowledge.merge(agents)
    assert merged.agent_ids == ["a", "b", "c"] and merged.agent_id == "a+b+c"
    assert merged.max_messages == 3 and len(merged.get_messages()) == 3


def test_facts_tags_counters_and_messages():
    a = AgentState("a")
    a.add_fact("city", "Paris", confidence=0.4, timestamp=1)
    b = AgentState("b")
    b.add_fact("city", "Rome", confidence=0.9, timestamp=2)
    m = a.merge(b)
    assert m.get_fact("city") == {"value": "Rome", "confidence": 0.9, "timestamp": 2, "source_agent": "b"}
    assert set(m.list_facts()) == {"city"}
    a.add_tag("urgent")
    c = AgentState("c").merge(a)  # c has seen the tag
    a.remove_tag("urgent")
    assert "urgent" not in a.merge(c).tags, "a remove sticks after a merge"
    a.increment("calls", 3)
    b.increment("calls", 2)
    b.decrement("calls", 1)
    assert a.merge(b).get_counter("calls") == 4
    mid = a.add_message("hello", metadata={"lang": "en"}, timestamp=5)
    again = a.add_message("hello", metadata={"lang": "en"}, timestamp=5)
    assert mid == again and len(a.get_messages()) == 1, "the same message is one message"
    t = a.add_fact("auto", 1)  # no timestamp: an HLC
    assert isinstance(t, int) and t > 2**40


def test_bytes_round_trip_and_bad_input():
    a = agent("a", 1)
    back = AgentState.from_bytes(a.to_bytes())
    assert back == a and back.to_bytes() == a.to_bytes()
    with pytest.raises(ValueError, match="agent_state|decode"):
        AgentState.from_bytes(b"CRDT junk")
    raw = bytearray(a.to_bytes())
    raw[-3] ^= 0xFF
    with pytest.raises(ValueError):
        AgentState.from_bytes(bytes(raw))
    with pytest.raises(TypeError, match="add_fact: value"):
        a.add_fact("k", object())
    with pytest.raises(ValueError, match="confidence"):
        a.add_fact("k", 1, confidence=float("nan"))
    with pytest.raises(ValueError, match="max_messages"):
        AgentState("a", max_messages=0)
    merged = a.merge(AgentState("b"))
    with pytest.raises(ValueError, match="one agent"):
        merged.add_tag("x")
