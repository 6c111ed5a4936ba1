//! Every file of the mail-parser corpus (read in place from shared/fixtures) either parses or
//! returns a ParseError: no panic, and each completes quickly. Plus deterministic mutations
//! of the corpus (truncation, byte flips, boundary damage) under the same rule.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic on bad fixtures

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use concierge_mail::{ParseLimits, parse};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read fixture folder {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    walk(&common::fixtures("mail-parser"), &mut files);
    assert!(
        files.len() > 100,
        "expected the mail-parser corpus, found {}",
        files.len()
    );
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Per-message budget: generous for a debug build on a shared 2-core machine.
const BUDGET: Duration = Duration::from_secs(2);

#[test]
fn every_corpus_file_parses_or_errors_quickly() {
    let limits = ParseLimits::default();
    let mut parsed = 0;
    let mut errors = 0;
    for (path, raw) in corpus() {
        let start = Instant::now();
        match parse(&raw, &limits) {
            Ok(mail) => {
                parsed += 1;
                assert_eq!(mail.raw_size, raw.len());
                assert_eq!(mail.content_sha256.len(), 64);
                for a in &mail.attachments {
                    assert!(
                        !a.filename.is_empty(),
                        "{}: empty attachment name",
                        path.display()
                    );
                    assert!(
                        !a.filename.contains(['/', '\\', '\0']),
                        "{}",
                        path.display()
                    );
                }
                if let Some(html) = &mail.sanitized_html {
                    assert!(
                        !html.to_lowercase().contains("<script"),
                        "{}",
                        path.display()
                    );
                }
            }
            Err(e) => {
                errors += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        assert!(
            start.elapsed() < BUDGET,
            "{} took {:?}",
            path.display(),
            start.elapsed()
        );
    }
    // The .eml files are real messages; only the licence texts may fail.
    assert!(parsed >= 100, "parsed {parsed}, errors {errors}");
}

/// A small deterministic generator (xorshift) for mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

#[test]
fn mutated_corpus_never_panics_or_stalls() {
    let limits = ParseLimits::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let files: Vec<_> = corpus()
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    for (path, raw) in &files {
        for round in 0..4 {
            let mut m = raw.clone();
            match round {
                0 => m.truncate(rng.below(m.len())),
                1 => {
                    for _ in 0..16 {
                        let i = rng.below(m.len());
                        if let Some(b) = m.get_mut(i) {
                            *b = (rng.next() & 0xff) as u8;
                        }
                    }
                }
                2 => {
                    // Damage boundaries: drop every "--" line prefix.
                    let s = String::from_utf8_lossy(&m).replace("\n--", "\n");
                    m = s.into_bytes();
                }
                _ => {
                    // Remove all CRs and every other LF.
                    let mut keep = true;
                    m.retain(|&b| {
                        if b == b'\n' {
                            keep = !keep;
                            keep
                        } else {
                            b != b'\r'
                        }
                    });
                }
            }
            let start = Instant::now();
            let _ = parse(&m, &limits);
            assert!(
                start.elapsed() < BUDGET,
                "{} round {round} took {:?}",
                path.display(),
                start.elapsed()
            );
        }
    }
}
