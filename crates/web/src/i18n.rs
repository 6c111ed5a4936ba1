//! Interface translations. Every piece of UI text is a key in `locales/{en,zh-CN,ko}.toml`;
//! templates ask a [`Tr`] for the text in the request's language. A test checks that every
//! locale has every key.

use concierge_domain::Locale;
use std::collections::HashMap;

const EN: &str = include_str!("../locales/en.toml");
const ZH_CN: &str = include_str!("../locales/zh-CN.toml");
const KO: &str = include_str!("../locales/ko.toml");

/// All translations, loaded once.
#[derive(Debug)]
pub struct I18n {
    tables: HashMap<Locale, HashMap<String, String>>,
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out),
            _ => {}
        }
    }
}

impl I18n {
    /// Parses the embedded translation files.
    pub fn load() -> Result<I18n, String> {
        let mut tables = HashMap::new();
        for (loc, src) in [(Locale::En, EN), (Locale::ZhCn, ZH_CN), (Locale::Ko, KO)] {
            let table: toml::Table = toml::from_str(src)
                .map_err(|e| format!("translation file for {} is invalid: {e}", loc.tag()))?;
            let mut flat = HashMap::new();
            flatten("", &table, &mut flat);
            tables.insert(loc, flat);
        }
        Ok(I18n { tables })
    }

    /// Text for `key`; falls back to English, then to the key in brackets (visible in tests).
    pub fn text<'a>(&'a self, locale: Locale, key: &'a str) -> &'a str {
        self.tables
            .get(&locale)
            .and_then(|t| t.get(key))
            .or_else(|| self.tables.get(&Locale::En).and_then(|t| t.get(key)))
            .map(String::as_str)
            .unwrap_or(key)
    }

    /// Keys present in English but missing in `locale`.
    pub fn missing_keys(&self, locale: Locale) -> Vec<String> {
        let (Some(en), Some(other)) = (self.tables.get(&Locale::En), self.tables.get(&locale))
        else {
            return vec!["<table missing>".into()];
        };
        let mut missing: Vec<String> = en
            .keys()
            .filter(|k| !other.contains_key(*k))
            .cloned()
            .collect();
        missing.sort();
        missing
    }
}

/// A translator bound to one request's language, handed to templates.
#[derive(Clone, Copy)]
pub struct Tr<'a> {
    pub i18n: &'a I18n,
    pub locale: Locale,
}

impl<'a> Tr<'a> {
    pub fn get(&self, key: &'a str) -> &'a str {
        self.i18n.text(self.locale, key)
    }

    pub fn lang(&self) -> &'static str {
        self.locale.tag()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_locale_has_every_key() {
        let i = I18n::load().unwrap();
        for loc in Locale::ALL {
            assert!(
                i.missing_keys(loc).is_empty(),
                "{loc:?}: {:?}",
                i.missing_keys(loc)
            );
        }
        // And no locale has keys English lacks (typos).
        let en = &i.tables[&Locale::En];
        for loc in Locale::ALL {
            for k in i.tables[&loc].keys() {
                assert!(en.contains_key(k), "{k} in {loc:?} but not in English");
            }
        }
    }

    #[test]
    fn texts_differ_by_language() {
        let i = I18n::load().unwrap();
        assert_eq!(i.text(Locale::En, "home.title"), "Home");
        assert_eq!(i.text(Locale::ZhCn, "home.title"), "首页");
        assert_eq!(i.text(Locale::Ko, "home.title"), "홈");
    }
}
