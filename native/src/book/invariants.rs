//! The invariant checker: `check_invariants()` walks every level's queue and the index.

use super::{Book, NIL};
use crate::types::Side;

impl Book {
    /// `Err` with what is wrong if the internal state contradicts itself.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut seen = 0usize;
        for (side, levels) in [(Side::Buy, &self.bids), (Side::Sell, &self.asks)] {
            let name = if side == Side::Buy { "BUY" } else { "SELL" };
            for (&price, level) in levels {
                if level.head == NIL || level.count == 0 {
                    return Err(format!("{name} level {price} is empty"));
                }
                let mut total = 0i128;
                let mut count = 0usize;
                let mut previous_priority: Option<u64> = None;
                let mut previous_slot = NIL;
                let mut slot = level.head;
                while slot != NIL {
                    let Some(order) = self.slab.get(slot) else {
                        return Err(format!("{name} level {price} links to a missing slot"));
                    };
                    if order.prev != previous_slot {
                        return Err(format!("{name} level {price} has a broken queue"));
                    }
                    if self.by_id.get(&order.order_id) != Some(&slot) {
                        return Err(format!("order {} is not indexed", order.order_id));
                    }
                    if order.side != side || order.price != price {
                        return Err(format!("order {} sits on the wrong level", order.order_id));
                    }
                    if order.remaining <= 0 {
                        return Err(format!("order {} has nothing left", order.order_id));
                    }
                    if previous_priority.is_some_and(|p| order.priority <= p) {
                        return Err(format!("{name} level {price} is out of time order"));
                    }
                    previous_priority = Some(order.priority);
                    total += i128::from(order.remaining);
                    count += 1;
                    if count > self.by_id.len() {
                        return Err(format!("{name} level {price} has a cycle"));
                    }
                    previous_slot = slot;
                    slot = order.next;
                }
                if previous_slot != level.tail {
                    return Err(format!("{name} level {price} has a stale tail"));
                }
                if total != level.total {
                    return Err(format!("{name} level {price} total is off"));
                }
                if count != level.count {
                    return Err(format!("{name} level {price} count is off"));
                }
                seen += count;
            }
        }
        // Every queued order was found indexed under its own slot above, and ids are
        // unique keys, so equal counts mean the index holds nothing else.
        if seen != self.by_id.len() {
            return Err("the id index holds orders that are not on a level".into());
        }
        if self.slab.len() != self.by_id.len() + self.free.len() {
            return Err("the slab's free list is off".into());
        }
        if let (Some(bid), Some(ask)) = (self.best_bid(), self.best_ask()) {
            if bid >= ask {
                return Err(format!("crossed book: bid {bid} >= ask {ask}"));
            }
        }
        Ok(())
    }
}
