//! States to and from their payloads: the Python library's `to_dict()` layouts.
//!
//! Binary-codec payloads (`g_counter` .. `lww_map`) are written with the fields in the Python
//! library's `to_dict()` order and every inner map or set in canonical order; JSON payloads
//! (`vector_clock`, `dotted_version_vector`) as Python's `json.dumps` with sorted clocks.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::codec::{Reader, Writer, T_DICT, T_LIST};
use super::pyjson;
use crate::error::{Error, Result};
use crate::state::{
    AgentState, AnyState, Datum, DottedVersionVector, Fact, GCounter, GossipState, LwwMap,
    LwwRegister, Message, MvRegister, OrSet, PNCounter, Sibling, Timestamp, VectorClock,
};

// ---------------------------------------------------------------------------------------------
// Writing

fn gcounter_fields(w: &mut Writer, g: &GCounter) {
    w.len(T_DICT, 2);
    w.str("type");
    w.str("g_counter");
    w.str("counts");
    w.len(T_DICT, g.counts().len());
    for (k, v) in g.counts() {
        w.str(k);
        w.uint(*v);
    }
}

fn timestamp(w: &mut Writer, t: Timestamp) {
    match t {
        Timestamp::Int(i) => w.int(i),
        Timestamp::Float(f) => w.float(f),
    }
}

fn register_fields(w: &mut Writer, r: &LwwRegister) {
    w.len(T_DICT, 4);
    w.str("type");
    w.str("lww_register");
    w.str("value");
    w.datum(r.value());
    w.str("timestamp");
    timestamp(w, r.timestamp());
    w.str("node_id");
    w.str(r.node_id());
}

fn tag_map(w: &mut Writer, m: &BTreeMap<Datum, std::collections::BTreeSet<String>>) {
    w.len(T_DICT, m.len());
    for (e, tags) in m {
        w.datum(e);
        w.len(T_LIST, tags.len());
        for t in tags {
            w.str(t);
        }
    }
}

/// Encodes a binary-codec state's payload (the caller adds the envelope).
pub(crate) fn write_binary(w: &mut Writer, state: &AnyState) {
    match state {
        AnyState::GCounter(g) => gcounter_fields(w, g),
        AnyState::PNCounter(p) => {
            w.len(T_DICT, 3);
            w.str("type");
            w.str("pn_counter");
            w.str("pos");
            gcounter_fields(w, p.positive());
            w.str("neg");
            gcounter_fields(w, p.negative());
        }
        AnyState::LwwRegister(r) => register_fields(w, r),
        AnyState::OrSet(s) => {
            // Elements keep their own type as dict keys (the Python library reads an int key
            // back as an int, so no "element_types" map is needed); "tombstones" is ours and the
            // Python library ignores it.
            let with_tombs = !s.tombstones().is_empty();
            w.len(T_DICT, if with_tombs { 3 } else { 2 });
            w.str("type");
            w.str("or_set");
            w.str("elements");
            tag_map(w, s.live_tags());
            if with_tombs {
                w.str("tombstones");
                tag_map(w, s.tombstones());
            }
        }
        AnyState::LwwMap(m) => {
            w.len(T_DICT, 3);
            w.str("type");
            w.str("lww_map");
            w.str("registers");
            w.len(T_DICT, m.registers().len());
            for (k, r) in m.registers() {
                w.str(k);
                register_fields(w, r);
            }
            w.str("tombstones");
            w.len(T_DICT, m.tombstones().len());
            for (k, t) in m.tombstones() {
                w.str(k);
                timestamp(w, *t);
            }
        }
        AnyState::Sketch(k) => super::sketch::write(w, k),
        AnyState::Gossip(g) => w.datum(&g.to_datum()),
        AnyState::Agent(a) => w.datum(&a.to_datum()),
        // JSON payloads are written by `write_json`.
        AnyState::VectorClock(_) | AnyState::DottedVersionVector(_) => {}
    }
}

fn vc_json(out: &mut String, vc: &VectorClock) {
    out.push_str("{\"type\": \"vector_clock\", \"clocks\": ");
    pyjson::counts(out, vc.counts().iter());
    out.push('}');
}

/// Encodes a JSON-payload state (vector clock, DVV) as Python's `json.dumps` would.
pub(crate) fn write_json(state: &AnyState) -> String {
    let mut out = String::new();
    match state {
        AnyState::VectorClock(vc) => vc_json(&mut out, vc),
        AnyState::DottedVersionVector(d) => {
            out.push_str("{\"type\": \"dotted_version_vector\", \"base\": ");
            vc_json(&mut out, d.base());
            if let Some((n, c)) = d.dot() {
                out.push_str(", \"dot\": [");
                pyjson::string(&mut out, n);
                out.push_str(", ");
                out.push_str(&c.to_string());
                out.push(']');
            }
            out.push('}');
        }
        _ => {}
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Error context for semantic checks on an already-parsed payload: those errors point at the
/// payload's first byte and name the field.
pub(crate) struct Ctx<'r, 'a> {
    pub(crate) reader: &'r Reader<'a>,
}

impl Ctx<'_, '_> {
    pub(crate) fn err(&self, path: &str, reason: impl std::fmt::Display) -> Error {
        self.reader.error_at(0, format!("{path}: {reason}"))
    }

    pub(crate) fn dict<'d>(&self, d: &'d Datum, path: &str) -> Result<&'d BTreeMap<Datum, Datum>> {
        match d {
            Datum::Dict(m) => Ok(m),
            other => Err(self.err(
                path,
                format!("expected a dict, found {}", other.kind_name()),
            )),
        }
    }

    pub(crate) fn str_key<'d>(&self, k: &'d Datum, path: &str) -> Result<&'d str> {
        match k {
            Datum::Str(s) => Ok(s),
            other => Err(self.err(
                path,
                format!("expected a text key, found {}", other.kind_name()),
            )),
        }
    }

    /// The top-level dict, after checking its optional `"type"` field.
    pub(crate) fn top<'d>(
        &self,
        d: &'d Datum,
        type_name: &str,
    ) -> Result<&'d BTreeMap<Datum, Datum>> {
        let m = self.dict(d, type_name)?;
        match m.get(&Datum::str("type")) {
            None => {}
            Some(Datum::Str(t)) if t == type_name => {}
            Some(other) => {
                return Err(self.err(
                    type_name,
                    format!("the header's type tag says {type_name} but the payload's \"type\" is {other:?}"),
                ))
            }
        }
        Ok(m)
    }

    pub(crate) fn count(&self, v: &Datum, path: &str) -> Result<u64> {
        match v {
            Datum::Int(i) if *i < 0 => Err(self.err(path, format!("negative count {i}"))),
            _ => v.as_u64().ok_or_else(|| {
                self.err(
                    path,
                    format!("expected an integer, found {}", v.kind_name()),
                )
            }),
        }
    }

    fn gcounter(&self, d: &Datum, path: &str) -> Result<GCounter> {
        let m = self.top(d, "g_counter")?;
        let mut g = GCounter::new();
        if let Some(counts) = m.get(&Datum::str("counts")) {
            let path = format!("{path}.counts");
            for (k, v) in self.dict(counts, &path)? {
                let r = self.str_key(k, &path)?;
                g.observe(r, self.count(v, &format!("{path}[{r:?}]"))?);
            }
        }
        Ok(g)
    }

    fn timestamp(&self, v: &Datum, path: &str) -> Result<Timestamp> {
        // The Python library's `timestamp or 0.0`: None and 0 are the zero timestamp.
        match v {
            Datum::None => Ok(Timestamp::ZERO),
            Datum::Int(i) => Ok(Timestamp::from(*i)),
            Datum::Float(f) => Ok(Timestamp::from(*f)),
            other => Err(self.err(
                path,
                format!(
                    "expected a timestamp (int or float), found {}",
                    other.kind_name()
                ),
            )),
        }
    }

    fn register(&self, d: &Datum, path: &str) -> Result<LwwRegister> {
        let m = self.top(d, "lww_register")?;
        let value = m
            .get(&Datum::str("value"))
            .ok_or_else(|| self.err(path, "missing \"value\""))?;
        let ts = m
            .get(&Datum::str("timestamp"))
            .ok_or_else(|| self.err(path, "missing \"timestamp\""))?;
        let ts = self.timestamp(ts, &format!("{path}.timestamp"))?;
        let node = match m.get(&Datum::str("node_id")) {
            None => "",
            Some(Datum::Str(s)) => s.as_str(),
            Some(other) => {
                return Err(self.err(
                    &format!("{path}.node_id"),
                    format!("expected text, found {}", other.kind_name()),
                ))
            }
        };
        Ok(LwwRegister::with(value.clone(), ts, node))
    }

    fn tags(&self, v: &Datum, path: &str) -> Result<Vec<String>> {
        let items: Vec<&Datum> = match v {
            Datum::List(l) => l.iter().collect(),
            Datum::Set(s) => s.iter().collect(),
            other => {
                return Err(self.err(
                    path,
                    format!("expected a list of tags, found {}", other.kind_name()),
                ))
            }
        };
        items
            .into_iter()
            .map(|t| match t {
                Datum::Str(s) => Ok(s.clone()),
                other => Err(self.err(
                    path,
                    format!("expected a text tag, found {}", other.kind_name()),
                )),
            })
            .collect()
    }

    /// An element key as the Python library's `ORSet.from_dict` restores it: a text key named in
    /// `element_types` as int, float or bool is converted; any other key is taken as it is.
    fn element(
        &self,
        k: &Datum,
        types: Option<&BTreeMap<Datum, Datum>>,
        path: &str,
    ) -> Result<Datum> {
        let (Datum::Str(s), Some(types)) = (k, types) else {
            return Ok(k.clone());
        };
        let bad = |what: &str| self.err(path, format!("element {s:?} is not a valid {what}"));
        Ok(match types.get(k) {
            Some(Datum::Str(t)) if t == "int" => {
                Datum::Int(s.trim().parse().map_err(|_| bad("int"))?)
            }
            Some(Datum::Str(t)) if t == "float" => {
                Datum::Float(s.trim().parse().map_err(|_| bad("float"))?)
            }
            Some(Datum::Str(t)) if t == "bool" => Datum::Bool(s.to_lowercase() == "true"),
            _ => k.clone(),
        })
    }

    fn orset(&self, d: &Datum) -> Result<OrSet> {
        let m = self.top(d, "or_set")?;
        let types = match m.get(&Datum::str("element_types")) {
            None => None,
            Some(t) => Some(self.dict(t, "or_set.element_types")?),
        };
        let mut s = OrSet::new();
        for (field, dead) in [("tombstones", true), ("elements", false)] {
            let Some(map) = m.get(&Datum::str(field)) else {
                continue;
            };
            let path = format!("or_set.{field}");
            for (k, tags) in self.dict(map, &path)? {
                let e = self.element(k, types, &path)?;
                let tags = self.tags(tags, &path)?;
                let r = if dead {
                    s.insert_tags(e, [], tags)
                } else {
                    s.insert_tags(e, tags, [])
                };
                r.map_err(|e| self.err(&path, e.kind))?;
            }
        }
        Ok(s)
    }

    fn lwwmap(&self, d: &Datum) -> Result<LwwMap> {
        let m = self.top(d, "lww_map")?;
        let mut out = LwwMap::new();
        if let Some(regs) = m.get(&Datum::str("registers")) {
            for (k, r) in self.dict(regs, "lww_map.registers")? {
                let key = self.str_key(k, "lww_map.registers")?;
                out.set_register(
                    key,
                    self.register(r, &format!("lww_map.registers[{key:?}]"))?,
                );
            }
        }
        if let Some(tombs) = m.get(&Datum::str("tombstones")) {
            for (k, t) in self.dict(tombs, "lww_map.tombstones")? {
                let key = self.str_key(k, "lww_map.tombstones")?;
                out.delete(
                    key,
                    self.timestamp(t, &format!("lww_map.tombstones[{key:?}]"))?,
                );
            }
        }
        Ok(out)
    }

    fn clock_dict(&self, d: &Datum, path: &str) -> Result<VectorClock> {
        let mut vc = VectorClock::new();
        for (k, v) in self.dict(d, path)? {
            let n = self.str_key(k, path)?;
            vc.observe(n, self.count(v, &format!("{path}[{n:?}]"))?);
        }
        Ok(vc)
    }

    fn text(&self, d: &Datum, path: &str) -> Result<String> {
        match d {
            Datum::Str(s) => Ok(s.clone()),
            other => Err(self.err(path, format!("expected text, found {}", other.kind_name()))),
        }
    }

    fn opt_list<'d>(&self, d: Option<&'d Datum>, path: &str) -> Result<&'d [Datum]> {
        match d {
            None => Ok(&[]),
            Some(Datum::List(l)) => Ok(l),
            Some(other) => Err(self.err(
                path,
                format!("expected a list, found {}", other.kind_name()),
            )),
        }
    }

    fn agent_ts(&self, d: &Datum, path: &str) -> Result<Timestamp> {
        // As an LWW timestamp, except that a missing one (None) is an error here.
        match d {
            Datum::None => Err(self.err(path, "expected a timestamp (int or float), found None")),
            _ => self.timestamp(d, path),
        }
    }

    /// An agent's memory (tag 0x68).
    fn agent(&self, d: &Datum) -> Result<AgentState> {
        let m = self.top(d, "agent_state")?;
        let field = |name: &str| m.get(&Datum::str(name));
        let mut agents = std::collections::BTreeSet::new();
        for (i, a) in self
            .opt_list(field("agents"), "agent_state.agents")?
            .iter()
            .enumerate()
        {
            agents.insert(self.text(a, &format!("agent_state.agents[{i}]"))?);
        }
        let mut facts = BTreeMap::new();
        if let Some(f) = field("facts") {
            for (k, v) in self.dict(f, "agent_state.facts")? {
                let key = self.str_key(k, "agent_state.facts")?.to_string();
                let path = format!("agent_state.facts[{key:?}]");
                let parts = match v {
                    Datum::List(p) if p.len() == 4 => p,
                    _ => return Err(self.err(&path, "expected [value, ts, agent, confidence]")),
                };
                let confidence = match &parts[3] {
                    Datum::Float(c) if c.is_finite() => *c,
                    Datum::Int(c) => *c as f64,
                    _ => return Err(self.err(&path, "expected a finite confidence")),
                };
                facts.insert(
                    key,
                    Fact {
                        value: parts[0].clone(),
                        ts: self.agent_ts(&parts[1], &path)?,
                        agent: self.text(&parts[2], &path)?,
                        confidence,
                    },
                );
            }
        }
        let mut tags = OrSet::new();
        let tag_list = |d: &Datum, path: &str| -> Result<Vec<String>> {
            match d {
                Datum::List(l) => l.iter().map(|t| self.text(t, path)).collect(),
                other => Err(self.err(
                    path,
                    format!("expected a list of tags, found {}", other.kind_name()),
                )),
            }
        };
        if let Some(t) = field("tag_tombstones") {
            for (e, ts) in self.dict(t, "agent_state.tag_tombstones")? {
                let dead = tag_list(ts, "agent_state.tag_tombstones")?;
                tags.insert_tags(e.clone(), Vec::new(), dead)
                    .map_err(|e| self.err("agent_state.tag_tombstones", e))?;
            }
        }
        if let Some(t) = field("tags") {
            for (e, ts) in self.dict(t, "agent_state.tags")? {
                let live = tag_list(ts, "agent_state.tags")?;
                tags.insert_tags(e.clone(), live, Vec::new())
                    .map_err(|e| self.err("agent_state.tags", e))?;
            }
        }
        let mut counters = BTreeMap::new();
        if let Some(c) = field("counters") {
            for (k, v) in self.dict(c, "agent_state.counters")? {
                let name = self.str_key(k, "agent_state.counters")?.to_string();
                let path = format!("agent_state.counters[{name:?}]");
                let (p, n) = match v {
                    Datum::List(l) if l.len() == 2 => (&l[0], &l[1]),
                    _ => return Err(self.err(&path, "expected [positive, negative]")),
                };
                let half = |d: &Datum| -> Result<GCounter> {
                    let mut g = GCounter::new();
                    for (r, c) in self.dict(d, &path)? {
                        g.observe(self.str_key(r, &path)?, self.count(c, &path)?);
                    }
                    Ok(g)
                };
                counters.insert(name, PNCounter::from_parts(half(p)?, half(n)?));
            }
        }
        let mut messages = Vec::new();
        for (i, v) in self
            .opt_list(field("messages"), "agent_state.messages")?
            .iter()
            .enumerate()
        {
            let path = format!("agent_state.messages[{i}]");
            let p = match v {
                Datum::List(p) if p.len() == 6 => p,
                _ => {
                    return Err(self.err(&path, "expected [ts, id, agent, role, content, metadata]"))
                }
            };
            let ts = self.agent_ts(&p[0], &path)?;
            let (agent, role, content) = (
                self.text(&p[2], &path)?,
                self.text(&p[3], &path)?,
                self.text(&p[4], &path)?,
            );
            let id = crate::state::message_id(&agent, &role, ts, &content, &p[5]);
            match &p[1] {
                Datum::Bytes(b) if b.as_slice() == id => {}
                _ => return Err(self.err(&path, "the message id is not the hash of its fields")),
            }
            messages.push(Message {
                ts,
                id,
                agent,
                role,
                content,
                metadata: p[5].clone(),
            });
        }
        let max = match field("max_messages") {
            None => u64::MAX,
            Some(v) => self.count(v, "agent_state.max_messages")?,
        };
        if max == 0 {
            return Err(self.err("agent_state.max_messages", "expected at least 1, found 0"));
        }
        Ok(AgentState::from_parts(
            agents, facts, tags, counters, messages, max,
        ))
    }

    /// Our gossip store (tag 0x60).
    fn gossip(&self, d: &Datum) -> Result<GossipState> {
        let m = self.top(d, "gossip_state")?;
        let field = |name: &str| m.get(&Datum::str(name));
        let clock = match field("clock") {
            None => VectorClock::new(),
            Some(c) => self.clock_dict(c, "gossip_state.clock")?,
        };
        let mut entries = BTreeMap::new();
        if let Some(e) = field("entries") {
            for (k, r) in self.dict(e, "gossip_state.entries")? {
                let key = self.str_key(k, "gossip_state.entries")?;
                let path = format!("gossip_state.entries[{key:?}]");
                let r = self.dict(r, &path)?;
                let context = match r.get(&Datum::str("context")) {
                    None => VectorClock::new(),
                    Some(c) => self.clock_dict(c, &format!("{path}.context"))?,
                };
                let mut values = BTreeMap::new();
                let list = match r.get(&Datum::str("values")) {
                    None => &[][..],
                    Some(Datum::List(l)) => l.as_slice(),
                    Some(other) => {
                        return Err(self.err(
                            &format!("{path}.values"),
                            format!("expected a list, found {}", other.kind_name()),
                        ))
                    }
                };
                for (i, v) in list.iter().enumerate() {
                    let vpath = format!("{path}.values[{i}]");
                    let (node, counter, deleted, value) = match v {
                        Datum::List(p) if p.len() == 4 => (&p[0], &p[1], &p[2], &p[3]),
                        _ => {
                            return Err(self.err(&vpath, "expected [node, counter, deleted, value]"))
                        }
                    };
                    let node = match node {
                        Datum::Str(s) if !s.is_empty() => s.clone(),
                        _ => return Err(self.err(&vpath, "expected a non-empty node id")),
                    };
                    let counter = self.count(counter, &vpath)?;
                    if counter == 0 {
                        return Err(self.err(&vpath, "a dot's counter starts at 1, found 0"));
                    }
                    let deleted = match deleted {
                        Datum::Bool(b) => *b,
                        other => {
                            return Err(self.err(
                                &vpath,
                                format!("expected a boolean, found {}", other.kind_name()),
                            ))
                        }
                    };
                    if values
                        .insert(
                            (node, counter),
                            Sibling {
                                value: value.clone(),
                                deleted,
                            },
                        )
                        .is_some()
                    {
                        return Err(self.err(&vpath, "a dot appears twice"));
                    }
                }
                entries.insert(key.to_string(), MvRegister::from_parts(context, values));
            }
        }
        Ok(GossipState::from_parts(clock, entries))
    }

    /// The Python library's `GossipState` (tag 0x43, JSON): each entry becomes a register
    /// holding one value under the entry's clock as context. An entry records its clock but
    /// not its writer, so its dot is the state's own node (`node_id`) when the entry clock
    /// counts it, which is exact for the entries that node wrote, and otherwise the clock's
    /// greatest counter (ties to the greatest node id). An entry received from another node
    /// can be misattributed (docs/sync.md says when that matters). `fanout` is dropped.
    fn py_gossip(&self, j: &Json) -> Result<GossipState> {
        let m = self.json_top(j, "gossip_state")?;
        let clock = match m.get("clock") {
            None | Some(Json::Null) => VectorClock::new(),
            Some(c) => self.json_clock(c, "gossip_state.clock")?,
        };
        let mut entries = BTreeMap::new();
        match m.get("entries") {
            None | Some(Json::Null) => {}
            Some(Json::Object(e)) => {
                for (key, entry) in e {
                    let path = format!("gossip_state.entries[{key:?}]");
                    let entry = entry
                        .as_object()
                        .ok_or_else(|| self.err(&path, "expected an object"))?;
                    let ctx = match entry.get("clock") {
                        None | Some(Json::Null) => VectorClock::new(),
                        Some(c) => self.json_clock(c, &format!("{path}.clock"))?,
                    };
                    let own = m
                        .get("node_id")
                        .and_then(Json::as_str)
                        .filter(|n| ctx.get(n) > 0)
                        .map(|n| (n.to_string(), ctx.get(n)));
                    let greatest = || {
                        ctx.counts()
                            .iter()
                            .max_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)))
                            .map(|(n, c)| (n.clone(), *c))
                    };
                    let Some((node, counter)) = own.or_else(greatest) else {
                        return Err(self.err(&path, "an entry without a clock has no writer"));
                    };
                    let deleted = entry
                        .get("tombstone")
                        .and_then(Json::as_bool)
                        .unwrap_or(false);
                    let value = Datum::from_json(entry.get("value").unwrap_or(&Json::Null));
                    let values = BTreeMap::from([((node, counter), Sibling { value, deleted })]);
                    entries.insert(key.clone(), MvRegister::from_parts(ctx, values));
                }
            }
            Some(other) => {
                return Err(self.err(
                    "gossip_state.entries",
                    format!("expected an object, found {other}"),
                ))
            }
        }
        Ok(GossipState::from_parts(clock, entries))
    }

    /// Builds the state for binary type tag `tag` from its decoded payload.
    pub(crate) fn binary_state(&self, tag: u8, d: &Datum) -> Result<AnyState> {
        Ok(match tag {
            super::TAG_G_COUNTER => AnyState::GCounter(self.gcounter(d, "g_counter")?),
            super::TAG_PN_COUNTER => {
                let m = self.top(d, "pn_counter")?;
                let half = |name: &str| {
                    m.get(&Datum::str(name))
                        .ok_or_else(|| self.err("pn_counter", format!("missing \"{name}\"")))
                        .and_then(|h| self.gcounter(h, &format!("pn_counter.{name}")))
                };
                AnyState::PNCounter(PNCounter::from_parts(half("pos")?, half("neg")?))
            }
            super::TAG_LWW_REGISTER => AnyState::LwwRegister(self.register(d, "lww_register")?),
            super::TAG_OR_SET => AnyState::OrSet(self.orset(d)?),
            super::TAG_LWW_MAP => AnyState::LwwMap(self.lwwmap(d)?),
            super::TAG_HLL
            | super::TAG_BLOOM
            | super::TAG_CMS
            | super::TAG_MINHASH
            | super::TAG_THETA => AnyState::Sketch(self.sketch(tag, d)?),
            super::TAG_GOSSIP => AnyState::Gossip(self.gossip(d)?),
            super::TAG_AGENT => AnyState::Agent(self.agent(d)?),
            other => {
                return Err(Error::internal(
                    "crdt_decode",
                    format!("binary_state called for tag 0x{other:02x}"),
                ))
            }
        })
    }

    fn json_top<'j>(
        &self,
        j: &'j Json,
        type_name: &str,
    ) -> Result<&'j serde_json::Map<String, Json>> {
        let m = j
            .as_object()
            .ok_or_else(|| self.err(type_name, "expected a JSON object"))?;
        match m.get("type") {
            None => {}
            Some(Json::String(t)) if t == type_name => {}
            Some(other) => {
                return Err(self.err(
                    type_name,
                    format!(
                    "the header's type tag says {type_name} but the payload's \"type\" is {other}"
                ),
                ))
            }
        }
        Ok(m)
    }

    fn json_clock(&self, j: &Json, path: &str) -> Result<VectorClock> {
        let m = self.json_top(j, "vector_clock")?;
        let mut vc = VectorClock::new();
        match m.get("clocks") {
            None | Some(Json::Null) => {}
            Some(Json::Object(c)) => {
                for (n, v) in c {
                    let count = v.as_u64().ok_or_else(|| {
                        self.err(
                            &format!("{path}.clocks[{n:?}]"),
                            format!("expected a non-negative integer, found {v}"),
                        )
                    })?;
                    vc.observe(n, count);
                }
            }
            Some(other) => {
                return Err(self.err(
                    &format!("{path}.clocks"),
                    format!("expected an object, found {other}"),
                ))
            }
        }
        Ok(vc)
    }

    /// Builds the state for JSON type tag `tag` from its parsed payload.
    pub(crate) fn json_state(&self, tag: u8, j: &Json) -> Result<AnyState> {
        Ok(match tag {
            super::TAG_VECTOR_CLOCK => AnyState::VectorClock(self.json_clock(j, "vector_clock")?),
            super::TAG_DVV => {
                let m = self.json_top(j, "dotted_version_vector")?;
                let base = match m.get("base") {
                    None | Some(Json::Null) => VectorClock::new(),
                    Some(b) => self.json_clock(b, "dotted_version_vector.base")?,
                };
                let dot = match m.get("dot") {
                    None | Some(Json::Null) => None,
                    Some(Json::Array(a)) => match (a.first(), a.get(1), a.len()) {
                        (Some(Json::String(n)), Some(c), 2) => match c.as_u64() {
                            Some(c) => Some((n.clone(), c)),
                            None => {
                                return Err(self.err(
                                    "dotted_version_vector.dot",
                                    format!("expected a non-negative counter, found {c}"),
                                ))
                            }
                        },
                        _ => {
                            return Err(
                                self.err("dotted_version_vector.dot", "expected [node, counter]")
                            )
                        }
                    },
                    Some(other) => {
                        return Err(self.err(
                            "dotted_version_vector.dot",
                            format!("expected [node, counter], found {other}"),
                        ))
                    }
                };
                AnyState::DottedVersionVector(DottedVersionVector::from_parts(base, dot))
            }
            super::TAG_PY_GOSSIP => AnyState::Gossip(self.py_gossip(j)?),
            other => {
                return Err(Error::internal(
                    "crdt_decode",
                    format!("json_state called for tag 0x{other:02x}"),
                ))
            }
        })
    }
}
