// The application shell in a real browser: sign in, switch language, sign out; and the API docs
// page (vendored Swagger UI under our Content-Security-Policy).
//
// The steps share one page and run in order; each takes a screenshot (also when it fails) into
// e2e/screenshots/shell-NN-*.png.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { start } from '../lib/harness.js';

const TIMEOUT = { timeout: 60_000 };

describe('shell: sign in, language, sign out', () => {
  let h;
  let page;

  before(async () => {
    h = await start();
    page = await h.newPage();
  }, { timeout: 90_000 });

  after(async () => {
    await h?.teardown();
  });

  const pathname = () => new URL(page.url()).pathname;
  const h1 = async () => (await page.locator('h1').first().innerText()).trim();
  const htmlLang = () => page.locator('html').getAttribute('lang');

  // Runs a step and screenshots the page afterwards, pass or fail.
  async function step(name, fn) {
    try {
      await fn();
    } catch (e) {
      h?.assertServerAlive(); // a dead server explains itself better than "connection refused"
      throw e;
    } finally {
      if (page) await h.screenshot(page, `shell-${name}`);
    }
  }

  it('the sign-in page shows the form', TIMEOUT, () => step('01-sign-in-page', async () => {
    const response = await page.goto('/sign-in');
    assert.equal(response?.status(), 200, 'GET /sign-in status');
    for (const selector of [
      'form#sign-in',
      'form#sign-in input[name=email]',
      'form#sign-in input[name=password]',
      'form#sign-in button[type=submit]',
    ]) {
      assert.equal(await page.locator(selector).count(), 1, `expected one ${selector}`);
    }
    assert.equal(await page.locator('form#sign-in input[name=password]').getAttribute('type'), 'password');
  }));

  it('a wrong password shows an error and stays on /sign-in', TIMEOUT, () => step('02-wrong-password', async () => {
    await page.fill('form#sign-in input[name=email]', h.email);
    await page.fill('form#sign-in input[name=password]', 'not-the-password');
    await page.click('form#sign-in button[type=submit]');
    await page.locator('.flash-error').first().waitFor({ state: 'visible' });
    await page.waitForLoadState('load');
    assert.equal(pathname(), '/sign-in', 'still on /sign-in after a wrong password');
    assert.equal(await page.locator('[data-testid=user-menu]').count(), 0, 'no user menu when signed out');
  }));

  it('signing in lands on Home with the user menu', TIMEOUT, () => step('03-home-en', async () => {
    await page.goto('/sign-in');
    await page.fill('form#sign-in input[name=email]', h.email);
    await page.fill('form#sign-in input[name=password]', h.password);
    await Promise.all([
      page.waitForURL((url) => url.pathname !== '/sign-in'),
      page.click('form#sign-in button[type=submit]'),
    ]);
    assert.equal(pathname(), '/', 'lands on / after signing in');
    const menu = page.locator('nav [data-testid=user-menu]');
    await menu.first().waitFor({ state: 'visible' });
    const menuText = await menu.first().innerText();
    assert.ok(menuText.includes(h.email), `the user menu shows ${h.email}; it shows ${JSON.stringify(menuText)}`);
    assert.equal(await h1(), 'Home');
    assert.equal(await htmlLang(), 'en');
  }));

  it('switching to Chinese with the button (no auto-submit) translates the page', TIMEOUT,
    () => step('04-home-zh-CN', async () => {
      const select = page.locator('form#lang-switch select[name=lang]');
      const values = await select.locator('option').evaluateAll((os) => os.map((o) => o.value));
      for (const lang of ['en', 'zh-CN', 'ko']) {
        assert.ok(values.includes(lang), `language option ${lang} (have ${values.join(', ')})`);
      }
      // Set the value without a change event, so the auto-submit script stays out of it: this
      // is the path a browser without JavaScript takes.
      await select.evaluate((el) => { el.value = 'zh-CN'; });
      await page.click('form#lang-switch button[type=submit]');
      await page.locator('html[lang="zh-CN"]').waitFor({ state: 'attached' });
      await page.waitForLoadState('load');
      assert.equal(await htmlLang(), 'zh-CN');
      assert.equal(await h1(), '首页');
      assert.equal(pathname(), '/', 'stays on the same page after switching language');
    }));

  it('switching to Korean with the select (auto-submit) translates the page', TIMEOUT,
    async (t) => step('05-home-ko', async () => {
      const changed = page.locator('html[lang="ko"]').waitFor({ state: 'attached', timeout: 5_000 })
        .then(() => true, () => false);
      await page.selectOption('form#lang-switch select[name=lang]', 'ko');
      if (!(await changed)) {
        t.diagnostic('choosing a language did not submit the form by itself; used the button');
        await page.click('form#lang-switch button[type=submit]');
        await page.locator('html[lang="ko"]').waitFor({ state: 'attached' });
      }
      await page.waitForLoadState('load');
      assert.equal(await htmlLang(), 'ko');
      assert.equal(await h1(), '홈');
      // The language sticks across a fresh load.
      await page.goto('/');
      assert.equal(await htmlLang(), 'ko', 'the chosen language persists');
    }));

  it('switching back to English', TIMEOUT, () => step('06-home-en-again', async () => {
    await page.locator('form#lang-switch select[name=lang]').evaluate((el) => { el.value = 'en'; });
    await page.click('form#lang-switch button[type=submit]');
    await page.locator('html[lang="en"]').waitFor({ state: 'attached' });
    await page.waitForLoadState('load');
    assert.equal(await h1(), 'Home');
  }));

  it('signing out returns to /sign-in', TIMEOUT, () => step('07-signed-out', async () => {
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/sign-in'),
      page.click('form#sign-out button[type=submit]'),
    ]);
    await page.locator('form#sign-in').waitFor({ state: 'visible' });
    assert.equal(await page.locator('[data-testid=user-menu]').count(), 0, 'no user menu after signing out');
  }));

  it('after signing out, / redirects to /sign-in', TIMEOUT, () => step('08-home-redirects', async () => {
    await page.goto('/');
    assert.equal(pathname(), '/sign-in', `visiting / after sign-out ended on ${page.url()}`);
    await page.locator('form#sign-in').waitFor({ state: 'visible' });
  }));

  it('no page of the flow broke the Content-Security-Policy', TIMEOUT, () => {
    const refused = new Set(h.consoleErrors(page).filter((m) => /Content Security Policy|Refused to/i.test(m)));
    assert.deepEqual([...refused], [], 'CSP violations reported by Chromium (each distinct message once)');
  });
});

describe('API docs', () => {
  let h;

  before(async () => {
    h = await start();
  }, { timeout: 90_000 });

  after(async () => {
    await h?.teardown();
  });

  it('/api/docs renders Swagger UI from the vendored files under the CSP', TIMEOUT, async (t) => {
    const page = await h.newPage();
    try {
      const failed = [];
      page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
      let response = await page.goto('/api/docs');
      if (new URL(page.url()).pathname === '/sign-in') {
        t.diagnostic('/api/docs needs a signed-in user; signing in');
        await h.signIn(page);
        response = await page.goto('/api/docs');
      }
      assert.equal(response?.status(), 200, 'GET /api/docs status');
      assert.equal(await page.locator('#swagger-ui').count(), 1, 'the page has #swagger-ui');
      const csp = response.headers()['content-security-policy'];
      if (!csp) t.diagnostic('/api/docs has no Content-Security-Policy header');
      try {
        await page.locator('#swagger-ui .swagger-ui .info').first().waitFor({ state: 'visible', timeout: 20_000 });
      } catch (e) {
        throw new Error(`Swagger UI did not render: ${e.message}\n` +
          `failed requests: ${failed.join('; ') || 'none'}\n` +
          `console errors: ${h.consoleErrors(page).join('\n') || 'none'}`);
      }
      const title = (await page.locator('.swagger-ui .info .title').first().innerText()).trim();
      assert.ok(title.length > 0, 'the API has a title');
      const refused = h.consoleErrors(page).filter((m) => /Content Security Policy|Refused to/i.test(m));
      assert.deepEqual(refused, [], 'no CSP violations on /api/docs');
      assert.deepEqual(failed, [], 'no failed requests on /api/docs');
      for (const m of h.consoleErrors(page)) t.diagnostic(`console error: ${m}`);
    } finally {
      await h.screenshot(page, 'api-docs');
    }
  });
});
