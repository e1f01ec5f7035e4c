"""Reads a topic from the beginning with kafka-python on assigned partitions (no group join) and
prints how many messages arrived and whether each key matched its JSON `n`."""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition

port, topic, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", enable_auto_commit=False)
deadline = time.time() + 60
parts = None
while not parts and time.time() < deadline:
    parts = c.partitions_for_topic(topic)
    time.sleep(0.2)
c.assign([TopicPartition(topic, p) for p in parts or []])
c.seek_to_beginning()
seen, keys_ok = set(), True
while len(seen) < want and time.time() < deadline:
    for records in c.poll(timeout_ms=500).values():
        for r in records:
            doc = json.loads(r.value)
            seen.add(doc["n"])
            keys_ok &= r.key == str(doc["n"]).encode()
print(f"consumed {len(seen)} keys_ok={keys_ok}")
