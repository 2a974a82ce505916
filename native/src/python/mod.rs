//! The PyO3 binding: `dome_native.Book` and `dome_native.Market`, drop-in for
//! `dome.core.reference.ReferenceBook` and `dome.core.market.Market`.
//!
//! The binding speaks the Python core's own types: commands come in as the NamedTuples of
//! `dome.core.commands` (read by position after a type check), events go out as the
//! NamedTuples of `dome.core.events` with the IntEnum members of `dome.core.types`, and
//! snapshots, levels and resting orders are `dome.core.book_api`'s. Those classes are
//! imported on first use and their fields checked against what this crate writes, so a
//! changed Python type makes the binding refuse to work instead of answering wrongly.
//!
//! Hostile input never panics: a value a command cannot hold is a `TypeError` (wrong
//! type) or `ValueError` (an id or sequence number outside 0..2**64, which no log can
//! carry); a price or quantity beyond i64 gets the reject the Python core gives; bytes
//! that are not a log batch are `dome.log.errors.LogFormatError` (a `ValueError`).
//!
//! The batch entry points (`Market.apply_batch`, `Market.apply_encoded`) read every
//! command first, then match the whole batch with the GIL released, then build the
//! results: Python's work per command is only building the result objects.
//!
//! `answers` writes the engine's answers to a batch as `OrderBatchResult` bytes.
//!
//! `classes` loads and checks those classes, `from_py` reads Python values into Rust,
//! `to_py` builds Python objects for events, `book` and `market` are the two classes.

mod answers;
mod book;
mod classes;
mod from_py;
mod market;
mod to_py;

use pyo3::prelude::*;

pub use book::PyBook;
pub use market::PyMarket;
pub use to_py::ObjectCache;

use crate::market::DEFAULT_DEDUP_WINDOW;

/// The native book core: `Book` and `Market`, drop-in for the Python core's.
#[pymodule]
fn dome_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBook>()?;
    m.add_class::<PyMarket>()?;
    m.add_function(wrap_pyfunction!(answers::encode_order_batch_result, m)?)?;
    m.add("DEFAULT_DEDUP_WINDOW", DEFAULT_DEDUP_WINDOW)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "__all__",
        [
            "Book",
            "DEFAULT_DEDUP_WINDOW",
            "Market",
            "encode_order_batch_result",
        ],
    )?;
    Ok(())
}
