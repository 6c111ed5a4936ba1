// The manager dashboard in a real browser (issue 6): generated customers and orders, a real
// `concierge analytics run`, then the charts drawn from that data — the Pareto curve, tiers,
// segments, the RFM grid, the CLV histogram, the at-risk list and replenishment due soon —
// under the Content-Security-Policy (no inline style, no script needed).
//
// Screenshots: e2e/screenshots/dashboard-NN-*.png.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { start } from '../lib/harness.js';

const TIMEOUT = { timeout: 60_000 };

describe('dashboard: charts from real data', () => {
  let h;
  let page;

  before(async () => {
    h = await start({
      prepare: [
        ['gen', '--customers', '400', '--cases', '0'],
        ['analytics', 'run', '--no-progress'],
      ],
    });
    page = await h.newPage();
    await h.signIn(page);
  }, { timeout: 180_000 });

  after(async () => {
    await h?.teardown();
  });

  async function step(name, fn) {
    try {
      await fn();
    } catch (e) {
      h?.assertServerAlive();
      throw e;
    } finally {
      if (page) await h.screenshot(page, `dashboard-${name}`);
    }
  }

  const count = (selector) => page.locator(selector).count();
  const dataCounts = (selector) => page.locator(selector)
    .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))));

  it('the nav leads to the dashboard', TIMEOUT, () => step('01-open', async () => {
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/dashboard'),
      page.click('nav.top a[href="/dashboard"]'),
    ]);
    assert.equal((await page.locator('h1').first().innerText()).trim(), 'Customer dashboard');
    assert.equal(await count('[data-testid=no-run]'), 0, 'the analytics run was found');
  }));

  it('draws the Pareto curve from 101 measured points', TIMEOUT, () => step('02-pareto', async () => {
    const curve = page.locator('svg[data-testid=pareto-chart] path[data-testid=pareto-curve]');
    await curve.waitFor({ state: 'visible' });
    assert.equal(await curve.getAttribute('data-points'), '101');
    const d = await curve.getAttribute('d');
    assert.equal((d.match(/L/g) ?? []).length, 100, 'one line segment per point after the first');
    const box = await curve.boundingBox();
    assert.ok(box && box.width > 200 && box.height > 100, `curve is drawn large enough: ${JSON.stringify(box)}`);
    const top20 = await page.locator('[data-testid=summary] .card .num').nth(1).innerText();
    const share = Number(top20.replace('%', ''));
    assert.ok(share > 20 && share < 100, `top 20% of customers bring ${top20} of revenue`);
  }));

  it('draws tier and segment bars, the RFM grid and the CLV histogram', TIMEOUT, () => step('03-charts', async () => {
    const tiers = await dataCounts('svg[data-testid=tier-chart] rect.bar');
    assert.equal(tiers.length, 4, 'Platinum, Gold, Silver, Bronze');
    assert.ok(tiers.every((n) => n > 0), `every default tier has customers: ${tiers}`);
    const segments = await dataCounts('svg[data-testid=segment-chart] rect.bar');
    assert.equal(segments.length, 11, 'all eleven RFM segments');
    assert.ok(segments.filter((n) => n > 0).length >= 6, `most segments are non-empty: ${segments}`);
    const total = segments.reduce((a, b) => a + b, 0);
    const cells = await dataCounts('svg[data-testid=rfm-grid] rect.cell');
    assert.equal(cells.length, 25);
    assert.equal(cells.reduce((a, b) => a + b, 0), total, 'the grid holds every customer once');
    const bins = await dataCounts('svg[data-testid=clv-histogram] rect.bar');
    assert.ok(bins.length >= 10, `histogram bins: ${bins.length}`);
    assert.equal(bins.reduce((a, b) => a + b, 0), total, 'every customer has a CLV');
    // A non-empty bar is actually drawn with width.
    const widths = await page.locator('svg[data-testid=segment-chart] rect.bar')
      .evaluateAll((els) => els.map((e) => e.getBBox().width));
    assert.ok(widths.some((w) => w > 50), `bar widths ${widths}`);
  }));

  it('lists customers at risk and replenishment due soon', TIMEOUT, () => step('04-lists', async () => {
    const risk = page.locator('table[data-testid=at-risk] tbody tr');
    assert.ok(await risk.count() > 0, 'some customers are at risk');
    const why = await risk.first().locator('td').last().innerText();
    assert.ok(why.length > 5, `the at-risk row says why: ${why}`);
    const due = page.locator('table[data-testid=due] tbody tr');
    assert.ok(await due.count() > 0, 'some customers run out soon');
    const runOut = await due.first().locator('td').nth(2).innerText();
    assert.match(runOut, /^\d{4}-\d{2}-\d{2}$/);
  }));

  it('breaks no Content-Security-Policy rule and shows no NaN', TIMEOUT, () => step('05-clean', async () => {
    const body = await page.locator('main').innerText();
    assert.ok(!/NaN|Infinity/.test(body), 'no NaN or Infinity on the page');
    assert.deepEqual(h.consoleErrors(page), [], 'no console errors (CSP violations show here)');
    // The page as served (scripts may set styles through the CSSOM, which the CSP allows).
    const served = await (await page.request.get('/dashboard')).text();
    assert.ok(!/\sstyle=/.test(served), 'no inline style attributes in the served page');
  }));

  it('is translated (Korean)', TIMEOUT, () => step('06-ko', async () => {
    await page.locator('form#lang-switch select[name=lang]').evaluate((el) => { el.value = 'ko'; });
    await page.click('form#lang-switch button[type=submit]');
    await page.locator('html[lang="ko"]').waitFor({ state: 'attached' });
    await page.goto('/dashboard');
    assert.equal((await page.locator('h1').first().innerText()).trim(), '고객 대시보드');
    assert.equal(await count('svg[data-testid=rfm-grid] rect.cell'), 25);
    await page.locator('form#lang-switch select[name=lang]').evaluate((el) => { el.value = 'en'; });
    await page.click('form#lang-switch button[type=submit]');
    await page.locator('html[lang="en"]').waitFor({ state: 'attached' });
  }));
});
