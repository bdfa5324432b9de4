"""The original pipeline's customer columns, the one list the Python peers use.

The generator (`snowdrift_faker::EntitySpec::customer`) and the pipeline's tables
(`snowdrift_warehouse::PipelineSpec::default`) define them in Rust; the test
`tests/integration/customer_columns.rs` checks that this file, those two and each other agree.
"""

KEY = "customer_id"
ATTRS = ["first_name", "last_name", "email", "street", "city", "state", "country"]
FIELDS = [KEY, *ATTRS]
