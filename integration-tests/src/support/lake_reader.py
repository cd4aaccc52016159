"""Independent reader of the data lake in MinIO/S3 for the stream_ingest tests.

Reads every file under s3://<bucket>/<prefix> with pyarrow (its own S3 client and parquet reader,
nothing of the project's code), and prints one JSON object: the files and, for each record, its
partition, offset and event_id. `delete` removes everything under the prefix instead.

Usage: python3 lake_reader.py read|delete <endpoint> <access key> <secret key> <bucket> <prefix>
(the secret is passed in the environment variable LAKE_READER_SECRET when <secret key> is "-").
"""

import csv
import io
import json
import os
import sys
from urllib.parse import urlparse

import pyarrow.fs as pafs
import pyarrow.parquet as pq


def main() -> None:
    action, endpoint, access_key, secret_key, bucket, prefix = sys.argv[1:7]
    if secret_key == "-":
        secret_key = os.environ["LAKE_READER_SECRET"]
    url = urlparse(endpoint)
    fs = pafs.S3FileSystem(
        access_key=access_key,
        secret_key=secret_key,
        endpoint_override=url.netloc,
        scheme=url.scheme,
        region="us-east-1",
    )
    root = f"{bucket}/{prefix.strip('/')}"
    infos = [i for i in fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True)) if i.is_file]
    if action == "delete":
        for info in infos:
            fs.delete_file(info.path)
        print(json.dumps({"deleted": len(infos)}))
        return
    files = []
    records = []
    for info in sorted(infos, key=lambda i: i.path):
        relative = info.path[len(root) + 1 :]
        files.append(relative)
        with fs.open_input_file(info.path) as handle:
            data = handle.read()
        if relative.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            schema = {field.name: str(field.type) for field in table.schema}
            for row in table.to_pylist():
                records.append([relative, row["_partition"], row["_offset"], row["event_id"]])
            files[-1] = relative + " " + json.dumps(schema, sort_keys=True)
        elif relative.endswith(".jsonl"):
            for line in data.decode("utf-8").splitlines():
                if line:
                    row = json.loads(line)
                    records.append([relative, row["_partition"], row["_offset"], row["event_id"]])
        elif relative.endswith(".csv"):
            for row in csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")):
                records.append([relative, int(row["_partition"]), int(row["_offset"]), row["event_id"]])
    print(json.dumps({"files": files, "records": records}))


main()
# pyarrow's S3 client (the AWS SDK) can abort the process while it is torn down at interpreter exit
# ("terminate called without an active exception", apache/arrow#36346, #39162), after the answer
# was printed; its finalizer can also deadlock (apache/arrow#50188). The answer is complete here,
# so the process ends without running that teardown.
sys.stdout.flush()
os._exit(0)
