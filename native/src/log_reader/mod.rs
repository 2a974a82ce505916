//! A `dome.v1.LogBatch` read in one pass, straight into commands, the way upb (Python's
//! protobuf runtime, which writes and reads the log everywhere else) reads it.
//!
//! The log decoder used to make two passes: one rewrote the bytes into the canonical
//! encoding upb's reading implies, and prost decoded that copy into owned messages whose
//! strings were then copied again into the commands. That was two thirds of the
//! instructions of a whole batch, matching included (callgrind, `dome bench book`). This
//! reader walks the bytes once and builds the commands from slices of them.
//!
//! What it accepts and refuses is exactly what the two passes did, which `wire`'s tests
//! hold it to on valid, damaged and random bytes:
//! - upb's structure rules: tags and lengths of at most 5 bytes, a 10-byte varint whose
//!   extra bits are dropped, at most 100 levels of nesting (groups count), groups closed
//!   by their own end tag, no field number 0, wire types 0 to 5 only;
//! - a known field with another wire type is an unknown field (kept by upb, ignored here),
//!   and unknown fields of every wire type are checked and skipped;
//! - proto3 decoding as prost (and upb) does it: the last value of a scalar field wins,
//!   every string is checked as UTF-8 (a refusal that ranks after any structural one),
//!   a `LogCommand` oneof member seen again merges into the one it holds, another member
//!   replaces it, and integers are cut to their field's width (`int32` from a varint).

use std::sync::Arc;

use crate::types::{AmendOrder, CancelOrder, Command, NewOrder, OrderType, Side, Stp, empty_text};
use crate::wire::DecodedBatch;

mod cursor;

use cursor::{Bad, Cursor, Value};

/// Nesting (submessages and groups) upb allows before calling the bytes corrupt.
const DEPTH_LIMIT: i32 = 100;

/// Rebuild a batch from `LogBatch` bytes; `Err` with why they are not one (the words of
/// `dome.log.entries.decode_batch`).
pub fn read_batch(data: &[u8]) -> Result<DecodedBatch, String> {
    let mut utf8 = Utf8::default();
    let header = read_log_batch(data, &mut utf8).map_err(|e| format!("not a LogBatch: {e}"))?;
    if let Some(field) = utf8.first_bad {
        return Err(format!(
            "not a LogBatch: {field}: invalid string value: data is not UTF-8 encoded"
        ));
    }
    let count = header.commands.len();
    if count == 0 {
        return Err("log batch without commands".into());
    }
    let first_seq = header.first_seq;
    if first_seq < 1 || u128::from(first_seq) + count as u128 > 1u128 << 64 {
        return Err(format!(
            "log batch with first_seq {first_seq} and {count} commands"
        ));
    }
    let mut accounts = Accounts::default();
    let mut commands = Vec::with_capacity(count);
    // first_seq + count <= 2**64, so every seq below fits a u64.
    for (seq, raw) in (first_seq..=u64::MAX).zip(header.commands) {
        let command = match raw {
            Raw::New(n) => {
                let side = Side::from_value(n.side.into()).ok_or_else(|| unknown(seq, n.side))?;
                let order_type = OrderType::from_value(n.order_type.into())
                    .ok_or_else(|| unknown(seq, n.order_type))?;
                let stp = Stp::from_value(n.stp.into()).ok_or_else(|| unknown(seq, n.stp))?;
                Command::New(NewOrder {
                    seq,
                    order_id: n.order_id,
                    account: accounts.get(n.account),
                    client_order_id: text(n.client_order_id),
                    side: side as i64,
                    order_type: order_type as i64,
                    price: n.price.into(),
                    qty: n.qty.into(),
                    stp: stp as i64,
                    dedup: true,
                })
            }
            Raw::Cancel(x) => Command::Cancel(CancelOrder {
                seq,
                account: accounts.get(x.account),
                order_id: x.order_id,
            }),
            Raw::Amend(a) => Command::Amend(AmendOrder {
                seq,
                account: accounts.get(a.account),
                order_id: a.order_id,
                qty: a.qty.into(),
                price: a.price.into(),
            }),
            Raw::Empty => return Err(format!("seq {seq}: command of no known kind")),
        };
        commands.push(command);
    }
    Ok(DecodedBatch {
        symbol: str_of(header.symbol).to_owned(),
        epoch: header.epoch,
        first_seq,
        timestamp_ns: header.timestamp_ns,
        committed_seq: header.committed_seq,
        commands,
    })
}

fn unknown(seq: u64, value: i32) -> String {
    format!("seq {seq}: unknown enum value {value}")
}

/// A string field's bytes, already checked as UTF-8 (see `Utf8`).
fn str_of(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

fn text(bytes: &[u8]) -> Arc<str> {
    if bytes.is_empty() {
        empty_text()
    } else {
        Arc::from(str_of(bytes))
    }
}

/// The last account's `Arc`, shared with the next command when it names the same one: a
/// batch from one client holds one account (a miss costs one comparison).
#[derive(Default)]
struct Accounts<'a> {
    last: Option<(&'a [u8], Arc<str>)>,
}

impl<'a> Accounts<'a> {
    fn get(&mut self, bytes: &'a [u8]) -> Arc<str> {
        if let Some((last, account)) = &self.last {
            if *last == bytes {
                return account.clone();
            }
        }
        let account = text(bytes);
        self.last = Some((bytes, account.clone()));
        account
    }
}

/// The first string field that is not UTF-8, if any. prost checks strings as it decodes
/// them, after the canonical pass had checked the whole structure: a structural refusal
/// anywhere outranks a bad string, so the bad string is noted and reading goes on.
#[derive(Default)]
struct Utf8 {
    first_bad: Option<&'static str>,
}

impl Utf8 {
    fn check<'a>(&mut self, bytes: &'a [u8], field: &'static str) -> &'a [u8] {
        if self.first_bad.is_none() && std::str::from_utf8(bytes).is_err() {
            self.first_bad = Some(field);
        }
        bytes
    }
}

// ------------------------------------------------------------------ the messages

struct Header<'a> {
    symbol: &'a [u8],
    epoch: u64,
    first_seq: u64,
    timestamp_ns: i64,
    committed_seq: u64,
    commands: Vec<Raw<'a>>,
}

#[derive(Default)]
struct RawNew<'a> {
    order_id: u64,
    account: &'a [u8],
    client_order_id: &'a [u8],
    side: i32,
    order_type: i32,
    price: i64,
    qty: i64,
    stp: i32,
}

#[derive(Default)]
struct RawCancel<'a> {
    account: &'a [u8],
    order_id: u64,
}

#[derive(Default)]
struct RawAmend<'a> {
    account: &'a [u8],
    order_id: u64,
    qty: i64,
    price: i64,
}

/// A `LogCommand`: the member of its oneof last seen, or none.
enum Raw<'a> {
    Empty,
    New(RawNew<'a>),
    Cancel(RawCancel<'a>),
    Amend(RawAmend<'a>),
}

fn read_log_batch<'a>(data: &'a [u8], utf8: &mut Utf8) -> Result<Header<'a>, Bad> {
    let mut header = Header {
        symbol: b"",
        epoch: 0,
        first_seq: 0,
        timestamp_ns: 0,
        committed_seq: 0,
        // A command is at least 4 bytes on the wire: a guess that rarely reallocates.
        commands: Vec::with_capacity(data.len() / 24),
    };
    let depth = DEPTH_LIMIT;
    let mut cursor = Cursor { data, at: 0 };
    while let Some((number, value)) = cursor.field(depth)? {
        match (number, value) {
            (1, Value::Bytes(b)) => header.symbol = utf8.check(b, "LogBatch.symbol"),
            (2, Value::Varint(v)) => header.epoch = v,
            (3, Value::Varint(v)) => header.first_seq = v,
            (4, Value::Varint(v)) => header.timestamp_ns = v as i64,
            (5, Value::Varint(v)) => header.committed_seq = v,
            (6, Value::Bytes(b)) => header.commands.push(read_command(b, depth - 1, utf8)?),
            _ => {} // unknown, or a known field with another wire type: ignored
        }
    }
    Ok(header)
}

/// `depth`: levels left for what this message holds; a message read at 0 is too deep.
fn nested(depth: i32) -> Result<(), Bad> {
    if depth < 0 {
        return Err(Bad::Deep);
    }
    Ok(())
}

fn read_command<'a>(data: &'a [u8], depth: i32, utf8: &mut Utf8) -> Result<Raw<'a>, Bad> {
    nested(depth)?;
    let mut raw = Raw::Empty;
    let mut cursor = Cursor { data, at: 0 };
    while let Some((number, value)) = cursor.field(depth)? {
        let Value::Bytes(b) = value else { continue };
        raw = match (number, raw) {
            (1, Raw::New(base)) => Raw::New(read_new(b, depth - 1, base, utf8)?),
            (1, _) => Raw::New(read_new(b, depth - 1, RawNew::default(), utf8)?),
            (2, Raw::Cancel(base)) => Raw::Cancel(read_cancel(b, depth - 1, base, utf8)?),
            (2, _) => Raw::Cancel(read_cancel(b, depth - 1, RawCancel::default(), utf8)?),
            (3, Raw::Amend(base)) => Raw::Amend(read_amend(b, depth - 1, base, utf8)?),
            (3, _) => Raw::Amend(read_amend(b, depth - 1, RawAmend::default(), utf8)?),
            (_, kept) => kept,
        };
    }
    Ok(raw)
}

fn read_new<'a>(
    data: &'a [u8],
    depth: i32,
    mut n: RawNew<'a>,
    utf8: &mut Utf8,
) -> Result<RawNew<'a>, Bad> {
    nested(depth)?;
    if let Some(fast) = in_field_order(data) {
        utf8.check(fast.new.account, "LogNewOrder.account");
        utf8.check(fast.new.client_order_id, "LogNewOrder.client_order_id");
        return Ok(fast.merged_into(n));
    }
    let mut cursor = Cursor { data, at: 0 };
    while let Some((number, value)) = cursor.field(depth)? {
        match (number, value) {
            (1, Value::Varint(v)) => n.order_id = v,
            (2, Value::Bytes(b)) => n.account = utf8.check(b, "LogNewOrder.account"),
            (3, Value::Bytes(b)) => {
                n.client_order_id = utf8.check(b, "LogNewOrder.client_order_id");
            }
            (4, Value::Varint(v)) => n.side = v as i32,
            (5, Value::Varint(v)) => n.order_type = v as i32,
            (6, Value::Varint(v)) => n.price = v as i64,
            (7, Value::Varint(v)) => n.qty = v as i64,
            (8, Value::Varint(v)) => n.stp = v as i32,
            _ => {}
        }
    }
    Ok(n)
}

/// A `LogNewOrder` as the log's writers lay it out: each field at most once, in field
/// order, with its own wire type (proto3 leaves out the defaults). Such bytes mean the
/// same to the general loop in `read_new`; reading them here only skips its dispatch,
/// which was most of a new order's cost. Anything else, a refusal included, is None: the
/// general loop reads it (and gives the refusal its words).
fn in_field_order(data: &[u8]) -> Option<Fields<'_>> {
    let mut f = Fields::default();
    let mut cursor = Cursor { data, at: 0 };
    let mut last = 0u8;
    while let Some(&tag) = data.get(cursor.at) {
        // Tags of fields 1 to 8 are one byte each; increasing means each at most once.
        if tag <= last {
            return None;
        }
        last = tag;
        cursor.at += 1;
        match tag {
            0x08 => f.new.order_id = cursor.varint().ok()?.0,
            0x12 => f.new.account = cursor.length_delimited().ok()?,
            0x1a => f.new.client_order_id = cursor.length_delimited().ok()?,
            0x20 => f.new.side = cursor.varint().ok()?.0 as i32,
            0x28 => f.new.order_type = cursor.varint().ok()?.0 as i32,
            0x30 => f.new.price = cursor.varint().ok()?.0 as i64,
            0x38 => f.new.qty = cursor.varint().ok()?.0 as i64,
            0x40 => f.new.stp = cursor.varint().ok()?.0 as i32,
            _ => return None,
        }
        f.present |= 1 << (tag >> 3);
    }
    Some(f)
}

/// The fields `in_field_order` read, and which of them the bytes held.
#[derive(Default)]
struct Fields<'a> {
    new: RawNew<'a>,
    present: u16,
}

impl<'a> Fields<'a> {
    /// What merging these fields into `base` gives: a field present replaces base's.
    fn merged_into(self, mut base: RawNew<'a>) -> RawNew<'a> {
        let (n, has) = (self.new, |field: u16| self.present & (1 << field) != 0);
        if has(1) {
            base.order_id = n.order_id;
        }
        if has(2) {
            base.account = n.account;
        }
        if has(3) {
            base.client_order_id = n.client_order_id;
        }
        if has(4) {
            base.side = n.side;
        }
        if has(5) {
            base.order_type = n.order_type;
        }
        if has(6) {
            base.price = n.price;
        }
        if has(7) {
            base.qty = n.qty;
        }
        if has(8) {
            base.stp = n.stp;
        }
        base
    }
}

fn read_cancel<'a>(
    data: &'a [u8],
    depth: i32,
    mut x: RawCancel<'a>,
    utf8: &mut Utf8,
) -> Result<RawCancel<'a>, Bad> {
    nested(depth)?;
    let mut cursor = Cursor { data, at: 0 };
    while let Some((number, value)) = cursor.field(depth)? {
        match (number, value) {
            (1, Value::Bytes(b)) => x.account = utf8.check(b, "LogCancel.account"),
            (2, Value::Varint(v)) => x.order_id = v,
            _ => {}
        }
    }
    Ok(x)
}

fn read_amend<'a>(
    data: &'a [u8],
    depth: i32,
    mut a: RawAmend<'a>,
    utf8: &mut Utf8,
) -> Result<RawAmend<'a>, Bad> {
    nested(depth)?;
    let mut cursor = Cursor { data, at: 0 };
    while let Some((number, value)) = cursor.field(depth)? {
        match (number, value) {
            (1, Value::Bytes(b)) => a.account = utf8.check(b, "LogAmend.account"),
            (2, Value::Varint(v)) => a.order_id = v,
            (3, Value::Varint(v)) => a.qty = v as i64,
            (4, Value::Varint(v)) => a.price = v as i64,
            _ => {}
        }
    }
    Ok(a)
}
