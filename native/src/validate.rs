//! Static checks of a command against an instrument (`dome.core.validation`), rule for
//! rule in the same order, so the first rule broken is the one both cores report.

use crate::types::{Instrument, NewOrder, OrderType, RejectReason, Side, Stp};

/// Longest client order id, in characters.
pub const MAX_CLIENT_ORDER_ID: usize = 64;

/// Printable ASCII, at most 64 characters (empty is allowed).
///
/// Python counts characters, Rust bytes; they differ only for non-ASCII text, which is
/// refused either way.
pub fn client_order_id_ok(client_order_id: &str) -> bool {
    client_order_id.len() <= MAX_CLIENT_ORDER_ID
        && client_order_id.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// A new order that passed every static rule, with its enums resolved and its price and
/// quantity proven to fit the instrument's (i64) bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidNew {
    pub side: Side,
    pub order_type: OrderType,
    pub stp: Stp,
    pub price: i64,
    pub qty: i64,
}

/// The first rule `cmd` breaks, or its resolved values.
pub fn validate_new(instrument: &Instrument, cmd: &NewOrder) -> Result<ValidNew, RejectReason> {
    let side = Side::from_value(cmd.side).ok_or(RejectReason::InvalidSide)?;
    let order_type = OrderType::from_value(cmd.order_type).ok_or(RejectReason::InvalidOrderType)?;
    let stp = Stp::from_value(cmd.stp).ok_or(RejectReason::InvalidStp)?;
    if !client_order_id_ok(&cmd.client_order_id) {
        return Err(RejectReason::InvalidClientOrderId);
    }
    let qty = cmd.qty;
    if qty <= 0 {
        return Err(RejectReason::QtyNotPositive);
    }
    if qty < i128::from(instrument.min_qty) {
        return Err(RejectReason::QtyBelowMin);
    }
    if qty > i128::from(instrument.max_qty) {
        return Err(RejectReason::QtyAboveMax);
    }
    // 0 < qty <= max_qty, an i64: the cast is exact.
    let qty = qty as i64;
    let price = cmd.price;
    if order_type == OrderType::Market {
        if price != 0 {
            return Err(RejectReason::PriceNotAllowed);
        }
        return Ok(ValidNew {
            side,
            order_type,
            stp,
            price: 0,
            qty,
        });
    }
    if price <= 0 {
        return Err(RejectReason::PriceRequired);
    }
    if price < i128::from(instrument.min_price) || price > i128::from(instrument.max_price) {
        return Err(RejectReason::PriceOutOfBand);
    }
    // min_price <= price <= max_price, both i64: exact.
    Ok(ValidNew {
        side,
        order_type,
        stp,
        price: price as i64,
        qty,
    })
}

/// Checks of an amend's new values (0 means "keep") before the book is consulted;
/// on success the new open quantity and price.
pub fn validate_amend_values(
    instrument: &Instrument,
    qty: i128,
    price: i128,
    current_qty: i64,
    current_price: i64,
) -> Result<(i64, i64), RejectReason> {
    if qty < 0 {
        return Err(RejectReason::QtyNotPositive);
    }
    if price < 0 {
        return Err(RejectReason::PriceOutOfBand);
    }
    let new_qty = if qty == 0 {
        i128::from(current_qty)
    } else {
        qty
    };
    let new_price = if price == 0 {
        i128::from(current_price)
    } else {
        price
    };
    if new_qty == i128::from(current_qty) && new_price == i128::from(current_price) {
        return Err(RejectReason::AmendNoChange);
    }
    if new_qty > i128::from(instrument.max_qty) {
        return Err(RejectReason::QtyAboveMax);
    }
    if new_qty > i128::from(current_qty) && new_qty < i128::from(instrument.min_qty) {
        return Err(RejectReason::QtyBelowMin);
    }
    if new_price < i128::from(instrument.min_price) || new_price > i128::from(instrument.max_price)
    {
        return Err(RejectReason::PriceOutOfBand);
    }
    // 0 <= new_qty <= max_qty and min_price <= new_price <= max_price: both exact.
    Ok((new_qty as i64, new_price as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn instrument() -> Instrument {
        Instrument {
            symbol: "XYZ".into(),
            min_qty: 2,
            max_qty: 1_000,
            min_price: 10,
            max_price: 1_000,
        }
    }

    fn new(side: i64, order_type: i64, price: i128, qty: i128) -> NewOrder {
        NewOrder {
            seq: 1,
            order_id: 1,
            account: Arc::from("a"),
            client_order_id: Arc::from(""),
            side,
            order_type,
            price,
            qty,
            stp: 1,
            dedup: true,
        }
    }

    #[test]
    fn client_order_ids() {
        assert!(client_order_id_ok(""));
        assert!(client_order_id_ok("bot-1/42"));
        assert!(client_order_id_ok(&"x".repeat(64)));
        assert!(!client_order_id_ok(&"x".repeat(65)));
        assert!(!client_order_id_ok("tab\there"));
        assert!(!client_order_id_ok("é"));
        assert!(!client_order_id_ok("\u{7f}"));
    }

    #[test]
    fn first_rule_broken_wins() {
        let i = instrument();
        let reject = |cmd: NewOrder| validate_new(&i, &cmd).err();
        assert_eq!(reject(new(0, 0, 0, 0)), Some(RejectReason::InvalidSide));
        assert_eq!(
            reject(new(1, 9, 0, 0)),
            Some(RejectReason::InvalidOrderType)
        );
        assert_eq!(
            reject(new(1, 1, 100, 0)),
            Some(RejectReason::QtyNotPositive)
        );
        assert_eq!(reject(new(1, 1, 100, 1)), Some(RejectReason::QtyBelowMin));
        assert_eq!(
            reject(new(1, 1, 100, 1_001)),
            Some(RejectReason::QtyAboveMax)
        );
        assert_eq!(reject(new(1, 2, 5, 5)), Some(RejectReason::PriceNotAllowed));
        assert_eq!(reject(new(1, 1, 0, 5)), Some(RejectReason::PriceRequired));
        assert_eq!(reject(new(1, 1, 9, 5)), Some(RejectReason::PriceOutOfBand));
        assert_eq!(reject(new(1, 1, 100, 5)), None);
        assert_eq!(reject(new(1, 2, 0, 5)), None);
    }

    #[test]
    fn ints_beyond_i64_get_the_reject_python_gives() {
        let i = Instrument::new("XYZ");
        let huge = i128::MAX;
        let reject = |cmd: NewOrder| validate_new(&i, &cmd).err();
        assert_eq!(
            reject(new(1, 1, 100, huge)),
            Some(RejectReason::QtyAboveMax)
        );
        assert_eq!(
            reject(new(1, 1, 100, -huge)),
            Some(RejectReason::QtyNotPositive)
        );
        assert_eq!(
            reject(new(1, 1, huge, 5)),
            Some(RejectReason::PriceOutOfBand)
        );
        assert_eq!(
            reject(new(1, 1, -huge, 5)),
            Some(RejectReason::PriceRequired)
        );
        assert_eq!(
            reject(new(1, 2, huge, 5)),
            Some(RejectReason::PriceNotAllowed)
        );
        let amend = |qty, price| validate_amend_values(&i, qty, price, 5, 100).err();
        assert_eq!(amend(huge, 0), Some(RejectReason::QtyAboveMax));
        assert_eq!(amend(0, huge), Some(RejectReason::PriceOutOfBand));
        assert_eq!(amend(-huge, 0), Some(RejectReason::QtyNotPositive));
    }

    #[test]
    fn amend_rules() {
        let i = instrument();
        let amend = |qty, price| validate_amend_values(&i, qty, price, 5, 100);
        assert_eq!(amend(0, 0), Err(RejectReason::AmendNoChange));
        assert_eq!(amend(5, 100), Err(RejectReason::AmendNoChange));
        assert_eq!(amend(-1, 0), Err(RejectReason::QtyNotPositive));
        assert_eq!(amend(0, -1), Err(RejectReason::PriceOutOfBand));
        assert_eq!(
            amend(1, 0),
            Ok((1, 100)),
            "lowering below the minimum is allowed"
        );
        assert_eq!(amend(0, 5), Err(RejectReason::PriceOutOfBand));
        assert_eq!(amend(2_000, 0), Err(RejectReason::QtyAboveMax));
        assert_eq!(amend(7, 101), Ok((7, 101)));
    }
}
