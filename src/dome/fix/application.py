"""The QuickFIX side of the gateway: its callbacks, and FIX messages in and out.

QuickFIX calls ``GatewayApplication`` from its own threads, one per connection (the
threaded acceptor). Each call reads what it needs out of the message (the object only
lives for the call), hands a typed request to the account's ``Desk`` on the asyncio
loop, and waits until the desk is done. Holding the connection's thread until then is
deliberate: QuickFIX counts an incoming message as received only when the callback
returns, so a gateway that dies half way through a request has not counted it, and the
peer's resend (PossDupFlag) brings it back; the exchange's client-order-id dedupe makes
that safe. It also keeps each session's requests in order.

Two rules of the binding shape the code: a callback may only raise the FIX exceptions
QuickFIX knows (RejectLogon, FieldNotFound, IncorrectTagValue, UnsupportedMessageType,
DoNotSend); any other Python exception ends the process (SWIG calls ``Py_Exit``), so
every callback catches everything else and logs it. And ``Session.sendToTarget``
releases the GIL, so it may be called from the loop while QuickFIX threads wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import quickfix as fix
import quickfix44 as fix44

from dome.fix import requests as rq
from dome.fix import tags as t
from dome.fix.desk import Desk, Desks
from dome.fix.metrics import FixMetrics, msg_type_label
from dome.fix.orders import Fields, Group
from dome.fix.state import SentMark

log = logging.getLogger("dome.fix")

SOH = "\x01"
#: How long a Logon may wait for the account's desk (client connected, stream resumed).
LOGON_TIMEOUT_S = 20.0
#: How long a request may take on the loop before its thread stops waiting for it.
REQUEST_TIMEOUT_S = 60.0

#: The body tags read from each application message the gateway handles.
_WANTED: dict[str, tuple[int, ...]] = {
    t.NEW_ORDER_SINGLE: (
        t.ACCOUNT,
        t.CL_ORD_ID,
        t.EXEC_INST,
        t.ORDER_QTY,
        t.ORD_TYPE,
        t.PRICE,
        t.SIDE,
        t.SYMBOL,
        t.TIME_IN_FORCE,
    ),
    t.ORDER_CANCEL_REQUEST: (t.CL_ORD_ID, t.ORDER_ID, t.ORIG_CL_ORD_ID, t.SIDE, t.SYMBOL),
    t.ORDER_CANCEL_REPLACE_REQUEST: (
        t.CL_ORD_ID,
        t.EXEC_INST,
        t.ORDER_ID,
        t.ORDER_QTY,
        t.ORD_TYPE,
        t.ORIG_CL_ORD_ID,
        t.PRICE,
        t.SIDE,
        t.SYMBOL,
        t.TIME_IN_FORCE,
    ),
    t.ORDER_STATUS_REQUEST: (t.CL_ORD_ID, t.ORDER_ID, t.SIDE, t.SYMBOL),
    t.MARKET_DATA_REQUEST: (
        t.MD_REQ_ID,
        t.SUBSCRIPTION_REQUEST_TYPE,
        t.MARKET_DEPTH,
        t.MD_UPDATE_TYPE,
    ),
}

#: Repeating groups built with QuickFIX's own FIX 4.4 group classes (their field order).
_GROUPS: dict[tuple[str, int], Callable[[], Any]] = {
    (t.MARKET_DATA_SNAPSHOT, t.NO_MD_ENTRIES): fix44.MarketDataSnapshotFullRefresh.NoMDEntries,
    (t.MARKET_DATA_INCREMENTAL, t.NO_MD_ENTRIES): fix44.MarketDataIncrementalRefresh.NoMDEntries,
}


def read_incoming(message: Any) -> rq.Incoming:
    """The parts of a received QuickFIX message the gateway uses."""
    header = message.getHeader()
    msg_type = header.getField(t.MSG_TYPE)
    fields = {
        tag: message.getField(tag) for tag in _WANTED.get(msg_type, ()) if message.isSetField(tag)
    }
    heads = {
        tag: header.getField(tag)
        for tag in (t.POSS_DUP_FLAG, t.POSS_RESEND)
        if header.isSetField(tag)
    }
    groups: dict[int, list[dict[int, str]]] = {}
    if msg_type == t.MARKET_DATA_REQUEST:
        for count_tag, factory, inner in (
            (t.NO_MD_ENTRY_TYPES, fix44.MarketDataRequest.NoMDEntryTypes, (t.MD_ENTRY_TYPE,)),
            (t.NO_RELATED_SYM, fix44.MarketDataRequest.NoRelatedSym, (t.SYMBOL,)),
        ):
            entries = []
            count = int(message.getField(count_tag)) if message.isSetField(count_tag) else 0
            for i in range(1, count + 1):
                group = factory()
                message.getGroup(i, group)
                entries.append({tag: group.getField(tag) for tag in inner if group.isSetField(tag)})
            groups[count_tag] = entries
    seq = int(header.getField(t.MSG_SEQ_NUM)) if header.isSetField(t.MSG_SEQ_NUM) else 0
    return rq.Incoming(msg_type, seq, fields, heads, groups)


def build_message(msg_type: str, fields: Fields, groups: Sequence[Group] = ()) -> Any:
    """A QuickFIX FIX 4.4 message of ``fields`` (in order) and repeating ``groups``."""
    message = fix.Message()
    header = message.getHeader()
    header.setField(fix.BeginString(fix.BeginString_FIX44))
    header.setField(fix.MsgType(msg_type))
    for tag, value in fields:
        message.setField(tag, value)
    for count_tag, entries in groups:
        if not entries:
            message.setField(count_tag, "0")  # an empty group still says so (NoXXX=0)
            continue
        factory = _GROUPS[(msg_type, count_tag)]
        for entry in entries:
            group = factory()
            for tag, value in entry:
                group.setField(tag, value)
            message.addGroup(group)
    return message


def raw_fields(raw: str) -> dict[int, str]:
    """Top-level tag -> value of a raw FIX message (the first value of a repeated tag)."""
    out: dict[int, str] = {}
    for pair in raw.split(SOH):
        tag, _, value = pair.partition("=")
        if tag.isdigit():
            out.setdefault(int(tag), value)
    return out


def store_creation(store: Any) -> str:
    """A QuickFIX store's creation time as text (a sequence reset changes it)."""
    c = store.getCreationTime()
    return (
        f"{c.getYear():04d}{c.getMonth():02d}{c.getDay():02d}-"
        f"{c.getHour():02d}:{c.getMinute():02d}:{c.getSecond():02d}.{c.getMillisecond():03d}"
    )


def read_store(path: Path, session_id: Any, mark: SentMark | None) -> tuple[str, set[str]]:
    """A session's store creation time, and the ExecIDs it holds from ``mark`` on.

    Reads the files with a FileStore of its own, so only before the acceptor (whose
    FileStore writes them) exists.
    """
    store = fix.FileStore(fix.UtcTimeStamp.now(), str(path), session_id)
    created = store_creation(store)
    found: set[str] = set()
    if mark is None:
        return created, found
    begin = mark.next_seq if mark.store_created == created else 1
    end = int(store.getNextSenderMsgSeqNum()) - 1
    if end >= begin:
        stored = fix.VectorString()
        store.get(begin, end, stored)
        for raw in stored:
            fields = raw_fields(raw)
            if fields.get(t.MSG_TYPE) == t.EXECUTION_REPORT and t.EXEC_ID in fields:
                found.add(fields[t.EXEC_ID])
    return created, found


class SessionOutbox:
    """A desk's ``Outbox``: one QuickFIX session (stored even when not logged on)."""

    def __init__(self, session_id: Any, created: str, metrics: FixMetrics) -> None:
        self._session_id = session_id
        self._metrics = metrics
        # The store's birth at start-up; it changes only with a sequence reset, and a
        # mark with an older birth makes recovery read the whole (new) store.
        self._created = created

    def send(self, msg_type: str, fields: Fields, groups: Sequence[Group] = ()) -> None:
        message = build_message(msg_type, fields, groups)
        if msg_type == t.ORDER_CANCEL_REJECT:
            self._metrics.rejects.labels("cancel").inc()
        elif msg_type == t.MARKET_DATA_REQUEST_REJECT:
            self._metrics.rejects.labels("market_data").inc()
        elif msg_type == t.EXECUTION_REPORT and dict(fields).get(t.EXEC_TYPE) == "8":
            self._metrics.rejects.labels("order").inc()
        fix.Session.sendToTarget(message, self._session_id)

    def mark(self) -> SentMark:
        session = fix.Session.lookupSession(self._session_id)
        return SentMark(int(session.getExpectedSenderNum()), self._created)


class GatewayApplication(fix.Application):  # type: ignore[misc]
    """QuickFIX's application callbacks for every session of the gateway."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        desks: Desks,
        tokens: Mapping[str, str],
        metrics: FixMetrics,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._desks = desks
        self._tokens = dict(tokens)
        self._metrics = metrics
        #: Accounts logged on now (QuickFIX calls back from one thread per connection).
        self._logged_on: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        with _logged("onLogon"):
            account = session_id.getTargetCompID().getString()
            with self._lock:
                self._logged_on.add(account)
                self._metrics.sessions.set(len(self._logged_on))
            log.info("logon", extra={"account": account})

    def onLogout(self, session_id: Any) -> None:
        with _logged("onLogout"):
            account = session_id.getTargetCompID().getString()
            with self._lock:
                self._logged_on.discard(account)
                self._metrics.sessions.set(len(self._logged_on))
            desk = self._desks.get(account)
            if desk is not None:
                self._loop.call_soon_threadsafe(desk.end_market_data)
            log.info("logout", extra={"account": account})

    # ----------------------------------------------------------- messages out

    def toAdmin(self, message: Any, session_id: Any) -> None:
        with _logged("toAdmin"):
            msg_type = message.getHeader().getField(t.MSG_TYPE)
            self._metrics.messages.labels("out", msg_type_label(msg_type)).inc()
            if msg_type == t.SESSION_REJECT:
                self._metrics.rejects.labels("session").inc()

    def toApp(self, message: Any, session_id: Any) -> None:
        header = message.getHeader()
        msg_type = header.getField(t.MSG_TYPE)
        resent = header.isSetField(t.POSS_DUP_FLAG) and header.getField(t.POSS_DUP_FLAG) == "Y"
        if resent and msg_type in (t.MARKET_DATA_SNAPSHOT, t.MARKET_DATA_INCREMENTAL):
            raise fix.DoNotSend()  # stale market data: gap-filled instead of resent
        with _logged("toApp"):
            self._metrics.messages.labels("out", msg_type_label(msg_type)).inc()
            if msg_type == t.BUSINESS_MESSAGE_REJECT:
                self._metrics.rejects.labels("business").inc()

    # ------------------------------------------------------------ messages in

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        header = message.getHeader()
        msg_type = header.getField(t.MSG_TYPE)
        self._metrics.messages.labels("in", msg_type_label(msg_type)).inc()
        if msg_type != t.LOGON:
            return
        refusal = self._logon(message, session_id)
        if refusal is not None:
            self._metrics.logons.labels("refused").inc()
            log.warning(
                "logon refused",
                extra={"account": session_id.getTargetCompID().getString(), "reason": refusal},
            )
            raise fix.RejectLogon(refusal)
        self._metrics.logons.labels("accepted").inc()

    def _logon(self, message: Any, session_id: Any) -> str | None:
        """Why this Logon is refused, or None: Password (554) must be the account's token."""
        try:
            account = session_id.getTargetCompID().getString()
            token = self._tokens.get(account)
            username = message.getField(t.USERNAME) if message.isSetField(t.USERNAME) else ""
            password = message.getField(t.PASSWORD) if message.isSetField(t.PASSWORD) else ""
            if token is None:
                return f"no account {account} on this exchange"
            if username and username != account:
                return "Username (553) must be the SenderCompID's account"
            if not password:
                return "Password (554) is required: the account's token"
            if not hmac.compare_digest(password.encode(), token.encode()):
                return "invalid Password (554) for this account"
            future = asyncio.run_coroutine_threadsafe(self._desks.open(account), self._loop)
            future.result(LOGON_TIMEOUT_S)
        except FutureTimeout:
            return "exchange unavailable: try again"
        except Exception as exc:
            log.exception("logon failed", extra={"error": str(exc)})
            return f"exchange unavailable: {exc}"
        return None

    def fromApp(self, message: Any, session_id: Any) -> None:
        started = time.perf_counter()
        header = message.getHeader()
        msg_type = header.getField(t.MSG_TYPE)
        self._metrics.messages.labels("in", msg_type_label(msg_type)).inc()
        if msg_type not in _WANTED:
            raise fix.UnsupportedMessageType()
        account = session_id.getTargetCompID().getString()
        desk = self._desks.get(account)
        try:
            incoming = read_incoming(message)
            if desk is None:
                raise RuntimeError(f"no desk for {account} (not logged on?)")
            self._dispatch(desk, incoming)
        except rq.SessionReject as exc:
            self._session_reject(session_id, msg_type, int(header.getField(t.MSG_SEQ_NUM)), exc)
        except Exception as exc:
            log.exception(
                "request failed",
                extra={"account": account, "msg_type": msg_type, "error": str(exc)},
            )
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.request_seconds.labels(msg_type_label(msg_type)).observe(elapsed)

    def _dispatch(self, desk: Desk, incoming: rq.Incoming) -> None:
        msg_type = incoming.msg_type
        specs = desk.specs
        work: Coroutine[Any, Any, None]
        if msg_type == t.NEW_ORDER_SINGLE:
            work = desk.new_order(rq.new_order(incoming, specs, desk.account))
        elif msg_type == t.ORDER_CANCEL_REQUEST:
            work = desk.cancel(rq.cancel(incoming))
        elif msg_type == t.ORDER_CANCEL_REPLACE_REQUEST:
            work = desk.replace(rq.replace(incoming, specs))
        elif msg_type == t.ORDER_STATUS_REQUEST:
            work = desk.order_status(
                incoming.get(t.CL_ORD_ID), incoming.get(t.SYMBOL), incoming.get(t.SIDE)
            )
        else:
            work = desk.market_data(rq.market_data(incoming, specs))
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            future.result(REQUEST_TIMEOUT_S)
        except FutureTimeout:
            log.error(
                "request still running after its timeout; reading on",
                extra={"account": desk.account, "msg_type": msg_type},
            )

    def _session_reject(
        self, session_id: Any, msg_type: str, seq_num: int, exc: rq.SessionReject
    ) -> None:
        fields: Fields = [
            (t.REF_SEQ_NUM, str(seq_num)),
            (t.REF_TAG_ID, str(exc.tag)),
            (t.REF_MSG_TYPE, msg_type),
            (t.SESSION_REJECT_REASON, str(exc.reason)),
            (t.TEXT, exc.text),
        ]
        fix.Session.sendToTarget(build_message(t.SESSION_REJECT, fields), session_id)


@contextlib.contextmanager
def _logged(where: str) -> Any:
    """Log (never raise) what goes wrong in a callback: a raise would end the process."""
    try:
        yield
    except Exception as exc:
        log.exception("callback failed", extra={"callback": where, "error": str(exc)})
