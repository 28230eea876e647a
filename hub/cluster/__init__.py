"""More than one hub on one Redis: which hub runs which camera, and what moves with it.

assignment.py   who should own each camera: rendezvous hashing capped by capacity (pure)
leases.py       the Redis keys: hub heartbeats, camera leases with fencing epochs
ownership.py    the loop each hub runs: heartbeat, take, renew, hand over, fence itself
fence.py        where tickets are written: a new incident from a stale owner is refused
health.py       each hub's cameras' health in Redis: one wall from any hub
incidents.py    open incidents in Redis: a camera's new hub continues them
member.py       one hub's part, wired to its ingest and its incident policy
"""
