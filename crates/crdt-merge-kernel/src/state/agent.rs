//! `AgentState`: an agent's memory as one join-semilattice, so agents merge in any order,
//! grouping and repetition to one state.
//!
//! | part | type | join |
//! |---|---|---|
//! | agent ids | sorted set | union (the merged agent is the set of ids) |
//! | facts | key → (value, timestamp, agent, confidence) | per key, the greatest by (timestamp, agent, value, confidence) |
//! | tags | [`OrSet`] with tombstones | the OR-Set's join (a remove sticks) |
//! | counters | name → [`PNCounter`] keyed by agent | per name, the counter join |
//! | messages | at most `N` by (timestamp, id) | the `N = min(N₁, N₂)` greatest of the union |
//!
//! Differences from the Python library's `AgentState` (upstream.md §16.1): its message cap keeps
//! the newest after concatenating, which is not associative once the cap is reached; here the
//! bounded set is a join at and over the cap (`N` is part of the state and merges by `min`). A
//! message's id is a blake3 of (agent, role, timestamp, content, metadata), so duplicates delivered
//! twice are one message. Fact confidence is kept, queryable and breaks the last tie (the
//! Python library's ignores it). A write without a timestamp is stamped at write time with a
//! hybrid logical clock (a packed HLC, an integer timestamp), never inside a merge.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use super::{Datum, OrSet, PNCounter, Timestamp};
use crate::error::{Error, Result};

/// One fact.
#[derive(Debug, Clone)]
pub struct Fact {
    /// The value.
    pub value: Datum,
    /// When it was written.
    pub ts: Timestamp,
    /// Who wrote it.
    pub agent: String,
    /// How sure the writer was (finite).
    pub confidence: f64,
}

impl Fact {
    fn key(&self) -> (Timestamp, &str, &Datum, OrderedF64) {
        (
            self.ts,
            &self.agent,
            &self.value,
            OrderedF64(self.confidence),
        )
    }
}

impl PartialEq for Fact {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Fact {}

/// A float with a total order (`total_cmp`), for the last tie-break.
#[derive(Debug, Clone, Copy)]
struct OrderedF64(f64);
impl PartialEq for OrderedF64 {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq()
    }
}
impl Eq for OrderedF64 {}
impl PartialOrd for OrderedF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrderedF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// When it was written.
    pub ts: Timestamp,
    /// blake3 of (agent, role, timestamp, content, metadata).
    pub id: [u8; 32],
    /// The writing agent.
    pub agent: String,
    /// `user`, `assistant`, `system`, `tool` ...
    pub role: String,
    /// The text.
    pub content: String,
    /// Anything else (a dict, or `None`).
    pub metadata: Datum,
}

/// An agent's memory (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    agents: BTreeSet<String>,
    facts: BTreeMap<String, Fact>,
    tags: OrSet,
    counters: BTreeMap<String, PNCounter>,
    messages: BTreeMap<(Timestamp, [u8; 32]), Message>,
    max_messages: u64,
}

impl Default for AgentState {
    /// The bottom: no agent, nothing stored, no message cap (so joining it changes nothing).
    fn default() -> Self {
        AgentState {
            agents: BTreeSet::new(),
            facts: BTreeMap::new(),
            tags: OrSet::new(),
            counters: BTreeMap::new(),
            messages: BTreeMap::new(),
            max_messages: u64::MAX,
        }
    }
}

const F: &str = "crdt_agent";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The id of a message.
pub fn message_id(
    agent: &str,
    role: &str,
    ts: Timestamp,
    content: &str,
    metadata: &Datum,
) -> [u8; 32] {
    let mut w = crate::wire::codec_writer();
    w.datum(&Datum::List(vec![
        Datum::str(agent),
        Datum::str(role),
        ts.to_datum(),
        Datum::str(content),
        metadata.clone(),
    ]));
    *blake3::Hasher::new_derive_key("crdt-merge agent message v1")
        .update(&w.buf)
        .finalize()
        .as_bytes()
}

impl AgentState {
    /// A new agent's state.
    ///
    /// # Errors
    /// An empty agent id, or a message cap of 0.
    pub fn new(agent_id: &str, max_messages: u64) -> Result<AgentState> {
        if agent_id.is_empty() {
            return Err(Error::invalid(F, "agent_id", "a non-empty id", "''"));
        }
        if max_messages == 0 {
            return Err(Error::invalid(F, "max_messages", "at least 1", "0"));
        }
        let mut s = AgentState {
            max_messages,
            ..AgentState::default()
        };
        s.agents.insert(agent_id.to_string());
        Ok(s)
    }

    /// A state from decoded parts; facts, messages and the cap are checked, and the messages
    /// are cut to the cap.
    pub(crate) fn from_parts(
        agents: BTreeSet<String>,
        facts: BTreeMap<String, Fact>,
        tags: OrSet,
        counters: BTreeMap<String, PNCounter>,
        messages: Vec<Message>,
        max_messages: u64,
    ) -> AgentState {
        let mut s = AgentState {
            agents,
            facts,
            tags,
            counters,
            messages: messages.into_iter().map(|m| ((m.ts, m.id), m)).collect(),
            max_messages: max_messages.max(1),
        };
        s.cap();
        s
    }

    /// The sorted agent ids (`"+"`-joined, the Python library's merged `agent_id`).
    pub fn agent_ids(&self) -> &BTreeSet<String> {
        &self.agents
    }

    /// The message cap.
    pub fn max_messages(&self) -> u64 {
        self.max_messages
    }

    /// The writing agent of a local operation: the state's only agent.
    fn writer(&self) -> Result<&str> {
        match (self.agents.len(), self.agents.iter().next()) {
            (1, Some(a)) => Ok(a),
            (_, _) => Err(Error::invalid(
                F,
                "agent",
                "a state of one agent (a merged state has several; write as one of them)",
                format!("{} agents", self.agents.len()),
            )),
        }
    }

    /// A timestamp for a write: `ts` when given, else a hybrid logical clock above every
    /// integer timestamp this state holds.
    fn stamp(&self, ts: Option<Timestamp>) -> Result<Timestamp> {
        if let Some(t) = ts {
            return Ok(t.normalized());
        }
        let wall = crate::hlc::pack(now_ms(), 0)?;
        let seen = self
            .facts
            .values()
            .map(|f| f.ts)
            .chain(self.messages.keys().map(|(t, _)| *t))
            .filter_map(|t| match t {
                Timestamp::Int(i) => Some(i),
                Timestamp::Float(_) => None,
            })
            .max()
            .unwrap_or(i64::MIN);
        Ok(Timestamp::Int(wall.max(seen.saturating_add(1))))
    }

    /// Writes a fact as `agent` (the state's own agent when `None`). The fact stays only if it
    /// is the greatest for its key (a write with an older timestamp than the stored one changes
    /// nothing, as it would in any replica). Returns the timestamp used.
    ///
    /// # Errors
    /// A non-finite confidence, a merged state without `agent`.
    pub fn add_fact(
        &mut self,
        key: &str,
        value: Datum,
        confidence: f64,
        ts: Option<Timestamp>,
        agent: Option<&str>,
    ) -> Result<Timestamp> {
        if !confidence.is_finite() {
            return Err(Error::invalid(
                F,
                "confidence",
                "a finite number",
                confidence.to_string(),
            ));
        }
        let agent = match agent {
            Some(a) => a.to_string(),
            None => self.writer()?.to_string(),
        };
        let ts = self.stamp(ts)?;
        self.put_fact(
            key,
            Fact {
                value,
                ts,
                agent,
                confidence,
            },
        );
        Ok(ts)
    }

    fn put_fact(&mut self, key: &str, f: Fact) {
        match self.facts.get(key) {
            Some(old) if old.key() >= f.key() => {}
            _ => {
                self.facts.insert(key.to_string(), f);
            }
        }
    }

    /// The fact under `key`.
    pub fn fact(&self, key: &str) -> Option<&Fact> {
        self.facts.get(key)
    }

    /// Every fact, by key.
    pub fn facts(&self) -> &BTreeMap<String, Fact> {
        &self.facts
    }

    /// Adds a tag (as the state's agent).
    ///
    /// # Errors
    /// A list, set or dict tag; a merged state.
    pub fn add_tag(&mut self, tag: Datum) -> Result<()> {
        let w = self.writer()?.to_string();
        self.tags.add(tag, &w).map(|_| ())
    }

    /// Removes a tag; returns whether it was present. The remove sticks: replicas that merge
    /// this state lose the tags it observed.
    pub fn remove_tag(&mut self, tag: &Datum) -> bool {
        self.tags.remove(tag)
    }

    /// The live tags.
    pub fn tags(&self) -> impl Iterator<Item = &Datum> {
        self.tags.elements()
    }

    /// Adds `amount` to counter `name` (negative amounts decrement).
    ///
    /// # Errors
    /// A merged state; a counter that would pass u64 on one side.
    pub fn increment(&mut self, name: &str, amount: i64) -> Result<()> {
        let w = self.writer()?.to_string();
        let c = self.counters.entry(name.to_string()).or_default();
        let (p, n) = (c.positive().get(&w), c.negative().get(&w));
        let overflow = || {
            Error::invalid(
                F,
                "amount",
                "a count that fits in 64 bits",
                amount.to_string(),
            )
        };
        if amount >= 0 {
            let v = p.checked_add(amount as u64).ok_or_else(overflow)?;
            c.observe(&w, Some(v), None);
        } else {
            let v = n.checked_add(amount.unsigned_abs()).ok_or_else(overflow)?;
            c.observe(&w, None, Some(v));
        }
        Ok(())
    }

    /// The value of counter `name` (0 when absent).
    pub fn counter(&self, name: &str) -> i128 {
        self.counters.get(name).map_or(0, PNCounter::value)
    }

    /// The counters.
    pub fn counters(&self) -> &BTreeMap<String, PNCounter> {
        &self.counters
    }

    /// Adds a message (as the state's agent); returns its id. Only the `max_messages` greatest
    /// by (timestamp, id) stay.
    ///
    /// # Errors
    /// A merged state.
    pub fn add_message(
        &mut self,
        content: &str,
        role: &str,
        ts: Option<Timestamp>,
        metadata: Datum,
    ) -> Result<[u8; 32]> {
        let agent = self.writer()?.to_string();
        let ts = self.stamp(ts)?;
        let id = message_id(&agent, role, ts, content, &metadata);
        self.messages.insert(
            (ts, id),
            Message {
                ts,
                id,
                agent,
                role: role.to_string(),
                content: content.to_string(),
                metadata,
            },
        );
        self.cap();
        Ok(id)
    }

    /// The messages, oldest first.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &Message> {
        self.messages.values()
    }

    fn cap(&mut self) {
        while self.messages.len() as u64 > self.max_messages {
            self.messages.pop_first();
        }
    }

    /// The join (see the module docs).
    pub fn join(&mut self, other: &AgentState) {
        self.agents.extend(other.agents.iter().cloned());
        for (k, f) in &other.facts {
            self.put_fact(k, f.clone());
        }
        self.tags.join(&other.tags);
        for (k, c) in &other.counters {
            self.counters.entry(k.clone()).or_default().join(c);
        }
        self.max_messages = self.max_messages.min(other.max_messages);
        for (k, m) in &other.messages {
            self.messages.entry(*k).or_insert_with(|| m.clone());
        }
        self.cap();
    }

    pub(crate) fn to_datum(&self) -> Datum {
        let facts = self
            .facts
            .iter()
            .map(|(k, f)| {
                (
                    Datum::str(k.clone()),
                    Datum::List(vec![
                        f.value.clone(),
                        f.ts.to_datum(),
                        Datum::str(f.agent.clone()),
                        Datum::Float(f.confidence),
                    ]),
                )
            })
            .collect();
        let tag_map = |m: &BTreeMap<Datum, BTreeSet<String>>| {
            Datum::Dict(
                m.iter()
                    .map(|(e, t)| {
                        (
                            e.clone(),
                            Datum::List(t.iter().map(|x| Datum::str(x.clone())).collect()),
                        )
                    })
                    .collect(),
            )
        };
        let g = |c: &super::GCounter| {
            Datum::Dict(
                c.counts()
                    .iter()
                    .map(|(r, n)| (Datum::str(r.clone()), Datum::from_u64(*n)))
                    .collect(),
            )
        };
        let counters = self
            .counters
            .iter()
            .map(|(k, c)| {
                (
                    Datum::str(k.clone()),
                    Datum::List(vec![g(c.positive()), g(c.negative())]),
                )
            })
            .collect();
        let messages = self
            .messages
            .values()
            .map(|m| {
                Datum::List(vec![
                    m.ts.to_datum(),
                    Datum::Bytes(m.id.to_vec()),
                    Datum::str(m.agent.clone()),
                    Datum::str(m.role.clone()),
                    Datum::str(m.content.clone()),
                    m.metadata.clone(),
                ])
            })
            .collect();
        Datum::Dict(BTreeMap::from([
            (Datum::str("type"), Datum::str("agent_state")),
            (
                Datum::str("agents"),
                Datum::List(self.agents.iter().map(|a| Datum::str(a.clone())).collect()),
            ),
            (Datum::str("facts"), Datum::Dict(facts)),
            (Datum::str("tags"), tag_map(self.tags.live_tags())),
            (
                Datum::str("tag_tombstones"),
                tag_map(self.tags.tombstones()),
            ),
            (Datum::str("counters"), Datum::Dict(counters)),
            (Datum::str("messages"), Datum::List(messages)),
            (
                Datum::str("max_messages"),
                Datum::from_u64(self.max_messages),
            ),
        ]))
    }

    /// Canonical JSON: agents, facts (`{key: {value, ts, agent, confidence}}`), live tags,
    /// counter values, messages (oldest first, id in hex) and the cap.
    pub fn to_json(&self) -> Json {
        let facts: serde_json::Map<String, Json> = self
            .facts
            .iter()
            .map(|(k, f)| {
                (
                    k.clone(),
                    json!({"value": f.value.to_json(), "ts": f.ts.to_json(), "agent": f.agent,
                           "confidence": f.confidence}),
                )
            })
            .collect();
        let counters: serde_json::Map<String, Json> = self
            .counters
            .iter()
            .map(|(k, c)| (k.clone(), json!(c.value().to_string())))
            .collect();
        let messages: Vec<Json> = self
            .messages
            .values()
            .map(|m| {
                json!({"ts": m.ts.to_json(), "id": m.id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                       "agent": m.agent, "role": m.role, "content": m.content,
                       "metadata": m.metadata.to_json()})
            })
            .collect();
        json!({
            "type": "agent_state",
            "agents": self.agents,
            "facts": facts,
            "tags": self.tags.elements().map(Datum::to_json).collect::<Vec<_>>(),
            "counters": counters,
            "messages": messages,
            "max_messages": self.max_messages,
        })
    }
}
