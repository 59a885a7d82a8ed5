//! Request bodies read the way the real controller's stock Jackson `ObjectMapper` reads them:
//! numeric strings for integer fields (`"place_count":"2"`), scalars for string fields
//! (`"Aux/pm/vmid":101`), `"true"`/`1` for booleans, fractions truncated for integers, trailing
//! text after the document ignored; unknown fields stay errors (`deny_unknown_fields`).

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::Deserializer as _;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Error, Map, Number, Value};

/// Parses `body` as JSON and deserializes it with Jackson's coercions.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let v = match serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()
    {
        Some(v) => v?,
        None => return Err(de::Error::custom("No content to map due to end-of-input")),
    };
    T::deserialize(Lenient(v))
}

/// A JSON value that coerces scalars to the type the target asks for.
#[derive(Debug)]
pub struct Lenient(pub Value);

impl<'de> IntoDeserializer<'de, Error> for Lenient {
    type Deserializer = Lenient;
    fn into_deserializer(self) -> Lenient {
        self
    }
}

fn num_from_str(s: &str) -> Option<Number> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = t.parse::<u64>() {
        return Some(u.into());
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(Number::from_f64)
}

impl Lenient {
    fn scalar_string(&self) -> Option<String> {
        match &self.0 {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn integer<'de, V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let n = match &self.0 {
            Value::Number(n) => n.clone(),
            Value::String(s) => num_from_str(s)
                .ok_or_else(|| de::Error::invalid_value(de::Unexpected::Str(s), &"a number"))?,
            _ => return self.0.deserialize_any(v),
        };
        if let Some(i) = n.as_i64() {
            v.visit_i64(i)
        } else if let Some(u) = n.as_u64() {
            v.visit_u64(u)
        } else {
            let f = n.as_f64().unwrap_or_default().trunc();
            if f >= i64::MIN as f64 && f <= i64::MAX as f64 {
                v.visit_i64(f as i64)
            } else {
                v.visit_f64(f)
            }
        }
    }
}

impl<'de> de::Deserializer<'de> for Lenient {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(a) => {
                let mut seq = SeqDeserializer::new(a.into_iter().map(Lenient));
                let r = v.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(r)
            }
            Value::Object(m) => visit_map(m, v),
            other => other.deserialize_any(v),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_none(),
            other => v.visit_some(Lenient(other)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.0 {
            Value::Bool(b) => v.visit_bool(*b),
            Value::Null => v.visit_bool(false),
            Value::String(s) if s.eq_ignore_ascii_case("true") => v.visit_bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => v.visit_bool(false),
            Value::Number(n) if n.as_i64().is_some() => v.visit_bool(n.as_i64() != Some(0)),
            _ => self.0.deserialize_any(v),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.scalar_string() {
            Some(s) => v.visit_string(s),
            None => self.0.deserialize_any(v),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_string(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.0 {
            Value::String(s) => match num_from_str(s).and_then(|n| n.as_f64()) {
                Some(f) => v.visit_f64(f),
                None => Err(de::Error::invalid_value(
                    de::Unexpected::Str(s),
                    &"a number",
                )),
            },
            _ => self.0.deserialize_f64(v),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_f64(v)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.integer(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_enum(name, variants, v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

fn visit_map<'de, V: Visitor<'de>>(m: Map<String, Value>, v: V) -> Result<V::Value, Error> {
    let mut map = MapDeserializer::new(m.into_iter().map(|(k, x)| (k, Lenient(x))));
    let r = v.visit_map(&mut map)?;
    map.end()?;
    Ok(r)
}
