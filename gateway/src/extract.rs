//! Request extractors that check the HTTP shape of a request the way v0.1.4's schemas did
//! (spec/rest-api.md, sections 1.1 and 1.2, Decisions 1 and 2), so handlers get typed input:
//!
//! - [`Body`]: a JSON object body. A body in another content type is 415
//!   `UNSUPPORTED_MEDIA_TYPE`; malformed JSON, or an empty body declared as JSON, is 400
//!   `BAD_REQUEST`; a missing body validates as `null` (`body must be object`). Types are strict:
//!   `"confirm":"true"` is not `true`.
//! - [`Query`]: the query string, parsed (`limit=3` is the integer 3).
//! - [`Params`]: the path parameters, percent-decoded; one longer than 100 characters does not
//!   match the route (404), as v0.1.4's router behaved.
//!
//! Each checks a [`Schema`]: a list of [`Prop`]s, checked in order, first failure only, with
//! Ajv's messages (`body must have required property 'topic'`, `querystring/limit must be <=
//! 1000`). Unknown body fields are dropped, except on the routes whose payload keeps them
//! (knowledge, task and skill create), which get them in [`Body::extra`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::GatewayError;

mod date_time;
pub mod patterns;

pub use date_time::parse_date_time;

/// Longest path parameter a route matches (v0.1.4's router: `maxParamLength` 100).
pub const MAX_PARAM_CHARS: usize = 100;

/// A string pattern: its regular expression as the schema states it, and the test for it.
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    /// The regular expression, as error messages and the API description show it.
    pub source: &'static str,
    /// Whether a string matches.
    pub test: fn(&str) -> bool,
}

/// What a property's value must be.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// A string of `min..=max` characters, matching `pattern` when one is given.
    Str {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
        /// Pattern the whole string must match.
        pattern: Option<Pattern>,
        /// `null` is allowed too.
        nullable: bool,
    },
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// An integer in `min..=max`.
    Int {
        /// Smallest.
        min: u64,
        /// Largest.
        max: u64,
    },
    /// An RFC 3339 date-time with its zone.
    DateTime,
}

impl Rule {
    /// A string of `min..=max` characters.
    pub const fn str(min: usize, max: usize) -> Rule {
        Rule::Str {
            min,
            max,
            pattern: None,
            nullable: false,
        }
    }

    /// A string or `null`, at most `max` characters.
    pub const fn nullable(max: usize) -> Rule {
        Rule::Str {
            min: 0,
            max,
            pattern: None,
            nullable: true,
        }
    }

    /// A string matching `pattern`.
    pub const fn pattern(pattern: Pattern) -> Rule {
        Rule::Str {
            min: 0,
            max: usize::MAX,
            pattern: Some(pattern),
            nullable: false,
        }
    }

    /// Ajv's name of the rule's type, as its `must be <type>` message says it.
    fn type_name(&self) -> &'static str {
        match self {
            Rule::Str { nullable: true, .. } => "string,null",
            Rule::Str { .. } | Rule::Enum(_) | Rule::DateTime => "string",
            Rule::Bool => "boolean",
            Rule::Int { .. } => "integer",
        }
    }
}

/// One property of a body or query schema.
#[derive(Clone, Copy, Debug)]
pub struct Prop {
    /// Its name.
    pub name: &'static str,
    /// What its value must be.
    pub rule: Rule,
    /// Whether it must be present.
    pub required: bool,
}

impl Prop {
    /// A required property.
    pub const fn req(name: &'static str, rule: Rule) -> Prop {
        Prop {
            name,
            rule,
            required: true,
        }
    }

    /// An optional property.
    pub const fn opt(name: &'static str, rule: Rule) -> Prop {
        Prop {
            name,
            rule,
            required: false,
        }
    }
}

/// A request part's schema: the type a handler receives, and the properties it is checked
/// against before deserialising.
pub trait Schema: DeserializeOwned {
    /// The properties, in the order they are checked.
    const PROPS: &'static [Prop];
    /// Unknown body fields are kept (in [`Body::extra`]) instead of dropped.
    const KEEP_EXTRA: bool = false;
}

/// A validated JSON object body.
#[derive(Debug)]
pub struct Body<T> {
    /// The known fields.
    pub fields: T,
    /// Unknown fields, on routes that keep them (empty elsewhere).
    pub extra: Map<String, Value>,
}

impl<T> Body<T> {
    /// The unknown fields as a JSON object text, or `""` when there are none.
    pub fn extra_json(&self) -> String {
        if self.extra.is_empty() {
            String::new()
        } else {
            Value::Object(self.extra.clone()).to_string()
        }
    }
}

/// Whether a `Content-Type` value names JSON (parameters such as `charset` allowed).
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: Schema,
{
    type Rejection = GatewayError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_string());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                GatewayError::new(413, "PAYLOAD_TOO_LARGE", "Request body is too large")
            } else if timed_out(&e) {
                GatewayError::new(
                    408,
                    "REQUEST_TIMEOUT",
                    "The request body stalled past the server's request timeout; send it whole",
                )
            } else {
                GatewayError::bad_request(format!("The request body could not be read: {e}"))
            }
        })?;
        let value = match &content_type {
            None if bytes.is_empty() => Value::Null,
            Some(ct) if is_json(ct) => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Err(GatewayError::bad_request(
                        "The body is empty but declared as JSON. Send a JSON object, e.g. {}.",
                    ));
                }
                serde_json::from_slice(&bytes).map_err(|e| {
                    GatewayError::bad_request(format!(
                        "The body is not valid JSON ({e}). Send a JSON object."
                    ))
                })?
            }
            other => {
                return Err(GatewayError::new(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    format!(
                        "Unsupported content type {}. Send the body as application/json.",
                        other.as_deref().unwrap_or("<missing>")
                    ),
                ));
            }
        };
        let Value::Object(given) = value else {
            return Err(GatewayError::bad_request("body must be object"));
        };
        let (known, extra) = check("body", T::PROPS, given, T::KEEP_EXTRA)?;
        let fields = deserialize(known)?;
        Ok(Body { fields, extra })
    }
}

/// A validated query string.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: Schema,
{
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let mut seen: Map<String, Value> = Map::new();
        let mut repeated: Vec<String> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if !T::PROPS.iter().any(|p| p.name == k) {
                continue;
            }
            if seen.contains_key(k.as_ref()) {
                repeated.push(k.to_string());
            }
            seen.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        // Ajv reads a repeated key as an array, which no scalar schema accepts.
        if let Some(p) = T::PROPS
            .iter()
            .find(|p| repeated.iter().any(|r| r == p.name))
        {
            return Err(GatewayError::bad_request(format!(
                "querystring/{} must be {}",
                p.name,
                p.rule.type_name()
            )));
        }
        for p in T::PROPS {
            if let Some(v) = seen.get_mut(p.name) {
                coerce(&p.rule, v);
            }
        }
        let (known, _) = check("querystring", T::PROPS, seen, false)?;
        Ok(Query(deserialize(known)?))
    }
}

/// The route's path parameters, percent-decoded.
#[derive(Debug)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The parameter `name` (empty when the route has none of that name).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| GatewayError::bad_request(format!("params: {e}")))?;
        let params: Vec<(String, String)> = raw
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if params
            .iter()
            .any(|(_, v)| v.chars().count() > MAX_PARAM_CHARS)
        {
            return Err(route_not_found(&parts.method, &parts.uri));
        }
        Ok(Params(params))
    }
}

/// 404 `NOT_FOUND` for a request no route takes.
pub fn route_not_found(method: &axum::http::Method, uri: &axum::http::Uri) -> GatewayError {
    let url = uri.path_and_query().map_or("/", |p| p.as_str());
    GatewayError::not_found(format!("route {method} {url} not found"))
}

/// Query strings are parsed (Decision 2): integers and booleans from their text.
fn coerce(rule: &Rule, v: &mut Value) {
    let Value::String(s) = v else { return };
    match rule {
        Rule::Int { .. } => {
            if let Ok(n) = s.parse::<u64>() {
                *v = Value::from(n);
            } else if let Ok(n) = s.parse::<i64>() {
                *v = Value::from(n);
            } else if let Ok(f) = s.trim().parse::<f64>()
                && f.is_finite()
                && !s.trim().is_empty()
                && let Some(n) = serde_json::Number::from_f64(f)
            {
                *v = Value::Number(n);
            }
        }
        Rule::Bool => match s.as_str() {
            "true" => *v = Value::Bool(true),
            "false" => *v = Value::Bool(false),
            _ => {}
        },
        _ => {}
    }
}

/// A JSON object's fields.
type Fields = Map<String, Value>;

/// Checks `given` against `props` in order: every required property first, then each present
/// property's rule. Returns the known properties (integers normalised) and the unknown ones
/// (empty unless `keep_extra`).
fn check(
    part: &str,
    props: &[Prop],
    mut given: Map<String, Value>,
    keep_extra: bool,
) -> Result<(Fields, Fields), GatewayError> {
    if let Some(p) = props
        .iter()
        .find(|p| p.required && !given.contains_key(p.name))
    {
        return Err(GatewayError::bad_request(format!(
            "{part} must have required property '{}'",
            p.name
        )));
    }
    let mut known = Map::new();
    for p in props {
        if let Some(v) = given.remove(p.name) {
            let v = check_value(&p.rule, v)
                .map_err(|why| GatewayError::bad_request(format!("{part}/{} {why}", p.name)))?;
            known.insert(p.name.to_string(), v);
        }
    }
    let extra = if keep_extra { given } else { Map::new() };
    Ok((known, extra))
}

/// The value, normalised, or Ajv's complaint about it (`must be <= 1000`).
fn check_value(rule: &Rule, v: Value) -> Result<Value, String> {
    let type_error = || format!("must be {}", rule.type_name());
    match rule {
        Rule::Str {
            min,
            max,
            pattern,
            nullable,
        } => {
            let s = match &v {
                Value::Null if *nullable => return Ok(v),
                Value::String(s) => s,
                _ => return Err(type_error()),
            };
            let n = s.chars().count();
            if n > *max {
                return Err(format!("must NOT have more than {max} characters"));
            }
            if n < *min {
                return Err(format!("must NOT have fewer than {min} characters"));
            }
            if let Some(p) = pattern
                && !(p.test)(s)
            {
                return Err(format!("must match pattern \"{}\"", p.source));
            }
            Ok(v)
        }
        Rule::Enum(values) => match &v {
            Value::String(s) if values.contains(&s.as_str()) => Ok(v),
            Value::String(_) => Err("must be equal to one of the allowed values".to_string()),
            _ => Err(type_error()),
        },
        Rule::Bool => match v {
            Value::Bool(_) => Ok(v),
            _ => Err(type_error()),
        },
        Rule::Int { min, max } => {
            let Value::Number(n) = &v else {
                return Err(type_error());
            };
            let f = n.as_f64().unwrap_or(f64::NAN);
            if !f.is_finite() || f.fract() != 0.0 {
                return Err(type_error());
            }
            if f > *max as f64 {
                return Err(format!("must be <= {max}"));
            }
            if f < *min as f64 {
                return Err(format!("must be >= {min}"));
            }
            // In range, so a whole number that fits u64.
            Ok(Value::from(n.as_u64().unwrap_or(f as u64)))
        }
        Rule::DateTime => match &v {
            Value::String(s) if parse_date_time(s).is_some() => Ok(v),
            Value::String(_) => Err("must match format \"date-time\"".to_string()),
            _ => Err(type_error()),
        },
    }
}

fn deserialize<T: DeserializeOwned>(known: Map<String, Value>) -> Result<T, GatewayError> {
    // The schema was checked, so this fails only if a type and its schema disagree: a bug.
    serde_json::from_value(Value::Object(known)).map_err(GatewayError::internal)
}

/// For `Option<Option<T>>` fields: absent (`None`, via `#[serde(default)]`) is told apart from
/// `null` (`Some(None)`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Whether reading the body failed because it stalled past the server's request timeout.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROPS: &[Prop] = &[
        Prop::req("topic", Rule::str(1, 200)),
        Prop::opt("confirm", Rule::Bool),
        Prop::opt("limit", Rule::Int { min: 1, max: 1000 }),
        Prop::opt("purpose", Rule::nullable(200)),
        Prop::opt("key", Rule::pattern(patterns::HEX64)),
    ];

    fn run(v: Value) -> Result<Map<String, Value>, String> {
        let Value::Object(m) = v else {
            return Err("body must be object".into());
        };
        check("body", PROPS, m, false)
            .map(|(k, _)| k)
            .map_err(|e| e.message)
    }

    #[test]
    fn messages_read_as_ajv_writes_them() {
        assert_eq!(
            run(json!({})).unwrap_err(),
            "body must have required property 'topic'"
        );
        assert_eq!(
            run(json!({"topic": "t", "confirm": "true"})).unwrap_err(),
            "body/confirm must be boolean"
        );
        assert_eq!(
            run(json!({"topic": "t", "limit": 1001})).unwrap_err(),
            "body/limit must be <= 1000"
        );
        assert_eq!(
            run(json!({"topic": "t", "limit": 2.5})).unwrap_err(),
            "body/limit must be integer"
        );
        assert_eq!(
            run(json!({"topic": ""})).unwrap_err(),
            "body/topic must NOT have fewer than 1 characters"
        );
        assert_eq!(
            run(json!({"topic": "t", "purpose": 3})).unwrap_err(),
            "body/purpose must be string,null"
        );
        assert_eq!(
            run(json!({"topic": "t", "key": "short"})).unwrap_err(),
            "body/key must match pattern \"^[0-9a-f]{64}$\""
        );
    }

    #[test]
    fn unknown_fields_are_dropped_and_whole_floats_become_integers() {
        let m = run(json!({"topic": "t", "limit": 3.0, "other": 1, "purpose": null})).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"topic": "t", "limit": 3, "purpose": null})
        );
    }

    #[test]
    fn query_values_are_parsed_before_they_are_checked() {
        let mut v = Value::String("3".into());
        coerce(&Rule::Int { min: 1, max: 1000 }, &mut v);
        assert_eq!(v, json!(3));
        let mut v = Value::String("three".into());
        coerce(&Rule::Int { min: 1, max: 1000 }, &mut v);
        assert_eq!(
            check_value(&Rule::Int { min: 1, max: 1000 }, v).unwrap_err(),
            "must be integer"
        );
    }

    #[test]
    fn date_times_need_their_zone() {
        assert_eq!(
            parse_date_time("2026-04-15T12:00:00.000Z"),
            Some(1_776_254_400_000)
        );
        assert_eq!(
            parse_date_time("2026-04-15T14:00:00.5+02:00"),
            Some(1_776_254_400_500)
        );
        assert_eq!(parse_date_time("2026-04-15T12:00:00"), None);
        assert_eq!(parse_date_time("2026-02-30T12:00:00Z"), None);
        assert_eq!(parse_date_time("nope"), None);
        assert_eq!(parse_date_time("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn identifier_patterns() {
        assert!((patterns::HANDLE.test)("anon-falcon-7f2d9999"));
        assert!(!(patterns::HANDLE.test)("anon-Falcon-7f2d9999"));
        assert!((patterns::ENTRY_ID.test)("12347f2d-3"));
        assert!((patterns::ENTRY_ID.test)("12347f2d-3~00af"));
        assert!(!(patterns::ENTRY_ID.test)("not-an-id"));
        assert!((patterns::ALIAS.test)("default-2"));
        assert!(!(patterns::ALIAS.test)("-x"));
        assert!((patterns::RECIPIENT.test)("*"));
    }
}
