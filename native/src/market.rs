//! One symbol's replicated state machine beside its book: the idempotency window
//! (`dome.core.market.Market`).
//!
//! A retry of a remembered (account, client order id) pair returns the original events and
//! changes nothing. The window is a FIFO: the oldest pair is forgotten first, in sequence
//! order, so every replica forgets the same pair at the same sequence.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::book::{Book, BookState};
use crate::hash::hash_market;
use crate::types::{Command, Event};
use crate::validate::client_order_id_ok;

/// How many (account, client order id) pairs a market remembers by default.
pub const DEFAULT_DEDUP_WINDOW: usize = 100_000;

/// (account, client order id).
pub type Key = (Arc<str>, Arc<str>);

/// Where one command's events are: a range of the batch's event buffer, or (for a
/// duplicate) the remembered original's.
#[derive(Clone, Debug)]
pub enum Events {
    Range(usize, usize),
    Shared(Arc<[Event]>),
}

/// What one command did to the market (`dome.core.market.MarketResult`).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub events: Events,
    pub duplicate: bool,
}

impl Outcome {
    /// The command's events, given the buffer they were applied into.
    pub fn events<'a>(&'a self, buffer: &'a [Event]) -> &'a [Event] {
        match &self.events {
            Events::Range(start, end) => buffer.get(*start..*end).unwrap_or(&[]),
            Events::Shared(events) => events,
        }
    }
}

/// A market's whole replicated state as plain data (`dome.core.market.MarketSnapshot`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketSnapshot {
    pub book: BookState,
    pub last_seq: u64,
    pub seen: Vec<(Arc<str>, Arc<str>, Vec<Event>)>,
}

/// The remembered pairs, oldest first. Keys are user-chosen strings, so the map keeps
/// std's randomly keyed SipHash.
#[derive(Clone, Debug, Default)]
struct Window {
    order: VecDeque<Key>,
    map: HashMap<Key, Arc<[Event]>>,
}

/// The market state that is not the book: the window and the last sequence number.
#[derive(Clone, Debug)]
pub struct Market {
    /// How many pairs to remember; the Python attribute may be changed at any time, and,
    /// as there, a smaller value forgets one extra pair per new pair.
    pub dedup_window: usize,
    window: Window,
    last_seq: u64,
}

impl Market {
    pub fn new(dedup_window: usize) -> Self {
        Self {
            dedup_window,
            window: Window::default(),
            last_seq: 0,
        }
    }

    /// Sequence number of the last command applied, duplicates included.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Apply `cmd` to `book`, appending its events to `buffer`; a repeated client order
    /// id returns the original events instead and leaves `book` alone.
    pub fn apply(&mut self, book: &mut Book, cmd: &Command, buffer: &mut Vec<Event>) -> Outcome {
        self.last_seq = cmd.seq();
        let start = buffer.len();
        let new = match cmd {
            Command::New(new) if new.dedup && !new.client_order_id.is_empty() => new,
            _ => {
                book.apply(cmd, buffer);
                return Outcome {
                    events: Events::Range(start, buffer.len()),
                    duplicate: false,
                };
            }
        };
        let key: Key = (new.account.clone(), new.client_order_id.clone());
        if let Some(original) = self.window.map.get(&key) {
            return Outcome {
                events: Events::Shared(original.clone()),
                duplicate: true,
            };
        }
        book.place(new, buffer);
        // An invalid id names no order, and remembering it would let junk fill the window.
        if self.dedup_window > 0 && client_order_id_ok(&new.client_order_id) {
            let events: Arc<[Event]> = Arc::from(&buffer[start..]);
            self.window.order.push_back(key.clone());
            self.window.map.insert(key, events);
            if self.window.order.len() > self.dedup_window {
                if let Some(oldest) = self.window.order.pop_front() {
                    self.window.map.remove(&oldest);
                }
            }
        }
        Outcome {
            events: Events::Range(start, buffer.len()),
            duplicate: false,
        }
    }

    /// Whether a new order with this client order id would be answered as a duplicate.
    pub fn is_known(&self, account: &str, client_order_id: &str) -> bool {
        self.window
            .map
            .contains_key(&(Arc::from(account), Arc::from(client_order_id)))
    }

    /// How many client order ids the window holds now.
    pub fn remembered(&self) -> usize {
        self.window.order.len()
    }

    /// The window, oldest first.
    pub fn seen(&self) -> impl Iterator<Item = (&Key, &[Event])> {
        self.window.order.iter().map(|key| {
            (
                key,
                self.window
                    .map
                    .get(key)
                    .map_or(&[][..], |events| &events[..]),
            )
        })
    }

    /// Book, last sequence and window as plain data.
    pub fn snapshot(&self, book: &Book) -> MarketSnapshot {
        MarketSnapshot {
            book: book.snapshot(),
            last_seq: self.last_seq,
            seen: self
                .seen()
                .map(|((account, cid), events)| (account.clone(), cid.clone(), events.to_vec()))
                .collect(),
        }
    }

    /// Replace book, last sequence and window with `snapshot`'s; nothing changes when the
    /// book part is refused. A window larger than `dedup_window` keeps its newest pairs;
    /// a pair listed twice keeps its first place and its last events (as a Python dict).
    pub fn restore(&mut self, book: &mut Book, snapshot: &MarketSnapshot) -> Result<(), String> {
        book.restore(&snapshot.book)?;
        let mut window = Window::default();
        for (account, cid, events) in &snapshot.seen {
            let key: Key = (account.clone(), cid.clone());
            if window
                .map
                .insert(key.clone(), Arc::from(&events[..]))
                .is_none()
            {
                window.order.push_back(key);
            }
        }
        while window.order.len() > self.dedup_window {
            if let Some(oldest) = window.order.pop_front() {
                window.map.remove(&oldest);
            }
        }
        self.window = window;
        self.last_seq = snapshot.last_seq;
        Ok(())
    }

    /// Digest of the book's hash, the last sequence and the window, in order.
    pub fn state_hash(&self, book: &Book) -> String {
        let mut hasher = hash_market(&book.state_hash(), self.last_seq);
        for ((account, cid), events) in self.seen() {
            hasher.remembered(account, cid, events);
        }
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Instrument, NewOrder, OrderType, Side, Stp};

    fn instrument() -> Instrument {
        Instrument {
            symbol: "XYZ".into(),
            min_qty: 2,
            max_qty: 1_000,
            min_price: 10,
            max_price: 1_000,
        }
    }

    fn new(seq: u64, account: &str, cid: &str, side: Side, qty: i128) -> Command {
        Command::New(NewOrder {
            seq,
            order_id: seq,
            account: Arc::from(account),
            client_order_id: Arc::from(cid),
            side: side as i64,
            order_type: OrderType::Limit as i64,
            price: 100,
            qty,
            stp: Stp::CancelResting as i64,
            dedup: true,
        })
    }

    #[test]
    fn state_hash_is_the_canonical_form() {
        // The Python market hashed with the canonical form on the same commands.
        let mut book = Book::new(instrument());
        let mut market = Market::new(DEFAULT_DEDUP_WINDOW);
        let mut buffer = Vec::new();
        for cmd in [
            new(1, "alice", "c-1", Side::Buy, 5),
            new(2, "bob", "x", Side::Sell, 7),
            new(3, "bob", "y", Side::Sell, 0),
            new(4, "bob", "x", Side::Sell, 7),
        ] {
            market.apply(&mut book, &cmd, &mut buffer);
        }
        assert_eq!(
            market.state_hash(&book),
            "3dc12d15ac5538e5d0e3e7eb552df7cc691b57be66911bad38b83048f69d3a6a"
        );
    }

    #[test]
    fn a_repeat_returns_the_original_and_changes_nothing() {
        let mut book = Book::new(instrument());
        let mut market = Market::new(10);
        let mut buffer = Vec::new();
        let first = market.apply(&mut book, &new(1, "a", "c", Side::Buy, 5), &mut buffer);
        let book_hash = book.state_hash();
        let again = market.apply(&mut book, &new(2, "a", "c", Side::Buy, 9), &mut buffer);
        assert!(again.duplicate && !first.duplicate);
        assert_eq!(first.events(&buffer), again.events(&buffer));
        assert_eq!(book.state_hash(), book_hash);
        assert_eq!((market.last_seq(), book.last_seq()), (2, 1));
    }

    #[test]
    fn the_window_forgets_oldest_first_and_skips_invalid_ids() {
        let mut book = Book::new(instrument());
        let mut market = Market::new(2);
        let mut buffer = Vec::new();
        for (seq, cid) in [(1, "a"), (2, "b"), (3, "c"), (4, "bad id\n")] {
            market.apply(&mut book, &new(seq, "x", cid, Side::Buy, 5), &mut buffer);
        }
        assert_eq!(market.remembered(), 2);
        assert!(!market.is_known("x", "a"));
        assert!(market.is_known("x", "b") && market.is_known("x", "c"));
        assert!(!market.is_known("x", "bad id\n"));
    }

    #[test]
    fn restore_keeps_the_newest_pairs_and_round_trips() {
        let mut book = Book::new(instrument());
        let mut market = Market::new(10);
        let mut buffer = Vec::new();
        for seq in 1..=5 {
            market.apply(
                &mut book,
                &new(seq, "x", &format!("c{seq}"), Side::Buy, 5),
                &mut buffer,
            );
        }
        let snapshot = market.snapshot(&book);
        let (mut copy_book, mut copy) = (Book::new(instrument()), Market::new(10));
        copy.restore(&mut copy_book, &snapshot).unwrap();
        assert_eq!(copy.state_hash(&copy_book), market.state_hash(&book));
        let (mut small_book, mut small) = (Book::new(instrument()), Market::new(2));
        small.restore(&mut small_book, &snapshot).unwrap();
        let known: Vec<bool> = (1..=5)
            .map(|n| small.is_known("x", &format!("c{n}")))
            .collect();
        assert_eq!(known, [false, false, false, true, true]);
    }
}
