//! DOME's native book core: `dome.core`'s market (book + idempotency window) in Rust.
//!
//! The Python core (`dome.core.reference.ReferenceBook` and `dome.core.market.Market`)
//! is the specification; this crate answers every command with the same events, hashes
//! and snapshots, byte for byte, so a cluster may mix the two. The domain modules are
//! plain Rust with no Python in them; `python` is the PyO3 binding (`dome_native`).

pub mod answers;
pub mod book;
pub mod effects;
pub mod hash;
pub mod log_reader;
pub mod market;
pub mod python;
pub mod types;
pub mod validate;
pub mod wire;
