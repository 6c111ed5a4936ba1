//! The plain records the generator produces. They mirror the domain's rows (customers,
//! households, products, orders with lines, cases with messages, agents) without depending on
//! the domain crate, so a storage adapter maps them field by field.
//!
//! Conventions: times are epoch milliseconds (UTC); money is an integer in the currency's minor
//! unit (fen, won, yen, cents); every record has a 0-based `index` that cross references use and
//! a stable, unique `external_id` (or SKU / order number) that survives re-generation. Fields
//! under `truth` are the hidden parameters the data was drawn from; they are for tests and
//! benchmarks and must not be shown as if the system had learned them.

use core::fmt;

/// A customer's locale. The generator writes names, addresses and messages in its language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Locale {
    /// Simplified Chinese, mainland China.
    Zh,
    /// Korean, South Korea.
    Ko,
    /// Japanese, Japan.
    Ja,
    /// English, United States.
    En,
}

impl Locale {
    /// All locales in a fixed order (the order of [`crate::LocaleMix`]).
    pub const ALL: [Locale; 4] = [Locale::Zh, Locale::Ko, Locale::Ja, Locale::En];

    /// ISO 639-1 language code: `zh`, `ko`, `ja`, `en`.
    pub fn language(self) -> &'static str {
        match self {
            Locale::Zh => "zh",
            Locale::Ko => "ko",
            Locale::Ja => "ja",
            Locale::En => "en",
        }
    }

    /// BCP 47 tag: `zh-CN`, `ko-KR`, `ja-JP`, `en-US`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::Zh => "zh-CN",
            Locale::Ko => "ko-KR",
            Locale::Ja => "ja-JP",
            Locale::En => "en-US",
        }
    }

    /// ISO 3166-1 alpha-2 country code.
    pub fn country(self) -> &'static str {
        match self {
            Locale::Zh => "CN",
            Locale::Ko => "KR",
            Locale::Ja => "JP",
            Locale::En => "US",
        }
    }

    /// The currency customers of this locale pay in.
    pub fn currency(self) -> Currency {
        match self {
            Locale::Zh => Currency::Cny,
            Locale::Ko => Currency::Krw,
            Locale::Ja => Currency::Jpy,
            Locale::En => Currency::Usd,
        }
    }

    pub(crate) fn idx(self) -> usize {
        match self {
            Locale::Zh => 0,
            Locale::Ko => 1,
            Locale::Ja => 2,
            Locale::En => 3,
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// A currency with its ISO 4217 code and minor-unit digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Currency {
    /// Chinese yuan (2 minor digits).
    Cny,
    /// South Korean won (no minor unit).
    Krw,
    /// Japanese yen (no minor unit).
    Jpy,
    /// US dollar (2 minor digits).
    Usd,
}

impl Currency {
    /// ISO 4217 code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
            Currency::Krw => "KRW",
            Currency::Jpy => "JPY",
            Currency::Usd => "USD",
        }
    }

    /// Digits after the decimal point (ISO 4217 exponent).
    pub fn minor_digits(self) -> u32 {
        match self {
            Currency::Cny | Currency::Usd => 2,
            Currency::Krw | Currency::Jpy => 0,
        }
    }

    /// The fixed conversion the generator uses: major units of this currency per US dollar.
    pub fn per_usd(self) -> f64 {
        match self {
            Currency::Cny => 7.1,
            Currency::Krw => 1350.0,
            Currency::Jpy => 150.0,
            Currency::Usd => 1.0,
        }
    }

    /// Minor units of this currency per US dollar.
    pub fn minor_per_usd(self) -> f64 {
        self.per_usd() * f64::from(10u32.pow(self.minor_digits()))
    }
}

/// Recorded gender; used for name choice and salutations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
}

/// A contact or origin channel. Cases originate on the first eight; `Sms` is only a preferred
/// contact channel and a consent channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Email.
    Email,
    /// A web form.
    Web,
    /// The customer portal.
    Portal,
    /// A phone call.
    Phone,
    /// A visit in person.
    Visit,
    /// A paper letter.
    Letter,
    /// Chat or messenger (WeChat, KakaoTalk, LINE).
    Chat,
    /// An integration through the API.
    Api,
    /// Text messages.
    Sms,
}

impl Channel {
    /// Lower-case name: `email`, `web`, `portal`, `phone`, `visit`, `letter`, `chat`, `api`,
    /// `sms`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Web => "web",
            Channel::Portal => "portal",
            Channel::Phone => "phone",
            Channel::Visit => "visit",
            Channel::Letter => "letter",
            Channel::Chat => "chat",
            Channel::Api => "api",
            Channel::Sms => "sms",
        }
    }
}

/// A calendar date (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenDate {
    /// Year, e.g. 1987.
    pub year: i32,
    /// Month 1–12.
    pub month: u8,
    /// Day 1–31.
    pub day: u8,
}

impl fmt::Display for GenDate {
    /// ISO 8601, `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A person's name in native script with a romanised, sortable form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenName {
    /// Family name in native script (王, 김, 佐藤, Smith).
    pub family: String,
    /// Given name in native script (伟, 민준, 陽翔, John).
    pub given: String,
    /// Full name in the locale's order: family first without a space for Chinese and Korean
    /// (王伟, 김민준), family first with a space for Japanese (佐藤 陽翔), given first for
    /// English (John Smith).
    pub full: String,
    /// Romanised family name (Wang, Kim, Sato, Smith): pinyin, the customary Korean spelling,
    /// Hepburn without macrons.
    pub family_latin: String,
    /// Romanised given name (Wei, Minjun, Haruto, John).
    pub given_latin: String,
    /// Romanised full name in the locale's order (Wang Wei, Kim Minjun, Sato Haruto, John Smith).
    pub latin: String,
    /// Lower-case `family given` in Latin letters, for sorting and search.
    pub sort_key: String,
    /// Japanese names only: the reading in katakana (サトウ ハルト), as forms ask for furigana.
    pub phonetic: Option<String>,
}

/// A role in a household.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HouseholdRole {
    /// Head of household.
    Head,
    /// Spouse or partner of the head.
    Spouse,
    /// An adult child of the head.
    Child,
    /// A parent of the head.
    Parent,
}

impl HouseholdRole {
    /// Lower-case name: `head`, `spouse`, `child`, `parent`.
    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdRole::Head => "head",
            HouseholdRole::Spouse => "spouse",
            HouseholdRole::Child => "child",
            HouseholdRole::Parent => "parent",
        }
    }
}

/// A postal address in the country's own format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenAddress {
    /// ISO 3166-1 alpha-2 country code.
    pub country: &'static str,
    /// Postal code as written locally (`200120`, `06236`, `150-0001`, `98101`).
    pub postal_code: String,
    /// Province, metropolitan city, prefecture or state (上海市, 서울특별시, 東京都, WA).
    pub region: &'static str,
    /// City, district or ward (浦东新区, 강남구, 渋谷区, Seattle).
    pub city: &'static str,
    /// Street and number (世纪大道100号, 테헤란로 152, 神宮前1-2-3, 1234 Maple Ave).
    pub line1: String,
    /// Building, unit or apartment, when there is one.
    pub line2: Option<String>,
    /// The whole address as it is written on an envelope in that country; lines are separated
    /// by `\n`.
    pub formatted: String,
}

/// Consent to be contacted on one channel, separately for service and marketing messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConsent {
    /// The channel (email, sms, phone or letter).
    pub channel: Channel,
    /// May receive service messages (about their orders and cases).
    pub service: bool,
    /// May receive marketing.
    pub marketing: bool,
}

/// A preference a customer holds (`drink = tea`), stated in some of their messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenPreference {
    /// Key, e.g. `drink`, `newspaper`, `delivery_window`.
    pub key: &'static str,
    /// Canonical English value, e.g. `tea`, `Wall Street Journal`, `evening`.
    pub value: &'static str,
    /// The value in the customer's language (茶, 차, お茶, tea).
    pub value_localized: &'static str,
}

/// What the generator knows about a staple product a customer buys regularly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StapleTruth {
    /// Index into the product catalogue.
    pub product_index: u32,
    /// The customer's true consumption rate, in the product's unit per day (kg/day for rice).
    pub rate_per_day: f64,
    /// Days one pack lasts at that rate (`pack_size / rate_per_day`).
    pub days_per_pack: f64,
}

/// The hidden parameters a customer's data was drawn from.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerTruth {
    /// People living in the customer's household (customers or not), 1–6.
    pub household_size: u8,
    /// The purchase rate λ of the BG/NBD trip process, per day (already scaled; see
    /// [`crate::ModelTruth`]).
    pub lambda_per_day: f64,
    /// The BG/NBD dropout probability p after each repeat purchase.
    pub dropout_probability: f64,
    /// The first purchase (the BG/NBD "birth"); `None` when the customer never bought.
    pub first_purchase_at: Option<i64>,
    /// When the customer became inactive; `None` when still alive at the end of the range.
    pub dropout_at: Option<i64>,
    /// The Gamma-Gamma spend parameter ν of this customer, in US dollars (per-order spend is
    /// Gamma(p, rate ν), mean p/ν).
    pub spend_nu_usd: f64,
    /// Staples the customer buys on a consumption rhythm, with their true rates.
    pub staples: Vec<StapleTruth>,
    /// Preferences the customer holds; some of their messages state them.
    pub preferences: Vec<GenPreference>,
    /// One of the few customers who contact support much more often than the rest.
    pub frequent_contact: bool,
}

/// A customer.
#[derive(Clone, Debug, PartialEq)]
pub struct GenCustomer {
    /// 0-based index; orders and cases refer to customers by it.
    pub index: u64,
    /// Stable unique external id (`C0000001`), the `customer_id` of order imports.
    pub external_id: String,
    /// The household the customer belongs to, when households are generated.
    pub household_index: Option<u64>,
    /// The customer's role in that household.
    pub household_role: Option<HouseholdRole>,
    /// Locale: language, country and currency.
    pub locale: Locale,
    /// Recorded gender.
    pub gender: Gender,
    /// Name in native script with romanised and sortable forms.
    pub name: GenName,
    /// Primary email, unique across customers; sometimes with plus-addressing
    /// (`minjun.kim118+shop@naver.example`). Domains are under the reserved `.example` TLD so
    /// nothing generated is ever deliverable.
    pub email: Option<String>,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Mobile phone in E.164 (`+8613912345678`), unique across customers.
    pub phone: Option<String>,
    /// Whether the phone is verified.
    pub phone_verified: bool,
    /// Postal address (the household's).
    pub address: GenAddress,
    /// Birthday, when known.
    pub birthday: Option<GenDate>,
    /// IANA time zone (`Asia/Shanghai`, `America/Chicago`).
    pub time_zone: &'static str,
    /// Preferred contact channel.
    pub preferred_channel: Channel,
    /// Consent per channel (email, sms, phone, letter).
    pub consents: Vec<GenConsent>,
    /// Tags (`newsletter`, `vip`, ...).
    pub tags: Vec<&'static str>,
    /// When the customer was created (signed up).
    pub created_at: i64,
    /// Hidden parameters, for tests and benchmarks.
    pub truth: CustomerTruth,
}

/// A member of a household.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenHouseholdMember {
    /// The member's customer index.
    pub customer_index: u64,
    /// The member's role.
    pub role: HouseholdRole,
}

/// A pet living in a household.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pet {
    /// A dog.
    Dog,
    /// A cat.
    Cat,
}

/// A household: people living at one address; some of them are customers.
#[derive(Clone, Debug, PartialEq)]
pub struct GenHousehold {
    /// 0-based index.
    pub index: u64,
    /// Stable unique external id (`H0000001`).
    pub external_id: String,
    /// Display name (王家, 김민준 님 댁, 佐藤家, The Smith household).
    pub name: String,
    /// Locale of the household.
    pub locale: Locale,
    /// Number of people living there (1–6), at least the number of customer members.
    pub size: u8,
    /// Address in the local format.
    pub address: GenAddress,
    /// Customer members; the head (role `Head`) comes first.
    pub members: Vec<GenHouseholdMember>,
    /// A note in the household's language (delivery instructions), sometimes.
    pub notes: Option<String>,
    /// Whether an infant lives there (drives diaper purchases).
    pub has_infant: bool,
    /// A pet, if any (drives pet food purchases).
    pub pet: Option<Pet>,
}

/// A product category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// Rice, noodles, kimchi, soy sauce.
    Grocery,
    /// Coffee, tea, water.
    Beverage,
    /// Detergent, dish soap, toilet paper, filters.
    Household,
    /// Diapers.
    Baby,
    /// Pet food.
    Pet,
    /// Shampoo, toothpaste, sheet masks.
    PersonalCare,
    /// Earbuds, chargers, lamps.
    Electronics,
    /// Kettles, rice cookers, pans.
    Kitchen,
    /// Clothing and accessories.
    Clothing,
    /// Gift boxes and flowers.
    Gift,
    /// Toys.
    Toys,
    /// Gift cards with a chosen amount.
    GiftCard,
}

impl Category {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Grocery => "grocery",
            Category::Beverage => "beverage",
            Category::Household => "household",
            Category::Baby => "baby",
            Category::Pet => "pet",
            Category::PersonalCare => "personal-care",
            Category::Electronics => "electronics",
            Category::Kitchen => "kitchen",
            Category::Clothing => "clothing",
            Category::Gift => "gift",
            Category::Toys => "toys",
            Category::GiftCard => "gift-card",
        }
    }
}

/// The unit a product's pack size and consumption rate are measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Kilograms.
    Kg,
    /// Grams.
    G,
    /// Litres.
    L,
    /// Millilitres.
    Ml,
    /// Pieces (tea bags, diapers, noodle packs, items).
    Piece,
    /// Rolls.
    Roll,
}

impl Unit {
    /// Symbol: `kg`, `g`, `L`, `mL`, `pcs`, `rolls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Kg => "kg",
            Unit::G => "g",
            Unit::L => "L",
            Unit::Ml => "mL",
            Unit::Piece => "pcs",
            Unit::Roll => "rolls",
        }
    }
}

/// Text in the four generated languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalizedText {
    /// English.
    pub en: String,
    /// Simplified Chinese.
    pub zh: String,
    /// Korean.
    pub ko: String,
    /// Japanese.
    pub ja: String,
}

impl LocalizedText {
    /// The text in a locale's language.
    pub fn get(&self, locale: Locale) -> &str {
        match locale {
            Locale::Zh => &self.zh,
            Locale::Ko => &self.ko,
            Locale::Ja => &self.ja,
            Locale::En => &self.en,
        }
    }
}

/// A price in one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenPrice {
    /// Currency.
    pub currency: Currency,
    /// Amount in minor units.
    pub amount_minor: i64,
}

/// Who a staple's consumption rate is counted per.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumptionBasis {
    /// Per household member per day (rice, coffee, detergent).
    PerMember,
    /// Per household per day, whatever its size (diapers for one infant, food for one pet).
    PerHousehold,
}

/// The true population consumption rate of a staple.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Consumption {
    /// Units of the product's [`Unit`] consumed per day per member (or per household).
    pub per_day: f64,
    /// What the rate is counted per.
    pub basis: ConsumptionBasis,
}

/// A product in the catalogue.
#[derive(Clone, Debug, PartialEq)]
pub struct GenProduct {
    /// 0-based index; order lines refer to products by it.
    pub index: u32,
    /// Unique SKU (`RICE10-00`).
    pub sku: String,
    /// Name in the four languages.
    pub name: LocalizedText,
    /// Category.
    pub category: Category,
    /// Unit of the pack size.
    pub unit: Unit,
    /// Pack size in `unit` (10 for a 10 kg bag of rice).
    pub pack_size: f64,
    /// A staple bought on a consumption rhythm (rice, coffee, detergent) rather than now and
    /// then (electronics, clothing, gifts).
    pub regular: bool,
    /// Staples only: the true population consumption rate, usable as the product's
    /// consumption hint.
    pub consumption: Option<Consumption>,
    /// List prices in CNY, KRW, JPY and USD (in that order).
    pub prices: Vec<GenPrice>,
}

impl GenProduct {
    /// The list price in a currency, in minor units.
    pub fn price_minor(&self, currency: Currency) -> i64 {
        self.prices
            .iter()
            .find(|p| p.currency == currency)
            .map_or(0, |p| p.amount_minor)
    }
}

/// An order's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed, not yet paid.
    Placed,
    /// Paid.
    Paid,
    /// Returned (and refunded).
    Returned,
}

impl OrderStatus {
    /// Lower-case name: `placed`, `paid`, `returned`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Returned => "returned",
        }
    }
}

/// One line of an order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenOrderLine {
    /// 1-based line number within the order.
    pub line_no: u32,
    /// Index into the product catalogue.
    pub product_index: u32,
    /// Quantity in packs, at least 1.
    pub quantity: u32,
    /// Price per pack in minor units of the order's currency.
    pub unit_price_minor: i64,
    /// Truth: the line is part of the customer's regular rhythm for a staple.
    pub replenishment: bool,
}

/// An order with its lines.
#[derive(Clone, Debug, PartialEq)]
pub struct GenOrder {
    /// The customer's index.
    pub customer_index: u64,
    /// 0-based sequence number of the order among the customer's orders (chronological).
    pub seq: u32,
    /// Unique order number (`O0000001-003`), the `order_id` of order imports.
    pub order_no: String,
    /// When the order was placed.
    pub ordered_at: i64,
    /// Status.
    pub status: OrderStatus,
    /// When it was paid (absent for `Placed`).
    pub paid_at: Option<i64>,
    /// When it was returned (only for `Returned`).
    pub returned_at: Option<i64>,
    /// Currency of all amounts.
    pub currency: Currency,
    /// Lines, at least one.
    pub lines: Vec<GenOrderLine>,
    /// Sum of quantity × unit price over the lines, in minor units.
    pub total_minor: i64,
}

/// The kind of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseKind {
    /// A question.
    Question,
    /// A complaint.
    Complaint,
    /// A request.
    Request,
    /// A return.
    Return,
    /// A follow-up.
    FollowUp,
}

impl CaseKind {
    /// Name: `question`, `complaint`, `request`, `return`, `follow-up`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Question => "question",
            CaseKind::Complaint => "complaint",
            CaseKind::Request => "request",
            CaseKind::Return => "return",
            CaseKind::FollowUp => "follow-up",
        }
    }
}

/// What a case is about; decides its texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseTopic {
    /// An item arrived damaged.
    DamagedItem,
    /// A delivery is late.
    LateDelivery,
    /// A return and refund.
    Refund,
    /// A question about a product.
    ProductQuestion,
    /// The customer states a preference ("I prefer tea").
    Preference,
    /// A change of delivery address.
    AddressChange,
    /// A billing problem (double charge, invoice).
    Billing,
    /// Thanks or praise.
    Compliment,
}

impl CaseTopic {
    /// All topics in a fixed order.
    pub const ALL: [CaseTopic; 8] = [
        CaseTopic::DamagedItem,
        CaseTopic::LateDelivery,
        CaseTopic::Refund,
        CaseTopic::ProductQuestion,
        CaseTopic::Preference,
        CaseTopic::AddressChange,
        CaseTopic::Billing,
        CaseTopic::Compliment,
    ];

    /// Name: `damaged-item`, `late-delivery`, `refund`, `product-question`, `preference`,
    /// `address-change`, `billing`, `compliment`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseTopic::DamagedItem => "damaged-item",
            CaseTopic::LateDelivery => "late-delivery",
            CaseTopic::Refund => "refund",
            CaseTopic::ProductQuestion => "product-question",
            CaseTopic::Preference => "preference",
            CaseTopic::AddressChange => "address-change",
            CaseTopic::Billing => "billing",
            CaseTopic::Compliment => "compliment",
        }
    }

    pub(crate) fn idx(self) -> usize {
        match self {
            CaseTopic::DamagedItem => 0,
            CaseTopic::LateDelivery => 1,
            CaseTopic::Refund => 2,
            CaseTopic::ProductQuestion => 3,
            CaseTopic::Preference => 4,
            CaseTopic::AddressChange => 5,
            CaseTopic::Billing => 6,
            CaseTopic::Compliment => 7,
        }
    }

    /// Whether cases on this topic are about a particular order.
    pub fn needs_order(self) -> bool {
        matches!(
            self,
            CaseTopic::DamagedItem
                | CaseTopic::LateDelivery
                | CaseTopic::Refund
                | CaseTopic::Billing
                | CaseTopic::AddressChange
        )
    }
}

/// A case's priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Low.
    Low,
    /// Normal.
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

impl Priority {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// A case's status at the end of the generated range (the default workflow's states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseStatus {
    /// Just arrived, nobody has answered.
    New,
    /// The customer is waiting for an answer.
    Open,
    /// Waiting for the customer.
    PendingCustomer,
    /// Waiting on something internal.
    OnHold,
    /// Solved recently (a customer reply would reopen it).
    Solved,
    /// Closed for good.
    Closed,
}

impl CaseStatus {
    /// Name: `new`, `open`, `pending_customer`, `on_hold`, `solved`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::New => "new",
            CaseStatus::Open => "open",
            CaseStatus::PendingCustomer => "pending_customer",
            CaseStatus::OnHold => "on_hold",
            CaseStatus::Solved => "solved",
            CaseStatus::Closed => "closed",
        }
    }
}

/// Who wrote a message and who may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Written by the customer.
    Customer,
    /// A public reply by an agent.
    Reply,
    /// An internal note by an agent, never shown to the customer.
    InternalNote,
}

impl MessageKind {
    /// Name: `customer`, `reply`, `internal_note`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Customer => "customer",
            MessageKind::Reply => "reply",
            MessageKind::InternalNote => "internal_note",
        }
    }
}

/// A message in a case's thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenMessage {
    /// 0-based position in the thread.
    pub seq: u32,
    /// Unique id (`CS0000001-02`).
    pub external_id: String,
    /// Customer message, reply or internal note.
    pub kind: MessageKind,
    /// The agent who wrote it (replies and notes).
    pub agent_index: Option<u32>,
    /// Body text in the customer's language.
    pub body: String,
    /// When it was written: at or after the case's creation, non-decreasing along the thread.
    pub created_at: i64,
}

/// Hidden facts about a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseTruth {
    /// A preference of the customer stated somewhere in the thread.
    pub stated_preference: Option<GenPreference>,
}

/// A case (ticket) with its thread.
#[derive(Clone, Debug, PartialEq)]
pub struct GenCase {
    /// 0-based index.
    pub index: u64,
    /// Stable unique external id (`CS0000001`).
    pub external_id: String,
    /// The customer's index.
    pub customer_index: u64,
    /// The customer's household, when households are generated.
    pub household_index: Option<u64>,
    /// Locale (the customer's): the language of every message.
    pub locale: Locale,
    /// Subject line.
    pub subject: String,
    /// Kind.
    pub kind: CaseKind,
    /// Topic.
    pub topic: CaseTopic,
    /// Channel of origin.
    pub channel: Channel,
    /// Priority.
    pub priority: Priority,
    /// Status at the end of the range.
    pub status: CaseStatus,
    /// Team name (one of [`crate::TEAMS`]).
    pub team: &'static str,
    /// The owning agent, unless the case is new.
    pub assignee: Option<u32>,
    /// The order it is about: `(customer's order seq, order number)`.
    pub order: Option<(u32, String)>,
    /// The product it is about.
    pub product_index: Option<u32>,
    /// Tags.
    pub tags: Vec<&'static str>,
    /// When the case was created (the first message's time).
    pub created_at: i64,
    /// The thread: the customer's first message, replies, follow-ups and internal notes.
    pub messages: Vec<GenMessage>,
    /// Hidden facts, for tests.
    pub truth: CaseTruth,
}

/// A staff member who answers cases.
#[derive(Clone, Debug, PartialEq)]
pub struct GenAgent {
    /// 0-based index; messages and cases refer to agents by it.
    pub index: u32,
    /// Name.
    pub name: GenName,
    /// Unique email (`haruto.sato3@staff.concierge.example`).
    pub email: String,
    /// The language the agent works in.
    pub locale: Locale,
    /// Team name (one of [`crate::TEAMS`]).
    pub team: &'static str,
    /// Whether the agent manages the team (a manager role) rather than being an agent.
    pub manager: bool,
}
