//! Loads synthetic data from `concierge-gen` into the store: customers with contacts,
//! households, products, orders with lines, teams and agents, cases with message threads.
//! Works in chunks of customers and cases, one transaction per chunk, reporting progress.

use crate::App;
use concierge_domain::TenantId;
use concierge_gen::{GenSpec, Generator, Households, MessageKind};
use concierge_store::bulk::{Val, id_and_key, insert_rows};
use concierge_store::{Store, StoreError};
use std::collections::HashMap;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub seed: u64,
    pub customers: u64,
    pub households: Option<u64>,
    pub orders_per_customer: f64,
    pub cases: u64,
    pub messages_per_case: f64,
    /// The generated history ends at this time (epoch ms); it spans the two years before.
    pub end_ms: i64,
}

/// Counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenReport {
    pub customers: u64,
    pub households: u64,
    pub products: u64,
    pub orders: u64,
    pub order_lines: u64,
    pub agents: u64,
    pub cases: u64,
    pub messages: u64,
}

/// A stage of generation, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Customers,
    Cases,
}

const CHUNK: u64 = 500;

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

/// Generates and stores. `progress(stage, done, total)` is called after every chunk.
pub async fn generate(
    app: &App,
    tenant: TenantId,
    opts: &GenOptions,
    progress: &(dyn Fn(Stage, u64, u64) + Sync),
) -> Result<GenReport, StoreError> {
    let existing = app.store.count_customers(tenant).await?;
    if existing > 0 {
        return Err(StoreError::Conflict(format!(
            "the workspace already has {existing} customers; generate into an empty data \
             directory or workspace (--tenant)"
        )));
    }
    let mut spec = GenSpec::default().with_seed(opts.seed);
    spec.customers = opts.customers;
    spec.households = match opts.households {
        Some(n) => Households::Count(n),
        None => spec.households,
    };
    spec.orders_per_customer = opts.orders_per_customer;
    spec.cases = opts.cases;
    spec.messages_per_case = opts.messages_per_case;
    spec.end_ms = opts.end_ms;
    spec.start_ms = opts.end_ms - 730 * concierge_gen::DAY_MS;
    let g = Generator::new(spec).map_err(err)?;
    let store = &app.store;
    let now = app.now();
    let mut report = GenReport::default();

    // Products.
    let mut tx = store.begin().await?;
    let rows: Vec<Vec<Val>> = g
        .products()
        .iter()
        .map(|p| {
            vec![
                tenant.0.into(),
                p.sku.clone().into(),
                p.name.en.clone().into(),
                p.category.as_str().into(),
                p.unit.as_str().into(),
                p.pack_size.into(),
                p.consumption.as_ref().map(|c| c.per_day).into(),
                p.prices.first().map(|pr| pr.amount_minor).into(),
                p.prices.first().map(|pr| pr.currency.code()).into(),
            ]
        })
        .collect();
    let ret = insert_rows(
        &mut tx,
        "products",
        &[
            "tenant_id",
            "sku",
            "name",
            "category",
            "unit",
            "pack_size",
            "consumption_hint",
            "price_minor",
            "currency",
        ],
        &rows,
        Some("id, sku"),
    )
    .await?;
    let mut product_ids: HashMap<String, i64> = HashMap::new();
    for r in &ret {
        let (id, sku) = id_and_key(r)?;
        product_ids.insert(sku, id);
    }
    let product_id_by_index: Vec<i64> = g
        .products()
        .iter()
        .map(|p| product_ids.get(&p.sku).copied().unwrap_or(0))
        .collect();
    report.products = product_id_by_index.len() as u64;

    // Teams and agents.
    let mut team_ids: HashMap<&str, i64> = HashMap::new();
    for team in concierge_gen::TEAMS {
        let rows = vec![vec![tenant.0.into(), (*team).into(), now.into()]];
        let r = insert_rows(
            &mut tx,
            "teams",
            &["tenant_id", "name", "created_at"],
            &rows,
            Some("id, name"),
        )
        .await?;
        if let Some(r) = r.first() {
            team_ids.insert(team, id_and_key(r)?.0);
        }
    }
    let agent_hash = crate::auth::hash_password(&crate::secrets::random_secret())
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let mut agent_ids = Vec::new();
    for a in g.agents() {
        let role = if a.manager { "manager" } else { "agent" };
        let rows = vec![vec![
            tenant.0.into(),
            a.email.clone().into(),
            a.name.full.clone().into(),
            role.into(),
            agent_hash.clone().into(),
            now.into(),
            a.locale.language().into(),
            true.into(),
            now.into(),
        ]];
        let r = insert_rows(
            &mut tx,
            "users",
            &[
                "tenant_id",
                "email",
                "display_name",
                "role",
                "password_hash",
                "password_changed_at",
                "locale",
                "active",
                "created_at",
            ],
            &rows,
            Some("id, email"),
        )
        .await?;
        let id = r
            .first()
            .map(id_and_key)
            .transpose()?
            .map(|x| x.0)
            .unwrap_or(0);
        agent_ids.push(id);
        if let Some(team) = team_ids.get(a.team) {
            insert_rows(
                &mut tx,
                "team_members",
                &["tenant_id", "team_id", "user_id"],
                &[vec![tenant.0.into(), (*team).into(), id.into()]],
                None,
            )
            .await?;
        }
    }
    report.agents = agent_ids.len() as u64;
    tx.commit().await?;

    // Customers, their contacts and orders, chunk by chunk.
    let total = g.customer_count();
    let mut customer_ids: Vec<i64> = Vec::with_capacity(total as usize);
    let mut start = 0;
    while start < total {
        let end = (start + CHUNK).min(total);
        let mut tx = store.begin().await?;
        let custs: Vec<_> = g.customers_range(start..end).collect();
        let rows: Vec<Vec<Val>> = custs
            .iter()
            .map(|c| {
                vec![
                    tenant.0.into(),
                    c.external_id.clone().into(),
                    c.name.full.clone().into(),
                    c.name.sort_key.clone().into(),
                    c.name.given.clone().into(),
                    c.name.family.clone().into(),
                    c.birthday.map(|b| b.to_string()).into(),
                    c.locale.language().into(),
                    c.time_zone.into(),
                    c.preferred_channel.as_str().into(),
                    c.created_at.into(),
                    c.created_at.into(),
                ]
            })
            .collect();
        let ret = insert_rows(
            &mut tx,
            "customers",
            &[
                "tenant_id",
                "external_id",
                "display_name",
                "sort_name",
                "given_name",
                "family_name",
                "birthday",
                "language",
                "time_zone",
                "preferred_channel",
                "created_at",
                "updated_at",
            ],
            &rows,
            Some("id, external_id"),
        )
        .await?;
        let by_ext: HashMap<String, i64> = ret
            .iter()
            .map(id_and_key)
            .map(|r| r.map(|(id, k)| (k, id)))
            .collect::<Result<_, _>>()?;
        let mut contacts = Vec::new();
        for c in &custs {
            let id = by_ext.get(&c.external_id).copied().unwrap_or(0);
            customer_ids.push(id);
            if let Some(e) = &c.email {
                contacts.push(vec![
                    tenant.0.into(),
                    id.into(),
                    "email".into(),
                    e.clone().into(),
                    e.to_lowercase().into(),
                    true.into(),
                    c.email_verified.into(),
                    c.created_at.into(),
                ]);
            }
            if let Some(p) = &c.phone {
                contacts.push(vec![
                    tenant.0.into(),
                    id.into(),
                    "phone".into(),
                    p.clone().into(),
                    p.clone().into(),
                    true.into(),
                    c.phone_verified.into(),
                    c.created_at.into(),
                ]);
            }
            contacts.push(vec![
                tenant.0.into(),
                id.into(),
                "address".into(),
                c.address.formatted.clone().into(),
                c.address.formatted.to_lowercase().into(),
                true.into(),
                false.into(),
                c.created_at.into(),
            ]);
        }
        insert_rows(
            &mut tx,
            "customer_contacts",
            concierge_store::bulk::CUSTOMER_CONTACTS_COLUMNS,
            &contacts,
            None,
        )
        .await?;
        let orders: Vec<_> = g.orders_range(start..end).collect();
        let rows: Vec<Vec<Val>> = orders
            .iter()
            .map(|o| {
                let cid = customer_ids
                    .get(o.customer_index as usize)
                    .copied()
                    .unwrap_or(0);
                vec![
                    tenant.0.into(),
                    o.order_no.clone().into(),
                    cid.into(),
                    o.ordered_at.into(),
                    o.status.as_str().into(),
                    o.currency.code().into(),
                    o.total_minor.into(),
                ]
            })
            .collect();
        let ret = insert_rows(
            &mut tx,
            "orders",
            concierge_store::bulk::ORDERS_COLUMNS,
            &rows,
            Some("id, external_id"),
        )
        .await?;
        let order_ids: HashMap<String, i64> = ret
            .iter()
            .map(id_and_key)
            .map(|r| r.map(|(id, k)| (k, id)))
            .collect::<Result<_, _>>()?;
        let mut lines = Vec::new();
        for o in &orders {
            let oid = order_ids.get(&o.order_no).copied().unwrap_or(0);
            let cid = customer_ids
                .get(o.customer_index as usize)
                .copied()
                .unwrap_or(0);
            for l in &o.lines {
                let pid = product_id_by_index
                    .get(l.product_index as usize)
                    .copied()
                    .unwrap_or(0);
                lines.push(vec![
                    tenant.0.into(),
                    oid.into(),
                    cid.into(),
                    pid.into(),
                    f64::from(l.quantity).into(),
                    l.unit_price_minor.into(),
                    (l.unit_price_minor * i64::from(l.quantity)).into(),
                    o.ordered_at.into(),
                ]);
            }
        }
        report.orders += orders.len() as u64;
        report.order_lines += lines.len() as u64;
        insert_rows(
            &mut tx,
            "order_lines",
            concierge_store::bulk::ORDER_LINES_COLUMNS,
            &lines,
            None,
        )
        .await?;
        tx.commit().await?;
        report.customers += custs.len() as u64;
        progress(Stage::Customers, end, total);
        start = end;
    }

    // Households.
    let mut tx = store.begin().await?;
    for h in g.households() {
        let r = insert_rows(
            &mut tx,
            "households",
            &[
                "tenant_id",
                "external_id",
                "name",
                "address",
                "size",
                "notes",
                "created_at",
            ],
            &[vec![
                tenant.0.into(),
                h.external_id.clone().into(),
                h.name.clone().into(),
                h.address.formatted.clone().into(),
                i64::from(h.size).into(),
                h.notes.clone().into(),
                now.into(),
            ]],
            Some("id, external_id"),
        )
        .await?;
        let hid = r
            .first()
            .map(id_and_key)
            .transpose()?
            .map(|x| x.0)
            .unwrap_or(0);
        let members: Vec<Vec<Val>> = h
            .members
            .iter()
            .filter_map(|m| {
                customer_ids
                    .get(m.customer_index as usize)
                    .map(|cid| (cid, m))
            })
            .map(|(cid, m)| {
                vec![
                    tenant.0.into(),
                    hid.into(),
                    (*cid).into(),
                    m.role.as_str().into(),
                ]
            })
            .collect();
        insert_rows(
            &mut tx,
            "household_members",
            &["tenant_id", "household_id", "customer_id", "role"],
            &members,
            None,
        )
        .await?;
        report.households += 1;
    }
    tx.commit().await?;

    // Cases and messages.
    let total = g.case_count();
    let mut start = 0;
    while start < total {
        let end = (start + CHUNK).min(total);
        let mut tx = store.begin().await?;
        let cases: Vec<_> = g.cases_range(start..end).collect();
        let first =
            Store::reserve_counter(&mut tx, tenant, "case_number", cases.len() as i64).await?;
        let rows: Vec<Vec<Val>> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let cid = customer_ids
                    .get(c.customer_index as usize)
                    .copied()
                    .unwrap_or(0);
                let owner = c.assignee.and_then(|a| agent_ids.get(a as usize).copied());
                let updated = c
                    .messages
                    .last()
                    .map(|m| m.created_at)
                    .unwrap_or(c.created_at);
                vec![
                    tenant.0.into(),
                    (first + i as i64).into(),
                    c.subject.clone().into(),
                    c.kind.as_str().into(),
                    c.channel.as_str().into(),
                    cid.into(),
                    c.priority.as_str().into(),
                    c.status.as_str().into(),
                    owner.into(),
                    team_ids.get(c.team).copied().into(),
                    c.created_at.into(),
                    updated.into(),
                ]
            })
            .collect();
        let ret = insert_rows(
            &mut tx,
            "cases",
            &[
                "tenant_id",
                "number",
                "subject",
                "kind",
                "channel",
                "customer_id",
                "priority",
                "status",
                "owner_id",
                "team_id",
                "created_at",
                "updated_at",
            ],
            &rows,
            Some("id, number"),
        )
        .await?;
        let mut case_ids: HashMap<i64, i64> = HashMap::new();
        for r in &ret {
            use concierge_store::bulk::Row;
            let id: i64 = r.try_get(0).map_err(StoreError::from)?;
            let num: i64 = r.try_get(1).map_err(StoreError::from)?;
            case_ids.insert(num, id);
        }
        let mut msgs = Vec::new();
        for (i, c) in cases.iter().enumerate() {
            let case_id = case_ids.get(&(first + i as i64)).copied().unwrap_or(0);
            let cid = customer_ids
                .get(c.customer_index as usize)
                .copied()
                .unwrap_or(0);
            for m in &c.messages {
                let (author, vis) = match m.kind {
                    MessageKind::Customer => ("customer", "public"),
                    MessageKind::Reply => ("staff", "public"),
                    MessageKind::InternalNote => ("staff", "internal"),
                };
                let agent = m
                    .agent_index
                    .and_then(|a| agent_ids.get(a as usize).copied());
                let cust = if author == "customer" {
                    Some(cid)
                } else {
                    None
                };
                msgs.push(vec![
                    tenant.0.into(),
                    case_id.into(),
                    author.into(),
                    agent.into(),
                    cust.into(),
                    vis.into(),
                    c.channel.as_str().into(),
                    m.body.clone().into(),
                    m.created_at.into(),
                ]);
            }
        }
        report.messages += msgs.len() as u64;
        insert_rows(
            &mut tx,
            "messages",
            &[
                "tenant_id",
                "case_id",
                "author_kind",
                "author_user_id",
                "author_customer_id",
                "visibility",
                "channel",
                "body_text",
                "created_at",
            ],
            &msgs,
            None,
        )
        .await?;
        tx.commit().await?;
        report.cases += cases.len() as u64;
        progress(Stage::Cases, end, total);
        start = end;
    }
    Ok(report)
}
