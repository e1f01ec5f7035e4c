"""The other side of the s3 tests, with boto3 (the AWS SDK for Python) against moto's server.

usage: s3.py PORT mkbucket BUCKET
       s3.py PORT put BUCKET KEY FILE [--gzip]
       s3.py PORT ls BUCKET              -> JSON: [{key, size, etag, storage_class, content_encoding}]
       s3.py PORT cat BUCKET KEY         -> the object's bytes (gunzipped when stored gzip-encoded)
"""
import gzip
import json
import sys

import boto3

port, cmd, *args = sys.argv[1:]
s3 = boto3.client(
    "s3",
    endpoint_url=f"http://127.0.0.1:{port}",
    aws_access_key_id="AKIDRSTASH",
    aws_secret_access_key="rstash-secret",
    region_name="us-east-1",
)
if cmd == "mkbucket":
    s3.create_bucket(Bucket=args[0])
elif cmd == "put":
    bucket, key, path = args[:3]
    body = open(path, "rb").read()
    if "--gzip" in args:
        body = gzip.compress(body)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
elif cmd == "ls":
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args[0]):
        for o in page.get("Contents", []):
            head = s3.head_object(Bucket=args[0], Key=o["Key"])
            out.append({
                "key": o["Key"],
                "size": o["Size"],
                "etag": o["ETag"],
                "storage_class": head.get("StorageClass", "STANDARD"),
                "content_encoding": head.get("ContentEncoding"),
            })
    print(json.dumps(out))
elif cmd == "cat":
    obj = s3.get_object(Bucket=args[0], Key=args[1])
    body = obj["Body"].read()
    if obj.get("ContentEncoding") == "gzip":
        body = gzip.decompress(body)
    sys.stdout.buffer.write(body)
else:
    sys.exit(f"unknown command {cmd}")
