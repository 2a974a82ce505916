//! `dome_native.Market`: the PyO3 class over `crate::market::Market`, with the batch
//! entry points (objects in or log bytes in; result objects or effects bytes out).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};

use super::book::PyBook;
use super::classes::{PyCore, core};
use super::from_py::{command, event, text, unsigned, wide};
use super::to_py::{Builder, ObjectCache};
use crate::book::Book;
use crate::effects::encode_effects;
use crate::market::{DEFAULT_DEDUP_WINDOW, Market, MarketSnapshot, Outcome};
use crate::types::{Command, Event};
use crate::wire::decode_batch;

/// `dome_native.Market(instrument, dedup_window=100_000)`: `dome.core.market.Market` on a
/// native book, plus the batch entry points.
#[pyclass(module = "dome_native", name = "Market")]
pub struct PyMarket {
    book: Py<PyBook>,
    core: Market,
}

fn window_size(value: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(value) = value else {
        return Ok(DEFAULT_DEDUP_WINDOW);
    };
    let size = wide(value)?;
    if size < 0 {
        return Err(PyValueError::new_err("dedup_window must not be negative"));
    }
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}

/// Apply `commands` in order, every event into one buffer.
fn run_batch(
    market: &mut Market,
    book: &mut Book,
    commands: &[Command],
) -> (Vec<Event>, Vec<Outcome>) {
    let mut buffer = Vec::with_capacity(commands.len() * 3);
    let outcomes = commands
        .iter()
        .map(|c| market.apply(book, c, &mut buffer))
        .collect();
    (buffer, outcomes)
}

/// The `MarketResult`s of a batch; `sources`, when the commands came as Python objects,
/// lends their fields to the events.
fn results<'py>(
    py: Python<'py>,
    c: &'static PyCore,
    buffer: &[Event],
    outcomes: &[Outcome],
    sources: Option<(&[Command], &[Bound<'py, PyAny>])>,
    cache: &mut ObjectCache,
) -> PyResult<Bound<'py, PyList>> {
    let mut b = Builder::new(py, c, cache);
    let mut items = Vec::with_capacity(outcomes.len());
    for (i, outcome) in outcomes.iter().enumerate() {
        if let Some((rust, objects)) = sources {
            if let (Some(rust), Some(object)) = (rust.get(i), objects.get(i)) {
                b.prime(rust, object)?;
            }
        }
        items.push(b.result(outcome, buffer)?);
    }
    PyList::new(py, items)
}

fn log_format_error(py: Python<'_>, message: String) -> PyErr {
    match py
        .import("dome.log.errors")
        .and_then(|m| m.getattr("LogFormatError"))
    {
        Ok(cls) => match cls.cast_into::<PyType>() {
            Ok(cls) => PyErr::from_type(cls, message),
            Err(_) => PyValueError::new_err(message),
        },
        Err(_) => PyValueError::new_err(message),
    }
}

#[pymethods]
impl PyMarket {
    #[new]
    #[pyo3(signature = (instrument, dedup_window = None))]
    fn new(
        py: Python<'_>,
        instrument: &Bound<'_, PyAny>,
        dedup_window: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let size = window_size(dedup_window)?;
        let book = Py::new(py, PyBook::new(instrument)?)?;
        Ok(Self {
            book,
            core: Market::new(size),
        })
    }

    /// The market's book: a `dome_native.Book` sharing this market's state.
    #[getter]
    fn book(&self, py: Python<'_>) -> Py<PyBook> {
        self.book.clone_ref(py)
    }

    #[getter]
    fn instrument(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.book.bind(py).try_borrow()?.instrument.clone_ref(py))
    }

    #[getter]
    fn dedup_window(&self) -> usize {
        self.core.dedup_window
    }

    #[setter]
    fn set_dedup_window(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.dedup_window = window_size(Some(value))?;
        Ok(())
    }

    #[getter]
    fn last_seq(&self) -> u64 {
        self.core.last_seq()
    }

    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        cmd: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = core(py)?;
        let command = command(c, cmd)?;
        let mut book = self.book.bind(py).try_borrow_mut()?;
        let mut buffer = Vec::new();
        let outcome = self.core.apply(&mut book.core, &command, &mut buffer);
        Builder::new(py, c, &mut book.cache).result(&outcome, &buffer)
    }

    /// Apply every command in order, the matching with the GIL released; nothing changes
    /// when a command cannot be read.
    fn apply_batch<'py>(
        &mut self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let c = core(py)?;
        let objects = commands.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        let commands = objects
            .iter()
            .map(|cmd| command(c, cmd))
            .collect::<PyResult<Vec<_>>>()?;
        let mut guard = self.book.bind(py).try_borrow_mut()?;
        let book = &mut *guard;
        let (core_book, market) = (&mut book.core, &mut self.core);
        let (buffer, outcomes) = py.detach(|| run_batch(market, core_book, &commands));
        let sources = Some((&commands[..], &objects[..]));
        results(py, c, &buffer, &outcomes, sources, &mut book.cache)
    }

    /// Decode a `dome.v1.LogBatch` and apply its commands as `apply_batch` does;
    /// `LogFormatError` (a ValueError), changing nothing, when the bytes are not one.
    fn apply_encoded<'py>(
        &mut self,
        py: Python<'py>,
        log_batch: &[u8],
    ) -> PyResult<Bound<'py, PyList>> {
        let c = core(py)?;
        let mut guard = self.book.bind(py).try_borrow_mut()?;
        let book = &mut *guard;
        let (core_book, market) = (&mut book.core, &mut self.core);
        let ran = py.detach(|| {
            decode_batch(log_batch).map(|batch| run_batch(market, core_book, &batch.commands))
        });
        let (buffer, outcomes) = ran.map_err(|message| log_format_error(py, message))?;
        results(py, c, &buffer, &outcomes, None, &mut book.cache)
    }

    /// `apply_batch`, answered as `dome.v1.BatchEffects` bytes (`dome.engine.effects`):
    /// matching and encoding both run with the GIL released, no object per event.
    fn apply_batch_effects<'py>(
        &mut self,
        py: Python<'py>,
        commands: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let c = core(py)?;
        let commands = commands
            .try_iter()?
            .map(|cmd| command(c, &cmd?))
            .collect::<PyResult<Vec<_>>>()?;
        let first_seq = commands.first().map_or(0, Command::seq);
        let mut guard = self.book.bind(py).try_borrow_mut()?;
        let (core_book, market) = (&mut guard.core, &mut self.core);
        let bytes = py.detach(|| {
            let (buffer, outcomes) = run_batch(market, core_book, &commands);
            encode_effects(first_seq, &buffer, &outcomes)
        });
        Ok(PyBytes::new(py, &bytes))
    }

    /// Bytes in, bytes out: decode a `dome.v1.LogBatch` as `apply_encoded` does, apply
    /// it, and answer its `dome.v1.BatchEffects`, all with the GIL released.
    fn apply_encoded_effects<'py>(
        &mut self,
        py: Python<'py>,
        log_batch: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut guard = self.book.bind(py).try_borrow_mut()?;
        let (core_book, market) = (&mut guard.core, &mut self.core);
        let ran = py.detach(|| {
            decode_batch(log_batch).map(|batch| {
                let (buffer, outcomes) = run_batch(market, core_book, &batch.commands);
                encode_effects(batch.first_seq, &buffer, &outcomes)
            })
        });
        let bytes = ran.map_err(|message| log_format_error(py, message))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn is_known(&self, account: &str, client_order_id: &str) -> bool {
        self.core.is_known(account, client_order_id)
    }

    fn remembered(&self) -> usize {
        self.core.remembered()
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = core(py)?;
        let book = self.book.bind(py).try_borrow()?;
        let book_state = book.snapshot_object(py)?;
        let mut cache = ObjectCache::new(64);
        let mut b = Builder::new(py, c, &mut cache);
        let seen = self
            .core
            .seen()
            .map(|((account, cid), events)| {
                let events = b.events_tuple(events)?.into_any();
                PyTuple::new(py, [b.text(account), b.text(cid), events])
            })
            .collect::<PyResult<Vec<_>>>()?;
        c.market_snapshot.make(
            py,
            [
                book_state,
                b.uint(self.core.last_seq()),
                PyTuple::new(py, seen)?.into_any(),
            ],
        )
    }

    /// Replace book, last sequence and window with `snapshot`'s (a `MarketSnapshot`);
    /// `ValueError`, changing nothing, if any part is inconsistent.
    fn restore(&mut self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<()> {
        let c = core(py)?;
        let mut book = self.book.bind(py).try_borrow_mut()?;
        let book_part = book.read_snapshot(py, &snapshot.getattr("book")?)?;
        let last_seq = unsigned(&snapshot.getattr("last_seq")?, "last_seq")?;
        let mut seen = Vec::new();
        for entry in snapshot.getattr("seen")?.try_iter()? {
            let entry = entry?;
            let parts = entry.try_iter()?.collect::<PyResult<Vec<_>>>()?;
            let [account, cid, events] = parts.as_slice() else {
                return Err(PyValueError::new_err(format!(
                    "a window entry is (account, client order id, events): {entry:?}"
                )));
            };
            let events = events
                .try_iter()?
                .map(|e| event(c, &e?))
                .collect::<PyResult<Vec<_>>>()?;
            seen.push((text(account)?, text(cid)?, events));
        }
        let snap = MarketSnapshot {
            book: book_part,
            last_seq,
            seen,
        };
        self.core
            .restore(&mut book.core, &snap)
            .map_err(PyValueError::new_err)
    }

    fn state_hash(&self, py: Python<'_>) -> PyResult<String> {
        let book = self.book.bind(py).try_borrow()?;
        Ok(self.core.state_hash(&book.core))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let book = self
            .book
            .bind(py)
            .try_borrow()
            .map(|b| b.__repr__())
            .unwrap_or_default();
        format!(
            "<dome_native.Market {book}, {} remembered>",
            self.core.remembered()
        )
    }
}
