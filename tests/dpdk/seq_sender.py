#!/usr/bin/env python3
# The frame source of the namespace PMD proofs (pmd-tap.sh, pmd-af_packet.sh), run inside the
# test's own network namespace: a raw AF_PACKET socket on <iface> sends 128-byte frames to
# 02:00:00:00:00:02, ethertype 0x88b5, each a sequence number and a pattern derived from it
# (what pmd_reader --expect=seq checks). It starts once the reader has written port_started to
# <status> (and, with --wait-up, once <iface> is up), and sends at most 4 M frames or 50 s,
# stopping when the reader writes phases_done or is gone. A refused send (ENOBUFS: the queue is
# full) is tried again with the same number. Prints "sent N refused M".
#   seq_sender.py <iface> <status file> <reader pid> [--wait-up]
import os
import socket
import struct
import sys
import time

iface, status, rpid = sys.argv[1], sys.argv[2], int(sys.argv[3])
wait_up = "--wait-up" in sys.argv[4:]


def done():
    try:
        return "phases_done" in open(status).read()
    except OSError:
        return False


def alive():
    try:
        os.kill(rpid, 0)
        return True
    except OSError:
        return False


def ready():
    if wait_up and open("/sys/class/net/%s/operstate" % iface).read().strip() not in ("up", "unknown"):
        return False
    return "port_started" in open(status).read()


t0 = time.time()
while time.time() - t0 < 20:
    try:
        if ready():
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    print("sent 0 (%s)" % ("the interface never came up or the reader's port never started"
                           if wait_up else "the reader's port never started"))
    sys.exit(1)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
head = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5"
pattern = bytes(range(256)) * 2
n, refused, end = 0, 0, time.time() + 50
while n < 4_000_000 and time.time() < end:
    if n % 4096 == 0 and (done() or not alive()):
        break
    off = (n + 22) & 0xff
    frame = head + struct.pack("!Q", n) + pattern[off:off + 106]
    try:
        s.send(frame)
        n += 1
    except OSError:  # ENOBUFS: try the same number again
        refused += 1
        time.sleep(0.0005)
print("sent %d refused %d" % (n, refused))
