"""Produces {"n": i} for i in [first, last) to a topic with kafka-python (a real Kafka client)."""
import json
import sys

from kafka import KafkaProducer

port, topic, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = KafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", acks="all")
for i in range(first, last):
    p.send(topic, key=f"k{i}".encode(), value=json.dumps({"n": i}).encode(), headers=[("origin", b"python")])
p.flush(timeout=60)
print(f"produced {last - first}")
