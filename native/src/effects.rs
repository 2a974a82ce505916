//! A batch's results as `dome.v1.BatchEffects` bytes, exactly as `dome.engine.effects.encode`
//! writes them: one entry per command, its events field for field, and the batch's
//! trade and event counts. Pure Rust: no Python object is made per event.
//!
//! `encode_effects` writes the protobuf encoding by hand into one buffer: the prost
//! messages would allocate a `String` per account of every event and a `Vec` per command,
//! which cost more than matching the command did. Proto3's rules: fields in number order,
//! a field at its default value left out, int32/int64 as the varint of their 64-bit two's
//! complement. The tests hold the bytes to prost's own encoding of what prost reads back
//! (so they are canonical), and the Python lockstep test holds every field to the Python
//! core's results.

use crate::market::Outcome;
use crate::types::Event;
use crate::wire::{put_varint, varint_len};

const LEN: u8 = 2;

/// A varint field (uint64, int64, int32 and bool alike), unless it is 0.
pub(crate) fn uint(out: &mut Vec<u8>, field: u8, value: u64) {
    if value != 0 {
        out.push(field << 3);
        put_varint(out, value);
    }
}

pub(crate) fn int(out: &mut Vec<u8>, field: u8, value: i64) {
    uint(out, field, value as u64);
}

pub(crate) fn text(out: &mut Vec<u8>, field: u8, value: &str) {
    if !value.is_empty() {
        out.push((field << 3) | LEN);
        put_varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

/// A length-delimited field holding `body` (always written: a present message).
pub(crate) fn nested(out: &mut Vec<u8>, field: u8, body: &[u8]) {
    out.push((field << 3) | LEN);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// The `BatchEffects` bytes of a batch whose first command has `first_seq`.
pub fn encode_effects(first_seq: u64, buffer: &[Event], outcomes: &[Outcome]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + buffer.len() * 48);
    uint(&mut out, 1, first_seq);
    let (mut trades, mut count) = (0u64, 0u64);
    let mut command = Vec::with_capacity(256);
    let mut body = Vec::with_capacity(128);
    for (outcome, seq) in outcomes.iter().zip(first_seq..) {
        let events = outcome.events(buffer);
        count += events.len() as u64;
        command.clear();
        uint(&mut command, 1, u64::from(outcome.duplicate));
        match events.first().map(event_seq) {
            Some(first) if first != seq => uint(&mut command, 2, first),
            _ => {}
        }
        for event in events {
            body.clear();
            let kind = event_body(&mut body, event);
            trades += u64::from(kind == 2);
            // CommandEffects.events (3) holds an Effect whose one field `kind` is `body`.
            let effect_len = 1 + varint_len(body.len() as u64) + body.len();
            command.push((3 << 3) | LEN);
            put_varint(&mut command, effect_len as u64);
            nested(&mut command, kind, &body);
        }
        nested(&mut out, 2, &command);
    }
    uint(&mut out, 3, trades);
    uint(&mut out, 4, count);
    out
}

/// Write the fields of `event`'s message into `out`; returns its field number in `Effect`.
fn event_body(out: &mut Vec<u8>, event: &Event) -> u8 {
    match event {
        Event::Accepted {
            order_id,
            account,
            client_order_id,
            side,
            order_type,
            price,
            qty,
            ..
        } => {
            uint(out, 1, *order_id);
            text(out, 2, account);
            text(out, 3, client_order_id);
            uint(out, 4, *side as u64);
            uint(out, 5, *order_type as u64);
            int(out, 6, *price);
            int(out, 7, *qty);
            1
        }
        Event::Trade {
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
            ..
        } => {
            uint(out, 1, *trade_id);
            int(out, 2, *price);
            int(out, 3, *qty);
            uint(out, 4, *aggressor as u64);
            uint(out, 5, *maker_order_id);
            text(out, 6, maker_account);
            int(out, 7, *maker_remaining);
            uint(out, 8, *taker_order_id);
            text(out, 9, taker_account);
            int(out, 10, *taker_remaining);
            2
        }
        Event::Rested {
            order_id,
            account,
            side,
            price,
            remaining,
            ..
        } => {
            uint(out, 1, *order_id);
            text(out, 2, account);
            uint(out, 3, *side as u64);
            int(out, 4, *price);
            int(out, 5, *remaining);
            3
        }
        Event::Cancelled {
            order_id,
            account,
            side,
            price,
            cancelled_qty,
            reason,
            was_resting,
            ..
        } => {
            uint(out, 1, *order_id);
            text(out, 2, account);
            uint(out, 3, *side as u64);
            int(out, 4, *price);
            int(out, 5, *cancelled_qty);
            uint(out, 6, *reason as u64);
            uint(out, 7, u64::from(*was_resting));
            4
        }
        Event::Amended {
            order_id,
            account,
            side,
            old_price,
            old_remaining,
            new_price,
            new_remaining,
            priority_kept,
            ..
        } => {
            uint(out, 1, *order_id);
            text(out, 2, account);
            uint(out, 3, *side as u64);
            int(out, 4, *old_price);
            int(out, 5, *old_remaining);
            int(out, 6, *new_price);
            int(out, 7, *new_remaining);
            uint(out, 8, u64::from(*priority_kept));
            5
        }
        Event::Rejected {
            order_id,
            account,
            client_order_id,
            reason,
            ..
        } => {
            uint(out, 1, *order_id);
            text(out, 2, account);
            text(out, 3, client_order_id);
            uint(out, 4, *reason as u64);
            6
        }
    }
}

fn event_seq(event: &Event) -> u64 {
    match event {
        Event::Accepted { seq, .. }
        | Event::Trade { seq, .. }
        | Event::Rested { seq, .. }
        | Event::Cancelled { seq, .. }
        | Event::Amended { seq, .. }
        | Event::Rejected { seq, .. } => *seq,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message;

    use super::*;
    use crate::market::Events;
    use crate::types::{CancelReason, OrderType, RejectReason, Side};
    use crate::wire::pb;

    fn every_kind(seq: u64, account: &str) -> Vec<Event> {
        let a: Arc<str> = Arc::from(account);
        vec![
            Event::Accepted {
                seq,
                order_id: seq,
                account: a.clone(),
                client_order_id: Arc::from("c-\u{e9}"),
                side: Side::Sell,
                order_type: OrderType::Market,
                price: 0,
                qty: i64::MAX,
            },
            Event::Trade {
                seq,
                trade_id: u64::MAX,
                price: -7,
                qty: 3,
                aggressor: Side::Buy,
                maker_order_id: 0,
                maker_account: Arc::from("maker"),
                maker_remaining: 0,
                taker_order_id: 300,
                taker_account: a.clone(),
                taker_remaining: 1 << 40,
            },
            Event::Rested {
                seq,
                order_id: 1,
                account: a.clone(),
                side: Side::Buy,
                price: 5,
                remaining: 0,
            },
            Event::Cancelled {
                seq,
                order_id: 2,
                account: a.clone(),
                side: Side::Sell,
                price: i64::MIN,
                cancelled_qty: 4,
                reason: CancelReason::SelfTrade,
                was_resting: true,
            },
            Event::Amended {
                seq,
                order_id: 3,
                account: a.clone(),
                side: Side::Buy,
                old_price: 10,
                old_remaining: 0,
                new_price: 11,
                new_remaining: 2,
                priority_kept: false,
            },
            Event::Rejected {
                seq,
                order_id: 4,
                account: a,
                client_order_id: Arc::from(""),
                reason: RejectReason::PriceOffTick,
            },
        ]
    }

    #[test]
    fn the_hand_written_encoding_is_canonical_protobuf() {
        let mut buffer = every_kind(7, "alice");
        buffer.extend(every_kind(8, ""));
        let outcomes = vec![
            Outcome {
                events: Events::Range(0, 6),
                duplicate: false,
            },
            Outcome {
                events: Events::Range(6, 12),
                duplicate: false,
            },
            // A duplicate of an order at seq 3, and a command without events.
            Outcome {
                events: Events::Shared(every_kind(3, "bob").into()),
                duplicate: true,
            },
            Outcome {
                events: Events::Range(12, 12),
                duplicate: false,
            },
        ];
        let bytes = encode_effects(7, &buffer, &outcomes);
        let decoded = pb::BatchEffects::decode(&bytes[..]).unwrap();
        // Canonical: prost writes exactly these bytes for what it read from them.
        assert_eq!(bytes, decoded.encode_to_vec());
        assert_eq!(
            (decoded.first_seq, decoded.trades, decoded.events),
            (7, 3, 18)
        );
        assert_eq!(decoded.commands[2].events_seq, 3);
        assert!(decoded.commands[2].duplicate);
        assert!(decoded.commands[3].events.is_empty());
        use pb::effect::Event as E;
        let Some(E::Trade(trade)) = &decoded.commands[0].events[1].event else {
            panic!("the second event is the trade");
        };
        assert_eq!(
            (
                trade.trade_id,
                trade.price,
                trade.maker_account.as_str(),
                trade.taker_remaining
            ),
            (u64::MAX, -7, "maker", 1 << 40)
        );
        assert!(encode_effects(0, &[], &[]).is_empty());
    }

    #[test]
    fn varint_lengths_match_the_encoding() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
    }
}
