//! End-to-end tests of the search adapter with real sentences in Chinese, Korean, Japanese and
//! English, tenant isolation, internal notes, hostile queries, escaping, sorting, filters,
//! persistence of the applied change-log sequence and rebuilds.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use concierge_search::{
    DateField, DateRange, DocKind, Filters, IndexOptions, ReadMode, SearchDoc, SearchError,
    SearchIndex, SearchRequest, SortOrder, TenantId, Visibility, Vocabulary,
};

const T1: TenantId = TenantId(1);
const T2: TenantId = TenantId(2);
const DAY: i64 = 86_400_000;
const T0: i64 = 1_760_000_000_000;

fn case(tenant: i64, id: i64, title: &str, body: &str, created_day: i64) -> SearchDoc {
    let mut d = SearchDoc::new(
        tenant,
        DocKind::Case,
        id,
        title,
        body,
        T0 + created_day * DAY,
    );
    d.customer_id = Some(100 + id);
    d.status = Some("open".into());
    d.channel = Some("email".into());
    d
}

fn ram() -> SearchIndex {
    SearchIndex::create_in_ram(IndexOptions::default()).unwrap()
}

fn ids(index: &SearchIndex, tenant: TenantId, request: &SearchRequest) -> Vec<i64> {
    let mut ids: Vec<i64> = index
        .search(tenant, request)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.id)
        .collect();
    ids.sort_unstable();
    ids
}

fn find(index: &SearchIndex, text: &str) -> Vec<i64> {
    ids(index, T1, &SearchRequest::new(text).staff())
}

/// A small multilingual corpus in tenant 1.
fn corpus() -> SearchIndex {
    let index = ram();
    index
        .upsert([
            case(1, 1, "订单问题", "我的订单损坏了，请尽快处理", 1),
            case(
                1,
                2,
                "배송 문의",
                "배송이 너무 늦어요. 언제 받을 수 있나요?",
                2,
            ),
            case(1, 3, "配送について", "注文した商品がまだ届きません", 3),
            case(
                1,
                4,
                "Damaged package",
                "The parcel ARRIVED with broken items; I want a refund.",
                4,
            ),
            case(
                1,
                5,
                "混合 mixed",
                "iPhone手机屏幕坏了 and the replacement was late, 교환 부탁드립니다",
                5,
            ),
            case(1, 6, "发票", "请帮我开具增值税专用发票", 6),
        ])
        .unwrap();
    index.commit(6).unwrap();
    index
}

#[test]
fn chinese_found_by_typed_words() {
    let index = corpus();
    assert_eq!(find(&index, "订单"), vec![1]);
    assert_eq!(find(&index, "损坏"), vec![1]);
    assert_eq!(find(&index, "订单损坏"), vec![1]);
    assert_eq!(find(&index, "尽快处理"), vec![1]);
    // A long dictionary word (jieba) and its parts.
    assert_eq!(find(&index, "增值税"), vec![6]);
    assert_eq!(find(&index, "发票"), vec![6]);
    // Not found: words that are not there.
    assert!(find(&index, "退款").is_empty());
    // Words typed together are found when the text has them apart.
    index
        .upsert([case(1, 7, "进度", "订单已经损坏，需要更换", 7)])
        .unwrap();
    index.commit(7).unwrap();
    assert_eq!(find(&index, "订单损坏"), vec![1, 7]);
    assert_eq!(find(&index, "订单 损坏"), vec![1, 7]);
}

#[test]
fn korean_found_with_and_without_particles() {
    let index = corpus();
    assert_eq!(find(&index, "배송"), vec![2]);
    assert_eq!(find(&index, "배송이"), vec![2]);
    assert_eq!(find(&index, "늦어요"), vec![2]);
    assert_eq!(find(&index, "교환"), vec![5]);
    assert!(find(&index, "환불").is_empty());
    // The other direction: a query with a particle finds text without it.
    index
        .upsert([case(1, 7, "지연", "배송 지연 때문에 연락드립니다", 7)])
        .unwrap();
    index.commit(7).unwrap();
    assert_eq!(find(&index, "배송이"), vec![2, 7]);
    assert_eq!(find(&index, "배송"), vec![2, 7]);
}

#[test]
fn japanese_found_by_bigrams() {
    let index = corpus();
    assert_eq!(find(&index, "注文"), vec![3]);
    assert_eq!(find(&index, "商品"), vec![3]);
    assert_eq!(find(&index, "届きません"), vec![3]);
    assert_eq!(find(&index, "注文した商品"), vec![3]);
}

#[test]
fn english_stemming_and_case() {
    let index = corpus();
    assert_eq!(find(&index, "arrive"), vec![4]);
    assert_eq!(find(&index, "REFUNDS"), vec![4]);
    assert_eq!(find(&index, "damage"), vec![4]);
    assert_eq!(find(&index, "broken item"), vec![4]);
    // Title matches count as well.
    assert_eq!(find(&index, "package"), vec![4]);
    // Function words are optional; the content words still have to match.
    assert_eq!(find(&index, "the refund"), vec![4]);
    assert!(find(&index, "refund invoice").is_empty());
}

#[test]
fn mixed_language_document() {
    let index = corpus();
    assert_eq!(find(&index, "iphone"), vec![5]);
    assert_eq!(find(&index, "手机"), vec![5]);
    assert_eq!(find(&index, "屏幕"), vec![5]);
    assert_eq!(find(&index, "replacement"), vec![5]);
    assert_eq!(find(&index, "교환"), vec![5]);
    assert_eq!(find(&index, "iPhone手机"), vec![5]);
    assert_eq!(find(&index, "mixed 手机"), vec![5]);
}

#[test]
fn tenant_isolation() {
    let index = corpus();
    index
        .upsert([case(2, 1, "另一个租户", "订单 refund 배송", 1)])
        .unwrap();
    index.commit(7).unwrap();
    // Tenant 2 sees only its own document, for every language and for an empty query.
    assert_eq!(
        ids(&index, T2, &SearchRequest::new("订单").staff()),
        vec![1]
    );
    let hits = index
        .search(T2, &SearchRequest::new("").staff().with_page(100, 0))
        .unwrap();
    assert_eq!(hits.total, 1);
    assert_eq!(hits.hits[0].title, "另一个租户");
    assert!(ids(&index, T2, &SearchRequest::new("损坏").staff()).is_empty());
    assert!(ids(&index, TenantId(3), &SearchRequest::new("").staff()).is_empty());
    // Same ids in two tenants are different documents: upserting one leaves the other.
    assert_eq!(find(&index, "订单"), vec![1]);
    assert_eq!(
        index.search(T1, &SearchRequest::new("订单")).unwrap().hits[0].title,
        "订单问题"
    );
    // Deleting a tenant removes only its documents.
    index.delete_tenant(T2).unwrap();
    index.commit(8).unwrap();
    assert!(ids(&index, T2, &SearchRequest::new("").staff()).is_empty());
    assert_eq!(find(&index, "订单"), vec![1]);
}

#[test]
fn internal_notes_only_for_staff() {
    let index = corpus();
    let mut note = SearchDoc::new(
        1,
        DocKind::Note,
        50,
        "",
        "内部备注：客户很生气 refund abuse",
        T0,
    );
    note.case_id = Some(1);
    // Even if a caller marks a note public, it stays internal.
    note.visibility = Visibility::Public;
    let mut internal_msg = SearchDoc::new(
        1,
        DocKind::Message,
        51,
        "",
        "internal forward: refund abuse",
        T0,
    );
    internal_msg.visibility = Visibility::Internal;
    internal_msg.case_id = Some(1);
    index.upsert([note, internal_msg]).unwrap();
    index.commit(7).unwrap();

    let customer = SearchRequest::new("abuse");
    assert!(ids(&index, T1, &customer).is_empty());
    let customer_kinds = SearchRequest::new("abuse").with_filters(Filters {
        kinds: vec![DocKind::Note],
        ..Filters::default()
    });
    assert!(ids(&index, T1, &customer_kinds).is_empty());
    assert!(
        index
            .search(T1, &SearchRequest::new(""))
            .unwrap()
            .hits
            .iter()
            .all(|h| h.visibility == Visibility::Public && h.kind != DocKind::Note)
    );
    assert_eq!(
        ids(&index, T1, &SearchRequest::new("abuse").staff()),
        vec![50, 51]
    );
    let staff = index
        .search(T1, &SearchRequest::new("生气").staff())
        .unwrap();
    assert_eq!(staff.hits[0].kind, DocKind::Note);
    assert_eq!(staff.hits[0].visibility, Visibility::Internal);
}

#[test]
fn hostile_queries_do_not_error_or_inject() {
    let index = corpus();
    for q in [
        "\"a AND OR (( field:x ^2 ~",
        "title:订单 OR tenant:2",
        "*",
        "?",
        "-",
        "\\",
        "))))",
        "\u{0}\u{202E}\u{200B}",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "tenant:1 AND kind:note",
    ] {
        let r = index.search(T1, &SearchRequest::new(q)).unwrap();
        assert!(r.hits.iter().all(|h| h.kind != DocKind::Note), "{q}");
    }
    // Syntax characters are separators: the words still work.
    assert_eq!(find(&index, "(refund) AND \"broken\"^2"), vec![4]);
    // `field:value` is not a field query: `title` is just another word (not in case 1).
    assert!(find(&index, "title:订单").is_empty());
    assert_eq!(find(&index, "订单:损坏"), vec![1]);

    // 10,000 terms: bounded work, truncation flagged, no error.
    let long: String = (0..10_000).map(|i| format!("term{i} ")).collect();
    let started = std::time::Instant::now();
    let r = index.search(T1, &SearchRequest::new(long)).unwrap();
    assert!(r.query_truncated);
    assert!(r.terms_used <= concierge_search::MAX_QUERY_TERMS);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let cjk_long = "订单损坏".repeat(10_000);
    let r = index.search(T1, &SearchRequest::new(cjk_long)).unwrap();
    assert!(r.terms_used <= concierge_search::MAX_QUERY_TERMS);
    assert_eq!(r.hits.len(), 1);
}

#[test]
fn snippets_are_escaped_and_marked() {
    let index = ram();
    index
        .upsert([case(
            1,
            1,
            "<b>Refund</b> \"now\"",
            "Hello <script>alert('pwned')</script> I need a refund for order #42 & more",
            0,
        )])
        .unwrap();
    index.commit(1).unwrap();
    let r = index.search(T1, &SearchRequest::new("refund")).unwrap();
    let hit = &r.hits[0];
    assert_eq!(
        hit.snippet_html,
        "Hello &lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; I need a <mark>refund</mark> \
         for order #42 &amp; more"
    );
    assert_eq!(
        hit.title_html,
        "&lt;b&gt;<mark>Refund</mark>&lt;/b&gt; &quot;now&quot;"
    );
    assert!(!hit.snippet_html.contains("<script"));
    // A search for the markup itself does not produce markup either.
    let r = index.search(T1, &SearchRequest::new("<script>")).unwrap();
    assert!(
        r.hits[0]
            .snippet_html
            .contains("&lt;<mark>script</mark>&gt;")
    );
}

#[test]
fn cjk_snippet_highlights_words() {
    let index = corpus();
    let r = index.search(T1, &SearchRequest::new("损坏")).unwrap();
    assert_eq!(
        r.hits[0].snippet_html,
        "我的订单<mark>损坏</mark>了，请尽快处理"
    );
    let r = index.search(T1, &SearchRequest::new("배송")).unwrap();
    assert!(
        r.hits[0].snippet_html.starts_with("<mark>배송</mark>이"),
        "{}",
        r.hits[0].snippet_html
    );
}

#[test]
fn sort_by_date_and_paging() {
    let index = ram();
    let docs: Vec<SearchDoc> = (1..=30)
        .map(|i| {
            let mut d = case(1, i, "refund request", &format!("refund number {i}"), i);
            d.updated_at = T0 + (100 - i) * DAY;
            d
        })
        .collect();
    index.upsert(docs).unwrap();
    index.commit(1).unwrap();
    let newest = index
        .search(
            T1,
            &SearchRequest::new("refund")
                .with_sort(SortOrder::CreatedDesc)
                .with_page(5, 0),
        )
        .unwrap();
    assert_eq!(newest.total, 30);
    assert_eq!(
        newest.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![30, 29, 28, 27, 26]
    );
    let next = index
        .search(
            T1,
            &SearchRequest::new("refund")
                .with_sort(SortOrder::CreatedDesc)
                .with_page(5, 5),
        )
        .unwrap();
    assert_eq!(next.hits[0].id, 25);
    let oldest = index
        .search(
            T1,
            &SearchRequest::new("refund").with_sort("oldest".parse().unwrap()),
        )
        .unwrap();
    assert_eq!(oldest.hits[0].id, 1);
    let updated = index
        .search(
            T1,
            &SearchRequest::new("").with_sort(SortOrder::UpdatedDesc),
        )
        .unwrap();
    assert_eq!(updated.hits[0].id, 1);
    // Empty text with relevance falls back to most recently updated.
    let browse = index.search(T1, &SearchRequest::new("")).unwrap();
    assert_eq!(browse.sort, SortOrder::UpdatedDesc);
    assert_eq!(browse.hits[0].id, 1);
}

#[test]
fn filters_apply() {
    let index = ram();
    let mut docs = Vec::new();
    for i in 1..=8 {
        let mut d = case(1, i, "退款 refund", "客户要求退款", i);
        d.status = Some(if i % 2 == 0 { "open" } else { "solved" }.into());
        d.owner_id = Some(i % 3);
        d.team_id = Some(if i <= 4 { 10 } else { 20 });
        d.tier = Some(if i == 1 { "gold" } else { "iron" }.into());
        d.tags = if i % 4 == 0 {
            vec!["vip".into(), "退货".into()]
        } else {
            vec!["vip".into()]
        };
        d.channel = Some(if i == 3 { "phone" } else { "email" }.into());
        d.customer_id = Some(if i == 5 { 77 } else { 1 });
        docs.push(d);
    }
    let mut msg = SearchDoc::new(1, DocKind::Message, 100, "", "退款进度如何", T0 + 2 * DAY);
    msg.case_id = Some(2);
    msg.status = Some("open".into());
    docs.push(msg);
    index.upsert(docs).unwrap();
    index.commit(1).unwrap();

    let with = |filters: Filters| {
        ids(
            &index,
            T1,
            &SearchRequest::new("退款").staff().with_filters(filters),
        )
    };
    assert_eq!(
        with(Filters {
            statuses: vec!["open".into()],
            ..Filters::default()
        }),
        vec![2, 4, 6, 8, 100]
    );
    assert_eq!(
        with(Filters {
            statuses: vec!["open".into()],
            kinds: vec![DocKind::Case],
            ..Filters::default()
        }),
        vec![2, 4, 6, 8]
    );
    assert_eq!(
        with(Filters {
            owner_id: Some(0),
            ..Filters::default()
        }),
        vec![3, 6]
    );
    assert_eq!(
        with(Filters {
            team_id: Some(20),
            statuses: vec!["solved".into()],
            ..Filters::default()
        }),
        vec![5, 7]
    );
    assert_eq!(
        with(Filters {
            tiers: vec!["gold".into()],
            ..Filters::default()
        }),
        vec![1]
    );
    assert_eq!(
        with(Filters {
            tags: vec!["vip".into(), "退货".into()],
            ..Filters::default()
        }),
        vec![4, 8]
    );
    assert_eq!(
        with(Filters {
            channels: vec!["phone".into()],
            ..Filters::default()
        }),
        vec![3]
    );
    assert_eq!(
        with(Filters {
            customer_id: Some(77),
            ..Filters::default()
        }),
        vec![5]
    );
    assert_eq!(
        with(Filters {
            case_id: Some(2),
            ..Filters::default()
        }),
        vec![2, 100]
    );
    assert_eq!(
        with(Filters {
            date: Some(DateRange {
                field: DateField::Created,
                from: Some(T0 + 3 * DAY),
                to: Some(T0 + 5 * DAY),
            }),
            ..Filters::default()
        }),
        vec![3, 4]
    );
    assert_eq!(
        with(Filters {
            date: Some(DateRange {
                field: DateField::Created,
                from: Some(T0 + 7 * DAY),
                to: None,
            }),
            ..Filters::default()
        }),
        vec![7, 8]
    );
}

#[test]
fn invalid_sort_and_filters_are_clear_errors() {
    let index = corpus();
    let err = "relevance; DROP TABLE".parse::<SortOrder>().unwrap_err();
    assert!(matches!(err, SearchError::InvalidSort { .. }));
    assert!(
        err.to_string().contains("expected one of relevance"),
        "{err}"
    );
    assert!(matches!(
        "ticket".parse::<DocKind>(),
        Err(SearchError::InvalidFilter { field: "kind", .. })
    ));
    let bad_channel = SearchRequest::new("x").with_filters(Filters {
        channels: vec!["pigeon".into()],
        ..Filters::default()
    });
    let err = index.search(T1, &bad_channel).unwrap_err();
    assert!(
        matches!(
            err,
            SearchError::InvalidFilter {
                field: "channel",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("email"), "{err}");
    let bad_status = SearchRequest::new("x").with_filters(Filters {
        statuses: vec!["open status".into()],
        ..Filters::default()
    });
    assert!(matches!(
        index.search(T1, &bad_status),
        Err(SearchError::InvalidFilter {
            field: "status",
            ..
        })
    ));
    let long_tag = SearchRequest::new("x").with_filters(Filters {
        tags: vec!["x".repeat(500)],
        ..Filters::default()
    });
    assert!(index.search(T1, &long_tag).is_err());
    let bad_range = SearchRequest::new("x").with_filters(Filters {
        date: Some(DateRange {
            field: DateField::Updated,
            from: Some(10),
            to: Some(5),
        }),
        ..Filters::default()
    });
    assert!(index.search(T1, &bad_range).is_err());
    for (limit, offset) in [(0, 0), (101, 0), (10, 10_001)] {
        assert!(matches!(
            index.search(T1, &SearchRequest::new("x").with_page(limit, offset)),
            Err(SearchError::InvalidPaging(_))
        ));
    }
    // A configured vocabulary restricts statuses and tiers too.
    index.set_vocabulary(Vocabulary {
        statuses: Some(["open".to_string(), "solved".to_string()].into()),
        ..Vocabulary::default()
    });
    let unknown = SearchRequest::new("x").with_filters(Filters {
        statuses: vec!["archived".into()],
        ..Filters::default()
    });
    let err = index.search(T1, &unknown).unwrap_err();
    assert!(err.to_string().contains("open, solved"), "{err}");
}

#[test]
fn upsert_replaces_and_delete_removes() {
    let index = corpus();
    let mut changed = case(1, 1, "订单问题", "包裹已经收到了，谢谢", 1);
    changed.status = Some("solved".into());
    index.upsert([changed]).unwrap();
    // Not visible before commit.
    assert_eq!(find(&index, "损坏"), vec![1]);
    index.commit(7).unwrap();
    assert!(find(&index, "损坏").is_empty());
    assert_eq!(find(&index, "包裹"), vec![1]);
    assert_eq!(index.num_docs(), 6);

    index.delete(T1, DocKind::Case, 4).unwrap();
    index.commit(8).unwrap();
    assert!(find(&index, "refund").is_empty());

    // Deleting a case removes its messages and notes.
    let mut msg = SearchDoc::new(1, DocKind::Message, 9, "", "message about 배송", T0);
    msg.case_id = Some(2);
    let mut note = SearchDoc::new(1, DocKind::Note, 10, "", "note about 배송", T0);
    note.case_id = Some(2);
    index.upsert([msg, note]).unwrap();
    index.commit(9).unwrap();
    assert_eq!(find(&index, "배송"), vec![2, 9, 10]);
    index.delete_case(T1, 2).unwrap();
    index.commit(10).unwrap();
    assert!(find(&index, "배송").is_empty());

    // Rollback drops staged changes.
    index
        .upsert([case(1, 20, "temp", "rollback me", 0)])
        .unwrap();
    index.rollback().unwrap();
    index.commit(11).unwrap();
    assert!(find(&index, "rollback").is_empty());
}

#[test]
fn applied_seq_survives_reopen_and_cannot_regress() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open_or_create(dir.path(), IndexOptions::default()).unwrap();
        assert_eq!(index.applied_seq(), 0);
        index
            .upsert([case(1, 1, "订单", "我的订单损坏了，请尽快处理", 0)])
            .unwrap();
        index.commit(41).unwrap();
        index.commit(42).unwrap();
        assert_eq!(index.applied_seq(), 42);
        assert!(matches!(
            index.commit(7),
            Err(SearchError::SeqRegression {
                current: 42,
                requested: 7
            })
        ));
        // A second writer on the same directory is refused with a clear error.
        let second = SearchIndex::open_or_create(dir.path(), IndexOptions::default());
        assert!(
            matches!(second, Err(SearchError::Locked { .. })),
            "{second:?}"
        );
    }
    let index = SearchIndex::open_or_create(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.applied_seq(), 42);
    assert_eq!(find(&index, "损坏"), vec![1]);

    // Staged but uncommitted changes are lost on restart, and so is their seq.
    index
        .upsert([case(1, 2, "lost", "never committed", 0)])
        .unwrap();
    drop(index);
    let index = SearchIndex::open_or_create(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.applied_seq(), 42);
    assert!(find(&index, "committed").is_empty());
    drop(index);

    // Recreate clears the index (and keeps unrelated files).
    std::fs::write(dir.path().join("README.txt"), "keep me").unwrap();
    let index = SearchIndex::recreate(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.applied_seq(), 0);
    assert_eq!(index.num_docs(), 0);
    assert!(dir.path().join("README.txt").exists());
}

#[test]
fn rebuild_replaces_everything_with_progress() {
    let index = corpus();
    let docs: Vec<Result<SearchDoc, std::io::Error>> = (1..=2_500)
        .map(|i| {
            Ok(case(
                1,
                i,
                "rebuilt",
                &format!("rebuilt document {i} 重建"),
                0,
            ))
        })
        .collect();
    let mut reports = Vec::new();
    let n = index
        .rebuild(docs, 500, |p| reports.push((p.indexed, p.merging, p.done)))
        .unwrap();
    assert_eq!(n, 2_500);
    assert_eq!(
        reports,
        vec![
            (1_000, false, false),
            (2_000, false, false),
            (2_500, true, false),
            (2_500, false, true)
        ]
    );
    assert_eq!(index.applied_seq(), 500);
    assert_eq!(index.num_docs(), 2_500);
    assert!(find(&index, "损坏").is_empty());
    assert_eq!(
        index.search(T1, &SearchRequest::new("重建")).unwrap().total,
        2_500
    );

    // A failing source rolls back: the previous index stays searchable.
    let failing = (1..=10).map(|i| {
        if i == 5 {
            Err(std::io::Error::other("database went away"))
        } else {
            Ok(case(1, i, "partial", "partial", 0))
        }
    });
    let err = index.rebuild(failing, 600, |_| {}).unwrap_err();
    assert!(
        matches!(err, SearchError::Source { indexed: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("database went away"));
    assert_eq!(index.applied_seq(), 500);
    assert_eq!(index.num_docs(), 2_500);
    assert!(find(&index, "partial").is_empty());
}

#[test]
fn customers_are_searchable() {
    let index = ram();
    let mut c = SearchDoc::new(
        1,
        DocKind::Customer,
        9,
        "김민수",
        "minsu.kim@example.com +82-10-1234-5678 prefers tea, 서울",
        T0,
    );
    c.tier = Some("gold".into());
    c.subtitle = Some("minsu.kim@example.com".into());
    index.upsert([c]).unwrap();
    index.commit(1).unwrap();
    let r = index
        .search(T1, &SearchRequest::new("minsu.kim@example.com"))
        .unwrap();
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].customer_id, Some(9));
    assert_eq!(r.hits[0].subtitle.as_deref(), Some("minsu.kim@example.com"));
    assert_eq!(find(&index, "김민수"), vec![9]);
    assert_eq!(find(&index, "민수"), vec![9]);
    assert_eq!(find(&index, "1234-5678"), vec![9]);
}

#[test]
fn bench_entry_point_runs() {
    let report = concierge_search::bench::run(&concierge_search::bench::BenchConfig {
        docs: 2_000,
        queries: 5,
        updates: 200,
        update_batch: 100,
        ..concierge_search::bench::BenchConfig::default()
    })
    .unwrap();
    assert_eq!(report.docs, 2_000);
    assert_eq!(report.latencies.len(), 5);
    assert!(
        report.latencies.iter().all(|l| l.mean_total > 0.0),
        "{report}"
    );
}

#[test]
fn an_index_rebuilt_through_positioned_reads_finds_what_a_memory_mapped_one_finds() {
    // `concierge search reindex` writes through `ReadMode::Pread` (no memory maps, so merged
    // segments do not stay resident); a serving node then opens the same files memory-mapped.
    let dir = tempfile::tempdir().unwrap();
    let words = ["退款", "배송", "refund", "damaged", "延迟", "교환"];
    let docs = |n: i64| {
        (1..=n).map(move |i| {
            let w = words[(i % 6) as usize];
            Ok::<_, std::io::Error>(case(
                1 + i % 2,
                i,
                &format!("{w} case {i}"),
                &format!("customer {i} writes about {w} and order {}", i * 7),
                i,
            ))
        })
    };
    let options = IndexOptions {
        writer_threads: 2,
        writer_memory_bytes: 32 * 1024 * 1024,
        read_mode: ReadMode::Pread,
    };
    let expected_refund: Vec<i64>;
    {
        let index = SearchIndex::recreate(dir.path(), options).unwrap();
        assert_eq!(index.rebuild(docs(30_000), 9, |_| {}).unwrap(), 30_000);
        assert_eq!(index.num_docs(), 30_000);
        let mut request = SearchRequest::new("refund");
        request.limit = 5;
        request.sort = SortOrder::CreatedAsc;
        let hits = index.search(T1, &request).unwrap();
        // Every sixth document (ids 2, 8, 14, ...) is about a refund, all of tenant 1 (even ids).
        assert_eq!(hits.total, 5_000);
        assert_eq!(hits.hits.iter().map(|h| h.id).next(), Some(2));
        assert!(hits.hits[0].snippet_html.contains("<mark>refund</mark>"));
        expected_refund = hits.hits.iter().map(|h| h.id).collect();
        // Later writes go through the same directory.
        index
            .upsert([case(1, 40_001, "缺货", "商品缺货了，什么时候补货", 1)])
            .unwrap();
        index.commit(10).unwrap();
    }
    let index = SearchIndex::open_or_create(dir.path(), IndexOptions::default()).unwrap();
    assert_eq!(index.applied_seq(), 10);
    assert_eq!(index.num_docs(), 30_001);
    let mut request = SearchRequest::new("refund");
    request.limit = 5;
    request.sort = SortOrder::CreatedAsc;
    let hits = index.search(T1, &request).unwrap();
    assert_eq!(hits.total, 5_000);
    assert_eq!(
        hits.hits.iter().map(|h| h.id).collect::<Vec<_>>(),
        expected_refund
    );
    assert_eq!(find(&index, "缺货"), vec![40_001]);
    assert_eq!(
        index.search(T2, &SearchRequest::new("배송")).unwrap().total,
        5_000
    );
    assert_eq!(
        index.search(T1, &SearchRequest::new("배송")).unwrap().total,
        0
    );
}
