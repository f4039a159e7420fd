//! Hybrid logical clocks packed into one BIGINT: 48 bits of milliseconds, 16 bits of counter.
//!
//! Packed clocks order like `(ms, counter)` pairs, so they can be used directly as the `ts` of
//! LWW and as a row clock. That needs the BIGINT's sign bit clear, so milliseconds stop at
//! 2^47 - 1 (the year 6429), not 2^48 - 1: a clock at or past 2^47 would pack to a negative
//! BIGINT and sort before every earlier clock.

use crate::error::{Error, Result};

/// Largest millisecond value a packed clock holds (2^47 - 1, in the year 6429).
pub const MAX_MS: i64 = (1 << 47) - 1;
/// Largest counter value a packed clock holds.
pub const MAX_COUNTER: i64 = 65535;

/// Packs `(ms, counter)`; `crdt_hlc(ms, counter)`.
///
/// # Errors
/// `ms` outside `0..2^47` (see the module docs) or `counter` outside `0..=65535`.
pub fn pack(ms: i64, counter: i64) -> Result<i64> {
    if !(0..=MAX_MS).contains(&ms) {
        return Err(Error::invalid(
            "crdt_hlc",
            "ms",
            "milliseconds in 0 .. 2^47-1",
            ms.to_string(),
        ));
    }
    if !(0..=MAX_COUNTER).contains(&counter) {
        return Err(Error::invalid(
            "crdt_hlc",
            "counter",
            "a counter in 0 .. 65535",
            counter.to_string(),
        ));
    }
    Ok((ms << 16) | counter)
}

fn check_packed(function: &str, h: i64) -> Result<()> {
    if h < 0 {
        return Err(Error::invalid(
            function,
            "h",
            "a packed clock (a non-negative BIGINT from crdt_hlc)",
            h.to_string(),
        ));
    }
    Ok(())
}

/// Milliseconds of a packed clock; `crdt_hlc_ms(h)`.
pub fn ms(h: i64) -> Result<i64> {
    check_packed("crdt_hlc_ms", h)?;
    Ok(h >> 16)
}

/// Counter of a packed clock; `crdt_hlc_counter(h)`.
pub fn counter(h: i64) -> Result<i64> {
    check_packed("crdt_hlc_counter", h)?;
    Ok(h & 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds() {
        assert_eq!(pack(1, 2).unwrap(), 65538);
        assert!(pack(1 << 48, 0).is_err());
        assert!(pack(1 << 47, 0).is_err());
        assert!(pack(0, 65536).is_err());
        assert!(pack(-1, 0).is_err());
        assert_eq!(pack(MAX_MS, MAX_COUNTER).unwrap(), i64::MAX);
        assert!(ms(-5).is_err());
    }

    #[test]
    fn finding_11_documented_bound_is_the_checked_one() {
        let doc = crate::catalogue::CATALOGUE
            .iter()
            .find(|f| f.name == "crdt_hlc")
            .map(|f| f.doc)
            .unwrap_or_default();
        assert!(doc.contains("ms (< 2^47"), "{doc}");
        assert!(pack(MAX_MS, 0).is_ok());
        assert!(pack(MAX_MS + 1, 0).is_err());
        assert_eq!(MAX_MS, (1 << 47) - 1);
    }

    proptest! {
        #[test]
        fn round_trip_and_order(a in 0..=MAX_MS, b in 0..=MAX_COUNTER, c in 0..=MAX_MS, d in 0..=MAX_COUNTER) {
            let h1 = pack(a, b).unwrap();
            let h2 = pack(c, d).unwrap();
            prop_assert_eq!(ms(h1).unwrap(), a);
            prop_assert_eq!(counter(h1).unwrap(), b);
            prop_assert_eq!(h1.cmp(&h2), (a, b).cmp(&(c, d)));
        }
    }
}
