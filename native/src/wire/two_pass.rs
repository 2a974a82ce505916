//! The decoder as it was before `log_reader`: a canonical rewrite of the bytes the way upb
//! reads them, then prost. Kept as the oracle the one-pass reader is held to.

use std::sync::Arc;

use prost::Message;

use super::{DecodedBatch, pb, put_varint, varint_len};
use crate::types::{AmendOrder, CancelOrder, Command, NewOrder, OrderType, Side, Stp};

/// Rebuild a batch from `encode_batch` bytes; `Err` with why they are not one.
pub fn decode_batch(data: &[u8]) -> Result<DecodedBatch, String> {
    let canonical = canonical_log_batch(data).map_err(|e| format!("not a LogBatch: {e}"))?;
    let batch = pb::LogBatch::decode(&canonical[..]).map_err(|e| format!("not a LogBatch: {e}"))?;
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
                let side = Side::from_value(n.side.into()).ok_or_else(|| unknown(seq, n.side))?;
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
                            Reader { data: bytes, at: 0 }.message(inner, depth - 1, None, out)?;
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
