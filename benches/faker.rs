//! Generation throughput of `snowdrift-faker`, in rows per second.
//!
//! Run: `cargo bench --bench faker`; compare with the original Python
//! generator: `ci/bench-faker` (see docs/benchmarks.md).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use snowdrift::faker::{ChangeStream, EntitySpec};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("faker");
    group.sample_size(10);
    let rows = 100_000;
    group.throughput(Throughput::Elements(rows as u64));
    for (name, parallel) in [("classic_1_thread", false), ("classic_parallel", true)] {
        let mut stream = ChangeStream::builder(EntitySpec::customer())
            .seed(1)
            .classic(rows)
            .parallel(parallel)
            .build()
            .expect("valid options");
        group.bench_function(name, |b| b.iter(|| stream.next_batch()));
    }
    for (name, parallel) in [("changes_1_thread", false), ("changes_parallel", true)] {
        let mut stream = ChangeStream::builder(EntitySpec::customer())
            .seed(1)
            .batch_size(rows)
            .initial_population(rows)
            .late_rate(0.01)
            .parallel(parallel)
            .build()
            .expect("valid options");
        stream.next_batch();
        group.bench_function(name, |b| b.iter(|| stream.next_batch()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
