//! Entity specs: which columns a generated entity has, what kind of fake
//! value fills each, and which columns change together in an update.
//!
//! The built-in [`EntitySpec::customer`] is the `customer_raw` table of the
//! original pipeline; any other entity can be described without touching the
//! generator.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::{FakerError, FakerRng, Result, SpecProblem};

/// A user-supplied value generator: draw from the given RNG (for example with
/// any `fake` faker's `fake_with_rng`) and return the value, or `None` for NULL.
pub type CustomFn = dyn Fn(&mut FakerRng) -> Option<String> + Send + Sync;

/// What fills a column.
#[derive(Clone)]
#[non_exhaustive]
pub enum ColumnKind {
    /// The entity key (`Int64`, never NULL): the row number in classic mode,
    /// a dense id in change streams. Exactly one column has this kind.
    Key,
    /// A first name from the locale.
    FirstName,
    /// A last name from the locale.
    LastName,
    /// An e-mail address built from the row's name columns (they must come
    /// earlier in the spec), e.g. `ada.lovelace42@example.com`.
    Email {
        /// Column holding the first name.
        first_name: String,
        /// Column holding the last name.
        last_name: String,
    },
    /// A street address: building number, street name and suffix.
    StreetAddress,
    /// A city name.
    City,
    /// A state or region name.
    State,
    /// A state abbreviation.
    StateAbbr,
    /// A country name.
    Country,
    /// An ISO country code.
    CountryCode,
    /// A postal code.
    PostCode,
    /// A phone number.
    PhoneNumber,
    /// A uniform integer in `min..=max` (`Int64`).
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// One of the given strings, uniformly.
    Choice(Arc<[String]>),
    /// A value from a user function; see [`CustomFn`].
    Custom(Arc<CustomFn>),
}

impl ColumnKind {
    /// A column filled by a user function, typically wrapping a `fake` faker:
    ///
    /// ```
    /// use fake::Fake;
    /// use fake::faker::company::en::CompanyName;
    /// use snowdrift_faker::ColumnKind;
    ///
    /// let kind = ColumnKind::custom(|rng| Some(CompanyName().fake_with_rng(rng)));
    /// # let _ = kind;
    /// ```
    pub fn custom(f: impl Fn(&mut FakerRng) -> Option<String> + Send + Sync + 'static) -> Self {
        ColumnKind::Custom(Arc::new(f))
    }

    /// One of the given values, uniformly.
    pub fn choice<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Self {
        ColumnKind::Choice(values.into_iter().map(Into::into).collect())
    }

    /// The Arrow type of the column.
    pub fn data_type(&self) -> DataType {
        match self {
            ColumnKind::Key | ColumnKind::Integer { .. } => DataType::Int64,
            _ => DataType::Utf8,
        }
    }
}

impl fmt::Debug for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnKind::Key => f.write_str("Key"),
            ColumnKind::FirstName => f.write_str("FirstName"),
            ColumnKind::LastName => f.write_str("LastName"),
            ColumnKind::Email {
                first_name,
                last_name,
            } => write!(f, "Email({first_name}, {last_name})"),
            ColumnKind::StreetAddress => f.write_str("StreetAddress"),
            ColumnKind::City => f.write_str("City"),
            ColumnKind::State => f.write_str("State"),
            ColumnKind::StateAbbr => f.write_str("StateAbbr"),
            ColumnKind::Country => f.write_str("Country"),
            ColumnKind::CountryCode => f.write_str("CountryCode"),
            ColumnKind::PostCode => f.write_str("PostCode"),
            ColumnKind::PhoneNumber => f.write_str("PhoneNumber"),
            ColumnKind::Integer { min, max } => write!(f, "Integer({min}..={max})"),
            ColumnKind::Choice(values) => write!(f, "Choice({} values)", values.len()),
            ColumnKind::Custom(_) => f.write_str("Custom(fn)"),
        }
    }
}

/// One column of an entity.
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// What fills it.
    pub kind: ColumnKind,
}

/// Columns that one kind of update changes together, and how often that kind
/// of update is chosen relative to the others.
#[derive(Debug, Clone)]
pub struct ChangeGroup {
    /// A name for reports and errors (`"email"`, `"move"`).
    pub name: String,
    /// The columns it changes.
    pub columns: Vec<String>,
    /// Relative weight among the groups (0 = never chosen).
    pub weight: u32,
}

/// A validated entity description: columns, key, update groups.
///
/// Build one with [`EntitySpec::builder`], or use [`EntitySpec::customer`].
#[derive(Debug, Clone)]
pub struct EntitySpec {
    name: String,
    columns: Vec<ColumnSpec>,
    key: usize,
    /// Per column, the indices of the columns it is derived from.
    derived_from: Vec<Vec<usize>>,
    /// Groups with resolved column indices (closed over derivations).
    groups: Vec<ResolvedGroup>,
    schema: SchemaRef,
}

#[derive(Debug, Clone)]
pub(crate) struct ResolvedGroup {
    pub(crate) name: String,
    pub(crate) columns: Vec<usize>,
    pub(crate) weight: u32,
}

impl EntitySpec {
    /// Start describing an entity called `name` (used in file names and errors).
    pub fn builder(name: impl Into<String>) -> EntitySpecBuilder {
        EntitySpecBuilder {
            name: name.into(),
            columns: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// The original pipeline's `customer_raw` entity: customer_id, first_name,
    /// last_name, email, street, city, state, country.
    ///
    /// Updates are realistic: an e-mail change (most common), a move (street,
    /// city and state together), a move abroad (street, city, state, country),
    /// and a last-name change, which also gives a new e-mail address.
    pub fn customer() -> Self {
        Self::builder("customer")
            .column("customer_id", ColumnKind::Key)
            .column("first_name", ColumnKind::FirstName)
            .column("last_name", ColumnKind::LastName)
            .column(
                "email",
                ColumnKind::Email {
                    first_name: "first_name".into(),
                    last_name: "last_name".into(),
                },
            )
            .column("street", ColumnKind::StreetAddress)
            .column("city", ColumnKind::City)
            .column("state", ColumnKind::State)
            .column("country", ColumnKind::Country)
            .group("email", ["email"], 5)
            .group("move", ["street", "city", "state"], 3)
            .group("move_abroad", ["street", "city", "state", "country"], 1)
            .group("last_name", ["last_name"], 1)
            .build()
            .expect("the built-in customer spec is valid")
    }

    /// The entity's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[ColumnSpec] {
        &self.columns
    }

    /// Index of the key column.
    pub fn key_index(&self) -> usize {
        self.key
    }

    /// Name of the key column.
    pub fn key_name(&self) -> &str {
        &self.columns[self.key].name
    }

    /// Names of the update groups with their weights and (closed) columns.
    pub fn groups(&self) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
        self.groups.iter().map(|g| {
            let cols = g
                .columns
                .iter()
                .map(|&c| self.columns[c].name.as_str())
                .collect();
            (g.name.as_str(), g.weight, cols)
        })
    }

    /// The Arrow schema of generated rows (the `customer_raw` table for the
    /// customer spec). The key is non-nullable; every other column is nullable.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub(crate) fn resolved_groups(&self) -> &[ResolvedGroup] {
        &self.groups
    }

    pub(crate) fn derived_from(&self, column: usize) -> &[usize] {
        &self.derived_from[column]
    }
}

/// Builder for [`EntitySpec`]; validation happens in [`EntitySpecBuilder::build`].
#[derive(Debug, Clone)]
pub struct EntitySpecBuilder {
    name: String,
    columns: Vec<ColumnSpec>,
    groups: Vec<ChangeGroup>,
}

impl EntitySpecBuilder {
    /// Append a column.
    pub fn column(mut self, name: impl Into<String>, kind: ColumnKind) -> Self {
        self.columns.push(ColumnSpec {
            name: name.into(),
            kind,
        });
        self
    }

    /// Declare an update group. Columns derived from a group's columns (an
    /// e-mail from a last name) are added to the group automatically. Columns
    /// in no group are never changed by updates.
    pub fn group<S: Into<String>>(
        mut self,
        name: impl Into<String>,
        columns: impl IntoIterator<Item = S>,
        weight: u32,
    ) -> Self {
        self.groups.push(ChangeGroup {
            name: name.into(),
            columns: columns.into_iter().map(Into::into).collect(),
            weight,
        });
        self
    }

    /// Validate and build.
    ///
    /// # Errors
    ///
    /// [`FakerError::InvalidSpec`] with the entity and the [`crate::SpecProblem`] found first.
    pub fn build(self) -> Result<EntitySpec> {
        let invalid = |problem: SpecProblem| FakerError::InvalidSpec {
            entity: self.name.clone(),
            problem,
        };
        if self.columns.is_empty() {
            return Err(invalid(SpecProblem::NoColumns));
        }
        let mut seen = HashSet::new();
        for c in &self.columns {
            if c.name.is_empty() || !seen.insert(c.name.as_str()) {
                return Err(invalid(SpecProblem::ColumnName {
                    column: c.name.clone(),
                }));
            }
        }
        let keys: Vec<usize> = (0..self.columns.len())
            .filter(|&i| matches!(self.columns[i].kind, ColumnKind::Key))
            .collect();
        let [key] = keys[..] else {
            return Err(invalid(SpecProblem::KeyCount { found: keys.len() }));
        };
        let derived_from = self.resolve_derivations(&invalid)?;
        let groups = self.resolve_groups(key, &derived_from, &invalid)?;
        let fields: Vec<Field> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(&c.name, c.kind.data_type(), i != key))
            .collect();
        Ok(EntitySpec {
            schema: Arc::new(Schema::new(fields)),
            name: self.name,
            columns: self.columns,
            key,
            derived_from,
            groups,
        })
    }

    fn resolve_derivations(
        &self,
        invalid: &dyn Fn(SpecProblem) -> FakerError,
    ) -> Result<Vec<Vec<usize>>> {
        let mut derived_from = vec![Vec::new(); self.columns.len()];
        for (i, c) in self.columns.iter().enumerate() {
            match &c.kind {
                ColumnKind::Email {
                    first_name,
                    last_name,
                } => {
                    for dep in [first_name, last_name] {
                        let j = self.columns[..i]
                            .iter()
                            .position(|d| &d.name == dep)
                            .ok_or_else(|| {
                                invalid(SpecProblem::DerivedFrom {
                                    column: c.name.clone(),
                                    source_column: dep.clone(),
                                })
                            })?;
                        derived_from[i].push(j);
                    }
                }
                ColumnKind::Integer { min, max } if min > max => {
                    return Err(invalid(SpecProblem::IntegerRange {
                        column: c.name.clone(),
                        min: *min,
                        max: *max,
                    }));
                }
                ColumnKind::Choice(values) if values.is_empty() => {
                    return Err(invalid(SpecProblem::NoChoices {
                        column: c.name.clone(),
                    }));
                }
                _ => {}
            }
        }
        Ok(derived_from)
    }

    fn resolve_groups(
        &self,
        key: usize,
        derived_from: &[Vec<usize>],
        invalid: &dyn Fn(SpecProblem) -> FakerError,
    ) -> Result<Vec<ResolvedGroup>> {
        let mut names = HashSet::new();
        let mut out = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            if !names.insert(g.name.as_str()) {
                return Err(invalid(SpecProblem::DuplicateGroup {
                    group: g.name.clone(),
                }));
            }
            if g.columns.is_empty() {
                return Err(invalid(SpecProblem::EmptyGroup {
                    group: g.name.clone(),
                }));
            }
            let mut cols = Vec::new();
            for name in &g.columns {
                let i = self
                    .columns
                    .iter()
                    .position(|c| &c.name == name)
                    .ok_or_else(|| {
                        invalid(SpecProblem::UnknownColumn {
                            group: g.name.clone(),
                            column: name.clone(),
                        })
                    })?;
                if i == key {
                    return Err(invalid(SpecProblem::ChangesKey {
                        group: g.name.clone(),
                        column: name.clone(),
                    }));
                }
                cols.push(i);
            }
            // Close over derivations: a column derived from a changed column changes too.
            // Columns are ordered so that derivations point backwards; one pass suffices.
            for (i, deps) in derived_from.iter().enumerate() {
                if deps.iter().any(|d| cols.contains(d)) && !cols.contains(&i) {
                    cols.push(i);
                }
            }
            cols.sort_unstable();
            cols.dedup();
            out.push(ResolvedGroup {
                name: g.name.clone(),
                columns: cols,
                weight: g.weight,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_spec_matches_customer_raw() {
        let spec = EntitySpec::customer();
        let names: Vec<&str> = spec.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "customer_id",
                "first_name",
                "last_name",
                "email",
                "street",
                "city",
                "state",
                "country"
            ]
        );
        let schema = spec.schema();
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        assert!(!schema.field(0).is_nullable());
        assert!(schema.fields()[1..].iter().all(|f| f.is_nullable()));
        assert_eq!(spec.key_name(), "customer_id");
    }

    #[test]
    fn last_name_change_also_changes_email() {
        let spec = EntitySpec::customer();
        let (_, _, cols) = spec.groups().find(|(n, _, _)| *n == "last_name").unwrap();
        assert_eq!(cols, ["last_name", "email"]);
        let (_, _, cols) = spec.groups().find(|(n, _, _)| *n == "move").unwrap();
        assert_eq!(cols, ["street", "city", "state"]);
    }

    #[test]
    fn invalid_specs_are_rejected_with_context() {
        #[track_caller]
        fn problem(built: Result<EntitySpec>) -> SpecProblem {
            match built {
                Err(FakerError::InvalidSpec { entity, problem }) => {
                    assert_eq!(entity, "x");
                    problem
                }
                other => panic!("expected InvalidSpec, got {other:?}"),
            }
        }
        let key = || EntitySpec::builder("x").column("id", ColumnKind::Key);
        assert_eq!(
            problem(EntitySpec::builder("x").build()),
            SpecProblem::NoColumns
        );
        assert_eq!(
            problem(
                EntitySpec::builder("x")
                    .column("a", ColumnKind::FirstName)
                    .build()
            ),
            SpecProblem::KeyCount { found: 0 }
        );
        let email = ColumnKind::Email {
            first_name: "f".into(),
            last_name: "l".into(),
        };
        assert_eq!(
            problem(key().column("mail", email).build()),
            SpecProblem::DerivedFrom {
                column: "mail".into(),
                source_column: "f".into()
            }
        );
        assert_eq!(
            problem(
                key()
                    .column("a", ColumnKind::City)
                    .group("g", ["b"], 1)
                    .build()
            ),
            SpecProblem::UnknownColumn {
                group: "g".into(),
                column: "b".into()
            }
        );
        assert_eq!(
            problem(key().group("g", ["id"], 1).build()),
            SpecProblem::ChangesKey {
                group: "g".into(),
                column: "id".into()
            }
        );
        assert_eq!(
            problem(key().column("id", ColumnKind::City).build()),
            SpecProblem::ColumnName {
                column: "id".into()
            }
        );
        assert_eq!(
            problem(
                key()
                    .column("n", ColumnKind::Integer { min: 2, max: 1 })
                    .build()
            ),
            SpecProblem::IntegerRange {
                column: "n".into(),
                min: 2,
                max: 1
            }
        );
    }

    #[test]
    fn an_invalid_spec_says_which_entity_and_what_is_wrong() {
        let err = EntitySpec::builder("x")
            .column("a", ColumnKind::FirstName)
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid entity spec `x`: exactly one column must be ColumnKind::Key, found 0"
        );
    }
}
