//! The log's record format: a `dome.v1.LogBatch` decoded into commands exactly as
//! `dome.log.entries.decode_batch` rebuilds them (seq `first_seq + i`, one timestamp).
//!
//! Refused, with the same words as the Python decoder: bytes protobuf cannot parse, a
//! batch without commands, a first sequence number of 0 or one that would overflow, a
//! command of no known kind, and side, order type or stp values the core does not define.
//! The whole batch is decoded before any command reaches a book, in one pass over the
//! bytes (`log_reader`); the two-pass decoder it replaced stays here as the tests' oracle.

use prost::Message;

use crate::types::Command;

/// The prost types generated from `proto/dome/v1/replication.proto` by build.rs.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/dome.v1.rs"));
}

/// A batch as the market uses it: header fields plus the rebuilt commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedBatch {
    pub symbol: String,
    pub epoch: u64,
    pub first_seq: u64,
    pub timestamp_ns: i64,
    pub committed_seq: u64,
    pub commands: Vec<Command>,
}

/// Rebuild a batch from `encode_batch` bytes; `Err` with why they are not one.
pub fn decode_batch(data: &[u8]) -> Result<DecodedBatch, String> {
    crate::log_reader::read_batch(data)
}

/// Bytes of `value`'s varint.
pub(crate) fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Append `value` as a minimal varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Encode commands as a `LogBatch` (tests and benchmarks; the log itself is written by
/// `dome.log.entries.encode_batch`).
pub fn encode_batch(symbol: &str, epoch: u64, timestamp_ns: i64, commands: &[Command]) -> Vec<u8> {
    let first_seq = commands.first().map_or(0, Command::seq);
    let commands = commands
        .iter()
        .map(|c| {
            use pb::log_command::Command as Kind;
            let command = match c {
                Command::New(n) => Kind::NewOrder(pb::LogNewOrder {
                    order_id: n.order_id,
                    account: n.account.to_string(),
                    client_order_id: n.client_order_id.to_string(),
                    side: n.side as i32,
                    order_type: n.order_type as i32,
                    price: n.price as i64,
                    qty: n.qty as i64,
                    stp: n.stp as i32,
                }),
                Command::Cancel(x) => Kind::Cancel(pb::LogCancel {
                    account: x.account.to_string(),
                    order_id: x.order_id,
                }),
                Command::Amend(a) => Kind::Amend(pb::LogAmend {
                    account: a.account.to_string(),
                    order_id: a.order_id,
                    qty: a.qty as i64,
                    price: a.price as i64,
                }),
            };
            pb::LogCommand {
                command: Some(command),
            }
        })
        .collect();
    pb::LogBatch {
        symbol: symbol.to_owned(),
        epoch,
        first_seq,
        timestamp_ns,
        committed_seq: 0,
        commands,
    }
    .encode_to_vec()
}

/// The decoder as it was before `log_reader`: a canonical rewrite of the bytes the way upb
/// reads them, then prost. Kept as the oracle the one-pass reader is held to.
#[cfg(test)]
pub(crate) mod two_pass {
    use std::sync::Arc;

    use prost::Message;

    use super::{DecodedBatch, pb, put_varint, varint_len};
    use crate::types::{AmendOrder, CancelOrder, Command, NewOrder, OrderType, Side, Stp};

    /// Rebuild a batch from `encode_batch` bytes; `Err` with why they are not one.
    pub fn decode_batch(data: &[u8]) -> Result<DecodedBatch, String> {
        let canonical = canonical_log_batch(data).map_err(|e| format!("not a LogBatch: {e}"))?;
        let batch =
            pb::LogBatch::decode(&canonical[..]).map_err(|e| format!("not a LogBatch: {e}"))?;
        let count = batch.commands.len();
        if count == 0 {
            return Err("log batch without commands".into());
        }
        let first_seq = batch.first_seq;
        if first_seq < 1 || u128::from(first_seq) + count as u128 > 1u128 << 64 {
            return Err(format!(
                "log batch with first_seq {first_seq} and {count} commands"
            ));
        }
        let mut commands = Vec::with_capacity(count);
        // first_seq + count <= 2**64, so every seq below fits a u64.
        for (seq, c) in (first_seq..=u64::MAX).zip(batch.commands) {
            use pb::log_command::Command as Kind;
            let command = match c.command {
                Some(Kind::NewOrder(n)) => {
                    let side =
                        Side::from_value(n.side.into()).ok_or_else(|| unknown(seq, n.side))?;
                    let order_type = OrderType::from_value(n.order_type.into())
                        .ok_or_else(|| unknown(seq, n.order_type))?;
                    let stp = Stp::from_value(n.stp.into()).ok_or_else(|| unknown(seq, n.stp))?;
                    Command::New(NewOrder {
                        seq,
                        order_id: n.order_id,
                        account: Arc::from(n.account),
                        client_order_id: Arc::from(n.client_order_id),
                        side: side as i64,
                        order_type: order_type as i64,
                        price: n.price.into(),
                        qty: n.qty.into(),
                        stp: stp as i64,
                        dedup: true,
                    })
                }
                Some(Kind::Cancel(x)) => Command::Cancel(CancelOrder {
                    seq,
                    account: Arc::from(x.account),
                    order_id: x.order_id,
                }),
                Some(Kind::Amend(a)) => Command::Amend(AmendOrder {
                    seq,
                    account: Arc::from(a.account),
                    order_id: a.order_id,
                    qty: a.qty.into(),
                    price: a.price.into(),
                }),
                None => return Err(format!("seq {seq}: command of no known kind")),
            };
            commands.push(command);
        }
        Ok(DecodedBatch {
            symbol: batch.symbol,
            epoch: batch.epoch,
            first_seq,
            timestamp_ns: batch.timestamp_ns,
            committed_seq: batch.committed_seq,
            commands,
        })
    }

    // ------------------------------------------------------------------ upb's reading

    /// How a field of the log's messages is encoded.
    #[derive(Clone, Copy)]
    enum Kind {
        Varint,
        Bytes,
        Message(&'static [(u32, Kind)]),
    }

    const LOG_NEW_ORDER: &[(u32, Kind)] = &[
        (1, Kind::Varint),
        (2, Kind::Bytes),
        (3, Kind::Bytes),
        (4, Kind::Varint),
        (5, Kind::Varint),
        (6, Kind::Varint),
        (7, Kind::Varint),
        (8, Kind::Varint),
    ];
    const LOG_CANCEL: &[(u32, Kind)] = &[(1, Kind::Bytes), (2, Kind::Varint)];
    const LOG_AMEND: &[(u32, Kind)] = &[
        (1, Kind::Bytes),
        (2, Kind::Varint),
        (3, Kind::Varint),
        (4, Kind::Varint),
    ];
    const LOG_COMMAND: &[(u32, Kind)] = &[
        (1, Kind::Message(LOG_NEW_ORDER)),
        (2, Kind::Message(LOG_CANCEL)),
        (3, Kind::Message(LOG_AMEND)),
    ];
    const LOG_BATCH: &[(u32, Kind)] = &[
        (1, Kind::Bytes),
        (2, Kind::Varint),
        (3, Kind::Varint),
        (4, Kind::Varint),
        (5, Kind::Varint),
        (6, Kind::Message(LOG_COMMAND)),
    ];

    /// Nesting (submessages and groups) upb allows before calling the bytes corrupt.
    const DEPTH_LIMIT: i32 = 100;

    /// `data` rewritten as upb (Python's protobuf runtime, which writes and reads the log
    /// everywhere else) reads it, in the canonical encoding prost then decodes.
    ///
    /// prost is stricter than upb in ways bytes from a damaged journal or a hostile peer can
    /// hit: upb keeps a known field whose wire type does not match as an unknown field (prost
    /// refuses the message), and takes a 10-byte varint whatever its last byte holds. It is
    /// also laxer in others: upb refuses tags and lengths longer than 5 bytes and more than
    /// 100 levels of nesting. So this pass checks the structure upb's way, drops what upb
    /// would keep only as unknown fields and re-encodes varints minimally; what upb refuses
    /// it refuses, and what upb accepts prost decodes to the same values. (String contents
    /// are left to prost, which checks UTF-8 as upb does.)
    pub fn canonical_log_batch(data: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(data.len());
        let mut reader = Reader { data, at: 0 };
        reader.message(LOG_BATCH, DEPTH_LIMIT, None, &mut out)?;
        Ok(out)
    }

    struct Reader<'a> {
        data: &'a [u8],
        at: usize,
    }

    impl Reader<'_> {
        /// upb's varint: up to 10 bytes, bits beyond 64 dropped. Returns (value, bytes used).
        fn varint(&mut self) -> Result<(u64, usize), String> {
            let start = self.at;
            let mut value = 0u64;
            for i in 0..10 {
                let Some(&byte) = self.data.get(self.at) else {
                    return Err("truncated varint".into());
                };
                self.at += 1;
                value = value.wrapping_add(u64::from(byte & 0x7f).checked_shl(7 * i).unwrap_or(0));
                if byte & 0x80 == 0 {
                    return Ok((value, self.at - start));
                }
            }
            Err("varint longer than 10 bytes".into())
        }

        fn take(&mut self, len: usize) -> Result<&[u8], String> {
            let end = self
                .at
                .checked_add(len)
                .filter(|&end| end <= self.data.len());
            let end = end.ok_or("field runs past the end of its message")?;
            let bytes = &self.data[self.at..end];
            self.at = end;
            Ok(bytes)
        }

        /// Fields until the end of the data (`group` None) or the end tag of `group`.
        fn message(
            &mut self,
            fields: &[(u32, Kind)],
            depth: i32,
            group: Option<u32>,
            out: &mut Vec<u8>,
        ) -> Result<(), String> {
            while self.at < self.data.len() {
                let (tag, len) = self.varint()?;
                if len > 5 || tag > u64::from(u32::MAX) {
                    return Err("invalid tag".into());
                }
                let number = (tag >> 3) as u32;
                let wire_type = tag & 7;
                if wire_type == 4 {
                    return match group {
                        Some(open) if open == number => Ok(()),
                        _ => Err("unexpected end-group tag".into()),
                    };
                }
                if number == 0 {
                    return Err("field number 0".into());
                }
                let known = fields
                    .iter()
                    .find(|(n, _)| *n == number)
                    .map(|(_, kind)| *kind);
                match (wire_type, known) {
                    (0, Some(Kind::Varint)) => {
                        let (value, _) = self.varint()?;
                        put_varint(out, tag);
                        put_varint(out, value);
                    }
                    (0, _) => {
                        self.varint()?;
                    }
                    (1, _) => {
                        self.take(8)?;
                    }
                    (2, known) => {
                        let (size, len) = self.varint()?;
                        if len > 5 || size >= i32::MAX as u64 {
                            return Err("invalid length".into());
                        }
                        let bytes = self.take(size as usize)?;
                        match known {
                            Some(Kind::Bytes) => {
                                put_varint(out, tag);
                                put_varint(out, size);
                                out.extend_from_slice(bytes);
                            }
                            Some(Kind::Message(inner)) => {
                                if depth < 1 {
                                    return Err("nested too deeply".into());
                                }
                                // Written in place, not into a buffer of its own (two
                                // allocations and copies per command): the length goes first,
                                // so room is left for the longest it can be (the rewrite never
                                // grows a message), and the contents move up if it is shorter.
                                put_varint(out, tag);
                                let room = varint_len(size);
                                let start = out.len() + room;
                                out.resize(start, 0);
                                Reader { data: bytes, at: 0 }.message(
                                    inner,
                                    depth - 1,
                                    None,
                                    out,
                                )?;
                                let written = (out.len() - start) as u64;
                                let used = varint_len(written);
                                if used < room {
                                    out.copy_within(start.., start - room + used);
                                    out.truncate(out.len() - (room - used));
                                }
                                let at = start - room;
                                put_varint_at(out, at, written);
                            }
                            _ => {}
                        }
                    }
                    (3, _) => {
                        if depth < 1 {
                            return Err("nested too deeply".into());
                        }
                        // An unknown group: its contents are checked, then dropped.
                        self.message(&[], depth - 1, Some(number), &mut Vec::new())?;
                    }
                    (5, _) => {
                        self.take(4)?;
                    }
                    _ => return Err(format!("invalid wire type {wire_type}")),
                }
            }
            match group {
                None => Ok(()),
                Some(_) => Err("group without its end tag".into()),
            }
        }
    }

    /// Overwrite the varint of `value` at `out[at..]` (room for exactly its length is there).
    fn put_varint_at(out: &mut [u8], at: usize, mut value: u64) {
        let mut i = at;
        while value >= 0x80 {
            out[i] = (value as u8) | 0x80;
            value >>= 7;
            i += 1;
        }
        out[i] = value as u8;
    }

    fn unknown(seq: u64, value: i32) -> String {
        format!("seq {seq}: unknown enum value {value}")
    }
}

#[cfg(test)]
mod tests {
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
}
