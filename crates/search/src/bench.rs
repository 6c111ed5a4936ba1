//! A self-contained benchmark: generates mixed Chinese / Korean / Japanese / English case
//! traffic, measures indexing throughput and query latency. `concierge bench search` calls
//! [`run`]; `cargo run --release -p concierge-search --example search_bench -- 200000` runs it
//! standalone.
//!
//! The generated text is deterministic (seeded), so figures are comparable between runs.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::doc::{DocKind, SearchDoc, TenantId, Visibility};
use crate::error::Result;
use crate::index::{IndexOptions, SearchIndex};
use crate::query::{Filters, SearchRequest, SortOrder};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Documents to index.
    pub docs: usize,
    /// Queries per query set.
    pub queries: usize,
    /// Tenants the documents are spread over (searches go to tenant 1).
    pub tenants: i64,
    /// Index directory (`None`: in RAM). The directory's index is replaced.
    pub dir: Option<PathBuf>,
    /// Writer options.
    pub options: IndexOptions,
    /// Updates applied after the rebuild through upsert + commit, as the change-log follower
    /// does (0: skip).
    pub updates: usize,
    /// Documents per commit in the update phase.
    pub update_batch: usize,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            docs: 100_000,
            queries: 500,
            tenants: 4,
            dir: None,
            options: IndexOptions::default(),
            updates: 20_000,
            update_batch: 100,
            seed: 42,
        }
    }
}

/// Latency of one query set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyStats {
    /// Name of the set.
    pub name: String,
    /// Queries run.
    pub queries: usize,
    /// Median, µs.
    pub p50_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Mean total matches per query.
    pub mean_total: f64,
}

/// The measured figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchReport {
    /// Time to load the jieba dictionary.
    pub jieba_load: Duration,
    /// Documents indexed by the rebuild.
    pub docs: u64,
    /// Wall time of the rebuild (all documents plus the commit).
    pub rebuild_time: Duration,
    /// Rebuild throughput, documents per second.
    pub rebuild_docs_per_sec: f64,
    /// Documents updated in the follower phase.
    pub updates: usize,
    /// Follower throughput (upsert + commit every `update_batch`), documents per second.
    pub update_docs_per_sec: f64,
    /// Median commit time in the follower phase.
    pub commit_p50: Duration,
    /// 95th percentile commit time in the follower phase.
    pub commit_p95: Duration,
    /// Size on disk in bytes (directory indexes only).
    pub index_bytes: Option<u64>,
    /// Peak resident memory of the process (Linux `VmHWM`), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Query sets.
    pub latencies: Vec<LatencyStats>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "jieba dictionary load {} ms",
            self.jieba_load.as_millis()
        )?;
        writeln!(
            f,
            "rebuild: {} docs in {:.2} s = {:.0} docs/s",
            self.docs,
            self.rebuild_time.as_secs_f64(),
            self.rebuild_docs_per_sec
        )?;
        if self.updates > 0 {
            writeln!(
                f,
                "follower: {} updates at {:.0} docs/s, commit p50 {:.1} ms p95 {:.1} ms",
                self.updates,
                self.update_docs_per_sec,
                self.commit_p50.as_secs_f64() * 1000.0,
                self.commit_p95.as_secs_f64() * 1000.0
            )?;
        }
        if let Some(bytes) = self.index_bytes {
            writeln!(f, "index size {:.1} MiB", bytes as f64 / (1024.0 * 1024.0))?;
        }
        if let Some(bytes) = self.peak_rss_bytes {
            writeln!(f, "peak RSS {:.0} MiB", bytes as f64 / (1024.0 * 1024.0))?;
        }
        for l in &self.latencies {
            writeln!(
                f,
                "{:<22} n={:<5} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  mean total {:.0}",
                l.name,
                l.queries,
                l.p50_us as f64 / 1000.0,
                l.p95_us as f64 / 1000.0,
                l.p99_us as f64 / 1000.0,
                l.mean_total
            )?;
        }
        Ok(())
    }
}

/// Peak RSS from `/proc/self/status` (Linux only).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// SplitMix64: small, deterministic, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
}

const ZH: &[&str] = &[
    "订单",
    "损坏",
    "退货",
    "退款",
    "物流",
    "快递",
    "发票",
    "客服",
    "质量",
    "问题",
    "尽快",
    "处理",
    "包装",
    "商品",
    "收到",
    "没有",
    "希望",
    "更换",
    "投诉",
    "会员",
    "积分",
    "地址",
    "修改",
    "取消",
    "付款",
    "失败",
    "账户",
    "登录",
    "密码",
    "优惠券",
    "满意",
    "服务",
    "态度",
    "延迟",
    "配送",
    "安装",
    "维修",
    "保修",
    "价格",
    "差价",
    "我的",
    "已经",
    "还是",
    "请",
    "帮我",
    "查询",
    "一下",
    "为什么",
    "电话",
    "联系",
    "颜色",
    "尺寸",
    "不对",
    "破损",
    "少发",
    "漏发",
    "换货",
    "申请",
    "审核",
    "通过",
];
const KO: &[&str] = &[
    "배송이",
    "주문을",
    "환불",
    "교환",
    "상품이",
    "파손되었어요",
    "너무",
    "늦어요",
    "확인",
    "부탁드립니다",
    "고객센터",
    "연락",
    "주세요",
    "포장이",
    "불량",
    "취소",
    "결제",
    "오류",
    "회원",
    "등급",
    "포인트",
    "주소",
    "변경",
    "문의",
    "드립니다",
    "아직",
    "못",
    "받았어요",
    "빠른",
    "처리",
    "감사합니다",
    "반품",
    "신청",
    "했는데",
    "답변이",
    "없어요",
];
const JA: &[&str] = &[
    "注文した",
    "商品が",
    "まだ",
    "届きません",
    "返品",
    "したい",
    "です",
    "配送",
    "遅れて",
    "います",
    "確認",
    "お願いします",
    "交換",
    "破損して",
    "いました",
    "返金",
    "について",
    "問い合わせ",
    "メール",
    "アカウント",
    "ログイン",
    "できません",
];
const EN: &[&str] = &[
    "order",
    "damaged",
    "refund",
    "return",
    "shipping",
    "delivery",
    "late",
    "invoice",
    "please",
    "help",
    "account",
    "password",
    "login",
    "failed",
    "payment",
    "charged",
    "twice",
    "cancel",
    "address",
    "change",
    "package",
    "arrived",
    "broken",
    "missing",
    "item",
    "wrong",
    "size",
    "color",
    "replacement",
    "warranty",
    "repair",
    "customer",
    "service",
    "thanks",
    "still",
    "waiting",
    "tracking",
    "number",
    "coupon",
    "discount",
    "member",
    "points",
    "subscription",
    "renewal",
    "the",
    "my",
    "is",
    "was",
    "and",
    "not",
    "when",
    "will",
    "I",
    "have",
    "been",
];
const STATUSES: &[&str] = &[
    "new",
    "open",
    "pending_customer",
    "on_hold",
    "solved",
    "closed",
];
const TIERS: &[&str] = &["iron", "gold", "platinum"];
const CHANNELS: &[&str] = &["email", "web", "portal", "phone", "chat"];
const TAGS: &[&str] = &["refund", "vip", "shipping", "bug", "urgent", "退货", "배송"];

fn sentence(rng: &mut Rng, words: &[&str], min: usize, max: usize, sep: &str) -> String {
    let n = min + rng.below(max - min + 1);
    let mut out = String::new();
    for i in 0..n {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(rng.pick(words));
    }
    out
}

/// Generated body text in one of the languages, sometimes mixed with English.
fn body(rng: &mut Rng) -> String {
    let lang = rng.below(100);
    let mut text = match lang {
        0..=39 => {
            let mut s = String::new();
            for _ in 0..(1 + rng.below(3)) {
                s.push_str(&sentence(rng, ZH, 5, 14, ""));
                s.push_str(if rng.below(2) == 0 { "，" } else { "。" });
            }
            s
        }
        40..=64 => sentence(rng, KO, 5, 18, " "),
        65..=74 => sentence(rng, JA, 4, 10, ""),
        _ => sentence(rng, EN, 8, 40, " "),
    };
    if rng.below(5) == 0 {
        text.push(' ');
        text.push_str(&sentence(rng, EN, 1, 4, " "));
    }
    text
}

/// Deterministic generated documents: about 20% cases, 70% messages, 10% notes.
pub fn generate_docs(count: usize, tenants: i64, seed: u64) -> impl Iterator<Item = SearchDoc> {
    let mut rng = Rng::new(seed);
    let start_ms: i64 = 1_700_000_000_000;
    (0..count).map(move |i| {
        let i = i as i64;
        // The kind depends on the index only, so a second run over the same range updates the
        // same documents.
        let kind = match i % 10 {
            0 | 1 => DocKind::Case,
            9 => DocKind::Note,
            _ => DocKind::Message,
        };
        let case_id = i / 5 + 1;
        let title_words = if rng.below(2) == 0 { ZH } else { EN };
        let title = sentence(&mut rng, title_words, 2, 5, " ");
        let mut doc = SearchDoc::new(
            1 + (case_id % tenants.max(1)),
            kind,
            i + 1,
            title,
            body(&mut rng),
            start_ms + i * 60_000,
        );
        doc.case_id = Some(case_id);
        doc.customer_id = Some(case_id % 10_000 + 1);
        doc.visibility = if kind == DocKind::Note {
            Visibility::Internal
        } else {
            Visibility::Public
        };
        doc.status = Some(rng.pick(STATUSES).to_string());
        doc.owner_id = Some(rng.below(50) as i64 + 1);
        doc.team_id = Some(rng.below(8) as i64 + 1);
        doc.tier = Some(rng.pick(TIERS).to_string());
        doc.channel = Some(rng.pick(CHANNELS).to_string());
        doc.tags = vec![rng.pick(TAGS).to_string()];
        doc.updated_at = doc.created_at + rng.below(86_400_000) as i64;
        doc
    })
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn measure(
    index: &SearchIndex,
    name: &str,
    requests: impl IntoIterator<Item = SearchRequest>,
) -> Result<LatencyStats> {
    let mut times = Vec::new();
    let mut totals = 0usize;
    for request in requests {
        let t = Instant::now();
        let results = index.search(TenantId(1), &request)?;
        times.push(t.elapsed().as_micros() as u64);
        totals += results.total;
    }
    times.sort_unstable();
    Ok(LatencyStats {
        name: name.to_string(),
        queries: times.len(),
        p50_us: percentile(&times, 0.50),
        p95_us: percentile(&times, 0.95),
        p99_us: percentile(&times, 0.99),
        mean_total: totals as f64 / times.len().max(1) as f64,
    })
}

/// Runs the benchmark and returns the figures.
pub fn run(config: &BenchConfig) -> Result<BenchReport> {
    let started = Instant::now();
    crate::analyzer::warm_up();
    let jieba_load = started.elapsed();
    let index = match &config.dir {
        Some(dir) => SearchIndex::recreate(dir, config.options)?,
        None => SearchIndex::create_in_ram(config.options)?,
    };

    // Rebuild, as `concierge search reindex` does.
    let started = Instant::now();
    let docs = generate_docs(config.docs, config.tenants, config.seed)
        .map(Ok::<_, std::convert::Infallible>);
    let indexed = index.rebuild(docs, 1, |_| {})?;
    let rebuild_time = started.elapsed();

    // Follow the change log: small batches, each committed.
    let started = Instant::now();
    let mut commit_times = Vec::new();
    let mut seq = 1u64;
    let mut batch = Vec::with_capacity(config.update_batch.max(1));
    let updates = config.updates.min(config.docs);
    for doc in generate_docs(updates, config.tenants, config.seed ^ 0x5EED) {
        batch.push(doc);
        if batch.len() >= config.update_batch.max(1) {
            index.upsert(batch.drain(..))?;
            seq += 1;
            let t = Instant::now();
            index.commit(seq)?;
            commit_times.push(t.elapsed());
        }
    }
    if !batch.is_empty() {
        index.upsert(batch.drain(..))?;
        seq += 1;
        let t = Instant::now();
        index.commit(seq)?;
        commit_times.push(t.elapsed());
    }
    let update_time = started.elapsed();
    commit_times.sort_unstable();
    let pick = |p: f64| {
        commit_times
            .get(((commit_times.len().saturating_sub(1)) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let (commit_p50, commit_p95) = (pick(0.5), pick(0.95));

    let mut rng = Rng::new(config.seed ^ 0xABCD);
    let n = config.queries;
    let page = |text: String| SearchRequest::new(text).staff();
    let english: Vec<SearchRequest> = (0..n)
        .map(|_| page(sentence(&mut rng, &EN[..44], 1, 2, " ")))
        .collect();
    let chinese: Vec<SearchRequest> = (0..n)
        .map(|_| page(rng.pick(&ZH[..46]).to_string()))
        .collect();
    let korean: Vec<SearchRequest> = (0..n)
        .map(|_| {
            page(
                rng.pick(&["배송", "환불", "교환", "주문", "불량", "결제 오류"])
                    .to_string(),
            )
        })
        .collect();
    let japanese: Vec<SearchRequest> = (0..n)
        .map(|_| {
            page(
                rng.pick(&["注文", "商品", "返品", "配送", "届きません"])
                    .to_string(),
            )
        })
        .collect();
    let filtered: Vec<SearchRequest> = (0..n)
        .map(|_| {
            page(rng.pick(&["退款", "refund", "배송", "damaged"]).to_string())
                .with_filters(Filters {
                    statuses: vec!["open".into(), "new".into()],
                    team_id: Some(rng.below(8) as i64 + 1),
                    ..Filters::default()
                })
                .with_sort(SortOrder::CreatedDesc)
        })
        .collect();
    let latencies = vec![
        measure(&index, "english 1-2 words", english)?,
        measure(&index, "chinese word", chinese)?,
        measure(&index, "korean word", korean)?,
        measure(&index, "japanese word", japanese)?,
        measure(&index, "filtered, newest first", filtered)?,
    ];
    Ok(BenchReport {
        jieba_load,
        docs: indexed,
        rebuild_time,
        rebuild_docs_per_sec: indexed as f64 / rebuild_time.as_secs_f64().max(1e-9),
        updates,
        update_docs_per_sec: updates as f64 / update_time.as_secs_f64().max(1e-9),
        commit_p50,
        commit_p95,
        index_bytes: config.dir.as_deref().map(dir_size),
        peak_rss_bytes: peak_rss(),
        latencies,
    })
}
