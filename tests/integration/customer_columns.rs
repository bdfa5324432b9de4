//! The customer columns are written in three places that cannot share one definition: the
//! generator (`snowdrift_faker::EntitySpec::customer`), the pipeline's tables
//! (`snowdrift_warehouse::PipelineSpec::default`, which cannot depend on the faker) and the
//! Python peers' `ci/peers/customer.py`. This test pins the copies to each other.

use snowdrift::faker::EntitySpec;
use snowdrift::warehouse::PipelineSpec;

/// The names, Arrow types and nullability of the generator's customer.
fn generated() -> Vec<(String, arrow::datatypes::DataType, bool)> {
    let schema = EntitySpec::customer().schema();
    schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect()
}

#[test]
fn the_pipeline_tables_have_the_generated_customer_columns() {
    let tables: Vec<_> = PipelineSpec::default()
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.column_type.arrow_type(), c.nullable))
        .collect();
    assert_eq!(tables, generated());
    assert_eq!(PipelineSpec::default().key, [generated()[0].0.clone()]);
}

#[test]
fn the_python_peers_have_the_generated_customer_columns() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ci/peers/customer.py"))
            .expect("ci/peers/customer.py is readable");
    let value = |name: &str| -> String {
        let prefix = format!("{name} = ");
        let line = text.lines().find(|l| l.starts_with(&prefix));
        line.unwrap_or_else(|| panic!("customer.py assigns {name}"))[prefix.len()..].to_string()
    };
    let quoted = |list: &str| -> Vec<String> {
        list.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut peers = quoted(&value("KEY"));
    peers.extend(quoted(&value("ATTRS")));
    let names: Vec<String> = generated().into_iter().map(|(n, ..)| n).collect();
    assert_eq!(peers, names);
}
