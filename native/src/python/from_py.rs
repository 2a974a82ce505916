//! Python -> Rust: commands, events, snapshots and the ints and strings inside them,
//! read by position after a type check; a value no command can hold is a typed error.

use std::sync::Arc;

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};

use super::classes::{PyCore, TupleClass};
use crate::book::BookState;
use crate::types::{
    AmendOrder, CancelOrder, CancelReason, Command, Event, NewOrder, OrderType, RejectReason,
    RestingOrder, Side, Stp, empty_text,
};

fn out_of_range(what: &str, value: &Bound<'_, PyAny>) -> PyErr {
    PyValueError::new_err(format!(
        "{what} {value} is out of range for the native core (0 to 2**64-1)"
    ))
}

/// An id or sequence number: 0..2**64 (what the log carries), else ValueError.
pub(super) fn unsigned(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    match value.extract::<u64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => Err(out_of_range(what, value)),
        Err(e) => Err(e),
    }
}

/// A price or quantity: any int, saturated far beyond every (i64) bound, so each
/// comparison the validation makes comes out as with Python's unbounded ints.
pub(super) fn wide(value: &Bound<'_, PyAny>) -> PyResult<i128> {
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

pub(super) fn signed(value: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    match value.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => Err(PyValueError::new_err(
            format!("{what} {value} is out of range for the native core (a 64-bit int)"),
        )),
        Err(e) => Err(e),
    }
}

pub(super) fn text(value: &Bound<'_, PyAny>) -> PyResult<Arc<str>> {
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
pub(super) fn command(core: &PyCore, value: &Bound<'_, PyAny>) -> PyResult<Command> {
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
pub(super) fn event(core: &PyCore, value: &Bound<'_, PyAny>) -> PyResult<Event> {
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

/// A `BookState` that `check_snapshot` accepted, as Rust data.
pub(super) fn book_state(value: &Bound<'_, PyAny>) -> PyResult<BookState> {
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
    Ok(BookState {
        last_seq,
        next_trade_id,
        orders,
    })
}
