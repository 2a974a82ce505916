//! upb's structure rules for the log's bytes: tags, varints, lengths, groups, nesting.

use super::nested;

/// Why bytes are not a `LogBatch`, in the words of the two-pass decoder. A small `Copy`
/// value rather than a `String`: every field read returns a `Result`, and a `String`
/// error made each of those a large value moved through memory.
#[derive(Clone, Copy, Debug)]
pub(super) enum Bad {
    TruncatedVarint,
    LongVarint,
    PastEnd,
    Tag,
    EndGroup,
    FieldZero,
    Length,
    WireType(u64),
    Deep,
    OpenGroup,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TruncatedVarint => f.write_str("truncated varint"),
            Self::LongVarint => f.write_str("varint longer than 10 bytes"),
            Self::PastEnd => f.write_str("field runs past the end of its message"),
            Self::Tag => f.write_str("invalid tag"),
            Self::EndGroup => f.write_str("unexpected end-group tag"),
            Self::FieldZero => f.write_str("field number 0"),
            Self::Length => f.write_str("invalid length"),
            Self::WireType(w) => write!(f, "invalid wire type {w}"),
            Self::Deep => f.write_str("nested too deeply"),
            Self::OpenGroup => f.write_str("group without its end tag"),
        }
    }
}

/// A field's value, for the wire types a log message's known fields use; the others are
/// checked and skipped by `Cursor::field`.
pub(super) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

pub(super) struct Cursor<'a> {
    pub(super) data: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Cursor<'a> {
    /// upb's varint: up to 10 bytes, bits beyond 64 dropped. Returns (value, bytes used).
    #[inline]
    pub(super) fn varint(&mut self) -> Result<(u64, usize), Bad> {
        // One byte is the common case: tags, small numbers, short lengths.
        if let Some(&byte) = self.data.get(self.at) {
            if byte < 0x80 {
                self.at += 1;
                return Ok((u64::from(byte), 1));
            }
        }
        let start = self.at;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.data.get(self.at) else {
                return Err(Bad::TruncatedVarint);
            };
            self.at += 1;
            value = value.wrapping_add(u64::from(byte & 0x7f).checked_shl(7 * i).unwrap_or(0));
            if byte & 0x80 == 0 {
                return Ok((value, self.at - start));
            }
        }
        Err(Bad::LongVarint)
    }

    #[inline]
    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], Bad> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.data.len());
        let end = end.ok_or(Bad::PastEnd)?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    /// A length-delimited value: upb allows a length of at most 5 bytes, below 2**31 - 1.
    #[inline]
    pub(super) fn length_delimited(&mut self) -> Result<&'a [u8], Bad> {
        let (size, len) = self.varint()?;
        if len > 5 || size >= i32::MAX as u64 {
            return Err(Bad::Length);
        }
        self.take(size as usize)
    }

    /// The tag's field number and wire type, refusing what upb refuses.
    #[inline]
    pub(super) fn tag(&mut self) -> Result<(u32, u64), Bad> {
        let (tag, len) = self.varint()?;
        if len > 5 || tag > u64::from(u32::MAX) {
            return Err(Bad::Tag);
        }
        Ok(((tag >> 3) as u32, tag & 7))
    }

    /// The next field of a message (not a group), or None at its end. `depth`: levels
    /// left for what the message holds (an unknown group counts one).
    #[inline]
    pub(super) fn field(&mut self, depth: i32) -> Result<Option<(u32, Value<'a>)>, Bad> {
        if self.at >= self.data.len() {
            return Ok(None);
        }
        let (number, wire_type) = self.tag()?;
        if wire_type == 4 {
            return Err(Bad::EndGroup);
        }
        if number == 0 {
            return Err(Bad::FieldZero);
        }
        let value = self.value(number, wire_type, depth)?;
        Ok(Some((number, value)))
    }

    #[inline]
    pub(super) fn value(
        &mut self,
        number: u32,
        wire_type: u64,
        depth: i32,
    ) -> Result<Value<'a>, Bad> {
        Ok(match wire_type {
            0 => Value::Varint(self.varint()?.0),
            1 => {
                self.take(8)?;
                Value::Skipped
            }
            2 => Value::Bytes(self.length_delimited()?),
            3 => {
                self.skip_group(number, depth - 1)?;
                Value::Skipped
            }
            5 => {
                self.take(4)?;
                Value::Skipped
            }
            _ => return Err(Bad::WireType(wire_type)),
        })
    }

    /// An unknown group's fields, checked and dropped, through its end tag.
    pub(super) fn skip_group(&mut self, group: u32, depth: i32) -> Result<(), Bad> {
        nested(depth)?;
        while self.at < self.data.len() {
            let (number, wire_type) = self.tag()?;
            if wire_type == 4 {
                return if number == group {
                    Ok(())
                } else {
                    Err(Bad::EndGroup)
                };
            }
            if number == 0 {
                return Err(Bad::FieldZero);
            }
            self.value(number, wire_type, depth)?;
        }
        Err(Bad::OpenGroup)
    }
}
