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

#[cfg(test)]
pub(crate) mod two_pass;

#[cfg(test)]
mod tests;
