// Customer memory in a real browser (issue 3): sign in, open the customer list, create a
// customer, record a preference with "Remember this", and see it on the customer page with
// its provenance (source, who, when, where). Then the same page in Chinese and Korean.
//
// The steps share one page and run in order; each takes a screenshot (also when it fails) into
// e2e/screenshots/customer-NN-*.png.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { start } from '../lib/harness.js';

const TIMEOUT = { timeout: 60_000 };

describe('customer page: remember a preference', () => {
  let h;
  let page;
  let customerPath;

  before(async () => {
    h = await start();
    page = await h.newPage();
  }, { timeout: 90_000 });

  after(async () => {
    await h?.teardown();
  });

  const pathname = () => new URL(page.url()).pathname;

  async function step(name, fn) {
    try {
      await fn();
    } catch (e) {
      h?.assertServerAlive();
      throw e;
    } finally {
      if (page) await h.screenshot(page, `customer-${name}`);
    }
  }

  it('signs in and opens the customer list from the menu', TIMEOUT, () => step('01-list', async () => {
    await h.signIn(page);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/customers'),
      page.click('nav a[href="/customers"]'),
    ]);
    assert.equal((await page.locator('h1').first().innerText()).trim(), 'Customers');
    assert.equal(await page.locator('form#customer-create').count(), 1);
  }));

  it('creates a customer and lands on their page', TIMEOUT, () => step('02-created', async () => {
    await page.fill('form#customer-create input[name=name]', 'Ann Lee');
    await page.fill('form#customer-create input[name=email]', 'ann@example.com');
    await Promise.all([
      page.waitForURL((url) => /^\/customers\/\d+$/.test(url.pathname)),
      page.click('form#customer-create button[type=submit]'),
    ]);
    customerPath = pathname();
    assert.equal((await page.locator('[data-testid=customer-name]').innerText()).trim(), 'Ann Lee');
    assert.ok((await page.locator('#contacts').innerText()).includes('ann@example.com'));
    assert.ok((await page.locator('[data-testid=preferences]').innerText()).includes('Nothing remembered yet.'));
  }));

  it('records a preference with "Remember this" and shows its provenance', TIMEOUT, () => step('03-remembered', async () => {
    await page.fill('form#remember input[name=key]', 'newspaper');
    await page.fill('form#remember input[name=value]', 'The Wall Street Journal');
    await page.fill('form#remember input[name=learned_from]', 'night 1 wake-up call');
    assert.ok(await page.locator('#pref-standing').isChecked(), 'standing is the default');
    await Promise.all([
      page.waitForURL((url) => url.pathname === customerPath),
      page.click('form#remember button[type=submit]'),
    ]);
    await page.waitForLoadState('load');
    const row = page.locator('[data-testid=preferences] tr[data-pref=newspaper]');
    await row.waitFor({ state: 'visible' });
    const text = await row.innerText();
    assert.ok(text.includes('The Wall Street Journal'), text);
    assert.ok(text.includes('night 1 wake-up call'), `where: ${text}`);
    assert.equal((await row.locator('.pref-source').innerText()).trim(), 'agent');
    const who = (await row.locator('.pref-who').innerText()).trim();
    assert.equal(who, h.email.split('@')[0], 'who recorded it');
    assert.match((await row.locator('.pref-when').innerText()).trim(), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    assert.ok((await page.locator('[data-testid=timeline]').innerText()).includes('newspaper = The Wall Street Journal'));
    assert.deepEqual(h.consoleErrors(page), [], 'no console errors (CSP)');
  }));

  it('finds the customer by email from the list', TIMEOUT, () => step('04-search', async () => {
    await page.goto('/customers');
    await page.fill('form#customer-search input[name=q]', 'ANN@example.com');
    await Promise.all([
      page.waitForURL((url) => url.search.includes('q=')),
      page.click('form#customer-search button[type=submit]'),
    ]);
    const link = page.locator(`[data-testid=customer-list] a[href="${customerPath}"]`);
    assert.equal(await link.count(), 1);
  }));

  it('shows the page in Chinese and Korean', TIMEOUT, () => step('05-languages', async () => {
    for (const [lang, heading] of [['zh-CN', '偏好'], ['ko', '선호 사항'], ['en', 'Preferences']]) {
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/'),
        page.selectOption('#lang-select', lang),
      ]);
      await page.goto(customerPath);
      await page.locator(`html[lang="${lang}"]`).waitFor();
      const h2 = await page.locator('#preferences h2').innerText();
      assert.equal(h2.trim(), heading, lang);
      assert.ok((await page.locator('[data-testid=preferences]').innerText()).includes('The Wall Street Journal'));
    }
  }));
});
