//! Addresses in each country's own format, time zones, E.164 phone numbers and email
//! addresses.
//!
//! Phone numbers and emails are unique by construction: the subscriber number is an affine
//! bijection of the customer index, and the email's local part ends with the index itself.
//! Email domains use the reserved `.example` top-level domain (RFC 2606), so no generated
//! message can ever reach a real mailbox.

use crate::model::{GenAddress, Locale};
use crate::rng::Rand;

/// (province, city, district, postal code)
const CN_PLACES: &[(&str, &str, &str, &str)] = &[
    ("北京市", "北京", "朝阳区", "100020"),
    ("北京市", "北京", "海淀区", "100080"),
    ("上海市", "上海", "浦东新区", "200120"),
    ("上海市", "上海", "徐汇区", "200030"),
    ("广东省", "广州市", "天河区", "510620"),
    ("广东省", "深圳市", "南山区", "518052"),
    ("浙江省", "杭州市", "西湖区", "310012"),
    ("江苏省", "南京市", "鼓楼区", "210008"),
    ("江苏省", "苏州市", "姑苏区", "215000"),
    ("四川省", "成都市", "武侯区", "610041"),
    ("湖北省", "武汉市", "洪山区", "430070"),
    ("陕西省", "西安市", "雁塔区", "710061"),
    ("天津市", "天津", "南开区", "300100"),
    ("重庆市", "重庆", "渝中区", "400010"),
    ("山东省", "青岛市", "市南区", "266071"),
    ("福建省", "厦门市", "思明区", "361001"),
];

const CN_STREETS: &[&str] = &[
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "和平路",
    "长江路",
    "文化路",
    "南京路",
    "世纪大道",
    "科技园路",
    "青年路",
    "幸福路",
    "花园路",
    "东风路",
    "学院路",
    "新华路",
];

const CN_COMPLEXES: &[&str] = &[
    "阳光花园",
    "幸福家园",
    "翠苑小区",
    "锦绣华庭",
    "世纪城",
    "金色家园",
    "绿地公馆",
    "碧水湾",
    "春晓苑",
    "万科城",
];

/// (province or metropolitan city, district, roads, postal code)
const KR_PLACES: &[(&str, &str, &[&str], &str)] = &[
    (
        "서울특별시",
        "강남구",
        &["테헤란로", "논현로", "선릉로"],
        "06236",
    ),
    (
        "서울특별시",
        "마포구",
        &["월드컵북로", "양화로", "독막로"],
        "03925",
    ),
    (
        "서울특별시",
        "송파구",
        &["올림픽로", "송파대로", "백제고분로"],
        "05551",
    ),
    (
        "서울특별시",
        "노원구",
        &["동일로", "노원로", "상계로"],
        "01689",
    ),
    (
        "부산광역시",
        "해운대구",
        &["해운대로", "센텀중앙로", "좌동순환로"],
        "48094",
    ),
    (
        "인천광역시",
        "연수구",
        &["컨벤시아대로", "송도과학로", "센트럴로"],
        "21998",
    ),
    (
        "대구광역시",
        "수성구",
        &["달구벌대로", "동대구로", "들안로"],
        "42192",
    ),
    (
        "대전광역시",
        "유성구",
        &["대학로", "월드컵대로", "유성대로"],
        "34134",
    ),
    (
        "광주광역시",
        "서구",
        &["상무대로", "시청로", "운천로"],
        "61949",
    ),
    (
        "경기도",
        "성남시 분당구",
        &["판교역로", "불정로", "황새울로"],
        "13529",
    ),
    (
        "경기도",
        "수원시 영통구",
        &["광교중앙로", "영통로", "봉영로"],
        "16508",
    ),
    (
        "경기도",
        "고양시 일산동구",
        &["중앙로", "정발산로", "호수로"],
        "10403",
    ),
];

const KR_APARTMENTS: &[&str] = &[
    "래미안",
    "자이",
    "푸르지오",
    "힐스테이트",
    "e편한세상",
    "아이파크",
    "롯데캐슬",
    "더샵",
    "한신",
    "현대",
];

/// (prefecture, city or ward, town, postal code)
const JP_PLACES: &[(&str, &str, &str, &str)] = &[
    ("東京都", "渋谷区", "神宮前", "150-0001"),
    ("東京都", "新宿区", "西新宿", "160-0023"),
    ("東京都", "世田谷区", "三軒茶屋", "154-0024"),
    ("東京都", "練馬区", "豊玉北", "176-0012"),
    ("大阪府", "大阪市北区", "梅田", "530-0001"),
    ("大阪府", "大阪市天王寺区", "上本町", "543-0001"),
    ("神奈川県", "横浜市西区", "みなとみらい", "220-0012"),
    ("愛知県", "名古屋市中区", "栄", "460-0008"),
    ("福岡県", "福岡市中央区", "天神", "810-0001"),
    ("北海道", "札幌市中央区", "大通西", "060-0042"),
    ("兵庫県", "神戸市中央区", "三宮町", "650-0021"),
    ("宮城県", "仙台市青葉区", "一番町", "980-0811"),
    ("埼玉県", "さいたま市浦和区", "高砂", "330-0063"),
    ("千葉県", "千葉市美浜区", "幕張西", "261-0026"),
];

const JP_BUILDINGS: &[&str] = &[
    "パークハイツ",
    "メゾン・ド・ソレイユ",
    "コーポ桜",
    "グリーンヒルズ",
    "サンライズマンション",
    "レジデンス青葉",
    "ライオンズマンション",
    "ハイツ若葉",
];

/// (city, state, ZIP, time zone, area code)
const US_PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("New York", "NY", "10001", "America/New_York", "212"),
    ("Brooklyn", "NY", "11201", "America/New_York", "718"),
    ("Boston", "MA", "02108", "America/New_York", "617"),
    ("Philadelphia", "PA", "19103", "America/New_York", "215"),
    ("Atlanta", "GA", "30303", "America/New_York", "404"),
    ("Miami", "FL", "33130", "America/New_York", "305"),
    ("Chicago", "IL", "60601", "America/Chicago", "312"),
    ("Houston", "TX", "77002", "America/Chicago", "713"),
    ("Austin", "TX", "78701", "America/Chicago", "512"),
    ("Minneapolis", "MN", "55401", "America/Chicago", "612"),
    ("Denver", "CO", "80202", "America/Denver", "303"),
    ("Phoenix", "AZ", "85004", "America/Phoenix", "602"),
    ("Los Angeles", "CA", "90012", "America/Los_Angeles", "213"),
    ("San Francisco", "CA", "94103", "America/Los_Angeles", "415"),
    ("Seattle", "WA", "98101", "America/Los_Angeles", "206"),
    ("Portland", "OR", "97205", "America/Los_Angeles", "503"),
];

const US_STREETS: &[&str] = &[
    "Maple",
    "Oak",
    "Pine",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Main",
    "Sunset",
    "Highland",
    "Jefferson",
    "Madison",
    "Lincoln",
    "Walnut",
];

const US_SUFFIXES: &[&str] = &["St", "Ave", "Rd", "Blvd", "Ln", "Dr"];

/// How many places the locale's table has.
pub(crate) fn place_count(locale: Locale) -> usize {
    match locale {
        Locale::Zh => CN_PLACES.len(),
        Locale::Ko => KR_PLACES.len(),
        Locale::Ja => JP_PLACES.len(),
        Locale::En => US_PLACES.len(),
    }
}

/// The IANA time zone of a place.
pub(crate) fn time_zone(locale: Locale, place: usize) -> &'static str {
    match locale {
        Locale::Zh => "Asia/Shanghai",
        Locale::Ko => "Asia/Seoul",
        Locale::Ja => "Asia/Tokyo",
        Locale::En => US_PLACES[place % US_PLACES.len()].3,
    }
}

/// The city name used in messages ("the parcel is at the 上海 depot").
pub(crate) fn city_name(locale: Locale, place: usize) -> &'static str {
    match locale {
        Locale::Zh => CN_PLACES[place % CN_PLACES.len()].1,
        Locale::Ko => {
            let p = KR_PLACES[place % KR_PLACES.len()];
            p.0.trim_end_matches("특별시")
                .trim_end_matches("광역시")
                .trim_end_matches('도')
        }
        Locale::Ja => {
            let p = JP_PLACES[place % JP_PLACES.len()];
            p.1
        }
        Locale::En => US_PLACES[place % US_PLACES.len()].0,
    }
}

/// A street address at the place, in the local format.
pub(crate) fn address(rng: &mut Rand, locale: Locale, place: usize) -> GenAddress {
    match locale {
        Locale::Zh => {
            let (province, city, district, postal) = CN_PLACES[place % CN_PLACES.len()];
            let street = rng.pick(CN_STREETS);
            let no = rng.int(1, 999);
            let line1 = format!("{district}{street}{no}号");
            let line2 = format!(
                "{}{}栋{}单元{}{:02}室",
                rng.pick(CN_COMPLEXES),
                rng.int(1, 30),
                rng.int(1, 4),
                rng.int(1, 32),
                rng.int(1, 4)
            );
            let region_city = if province.starts_with(city) {
                province.to_string()
            } else {
                format!("{province}{city}")
            };
            let formatted = format!("{region_city}{line1}{line2}\n{postal}");
            GenAddress {
                country: "CN",
                postal_code: postal.to_string(),
                region: province,
                city: if province.starts_with(city) {
                    district
                } else {
                    city
                },
                line1,
                line2: Some(line2),
                formatted,
            }
        }
        Locale::Ko => {
            let (sido, sigungu, roads, postal) = KR_PLACES[place % KR_PLACES.len()];
            let road = rng.pick(roads);
            let no = rng.int(1, 420);
            let line1 = format!("{sido} {sigungu} {road} {no}");
            let (line2, formatted) = if rng.chance(0.75) {
                let apt = rng.pick(KR_APARTMENTS);
                let l2 = format!(
                    "{}동 {}{:02}호",
                    rng.int(101, 115),
                    rng.int(1, 25),
                    rng.int(1, 6)
                );
                let f = format!("({postal}) {line1}, {l2} ({apt})");
                (Some(l2), f)
            } else {
                (None, format!("({postal}) {line1}"))
            };
            GenAddress {
                country: "KR",
                postal_code: postal.to_string(),
                region: sido,
                city: sigungu,
                line1,
                line2,
                formatted,
            }
        }
        Locale::Ja => {
            let (pref, city, town, postal) = JP_PLACES[place % JP_PLACES.len()];
            let line1 = format!(
                "{pref}{city}{town}{}-{}-{}",
                rng.int(1, 5),
                rng.int(1, 20),
                rng.int(1, 15)
            );
            let line2 = if rng.chance(0.65) {
                Some(format!(
                    "{} {}{:02}",
                    rng.pick(JP_BUILDINGS),
                    rng.int(1, 12),
                    rng.int(1, 8)
                ))
            } else {
                None
            };
            let formatted = match &line2 {
                Some(b) => format!("〒{postal}\n{line1} {b}"),
                None => format!("〒{postal}\n{line1}"),
            };
            GenAddress {
                country: "JP",
                postal_code: postal.to_string(),
                region: pref,
                city,
                line1,
                line2,
                formatted,
            }
        }
        Locale::En => {
            let (city, state, zip, _, _) = US_PLACES[place % US_PLACES.len()];
            let line1 = format!(
                "{} {} {}",
                rng.int(10, 9899),
                rng.pick(US_STREETS),
                rng.pick(US_SUFFIXES)
            );
            let line2 = if rng.chance(0.4) {
                Some(format!(
                    "Apt {}{}",
                    rng.int(1, 24),
                    ["A", "B", "C", "D"][rng.index(4)]
                ))
            } else {
                None
            };
            let street = match &line2 {
                Some(apt) => format!("{line1} {apt}"),
                None => line1.clone(),
            };
            GenAddress {
                country: "US",
                postal_code: zip.to_string(),
                region: state,
                city,
                line1,
                line2,
                formatted: format!("{street}\n{city}, {state} {zip}\nUnited States"),
            }
        }
    }
}

/// An E.164 mobile number unique to `index` (for `index < 8,000,000` in the US and
/// `index < 100,000,000` elsewhere).
pub(crate) fn phone(rng: &mut Rand, locale: Locale, place: usize, index: u64, salt: u64) -> String {
    // An affine map x -> (a·x + b) mod m with gcd(a, m) = 1 is a bijection on [0, m).
    const A: u64 = 48_271;
    match locale {
        Locale::Zh => {
            let sub = (index.wrapping_mul(A).wrapping_add(salt)) % 100_000_000;
            let second = *rng.pick(&[3u8, 5, 7, 8, 9]);
            format!("+861{second}{}{sub:08}", rng.int(0, 9))
        }
        Locale::Ko => {
            let sub = (index.wrapping_mul(A).wrapping_add(salt)) % 100_000_000;
            format!("+8210{sub:08}")
        }
        Locale::Ja => {
            let sub = (index.wrapping_mul(A).wrapping_add(salt)) % 100_000_000;
            let prefix = *rng.pick(&["90", "80", "70"]);
            format!("+81{prefix}{sub:08}")
        }
        Locale::En => {
            let sub = (index.wrapping_mul(A).wrapping_add(salt)) % 8_000_000;
            let area = US_PLACES[place % US_PLACES.len()].4;
            format!("+1{area}{}", 2_000_000 + sub)
        }
    }
}

const ZH_DOMAINS: &[&str] = &[
    "qq.example",
    "163.example",
    "126.example",
    "sina.example",
    "gmail.example",
];
const KO_DOMAINS: &[&str] = &[
    "naver.example",
    "daum.example",
    "kakao.example",
    "gmail.example",
    "hanmail.example",
];
const JA_DOMAINS: &[&str] = &[
    "gmail.example",
    "yahoo.co.jp.example",
    "docomo.ne.jp.example",
    "icloud.example",
    "outlook.jp.example",
];
const EN_DOMAINS: &[&str] = &[
    "gmail.example",
    "outlook.example",
    "yahoo.example",
    "icloud.example",
    "proton.example",
];
const PLUS_TAGS: &[&str] = &["shop", "orders", "concierge", "deals", "home"];

/// An email address unique to `index`: a local part built from the romanised name followed by
/// `index + 1` (or, for some Chinese customers, a QQ-style number), sometimes plus-addressed.
pub(crate) fn email(
    rng: &mut Rand,
    locale: Locale,
    family: &str,
    given: &str,
    index: u64,
) -> String {
    let n = index + 1;
    let domains = match locale {
        Locale::Zh => ZH_DOMAINS,
        Locale::Ko => KO_DOMAINS,
        Locale::Ja => JA_DOMAINS,
        Locale::En => EN_DOMAINS,
    };
    let mut domain = *rng.pick(domains);
    let local = if locale == Locale::Zh && rng.chance(0.2) {
        // QQ mail addresses are the account number: digits only, so never equal to a
        // name-based local part.
        domain = "qq.example";
        format!("{}", 10_000 + n * 7 + 3)
    } else {
        let initial = given.chars().next().map(String::from).unwrap_or_default();
        match rng.index(5) {
            0 => format!("{given}.{family}{n}"),
            1 => format!("{family}{given}{n}"),
            2 => format!("{initial}{family}{n}"),
            3 => format!("{given}_{family}{n}"),
            _ => format!("{family}.{given}{n}"),
        }
    };
    if rng.chance(0.08) {
        format!("{local}+{}@{domain}", rng.pick(PLUS_TAGS))
    } else {
        format!("{local}@{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Kind;

    #[test]
    fn phones_are_e164_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for locale in Locale::ALL {
            for i in 0..5_000u64 {
                let mut rng = Rand::new(1, Kind::Global, 2, i);
                let p = phone(&mut rng, locale, i as usize, i, 12_345);
                assert!(p.starts_with('+'));
                assert!(p[1..].chars().all(|c| c.is_ascii_digit()), "{p}");
                let digits = p.len() - 1;
                assert!((11..=13).contains(&digits), "{p}");
                assert!(seen.insert(p));
            }
        }
    }

    #[test]
    fn addresses_look_local() {
        let mut rng = Rand::new(1, Kind::Global, 3, 0);
        let a = address(&mut rng, Locale::Zh, 2);
        assert!(a.formatted.starts_with("上海市浦东新区"), "{}", a.formatted);
        let a = address(&mut rng, Locale::Ja, 0);
        assert!(
            a.formatted.starts_with("〒150-0001\n東京都渋谷区神宮前"),
            "{}",
            a.formatted
        );
        let a = address(&mut rng, Locale::Ko, 0);
        assert!(
            a.formatted.starts_with("(06236) 서울특별시 강남구"),
            "{}",
            a.formatted
        );
        let a = address(&mut rng, Locale::En, 14);
        assert!(
            a.formatted.contains("\nSeattle, WA 98101"),
            "{}",
            a.formatted
        );
        assert_eq!(time_zone(Locale::En, 14), "America/Los_Angeles");
        assert_eq!(city_name(Locale::Ko, 4), "부산");
    }
}
