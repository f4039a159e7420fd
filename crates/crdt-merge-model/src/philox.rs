//! Order-free randomness: Philox4x32-10 (Salmon et al., SC'11; the generator cuRAND uses), keyed
//! per (contribution, tensor, seed, purpose).
//!
//! A mask element depends only on its contribution's content id, the tensor name, the seed, the
//! purpose and the element index, so adding, removing or reordering other contributions never
//! changes it, and any chunk on any thread (or GPU block) draws the same bits.
//!
//! Element `i` takes word `i % 4` of the block at counter (⌊i/4⌋ low 32 bits, high 32 bits, 0, 0).
//! Keep tests are in integers: keep iff draw < ⌊p·2³²⌋ (`threshold`), so every implementation
//! agrees on every bit.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32-10 block: counter `ctr`, key `key` → four 32-bit words.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// What a mask is drawn for; part of the key, so two uses never share bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// DARE drops.
    Dare,
    /// DELLA magnitude-ranked drops.
    Della,
    /// Random breadcrumbs / random subspaces.
    BreadcrumbsRandom,
    /// Anything else, named (evolutionary and genetic merges, random split).
    Other(&'static str),
}

impl Purpose {
    /// The purpose's bytes in the key derivation.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Dare => "dare",
            Purpose::Della => "della",
            Purpose::BreadcrumbsRandom => "breadcrumbs-random",
            Purpose::Other(s) => s,
        }
    }
}

/// The Philox key of (contribution id, tensor name, seed, purpose):
/// the first 8 bytes of `blake3::derive_key("crdt-merge-model v1 mask", c ‖ len(name) as u64 LE ‖
/// name ‖ seed as u64 LE ‖ purpose)`, as two little-endian words.
pub fn mask_key(contribution: &[u8; 32], tensor: &str, seed: u64, purpose: Purpose) -> [u32; 2] {
    let mut material = Vec::with_capacity(32 + 8 + tensor.len() + 8 + 24);
    material.extend_from_slice(contribution);
    material.extend_from_slice(&(tensor.len() as u64).to_le_bytes());
    material.extend_from_slice(tensor.as_bytes());
    material.extend_from_slice(&seed.to_le_bytes());
    material.extend_from_slice(purpose.as_str().as_bytes());
    let k = blake3::derive_key("crdt-merge-model v1 mask", &material);
    [
        u32::from_le_bytes(k[0..4].try_into().unwrap()),
        u32::from_le_bytes(k[4..8].try_into().unwrap()),
    ]
}

/// A random-access stream of 32-bit draws for one key.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    key: [u32; 2],
}

impl Stream {
    /// The stream of `key`.
    pub fn new(key: [u32; 2]) -> Self {
        Stream { key }
    }

    /// The stream for (contribution, tensor, seed, purpose).
    pub fn for_mask(contribution: &[u8; 32], tensor: &str, seed: u64, purpose: Purpose) -> Self {
        Stream::new(mask_key(contribution, tensor, seed, purpose))
    }

    /// The draw for element `index`.
    #[inline]
    pub fn draw(&self, index: u64) -> u32 {
        let block = index / 4;
        philox4x32_10([block as u32, (block >> 32) as u32, 0, 0], self.key)[(index % 4) as usize]
    }

    /// Draws for elements `offset .. offset + out.len()`, a block at a time.
    pub fn fill(&self, offset: u64, out: &mut [u32]) {
        let mut i = 0usize;
        while i < out.len() {
            let index = offset + i as u64;
            let block = index / 4;
            let words = philox4x32_10([block as u32, (block >> 32) as u32, 0, 0], self.key);
            let mut j = (index % 4) as usize;
            while j < 4 && i < out.len() {
                out[i] = words[j];
                i += 1;
                j += 1;
            }
        }
    }

    /// A uniform f64 in [0, 1) for element `index` from two draws (elements 2·index and
    /// 2·index + 1), 53 bits, as Python's `random()` builds one.
    pub fn uniform(&self, index: u64) -> f64 {
        let a = (self.draw(2 * index) >> 5) as f64;
        let b = (self.draw(2 * index + 1) >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// The integer keep threshold of probability `p`: ⌊p·2³²⌋, computed once in f64; `p ≥ 1` keeps
/// everything (`None` = no test needed), `p ≤ 0` keeps nothing (`Some(0)`).
pub fn threshold(p: f64) -> Option<u32> {
    if p >= 1.0 {
        None
    } else if p <= 0.0 || p.is_nan() {
        Some(0)
    } else {
        Some((p * 4_294_967_296.0).floor() as u32)
    }
}

/// Whether a draw is kept under `threshold(p)`.
#[inline]
pub fn keep(draw: u32, threshold: Option<u32>) -> bool {
    match threshold {
        None => true,
        Some(t) => draw < t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Random123 kat_vectors (philox4x32 10 rounds): ctr[4] key[2] -> out[4].
    #[test]
    fn random123_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn fill_equals_draw_at_any_offset() {
        let s = Stream::for_mask(&[7; 32], "layers.0.w", 0, Purpose::Dare);
        for offset in [0u64, 1, 3, 5, 1 << 33] {
            let mut out = vec![0u32; 11];
            s.fill(offset, &mut out);
            for (i, v) in out.iter().enumerate() {
                assert_eq!(*v, s.draw(offset + i as u64));
            }
        }
    }

    #[test]
    fn keys_differ_by_every_input() {
        let c = [1u8; 32];
        let k = mask_key(&c, "a", 0, Purpose::Dare);
        assert_ne!(k, mask_key(&[2u8; 32], "a", 0, Purpose::Dare));
        assert_ne!(k, mask_key(&c, "b", 0, Purpose::Dare));
        assert_ne!(k, mask_key(&c, "a", 1, Purpose::Dare));
        assert_ne!(k, mask_key(&c, "a", 0, Purpose::Della));
    }

    #[test]
    fn threshold_edges() {
        assert_eq!(threshold(1.0), None);
        assert_eq!(threshold(0.0), Some(0));
        assert_eq!(threshold(0.5), Some(1 << 31));
        assert!(!keep(0, Some(0)));
        assert!(keep(u32::MAX, None));
    }
}
