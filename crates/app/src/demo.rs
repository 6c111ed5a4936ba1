//! The demo's case setup: two teams with a manager and an assignment strategy, reply
//! templates in the three interface languages, a trigger that puts refunds first, and a few
//! live cases opened through the real use case (so they carry targets, owners and events),
//! in Chinese, Korean and English. Runs once per tenant; a second run changes nothing.

use crate::App;
use crate::cases::{Actor, CustomerRef, NewCaseInput};
use concierge_domain::{Role, TenantId};

impl App {
    /// Sets up teams, templates, a trigger and some live cases, unless the tenant has teams.
    pub async fn seed_demo_cases(&self, tenant: TenantId) -> anyhow::Result<()> {
        if !self.store.teams(tenant).await?.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let users = self.store.list_users(tenant).await?;
        let manager = users
            .iter()
            .find(|u| u.role == Role::Manager)
            .map(|u| u.id.0);
        let support = self
            .store
            .create_team(tenant, "Support", manager, "least_loaded", Some(60), now)
            .await?;
        let billing = self
            .store
            .create_team(tenant, "Billing", manager, "round_robin", Some(30), now)
            .await?;
        for u in users.iter().filter(|u| u.active) {
            self.store
                .set_team_member(tenant, support.id, u.id.0, Some(25), true)
                .await?;
            if u.role != Role::Agent {
                self.store
                    .set_team_member(tenant, billing.id, u.id.0, Some(25), true)
                    .await?;
            }
        }
        for (name, body) in [
            (
                "Thank you (English)",
                "Dear {{customer.first_name | \"customer\"}},\n\nthank you for writing to us. \
                 We have looked into it and will keep you posted.\n\nKind regards",
            ),
            (
                "感谢 (中文)",
                "{{customer.name | \"您\"}}您好，\n\n感谢您的来信，我们已经在处理，会及时告诉您进展。",
            ),
            (
                "감사 (한국어)",
                "{{customer.name | \"고객\"}}님, 안녕하세요.\n\n문의해 주셔서 감사합니다. \
                 확인 후 바로 안내해 드리겠습니다.",
            ),
        ] {
            self.store.add_template(tenant, name, body, now).await?;
        }
        for (name, word) in [
            ("Refunds first (中文)", "退款"),
            ("Refunds first", "refund"),
        ] {
            let spec = serde_json::json!({
                "id": 0, "name": name, "event": "created",
                "conditions": [{"op": "subject_contains", "value": word}],
                "actions": [{"action": "add_tag", "value": "refund"}, {"action": "raise_priority"}],
                "position": 1, "active": true
            });
            self.store
                .add_definition(
                    tenant,
                    "trigger",
                    name,
                    Some("created"),
                    &spec.to_string(),
                    1,
                    now,
                )
                .await?;
        }
        let samples = [
            (
                "订单退款",
                "我的订单损坏了，请尽快退款。",
                "email",
                "wang.fang@demo.test",
                "王芳",
            ),
            (
                "배송 문의",
                "배송이 너무 늦어요. 언제 도착하나요?",
                "web",
                "kim.minji@demo.test",
                "김민지",
            ),
            (
                "Kettle arrived dented",
                "My kettle arrived dented and leaks. Can I get a replacement?",
                "email",
                "sarah.jones@demo.test",
                "Sarah Jones",
            ),
            (
                "Please call me back",
                "I tried to order by phone; please call me after 18:00.",
                "phone",
                "tanaka.yui@demo.test",
                "田中 結衣",
            ),
        ];
        for (subject, body, channel, email, name) in samples {
            self.create_case(
                tenant,
                Actor::System,
                &NewCaseInput {
                    subject: subject.into(),
                    body: body.into(),
                    channel: channel.into(),
                    kind: Some("complaint".into()),
                    priority: None,
                    customer: CustomerRef::Email {
                        email: email.into(),
                        name: Some(name.into()),
                    },
                    team_id: Some(support.id),
                    owner_id: None,
                    tags: vec![],
                    order_id: None,
                    parent_case_id: None,
                    attachments: vec![],
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating the demo case '{subject}': {e}"))?;
        }
        Ok(())
    }
}
