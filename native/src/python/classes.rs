//! The Python core's classes, enum members and helpers the binding speaks in, imported
//! on first use and checked against what this crate reads and writes.

use std::ffi::c_void;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple, PyType};

use crate::types::{RejectReason, Side};

/// A NamedTuple class of the Python core, and how to make its instances cheaply.
pub(super) struct TupleClass {
    pub(super) cls: Py<PyType>,
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
    pub(super) fn make<'py, const N: usize>(
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
pub(super) struct PyCore {
    pub(super) new_order: Py<PyType>,
    pub(super) cancel_order: Py<PyType>,
    pub(super) amend_order: Py<PyType>,
    pub(super) accepted: TupleClass,
    pub(super) trade: TupleClass,
    pub(super) rested: TupleClass,
    pub(super) cancelled: TupleClass,
    pub(super) amended: TupleClass,
    pub(super) rejected: TupleClass,
    pub(super) resting_order: TupleClass,
    pub(super) level: TupleClass,
    pub(super) book_state: TupleClass,
    pub(super) market_result: TupleClass,
    pub(super) market_snapshot: TupleClass,
    pub(super) sides: [Py<PyAny>; 3],
    pub(super) order_types: [Py<PyAny>; 6],
    pub(super) stps: [Py<PyAny>; 3],
    pub(super) reject_reasons: [Py<PyAny>; RejectReason::ALL.len()],
    pub(super) cancel_reasons: [Py<PyAny>; 4],
    pub(super) invariant_error: Py<PyType>,
    pub(super) check_snapshot: Py<PyAny>,
    pub(super) empty: Py<PyString>,
}

static CORE: PyOnceLock<PyCore> = PyOnceLock::new();

pub(super) fn core(py: Python<'_>) -> PyResult<&'static PyCore> {
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
            book_state: TupleClass::load(
                py,
                API,
                "BookState",
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

    pub(super) fn side<'py>(&self, py: Python<'py>, side: Side) -> Bound<'py, PyAny> {
        self.sides[side as usize].bind(py).clone()
    }
}
