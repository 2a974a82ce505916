//! The level queues, the slab they are threaded through and the id index: resting an
//! order at the back of its level and taking one out from anywhere, in O(1).

use super::{Book, NIL, Order, PriceLevel};
use crate::types::Side;

impl Book {
    /// Put `order` at the back of its level (creating the level if needed).
    pub(super) fn rest(&mut self, mut order: Order) {
        let side = order.side;
        let price = order.price;
        let order_id = order.order_id;
        let remaining = i128::from(order.remaining);
        let slot = self.free.pop().unwrap_or(self.slab.len());
        let levels = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = levels.entry(price).or_insert(PriceLevel {
            head: NIL,
            tail: NIL,
            total: 0,
            count: 0,
        });
        order.prev = level.tail;
        order.next = NIL;
        if level.tail == NIL {
            level.head = slot;
        } else {
            self.slab[level.tail].next = slot;
        }
        level.tail = slot;
        level.total += remaining;
        level.count += 1;
        if slot == self.slab.len() {
            self.slab.push(order);
        } else {
            self.slab[slot] = order;
        }
        self.by_id.insert(order_id, slot);
    }

    /// Take the order in `slot` off its level (dropping the level if it empties) and the
    /// index; returns it.
    pub(super) fn remove(&mut self, slot: usize) -> Order {
        let order = self.slab[slot].clone();
        self.unlink(slot);
        order
    }

    /// `remove` without handing the order back (the slot keeps a stale copy until reused).
    pub(super) fn unlink(&mut self, slot: usize) {
        let (side, price, order_id) = {
            let order = &self.slab[slot];
            (order.side, order.price, order.order_id)
        };
        let levels = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if let Some(level) = levels.get_mut(&price) {
            unlink_from(level, &mut self.slab, slot);
            if level.count == 0 {
                levels.remove(&price);
            }
        }
        self.by_id.remove(&order_id);
        self.free.push(slot);
    }
}

/// Take the order in `slot` out of `level`'s queue and totals (the level stays, even
/// empty; the index and the free list are the caller's).
pub(super) fn unlink_from(level: &mut PriceLevel, slab: &mut [Order], slot: usize) {
    let (prev, next, remaining) = {
        let order = &slab[slot];
        (order.prev, order.next, order.remaining)
    };
    if prev == NIL {
        level.head = next;
    } else {
        slab[prev].next = next;
    }
    if next == NIL {
        level.tail = prev;
    } else {
        slab[next].prev = prev;
    }
    level.total -= i128::from(remaining);
    level.count -= 1;
}
