//! The assertions of email_reply_parser's `expected_behaviour_test.rb`, translated to Rust and
//! run against the fixture files in shared/fixtures/mail/email_reply_parser (read in place).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic on bad fixtures

mod common;

use std::time::{Duration, Instant};

use concierge_mail::{FoldedReply, fold_reply};
use regex::Regex;

fn read(name: &str) -> String {
    let path = common::fixtures("email_reply_parser").join(format!("{name}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn email(name: &str) -> FoldedReply {
    fold_reply(&read(name))
}

/// `EmailReplyParser.parse_reply(text)`
fn parse_reply(text: &str) -> String {
    fold_reply(text).visible_text()
}

fn quoted(r: &FoldedReply) -> Vec<bool> {
    r.fragments.iter().map(|f| f.quoted).collect()
}
fn signature(r: &FoldedReply) -> Vec<bool> {
    r.fragments.iter().map(|f| f.signature).collect()
}
fn hidden(r: &FoldedReply) -> Vec<bool> {
    r.fragments.iter().map(|f| f.hidden).collect()
}
/// Ruby's `=~` with `^` matching at any line start.
fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(&format!("(?m){pattern}"))
        .unwrap()
        .is_match(text)
}

#[test]
fn every_fixture_is_read() {
    let dir = common::fixtures("email_reply_parser");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") && !path.ends_with("LICENSE.txt") {
            let text = std::fs::read_to_string(&path).unwrap();
            let start = Instant::now();
            let r = fold_reply(&text);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{}",
                path.display()
            );
            // Folding loses nothing: the fragments put back together are the text.
            let joined: String = r
                .fragments
                .iter()
                .map(|f| f.content.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let normalized = text.replace("\r\n", "\n");
            let squash = |s: &str| s.split_whitespace().collect::<String>();
            assert_eq!(squash(&joined), squash(&normalized), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 22, "found {n} fixtures");
}

#[test]
fn encoding_should_be_maintained() {
    let r = email("email_1_1");
    assert!(!r.fragments.is_empty());
    // Rust strings are always UTF-8; the non-ASCII apostrophe survives.
    let r = email("email_1_2");
    assert!(r.fragments.iter().any(|f| f.content.contains('’')));
}

#[test]
fn reads_simple_body() {
    let r = email("email_1_1");
    assert_eq!(r.fragments.len(), 3);
    assert!(r.fragments.iter().all(|f| !f.quoted));
    assert_eq!(signature(&r), [false, true, true]);
    assert_eq!(hidden(&r), [false, true, true]);
    assert_eq!(
        r.fragments[0].content,
        "Hi folks\n\nWhat is the best way to clear a Riak bucket of all key, values after\nrunning a test?\nI am currently using the Java HTTP API.\n"
    );
    assert_eq!(r.fragments[1].content, "-Abhishek Kona\n\n");
}

#[test]
fn reads_top_post() {
    let r = email("email_1_3");
    assert_eq!(r.fragments.len(), 5);
    assert_eq!(quoted(&r), [false, false, true, false, false]);
    assert_eq!(hidden(&r), [false, true, true, true, true]);
    assert_eq!(signature(&r), [false, true, false, false, true]);
    assert!(matches(r"^Oh thanks.\n\nHaving", &r.fragments[0].content));
    assert!(matches(r"^-A", &r.fragments[1].content));
    assert!(matches(r"^On [^\:]+\:", &r.fragments[2].content));
    assert!(matches(r"^_", &r.fragments[4].content));
}

#[test]
fn reads_bottom_post() {
    let r = email("email_1_2");
    assert_eq!(r.fragments.len(), 6);
    assert_eq!(quoted(&r), [false, true, false, true, false, false]);
    assert_eq!(signature(&r), [false, false, false, false, false, true]);
    assert_eq!(hidden(&r), [false, false, false, true, true, true]);
    assert_eq!(r.fragments[0].content, "Hi,");
    assert!(matches(r"^On [^\:]+\:", &r.fragments[1].content));
    assert!(matches(r"^You can list", &r.fragments[2].content));
    assert!(matches(r"^> ", &r.fragments[3].content));
    assert!(matches(r"^_", &r.fragments[5].content));
}

#[test]
fn reads_inline_replies() {
    let r = email("email_1_8");
    assert_eq!(r.fragments.len(), 7);
    assert_eq!(quoted(&r), [true, false, true, false, true, false, false]);
    assert_eq!(
        signature(&r),
        [false, false, false, false, false, false, true]
    );
    assert_eq!(hidden(&r), [false, false, false, false, true, true, true]);
    assert!(matches(r"^On [^\:]+\:", &r.fragments[0].content));
    assert!(matches(r"^I will reply", &r.fragments[1].content));
    assert!(r.fragments[2].content.contains("okay?"));
    assert!(matches(r"^and under this.", &r.fragments[3].content));
    assert!(r.fragments[4].content.contains("inline"));
    assert_eq!(r.fragments[5].content, "\n");
    assert_eq!(
        r.fragments[6].content,
        "--\nHey there, this is my signature\n"
    );
    // Interleaved answers are never hidden.
    let visible = r.visible_text();
    assert!(visible.contains("I will reply under this one"));
    assert!(visible.contains("and under this."));
}

#[test]
fn recognizes_date_string_above_quote() {
    let r = email("email_1_4");
    assert!(matches(r"^Awesome", &r.fragments[0].content));
    assert!(matches(r"^On", &r.fragments[1].content));
    assert!(r.fragments[1].content.contains("Loader"));
}

#[test]
fn a_complex_body_with_only_one_fragment() {
    assert_eq!(email("email_1_5").fragments.len(), 1);
}

#[test]
fn reads_email_with_correct_signature() {
    let r = email("correct_sig");
    assert_eq!(r.fragments.len(), 2);
    assert_eq!(quoted(&r), [false, false]);
    assert_eq!(signature(&r), [false, true]);
    assert_eq!(hidden(&r), [false, true]);
    assert!(matches(r"^-- \nrick", &r.fragments[1].content));
}

#[test]
fn deals_with_multiline_reply_headers() {
    let r = email("email_1_6");
    assert!(matches(r"^I get", &r.fragments[0].content));
    assert!(matches(r"^On", &r.fragments[1].content));
    assert!(r.fragments[1].content.contains("Was this"));
}

#[test]
fn deals_with_windows_line_endings() {
    let r = email("email_1_7");
    assert!(matches(r":\+1:", &r.fragments[0].content));
    assert!(matches(r"^On", &r.fragments[1].content));
    assert!(r.fragments[1].content.contains("Steps 0-2"));
}

#[test]
fn handles_non_ascii_characters() {
    let body = "Here’s a test.";
    assert_eq!(parse_reply(body), body);
}

#[test]
fn does_not_modify_input_string() {
    let original = String::from("The Quick Brown Fox Jumps Over The Lazy Dog");
    let _ = fold_reply(&original);
    assert_eq!(original, "The Quick Brown Fox Jumps Over The Lazy Dog");
}

#[test]
fn returns_only_the_visible_fragments_as_a_string() {
    let r = email("email_2_1");
    let expected = r
        .fragments
        .iter()
        .filter(|f| !f.hidden)
        .map(|f| f.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(r.visible_text(), expected.trim_end());
}

#[test]
fn parse_out_just_top_for_outlook_reply() {
    assert_eq!(parse_reply(&read("email_2_1")), "Outlook with a reply");
}

#[test]
fn parse_out_just_top_for_outlook_with_reply_directly_above_line() {
    assert_eq!(
        parse_reply(&read("email_2_2")),
        "Outlook with a reply directly above line"
    );
}

#[test]
fn parse_out_just_top_for_outlook_with_no_line() {
    assert_eq!(
        parse_reply(&read("email_2_3")),
        "Outlook with a reply directly above line"
    );
}

#[test]
fn parse_out_sent_from_iphone() {
    assert_eq!(parse_reply(&read("email_iPhone")), "Here is another email");
}

#[test]
fn parse_out_sent_from_blackberry() {
    assert_eq!(
        parse_reply(&read("email_BlackBerry")),
        "Here is another email"
    );
}

#[test]
fn parse_out_send_from_multiword_mobile_device() {
    assert_eq!(
        parse_reply(&read("email_multi_word_sent_from_my_mobile_device")),
        "Here is another email"
    );
}

#[test]
fn do_not_parse_out_send_from_in_regular_sentence() {
    assert_eq!(
        parse_reply(&read("email_sent_from_my_not_signature")),
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone."
    );
}

#[test]
fn retains_bullets() {
    assert_eq!(
        parse_reply(&read("email_bullets")),
        "test 2 this should list second\n\nand have spaces\n\nand retain this formatting\n\n\n   - how about bullets\n   - and another"
    );
}

#[test]
fn parse_reply_equals_visible_text() {
    let body = read("email_1_2");
    assert_eq!(fold_reply(&body).visible_text(), parse_reply(&body));
}

#[test]
fn one_is_not_on() {
    let r = email("email_one_is_not_on");
    assert!(r.fragments[0].content.contains("One outstanding question"));
    assert!(matches(r"^On Oct 1, 2012", &r.fragments[1].content));
}

#[test]
fn multiple_on() {
    let r = email("greedy_on");
    assert!(matches(r"^On your remote host", &r.fragments[0].content));
    assert!(matches(r"^On 9 Jan 2014", &r.fragments[1].content));
    assert_eq!(quoted(&r), [false, true, false]);
    assert_eq!(signature(&r), [false, false, false]);
    assert_eq!(hidden(&r), [false, true, true]);
}

#[test]
fn pathological_emails() {
    let text = read("pathological");
    let start = Instant::now();
    let _ = fold_reply(&text);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn doesnt_remove_signature_delimiter_in_mid_line() {
    assert_eq!(
        email("email_sig_delimiter_in_middle_of_line")
            .fragments
            .len(),
        1
    );
}

#[test]
fn long_quote_processing_completes() {
    let text = read("email_long_quote");
    let start = Instant::now();
    let r = fold_reply(&text);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(r.fragments.len(), 5);
}
