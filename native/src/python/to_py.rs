//! Rust -> Python: the events, results, levels and resting orders the binding answers
//! with, built as the Python core's NamedTuples, reusing objects made before.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyList, PyString, PyTuple};

use super::classes::PyCore;
use crate::market::Outcome;
use crate::types::{Command, Event, Level, RestingOrder, Side};

/// Python objects made before, kept (a bounded number, direct-mapped) for later events.
///
/// Most of an event's fields repeat: a taker's id, account and price in its accept, trades
/// and rest; a maker's in every trade it makes, often batches later; a level's price in
/// every trade there. Strings are keyed by their `Arc`, which the entry holds, so its
/// address cannot be reused by another string while the entry lives; ints by value.
pub struct ObjectCache {
    strings: Vec<Option<(Arc<str>, Py<PyAny>)>>,
    ints: Vec<Option<(u64, Py<PyAny>)>>,
}

impl ObjectCache {
    /// A cache of about `slots` entries of each kind (rounded to a power of two).
    pub fn new(slots: usize) -> Self {
        let slots = slots.clamp(1, 1 << 16).next_power_of_two();
        Self {
            strings: std::iter::repeat_with(|| None).take(slots).collect(),
            ints: std::iter::repeat_with(|| None).take(slots).collect(),
        }
    }

    fn string_slot(&self, value: &Arc<str>) -> usize {
        // Arc allocations are 8-aligned: drop the bits that never differ.
        ((Arc::as_ptr(value) as *const u8 as usize) >> 4) & (self.strings.len() - 1)
    }

    fn int_slot(&self, value: u64) -> usize {
        (value as usize) & (self.ints.len() - 1)
    }
}

/// Slots of a book's object cache: enough for the makers and prices a batch meets.
pub(super) const CACHE_SLOTS: usize = 4096;

/// Builds Python objects for events, reusing what `cache` holds; for `apply_batch`, the
/// command's own objects (`prime`) go into its events as they came, as in the Python core.
pub(super) struct Builder<'a, 'py> {
    py: Python<'py>,
    core: &'static PyCore,
    cache: &'a mut ObjectCache,
    seq: Option<(u64, Bound<'py, PyAny>)>,
    scratch: Vec<Bound<'py, PyAny>>,
}

/// Ints CPython keeps made (`PyLong_FromLongLong` returns them without allocating).
const SMALL_INTS: u64 = 256;

impl<'a, 'py> Builder<'a, 'py> {
    pub(super) fn new(py: Python<'py>, core: &'static PyCore, cache: &'a mut ObjectCache) -> Self {
        Self {
            py,
            core,
            cache,
            seq: None,
            scratch: Vec::new(),
        }
    }

    /// Remember the Python objects a command came with, for its events.
    pub(super) fn prime(&mut self, rust: &Command, py_cmd: &Bound<'py, PyAny>) -> PyResult<()> {
        let Ok(fields) = py_cmd.cast::<PyTuple>() else {
            return Ok(());
        };
        let (seq, order_id, account, price) = match rust {
            Command::New(c) => (c.seq, c.order_id, &c.account, Some((c.price, 7))),
            Command::Cancel(c) => (c.seq, c.order_id, &c.account, None),
            Command::Amend(c) => (c.seq, c.order_id, &c.account, None),
        };
        let (id_at, account_at) = if matches!(rust, Command::New(_)) {
            (2, 3)
        } else {
            (3, 2)
        };
        let seq_obj = fields.get_item(0)?;
        if seq_obj.is_exact_instance_of::<PyInt>() {
            self.seq = Some((seq, seq_obj));
        }
        self.put_int(order_id, &fields.get_item(id_at)?);
        if let Some((price, at)) = price {
            if let Ok(price) = u64::try_from(price) {
                self.put_int(price, &fields.get_item(at)?);
            }
        }
        let account_obj = fields.get_item(account_at)?;
        if account_obj.is_exact_instance_of::<PyString>() && !account.is_empty() {
            let slot = self.cache.string_slot(account);
            self.cache.strings[slot] = Some((account.clone(), account_obj.unbind()));
        }
        Ok(())
    }

    fn put_int(&mut self, value: u64, obj: &Bound<'py, PyAny>) {
        if value > SMALL_INTS && obj.is_exact_instance_of::<PyInt>() {
            let slot = self.cache.int_slot(value);
            self.cache.ints[slot] = Some((value, obj.clone().unbind()));
        }
    }

    pub(super) fn text(&mut self, value: &Arc<str>) -> Bound<'py, PyAny> {
        if value.is_empty() {
            return self.core.empty.bind(self.py).clone().into_any();
        }
        let slot = self.cache.string_slot(value);
        if let Some((key, cached)) = &self.cache.strings[slot] {
            if Arc::ptr_eq(key, value) {
                return cached.bind(self.py).clone();
            }
        }
        let made = PyString::new(self.py, value).into_any();
        self.cache.strings[slot] = Some((value.clone(), made.clone().unbind()));
        made
    }

    fn seq(&mut self, seq: u64) -> Bound<'py, PyAny> {
        if let Some((value, obj)) = &self.seq {
            if *value == seq {
                return obj.clone();
            }
        }
        let obj = self.fresh_uint(seq);
        self.seq = Some((seq, obj.clone()));
        obj
    }

    fn fresh_uint(&self, value: u64) -> Bound<'py, PyAny> {
        match value.into_pyobject(self.py) {
            Ok(v) => v.into_any(),
            Err(never) => match never {},
        }
    }

    /// A non-negative int, from the cache when it was made before.
    pub(super) fn uint(&mut self, value: u64) -> Bound<'py, PyAny> {
        if value <= SMALL_INTS {
            return self.fresh_uint(value);
        }
        let slot = self.cache.int_slot(value);
        if let Some((key, cached)) = &self.cache.ints[slot] {
            if *key == value {
                return cached.bind(self.py).clone();
            }
        }
        let made = self.fresh_uint(value);
        self.cache.ints[slot] = Some((value, made.clone().unbind()));
        made
    }

    /// An int that is never repeated (a trade id): not worth a cache slot.
    fn unique(&self, value: u64) -> Bound<'py, PyAny> {
        self.fresh_uint(value)
    }

    pub(super) fn int(&mut self, value: i64) -> Bound<'py, PyAny> {
        match u64::try_from(value) {
            Ok(v) => self.uint(v),
            Err(_) => match value.into_pyobject(self.py) {
                Ok(v) => v.into_any(),
                Err(never) => match never {},
            },
        }
    }

    pub(super) fn wide(&mut self, value: i128) -> PyResult<Bound<'py, PyAny>> {
        match i64::try_from(value) {
            Ok(v) => Ok(self.int(v)),
            Err(_) => Ok(value.into_pyobject(self.py)?.into_any()),
        }
    }

    fn flag(&self, value: bool) -> Bound<'py, PyAny> {
        PyBool::new(self.py, value).to_owned().into_any()
    }

    fn side(&self, side: Side) -> Bound<'py, PyAny> {
        self.core.side(self.py, side)
    }

    fn event(&mut self, e: &Event) -> PyResult<Bound<'py, PyAny>> {
        let (py, c) = (self.py, self.core);
        match e {
            Event::Accepted {
                seq,
                order_id,
                account,
                client_order_id,
                side,
                order_type,
                price,
                qty,
            } => c.accepted.make(
                py,
                [
                    self.seq(*seq),
                    self.uint(*order_id),
                    self.text(account),
                    self.text(client_order_id),
                    self.side(*side),
                    c.order_types[*order_type as usize].bind(py).clone(),
                    self.int(*price),
                    self.int(*qty),
                ],
            ),
            Event::Trade {
                seq,
                trade_id,
                price,
                qty,
                aggressor,
                maker_order_id,
                maker_account,
                maker_remaining,
                taker_order_id,
                taker_account,
                taker_remaining,
            } => c.trade.make(
                py,
                [
                    self.seq(*seq),
                    self.unique(*trade_id),
                    self.int(*price),
                    self.int(*qty),
                    self.side(*aggressor),
                    self.uint(*maker_order_id),
                    self.text(maker_account),
                    self.int(*maker_remaining),
                    self.uint(*taker_order_id),
                    self.text(taker_account),
                    self.int(*taker_remaining),
                ],
            ),
            Event::Rested {
                seq,
                order_id,
                account,
                side,
                price,
                remaining,
            } => c.rested.make(
                py,
                [
                    self.seq(*seq),
                    self.uint(*order_id),
                    self.text(account),
                    self.side(*side),
                    self.int(*price),
                    self.int(*remaining),
                ],
            ),
            Event::Cancelled {
                seq,
                order_id,
                account,
                side,
                price,
                cancelled_qty,
                reason,
                was_resting,
            } => c.cancelled.make(
                py,
                [
                    self.seq(*seq),
                    self.uint(*order_id),
                    self.text(account),
                    self.side(*side),
                    self.int(*price),
                    self.int(*cancelled_qty),
                    c.cancel_reasons[*reason as usize].bind(py).clone(),
                    self.flag(*was_resting),
                ],
            ),
            Event::Amended {
                seq,
                order_id,
                account,
                side,
                old_price,
                old_remaining,
                new_price,
                new_remaining,
                priority_kept,
            } => c.amended.make(
                py,
                [
                    self.seq(*seq),
                    self.uint(*order_id),
                    self.text(account),
                    self.side(*side),
                    self.int(*old_price),
                    self.int(*old_remaining),
                    self.int(*new_price),
                    self.int(*new_remaining),
                    self.flag(*priority_kept),
                ],
            ),
            Event::Rejected {
                seq,
                order_id,
                account,
                client_order_id,
                reason,
            } => c.rejected.make(
                py,
                [
                    self.seq(*seq),
                    self.uint(*order_id),
                    self.text(account),
                    self.text(client_order_id),
                    c.reject_reasons[*reason as usize].bind(py).clone(),
                ],
            ),
        }
    }

    pub(super) fn events_list(&mut self, events: &[Event]) -> PyResult<Bound<'py, PyList>> {
        let items = events
            .iter()
            .map(|e| self.event(e))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(self.py, items)
    }

    pub(super) fn events_tuple(&mut self, events: &[Event]) -> PyResult<Bound<'py, PyTuple>> {
        // One scratch vector for every command's events: no allocation per tuple.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for e in events {
            scratch.push(self.event(e)?);
        }
        let tuple = PyTuple::new(self.py, scratch.drain(..));
        self.scratch = scratch;
        tuple
    }

    pub(super) fn result(
        &mut self,
        outcome: &Outcome,
        buffer: &[Event],
    ) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events_tuple(outcome.events(buffer))?.into_any();
        self.core
            .market_result
            .make(self.py, [events, self.flag(outcome.duplicate)])
    }

    pub(super) fn resting_order(&mut self, o: &RestingOrder) -> PyResult<Bound<'py, PyAny>> {
        let (py, c) = (self.py, self.core);
        c.resting_order.make(
            py,
            [
                self.uint(o.order_id),
                self.text(&o.account),
                self.text(&o.client_order_id),
                self.side(o.side),
                self.int(o.price),
                self.int(o.qty),
                self.int(o.remaining),
                self.uint(o.priority),
                c.order_types[o.order_type as usize].bind(py).clone(),
                c.stps[o.stp as usize].bind(py).clone(),
            ],
        )
    }

    pub(super) fn level(&mut self, level: &Level) -> PyResult<Bound<'py, PyAny>> {
        self.core.level.make(
            self.py,
            [
                self.int(level.price),
                self.wide(level.qty)?,
                (level.count as u64).into_pyobject(self.py)?.into_any(),
            ],
        )
    }
}
