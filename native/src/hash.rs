//! The canonical digests replicas compare, byte for byte as the Python core writes them.
//!
//! Book (`dome.core.state_hash.hash_book`): SHA-256 over `symbol|last_seq|next_trade_id`
//! and one `order_id|account|client_order_id|side|price|qty|remaining|priority|type|stp`
//! line per order in `orders()` order. Market (`dome.core.market.Market.state_hash`):
//! SHA-256 over `book_hash|last_seq` and one `account|client_order_id|canon(events)` line
//! per remembered pair, oldest first, where `canon` writes each event as
//! `TypeName:field,field,...` (ints in decimal, enums as their ints, bools as 0/1,
//! strings raw) and joins the events with `;`.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::types::{Event, RestingOrder};

/// Hex of a finished digest.
fn hex(digest: &[u8]) -> String {
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A digest fed line by line through one reusable buffer.
pub struct LineHasher {
    digest: Sha256,
    line: String,
}

impl LineHasher {
    fn new() -> Self {
        Self {
            digest: Sha256::new(),
            line: String::with_capacity(256),
        }
    }

    fn flush(&mut self) {
        self.line.push('\n');
        self.digest.update(self.line.as_bytes());
        self.line.clear();
    }

    /// One order line of the book hash.
    pub fn order(&mut self, o: &RestingOrder) {
        let _ = write!(
            self.line,
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            o.order_id,
            o.account,
            o.client_order_id,
            o.side as u8,
            o.price,
            o.qty,
            o.remaining,
            o.priority,
            o.order_type as u8,
            o.stp as u8,
        );
        self.flush();
    }

    /// One remembered pair of the market hash.
    pub fn remembered(&mut self, account: &str, client_order_id: &str, events: &[Event]) {
        let _ = write!(self.line, "{account}|{client_order_id}|");
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                self.line.push(';');
            }
            canon(&mut self.line, event);
        }
        self.flush();
    }

    pub fn finish(self) -> String {
        hex(&self.digest.finalize())
    }
}

/// Start a book digest with its header line; feed `order` lines, then `finish`.
pub fn hash_book(symbol: &str, last_seq: u64, next_trade_id: u64) -> LineHasher {
    let mut hasher = LineHasher::new();
    let _ = write!(hasher.line, "{symbol}|{last_seq}|{next_trade_id}");
    hasher.flush();
    hasher
}

/// Start a market digest with its header line; feed `remembered` lines, then `finish`.
pub fn hash_market(book_hash: &str, last_seq: u64) -> LineHasher {
    let mut hasher = LineHasher::new();
    let _ = write!(hasher.line, "{book_hash}|{last_seq}");
    hasher.flush();
    hasher
}

/// `TypeName:field,field,...` for one event.
fn canon(out: &mut String, event: &Event) {
    out.push_str(event.type_name());
    out.push(':');
    let _ = match event {
        Event::Accepted {
            seq,
            order_id,
            account,
            client_order_id,
            side,
            order_type,
            price,
            qty,
        } => {
            write!(
                out,
                "{seq},{order_id},{account},{client_order_id},{},{},{price},{qty}",
                *side as u8, *order_type as u8
            )
        }
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
        } => write!(
            out,
            "{seq},{trade_id},{price},{qty},{},{maker_order_id},{maker_account},\
             {maker_remaining},{taker_order_id},{taker_account},{taker_remaining}",
            *aggressor as u8
        ),
        Event::Rested {
            seq,
            order_id,
            account,
            side,
            price,
            remaining,
        } => {
            write!(
                out,
                "{seq},{order_id},{account},{},{price},{remaining}",
                *side as u8
            )
        }
        Event::Cancelled {
            seq,
            order_id,
            account,
            side,
            price,
            cancelled_qty,
            reason,
            was_resting,
        } => write!(
            out,
            "{seq},{order_id},{account},{},{price},{cancelled_qty},{},{}",
            *side as u8,
            *reason as u8,
            u8::from(*was_resting)
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
        } => write!(
            out,
            "{seq},{order_id},{account},{},{old_price},{old_remaining},{new_price},\
             {new_remaining},{}",
            *side as u8,
            u8::from(*priority_kept)
        ),
        Event::Rejected {
            seq,
            order_id,
            account,
            client_order_id,
            reason,
        } => {
            write!(
                out,
                "{seq},{order_id},{account},{client_order_id},{}",
                *reason as u8
            )
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{OrderType, Side, Stp};
    use std::sync::Arc;

    #[test]
    fn empty_book_hash_is_pythons() {
        // hashlib.sha256(b"XYZ|0|1\n").hexdigest()
        assert_eq!(
            hash_book("XYZ", 0, 1).finish(),
            "510354bd25a31d101474f369a62ed4066554ff88d7af3e07699c4ab485591d62"
        );
    }

    #[test]
    fn order_lines_are_pythons() {
        // ReferenceBook after: alice buys 5@100 (cid c-1), bob posts 7@101 (REJECT_INCOMING),
        // carol buys 3@101.
        let mut hasher = hash_book("XYZ", 3, 2);
        hasher.order(&RestingOrder {
            order_id: 1,
            account: Arc::from("alice"),
            client_order_id: Arc::from("c-1"),
            side: Side::Buy,
            price: 100,
            qty: 5,
            remaining: 5,
            priority: 1,
            order_type: OrderType::Limit,
            stp: Stp::CancelResting,
        });
        hasher.order(&RestingOrder {
            order_id: 2,
            account: Arc::from("bob"),
            client_order_id: Arc::from(""),
            side: Side::Sell,
            price: 101,
            qty: 7,
            remaining: 4,
            priority: 2,
            order_type: OrderType::PostOnly,
            stp: Stp::RejectIncoming,
        });
        assert_eq!(
            hasher.finish(),
            "2171ab79cb96f955d381f7adbc9d31dcf33bdf3f724a76c0ea9d6c3b31d22113"
        );
    }

    #[test]
    fn canonical_event_text() {
        let mut out = String::new();
        canon(
            &mut out,
            &Event::Cancelled {
                seq: 3,
                order_id: 7,
                account: Arc::from("alice"),
                side: Side::Sell,
                price: 101,
                cancelled_qty: 5,
                reason: crate::types::CancelReason::Unfilled,
                was_resting: false,
            },
        );
        assert_eq!(out, "OrderCancelled:3,7,alice,2,101,5,2,0");
    }
}
