//! Charset decoding: real sentences encoded with encoding_rs in every charset the issue
//! names, in RFC 2047 headers (B and Q) and in bodies (base64, quoted-printable, 8bit/7bit).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic on bad fixtures

mod common;

use common::{b64_lines, encode, qp, word_b, word_q};
use concierge_mail::{ParseLimits, parse};

struct Case {
    label: &'static str,
    subject: &'static str,
    body: &'static str,
}

const CASES: &[Case] = &[
    Case {
        label: "gb2312",
        subject: "我的订单损坏了",
        body: "你好，我上周买的电饭煲到货时已经损坏了，请尽快帮我换货。谢谢！",
    },
    Case {
        label: "GBK",
        subject: "关于退款的问题",
        body: "客服您好，我想咨询一下退款进度。",
    },
    Case {
        label: "gb18030",
        subject: "会员卡续费",
        body: "请问年卡什么时候到期？𠀀",
    },
    Case {
        label: "big5",
        subject: "我的訂單損壞了",
        body: "您好，我上週購買的電飯鍋到貨時已經損壞，請盡快幫我換貨。",
    },
    Case {
        label: "euc-kr",
        subject: "주문한 상품이 파손되었습니다",
        body: "안녕하세요. 지난주에 주문한 밥솥이 파손된 상태로 도착했습니다. 교환 부탁드립니다.",
    },
    Case {
        label: "ks_c_5601-1987",
        subject: "환불 문의드립니다",
        body: "고객센터 담당자님, 환불 진행 상황을 알고 싶습니다.",
    },
    Case {
        label: "iso-2022-jp",
        subject: "注文した商品が壊れていました",
        body: "お世話になっております。先週注文した炊飯器が壊れた状態で届きました。交換をお願いします。",
    },
    Case {
        label: "shift_jis",
        subject: "返品について",
        body: "返品の手続きを教えてください。よろしくお願いいたします。",
    },
    Case {
        label: "iso-8859-1",
        subject: "Bestellung beschädigt – Grüße",
        body: "Sehr geehrte Damen und Herren, die Lieferung ist leider beschädigt. Mit freundlichen Grüßen",
    },
    Case {
        label: "iso-8859-2",
        subject: "Zamówienie uszkodzone",
        body: "Dzień dobry, przesyłka dotarła uszkodzona. Proszę o wymianę.",
    },
    Case {
        label: "iso-8859-5",
        subject: "Заказ повреждён",
        body: "Здравствуйте, посылка пришла повреждённой.",
    },
    Case {
        label: "iso-8859-7",
        subject: "Η παραγγελία μου",
        body: "Γειά σας, το δέμα έφτασε κατεστραμμένο.",
    },
    Case {
        label: "iso-8859-15",
        subject: "Commande abîmée - 20 €",
        body: "Bonjour, le colis est arrivé abîmé. Cœur brisé.",
    },
    Case {
        label: "windows-1250",
        subject: "Objednávka poškozená",
        body: "Dobrý den, zásilka dorazila poškozená. Děkuji.",
    },
    Case {
        label: "windows-1251",
        subject: "Заказ повреждён",
        body: "Добрый день, посылка пришла повреждённой. Спасибо.",
    },
    Case {
        label: "windows-1252",
        subject: "Pedido dañado – “urgente”",
        body: "Hola, el paquete llegó dañado. ¡Gracias!",
    },
    Case {
        label: "windows-1253",
        subject: "Παραγγελία",
        body: "Καλημέρα, το δέμα έφτασε κατεστραμμένο.",
    },
    Case {
        label: "windows-1254",
        subject: "Sipariş hasarlı",
        body: "Merhaba, kargo hasarlı geldi. Teşekkürler.",
    },
    Case {
        label: "utf-8",
        subject: "混合 subject: 주문 注文 Grüße",
        body: "UTF-8 本文: 안녕하세요 / こんにちは / 你好 / Привет",
    },
];

fn message(subject_header: &str, label: &str, cte: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Customer <c@example.com>\r\nTo: support@shop.example\r\nSubject: {subject_header}\r\n\
         Message-ID: <m@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=\"{label}\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}"
    )
    .into_bytes()
}

fn assert_decoded(raw: &[u8], case: &Case, how: &str) {
    let mail = parse(raw, &ParseLimits::default())
        .unwrap_or_else(|e| panic!("{} ({how}): {e}", case.label));
    assert_eq!(
        mail.subject.as_deref(),
        Some(case.subject),
        "{} subject ({how})",
        case.label
    );
    let text = mail.text_body.unwrap_or_default();
    assert_eq!(text.trim_end(), case.body, "{} body ({how})", case.label);
    assert!(
        !mail.charset.fell_back(),
        "{} ({how}) should not need a fallback: {:?}",
        case.label,
        mail.charset
    );
}

#[test]
fn base64_bodies_and_b_words() {
    for case in CASES {
        let raw = message(
            &word_b(case.label, case.subject),
            case.label,
            "base64",
            &b64_lines(&encode(case.label, case.body)),
        );
        assert_decoded(&raw, case, "base64 + B");
    }
}

#[test]
fn quoted_printable_bodies_and_q_words() {
    for case in CASES {
        let raw = message(
            &word_q(case.label, case.subject),
            case.label,
            "quoted-printable",
            &qp(&encode(case.label, case.body)),
        );
        assert_decoded(&raw, case, "quoted-printable + Q");
    }
}

#[test]
fn raw_8bit_and_7bit_bodies() {
    for case in CASES {
        let mut raw = message(
            &word_b(case.label, case.subject),
            case.label,
            if case.label == "iso-2022-jp" {
                "7bit"
            } else {
                "8bit"
            },
            "",
        );
        raw.extend_from_slice(&encode(case.label, case.body));
        raw.extend_from_slice(b"\r\n");
        assert_decoded(&raw, case, "8bit");
    }
}

#[test]
fn split_encoded_words_and_mixed_names() {
    // A long Korean subject split over two encoded words on folded lines, and a Chinese
    // display name in GB2312.
    let raw = format!(
        "From: {} <li@example.cn>\r\nTo: support@shop.example\r\nSubject: {}\r\n {}\r\n\r\nx\r\n",
        word_b("gb2312", "李四"),
        word_b("ks_c_5601-1987", "주문한 상품이 "),
        word_b("ks_c_5601-1987", "파손되었습니다"),
    );
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert_eq!(
        mail.subject.as_deref(),
        Some("주문한 상품이 파손되었습니다")
    );
    assert_eq!(mail.from.unwrap().name.as_deref(), Some("李四"));
}

#[test]
fn html_part_in_big5_is_decoded_and_sanitised() {
    let html = "<p>您好，<b>訂單</b>損壞了</p><script>alert(1)</script>";
    let raw = format!(
        "From: c@example.com\r\nTo: s@shop.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=big5\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        b64_lines(&encode("big5", html))
    );
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert!(mail.html_body.as_deref().unwrap().contains("<b>訂單</b>"));
    let clean = mail.sanitized_html.unwrap();
    assert!(
        clean.contains("訂單") && !clean.contains("script"),
        "{clean}"
    );
    assert!(mail.text_body.unwrap().contains("訂單損壞了"));
}

#[test]
fn unknown_charset_falls_back_and_keeps_the_mail() {
    let mut raw =
        b"From: c@example.com\r\nTo: s@shop.example\r\nSubject: =?x-klingon?Q?Qapla=27?=\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\n"
            .to_vec();
    raw.extend_from_slice(b"caf\xe9 cr\xe8me\r\n");
    let mail = parse(&raw, &ParseLimits::default()).unwrap();
    assert_eq!(
        mail.text_body.as_deref().map(str::trim_end),
        Some("café crème")
    );
    assert!(mail.charset.fell_back());
    let part = &mail.charset.parts[0];
    assert_eq!(part.declared.as_deref(), Some("x-klingon"));
    assert_eq!(part.used, "windows-1252");
    assert_eq!(
        mail.charset.unknown_header_charsets,
        vec!["x-klingon".to_string()]
    );
    assert_eq!(mail.subject.as_deref(), Some("Qapla'"));

    // Unknown label but UTF-8 bytes: kept as UTF-8, still recorded as a fallback.
    let raw = "From: c@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=foo-8\r\n\r\n注文\r\n";
    let mail = parse(raw.as_bytes(), &ParseLimits::default()).unwrap();
    assert_eq!(mail.text_body.as_deref().map(str::trim_end), Some("注文"));
    assert!(mail.charset.fell_back());
    assert_eq!(mail.charset.parts[0].used, "UTF-8");
}

#[test]
fn mislabelled_utf8_and_undeclared_8bit_fall_back() {
    let mut raw =
        b"From: c@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            .to_vec();
    raw.extend_from_slice(b"Gr\xfc\xdfe\r\n");
    let mail = parse(&raw, &ParseLimits::default()).unwrap();
    assert_eq!(mail.text_body.as_deref().map(str::trim_end), Some("Grüße"));
    assert!(mail.charset.parts[0].fell_back);

    let mut raw = b"From: c@example.com\r\nSubject: x\r\n\r\n".to_vec();
    raw.extend_from_slice(b"na\xefve\r\n");
    let mail = parse(&raw, &ParseLimits::default()).unwrap();
    assert_eq!(mail.text_body.as_deref().map(str::trim_end), Some("naïve"));
    assert!(mail.charset.fell_back());
}
