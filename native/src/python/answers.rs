//! `dome_native.encode_order_batch_result(batch_id, rows)`: the engine's answer rows
//! (`dome.engine.answers.Answer`, plain tuples) to `dome.v1.OrderBatchResult` bytes, with
//! no Python object made per answer. A row that is not an `Answer` is a `TypeError` (or
//! `OverflowError` for an int out of its field's range), never a panic.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::answers::{AnswerRow, FillRow, push_answer, start_batch};

/// Items of `value`, a tuple of exactly `len`.
fn tuple_of<'a, 'py>(
    value: &'a Bound<'py, PyAny>,
    len: usize,
    what: &str,
) -> PyResult<&'a Bound<'py, PyTuple>> {
    let tuple = value.cast::<PyTuple>()?;
    if tuple.len() != len {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected {len} fields, got {}",
            tuple.len()
        )));
    }
    Ok(tuple)
}

fn text<'a>(item: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    item.cast::<PyString>()?.to_str()
}

/// `OrderBatchResult(batch_id, results=rows)` serialized, as upb writes it.
#[pyfunction]
pub fn encode_order_batch_result<'py>(
    py: Python<'py>,
    batch_id: u64,
    rows: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(64);
    start_batch(&mut out, batch_id);
    let mut scratch = Vec::with_capacity(96);
    for row in rows.try_iter()? {
        let row = row?;
        let f = tuple_of(&row, 12, "an answer")?;
        // Borrowed items stay alive while `f` holds them: the strs point into them.
        let items: Vec<Bound<'py, PyAny>> = f.iter().collect();
        let fill_items = items[9].cast::<PyTuple>()?;
        let fill_rows: Vec<Bound<'py, PyAny>> = fill_items.iter().collect();
        let mut fills = Vec::with_capacity(fill_rows.len());
        let mut fill_fields = Vec::with_capacity(fill_rows.len());
        for fill in &fill_rows {
            let t = tuple_of(fill, 4, "a fill")?;
            fill_fields.push(t.iter().collect::<Vec<_>>());
        }
        for v in &fill_fields {
            fills.push(FillRow {
                trade_id: v[0].extract()?,
                price: text(&v[1])?,
                qty: text(&v[2])?,
                maker: v[3].extract()?,
            });
        }
        let answer = AnswerRow {
            symbol: text(&items[0])?,
            order_id: items[1].extract()?,
            client_order_id: text(&items[2])?,
            status: items[3].extract()?,
            reject_reason: items[4].extract()?,
            reject_message: text(&items[5])?,
            filled_qty: text(&items[6])?,
            remaining_qty: text(&items[7])?,
            cancelled_qty: text(&items[8])?,
            fills,
            seq: items[10].extract()?,
            duplicate: items[11].extract()?,
        };
        push_answer(&mut out, &mut scratch, &answer);
    }
    Ok(PyBytes::new(py, &out))
}
