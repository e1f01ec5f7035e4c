"""Declares a queue bound to the topic exchange `out` (key `ev.#`) — `declare` — or reads every
message in it, printing one JSON line per message with its routing key and properties — `read`.
Usage: consume.py PORT declare|read"""
import json
import sys

import pika

port, mode = int(sys.argv[1]), sys.argv[2]
conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
ch = conn.channel()
ch.exchange_declare("out", exchange_type="topic", durable=True)
ch.queue_declare("checker", durable=True)
ch.queue_bind("checker", "out", routing_key="ev.#")
if mode == "read":
    while True:
        method, props, body = ch.basic_get("checker", auto_ack=True)
        if method is None:
            break
        print(json.dumps({
            "key": method.routing_key,
            "delivery_mode": props.delivery_mode,
            "content_type": props.content_type,
            "body": json.loads(body),
        }))
conn.close()
