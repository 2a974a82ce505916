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

use std::ffi::c_void;
use std::sync::Arc;

use pyo3::exceptions::{PyKeyError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyInt, PyIterator, PyList, PyString, PyTuple, PyType};

use crate::book::{Book, BookSnapshot};
use crate::effects::encode_effects;
use crate::market::{DEFAULT_DEDUP_WINDOW, Market, MarketSnapshot, Outcome};
use crate::types::{
    AmendOrder, CancelOrder, CancelReason, Command, Event, Instrument, Level, NewOrder, OrderType,
    RejectReason, RestingOrder, Side, Stp, empty_text,
};
use crate::wire::decode_batch;

// ------------------------------------------------------------------ the Python core

/// A NamedTuple class of the Python core, and how to make its instances cheaply.
struct TupleClass {
    cls: Py<PyType>,
    alloc: ffi::allocfunc,
    len: usize,
}

impl TupleClass {
    /// `module.name`, checked to be a plain NamedTuple with exactly `fields`.
    fn load(py: Python<'_>, module: &str, name: &str, fields: &[&str]) -> PyResult<Self> {
        let cls = py.import(module)?.getattr(name)?.cast_into::<PyType>()?;
        let tuple = py.get_type::<PyTuple>();
        let stale = |why: String| {
            PyTypeError::new_err(format!("dome_native cannot use {module}.{name}: {why}"))
        };
        if !cls.is_subclass(&tuple)? {
            return Err(stale("not a tuple type".into()));
        }
        let got: Vec<String> = cls.getattr("_fields")?.extract()?;
        if got != fields {
            return Err(stale(format!(
                "fields {got:?}, this build writes {fields:?}"
            )));
        }
        // The instances must be tuples and nothing more (no __dict__, no extra slots):
        // `make` fills exactly the tuple's items.
        for attr in [
            "__basicsize__",
            "__itemsize__",
            "__dictoffset__",
            "__weakrefoffset__",
        ] {
            if !cls.getattr(attr)?.eq(tuple.getattr(attr)?)? {
                return Err(stale(format!("its {attr} differs from tuple's")));
            }
        }
        // SAFETY: `cls` is a live type object (we hold a reference) and Py_tp_alloc is a
        // valid slot id; PyType_GetSlot works on every type from Python 3.10 on.
        let slot: *mut c_void = unsafe { ffi::PyType_GetSlot(cls.as_type_ptr(), ffi::Py_tp_alloc) };
        // SAFETY: the tp_alloc slot holds an `allocfunc` or null; function and data
        // pointers have one size and representation on every platform CPython supports
        // (PyO3 reads this slot the same way), and null maps to None.
        let alloc: Option<ffi::allocfunc> = unsafe { std::mem::transmute(slot) };
        let alloc = alloc.ok_or_else(|| stale("no tp_alloc".into()))?;
        Ok(Self {
            cls: cls.unbind(),
            alloc,
            len: fields.len(),
        })
    }

    /// An instance holding `items`, as `tuple.__new__(cls, items)` would make it, without
    /// the call: the per-event cost of the batch path is mostly this.
    fn make<'py, const N: usize>(
        &self,
        py: Python<'py>,
        items: [Bound<'py, PyAny>; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        if N != self.len {
            return Err(PyTypeError::new_err(
                "dome_native: wrong field count (a bug)",
            ));
        }
        let cls = self.cls.bind(py);
        // SAFETY: `alloc` is `cls`'s own tp_alloc and `cls` a live tuple subtype whose
        // instances are plain tuples (checked in `load`); tp_alloc returns a new
        // reference to a zero-filled instance with room for N items, or null with a
        // Python error set, which `from_owned_ptr_or_err` turns into Err.
        let obj = unsafe {
            let raw = (self.alloc)(cls.as_type_ptr(), N as ffi::Py_ssize_t);
            Bound::from_owned_ptr_or_err(py, raw)?
        };
        for (i, item) in items.into_iter().enumerate() {
            // SAFETY: `obj` is a tuple (subtype) of N items that only this function holds
            // (refcount 1, not yet shared), i < N, and PyTuple_SetItem steals the new
            // reference `into_ptr` gives it; the slot it fills is still null. On error
            // (impossible here) it has released the item and set a Python error.
            if unsafe { ffi::PyTuple_SetItem(obj.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr()) }
                != 0
            {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(obj)
    }
}

/// Members of an IntEnum by value (index 0 unused where the enum has no 0).
///
/// Every value from 1 up must exist: a Python enum behind the Rust one is a build
/// mismatch, refused at import rather than answered with a wrong member later.
fn members<const N: usize>(py: Python<'_>, module: &str, name: &str) -> PyResult<[Py<PyAny>; N]> {
    let cls = py.import(module)?.getattr(name)?;
    let none = py.None();
    let mut out: [Py<PyAny>; N] = std::array::from_fn(|_| none.clone_ref(py));
    for (value, slot) in out.iter_mut().enumerate() {
        match cls.call1((value,)) {
            Ok(member) => *slot = member.unbind(),
            Err(err) if value > 0 => {
                return Err(PyTypeError::new_err(format!(
                    "{module}.{name} has no member {value}, which the native core knows: \
                     rebuild it (`make native`) from this tree ({err})"
                )));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// The Python core's classes, enum members and helpers the binding speaks in.
struct PyCore {
    new_order: Py<PyType>,
    cancel_order: Py<PyType>,
    amend_order: Py<PyType>,
    accepted: TupleClass,
    trade: TupleClass,
    rested: TupleClass,
    cancelled: TupleClass,
    amended: TupleClass,
    rejected: TupleClass,
    resting_order: TupleClass,
    level: TupleClass,
    book_snapshot: TupleClass,
    market_result: TupleClass,
    market_snapshot: TupleClass,
    sides: [Py<PyAny>; 3],
    order_types: [Py<PyAny>; 6],
    stps: [Py<PyAny>; 3],
    reject_reasons: [Py<PyAny>; RejectReason::ALL.len()],
    cancel_reasons: [Py<PyAny>; 4],
    invariant_error: Py<PyType>,
    check_snapshot: Py<PyAny>,
    empty: Py<PyString>,
}

static CORE: PyOnceLock<PyCore> = PyOnceLock::new();

fn core(py: Python<'_>) -> PyResult<&'static PyCore> {
    CORE.get_or_try_init(py, || PyCore::load(py))
}

const EVENTS: &str = "dome.core.events";
const API: &str = "dome.core.book_api";

impl PyCore {
    fn load(py: Python<'_>) -> PyResult<Self> {
        let commands = py.import("dome.core.commands")?;
        let class = |name: &str| -> PyResult<Py<PyType>> {
            Ok(commands.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        let api = py.import(API)?;
        Ok(Self {
            new_order: class("NewOrder")?,
            cancel_order: class("CancelOrder")?,
            amend_order: class("AmendOrder")?,
            accepted: TupleClass::load(
                py,
                EVENTS,
                "OrderAccepted",
                &[
                    "seq",
                    "order_id",
                    "account",
                    "client_order_id",
                    "side",
                    "order_type",
                    "price",
                    "qty",
                ],
            )?,
            trade: TupleClass::load(
                py,
                EVENTS,
                "Trade",
                &[
                    "seq",
                    "trade_id",
                    "price",
                    "qty",
                    "aggressor",
                    "maker_order_id",
                    "maker_account",
                    "maker_remaining",
                    "taker_order_id",
                    "taker_account",
                    "taker_remaining",
                ],
            )?,
            rested: TupleClass::load(
                py,
                EVENTS,
                "OrderRested",
                &["seq", "order_id", "account", "side", "price", "remaining"],
            )?,
            cancelled: TupleClass::load(
                py,
                EVENTS,
                "OrderCancelled",
                &[
                    "seq",
                    "order_id",
                    "account",
                    "side",
                    "price",
                    "cancelled_qty",
                    "reason",
                    "was_resting",
                ],
            )?,
            amended: TupleClass::load(
                py,
                EVENTS,
                "OrderAmended",
                &[
                    "seq",
                    "order_id",
                    "account",
                    "side",
                    "old_price",
                    "old_remaining",
                    "new_price",
                    "new_remaining",
                    "priority_kept",
                ],
            )?,
            rejected: TupleClass::load(
                py,
                EVENTS,
                "OrderRejected",
                &["seq", "order_id", "account", "client_order_id", "reason"],
            )?,
            resting_order: TupleClass::load(
                py,
                API,
                "RestingOrder",
                &[
                    "order_id",
                    "account",
                    "client_order_id",
                    "side",
                    "price",
                    "qty",
                    "remaining",
                    "priority",
                    "order_type",
                    "stp",
                ],
            )?,
            level: TupleClass::load(py, API, "Level", &["price", "qty", "count"])?,
            book_snapshot: TupleClass::load(
                py,
                API,
                "BookSnapshot",
                &["symbol", "last_seq", "next_trade_id", "orders"],
            )?,
            market_result: TupleClass::load(
                py,
                "dome.core.market",
                "MarketResult",
                &["events", "duplicate"],
            )?,
            market_snapshot: TupleClass::load(
                py,
                "dome.core.market",
                "MarketSnapshot",
                &["book", "last_seq", "seen"],
            )?,
            sides: members(py, "dome.core.types", "Side")?,
            order_types: members(py, "dome.core.types", "OrderType")?,
            stps: members(py, "dome.core.types", "SelfTradePrevention")?,
            reject_reasons: members(py, "dome.core.types", "RejectReason")?,
            cancel_reasons: members(py, EVENTS, "CancelReason")?,
            invariant_error: api
                .getattr("InvariantError")?
                .cast_into::<PyType>()?
                .unbind(),
            check_snapshot: api.getattr("check_snapshot")?.unbind(),
            empty: PyString::intern(py, "").unbind(),
        })
    }

    fn side<'py>(&self, py: Python<'py>, side: Side) -> Bound<'py, PyAny> {
        self.sides[side as usize].bind(py).clone()
    }
}

// ------------------------------------------------------------------ Python -> Rust

fn out_of_range(what: &str, value: &Bound<'_, PyAny>) -> PyErr {
    PyValueError::new_err(format!(
        "{what} {value} is out of range for the native core (0 to 2**64-1)"
    ))
}

/// An id or sequence number: 0..2**64 (what the log carries), else ValueError.
fn unsigned(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    match value.extract::<u64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => Err(out_of_range(what, value)),
        Err(e) => Err(e),
    }
}

/// A price or quantity: any int, saturated far beyond every (i64) bound, so each
/// comparison the validation makes comes out as with Python's unbounded ints.
fn wide(value: &Bound<'_, PyAny>) -> PyResult<i128> {
    match value.extract::<i64>() {
        Ok(v) => Ok(v.into()),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            Ok(if value.lt(0)? { i128::MIN } else { i128::MAX })
        }
        Err(e) => Err(e),
    }
}

/// A side, order type or stp value before validation: any int; one beyond i64 names no
/// member, like 0.
fn raw_enum(value: &Bound<'_, PyAny>) -> PyResult<i64> {
    match value.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => Ok(0),
        Err(e) => Err(e),
    }
}

fn signed(value: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    match value.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => Err(PyValueError::new_err(
            format!("{what} {value} is out of range for the native core (a 64-bit int)"),
        )),
        Err(e) => Err(e),
    }
}

fn text(value: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
    let s = value.cast::<PyString>()?.to_str()?;
    Ok(if s.is_empty() {
        empty_text()
    } else {
        Arc::from(s)
    })
}

/// The tuple's items, after checking it has `len` of them.
fn fields<'a, 'py>(value: &'a Bound<'py, PyAny>, len: usize) -> PyResult<&'a Bound<'py, PyTuple>> {
    let tuple = value.cast::<PyTuple>()?;
    if tuple.len() != len {
        return Err(PyTypeError::new_err(format!(
            "expected {len} fields: {value:?}"
        )));
    }
    Ok(tuple)
}

/// `raw_enum`, first comparing with the enum's members by identity (what commands
/// carry nearly always), which costs no call into Python.
fn member(value: &Bound<'_, PyAny>, members: &[Py<PyAny>]) -> PyResult<i64> {
    let ptr = value.as_ptr();
    match members.iter().position(|m| m.as_ptr() == ptr) {
        Some(index) if index > 0 => Ok(index as i64),
        _ => raw_enum(value),
    }
}

/// A command of `dome.core.commands`, read by position.
fn command(core: &PyCore, value: &Bound<'_, PyAny>) -> PyResult<Command> {
    let py = value.py();
    let ty = value.get_type();
    let exact = |cls: &Py<PyType>| ty.as_ptr() == cls.as_ptr();
    let is_new = exact(&core.new_order) || value.is_instance(core.new_order.bind(py))?;
    if is_new {
        let f = fields(value, 10)?;
        return Ok(Command::New(NewOrder {
            seq: unsigned(&*f.get_borrowed_item(0)?, "seq")?,
            order_id: unsigned(&*f.get_borrowed_item(2)?, "order_id")?,
            account: text(&*f.get_borrowed_item(3)?)?,
            client_order_id: text(&*f.get_borrowed_item(4)?)?,
            side: member(&*f.get_borrowed_item(5)?, &core.sides)?,
            order_type: member(&*f.get_borrowed_item(6)?, &core.order_types)?,
            price: wide(&*f.get_borrowed_item(7)?)?,
            qty: wide(&*f.get_borrowed_item(8)?)?,
            stp: member(&*f.get_borrowed_item(9)?, &core.stps)?,
            dedup: exact(&core.new_order),
        }));
    }
    if exact(&core.cancel_order) || value.is_instance(core.cancel_order.bind(py))? {
        let f = fields(value, 4)?;
        return Ok(Command::Cancel(CancelOrder {
            seq: unsigned(&*f.get_borrowed_item(0)?, "seq")?,
            account: text(&*f.get_borrowed_item(2)?)?,
            order_id: unsigned(&*f.get_borrowed_item(3)?, "order_id")?,
        }));
    }
    if exact(&core.amend_order) || value.is_instance(core.amend_order.bind(py))? {
        let f = fields(value, 6)?;
        return Ok(Command::Amend(AmendOrder {
            seq: unsigned(&*f.get_borrowed_item(0)?, "seq")?,
            account: text(&*f.get_borrowed_item(2)?)?,
            order_id: unsigned(&*f.get_borrowed_item(3)?, "order_id")?,
            qty: wide(&*f.get_borrowed_item(4)?)?,
            price: wide(&*f.get_borrowed_item(5)?)?,
        }));
    }
    Err(PyTypeError::new_err(format!(
        "not a book command: {value:?}"
    )))
}

fn enum_value<T>(value: &Bound<'_, PyAny>, what: &str, of: fn(i64) -> Option<T>) -> PyResult<T> {
    let raw = value.extract::<i64>().ok();
    raw.and_then(of)
        .ok_or_else(|| PyValueError::new_err(format!("{what} {value} is not a known value")))
}

fn flag(value: &Bound<'_, PyAny>, what: &str) -> PyResult<bool> {
    match value.extract::<i64>() {
        Ok(0) => Ok(false),
        Ok(1) => Ok(true),
        _ => Err(PyValueError::new_err(format!(
            "{what} {value} is not a bool"
        ))),
    }
}

/// An event of `dome.core.events` (from a snapshot's window), read by position.
fn event(core: &PyCore, value: &Bound<'_, PyAny>) -> PyResult<Event> {
    let py = value.py();
    let is = |cls: &TupleClass| value.is_instance(cls.cls.bind(py));
    let side = |v: &Bound<'_, PyAny>| enum_value(v, "side", Side::from_value);
    if is(&core.accepted)? {
        let f = fields(value, 8)?;
        return Ok(Event::Accepted {
            seq: unsigned(&f.get_item(0)?, "seq")?,
            order_id: unsigned(&f.get_item(1)?, "order_id")?,
            account: text(&f.get_item(2)?)?,
            client_order_id: text(&f.get_item(3)?)?,
            side: side(&f.get_item(4)?)?,
            order_type: enum_value(&f.get_item(5)?, "order_type", OrderType::from_value)?,
            price: signed(&f.get_item(6)?, "price")?,
            qty: signed(&f.get_item(7)?, "qty")?,
        });
    }
    if is(&core.trade)? {
        let f = fields(value, 11)?;
        return Ok(Event::Trade {
            seq: unsigned(&f.get_item(0)?, "seq")?,
            trade_id: unsigned(&f.get_item(1)?, "trade_id")?,
            price: signed(&f.get_item(2)?, "price")?,
            qty: signed(&f.get_item(3)?, "qty")?,
            aggressor: side(&f.get_item(4)?)?,
            maker_order_id: unsigned(&f.get_item(5)?, "maker_order_id")?,
            maker_account: text(&f.get_item(6)?)?,
            maker_remaining: signed(&f.get_item(7)?, "maker_remaining")?,
            taker_order_id: unsigned(&f.get_item(8)?, "taker_order_id")?,
            taker_account: text(&f.get_item(9)?)?,
            taker_remaining: signed(&f.get_item(10)?, "taker_remaining")?,
        });
    }
    if is(&core.rested)? {
        let f = fields(value, 6)?;
        return Ok(Event::Rested {
            seq: unsigned(&f.get_item(0)?, "seq")?,
            order_id: unsigned(&f.get_item(1)?, "order_id")?,
            account: text(&f.get_item(2)?)?,
            side: side(&f.get_item(3)?)?,
            price: signed(&f.get_item(4)?, "price")?,
            remaining: signed(&f.get_item(5)?, "remaining")?,
        });
    }
    if is(&core.cancelled)? {
        let f = fields(value, 8)?;
        return Ok(Event::Cancelled {
            seq: unsigned(&f.get_item(0)?, "seq")?,
            order_id: unsigned(&f.get_item(1)?, "order_id")?,
            account: text(&f.get_item(2)?)?,
            side: side(&f.get_item(3)?)?,
            price: signed(&f.get_item(4)?, "price")?,
            cancelled_qty: signed(&f.get_item(5)?, "cancelled_qty")?,
            reason: enum_value(&f.get_item(6)?, "reason", CancelReason::from_value)?,
            was_resting: flag(&f.get_item(7)?, "was_resting")?,
        });
    }
    if is(&core.amended)? {
        let f = fields(value, 9)?;
        return Ok(Event::Amended {
            seq: unsigned(&f.get_item(0)?, "seq")?,
            order_id: unsigned(&f.get_item(1)?, "order_id")?,
            account: text(&f.get_item(2)?)?,
            side: side(&f.get_item(3)?)?,
            old_price: signed(&f.get_item(4)?, "old_price")?,
            old_remaining: signed(&f.get_item(5)?, "old_remaining")?,
            new_price: signed(&f.get_item(6)?, "new_price")?,
            new_remaining: signed(&f.get_item(7)?, "new_remaining")?,
            priority_kept: flag(&f.get_item(8)?, "priority_kept")?,
        });
    }
    if is(&core.rejected)? {
        let f = fields(value, 5)?;
        return Ok(Event::Rejected {
            seq: unsigned(&f.get_item(0)?, "seq")?,
            order_id: unsigned(&f.get_item(1)?, "order_id")?,
            account: text(&f.get_item(2)?)?,
            client_order_id: text(&f.get_item(3)?)?,
            reason: enum_value(&f.get_item(4)?, "reason", RejectReason::from_value)?,
        });
    }
    Err(PyTypeError::new_err(format!("not an event: {value:?}")))
}

/// A `BookSnapshot` that `check_snapshot` accepted, as Rust data.
fn book_snapshot(value: &Bound<'_, PyAny>) -> PyResult<BookSnapshot> {
    let last_seq = unsigned(&value.getattr("last_seq")?, "last_seq")?;
    let next_trade_id = unsigned(&value.getattr("next_trade_id")?, "next_trade_id")?;
    if next_trade_id > i64::MAX as u64 {
        return Err(PyValueError::new_err(format!(
            "next_trade_id {next_trade_id} is out of range for the native core"
        )));
    }
    let mut orders = Vec::new();
    for o in value.getattr("orders")?.try_iter()? {
        let o = o?;
        let get = |name: &str| o.getattr(name);
        orders.push(RestingOrder {
            order_id: unsigned(&get("order_id")?, "order_id")?,
            account: text(&get("account")?)?,
            client_order_id: text(&get("client_order_id")?)?,
            side: enum_value(&get("side")?, "side", Side::from_value)?,
            price: signed(&get("price")?, "price")?,
            qty: signed(&get("qty")?, "qty")?,
            remaining: signed(&get("remaining")?, "remaining")?,
            priority: unsigned(&get("priority")?, "priority")?,
            order_type: enum_value(&get("order_type")?, "order_type", OrderType::from_value)?,
            stp: enum_value(&get("stp")?, "stp", Stp::from_value)?,
        });
    }
    Ok(BookSnapshot {
        last_seq,
        next_trade_id,
        orders,
    })
}

// ------------------------------------------------------------------ Rust -> Python

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
const CACHE_SLOTS: usize = 4096;

/// Builds Python objects for events, reusing what `cache` holds; for `apply_batch`, the
/// command's own objects (`prime`) go into its events as they came, as in the Python core.
struct Builder<'a, 'py> {
    py: Python<'py>,
    core: &'static PyCore,
    cache: &'a mut ObjectCache,
    seq: Option<(u64, Bound<'py, PyAny>)>,
    scratch: Vec<Bound<'py, PyAny>>,
}

/// Ints CPython keeps made (`PyLong_FromLongLong` returns them without allocating).
const SMALL_INTS: u64 = 256;

impl<'a, 'py> Builder<'a, 'py> {
    fn new(py: Python<'py>, core: &'static PyCore, cache: &'a mut ObjectCache) -> Self {
        Self {
            py,
            core,
            cache,
            seq: None,
            scratch: Vec::new(),
        }
    }

    /// Remember the Python objects a command came with, for its events.
    fn prime(&mut self, rust: &Command, py_cmd: &Bound<'py, PyAny>) -> PyResult<()> {
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

    fn text(&mut self, value: &Arc<str>) -> Bound<'py, PyAny> {
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
    fn uint(&mut self, value: u64) -> Bound<'py, PyAny> {
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

    fn int(&mut self, value: i64) -> Bound<'py, PyAny> {
        match u64::try_from(value) {
            Ok(v) => self.uint(v),
            Err(_) => match value.into_pyobject(self.py) {
                Ok(v) => v.into_any(),
                Err(never) => match never {},
            },
        }
    }

    fn wide(&mut self, value: i128) -> PyResult<Bound<'py, PyAny>> {
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

    fn events_list(&mut self, events: &[Event]) -> PyResult<Bound<'py, PyList>> {
        let items = events
            .iter()
            .map(|e| self.event(e))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(self.py, items)
    }

    fn events_tuple(&mut self, events: &[Event]) -> PyResult<Bound<'py, PyTuple>> {
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

    fn result(&mut self, outcome: &Outcome, buffer: &[Event]) -> PyResult<Bound<'py, PyAny>> {
        let events = self.events_tuple(outcome.events(buffer))?.into_any();
        self.core
            .market_result
            .make(self.py, [events, self.flag(outcome.duplicate)])
    }

    fn resting_order(&mut self, o: &RestingOrder) -> PyResult<Bound<'py, PyAny>> {
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

    fn level(&mut self, level: &Level) -> PyResult<Bound<'py, PyAny>> {
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

// ------------------------------------------------------------------ Book

/// `dome_native.Book(instrument)`: the `dome.core.book_api.Book` protocol in Rust.
#[pyclass(module = "dome_native", name = "Book")]
pub struct PyBook {
    core: Book,
    instrument: Py<PyAny>,
    cache: ObjectCache,
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

    fn snapshot_object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = core(py)?;
        let orders = self.core.orders();
        let mut cache = ObjectCache::new(orders.len());
        let mut b = Builder::new(py, c, &mut cache);
        let items = orders
            .iter()
            .map(|o| b.resting_order(o))
            .collect::<PyResult<Vec<_>>>()?;
        c.book_snapshot.make(
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
    fn read_snapshot(&self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<BookSnapshot> {
        core(py)?
            .check_snapshot
            .bind(py)
            .call1((self.instrument.bind(py), snapshot))?;
        book_snapshot(snapshot)
    }
}

#[pymethods]
impl PyBook {
    #[new]
    fn new(instrument_: &Bound<'_, PyAny>) -> PyResult<Self> {
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

    fn __repr__(&self) -> String {
        format!(
            "<dome_native.Book {}: {} orders, last_seq {}>",
            self.core.instrument().symbol,
            self.core.order_count(),
            self.core.last_seq()
        )
    }
}

// ------------------------------------------------------------------ Market

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
        let book_snapshot = book.snapshot_object(py)?;
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
                book_snapshot,
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

/// The native book core: `Book` and `Market`, drop-in for the Python core's.
#[pymodule]
fn dome_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBook>()?;
    m.add_class::<PyMarket>()?;
    m.add("DEFAULT_DEDUP_WINDOW", DEFAULT_DEDUP_WINDOW)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("__all__", ["Book", "DEFAULT_DEDUP_WINDOW", "Market"])?;
    Ok(())
}
