//! One symbol's order book: `dome.core.reference.ReferenceBook`'s rules (docs/book.md),
//! stored for speed.
//!
//! Each side is a `BTreeMap` from price to level; a level is an insertion-ordered queue of
//! orders, kept as a doubly linked list threaded through a slab, so that the front is
//! matched, the back is appended to and any order is cancelled in O(1). An index from
//! order id to slab slot finds an order for cancels and amends.
//!
//! Every command is answered with events exactly as the reference answers it: same
//! events, same order, same field values. When the two disagree, the reference is right.
//!
//! This module holds the types and the queries; `matching` places new orders,
//! `cancel_amend` changes open ones, `queue` keeps the level queues and the id index,
//! `snapshot` the hash, snapshot and restore, `invariants` the checker.

mod cancel_amend;
mod invariants;
mod matching;
mod queue;
mod snapshot;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::types::{Command, Event, Instrument, Level, OrderType, RestingOrder, Side, Stp};

/// No slot: the end of a level's queue.
const NIL: usize = usize::MAX;

/// Order ids are chosen by the sequencer (consecutive), not by users, so a multiplicative
/// hash is enough and much cheaper than SipHash.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A resting order in the slab, linked into its level's queue.
#[derive(Clone, Debug)]
struct Order {
    order_id: u64,
    account: Arc<str>,
    client_order_id: Arc<str>,
    side: Side,
    price: i64,
    qty: i64,
    remaining: i64,
    priority: u64,
    order_type: OrderType,
    stp: Stp,
    prev: usize,
    next: usize,
}

impl Order {
    fn view(&self) -> RestingOrder {
        RestingOrder {
            order_id: self.order_id,
            account: self.account.clone(),
            client_order_id: self.client_order_id.clone(),
            side: self.side,
            price: self.price,
            qty: self.qty,
            remaining: self.remaining,
            priority: self.priority,
            order_type: self.order_type,
            stp: self.stp,
        }
    }
}

/// Orders at one price in time priority, with a running total checked by invariants.
#[derive(Clone, Debug)]
struct PriceLevel {
    head: usize,
    tail: usize,
    /// i128: a level may hold many orders of up to 2**62 lots each.
    total: i128,
    count: usize,
}

/// The order that is matching right now: a new order, or an amended one re-entering.
struct Taker {
    order_id: u64,
    account: Arc<str>,
    side: Side,
    /// None for MARKET: any price will do.
    limit_price: Option<i64>,
    remaining: i64,
    stp: Stp,
}

/// A book's whole replicated state as plain data (`dome.core.book_api.BookState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookState {
    pub last_seq: u64,
    pub next_trade_id: u64,
    pub orders: Vec<RestingOrder>,
}

/// One symbol's order book.
#[derive(Clone, Debug)]
pub struct Book {
    instrument: Instrument,
    bids: BTreeMap<i64, PriceLevel>,
    asks: BTreeMap<i64, PriceLevel>,
    slab: Vec<Order>,
    free: Vec<usize>,
    by_id: IdMap<usize>,
    last_seq: u64,
    next_trade_id: u64,
}

impl Book {
    pub fn new(instrument: Instrument) -> Self {
        Self {
            instrument,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            by_id: IdMap::default(),
            last_seq: 0,
            next_trade_id: 1,
        }
    }

    pub fn instrument(&self) -> &Instrument {
        &self.instrument
    }

    /// Check later commands against `instrument` (the resting orders stay as they are).
    pub fn set_instrument(&mut self, instrument: Instrument) {
        self.instrument = instrument;
    }

    // ------------------------------------------------------------- commands

    /// Dispatch any command; the events are appended to `events`.
    pub fn apply(&mut self, cmd: &Command, events: &mut Vec<Event>) {
        match cmd {
            Command::New(c) => self.place(c, events),
            Command::Cancel(c) => self.cancel(c, events),
            Command::Amend(c) => self.amend(c, events),
        }
    }

    // -------------------------------------------------------------- queries

    pub fn best_bid(&self) -> Option<i64> {
        self.bids.keys().next_back().copied()
    }

    pub fn best_ask(&self) -> Option<i64> {
        self.asks.keys().next().copied()
    }

    /// The level at `price` (qty 0, count 0 when empty).
    pub fn level(&self, side: Side, price: i64) -> Level {
        match self.side_ref(side).get(&price) {
            Some(level) => Level {
                price,
                qty: level.total,
                count: level.count,
            },
            None => Level {
                price,
                qty: 0,
                count: 0,
            },
        }
    }

    /// Every level of one side, best first.
    pub fn levels(&self, side: Side) -> Vec<Level> {
        let to_level = |(&price, level): (&i64, &PriceLevel)| Level {
            price,
            qty: level.total,
            count: level.count,
        };
        match side {
            Side::Buy => self.bids.iter().rev().map(to_level).collect(),
            Side::Sell => self.asks.iter().map(to_level).collect(),
        }
    }

    pub fn level_count(&self, side: Side) -> usize {
        self.side_ref(side).len()
    }

    /// Up to `count` levels of one side, best first.
    pub fn depth(&self, side: Side, count: usize) -> Vec<Level> {
        let mut levels = self.levels(side);
        levels.truncate(count);
        levels
    }

    pub fn get_order(&self, order_id: u64) -> Option<RestingOrder> {
        self.by_id
            .get(&order_id)
            .map(|&slot| self.slab[slot].view())
    }

    /// How many orders rest on the book.
    pub fn order_count(&self) -> usize {
        self.by_id.len()
    }

    /// Every open order: bids best price first, then asks; time priority within a level.
    pub fn orders(&self) -> Vec<RestingOrder> {
        let mut out = Vec::with_capacity(self.by_id.len());
        self.for_each_order(|o| out.push(o.view()));
        out
    }

    fn for_each_order(&self, mut visit: impl FnMut(&Order)) {
        let queue = |level: &PriceLevel, visit: &mut dyn FnMut(&Order)| {
            let mut slot = level.head;
            while slot != NIL {
                let order = &self.slab[slot];
                visit(order);
                slot = order.next;
            }
        };
        for level in self.bids.values().rev() {
            queue(level, &mut visit);
        }
        for level in self.asks.values() {
            queue(level, &mut visit);
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn next_trade_id(&self) -> u64 {
        self.next_trade_id
    }

    // -------------------------------------------------------------- helpers

    fn side_ref(&self, side: Side) -> &BTreeMap<i64, PriceLevel> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, PriceLevel> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn best(&self, side: Side) -> Option<i64> {
        match side {
            Side::Buy => self.best_bid(),
            Side::Sell => self.best_ask(),
        }
    }
}
