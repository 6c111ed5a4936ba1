//! The personalisation template language (issue 3 §7, principles P1/P10): replies and
//! outreach that fill in from what the profile knows.
//!
//! ```text
//! Good morning {{customer.first_name | "there"}}, your {{pref.drink | "coffee"}} is on the way.
//! ```
//!
//! - A placeholder is `{{ path }}` or `{{ path | "fallback" }}` (the fallback in double quotes;
//!   `\"` and `\\` escape inside it). Whitespace around the parts is ignored.
//! - Paths: `customer.first_name`, `customer.last_name`, `customer.name`, `customer.age`,
//!   `customer.tier`, `customer.language`, `customer.birthday`, `household.name`, and
//!   `pref.<key>` for any preference key. An unknown path is an error when the template is
//!   parsed, so a typo is caught when the template is written, not when it is sent.
//! - A value the profile does not have renders as the fallback, or as nothing when there is
//!   none; the raw placeholder never reaches a customer. [`Rendered::missing`] lists the paths
//!   that had no value so an agent can see what the profile lacks.
//! - Values are escaped for the channel: [`Escape::Html`] escapes `& < > " '` in every
//!   substituted value and fallback; [`Escape::Text`] inserts them as they are. The template
//!   text itself is the author's and is not changed.

use crate::customer::PrefKey;
use std::collections::BTreeMap;

/// Longest template, in bytes.
pub const TEMPLATE_MAX: usize = 100_000;

/// Why a template was refused; says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is longer than {TEMPLATE_MAX} bytes")]
    TooLong,
    #[error("'{{{{' at byte {0} is never closed with '}}}}'")]
    Unclosed(usize),
    #[error(
        "'{0}' is not a field you can use (try customer.first_name, customer.age, customer.tier, household.name or pref.KEY)"
    )]
    UnknownPath(String),
    #[error(
        "the fallback at byte {0} must be in double quotes, e.g. {{{{pref.drink | \"coffee\"}}}}"
    )]
    BadFallback(usize),
}

/// How substituted values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Plain text (SMS, text mail): values as they are.
    Text,
    /// HTML mail or a web page: values escaped.
    Html,
}

/// The fields a template may name, besides `pref.*`.
pub const FIELDS: &[&str] = &[
    "customer.first_name",
    "customer.last_name",
    "customer.name",
    "customer.age",
    "customer.tier",
    "customer.language",
    "customer.birthday",
    "household.name",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field {
        path: String,
        fallback: Option<String>,
    },
}

/// A parsed template, ready to render many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// The outcome of rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub output: String,
    /// Paths the profile had no value for (their fallback, or nothing, was used).
    pub missing: Vec<String>,
}

/// The values a template is rendered with: `path → value` (e.g. `pref.drink → tea`).
pub type Context = BTreeMap<String, String>;

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        if src.len() > TEMPLATE_MAX {
            return Err(TemplateError::TooLong);
        }
        let mut parts = Vec::new();
        let mut rest = src;
        let mut offset = 0usize;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let at = offset + open;
            let inner_start = open + 2;
            let close = rest[inner_start..]
                .find("}}")
                .ok_or(TemplateError::Unclosed(at))?;
            let inner = &rest[inner_start..inner_start + close];
            parts.push(parse_field(inner, at)?);
            let consumed = inner_start + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The paths this template uses, in order of first use.
    pub fn paths(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Field { path, .. } = p
                && !out.contains(&path.as_str())
            {
                out.push(path);
            }
        }
        out
    }

    pub fn render(&self, ctx: &Context, escape: Escape) -> Rendered {
        let mut output = String::new();
        let mut missing: Vec<String> = Vec::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => output.push_str(t),
                Part::Field { path, fallback } => {
                    match ctx.get(path).filter(|v| !v.trim().is_empty()) {
                        Some(v) => push_escaped(&mut output, v, escape),
                        None => {
                            if !missing.contains(path) {
                                missing.push(path.clone());
                            }
                            if let Some(f) = fallback {
                                push_escaped(&mut output, f, escape);
                            }
                        }
                    }
                }
            }
        }
        Rendered { output, missing }
    }
}

fn parse_field(inner: &str, at: usize) -> Result<Part, TemplateError> {
    let (path_src, fallback_src) = match inner.find('|') {
        Some(i) => (&inner[..i], Some(&inner[i + 1..])),
        None => (inner, None),
    };
    let path = path_src.trim();
    let path = if let Some(key) = path.strip_prefix("pref.") {
        let k = PrefKey::parse(key).map_err(|_| TemplateError::UnknownPath(short(path)))?;
        if k.as_str() != key {
            return Err(TemplateError::UnknownPath(short(path)));
        }
        format!("pref.{key}")
    } else if FIELDS.contains(&path) {
        path.to_string()
    } else {
        return Err(TemplateError::UnknownPath(short(path)));
    };
    let fallback = match fallback_src {
        None => None,
        Some(f) => Some(parse_quoted(f.trim()).ok_or(TemplateError::BadFallback(at))?),
    };
    Ok(Part::Field { path, fallback })
}

fn parse_quoted(s: &str) -> Option<String> {
    let body = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().nth(60).is_some() {
        out.push('…');
    }
    out
}

fn push_escaped(out: &mut String, v: &str, escape: Escape) {
    match escape {
        Escape::Text => out.push_str(v),
        Escape::Html => {
            for c in v.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&#39;"),
                    c => out.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fills_in_from_the_profile() {
        let t = Template::parse(
            "Good morning {{customer.first_name}}, your {{ pref.drink }} and {{pref.newspaper}} are on the way.",
        )
        .unwrap();
        let r = t.render(
            &ctx(&[
                ("customer.first_name", "Ann"),
                ("pref.drink", "tea"),
                ("pref.newspaper", "The Wall Street Journal"),
            ]),
            Escape::Text,
        );
        assert_eq!(
            r.output,
            "Good morning Ann, your tea and The Wall Street Journal are on the way."
        );
        assert!(r.missing.is_empty());
        assert_eq!(
            t.paths(),
            vec!["customer.first_name", "pref.drink", "pref.newspaper"]
        );
    }

    #[test]
    fn missing_values_use_the_fallback_or_nothing_never_the_placeholder() {
        let t = Template::parse(
            r#"Hi {{customer.first_name | "there"}}! {{pref.drink | "Coffee \"black\""}}.{{customer.tier}}|{{household.name}}"#,
        )
        .unwrap();
        let r = t.render(&Context::new(), Escape::Text);
        assert_eq!(r.output, "Hi there! Coffee \"black\".|");
        assert!(!r.output.contains("{{"));
        assert_eq!(
            r.missing,
            vec![
                "customer.first_name",
                "pref.drink",
                "customer.tier",
                "household.name"
            ]
        );
        // An empty value counts as missing.
        let r = t.render(&ctx(&[("customer.first_name", "  ")]), Escape::Text);
        assert!(r.output.starts_with("Hi there!"));
    }

    #[test]
    fn values_are_escaped_for_html_but_not_for_text() {
        let t = Template::parse("<p>{{customer.name}}</p>").unwrap();
        let c = ctx(&[("customer.name", "<script>alert('x')</script> & Co")]);
        assert_eq!(
            t.render(&c, Escape::Html).output,
            "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co</p>"
        );
        assert_eq!(
            t.render(&c, Escape::Text).output,
            "<p><script>alert('x')</script> & Co</p>"
        );
        let t = Template::parse(r#"{{pref.x | "<b>"}}"#).unwrap();
        assert_eq!(t.render(&Context::new(), Escape::Html).output, "&lt;b&gt;");
    }

    #[test]
    fn bad_templates_are_refused_with_where_and_why() {
        assert_eq!(
            Template::parse("Hi {{customer.first_name"),
            Err(TemplateError::Unclosed(3))
        );
        assert!(matches!(
            Template::parse("{{customer.password}}"),
            Err(TemplateError::UnknownPath(p)) if p == "customer.password"
        ));
        assert!(matches!(
            Template::parse("{{pref.Drink}}"),
            Err(TemplateError::UnknownPath(_))
        ));
        assert!(matches!(
            Template::parse("{{pref.drink | coffee}}"),
            Err(TemplateError::BadFallback(0))
        ));
        assert_eq!(
            Template::parse(&"x".repeat(TEMPLATE_MAX + 1)),
            Err(TemplateError::TooLong)
        );
        // Plain text, unicode and a lone '}}' are fine.
        let t = Template::parse("早上好 }} {{customer.name}}").unwrap();
        assert_eq!(
            t.render(&ctx(&[("customer.name", "王伟")]), Escape::Text)
                .output,
            "早上好 }} 王伟"
        );
    }

    #[test]
    fn values_containing_braces_are_not_re_expanded() {
        let t = Template::parse("{{pref.note}}").unwrap();
        let r = t.render(&ctx(&[("pref.note", "{{customer.age}}")]), Escape::Text);
        assert_eq!(r.output, "{{customer.age}}");
    }
}
