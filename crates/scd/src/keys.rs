//! Keys: turning key columns into hashable values, and the key index that
//! makes a merge cost grow with the change batch instead of the table.
//!
//! A single `Int64` key (the common case) is used as is; any other key,
//! composite keys included, is encoded with Arrow's row format, whose bytes
//! are equal exactly when the key values are equal.

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashMap;

use crate::Result;

/// The keys of one batch, one per row.
#[derive(Debug)]
pub(crate) enum Keys {
    Int(Int64Array),
    Rows(Rows),
}

/// One key, borrowed from [`Keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum KeyRef<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Keys {
    pub(crate) fn get(&self, row: usize) -> KeyRef<'_> {
        match self {
            Keys::Int(a) => KeyRef::Int(a.value(row)),
            Keys::Rows(r) => KeyRef::Bytes(r.row(row).data()),
        }
    }
}

/// Encodes key columns of a fixed set of types.
#[derive(Debug)]
pub(crate) struct KeyEncoder {
    types: Vec<DataType>,
    converter: Option<RowConverter>,
}

impl Clone for KeyEncoder {
    fn clone(&self) -> Self {
        Self::new(&self.types).expect("the types were accepted before")
    }
}

impl KeyEncoder {
    pub(crate) fn new(types: &[DataType]) -> Result<Self> {
        let converter = if types == [DataType::Int64] {
            None
        } else {
            Some(RowConverter::new(
                types.iter().map(|t| SortField::new(t.clone())).collect(),
            )?)
        };
        Ok(Self {
            types: types.to_vec(),
            converter,
        })
    }

    /// The key columns of `keys` (the inverse of [`KeyEncoder::encode`]).
    pub(crate) fn decode<'a>(
        &self,
        keys: impl Iterator<Item = KeyRef<'a>>,
    ) -> Result<Vec<ArrayRef>> {
        match &self.converter {
            None => {
                let ints: Int64Array = keys
                    .map(|k| match k {
                        KeyRef::Int(v) => v,
                        KeyRef::Bytes(_) => unreachable!("an integer key encoder holds integers"),
                    })
                    .collect();
                Ok(vec![std::sync::Arc::new(ints)])
            }
            Some(c) => {
                let parser = c.parser();
                let bytes: Vec<&[u8]> = keys
                    .map(|k| match k {
                        KeyRef::Bytes(b) => b,
                        KeyRef::Int(_) => unreachable!("a row key encoder holds bytes"),
                    })
                    .collect();
                Ok(c.convert_rows(bytes.iter().map(|b| parser.parse(b)))?)
            }
        }
    }

    /// The keys of `columns` (already cast to the key types; no NULLs).
    pub(crate) fn encode(&self, columns: &[ArrayRef]) -> Result<Keys> {
        Ok(match &self.converter {
            None => Keys::Int(
                columns[0]
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("key cast to Int64")
                    .clone(),
            ),
            Some(c) => Keys::Rows(c.convert_columns(columns)?),
        })
    }
}

/// A hash map from key to `V`, specialised for integer keys.
#[derive(Debug, Clone)]
pub(crate) enum KeyMap<V> {
    Int(HashMap<i64, V>),
    Bytes(HashMap<Box<[u8]>, V>),
}

impl<V> KeyMap<V> {
    pub(crate) fn new(int_keys: bool) -> Self {
        if int_keys {
            KeyMap::Int(HashMap::new())
        } else {
            KeyMap::Bytes(HashMap::new())
        }
    }

    pub(crate) fn get(&self, key: KeyRef<'_>) -> Option<&V> {
        match (self, key) {
            (KeyMap::Int(m), KeyRef::Int(k)) => m.get(&k),
            (KeyMap::Bytes(m), KeyRef::Bytes(k)) => m.get(k),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: KeyRef<'_>) -> Option<&mut V> {
        match (self, key) {
            (KeyMap::Int(m), KeyRef::Int(k)) => m.get_mut(&k),
            (KeyMap::Bytes(m), KeyRef::Bytes(k)) => m.get_mut(k),
            _ => None,
        }
    }

    pub(crate) fn insert(&mut self, key: KeyRef<'_>, value: V) {
        self.replace(key, value);
    }

    /// Sets the value of `key`; returns the value it had.
    pub(crate) fn replace(&mut self, key: KeyRef<'_>, value: V) -> Option<V> {
        match (self, key) {
            (KeyMap::Int(m), KeyRef::Int(k)) => m.insert(k, value),
            (KeyMap::Bytes(m), KeyRef::Bytes(k)) => m.insert(k.into(), value),
            _ => unreachable!("a key map holds one kind of key"),
        }
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            KeyMap::Int(m) => m.reserve(additional),
            KeyMap::Bytes(m) => m.reserve(additional),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            KeyMap::Int(m) => m.len(),
            KeyMap::Bytes(m) => m.len(),
        }
    }

    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = (KeyRef<'_>, &V)> + '_> {
        match self {
            KeyMap::Int(m) => Box::new(m.iter().map(|(k, v)| (KeyRef::Int(*k), v))),
            KeyMap::Bytes(m) => Box::new(m.iter().map(|(k, v)| (KeyRef::Bytes(k), v))),
        }
    }

    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(&mut V)) {
        match self {
            KeyMap::Int(m) => m.values_mut().for_each(&mut f),
            KeyMap::Bytes(m) => m.values_mut().for_each(&mut f),
        }
    }

    pub(crate) fn values(&self) -> Box<dyn Iterator<Item = &V> + '_> {
        match self {
            KeyMap::Int(m) => Box::new(m.values()),
            KeyMap::Bytes(m) => Box::new(m.values()),
        }
    }
}

/// The row of `column` at `row` as text, for error messages.
pub(crate) fn display_value(column: &dyn Array, row: usize) -> String {
    if column.is_null(row) {
        return "NULL".into();
    }
    arrow::util::display::ArrayFormatter::try_new(column, &Default::default())
        .map(|f| f.value(row).to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::StringArray;

    use super::*;

    #[test]
    fn composite_keys_are_equal_exactly_when_all_parts_are() {
        let enc = KeyEncoder::new(&[DataType::Int64, DataType::Utf8]).unwrap();
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2, 1]));
        let names: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a", "a"]));
        let keys = enc.encode(&[ids, names]).unwrap();
        let mut map = KeyMap::new(false);
        for row in 0..4 {
            map.insert(keys.get(row), row);
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(keys.get(0)), Some(&3));
    }

    #[test]
    fn int_keys_take_the_fast_path() {
        let enc = KeyEncoder::new(&[DataType::Int64]).unwrap();
        let keys = enc
            .encode(&[Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef])
            .unwrap();
        assert_eq!(keys.get(1), KeyRef::Int(8));
    }
}
