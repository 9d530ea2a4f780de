"""moto's server, with DynamoDB's writes to a table made one at a time.

moto serves each request on a thread of its own and its DynamoDB takes no lock, so two UpdateItem
ADDs on one counter sent together can both read the old value, or both answer with the item as
the later one left it: what real DynamoDB never does (its writes to an item are serialised, and
each answers with its own result). Hermes's counters, claims, leases and conditional writes rely
on that, and their tests send such writes together; here each write request, from reading its
input to writing its answer, goes through one lock.

Usage: python script/moto-serve.py -H 127.0.0.1 -p PORT (moto_server's own arguments).
"""
import functools
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_writes = threading.RLock()

for _name in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"):
    _original = getattr(DynamoHandler, _name)

    @functools.wraps(_original)
    def _one_at_a_time(self, *args, _original=_original, **kwargs):
        with _writes:
            return _original(self, *args, **kwargs)

    setattr(DynamoHandler, _name, _one_at_a_time)

if __name__ == "__main__":
    main(sys.argv[1:])
