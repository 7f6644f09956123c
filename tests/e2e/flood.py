# A LAN host flooding qnetd with connections that never send a message (run by tests/e2e.rs,
# inside a lab host, as `python3 -c <this file> ...`).
#
#   flood.py TARGET PORT SOURCES PER_SOURCE SECONDS
#
# Keeps up to PER_SOURCE connections open from each source address in SOURCES (comma
# separated) for SECONDS: opens them as fast as the kernel lets it, never writes a byte, and
# opens a new one for every connection the server closes (at most 2,000 new connections a
# second in all, so the flood cannot starve the machine's two cores). Ends by itself, closes
# everything and prints one line: `FLOOD attempts=N closed_by_server=N peak_open=N`.
import errno
import resource
import selectors
import socket
import sys
import time

target, port = sys.argv[1], int(sys.argv[2])
sources = sys.argv[3].split(",")
per_source, seconds = int(sys.argv[4]), float(sys.argv[5])

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

sel = selectors.DefaultSelector()
held = {s: 0 for s in sources}
attempts = closed = peak = 0
budget, budget_at = 0.0, time.monotonic()


def open_one(src):
    global attempts
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind((src, 0))
        s.connect((target, port))
    except BlockingIOError:
        pass
    except OSError as e:
        s.close()
        if e.errno in (errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL):
            return False
        return True
    attempts += 1
    held[src] += 1
    sel.register(s, selectors.EVENT_READ, src)
    return True


end = time.monotonic() + seconds
while time.monotonic() < end:
    now = time.monotonic()
    budget = min(2000.0, budget + (now - budget_at) * 2000.0)
    budget_at = now
    for src in sources:
        while held[src] < per_source and budget >= 1:
            budget -= 1
            if not open_one(src):
                break
    peak = max(peak, sum(held.values()))
    for key, _ in sel.select(timeout=0.05):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            held[key.data] -= 1
            closed += 1

print(f"FLOOD attempts={attempts} closed_by_server={closed} peak_open={peak}", flush=True)
