"""Publishes messages N..M-1 as JSON to a durable direct exchange, through pika (RabbitMQ's
Python client), after declaring the durable queue rstash consumes and its binding, with headers
and properties. Usage: publish.py PORT FIRST END"""
import json
import sys

import pika

port, first, end = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
ch = conn.channel()
ch.exchange_declare("logs", exchange_type="direct", durable=True)
ch.queue_declare("rstash-in", durable=True)
ch.queue_bind("rstash-in", "logs", routing_key="app")
ch.confirm_delivery()
for i in range(first, end):
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        app_id="publisher",
        message_id=f"m{i}",
        timestamp=1700000000,
        headers={"source": "pika", "n": i},
    )
    ch.basic_publish("logs", "app", json.dumps({"seq": i, "message": f"line {i}"}), props)
conn.close()
print(f"published {end - first}")
