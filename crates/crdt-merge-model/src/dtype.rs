//! Tensor element types as safetensors names them, and the one place where values are widened to
//! f64 for computing and rounded (once, to nearest even) back to the output type.

use serde::{Deserialize, Serialize};

/// A safetensors element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DType {
    /// `F64`
    F64,
    /// `F32`
    F32,
    /// `F16` (IEEE half)
    F16,
    /// `BF16` (bfloat16)
    BF16,
    /// `F8_E4M3` (copied, never computed)
    F8E4M3,
    /// `F8_E5M2` (copied, never computed)
    F8E5M2,
    /// `I64`
    I64,
    /// `I32`
    I32,
    /// `I16`
    I16,
    /// `I8`
    I8,
    /// `U64`
    U64,
    /// `U32`
    U32,
    /// `U16`
    U16,
    /// `U8`
    U8,
    /// `BOOL`
    Bool,
}

impl DType {
    /// Every type, for error messages and tests.
    pub const ALL: [DType; 15] = [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::I8,
        DType::U64,
        DType::U32,
        DType::U16,
        DType::U8,
        DType::Bool,
    ];

    /// The safetensors spelling (`"BF16"`).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F64 => "F64",
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E5M2 => "F8_E5M2",
            DType::I64 => "I64",
            DType::I32 => "I32",
            DType::I16 => "I16",
            DType::I8 => "I8",
            DType::U64 => "U64",
            DType::U32 => "U32",
            DType::U16 => "U16",
            DType::U8 => "U8",
            DType::Bool => "BOOL",
        }
    }

    /// Parses the safetensors spelling.
    pub fn from_safetensors_name(name: &str) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| d.safetensors_name() == name)
    }

    /// Parses the CLI / mergekit spelling (`float32`, `bfloat16`, `float16`, `float64`, also
    /// `fp32`, `bf16`, `fp16`, `f32` ...). Only the four computable types.
    pub fn from_user_name(name: &str) -> Option<DType> {
        match name.to_ascii_lowercase().as_str() {
            "float32" | "fp32" | "f32" => Some(DType::F32),
            "bfloat16" | "bf16" => Some(DType::BF16),
            "float16" | "fp16" | "f16" | "half" => Some(DType::F16),
            "float64" | "fp64" | "f64" | "double" => Some(DType::F64),
            _ => None,
        }
    }

    /// The user-facing spelling of a computable type (`bfloat16`).
    pub fn user_name(self) -> &'static str {
        match self {
            DType::F64 => "float64",
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            other => other.safetensors_name(),
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F8E4M3 | DType::F8E5M2 | DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Whether the merge computes on this type (the four float types); other tensors must be
    /// byte-identical across inputs and are copied.
    pub fn is_computable(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::F16 | DType::BF16)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.user_name())
    }
}

/// Widens little-endian `bytes` of a computable `dtype` into `out` (`out.len()` elements).
///
/// # Panics
/// If `dtype` is not computable or `bytes.len() != out.len() * dtype.size()` (callers check both).
pub fn widen(dtype: DType, bytes: &[u8], out: &mut [f64]) {
    assert_eq!(
        bytes.len(),
        out.len() * dtype.size(),
        "widen: length mismatch"
    );
    match dtype {
        DType::F64 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                *o = f64::from_le_bytes(c.try_into().unwrap());
            }
        }
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes(c.try_into().unwrap()) as f64;
            }
        }
        DType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f64();
            }
        }
        DType::BF16 => {
            // bf16 is the top half of an f32: a shift is exact and vectorises (half's `to_f64`
            // does not).
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64;
            }
        }
        other => panic!("widen: {other} is not computable"),
    }
}

/// Rounds `values` once, to nearest even, into little-endian bytes of a computable `dtype`,
/// appended to `out`.
///
/// f64 → bf16/f16 rounds directly from f64 (never through f32, which would round twice).
///
/// # Panics
/// If `dtype` is not computable.
pub fn narrow(dtype: DType, values: &[f64], out: &mut Vec<u8>) {
    let start = out.len();
    let size = dtype.size();
    // One resize, then fixed-width writes: no per-element capacity checks.
    out.resize(start + values.len() * size, 0);
    let dst = &mut out[start..];
    match dtype {
        DType::F64 => {
            for (d, v) in dst.chunks_exact_mut(8).zip(values) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
        DType::F32 => {
            for (d, v) in dst.chunks_exact_mut(4).zip(values) {
                d.copy_from_slice(&(*v as f32).to_le_bytes());
            }
        }
        DType::F16 => {
            for (d, v) in dst.chunks_exact_mut(2).zip(values) {
                d.copy_from_slice(&f64_to_f16(*v).to_bits().to_le_bytes());
            }
        }
        DType::BF16 => {
            for (d, v) in dst.chunks_exact_mut(2).zip(values) {
                d.copy_from_slice(&f64_to_bf16(*v).to_bits().to_le_bytes());
            }
        }
        other => panic!("narrow: {other} is not computable"),
    }
}

/// f64 → f32 rounding to odd: exact values stay, inexact ones take the neighbour toward zero with
/// its lowest mantissa bit set. A second rounding (RNE) to a format with at most 22 mantissa bits
/// (bf16, f16) then equals one correct RNE rounding from f64.
#[inline]
fn f64_to_f32_round_odd(v: f64) -> f32 {
    let f = v as f32;
    if !f.is_finite() || f as f64 == v {
        return f;
    }
    let mut bits = f.to_bits();
    if (f as f64).abs() > v.abs() {
        bits -= 1;
    }
    f32::from_bits(bits | 1)
}

/// f64 → bf16, one correct round-to-nearest-even (`half`'s `from_f64` drops the low 32 bits first,
/// which rounds some values twice).
#[inline]
pub fn f64_to_bf16(v: f64) -> half::bf16 {
    half::bf16::from_f32(f64_to_f32_round_odd(v))
}

/// f64 → f16, one correct round-to-nearest-even.
#[inline]
pub fn f64_to_f16(v: f64) -> half::f16 {
    half::f16::from_f32(f64_to_f32_round_odd(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_safetensors_name(d.safetensors_name()), Some(d));
        }
        assert_eq!(DType::from_user_name("bfloat16"), Some(DType::BF16));
        assert_eq!(DType::from_user_name("int8"), None);
    }

    #[test]
    fn widen_narrow_round_trip_every_float_type() {
        let values = [0.0, -0.0, 1.0, -2.5, 1e-3, 65504.0];
        for d in [DType::F64, DType::F32, DType::F16, DType::BF16] {
            let mut bytes = Vec::new();
            narrow(d, &values, &mut bytes);
            let mut back = vec![0.0; values.len()];
            widen(d, &bytes, &mut back);
            let mut again = Vec::new();
            narrow(d, &back, &mut again);
            assert_eq!(bytes, again, "{d}");
        }
    }

    #[test]
    fn f64_to_bf16_rounds_once() {
        // 1 + 2^-8 + 2^-30 is just above the midpoint between two bf16 values: rounding through
        // f32 first would land on the midpoint (1 + 2^-8) and then round to even (down to 1.0).
        let v = 1.0 + 2f64.powi(-8) + 2f64.powi(-30);
        let mut b = Vec::new();
        narrow(DType::BF16, &[v], &mut b);
        let got = half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64();
        assert_eq!(got, 1.0 + 2f64.powi(-7));
        let mut h = Vec::new();
        narrow(DType::F16, &[1.0 + 2f64.powi(-11) + 2f64.powi(-40)], &mut h);
        assert_eq!(
            half::f16::from_bits(u16::from_le_bytes([h[0], h[1]])).to_f64(),
            1.0 + 2f64.powi(-10)
        );
    }

    #[test]
    fn rounding_matches_exact_rne_on_many_values() {
        // Reference: RNE by exact comparison with the two bf16 neighbours in f64.
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits((x & 0x800F_FFFF_FFFF_FFFF) | (1020u64 << 52)) * 3.7;
            let got = f64_to_bf16(v).to_f64();
            let lo = half::bf16::from_f32(v as f32).to_f64();
            let step = |b: f64, up: bool| {
                let bits = half::bf16::from_f64(b).to_bits();
                let nb = if (b > 0.0) == up { bits + 1 } else { bits - 1 };
                half::bf16::from_bits(nb).to_f64()
            };
            let cands = [lo, step(lo, true), step(lo, false)];
            let best = cands
                .iter()
                .copied()
                .min_by(|a, b| {
                    let (da, db) = ((a - v).abs(), (b - v).abs());
                    da.partial_cmp(&db).unwrap().then_with(|| {
                        (half::bf16::from_f64(*a).to_bits() & 1)
                            .cmp(&(half::bf16::from_f64(*b).to_bits() & 1))
                    })
                })
                .unwrap();
            assert_eq!(got, best, "v = {v:e}");
        }
    }
}
