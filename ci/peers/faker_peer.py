"""The original pipeline's generator, as a peer for benchmarks.

Python Faker, 8 fields, `csv.DictWriter`, customer_id = row number: exactly
what the original wrote into each 10,000-row file. Prints one JSON line per
mode with rows/s: `generate` (Faker calls only) and `generate+csv` (the
original's loop, writing the file).

usage: faker_peer.py ROWS OUT_DIR
"""
import csv
import json
import os
import sys
import time

from faker import Faker

from customer import FIELDS


def record(fake, i):
    return {
        "customer_id": i,
        "first_name": fake.first_name(),
        "last_name": fake.last_name(),
        "email": fake.email(),
        "street": fake.street_address(),
        "city": fake.city(),
        "state": fake.state(),
        "country": fake.country(),
    }


def generate(fake, rows):
    return [record(fake, i) for i in range(rows)]


def generate_csv(fake, rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for i in range(rows):
            writer.writerow(record(fake, i))


def report(mode, rows, seconds):
    print(json.dumps({"peer": "python-faker", "mode": mode, "rows": rows,
                      "seconds": round(seconds, 4),
                      "rows_per_sec": round(rows / seconds, 1)}))


def main():
    rows, out_dir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    fake = Faker()
    Faker.seed(0)
    start = time.perf_counter()
    generate(fake, rows)
    report("generate", rows, time.perf_counter() - start)
    start = time.perf_counter()
    generate_csv(fake, rows, os.path.join(out_dir, "customer_peer.csv"))
    report("generate+csv", rows, time.perf_counter() - start)


if __name__ == "__main__":
    main()
