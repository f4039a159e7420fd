//! A seeded, in-process network of gossip replicas ([`GossipState`]) with message loss,
//! duplication, reordering, partitions and replicas killed in the middle of applying a
//! fragment, 3 to 16 replicas per seed. Anti-entropy is push-pull by key digests: a replica
//! sends its digests, the peer answers with the keys that differ and its own digests, and the
//! first replica sends back what the peer lacks.
//!
//! After the faults stop, one round over a connected graph (a path through every replica, there
//! and back) must leave every replica with the digest of the join of all replicas, and two
//! checkers in the style of Maelstrom's must pass: **g-set** (every acknowledged add is present)
//! and **g-counter** (the final read is the sum of acknowledged increments). A second phase
//! runs random gossip rounds until the replicas agree and reports rounds and messages per
//! operation. `SIM_SEEDS` overrides the number of seeds (200; `make bench-sync` runs more).

use std::collections::BTreeMap;

use crdt_merge_kernel::state::{anti_entropy, Datum, GossipState};

/// SplitMix64: a small seeded generator, so every run of a seed is the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

type Digests = BTreeMap<String, [u8; 32]>;

enum Body {
    /// "Here are my digests"; `reply` asks for the peer's digests back.
    Digests(Digests, bool),
    Fragment(GossipState),
}

struct Msg {
    from: usize,
    to: usize,
    body: Body,
}

#[derive(Default)]
struct Stats {
    messages: u64,
    ops: u64,
    rounds_to_agree: u64,
}

struct Net {
    replicas: Vec<GossipState>,
    down: Vec<u32>,
    queue: Vec<Msg>,
    rng: Rng,
    faults: bool,
    /// Partition: replicas with `side[i]` true cannot talk to the others.
    side: Vec<bool>,
    partitioned: bool,
    stats: Stats,
    acked_set: Vec<String>,
    acked_increments: u64,
}

impl Net {
    fn new(n: usize, seed: u64) -> Net {
        Net {
            replicas: vec![GossipState::new(); n],
            down: vec![0; n],
            queue: Vec::new(),
            rng: Rng(seed),
            faults: true,
            side: vec![false; n],
            partitioned: false,
            stats: Stats::default(),
            acked_set: Vec::new(),
            acked_increments: 0,
        }
    }

    fn node(i: usize) -> String {
        format!("n{i}")
    }

    fn send(&mut self, from: usize, to: usize, body: Body) {
        self.stats.messages += 1;
        if self.faults {
            let cut = self.partitioned && self.side[from] != self.side[to];
            if cut || self.rng.chance(0.2) {
                return; // lost
            }
            if self.rng.chance(0.1) {
                let copy = match &body {
                    Body::Digests(d, r) => Body::Digests(d.clone(), *r),
                    Body::Fragment(f) => Body::Fragment(f.clone()),
                };
                self.queue.push(Msg {
                    from,
                    to,
                    body: copy,
                });
            }
        }
        self.queue.push(Msg { from, to, body });
    }

    /// Delivers every queued message, in a random order (with faults) or in order.
    fn deliver(&mut self) {
        while !self.queue.is_empty() {
            let at = if self.faults {
                self.rng.below(self.queue.len())
            } else {
                0
            };
            let m = self.queue.remove(at);
            if self.down[m.to] > 0 {
                continue;
            }
            match m.body {
                Body::Digests(remote, reply) => {
                    let mine = self.replicas[m.to].key_digests();
                    let d = anti_entropy(&mine, &remote);
                    let frag = self.replicas[m.to].fragment(d.to_send());
                    if !frag.entries().is_empty() {
                        self.send(m.to, m.from, Body::Fragment(frag));
                    }
                    if reply && d.to_fetch().next().is_some() {
                        self.send(m.to, m.from, Body::Digests(mine, false));
                    }
                }
                Body::Fragment(f) => {
                    if self.faults && self.rng.chance(0.05) {
                        // Killed mid-apply: only some keys were joined, then the replica is
                        // down for a while (what it applied stays: each key's join is whole).
                        let keys: Vec<String> = f
                            .entries()
                            .keys()
                            .filter(|_| self.rng.chance(0.5))
                            .cloned()
                            .collect();
                        let part = f.fragment(keys.iter().map(String::as_str));
                        self.replicas[m.to].join(&part);
                        self.down[m.to] = 1 + self.rng.below(3) as u32;
                    } else {
                        self.replicas[m.to].join(&f);
                    }
                }
            }
        }
    }

    fn exchange(&mut self, i: usize, j: usize) {
        let d = self.replicas[i].key_digests();
        self.send(i, j, Body::Digests(d, true));
        self.deliver();
    }

    /// One random gossip round: every replica that is up talks to `fanout` random peers.
    fn round(&mut self, fanout: usize) {
        let n = self.replicas.len();
        for i in 0..n {
            if self.down[i] > 0 {
                continue;
            }
            for _ in 0..fanout {
                let j = (i + 1 + self.rng.below(n - 1)) % n;
                let d = self.replicas[i].key_digests();
                self.send(i, j, Body::Digests(d, true));
            }
        }
        self.deliver();
        for d in &mut self.down {
            *d = d.saturating_sub(1);
        }
    }

    /// Operations at random replicas that are up: g-set adds, g-counter increments (each node
    /// counts under its own key), and writes and deletes of shared keys.
    fn operate(&mut self, count: usize, keys: usize) {
        let n = self.replicas.len();
        for _ in 0..count {
            let i = self.rng.below(n);
            if self.down[i] > 0 {
                continue;
            }
            self.stats.ops += 1;
            let node = Self::node(i);
            match self.rng.below(4) {
                0 => {
                    let e = format!("set/{}", self.rng.below(keys));
                    self.replicas[i].write(&node, &e, Datum::Bool(true));
                    self.acked_set.push(e);
                }
                1 => {
                    let key = format!("ctr/{node}");
                    let now = match self.replicas[i].get(&key).first() {
                        Some(Datum::Int(v)) => *v,
                        _ => 0,
                    };
                    self.replicas[i].write(&node, &key, Datum::Int(now + 1));
                    self.acked_increments += 1;
                }
                2 => {
                    let k = format!("kv/{}", self.rng.below(keys));
                    let v = Datum::Int(self.rng.below(1000) as i64);
                    self.replicas[i].write(&node, &k, v);
                }
                _ => {
                    let k = format!("kv/{}", self.rng.below(keys));
                    self.replicas[i].delete(&node, &k);
                }
            }
        }
    }

    fn join_of_all(&self) -> GossipState {
        let mut all = GossipState::new();
        for r in &self.replicas {
            all.join(r);
        }
        all
    }

    fn agree(&self) -> bool {
        let d = self.replicas[0].digest();
        self.replicas.iter().all(|r| r.digest() == d)
    }
}

fn simulate(seed: u64) -> Stats {
    let mut rng = Rng(seed ^ 0x5EED);
    let n = 3 + rng.below(14);
    let keys = 8 + rng.below(200);
    let mut net = Net::new(n, seed);
    for step in 0..12 {
        // A partition comes and goes.
        if step % 4 == 0 {
            net.partitioned = net.rng.chance(0.5);
            for i in 0..n {
                net.side[i] = net.rng.chance(0.5);
            }
        }
        let count = 2 * n + net.rng.below(40);
        net.operate(count, keys);
        net.round(2);
    }
    // Heal: no faults, every replica up, nothing in flight.
    net.faults = false;
    net.partitioned = false;
    net.queue.clear();
    net.down.iter_mut().for_each(|d| *d = 0);
    let want = net.join_of_all();
    // Phase 1 on a copy: random rounds until the replicas agree.
    let mut copy = Net::new(n, seed.wrapping_mul(31));
    copy.replicas = net.replicas.clone();
    copy.faults = false;
    while !copy.agree() {
        copy.round(1);
        copy.stats.rounds_to_agree += 1;
        assert!(
            copy.stats.rounds_to_agree < 200,
            "seed {seed}: no agreement after 200 rounds"
        );
    }
    assert_eq!(copy.replicas[0].digest(), want.digest(), "seed {seed}");
    // Phase 2: one round over a path through every replica, there and back.
    for i in 0..n - 1 {
        net.exchange(i, i + 1);
    }
    for i in (0..n - 1).rev() {
        net.exchange(i + 1, i);
    }
    for (i, r) in net.replicas.iter().enumerate() {
        assert_eq!(
            r.digest(),
            want.digest(),
            "seed {seed}: replica {i} differs from the join"
        );
        assert_eq!(r.entries(), want.entries(), "seed {seed}: replica {i}");
    }
    // g-set: no acknowledged add lost.
    for e in &net.acked_set {
        // (Concurrent adds of one element stand side by side until a later write.)
        assert!(
            want.get(e).contains(&&Datum::Bool(true)),
            "seed {seed}: acknowledged add {e} lost"
        );
    }
    // g-counter: the final read is the sum of acknowledged increments.
    let total: i64 = (0..n)
        .map(
            |i| match want.get(&format!("ctr/{}", Net::node(i))).first() {
                Some(Datum::Int(v)) => *v,
                _ => 0,
            },
        )
        .sum();
    assert_eq!(total as u64, net.acked_increments, "seed {seed}: g-counter");
    Stats {
        messages: net.stats.messages,
        ops: net.stats.ops,
        rounds_to_agree: copy.stats.rounds_to_agree,
    }
}

#[test]
fn gossip_replicas_converge_under_faults() {
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (mut messages, mut ops, mut rounds, mut worst) = (0u64, 0u64, 0u64, 0u64);
    for seed in 0..seeds {
        let s = simulate(seed);
        messages += s.messages;
        ops += s.ops;
        rounds += s.rounds_to_agree;
        worst = worst.max(s.rounds_to_agree);
    }
    eprintln!(
        "gossip simulator: {seeds} seeds, {ops} operations, {:.1} messages per operation under \
         faults, {:.1} rounds to agree after healing (at most {worst})",
        messages as f64 / ops.max(1) as f64,
        rounds as f64 / seeds.max(1) as f64
    );
}
