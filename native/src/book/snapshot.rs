//! The book's whole replicated state: its hash, its snapshot and restoring from one.

use super::{Book, BookState, NIL, Order};
use crate::hash::hash_book;

impl Book {
    /// Hex digest of the canonical state (`dome.core.state_hash.hash_book`).
    pub fn state_hash(&self) -> String {
        let mut hasher = hash_book(&self.instrument.symbol, self.last_seq, self.next_trade_id);
        self.for_each_order(|o| hasher.order(&o.view()));
        hasher.finish()
    }

    pub fn snapshot(&self) -> BookState {
        BookState {
            last_seq: self.last_seq,
            next_trade_id: self.next_trade_id,
            orders: self.orders(),
        }
    }

    /// Start from empty and rest every order of `snapshot` in `orders()` order.
    ///
    /// The caller has checked the snapshot's consistency (`check_snapshot`); this only
    /// refuses what would break the book's own structure (a duplicate id), and changes
    /// nothing when it refuses.
    pub fn restore(&mut self, snapshot: &BookState) -> Result<(), String> {
        let mut book = Book::new(self.instrument.clone());
        for o in &snapshot.orders {
            if book.by_id.contains_key(&o.order_id) {
                return Err(format!("order {} appears twice", o.order_id));
            }
            book.rest(Order {
                order_id: o.order_id,
                account: o.account.clone(),
                client_order_id: o.client_order_id.clone(),
                side: o.side,
                price: o.price,
                qty: o.qty,
                remaining: o.remaining,
                priority: o.priority,
                order_type: o.order_type,
                stp: o.stp,
                prev: NIL,
                next: NIL,
            });
        }
        book.last_seq = snapshot.last_seq;
        book.next_trade_id = snapshot.next_trade_id;
        *self = book;
        Ok(())
    }
}
