// Task queues in a real browser (issue 7 item 3, issue 6): generated customers and orders, a
// real `concierge analytics run` (which leaves win-back calls and refill offers), then an agent
// opens Tasks from the menu, picks the win-back queue, completes a call with its outcome, and
// finds the outcome on the customer's timeline — under the Content-Security-Policy.
//
// Screenshots: e2e/screenshots/tasks-NN-*.png.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { start } from '../lib/harness.js';

const TIMEOUT = { timeout: 60_000 };

describe('tasks: complete a call with its outcome', () => {
  let h;
  let page;
  let taskId;
  let customerHref;

  before(async () => {
    h = await start({
      prepare: [
        ['gen', '--customers', '300', '--cases', '0'],
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
      if (page) await h.screenshot(page, `tasks-${name}`);
    }
  }

  it('the nav leads to the task queues', TIMEOUT, () => step('01-open', async () => {
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/tasks'),
      page.click('nav.top a[href="/tasks"]'),
    ]);
    assert.equal((await page.locator('h1').first().innerText()).trim().split(/\s/)[0], 'Tasks');
    const queues = await page.locator('[data-testid=task-queues] a').evaluateAll(
      (els) => els.map((e) => e.getAttribute('data-queue')));
    assert.deepEqual(queues, ['followups_due', 'due_soon', 'winback', 'mine', 'all']);
  }));

  it('the win-back queue lists the calls the analytics run left', TIMEOUT, () => step('02-winback', async () => {
    await Promise.all([
      page.waitForURL((url) => url.searchParams.get('queue') === 'winback'),
      page.click('[data-testid=task-queues] a[data-queue=winback]'),
    ]);
    const rows = page.locator('[data-testid=tasks] tr[data-task]');
    assert.ok(await rows.count() > 0, 'the run found customers at risk');
    const kinds = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    assert.ok(kinds.every((k) => k === 'winback'), `${kinds}`);
    taskId = await rows.first().getAttribute('data-task');
    customerHref = await rows.first().locator('a[href^="/customers/"]').getAttribute('href');
  }));

  it('completes the call with an outcome', TIMEOUT, () => step('03-complete', async () => {
    const form = page.locator(`[data-testid=complete-${taskId}]`);
    await form.locator('select[name=result]').selectOption('left_message');
    await form.locator('input[name=note]').fill('Left a voicemail about the spring offer');
    await Promise.all([
      page.waitForURL((url) => url.searchParams.get('done') === '1'),
      form.locator('button[type=submit]').click(),
    ]);
    await page.locator('[data-testid=task-done]').waitFor({ state: 'visible' });
    assert.equal(await page.locator(`tr[data-task="${taskId}"]`).count(), 0, 'done tasks leave the queue');
  }));

  it('shows the outcome on the customer timeline', TIMEOUT, () => step('04-timeline', async () => {
    await page.goto(customerHref);
    const timeline = await page.locator('[data-testid=timeline]').innerText();
    assert.ok(timeline.includes('Task done'), timeline.slice(0, 400));
    assert.ok(timeline.includes('Left a voicemail about the spring offer'));
    assert.equal(await page.locator(`#tasks tr[data-task="${taskId}"]`).count(), 0);
    assert.deepEqual(h.consoleErrors(page), [], 'no CSP violations or script errors');
  }));
});
