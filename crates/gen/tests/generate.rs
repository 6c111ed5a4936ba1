//! Behaviour of the generator as the rest of Concierge relies on it: determinism, sizes,
//! the locale mix, consistent cross references, laziness, sane quantities and times, real
//! sentences in four languages, and ground truth that analytics can be checked against.

// Helpers outside `#[test]` functions may panic too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use concierge_gen::{
    CaseStatus, CaseTopic, GenCase, GenCustomer, GenError, GenOrder, GenSpec, Generator,
    Households, Locale, LocaleMix, MessageKind, OrderStatus, PurchaseModel,
};

/// A mid-sized spec that runs quickly in a debug build.
fn spec() -> GenSpec {
    GenSpec {
        customers: 3_000,
        cases: 1_200,
        products: 90,
        agents: 12,
        ..GenSpec::default()
    }
}

struct Data {
    generator: Generator,
    customers: Vec<GenCustomer>,
    orders: Vec<GenOrder>,
    cases: Vec<GenCase>,
}

fn generate(spec: GenSpec) -> Data {
    let generator = Generator::new(spec).unwrap();
    let customers = generator.customers().collect();
    let orders = generator.orders().collect();
    let cases = generator.cases().collect();
    Data {
        generator,
        customers,
        orders,
        cases,
    }
}

fn data() -> &'static Data {
    static DATA: std::sync::OnceLock<Data> = std::sync::OnceLock::new();
    DATA.get_or_init(|| generate(spec()))
}

#[test]
fn same_seed_gives_identical_records_and_another_seed_does_not() {
    let a = Generator::new(spec()).unwrap();
    let b = Generator::new(spec()).unwrap();
    assert_eq!(a.truth(), b.truth());
    assert_eq!(a.products(), b.products());
    assert_eq!(a.agents(), b.agents());
    let take = |g: &Generator| {
        (
            g.customers().take(50).collect::<Vec<_>>(),
            g.households().take(50).collect::<Vec<_>>(),
            g.orders().take(100).collect::<Vec<_>>(),
            g.cases().take(30).collect::<Vec<_>>(),
        )
    };
    assert_eq!(take(&a), take(&b));

    let c = Generator::new(spec().with_seed(43)).unwrap();
    let (ca, ha, oa, sa) = take(&a);
    let (cc, hc, oc, sc) = take(&c);
    assert_ne!(ca, cc);
    assert_ne!(ha, hc);
    assert_ne!(oa, oc);
    assert_ne!(sa, sc);
    // Not just one field: most names differ.
    let same_names = ca
        .iter()
        .zip(&cc)
        .filter(|(x, y)| x.name.full == y.name.full)
        .count();
    assert!(
        same_names < 10,
        "{same_names} of 50 names equal across seeds"
    );
}

#[test]
fn sizes_are_honoured() {
    let d = data();
    let s = d.generator.spec();
    assert_eq!(d.customers.len() as u64, s.customers);
    assert_eq!(d.cases.len() as u64, s.cases);
    assert_eq!(d.generator.products().len() as u32, s.products);
    assert_eq!(d.generator.agents().len() as u32, s.agents);
    assert_eq!(d.generator.household_count(), 2_250);
    assert_eq!(d.generator.households().count(), 2_250);

    let orders_per_customer = d.orders.len() as f64 / d.customers.len() as f64;
    assert!(
        (orders_per_customer - s.orders_per_customer).abs() < 0.1 * s.orders_per_customer,
        "orders per customer {orders_per_customer}"
    );
    let lines: usize = d.orders.iter().map(|o| o.lines.len()).sum();
    let lines_per_order = lines as f64 / d.orders.len() as f64;
    assert!(
        (lines_per_order - s.lines_per_order).abs() < 0.15 * s.lines_per_order,
        "lines per order {lines_per_order}"
    );
    let messages: usize = d.cases.iter().map(|c| c.messages.len()).sum();
    let per_case = messages as f64 / d.cases.len() as f64;
    assert!(
        (per_case - s.messages_per_case).abs() < 0.1 * s.messages_per_case,
        "messages per case {per_case}"
    );
    let estimate = d.generator.estimated_orders() as f64;
    assert!((estimate / d.orders.len() as f64 - 1.0).abs() < 0.1);

    // A different size is honoured too.
    let g = Generator::new(GenSpec {
        customers: 500,
        households: Households::Count(200),
        orders_per_customer: 12.0,
        cases: 40,
        messages_per_case: 8.0,
        ..spec()
    })
    .unwrap();
    let orders = g.orders().count() as f64 / 500.0;
    assert!((orders - 12.0).abs() < 1.2, "orders per customer {orders}");
    assert_eq!(g.household_count(), 200);
    assert!(g.households().all(|h| (1..=3).contains(&h.members.len())));
    let messages: usize = g.cases().map(|c| c.messages.len()).sum();
    assert!((messages as f64 / 40.0 - 8.0).abs() < 1.5);
}

#[test]
fn all_four_languages_are_present_in_the_requested_mix() {
    let d = data();
    let mut by_locale: HashMap<Locale, usize> = HashMap::new();
    for c in &d.customers {
        *by_locale.entry(c.locale).or_default() += 1;
    }
    let n = d.customers.len() as f64;
    for (locale, want) in [
        (Locale::Zh, 0.35),
        (Locale::Ko, 0.25),
        (Locale::Ja, 0.15),
        (Locale::En, 0.25),
    ] {
        let share = by_locale.get(&locale).copied().unwrap_or(0) as f64 / n;
        assert!((share - want).abs() < 0.05, "{locale:?} share {share}");
    }
    let case_locales: HashSet<Locale> = d.cases.iter().map(|c| c.locale).collect();
    assert_eq!(case_locales.len(), 4);
    let agent_locales: HashSet<Locale> = d.generator.agents().iter().map(|a| a.locale).collect();
    assert_eq!(agent_locales.len(), 4);

    // An English-only mix gives only English and dollars.
    let g = Generator::new(GenSpec {
        customers: 200,
        cases: 20,
        locale_mix: LocaleMix {
            zh: 0.0,
            ko: 0.0,
            ja: 0.0,
            en: 1.0,
        },
        ..spec()
    })
    .unwrap();
    assert!(g.customers().all(|c| c.locale == Locale::En));
    assert!(g.orders().all(|o| o.currency.code() == "USD"));
    assert!(g.agents().iter().all(|a| a.locale == Locale::En));
}

#[test]
fn names_contacts_and_addresses_are_native_and_unique() {
    let d = data();
    let mut emails = HashSet::new();
    let mut phones = HashSet::new();
    let mut ids = HashSet::new();
    for c in &d.customers {
        assert!(ids.insert(c.external_id.clone()));
        let n = &c.name;
        match c.locale {
            Locale::Zh => {
                assert!(
                    n.full
                        .chars()
                        .all(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
                    "{}",
                    n.full
                );
                assert_eq!(n.full, format!("{}{}", n.family, n.given));
                assert!(c.phone.as_deref().is_none_or(|p| p.starts_with("+861")));
                assert_eq!(c.time_zone, "Asia/Shanghai");
            }
            Locale::Ko => {
                assert!(
                    n.full
                        .chars()
                        .all(|ch| ('\u{ac00}'..='\u{d7a3}').contains(&ch)),
                    "{}",
                    n.full
                );
                assert!(c.phone.as_deref().is_none_or(|p| p.starts_with("+8210")));
                assert_eq!(c.address.country, "KR");
            }
            Locale::Ja => {
                assert_eq!(n.full, format!("{} {}", n.family, n.given));
                let reading = n.phonetic.as_deref().unwrap();
                assert!(
                    reading
                        .chars()
                        .all(|ch| ch == ' ' || ('\u{30a0}'..='\u{30ff}').contains(&ch)),
                    "{reading}"
                );
                assert!(c.address.formatted.starts_with('〒'));
                assert!(c.phone.as_deref().is_none_or(|p| p.starts_with("+81")));
            }
            Locale::En => {
                assert_eq!(n.full, format!("{} {}", n.given, n.family));
                assert!(
                    c.phone
                        .as_deref()
                        .is_none_or(|p| p.starts_with("+1") && p.len() == 12)
                );
                assert!(c.time_zone.starts_with("America/"));
            }
        }
        assert!(n.latin.is_ascii() && !n.latin.is_empty(), "{}", n.latin);
        assert_eq!(n.sort_key, n.sort_key.to_lowercase());
        assert!(c.email.is_some() || c.phone.is_some());
        if let Some(e) = &c.email {
            assert!(e.is_ascii() && e.ends_with(".example"), "{e}");
            let (local, domain) = e.split_once('@').unwrap();
            assert!(!local.is_empty() && domain.contains('.'));
            // Unique even when plus-addressing is stripped.
            let base = local.split('+').next().unwrap().to_string();
            assert!(emails.insert(base), "duplicate email {e}");
        }
        if let Some(p) = &c.phone {
            assert!(p[1..].chars().all(|ch| ch.is_ascii_digit()), "{p}");
            assert!(phones.insert(p.clone()), "duplicate phone {p}");
        }
        if let Some(b) = c.birthday {
            assert!((1920..=2006).contains(&b.year), "{b}");
        }
        assert_eq!(c.consents.len(), 4);
        assert!(!c.truth.preferences.is_empty());
    }
    let plus = d
        .customers
        .iter()
        .filter(|c| c.email.as_deref().is_some_and(|e| e.contains('+')))
        .count();
    assert!(plus > 0, "some emails use plus-addressing");
}

#[test]
fn households_and_members_refer_to_each_other() {
    let d = data();
    for h in d.generator.households() {
        assert!((1..=6).contains(&h.size));
        assert!(h.members.len() <= usize::from(h.size));
        assert_eq!(h.members[0].role.as_str(), "head");
        for m in &h.members {
            let c = &d.customers[m.customer_index as usize];
            assert_eq!(c.household_index, Some(h.index));
            assert_eq!(c.household_role, Some(m.role));
            assert_eq!(c.locale, h.locale);
            assert_eq!(c.address, h.address);
            assert_eq!(c.truth.household_size, h.size);
        }
        // The head's family name is in the household's name (王家, 김씨 댁, 佐藤家, The Smith household).
        let head = &d.customers[h.members[0].customer_index as usize];
        assert!(
            h.name.contains(&head.name.family),
            "{} / {}",
            h.name,
            head.name.family
        );
    }
    for c in &d.customers {
        let h = d.generator.household(c.household_index.unwrap()).unwrap();
        assert!(h.members.iter().any(|m| m.customer_index == c.index));
    }
    // Japanese spouses share the family name; Chinese and Korean spouses keep their own.
    let mut kept_own = 0;
    for h in d.generator.households().filter(|h| h.members.len() > 1) {
        let head = &d.customers[h.members[0].customer_index as usize];
        for m in &h.members[1..] {
            let c = &d.customers[m.customer_index as usize];
            if m.role.as_str() == "spouse" {
                match c.locale {
                    Locale::Ja => assert_eq!(c.name.family, head.name.family),
                    Locale::Zh | Locale::Ko if c.name.family != head.name.family => kept_own += 1,
                    _ => {}
                }
            }
        }
    }
    assert!(kept_own > 20);

    let g = Generator::new(GenSpec {
        households: Households::None,
        customers: 100,
        cases: 10,
        ..spec()
    })
    .unwrap();
    assert_eq!(g.household_count(), 0);
    assert_eq!(g.households().count(), 0);
    assert!(
        g.customers()
            .all(|c| c.household_index.is_none() && c.household_role.is_none())
    );
}

#[test]
fn orders_are_consistent_positive_and_in_range() {
    let d = data();
    let s = d.generator.spec();
    let products = d.generator.products();
    let mut numbers = HashSet::new();
    let mut returned = 0;
    let mut last: HashMap<u64, i64> = HashMap::new();
    for o in &d.orders {
        let c = d
            .customers
            .get(o.customer_index as usize)
            .expect("order's customer exists");
        assert!(
            o.order_no.starts_with(&format!("O{}", &c.external_id[1..])),
            "{}",
            o.order_no
        );
        assert!(numbers.insert(o.order_no.clone()));
        assert!(o.ordered_at >= s.start_ms && o.ordered_at <= s.end_ms);
        assert!(o.ordered_at >= c.created_at);
        if let Some(prev) = last.insert(o.customer_index, o.ordered_at) {
            assert!(o.ordered_at >= prev, "orders in time order");
        }
        if let Some(drop) = c.truth.dropout_at {
            assert!(o.ordered_at <= drop, "no purchase after dropout");
        }
        assert_eq!(o.currency, c.locale.currency());
        assert!(!o.lines.is_empty());
        let mut total = 0;
        for (k, l) in o.lines.iter().enumerate() {
            assert_eq!(l.line_no as usize, k + 1);
            assert!(l.quantity >= 1);
            assert!(l.unit_price_minor > 0);
            let p = products
                .get(l.product_index as usize)
                .expect("product exists");
            assert_eq!(l.unit_price_minor, p.price_minor(o.currency));
            assert_eq!(
                l.replenishment, p.regular,
                "replenishment lines are staples"
            );
            total += i64::from(l.quantity) * l.unit_price_minor;
        }
        assert_eq!(total, o.total_minor);
        match o.status {
            OrderStatus::Placed => assert!(o.paid_at.is_none()),
            OrderStatus::Paid => assert!(
                o.paid_at
                    .is_some_and(|t| t >= o.ordered_at && t <= s.end_ms)
            ),
            OrderStatus::Returned => {
                returned += 1;
                assert!(
                    o.returned_at
                        .is_some_and(|t| t > o.ordered_at && t <= s.end_ms)
                );
            }
        }
    }
    let share = f64::from(returned) / d.orders.len() as f64;
    assert!(share > 0.005 && share < 0.06, "returned share {share}");
    // Random access gives the same orders as the stream.
    let c = d.orders[500].customer_index;
    let direct = d.generator.orders_of_customer(c);
    let streamed: Vec<_> = d
        .orders
        .iter()
        .filter(|o| o.customer_index == c)
        .cloned()
        .collect();
    assert_eq!(direct, streamed);
    assert!(d.generator.orders_of_customer(u64::MAX).is_empty());
    // Some customers drop out, most buy more than once, a few never buy.
    let dropped = d
        .customers
        .iter()
        .filter(|c| c.truth.dropout_at.is_some())
        .count();
    assert!(dropped > 100, "{dropped} dropped out");
    let never = d
        .customers
        .iter()
        .filter(|c| c.truth.first_purchase_at.is_none())
        .count();
    assert!(never > 0 && never < 300, "{never} never bought");
}

#[test]
fn staple_rhythms_let_the_true_consumption_rate_be_recovered() {
    let d = data();
    let products = d.generator.products();
    let mut by_customer: HashMap<u64, Vec<&GenOrder>> = HashMap::new();
    for o in &d.orders {
        by_customer.entry(o.customer_index).or_default().push(o);
    }
    let mut errors = Vec::new();
    for c in d.customers.iter().filter(|c| !c.truth.staples.is_empty()) {
        for s in &c.truth.staples {
            let p = &products[s.product_index as usize];
            let truth_rate = p.consumption.unwrap().per_day;
            assert!(s.rate_per_day > 0.0 && truth_rate > 0.0);
            assert!((s.days_per_pack - p.pack_size / s.rate_per_day).abs() < 1e-9);
            let buys: Vec<(i64, f64)> = by_customer
                .get(&c.index)
                .into_iter()
                .flatten()
                .flat_map(|o| {
                    o.lines
                        .iter()
                        .filter(|l| l.product_index == s.product_index)
                        .map(|l| (o.ordered_at, f64::from(l.quantity) * p.pack_size))
                })
                .collect();
            if buys.len() < 6 {
                continue;
            }
            // Everything bought before the last purchase was used up between the first and
            // the last purchase.
            let used: f64 = buys[..buys.len() - 1].iter().map(|b| b.1).sum();
            let days = (buys[buys.len() - 1].0 - buys[0].0) as f64 / 86_400_000.0;
            let estimate = used / days;
            errors.push((estimate / s.rate_per_day - 1.0).abs());
        }
    }
    assert!(
        errors.len() >= 20,
        "only {} regular buyers with enough purchases",
        errors.len()
    );
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    assert!(
        median < 0.15,
        "median relative error of the recovered rate {median}"
    );
}

#[test]
fn quantities_make_a_run_out_predictor_beat_the_naive_mean_gap() {
    // The backtest of the replenishment work: hold out each regular buyer's last purchase of
    // a staple; predict it as the previous purchase plus that purchase's packs divided by the
    // consumption rate seen so far, against the naive previous purchase plus the mean gap.
    let d = data();
    let products = d.generator.products();
    let day = 86_400_000.0;
    let (mut naive, mut aware, mut n) = (0.0, 0.0, 0);
    for c in d.customers.iter().filter(|c| !c.truth.staples.is_empty()) {
        let orders = d.generator.orders_of_customer(c.index);
        for s in &c.truth.staples {
            let pack = products[s.product_index as usize].pack_size;
            let buys: Vec<(f64, f64)> = orders
                .iter()
                .flat_map(|o| {
                    o.lines
                        .iter()
                        .filter(|l| l.product_index == s.product_index)
                        .map(move |l| (o.ordered_at as f64 / day, f64::from(l.quantity) * pack))
                })
                .collect();
            if buys.len() < 4 {
                continue;
            }
            let (history, held_out) = buys.split_at(buys.len() - 1);
            let (first, last) = (history[0], history[history.len() - 1]);
            let span = last.0 - first.0;
            let mean_gap = span / (history.len() - 1) as f64;
            let used: f64 = history[..history.len() - 1].iter().map(|b| b.1).sum();
            let rate = used / span;
            naive += (last.0 + mean_gap - held_out[0].0).abs();
            aware += (last.0 + last.1 / rate - held_out[0].0).abs();
            n += 1;
        }
    }
    assert!(n >= 30, "only {n} regular buyers with four purchases");
    let (naive, aware) = (naive / f64::from(n), aware / f64::from(n));
    assert!(
        aware < 0.6 * naive,
        "quantity-aware MAE {aware:.1} d vs naive {naive:.1} d"
    );
}

#[test]
fn cases_refer_to_existing_customers_orders_products_and_agents() {
    let d = data();
    let s = d.generator.spec();
    let agents = d.generator.agents().len() as u32;
    let mut orders_of: HashMap<u64, Vec<&GenOrder>> = HashMap::new();
    for o in &d.orders {
        orders_of.entry(o.customer_index).or_default().push(o);
    }
    let mut topics = HashSet::new();
    let mut statuses = HashSet::new();
    for case in &d.cases {
        topics.insert(case.topic);
        statuses.insert(case.status);
        let c = d
            .customers
            .get(case.customer_index as usize)
            .expect("case's customer exists");
        assert_eq!(case.locale, c.locale);
        assert_eq!(case.household_index, c.household_index);
        assert!(case.created_at >= c.created_at && case.created_at <= s.end_ms);
        if let Some((seq, no)) = &case.order {
            let o = orders_of[&c.index][*seq as usize];
            assert_eq!(&o.order_no, no);
            assert!(case.created_at >= o.ordered_at);
        }
        if case.topic.needs_order() {
            assert!(
                case.order.is_some(),
                "{:?} case without an order",
                case.topic
            );
        }
        if let Some(p) = case.product_index {
            assert!(p < s.products);
        }
        if let Some(a) = case.assignee {
            assert!(a < agents);
        }
        assert_eq!(case.status == CaseStatus::New, case.assignee.is_none());
        assert!(concierge_gen::TEAMS.contains(&case.team));
        assert!(!case.subject.is_empty());
        assert_eq!(case.messages[0].kind, MessageKind::Customer);
        assert_eq!(case.messages[0].created_at, case.created_at);
        let mut prev = case.created_at;
        for (k, m) in case.messages.iter().enumerate() {
            assert_eq!(m.seq as usize, k);
            assert!(m.created_at >= prev, "messages in order and after the case");
            assert!(m.created_at <= s.end_ms);
            prev = m.created_at;
            assert_eq!(m.kind == MessageKind::Customer, m.agent_index.is_none());
            assert!(m.agent_index.is_none_or(|a| a < agents));
            assert!(!m.body.trim().is_empty());
            assert!(
                !m.body.contains('{') && !m.body.contains('}'),
                "unfilled placeholder: {}",
                m.body
            );
        }
        assert!(!case.subject.contains('{'), "{}", case.subject);
    }
    assert_eq!(topics.len(), CaseTopic::ALL.len());
    assert!(statuses.len() >= 5, "{statuses:?}");
    let notes = d
        .cases
        .iter()
        .flat_map(|c| &c.messages)
        .filter(|m| m.kind == MessageKind::InternalNote)
        .count();
    assert!(notes > 50);
    // Random access gives the same case as the stream.
    assert_eq!(d.generator.case(777).as_ref(), d.cases.get(777));
    assert!(d.generator.case(s.cases).is_none());
}

#[test]
fn threads_are_real_sentences_in_the_customers_language() {
    let d = data();
    let text_of = |c: &GenCase| {
        let mut t = c.subject.clone();
        for m in &c.messages {
            t.push('\n');
            t.push_str(&m.body);
        }
        t
    };
    for case in &d.cases {
        let t = text_of(case);
        let has = |lo: char, hi: char| t.chars().any(|ch| (lo..=hi).contains(&ch));
        match case.locale {
            Locale::Zh => assert!(
                has('\u{4e00}', '\u{9fff}') && !has('\u{ac00}', '\u{d7a3}'),
                "{t}"
            ),
            Locale::Ko => assert!(has('\u{ac00}', '\u{d7a3}'), "{t}"),
            Locale::Ja => assert!(has('\u{3040}', '\u{30ff}'), "{t}"),
            Locale::En => assert!(
                !has('\u{3040}', '\u{9fff}') && !has('\u{ac00}', '\u{d7a3}'),
                "{t}"
            ),
        }
        let c = &d.customers[case.customer_index as usize];
        if case.topic == CaseTopic::Preference {
            let p = case
                .truth
                .stated_preference
                .expect("a preference case states one");
            assert!(c.truth.preferences.contains(&p));
        }
    }
    // The sentences search tests will look for, in every language.
    let all: String = d.cases.iter().map(text_of).collect::<Vec<_>>().join("\n");
    for phrase in [
        "我的订单损坏了",
        "주문한 상품이 파손되었어요",
        "注文した商品が壊れていました",
        "My order arrived damaged",
        "退款",
        "환불",
        "返金",
        "refund",
        "我更喜欢喝茶",
        "차를 좋아해요",
    ] {
        assert!(all.contains(phrase), "no thread contains {phrase}");
    }
    // Varied: many distinct first messages.
    let firsts: HashSet<&str> = d
        .cases
        .iter()
        .map(|c| c.messages[0].body.as_str())
        .collect();
    assert!(
        firsts.len() > d.cases.len() * 9 / 10,
        "{} distinct of {}",
        firsts.len(),
        d.cases.len()
    );
}

#[test]
fn streams_are_lazy_and_random_access_matches_them() {
    // A million customers: nothing before index 999,999 is generated to get it.
    let big = Generator::new(GenSpec {
        customers: 1_000_000,
        cases: 1_000_000,
        ..spec()
    })
    .unwrap();
    let c = big.customer(999_999).unwrap();
    assert_eq!(c.external_id, "C1000000");
    assert_eq!(
        big.customers_range(999_999..2_000_000).collect::<Vec<_>>(),
        vec![c.clone()]
    );
    assert_eq!(big.customer(1_000_000), None);
    let case = big.case(900_000).unwrap();
    assert_eq!(case.external_id, "CS0900001");
    assert!(case.customer_index < 1_000_000);
    let h = big.household(749_999).unwrap();
    assert_eq!(h.members[0].customer_index, 749_999);
    assert!(big.household(750_000).is_none());

    let g = Generator::new(spec()).unwrap();
    let streamed: Vec<_> = g.customers().skip(1_000).take(5).collect();
    let direct: Vec<_> = (1_000..1_005).map(|i| g.customer(i).unwrap()).collect();
    let ranged: Vec<_> = g.customers_range(1_000..1_005).collect();
    assert_eq!(streamed, direct);
    assert_eq!(ranged, direct);
    let chunked: Vec<_> = g
        .orders_range(0..10)
        .chain(g.orders_range(10..20))
        .collect();
    assert_eq!(chunked, g.orders_range(0..20).collect::<Vec<_>>());
    // Generation in parallel gives the same records.
    let parallel: Vec<GenCase> = std::thread::scope(|s| {
        let a = s.spawn(|| g.cases_range(0..20).collect::<Vec<_>>());
        let b = s.spawn(|| g.cases_range(20..40).collect::<Vec<_>>());
        let mut v = a.join().unwrap();
        v.extend(b.join().unwrap());
        v
    });
    assert_eq!(parallel, g.cases_range(0..40).collect::<Vec<_>>());
}

#[test]
fn bgnbd_only_model_follows_its_stated_parameters() {
    let g = Generator::new(GenSpec {
        customers: 4_000,
        cases: 0,
        purchase_model: PurchaseModel::BgNbdOnly,
        locale_mix: LocaleMix {
            zh: 0.0,
            ko: 0.0,
            ja: 0.0,
            en: 1.0,
        },
        ..spec()
    })
    .unwrap();
    let truth = *g.truth();
    assert_eq!(truth.regular_buyer_share, 0.0);
    let gift_card = g
        .products()
        .iter()
        .position(|p| p.category.as_str() == "gift-card")
        .unwrap() as u32;
    let mut spend = 0.0;
    let mut lines = 0.0;
    let mut orders = 0usize;
    let (mut lambda, mut p) = (0.0, 0.0);
    for c in g.customers() {
        lambda += c.truth.lambda_per_day;
        p += c.truth.dropout_probability;
        assert!(c.truth.staples.is_empty());
        assert!(
            c.truth.first_purchase_at.is_some(),
            "everyone buys once in BG/NBD"
        );
        let os = g.orders_of_customer(c.index);
        if let Some(first) = os.first() {
            assert_eq!(Some(first.ordered_at), c.truth.first_purchase_at);
        }
        for o in &os {
            assert_eq!(o.status, OrderStatus::Paid);
            for l in &o.lines {
                assert_eq!(l.product_index, gift_card);
                spend += l.unit_price_minor as f64 / 100.0;
                lines += 1.0;
            }
        }
        orders += os.len();
    }
    // Mean transaction value E[p/ν] = p·γ/(q − 1).
    let gg = truth.gamma_gamma;
    let expected = gg.p * gg.gamma_usd / (gg.q - 1.0);
    let mean = spend / lines;
    assert!(
        (mean / expected - 1.0).abs() < 0.1,
        "mean spend {mean} vs {expected}"
    );
    assert!((orders as f64 / 4_000.0 - 5.0).abs() < 0.5);
    // The customers' hidden rates follow the stated population: E[λ] = r/α, E[p] = a/(a+b).
    let b = truth.bgnbd;
    let mean_lambda = lambda / 4_000.0;
    assert!(
        (mean_lambda / (b.r / b.alpha) - 1.0).abs() < 0.1,
        "mean λ {mean_lambda}"
    );
    let mean_p = p / 4_000.0;
    assert!(
        (mean_p / (b.a / (b.a + b.b)) - 1.0).abs() < 0.1,
        "mean p {mean_p}"
    );
}

#[test]
fn presets_generate_and_bad_specs_are_refused() {
    let demo = generate(GenSpec::small_demo());
    assert_eq!(demo.customers.len(), 200);
    assert_eq!(demo.cases.len(), 60);
    assert!(demo.orders.len() > 600);
    assert_eq!(
        demo.generator.products().len() as u32,
        concierge_gen::MIN_PRODUCTS
    );

    let err = Generator::new(GenSpec {
        products: 1,
        ..GenSpec::small_demo()
    })
    .err()
    .unwrap();
    assert!(
        matches!(err, GenError::InvalidSpec(ref m) if m.contains("products")),
        "{err}"
    );
    assert!(
        Generator::new(GenSpec {
            start_ms: 10,
            end_ms: 5,
            ..GenSpec::small_demo()
        })
        .is_err()
    );

    let none = Generator::new(GenSpec {
        orders_per_customer: 0.0,
        customers: 50,
        cases: 20,
        ..GenSpec::small_demo()
    })
    .unwrap();
    assert_eq!(none.orders().count(), 0);
    assert!(none.cases().all(|c| c.order.is_none()));

    let empty = Generator::new(GenSpec {
        customers: 0,
        cases: 0,
        ..GenSpec::small_demo()
    })
    .unwrap();
    assert_eq!(empty.customers().count(), 0);
    assert_eq!(empty.households().count(), 0);
    assert_eq!(empty.orders().count(), 0);
    assert!(empty.customer(0).is_none());
}

/// Generation speed in release mode: `cargo test --release -p concierge-gen -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: run in release mode"]
fn speed_of_a_million_customers() {
    let g = Generator::new(GenSpec::benchmark()).unwrap();
    let t = std::time::Instant::now();
    let n = g.customers().count();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{n} customers in {secs:.2} s: {:.0} customers/s",
        n as f64 / secs
    );
    let t = std::time::Instant::now();
    let lines: usize = g.orders().map(|o| o.lines.len()).sum();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{lines} order lines in {secs:.2} s: {:.0} lines/s",
        lines as f64 / secs
    );
    assert_eq!(n, 1_000_000);
}
