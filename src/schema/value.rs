//! What a value may be: a configuration's, a status's or a command
//! parameter's value space, checked the way a codec checks it (integers in
//! their range, literals as the schema spells them, string lengths, how
//! many values a repeated parameter takes), and command arguments checked
//! against a command's parameters.

use serde_json::{Map, Value};

use super::{nearest, suggestion_text};

/// The values a configuration, status or parameter accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSpace {
    Integer {
        min: i64,
        max: i64,
    },
    Literal(Vec<String>),
    String {
        min_len: usize,
        max_len: usize,
    },
    /// A repeated argument: up to `max_count` values of `item`.
    Array {
        item: Box<ValueSpace>,
        max_count: usize,
    },
    /// The schema gives no bounds.
    Any,
}

/// Why a value is not in a value space.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("expected an integer, got {0}")]
    NotAnInteger(Value),
    #[error("{n} is outside {min}..{max}")]
    OutOfRange { n: i64, min: i64, max: i64 },
    #[error("expected one of {}", .0.join("/"))]
    NotALiteral(Vec<String>),
    #[error("{text:?} is not one of {}", values.join("/"))]
    UnknownLiteral { text: String, values: Vec<String> },
    #[error("expected a string, got {0}")]
    NotAString(Value),
    #[error("length {len} is outside {min_len}..{}", shown_max(*max_len))]
    Length {
        len: usize,
        min_len: usize,
        max_len: usize,
    },
    #[error("at most {max_count} values, got {got}")]
    TooMany { max_count: usize, got: usize },
}

/// An upper bound as a message shows it: none when there is none.
fn shown_max(max: usize) -> String {
    if max == usize::MAX {
        String::new()
    } else {
        max.to_string()
    }
}

impl ValueSpace {
    /// Checks `value` and returns it as the codec stores it (integers as
    /// numbers, literals spelled as the schema spells them), or says why not.
    pub fn check(&self, value: &Value) -> Result<Value, ValueError> {
        match self {
            ValueSpace::Any => Ok(value.clone()),
            ValueSpace::Integer { min, max } => {
                let n = match value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                }
                .ok_or_else(|| ValueError::NotAnInteger(value.clone()))?;
                if n < *min || n > *max {
                    return Err(ValueError::OutOfRange {
                        n,
                        min: *min,
                        max: *max,
                    });
                }
                Ok(Value::from(n))
            }
            ValueSpace::Literal(values) => {
                let text =
                    scalar_text(value).ok_or_else(|| ValueError::NotALiteral(values.clone()))?;
                values
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(&text))
                    .map(|v| Value::String(v.clone()))
                    .ok_or_else(|| ValueError::UnknownLiteral {
                        text,
                        values: values.clone(),
                    })
            }
            ValueSpace::String { min_len, max_len } => {
                let text =
                    scalar_text(value).ok_or_else(|| ValueError::NotAString(value.clone()))?;
                let len = text.chars().count();
                if len < *min_len || len > *max_len {
                    return Err(ValueError::Length {
                        len,
                        min_len: *min_len,
                        max_len: *max_len,
                    });
                }
                Ok(Value::String(text))
            }
            ValueSpace::Array { item, max_count } => {
                let items: Vec<&Value> = match value {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                if items.len() > *max_count {
                    return Err(ValueError::TooMany {
                        max_count: *max_count,
                        got: items.len(),
                    });
                }
                let checked = items
                    .into_iter()
                    .map(|v| item.check(v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if checked.len() == 1 {
                    checked.into_iter().next().unwrap_or_default()
                } else {
                    Value::Array(checked)
                })
            }
        }
    }

    /// The value a default string stands for in an integer-aware document.
    pub fn typed_default(&self, text: &str) -> Value {
        match self {
            ValueSpace::Integer { .. } => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(text.to_string())),
            _ => Value::String(text.to_string()),
        }
    }
}

pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

/// One command parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub required: bool,
    pub valuespace: ValueSpace,
    /// What the device uses when the parameter is left out, as the schema
    /// spells it (`HttpClient Get`'s `ResultBody` is `PlainText`).
    pub default: Option<String>,
    /// The schema's text about it (editors show it).
    pub description: Option<String>,
}

impl Param {
    /// The default as the device would store it once checked (integers as
    /// numbers, literals as the schema spells them). A default outside the
    /// parameter's own value space (the schema has a few, such as
    /// `TextLine Display`'s `X: 0` in 1..10000) is kept as written.
    pub fn default_value(&self) -> Option<Value> {
        let text = self.default.as_deref()?;
        let item = match &self.valuespace {
            ValueSpace::Array { item, .. } => item.as_ref(),
            other => other,
        };
        Some(
            item.check(&Value::String(text.to_string()))
                .unwrap_or_else(|_| item.typed_default(text)),
        )
    }
}

/// Checks command arguments against the parameter list and returns them as
/// the codec would store them; the error says which parameter is at fault.
pub fn check_params(
    params: &[Param],
    args: &Map<String, Value>,
) -> Result<Map<String, Value>, ParamError> {
    let mut out = Map::new();
    for (name, value) in args {
        if name == "body" {
            out.insert(name.clone(), value.clone());
            continue;
        }
        let Some(p) = params.iter().find(|p| p.name.eq_ignore_ascii_case(name)) else {
            return Err(ParamError::Unknown {
                name: name.clone(),
                suggestion: nearest(name, params.iter().map(|p| &p.name)),
            });
        };
        let v = p
            .valuespace
            .check(value)
            .map_err(|why| ParamError::BadValue {
                name: p.name.clone(),
                why,
            })?;
        out.insert(p.name.clone(), v);
    }
    let missing: Vec<String> = params
        .iter()
        .filter(|p| p.required && !out.contains_key(&p.name))
        .map(|p| p.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(ParamError::Missing(missing));
    }
    Ok(out)
}

/// Checked arguments with every parameter left out that has a default
/// filled in with it: what the device acts on (the log keeps what was sent).
pub fn with_defaults(params: &[Param], args: &Map<String, Value>) -> Map<String, Value> {
    let mut out = args.clone();
    for p in params {
        if !out.contains_key(&p.name)
            && let Some(v) = p.default_value()
        {
            out.insert(p.name.clone(), v);
        }
    }
    out
}

/// Why command arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown parameter {name:?}{}", suggestion_text(.suggestion))]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("bad argument to parameter {name:?}: {why}")]
    BadValue { name: String, why: ValueError },
    #[error("missing required parameter(s): {}", .0.join(", "))]
    Missing(Vec<String>),
}
