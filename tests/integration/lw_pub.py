#!/usr/bin/python3
"""Publish a plan of MQTT messages at QoS 1 and wait for every PUBACK.

A plan is a file of JSON lines: {"t": topic, "p": payload text} or
{"t": topic, "b64": payload bytes in base64}. The client uses a persistent
session (clean_session off), so messages in flight when the broker restarts
are resent after reconnection; it retries the connection until --timeout.

Usage: lw_pub.py --port P PLAN [--rate N/s] [--client-id ID] [--timeout S]
Prints "published=N acked=M" and exits 0 when every message was acknowledged.
"""
import argparse
import base64
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("plan")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, default=0, help="messages/s, 0 = fast")
    ap.add_argument("--client-id", default="lw-test-pub")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--max-inflight", type=int, default=100)
    a = ap.parse_args()

    msgs = []
    with open(a.plan) as f:
        for line in f:
            if not line.strip():
                continue
            m = json.loads(line)
            payload = base64.b64decode(m["b64"]) if "b64" in m else m["p"].encode()
            msgs.append((m["t"], payload))

    acked = [0]
    lock = threading.Lock()
    c = mqtt.Client(client_id=a.client_id, clean_session=False)
    c.max_inflight_messages_set(a.max_inflight)
    c.max_queued_messages_set(0)

    def on_publish(client, userdata, mid):
        with lock:
            acked[0] += 1

    c.on_publish = on_publish
    c.reconnect_delay_set(0.2, 1)
    deadline = time.time() + a.timeout
    while True:
        try:
            c.connect(a.host, a.port, keepalive=10)
            break
        except OSError:
            if time.time() > deadline:
                print("cannot connect", file=sys.stderr)
                return 1
            time.sleep(0.2)
    c.loop_start()
    mids = []
    start = time.time()
    for i, (topic, payload) in enumerate(msgs):
        info = c.publish(topic, payload, qos=1)
        mids.append(info.mid)
        if a.rate > 0:
            due = start + (i + 1) / a.rate
            d = due - time.time()
            if d > 0:
                time.sleep(d)
    while time.time() < deadline:
        with lock:
            if acked[0] >= len(mids):
                break
        time.sleep(0.05)
    c.disconnect()
    c.loop_stop()
    with lock:
        n = acked[0]
    print(f"published={len(mids)} acked={n}")
    return 0 if n == len(mids) else 1


if __name__ == "__main__":
    sys.exit(main())
