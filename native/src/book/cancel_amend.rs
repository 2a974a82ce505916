//! Cancel and amend: an open order of the command's own account, found by id.

use super::{Book, Taker};
use crate::types::{
    AmendOrder, CancelOrder, CancelReason, Event, OrderType, RejectReason, empty_text,
};
use crate::validate::validate_amend_values;

impl Book {
    /// Cancel an open order of the command's account.
    pub fn cancel(&mut self, cmd: &CancelOrder, events: &mut Vec<Event>) {
        self.last_seq = cmd.seq;
        let slot = match self.owned_slot(cmd.order_id, &cmd.account) {
            Ok(slot) => slot,
            Err(reason) => {
                events.push(Event::Rejected {
                    seq: cmd.seq,
                    order_id: cmd.order_id,
                    account: cmd.account.clone(),
                    client_order_id: empty_text(),
                    reason,
                });
                return;
            }
        };
        let order = &self.slab[slot];
        events.push(Event::Cancelled {
            seq: cmd.seq,
            order_id: order.order_id,
            account: order.account.clone(),
            side: order.side,
            price: order.price,
            cancelled_qty: order.remaining,
            reason: CancelReason::Requested,
            was_resting: true,
        });
        self.unlink(slot);
    }

    /// Change an open order of the command's account.
    pub fn amend(&mut self, cmd: &AmendOrder, events: &mut Vec<Event>) {
        self.last_seq = cmd.seq;
        let slot = match self.owned_slot(cmd.order_id, &cmd.account) {
            Ok(slot) => slot,
            Err(reason) => {
                events.push(Event::Rejected {
                    seq: cmd.seq,
                    order_id: cmd.order_id,
                    account: cmd.account.clone(),
                    client_order_id: empty_text(),
                    reason,
                });
                return;
            }
        };
        let (side, old_price, old_remaining, order_type) = {
            let o = &self.slab[slot];
            (o.side, o.price, o.remaining, o.order_type)
        };
        let checked = validate_amend_values(
            &self.instrument,
            cmd.qty,
            cmd.price,
            old_remaining,
            old_price,
        )
        .and_then(|(new_qty, new_price)| {
            if order_type == OrderType::PostOnly && self.meets_opposite(side, new_price) {
                Err(RejectReason::PostOnlyWouldTake)
            } else {
                Ok((new_qty, new_price))
            }
        });
        let (new_qty, new_price) = match checked {
            Ok(values) => values,
            Err(reason) => {
                // The owner's own order: the reject names its client order id (only a
                // stranger's or an unknown id gets an empty one, above).
                events.push(Event::Rejected {
                    seq: cmd.seq,
                    order_id: cmd.order_id,
                    account: cmd.account.clone(),
                    client_order_id: self.slab[slot].client_order_id.clone(),
                    reason,
                });
                return;
            }
        };

        if new_price == old_price && new_qty < old_remaining {
            let order = &mut self.slab[slot];
            order.remaining = new_qty;
            let account = order.account.clone();
            let order_id = order.order_id;
            if let Some(level) = self.side_mut(side).get_mut(&old_price) {
                level.total -= i128::from(old_remaining - new_qty);
            }
            events.push(Event::Amended {
                seq: cmd.seq,
                order_id,
                account,
                side,
                old_price,
                old_remaining,
                new_price,
                new_remaining: new_qty,
                priority_kept: true,
            });
            return;
        }

        let mut order = self.remove(slot);
        events.push(Event::Amended {
            seq: cmd.seq,
            order_id: order.order_id,
            account: order.account.clone(),
            side,
            old_price,
            old_remaining,
            new_price,
            new_remaining: new_qty,
            priority_kept: false,
        });
        let mut taker = Taker {
            order_id: order.order_id,
            account: order.account.clone(),
            side,
            limit_price: Some(new_price),
            remaining: new_qty,
            stp: order.stp,
        };
        let taker_cancelled = self.match_taker(cmd.seq, &mut taker, events);
        if taker_cancelled || taker.remaining == 0 {
            return;
        }
        order.price = new_price;
        order.qty = new_qty;
        order.remaining = taker.remaining;
        order.priority = cmd.seq;
        let (order_id, account) = (order.order_id, order.account.clone());
        self.rest(order);
        events.push(Event::Rested {
            seq: cmd.seq,
            order_id,
            account,
            side,
            price: new_price,
            remaining: taker.remaining,
        });
    }

    fn owned_slot(&self, order_id: u64, account: &str) -> Result<usize, RejectReason> {
        let &slot = self
            .by_id
            .get(&order_id)
            .ok_or(RejectReason::UnknownOrder)?;
        if *self.slab[slot].account != *account {
            return Err(RejectReason::NotOrderOwner);
        }
        Ok(slot)
    }
}
