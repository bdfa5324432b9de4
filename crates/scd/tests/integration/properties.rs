//! Property tests: on random change streams (duplicate keys, NULLs, deletes,
//! comebacks, clock ties, out-of-order sequences), the engine agrees with a
//! plain row-by-row reference model, and every history it writes passes the
//! invariant checker after every merge.

use crate::common;

use std::collections::BTreeMap;

use common::{Row, changes, spec, table_rows};
use proptest::prelude::*;
use snowdrift_scd::MergeStrategy as _;
use snowdrift_scd::{
    MergeContext, OPEN_END_MICROS, Scd1, Scd2, ValidityColumns, check_history, merge, net_changes,
};

type Values = (Option<String>, Option<String>);
type Text = Vec<Option<String>>;

/// The reference: rows applied one at a time in `(sequence, load order)`
/// order, a row older than its key's last applied change skipped as late.
/// A merge's effect per key is the difference between its state before and
/// after the merge.
#[derive(Default, Clone)]
struct Reference {
    current: BTreeMap<i64, (Values, i64)>,
    last_seq: BTreeMap<i64, i64>,
    /// Per key: (values, start, end) of every version.
    history: BTreeMap<i64, Vec<(Values, i64, i64)>>,
    late: usize,
}

impl Reference {
    fn merge(&mut self, rows: &[Row<'_>], now: i64, with_sequence: bool) {
        let before = self.current.clone();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        if with_sequence {
            order.sort_by_key(|&i| (rows[i].4, i));
        }
        let last_seq = self.last_seq.clone();
        let mut late_keys = std::collections::BTreeSet::new();
        for &i in &order {
            let (k, email, city, op, seq) = rows[i];
            if with_sequence && last_seq.get(&k).is_some_and(|&a| seq < a) {
                late_keys.insert(k);
                continue;
            }
            if with_sequence {
                self.last_seq.insert(
                    k,
                    seq.max(self.last_seq.get(&k).copied().unwrap_or(i64::MIN)),
                );
            }
            if op == "DELETE" {
                self.current.remove(&k);
            } else {
                let v = (email.map(str::to_owned), city.map(str::to_owned));
                let stamp = self.current.get(&k).map_or(now, |c| c.1);
                self.current.insert(k, (v, stamp));
            }
        }
        // A key counts one late change when its winner was late.
        for k in late_keys {
            let winner_late = rows
                .iter()
                .filter(|r| r.0 == k)
                .max_by_key(|r| r.4)
                .is_some_and(|r| last_seq.get(&k).is_some_and(|&a| r.4 < a));
            self.late += usize::from(winner_late);
        }
        let keys: std::collections::BTreeSet<i64> =
            before.keys().chain(self.current.keys()).copied().collect();
        for k in keys {
            let (old, new) = (
                before.get(&k).map(|c| &c.0),
                self.current.get(&k).map(|c| c.0.clone()),
            );
            if old == new.as_ref() {
                if let Some(b) = before.get(&k) {
                    self.current.insert(k, b.clone());
                }
                continue;
            }
            if let Some(v) = &new {
                self.current.insert(k, (v.clone(), now));
            }
            self.version(k, new, now);
        }
    }

    fn version(&mut self, k: i64, new: Option<Values>, now: i64) {
        let versions = self.history.entry(k).or_default();
        let start = match versions.last_mut() {
            Some(last) if last.2 == OPEN_END_MICROS => {
                let t = now.max(last.1 + 1);
                last.2 = t;
                t
            }
            Some(last) => now.max(last.2),
            None => now,
        };
        if let Some(v) = new {
            versions.push((v, start, OPEN_END_MICROS));
        }
    }

    fn scd1_rows(&self) -> Vec<Text> {
        self.current
            .iter()
            .map(|(k, ((e, c), t))| {
                vec![
                    Some(k.to_string()),
                    e.clone(),
                    c.clone(),
                    Some(t.to_string()),
                ]
            })
            .collect()
    }

    fn scd2_rows(&self) -> Vec<Text> {
        let mut out = Vec::new();
        for (k, versions) in &self.history {
            for ((e, c), start, end) in versions {
                out.push(vec![
                    Some(k.to_string()),
                    e.clone(),
                    c.clone(),
                    Some(start.to_string()),
                    Some(end.to_string()),
                    Some((*end == OPEN_END_MICROS).to_string()),
                ]);
            }
        }
        out
    }
}

const EMAILS: [Option<&str>; 3] = [Some("a@x"), Some("b@x"), None];
const CITIES: [Option<&str>; 2] = [Some("Oslo"), None];
const OPS: [&str; 4] = ["INSERT", "UPDATE", "UPDATE", "DELETE"];

fn rows() -> impl Strategy<Value = Vec<(i64, usize, usize, usize, i64)>> {
    prop::collection::vec((0i64..6, 0usize..3, 0usize..2, 0usize..4, 0i64..12), 0..10)
}

fn as_rows(raw: &[(i64, usize, usize, usize, i64)]) -> Vec<Row<'static>> {
    raw.iter()
        .map(|&(k, e, c, op, seq)| (k, EMAILS[e], CITIES[c], OPS[op], seq))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn engine_matches_the_row_by_row_model(
        merges in prop::collection::vec((rows(), 0i64..3), 1..8),
        with_sequence in any::<bool>(),
    ) {
        let spec = spec(with_sequence);
        let (scd1, scd2) = (Scd1::default(), Scd2::default());
        let mut customer = scd1.create_table(&spec).unwrap();
        let mut history = scd2.create_table(&spec).unwrap();
        let mut model = Reference::default();
        let mut now = 1_000;
        let mut sets = Vec::new();
        let mut late = 0;
        for (raw, tick) in merges {
            now += tick; // ticks of 0: clock ties between merges
            let rows = as_rows(&raw);
            let batch = changes(&rows);
            let out = merge(&scd1, &spec, &mut customer, &[&batch], MergeContext::at(now)).unwrap();
            let out2 = merge(&scd2, &spec, &mut history, &[&batch], MergeContext::at(now)).unwrap();
            prop_assert_eq!(out.metrics.late, out2.metrics.late);
            late += out.metrics.late;
            sets.push(out.changes);
            model.merge(&rows, now, with_sequence);
            prop_assert_eq!(table_rows(&customer), model.scd1_rows());
            prop_assert_eq!(table_rows(&history), model.scd2_rows());
            let broken = check_history(&history.to_batch().unwrap(), &spec, &ValidityColumns::default(), true).unwrap();
            prop_assert!(broken.is_empty(), "{:?}", broken);
        }
        prop_assert_eq!(late, model.late);
        // The net change of the whole run is the final table, all INSERTs.
        let net = net_changes(&sets).unwrap();
        prop_assert_eq!(net.len(), customer.num_rows());
    }
}
