//! Matching a new order: the checks that need the book, then price-time matching of a
//! taker (a new order, or an amended one re-entering) against the opposite side.

use super::{Book, NIL, Order, PriceLevel, Taker, queue::unlink_from};
use crate::types::{CancelReason, Event, NewOrder, OrderType, RejectReason, Side, Stp};
use crate::validate::{ValidNew, validate_new};

impl Book {
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

    /// Whether an order at `price` would reach the best opposite order (post-only).
    pub(super) fn meets_opposite(&self, side: Side, price: i64) -> bool {
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
    pub(super) fn match_taker(
        &mut self,
        seq: u64,
        taker: &mut Taker,
        events: &mut Vec<Event>,
    ) -> bool {
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
