"""FIX 4.4 tag numbers and enumerated values the gateway reads or writes, by name.

Only what the gateway uses; the names are the FIX specification's. Kept apart from the
QuickFIX binding so the pure modules (``requests``, ``orders``, ``market_data``) need no
native library and can be tested alone.
"""

from __future__ import annotations

# -- header -----------------------------------------------------------------------------
BEGIN_STRING = 8
MSG_TYPE = 35
MSG_SEQ_NUM = 34
SENDER_COMP_ID = 49
TARGET_COMP_ID = 56
POSS_DUP_FLAG = 43
POSS_RESEND = 97

# -- logon ------------------------------------------------------------------------------
USERNAME = 553
PASSWORD = 554

# -- orders -----------------------------------------------------------------------------
ACCOUNT = 1
AVG_PX = 6
CL_ORD_ID = 11
CUM_QTY = 14
EXEC_ID = 17
EXEC_INST = 18
LAST_PX = 31
LAST_QTY = 32
ORDER_ID = 37
ORDER_QTY = 38
ORD_STATUS = 39
ORD_TYPE = 40
ORIG_CL_ORD_ID = 41
PRICE = 44
SIDE = 54
SYMBOL = 55
TEXT = 58
TIME_IN_FORCE = 59
TRANSACT_TIME = 60
CXL_REJ_REASON = 102
ORD_REJ_REASON = 103
EXEC_TYPE = 150
LEAVES_QTY = 151
CXL_REJ_RESPONSE_TO = 434
LAST_LIQUIDITY_IND = 851

# -- session and business rejects -----------------------------------------------------
REF_SEQ_NUM = 45
REF_TAG_ID = 371
REF_MSG_TYPE = 372
SESSION_REJECT_REASON = 373
BUSINESS_REJECT_REASON = 380
BUSINESS_REJECT_REF_ID = 379

# -- market data ------------------------------------------------------------------------
MD_REQ_ID = 262
SUBSCRIPTION_REQUEST_TYPE = 263
MARKET_DEPTH = 264
MD_UPDATE_TYPE = 265
NO_MD_ENTRY_TYPES = 267
NO_MD_ENTRIES = 268
MD_ENTRY_TYPE = 269
MD_ENTRY_PX = 270
MD_ENTRY_SIZE = 271
MD_ENTRY_ID = 278
MD_UPDATE_ACTION = 279
MD_REQ_REJ_REASON = 281
NUMBER_OF_ORDERS = 346
NO_RELATED_SYM = 146

# -- message types ----------------------------------------------------------------------
NEW_ORDER_SINGLE = "D"
ORDER_CANCEL_REQUEST = "F"
ORDER_CANCEL_REPLACE_REQUEST = "G"
ORDER_STATUS_REQUEST = "H"
EXECUTION_REPORT = "8"
ORDER_CANCEL_REJECT = "9"
BUSINESS_MESSAGE_REJECT = "j"
SESSION_REJECT = "3"
LOGON = "A"
MARKET_DATA_REQUEST = "V"
MARKET_DATA_SNAPSHOT = "W"
MARKET_DATA_INCREMENTAL = "X"
MARKET_DATA_REQUEST_REJECT = "Y"

# -- values -----------------------------------------------------------------------------
SIDE_BUY = "1"
SIDE_SELL = "2"
ORD_TYPE_MARKET = "1"
ORD_TYPE_LIMIT = "2"
TIF_DAY = "0"
TIF_GTC = "1"
TIF_IOC = "3"
TIF_FOK = "4"
#: ExecInst "participate, do not initiate": post-only.
EXEC_INST_POST_ONLY = "6"

EXEC_TYPE_NEW = "0"
EXEC_TYPE_CANCELED = "4"
EXEC_TYPE_REPLACED = "5"
EXEC_TYPE_REJECTED = "8"
EXEC_TYPE_RESTATED = "D"
EXEC_TYPE_TRADE = "F"
EXEC_TYPE_ORDER_STATUS = "I"

ORD_STATUS_NEW = "0"
ORD_STATUS_PARTIALLY_FILLED = "1"
ORD_STATUS_FILLED = "2"
ORD_STATUS_CANCELED = "4"
ORD_STATUS_REJECTED = "8"

# OrdRejReason (103)
ORD_REJ_UNKNOWN_SYMBOL = 1
ORD_REJ_EXCHANGE_CLOSED = 2
ORD_REJ_UNKNOWN_ORDER = 5
ORD_REJ_DUPLICATE_ORDER = 6
ORD_REJ_UNSUPPORTED_CHARACTERISTIC = 11
ORD_REJ_INCORRECT_QUANTITY = 13
ORD_REJ_UNKNOWN_ACCOUNT = 15
ORD_REJ_OTHER = 99

# CxlRejReason (102)
CXL_REJ_TOO_LATE = 0
CXL_REJ_UNKNOWN_ORDER = 1
CXL_REJ_PENDING = 3
CXL_REJ_DUPLICATE_CL_ORD_ID = 6
CXL_REJ_OTHER = 99

# CxlRejResponseTo (434)
RESPONSE_TO_CANCEL = "1"
RESPONSE_TO_REPLACE = "2"

# SessionRejectReason (373)
SESSION_REJ_REQUIRED_TAG_MISSING = 1
SESSION_REJ_VALUE_INCORRECT = 5
SESSION_REJ_INCORRECT_FORMAT = 6

# MDEntryType (269), MDUpdateAction (279), MDReqRejReason (281)
MD_BID = "0"
MD_OFFER = "1"
MD_TRADE = "2"
MD_NEW = "0"
MD_CHANGE = "1"
MD_DELETE = "2"
MD_REJ_UNKNOWN_SYMBOL = "0"
MD_REJ_DUPLICATE_ID = "1"
MD_REJ_UNSUPPORTED_SUBSCRIPTION = "4"
MD_REJ_UNSUPPORTED_DEPTH = "5"
MD_REJ_UNSUPPORTED_UPDATE_TYPE = "6"
MD_REJ_UNSUPPORTED_ENTRY_TYPE = "8"
SUBSCRIBE_SNAPSHOT = "0"
SUBSCRIBE_UPDATES = "1"
SUBSCRIBE_DISABLE = "2"
MD_FULL_REFRESH = "0"
MD_INCREMENTAL = "1"
