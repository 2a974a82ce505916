//! `dome_native.Book`: the PyO3 class over `crate::book::Book`.

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyIterator, PyList, PyString, PyTuple};

use super::classes::core;
use super::from_py::{book_state, command, signed, wide};
use super::to_py::{Builder, CACHE_SLOTS, ObjectCache};
use crate::book::{Book, BookState};
use crate::types::{Command, Instrument, Side};

/// `dome_native.Book(instrument)`: the `dome.core.book_api.Book` protocol in Rust.
#[pyclass(module = "dome_native", name = "Book")]
pub struct PyBook {
    pub(super) core: Book,
    pub(super) instrument: Py<PyAny>,
    pub(super) cache: ObjectCache,
}

fn instrument(value: &Bound<'_, PyAny>) -> PyResult<Instrument> {
    let bound = |name: &str| signed(&value.getattr(name)?, name);
    Ok(Instrument {
        symbol: value
            .getattr("symbol")?
            .cast::<PyString>()?
            .to_str()?
            .to_owned(),
        min_qty: bound("min_qty")?,
        max_qty: bound("max_qty")?,
        min_price: bound("min_price")?,
        max_price: bound("max_price")?,
    })
}

/// The side a query names; like the Python book's dict of sides, KeyError otherwise.
fn query_side(value: &Bound<'_, PyAny>) -> PyResult<Side> {
    value
        .extract::<i64>()
        .ok()
        .and_then(Side::from_value)
        .ok_or_else(|| PyKeyError::new_err(value.clone().unbind()))
}

impl PyBook {
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        cmd: &Bound<'py, PyAny>,
        only: Option<fn(&Command) -> bool>,
    ) -> PyResult<Bound<'py, PyList>> {
        let c = core(py)?;
        let command = command(c, cmd)?;
        if let Some(fits) = only {
            if !fits(&command) {
                return Err(PyTypeError::new_err(format!(
                    "wrong command for this call: {cmd:?}"
                )));
            }
        }
        let mut events = Vec::new();
        self.core.apply(&command, &mut events);
        Builder::new(py, c, &mut self.cache).events_list(&events)
    }

    fn symbol<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.instrument.bind(py).getattr("symbol")
    }

    pub(super) fn snapshot_object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = core(py)?;
        let orders = self.core.orders();
        let mut cache = ObjectCache::new(orders.len());
        let mut b = Builder::new(py, c, &mut cache);
        let items = orders
            .iter()
            .map(|o| b.resting_order(o))
            .collect::<PyResult<Vec<_>>>()?;
        c.book_state.make(
            py,
            [
                self.symbol(py)?,
                b.uint(self.core.last_seq()),
                b.uint(self.core.next_trade_id()),
                PyTuple::new(py, items)?.into_any(),
            ],
        )
    }

    /// Check (as the Python book does) and read a snapshot, changing nothing.
    pub(super) fn read_snapshot(
        &self,
        py: Python<'_>,
        snapshot: &Bound<'_, PyAny>,
    ) -> PyResult<BookState> {
        core(py)?
            .check_snapshot
            .bind(py)
            .call1((self.instrument.bind(py), snapshot))?;
        book_state(snapshot)
    }
}

#[pymethods]
impl PyBook {
    #[new]
    pub(super) fn new(instrument_: &Bound<'_, PyAny>) -> PyResult<Self> {
        core(instrument_.py())?;
        Ok(Self {
            core: Book::new(instrument(instrument_)?),
            cache: ObjectCache::new(CACHE_SLOTS),
            instrument: instrument_.clone().unbind(),
        })
    }

    /// The instrument the book was made for.
    #[getter]
    fn instrument(&self, py: Python<'_>) -> Py<PyAny> {
        self.instrument.clone_ref(py)
    }

    /// Like the Python book's attribute, the instrument may be replaced: later commands
    /// are checked against the new one, and the hash names its symbol.
    #[setter]
    fn set_instrument(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.set_instrument(instrument(value)?);
        self.instrument = value.clone().unbind();
        Ok(())
    }

    fn place<'py>(
        &mut self,
        py: Python<'py>,
        cmd: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, cmd, Some(|c| matches!(c, Command::New(_))))
    }

    fn cancel<'py>(
        &mut self,
        py: Python<'py>,
        cmd: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, cmd, Some(|c| matches!(c, Command::Cancel(_))))
    }

    fn amend<'py>(
        &mut self,
        py: Python<'py>,
        cmd: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, cmd, Some(|c| matches!(c, Command::Amend(_))))
    }

    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        cmd: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.run(py, cmd, None)
    }

    fn best_bid(&self) -> Option<i64> {
        self.core.best_bid()
    }

    fn best_ask(&self) -> Option<i64> {
        self.core.best_ask()
    }

    fn level<'py>(
        &self,
        py: Python<'py>,
        side: &Bound<'py, PyAny>,
        price: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = core(py)?;
        let side = query_side(side)?;
        let mut cache = ObjectCache::new(16);
        let mut b = Builder::new(py, c, &mut cache);
        match price.extract::<i64>() {
            Ok(p) => {
                let level = self.core.level(side, p);
                let count = (level.count as u64).into_pyobject(py)?.into_any();
                c.level.make(py, [price.clone(), b.wide(level.qty)?, count])
            }
            // No level has a price beyond i64 (or one that is not an int).
            Err(_) => c.level.make(py, [price.clone(), b.int(0), b.int(0)]),
        }
    }

    fn depth<'py>(
        &self,
        py: Python<'py>,
        side: &Bound<'py, PyAny>,
        levels: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let c = core(py)?;
        let side = query_side(side)?;
        let count = usize::try_from(wide(levels)?.max(0)).unwrap_or(usize::MAX);
        let mut cache = ObjectCache::new(16);
        let mut b = Builder::new(py, c, &mut cache);
        let items = self
            .core
            .depth(side, count)
            .iter()
            .map(|l| b.level(l))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn get_order<'py>(
        &self,
        py: Python<'py>,
        order_id: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Ok(id) = order_id.extract::<u64>() else {
            return Ok(None);
        };
        match self.core.get_order(id) {
            None => Ok(None),
            Some(o) => Ok(Some(
                Builder::new(py, core(py)?, &mut ObjectCache::new(16)).resting_order(&o)?,
            )),
        }
    }

    fn orders<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let orders = self.core.orders();
        let mut cache = ObjectCache::new(orders.len());
        let mut b = Builder::new(py, core(py)?, &mut cache);
        let items = orders
            .iter()
            .map(|o| b.resting_order(o))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)?.try_iter()
    }

    #[getter]
    fn last_seq(&self) -> u64 {
        self.core.last_seq()
    }

    #[getter]
    fn next_trade_id(&self) -> u64 {
        self.core.next_trade_id()
    }

    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        let c = core(py)?;
        self.core
            .check_invariants()
            .map_err(|why| PyErr::from_type(c.invariant_error.bind(py).clone(), why))
    }

    fn state_hash(&self) -> String {
        self.core.state_hash()
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.snapshot_object(py)
    }

    fn restore(&mut self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<()> {
        let snap = self.read_snapshot(py, snapshot)?;
        self.core.restore(&snap).map_err(PyValueError::new_err)
    }

    pub(super) fn __repr__(&self) -> String {
        format!(
            "<dome_native.Book {}: {} orders, last_seq {}>",
            self.core.instrument().symbol,
            self.core.order_count(),
            self.core.last_seq()
        )
    }
}
