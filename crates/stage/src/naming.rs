//! [`FileNamer`]: object names `<prefix>/<entity>_<YYYYMMDDHHMMSS>_<sequence><ext>` that are
//! unique and sort in the order files were closed.
//!
//! The sequence is `<microseconds within the second, 6 digits>-<writer id, 4 digits>`. One
//! writer's close times are made strictly increasing (a file closed in the same microsecond as
//! the previous one takes the next microsecond), so one writer never repeats a name and its names
//! sort in close order; writers sharing a prefix are told apart by their ids, and their names
//! interleave by close time to the microsecond.

use std::time::{SystemTime, UNIX_EPOCH};

use object_store::path::Path;

use crate::format::Compression;
use crate::timefmt;

/// Largest writer id (ids are written as 4 decimal digits).
pub const MAX_WRITER_ID: u16 = 9_999;

/// Names the files of one writer.
#[derive(Debug, Clone)]
pub struct FileNamer {
    prefix: Option<Path>,
    entity: String,
    writer_id: u16,
    extension: &'static str,
    last_micros: i64,
}

impl FileNamer {
    /// A namer for files of `entity` under `prefix` (empty for the store root).
    ///
    /// # Errors
    ///
    /// Why the entity name or the writer id cannot be used in a file name (the sink's
    /// builder turns it into a `StageError::Config`).
    pub fn new(
        prefix: &str,
        entity: &str,
        writer_id: u16,
        compression: Compression,
    ) -> Result<Self, String> {
        if entity.is_empty()
            || !entity
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "entity name {entity:?} must be non-empty ASCII letters, digits, '_' or '-'"
            ));
        }
        if writer_id > MAX_WRITER_ID {
            return Err(format!("writer id {writer_id} is above {MAX_WRITER_ID}"));
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            None
        } else {
            Some(Path::parse(prefix).map_err(|e| format!("prefix {prefix:?}: {e}"))?)
        };
        Ok(FileNamer {
            prefix,
            entity: entity.to_owned(),
            writer_id,
            extension: compression.extension(),
            last_micros: i64::MIN,
        })
    }

    /// The name of a file closed now.
    pub fn name_now(&mut self) -> Path {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        self.name_at(now)
    }

    /// The name of a file closed at `micros` since the epoch (clamped to stay after the previous
    /// name of this writer).
    pub fn name_at(&mut self, micros: i64) -> Path {
        let micros = micros.max(self.last_micros.saturating_add(1));
        self.last_micros = micros;
        let mut stamp = [0u8; timefmt::MAX_LEN];
        let len = timefmt::write_timestamp(
            micros.div_euclid(1_000_000),
            arrow::datatypes::TimeUnit::Second,
            false,
            &mut stamp,
        );
        let compact: String = stamp[..len]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        let name = format!(
            "{}_{}_{:06}-{:04}{}",
            self.entity,
            compact,
            micros.rem_euclid(1_000_000),
            self.writer_id,
            self.extension
        );
        match &self.prefix {
            Some(prefix) => prefix.clone().join(name),
            None => Path::from(name),
        }
    }

    /// The prefix files are written under.
    pub fn prefix(&self) -> Option<&Path> {
        self.prefix.as_ref()
    }
}

/// A writer id derived from the process id and the clock, for writers that were not given one.
pub(crate) fn default_writer_id() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = (u64::from(std::process::id()) << 32 | u64::from(nanos))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 40) % (u64::from(MAX_WRITER_ID) + 1)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_pattern() {
        let mut namer = FileNamer::new("stage/in", "customer", 7, Compression::None).unwrap();
        let name = namer.name_at(1_795_600_000_123_456);
        assert_eq!(
            name.as_ref(),
            "stage/in/customer_20261125094640_123456-0007.csv"
        );
        let mut gz = FileNamer::new("", "orders", 12, Compression::gzip()).unwrap();
        assert_eq!(
            gz.name_at(0).as_ref(),
            "orders_19700101000000_000000-0012.csv.gz"
        );
    }

    #[test]
    fn same_microsecond_and_clock_going_back_still_give_increasing_names() {
        let mut namer = FileNamer::new("p", "customer", 1, Compression::None).unwrap();
        let a = namer.name_at(1_000_000_000_999_999);
        let b = namer.name_at(1_000_000_000_999_999);
        let c = namer.name_at(1_000_000_000_000_000);
        assert!(
            a.as_ref() < b.as_ref() && b.as_ref() < c.as_ref(),
            "{a} {b} {c}"
        );
        assert!(b.as_ref().contains("_20010909014641_000000-"), "{b}");
    }

    #[test]
    fn two_writers_in_one_microsecond_do_not_collide() {
        let mut one = FileNamer::new("p", "customer", 1, Compression::None).unwrap();
        let mut two = FileNamer::new("p", "customer", 2, Compression::None).unwrap();
        assert_ne!(one.name_at(5), two.name_at(5));
    }

    #[test]
    fn bad_entity_and_writer_ids_are_rejected() {
        assert!(FileNamer::new("p", "cust/omer", 1, Compression::None).is_err());
        assert!(FileNamer::new("p", "", 1, Compression::None).is_err());
        assert!(FileNamer::new("p", "customer", 10_000, Compression::None).is_err());
    }
}
