//! Values held inside states (register values, OR-Set elements) and LWW timestamps.
//!
//! [`Datum`] is the value model of the wire format's binary codec (the Python library's
//! `None / bool / int / float / str / bytes / list / dict / set`), with one total order so that
//! joins can break ties deterministically and maps and sets have one canonical order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Number, Value as Json};

/// A value carried inside a state: the value model of the wire codec.
///
/// Equality and order are those of [`Ord`] below: all NaNs are one value (greater than every
/// number) and `-0.0 == +0.0`; numbers compare by value across `Int`, `UInt` and `Float`, and
/// an `Int` sorts just below a `Float` of the same value. Values of different kinds order as
/// `None < Bool < numbers < Str < Bytes < List < Set < Dict`.
#[derive(Debug, Clone)]
pub enum Datum {
    /// Python `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// A signed integer (the codec's int8 and int64 forms).
    Int(i64),
    /// An unsigned integer above `i64::MAX` (codec extension tag `0x0B`; smaller values are
    /// always held as [`Datum::Int`]). Use [`Datum::from_u64`] to build one.
    UInt(u64),
    /// A 64-bit float.
    Float(f64),
    /// UTF-8 text.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list (order is significant).
    List(Vec<Datum>),
    /// A set, held in canonical order. Items must be hashable ([`Datum::is_hashable`]): the
    /// decoder rejects a list, set or dict inside a set, as Python cannot build one.
    Set(BTreeSet<Datum>),
    /// A map, held in canonical key order. Keys must be hashable, as for [`Datum::Set`].
    Dict(BTreeMap<Datum, Datum>),
}

impl Datum {
    /// An unsigned integer, as [`Datum::Int`] when it fits and [`Datum::UInt`] otherwise, so
    /// that each number has one representation.
    pub fn from_u64(v: u64) -> Datum {
        match i64::try_from(v) {
            Ok(i) => Datum::Int(i),
            Err(_) => Datum::UInt(v),
        }
    }

    /// A JSON value as a datum: integers as `Int` (or `UInt` above `i64::MAX`), other numbers
    /// as `Float`, arrays as lists, objects as dicts with text keys.
    pub fn from_json(j: &Json) -> Datum {
        match j {
            Json::Null => Datum::None,
            Json::Bool(b) => Datum::Bool(*b),
            Json::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Datum::Int(i),
                (None, Some(u)) => Datum::from_u64(u),
                _ => Datum::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Datum::Str(s.clone()),
            Json::Array(a) => Datum::List(a.iter().map(Datum::from_json).collect()),
            Json::Object(m) => Datum::Dict(
                m.iter()
                    .map(|(k, v)| (Datum::Str(k.clone()), Datum::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Text, as a convenience.
    pub fn str(s: impl Into<String>) -> Datum {
        Datum::Str(s.into())
    }

    /// True for the values a set element or map key may be (Python hashables): everything but
    /// lists, sets and dicts.
    pub fn is_hashable(&self) -> bool {
        !matches!(self, Datum::List(_) | Datum::Set(_) | Datum::Dict(_))
    }

    /// The value as a non-negative integer, when it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Datum::Int(i) => u64::try_from(*i).ok(),
            Datum::UInt(u) => Some(*u),
            _ => None,
        }
    }

    /// Short name of the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Datum::None => "none",
            Datum::Bool(_) => "bool",
            Datum::Int(_) | Datum::UInt(_) => "int",
            Datum::Float(_) => "float",
            Datum::Str(_) => "str",
            Datum::Bytes(_) => "bytes",
            Datum::List(_) => "list",
            Datum::Set(_) => "set",
            Datum::Dict(_) => "dict",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Datum::None => 0,
            Datum::Bool(_) => 1,
            Datum::Int(_) | Datum::UInt(_) | Datum::Float(_) => 2,
            Datum::Str(_) => 3,
            Datum::Bytes(_) => 4,
            Datum::List(_) => 5,
            Datum::Set(_) => 6,
            Datum::Dict(_) => 7,
        }
    }

    /// The value as JSON. Non-finite floats become the strings `"NaN"`, `"Infinity"`,
    /// `"-Infinity"`; bytes become `{"$bytes": "<hex>"}`; sets become sorted arrays; a dict
    /// whose keys are all text becomes an object, any other dict an array of `[key, value]`.
    pub fn to_json(&self) -> Json {
        match self {
            Datum::None => Json::Null,
            Datum::Bool(b) => Json::Bool(*b),
            Datum::Int(i) => Json::from(*i),
            Datum::UInt(u) => Json::from(*u),
            Datum::Float(f) => float_json(*f),
            Datum::Str(s) => Json::String(s.clone()),
            Datum::Bytes(b) => {
                let mut m = Map::new();
                m.insert("$bytes".into(), Json::String(hex(b)));
                Json::Object(m)
            }
            Datum::List(items) => Json::Array(items.iter().map(Datum::to_json).collect()),
            Datum::Set(items) => Json::Array(items.iter().map(Datum::to_json).collect()),
            Datum::Dict(map) => {
                if map.keys().all(|k| matches!(k, Datum::Str(_))) {
                    let mut m = Map::new();
                    for (k, v) in map {
                        if let Datum::Str(k) = k {
                            m.insert(k.clone(), v.to_json());
                        }
                    }
                    Json::Object(m)
                } else {
                    Json::Array(
                        map.iter()
                            .map(|(k, v)| Json::Array(vec![k.to_json(), v.to_json()]))
                            .collect(),
                    )
                }
            }
        }
    }
}

/// Python's `repr()` of a float: shortest round-trip digits, positional for exponents
/// -4..16, otherwise `d.ddde+XX`.
pub(crate) fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits Python uses.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp as usize + 1;
            let mut int_part = digits.clone();
            while int_part.len() < point {
                int_part.push('0');
            }
            let frac = &digits[point.min(digits.len())..];
            format!(
                "{}.{}",
                &int_part[..point],
                if frac.is_empty() { "0" } else { frac }
            )
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{first}{rest}e{esign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

/// Python's `repr()` of a bytes object (`b'..'`, or `b".."` when it holds `'` but no `"`).
fn python_bytes_repr(b: &[u8]) -> String {
    use std::fmt::Write;
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            _ if c == quote as u8 => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push(quote);
    s
}

impl Datum {
    /// The value's Python `str()` and, for anything but text, its Python type name: the key
    /// and `element_types` entry the Python library's `ORSet.to_dict()` writes.
    pub fn python_str(&self) -> (String, Option<&'static str>) {
        match self {
            Datum::None => ("None".into(), Some("NoneType")),
            Datum::Bool(b) => ((if *b { "True" } else { "False" }).into(), Some("bool")),
            Datum::Int(i) => (i.to_string(), Some("int")),
            Datum::UInt(u) => (u.to_string(), Some("int")),
            Datum::Float(f) => (
                python_float_repr(if *f == 0.0 { 0.0 } else { *f }),
                Some("float"),
            ),
            Datum::Str(s) => (s.clone(), None),
            Datum::Bytes(b) => (python_bytes_repr(b), Some("bytes")),
            Datum::List(_) => (format!("{:?}", self.to_json()), Some("list")),
            Datum::Set(_) => (format!("{:?}", self.to_json()), Some("set")),
            Datum::Dict(_) => (format!("{:?}", self.to_json()), Some("dict")),
        }
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A float as JSON; JSON has no NaN or infinities, so those become strings.
pub(crate) fn float_json(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// Compares an integer with a float by exact value; NaN is greater than every number.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Less;
    }
    // Beyond ±2^100 no i64/u64 can compare equal or greater, and `as i128` would saturate.
    const BOUND: f64 = 1.267_650_600_228_229_4e30;
    if f >= BOUND {
        return Ordering::Less;
    }
    if f <= -BOUND {
        return Ordering::Greater;
    }
    let t = f.trunc();
    match i.cmp(&(t as i128)) {
        Ordering::Equal => {
            if f > t {
                Ordering::Less
            } else if f < t {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// Total order on floats: NaN greatest (all NaNs equal), `-0.0 == +0.0`.
pub(crate) fn cmp_float(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        // Neither is NaN, so partial_cmp is total here (and -0.0 == 0.0).
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Numeric order across the three number kinds; at equal value `Int/UInt < Float`.
fn cmp_numbers(a: &Datum, b: &Datum) -> Ordering {
    fn int(d: &Datum) -> Option<i128> {
        match d {
            Datum::Int(i) => Some(i128::from(*i)),
            Datum::UInt(u) => Some(i128::from(*u)),
            _ => None,
        }
    }
    match (a, b) {
        (Datum::Float(x), Datum::Float(y)) => cmp_float(*x, *y),
        (Datum::Float(x), _) => match int(b) {
            Some(j) => cmp_int_float(j, *x).reverse().then(Ordering::Greater),
            None => Ordering::Equal,
        },
        (_, Datum::Float(y)) => match int(a) {
            Some(i) => cmp_int_float(i, *y).then(Ordering::Less),
            None => Ordering::Equal,
        },
        _ => int(a).cmp(&int(b)),
    }
}

impl Ord for Datum {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_rank = self.rank().cmp(&other.rank());
        if by_rank != Ordering::Equal {
            return by_rank;
        }
        match (self, other) {
            (Datum::None, Datum::None) => Ordering::Equal,
            (Datum::Bool(a), Datum::Bool(b)) => a.cmp(b),
            (Datum::Str(a), Datum::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Datum::Bytes(a), Datum::Bytes(b)) => a.cmp(b),
            (Datum::List(a), Datum::List(b)) => a.cmp(b),
            (Datum::Set(a), Datum::Set(b)) => a.iter().cmp(b.iter()),
            (Datum::Dict(a), Datum::Dict(b)) => a.iter().cmp(b.iter()),
            _ => cmp_numbers(self, other),
        }
    }
}

impl PartialOrd for Datum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Datum {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Datum {}

impl From<&str> for Datum {
    fn from(s: &str) -> Self {
        Datum::Str(s.to_owned())
    }
}

impl From<String> for Datum {
    fn from(s: String) -> Self {
        Datum::Str(s)
    }
}

impl From<i64> for Datum {
    fn from(i: i64) -> Self {
        Datum::Int(i)
    }
}

impl From<f64> for Datum {
    fn from(f: f64) -> Self {
        Datum::Float(f)
    }
}

impl From<bool> for Datum {
    fn from(b: bool) -> Self {
        Datum::Bool(b)
    }
}

/// The clock of an LWW write: an integer (for example milliseconds or a packed HLC) or a float
/// (POSIX seconds, as the Python library's `time.time()`).
///
/// Ordered by exact numeric value, NaN greatest; at equal value `Int < Float`, so the order is
/// total. The Python library turns a zero (or missing) timestamp into `0.0`;
/// [`Timestamp::normalized`] does the same, and so does every constructor in this module.
#[derive(Debug, Clone, Copy)]
pub enum Timestamp {
    /// An integer clock.
    Int(i64),
    /// A float clock.
    Float(f64),
}

impl Timestamp {
    /// The bottom timestamp, `0.0`.
    pub const ZERO: Timestamp = Timestamp::Float(0.0);

    /// Applies the Python library's rule that a zero timestamp is `0.0`, and writes `-0.0` as
    /// `0.0`, so equal timestamps have one representation.
    pub fn normalized(self) -> Timestamp {
        match self {
            Timestamp::Int(0) => Timestamp::ZERO,
            // A float literal pattern compares with `==`, so this also matches -0.0.
            Timestamp::Float(0.0) => Timestamp::ZERO,
            Timestamp::Float(f) if f.is_nan() => Timestamp::Float(f64::NAN),
            t => t,
        }
    }

    /// The timestamp as a [`Datum`].
    pub fn to_datum(self) -> Datum {
        match self {
            Timestamp::Int(i) => Datum::Int(i),
            Timestamp::Float(f) => Datum::Float(f),
        }
    }

    /// The timestamp as JSON (see [`Datum::to_json`]).
    pub fn to_json(self) -> Json {
        self.to_datum().to_json()
    }
}

impl From<i64> for Timestamp {
    fn from(i: i64) -> Self {
        Timestamp::Int(i).normalized()
    }
}

impl From<f64> for Timestamp {
    fn from(f: f64) -> Self {
        Timestamp::Float(f).normalized()
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_numbers(&self.to_datum(), &other.to_datum())
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Timestamp {}

/// Builds a JSON object from entries, inserting keys in sorted order so the text is canonical
/// whichever map type serde_json was built with.
pub(crate) fn json_object(mut entries: Vec<(String, Json)>) -> Json {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(k, v);
    }
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_across_kinds() {
        assert!(Datum::Int(1) < Datum::Float(1.5));
        assert!(Datum::Float(0.5) < Datum::Int(1));
        assert!(Datum::Int(1) < Datum::Float(1.0));
        assert!(Datum::Int(i64::MAX) < Datum::UInt(u64::MAX));
        assert!(Datum::UInt(u64::MAX) < Datum::Float(f64::NAN));
        assert!(Datum::Float(f64::INFINITY) < Datum::Float(f64::NAN));
        assert!(Datum::Float(1e300) > Datum::UInt(u64::MAX));
        assert!(Datum::Float(-1e300) < Datum::Int(i64::MIN));
        assert_eq!(Datum::Float(-0.0), Datum::Float(0.0));
        assert_eq!(Datum::Float(f64::NAN), Datum::Float(-f64::NAN));
        // 2^63 as a float equals u64 2^63 in value; the int sorts first.
        assert!(Datum::UInt(1 << 63) < Datum::Float(9_223_372_036_854_775_808.0));
        assert!(Datum::Int(i64::MAX) < Datum::Float(9_223_372_036_854_775_808.0));
    }

    #[test]
    fn kinds_order_and_text_by_bytes() {
        let ordered = [
            Datum::None,
            Datum::Bool(false),
            Datum::Bool(true),
            Datum::Int(-5),
            Datum::str("B"),
            Datum::str("a"),
            Datum::str("é"),
            Datum::Bytes(vec![0]),
            Datum::List(vec![]),
            Datum::Set(BTreeSet::new()),
            Datum::Dict(BTreeMap::new()),
        ];
        for w in ordered.windows(2) {
            assert!(w[0] < w[1], "{:?} < {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn timestamps_normalise_zero_like_python() {
        assert_eq!(Timestamp::from(0i64).to_datum(), Datum::Float(0.0));
        assert!(matches!(Timestamp::from(-0.0), Timestamp::Float(f) if f.is_sign_positive()));
        assert!(Timestamp::Int(5) < Timestamp::Float(5.0));
        assert!(Timestamp::Float(4.9) < Timestamp::Int(5));
    }

    #[test]
    fn python_str_matches_python() {
        for (f, py) in [
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
            (2.5, "2.5"),
            (-123456789.125, "-123456789.125"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (-0.0, "-0.0"),
            (1.5e-7, "1.5e-07"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(python_float_repr(f), py, "{f}");
        }
        assert_eq!(Datum::Float(-0.0).python_str().0, "0.0");
        assert_eq!(
            Datum::Bool(true).python_str(),
            ("True".into(), Some("bool"))
        );
        assert_eq!(
            Datum::Bytes(b"a'\x00".to_vec()).python_str().0,
            r#"b"a'\x00""#
        );
        assert_eq!(Datum::Bytes(b"a\n".to_vec()).python_str().0, r"b'a\n'");
        assert_eq!(Datum::str("x").python_str(), ("x".into(), None));
    }

    #[test]
    fn json_forms() {
        assert_eq!(Datum::Float(f64::NAN).to_json(), Json::String("NaN".into()));
        assert_eq!(
            Datum::Bytes(vec![1, 0xab]).to_json().to_string(),
            r#"{"$bytes":"01ab"}"#
        );
        let mut d = BTreeMap::new();
        d.insert(Datum::Int(1), Datum::None);
        assert_eq!(Datum::Dict(d).to_json().to_string(), "[[1,null]]");
    }
}
