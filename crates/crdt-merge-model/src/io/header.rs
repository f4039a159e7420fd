//! The safetensors header: parsing with every check a lying file needs, and deterministic writing.
// Implemented by the io work (see io/mod.rs).
