//! The product catalogue: staples consumed at a steady rate (rice, coffee, tea, detergent,
//! diapers, pet food, ...) with their true population consumption rates, and irregular items
//! (electronics, clothing, gifts) with per-locale popularity.
//!
//! The first [`MIN_PRODUCTS`] products are the base templates; product `i` beyond them is a
//! brand variant of template `i % MIN_PRODUCTS` with its own SKU and price.

use crate::model::{
    Category, Consumption, ConsumptionBasis, Currency, GenPrice, GenProduct, LocalizedText, Unit,
};
use crate::rng::{Kind, Rand, WeightedTable};

/// Which households consume a staple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    Anyone,
    Infant,
    Dog,
    Cat,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct StapleSpec {
    /// Units per member (or per household) per day.
    pub(crate) rate: f64,
    pub(crate) basis: ConsumptionBasis,
    pub(crate) needs: Needs,
    /// Relative chance that a regular buyer of each locale (zh, ko, ja, en) buys it.
    pub(crate) affinity: [f64; 4],
}

pub(crate) struct Template {
    pub(crate) code: &'static str,
    pub(crate) en: &'static str,
    pub(crate) zh: &'static str,
    pub(crate) ko: &'static str,
    pub(crate) ja: &'static str,
    pub(crate) category: Category,
    pub(crate) unit: Unit,
    pub(crate) pack: f64,
    /// List price in US dollars.
    pub(crate) usd: f64,
    pub(crate) staple: Option<StapleSpec>,
    /// Irregular items: relative popularity per locale (zh, ko, ja, en).
    pub(crate) popularity: [f64; 4],
}

const fn staple(
    rate: f64,
    basis: ConsumptionBasis,
    needs: Needs,
    affinity: [f64; 4],
) -> Option<StapleSpec> {
    Some(StapleSpec {
        rate,
        basis,
        needs,
        affinity,
    })
}

use Category as C;
use ConsumptionBasis::{PerHousehold, PerMember};
use Unit as U;

#[rustfmt::skip]
pub(crate) const TEMPLATES: &[Template] = &[
    Template { code: "RICE10", en: "Rice 10 kg bag", zh: "东北大米 10公斤装", ko: "쌀 10kg", ja: "お米 10kg", category: C::Grocery, unit: U::Kg, pack: 10.0, usd: 28.0, staple: staple(0.13, PerMember, Needs::Anyone, [1.0, 1.0, 0.9, 0.15]), popularity: [0.0; 4] },
    Template { code: "EARBUDS", en: "Wireless earbuds", zh: "无线蓝牙耳机", ko: "무선 이어폰", ja: "ワイヤレスイヤホン", category: C::Electronics, unit: U::Piece, pack: 1.0, usd: 79.0, staple: None, popularity: [1.0, 1.0, 1.0, 1.0] },
    Template { code: "COFFEE1K", en: "Coffee beans 1 kg", zh: "咖啡豆 1公斤", ko: "원두커피 1kg", ja: "コーヒー豆 1kg", category: C::Beverage, unit: U::Kg, pack: 1.0, usd: 24.0, staple: staple(0.015, PerMember, Needs::Anyone, [0.2, 0.5, 0.4, 1.0]), popularity: [0.0; 4] },
    Template { code: "TSHIRT", en: "Cotton T-shirt", zh: "纯棉T恤", ko: "면 티셔츠", ja: "コットンTシャツ", category: C::Clothing, unit: U::Piece, pack: 1.0, usd: 19.0, staple: None, popularity: [1.2, 1.2, 1.0, 1.2] },
    Template { code: "GTEA200", en: "Green tea leaves 200 g", zh: "西湖龙井绿茶 200克", ko: "녹차 잎 200g", ja: "緑茶 茶葉 200g", category: C::Beverage, unit: U::G, pack: 200.0, usd: 15.0, staple: staple(3.0, PerMember, Needs::Anyone, [0.8, 0.2, 0.9, 0.1]), popularity: [0.0; 4] },
    Template { code: "TEAGIFT", en: "Tea gift box", zh: "茶叶礼盒", ko: "차 선물 세트", ja: "お茶ギフトセット", category: C::Gift, unit: U::Piece, pack: 1.0, usd: 49.0, staple: None, popularity: [1.2, 0.6, 0.8, 0.4] },
    Template { code: "BTEA100", en: "Black tea bags, 100 count", zh: "红茶茶包 100包", ko: "홍차 티백 100개", ja: "紅茶ティーバッグ 100袋", category: C::Beverage, unit: U::Piece, pack: 100.0, usd: 9.0, staple: staple(0.8, PerMember, Needs::Anyone, [0.2, 0.2, 0.4, 0.5]), popularity: [0.0; 4] },
    Template { code: "CHARGER", en: "USB-C fast charger", zh: "USB-C 快速充电器", ko: "USB-C 고속 충전기", ja: "USB-C 急速充電器", category: C::Electronics, unit: U::Piece, pack: 1.0, usd: 25.0, staple: None, popularity: [1.0, 1.0, 1.0, 1.0] },
    Template { code: "DETERG3L", en: "Laundry detergent 3 L", zh: "洗衣液 3升", ko: "세탁 세제 3L", ja: "洗濯洗剤 3L", category: C::Household, unit: U::L, pack: 3.0, usd: 14.0, staple: staple(0.03, PerMember, Needs::Anyone, [0.5, 0.5, 0.5, 0.5]), popularity: [0.0; 4] },
    Template { code: "DOWNJKT", en: "Down jacket", zh: "羽绒服", ko: "패딩 점퍼", ja: "ダウンジャケット", category: C::Clothing, unit: U::Piece, pack: 1.0, usd: 149.0, staple: None, popularity: [0.8, 0.9, 0.7, 0.6] },
    Template { code: "DISH500", en: "Dish soap 500 mL", zh: "洗洁精 500毫升", ko: "주방 세제 500ml", ja: "食器用洗剤 500ml", category: C::Household, unit: U::Ml, pack: 500.0, usd: 4.0, staple: staple(7.0, PerMember, Needs::Anyone, [0.3, 0.3, 0.3, 0.3]), popularity: [0.0; 4] },
    Template { code: "CHOCO", en: "Chocolate gift box", zh: "巧克力礼盒", ko: "초콜릿 선물 세트", ja: "チョコレートギフト", category: C::Gift, unit: U::Piece, pack: 1.0, usd: 29.0, staple: None, popularity: [0.6, 0.9, 1.0, 1.0] },
    Template { code: "TP12", en: "Toilet paper, 12 rolls", zh: "卫生纸 12卷", ko: "화장지 12롤", ja: "トイレットペーパー 12ロール", category: C::Household, unit: U::Roll, pack: 12.0, usd: 9.0, staple: staple(0.2, PerMember, Needs::Anyone, [0.3, 0.3, 0.3, 0.3]), popularity: [0.0; 4] },
    Template { code: "KETTLE", en: "Electric kettle 1.7 L", zh: "电热水壶 1.7升", ko: "전기 주전자 1.7L", ja: "電気ケトル 1.7L", category: C::Kitchen, unit: U::Piece, pack: 1.0, usd: 39.0, staple: None, popularity: [1.0, 0.8, 0.8, 0.7] },
    Template { code: "DIAPER60", en: "Baby diapers, 60 count", zh: "婴儿纸尿裤 60片", ko: "아기 기저귀 60매", ja: "紙おむつ 60枚", category: C::Baby, unit: U::Piece, pack: 60.0, usd: 26.0, staple: staple(6.0, PerHousehold, Needs::Infant, [4.0, 4.0, 4.0, 4.0]), popularity: [0.0; 4] },
    Template { code: "RICECKR", en: "Rice cooker", zh: "电饭煲", ko: "전기밥솥", ja: "炊飯器", category: C::Kitchen, unit: U::Piece, pack: 1.0, usd: 129.0, staple: None, popularity: [0.8, 0.8, 0.8, 0.2] },
    Template { code: "DOGFOOD8", en: "Dry dog food 8 kg", zh: "狗粮 8公斤", ko: "강아지 사료 8kg", ja: "ドッグフード 8kg", category: C::Pet, unit: U::Kg, pack: 8.0, usd: 42.0, staple: staple(0.25, PerHousehold, Needs::Dog, [4.0, 4.0, 4.0, 4.0]), popularity: [0.0; 4] },
    Template { code: "SCARF", en: "Wool scarf", zh: "羊毛围巾", ko: "울 목도리", ja: "ウールマフラー", category: C::Clothing, unit: U::Piece, pack: 1.0, usd: 39.0, staple: None, popularity: [0.7, 0.8, 0.8, 0.6] },
    Template { code: "CATFOOD2", en: "Dry cat food 2 kg", zh: "猫粮 2公斤", ko: "고양이 사료 2kg", ja: "キャットフード 2kg", category: C::Pet, unit: U::Kg, pack: 2.0, usd: 18.0, staple: staple(0.06, PerHousehold, Needs::Cat, [4.0, 4.0, 4.0, 4.0]), popularity: [0.0; 4] },
    Template { code: "POWERBANK", en: "Power bank 10000 mAh", zh: "充电宝 10000毫安", ko: "보조배터리 10000mAh", ja: "モバイルバッテリー 10000mAh", category: C::Electronics, unit: U::Piece, pack: 1.0, usd: 35.0, staple: None, popularity: [1.0, 1.0, 0.9, 0.8] },
    Template { code: "NOODLE5", en: "Instant noodles, 5-pack", zh: "方便面 5连包", ko: "라면 5개입", ja: "インスタントラーメン 5食パック", category: C::Grocery, unit: U::Piece, pack: 5.0, usd: 5.0, staple: staple(0.08, PerMember, Needs::Anyone, [0.4, 1.0, 0.4, 0.2]), popularity: [0.0; 4] },
    Template { code: "MOONCAKE", en: "Mooncake gift box", zh: "月饼礼盒", ko: "월병 선물 세트", ja: "月餅ギフトセット", category: C::Gift, unit: U::Piece, pack: 1.0, usd: 59.0, staple: None, popularity: [1.5, 0.1, 0.1, 0.1] },
    Template { code: "KIMCHI1K", en: "Napa cabbage kimchi 1 kg", zh: "韩式泡菜 1公斤", ko: "포기김치 1kg", ja: "白菜キムチ 1kg", category: C::Grocery, unit: U::Kg, pack: 1.0, usd: 11.0, staple: staple(0.04, PerMember, Needs::Anyone, [0.1, 1.0, 0.2, 0.05]), popularity: [0.0; 4] },
    Template { code: "HANGWA", en: "Korean traditional sweets gift set", zh: "韩国传统点心礼盒", ko: "한과 선물 세트", ja: "韓国伝統菓子ギフト", category: C::Gift, unit: U::Piece, pack: 1.0, usd: 45.0, staple: None, popularity: [0.1, 1.5, 0.1, 0.05] },
    Template { code: "SOY1L", en: "Soy sauce 1 L", zh: "生抽酱油 1升", ko: "진간장 1L", ja: "濃口しょうゆ 1L", category: C::Grocery, unit: U::L, pack: 1.0, usd: 6.0, staple: staple(0.008, PerMember, Needs::Anyone, [0.5, 0.3, 0.6, 0.1]), popularity: [0.0; 4] },
    Template { code: "WAGASHI", en: "Japanese sweets assortment", zh: "日式和果子礼盒", ko: "화과자 세트", ja: "和菓子詰め合わせ", category: C::Gift, unit: U::Piece, pack: 1.0, usd: 35.0, staple: None, popularity: [0.1, 0.1, 1.5, 0.05] },
    Template { code: "SHAMPOO", en: "Shampoo 500 mL", zh: "洗发水 500毫升", ko: "샴푸 500ml", ja: "シャンプー 500ml", category: C::PersonalCare, unit: U::Ml, pack: 500.0, usd: 12.0, staple: staple(6.0, PerMember, Needs::Anyone, [0.3, 0.3, 0.3, 0.3]), popularity: [0.0; 4] },
    Template { code: "FLOWERS", en: "Flower bouquet", zh: "鲜花花束", ko: "꽃다발", ja: "花束", category: C::Gift, unit: U::Piece, pack: 1.0, usd: 45.0, staple: None, popularity: [0.8, 0.9, 0.7, 1.0] },
    Template { code: "TOOTHP", en: "Toothpaste 120 g", zh: "牙膏 120克", ko: "치약 120g", ja: "歯みがき粉 120g", category: C::PersonalCare, unit: U::G, pack: 120.0, usd: 4.0, staple: staple(1.5, PerMember, Needs::Anyone, [0.2, 0.2, 0.2, 0.2]), popularity: [0.0; 4] },
    Template { code: "FRYPAN", en: "Non-stick frying pan 28 cm", zh: "不粘锅 28厘米", ko: "논스틱 프라이팬 28cm", ja: "フライパン 28cm", category: C::Kitchen, unit: U::Piece, pack: 1.0, usd: 35.0, staple: None, popularity: [0.9, 0.9, 0.9, 0.9] },
    Template { code: "WATER12", en: "Mineral water 2 L x 6", zh: "矿泉水 2升×6瓶", ko: "생수 2L × 6병", ja: "ミネラルウォーター 2L×6本", category: C::Beverage, unit: U::L, pack: 12.0, usd: 6.0, staple: staple(0.6, PerMember, Needs::Anyone, [0.3, 0.3, 0.3, 0.2]), popularity: [0.0; 4] },
    Template { code: "THERMOS", en: "Vacuum flask 500 mL", zh: "保温杯 500毫升", ko: "보온병 500ml", ja: "ステンレス水筒 500ml", category: C::Kitchen, unit: U::Piece, pack: 1.0, usd: 29.0, staple: None, popularity: [1.2, 0.8, 1.0, 0.6] },
    Template { code: "SHEETMASK", en: "Sheet masks, 10 pack", zh: "补水面膜 10片装", ko: "마스크팩 10매", ja: "シートマスク 10枚入り", category: C::PersonalCare, unit: U::Piece, pack: 10.0, usd: 18.0, staple: None, popularity: [1.2, 1.5, 1.0, 0.4] },
    Template { code: "BLOCKS", en: "Building blocks set", zh: "积木玩具套装", ko: "블록 장난감 세트", ja: "ブロックおもちゃセット", category: C::Toys, unit: U::Piece, pack: 1.0, usd: 39.0, staple: None, popularity: [0.8, 0.8, 0.8, 0.9] },
    Template { code: "DESKLAMP", en: "LED desk lamp", zh: "LED护眼台灯", ko: "LED 스탠드", ja: "LEDデスクライト", category: C::Electronics, unit: U::Piece, pack: 1.0, usd: 33.0, staple: None, popularity: [0.9, 0.8, 0.8, 0.7] },
    Template { code: "UMBRELLA", en: "Folding umbrella", zh: "折叠雨伞", ko: "접이식 우산", ja: "折りたたみ傘", category: C::Clothing, unit: U::Piece, pack: 1.0, usd: 15.0, staple: None, popularity: [0.8, 0.8, 1.0, 0.6] },
    Template { code: "BACKPACK", en: "Backpack", zh: "双肩背包", ko: "백팩", ja: "リュックサック", category: C::Clothing, unit: U::Piece, pack: 1.0, usd: 59.0, staple: None, popularity: [0.8, 0.8, 0.8, 0.8] },
    Template { code: "SOCKS5", en: "Socks, 5 pairs", zh: "棉袜 5双装", ko: "양말 5켤레", ja: "靴下 5足組", category: C::Clothing, unit: U::Piece, pack: 5.0, usd: 12.0, staple: None, popularity: [1.0, 1.0, 1.0, 1.0] },
    Template { code: "AIRFILTER", en: "Air purifier filter", zh: "空气净化器滤网", ko: "공기청정기 필터", ja: "空気清浄機フィルター", category: C::Household, unit: U::Piece, pack: 1.0, usd: 45.0, staple: None, popularity: [1.0, 1.0, 0.8, 0.5] },
    Template { code: "GIFTCARD", en: "Gift card", zh: "礼品卡", ko: "기프트 카드", ja: "ギフトカード", category: C::GiftCard, unit: U::Piece, pack: 1.0, usd: 50.0, staple: None, popularity: [0.0; 4] },
];

/// The smallest catalogue: one product per template.
pub const MIN_PRODUCTS: u32 = TEMPLATES.len() as u32;

const BRANDS: &[&str] = &[
    "Harvest Field",
    "Morning Leaf",
    "Blue Crane",
    "Oak & Pine",
    "Sakura Lane",
    "Hanbit",
    "Jade Valley",
    "Northwind",
    "Golden Bay",
    "Silver Birch",
    "Red Lantern",
    "Seaside",
];

/// The catalogue with the lookup tables order generation needs.
pub(crate) struct Catalog {
    pub(crate) products: Vec<GenProduct>,
    /// List price in US dollars, by product.
    pub(crate) usd: Vec<f64>,
    /// Product indices of each template's variants.
    pub(crate) variants: Vec<Vec<u32>>,
    /// Template indices of staples.
    pub(crate) staples: Vec<usize>,
    /// Per locale, the popularity of each template as an irregular purchase.
    pub(crate) irregular: [WeightedTable; 4],
    /// The gift card product (for the BG/NBD-only model).
    pub(crate) gift_card: u32,
}

fn local_price(currency: Currency, usd: f64) -> i64 {
    let p = match currency {
        // ¥59.90: whole yuan minus one jiao
        Currency::Cny => (libm::round(usd * 7.1) as i64 * 100 - 10).max(90),
        // 35,000원: whole hundreds of won
        Currency::Krw => (libm::round(usd * 13.5) as i64 * 100).max(100),
        // 3,980円: tens of yen, ending in 80 above a thousand
        Currency::Jpy => {
            let y = libm::round(usd * 15.0) as i64 * 10;
            if y >= 1000 { y - 20 } else { y.max(10) }
        }
        // $24.99
        Currency::Usd => (libm::round(usd) as i64 * 100 - 1).max(99),
    };
    p.max(1)
}

impl Catalog {
    pub(crate) fn build(seed: u64, count: u32) -> Catalog {
        let base = TEMPLATES.len();
        let mut products = Vec::with_capacity(count as usize);
        let mut usd = Vec::with_capacity(count as usize);
        let mut variants = vec![Vec::new(); base];
        for index in 0..count {
            let t = index as usize % base;
            let variant = index as usize / base;
            let tpl = &TEMPLATES[t];
            let (factor, brand) = if variant == 0 {
                (1.0, None)
            } else {
                let mut rng = Rand::new(seed, Kind::Product, 0, u64::from(index));
                let factor = rng.uniform(0.75, 1.6);
                let brand = BRANDS[(variant - 1 + t) % BRANDS.len()];
                (factor, Some(brand))
            };
            let price_usd = tpl.usd * factor;
            let name = |n: &str| match brand {
                Some(b) => format!("{b} {n}"),
                None => n.to_string(),
            };
            let prices = [Currency::Cny, Currency::Krw, Currency::Jpy, Currency::Usd]
                .into_iter()
                .map(|currency| GenPrice {
                    currency,
                    amount_minor: local_price(currency, price_usd),
                })
                .collect();
            products.push(GenProduct {
                index,
                sku: format!("{}-{:02}", tpl.code, variant),
                name: LocalizedText {
                    en: name(tpl.en),
                    zh: name(tpl.zh),
                    ko: name(tpl.ko),
                    ja: name(tpl.ja),
                },
                category: tpl.category,
                unit: tpl.unit,
                pack_size: tpl.pack,
                regular: tpl.staple.is_some(),
                consumption: tpl.staple.map(|s| Consumption {
                    per_day: s.rate,
                    basis: s.basis,
                }),
                prices,
            });
            usd.push(price_usd);
            variants[t].push(index);
        }
        let staples = (0..base)
            .filter(|&t| TEMPLATES[t].staple.is_some())
            .collect();
        let irregular = [0, 1, 2, 3].map(|l| {
            let weights: Vec<f64> = TEMPLATES
                .iter()
                .map(|t| {
                    if t.staple.is_none() && t.category != Category::GiftCard {
                        t.popularity[l]
                    } else {
                        0.0
                    }
                })
                .collect();
            WeightedTable::new(&weights)
        });
        let gift_card = TEMPLATES
            .iter()
            .position(|t| t.category == Category::GiftCard)
            .unwrap_or(0) as u32;
        Catalog {
            products,
            usd,
            variants,
            staples,
            irregular,
            gift_card,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_shape() {
        let c = Catalog::build(1, MIN_PRODUCTS * 3 + 5);
        assert_eq!(c.products.len() as u32, MIN_PRODUCTS * 3 + 5);
        let skus: std::collections::HashSet<_> = c.products.iter().map(|p| &p.sku).collect();
        assert_eq!(skus.len(), c.products.len(), "SKUs are unique");
        let rice = &c.products[0];
        assert_eq!(rice.sku, "RICE10-00");
        assert_eq!(rice.pack_size, 10.0);
        assert_eq!(rice.unit, Unit::Kg);
        assert!(rice.regular);
        assert_eq!(rice.consumption.map(|c| c.per_day), Some(0.13));
        assert_eq!(rice.price_minor(Currency::Cny), 19_890);
        assert_eq!(rice.price_minor(Currency::Krw), 37_800);
        assert_eq!(rice.price_minor(Currency::Jpy), 4_180);
        assert_eq!(rice.price_minor(Currency::Usd), 2_799);
        assert!(
            c.products
                .iter()
                .all(|p| p.prices.iter().all(|x| x.amount_minor > 0))
        );
        assert!(c.staples.len() >= 10);
        assert_eq!(
            c.products[c.gift_card as usize].category,
            Category::GiftCard
        );
        let variant = &c.products[MIN_PRODUCTS as usize];
        assert_eq!(variant.sku, "RICE10-01");
        assert!(variant.name.en.ends_with("Rice 10 kg bag"));
        assert_eq!(c.variants[0].len(), 4);
    }
}
