//! The threading decision, branch by branch, with a fake store; and loop classification.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic on bad fixtures

use std::collections::HashMap;
use std::convert::Infallible;

use concierge_mail::{
    CaseId, CaseLookup, CaseState, CustomerId, LoopReason, MailClass, ParseLimits, ParsedMail,
    ThreadDecision, ThreadVia, TokenKey, TokenSource, classify, decide_thread, parse,
};

#[derive(Default)]
struct FakeStore {
    cases: HashMap<CaseId, CaseState>,
    message_ids: HashMap<String, CaseId>,
    subjects: HashMap<(CustomerId, String), CaseId>,
}

impl FakeStore {
    fn case(mut self, id: CaseId, customer: CustomerId, closed: bool) -> Self {
        self.cases.insert(
            id,
            CaseState {
                customer_id: Some(customer),
                closed,
            },
        );
        self
    }
    fn message(mut self, message_id: &str, case: CaseId) -> Self {
        self.message_ids.insert(message_id.to_string(), case);
        self
    }
    fn subject(mut self, customer: CustomerId, key: &str, case: CaseId) -> Self {
        self.subjects.insert((customer, key.to_string()), case);
        self
    }
}

impl CaseLookup for FakeStore {
    type Error = Infallible;

    async fn case_state(&self, case_id: CaseId) -> Result<Option<CaseState>, Infallible> {
        Ok(self.cases.get(&case_id).copied())
    }

    async fn case_by_message_ids(&self, ids: &[String]) -> Result<Option<CaseId>, Infallible> {
        Ok(ids.iter().find_map(|id| self.message_ids.get(id).copied()))
    }

    async fn open_case_by_subject(
        &self,
        customer_id: CustomerId,
        key: &str,
    ) -> Result<Option<CaseId>, Infallible> {
        Ok(self
            .subjects
            .get(&(customer_id, key.to_string()))
            .copied()
            .filter(|c| self.cases.get(c).is_some_and(|s| !s.closed)))
    }
}

fn key() -> TokenKey {
    TokenKey::new(b"threading-test-key-0123456789abc".to_vec()).unwrap()
}

fn mail(headers: &str) -> ParsedMail {
    let raw = format!(
        "From: Customer <cust@example.com>\r\nMessage-ID: <new@example.com>\r\n{headers}\r\nHello\r\n"
    );
    parse(raw.as_bytes(), &ParseLimits::default()).unwrap()
}

#[tokio::test]
async fn verified_message_id_token_wins() {
    let k = key();
    let ours = k.outbound_message_id(7, 70, "shop.example").unwrap();
    // References also point at case 8 and the subject at case 9: the token comes first.
    let store = FakeStore::default()
        .case(7, 1, false)
        .case(8, 1, false)
        .case(9, 1, false)
        .message("other@x", 8);
    let m = mail(&format!(
        "In-Reply-To: <{ours}>\r\nReferences: <other@x> <{ours}>\r\nSubject: Re: [#9] x\r\n"
    ));
    let d = decide_thread(&m, &k, Some(1), &store).await.unwrap();
    assert_eq!(
        d,
        ThreadDecision::Existing {
            case_id: 7,
            via: ThreadVia::VerifiedToken(TokenSource::InReplyTo)
        }
    );
}

#[tokio::test]
async fn verified_reply_address_in_to_cc_and_delivered_to() {
    let k = key();
    let addr = k.reply_address(12, "support", "shop.example").unwrap();
    let store = FakeStore::default().case(12, 1, false);
    for (header, source) in [
        (format!("To: {addr}\r\n"), TokenSource::To),
        (
            format!("To: someone@else\r\nCc: {addr}\r\n"),
            TokenSource::Cc,
        ),
        (
            format!("To: support@shop.example\r\nDelivered-To: {addr}\r\n"),
            TokenSource::DeliveredTo,
        ),
    ] {
        let d = decide_thread(
            &mail(&format!("{header}Subject: new question\r\n")),
            &k,
            None,
            &store,
        )
        .await
        .unwrap();
        assert_eq!(
            d,
            ThreadDecision::Existing {
                case_id: 12,
                via: ThreadVia::VerifiedToken(source)
            }
        );
    }
}

#[tokio::test]
async fn forged_tokens_are_ignored() {
    let k = key();
    let store = FakeStore::default().case(5, 2, false);
    // A token for case 5 with a made-up MAC, from someone who is not customer 2.
    let m = mail(
        "In-Reply-To: <c5.m1.0011223344556677.0123456789abcdef@shop.example>\r\nTo: support+c5-0123456789abcdef@shop.example\r\nSubject: Re: hi\r\n",
    );
    assert_eq!(
        decide_thread(&m, &k, Some(1), &store).await.unwrap(),
        ThreadDecision::NewCase
    );
    // A token made with another key.
    let other = TokenKey::new(b"some-other-key-that-is-long-enough".to_vec()).unwrap();
    let forged = other.outbound_message_id(5, 1, "shop.example").unwrap();
    let m = mail(&format!("In-Reply-To: <{forged}>\r\nSubject: x\r\n"));
    assert_eq!(
        decide_thread(&m, &k, Some(1), &store).await.unwrap(),
        ThreadDecision::NewCase
    );
}

#[tokio::test]
async fn subject_token_needs_the_same_customer() {
    let k = key();
    let store = FakeStore::default().case(1234, 42, false);
    let m = mail("Subject: Re: [#1234] my order\r\n");
    assert_eq!(
        decide_thread(&m, &k, Some(42), &store).await.unwrap(),
        ThreadDecision::Existing {
            case_id: 1234,
            via: ThreadVia::SubjectToken
        }
    );
    // Another customer typing the same token gets a new case.
    assert_eq!(
        decide_thread(&m, &k, Some(43), &store).await.unwrap(),
        ThreadDecision::NewCase
    );
    // An unknown sender too.
    assert_eq!(
        decide_thread(&m, &k, None, &store).await.unwrap(),
        ThreadDecision::NewCase
    );
}

#[tokio::test]
async fn references_match_stored_messages() {
    let k = key();
    // e.g. a staff reply sent from Outlook with a cc to the mailbox: its Message-ID was
    // stored when the cc copy arrived; the customer's answer references it.
    let store = FakeStore::default()
        .case(3, 1, false)
        .message("staff-outlook@corp", 3);
    let m = mail(
        "In-Reply-To: <staff-outlook@corp>\r\nReferences: <root@x> <staff-outlook@corp>\r\nSubject: Re: whatever\r\n",
    );
    assert_eq!(
        decide_thread(&m, &k, None, &store).await.unwrap(),
        ThreadDecision::Existing {
            case_id: 3,
            via: ThreadVia::References
        }
    );
    // Only an older id in References matches.
    let store = FakeStore::default().case(4, 1, false).message("root@x", 4);
    assert_eq!(
        decide_thread(&m, &k, None, &store).await.unwrap(),
        ThreadDecision::Existing {
            case_id: 4,
            via: ThreadVia::References
        }
    );
}

#[tokio::test]
async fn subject_match_only_for_same_customer_and_open_case() {
    let k = key();
    let store = FakeStore::default()
        .case(20, 1, false)
        .subject(1, "late delivery", 20)
        .case(21, 2, true)
        .subject(2, "late delivery", 21);
    let m = mail("Subject: AW: 回复: Late   Delivery\r\n");
    assert_eq!(
        decide_thread(&m, &k, Some(1), &store).await.unwrap(),
        ThreadDecision::Existing {
            case_id: 20,
            via: ThreadVia::Subject
        }
    );
    // Without a reply prefix the same subject is a new conversation.
    let fresh = mail("Subject: Late   Delivery\r\n");
    assert_eq!(
        decide_thread(&fresh, &k, Some(1), &store).await.unwrap(),
        ThreadDecision::NewCase
    );
    // Customer 2's only matching case is closed: subject matching does not reopen it.
    assert_eq!(
        decide_thread(&m, &k, Some(2), &store).await.unwrap(),
        ThreadDecision::NewCase
    );
    // Customer 3 has no such case; unknown sender neither.
    assert_eq!(
        decide_thread(&m, &k, Some(3), &store).await.unwrap(),
        ThreadDecision::NewCase
    );
    assert_eq!(
        decide_thread(&m, &k, None, &store).await.unwrap(),
        ThreadDecision::NewCase
    );
}

#[tokio::test]
async fn closed_cases_get_a_linked_follow_up() {
    let k = key();
    let ours = k.outbound_message_id(30, 1, "shop.example").unwrap();
    let store = FakeStore::default()
        .case(30, 1, true)
        .case(31, 1, true)
        .message("old@x", 31);
    let m = mail(&format!("In-Reply-To: <{ours}>\r\nSubject: Re: thanks\r\n"));
    assert_eq!(
        decide_thread(&m, &k, Some(1), &store).await.unwrap(),
        ThreadDecision::FollowUp {
            closed_case_id: 30,
            via: ThreadVia::VerifiedToken(TokenSource::InReplyTo)
        }
    );
    let m = mail("In-Reply-To: <old@x>\r\nSubject: Re: thanks\r\n");
    assert_eq!(
        decide_thread(&m, &k, Some(1), &store).await.unwrap(),
        ThreadDecision::FollowUp {
            closed_case_id: 31,
            via: ThreadVia::References
        }
    );
}

#[tokio::test]
async fn nothing_matches_means_new_case() {
    let store = FakeStore::default().case(1, 1, false);
    let m = mail("Subject: A brand new question\r\n");
    assert_eq!(
        decide_thread(&m, &key(), Some(1), &store).await.unwrap(),
        ThreadDecision::NewCase
    );
}

// ---- classification ---------------------------------------------------------------------

fn class_of(headers: &str) -> (MailClass, Vec<LoopReason>) {
    let raw = format!("{headers}Subject: x\r\nTo: support@shop.example\r\n\r\nbody\r\n");
    let m = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    let c = classify(&m, &["support@shop.example", "noreply@shop.example"]);
    assert_eq!(c.may_auto_reply(), c.class == MailClass::Human);
    (c.class, c.reasons)
}

#[test]
fn human_mail_may_be_answered() {
    let (class, reasons) =
        class_of("From: a@example.com\r\nReturn-Path: <a@example.com>\r\nAuto-Submitted: no\r\n");
    assert_eq!(class, MailClass::Human);
    assert!(reasons.is_empty());
}

#[test]
fn auto_replies_are_detected() {
    for h in [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated\r\n",
        "Auto-Submitted: auto-notified; owner-email=\"x@y\"\r\n",
        "X-Autoreply: yes\r\n",
        "X-Autorespond: vacation\r\n",
        "X-Auto-Response-Suppress: All\r\n",
        "X-Loop: helpdesk@other.example\r\n",
        "Return-Path: <>\r\n",
    ] {
        let (class, reasons) = class_of(&format!("From: a@example.com\r\n{h}"));
        assert_eq!(class, MailClass::AutoReply, "{h}");
        assert!(!reasons.is_empty());
    }
}

#[test]
fn bulk_and_lists_are_detected() {
    assert_eq!(
        class_of("From: a@x\r\nPrecedence: bulk\r\n").0,
        MailClass::Bulk
    );
    assert_eq!(
        class_of("From: a@x\r\nPrecedence: junk\r\n").0,
        MailClass::Bulk
    );
    assert_eq!(
        class_of("From: a@x\r\nPrecedence: list\r\n").0,
        MailClass::MailingList
    );
    let (class, reasons) = class_of("From: a@x\r\nList-Id: <riak-users.lists.basho.com>\r\n");
    assert_eq!(class, MailClass::MailingList);
    assert!(matches!(&reasons[0], LoopReason::ListId(v) if v.contains("riak-users")));
    assert_eq!(
        class_of("From: a@x\r\nList-Unsubscribe: <mailto:u@x>\r\n").0,
        MailClass::Bulk
    );
}

#[test]
fn bounces_are_detected() {
    let (class, reasons) = class_of(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nReturn-Path: <>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n",
    );
    assert_eq!(class, MailClass::Bounce);
    assert!(reasons.contains(&LoopReason::DeliveryStatusReport));
    assert!(reasons.contains(&LoopReason::NullReturnPath));
    assert!(
        reasons
            .iter()
            .any(|r| matches!(r, LoopReason::DaemonSender(_)))
    );
    assert_eq!(
        class_of("From: postmaster@mx.example\r\n").0,
        MailClass::Bounce
    );
    assert_eq!(
        class_of("From: a@x\r\nX-Failed-Recipients: b@y\r\n").0,
        MailClass::Bounce
    );
}

#[test]
fn our_own_mail_is_detected() {
    let (class, reasons) = class_of("From: Support <Support+c12-abcdef@Shop.Example>\r\n");
    assert_eq!(class, MailClass::OwnMail);
    assert_eq!(
        reasons,
        vec![LoopReason::OwnAddress("support@shop.example".to_string())]
    );
    assert_eq!(
        class_of("From: a@x\r\nReturn-Path: <noreply@shop.example>\r\n").0,
        MailClass::OwnMail
    );
}

#[test]
fn two_auto_responders_cannot_loop() {
    // Our acknowledgement carries Auto-Submitted; the other side's vacation reply carries it
    // too. Neither may be answered automatically.
    let ours = "From: support@shop.example\r\nAuto-Submitted: auto-replied\r\n";
    let theirs = "From: bob@example.com\r\nAuto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n";
    assert_eq!(class_of(ours).0, MailClass::OwnMail);
    assert_eq!(class_of(theirs).0, MailClass::AutoReply);
}
