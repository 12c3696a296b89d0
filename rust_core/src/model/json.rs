//! Deserialization helpers shared by the OCPI object readers: borrowed strings, indexed lists
//! that put `[i]` into error paths, and the `ocpi_object!` macro that reads a JSON object field by
//! field, keeping the field name in error paths and collecting unknown field names.

use crate::error::{PATH_SEP, join_path};
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl Str<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// An object key as raw bytes: keys are compared, never decoded (no UTF-8 pass, no unescaping;
/// a key written with escapes is simply not one we know).
pub struct Key<'a>(pub Cow<'a, [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(V(PhantomData))
    }
}

/// Re-raise a nested error with `prefix` put in front of its path.
pub fn ctx<E: de::Error>(prefix: &str, err: E) -> E {
    let text = err.to_string();
    let (path, msg) = match text.split_once(PATH_SEP) {
        Some((p, m)) => (join_path(prefix, p), m.to_string()),
        None => (prefix.to_string(), text),
    };
    E::custom(format_args!("{path}{PATH_SEP}{}", strip_position(&msg)))
}

/// serde_json appends " at line L column C"; inside a path-carrying error it is noise.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => &msg[..i],
        _ => msg,
    }
}

/// A JSON array whose element errors carry their index.
#[derive(Debug, Clone)]
pub struct Indexed<T>(pub Vec<T>);

impl<T> Default for Indexed<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Indexed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Indexed<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                loop {
                    match seq.next_element::<T>() {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => return Ok(Indexed(out)),
                        Err(e) => return Err(ctx(&format!("[{}]", out.len()), e)),
                    }
                }
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// Declares a struct of optional fields read from a JSON object.
///
/// Every field is `Option<T>` (JSON `null` reads as absent); required-ness is checked when the
/// raw object is converted into the model, where a precise message can be given. Unknown keys
/// are skipped and, unless the struct is declared `quiet`, their names kept in `unknown`.
macro_rules! ocpi_object {
    ($(#[$m:meta])* $vis:vis struct $name:ident<$lt:lifetime> $(($quiet:ident))? {
        $( $json:literal => $field:ident : $ty:ty ),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Default)]
        $vis struct $name<$lt> {
            $( pub $field: Option<$ty>, )*
            pub unknown: Vec<String>,
            _lt: std::marker::PhantomData<&$lt ()>,
        }

        impl<'de: $lt, $lt> serde::Deserialize<'de> for $name<$lt> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V<$lt>(std::marker::PhantomData<&$lt ()>);
                impl<'de: $lt, $lt> serde::de::Visitor<'de> for V<$lt> {
                    type Value = $name<$lt>;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::model::json::Key<'de>>()? {
                            match &*key.0 {
                                $( k if k == $json.as_bytes() => {
                                    out.$field = map
                                        .next_value::<Option<$ty>>()
                                        .map_err(|e| $crate::model::json::ctx($json, e))?;
                                } )*
                                _other => {
                                    map.next_value::<serde::de::IgnoredAny>()?;
                                    ocpi_object!(@unknown out, _other $(, $quiet)?);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V(std::marker::PhantomData))
            }
        }
    };
    (@unknown $out:ident, $k:ident) => { $out.unknown.push(String::from_utf8_lossy($k).into_owned()) };
    (@unknown $out:ident, $k:ident, quiet) => { let _ = &$out.unknown; };
}
pub(crate) use ocpi_object;
