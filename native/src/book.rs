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

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::hash::hash_book;
use crate::types::{
    AmendOrder, CancelOrder, CancelReason, Command, Event, Instrument, Level, NewOrder, OrderType,
    RejectReason, RestingOrder, Side, Stp, empty_text,
};
use crate::validate::{ValidNew, validate_amend_values, validate_new};

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

fn price_reaches(taker_side: Side, limit_price: Option<i64>, maker_price: i64) -> bool {
    match limit_price {
        None => true,
        Some(limit) => match taker_side {
            Side::Buy => maker_price <= limit,
            Side::Sell => maker_price >= limit,
        },
    }
}

/// A book's whole replicated state as plain data (`dome.core.book_api.BookSnapshot`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookSnapshot {
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

    /// Validate and execute a new order (docs/book.md, NewOrder).
    pub fn place(&mut self, cmd: &NewOrder, events: &mut Vec<Event>) {
        self.last_seq = cmd.seq;
        let valid =
            match validate_new(&self.instrument, cmd).and_then(|v| self.book_check_new(cmd, v)) {
                Ok(valid) => valid,
                Err(reason) => {
                    events.push(Event::Rejected {
                        seq: cmd.seq,
                        order_id: cmd.order_id,
                        account: cmd.account.clone(),
                        client_order_id: cmd.client_order_id.clone(),
                        reason,
                    });
                    return;
                }
            };
        events.push(Event::Accepted {
            seq: cmd.seq,
            order_id: cmd.order_id,
            account: cmd.account.clone(),
            client_order_id: cmd.client_order_id.clone(),
            side: valid.side,
            order_type: valid.order_type,
            price: valid.price,
            qty: valid.qty,
        });
        let mut taker = Taker {
            order_id: cmd.order_id,
            account: cmd.account.clone(),
            side: valid.side,
            limit_price: (valid.order_type != OrderType::Market).then_some(valid.price),
            remaining: valid.qty,
            stp: valid.stp,
        };
        let taker_cancelled = self.match_taker(cmd.seq, &mut taker, events);
        if taker_cancelled || taker.remaining == 0 {
            return;
        }
        if matches!(
            valid.order_type,
            OrderType::Market | OrderType::Ioc | OrderType::Fok
        ) {
            // FOK was checked to fill completely, so it never gets here; listing it keeps
            // "only LIMIT and POST_ONLY rest" true even if that check were wrong.
            events.push(Event::Cancelled {
                seq: cmd.seq,
                order_id: cmd.order_id,
                account: cmd.account.clone(),
                side: valid.side,
                price: valid.price,
                cancelled_qty: taker.remaining,
                reason: CancelReason::Unfilled,
                was_resting: false,
            });
            return;
        }
        self.rest(Order {
            order_id: cmd.order_id,
            account: cmd.account.clone(),
            client_order_id: cmd.client_order_id.clone(),
            side: valid.side,
            price: valid.price,
            qty: valid.qty,
            remaining: taker.remaining,
            priority: cmd.seq,
            order_type: valid.order_type,
            stp: valid.stp,
            prev: NIL,
            next: NIL,
        });
        events.push(Event::Rested {
            seq: cmd.seq,
            order_id: cmd.order_id,
            account: cmd.account.clone(),
            side: valid.side,
            price: valid.price,
            remaining: taker.remaining,
        });
    }

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

    /// Hex digest of the canonical state (`dome.core.state_hash.hash_book`).
    pub fn state_hash(&self) -> String {
        let mut hasher = hash_book(&self.instrument.symbol, self.last_seq, self.next_trade_id);
        self.for_each_order(|o| hasher.order(&o.view()));
        hasher.finish()
    }

    pub fn snapshot(&self) -> BookSnapshot {
        BookSnapshot {
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
    pub fn restore(&mut self, snapshot: &BookSnapshot) -> Result<(), String> {
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

    /// Whether an order at `price` would reach the best opposite order (post-only).
    fn meets_opposite(&self, side: Side, price: i64) -> bool {
        self.best(side.opposite())
            .is_some_and(|best| price_reaches(side, Some(price), best))
    }

    /// docs/book.md NewOrder step 2: rejects that need the book, before any change.
    fn book_check_new(&self, cmd: &NewOrder, valid: ValidNew) -> Result<ValidNew, RejectReason> {
        if self.by_id.contains_key(&cmd.order_id) {
            // Only a corrupt or hostile log repeats an id (ids are sequence numbers);
            // resting it would leave two orders under one id.
            return Err(RejectReason::OrderIdInUse);
        }
        let opposite = valid.side.opposite();
        match valid.order_type {
            OrderType::Market if self.best(opposite).is_none() => Err(RejectReason::NoLiquidity),
            OrderType::PostOnly if self.meets_opposite(valid.side, valid.price) => {
                Err(RejectReason::PostOnlyWouldTake)
            }
            OrderType::Fok if !self.fok_fillable(cmd, valid) => Err(RejectReason::FokNotFillable),
            _ => Ok(valid),
        }
    }

    /// Whether a FOK would really trade its whole quantity, honouring its self-trade
    /// prevention mode (stops counting once enough is found: the answer is the same).
    fn fok_fillable(&self, cmd: &NewOrder, valid: ValidNew) -> bool {
        let wanted = i128::from(valid.qty);
        let mut fillable = 0i128;
        let levels: Box<dyn Iterator<Item = (&i64, &PriceLevel)>> = match valid.side {
            Side::Buy => Box::new(self.asks.iter()),
            Side::Sell => Box::new(self.bids.iter().rev()),
        };
        for (&price, level) in levels {
            if !price_reaches(valid.side, Some(valid.price), price) {
                break;
            }
            let mut slot = level.head;
            while slot != NIL {
                let maker = &self.slab[slot];
                if *maker.account == *cmd.account {
                    if valid.stp == Stp::RejectIncoming {
                        return fillable >= wanted;
                    }
                } else {
                    fillable += i128::from(maker.remaining);
                    if fillable >= wanted {
                        return true;
                    }
                }
                slot = maker.next;
            }
        }
        fillable >= wanted
    }

    /// docs/book.md NewOrder step 4: trade `taker` against the opposite side.
    ///
    /// Returns true when self-trade prevention cancelled the taker (REJECT_INCOMING): the
    /// command ends there and nothing rests.
    fn match_taker(&mut self, seq: u64, taker: &mut Taker, events: &mut Vec<Event>) -> bool {
        // Split the borrows: one level entry is held while its queue is consumed.
        let Book {
            bids,
            asks,
            slab,
            free,
            by_id,
            next_trade_id,
            ..
        } = self;
        let levels = match taker.side {
            Side::Buy => asks,
            Side::Sell => bids,
        };
        while taker.remaining > 0 {
            let entry = match taker.side {
                Side::Buy => levels.first_entry(),
                Side::Sell => levels.last_entry(),
            };
            let Some(mut entry) = entry else {
                return false;
            };
            if !price_reaches(taker.side, taker.limit_price, *entry.key()) {
                return false;
            }
            // Consume this level from its front until it is gone or the taker is done.
            let level = entry.get_mut();
            loop {
                let slot = level.head;
                let maker = &mut slab[slot];
                if *maker.account == *taker.account {
                    if taker.stp == Stp::RejectIncoming {
                        events.push(Event::Cancelled {
                            seq,
                            order_id: taker.order_id,
                            account: taker.account.clone(),
                            side: taker.side,
                            price: taker.limit_price.unwrap_or(0),
                            cancelled_qty: taker.remaining,
                            reason: CancelReason::SelfTrade,
                            was_resting: false,
                        });
                        return true;
                    }
                    events.push(Event::Cancelled {
                        seq,
                        order_id: maker.order_id,
                        account: maker.account.clone(),
                        side: maker.side,
                        price: maker.price,
                        cancelled_qty: maker.remaining,
                        reason: CancelReason::SelfTrade,
                        was_resting: true,
                    });
                } else {
                    let qty = taker.remaining.min(maker.remaining);
                    taker.remaining -= qty;
                    maker.remaining -= qty;
                    level.total -= i128::from(qty);
                    events.push(Event::Trade {
                        seq,
                        trade_id: *next_trade_id,
                        price: maker.price,
                        qty,
                        aggressor: taker.side,
                        maker_order_id: maker.order_id,
                        maker_account: maker.account.clone(),
                        maker_remaining: maker.remaining,
                        taker_order_id: taker.order_id,
                        taker_account: taker.account.clone(),
                        taker_remaining: taker.remaining,
                    });
                    *next_trade_id = next_trade_id.wrapping_add(1);
                    if maker.remaining > 0 {
                        return false; // the taker is done: a partial fill leaves the maker
                    }
                }
                // The maker traded out or self-trade prevention cancelled it.
                unlink_from(level, slab, slot);
                by_id.remove(&slab[slot].order_id);
                free.push(slot);
                if level.count == 0 {
                    entry.remove();
                    break;
                }
                if taker.remaining == 0 {
                    return false;
                }
            }
        }
        false
    }

    /// Put `order` at the back of its level (creating the level if needed).
    fn rest(&mut self, mut order: Order) {
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
    fn remove(&mut self, slot: usize) -> Order {
        let order = self.slab[slot].clone();
        self.unlink(slot);
        order
    }

    /// `remove` without handing the order back (the slot keeps a stale copy until reused).
    fn unlink(&mut self, slot: usize) {
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
fn unlink_from(level: &mut PriceLevel, slab: &mut [Order], slot: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn instrument() -> Instrument {
        Instrument {
            symbol: "XYZ".into(),
            min_qty: 2,
            max_qty: 1_000,
            min_price: 10,
            max_price: 1_000,
        }
    }

    /// `(side, price, [(id, remaining)])` per level, as `orders()` lists them.
    type Ladder = Vec<(Side, i64, Vec<(u64, i64)>)>;

    struct Session {
        book: Book,
        seq: u64,
    }

    impl Session {
        fn new() -> Self {
            Self {
                book: Book::new(instrument()),
                seq: 0,
            }
        }

        fn run(&mut self, make: impl FnOnce(u64) -> Command) -> Vec<Event> {
            self.seq += 1;
            let mut events = Vec::new();
            self.book.apply(&make(self.seq), &mut events);
            assert_eq!(self.book.last_seq(), self.seq);
            self.book.check_invariants().unwrap();
            events
        }

        fn order(
            &mut self,
            side: Side,
            id: u64,
            account: &str,
            price: i128,
            qty: i128,
            kind: (OrderType, Stp),
        ) -> Vec<Event> {
            let (order_type, stp) = kind;
            self.run(|seq| {
                Command::New(NewOrder {
                    seq,
                    order_id: id,
                    account: Arc::from(account),
                    client_order_id: empty_text(),
                    side: side as i64,
                    order_type: order_type as i64,
                    price,
                    qty,
                    stp: stp as i64,
                    dedup: true,
                })
            })
        }

        fn buy(&mut self, id: u64, account: &str, price: i128, qty: i128) -> Vec<Event> {
            self.order(
                Side::Buy,
                id,
                account,
                price,
                qty,
                (OrderType::Limit, Stp::CancelResting),
            )
        }

        fn sell(&mut self, id: u64, account: &str, price: i128, qty: i128) -> Vec<Event> {
            self.order(
                Side::Sell,
                id,
                account,
                price,
                qty,
                (OrderType::Limit, Stp::CancelResting),
            )
        }

        fn cancel(&mut self, account: &str, id: u64) -> Vec<Event> {
            self.run(|seq| {
                Command::Cancel(CancelOrder {
                    seq,
                    account: Arc::from(account),
                    order_id: id,
                })
            })
        }

        fn amend(&mut self, account: &str, id: u64, qty: i128, price: i128) -> Vec<Event> {
            self.run(|seq| {
                Command::Amend(AmendOrder {
                    seq,
                    account: Arc::from(account),
                    order_id: id,
                    qty,
                    price,
                })
            })
        }

        /// `(id, remaining)` per level, best first, bids then asks.
        fn ladder(&self) -> Ladder {
            let mut rows: Ladder = Vec::new();
            for o in self.book.orders() {
                match rows.last_mut() {
                    Some((side, price, cells)) if *side == o.side && *price == o.price => {
                        cells.push((o.order_id, o.remaining))
                    }
                    _ => rows.push((o.side, o.price, vec![(o.order_id, o.remaining)])),
                }
            }
            rows
        }
    }

    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(Event::type_name).collect()
    }

    #[test]
    fn limit_rests_and_a_crossing_order_trades_at_the_makers_price() {
        let mut s = Session::new();
        assert_eq!(
            names(&s.sell(1, "alice", 101, 5)),
            ["OrderAccepted", "OrderRested"]
        );
        let events = s.buy(2, "bob", 102, 3);
        assert_eq!(names(&events), ["OrderAccepted", "Trade"]);
        let Event::Trade {
            trade_id,
            price,
            qty,
            maker_remaining,
            taker_remaining,
            ..
        } = events[1]
        else {
            panic!("not a trade");
        };
        assert_eq!(
            (trade_id, price, qty, maker_remaining, taker_remaining),
            (1, 101, 3, 2, 0)
        );
        assert_eq!(
            s.book.level(Side::Sell, 101),
            Level {
                price: 101,
                qty: 2,
                count: 1
            }
        );
        assert_eq!(s.book.next_trade_id(), 2);
    }

    #[test]
    fn time_priority_within_a_level_and_price_priority_across() {
        let mut s = Session::new();
        s.sell(1, "a", 101, 5);
        s.sell(2, "b", 100, 5);
        s.sell(3, "c", 100, 5);
        let events = s.buy(4, "d", 101, 12);
        let makers: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Trade { maker_order_id, .. } => Some(*maker_order_id),
                _ => None,
            })
            .collect();
        assert_eq!(makers, [2, 3, 1]);
        assert_eq!(s.ladder(), vec![(Side::Sell, 101, vec![(1, 3)])]);
    }

    #[test]
    fn cancel_from_the_middle_of_a_queue_keeps_the_rest_in_order() {
        let mut s = Session::new();
        for id in 1..=4 {
            s.buy(id, "a", 100, 5);
        }
        assert_eq!(names(&s.cancel("a", 2)), ["OrderCancelled"]);
        assert_eq!(names(&s.cancel("a", 2)), ["OrderRejected"]);
        assert_eq!(names(&s.cancel("b", 3)), ["OrderRejected"]);
        assert_eq!(
            s.ladder(),
            vec![(Side::Buy, 100, vec![(1, 5), (3, 5), (4, 5)])]
        );
        s.cancel("a", 1);
        s.cancel("a", 4);
        s.buy(5, "a", 100, 2);
        assert_eq!(s.ladder(), vec![(Side::Buy, 100, vec![(3, 5), (5, 2)])]);
    }

    #[test]
    fn self_trade_prevention_both_modes() {
        let mut s = Session::new();
        s.sell(1, "a", 100, 5);
        s.sell(2, "b", 100, 5);
        let events = s.order(
            Side::Buy,
            3,
            "a",
            100,
            7,
            (OrderType::Limit, Stp::CancelResting),
        );
        assert_eq!(
            names(&events),
            ["OrderAccepted", "OrderCancelled", "Trade", "OrderRested"]
        );
        s.sell(4, "c", 101, 5);
        s.sell(5, "b", 101, 5);
        let events = s.order(
            Side::Buy,
            6,
            "c",
            101,
            7,
            (OrderType::Limit, Stp::RejectIncoming),
        );
        assert_eq!(names(&events), ["OrderAccepted", "OrderCancelled"]);
        let Event::Cancelled {
            was_resting,
            reason,
            price,
            ..
        } = events[1]
        else {
            panic!()
        };
        assert_eq!(
            (was_resting, reason, price),
            (false, CancelReason::SelfTrade, 101)
        );
    }

    #[test]
    fn fok_post_only_market_and_ioc() {
        let mut s = Session::new();
        let events = s.order(
            Side::Buy,
            1,
            "a",
            0,
            5,
            (OrderType::Market, Stp::CancelResting),
        );
        assert!(matches!(
            events[0],
            Event::Rejected {
                reason: RejectReason::NoLiquidity,
                ..
            }
        ));
        s.sell(2, "b", 100, 5);
        let events = s.order(
            Side::Buy,
            3,
            "a",
            100,
            6,
            (OrderType::Fok, Stp::CancelResting),
        );
        assert!(matches!(
            events[0],
            Event::Rejected {
                reason: RejectReason::FokNotFillable,
                ..
            }
        ));
        let events = s.order(
            Side::Buy,
            4,
            "a",
            100,
            2,
            (OrderType::PostOnly, Stp::CancelResting),
        );
        assert!(matches!(
            events[0],
            Event::Rejected {
                reason: RejectReason::PostOnlyWouldTake,
                ..
            }
        ));
        let events = s.order(
            Side::Buy,
            5,
            "a",
            100,
            7,
            (OrderType::Ioc, Stp::CancelResting),
        );
        assert_eq!(names(&events), ["OrderAccepted", "Trade", "OrderCancelled"]);
        assert_eq!(s.book.order_count(), 0);
    }

    #[test]
    fn amend_keeps_priority_only_when_lowering_the_quantity() {
        let mut s = Session::new();
        s.buy(1, "a", 100, 5);
        s.buy(2, "b", 100, 5);
        let events = s.amend("a", 1, 3, 0);
        assert!(matches!(
            events[0],
            Event::Amended {
                priority_kept: true,
                new_remaining: 3,
                ..
            }
        ));
        assert_eq!(s.ladder(), vec![(Side::Buy, 100, vec![(1, 3), (2, 5)])]);
        let events = s.amend("a", 1, 4, 0);
        assert_eq!(names(&events), ["OrderAmended", "OrderRested"]);
        assert_eq!(s.ladder(), vec![(Side::Buy, 100, vec![(2, 5), (1, 4)])]);
        assert!(matches!(
            s.amend("a", 1, 0, 0)[0],
            Event::Rejected {
                reason: RejectReason::AmendNoChange,
                ..
            }
        ));
        s.sell(3, "c", 102, 5);
        let events = s.amend("b", 2, 0, 103);
        assert_eq!(names(&events), ["OrderAmended", "Trade"]);
        assert_eq!(s.ladder(), vec![(Side::Buy, 100, vec![(1, 4)])]);
    }

    #[test]
    fn snapshot_restore_round_trips_and_hashes_equal() {
        let mut s = Session::new();
        s.buy(1, "a", 100, 5);
        s.buy(2, "b", 100, 6);
        s.buy(3, "b", 99, 6);
        s.sell(4, "c", 105, 6);
        let snapshot = s.book.snapshot();
        let mut copy = Book::new(instrument());
        copy.restore(&snapshot).unwrap();
        copy.check_invariants().unwrap();
        assert_eq!(copy.state_hash(), s.book.state_hash());
        assert_eq!(copy.orders(), s.book.orders());
        let mut twice = snapshot.clone();
        twice.orders.push(snapshot.orders[0].clone());
        assert!(copy.restore(&twice).is_err());
        assert_eq!(
            copy.state_hash(),
            s.book.state_hash(),
            "a refused restore changes nothing"
        );
    }

    #[test]
    fn the_invariant_checker_sees_a_damaged_level() {
        let mut s = Session::new();
        s.buy(1, "a", 100, 5);
        s.buy(2, "b", 100, 6);
        let mut damaged = s.book.clone();
        if let Some(level) = damaged.bids.get_mut(&100) {
            level.total += 1;
        }
        assert!(
            damaged
                .check_invariants()
                .unwrap_err()
                .contains("total is off")
        );
        let mut crossed = s.book.clone();
        crossed.asks.insert(100, crossed.bids[&100].clone());
        assert!(crossed.check_invariants().is_err());
    }
}
