"""kill -9 in the middle of appending loses nothing ``append`` had returned for.

A child process appends batches as fast as it can and reports each seq after ``append``
returns, through a pipe. The test SIGKILLs it mid-stream, then reopens the journal:
every reported batch must be there, in order, and the journal must be valid (at most a
torn tail, never corruption).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dome.log.journal import Journal

DEADLINE = 60.0
CHILD = """
import sys
from dome.core.commands import CancelOrder
from dome.log.entries import decode_batch, encode_batch
from dome.log.journal import FsyncPolicy, Journal

journal = Journal.open(sys.argv[1], FsyncPolicy.NONE, segment_bytes=64 * 1024)
seq = 1
while True:
    cmds = [CancelOrder(seq + i, seq, "acct", seq + i) for i in range(1 + seq % 7)]
    data = encode_batch("KILL", 1, cmds, seq - 1)
    journal.append(data, decode_batch(data))
    sys.stdout.write(f"{cmds[-1].seq}\\n")
    sys.stdout.flush()
    seq = cmds[-1].seq + 1
"""


def test_sigkill_loses_nothing_append_returned_for(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, bufsize=0
    )
    assert child.stdout is not None
    reported = 0
    deadline = time.monotonic() + DEADLINE
    buffer = b""
    # let it roll a few segments first, then kill it wherever it is
    while reported < 20_000:
        assert time.monotonic() < deadline, f"child reported only up to seq {reported}"
        chunk = os.read(child.stdout.fileno(), 65536)
        assert chunk, f"child exited early with {child.poll()}"
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if lines:
            reported = int(lines[-1])
    os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate(timeout=DEADLINE)
    lines = (buffer + rest).split(b"\n")
    reported = max([reported, *(int(x) for x in lines if x)])
    assert child.returncode == -signal.SIGKILL

    journal = Journal.open(tmp_path)
    assert journal.damage is None or journal.damage.torn
    assert journal.last_seq >= reported
    assert len(list(tmp_path.glob("journal-*.log"))) > 1
    expected = 1
    for batch in journal.batches():
        assert batch.first_seq == expected
        assert [c.seq for c in batch.commands] == list(range(batch.first_seq, batch.last_seq + 1))
        expected = batch.last_seq + 1
    assert expected - 1 == journal.last_seq
