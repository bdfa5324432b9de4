//! The buffer a string column is written into, and the [`Sink`] trait that
//! value writers write through.
//!
//! Most values are a few short words; copying each with a `memcpy` call
//! cost more than generating it. [`TextBuffer::put_word`] copies a whole
//! [`WORD_CHUNK`] at once from the padded word list and keeps only the word.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBufferBuilder, StringArray};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

use crate::locale_data::{WORD_CHUNK, WordRef, Words};

/// Where a value's text goes: the column being built, or a scratch string.
pub(crate) trait Sink {
    /// Append `s` to the value being written.
    fn put(&mut self, s: &str);

    /// Append a word of a word list.
    #[inline]
    fn put_word(&mut self, words: &Words, w: WordRef) {
        self.put(words.text(w));
    }
}

impl Sink for String {
    #[inline]
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

/// The values of one string column: bytes, offsets and NULL rows.
#[derive(Debug)]
pub(crate) struct TextBuffer {
    data: Vec<u8>,
    offsets: Vec<i32>,
    /// Rows holding NULL, ascending (rare; a list is cheaper than a bitmap).
    nulls: Vec<usize>,
}

impl TextBuffer {
    /// A buffer for `rows` values of about `bytes` bytes in all.
    pub(crate) fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            data: Vec::with_capacity(bytes + WORD_CHUNK),
            offsets,
            nulls: Vec::new(),
        }
    }

    /// End the value being written.
    #[inline]
    pub(crate) fn commit(&mut self) {
        self.offsets.push(self.data.len() as i32);
    }

    /// Append a NULL (nothing may have been written for it).
    #[inline]
    pub(crate) fn null(&mut self) {
        self.nulls.push(self.offsets.len() - 1);
        self.commit();
    }

    /// The column as an Arrow array.
    pub(crate) fn finish(self) -> ArrayRef {
        let rows = self.offsets.len() - 1;
        let nulls = (!self.nulls.is_empty()).then(|| {
            let mut valid = BooleanBufferBuilder::new(rows);
            valid.append_n(rows, true);
            for &row in &self.nulls {
                valid.set_bit(row, false);
            }
            NullBuffer::new(valid.finish())
        });
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        // Every value is whole words of valid UTF-8, so validation passes.
        let array = StringArray::try_new(offsets, Buffer::from_vec(self.data), nulls)
            .expect("values are written as whole UTF-8 strings");
        Arc::new(array)
    }
}

impl Sink for TextBuffer {
    #[inline]
    fn put(&mut self, s: &str) {
        self.data.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn put_word(&mut self, words: &Words, w: WordRef) {
        let (bytes, len) = words.padded(w);
        if len <= WORD_CHUNK {
            let chunk: &[u8; WORD_CHUNK] = bytes[..WORD_CHUNK]
                .try_into()
                .expect("word lists are padded by a chunk");
            let end = self.data.len() + len;
            self.data.extend_from_slice(chunk);
            self.data.truncate(end);
        } else {
            self.data.extend_from_slice(&bytes[..len]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn words_nulls_and_text_round_trip() {
        let words = crate::locale_data::tables(crate::Locale::En);
        let mut b = TextBuffer::with_capacity(3, 8);
        let w = words.states.get(0);
        b.put_word(&words.states, w);
        b.put(" & ");
        b.put_word(&words.states, words.states.get(1));
        b.commit();
        b.null();
        b.put("x");
        b.commit();
        let array = b.finish();
        let array = array.as_any().downcast_ref::<StringArray>().unwrap();
        let expected = format!(
            "{} & {}",
            words.states.text(w),
            words.states.text(words.states.get(1))
        );
        assert_eq!(array.value(0), expected);
        assert!(array.is_null(1));
        assert_eq!(array.value(2), "x");
    }
}
