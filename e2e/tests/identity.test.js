// Identity in a real browser (issue 3): two records of one guest (the same email written
// differently) appear on the duplicates page; merging them from the console shows one
// customer whose timeline holds both histories and a "Merged" event, the merged record says
// where it went, and the merge can be undone from the page.
//
// The steps share one page and run in order; each takes a screenshot (also when it fails) into
// e2e/screenshots/identity-NN-*.png.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { start } from '../lib/harness.js';

const TIMEOUT = { timeout: 60_000 };

describe('identity: merge two customers from the console', () => {
  let h;
  let page;
  let first;
  let second;

  before(async () => {
    h = await start();
    page = await h.newPage();
    page.on('dialog', (d) => { throw new Error(`unexpected dialog: ${d.message()}`); });
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
      if (page) await h.screenshot(page, `identity-${name}`);
    }
  }

  async function create(name, email, note) {
    await page.goto('/customers');
    await page.fill('form#customer-create input[name=name]', name);
    await page.fill('form#customer-create input[name=email]', email);
    await Promise.all([
      page.waitForURL((url) => /^\/customers\/\d+$/.test(url.pathname)),
      page.click('form#customer-create button[type=submit]'),
    ]);
    const path = pathname();
    await page.fill('form#note input[name=body]', note);
    await Promise.all([
      page.waitForURL((url) => url.pathname === path),
      page.click('form#note button[type=submit]'),
    ]);
    return path;
  }

  it('creates two records of one guest', TIMEOUT, () => step('01-created', async () => {
    await h.signIn(page);
    first = await create('Ann Lee', 'ann@example.com', 'prefers the quiet wing');
    second = await create('Ann <b>Lee</b>', 'ANN@Example.com', 'allergic to feathers');
    assert.notEqual(first, second);
  }));

  it('lists them as possible duplicates', TIMEOUT, () => step('02-duplicates', async () => {
    await page.goto('/customers');
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/customers/duplicates'),
      page.click('[data-testid=duplicates-link]'),
    ]);
    const a = first.split('/').pop();
    const b = second.split('/').pop();
    const row = page.locator(`[data-testid=duplicates] tr[data-pair="${a}-${b}"]`);
    await row.waitFor({ state: 'visible' });
    const text = await row.innerText();
    assert.ok(text.includes('same email'), text);
    assert.ok(text.includes('Ann <b>Lee</b>'), 'the name is shown as text, not markup');
    assert.deepEqual(h.consoleErrors(page), [], 'no console errors (CSP)');
  }));

  it('merges them and shows one timeline with both histories', TIMEOUT, () => step('03-merged', async () => {
    await Promise.all([
      page.waitForURL((url) => url.pathname === first),
      page.click('[data-testid=merge-pair]'),
    ]);
    const timeline = await page.locator('[data-testid=timeline]').innerText();
    assert.ok(timeline.includes('prefers the quiet wing'), timeline);
    assert.ok(timeline.includes('allergic to feathers'), timeline);
    assert.ok(timeline.includes('Merged'), timeline);
    assert.equal(await page.locator('[data-testid=undo-merge]').count(), 1);
    await page.goto(second);
    assert.equal(await page.locator('[data-testid=merged-banner]').count(), 1);
    assert.equal(await page.locator(`[data-testid=merged-banner] a[href="${first}"]`).count(), 1);
  }));

  it('undoes the merge from the page', TIMEOUT, () => step('04-undone', async () => {
    await page.goto(first);
    await Promise.all([
      page.waitForURL((url) => url.pathname === second),
      page.click('[data-testid=undo-merge]'),
    ]);
    assert.equal(await page.locator('[data-testid=merged-banner]').count(), 0);
    const mine = await page.locator('[data-testid=timeline]').innerText();
    assert.ok(mine.includes('allergic to feathers'), mine);
    await page.goto(first);
    const theirs = await page.locator('[data-testid=timeline]').innerText();
    assert.ok(!theirs.includes('allergic to feathers'), theirs);
  }));
});
