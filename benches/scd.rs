//! Merge throughput of `snowdrift-scd`: 100,000 changes (90 % updates of
//! existing customers, 10 % new ones) merged into targets of 1M and 10M
//! customers, SCD-1 and SCD-2. The merge cost should follow the batch, not
//! the target.
//!
//! Run: `cargo bench --bench scd`; compare with DuckDB on the same rows:
//! `ci/bench-scd` (see docs/benchmarks.md). Under `cargo test` (no
//! `--bench` argument) it runs once on small tables as a smoke test.
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use snowdrift::scd::{MergeContext, MergeStrategy, Scd1, Scd2, TableSpec, load_table, merge};
use snowdrift::workloads::{MERGED_AT, ScdWorkload};

fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn bench(c: &mut Criterion) {
    let (sizes, changes): (&[(usize, &str)], usize) = if full_run() {
        (&[(1_000_000, "1M"), (10_000_000, "10M")], 100_000)
    } else {
        (&[(20_000, "20k")], 2_000)
    };
    let spec = TableSpec::builder(
        "customer",
        snowdrift::faker::EntitySpec::customer().schema(),
    )
    .key(["customer_id"])
    .build()
    .expect("valid spec");
    let mut group = c.benchmark_group("scd");
    group.sample_size(10);
    group.throughput(Throughput::Elements(changes as u64));
    for &(keys, label) in sizes {
        let w = ScdWorkload::generate(keys, changes, 0.1, 7).expect("workload");
        let strategies: [(&str, &dyn MergeStrategy, _); 2] = [
            (
                "scd1",
                &Scd1::default(),
                w.scd1_target().expect("scd1 target"),
            ),
            (
                "scd2",
                &Scd2::default(),
                w.scd2_target().expect("scd2 target"),
            ),
        ];
        for (name, strategy, rows) in strategies {
            let table = load_table(strategy, &spec, rows).expect("load");
            group.bench_function(format!("{name}_{}k_into_{label}", changes / 1000), |b| {
                // The table is cloned before and dropped after each timed
                // merge, outside the measurement.
                b.iter_batched_ref(
                    || table.clone(),
                    |t| {
                        merge(
                            strategy,
                            &spec,
                            t,
                            &[&w.changes],
                            MergeContext::at(MERGED_AT),
                        )
                        .expect("merge")
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
