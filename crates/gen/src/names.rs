//! Personal names in Chinese, Korean, Japanese and English, weighted by how common they are,
//! with the romanisation each culture uses: Hanyu Pinyin, the customary Korean passport
//! spellings (Kim, Lee, Park), Hepburn without macrons, and katakana readings for Japanese.

use crate::model::{GenName, Gender, Locale};
use crate::rng::Rand;

/// (hanzi, pinyin, weight)
const ZH_FAMILY: &[(&str, &str, f64)] = &[
    ("王", "Wang", 7.1),
    ("李", "Li", 7.4),
    ("张", "Zhang", 6.6),
    ("刘", "Liu", 5.4),
    ("陈", "Chen", 4.5),
    ("杨", "Yang", 3.1),
    ("黄", "Huang", 2.2),
    ("赵", "Zhao", 2.1),
    ("吴", "Wu", 2.0),
    ("周", "Zhou", 1.9),
    ("徐", "Xu", 1.3),
    ("孙", "Sun", 1.5),
    ("马", "Ma", 1.3),
    ("朱", "Zhu", 1.2),
    ("胡", "Hu", 1.2),
    ("郭", "Guo", 1.1),
    ("何", "He", 1.1),
    ("高", "Gao", 1.0),
    ("林", "Lin", 1.0),
    ("罗", "Luo", 0.9),
    ("郑", "Zheng", 0.8),
    ("梁", "Liang", 0.8),
    ("谢", "Xie", 0.7),
    ("宋", "Song", 0.7),
    ("唐", "Tang", 0.6),
    ("许", "Xu", 0.6),
    ("韩", "Han", 0.6),
    ("冯", "Feng", 0.6),
    ("邓", "Deng", 0.6),
    ("曹", "Cao", 0.5),
    ("彭", "Peng", 0.5),
    ("曾", "Zeng", 0.5),
    ("肖", "Xiao", 0.5),
    ("田", "Tian", 0.4),
    ("董", "Dong", 0.4),
    ("袁", "Yuan", 0.4),
    ("潘", "Pan", 0.4),
    ("于", "Yu", 0.4),
    ("蒋", "Jiang", 0.4),
    ("蔡", "Cai", 0.4),
    ("欧阳", "Ouyang", 0.05),
    ("司马", "Sima", 0.02),
    ("诸葛", "Zhuge", 0.01),
];

const ZH_GIVEN_MALE: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("刚", "gang"),
    ("平", "ping"),
    ("辉", "hui"),
    ("鹏", "peng"),
    ("华", "hua"),
    ("建", "jian"),
    ("国", "guo"),
    ("志", "zhi"),
    ("文", "wen"),
    ("浩", "hao"),
    ("宇", "yu"),
    ("轩", "xuan"),
    ("博", "bo"),
    ("俊", "jun"),
    ("天", "tian"),
    ("海", "hai"),
    ("晨", "chen"),
    ("子", "zi"),
    ("然", "ran"),
    ("睿", "rui"),
    ("泽", "ze"),
    ("一", "yi"),
    ("安", "an"),
    ("嘉", "jia"),
    ("远", "yuan"),
    ("航", "hang"),
    ("毅", "yi"),
    ("成", "cheng"),
    ("斌", "bin"),
];

const ZH_GIVEN_FEMALE: &[(&str, &str)] = &[
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("艳", "yan"),
    ("娟", "juan"),
    ("霞", "xia"),
    ("秀", "xiu"),
    ("英", "ying"),
    ("玉", "yu"),
    ("兰", "lan"),
    ("红", "hong"),
    ("梅", "mei"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("欣", "xin"),
    ("怡", "yi"),
    ("雨", "yu"),
    ("涵", "han"),
    ("琪", "qi"),
    ("佳", "jia"),
    ("诗", "shi"),
    ("晓", "xiao"),
    ("燕", "yan"),
    ("萱", "xuan"),
    ("悦", "yue"),
    ("颖", "ying"),
    ("慧", "hui"),
    ("琳", "lin"),
    ("倩", "qian"),
    ("晴", "qing"),
    ("可", "ke"),
    ("馨", "xin"),
    ("梓", "zi"),
    ("思", "si"),
    ("若", "ruo"),
    ("安", "an"),
];

/// (hangul, romanisation, weight)
const KO_FAMILY: &[(&str, &str, f64)] = &[
    ("김", "Kim", 21.5),
    ("이", "Lee", 14.7),
    ("박", "Park", 8.4),
    ("최", "Choi", 4.7),
    ("정", "Jung", 4.3),
    ("강", "Kang", 2.3),
    ("조", "Cho", 2.1),
    ("윤", "Yoon", 2.1),
    ("장", "Jang", 2.0),
    ("임", "Lim", 1.7),
    ("한", "Han", 1.5),
    ("오", "Oh", 1.5),
    ("서", "Seo", 1.5),
    ("신", "Shin", 1.5),
    ("권", "Kwon", 1.4),
    ("황", "Hwang", 1.4),
    ("안", "Ahn", 1.4),
    ("송", "Song", 1.3),
    ("류", "Ryu", 1.2),
    ("전", "Jeon", 1.1),
    ("홍", "Hong", 1.1),
    ("고", "Ko", 0.9),
    ("문", "Moon", 0.9),
    ("양", "Yang", 0.9),
    ("손", "Son", 0.9),
    ("배", "Bae", 0.8),
    ("백", "Baek", 0.7),
    ("허", "Heo", 0.6),
    ("유", "Yoo", 0.5),
    ("남", "Nam", 0.5),
    ("노", "Noh", 0.4),
    ("남궁", "Namgung", 0.03),
    ("제갈", "Jegal", 0.01),
];

const KO_GIVEN_MALE: &[(&str, &str)] = &[
    ("민준", "Minjun"),
    ("서준", "Seojun"),
    ("도윤", "Doyun"),
    ("예준", "Yejun"),
    ("시우", "Siwoo"),
    ("하준", "Hajun"),
    ("주원", "Juwon"),
    ("지호", "Jiho"),
    ("지후", "Jihu"),
    ("준우", "Junwoo"),
    ("현우", "Hyunwoo"),
    ("건우", "Geonwoo"),
    ("우진", "Woojin"),
    ("선우", "Sunwoo"),
    ("서진", "Seojin"),
    ("민재", "Minjae"),
    ("현준", "Hyunjun"),
    ("연우", "Yeonwoo"),
    ("유준", "Yujun"),
    ("정우", "Jungwoo"),
    ("승우", "Seungwoo"),
    ("성민", "Sungmin"),
    ("영호", "Youngho"),
    ("영수", "Youngsoo"),
    ("상훈", "Sanghoon"),
    ("동현", "Donghyun"),
    ("성호", "Sungho"),
    ("재현", "Jaehyun"),
    ("태민", "Taemin"),
    ("진우", "Jinwoo"),
];

const KO_GIVEN_FEMALE: &[(&str, &str)] = &[
    ("서연", "Seoyeon"),
    ("서윤", "Seoyun"),
    ("지우", "Jiwoo"),
    ("서현", "Seohyun"),
    ("민서", "Minseo"),
    ("하은", "Haeun"),
    ("하윤", "Hayun"),
    ("윤서", "Yunseo"),
    ("지민", "Jimin"),
    ("채원", "Chaewon"),
    ("수빈", "Subin"),
    ("지원", "Jiwon"),
    ("예은", "Yeeun"),
    ("수아", "Sua"),
    ("지아", "Jia"),
    ("은지", "Eunji"),
    ("미영", "Miyoung"),
    ("영희", "Younghee"),
    ("정희", "Junghee"),
    ("혜진", "Hyejin"),
    ("수진", "Sujin"),
    ("민지", "Minji"),
    ("유나", "Yuna"),
    ("소연", "Soyeon"),
    ("은영", "Eunyoung"),
    ("현주", "Hyunju"),
    ("지영", "Jiyoung"),
    ("예린", "Yerin"),
];

/// (kanji, hiragana reading, Hepburn, weight)
const JA_FAMILY: &[(&str, &str, &str, f64)] = &[
    ("佐藤", "さとう", "Sato", 1.5),
    ("鈴木", "すずき", "Suzuki", 1.4),
    ("高橋", "たかはし", "Takahashi", 1.1),
    ("田中", "たなか", "Tanaka", 1.0),
    ("伊藤", "いとう", "Ito", 0.9),
    ("渡辺", "わたなべ", "Watanabe", 0.9),
    ("山本", "やまもと", "Yamamoto", 0.9),
    ("中村", "なかむら", "Nakamura", 0.85),
    ("小林", "こばやし", "Kobayashi", 0.8),
    ("加藤", "かとう", "Kato", 0.7),
    ("吉田", "よしだ", "Yoshida", 0.65),
    ("山田", "やまだ", "Yamada", 0.65),
    ("佐々木", "ささき", "Sasaki", 0.55),
    ("山口", "やまぐち", "Yamaguchi", 0.5),
    ("松本", "まつもと", "Matsumoto", 0.5),
    ("井上", "いのうえ", "Inoue", 0.5),
    ("木村", "きむら", "Kimura", 0.45),
    ("林", "はやし", "Hayashi", 0.42),
    ("斎藤", "さいとう", "Saito", 0.42),
    ("清水", "しみず", "Shimizu", 0.4),
    ("山崎", "やまざき", "Yamazaki", 0.35),
    ("森", "もり", "Mori", 0.35),
    ("池田", "いけだ", "Ikeda", 0.34),
    ("橋本", "はしもと", "Hashimoto", 0.34),
    ("阿部", "あべ", "Abe", 0.34),
    ("石川", "いしかわ", "Ishikawa", 0.3),
    ("前田", "まえだ", "Maeda", 0.3),
    ("藤田", "ふじた", "Fujita", 0.3),
    ("小川", "おがわ", "Ogawa", 0.28),
    ("岡田", "おかだ", "Okada", 0.28),
    ("後藤", "ごとう", "Goto", 0.28),
    ("長谷川", "はせがわ", "Hasegawa", 0.28),
    ("村上", "むらかみ", "Murakami", 0.27),
    ("近藤", "こんどう", "Kondo", 0.27),
    ("石井", "いしい", "Ishii", 0.26),
    ("坂本", "さかもと", "Sakamoto", 0.25),
    ("遠藤", "えんどう", "Endo", 0.25),
    ("青木", "あおき", "Aoki", 0.24),
    ("藤井", "ふじい", "Fujii", 0.24),
    ("西村", "にしむら", "Nishimura", 0.23),
];

const JA_GIVEN_MALE: &[(&str, &str, &str)] = &[
    ("翔太", "しょうた", "Shota"),
    ("蓮", "れん", "Ren"),
    ("大翔", "ひろと", "Hiroto"),
    ("陽翔", "はると", "Haruto"),
    ("悠真", "ゆうま", "Yuma"),
    ("湊", "みなと", "Minato"),
    ("健太", "けんた", "Kenta"),
    ("大輔", "だいすけ", "Daisuke"),
    ("拓也", "たくや", "Takuya"),
    ("誠", "まこと", "Makoto"),
    ("浩二", "こうじ", "Koji"),
    ("隆", "たかし", "Takashi"),
    ("直樹", "なおき", "Naoki"),
    ("和也", "かずや", "Kazuya"),
    ("樹", "いつき", "Itsuki"),
    ("翔", "しょう", "Sho"),
    ("健一", "けんいち", "Kenichi"),
    ("修", "おさむ", "Osamu"),
    ("亮", "りょう", "Ryo"),
    ("悠斗", "ゆうと", "Yuto"),
    ("颯太", "そうた", "Sota"),
    ("一郎", "いちろう", "Ichiro"),
    ("博", "ひろし", "Hiroshi"),
    ("達也", "たつや", "Tatsuya"),
];

const JA_GIVEN_FEMALE: &[(&str, &str, &str)] = &[
    ("陽葵", "ひまり", "Himari"),
    ("結衣", "ゆい", "Yui"),
    ("葵", "あおい", "Aoi"),
    ("美咲", "みさき", "Misaki"),
    ("さくら", "さくら", "Sakura"),
    ("花子", "はなこ", "Hanako"),
    ("由美", "ゆみ", "Yumi"),
    ("恵子", "けいこ", "Keiko"),
    ("陽子", "ようこ", "Yoko"),
    ("愛", "あい", "Ai"),
    ("真由美", "まゆみ", "Mayumi"),
    ("明美", "あけみ", "Akemi"),
    ("結菜", "ゆいな", "Yuina"),
    ("芽依", "めい", "Mei"),
    ("彩", "あや", "Aya"),
    ("七海", "ななみ", "Nanami"),
    ("美穂", "みほ", "Miho"),
    ("千尋", "ちひろ", "Chihiro"),
    ("香織", "かおり", "Kaori"),
    ("優子", "ゆうこ", "Yuko"),
    ("莉子", "りこ", "Riko"),
    ("凛", "りん", "Rin"),
];

const EN_FAMILY: &[(&str, f64)] = &[
    ("Smith", 1.0),
    ("Johnson", 0.8),
    ("Williams", 0.7),
    ("Brown", 0.6),
    ("Jones", 0.6),
    ("Garcia", 0.55),
    ("Miller", 0.55),
    ("Davis", 0.55),
    ("Rodriguez", 0.5),
    ("Martinez", 0.5),
    ("Hernandez", 0.45),
    ("Lopez", 0.4),
    ("Gonzalez", 0.4),
    ("Wilson", 0.4),
    ("Anderson", 0.4),
    ("Thomas", 0.38),
    ("Taylor", 0.38),
    ("Moore", 0.37),
    ("Jackson", 0.36),
    ("Martin", 0.36),
    ("Lee", 0.35),
    ("Perez", 0.33),
    ("Thompson", 0.33),
    ("White", 0.33),
    ("Harris", 0.32),
    ("Sanchez", 0.31),
    ("Clark", 0.3),
    ("Ramirez", 0.3),
    ("Lewis", 0.29),
    ("Robinson", 0.29),
    ("Walker", 0.28),
    ("Young", 0.27),
    ("Allen", 0.27),
    ("King", 0.27),
    ("Wright", 0.27),
    ("Scott", 0.26),
    ("Torres", 0.26),
    ("Nguyen", 0.26),
    ("Hill", 0.25),
    ("Flores", 0.25),
    ("Green", 0.25),
    ("Adams", 0.25),
    ("Nelson", 0.25),
    ("Baker", 0.25),
    ("Hall", 0.24),
    ("Rivera", 0.24),
    ("Campbell", 0.23),
    ("Mitchell", 0.23),
    ("Carter", 0.23),
    ("Roberts", 0.23),
    ("Murphy", 0.15),
    ("Patel", 0.15),
    ("O'Brien", 0.1),
    ("Cohen", 0.1),
];

const EN_GIVEN_MALE: &[&str] = &[
    "James",
    "John",
    "Robert",
    "Michael",
    "William",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Christopher",
    "Charles",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Steven",
    "Paul",
    "Andrew",
    "Joshua",
    "Kevin",
    "Brian",
    "Ryan",
    "Jacob",
    "Ethan",
    "Noah",
    "Liam",
    "Benjamin",
    "Lucas",
    "Henry",
    "Samuel",
];

const EN_GIVEN_FEMALE: &[&str] = &[
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Emily",
    "Emma",
    "Olivia",
    "Ava",
    "Sophia",
    "Isabella",
    "Mia",
    "Charlotte",
    "Amelia",
    "Harper",
    "Abigail",
    "Grace",
    "Chloe",
    "Hannah",
    "Laura",
    "Rachel",
    "Megan",
    "Nicole",
    "Ashley",
    "Amanda",
];

/// A family name, as an index into the locale's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Family(pub(crate) usize);

/// A given name: one or two indices into the locale's gendered table (two only for Chinese).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Given {
    first: usize,
    second: Option<usize>,
}

fn weighted_pick<T>(rng: &mut Rand, items: &[T], weight: impl Fn(&T) -> f64) -> usize {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = rng.f64() * total;
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if x < w {
            return i;
        }
        x -= w;
    }
    items.len().saturating_sub(1)
}

/// A family name drawn by frequency.
pub(crate) fn pick_family(rng: &mut Rand, locale: Locale) -> Family {
    Family(match locale {
        Locale::Zh => weighted_pick(rng, ZH_FAMILY, |f| f.2),
        Locale::Ko => weighted_pick(rng, KO_FAMILY, |f| f.2),
        Locale::Ja => weighted_pick(rng, JA_FAMILY, |f| f.3),
        Locale::En => weighted_pick(rng, EN_FAMILY, |f| f.1),
    })
}

fn given_len(locale: Locale, gender: Gender) -> usize {
    match (locale, gender) {
        (Locale::Zh, Gender::Male) => ZH_GIVEN_MALE.len(),
        (Locale::Zh, Gender::Female) => ZH_GIVEN_FEMALE.len(),
        (Locale::Ko, Gender::Male) => KO_GIVEN_MALE.len(),
        (Locale::Ko, Gender::Female) => KO_GIVEN_FEMALE.len(),
        (Locale::Ja, Gender::Male) => JA_GIVEN_MALE.len(),
        (Locale::Ja, Gender::Female) => JA_GIVEN_FEMALE.len(),
        (Locale::En, Gender::Male) => EN_GIVEN_MALE.len(),
        (Locale::En, Gender::Female) => EN_GIVEN_FEMALE.len(),
    }
}

/// A family name in native script.
pub(crate) fn family_native(locale: Locale, family: Family) -> &'static str {
    match locale {
        Locale::Zh => ZH_FAMILY[family.0 % ZH_FAMILY.len()].0,
        Locale::Ko => KO_FAMILY[family.0 % KO_FAMILY.len()].0,
        Locale::Ja => JA_FAMILY[family.0 % JA_FAMILY.len()].0,
        Locale::En => EN_FAMILY[family.0 % EN_FAMILY.len()].0,
    }
}

/// A given name for the gender; Chinese given names have one character (30%) or two.
pub(crate) fn pick_given(rng: &mut Rand, locale: Locale, gender: Gender) -> Given {
    let n = given_len(locale, gender);
    let first = rng.index(n);
    let second = if locale == Locale::Zh && rng.chance(0.7) {
        let mut s = rng.index(n);
        if s == first {
            s = (s + 1) % n;
        }
        Some(s)
    } else {
        None
    };
    Given { first, second }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Joins pinyin syllables into one word, with the apostrophe pinyin requires before a syllable
/// starting with a, o or e (嘉安 → Jia'an).
fn join_pinyin(first: &str, second: Option<&str>) -> String {
    let mut out = capitalise(first);
    if let Some(s) = second {
        if s.starts_with(['a', 'o', 'e']) {
            out.push('\'');
        }
        out.push_str(s);
    }
    out
}

fn hiragana_to_katakana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Builds the full name record.
pub(crate) fn build(locale: Locale, gender: Gender, family: Family, given: Given) -> GenName {
    let g2 = given.second;
    let (family_n, given_n, family_l, given_l, phonetic) = match (locale, gender) {
        (Locale::Zh, _) => {
            let table = if gender == Gender::Male {
                ZH_GIVEN_MALE
            } else {
                ZH_GIVEN_FEMALE
            };
            let (fh, fp, _) = ZH_FAMILY[family.0 % ZH_FAMILY.len()];
            let (gh1, gp1) = table[given.first % table.len()];
            let mut gh = gh1.to_string();
            let mut second_py = None;
            if let Some(i) = g2 {
                let (gh2, gp2) = table[i % table.len()];
                gh.push_str(gh2);
                second_py = Some(gp2);
            }
            (
                fh.to_string(),
                gh,
                fp.to_string(),
                join_pinyin(gp1, second_py),
                None,
            )
        }
        (Locale::Ko, _) => {
            let table = if gender == Gender::Male {
                KO_GIVEN_MALE
            } else {
                KO_GIVEN_FEMALE
            };
            let (fh, fr, _) = KO_FAMILY[family.0 % KO_FAMILY.len()];
            let (gh, gr) = table[given.first % table.len()];
            (
                fh.to_string(),
                gh.to_string(),
                fr.to_string(),
                gr.to_string(),
                None,
            )
        }
        (Locale::Ja, _) => {
            let table = if gender == Gender::Male {
                JA_GIVEN_MALE
            } else {
                JA_GIVEN_FEMALE
            };
            let (fk, fh, fr, _) = JA_FAMILY[family.0 % JA_FAMILY.len()];
            let (gk, gh, gr) = table[given.first % table.len()];
            let reading = format!("{} {}", hiragana_to_katakana(fh), hiragana_to_katakana(gh));
            (
                fk.to_string(),
                gk.to_string(),
                fr.to_string(),
                gr.to_string(),
                Some(reading),
            )
        }
        (Locale::En, _) => {
            let table = if gender == Gender::Male {
                EN_GIVEN_MALE
            } else {
                EN_GIVEN_FEMALE
            };
            let (f, _) = EN_FAMILY[family.0 % EN_FAMILY.len()];
            let g = table[given.first % table.len()];
            (
                f.to_string(),
                g.to_string(),
                f.to_string(),
                g.to_string(),
                None,
            )
        }
    };
    let full = match locale {
        Locale::Zh | Locale::Ko => format!("{family_n}{given_n}"),
        Locale::Ja => format!("{family_n} {given_n}"),
        Locale::En => format!("{given_n} {family_n}"),
    };
    let latin = match locale {
        Locale::En => format!("{given_l} {family_l}"),
        _ => format!("{family_l} {given_l}"),
    };
    let sort_key = format!("{family_l} {given_l}").to_lowercase();
    GenName {
        family: family_n,
        given: given_n,
        full,
        family_latin: family_l,
        given_latin: given_l,
        latin,
        sort_key,
        phonetic,
    }
}

/// A whole random name for a person of the locale and gender.
pub(crate) fn random(rng: &mut Rand, locale: Locale, gender: Gender) -> GenName {
    let family = pick_family(rng, locale);
    let given = pick_given(rng, locale, gender);
    build(locale, gender, family, given)
}

/// Lower-case ASCII letters of a romanised name part, for email addresses.
pub(crate) fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// How an agent writing to the customer addresses them: 王先生, 김민준 고객님, 佐藤 陽翔 様, John.
pub(crate) fn salutation(locale: Locale, gender: Gender, name: &GenName) -> String {
    match locale {
        Locale::Zh => {
            let title = if gender == Gender::Male {
                "先生"
            } else {
                "女士"
            };
            format!("{}{title}", name.family)
        }
        Locale::Ko => format!("{} 고객님", name.full),
        Locale::Ja => format!("{} 様", name.full),
        Locale::En => name.given.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Kind;

    #[test]
    fn name_order_and_romanisation() {
        let n = build(
            Locale::Zh,
            Gender::Male,
            Family(0),
            Given {
                first: 0,
                second: None,
            },
        );
        assert_eq!(n.full, "王伟");
        assert_eq!(n.latin, "Wang Wei");
        assert_eq!(n.sort_key, "wang wei");
        let n = build(
            Locale::Zh,
            Gender::Male,
            Family(1),
            Given {
                first: 33,
                second: Some(32),
            },
        );
        assert_eq!(n.full, "李嘉安");
        assert_eq!(n.given_latin, "Jia'an");
        let n = build(
            Locale::Ko,
            Gender::Male,
            Family(0),
            Given {
                first: 0,
                second: None,
            },
        );
        assert_eq!(
            (n.full.as_str(), n.latin.as_str()),
            ("김민준", "Kim Minjun")
        );
        let n = build(
            Locale::Ja,
            Gender::Male,
            Family(0),
            Given {
                first: 3,
                second: None,
            },
        );
        assert_eq!(n.full, "佐藤 陽翔");
        assert_eq!(n.latin, "Sato Haruto");
        assert_eq!(n.phonetic.as_deref(), Some("サトウ ハルト"));
        let n = build(
            Locale::En,
            Gender::Female,
            Family(52),
            Given {
                first: 10,
                second: None,
            },
        );
        assert_eq!(n.full, "Emily O'Brien");
        assert_eq!(n.sort_key, "o'brien emily");
        assert_eq!(ascii_slug(&n.family_latin), "obrien");
        assert_eq!(
            salutation(
                Locale::Ko,
                Gender::Male,
                &build(
                    Locale::Ko,
                    Gender::Male,
                    Family(0),
                    Given {
                        first: 0,
                        second: None
                    }
                )
            ),
            "김민준 고객님"
        );
    }

    #[test]
    fn common_names_are_common() {
        let mut rng = Rand::new(1, Kind::Global, 9, 0);
        let n = 20_000;
        let kims = (0..n)
            .filter(|_| random(&mut rng, Locale::Ko, Gender::Female).family == "김")
            .count();
        let share = kims as f64 / n as f64;
        assert!((0.17..0.26).contains(&share), "Kim share {share}");
    }
}
