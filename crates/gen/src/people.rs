//! Households, customers and agents.
//!
//! Customer `i` belongs to household `i % H` and is its `i / H`-th member (the head when
//! `i < H`), so both directions of the membership are computed without looking at any other
//! record. A household's locale, size, family name, address, infant, pet and regular staples
//! are drawn from the household's stream; each member's own details from the member's stream.

use crate::calendar::{DAY_MS, date_of_ms};
use crate::catalog::{Needs, TEMPLATES};
use crate::generator::Inner;
use crate::model::{
    Channel, ConsumptionBasis, CustomerTruth, GenAgent, GenConsent, GenCustomer, GenHousehold,
    GenHouseholdMember, GenPreference, Gender, HouseholdRole, Locale, Pet, StapleTruth,
};
use crate::names::{self, Family};
use crate::places;
use crate::rng::{Kind, Rand};
use crate::spec::PurchaseModel;
use crate::text;

/// Team names; agents and cases carry one of these.
pub const TEAMS: [&str; 4] = ["Customer Care", "Logistics", "Returns & Refunds", "Billing"];

const SIZE_WEIGHTS: [[f64; 6]; 4] = [
    [0.15, 0.30, 0.30, 0.15, 0.07, 0.03],
    [0.30, 0.28, 0.20, 0.17, 0.04, 0.01],
    [0.35, 0.28, 0.18, 0.13, 0.04, 0.02],
    [0.28, 0.35, 0.15, 0.13, 0.06, 0.03],
];

const TAGS: &[(&str, f64)] = &[
    ("newsletter", 3.0),
    ("vip", 0.6),
    ("wholesale", 0.3),
    ("gift-buyer", 1.0),
    ("eco-conscious", 0.8),
    ("weekend-shopper", 1.0),
    ("first-order-coupon", 1.2),
    ("app-user", 2.0),
    ("referral", 0.7),
    ("corporate", 0.3),
];

/// A staple a household consumes regularly and one of its customer members buys.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HouseholdStaple {
    pub(crate) template: usize,
    pub(crate) product: u32,
    /// The household's true consumption, in product units per day.
    pub(crate) rate: f64,
    /// Packs usually bought at once.
    pub(crate) base_qty: u32,
    /// Which customer member (by rank) buys it.
    pub(crate) buyer_rank: u32,
}

/// What every member of a household shares.
pub(crate) struct HouseholdCore {
    pub(crate) locale: Locale,
    pub(crate) size: u8,
    pub(crate) members: u32,
    pub(crate) has_infant: bool,
    pub(crate) pet: Option<Pet>,
    pub(crate) head_gender: Gender,
    pub(crate) head_age: f64,
    pub(crate) head_family: Family,
    pub(crate) place: usize,
    pub(crate) staples: Vec<HouseholdStaple>,
}

/// What a customer's orders and cases need, without the strings.
pub(crate) struct CustomerCore {
    pub(crate) index: u64,
    pub(crate) household: u64,
    pub(crate) rank: u32,
    pub(crate) hh: HouseholdCore,
    pub(crate) role: HouseholdRole,
    pub(crate) gender: Gender,
    pub(crate) age: f64,
    pub(crate) created_at: i64,
    pub(crate) first_purchase_at: Option<i64>,
    /// Unscaled BG/NBD rate per day (multiplied by the calibrated scale).
    pub(crate) lambda0: f64,
    pub(crate) dropout_p: f64,
    pub(crate) nu: f64,
    pub(crate) frequent: bool,
}

impl CustomerCore {
    /// The staples this customer buys for the household.
    pub(crate) fn staples(&self) -> impl Iterator<Item = &HouseholdStaple> {
        self.hh
            .staples
            .iter()
            .filter(move |s| s.buyer_rank == self.rank)
    }
}

impl Inner {
    /// Number of customer members of virtual household `h`.
    fn members_of(&self, h: u64) -> u32 {
        if self.customers == 0 {
            return 0;
        }
        ((self.customers - 1 - h) / self.h_eff + 1) as u32
    }

    pub(crate) fn household_core(&self, h: u64) -> HouseholdCore {
        let mut rng = Rand::new(self.spec.seed, Kind::Household, 0, h);
        let locale = Locale::ALL[rng.weighted_index(&self.locale_weights)];
        let members = self.members_of(h).max(1);
        let mut w = SIZE_WEIGHTS[locale.idx()];
        for (k, x) in w.iter_mut().enumerate() {
            if (k as u32) + 1 < members {
                *x = 0.0;
            }
        }
        let size = (rng.weighted_index(&w) + 1) as u8;
        let head_gender = if rng.chance(if locale == Locale::En { 0.5 } else { 0.55 }) {
            Gender::Male
        } else {
            Gender::Female
        };
        let head_age = rng.normal(46.0, 13.0).clamp(21.0, 88.0);
        let has_infant = size >= 3 && head_age < 44.0 && rng.chance(0.35);
        let pet_chance = if locale == Locale::En { 0.3 } else { 0.18 };
        let pet = if rng.chance(pet_chance) {
            Some(if rng.chance(0.6) { Pet::Dog } else { Pet::Cat })
        } else {
            None
        };
        let head_family = names::pick_family(&mut rng, locale);
        let place = rng.index(places::place_count(locale));
        let mut staples = Vec::new();
        if self.spec.purchase_model == PurchaseModel::Mixed && rng.chance(self.regular_share) {
            let wanted = (1 + rng.poisson(0.3)).min(4) as usize;
            let mut weights: Vec<f64> = self
                .catalog
                .staples
                .iter()
                .map(|&t| match TEMPLATES[t].staple {
                    Some(s) => {
                        let ok = match s.needs {
                            Needs::Anyone => true,
                            Needs::Infant => has_infant,
                            Needs::Dog => pet == Some(Pet::Dog),
                            Needs::Cat => pet == Some(Pet::Cat),
                        };
                        if ok { s.affinity[locale.idx()] } else { 0.0 }
                    }
                    None => 0.0,
                })
                .collect();
            for _ in 0..wanted {
                if weights.iter().all(|w| *w <= 0.0) {
                    break;
                }
                let k = rng.weighted_index(&weights);
                weights[k] = 0.0;
                let template = self.catalog.staples[k];
                let Some(spec) = TEMPLATES[template].staple else {
                    continue;
                };
                let variants = &self.catalog.variants[template];
                let product = variants[rng.index(variants.len())];
                let people = match spec.basis {
                    ConsumptionBasis::PerMember => f64::from(size),
                    ConsumptionBasis::PerHousehold => 1.0,
                };
                // Mean 1, coefficient of variation about 0.4: households differ in appetite.
                let multiplier = rng.gamma(6.0, 1.0 / 6.0);
                let rate = spec.rate * people * multiplier;
                let pack = TEMPLATES[template].pack;
                let base_qty = libm::ceil(14.0 * rate / pack).clamp(1.0, 6.0) as u32;
                let buyer_rank = rng.below(u64::from(members)) as u32;
                staples.push(HouseholdStaple {
                    template,
                    product,
                    rate,
                    base_qty,
                    buyer_rank,
                });
            }
        }
        HouseholdCore {
            locale,
            size,
            members,
            has_infant,
            pet,
            head_gender,
            head_age,
            head_family,
            place,
            staples,
        }
    }

    pub(crate) fn customer_core(&self, i: u64) -> CustomerCore {
        let household = i % self.h_eff;
        let rank = (i / self.h_eff) as u32;
        let hh = self.household_core(household);
        let mut rng = Rand::new(self.spec.seed, Kind::CustomerCore, 0, i);
        let role = draw_role(&mut rng, rank, &hh);
        let spread = rng.f64();
        let age = match role {
            HouseholdRole::Head => hh.head_age,
            HouseholdRole::Spouse => (hh.head_age + 6.0 * (spread - 0.5)).max(20.0),
            HouseholdRole::Child => (hh.head_age - 22.0 - 12.0 * spread).max(20.0),
            HouseholdRole::Parent => (hh.head_age + 22.0 + 10.0 * spread).min(96.0),
        };
        let gender = match role {
            HouseholdRole::Head => hh.head_gender,
            HouseholdRole::Spouse if rng.chance(0.95) => match hh.head_gender {
                Gender::Male => Gender::Female,
                Gender::Female => Gender::Male,
            },
            _ => {
                if rng.chance(0.5) {
                    Gender::Male
                } else {
                    Gender::Female
                }
            }
        };
        let start = self.spec.start_ms;
        let span = self.spec.end_ms - start;
        let created_at = start + (rng.f64() * span as f64 * 0.98) as i64;
        let never = self.no_orders
            || (self.spec.purchase_model == PurchaseModel::Mixed && rng.chance(0.03));
        let delay = (rng.exponential(2.0) * DAY_MS as f64) as i64;
        let first_purchase_at = if never || created_at + delay > self.spec.end_ms {
            None
        } else {
            Some(created_at + delay)
        };
        let t = &self.truth;
        let lambda0 = rng.gamma(t.bgnbd.r, 1.0 / crate::generator::BASE_ALPHA);
        let dropout_p = rng.beta(t.bgnbd.a, t.bgnbd.b);
        let nu = rng.gamma(t.gamma_gamma.q, 1.0 / t.gamma_gamma.gamma_usd);
        let frequent = i % 20 == self.frequent_residue;
        CustomerCore {
            index: i,
            household,
            rank,
            hh,
            role,
            gender,
            age,
            created_at,
            first_purchase_at,
            lambda0,
            dropout_p,
            nu,
            frequent,
        }
    }

    pub(crate) fn household(&self, h: u64) -> GenHousehold {
        let hh = self.household_core(h);
        let mut arng = Rand::new(self.spec.seed, Kind::HouseholdAddress, 0, h);
        let address = places::address(&mut arng, hh.locale, hh.place);
        let notes = if arng.chance(0.3) {
            Some((*arng.pick(text::household_notes(hh.locale))).to_string())
        } else {
            None
        };
        let family = names::family_native(hh.locale, hh.head_family);
        let name = match hh.locale {
            Locale::Zh | Locale::Ja => format!("{family}家"),
            Locale::Ko => format!("{family}씨 댁"),
            Locale::En => format!("The {family} household"),
        };
        let members = (0..u64::from(hh.members))
            .map(|k| {
                let customer_index = h + k * self.h_eff;
                let role = if k == 0 {
                    HouseholdRole::Head
                } else {
                    self.customer_core_role(customer_index, &hh)
                };
                GenHouseholdMember {
                    customer_index,
                    role,
                }
            })
            .collect();
        GenHousehold {
            index: h,
            external_id: format!("H{:07}", h + 1),
            name,
            locale: hh.locale,
            size: hh.size,
            address,
            members,
            notes,
            has_infant: hh.has_infant,
            pet: hh.pet,
        }
    }

    /// A member's role without building the whole customer (the first draw of its stream).
    fn customer_core_role(&self, i: u64, hh: &HouseholdCore) -> HouseholdRole {
        let rank = (i / self.h_eff) as u32;
        let mut rng = Rand::new(self.spec.seed, Kind::CustomerCore, 0, i);
        draw_role(&mut rng, rank, hh)
    }

    pub(crate) fn customer(&self, i: u64) -> GenCustomer {
        let core = self.customer_core(i);
        let (_, dropout_at) = self.trips(&core, self.lambda_scale);
        self.customer_from_core(&core, dropout_at)
    }

    pub(crate) fn customer_from_core(
        &self,
        core: &CustomerCore,
        dropout_at: Option<i64>,
    ) -> GenCustomer {
        let i = core.index;
        let hh = &core.hh;
        let locale = hh.locale;
        let mut rng = Rand::new(self.spec.seed, Kind::CustomerProfile, 0, i);
        let shares_family = match (core.role, locale) {
            (HouseholdRole::Head, _) => true,
            (HouseholdRole::Spouse, Locale::Zh | Locale::Ko) => false,
            (HouseholdRole::Spouse, Locale::Ja) => true,
            (HouseholdRole::Spouse, Locale::En) => rng.chance(0.85),
            (HouseholdRole::Child, Locale::Zh | Locale::Ko) => hh.head_gender == Gender::Male,
            (HouseholdRole::Child, _) => true,
            // A Chinese or Korean head's father shares the surname, the mother kept her own.
            (HouseholdRole::Parent, Locale::Zh | Locale::Ko) => core.gender == Gender::Male,
            (HouseholdRole::Parent, _) => true,
        };
        let family = if shares_family {
            hh.head_family
        } else {
            names::pick_family(&mut rng, locale)
        };
        let given = names::pick_given(&mut rng, locale, core.gender);
        let name = names::build(locale, core.gender, family, given);
        let family_slug = names::ascii_slug(&name.family_latin);
        let given_slug = names::ascii_slug(&name.given_latin);
        let email_chance = if locale == Locale::En { 0.97 } else { 0.92 };
        let email = if rng.chance(email_chance) {
            Some(places::email(
                &mut rng,
                locale,
                &family_slug,
                &given_slug,
                i,
            ))
        } else {
            None
        };
        let email_verified = email.is_some() && rng.chance(0.8);
        let phone = if rng.chance(0.9) || email.is_none() {
            Some(places::phone(
                &mut rng,
                locale,
                hh.place,
                i,
                self.phone_salt,
            ))
        } else {
            None
        };
        let phone_verified = phone.is_some() && rng.chance(0.7);
        let birthday = if rng.chance(0.85) {
            let born = self.spec.end_ms - (core.age * 365.2425 * DAY_MS as f64) as i64;
            Some(date_of_ms(born))
        } else {
            None
        };
        let old = core.age >= 70.0;
        let channel_weights: &[(Channel, f64)] = match locale {
            Locale::Zh => &[
                (Channel::Chat, 0.35),
                (Channel::Phone, 0.2),
                (Channel::Email, 0.2),
                (Channel::Sms, 0.15),
                (Channel::Portal, 0.1),
            ],
            Locale::Ko => &[
                (Channel::Chat, 0.3),
                (Channel::Sms, 0.25),
                (Channel::Email, 0.2),
                (Channel::Phone, 0.15),
                (Channel::Portal, 0.1),
            ],
            Locale::Ja => &[
                (Channel::Email, 0.45),
                (Channel::Chat, 0.2),
                (Channel::Phone, 0.15),
                (Channel::Letter, 0.1),
                (Channel::Portal, 0.1),
            ],
            Locale::En => &[
                (Channel::Email, 0.55),
                (Channel::Sms, 0.2),
                (Channel::Phone, 0.15),
                (Channel::Portal, 0.05),
                (Channel::Letter, 0.05),
            ],
        };
        let mut preferred_channel = *rng.pick_weighted(channel_weights);
        if old && rng.chance(0.4) {
            preferred_channel = if rng.chance(0.5) {
                Channel::Letter
            } else {
                Channel::Phone
            };
        }
        if preferred_channel == Channel::Email && email.is_none() {
            preferred_channel = Channel::Phone;
        }
        let marketing_rate = if locale == Locale::En { 0.5 } else { 0.42 };
        let mut consents = Vec::with_capacity(4);
        for (channel, available) in [
            (Channel::Email, email.is_some()),
            (Channel::Sms, phone.is_some()),
            (Channel::Phone, phone.is_some()),
            (Channel::Letter, true),
        ] {
            let marketing = available && rng.chance(marketing_rate);
            let service = available && (marketing || rng.chance(0.95));
            consents.push(GenConsent {
                channel,
                service,
                marketing,
            });
        }
        let mut tags = Vec::new();
        let n_tags = rng.below(4);
        for _ in 0..n_tags {
            let t = *rng.pick_weighted(TAGS);
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        if core.age >= 65.0 && rng.chance(0.5) {
            tags.push("senior");
        }
        if core.age < 25.0 && rng.chance(0.5) {
            tags.push("student");
        }
        let preferences = pick_preferences(&mut rng, locale);
        let staples = core
            .staples()
            .map(|s| StapleTruth {
                product_index: s.product,
                rate_per_day: s.rate,
                days_per_pack: TEMPLATES[s.template].pack / s.rate,
            })
            .collect();
        GenCustomer {
            index: i,
            external_id: format!("C{:07}", i + 1),
            household_index: self.households_enabled.then_some(core.household),
            household_role: self.households_enabled.then_some(core.role),
            locale,
            gender: core.gender,
            name,
            email,
            email_verified,
            phone,
            phone_verified,
            address: places::address(
                &mut Rand::new(self.spec.seed, Kind::HouseholdAddress, 0, core.household),
                locale,
                hh.place,
            ),
            birthday,
            time_zone: places::time_zone(locale, hh.place),
            preferred_channel,
            consents,
            tags,
            created_at: core.created_at,
            truth: CustomerTruth {
                household_size: hh.size,
                lambda_per_day: core.lambda0 * self.lambda_scale,
                dropout_probability: core.dropout_p,
                first_purchase_at: core.first_purchase_at,
                dropout_at,
                spend_nu_usd: core.nu,
                staples,
                preferences,
                frequent_contact: core.frequent,
            },
        }
    }

    pub(crate) fn build_agent(seed: u64, j: u32, locales: &[Locale]) -> GenAgent {
        let mut rng = Rand::new(seed, Kind::Agent, 0, u64::from(j));
        let n = locales.len().max(1) as u32;
        let locale = locales.get((j % n) as usize).copied().unwrap_or(Locale::En);
        let team = TEAMS[((j / n + j % n) % 4) as usize];
        let gender = if rng.chance(0.55) {
            Gender::Female
        } else {
            Gender::Male
        };
        let name = names::random(&mut rng, locale, gender);
        let email = format!(
            "{}.{}{}@staff.concierge.example",
            names::ascii_slug(&name.given_latin),
            names::ascii_slug(&name.family_latin),
            j + 1
        );
        GenAgent {
            index: j,
            name,
            email,
            locale,
            team,
            manager: false,
        }
    }
}

/// A member's role: the head is rank 0; a second member is usually the spouse; an adult child
/// needs a head old enough, a parent a head young enough.
fn draw_role(rng: &mut Rand, rank: u32, hh: &HouseholdCore) -> HouseholdRole {
    let mut role = match rank {
        0 => HouseholdRole::Head,
        1 => *rng.pick_weighted(&[
            (HouseholdRole::Spouse, 0.8),
            (HouseholdRole::Child, 0.15),
            (HouseholdRole::Parent, 0.05),
        ]),
        _ => *rng.pick_weighted(&[(HouseholdRole::Child, 0.7), (HouseholdRole::Parent, 0.3)]),
    };
    if role == HouseholdRole::Child && hh.head_age < 42.0 {
        role = if rank == 1 {
            HouseholdRole::Spouse
        } else {
            HouseholdRole::Parent
        };
    }
    if role == HouseholdRole::Parent && hh.head_age > 66.0 {
        role = HouseholdRole::Child;
    }
    role
}

fn pick_preferences(rng: &mut Rand, locale: Locale) -> Vec<GenPreference> {
    let count = if rng.chance(0.7) { 1 } else { 2 };
    let mut out: Vec<GenPreference> = Vec::with_capacity(count);
    let weights: Vec<f64> = text::PREFERENCES
        .iter()
        .map(|p| p.weights[locale.idx()])
        .collect();
    for _ in 0..count * 3 {
        if out.len() == count {
            break;
        }
        let p = &text::PREFERENCES[rng.weighted_index(&weights)];
        if out.iter().any(|q| q.key == p.key) {
            continue;
        }
        out.push(GenPreference {
            key: p.key,
            value: p.value,
            value_localized: p.localized[locale.idx()],
        });
    }
    out
}

/// The sentence in which a customer states a preference.
pub(crate) fn preference_statement(
    rng: &mut Rand,
    locale: Locale,
    pref: &GenPreference,
) -> &'static str {
    text::PREFERENCES
        .iter()
        .find(|p| p.key == pref.key && p.value == pref.value)
        .map_or("", |p| {
            let s = p.statements[locale.idx()];
            s[rng.index(s.len())]
        })
}
