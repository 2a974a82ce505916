use std::sync::Arc;

use super::*;
use crate::types::{AmendOrder, CancelOrder, CancelReason, NewOrder, RejectReason, empty_text};

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
