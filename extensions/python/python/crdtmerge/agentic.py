"""Convergent agent memory: ``AgentState`` and ``SharedKnowledge`` (see docs/python.md).

``AgentState(agent_id, max_messages=10000)`` keeps facts (last writer wins by (timestamp, agent,
value, confidence)), tags (an OR-Set whose removes stick), named counters and the newest
``max_messages`` messages, and ``merge`` is a join: any number of agents merged in any order give
one state, at and over the message cap too (the Python crdt-merge's cap is not associative). A
write without a timestamp is stamped with a hybrid logical clock at write time.
"""

from __future__ import annotations

from functools import reduce

from ._native import AgentState


class SharedKnowledge:
    """The join of several agents' states."""

    @staticmethod
    def merge(*agents: AgentState) -> AgentState:
        if len(agents) == 1 and isinstance(agents[0], (list, tuple)):
            agents = tuple(agents[0])
        if not agents:
            raise ValueError("SharedKnowledge.merge: no agents")
        return reduce(lambda a, b: a.merge(b), agents)


__all__ = ["AgentState", "SharedKnowledge"]
