//! Hostile frames that are small on the wire but huge once decoded (issue "Hardening",
//! finding 1) must be refused without the memory they describe. This test binary counts every
//! allocation and refuses any that would take live memory past [`LIMIT`], so a decoder that
//! sizes an allocation from a declared count, or builds the values before checking, aborts here
//! instead of passing.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use crdt_merge_kernel::error::ErrorKind;
use crdt_merge_kernel::state::{AnyState, GCounter};
use crdt_merge_kernel::wire;

/// Live heap allowed to the whole test binary: the 256 MiB inflate cap plus the 256 MiB decode
/// budget plus slack for the test's own buffers.
const LIMIT: usize = 1200 << 20;

struct Capped;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the same layout; the counter only
// decides whether to forward an allocation at all (returning null is the documented way to
// report an allocation failure).
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size() > LIMIT {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
            return std::ptr::null_mut();
        }
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

fn zlib_frame(tag: u8, payload: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for chunk in payload {
        e.write_all(&chunk).unwrap();
    }
    let z = e.finish().unwrap();
    let mut out = b"CRDT\x00\x01".to_vec();
    out.push(tag);
    out.push(wire::FLAG_ZLIB);
    out.extend_from_slice(&(z.len() as u32).to_be_bytes());
    out.extend_from_slice(&z);
    out
}

/// `n` copies of `item` after `head`, produced in 1 MiB chunks (the test never holds the
/// inflated payload itself).
fn repeated(head: Vec<u8>, item: &'static [u8], n: usize) -> impl Iterator<Item = Vec<u8>> {
    let per_chunk = (1 << 20) / item.len();
    let chunks = n.div_ceil(per_chunk);
    std::iter::once(head).chain((0..chunks).map(move |c| {
        let k = per_chunk.min(n - c * per_chunk);
        item.repeat(k)
    }))
}

fn assert_oversized(frame: &[u8]) {
    let e = wire::decode(frame).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Decode { .. }) && e.to_string().contains("oversized"),
        "{e}"
    );
    // Every SQL-facing reader goes through the same decoder.
    assert!(wire::typeof_bytes(frame).is_err());
}

#[test]
fn finding_1_list_of_262m_nones_is_refused_within_the_budget() {
    // The probe's frame: list(250 * 2^20) of None, zlib: about 250 KB on the wire.
    let n: usize = 250 << 20;
    let mut head = vec![0x07];
    head.extend_from_slice(&(n as u32).to_be_bytes());
    let frame = zlib_frame(0x01, repeated(head, &[0x00], n));
    assert!(frame.len() < 300_000, "{}", frame.len());
    assert_oversized(&frame);
}

#[test]
fn finding_1_dict_and_set_bombs_are_refused() {
    let n: usize = 120 << 20;
    let mut head = vec![0x08];
    head.extend_from_slice(&(n as u32).to_be_bytes());
    assert_oversized(&zlib_frame(0x01, repeated(head, &[0x09, 0x01, 0x00], n)));
    let mut head = vec![0x0A];
    head.extend_from_slice(&(n as u32).to_be_bytes());
    assert_oversized(&zlib_frame(0x04, repeated(head, &[0x09, 0x01], n)));
}

#[test]
fn finding_1_json_amplification_is_refused_before_parsing() {
    // A vector clock whose JSON text is `[0,0,...]`: 2 bytes of text per parsed value.
    let n: usize = 120 << 20;
    let frame = zlib_frame(
        0x40,
        repeated(b"[0".to_vec(), b",0", n).chain(std::iter::once(b"]".to_vec())),
    );
    assert_oversized(&frame);
}

#[test]
fn large_honest_states_still_decode() {
    let mut g = GCounter::new();
    for i in 0..200_000u64 {
        g.observe(&format!("replica-{i}"), i);
    }
    let state = AnyState::from(g);
    let bytes = wire::encode(&state);
    assert_eq!(wire::decode(&bytes).unwrap(), state);
    // A limit below the state's size refuses it, with the limit in the message.
    let tight = wire::DecodeOptions {
        max_decoded: 1 << 20,
        ..Default::default()
    };
    let e = wire::decode_with(&bytes, &tight).unwrap_err();
    assert!(e.to_string().contains("1048576-byte decode limit"), "{e}");
}
