// Drives the dashboard as an operator does, in Debian's Chromium through Playwright, with every
// host name but localhost unresolvable: log in, read the charts, create and suspend a tenant,
// open a repository's findings (new and fixed ones, a finding's code), walk a symbol's callers,
// index another repository from the page, read the alerts, and look as a viewer.
//
// Environment: DASHBOARD_URL (http://localhost:PORT), ADMIN_EMAIL, ADMIN_PASSWORD,
// EXPECT_SPEND (the month's cost the admin API reports), REPOSITORY (its name), NEW_FINDINGS and
// FIXED_TITLE (what its newest scan found new, and one finding it fixed), SECOND_URL (another
// repository to index from the page), ALERT_TITLE (an alert raised), VIEWER_EMAIL (a viewer with
// the admin's password), SCREENSHOTS (a folder), PLAYWRIGHT_FROM (a file in the folder whose
// node_modules hold playwright-core), LOADS (first loads to measure, default 1). Prints one
// JSON line of what it saw and measured; exits non-zero on the first expectation that fails.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const { chromium } = createRequire(process.env.PLAYWRIGHT_FROM)('playwright-core');
const url = process.env.DASHBOARD_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost'],
});
const seen = { problems: [] };

function expect(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
}

/// A fresh browser (empty cache), with every request, failure and console error recorded.
async function open() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const loaded = { bytes: 0, requests: 0 };
  page.on('console', (m) => m.type() === 'error' && seen.problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => seen.problems.push(`page error: ${e.message}`));
  // A reload cancels the requests still in flight (net::ERR_ABORTED); anything else is a failure.
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText;
    if (why !== 'net::ERR_ABORTED') seen.problems.push(`request failed: ${r.url()} ${why}`);
  });
  page.on('response', (r) => r.status() >= 400 && seen.problems.push(`${r.status()} from ${r.url()}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(url)) seen.problems.push(`request to another origin: ${r.url()}`);
  });
  page.on('requestfinished', async (r) => {
    const sizes = await r.sizes().catch(() => null);
    if (sizes) {
      loaded.bytes += sizes.responseBodySize + sizes.responseHeadersSize;
      loaded.requests += 1;
    }
  });
  return { context, page, loaded };
}

async function logIn(page) {
  await page.goto(`${url}/dashboard/`);
  await page.fill('input[name=email]', process.env.ADMIN_EMAIL);
  await page.fill('input[name=password]', process.env.ADMIN_PASSWORD);
  await page.click('button[type=submit]');
}

/// The spend the chart draws: the sum of every bar of every series.
const chartSpend = (page) =>
  page.evaluate(() => {
    const chart = Chart.getChart(document.querySelector('canvas[data-chart=spend]'));
    if (!chart) return null;
    return chart.data.datasets.flatMap((d) => d.data).reduce((a, b) => a + b, 0);
  });

async function untilSpendDrawn(page) {
  await page.waitForSelector('canvas[data-chart=spend]');
  await page.waitForFunction(() => {
    const chart = Chart.getChart(document.querySelector('canvas[data-chart=spend]'));
    return chart && chart.data.datasets.some((d) => d.data.some((v) => v > 0));
  });
}

// ------------------------------------------------------------ first loads --
// From navigation to the spend chart drawn with data, in a browser with an empty cache (the
// login page, then the overview after logging in), then again on a reload (the session kept,
// the scripts revalidated).
const loads = [];
for (let i = 0; i < Number(process.env.LOADS ?? 1); i += 1) {
  const { context, page, loaded } = await open();
  let started = Date.now();
  await logIn(page);
  await untilSpendDrawn(page);
  // Of which the login itself: the password hash is made slow on purpose.
  const login = await page.evaluate(() => performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/auth/login')).duration);
  const cold = { ms: Date.now() - started, login_ms: Math.round(login), bytes: loaded.bytes, requests: loaded.requests };
  Object.assign(loaded, { bytes: 0, requests: 0 });
  started = Date.now();
  await page.reload();
  await untilSpendDrawn(page);
  loads.push({ cold, reload: { ms: Date.now() - started, bytes: loaded.bytes, requests: loaded.requests } });
  await context.close();
}

// ---------------------------------------------------------------- overview --
const { page } = await open();
await logIn(page);
await untilSpendDrawn(page);
const spend = await chartSpend(page);
const expected = Number(process.env.EXPECT_SPEND);
expect(Math.abs(spend - expected) <= expected * 1e-9, `the chart's spend ${spend} is the API's ${expected}`);
await page.waitForFunction(() => document.querySelector('[data-testid=spend]').textContent !== '…');
const card = await page.textContent('[data-testid=spend]');
expect(card.startsWith('$') && Number(card.slice(1).replace(/,/g, '')) > 0, `a spend card, not ${card}`);
for (const id of ['requests', 'latency']) {
  const points = await page.evaluate((id) => {
    const chart = Chart.getChart(document.querySelector(`canvas[data-chart=${id}]`));
    return chart.data.datasets[0].data.filter((v) => v != null && v > 0).length;
  }, id);
  expect(points > 0, `the ${id} chart has points`);
}
await page.waitForSelector('canvas[data-chart=dlp]');
const dlpTypes = await page.evaluate(() => Chart.getChart(document.querySelector('canvas[data-chart=dlp]')).data.labels);
expect(dlpTypes.includes('email'), `the address in a prompt shows as an email detection: ${dlpTypes}`);
await page.screenshot({ path: join(shots, '1-overview.png'), fullPage: true });

// By the hour, by tenant: the same spend, split differently.
await page.selectOption('select[name=bucket]', 'hour');
await page.selectOption('select[name=split]', 'tenant');
await page.waitForFunction(
  (expected) => {
    const chart = Chart.getChart(document.querySelector('canvas[data-chart=spend]'));
    const sum = chart?.data.datasets.flatMap((d) => d.data).reduce((a, b) => a + b, 0);
    return chart && chart.data.labels.length > 24 && Math.abs(sum - expected) <= expected * 1e-9;
  },
  expected,
);

// ----------------------------------------------------------------- tenants --
await page.click('nav >> text=Tenants');
await page.fill('[data-testid=new-tenant] input[name=name]', 'made-in-the-dashboard');
await page.fill('[data-testid=new-tenant] input[name=monthly_budget]', '25');
await page.click('[data-testid=new-tenant] button[type=submit]');
const key = (await page.textContent('[data-testid=new-key] code')).trim();
expect(key.length > 20, `a new key shown once, not ${key}`);
const row = page.locator('tr[data-tenant=made-in-the-dashboard]');
await row.locator('.badge', { hasText: 'active' }).waitFor();
await page.screenshot({ path: join(shots, '2-tenant-created.png'), fullPage: true });
await row.locator('button', { hasText: 'Suspend' }).click();
await row.locator('.badge', { hasText: 'suspended' }).waitFor();
await page.screenshot({ path: join(shots, '3-tenant-suspended.png'), fullPage: true });

// ----------------------------------------------------------- repositories --
await page.click('nav >> text=Repositories');
await page.click(`tr[data-repo="${process.env.REPOSITORY}"]`);
await page.waitForSelector('[data-testid=findings] tbody tr');
const all = await page.locator('[data-testid=findings] tbody tr[data-fingerprint]').count();
// What the newest scan found that the one before did not, and what it no longer finds.
const fresh = await page.locator('[data-testid=findings] tr[data-fingerprint] .badge.new').count();
expect(fresh === Number(process.env.NEW_FINDINGS), `${process.env.NEW_FINDINGS} marked new, not ${fresh}`);
const fixedText = await page.textContent('[data-testid=fixed]');
expect(fixedText.includes(process.env.FIXED_TITLE), `"${process.env.FIXED_TITLE}" listed as fixed: ${fixedText}`);
const languages = await page.locator('.chips .badge').allTextContents();
expect(languages.some((l) => / files$/.test(l)), `languages shown, not ${languages}`);
await page.selectOption('select[name=severity]', 'high');
await page.waitForFunction(
  (all) => document.querySelectorAll('[data-testid=findings] tbody tr[data-fingerprint]').length < all,
  all,
);
const severities = await page.locator('[data-testid=findings] tbody tr[data-fingerprint] td:first-child .badge:first-child').allTextContents();
expect(severities.length > 0 && severities.every((s) => s === 'high' || s === 'critical'), `only high or worse: ${severities}`);
await page.selectOption('select[name=severity]', '');
await page.selectOption('select[name=tool]', 'semgrep');
await page.waitForFunction(() => {
  const rows = [...document.querySelectorAll('[data-testid=findings] tbody tr[data-fingerprint]')];
  return rows.length > 0 && rows.every((r) => r.children[1].textContent === 'semgrep');
});
const semgrep = await page.locator('[data-testid=findings] tbody tr[data-fingerprint]').count();
await page.locator('[data-testid=findings] tbody tr[data-fingerprint]').first().click();
await page.waitForSelector('[data-testid=code] span.hit');
const hit = await page.textContent('[data-testid=code] span.hit');
await page.screenshot({ path: join(shots, '4-findings.png'), fullPage: true });

// A symbol's callers and callees.
await page.click('button:text-is("Symbols")');
await page.waitForSelector('[data-testid=symbols] tr');
const symbols = await page.locator('[data-testid=symbols] tr').count();
await page.locator('[data-testid=symbols] tr').first().click();
await page.waitForSelector('h2:text-is("callers")');
await page.waitForSelector('h2:text-is("callees")');
await page.screenshot({ path: join(shots, '5-symbol.png'), fullPage: true });

// Another repository, indexed and scanned from the page's form; its row follows the job.
await page.click('nav >> text=Repositories');
await page.fill('input[name=url]', process.env.SECOND_URL);
await page.check('input[name=scan]');
await page.click('button:text-is("Index")');
await page.locator('tr[data-repo="acme/tools"] .badge', { hasText: 'ready' }).waitFor({ timeout: 180000 });
await page.screenshot({ path: join(shots, '6-indexed-from-the-page.png'), fullPage: true });

// ---------------------------------------------------------------- providers --
// The test button asks each provider for its models: the mock answers, the other does not.
await page.click('nav >> text=Providers');
for (const [name, outcome] of [['mock', 'ok'], ['flaky', 'failed']]) {
  const provider = page.locator(`tr[data-provider=${name}]`);
  await provider.locator('button', { hasText: 'Test' }).click();
  await provider.locator('[data-testid=test-result] .badge', { hasText: outcome }).waitFor();
}
// Its circuit opened on the requests that failed; by now it may be half open, never closed.
const circuit = await page.textContent('tr[data-provider=flaky] td:nth-child(5)');
expect(circuit === 'open' || circuit === 'half_open', `the failing provider's circuit, not ${circuit}`);
await page.screenshot({ path: join(shots, '7-providers.png'), fullPage: true });

// ------------------------------------------------------------ users, audit --
await page.click('nav >> text=Users');
await page.locator('td', { hasText: process.env.VIEWER_EMAIL }).waitFor();
await page.click('nav >> text=Audit');
await page.locator('[data-testid=audit] code', { hasText: 'tenant.suspend' }).waitFor();
await page.screenshot({ path: join(shots, '8-audit.png'), fullPage: true });

// ------------------------------------------------------------------- alerts --
await page.click('nav >> text=Alerts');
await page.locator('[data-testid=alerts] td', { hasText: process.env.ALERT_TITLE }).waitFor();
await page.screenshot({ path: join(shots, '9-alerts.png'), fullPage: true });

// ------------------------------------------------------------------ a viewer --
// Reads everything the role may, changes nothing: no users or audit, no forms, no buttons.
const viewer = (await open()).page;
await viewer.goto(`${url}/dashboard/`);
await viewer.fill('input[name=email]', process.env.VIEWER_EMAIL);
await viewer.fill('input[name=password]', process.env.ADMIN_PASSWORD);
await viewer.click('button[type=submit]');
await viewer.waitForSelector('canvas[data-chart=spend]');
const tabs = await viewer.locator('header nav a').allTextContents();
expect(!tabs.includes('Users') && !tabs.includes('Audit') && tabs.includes('Tenants'), `a viewer's tabs: ${tabs}`);
await viewer.click('nav >> text=Tenants');
await viewer.waitForSelector('tr[data-tenant=checkout]');
expect((await viewer.locator('[data-testid=new-tenant]').count()) === 0, 'no form to create a tenant');
expect((await viewer.locator('[data-testid=tenants] button').count()) === 0, 'no buttons to suspend or rotate');
await viewer.screenshot({ path: join(shots, '10-viewer.png'), fullPage: true });

await browser.close();
expect(seen.problems.length === 0, `no errors and no other origins:\n${seen.problems.join('\n')}`);
console.log(JSON.stringify({ spend, tenant_key: key, findings: all, semgrep_findings: semgrep, code_line: hit, symbols, loads }));
