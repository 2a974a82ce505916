//! The log's decoder: upb's reading, proto3's rules, and the one pass held to the two.

use std::sync::Arc;

use super::*;
use crate::types::{AmendOrder, CancelOrder, NewOrder};

fn cancel(seq: u64) -> Command {
    Command::Cancel(CancelOrder {
        seq,
        account: Arc::from("alice"),
        order_id: 3,
    })
}

#[test]
fn round_trip() {
    let commands = vec![
        Command::New(NewOrder {
            seq: 7,
            order_id: 1,
            account: Arc::from("a"),
            client_order_id: Arc::from("c"),
            side: 2,
            order_type: 5,
            price: -4,
            qty: 9,
            stp: 2,
            dedup: true,
        }),
        cancel(8),
        Command::Amend(AmendOrder {
            seq: 9,
            account: Arc::from("b"),
            order_id: 1,
            qty: 0,
            price: 3,
        }),
    ];
    let batch = decode_batch(&encode_batch("XYZ", 2, 1_000, &commands)).unwrap();
    assert_eq!(batch.commands, commands);
    assert_eq!(
        (
            batch.symbol.as_str(),
            batch.epoch,
            batch.first_seq,
            batch.timestamp_ns
        ),
        ("XYZ", 2, 7, 1_000)
    );
}

fn upb(data: &[u8]) -> Result<Vec<u8>, String> {
    let canonical = two_pass::canonical_log_batch(data);
    agree(data);
    canonical
}

/// The one-pass reader refuses what the two-pass decoder refuses, and decodes the
/// rest to the same batch.
fn agree(data: &[u8]) {
    match (decode_batch(data), two_pass::decode_batch(data)) {
        (Ok(one), Ok(two)) => assert_eq!(one, two, "{data:?}"),
        (Err(_), Err(_)) => {}
        (one, two) => panic!("{data:?}: one pass {one:?}, two passes {two:?}"),
    }
}

/// Bytes of a field: tag, then the value's bytes as given.
fn field(number: u32, wire_type: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, u64::from(number << 3 | wire_type));
    out.extend_from_slice(value);
    out
}

fn varint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, value);
    out
}

fn message(number: u32, contents: &[u8]) -> Vec<u8> {
    field(
        number,
        2,
        &[varint(contents.len() as u64), contents.to_vec()].concat(),
    )
}

fn new_order(fields: &[Vec<u8>]) -> Vec<u8> {
    message(6, &message(1, &fields.concat()))
}

fn header() -> Vec<u8> {
    [message(1, b"X"), field(2, 0, &[1]), field(3, 0, &[5])].concat()
}

#[test]
fn one_pass_decodes_proto3_as_prost_does() {
    let full = [
        field(1, 0, &[9]),
        message(2, b"alice"),
        message(3, b"c-1"),
        field(4, 0, &[1]),
        field(5, 0, &[1]),
        field(6, 0, &[100]),
        field(7, 0, &[3]),
        field(8, 0, &[1]),
    ];
    let cases: Vec<Vec<u8>> = vec![
        [header(), new_order(&full)].concat(),
        // The last value of a scalar wins; the symbol too.
        [
            header(),
            message(1, b"Y"),
            field(3, 0, &[7]),
            new_order(&full),
        ]
        .concat(),
        // A oneof member seen again merges into the one held.
        [
            header(),
            message(
                6,
                &[
                    message(1, &full[..4].concat()),
                    message(1, &full[4..].concat()),
                ]
                .concat(),
            ),
        ]
        .concat(),
        // Another member replaces it (a cancel, then a new order again).
        [
            header(),
            message(
                6,
                &[
                    message(1, &full[..6].concat()),
                    message(2, &[message(1, b"bob"), field(2, 0, &[4])].concat()),
                    message(1, &full[6..].concat()),
                ]
                .concat(),
            ),
        ]
        .concat(),
        // Known fields with another wire type, unknown fields of every wire type.
        [
            header(),
            field(1, 0, &[3]),
            field(2, 2, &[1, 0]),
            field(9, 1, &[0; 8]),
            field(9, 5, &[0; 4]),
            field(9, 3, &field(1, 0, &[1])),
            field(9, 4, &[]),
            new_order(&[full.concat(), field(6, 2, &[0]), field(12, 0, &[1])]),
        ]
        .concat(),
        // Integers cut to their field's width, and the 10-byte varint upb allows.
        [
            header(),
            new_order(&[
                full[..3].concat(),
                field(4, 0, &varint((1 << 32) | 1)),
                full[4..5].concat(),
                field(6, 0, &varint(u64::MAX)),
                field(
                    7,
                    0,
                    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                ),
                full[7].clone(),
            ]),
        ]
        .concat(),
        // A bad string, alone and before a structural refusal: refused either way.
        [
            header(),
            new_order(&[full[..1].concat(), message(2, &[0xff])]),
        ]
        .concat(),
        [header(), message(1, &[0xc3]), field(9, 3, &[])].concat(),
        // Cancels and amends, and a command of no kind.
        [
            header(),
            message(
                6,
                &message(2, &[message(1, b"a"), field(2, 0, &[1])].concat()),
            ),
        ]
        .concat(),
        [
            header(),
            message(
                6,
                &message(
                    3,
                    &[
                        message(1, b"a"),
                        field(2, 0, &[1]),
                        field(3, 0, &[2]),
                        field(4, 0, &[5]),
                    ]
                    .concat(),
                ),
            ),
        ]
        .concat(),
        [header(), message(6, &[])].concat(),
    ];
    for case in &cases {
        agree(case);
    }
    let merged = decode_batch(&cases[2]).unwrap();
    assert_eq!(merged.commands, decode_batch(&cases[0]).unwrap().commands);
    let Command::New(cut) = &decode_batch(&cases[5]).unwrap().commands[0] else {
        panic!("a new order")
    };
    // side 2**32 + 1 is side 1 (Buy); u64::MAX and the 10-byte varint are -1 as int64.
    assert_eq!((cut.side, cut.price, cut.qty), (1, -1, -1));
}

/// Damaged bytes (flips, drops, inserts, truncation) of valid batches: the one-pass
/// reader and the two-pass decoder answer alike. Seeded, so a failure repeats.
#[test]
fn one_pass_agrees_on_damaged_bytes() {
    let commands: Vec<Command> = (0..6u64)
        .map(|i| match i % 3 {
            0 => Command::New(NewOrder {
                seq: 10 + i,
                order_id: 100 + i,
                account: Arc::from(["a", "bb", ""][i as usize % 3]),
                client_order_id: Arc::from(if i % 2 == 0 { "coid" } else { "" }),
                side: 1 + (i % 2) as i64,
                order_type: 1 + (i % 5) as i64,
                price: 100 + i as i128,
                qty: 1 + i as i128,
                stp: 1,
                dedup: true,
            }),
            1 => cancel(10 + i),
            _ => Command::Amend(AmendOrder {
                seq: 10 + i,
                account: Arc::from("a"),
                order_id: 100,
                qty: 2,
                price: -1,
            }),
        })
        .collect();
    let seeds = [
        encode_batch("FUZ-USD", 3, 1_700_000_000_000, &commands),
        encode_batch("F", u64::MAX, -1, &commands[..1]),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let mut data = seeds[(next() % 2) as usize].clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() as usize) % (data.len() + 1);
            match next() % 5 {
                0 if at < data.len() => data[at] ^= 1 << (next() % 8),
                1 if at < data.len() => data[at] = next() as u8,
                2 if at < data.len() => {
                    data.remove(at);
                }
                3 => data.insert(at, next() as u8),
                _ => data.truncate(at),
            }
        }
        agree(&data);
        if decode_batch(&data).is_ok() {
            ok += 1
        } else {
            refused += 1
        }
    }
    // Both outcomes were exercised, or the test proves little.
    assert!(
        ok > 1_000 && refused > 1_000,
        "{ok} accepted, {refused} refused"
    );
}

#[test]
fn reads_bytes_as_upb_does() {
    // What Python's protobuf runtime (upb) accepts and refuses, found by experiment.
    let groups = |n: usize| [vec![123u8; n], vec![124u8; n]].concat();
    assert!(upb(&groups(100)).is_ok());
    assert!(upb(&groups(101)).is_err());
    assert!(
        upb(&[0x90, 0x80, 0x80, 0x80, 0x00, 1]).is_ok(),
        "5-byte tag"
    );
    assert!(
        upb(&[0x90, 0x80, 0x80, 0x80, 0x80, 0x00, 1]).is_err(),
        "6-byte tag"
    );
    let ten = [vec![0x10], vec![0xff; 9], vec![0x7f]].concat();
    let epoch = pb::LogBatch::decode(&upb(&ten).unwrap()[..]).unwrap().epoch;
    assert_eq!(
        epoch,
        u64::MAX,
        "a 10th varint byte's extra bits are dropped"
    );
    assert!(upb(&[vec![0x10], vec![0xff; 10], vec![0x01]].concat()).is_err());
    assert!(
        upb(&[0x0a, 0x81, 0x80, 0x80, 0x80, 0x00, b'x']).is_ok(),
        "5-byte length"
    );
    assert!(upb(&[0x0a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, b'x']).is_err());
    for corrupt in [
        &[0x00, 0x01][..],
        &[0x0c],
        &[123, 0x0c],
        &[0x0e],
        &[0xff, 0xff, 0xff, 0xff, 0x1f, 0],
    ] {
        assert!(upb(corrupt).is_err(), "{corrupt:?}");
    }
    // A known field with another wire type is an unknown field to upb: dropped.
    assert_eq!(upb(&[0x0b, 0x0c, 0x10, 0x05]).unwrap(), [0x10, 0x05]);
    assert_eq!(upb(&[0x12, 0x01, 0x00, 0x10, 0x05]).unwrap(), [0x10, 0x05]);
}

#[test]
fn refusals() {
    assert!(
        decode_batch(b"\xff\xff")
            .unwrap_err()
            .starts_with("not a LogBatch")
    );
    assert_eq!(
        decode_batch(&encode_batch("X", 1, 0, &[])).unwrap_err(),
        "log batch without commands"
    );
    assert_eq!(
        decode_batch(&encode_batch("X", 1, 0, &[cancel(u64::MAX), cancel(0)])).unwrap_err(),
        format!("log batch with first_seq {} and 2 commands", u64::MAX)
    );
    assert!(decode_batch(&encode_batch("X", 1, 0, &[cancel(u64::MAX)])).is_ok());
    let mut bad = encode_batch("X", 1, 0, &[cancel(1)]);
    bad.extend_from_slice(&[0x32, 0x00]); // an empty LogCommand: no kind
    assert_eq!(
        decode_batch(&bad).unwrap_err(),
        "seq 2: command of no known kind"
    );
    let mut new = NewOrder {
        seq: 1,
        order_id: 1,
        account: Arc::from("a"),
        client_order_id: Arc::from(""),
        side: 1,
        order_type: 1,
        price: 1,
        qty: 1,
        stp: 0,
        dedup: true,
    };
    let bytes = encode_batch("X", 1, 0, &[Command::New(new.clone())]);
    assert_eq!(
        decode_batch(&bytes).unwrap_err(),
        "seq 1: unknown enum value 0"
    );
    new.stp = 1;
    new.side = -3;
    let bytes = encode_batch("X", 1, 0, &[Command::New(new)]);
    assert_eq!(
        decode_batch(&bytes).unwrap_err(),
        "seq 1: unknown enum value -3"
    );
}
