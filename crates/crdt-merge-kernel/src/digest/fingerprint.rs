//! negentropy v1's fingerprint of a set of 32-byte ids: their sum mod 2^256 (little-endian)
//! and their count, hashed. The sum and count form a group, so a fingerprint is independent of
//! order and partitioning (a parallel aggregate), and a stored state can take ids out again.
//!
//! State bytes (40): the sum (32 bytes, little-endian) then the count (u64, little-endian).
//! Fingerprint (16 bytes): the first 16 bytes of SHA-256(sum ‖ count as negentropy's varint,
//! base 128, most significant group first).

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Length of a row id.
pub const ID_LEN: usize = 32;
/// Length of a fingerprint state.
pub const STATE_LEN: usize = 40;
/// Length of a fingerprint.
pub const FINGERPRINT_LEN: usize = 16;

/// A running sum and count of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint {
    /// Sum of the ids as 256-bit little-endian integers, as four u64 lanes, lowest first.
    pub sum: [u64; 4],
    /// Number of ids (taking an id out lowers it).
    pub count: u64,
}

fn lanes(id: &[u8; ID_LEN]) -> [u64; 4] {
    let mut l = [0u64; 4];
    for (i, lane) in l.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&id[i * 8..i * 8 + 8]);
        *lane = u64::from_le_bytes(w);
    }
    l
}

impl Fingerprint {
    /// The fingerprint of the empty set.
    pub const EMPTY: Fingerprint = Fingerprint {
        sum: [0; 4],
        count: 0,
    };

    #[inline]
    fn add_lanes(&mut self, b: &[u64; 4]) {
        let mut carry = false;
        for (a, &b) in self.sum.iter_mut().zip(b) {
            let (s, c1) = a.overflowing_add(b);
            let (s, c2) = s.overflowing_add(u64::from(carry));
            *a = s;
            carry = c1 | c2;
        }
    }

    #[inline]
    fn sub_lanes(&mut self, b: &[u64; 4]) {
        let mut borrow = false;
        for (a, &b) in self.sum.iter_mut().zip(b) {
            let (s, c1) = a.overflowing_sub(b);
            let (s, c2) = s.overflowing_sub(u64::from(borrow));
            *a = s;
            borrow = c1 | c2;
        }
    }

    /// Adds one id.
    #[inline]
    pub fn add_id(&mut self, id: &[u8; ID_LEN]) {
        self.add_lanes(&lanes(id));
        self.count = self.count.wrapping_add(1);
    }

    /// Takes one id out (the inverse of [`Fingerprint::add_id`]).
    pub fn sub_id(&mut self, id: &[u8; ID_LEN]) {
        self.sub_lanes(&lanes(id));
        self.count = self.count.wrapping_sub(1);
    }

    /// Adds another state (the union of disjoint sets).
    pub fn add(&mut self, other: &Fingerprint) {
        self.add_lanes(&other.sum);
        self.count = self.count.wrapping_add(other.count);
    }

    /// Takes another state out.
    pub fn sub(&mut self, other: &Fingerprint) {
        self.sub_lanes(&other.sum);
        self.count = self.count.wrapping_sub(other.count);
    }

    /// The 16-byte fingerprint.
    pub fn finish(&self) -> [u8; FINGERPRINT_LEN] {
        let mut h = Sha256::new();
        h.update(self.sum_bytes());
        h.update(negentropy_varint(self.count));
        let d = h.finalize();
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(&d[..FINGERPRINT_LEN]);
        out
    }

    fn sum_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, l) in self.sum.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&l.to_le_bytes());
        }
        b
    }

    /// The 40 state bytes.
    pub fn to_bytes(&self) -> [u8; STATE_LEN] {
        let mut b = [0u8; STATE_LEN];
        b[..32].copy_from_slice(&self.sum_bytes());
        b[32..].copy_from_slice(&self.count.to_le_bytes());
        b
    }

    /// Reads 40 state bytes.
    ///
    /// # Errors
    /// Any other length, naming `function` and `argument`.
    pub fn from_bytes(function: &str, argument: &str, b: &[u8]) -> Result<Fingerprint> {
        if b.len() != STATE_LEN {
            return Err(Error::invalid(
                function,
                argument,
                "a 40-byte fingerprint state (from crdt_fingerprint_state_agg)",
                format!("{} bytes", b.len()),
            ));
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&b[..32]);
        let mut c = [0u8; 8];
        c.copy_from_slice(&b[32..]);
        Ok(Fingerprint {
            sum: lanes(&id),
            count: u64::from_le_bytes(c),
        })
    }
}

/// negentropy's varint: base 128, most significant group first, high bit on all but the last.
pub fn negentropy_varint(mut n: u64) -> Vec<u8> {
    let mut o = vec![(n & 0x7F) as u8];
    n >>= 7;
    while n > 0 {
        o.push((n & 0x7F) as u8 | 0x80);
        n >>= 7;
    }
    o.reverse();
    o
}

/// Reads a row id for `function`'s `argument`.
///
/// # Errors
/// Not 32 bytes.
pub fn id(function: &str, argument: &str, b: &[u8]) -> Result<[u8; ID_LEN]> {
    b.try_into().map_err(|_| {
        Error::invalid(
            function,
            argument,
            "a 32-byte row id (from crdt_row_id or crdt_content_id)",
            format!("{} bytes", b.len()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_matches_negentropy() {
        assert_eq!(negentropy_varint(0), [0]);
        assert_eq!(negentropy_varint(127), [127]);
        assert_eq!(negentropy_varint(128), [0x81, 0x00]);
        assert_eq!(negentropy_varint(300), [0x82, 0x2C]);
    }

    #[test]
    fn add_and_sub_are_inverse_with_carries() {
        let mut f = Fingerprint::EMPTY;
        let ones = [0xFF; 32];
        let mut one = [0u8; 32];
        one[0] = 1;
        f.add_id(&ones);
        f.add_id(&one);
        assert_eq!(f.sum, [0; 4]);
        assert_eq!(f.count, 2);
        f.sub_id(&one);
        f.sub_id(&ones);
        assert_eq!(f, Fingerprint::EMPTY);
        let back = Fingerprint::from_bytes("t", "s", &f.to_bytes()).unwrap();
        assert_eq!(back, f);
    }
}
