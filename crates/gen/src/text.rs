//! Message templates in Chinese, Korean, Japanese and English: subjects, customers' first
//! messages, agents' replies, follow-ups, resolutions and internal notes for every case topic,
//! plus the sentences in which customers state their preferences.
//!
//! A message is assembled from several slots (greeting, opening, detail, closing), each with
//! several variants, and placeholders in braces are filled from the case: `{sig}` the
//! customer's name as they sign, `{sal}` how the agent addresses them, `{order}`, `{product}`,
//! `{date}`, `{amount}`, `{days}`, `{agent}`, `{city}`, `{tracking}`, `{size}`, `{pref}`.
//! A slot with as many variants as the topic's openings is aligned with them: the case uses
//! the variant at the same position, so the subject, the reply and the note answer what the
//! customer asked. Other slots are drawn freely.
//! Korean templates are written so that no particle follows a placeholder whose last syllable
//! is unknown (이/가, 을/를).

use crate::model::Locale;

pub(crate) struct TopicText {
    pub(crate) subjects: &'static [&'static str],
    pub(crate) openings: &'static [&'static str],
    pub(crate) details: &'static [&'static str],
    pub(crate) first_replies: &'static [&'static str],
    pub(crate) followups: &'static [&'static str],
    pub(crate) resolutions: &'static [&'static str],
    pub(crate) notes: &'static [&'static str],
}

pub(crate) struct LangText {
    pub(crate) greetings: &'static [&'static str],
    pub(crate) closings: &'static [&'static str],
    pub(crate) agent_greetings: &'static [&'static str],
    pub(crate) agent_closings: &'static [&'static str],
    pub(crate) generic_followups: &'static [&'static str],
    pub(crate) generic_replies: &'static [&'static str],
    /// Indexed by [`crate::CaseTopic`] order.
    pub(crate) topics: [TopicText; 8],
}

/// A preference customers can hold, with the sentences that state it.
pub(crate) struct PrefOption {
    pub(crate) key: &'static str,
    pub(crate) value: &'static str,
    /// The value in zh, ko, ja, en.
    pub(crate) localized: [&'static str; 4],
    /// Statements in zh, ko, ja, en.
    pub(crate) statements: [&'static [&'static str]; 4],
    /// How common the preference is per locale (zh, ko, ja, en).
    pub(crate) weights: [f64; 4],
}

pub(crate) const PREFERENCES: &[PrefOption] = &[
    PrefOption {
        key: "drink",
        value: "tea",
        localized: ["茶", "차", "お茶", "tea"],
        statements: [
            &["我更喜欢喝茶，不喝咖啡。", "请记住我喝茶，不要咖啡。"],
            &[
                "저는 커피보다 차를 좋아해요.",
                "저는 커피 대신 차를 마셔요. 기억해 주세요.",
            ],
            &[
                "コーヒーよりお茶が好きです。",
                "私はコーヒーではなくお茶を飲みます。覚えておいてください。",
            ],
            &[
                "I prefer tea, not coffee.",
                "Please remember that I drink tea rather than coffee.",
            ],
        ],
        weights: [3.0, 1.5, 2.5, 1.0],
    },
    PrefOption {
        key: "drink",
        value: "coffee",
        localized: ["咖啡", "커피", "コーヒー", "coffee"],
        statements: [
            &["我喜欢喝咖啡，不加糖。"],
            &["저는 차보다 커피를 좋아해요. 설탕은 넣지 않아요."],
            &["お茶よりコーヒーが好きです。砂糖はいりません。"],
            &["I prefer coffee to tea, black with no sugar."],
        ],
        weights: [1.0, 2.0, 1.5, 2.5],
    },
    PrefOption {
        key: "newspaper",
        value: "Wall Street Journal",
        localized: [
            "华尔街日报",
            "월스트리트저널",
            "ウォール・ストリート・ジャーナル",
            "Wall Street Journal",
        ],
        statements: [
            &["我习惯看《华尔街日报》，不看本地报纸。"],
            &["저는 지역 신문 말고 월스트리트저널을 읽어요."],
            &["新聞は地元紙ではなくウォール・ストリート・ジャーナルを読んでいます。"],
            &[
                "I read the Wall Street Journal, not the local paper.",
                "Please bring the Wall Street Journal rather than the local paper.",
            ],
        ],
        weights: [0.3, 0.3, 0.3, 1.5],
    },
    PrefOption {
        key: "delivery_window",
        value: "evening",
        localized: [
            "晚上六点以后",
            "저녁 6시 이후",
            "夕方6時以降",
            "evening (after 18:00)",
        ],
        statements: [
            &["请在晚上六点以后送货，白天家里没人。"],
            &["낮에는 집에 아무도 없으니 저녁 6시 이후에 배송해 주세요."],
            &["日中は留守にしているので、夕方6時以降に配達してください。"],
            &["Please deliver in the evening, after 6 pm; nobody is home during the day."],
        ],
        weights: [1.5, 1.5, 1.5, 1.0],
    },
    PrefOption {
        key: "delivery_window",
        value: "morning",
        localized: ["上午", "오전", "午前中", "morning"],
        statements: [
            &["如果可以的话，请上午送货。"],
            &["가능하면 오전에 배송해 주세요."],
            &["できれば午前中に配達してください。"],
            &["Please deliver in the morning if possible."],
        ],
        weights: [1.0, 1.0, 1.0, 1.0],
    },
    PrefOption {
        key: "packaging",
        value: "minimal plastic",
        localized: [
            "少用塑料包装",
            "플라스틱 포장 최소화",
            "プラスチック包装を減らす",
            "minimal plastic",
        ],
        statements: [
            &["请尽量少用塑料包装。"],
            &["플라스틱 포장은 최대한 줄여 주세요."],
            &["プラスチックの包装はできるだけ減らしてください。"],
            &["Please use as little plastic packaging as possible."],
        ],
        weights: [0.8, 1.0, 1.0, 1.2],
    },
    PrefOption {
        key: "contact_channel",
        value: "phone",
        localized: ["电话", "전화", "電話", "phone"],
        statements: [
            &["有事请直接打电话给我，不要发邮件。"],
            &["이메일보다는 전화로 연락해 주세요."],
            &["メールではなく電話で連絡してください。"],
            &["I'd rather you call me than send an email."],
        ],
        weights: [1.0, 0.8, 0.6, 0.8],
    },
    PrefOption {
        key: "contact_after",
        value: "18:00",
        localized: ["18:00", "18:00", "18:00", "18:00"],
        statements: [
            &["工作日下午六点以前请不要给我打电话。"],
            &["평일에는 오후 6시 이후에 연락해 주세요."],
            &["平日は午後6時以降に連絡してください。"],
            &["Please don't call me before 6 pm on weekdays."],
        ],
        weights: [0.8, 1.0, 1.0, 0.8],
    },
    PrefOption {
        key: "gift_wrap",
        value: "always",
        localized: ["礼品包装", "선물 포장", "ギフト包装", "gift wrap"],
        statements: [
            &["我的订单请都用礼品包装。"],
            &["주문할 때마다 선물 포장 부탁드려요."],
            &["注文品はいつもギフト包装にしてください。"],
            &["Please always gift-wrap my orders."],
        ],
        weights: [0.6, 0.8, 1.0, 0.6],
    },
];

/// Household notes (delivery instructions) per locale.
pub(crate) fn household_notes(locale: Locale) -> &'static [&'static str] {
    match locale {
        Locale::Zh => &[
            "请放在门口。",
            "快递请放到小区快递柜。",
            "家里有老人，请按门铃后稍等。",
            "周末家里有人，工作日请放物业。",
        ],
        Locale::Ko => &[
            "문 앞에 놓아 주세요.",
            "경비실에 맡겨 주세요.",
            "아이가 자고 있을 수 있으니 벨을 누르지 말아 주세요.",
            "공동현관 비밀번호는 전화로 문의해 주세요.",
        ],
        Locale::Ja => &[
            "宅配ボックスに入れてください。",
            "不在時は管理人室に預けてください。",
            "インターホンは一回だけ押してください。",
            "置き配を希望します。",
        ],
        Locale::En => &[
            "Leave parcels at the side door.",
            "Please ring the bell twice.",
            "Beware of the dog.",
            "Deliver to the front desk if nobody answers.",
        ],
    }
}

/// The texts of a locale.
pub(crate) fn texts(locale: Locale) -> &'static LangText {
    &TEXTS[locale.idx()]
}

/// Values substituted into templates.
#[derive(Default)]
pub(crate) struct Vars<'a> {
    pub(crate) sig: &'a str,
    pub(crate) sal: &'a str,
    pub(crate) order: &'a str,
    pub(crate) product: &'a str,
    pub(crate) date: &'a str,
    pub(crate) amount: &'a str,
    pub(crate) days: &'a str,
    pub(crate) agent: &'a str,
    pub(crate) city: &'a str,
    pub(crate) tracking: &'a str,
    pub(crate) size: &'a str,
    pub(crate) pref: &'a str,
}

/// Replaces `{key}` placeholders; unknown keys stay as they are.
pub(crate) fn fill(template: &str, v: &Vars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                let value = match key {
                    "sig" => Some(v.sig),
                    "sal" => Some(v.sal),
                    "order" => Some(v.order),
                    "product" => Some(v.product),
                    "date" => Some(v.date),
                    "amount" => Some(v.amount),
                    "days" => Some(v.days),
                    "agent" => Some(v.agent),
                    "city" => Some(v.city),
                    "tracking" => Some(v.tracking),
                    "size" => Some(v.size),
                    "pref" => Some(v.pref),
                    _ => None,
                };
                match value {
                    Some(val) => out.push_str(val),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[rustfmt::skip]
static TEXTS: [LangText; 4] = [
    // ---------------------------------------------------------------- Chinese
    LangText {
        greetings: &["您好，", "你好，", "客服您好：", "您好！"],
        closings: &["谢谢！\n{sig}", "麻烦尽快回复，谢谢。\n{sig}", "期待您的回复。\n{sig}", "{sig}"],
        agent_greetings: &["{sal}您好，", "尊敬的{sal}：", "{sal}，您好！"],
        agent_closings: &[
            "如有其他问题，欢迎随时联系我们。\n\n{agent}\nConcierge 客服中心",
            "祝您生活愉快！\n{agent}",
            "感谢您的耐心与支持。\n客服 {agent}",
        ],
        generic_followups: &[
            "请问现在处理得怎么样了？",
            "已经过去好几天了，还没有收到任何消息。",
            "好的，我明白了，谢谢。",
            "谢谢你们这么快回复。",
            "我还想再确认一下具体的时间。",
        ],
        generic_replies: &[
            "我们已经将您的问题转交给相关部门，预计一到两个工作日内给您答复。",
            "感谢您提供的信息，我们正在核实，会尽快回复您。",
            "我们正在跟进中，有进展会第一时间通知您。",
        ],
        topics: [
            TopicText {
                subjects: &["订单{order}商品损坏", "收到的{product}坏了", "我的订单损坏了", "商品破损，请处理"],
                openings: &[
                    "我的订单损坏了。订单号是{order}，{date}下的单。",
                    "今天收到了订单{order}，但是{product}已经坏了。",
                    "打开包裹发现{product}破损严重，外包装也被压扁了。",
                    "订单{order}里的{product}到货时就是坏的。",
                ],
                details: &[
                    "箱子一角明显被压过，里面的东西都漏出来了。",
                    "我拍了照片，可以发给你们看。",
                    "这已经是第二次遇到这种情况了，希望你们重视包装问题。",
                    "家里人急着用，能不能尽快补发？",
                ],
                first_replies: &[
                    "非常抱歉给您带来不便。我们已经登记了订单{order}的破损情况，请您提供商品和外包装的照片，我们会尽快为您补发或退款。",
                    "很抱歉收到的{product}有损坏。我们会为您免费补发一件新的，预计{days}天内送达。",
                    "对于{product}的破损我们深表歉意，已经通知仓库核实包装问题。",
                ],
                followups: &["照片已经发给你们了，请看一下。", "补发的话大概什么时候能到？", "我更希望直接退款。"],
                resolutions: &[
                    "新的{product}已经发出，请注意查收。再次为给您带来的不便致歉。",
                    "退款{amount}已经原路退回，预计三到五个工作日到账。",
                    "我们已经为您补发商品，并附上一张优惠券作为补偿。",
                ],
                notes: &[
                    "仓库确认：该批次外箱抗压不足，已反馈给物流部门。",
                    "客户提供了照片，破损属实，批准补发。",
                    "这是该客户本季度第二次破损投诉，注意包装。",
                ],
            },
            TopicText {
                subjects: &["订单{order}还没到", "物流太慢了", "快递延误，请帮忙查一下", "{product}什么时候能送到？"],
                openings: &[
                    "我{date}下的订单{order}到现在还没有收到。",
                    "订单{order}已经超过预计送达时间{days}天了，物流信息一直没有更新。",
                    "请问我的{product}什么时候能送到？已经等了一个多星期。",
                    "快递一直显示在途中，订单号{order}。",
                ],
                details: &["我这周末要出门，希望能在那之前收到。", "这是送给家人的礼物，时间比较急。", "物流单号查不到任何信息。"],
                first_replies: &[
                    "非常抱歉让您久等了。我们查询到订单{order}在中转站有延误，预计{days}天内送达。",
                    "我们已联系快递公司加急处理您的订单{order}，有最新进展会立即通知您。",
                    "抱歉给您带来不便，您的包裹目前在{city}分拣中心，预计明天派送。",
                ],
                followups: &["还是没有收到，能再帮我催一下吗？", "收到了，谢谢你们的帮忙。", "如果明天还到不了，我就取消订单。"],
                resolutions: &[
                    "物流显示您的包裹已经签收，如有任何问题请随时联系我们。",
                    "我们已为您重新发货，并承担运费，请留意短信通知。",
                    "为表歉意，我们为您的账户添加了一张无门槛优惠券。",
                ],
                notes: &["已联系快递公司，包裹在{city}滞留。", "承运商确认延误原因是天气。", "客户语气比较着急，建议优先处理。"],
            },
            TopicText {
                subjects: &["申请退款：订单{order}", "退货退款", "{product}想退货", "退款什么时候到账？"],
                openings: &[
                    "我想申请订单{order}的退款。",
                    "我买的{product}不太合适，想退货退款。",
                    "订单{order}的退款申请已经提交{days}天了，还没有到账。",
                    "请帮我把订单{order}的{product}退掉。",
                ],
                details: &["商品没有拆封，包装完好。", "和商品描述的不太一样。", "金额是{amount}，请原路退回。"],
                first_replies: &[
                    "已收到您的退款申请。请将{product}寄回我们的退货仓库，收到后我们会在三个工作日内为您退款{amount}。",
                    "我们已经为您办理订单{order}的退货，请保留好寄回的快递单号。",
                    "您的退款申请正在审核中，预计{days}个工作日内完成。",
                ],
                followups: &["已经寄回了，快递单号是{tracking}。", "请问退款是退到原来的付款账户吗？", "好的，我等你们的消息。"],
                resolutions: &["退款{amount}已处理完成，请注意查收。", "我们已收到退回的商品，退款已原路返回。", "退款已完成，欢迎您再次光临。"],
                notes: &["退货商品已入库检查，无损坏，批准退款。", "该客户近三个月退货三次，注意是否存在滥用。", "退款金额已与财务核对。"],
            },
            TopicText {
                subjects: &["关于{product}保质期的问题", "请问{product}还有货吗？", "咨询{product}的成分", "{product}和以前的有什么区别"],
                openings: &[
                    "请问{product}的保质期是多久？",
                    "想问一下{product}什么时候补货？",
                    "{product}适合家里有小孩的家庭使用吗？",
                    "请问{product}和上次买的有什么区别？",
                ],
                details: &["我家里{size}口人，不知道买多大的合适。", "我之前一直买这个，感觉还不错。", "想多买几件送朋友。"],
                first_replies: &[
                    "感谢您的咨询。{product}的保质期为十二个月，建议开封后尽快使用。",
                    "{product}预计下周补货，到货后我们会第一时间通知您。",
                    "{product}成分温和，适合全家使用。如需更多信息欢迎随时咨询。",
                    "新版{product}只是更换了包装，成分和以前一样，请放心使用。",
                ],
                followups: &["明白了，谢谢。", "那我先下单两件。", "有没有更大包装的？"],
                resolutions: &["不客气，祝您购物愉快！", "已为您登记到货提醒，补货后会短信通知您。", "大包装目前也有货，您可以在商品页面选择。"],
                notes: &["已确认供应商下周二到货。", "客户对产品成分比较关注，可推荐有机系列。"],
            },
            TopicText {
                subjects: &["关于我的偏好", "以后的订单请注意", "个人喜好说明"],
                openings: &["{pref}", "想提醒你们一下：{pref}", "麻烦记录一下：{pref}"],
                details: &["上次又搞错了，希望这次能记住。", "谢谢你们一直以来的服务。", "家里人也都是这个习惯。"],
                first_replies: &["好的，我们已经在您的资料中记录下来，以后都会按照您的偏好处理。", "收到，已经备注在您的账户中，之后无需再次说明。"],
                followups: &["太好了，谢谢！", "希望下次不会再弄错了。"],
                resolutions: &["已确认记录，感谢您的告知。", "您的偏好已保存，祝您生活愉快！"],
                notes: &["客户偏好已记录为长期指令。", "已通知配送团队客户的偏好。"],
            },
            TopicText {
                subjects: &["订单{order}地址填错了", "修改收货地址", "订单{order}发货前更改地址"],
                openings: &[
                    "我的订单{order}地址填错了，能帮我改一下吗？",
                    "我搬家了，想把收货地址改成{city}的新地址。",
                    "请问订单{order}发货前还能修改地址吗？",
                ],
                details: &["新地址我已经在账户里更新了。", "电话号码不变。", "麻烦尽快处理，怕已经发货了。"],
                first_replies: &[
                    "好的，订单{order}还未发货，我们已经为您更新了收货地址。",
                    "收到，您的新地址已经更新，之后的订单都会寄到新地址。",
                    "抱歉，订单{order}已经发出，我们会联系快递公司尝试改派。",
                ],
                followups: &["谢谢，麻烦了。", "好的，谢谢。", "改派需要额外费用吗？"],
                resolutions: &["地址已修改成功，请放心。", "新地址已设为默认收货地址。", "快递公司已同意改派，不收取额外费用。"],
                notes: &["已在系统中修改地址并通知仓库。", "已更新客户的默认地址。", "快递改派已申请，等待确认。"],
            },
            TopicText {
                subjects: &["重复扣款", "发票问题", "订单{order}金额不对"],
                openings: &[
                    "订单{order}被扣了两次款，金额都是{amount}。",
                    "请问订单{order}可以开发票吗？",
                    "我的订单{order}实际支付的金额和页面显示的不一样。",
                ],
                details: &["银行短信截图可以提供。", "发票抬头是个人。", "优惠券好像没有用上。"],
                first_replies: &[
                    "非常抱歉，我们核实到订单{order}确实重复扣款，多扣的{amount}会在三个工作日内退回。",
                    "可以的，电子发票会在{days}个工作日内发送到您的邮箱。",
                    "我们核对了订单{order}的金额，优惠券确实没有生效，差额会退还给您。",
                ],
                followups: &["好的，收到后我会告诉你们。", "已经收到了，谢谢。"],
                resolutions: &["多扣的款项已经退回，请查收。", "发票已经发送到您的邮箱，请查收。", "差额已经退回到您的账户，请查收。"],
                notes: &["支付渠道确认重复扣款，已提交退款。", "已转财务开具发票。", "确认优惠券未生效，已申请退差价。"],
            },
            TopicText {
                subjects: &["感谢你们的服务", "非常满意", "表扬客服{agent}"],
                openings: &["上次的问题处理得很快，非常感谢！", "{product}很好用，家里人都很喜欢。", "想表扬一下客服{agent}，非常耐心。"],
                details: &["以后还会继续在你们这里买。", "已经推荐给朋友了。"],
                first_replies: &["非常感谢您的肯定！我们会继续努力，为您提供更好的服务。", "很高兴{product}让您和家人满意，欢迎再次选购。", "谢谢您的鼓励，我们已经把您的表扬转达给{agent}。"],
                followups: &["不客气，加油！"],
                resolutions: &["再次感谢您的支持，祝您生活愉快！"],
                notes: &["已将客户表扬记录到{agent}的绩效中。"],
            },
        ],
    },
    // ---------------------------------------------------------------- Korean
    LangText {
        greetings: &["안녕하세요.", "안녕하세요, 문의드립니다.", "수고 많으십니다."],
        closings: &["감사합니다.\n{sig} 드림", "빠른 답변 부탁드립니다.\n{sig}", "{sig}"],
        agent_greetings: &["{sal}, 안녕하세요.", "안녕하세요, {sal}.", "{sal}, Concierge 고객센터입니다."],
        agent_closings: &[
            "추가로 궁금하신 점이 있으시면 언제든지 연락 주세요.\n\n{agent} 드림\nConcierge 고객센터",
            "좋은 하루 보내세요.\n상담원 {agent}",
            "기다려 주셔서 감사합니다.\n{agent} 드림",
        ],
        generic_followups: &[
            "혹시 진행 상황을 알 수 있을까요?",
            "며칠이 지났는데 아직 연락이 없네요.",
            "네, 알겠습니다. 감사합니다.",
            "빠른 답변 감사합니다.",
        ],
        generic_replies: &[
            "담당 부서에 전달했으며, 1~2 영업일 내에 답변드리겠습니다.",
            "추가로 알려 주셔서 감사합니다. 확인 후 최대한 빨리 답변드리겠습니다.",
            "현재 확인 중이며, 진행 상황이 있으면 바로 알려 드리겠습니다.",
        ],
        topics: [
            TopicText {
                subjects: &["주문 {order} 상품 파손", "{product} 파손 문의", "주문한 상품이 파손되었어요", "상품 파손 건 처리 요청"],
                openings: &[
                    "주문한 상품이 파손되었어요. 주문번호는 {order}입니다.",
                    "오늘 받은 택배를 열어 보니 {product} 제품이 파손되어 있었습니다.",
                    "{date}에 주문한 {product} 제품이 깨진 상태로 도착했어요.",
                    "주문번호 {order} 상품이 찌그러진 채로 배송되었습니다.",
                ],
                details: &[
                    "상자 한쪽이 심하게 눌려 있었고 내용물이 새어 나왔어요.",
                    "사진을 찍어 두었으니 필요하시면 보내 드릴게요.",
                    "이런 일이 벌써 두 번째라서 포장에 신경 써 주셨으면 합니다.",
                    "가족들이 바로 써야 해서 빨리 다시 보내 주실 수 있을까요?",
                ],
                first_replies: &[
                    "불편을 드려 정말 죄송합니다. 주문번호 {order} 파손 건을 접수했습니다. 상품과 포장 사진을 보내 주시면 바로 교환 또는 환불해 드리겠습니다.",
                    "{product} 제품이 파손되어 도착해 죄송합니다. 새 상품을 무상으로 다시 보내 드리며, {days}일 이내에 도착할 예정입니다.",
                    "파손된 상품으로 불편을 드려 죄송합니다. 물류팀에 포장 상태를 확인하도록 요청했습니다.",
                ],
                followups: &["사진 보내 드렸어요. 확인 부탁드립니다.", "재발송하면 언제쯤 받을 수 있을까요?", "교환보다는 환불을 원해요."],
                resolutions: &[
                    "새 {product} 제품을 발송했습니다. 다시 한번 불편을 드려 죄송합니다.",
                    "{amount} 환불이 완료되었습니다. 카드사에 따라 3~5 영업일이 걸릴 수 있습니다.",
                    "교환 상품을 보내 드렸고, 사과의 의미로 할인 쿠폰을 함께 넣어 드렸습니다.",
                ],
                notes: &[
                    "창고 확인 결과 해당 박스의 내구성이 부족함. 물류팀에 전달함.",
                    "고객이 보낸 사진으로 파손 확인, 재발송 승인.",
                    "이번 분기 두 번째 파손 문의. 포장 강화 필요.",
                ],
            },
            TopicText {
                subjects: &["주문 {order} 배송 지연", "배송이 너무 늦어요", "택배가 아직 안 왔어요", "배송 조회 부탁드립니다"],
                openings: &[
                    "{date}에 주문한 {order} 상품을 아직 받지 못했습니다.",
                    "배송 예정일보다 {days}일이나 지났는데 배송 조회가 업데이트되지 않아요.",
                    "{product} 제품은 언제 도착하나요? 일주일 넘게 기다리고 있어요.",
                    "택배가 계속 배송 중으로만 나와요. 주문번호는 {order}입니다.",
                ],
                details: &["이번 주말에 집을 비워서 그 전에 받았으면 좋겠어요.", "가족 선물이라 시간이 좀 급합니다.", "송장번호로 조회해도 아무 정보가 없어요."],
                first_replies: &[
                    "오래 기다리게 해 드려 죄송합니다. 확인해 보니 주문 {order} 상품이 중간 물류센터에서 지연되고 있으며, {days}일 이내에 도착할 예정입니다.",
                    "택배사에 긴급 처리를 요청했습니다. 진행 상황이 확인되는 대로 바로 연락드리겠습니다.",
                    "불편을 드려 죄송합니다. 현재 상품은 {city} 물류센터에 있으며 내일 배송될 예정입니다.",
                ],
                followups: &["아직도 안 왔어요. 한 번 더 확인해 주시겠어요?", "잘 받았습니다. 도와주셔서 감사합니다.", "내일까지 안 오면 주문을 취소하고 싶어요."],
                resolutions: &[
                    "배송 완료로 확인됩니다. 문제가 있으시면 언제든지 말씀해 주세요.",
                    "배송비는 저희가 부담하여 상품을 다시 발송해 드렸습니다.",
                    "사과의 의미로 고객님 계정에 할인 쿠폰을 넣어 드렸습니다.",
                ],
                notes: &["택배사에 연락함. {city} 터미널에서 지연 중.", "배송사 확인 결과 기상 악화로 인한 지연.", "고객이 많이 급한 상황, 우선 처리 바람."],
            },
            TopicText {
                subjects: &["환불 요청: 주문 {order}", "반품 및 환불 문의", "{product} 반품하고 싶어요", "환불은 언제 되나요?"],
                openings: &[
                    "주문번호 {order} 환불을 요청합니다.",
                    "구매한 {product} 제품이 잘 맞지 않아서 반품하고 환불받고 싶어요.",
                    "{order} 환불 신청한 지 {days}일이 지났는데 아직 입금이 안 됐어요.",
                    "주문 {order}의 {product} 제품 반품 부탁드립니다.",
                ],
                details: &["상품은 개봉하지 않았고 포장도 그대로예요.", "상품 설명과 달라요.", "결제 금액은 {amount}이고, 원래 결제 수단으로 환불해 주세요."],
                first_replies: &[
                    "환불 요청이 접수되었습니다. {product} 제품을 반품 센터로 보내 주시면 도착 후 3 영업일 이내에 {amount}을 환불해 드리겠습니다.",
                    "주문 {order} 반품 접수를 완료했습니다. 보내실 때 송장번호를 꼭 보관해 주세요.",
                    "환불 요청을 검토 중이며, {days} 영업일 이내에 처리될 예정입니다.",
                ],
                followups: &["반품 보냈어요. 송장번호는 {tracking}입니다.", "환불은 원래 결제한 카드로 되는 거죠?", "네, 연락 기다리겠습니다."],
                resolutions: &["{amount} 환불 처리가 완료되었습니다.", "반품 상품을 확인했으며, 결제하신 수단으로 환불해 드렸습니다.", "환불이 완료되었습니다. 다음에 또 이용해 주세요."],
                notes: &["반품 상품 입고 검수 완료, 이상 없음. 환불 승인.", "최근 3개월간 반품 3회. 악용 여부 주의.", "환불 금액 재무팀과 확인 완료."],
            },
            TopicText {
                subjects: &["{product} 유통기한 문의", "{product} 재고 있나요?", "{product} 성분 문의", "{product} 이전 제품과 차이점"],
                openings: &[
                    "{product} 제품의 유통기한이 어떻게 되나요?",
                    "{product} 제품은 언제 재입고되나요?",
                    "{product} 제품을 아이가 있는 집에서 써도 괜찮을까요?",
                    "{product} 제품은 지난번에 산 것과 뭐가 다른가요?",
                ],
                details: &["저희 집은 {size}식구인데 어떤 용량이 좋을지 모르겠어요.", "예전부터 계속 이 제품을 써 왔어요.", "친구들 선물로 몇 개 더 사고 싶어요."],
                first_replies: &[
                    "문의해 주셔서 감사합니다. {product} 제품의 유통기한은 12개월이며, 개봉 후에는 가급적 빨리 사용해 주세요.",
                    "{product} 제품은 다음 주에 재입고될 예정이며, 입고되면 바로 알려 드리겠습니다.",
                    "{product} 제품은 순한 성분이라 온 가족이 사용하기 좋습니다.",
                    "새로 나온 {product} 제품은 포장만 바뀌었고 내용물은 이전과 같습니다.",
                ],
                followups: &["알겠습니다. 감사합니다.", "그럼 우선 두 개 주문할게요.", "더 큰 용량도 있나요?"],
                resolutions: &["감사합니다. 즐거운 쇼핑 되세요!", "재입고 알림을 신청해 드렸습니다. 입고되면 문자로 알려 드릴게요.", "대용량 제품도 재고가 있어 상품 페이지에서 선택하실 수 있습니다."],
                notes: &["공급업체 확인 결과 다음 주 화요일 입고 예정.", "성분에 관심이 많은 고객. 유기농 라인 추천 가능."],
            },
            TopicText {
                subjects: &["제 취향 관련 요청", "앞으로 주문 시 참고해 주세요", "선호 사항 안내"],
                openings: &["{pref}", "다음부터 참고해 주세요. {pref}", "기록해 두셨으면 해요. {pref}"],
                details: &["지난번에도 잘못 와서 이번에는 꼭 기억해 주셨으면 합니다.", "늘 친절하게 응대해 주셔서 감사해요.", "가족들도 다 같은 습관이에요."],
                first_replies: &["네, 고객님의 정보에 기록해 두었습니다. 앞으로는 말씀하신 대로 처리하겠습니다.", "확인했습니다. 계정에 메모해 두었으니 다음부터는 다시 말씀하지 않으셔도 됩니다."],
                followups: &["좋아요, 감사합니다!", "다음에는 실수 없었으면 좋겠어요."],
                resolutions: &["기록을 확인했습니다. 알려 주셔서 감사합니다.", "선호 사항이 저장되었습니다. 좋은 하루 보내세요!"],
                notes: &["고객 선호 사항을 상시 지시로 등록함.", "배송팀에 고객 선호 사항 공유함."],
            },
            TopicText {
                subjects: &["주문 {order} 주소를 잘못 입력했어요", "배송지 변경 요청", "주문 {order} 발송 전 주소 변경"],
                openings: &[
                    "주문 {order} 배송지를 잘못 입력했는데 수정할 수 있을까요?",
                    "이사를 해서 배송지를 {city} 새 주소로 바꾸고 싶어요.",
                    "주문 {order} 발송 전에 주소를 변경할 수 있나요?",
                ],
                details: &["새 주소는 계정에 이미 업데이트했어요.", "전화번호는 그대로입니다.", "벌써 발송되었을까 봐 걱정돼요."],
                first_replies: &[
                    "네, 주문 {order} 상품은 아직 발송 전이라 배송지를 변경해 드렸습니다.",
                    "새 주소로 변경 완료했습니다. 이후 주문은 모두 새 주소로 배송됩니다.",
                    "죄송하지만 주문 {order} 상품은 이미 발송되어 택배사에 주소 변경을 요청하겠습니다.",
                ],
                followups: &["감사합니다. 번거롭게 해 드렸네요.", "네, 감사합니다.", "주소 변경에 추가 비용이 있나요?"],
                resolutions: &["주소 변경이 완료되었습니다.", "새 주소를 기본 배송지로 등록했습니다.", "택배사에서 주소 변경을 승인했으며 추가 비용은 없습니다."],
                notes: &["시스템에서 주소 수정 후 창고에 알림.", "고객 기본 배송지 업데이트함.", "택배사 주소 변경 요청함, 확인 대기 중."],
            },
            TopicText {
                subjects: &["중복 결제 문의", "영수증 발급 요청", "주문 {order} 결제 금액 오류"],
                openings: &[
                    "주문 {order} 결제가 두 번 되었어요. 둘 다 {amount}입니다.",
                    "주문 {order} 현금영수증 발급이 가능한가요?",
                    "주문 {order} 실제 결제 금액이 화면에 표시된 금액과 달라요.",
                ],
                details: &["카드사 문자 캡처를 보내 드릴 수 있어요.", "개인 소득공제용으로 부탁드립니다.", "쿠폰이 적용되지 않은 것 같아요."],
                first_replies: &[
                    "불편을 드려 죄송합니다. 확인 결과 주문 {order} 결제가 중복되었으며, 추가로 결제된 {amount}은 3 영업일 이내에 취소됩니다.",
                    "네, 가능합니다. {days} 영업일 이내에 이메일로 보내 드리겠습니다.",
                    "주문 {order} 금액을 확인한 결과 쿠폰이 적용되지 않아 차액을 환불해 드리겠습니다.",
                ],
                followups: &["네, 확인되면 알려 주세요.", "잘 받았습니다. 감사합니다."],
                resolutions: &["중복 결제 금액이 취소되었습니다. 확인 부탁드립니다.", "영수증을 이메일로 보내 드렸습니다.", "차액 환불이 완료되었습니다. 확인 부탁드립니다."],
                notes: &["결제사에서 중복 결제 확인, 환불 요청 완료.", "재무팀에 영수증 발급 요청함.", "쿠폰 미적용 확인, 차액 환불 요청함."],
            },
            TopicText {
                subjects: &["감사 인사드립니다", "서비스에 만족합니다", "상담원 {agent} 님 칭찬합니다"],
                openings: &["지난번 문의를 빨리 처리해 주셔서 정말 감사합니다!", "{product} 제품 정말 좋아요. 가족들도 다 마음에 들어 해요.", "상담원 {agent} 님이 정말 친절하게 도와주셨어요."],
                details: &["앞으로도 계속 이용할게요.", "친구들에게도 추천했어요."],
                first_replies: &["따뜻한 말씀 감사합니다! 앞으로도 더 좋은 서비스로 보답하겠습니다.", "{product} 제품이 마음에 드셨다니 기쁩니다. 또 찾아 주세요.", "칭찬 감사합니다. {agent} 님에게도 꼭 전달하겠습니다."],
                followups: &["네, 수고하세요!"],
                resolutions: &["다시 한번 감사드립니다. 좋은 하루 보내세요!"],
                notes: &["고객 칭찬을 {agent} 평가에 반영함."],
            },
        ],
    },
    // ---------------------------------------------------------------- Japanese
    LangText {
        greetings: &["お世話になっております。", "こんにちは。", "いつもお世話になっております。"],
        closings: &["よろしくお願いいたします。\n{sig}", "ご確認のほど、よろしくお願いします。\n{sig}", "{sig}"],
        agent_greetings: &[
            "{sal}\n\nいつもご利用いただき、誠にありがとうございます。Concierge カスタマーサポートです。",
            "{sal}\n\nお問い合わせいただきありがとうございます。",
        ],
        agent_closings: &[
            "ほかにご不明な点がございましたら、お気軽にお問い合わせください。\n\nConcierge カスタマーサポート\n{agent}",
            "今後ともよろしくお願いいたします。\n{agent}",
            "引き続きよろしくお願いいたします。\n担当：{agent}",
        ],
        generic_followups: &[
            "その後、状況はいかがでしょうか。",
            "数日経ちましたが、まだ連絡がありません。",
            "承知しました。ありがとうございます。",
            "早速のご返信ありがとうございます。",
        ],
        generic_replies: &[
            "担当部署に確認しておりますので、1〜2営業日以内にご連絡いたします。",
            "詳しい情報をお知らせいただきありがとうございます。確認のうえ、できるだけ早くご返信いたします。",
            "現在確認中です。進展があり次第、すぐにご連絡いたします。",
        ],
        topics: [
            TopicText {
                subjects: &["注文{order}の商品破損について", "届いた{product}が壊れていました", "商品破損のご連絡", "注文した商品が壊れていました"],
                openings: &[
                    "注文した商品が壊れていました。注文番号は{order}です。",
                    "本日届いた{product}が破損していました。",
                    "{date}に注文した{product}が壊れた状態で届きました。",
                    "注文番号{order}の商品の箱がつぶれていて、中身も傷んでいました。",
                ],
                details: &[
                    "箱の角が大きくへこんでいて、中身が漏れていました。",
                    "写真を撮ってありますので、必要であればお送りします。",
                    "このようなことは二回目ですので、梱包を見直していただけると助かります。",
                    "家族がすぐに使う予定なので、早めに再送していただけますか。",
                ],
                first_replies: &[
                    "このたびはご迷惑をおかけし、誠に申し訳ございません。注文番号{order}の破損について承りました。商品と外箱の写真をお送りいただければ、すぐに交換または返金いたします。",
                    "{product}が破損した状態で届き、大変申し訳ございません。新しい商品を無償でお送りいたします。{days}日以内に到着する予定です。",
                    "破損した商品が届きましたこと、深くお詫び申し上げます。物流担当に梱包状態の確認を依頼いたしました。",
                ],
                followups: &["写真を送りましたので、ご確認ください。", "再送の場合、いつ頃届きますか。", "交換ではなく返金を希望します。"],
                resolutions: &[
                    "新しい{product}を発送いたしました。重ねてお詫び申し上げます。",
                    "{amount}の返金手続きが完了しました。カード会社により3〜5営業日かかる場合がございます。",
                    "交換品をお送りし、お詫びとしてクーポンを同封いたしました。",
                ],
                notes: &["倉庫確認：該当ロットの外箱強度不足。物流チームに共有済み。", "お客様の写真で破損を確認、再送を承認。", "今四半期二回目の破損問い合わせ。梱包強化が必要。"],
            },
            TopicText {
                subjects: &["注文{order}がまだ届きません", "配送の遅延について", "荷物が届かない件", "配送状況の確認をお願いします"],
                openings: &[
                    "{date}に注文した{order}がまだ届いていません。",
                    "お届け予定日を{days}日過ぎていますが、配送状況が更新されません。",
                    "{product}はいつ届きますか。一週間以上待っています。",
                    "荷物がずっと「配送中」のままです。注文番号は{order}です。",
                ],
                details: &["今週末は留守にするので、それまでに受け取りたいです。", "家族への贈り物なので、少し急いでいます。", "追跡番号で調べても何も表示されません。"],
                first_replies: &[
                    "お待たせしてしまい、誠に申し訳ございません。確認したところ、注文{order}の荷物が中継拠点で遅れており、{days}日以内にお届けの予定です。",
                    "配送業者に至急対応を依頼いたしました。状況が分かり次第、すぐにご連絡いたします。",
                    "ご不便をおかけして申し訳ございません。現在、荷物は{city}の配送センターにあり、明日お届けの予定です。",
                ],
                followups: &["まだ届いていません。もう一度確認していただけますか。", "無事に受け取りました。ありがとうございました。", "明日までに届かなければ、キャンセルしたいです。"],
                resolutions: &["配達完了を確認いたしました。何かございましたらお知らせください。", "送料は弊社負担で商品を再発送いたしました。", "お詫びとして、アカウントにクーポンを付与いたしました。"],
                notes: &["配送業者に連絡済み。{city}の拠点で滞留中。", "配送業者によると悪天候による遅延。", "お客様はかなり急いでいる様子。優先対応をお願いします。"],
            },
            TopicText {
                subjects: &["返金のお願い：注文{order}", "返品・返金について", "{product}を返品したいです", "返金はいつになりますか"],
                openings: &[
                    "注文番号{order}の返金をお願いします。",
                    "購入した{product}が合わなかったので、返品して返金してほしいです。",
                    "注文{order}の返金を申請してから{days}日経ちますが、まだ入金されていません。",
                    "注文{order}の{product}を返品させてください。",
                ],
                details: &["商品は未開封で、箱もきれいなままです。", "商品説明と違いました。", "支払額は{amount}です。元の支払い方法で返金してください。"],
                first_replies: &[
                    "返金のお申し込みを承りました。{product}を返品センターへお送りいただければ、到着後3営業日以内に{amount}を返金いたします。",
                    "注文{order}の返品手続きを完了しました。発送時の伝票番号を保管しておいてください。",
                    "返金申請を確認中です。{days}営業日以内に処理される予定です。",
                ],
                followups: &["返品しました。伝票番号は{tracking}です。", "返金は元のカードに戻りますか。", "わかりました。連絡をお待ちしています。"],
                resolutions: &["{amount}の返金が完了しました。", "返品された商品を確認し、お支払い方法へ返金いたしました。", "返金が完了しました。またのご利用をお待ちしております。"],
                notes: &["返品商品を検品済み、問題なし。返金を承認。", "過去3か月で返品3回。悪用の可能性に注意。", "返金額を経理と確認済み。"],
            },
            TopicText {
                subjects: &["{product}の賞味期限について", "{product}の在庫はありますか", "{product}の成分について", "{product}は以前のものと違いますか"],
                openings: &[
                    "{product}の賞味期限はどのくらいですか。",
                    "{product}の再入荷はいつ頃になりますか。",
                    "{product}は小さい子どもがいる家庭でも使えますか。",
                    "{product}は前回買ったものと何が違いますか。",
                ],
                details: &["うちは{size}人家族なので、どのサイズがいいか迷っています。", "以前からずっとこの商品を使っています。", "友人へのプレゼントにいくつか買いたいです。"],
                first_replies: &[
                    "お問い合わせありがとうございます。{product}の賞味期限は12か月で、開封後はお早めにお使いください。",
                    "{product}は来週再入荷の予定です。入荷次第ご連絡いたします。",
                    "{product}は低刺激の成分ですので、ご家族皆さまでお使いいただけます。",
                    "新しい{product}はパッケージが変わっただけで、中身は以前と同じです。",
                ],
                followups: &["わかりました。ありがとうございます。", "では、まず二つ注文します。", "もっと大きいサイズはありますか。"],
                resolutions: &["ありがとうございます。お買い物をお楽しみください。", "再入荷のお知らせを登録しました。入荷したらメールでお知らせします。", "大容量タイプも在庫がございますので、商品ページからお選びください。"],
                notes: &["仕入先に確認、来週火曜日入荷予定。", "成分を気にされるお客様。オーガニックシリーズを提案可。"],
            },
            TopicText {
                subjects: &["好みについてのお願い", "今後の注文について", "私の好みについて"],
                openings: &["{pref}", "今後のためにお伝えします。{pref}", "記録しておいていただけますか。{pref}"],
                details: &["前回も間違っていたので、今回は覚えておいていただきたいです。", "いつも丁寧に対応していただき、ありがとうございます。", "家族も同じ習慣です。"],
                first_replies: &["かしこまりました。お客様情報に記録いたしましたので、今後はご希望どおりに対応いたします。", "承知いたしました。アカウントにメモしましたので、次回からはお伝えいただく必要はございません。"],
                followups: &["助かります。ありがとうございます。", "次は間違えないでくださいね。"],
                resolutions: &["記録を確認いたしました。お知らせいただきありがとうございます。", "ご希望を保存しました。良い一日をお過ごしください。"],
                notes: &["お客様の好みを常時指示として登録。", "配送チームにお客様の希望を共有。"],
            },
            TopicText {
                subjects: &["注文{order}の住所を間違えました", "お届け先の変更", "注文{order}の発送前の住所変更"],
                openings: &[
                    "注文{order}のお届け先を間違えて入力してしまいました。修正できますか。",
                    "引っ越したので、お届け先を{city}の新しい住所に変更したいです。",
                    "注文{order}は発送前に住所を変更できますか。",
                ],
                details: &["新しい住所はアカウントに登録済みです。", "電話番号は変わりません。", "もう発送されていないか心配です。"],
                first_replies: &[
                    "承知いたしました。注文{order}はまだ発送前でしたので、お届け先を変更いたしました。",
                    "新しいご住所への変更が完了しました。今後のご注文はすべて新しい住所へお届けします。",
                    "申し訳ございません。注文{order}はすでに発送済みのため、配送業者に転送を依頼いたします。",
                ],
                followups: &["ありがとうございます。お手数をおかけしました。", "承知しました。ありがとうございます。", "転送に追加料金はかかりますか。"],
                resolutions: &["住所の変更が完了しました。", "新しいご住所を通常のお届け先に登録しました。", "配送業者が転送を承諾しました。追加料金はかかりません。"],
                notes: &["システムで住所を修正し、倉庫に連絡済み。", "お客様の登録住所を更新済み。", "配送業者に転送依頼済み、確認待ち。"],
            },
            TopicText {
                subjects: &["二重請求について", "領収書の発行依頼", "注文{order}の金額が違います"],
                openings: &[
                    "注文{order}の代金が二回引き落とされています。どちらも{amount}です。",
                    "注文{order}の領収書を発行していただけますか。",
                    "注文{order}の実際の支払額が、画面に表示された金額と違います。",
                ],
                details: &["カード会社の明細をお送りできます。", "宛名は個人名でお願いします。", "クーポンが適用されていないようです。"],
                first_replies: &[
                    "ご迷惑をおかけし申し訳ございません。確認の結果、注文{order}の決済が重複しておりました。{amount}は3営業日以内に取り消されます。",
                    "承知いたしました。{days}営業日以内にメールでお送りいたします。",
                    "注文{order}の金額を確認したところ、クーポンが適用されていなかったため、差額を返金いたします。",
                ],
                followups: &["わかりました。確認できたら教えてください。", "受け取りました。ありがとうございます。"],
                resolutions: &["重複した請求を取り消しました。ご確認ください。", "領収書をメールでお送りしました。", "差額の返金が完了しました。ご確認ください。"],
                notes: &["決済代行会社で二重決済を確認、返金申請済み。", "経理に領収書発行を依頼。", "クーポン未適用を確認、差額返金を申請。"],
            },
            TopicText {
                subjects: &["お礼", "サービスに満足しています", "担当の{agent}さんへの感謝"],
                openings: &["先日の問い合わせに迅速に対応していただき、本当にありがとうございました。", "{product}がとても良くて、家族みんな気に入っています。", "担当の{agent}さんがとても親切に対応してくださいました。"],
                details: &["これからも利用させていただきます。", "友人にも勧めました。"],
                first_replies: &["温かいお言葉をいただき、ありがとうございます。今後もより良いサービスを目指してまいります。", "{product}を気に入っていただけて、とてもうれしいです。またのご利用をお待ちしております。", "お褒めの言葉をありがとうございます。{agent}にも必ず伝えます。"],
                followups: &["これからもよろしくお願いします。"],
                resolutions: &["重ねてお礼申し上げます。良い一日をお過ごしください。"],
                notes: &["お客様からのお褒めの言葉を{agent}の評価に記録。"],
            },
        ],
    },
    // ---------------------------------------------------------------- English
    LangText {
        greetings: &["Hello,", "Hi there,", "Hi,", "Good morning,"],
        closings: &["Thanks,\n{sig}", "Thank you in advance.\n{sig}", "Best regards,\n{sig}", "{sig}"],
        agent_greetings: &["Hi {sal},", "Dear {sal},", "Hello {sal},"],
        agent_closings: &[
            "If there is anything else we can do, just reply to this message.\n\nBest regards,\n{agent}\nConcierge Customer Care",
            "Kind regards,\n{agent}",
            "Thank you for your patience.\n{agent}, Customer Care",
        ],
        generic_followups: &[
            "Is there any update on this?",
            "It has been a few days and I haven't heard back.",
            "Okay, understood. Thank you.",
            "Thank you for the quick reply.",
        ],
        generic_replies: &[
            "I have passed your request to the responsible team and we will get back to you within one to two business days.",
            "Thank you for the additional information. We are checking it and will reply as soon as possible.",
            "We are still looking into this and will let you know as soon as we have an update.",
        ],
        topics: [
            TopicText {
                subjects: &["Order {order} arrived damaged", "Damaged {product}", "My order arrived damaged", "Broken item in my delivery"],
                openings: &[
                    "My order arrived damaged. The order number is {order}.",
                    "The {product} I received today was broken.",
                    "I ordered the {product} on {date} and it arrived damaged.",
                    "The box for order {order} was crushed and the {product} inside is damaged.",
                ],
                details: &[
                    "One corner of the box was completely flattened and the contents had leaked.",
                    "I took pictures and can send them if you need them.",
                    "This is the second time this has happened, so please look at your packaging.",
                    "My family needs it right away, so could you send a replacement quickly?",
                ],
                first_replies: &[
                    "I'm very sorry for the trouble. I have logged the damage for order {order}. If you send us photos of the item and the box, we will replace it or refund you right away.",
                    "I'm sorry your {product} arrived damaged. We will send you a new one free of charge; it should arrive within {days} days.",
                    "We sincerely apologise for the damaged delivery. I have asked our logistics team to check how the parcel was packed.",
                ],
                followups: &["I've sent the photos, please have a look.", "If you send a replacement, when will it arrive?", "I would prefer a refund instead of a replacement."],
                resolutions: &[
                    "A new {product} is on its way to you. Again, we apologise for the inconvenience.",
                    "Your refund of {amount} has been processed. It may take 3 to 5 business days to appear on your statement.",
                    "We have sent the replacement and included a discount voucher as an apology.",
                ],
                notes: &[
                    "Warehouse says this batch of boxes is too weak; reported to logistics.",
                    "Photos confirm the damage; replacement approved.",
                    "Second damage complaint from this customer this quarter. Check packaging.",
                ],
            },
            TopicText {
                subjects: &["Order {order} has not arrived", "Late delivery", "Where is my package?", "Delivery delayed for {product}"],
                openings: &[
                    "I placed order {order} on {date} and it still hasn't arrived.",
                    "My delivery is {days} days past the expected date and the tracking hasn't been updated.",
                    "When will my {product} arrive? I have been waiting for over a week.",
                    "The tracking for order {order} has said \"in transit\" for days.",
                ],
                details: &["I'm away this weekend, so I'd like to receive it before then.", "It's a gift for my family, so it's a bit urgent.", "The tracking number shows no information at all."],
                first_replies: &[
                    "I'm sorry for the wait. Order {order} was held up at a sorting centre and should reach you within {days} days.",
                    "I have asked the carrier to prioritise your parcel and will update you as soon as I hear back.",
                    "Apologies for the inconvenience. Your parcel is currently at the {city} depot and is scheduled for delivery tomorrow.",
                ],
                followups: &["It still hasn't come. Could you check again?", "It arrived today. Thanks for your help.", "If it doesn't arrive by tomorrow, I want to cancel the order."],
                resolutions: &["The carrier confirms your parcel was delivered. Let us know if anything is wrong.", "We have re-sent your order at our own cost.", "As an apology, we have added a voucher to your account."],
                notes: &["Called the carrier: parcel stuck at the {city} hub.", "Carrier confirms the delay was caused by bad weather.", "Customer is in a hurry; please handle with priority."],
            },
            TopicText {
                subjects: &["Refund request for order {order}", "Return and refund", "I'd like to return the {product}", "When will I get my refund?"],
                openings: &[
                    "I would like a refund for order {order}.",
                    "The {product} I bought doesn't suit me, so I'd like to return it for a refund.",
                    "I requested a refund for order {order} {days} days ago and it still hasn't arrived.",
                    "Please help me return the {product} from order {order}.",
                ],
                details: &["The item is unopened and still in its original packaging.", "It is not what the description said.", "I paid {amount}; please refund it to my original payment method."],
                first_replies: &[
                    "We have received your refund request. Please send the {product} back to our returns centre; we will refund {amount} within three business days of receiving it.",
                    "I have opened a return for order {order}. Please keep the tracking number when you send it back.",
                    "Your refund request is being reviewed and should be completed within {days} business days.",
                ],
                followups: &["I've sent it back. The tracking number is {tracking}.", "Will the refund go back to my original card?", "Okay, I'll wait to hear from you."],
                resolutions: &["Your refund of {amount} has been completed.", "We received the returned item and refunded your original payment method.", "The refund is done. We hope to see you again soon."],
                notes: &["Returned item inspected, no damage. Refund approved.", "Third return in three months from this customer; watch for abuse.", "Refund amount checked with finance."],
            },
            TopicText {
                subjects: &["Shelf life of the {product}", "Is the {product} in stock?", "Ingredients of the {product}", "Has the {product} changed?"],
                openings: &[
                    "What is the shelf life of the {product}?",
                    "When will the {product} be back in stock?",
                    "Is the {product} safe to use in a home with small children?",
                    "How is the {product} different from the one I bought last time?",
                ],
                details: &["There are {size} of us at home, so I'm not sure which size to get.", "I have been buying this for years and like it a lot.", "I'd like to buy a few more as gifts for friends."],
                first_replies: &[
                    "Thanks for your question. The {product} keeps for twelve months; once opened, please use it soon.",
                    "The {product} is expected back in stock next week, and we will let you know as soon as it arrives.",
                    "The {product} is made with mild ingredients and is suitable for the whole family.",
                    "The new {product} only has new packaging; what is inside is the same as before.",
                ],
                followups: &["Got it, thank you.", "In that case I'll order two for now.", "Do you have a larger size?"],
                resolutions: &["You're welcome. Happy shopping!", "I've set up a back-in-stock alert for you; we'll email you when it arrives.", "The larger size is in stock as well; you can choose it on the product page."],
                notes: &["Supplier confirms delivery next Tuesday.", "Customer cares about ingredients; could suggest the organic range."],
            },
            TopicText {
                subjects: &["About my preferences", "Please note for future orders", "A note about what I like"],
                openings: &["{pref}", "Just so you know for the future: {pref}", "Could you please make a note of this? {pref}"],
                details: &["You got it wrong last time, so I hope you will remember it now.", "Thanks for always being so helpful.", "The rest of my family is the same."],
                first_replies: &["Of course. I have recorded this on your profile and we will follow it from now on.", "Noted. It is saved on your account, so you won't need to tell us again."],
                followups: &["Great, thank you!", "I hope it won't be wrong again next time."],
                resolutions: &["Confirmed and recorded. Thank you for letting us know.", "Your preference has been saved. Have a nice day!"],
                notes: &["Recorded the customer's preference as a standing instruction.", "Shared the customer's preference with the delivery team."],
            },
            TopicText {
                subjects: &["Wrong address on order {order}", "Change of delivery address", "Address change for order {order}"],
                openings: &[
                    "I entered the wrong address for order {order}. Can you change it?",
                    "I've moved and would like my deliveries to go to my new address in {city}.",
                    "Can I still change the address for order {order} before it ships?",
                ],
                details: &["I've already updated the new address in my account.", "My phone number is the same.", "I'm worried it may already have shipped."],
                first_replies: &[
                    "No problem. Order {order} had not shipped yet, so I have updated the delivery address.",
                    "Your new address is saved, and all future orders will go there.",
                    "I'm sorry, order {order} has already shipped, but I have asked the carrier to redirect it.",
                ],
                followups: &["Thanks, sorry for the trouble.", "Great, thank you.", "Is there an extra charge for redirecting it?"],
                resolutions: &["The address has been changed.", "Your new address is now your default delivery address.", "The carrier has agreed to redirect the parcel at no extra cost."],
                notes: &["Changed the address in the system and told the warehouse.", "Updated the customer's default address.", "Redirect requested with the carrier; waiting for confirmation."],
            },
            TopicText {
                subjects: &["Charged twice", "Invoice request", "Wrong amount on order {order}"],
                openings: &[
                    "I was charged twice for order {order}, {amount} each time.",
                    "Could you send me an invoice for order {order}?",
                    "The amount I paid for order {order} is different from what the page showed.",
                ],
                details: &["I can send a screenshot of my bank statement.", "Please make the invoice out to me personally.", "It looks like my coupon wasn't applied."],
                first_replies: &[
                    "I'm sorry about this. We confirmed a duplicate charge on order {order}; the extra {amount} will be reversed within three business days.",
                    "Certainly. We will email the invoice within {days} business days.",
                    "We checked order {order} and the coupon was not applied, so we will refund the difference.",
                ],
                followups: &["Okay, please let me know when it's done.", "I got it, thanks."],
                resolutions: &["The duplicate charge has been reversed. Please check your statement.", "The invoice has been sent to your email.", "The difference has been refunded. Please check your statement."],
                notes: &["Payment provider confirms the duplicate charge; refund submitted.", "Asked finance to issue the invoice.", "Coupon was not applied; refund of the difference requested."],
            },
            TopicText {
                subjects: &["Thank you", "Very happy with your service", "Praise for {agent}"],
                openings: &["Thank you so much for sorting out my last request so quickly!", "The {product} is excellent and the whole family loves it.", "I wanted to say that {agent} was very patient and helpful."],
                details: &["I'll definitely keep shopping with you.", "I've already recommended you to my friends."],
                first_replies: &["Thank you for your kind words! We will keep working to serve you even better.", "We are so glad the {product} is a hit with your family. We hope to see you again soon.", "Thank you for the praise; I will make sure {agent} hears about it."],
                followups: &["You're welcome, keep it up!"],
                resolutions: &["Thanks again for your support. Have a great day!"],
                notes: &["Logged the customer's praise on {agent}'s scorecard."],
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_substitutes_known_keys_only() {
        let v = Vars {
            order: "O1-001",
            product: "大米",
            ..Vars::default()
        };
        assert_eq!(
            fill("订单{order}的{product}{unknown}", &v),
            "订单O1-001的大米{unknown}"
        );
        assert_eq!(fill("no braces", &v), "no braces");
        assert_eq!(fill("open { only", &v), "open { only");
    }

    #[test]
    fn every_slot_has_text_in_every_language() {
        for l in Locale::ALL {
            let t = texts(l);
            for slot in [
                t.greetings,
                t.closings,
                t.agent_greetings,
                t.agent_closings,
                t.generic_followups,
                t.generic_replies,
            ] {
                assert!(!slot.is_empty());
            }
            for topic in &t.topics {
                for slot in [
                    topic.subjects,
                    topic.openings,
                    topic.details,
                    topic.first_replies,
                    topic.followups,
                    topic.resolutions,
                    topic.notes,
                ] {
                    assert!(!slot.is_empty(), "{l:?}");
                    for s in slot {
                        assert!(!s.trim().is_empty());
                        assert_eq!(s.matches('{').count(), s.matches('}').count(), "{s}");
                    }
                }
            }
            assert!(!household_notes(l).is_empty());
        }
        for p in PREFERENCES {
            assert!(p.statements.iter().all(|s| !s.is_empty()));
        }
    }
}
