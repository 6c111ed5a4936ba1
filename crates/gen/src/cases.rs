//! Cases and their threads.
//!
//! Case `i` picks its customer from its own stream (30% of cases go to the 5% of customers who
//! contact support often), regenerates that customer and their orders to find an order and a
//! product to talk about, and writes a thread in the customer's language: the customer's first
//! message, agent replies, customer follow-ups and occasional internal notes, with times after
//! the case's creation and never after the end of the range.

use crate::calendar::{DAY_MS, date_of_ms, format_date, format_money};
use crate::generator::Inner;
use crate::model::{
    CaseKind, CaseStatus, CaseTopic, CaseTruth, Category, Channel, GenCase, GenMessage, GenOrder,
    GenPreference, Locale, MessageKind, OrderStatus, Priority,
};
use crate::names;
use crate::people::{TEAMS, preference_statement};
use crate::places;
use crate::rng::{Kind, Rand};
use crate::text::{self, Vars};

const TOPIC_WEIGHTS: [f64; 8] = [0.16, 0.16, 0.14, 0.16, 0.10, 0.08, 0.10, 0.10];
const HOUR: f64 = 3_600_000.0;

fn team_of(topic: CaseTopic) -> usize {
    match topic {
        CaseTopic::DamagedItem | CaseTopic::Refund => 2,
        CaseTopic::LateDelivery | CaseTopic::AddressChange => 1,
        CaseTopic::Billing => 3,
        CaseTopic::ProductQuestion | CaseTopic::Preference | CaseTopic::Compliment => 0,
    }
}

fn tracking_number(rng: &mut Rand, locale: Locale) -> String {
    let digits = |rng: &mut Rand, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect()
    };
    match locale {
        Locale::Zh => format!("SF{}", digits(rng, 12)),
        Locale::Ko => digits(rng, 12),
        Locale::Ja => format!("{}-{}-{}", digits(rng, 4), digits(rng, 4), digits(rng, 4)),
        Locale::En => {
            const ALNUM: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
            let tail: String = (0..16)
                .map(|_| char::from(ALNUM[rng.index(ALNUM.len())]))
                .collect();
            format!("1Z{tail}")
        }
    }
}

/// Joins sentences the way the language does: no space after a CJK full stop.
fn join_sentences(locale: Locale, a: &str, b: &str) -> String {
    match locale {
        Locale::Zh | Locale::Ja => format!("{a}{b}"),
        Locale::Ko | Locale::En => format!("{a} {b}"),
    }
}

impl Inner {
    fn case_customer(&self, rng: &mut Rand) -> u64 {
        let n = self.customers;
        let r = self.frequent_residue;
        if r < n && rng.chance(0.3) {
            let count = (n - r).div_ceil(20);
            r + 20 * rng.below(count)
        } else {
            rng.below(n)
        }
    }

    fn agent_for(&self, rng: &mut Rand, team: usize, locale: Locale) -> u32 {
        let by_team = &self.agents_by_team_locale[team * 4 + locale.idx()];
        if !by_team.is_empty() {
            return by_team[rng.index(by_team.len())];
        }
        let by_locale = &self.agents_by_locale[locale.idx()];
        if !by_locale.is_empty() {
            return by_locale[rng.index(by_locale.len())];
        }
        rng.below(self.agents.len() as u64) as u32
    }

    pub(crate) fn case(&self, i: u64) -> GenCase {
        let seed = self.spec.seed;
        let end = self.spec.end_ms;
        let mut rng = Rand::new(seed, Kind::Case, 0, i);
        let customer_index = self.case_customer(&mut rng);
        let core = self.customer_core(customer_index);
        let (_, dropout) = self.trips(&core, self.lambda_scale);
        let customer = self.customer_from_core(&core, dropout);
        let orders = self.orders_of(&core);
        let locale = customer.locale;

        let mut topic = CaseTopic::ALL[rng.weighted_index(&TOPIC_WEIGHTS)];
        let eligible: Vec<&GenOrder> = orders
            .iter()
            .filter(|o| o.ordered_at + DAY_MS / 2 < end)
            .collect();
        if topic.needs_order() && eligible.is_empty() {
            topic = if rng.chance(0.5) {
                CaseTopic::ProductQuestion
            } else {
                CaseTopic::Preference
            };
        }
        let order: Option<&GenOrder> = if topic.needs_order()
            || (topic == CaseTopic::Compliment && !eligible.is_empty() && rng.chance(0.5))
        {
            let returned: Vec<&&GenOrder> = eligible
                .iter()
                .filter(|o| o.status == OrderStatus::Returned)
                .collect();
            if topic == CaseTopic::Refund && !returned.is_empty() && rng.chance(0.7) {
                Some(*returned[rng.index(returned.len())])
            } else {
                Some(eligible[rng.index(eligible.len())])
            }
        } else {
            None
        };

        let day = DAY_MS as f64;
        let created_at = match order {
            Some(o) => {
                let t = o.ordered_at as f64;
                let mut at = match topic {
                    CaseTopic::DamagedItem => t + rng.uniform(1.0, 6.0) * day,
                    CaseTopic::LateDelivery => t + rng.uniform(4.0, 12.0) * day,
                    CaseTopic::Refund => match o.returned_at {
                        Some(r) => (r as f64 - rng.uniform(0.5, 3.0) * day).max(t + HOUR),
                        None => t + rng.uniform(2.0, 25.0) * day,
                    },
                    CaseTopic::Billing => t + rng.uniform(0.05, 10.0) * day,
                    CaseTopic::AddressChange => t + rng.uniform(0.01, 0.4) * day,
                    _ => t + rng.uniform(3.0, 30.0) * day,
                } as i64;
                if at > end {
                    at =
                        o.ordered_at + ((end - o.ordered_at) as f64 * rng.uniform(0.3, 1.0)) as i64;
                }
                at
            }
            None => {
                let from = customer.created_at.max(self.spec.start_ms);
                from + ((end - from) as f64 * rng.f64()) as i64
            }
        };

        let product_index = match (order, topic) {
            (Some(o), CaseTopic::DamagedItem) => {
                // Something that can break: not clothing when the order has anything else.
                let fragile: Vec<u32> = o
                    .lines
                    .iter()
                    .map(|l| l.product_index)
                    .filter(|&p| {
                        self.catalog
                            .products
                            .get(p as usize)
                            .is_some_and(|p| p.category != Category::Clothing)
                    })
                    .collect();
                if fragile.is_empty() {
                    Some(o.lines[rng.index(o.lines.len())].product_index)
                } else {
                    Some(fragile[rng.index(fragile.len())])
                }
            }
            (Some(o), _) => Some(o.lines[rng.index(o.lines.len())].product_index),
            (None, CaseTopic::ProductQuestion | CaseTopic::Compliment) => {
                if !orders.is_empty() && rng.chance(0.5) {
                    let o = &orders[rng.index(orders.len())];
                    Some(o.lines[rng.index(o.lines.len())].product_index)
                } else {
                    let mut p = rng.below(u64::from(self.spec.products)) as u32;
                    if p % crate::catalog::MIN_PRODUCTS == self.catalog.gift_card {
                        p = (p + 1) % self.spec.products;
                    }
                    Some(p)
                }
            }
            _ => None,
        };

        let kind = match topic {
            CaseTopic::DamagedItem | CaseTopic::LateDelivery => CaseKind::Complaint,
            CaseTopic::Refund => {
                if rng.chance(0.75) {
                    CaseKind::Return
                } else {
                    CaseKind::Request
                }
            }
            CaseTopic::ProductQuestion => CaseKind::Question,
            CaseTopic::Preference | CaseTopic::AddressChange => CaseKind::Request,
            CaseTopic::Billing => {
                if rng.chance(0.5) {
                    CaseKind::Question
                } else {
                    CaseKind::Complaint
                }
            }
            CaseTopic::Compliment => CaseKind::FollowUp,
        };
        let old = core.age >= 70.0;
        let channel = *rng.pick_weighted(&[
            (Channel::Email, 0.34),
            (Channel::Web, 0.14),
            (Channel::Portal, 0.10),
            (Channel::Phone, if old { 0.3 } else { 0.15 }),
            (Channel::Chat, if old { 0.05 } else { 0.16 }),
            (Channel::Visit, 0.03),
            (Channel::Letter, if old { 0.1 } else { 0.02 }),
            (Channel::Api, 0.06),
        ]);
        let priority = *rng.pick_weighted(match kind {
            CaseKind::Complaint => &[
                (Priority::Low, 0.02),
                (Priority::Normal, 0.5),
                (Priority::High, 0.38),
                (Priority::Urgent, 0.1),
            ],
            CaseKind::Return => &[
                (Priority::Low, 0.05),
                (Priority::Normal, 0.7),
                (Priority::High, 0.25),
                (Priority::Urgent, 0.0),
            ],
            CaseKind::FollowUp => &[
                (Priority::Low, 0.7),
                (Priority::Normal, 0.3),
                (Priority::High, 0.0),
                (Priority::Urgent, 0.0),
            ],
            CaseKind::Question | CaseKind::Request => &[
                (Priority::Low, 0.2),
                (Priority::Normal, 0.7),
                (Priority::High, 0.1),
                (Priority::Urgent, 0.0),
            ],
        });
        let team = team_of(topic);
        let agent = self.agent_for(&mut rng, team, locale);

        // The thread's shape and times.
        let count = (1 + rng.poisson(self.spec.messages_per_case - 1.0)).min(40) as usize;
        let mut kinds = Vec::with_capacity(count);
        kinds.push(MessageKind::Customer);
        for _ in 1..count {
            let next = match kinds.last() {
                Some(MessageKind::Customer) => {
                    if rng.chance(0.15) {
                        MessageKind::InternalNote
                    } else {
                        MessageKind::Reply
                    }
                }
                Some(MessageKind::InternalNote) => MessageKind::Reply,
                _ => {
                    if rng.chance(0.1) {
                        MessageKind::InternalNote
                    } else {
                        MessageKind::Customer
                    }
                }
            };
            kinds.push(next);
        }
        let mut offsets = vec![0.0f64; count];
        for j in 1..count {
            let gap = match (kinds[j - 1], kinds[j]) {
                (MessageKind::InternalNote, MessageKind::Reply) => rng.exponential(HOUR),
                (_, MessageKind::Reply) => 600_000.0 + rng.exponential(5.0 * HOUR),
                (_, MessageKind::InternalNote) => 120_000.0 + rng.exponential(1.5 * HOUR),
                (_, MessageKind::Customer) => 300_000.0 + rng.exponential(20.0 * HOUR),
            };
            offsets[j] = offsets[j - 1] + gap;
        }
        let room = (end - created_at) as f64;
        let total = offsets[count - 1];
        if total > room && total > 0.0 {
            for o in &mut offsets {
                *o *= room / total;
            }
        }
        let times: Vec<i64> = offsets
            .iter()
            .map(|o| (created_at + *o as i64).min(end))
            .collect();
        let last_at = times[count - 1];
        let resolved = rng.chance(0.85);
        let status = match kinds[count - 1] {
            _ if count == 1 => {
                if end - created_at < 3 * DAY_MS {
                    CaseStatus::New
                } else {
                    CaseStatus::Open
                }
            }
            MessageKind::Customer => CaseStatus::Open,
            MessageKind::InternalNote => CaseStatus::OnHold,
            MessageKind::Reply if !resolved => CaseStatus::PendingCustomer,
            MessageKind::Reply => {
                if end - last_at < 5 * DAY_MS {
                    CaseStatus::Solved
                } else {
                    CaseStatus::Closed
                }
            }
        };

        // The words.
        let texts = text::texts(locale);
        let topic_text = &texts.topics[topic.idx()];
        let sig = if locale == Locale::En && rng.chance(0.5) {
            customer.name.given.clone()
        } else {
            customer.name.full.clone()
        };
        let sal = names::salutation(locale, customer.gender, &customer.name);
        let order_no = order.map(|o| o.order_no.clone()).unwrap_or_default();
        let product = product_index
            .and_then(|p| self.catalog.products.get(p as usize))
            .map(|p| p.name.get(locale).to_string())
            .unwrap_or_default();
        let date = order
            .map(|o| format_date(locale, date_of_ms(o.ordered_at)))
            .unwrap_or_default();
        let amount = order
            .map(|o| format_money(o.currency, o.total_minor))
            .unwrap_or_default();
        let days = rng.int(2, 7).to_string();
        let agent_name = self
            .agents
            .get(agent as usize)
            .map(|a| a.name.full.clone())
            .unwrap_or_default();
        let city = places::city_name(locale, core.hh.place);
        let tracking = tracking_number(&mut rng, locale);
        let size = core.hh.size.to_string();
        let mut stated: Option<GenPreference> = None;
        let mut pref_sentence = "";
        let prefs = &customer.truth.preferences;
        if topic == CaseTopic::Preference
            && let Some(p) = prefs.get(rng.index(prefs.len())).copied()
        {
            pref_sentence = preference_statement(&mut rng, locale, &p);
            stated = Some(p);
        }
        let vars = Vars {
            sig: &sig,
            sal: &sal,
            order: &order_no,
            product: &product,
            date: &date,
            amount: &amount,
            days: &days,
            agent: &agent_name,
            city,
            tracking: &tracking,
            size: &size,
            pref: pref_sentence,
        };
        let chatty = matches!(channel, Channel::Chat | Channel::Phone | Channel::Visit);
        // The scenario: which opening, and so which aligned subject, reply and note.
        let n_open = topic_text.openings.len();
        let consumable = product_index
            .and_then(|p| self.catalog.products.get(p as usize))
            .is_some_and(|p| {
                matches!(
                    p.category,
                    Category::Grocery
                        | Category::Beverage
                        | Category::PersonalCare
                        | Category::Baby
                        | Category::Pet
                        | Category::Household
                )
            });
        let scenario = if topic == CaseTopic::ProductQuestion && !consumable {
            // Shelf life and ingredients are questions about things one eats or uses up.
            [1, 3][rng.index(2)] % n_open
        } else {
            rng.index(n_open)
        };
        let aligned = |rng: &mut Rand, list: &[&'static str]| -> &'static str {
            if list.len() == n_open {
                list[scenario]
            } else {
                rng.pick_str(list)
            }
        };
        let subject = text::fill(aligned(&mut rng, topic_text.subjects), &vars);
        let case_ext = format!("CS{:07}", i + 1);
        let mut messages = Vec::with_capacity(count);
        let mut replies_seen = 0;
        for j in 0..count {
            let kind = kinds[j];
            let is_last = j == count - 1;
            let (body, agent_index) = match kind {
                MessageKind::Customer if j == 0 => {
                    let mut core_text = text::fill(topic_text.openings[scenario], &vars);
                    if rng.chance(0.7) {
                        core_text = join_sentences(
                            locale,
                            &core_text,
                            &text::fill(rng.pick_str(topic_text.details), &vars),
                        );
                    }
                    let body = if chatty {
                        core_text
                    } else {
                        format!(
                            "{}\n\n{}\n\n{}",
                            rng.pick_str(texts.greetings),
                            core_text,
                            text::fill(rng.pick_str(texts.closings), &vars)
                        )
                    };
                    (body, None)
                }
                MessageKind::Customer => {
                    let mut body = if rng.chance(0.6) {
                        text::fill(aligned(&mut rng, topic_text.followups), &vars)
                    } else {
                        text::fill(rng.pick_str(texts.generic_followups), &vars)
                    };
                    if stated.is_none()
                        && rng.chance(0.08)
                        && let Some(p) = prefs.first().copied()
                    {
                        body = join_sentences(
                            locale,
                            &body,
                            preference_statement(&mut rng, locale, &p),
                        );
                        stated = Some(p);
                    }
                    (body, None)
                }
                MessageKind::InternalNote => (
                    text::fill(aligned(&mut rng, topic_text.notes), &vars),
                    Some(agent),
                ),
                MessageKind::Reply => {
                    let content = if is_last && resolved {
                        text::fill(aligned(&mut rng, topic_text.resolutions), &vars)
                    } else if replies_seen == 0 {
                        text::fill(aligned(&mut rng, topic_text.first_replies), &vars)
                    } else {
                        text::fill(rng.pick_str(texts.generic_replies), &vars)
                    };
                    replies_seen += 1;
                    let body = if chatty {
                        content
                    } else {
                        format!(
                            "{}\n\n{}\n\n{}",
                            text::fill(rng.pick_str(texts.agent_greetings), &vars),
                            content,
                            text::fill(rng.pick_str(texts.agent_closings), &vars)
                        )
                    };
                    (body, Some(agent))
                }
            };
            messages.push(GenMessage {
                seq: j as u32,
                external_id: format!("{case_ext}-{:02}", j + 1),
                kind,
                agent_index,
                body,
                created_at: times[j],
            });
        }

        let mut tags = vec![topic.as_str()];
        if customer.tags.contains(&"vip") {
            tags.push("vip");
        }
        if core.frequent {
            tags.push("repeat-contact");
        }
        GenCase {
            index: i,
            external_id: case_ext,
            customer_index,
            household_index: customer.household_index,
            locale,
            subject,
            kind,
            topic,
            channel,
            priority,
            status,
            team: TEAMS[team],
            assignee: (status != CaseStatus::New).then_some(agent),
            order: order.map(|o| (o.seq, o.order_no.clone())),
            product_index,
            tags,
            created_at,
            messages,
            truth: CaseTruth {
                stated_preference: stated,
            },
        }
    }
}
