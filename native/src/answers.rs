//! The answers of a `SubmitOrders` batch as `dome.v1.OrderBatchResult` bytes, exactly as
//! upb serializes the message `dome.engine.answers.encode_reference` builds.
//!
//! The engine derives each answer (an `AnswerRow`: the `OrderResult`'s fields, decimal
//! text already formatted) and hands the rows over; building an `OrderResult` message per
//! order and copying it into the batch cost the engine more than matching the order did.
//! Proto3's rules as in `effects`: fields in number order, defaults left out, an enum as
//! the varint of its 64-bit two's complement, every present message written (an empty
//! `Fill` is two bytes).

use crate::effects::{int, nested, text, uint};

/// One `dome.v1.Fill`, as the answer carries it.
pub struct FillRow<'a> {
    pub trade_id: u64,
    pub price: &'a str,
    pub qty: &'a str,
    pub maker: bool,
}

/// One `dome.v1.OrderResult`, field for field (in field-number order).
pub struct AnswerRow<'a> {
    pub symbol: &'a str,
    pub order_id: u64,
    pub client_order_id: &'a str,
    pub status: i32,
    pub reject_reason: i32,
    pub reject_message: &'a str,
    pub filled_qty: &'a str,
    pub remaining_qty: &'a str,
    pub cancelled_qty: &'a str,
    pub fills: Vec<FillRow<'a>>,
    pub seq: u64,
    pub duplicate: bool,
}

/// Write `OrderBatchResult.batch_id`: first, before any result.
pub fn start_batch(out: &mut Vec<u8>, batch_id: u64) {
    uint(out, 1, batch_id);
}

/// Append one `OrderBatchResult.results` entry; `scratch` is reused between rows.
pub fn push_answer(out: &mut Vec<u8>, scratch: &mut Vec<u8>, row: &AnswerRow<'_>) {
    scratch.clear();
    text(scratch, 1, row.symbol);
    uint(scratch, 2, row.order_id);
    text(scratch, 3, row.client_order_id);
    int(scratch, 4, i64::from(row.status));
    int(scratch, 5, i64::from(row.reject_reason));
    text(scratch, 6, row.reject_message);
    text(scratch, 7, row.filled_qty);
    text(scratch, 8, row.remaining_qty);
    text(scratch, 9, row.cancelled_qty);
    let mut fill = Vec::new();
    for f in &row.fills {
        fill.clear();
        uint(&mut fill, 1, f.trade_id);
        text(&mut fill, 2, f.price);
        text(&mut fill, 3, f.qty);
        uint(&mut fill, 4, u64::from(f.maker));
        nested(scratch, 10, &fill);
    }
    uint(scratch, 11, row.seq);
    uint(scratch, 12, u64::from(row.duplicate));
    nested(out, 2, scratch);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(fills: Vec<FillRow<'a>>) -> AnswerRow<'a> {
        AnswerRow {
            symbol: "BTC-USD",
            order_id: 300,
            client_order_id: "",
            status: 2,
            reject_reason: 0,
            reject_message: "",
            filled_qty: "0.5",
            remaining_qty: "0",
            cancelled_qty: "0",
            fills,
            seq: 1,
            duplicate: true,
        }
    }

    #[test]
    fn answers_are_encoded_field_by_field_in_number_order() {
        let mut out = Vec::new();
        start_batch(&mut out, 7);
        let fills = vec![
            FillRow {
                trade_id: 1,
                price: "9",
                qty: "0.5",
                maker: true,
            },
            // Every field at its default: the message is still there, empty.
            FillRow {
                trade_id: 0,
                price: "",
                qty: "",
                maker: false,
            },
        ];
        push_answer(&mut out, &mut Vec::new(), &row(fills));
        let mut want = vec![0x08, 7, 0x12];
        let body: Vec<u8> = [
            &[0x0a, 7][..],
            b"BTC-USD",
            &[0x10, 0xac, 0x02, 0x20, 2, 0x3a, 3],
            b"0.5",
            &[0x42, 1, b'0', 0x4a, 1, b'0'],
            &[0x52, 12, 0x08, 1, 0x12, 1, b'9', 0x1a, 3],
            b"0.5",
            &[0x20, 1, 0x52, 0, 0x58, 1, 0x60, 1],
        ]
        .concat();
        want.push(body.len() as u8);
        want.extend(body);
        assert_eq!(out, want);
    }

    #[test]
    fn a_negative_enum_is_ten_bytes_of_twos_complement() {
        let mut out = Vec::new();
        let mut answer = row(Vec::new());
        answer.status = -1;
        push_answer(&mut out, &mut Vec::new(), &answer);
        let at = out.iter().position(|&b| b == 0x20).unwrap();
        assert_eq!(
            &out[at + 1..at + 11],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }
}
