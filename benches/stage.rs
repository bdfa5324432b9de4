//! CSV staging throughput of `snowdrift-stage`: encoding customers (the original generator's 8
//! columns) to CSV in memory, and encoding + writing them through a `StageSink` into a local
//! folder, in rows/s and bytes/s.
//!
//! Run: `cargo bench --bench stage`; compare with Python's csv module and Polars on the same
//! rows: `ci/bench-stage` (see docs/benchmarks.md). Under `cargo test` (no `--bench` argument)
//! it runs once on 10,000 rows as a smoke test.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use snowdrift::faker::{ChangeStream, EntitySpec};
use snowdrift::stage::{CsvEncoder, CsvFormat, RollPolicy, StageLocation, StageSink};

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn bench(c: &mut Criterion) {
    let rows = if full_run() { 1_000_000 } else { 10_000 };
    let per_batch = rows.min(100_000);
    let batches: Vec<_> = ChangeStream::builder(EntitySpec::customer())
        .seed(42)
        .classic(per_batch)
        .build()
        .expect("classic stream")
        .take(rows / per_batch)
        .map(|b| b.batch)
        .collect();
    let encoder = CsvEncoder::new(batches[0].schema(), CsvFormat::new()).expect("encoder");
    let bytes: usize = batches
        .iter()
        .map(|b| encoder.encode(b).expect("encode").bytes.len())
        .sum();

    let mut group = c.benchmark_group("stage");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function(format!("encode_{}k_rows", rows / 1000), |b| {
        b.iter(|| {
            batches
                .iter()
                .map(|batch| encoder.encode(batch).expect("encode").bytes.len())
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let folder = tempfile::tempdir().expect("temp dir");
    group.bench_function(format!("sink_{}k_rows_to_local_folder", rows / 1000), |b| {
        b.to_async(&runtime).iter(|| async {
            let target = folder.path().join("staged");
            let _ = std::fs::remove_dir_all(&target);
            let location =
                StageLocation::parse(target.to_str().expect("utf-8 path")).expect("stage");
            let roll = RollPolicy {
                max_rows: usize::MAX,
                ..RollPolicy::default()
            };
            let sink = StageSink::builder(location, batches[0].schema())
                .roll(roll)
                .build()
                .expect("sink");
            for batch in &batches {
                sink.write(batch).await.expect("write");
            }
            sink.close().await.expect("close")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
