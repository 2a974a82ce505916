//! The shared vocabulary, mirroring `dome.core.types`, `dome.core.events` and
//! `dome.core.commands` value for value (the integers cross the wire and land in journals).

use std::sync::{Arc, LazyLock};

static EMPTY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

/// The empty string, shared: most client order ids are empty, and so is every reject's
/// of a cancel or amend.
pub fn empty_text() -> Arc<str> {
    EMPTY.clone()
}

/// Which side of the book an order rests on or takes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Buy = 1,
    Sell = 2,
}

impl Side {
    /// The side for a wire or Python value, if it names one.
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            1 => Some(Self::Buy),
            2 => Some(Self::Sell),
            _ => None,
        }
    }

    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

/// How an order meets the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderType {
    Limit = 1,
    Market = 2,
    Ioc = 3,
    Fok = 4,
    PostOnly = 5,
}

impl OrderType {
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            1 => Some(Self::Limit),
            2 => Some(Self::Market),
            3 => Some(Self::Ioc),
            4 => Some(Self::Fok),
            5 => Some(Self::PostOnly),
            _ => None,
        }
    }
}

/// What happens when an order would trade with a resting order of the same account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stp {
    CancelResting = 1,
    RejectIncoming = 2,
}

impl Stp {
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            1 => Some(Self::CancelResting),
            2 => Some(Self::RejectIncoming),
            _ => None,
        }
    }
}

/// Why an exchange rule refused a command (`dome.core.types.RejectReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    None = 0,
    UnknownSymbol = 1,
    InvalidSide = 2,
    InvalidOrderType = 3,
    PriceRequired = 4,
    PriceNotAllowed = 5,
    PriceOffTick = 6,
    PriceOutOfBand = 7,
    QtyNotPositive = 8,
    QtyOffLot = 9,
    QtyBelowMin = 10,
    QtyAboveMax = 11,
    UnknownOrder = 12,
    NotOrderOwner = 13,
    PostOnlyWouldTake = 14,
    FokNotFillable = 15,
    NoLiquidity = 16,
    SelfTrade = 17,
    AmendNoChange = 18,
    InvalidClientOrderId = 19,
    InvalidPrice = 20,
    InvalidQty = 21,
    InvalidStp = 22,
    OrderIdInUse = 23,
    TooLateToCancel = 24,
    ClientOrderIdReused = 25,
}

impl RejectReason {
    /// Every reason, indexed by its value.
    pub const ALL: [Self; 26] = [
        Self::None,
        Self::UnknownSymbol,
        Self::InvalidSide,
        Self::InvalidOrderType,
        Self::PriceRequired,
        Self::PriceNotAllowed,
        Self::PriceOffTick,
        Self::PriceOutOfBand,
        Self::QtyNotPositive,
        Self::QtyOffLot,
        Self::QtyBelowMin,
        Self::QtyAboveMax,
        Self::UnknownOrder,
        Self::NotOrderOwner,
        Self::PostOnlyWouldTake,
        Self::FokNotFillable,
        Self::NoLiquidity,
        Self::SelfTrade,
        Self::AmendNoChange,
        Self::InvalidClientOrderId,
        Self::InvalidPrice,
        Self::InvalidQty,
        Self::InvalidStp,
        Self::OrderIdInUse,
        Self::TooLateToCancel,
        Self::ClientOrderIdReused,
    ];

    pub fn from_value(value: i64) -> Option<Self> {
        usize::try_from(value)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }
}

/// Why an order's open quantity left the book or never reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    Requested = 1,
    Unfilled = 2,
    SelfTrade = 3,
}

impl CancelReason {
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            1 => Some(Self::Requested),
            2 => Some(Self::Unfilled),
            3 => Some(Self::SelfTrade),
            _ => None,
        }
    }
}

/// Trading rules of one symbol, in ticks and lots (`dome.core.instrument.Instrument`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    pub symbol: String,
    pub min_qty: i64,
    pub max_qty: i64,
    pub min_price: i64,
    pub max_price: i64,
}

impl Instrument {
    /// The Python defaults: every quantity and price from 1 to 2**62.
    pub fn new(symbol: &str) -> Self {
        Self {
            symbol: symbol.to_owned(),
            min_qty: 1,
            max_qty: 1 << 62,
            min_price: 1,
            max_price: 1 << 62,
        }
    }
}

/// A new order. Side, type and stp stay raw until validation, which rejects what they
/// do not name; price and quantity are i128 so that any Python int (saturated far beyond
/// every i64 bound) meets the same comparisons, hence the same reject, as in Python.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub seq: u64,
    pub order_id: u64,
    pub account: Arc<str>,
    pub client_order_id: Arc<str>,
    pub side: i64,
    pub order_type: i64,
    pub price: i128,
    pub qty: i128,
    pub stp: i64,
    /// False only for a Python subclass of `NewOrder`: the Python market dedups on
    /// `type(cmd) is NewOrder`, so a subclass is placed but never remembered.
    pub dedup: bool,
}

/// Cancel the open remainder of one of the account's orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelOrder {
    pub seq: u64,
    pub account: Arc<str>,
    pub order_id: u64,
}

/// Change an open order's price and/or open quantity (0 keeps either).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmendOrder {
    pub seq: u64,
    pub account: Arc<str>,
    pub order_id: u64,
    pub qty: i128,
    pub price: i128,
}

/// What the sequencer feeds a market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    New(NewOrder),
    Cancel(CancelOrder),
    Amend(AmendOrder),
}

impl Command {
    pub fn seq(&self) -> u64 {
        match self {
            Self::New(c) => c.seq,
            Self::Cancel(c) => c.seq,
            Self::Amend(c) => c.seq,
        }
    }
}

/// Everything a book says about what a command did, field for field as
/// `dome.core.events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Accepted {
        seq: u64,
        order_id: u64,
        account: Arc<str>,
        client_order_id: Arc<str>,
        side: Side,
        order_type: OrderType,
        price: i64,
        qty: i64,
    },
    Trade {
        seq: u64,
        trade_id: u64,
        price: i64,
        qty: i64,
        aggressor: Side,
        maker_order_id: u64,
        maker_account: Arc<str>,
        maker_remaining: i64,
        taker_order_id: u64,
        taker_account: Arc<str>,
        taker_remaining: i64,
    },
    Rested {
        seq: u64,
        order_id: u64,
        account: Arc<str>,
        side: Side,
        price: i64,
        remaining: i64,
    },
    Cancelled {
        seq: u64,
        order_id: u64,
        account: Arc<str>,
        side: Side,
        price: i64,
        cancelled_qty: i64,
        reason: CancelReason,
        was_resting: bool,
    },
    Amended {
        seq: u64,
        order_id: u64,
        account: Arc<str>,
        side: Side,
        old_price: i64,
        old_remaining: i64,
        new_price: i64,
        new_remaining: i64,
        priority_kept: bool,
    },
    Rejected {
        seq: u64,
        order_id: u64,
        account: Arc<str>,
        client_order_id: Arc<str>,
        reason: RejectReason,
    },
}

impl Event {
    /// The Python class name, as `type(event).__name__` says it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "OrderAccepted",
            Self::Trade { .. } => "Trade",
            Self::Rested { .. } => "OrderRested",
            Self::Cancelled { .. } => "OrderCancelled",
            Self::Amended { .. } => "OrderAmended",
            Self::Rejected { .. } => "OrderRejected",
        }
    }
}

/// A read-only view of an order on the book (`dome.core.book_api.RestingOrder`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    pub order_id: u64,
    pub account: Arc<str>,
    pub client_order_id: Arc<str>,
    pub side: Side,
    pub price: i64,
    pub qty: i64,
    pub remaining: i64,
    pub priority: u64,
    pub order_type: OrderType,
    pub stp: Stp,
}

/// One price level: total open lots and how many orders make it up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: i64,
    pub qty: i128,
    pub count: usize,
}
