// Browser test of musicark's web UI in headless Chromium (Debian's, through
// playwright-core): search, open a recording, make a seeding plan and
// download it. Screenshots and downloads go to OUT_DIR.
//
//   node ui.mjs BASE_URL OUT_DIR QUERY BUDGET DONOR
//
// Prints one JSON object (what it saw) and exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [base, out, query, budget, donor] = process.argv.slice(2);
if (!base || !out || !query || !budget || !donor) {
  console.error('usage: node ui.mjs BASE_URL OUT_DIR QUERY BUDGET DONOR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
const seen = {};
const errors = [];
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));

  // The dashboard: charts and the health summary.
  let res = await page.goto(base);
  check(res.status() === 200, `dashboard status ${res.status()}`);
  seen.dashboard_charts = await page.locator('.chart svg').count();
  check(seen.dashboard_charts >= 3, 'dashboard has its charts');
  await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });

  // Search from the header's box, as a person would.
  await page.fill('header form.quick input[name=q]', query);
  await Promise.all([page.waitForURL(/\/search\?q=/), page.press('header form.quick input[name=q]', 'Enter')]);
  const rows = page.locator('table.results tbody tr');
  seen.search_results = await rows.count();
  check(seen.search_results > 0, 'search finds something');
  seen.first_result = (await page.locator('table.results a.rec').first().innerText()).trim();
  seen.first_badge = (await rows.first().locator('.badge').innerText()).trim();
  await page.screenshot({ path: join(out, 'search.png'), fullPage: true });

  // Open the first recording.
  await Promise.all([page.waitForURL(/\/recordings\/\d+$/), page.locator('table.results a.rec').first().click()]);
  seen.recording_title = (await page.locator('h1').innerText()).trim();
  check(seen.recording_title === seen.first_result, 'the recording page is the one clicked');
  seen.recording_magnets = await page.locator('table.places a.magnet').count();
  if (seen.recording_magnets > 0) {
    seen.recording_magnet = await page.locator('table.places a.magnet').first().getAttribute('href');
    check(seen.recording_magnet.startsWith('magnet:?xt=urn:btih:'), 'a magnet link');
  }
  seen.recording_path = seen.recording_magnets > 0
    ? (await page.locator('table.places td.mono').first().innerText()).trim() : null;
  await page.screenshot({ path: join(out, 'recording.png'), fullPage: true });

  // The seeding-plan form: budget → plan → downloads.
  await page.click('header nav a[href="/seedplan"]');
  await page.fill('#budget', budget);
  await page.fill('#donor', donor);
  await Promise.all([page.waitForURL(/\/seedplan\?budget=/), page.click('#make-plan')]);
  seen.plan_torrents = await page.locator('table.plan tbody tr, table.plan tr:not(:first-child)').count();
  seen.plan_heading = (await page.locator('main h2').first().innerText()).trim();
  await page.screenshot({ path: join(out, 'seedplan.png'), fullPage: true });
  const [magnets] = await Promise.all([page.waitForEvent('download'), page.click('#download-magnets')]);
  const magnetsPath = join(out, 'seedplan-magnets.txt');
  await magnets.saveAs(magnetsPath);
  seen.magnets_file = magnetsPath;
  seen.magnets = readFileSync(magnetsPath, 'utf8').split('\n').filter((l) => l.length > 0);
  const [tar] = await Promise.all([page.waitForEvent('download'), page.click('#download-torrents')]);
  const tarPath = join(out, 'seedplan-torrents.tar');
  await tar.saveAs(tarPath);
  seen.torrents_tar = tarPath;

  // The torrents page with its health colours.
  await page.goto(base + 'torrents');
  seen.torrent_rows = await page.locator('table.torrents tbody tr').count();
  await page.screenshot({ path: join(out, 'torrents.png'), fullPage: true });
  // Rights: the policy, licences, the audit log.
  await page.click('header nav a[href="/rights"]');
  seen.rights_heading = (await page.locator('h1').innerText()).trim();
  seen.rights_licences = await page.locator('main table').first().locator('tr').count();
  await page.screenshot({ path: join(out, 'rights.png'), fullPage: true });
  seen.console_errors = errors;
  check(errors.length === 0, `no console errors: ${errors.join('; ')}`);
  console.log(JSON.stringify(seen));
} catch (e) {
  console.log(JSON.stringify({ ...seen, failure: String(e) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
