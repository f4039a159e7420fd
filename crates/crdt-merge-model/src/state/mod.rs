//! `MergeState`, the CRDT of contributions (implemented by the state work).
