"""More than one hub on one Redis: which hub runs which camera.

assignment.py   who should own each camera: rendezvous hashing capped by capacity (pure)
leases.py       the Redis keys: hub heartbeats, camera leases with fencing epochs
ownership.py    the loop each hub runs: heartbeat, take, renew, hand over, fence itself
"""
